//! MySQL/MariaDB: read the latest version, plan in Rust, then insert the version and the
//! entries (drift first, in one multi-row statement) in one call. A create skips the read:
//! a generated key is version 1, a key the caller gave is numbered from the latest version
//! by the call itself ([`numbering`]), and it reads only when that number is taken (a trail
//! that says the row exists).
//!
//! MySQL prepares one statement at a time, so the call sends the two inserts as text, the
//! entry linked to its version through `LAST_INSERT_ID()`, with every value written in as
//! a literal ([`inlined`]): strings and JSON as hex with their character set, so that
//! nothing a value holds can end its literal, whatever the server's `sql_mode` says about
//! backslashes. Values too large for one text call go out as two prepared statements.
//!
//! InnoDB's `INSERT … SELECT MAX(…)` takes shared next-key locks under REPEATABLE READ,
//! and two transactions inserting versions of different new subjects into one index gap
//! then deadlock. So the latest version is read without locks (the entity row lock
//! already serializes writers of one subject) and the number is inserted as planned. A
//! duplicate number (the transaction's snapshot predates the latest version; InnoDB rolls
//! back only that statement) is read again with a locking read, which sees the latest
//! commit, and planned again; so is a subject with no version at all in the snapshot
//! before its update or delete is taken for a row older than its trail (unless the hook
//! holds the row as it was, on a type without its baseline: its baseline's insert is the
//! check, and takes no gap lock that other first baselines would wait for), and a write that
//! the snapshot's latest version says changes nothing (it may change a newer one back).
//! When the latest commit holds a newer version than the snapshot, an update is written
//! from its row as a locking read finds it ([`Outcome::Stale`]): SeaORM's read-back after
//! an UPDATE that changed no value is the snapshot's row, set fields included.

use std::fmt::Write as _;

use sea_orm::sea_query::{Expr, InsertStatement, MysqlQueryBuilder};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, SqlErr, Value};

use super::{HookedRow, Outcome, entries_insert, latest, planned_version_insert};
use crate::trail::plan::{Kind, plan};
use crate::{Error, Result};

pub(crate) async fn write_hooked<C: ConnectionTrait>(
    db: &C,
    row: &HookedRow<'_>,
) -> Result<Outcome> {
    // A create is tried without a read (its call numbers its version itself). An update
    // whose row was read again after a stale snapshot reads the latest commit at once.
    let mut locking = row.fresh;
    let mut first = row.write.kind == Kind::Created;
    // The latest version number the transaction's snapshot holds (an update's first read).
    let mut seen = None;
    loop {
        let prev = if first {
            None
        } else {
            latest(db, row.subject_type, row.subject_id, locking).await?
        };
        let number = prev.as_ref().map(|p| p.version);
        if row.write.kind == Kind::Updated && !row.fresh {
            match locking {
                false => seen = Some(number),
                // The snapshot is older than the latest version: so may be the model.
                true if seen != Some(number) => return Ok(Outcome::Stale),
                true => {}
            }
        }
        let Ok(plan) = plan(&row.write, prev.as_ref()) else {
            // No version in the transaction's snapshot, which may predate the row's
            // first version: only the latest commit, read with a locking read, can say
            // that there is none. Unless the caller writes the row's baseline first: that
            // insert (of version 1, left if there) finds a version committed since, and
            // the next call sees its own baseline without a locking read, whose gap lock
            // (none matches) would keep every other first baseline in that gap waiting.
            if row.may_baseline {
                return Ok(Outcome::NoBaseline);
            }
            if !locking {
                locking = true;
                first = false;
                continue;
            }
            return Ok(Outcome::NoBaseline);
        };
        let Some((number, event, data)) = &plan.version else {
            // Nothing to write by the snapshot's latest version. A newer one may have
            // committed since the snapshot (a write back to the value the snapshot
            // holds): only the latest commit can say the write changed nothing.
            if !locking && !first {
                locking = true;
                continue;
            }
            return Ok(super::nothing_written(row, prev.as_ref()));
        };
        // A create read nothing: a generated key is version 1 (a number taken is read
        // again below); a key the caller gave, which a trail may hold (its first versions
        // pruned), is numbered from the latest version by the call itself.
        let numbered = first && !row.new_key;
        let number = if numbered {
            Expr::cust(NUMBER)
        } else {
            Value::BigInt(Some(*number)).into()
        };
        let insert = planned_version_insert(row, event, data, number, DbBackend::MySql);
        let entries = entries_insert(row, &plan, Expr::cust("LAST_INSERT_ID()"), DbBackend::MySql);
        let call = entries.as_ref().and_then(|e| one_call(&insert, e));
        let written = match call {
            Some(sql) if numbered => {
                let sql = format!("{};\n{sql}", numbering(row));
                db.execute_unprepared(&sql).await.map(|_| None)
            }
            Some(sql) => db.execute_unprepared(&sql).await.map(|_| None),
            None if numbered => {
                // Too large for one call: read, then write as planned.
                first = false;
                continue;
            }
            None => db.execute(&insert).await.map(|r| Some(r.last_insert_id())),
        };
        let version_id = match written {
            Ok(id) => id,
            Err(e)
                if !locking
                    && matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) =>
            {
                // Read again: a used id after a first try, the latest commit after a read.
                locking = !first;
                first = false;
                continue;
            }
            Err(e) => return Err(written_error(e, entries.is_some())),
        };
        if let Some(version_id) = version_id {
            let linked = entries_insert(row, &plan, Expr::val(version_id), DbBackend::MySql);
            if let Some(entries) = linked {
                db.execute(&entries)
                    .await
                    .map_err(Error::db("writing the activity entry"))?;
            }
        }
        return Ok(Outcome::Written);
    }
}

