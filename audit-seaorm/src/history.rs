//! Questions asked of a record's history: its state at a time, the changes between two of
//! its versions or since a time, and who last changed each field.

use std::collections::BTreeMap;

use audit_core::{Action, ActivityEntry, Audited, Changes, SubjectId, Version};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, PrimaryKeyTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::Serialize;
use serde_json::Value;

use crate::entity::versions;
use crate::trail::plan::Kind;
use crate::{AuditedModel, Error, Result};

/// The primary key value of an entity: `i32`, `String`, `(i32, String)` for a composite key.
pub type KeyOf<E> = <<E as EntityTrait>::PrimaryKey as PrimaryKeyTrait>::ValueType;

/// The subject id of the record of `E` with primary key `key`: the text form the derive
/// gives the model's key (see [`SubjectId`]). A key of one column is one value even when
/// it serializes as an array (a `Vec<u8>` key), as the derive takes it.
pub fn subject_id_of<E: EntityTrait>(key: &KeyOf<E>) -> Result<SubjectId>
where
    KeyOf<E>: Serialize,
{
    let value = serde_json::to_value(key).map_err(|source| {
        Error::InvalidArgument(format!(
            "a primary key of `{}` does not serialize: {source}",
            sea_orm::EntityName::table_name(&E::default())
        ))
    })?;
    Ok(match value {
        Value::Array(parts) if <E::PrimaryKey as sea_orm::Iterable>::iter().count() > 1 => {
            SubjectId::from_key_values(parts)
        }
        one => SubjectId::from_key_values([one]),
    })
}

/// The time a bound means on `backend`: cut to its microsecond (down, before 2000 too,
/// where a driver's cut toward PostgreSQL's epoch rounds up); MySQL's `DATETIME(6)`
/// compares with a `DATETIME` parameter (a `TIMESTAMP` one stops at 2038); clamped to
/// years 1000–9999.
fn at(t: DateTime<Utc>, backend: DbBackend) -> sea_orm::Value {
    crate::dialect::bound_micros(t, backend)
}

/// The version of a subject in force at `t`: the highest-numbered one written at or before
/// `t` (so two versions with one timestamp are ordered by their numbers).
pub(crate) async fn version_at<C: ConnectionTrait>(
    db: &C,
    subject_type: &str,
    subject_id: &str,
    t: DateTime<Utc>,
) -> Result<Option<Version>> {
    newest(db, subject_type, subject_id, Some(t)).await
}

/// The latest version of a subject, by its number (not by the reader's clock: a version
/// stamped by a clock ahead of this one is the latest all the same).
pub(crate) async fn latest_version<C: ConnectionTrait>(
    db: &C,
    subject_type: &str,
    subject_id: &str,
) -> Result<Option<Version>> {
    newest(db, subject_type, subject_id, None).await
}

/// The number of a subject's earliest version left (retention may have pruned those before).
#[cfg(feature = "axum")]
pub(crate) async fn earliest_version_number<C: ConnectionTrait>(
    db: &C,
    subject_type: &str,
    subject_id: &str,
) -> Result<Option<i64>> {
    use versions::Column as V;
    versions::Entity::find()
        .select_only()
        .column(V::Version)
        .filter(V::SubjectType.eq(subject_type))
        .filter(V::SubjectId.eq(subject_id))
        .order_by_asc(V::Version)
        .limit(1)
        .into_tuple::<i64>()
        .one(db)
        .await
        .map_err(Error::db("reading a record's earliest version"))
}

/// The highest-numbered version of a subject, of those written at or before `t` if given.
async fn newest<C: ConnectionTrait>(
    db: &C,
    subject_type: &str,
    subject_id: &str,
    t: Option<DateTime<Utc>>,
) -> Result<Option<Version>> {
    use versions::Column as V;
    let mut query = versions::Entity::find()
        .filter(V::SubjectType.eq(subject_type))
        .filter(V::SubjectId.eq(subject_id));
    if let Some(t) = t {
        query = query.filter(V::CreatedAt.lte(at(t, db.get_database_backend())));
    }
    query
        .order_by_desc(V::Version)
        .limit(1)
        .one(db)
        .await
        .map_err(Error::db("reading the version in force at a time"))?
        .map(crate::api::version_from_row)
        .transpose()
}

