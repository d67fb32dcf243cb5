//! PostgreSQL: one statement per hooked write.
//!
//! A data-modifying CTE reads the subject's latest version, diffs the new snapshot
//! against it with `jsonb_each` (the rules of [`plan`](crate::trail::plan::plan), in SQL),
//! numbers the next version and inserts the version, then the drift entry and the entry
//! (in that order of ids), only once the version is in; a delete's statement first checks
//! that its row is gone (see [`RowKey`](super::RowKey)). The entity row lock taken by the
//! UPDATE/DELETE serializes hooked writers of one subject, and each statement of a READ
//! COMMITTED transaction sees the latest commit; an explicit write, which takes no row
//! lock, may take the number first, and the statement then runs again.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, RwLock};

use audit_core::REDACTED;
use sea_orm::sea_query::PostgresQueryBuilder;
use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};
use serde_json::Value as Json;

use super::{HookedRow, Outcome, changes_json};
use crate::entity::table_names;
use crate::trail::plan::{DRIFT, Kind};
use crate::write::NUMBER_TRIES;
use crate::{Error, Result};

const ACTIVITY_COLS: &str = r#""action", "subject_type", "subject_id", "causer_id", "changes", "properties", "ip", "user_agent", "request_id", "version_id", "created_at""#;
/// The subject's latest version.
fn prev() -> String {
    let versions = &table_names().versions;
    format!(
        r#"SELECT "version", "event", "data" FROM "{versions}"
    WHERE "subject_type" = $1 AND "subject_id" = $2
    ORDER BY "version" DESC LIMIT 1"#
    )
}
/// A version number an explicit write took first leaves the version unwritten (and with it
/// the entries, which reference it); see [`NUMBER_TRIES`].
const ON_NUMBER: &str = r#"ON CONFLICT ("subject_type", "subject_id", "version") DO NOTHING"#;
const VERSION_COLS: &str =
    r#""subject_type", "subject_id", "version", "event", "data", "causer_id", "created_at""#;

