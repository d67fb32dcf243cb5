//! SQLite: every hooked write is one call of a few statements. An update's and a delete's
//! statements decide in SQL what to write from the latest version (as PostgreSQL's one
//! statement does: the rules of [`plan`](crate::trail::plan::plan)); a create reads
//! nothing, its number and the drift of a row deleted outside the trail coming from the
//! statements themselves. An entry is linked to its version through `last_insert_rowid()`.

use audit_core::REDACTED;
use sea_orm::sea_query::{Expr, SqliteQueryBuilder, Values};
use sea_orm::{ConnectionTrait, DbBackend, Statement};

use super::{HookedRow, Outcome, entries_insert, latest, next_number, planned_version_insert};
use crate::entity::table_names;
use crate::trail::plan::{DRIFT, Kind, Plan, plan, redacted_in_create};
use crate::{Error, Result};

/// The latest version of the subject, in SQL (bound: subject type, subject id).
fn latest_sql() -> String {
    let versions = &table_names().versions;
    format!(
        r#"SELECT "id", "version", "event", "data" FROM "{versions}" WHERE "subject_type" = ? AND "subject_id" = ? ORDER BY "version" DESC LIMIT 1"#
    )
}

pub(crate) async fn write_hooked<C: ConnectionTrait>(
    db: &C,
    row: &HookedRow<'_>,
) -> Result<Outcome> {
    let done = match row.write.kind {
        Kind::Deleted => write_deleted(db, row).await?,
        Kind::Updated => write_updated(db, row).await?,
        Kind::Created => None,
    };
    if let Some(outcome) = done {
        return Ok(outcome);
    }
    let prev = match row.write.kind {
        Kind::Created => None,
        _ => latest(db, row.subject_type, row.subject_id, false).await?,
    };
    let plan = match row.write.kind {
        Kind::Created => plan(&row.write, None).unwrap_or_default(),
        _ => match plan(&row.write, prev.as_ref()) {
            Ok(plan) => plan,
            Err(_) => return Ok(Outcome::NoBaseline),
        },
    };
    let Some((_, event, data)) = &plan.version else {
        return Ok(super::nothing_written(row, prev.as_ref()));
    };
    let mut sql = String::new();
    let mut params = Vec::new();
    let mut push = |(s, v): (String, Values)| {
        if !sql.is_empty() {
            sql.push_str(";\n");
        }
        sql.push_str(&s);
        params.extend(v.0);
    };
    // The drift entry first, so that it precedes the write's own entry.
    if row.write.kind == Kind::Created {
        push(created_over_live_trail(row));
    } else {
        let drift = Plan {
            drift: plan.drift.clone(),
            ..Plan::default()
        };
        if let Some(insert) = entries_insert(row, &drift, Expr::cust("NULL"), DbBackend::Sqlite) {
            push(insert.build(SqliteQueryBuilder));
        }
    }
    // The number is taken in the statement itself, so that two writers outside a
    // transaction (each statement on its own) cannot take the same one.
    let next = next_number(row.subject_type, row.subject_id);
    push(
        planned_version_insert(row, event, data, next, DbBackend::Sqlite).build(SqliteQueryBuilder),
    );
    let own = Plan {
        entry: plan.entry.clone(),
        ..Plan::default()
    };
    if let Some(insert) = entries_insert(
        row,
        &own,
        Expr::cust("last_insert_rowid()"),
        DbBackend::Sqlite,
    ) {
        push(insert.build(SqliteQueryBuilder));
    }
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Sqlite,
        sql,
        params,
    ))
    .await
    .map_err(Error::db(CONTEXT))?;
    Ok(Outcome::Written)
}

/// Sends an update's or delete's statements as one call and reads its answer row.
async fn one_call<C: ConnectionTrait>(
    db: &C,
    sql: String,
    values: Vec<sea_orm::Value>,
) -> Result<Option<Outcome>> {
    let stmt = Statement::from_sql_and_values(DbBackend::Sqlite, sql, values);
    let found = crate::write::one_row(db, stmt, CONTEXT).await?;
    answer::<C>(&found, CONTEXT)
}

/// What failed, when the statements of a hooked write fail.
const CONTEXT: &str = "writing the activity entry and version";