/// [`version_at`], or [`Error::StatePruned`] when the subject has no version at or before
/// `t` but its first versions were pruned: the trail cannot tell what it was then (nor
/// whether it existed); [`Error::StateBeforeTrail`] when its first version, written after
/// `t`, did not create it: it existed then, as what the trail cannot tell.
pub(crate) async fn state_at<C: ConnectionTrait>(
    db: &C,
    subject_type: &str,
    subject_id: &str,
    t: DateTime<Utc>,
) -> Result<Option<Version>> {
    use versions::Column as V;
    let found = version_at(db, subject_type, subject_id, t).await?;
    if found.is_some() {
        return Ok(found);
    }
    let earliest: Option<(i64, String, DateTime<Utc>)> = versions::Entity::find()
        .select_only()
        .columns([V::Version, V::Event, V::CreatedAt])
        .filter(V::SubjectType.eq(subject_type))
        .filter(V::SubjectId.eq(subject_id))
        .order_by_asc(V::Version)
        .limit(1)
        .into_tuple()
        .one(db)
        .await
        .map_err(Error::db("reading a record's earliest version"))?;
    match earliest {
        Some((earliest, _, _)) if earliest > 1 => Err(Error::StatePruned {
            subject_type: subject_type.to_owned(),
            subject_id: subject_id.to_owned(),
            at: t,
            earliest,
        }),
        // A first version that did not create the row (a baseline, or an update, delete
        // or snapshot of a row written around the hooks): it existed before auditing saw
        // it, not "not created yet".
        Some((_, event, since)) if event != Kind::Created.as_str() => {
            Err(Error::StateBeforeTrail {
                subject_type: subject_type.to_owned(),
                subject_id: subject_id.to_owned(),
                at: t,
                since,
            })
        }
        _ => Ok(None),
    }
}

/// [`state_at`]'s error for the first of `ids` (records with no version at or before
/// `t`) that has one, two queries for them all (per [`IDS_PER_QUERY`]):
/// [`Error::StatePruned`] when a record's first versions were pruned,
/// [`Error::StateBeforeTrail`] when its first version did not create it.
async fn no_state_then<C: ConnectionTrait>(
    db: &C,
    subject_type: &str,
    ids: &[&str],
    t: DateTime<Utc>,
) -> Result<()> {
    use versions::Column as V;
    const CONTEXT: &str = "reading records' earliest versions";
    for chunk in ids.chunks(IDS_PER_QUERY) {
        let earliest: std::collections::HashMap<String, i64> = versions::Entity::find()
            .select_only()
            .column(V::SubjectId)
            .column_as(V::Version.min(), "earliest")
            .filter(V::SubjectType.eq(subject_type))
            .filter(V::SubjectId.is_in(chunk.iter().copied()))
            .group_by(V::SubjectId)
            .into_tuple::<(String, i64)>()
            .all(db)
            .await
            .map_err(Error::db(CONTEXT))?
            .into_iter()
            .collect();
        if earliest.is_empty() {
            continue;
        }
        // The rows that existed before auditing saw them (a first version that did not
        // create the row): not "not created yet".
        let baselines: std::collections::HashMap<String, DateTime<Utc>> = versions::Entity::find()
            .select_only()
            .columns([V::SubjectId, V::CreatedAt])
            .filter(V::SubjectType.eq(subject_type))
            .filter(V::SubjectId.is_in(earliest.keys().map(String::as_str)))
            .filter(V::Version.eq(1))
            .filter(V::Event.ne(Kind::Created.as_str()))
            .into_tuple::<(String, DateTime<Utc>)>()
            .all(db)
            .await
            .map_err(Error::db(CONTEXT))?
            .into_iter()
            .collect();
        for &id in chunk {
            if let Some(&first) = earliest.get(id).filter(|&&e| e > 1) {
                return Err(Error::StatePruned {
                    subject_type: subject_type.to_owned(),
                    subject_id: id.to_owned(),
                    at: t,
                    earliest: first,
                });
            }
            if let Some(&since) = baselines.get(id) {
                return Err(Error::StateBeforeTrail {
                    subject_type: subject_type.to_owned(),
                    subject_id: id.to_owned(),
                    at: t,
                    since,
                });
            }
        }
    }
    Ok(())
}

