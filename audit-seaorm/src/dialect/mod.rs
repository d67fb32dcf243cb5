//! The statements each backend needs to write a hooked change, and nothing else.
//!
//! - PostgreSQL ([`postgres`]): one statement. A data-modifying CTE reads the subject's
//!   latest version, diffs it against the new snapshot in SQL (`jsonb_each`), numbers the
//!   next version and inserts the drift entry, the version and the entry.
//! - SQLite ([`sqlite`]): the latest version is read, the diff is made in Rust
//!   ([`plan`](crate::trail::plan)), and the rows go out in one call.
//! - MySQL/MariaDB ([`mysql`]): the same read and diff; the version, then the entries.
//!
//! Every backend returns the same [`Written`].

pub(crate) mod mysql;
pub(crate) mod postgres;
pub(crate) mod sqlite;

use audit_core::{AuditContext, Changes};
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::{InsertStatement, Query, SimpleExpr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Value,
};
use serde_json::{Map, Value as Json};

use crate::entity::{activity_log, versions};
use crate::trail::plan::{Hooked, Latest, Plan};
use crate::{Error, Result};

/// Who and where a write comes from, taken once from the context in scope.
pub(crate) struct Attribution {
    pub causer_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    /// The context's properties with the call's merged over them.
    pub properties: Option<Json>,
    /// Microseconds: what every backend stores, so a returned record equals the stored one.
    pub created_at: DateTime<Utc>,
}

impl Attribution {
    /// From the context in scope; `causer_id` and `properties` of the call win.
    pub(crate) fn current(causer_id: Option<&str>, properties: Option<&Json>) -> Self {
        let ctx = AuditContext::current();
        let ctx = ctx.as_deref();
        let mut props = ctx.map(|c| c.properties.clone()).unwrap_or_default();
        match properties {
            Some(Json::Object(own)) => props.extend(own.clone()),
            Some(Json::Null) | None => {}
            Some(other) => {
                props.insert("value".to_owned(), other.clone());
            }
        }
        Self {
            causer_id: causer_id
                .map(str::to_owned)
                .or_else(|| ctx.and_then(|c| c.causer_id.clone())),
            ip: ctx.and_then(|c| c.ip.clone()),
            user_agent: ctx.and_then(|c| c.user_agent.clone()),
            request_id: ctx.and_then(|c| c.request_id.clone()),
            properties: (!props.is_empty()).then_some(Json::Object(props)),
            created_at: Utc::now().trunc_subsecs(6),
        }
    }
}

/// One hooked write of a subject.
pub(crate) struct HookedRow<'a> {
    pub subject_type: &'a str,
    pub subject_id: &'a str,
    pub write: Hooked<'a>,
    pub by: Attribution,
}

/// What a hooked write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The rows were written, or nothing needed writing.
    Written,
    /// The subject has no version to diff against; nothing was written.
    NoBaseline,
}

/// Writes a hooked change on the connection's backend.
pub(crate) async fn write_hooked<C: ConnectionTrait>(
    db: &C,
    row: &HookedRow<'_>,
) -> Result<Outcome> {
    match db.get_database_backend() {
        DbBackend::Postgres => postgres::write_hooked(db, row).await,
        DbBackend::MySql => mysql::write_hooked(db, row).await,
        _ => sqlite::write_hooked(db, row).await,
    }
}

/// The subject's latest version (`lock`: a locking read, which sees the latest commit).
pub(crate) async fn latest<C: ConnectionTrait>(
    db: &C,
    subject_type: &str,
    subject_id: &str,
    lock: bool,
) -> Result<Option<Latest>> {
    const CONTEXT: &str = "reading the latest version";
    let mut query = versions::Entity::find()
        .filter(versions::Column::SubjectType.eq(subject_type))
        .filter(versions::Column::SubjectId.eq(subject_id))
        .order_by_desc(versions::Column::Version)
        .limit(1);
    if lock {
        query = query.lock_exclusive();
    }
    let Some(row) = query.one(db).await.map_err(Error::db(CONTEXT))? else {
        return Ok(None);
    };
    let version = crate::api::version_from_row(row)?;
    Ok(Some(Latest {
        version: version.version,
        event: version.event,
        data: version.data,
    }))
}

fn text(s: Option<&str>) -> SimpleExpr {
    Value::String(s.map(str::to_owned)).into()
}

fn json(v: Option<Json>) -> SimpleExpr {
    Value::Json(v.map(Box::new)).into()
}

fn changes_json(changes: &Changes) -> Json {
    serde_json::to_value(changes).unwrap_or_else(|_| Json::Object(Map::new()))
}

/// `INSERT INTO activity_log` of the drift entry (if any) and the write's own entry, in
/// that order; the own entry links to `version_id`.
pub(crate) fn entries_insert(
    row: &HookedRow<'_>,
    plan: &Plan,
    version_id: SimpleExpr,
) -> Option<InsertStatement> {
    use activity_log::Column as A;
    if plan.drift.is_none() && plan.entry.is_none() {
        return None;
    }
    let mut insert = Query::insert();
    insert.into_table(activity_log::Entity).columns([
        A::Action,
        A::SubjectType,
        A::SubjectId,
        A::CauserId,
        A::Changes,
        A::Properties,
        A::Ip,
        A::UserAgent,
        A::RequestId,
        A::VersionId,
        A::CreatedAt,
    ]);
    let at: SimpleExpr = Value::ChronoDateTimeUtc(Some(row.by.created_at)).into();
    if let Some(drift) = &plan.drift {
        insert.values_panic([
            text(Some(crate::trail::plan::DRIFT)),
            text(Some(row.subject_type)),
            text(Some(row.subject_id)),
            text(None),
            json(Some(changes_json(drift))),
            json(None),
            text(None),
            text(None),
            text(None),
            Value::BigInt(None).into(),
            at.clone(),
        ]);
    }
    if let Some(entry) = &plan.entry {
        let by = &row.by;
        insert.values_panic([
            text(Some(row.write.action)),
            text(Some(row.subject_type)),
            text(Some(row.subject_id)),
            text(by.causer_id.as_deref()),
            json(Some(changes_json(entry))),
            json(by.properties.clone()),
            text(by.ip.as_deref()),
            text(by.user_agent.as_deref()),
            text(by.request_id.as_deref()),
            version_id,
            at,
        ]);
    }
    Some(insert)
}

/// `INSERT INTO versions` of the planned version, numbered by `number`.
pub(crate) fn version_insert(
    row: &HookedRow<'_>,
    event: &str,
    data: &Map<String, Json>,
    number: SimpleExpr,
) -> InsertStatement {
    use versions::Column as V;
    Query::insert()
        .into_table(versions::Entity)
        .columns([
            V::SubjectType,
            V::SubjectId,
            V::Version,
            V::Event,
            V::Data,
            V::CauserId,
            V::CreatedAt,
        ])
        .values_panic([
            text(Some(row.subject_type)),
            text(Some(row.subject_id)),
            number,
            text(Some(event)),
            json(Some(Json::Object(data.clone()))),
            // Drift has no known causer.
            text(if event == crate::trail::plan::DRIFT {
                None
            } else {
                row.by.causer_id.as_deref()
            }),
            Value::ChronoDateTimeUtc(Some(row.by.created_at)).into(),
        ])
        .to_owned()
}