/// The session variable a create's call numbers its version with ([`numbering`]).
const NUMBER: &str = "@audit_version";

/// The statements that begin a create's call: [`NUMBER`] becomes 1 for a subject without a
/// version, the next number after a `deleted` one (a re-used key: version 1 may have been
/// pruned, so it cannot be taken for free), and the latest number itself when the trail
/// says the row exists, so that the insert fails as a duplicate and the write is planned
/// again from a read (the row was deleted outside the trail: drift). A plain `SELECT … INTO`
/// is a consistent read, which takes no lock (an `INSERT … SELECT` would).
fn numbering(row: &HookedRow<'_>) -> String {
    let versions = &crate::entity::table_names().versions;
    let text = |s: &str| {
        let mut out = String::new();
        hex(s.as_bytes(), &mut out);
        out
    };
    let (subject_type, subject_id) = (text(row.subject_type), text(row.subject_id));
    format!(
        "SELECT IFNULL((SELECT IF(`event` = 'deleted', `version` + 1, `version`) \
         FROM `{versions}` WHERE `subject_type` = {subject_type} AND `subject_id` = {subject_id} \
         ORDER BY `version` DESC LIMIT 1), 1) INTO {NUMBER}"
    )
}

/// What failed: the version, or the version and its entries sent together.
fn written_error(e: DbErr, with_entries: bool) -> Error {
    if with_entries {
        Error::db("writing the version and the activity entry")(e)
    } else {
        Error::db("writing the version")(e)
    }
}

/// The largest text call [`one_call`] sends (well under MySQL's and MariaDB's default
/// `max_allowed_packet`, 16 MiB or more); larger writes go as two prepared statements.
const MAX_CALL: usize = 1 << 20;

/// The version's insert and then the entries' as one text call, or `None` when a value
/// cannot be written in ([`inlined`]) or the call would exceed [`MAX_CALL`].
fn one_call(version: &InsertStatement, entries: &InsertStatement) -> Option<String> {
    let (sql, values) = version.build(MysqlQueryBuilder);
    let mut call = inlined(&sql, &values.0)?;
    call.push_str(";\n");
    let (sql, values) = entries.build(MysqlQueryBuilder);
    call.push_str(&inlined(&sql, &values.0)?);
    (call.len() <= MAX_CALL).then_some(call)
}