/// The record a version holds, or `None` when the version says it was deleted. Fields the
/// snapshot does not hold (redacted, skipped) take their type's default; keys of the
/// snapshot that are no field of the model any more (removed or renamed since) are left
/// out, with a `tracing` warning (a read of the past; a restore refuses them instead).
fn model_of<M: Audited>(version: Option<Version>) -> Result<Option<M>> {
    let v = match version {
        None => return Ok(None),
        Some(v) if v.event == Action::Deleted => return Ok(None),
        Some(v) => v,
    };
    let known = |k: &String| M::FIELDS.iter().any(|f| f.name == k.as_str());
    if v.data.keys().all(known) {
        return Ok(Some(M::from_snapshot(None, &v.data)?));
    }
    let (kept, gone): (serde_json::Map<String, serde_json::Value>, Vec<_>) = {
        let mut kept = serde_json::Map::new();
        let mut gone = Vec::new();
        for (k, value) in v.data {
            if known(&k) {
                kept.insert(k, value);
            } else {
                gone.push(k);
            }
        }
        (kept, gone)
    };
    tracing::warn!(
        subject_type = M::SUBJECT_TYPE,
        subject_id = v.subject_id.as_str(),
        version = v.version,
        fields = ?gone,
        "audit: a version holds fields the model no longer has: left out of the record read"
    );
    Ok(Some(M::from_snapshot(None, &kept)?))
}

/// [`AuditedEntity::as_of`](crate::AuditedEntity::as_of).
pub(crate) async fn as_of<E, C>(db: &C, key: KeyOf<E>, t: DateTime<Utc>) -> Result<Option<E::Model>>
where
    E: EntityTrait,
    E::Model: AuditedModel,
    KeyOf<E>: Serialize,
    C: ConnectionTrait,
{
    let id = subject_id_of::<E>(&key)?;
    let subject_type = <E::Model as Audited>::SUBJECT_TYPE;
    let state = state_at(db, subject_type, id.as_str(), t).await?;
    if state.is_none() && !has_versions(db, subject_type, id.as_str()).await? {
        // No version at all: "not created yet" only if the row is not there either (one
        // written around the hooks, or older than auditing and not backfilled, is).
        let row = E::find_by_id(key).one(db).await.map_err(Error::db(
            "reading the row of a record the trail does not hold",
        ))?;
        // (a row found by a loosely compared key, `"rust"` for `"Rust"`, is another
        // record's: this one did not exist)
        let same = match row {
            Some(row) => row.subject_id()? == id,
            None => false,
        };
        if same {
            return Err(Error::NoTrail {
                subject_type: subject_type.to_owned(),
                subject_id: id.into_string(),
            });
        }
    }
    model_of(state)
}

/// Whether the trail holds any version of the subject.
async fn has_versions<C: ConnectionTrait>(
    db: &C,
    subject_type: &str,
    subject_id: &str,
) -> Result<bool> {
    use versions::Column as V;
    let any: Option<i64> = versions::Entity::find()
        .select_only()
        .column(V::Id)
        .filter(V::SubjectType.eq(subject_type))
        .filter(V::SubjectId.eq(subject_id))
        .limit(1)
        .into_tuple()
        .one(db)
        .await
        .map_err(Error::db("reading whether a record has versions"))?;
    Ok(any.is_some())
}