// $1 subject_type, $2 subject_id, $3 data (NULL on delete), $4 the fields the write set
// (a JSON array; NULL: unknown), $5 kind (created/updated/deleted), $6 action, $7 changes
// the hook computed (create diff, redacted fields), $8 causer, $9 properties, $10 ip,
// $11 user agent, $12 request id, $13 created_at, $14 force; a delete's `kept` (whether
// its row is still there: `EXISTS (SELECT 1 FROM <entity> WHERE <key> = $15 …)`) binds its
// key from $15 on.
fn statement(kept: &str) -> String {
    let (prev, log, versions) = (prev(), &table_names().activity_log, &table_names().versions);
    format!(
        r#"WITH prev AS ({prev}), kept AS (
    -- A delete that a trigger or rule cancelled left its row: nothing to log.
    SELECT {kept} AS kept
), b AS (
    -- The state the trail holds: none when it says the row was deleted.
    SELECT p."version", p."event" <> 'deleted' AS alive,
           CASE WHEN p."event" <> 'deleted' THEN p."data" ELSE '{{}}'::jsonb END AS data
    FROM prev p
), d AS (
    -- An update: the fields whose new value differs. A delete: every field, to null.
    SELECT n.key AS field,
           CASE WHEN $5 = 'updated' THEN COALESCE(b.data -> n.key, 'null'::jsonb) ELSE n.value END AS old,
           CASE WHEN $5 = 'updated' THEN n.value ELSE 'null'::jsonb END AS new,
           ($5 = 'deleted' OR $4::jsonb IS NULL OR $4::jsonb ? n.key) AS own
    FROM b CROSS JOIN jsonb_each(CASE WHEN $5 = 'updated' THEN $3::jsonb ELSE b.data END) n
    -- (a field the state lacks counts as null, as the other backends' plan has it; one the
    -- write did not set is not drift then: erased since, or a column added after it)
    WHERE $5 <> 'updated' OR (COALESCE(b.data -> n.key, 'null'::jsonb) IS DISTINCT FROM n.value
      AND (b.data ? n.key OR NOT b.alive OR $4::jsonb IS NULL OR $4::jsonb ? n.key))
), c AS (
    SELECT COALESCE(jsonb_object_agg(field, jsonb_build_object('old', old, 'new', new)) FILTER (WHERE own), '{{}}'::jsonb) || $7::jsonb AS changes,
           COALESCE(jsonb_object_agg(field, jsonb_build_object('old', old, 'new', new)) FILTER (WHERE NOT own), '{{}}'::jsonb) AS drift
    FROM d
), go AS (
    SELECT b.version + 1 AS version, b.data AS base_data, c.changes, c.drift,
           (c.changes <> '{{}}'::jsonb OR $14::boolean) AS own_changed
    FROM b CROSS JOIN c CROSS JOIN kept k
    WHERE NOT k.kept AND (b.alive OR $5 <> 'deleted')
      AND (c.changes <> '{{}}'::jsonb OR c.drift <> '{{}}'::jsonb OR $14::boolean)
), v AS (
    INSERT INTO "{versions}" ({VERSION_COLS})
    SELECT $1, $2, g.version,
           CASE WHEN NOT g.own_changed THEN '{DRIFT}' WHEN $5 = 'deleted' THEN 'deleted' ELSE $6 END,
           -- (a delete's state without the fields redacted since: their values stay out)
           CASE WHEN $5 = 'deleted' THEN g.base_data - ARRAY(SELECT jsonb_object_keys($7::jsonb)) ELSE $3::jsonb END,
           CASE WHEN g.own_changed THEN $8 END, $13
    FROM go g
    -- An explicit write (`snapshot`) holds no row lock: when it took this number first,
    -- insert nothing here, and the caller runs the statement again (see `write_hooked`).
    {ON_NUMBER}
    RETURNING "id", "version"
), dr AS (
    INSERT INTO "{log}" ({ACTIVITY_COLS})
    SELECT '{DRIFT}', $1, $2, NULL, g.drift, NULL, NULL, NULL, NULL, NULL, $13
    -- Only with the version written; before the write's own entry, which references this.
    FROM go g CROSS JOIN (SELECT count(*) AS n FROM v) written
    WHERE written.n > 0 AND g.drift <> '{{}}'::jsonb
    RETURNING "id"
), a AS (
    INSERT INTO "{log}" ({ACTIVITY_COLS})
    SELECT $6, $1, $2, $8, g.changes, $9, $10, $11, $12, v."id", $13
    -- Referencing `dr` runs it first: the drift entry precedes the write's own.
    FROM go g CROSS JOIN v CROSS JOIN (SELECT count(*) AS n FROM dr) drift_first
    WHERE g.own_changed AND drift_first.n >= 0
    RETURNING "id"
)
SELECT EXISTS (SELECT 1 FROM prev) AS has_prev, (SELECT kept FROM kept) AS kept,
       COALESCE((SELECT NOT alive FROM b), FALSE) AS trail_gone, EXISTS (SELECT 1 FROM go) AS planned,
       (SELECT "id" FROM v) AS version_id, (SELECT "id" FROM a) AS activity_id"#
    )
}

/// A create needs no diff: its changes come from the hook; only a trail that says the row
/// exists (it was deleted outside the trail) adds a drift entry. Same parameters.
fn created_statement() -> String {
    let (prev, log, versions) = (prev(), &table_names().activity_log, &table_names().versions);
    format!(
        r#"WITH prev AS ({prev}), v AS (
    INSERT INTO "{versions}" ({VERSION_COLS})
    SELECT $1, $2, COALESCE((SELECT "version" FROM prev), 0) + 1, $6, $3::jsonb, $8, $13
    {ON_NUMBER}
    RETURNING "id", "version"
), dr AS (
    INSERT INTO "{log}" ({ACTIVITY_COLS})
    SELECT '{DRIFT}', $1, $2, NULL,
           -- (a field the model redacts now, in the create's diff but not its snapshot:
           -- named, its value not copied; see `plan::redacted_in_create`)
           (SELECT jsonb_object_agg(o.key, jsonb_build_object(
                'old', CASE WHEN $7::jsonb ? o.key AND NOT $3::jsonb ? o.key THEN '"{REDACTED}"'::jsonb ELSE o.value END,
                'new', NULL)) FROM jsonb_each(p."data") o),
           NULL, NULL, NULL, NULL, NULL, $13
    FROM prev p CROSS JOIN (SELECT count(*) AS n FROM v) written
    WHERE written.n > 0 AND p."event" <> 'deleted' AND p."data" <> '{{}}'::jsonb
    RETURNING "id"
), a AS (
    INSERT INTO "{log}" ({ACTIVITY_COLS})
    SELECT $6, $1, $2, $8, $7::jsonb, $9, $10, $11, $12, v."id", $13
    -- Referencing `dr` runs it first: the drift entry precedes the write's own.
    FROM v CROSS JOIN (SELECT count(*) AS n FROM dr) drift_first
    WHERE drift_first.n >= 0
    RETURNING "id"
)
SELECT TRUE AS has_prev, FALSE AS kept, FALSE AS trail_gone, TRUE AS planned,
       (SELECT "id" FROM v) AS version_id,
       (SELECT "id" FROM a) AS activity_id"#
    )
}