/// What an update's or delete's one call answered: `None` when it wrote nothing outside a
/// transaction, where its statements may each have seen another commit (a first version
/// written by another connection between the one that found none and the one that says
/// whether there is one): the write is then planned again from a read, in Rust.
fn answer<C: ?Sized>(
    found: &sea_orm::QueryResult,
    context: &'static str,
) -> Result<Option<Outcome>> {
    let get = |column| {
        found
            .try_get::<bool>("", column)
            .map_err(Error::db(context))
    };
    if get("wrote")? {
        return Ok(Some(Outcome::Written));
    }
    if get("kept")? {
        return Ok(Some(Outcome::NotDeleted));
    }
    if crate::hooks::is_plain_connection::<C>() {
        return Ok(None);
    }
    Ok(Some(if !get("has_prev")? {
        Outcome::NoBaseline
    } else if get("trail_gone")? {
        Outcome::AlreadyDeleted
    } else {
        Outcome::Written
    }))
}

/// The statements' common part for an update: the subject's state as `prev` says the
/// trail holds it, the fields whose JSON differs from the new snapshot's (`?3`; the fields
/// the write set, `?4`, are its own, the rest drift), the write's changes (with the
/// redacted fields', `?6`) and the drift as JSON objects, and the next number, in one
/// row `go` when anything is to be written (or `?7`, force). The rules of
/// [`plan`](crate::trail::plan::plan), in SQL.
fn update_ctes(prev: &str) -> String {
    format!(
        r#"WITH prev AS ({prev}),
b AS (SELECT p."version" AS "version", p."event" <> 'deleted' AS alive,
             CASE WHEN p."event" <> 'deleted' THEN p."data" ELSE '{{}}' END AS "data"
      FROM prev p),
a AS MATERIALIZED (
      SELECT n.key AS field,
             COALESCE(b."data" -> ('$."' || n.key || '"'), 'null') AS old,
             (?3 -> ('$."' || n.key || '"')) AS new,
             (?4 IS NULL OR EXISTS (SELECT 1 FROM json_each(?4) s WHERE s.value = n.key)) AS own
      FROM b, json_each(?3) n),
-- (a field the state lacks is null; one the write did not set is not drift then: erased
-- since, or a column added after it)
d AS (SELECT a.field, a.old, a.new, a.own FROM a, b WHERE a.old IS NOT a.new
      AND (a.own OR NOT b.alive OR (b."data" -> ('$."' || a.field || '"')) IS NOT NULL)),
c AS (SELECT (SELECT json_group_object(x.field, json(x.change)) FROM (
                  SELECT field, json_object('old', json(old), 'new', json(new)) AS change FROM d
                  WHERE own AND NOT EXISTS (SELECT 1 FROM json_each(?6) r WHERE r.key = field)
                  UNION ALL
                  SELECT e.key, e.value FROM json_each(?6) e) x) AS changes,
             (SELECT json_group_object(field, json_object('old', json(old), 'new', json(new)))
              FROM d WHERE NOT own) AS drift),
go AS (SELECT b."version" + 1 AS "version", c.changes, c.drift,
              (c.changes <> '{{}}' OR ?7) AS own_changed
       FROM b, c
       WHERE c.changes <> '{{}}' OR c.drift <> '{{}}' OR ?7)"#
    )
}