/// [`AuditedEntity::as_of_many`](crate::AuditedEntity::as_of_many): one query for all keys.
pub(crate) async fn as_of_many<E, C>(
    db: &C,
    keys: &[KeyOf<E>],
    t: DateTime<Utc>,
) -> Result<Vec<E::Model>>
where
    E: EntityTrait,
    E::Model: AuditedModel,
    KeyOf<E>: Serialize,
    C: ConnectionTrait,
{
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let subject_type = <E::Model as Audited>::SUBJECT_TYPE;
    let ids = keys
        .iter()
        .map(|k| subject_id_of::<E>(k).map(SubjectId::into_string))
        .collect::<Result<Vec<_>>>()?;
    let rows = latest_versions(db, subject_type, &ids, Some(t)).await?;
    if rows.len() < ids.len() {
        // A record with no version then: not there yet, or its versions up to `t` pruned,
        // or older than its trail.
        let found: std::collections::HashSet<&str> =
            rows.iter().map(|r| r.subject_id.as_str()).collect();
        // In the caller's order, each once: the first that the trail cannot tell decides.
        let mut seen = std::collections::HashSet::new();
        let missing: Vec<&str> = ids
            .iter()
            .map(String::as_str)
            .filter(|id| !found.contains(id) && seen.insert(*id))
            .collect();
        no_state_then(db, subject_type, &missing, t).await?;
    }
    let mut models = Vec::with_capacity(rows.len());
    for row in rows {
        if let Some(m) = model_of(Some(crate::api::version_from_row(row)?))? {
            models.push(m);
        }
    }
    Ok(models)
}

/// The latest version of each of `ids` (of `subject_type`), or the one in force at
/// `until` when given, in subject id order, each subject once however often `ids` names
/// it; one query (on SQLite and MySQL/MariaDB, one per [`IDS_PER_QUERY`]).
pub(crate) async fn latest_versions<C: ConnectionTrait>(
    db: &C,
    subject_type: &str,
    ids: &[String],
    until: Option<DateTime<Utc>>,
) -> Result<Vec<versions::Model>> {
    use versions::Column as V;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut unique = ids.to_vec();
    unique.sort_unstable();
    unique.dedup();
    let ids = unique.as_slice();
    let backend = db.get_database_backend();
    if backend == DbBackend::Postgres {
        return latest_versions_postgres(db, subject_type, ids, until).await;
    }
    // The highest version (at or before `until`) of each subject, joined to those versions
    // (a derived table: MariaDB runs `(a, b) IN (SELECT …)` once per row of the table);
    // a query per `IDS_PER_QUERY` subjects, under every backend's parameter limit.
    let max = Alias::new("max_version");
    let mut rows = Vec::new();
    for chunk in ids.chunks(IDS_PER_QUERY) {
        let latest = Query::select()
            .column(V::SubjectId)
            .expr_as(Expr::col(V::Version).max(), max.clone())
            .from(versions::Entity)
            .and_where(Expr::col(V::SubjectType).eq(subject_type))
            .and_where(Expr::col(V::SubjectId).is_in(chunk.iter().map(String::as_str)))
            .and_where_option(until.map(|t| Expr::col(V::CreatedAt).lte(at(t, backend))))
            .group_by_col(V::SubjectId)
            .to_owned();
        rows.extend(joined_versions(db, latest, subject_type).await?);
    }
    if ids.len() > IDS_PER_QUERY {
        rows.sort_by(|a, b| a.subject_id.cmp(&b.subject_id));
    }
    Ok(rows)
}

/// Subject ids per query of [`latest_versions`] on SQLite and MySQL/MariaDB (PostgreSQL
/// takes them as one JSON array).
const IDS_PER_QUERY: usize = 10_000;

/// [`latest_versions`] on PostgreSQL: one index probe per subject (`LATERAL … LIMIT 1`),
/// a plan that stays right whatever the statistics say (a grouped `IN (…)` scanned every
/// version of the type when the table had grown since its last `ANALYZE`).
async fn latest_versions_postgres<C: ConnectionTrait>(
    db: &C,
    subject_type: &str,
    ids: &[String],
    until: Option<DateTime<Utc>>,
) -> Result<Vec<versions::Model>> {
    use sea_orm::{FromQueryResult, Statement};
    let table = &crate::entity::table_names().versions;
    let mut values = vec![
        subject_type.into(),
        sea_orm::Value::Json(Some(Box::new(Value::from(ids.to_vec())))),
    ];
    let until_sql = match until {
        Some(t) => {
            values.push(at(t, DbBackend::Postgres));
            r#" AND "created_at" <= $3"#
        }
        None => "",
    };
    let sql = format!(
        r#"SELECT v.* FROM jsonb_array_elements_text($2) AS s(id)
CROSS JOIN LATERAL (SELECT * FROM "{table}" WHERE "subject_type" = $1 AND "subject_id" = s.id{until_sql}
    ORDER BY "version" DESC LIMIT 1) v
ORDER BY v."subject_id""#
    );
    let stmt = Statement::from_sql_and_values(DbBackend::Postgres, sql, values);
    versions::Model::find_by_statement(stmt)
        .all(db)
        .await
        .map_err(Error::db("reading the latest versions"))
}

