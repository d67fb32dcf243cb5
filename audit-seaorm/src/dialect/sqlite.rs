//! SQLite: read the latest version, plan in Rust, write every row in one call.

use sea_orm::sea_query::{Expr, SqliteQueryBuilder};
use sea_orm::{ConnectionTrait, DbBackend, Statement};

use super::{HookedRow, Outcome, entries_insert, latest, version_insert};
use crate::trail::plan::{Plan, plan};
use crate::{Error, Result};

pub(crate) async fn write_hooked<C: ConnectionTrait>(
    db: &C,
    row: &HookedRow<'_>,
) -> Result<Outcome> {
    let prev = latest(db, row.subject_type, row.subject_id, false).await?;
    let Ok(plan) = plan(&row.write, prev.as_ref()) else {
        return Ok(Outcome::NoBaseline);
    };
    let Some((_, event, data)) = &plan.version else {
        return Ok(Outcome::Written);
    };
    // The number is taken in the statement itself, so that two writers outside a
    // transaction (each statement on its own) cannot take the same one.
    let next = Expr::cust_with_values(
        r#"(SELECT COALESCE(MAX("version"), 0) + 1 FROM "versions" WHERE "subject_type" = ? AND "subject_id" = ?)"#,
        [row.subject_type, row.subject_id],
    );
    let mut sql = String::new();
    let mut params = Vec::new();
    let mut push = |(s, v): (String, sea_orm::sea_query::Values)| {
        if !sql.is_empty() {
            sql.push_str(";\n");
        }
        sql.push_str(&s);
        params.extend(v.0);
    };
    // The drift entry first, so that it precedes the write's own entry.
    let drift = Plan {
        drift: plan.drift.clone(),
        ..Plan::default()
    };
    if let Some(insert) = entries_insert(row, &drift, Expr::cust("NULL")) {
        push(insert.build(SqliteQueryBuilder));
    }
    push(version_insert(row, event, data, next).build(SqliteQueryBuilder));
    let own = Plan {
        entry: plan.entry.clone(),
        ..Plan::default()
    };
    if let Some(insert) = entries_insert(row, &own, Expr::cust("last_insert_rowid()")) {
        push(insert.build(SqliteQueryBuilder));
    }
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Sqlite,
        sql,
        params,
    ))
    .await
    .map_err(Error::db("writing the activity entry and version"))?;
    Ok(Outcome::Written)
}
