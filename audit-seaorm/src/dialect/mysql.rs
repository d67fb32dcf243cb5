//! MySQL/MariaDB: read the latest version, plan in Rust, insert the version, then the
//! entries (drift first) in one multi-row statement. A create skips the read: it inserts
//! version 1, and reads only when that number is taken (a re-used id).
//!
//! InnoDB's `INSERT … SELECT MAX(…)` takes shared next-key locks under REPEATABLE READ,
//! and two transactions inserting versions of different new subjects into one index gap
//! then deadlock. So the latest version is read without locks (the entity row lock
//! already serializes writers of one subject) and the number is inserted as planned. A
//! duplicate number (the transaction's snapshot predates the latest version; InnoDB rolls
//! back only that statement) is read again with a locking read, which sees the latest
//! commit, and planned again; so is a subject with no version at all in the snapshot
//! before its update or delete is taken for a row older than its trail.

use sea_orm::sea_query::Expr;
use sea_orm::{ConnectionTrait, DbBackend, SqlErr, Value};

use super::{HookedRow, Outcome, entries_insert, latest, planned_version_insert};
use crate::trail::plan::{Kind, plan};
use crate::{Error, Result};

pub(crate) async fn write_hooked<C: ConnectionTrait>(
    db: &C,
    row: &HookedRow<'_>,
) -> Result<Outcome> {
    // A create is version 1 unless the id was used before: tried without a read.
    let mut locking = false;
    let mut first = row.write.kind == Kind::Created;
    loop {
        let prev = if first {
            None
        } else {
            latest(db, row.subject_type, row.subject_id, locking).await?
        };
        let Ok(plan) = plan(&row.write, prev.as_ref()) else {
            // No version in the transaction's snapshot, which may predate the row's
            // first version: only the latest commit, read with a locking read, can say
            // that there is none.
            if !locking {
                locking = true;
                first = false;
                continue;
            }
            return Ok(Outcome::NoBaseline);
        };
        let Some((number, event, data)) = &plan.version else {
            return Ok(Outcome::Written);
        };
        let insert = planned_version_insert(
            row,
            event,
            data,
            Value::BigInt(Some(*number)).into(),
            DbBackend::MySql,
        );
        let version_id = match db.execute(&insert).await {
            Ok(res) => res.last_insert_id() as i64,
            Err(e)
                if !locking
                    && matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) =>
            {
                // Read again: a used id after a first try, the latest commit after a read.
                locking = !first;
                first = false;
                continue;
            }
            Err(e) => return Err(Error::db("writing the version")(e)),
        };
        if let Some(entries) = entries_insert(row, &plan, Expr::val(version_id), DbBackend::MySql) {
            db.execute(&entries)
                .await
                .map_err(Error::db("writing the activity entry"))?;
        }
        return Ok(Outcome::Written);
    }
}