/// The versions `latest` names (its rows: subject id, `max_version`), in subject id order.
async fn joined_versions<C: ConnectionTrait>(
    db: &C,
    latest: sea_orm::sea_query::SelectStatement,
    subject_type: &str,
) -> Result<Vec<versions::Model>> {
    use sea_orm::sea_query::{Asterisk, Condition, JoinType, Order};
    use sea_orm::{FromQueryResult, StatementBuilder};
    use versions::Column as V;
    if db.get_database_backend() == DbBackend::Sqlite {
        // SQLite takes the other columns of a grouped row from the row of its `max()`
        // (documented behaviour of bare columns): one pass over the index, where it
        // planned the join below as a scan of every version of the type.
        let mut query = latest;
        query
            .column((versions::Entity, Asterisk))
            .order_by(V::SubjectId, Order::Asc);
        let stmt = StatementBuilder::build(&query, &DbBackend::Sqlite);
        return versions::Model::find_by_statement(stmt)
            .all(db)
            .await
            .map_err(Error::db("reading the latest versions"));
    }
    let (v, m, max) = (Alias::new("v"), Alias::new("m"), Alias::new("max_version"));
    let query = Query::select()
        .expr(Expr::col((v.clone(), Asterisk)))
        .from_as(versions::Entity, v.clone())
        .join_subquery(
            JoinType::InnerJoin,
            latest,
            m.clone(),
            Condition::all()
                .add(Expr::col((v.clone(), V::SubjectId)).equals((m.clone(), V::SubjectId)))
                .add(Expr::col((v.clone(), V::Version)).equals((m, max))),
        )
        .and_where(Expr::col((v.clone(), V::SubjectType)).eq(subject_type))
        .order_by((v, V::SubjectId), Order::Asc)
        .to_owned();
    let stmt = StatementBuilder::build(&query, &db.get_database_backend());
    versions::Model::find_by_statement(stmt)
        .all(db)
        .await
        .map_err(Error::db("reading the latest versions"))
}

/// One page of [`AuditedEntity::all_as_of`](crate::AuditedEntity::all_as_of).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct RecordsPage<M> {
    /// The records that existed at the time, in subject id order.
    pub items: Vec<M>,
    /// Pass as `after` for the next page; `None` on the last page.
    pub next_after: Option<SubjectId>,
}

/// [`AuditedEntity::all_as_of`](crate::AuditedEntity::all_as_of): one query per page.
pub(crate) async fn all_as_of<E, C>(
    db: &C,
    t: DateTime<Utc>,
    after: Option<&SubjectId>,
    limit: u64,
) -> Result<RecordsPage<E::Model>>
where
    E: EntityTrait,
    E::Model: AuditedModel,
    C: ConnectionTrait,
{
    use sea_orm::sea_query::Order;
    use versions::Column as V;
    let subject_type = <E::Model as Audited>::SUBJECT_TYPE;
    let limit = audit_core::page_limit(Some(limit));
    let max = Alias::new("max_version");
    // The highest version at or before `t` of the next `limit + 1` subjects …
    let mut latest = Query::select();
    latest
        .column(V::SubjectId)
        .expr_as(Expr::col(V::Version).max(), max.clone())
        .from(versions::Entity)
        .and_where(Expr::col(V::SubjectType).eq(subject_type))
        .and_where(Expr::col(V::CreatedAt).lte(at(t, db.get_database_backend())));
    if let Some(after) = after {
        latest.and_where(Expr::col(V::SubjectId).gt(after.as_str()));
    }
    latest
        .group_by_col(V::SubjectId)
        .order_by(V::SubjectId, Order::Asc)
        .limit(limit + 1);
    // … joined to those versions (a derived table: MySQL takes no LIMIT in `IN (…)`).
    let mut rows = joined_versions(db, latest, subject_type).await?;
    let next_after = if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| SubjectId::new(r.subject_id.clone()))
    } else {
        None
    };
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        if let Some(model) = model_of(Some(crate::api::version_from_row(row)?))? {
            items.push(model);
        }
    }
    Ok(RecordsPage { items, next_after })
}