/// `sql` with each `?` placeholder replaced by its value as a MySQL literal: strings and
/// JSON as `_utf8mb4 X'…'` (hex cannot end a literal early, and needs no escaping that
/// depends on `NO_BACKSLASH_ESCAPES`), integers in decimal, times as quoted
/// `YYYY-MM-DD HH:MM:SS.ffffff`, and `NULL`. `None` for a value of another type, for a
/// quote outside an identifier, or when placeholders and values do not pair up.
pub(crate) fn inlined(sql: &str, values: &[Value]) -> Option<String> {
    let mut out = String::with_capacity(sql.len() + 64 * values.len());
    let mut values = values.iter();
    let mut in_ident = false;
    for c in sql.chars() {
        match c {
            '`' => {
                // A doubled backquote inside an identifier closes and reopens it: the
                // same state afterwards.
                in_ident = !in_ident;
                out.push(c);
            }
            '?' if !in_ident => literal(values.next()?, &mut out)?,
            '\'' | '"' if !in_ident => return None,
            _ => out.push(c),
        }
    }
    (!in_ident && values.next().is_none()).then_some(out)
}

/// One value as a MySQL literal (see [`inlined`]).
fn literal(value: &Value, out: &mut String) -> Option<()> {
    match value {
        Value::String(Some(s)) => hex(s.as_bytes(), out),
        Value::Json(Some(j)) => hex(serde_json::to_string(j).ok()?.as_bytes(), out),
        Value::BigInt(Some(n)) => write!(out, "{n}").ok()?,
        Value::Int(Some(n)) => write!(out, "{n}").ok()?,
        Value::SmallInt(Some(n)) => write!(out, "{n}").ok()?,
        Value::ChronoDateTime(Some(t)) => {
            write!(out, "'{}'", t.format("%Y-%m-%d %H:%M:%S%.6f")).ok()?
        }
        Value::String(None)
        | Value::Json(None)
        | Value::BigInt(None)
        | Value::Int(None)
        | Value::SmallInt(None)
        | Value::ChronoDateTime(None) => out.push_str("NULL"),
        _ => return None,
    }
    Some(())
}

/// `_utf8mb4 X'…'`: the bytes as a string of MySQL's four-byte UTF-8.
fn hex(bytes: &[u8], out: &mut String) {
    out.push_str("_utf8mb4 X'");
    out.push_str(&const_hex::encode(bytes));
    out.push('\'');
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn values_are_written_in_as_literals_that_nothing_can_end() {
        let at = NaiveDate::from_ymd_opt(2026, 12, 5)
            .unwrap()
            .and_hms_micro_opt(15, 4, 5, 60)
            .unwrap();
        let sql = "INSERT INTO `a?``b` (`x`, `y`, `z`, `t`, `j`) VALUES (?, ?, ?, ?, ?)";
        let values = [
            Value::String(Some("it's \\ \"x\"".to_owned())),
            Value::String(None),
            Value::BigInt(Some(-42)),
            Value::ChronoDateTime(Some(at)),
            Value::Json(Some(Box::new(serde_json::json!({"k": "'"})))),
        ];
        let text = inlined(sql, &values).unwrap();
        assert_eq!(
            text,
            format!(
                "INSERT INTO `a?``b` (`x`, `y`, `z`, `t`, `j`) VALUES (_utf8mb4 X'{}', NULL, -42, \
                 '2026-12-05 15:04:05.000060', _utf8mb4 X'{}')",
                const_hex::encode("it's \\ \"x\""),
                const_hex::encode(r#"{"k":"'"}"#),
            )
        );
        // Quotes only around the two hex strings and the time (which holds digits only).
        assert_eq!(text.matches('\'').count(), 2 + 2 * 2);
    }

    #[test]
    fn what_cannot_be_written_in_is_refused() {
        let one = [Value::BigInt(Some(1))];
        assert!(
            inlined("SELECT ?, ?", &one).is_none(),
            "a placeholder without a value"
        );
        assert!(
            inlined("SELECT 1", &one).is_none(),
            "a value without a placeholder"
        );
        assert!(inlined("SELECT '?', ?", &one).is_none(), "a quoted literal");
        assert!(inlined("SELECT ?", &[Value::Double(Some(1.5))]).is_none());
        assert_eq!(inlined("SELECT ?", &one).as_deref(), Some("SELECT 1"));
    }
}