/// An update, in one call: the version, decided by the database from the latest version;
/// then the drift entry and the write's own entry (linked by `last_insert_rowid()`),
/// decided the same way from the version before the one just written, where one was
/// (`changes()`); then one row that says whether the subject had a version at all.
///
/// Fields are compared as JSON text, each side as serde_json wrote it: the same values
/// give the same text, except a JSON object whose keys come in another order (possible
/// only when a crate in the build turns on serde_json's `preserve_order`).
///
/// Parameters, each statement using a run of them from `?1` without a gap (see
/// [`write_deleted`]): subject type, subject id, the new snapshot, the fields the write set
/// (a JSON array; NULL: unknown), time, the redacted fields' changes, force, causer,
/// action, properties, ip, user agent, request id.
async fn write_updated<C: ConnectionTrait>(db: &C, row: &HookedRow<'_>) -> Result<Option<Outcome>> {
    let (versions, log) = (&table_names().versions, &table_names().activity_log);
    let w = &row.write;
    let by = &row.by;
    let text = |s: Option<&str>| sea_orm::Value::String(s.map(str::to_owned));
    let json = |v: Option<serde_json::Value>| sea_orm::Value::Json(v.map(Box::new));
    let values = vec![
        text(Some(row.subject_type)),
        text(Some(row.subject_id)),
        json(w.data.map(|d| serde_json::Value::Object(d.clone()))),
        json(w.set.map(|s| serde_json::Value::from(s.to_vec()))),
        sea_orm::Value::ChronoDateTimeUtc(Some(by.created_at)),
        json(Some(super::changes_json(w.extra))),
        sea_orm::Value::Bool(Some(w.force)),
        text(by.causer_id.as_deref()),
        text(Some(w.action)),
        json(by.properties.clone()),
        text(by.ip.as_deref()),
        text(by.user_agent.as_deref()),
        text(by.request_id.as_deref()),
    ];
    let latest = format!(
        r#"SELECT "version", "event", "data" FROM "{versions}" WHERE "subject_type" = ?1 AND "subject_id" = ?2 ORDER BY "version" DESC LIMIT 1"#
    );
    // After the version's insert: the one before it.
    let before_last = format!(
        r#"SELECT "version", "event", "data" FROM "{versions}" WHERE "subject_type" = ?1 AND "subject_id" = ?2
    AND "version" < (SELECT "version" FROM "{versions}" WHERE "id" = last_insert_rowid())
    ORDER BY "version" DESC LIMIT 1"#
    );
    const ENTRY: &str = r#""action", "subject_type", "subject_id", "causer_id", "changes", "properties", "ip", "user_agent", "request_id", "version_id", "created_at""#;
    // The entries are sorted before they are inserted, so that every value (the link
    // included) is read before the first of them is written, and the drift entry goes first.
    let sql = format!(
        r#"{first}
INSERT INTO "{versions}" ("subject_type", "subject_id", "version", "event", "data", "causer_id", "created_at")
SELECT ?1, ?2, g."version", CASE WHEN g.own_changed THEN ?9 ELSE '{DRIFT}' END, ?3,
       CASE WHEN g.own_changed THEN ?8 END, ?5
FROM go g;
{then}
INSERT INTO "{log}" ({ENTRY})
SELECT "action", "subject_type", "subject_id", "causer_id", "changes", "properties", "ip", "user_agent", "request_id", "version_id", "created_at"
FROM (SELECT 0 AS ord, '{DRIFT}' AS "action", ?1 AS "subject_type", ?2 AS "subject_id", NULL AS "causer_id",
             g.drift AS "changes", NULL AS "properties", NULL AS "ip", NULL AS "user_agent", NULL AS "request_id",
             NULL AS "version_id", ?5 AS "created_at"
      FROM go g WHERE changes() > 0 AND g.drift <> '{{}}'
      UNION ALL
      SELECT 1, ?9, ?1, ?2, ?8, g.changes, ?10, ?11, ?12, ?13, last_insert_rowid(), ?5
      FROM go g WHERE changes() > 0 AND g.own_changed)
ORDER BY ord;
SELECT changes() > 0 AS "wrote", 0 AS "kept", 0 AS "trail_gone",
       EXISTS (SELECT 1 FROM "{versions}" WHERE "subject_type" = ?1 AND "subject_id" = ?2) AS "has_prev""#,
        first = update_ctes(&latest),
        then = update_ctes(&before_last),
    );
    one_call(db, sql, values).await
}