/// The changes from version `from` to version `to` of one subject (by their numbers), in the
/// log's `{field: {old, new}}` shape (a `deleted` version has no fields: every field goes
/// to, or comes from, `null`). Redacted fields are in no snapshot, so in no diff.
pub(crate) async fn diff<C: ConnectionTrait>(
    db: &C,
    subject_type: &str,
    subject_id: &str,
    from: i64,
    to: i64,
) -> Result<Changes> {
    use versions::Column as V;
    let rows = versions::Entity::find()
        .filter(V::SubjectType.eq(subject_type))
        .filter(V::SubjectId.eq(subject_id))
        .filter(V::Version.is_in([from, to]))
        .all(db)
        .await
        .map_err(Error::db("reading the versions to compare"))?;
    let data = |n: i64| -> Result<Value> {
        let row =
            rows.iter()
                .find(|r| r.version == n)
                .ok_or_else(|| Error::VersionNumberNotFound {
                    subject_type: subject_type.to_owned(),
                    subject_id: subject_id.to_owned(),
                    version: n,
                })?;
        Ok(state(crate::api::version_from_row(row.clone())?))
    };
    Ok(Changes::between(&data(from)?, &data(to)?))
}

/// The record's fields a version holds: none (`null`) when it says the record was deleted
/// (its data is the last state, kept for a restore).
pub(crate) fn state(version: Version) -> Value {
    match version.event {
        Action::Deleted => Value::Null,
        _ => Value::Object(version.data),
    }
}

/// The changes from version `a` to version `b` (by their ids) of one subject, in the log's
/// `{field: {old, new}}` shape, for any subject type (typed: [`AuditedEntity::diff`]); a
/// `deleted` version has no fields (every field goes to, or comes from, `null`). Versions of
/// two subjects are an error.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = sea_orm::Database::connect("sqlite::memory:").await?;
/// # audit_seaorm::install(&db).await?;
/// use serde_json::json;
/// let a = audit_seaorm::snapshot(&db, "settings", "site", &json!({"theme": "dark"})).await?;
/// let b = audit_seaorm::snapshot(&db, "settings", "site", &json!({"theme": "light"})).await?;
/// let changes = audit_seaorm::diff_versions(&db, a.id, b.id).await?;
/// assert_eq!(changes.get("theme").unwrap().new, json!("light"));
/// # Ok(())
/// # }
/// ```
///
/// [`AuditedEntity::diff`]: crate::AuditedEntity::diff
pub async fn diff_versions<C: ConnectionTrait>(db: &C, a: i64, b: i64) -> Result<Changes> {
    let read = |id: i64| async move {
        crate::api::version(db, id)
            .await?
            .ok_or(Error::VersionNotFound(id))
    };
    let (a, b) = (read(a).await?, read(b).await?);
    if (a.subject_type.as_str(), &a.subject_id) != (b.subject_type.as_str(), &b.subject_id) {
        return Err(Error::SubjectMismatch {
            version_id: b.id,
            expected: "the subject of the first version",
            found: format!("{} {}", b.subject_type, b.subject_id),
        });
    }
    Ok(Changes::between(&state(a), &state(b)))
}

/// Who last changed one field, and how.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "axum", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct Blame {
    /// The entry that changed it last.
    pub entry_id: i64,
    /// Its action (`created`, `updated`, `restored`, `drift`, …).
    pub action: Action,
    /// Who caused it.
    pub causer_id: Option<String>,
    /// The request it was part of.
    pub request_id: Option<String>,
    /// When.
    pub created_at: DateTime<Utc>,
    /// The value before (`"[redacted]"` for a redacted field).
    pub old: Value,
    /// The value after.
    pub new: Value,
}

impl Blame {
    fn of(entry: &ActivityEntry, field: &str) -> Option<Self> {
        let change = entry.changes.get(field)?;
        Some(Self {
            entry_id: entry.id,
            action: entry.action.clone(),
            causer_id: entry.causer_id.clone(),
            request_id: entry.request_id.clone(),
            created_at: entry.created_at,
            old: change.old.clone(),
            new: change.new.clone(),
        })
    }
}