/// The number of the statement's own parameters; a delete's key follows them.
const PARAMS: usize = 14;

static UPDATED: LazyLock<Arc<str>> = LazyLock::new(|| statement("FALSE").into());
static CREATED: LazyLock<Arc<str>> = LazyLock::new(|| created_statement().into());
/// The delete statement of each entity table, by its `SELECT` of the row.
static DELETED: LazyLock<RwLock<HashMap<String, Arc<str>>>> = LazyLock::new(Default::default);

/// The statement for a delete of the row `select` reads.
fn deleted_statement(select: String) -> Arc<str> {
    if let Some(text) = DELETED
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(&select)
    {
        return text.clone();
    }
    let text: Arc<str> = statement(&format!("EXISTS ({select})")).into();
    DELETED
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .entry(select)
        .or_insert(text)
        .clone()
}

pub(crate) async fn write_hooked<C: ConnectionTrait>(
    db: &C,
    row: &HookedRow<'_>,
) -> Result<Outcome> {
    const CONTEXT: &str = "writing the activity entry and version";
    let w = &row.write;
    let by = &row.by;
    let text = |s: Option<&str>| Value::String(s.map(str::to_owned));
    let json = |v: Option<Json>| Value::Json(v.map(Box::new));
    let mut values = vec![
        text(Some(row.subject_type)),
        text(Some(row.subject_id)),
        json(w.data.map(|d| Json::Object(d.clone()))),
        json(w.set.map(|s| Json::from(s.to_vec()))),
        text(Some(w.kind.as_str())),
        text(Some(w.action)),
        json(Some(changes_json(w.extra))),
        text(by.causer_id.as_deref()),
        json(by.properties.clone()),
        text(by.ip.as_deref()),
        text(by.user_agent.as_deref()),
        text(by.request_id.as_deref()),
        Value::ChronoDateTimeUtc(Some(by.created_at)),
        Value::Bool(Some(w.force)),
    ];
    let sql = match (w.kind, row.gone) {
        (Kind::Created, _) => CREATED.clone(),
        (Kind::Deleted, Some(gone)) => {
            let (select, key) =
                gone.select(PostgresQueryBuilder, |i| format!("${}", PARAMS + 1 + i));
            values.extend(key);
            deleted_statement(select)
        }
        _ => UPDATED.clone(),
    };
    let stmt = Statement::from_sql_and_values(DbBackend::Postgres, &*sql, values);
    // A writer of the same subject that holds no row lock (an explicit `snapshot` or
    // `record_change`) may take the number this statement reads; the insert then waits
    // for its transaction and writes nothing, and the statement runs again, reading the
    // latest commit (READ COMMITTED; in a REPEATABLE READ or SERIALIZABLE transaction the
    // insert fails with a serialization error instead).
    for _ in 0..NUMBER_TRIES {
        let answer = crate::write::one_row(db, stmt.clone(), CONTEXT).await?;
        if answer
            .try_get::<bool>("", "kept")
            .map_err(Error::db(CONTEXT))?
        {
            return Ok(Outcome::NotDeleted);
        }
        let has_prev: bool = answer.try_get("", "has_prev").map_err(Error::db(CONTEXT))?;
        if !has_prev && w.kind != Kind::Created {
            return Ok(Outcome::NoBaseline);
        }
        let trail_gone: bool = answer
            .try_get("", "trail_gone")
            .map_err(Error::db(CONTEXT))?;
        if trail_gone && w.kind == Kind::Deleted {
            return Ok(Outcome::AlreadyDeleted);
        }
        let planned: bool = answer.try_get("", "planned").map_err(Error::db(CONTEXT))?;
        let version: Option<i64> = answer
            .try_get("", "version_id")
            .map_err(Error::db(CONTEXT))?;
        if !planned || version.is_some() {
            return Ok(Outcome::Written);
        }
    }
    Err(Error::Database {
        context: CONTEXT,
        source: sea_orm::DbErr::Custom(format!(
            "{NUMBER_TRIES} version numbers in a row were taken by explicit writes of `{}` {}",
            row.subject_type, row.subject_id
        )),
    })
}
