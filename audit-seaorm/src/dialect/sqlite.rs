//! SQLite: one call per hooked write, one statement per row (the entry linked to its
//! version through `last_insert_rowid()`). An update or delete diffs the new snapshot
//! against the latest version in SQL (`json_each`, the rules of
//! [`plan`](crate::trail::plan::plan)), each statement deciding from the same `WITH` (the
//! write lock of the first statement keeps the trail still until the call ends); a create
//! needs no diff, and the drift of a row deleted outside the trail is one statement more.

use sea_orm::sea_query::{Expr, SqliteQueryBuilder, Values};
use sea_orm::{ConnectionTrait, DbBackend, Statement};

use super::{
    HookedRow, Outcome, changes_json, entries_insert, next_number, planned_version_insert,
};
use crate::trail::plan::{DRIFT, Kind, Plan, plan};
use crate::{Error, Result};
use serde_json::Value as Json;

/// The latest version of the subject, in SQL (bound: subject type, subject id).
const LATEST: &str = r#"SELECT "event", "data" FROM "versions" WHERE "subject_type" = ? AND "subject_id" = ? ORDER BY "version" DESC LIMIT 1"#;

pub(crate) async fn write_hooked<C: ConnectionTrait>(
    db: &C,
    row: &HookedRow<'_>,
) -> Result<Outcome> {
    if row.write.kind != Kind::Created {
        return write_changed(db, row).await;
    }
    let plan = plan(&row.write, None).unwrap_or_default();
    let Some((_, event, data)) = &plan.version else {
        return Ok(Outcome::Written);
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
    push(created_over_live_trail(row));
    // The number is taken in the statement itself, so that two writers outside a
    // transaction (each statement on its own) cannot take the same one.
    let next = next_number(row.subject_type, row.subject_id);
    push(planned_version_insert(row, event, data, next).build(SqliteQueryBuilder));
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

/// A create while the trail says the row exists: the row was deleted outside the trail.
/// The drift entry (every field of the latest version `{old, new: null}`) is written only
/// in that case.
fn created_over_live_trail(row: &HookedRow<'_>) -> (String, Values) {
    let sql = format!(
        r#"INSERT INTO "activity_log" ("action", "subject_type", "subject_id", "changes", "created_at")
SELECT '{DRIFT}', ?, ?, json_group_object(j.key, json_object('old', json(p."data" -> ('$."' || j.key || '"')), 'new', NULL)), ?
FROM ({LATEST}) p, json_each(p."data") j
WHERE p."event" <> 'deleted'
HAVING count(*) > 0"#
    );
    let values = vec![
        row.subject_type.into(),
        row.subject_id.into(),
        sea_orm::Value::ChronoDateTimeUtc(Some(row.by.created_at)),
        row.subject_type.into(),
        row.subject_id.into(),
    ];
    (sql, Values(values))
}

/// The plan of an update or delete, in SQL. Bound: subject type, subject id, new data
/// (JSON text; NULL on a delete), the set fields (JSON array; NULL: unknown), kind, the
/// hook's own changes (JSON object), force. `{offset}`: versions to skip from the latest
/// (1 after this call inserted one).
fn plan_sql(offset: &str) -> String {
    format!(
        r#"WITH prev AS (
    SELECT "version", "event", "data" FROM "versions"
    WHERE "subject_type" = ? AND "subject_id" = ?
    ORDER BY "version" DESC LIMIT 1 OFFSET {offset}
), arg AS (
    SELECT ? AS new, ? AS setf, ? AS kind, ? AS extra, ? AS force
), b AS (
    SELECT p."version" AS version, p."event" <> 'deleted' AS alive,
           CASE WHEN p."event" <> 'deleted' THEN p."data" ELSE '{{}}' END AS data
    FROM prev p
), d AS (
    SELECT j.key AS field,
           CASE WHEN a.kind = 'updated' THEN coalesce(b.data -> ('$."' || j.key || '"'), 'null')
                ELSE b.data -> ('$."' || j.key || '"') END AS old,
           CASE WHEN a.kind = 'updated' THEN a.new -> ('$."' || j.key || '"') ELSE 'null' END AS new,
           (a.kind = 'deleted' OR a.setf IS NULL
            OR j.key IN (SELECT value FROM json_each(a.setf))) AS own
    FROM b, arg a, json_each(CASE WHEN a.kind = 'updated' THEN a.new ELSE b.data END) j
    WHERE a.kind <> 'updated'
       OR (b.data -> ('$."' || j.key || '"')) IS NOT (a.new -> ('$."' || j.key || '"'))
), c AS (
    SELECT coalesce((SELECT json_group_object(field, json(change)) FROM (
               SELECT field, json_object('old', json(old), 'new', json(new)) AS change FROM d WHERE own
               UNION ALL
               SELECT key, json(value) FROM json_each((SELECT extra FROM arg)))), '{{}}') AS changes,
           coalesce((SELECT json_group_object(field, json_object('old', json(old), 'new', json(new)))
               FROM d WHERE NOT own), '{{}}') AS drift
), go AS (
    SELECT b.version + 1 AS version, b.data AS base_data, c.changes, c.drift,
           (c.changes <> '{{}}' OR a.force) AS own_changed, a.kind, a.new
    FROM b, c, arg a
    WHERE (b.alive OR a.kind <> 'deleted')
      AND (c.changes <> '{{}}' OR c.drift <> '{{}}' OR a.force)
)
"#
    )
}

/// An update or delete in one call: drift entry, version, entry, then whether the subject
/// had a version at all.
async fn write_changed<C: ConnectionTrait>(db: &C, row: &HookedRow<'_>) -> Result<Outcome> {
    use sea_orm::Value;
    const CONTEXT: &str = "writing the activity entry and version";
    let w = &row.write;
    let by = &row.by;
    let text = |s: Option<&str>| Value::String(s.map(str::to_owned));
    let plan_values = [
        text(Some(row.subject_type)),
        text(Some(row.subject_id)),
        text(
            w.data
                .map(|d| Json::Object(d.clone()).to_string())
                .as_deref(),
        ),
        text(w.set.map(|s| Json::from(s.to_vec()).to_string()).as_deref()),
        text(Some(w.kind.as_str())),
        text(Some(&changes_json(w.extra).to_string())),
        Value::Bool(Some(w.force)),
    ];
    let at = Value::ChronoDateTimeUtc(Some(by.created_at));
    let subject = [text(Some(row.subject_type)), text(Some(row.subject_id))];
    let mut values = Vec::new();
    let mut sql = String::new();
    // 1. The drift entry, before the write's own.
    sql.push_str(&plan_sql("0"));
    sql.push_str(&format!(
        r#"INSERT INTO "activity_log" ("action", "subject_type", "subject_id", "changes", "created_at")
SELECT '{DRIFT}', ?, ?, g.drift, ? FROM go g WHERE g.drift <> '{{}}';
"#
    ));
    values.extend(plan_values.iter().cloned());
    values.extend(subject.iter().cloned());
    values.push(at.clone());
    // 2. The version.
    sql.push_str(&plan_sql("0"));
    sql.push_str(&format!(
        r#"INSERT INTO "versions" ("subject_type", "subject_id", "version", "event", "data", "causer_id", "created_at")
SELECT ?, ?, g.version, CASE WHEN g.own_changed THEN ? ELSE '{DRIFT}' END,
       CASE WHEN g.kind = 'deleted' THEN g.base_data ELSE g.new END,
       CASE WHEN g.own_changed THEN ? END, ?
FROM go g;
"#
    ));
    values.extend(plan_values.iter().cloned());
    values.extend(subject.iter().cloned());
    values.push(text(Some(w.action)));
    values.push(text(by.causer_id.as_deref()));
    values.push(at.clone());
    // 3. The entry: the plan again, from before the version statement 2 inserted.
    sql.push_str(&plan_sql("changes()"));
    sql.push_str(
        r#"INSERT INTO "activity_log" ("action", "subject_type", "subject_id", "causer_id", "changes", "properties", "ip", "user_agent", "request_id", "version_id", "created_at")
SELECT ?, ?, ?, ?, g.changes, ?, ?, ?, ?, last_insert_rowid(), ? FROM go g WHERE g.own_changed;
"#,
    );
    values.extend(plan_values.iter().cloned());
    values.push(text(Some(w.action)));
    values.extend(subject.iter().cloned());
    values.push(text(by.causer_id.as_deref()));
    values.push(text(by.properties.as_ref().map(Json::to_string).as_deref()));
    values.push(text(by.ip.as_deref()));
    values.push(text(by.user_agent.as_deref()));
    values.push(text(by.request_id.as_deref()));
    values.push(at);
    // 4. Whether there was a version to diff against.
    sql.push_str(
        r#"SELECT EXISTS (SELECT 1 FROM "versions" WHERE "subject_type" = ? AND "subject_id" = ?) AS has_prev"#,
    );
    values.extend(subject.iter().cloned());
    let has_prev: bool = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            sql,
            values,
        ))
        .await
        .map_err(Error::db(CONTEXT))?
        .ok_or(Error::Database {
            context: CONTEXT,
            source: sea_orm::DbErr::RecordNotFound("has_prev".into()),
        })?
        .try_get("", "has_prev")
        .map_err(Error::db(CONTEXT))?;
    Ok(if has_prev {
        Outcome::Written
    } else {
        Outcome::NoBaseline
    })
}