/// A delete, in one call: it compares nothing, so the database can take the old state
/// from the latest version itself. The version (the latest data, event `deleted`) is
/// written only where the trail says the row was alive and the row is gone; the entry,
/// only where the version was (`changes()`), linked by `last_insert_rowid()`, its changes
/// every field of that data going to null (each value copied as the version holds it)
/// and the redacted fields; then one row says whether there was a version and whether the
/// row is still there.
///
/// Parameters: `?1` subject type, `?2` subject id, the row's key, then causer, time, the
/// redacted fields' changes, action, properties, ip, user agent, request id. Each statement
/// uses a run of them from `?1` without a gap: sqlx binds a gap's slots in order from the
/// arguments and stops at the end of them, leaving any numbered parameter after it unbound.
async fn write_deleted<C: ConnectionTrait>(db: &C, row: &HookedRow<'_>) -> Result<Option<Outcome>> {
    let (versions, log) = (&table_names().versions, &table_names().activity_log);
    let by = &row.by;
    let text = |s: Option<&str>| sea_orm::Value::String(s.map(str::to_owned));
    let mut values = vec![text(Some(row.subject_type)), text(Some(row.subject_id))];
    let kept = match row.gone {
        Some(gone) => {
            let (select, key) = gone.select(SqliteQueryBuilder, |i| format!("?{}", 3 + i));
            values.extend(key);
            format!("EXISTS ({select})")
        }
        None => "0".to_owned(),
    };
    let p = |i: usize| format!("?{}", values.len() + i);
    let (causer, at, redacted, action, properties, ip, user_agent, request_id) =
        (p(1), p(2), p(3), p(4), p(5), p(6), p(7), p(8));
    values.extend([
        text(by.causer_id.as_deref()),
        sea_orm::Value::ChronoDateTimeUtc(Some(by.created_at)),
        sea_orm::Value::Json(Some(Box::new(super::changes_json(row.write.extra)))),
        text(Some(row.write.action)),
        sea_orm::Value::Json(by.properties.clone().map(Box::new)),
        text(by.ip.as_deref()),
        text(by.user_agent.as_deref()),
        text(by.request_id.as_deref()),
    ]);
    let sql = format!(
        r#"WITH p AS (SELECT "version", "event", "data" FROM "{versions}" WHERE "subject_type" = ?1 AND "subject_id" = ?2 ORDER BY "version" DESC LIMIT 1)
INSERT INTO "{versions}" ("subject_type", "subject_id", "version", "event", "data", "causer_id", "created_at")
SELECT ?1, ?2, p."version" + 1, 'deleted',
       -- (without the fields redacted since that version was written: their values stay out)
       CASE WHEN {redacted} = '{{}}' THEN p."data" ELSE (
           SELECT json_group_object(j.key, json(p."data" -> ('$."' || j.key || '"')))
           FROM json_each(p."data") j
           WHERE NOT EXISTS (SELECT 1 FROM json_each({redacted}) r WHERE r.key = j.key)) END,
       {causer}, {at}
FROM p
WHERE p."event" <> 'deleted' AND NOT {kept}
  AND (EXISTS (SELECT 1 FROM json_each(p."data")) OR EXISTS (SELECT 1 FROM json_each({redacted})));
INSERT INTO "{log}" ("action", "subject_type", "subject_id", "causer_id", "changes", "properties", "ip", "user_agent", "request_id", "version_id", "created_at")
SELECT {action}, ?1, ?2, {causer},
       (SELECT json_group_object(c.field, json(c.change)) FROM (
            SELECT j.key AS field, json_object('old', json(v."data" -> ('$."' || j.key || '"')), 'new', NULL) AS change
            FROM json_each(v."data") j
            -- (a field redacted since that version was written: its value stays out)
            WHERE NOT EXISTS (SELECT 1 FROM json_each({redacted}) r WHERE r.key = j.key)
            UNION ALL
            SELECT e.key, e.value FROM json_each({redacted}) e) c),
       {properties}, {ip}, {user_agent}, {request_id}, v."id", {at}
FROM "{versions}" v
-- (the version was written, so the row was gone then: its entry goes with it, whatever
-- another connection inserted since, outside a transaction)
WHERE changes() > 0 AND v."id" = last_insert_rowid() AND v."subject_type" = ?1 AND v."subject_id" = ?2;
SELECT changes() > 0 AS "wrote", {kept} AS "kept",
       COALESCE((SELECT "event" = 'deleted' FROM "{versions}" WHERE "subject_type" = ?1 AND "subject_id" = ?2
                 ORDER BY "version" DESC LIMIT 1), 0) AS "trail_gone",
       EXISTS (SELECT 1 FROM "{versions}" WHERE "subject_type" = ?1 AND "subject_id" = ?2) AS "has_prev""#
    );
    one_call(db, sql, values).await
}

/// A create while the trail says the row exists: the row was deleted outside the trail.
/// The drift entry (every field of the latest version `{old, new: null}`, a field the model
/// redacts named `[redacted]`: [`redacted_in_create`]) is written only in that case.
fn created_over_live_trail(row: &HookedRow<'_>) -> (String, Values) {
    let (latest, log) = (latest_sql(), &table_names().activity_log);
    let sql = format!(
        r#"INSERT INTO "{log}" ("action", "subject_type", "subject_id", "changes", "created_at")
SELECT '{DRIFT}', ?, ?, json_group_object(j.key, json_object('old', json(CASE
           WHEN EXISTS (SELECT 1 FROM json_each(?) r WHERE r.value = j.key) THEN '"{REDACTED}"'
           ELSE p."data" -> ('$."' || j.key || '"') END), 'new', NULL)), ?
FROM ({latest}) p, json_each(p."data") j
WHERE p."event" <> 'deleted'
HAVING count(*) > 0"#
    );
    let redacted = serde_json::Value::from(redacted_in_create(&row.write));
    let values = vec![
        row.subject_type.into(),
        row.subject_id.into(),
        sea_orm::Value::Json(Some(Box::new(redacted))),
        sea_orm::Value::ChronoDateTimeUtc(Some(row.by.created_at)),
        row.subject_type.into(),
        row.subject_id.into(),
    ];
    (sql, Values(values))
}