/// [`AuditedEntity::blame`](crate::AuditedEntity::blame): the record's entries newest
/// first, a page at a time, until every audited field of `M` but the key has its last
/// change (or the history ends). A record whose fields all changed lately is answered from its latest
/// entries, whatever the length of its history; a field never changed since the record
/// was created takes reading back to its creation.
pub(crate) async fn blame_of<M: Audited, C: ConnectionTrait>(
    db: &C,
    subject_type: &str,
    subject_id: &str,
) -> Result<BTreeMap<String, Blame>> {
    let (key, wanted) = blamed_fields(M::FIELDS);
    let (fields, _) = blame_paged(db, subject_type, subject_id, &key, Some(&wanted), None).await?;
    Ok(fields)
}

/// A model's key fields and the fields a blame looks for. The key never changes (it is only
/// in the creating entry): it has no blame, so the read need not reach the creation for it.
pub(crate) fn blamed_fields(
    fields: &[audit_core::Field],
) -> (Vec<&'static str>, Vec<&'static str>) {
    use audit_core::FieldMode;
    let key = fields
        .iter()
        .filter(|f| f.primary_key)
        .map(|f| f.name)
        .collect();
    let wanted = fields
        .iter()
        .filter(|f| matches!(f.mode, FieldMode::Audited | FieldMode::Redacted))
        .filter(|f| !f.primary_key)
        .map(|f| f.name)
        .collect();
    (key, wanted)
}

/// For each field of a record, the last entry that changed it: its entries newest first,
/// a page at a time (memory bounded by the fields, not the entries), leaving out the
/// `key` fields, until each `wanted` field has its change (`None`: to the first entry),
/// reading at most `max_entries` entries (`None`: no bound). With it, whether the walk
/// reached its end (every wanted field found, or the first entry).
pub(crate) async fn blame_paged<C: ConnectionTrait>(
    db: &C,
    subject_type: &str,
    subject_id: &str,
    key: &[&str],
    wanted: Option<&[&str]>,
    max_entries: Option<u64>,
) -> Result<(BTreeMap<String, Blame>, bool)> {
    const PAGE: u64 = 100;
    let mut read = 0;
    let mut out = BTreeMap::new();
    let mut filter = audit_core::Filter::new()
        .subject(subject_type, subject_id)
        .order(audit_core::Order::NewestFirst)
        .limit(PAGE);
    loop {
        if let Some(max) = max_entries {
            if read >= max {
                return Ok((out, false));
            }
            filter.limit = Some(Ord::min(PAGE, max - read));
        }
        let page = crate::activity(db, &filter).await?;
        read += page.items.len() as u64;
        for entry in &page.items {
            for field in entry.changes.fields() {
                if !out.contains_key(field)
                    && !key.contains(&field)
                    && let Some(b) = Blame::of(entry, field)
                {
                    out.insert(field.to_owned(), b);
                }
            }
        }
        if wanted.is_some_and(|w| w.iter().all(|f| out.contains_key(*f))) {
            return Ok((out, true));
        }
        match page.next_cursor {
            Some(cursor) => filter.after_id = Some(cursor),
            None => return Ok((out, true)),
        }
    }
}

/// Every change of one field of a record (oldest first): its entries a page at a time,
/// keeping only those that changed the field (memory bounded by them, not the trail).
pub(crate) async fn field_history<C: ConnectionTrait>(
    db: &C,
    subject_type: &str,
    subject_id: &str,
    field: &str,
) -> Result<Vec<Blame>> {
    const PAGE: u64 = 500;
    let mut out = Vec::new();
    let mut filter = audit_core::Filter::new()
        .subject(subject_type, subject_id)
        .order(audit_core::Order::OldestFirst)
        .limit(PAGE);
    loop {
        let page = crate::activity(db, &filter).await?;
        out.extend(page.items.iter().filter_map(|e| Blame::of(e, field)));
        match page.next_cursor {
            Some(cursor) => filter.after_id = Some(cursor),
            None => return Ok(out),
        }
    }
}
