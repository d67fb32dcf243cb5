//! The statements each backend needs to write a hooked change, and nothing else.
//!
//! - PostgreSQL ([`postgres`]): one statement. A data-modifying CTE reads the subject's
//!   latest version, diffs it against the new snapshot in SQL (`jsonb_each`), numbers the
//!   next version and inserts the drift entry, the version and the entry.
//! - SQLite ([`sqlite`]): one call. Its statements diff in SQL (`json_each`, `->`) as
//!   PostgreSQL's does, comparing serde_json's text of each field.
//! - MySQL/MariaDB ([`mysql`]): the latest version is read and the write planned in Rust
//!   ([`plan`](crate::trail::plan)); the version, then the entries, in one call.
//!
//! A delete is logged only where its row is gone ([`RowKey`]): PostgreSQL checks it in
//! its statement, SQLite in its call. Every backend answers with the same [`Outcome`].

pub(crate) mod mysql;
pub(crate) mod postgres;
pub(crate) mod sqlite;

use audit_core::{AuditContext, Changes};
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::{
    DynIden, Expr, ExprTrait, InsertStatement, IntoIden, Query, QueryBuilder, SimpleExpr, TableRef,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, ConnectionTrait, DbBackend, EntityName,
    EntityTrait, Iterable, PrimaryKeyToColumn, QueryFilter, QueryOrder, QuerySelect, Value,
};
use serde_json::{Map, Value as Json};

use crate::entity::{activity_log, versions};
use crate::trail::plan::{DRIFT, Hooked, Kind, Latest, Plan};
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
            ip: ctx.and_then(|c| c.ip.map(|ip| ip.to_string())),
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
    /// A delete's row, by key: the delete is logged only once this row is gone.
    pub gone: Option<&'a RowKey>,
    /// A create whose key the database generated: no trail holds it yet.
    pub new_key: bool,
    /// The caller holds the row as it was before the write, and writes it as the subject's
    /// baseline when the answer is [`Outcome::NoBaseline`] (then asks again, without it).
    pub may_baseline: bool,
    /// An update's `data` is the row as a locking read found it after the write (asked for
    /// by [`Outcome::Stale`]), not the model SeaORM read back.
    pub fresh: bool,
}

/// The entity row a hooked delete removed, by key.
///
/// A trigger, rule or row-level policy can cancel a delete and still report success, and
/// `after_delete` is not told how many rows went: the delete is logged only where the row
/// is gone. PostgreSQL checks it in its one audit statement and SQLite in its one call.
/// MySQL/MariaDB need no check: their triggers cannot skip a row without
/// failing the statement (which logs nothing), and there are no rules or `INSTEAD OF`
/// triggers on tables, so a delete by key that succeeded left no row with that key.
pub(crate) struct RowKey {
    table: TableRef,
    key: Vec<KeyPart>,
}

/// A key column, its value, and how the column takes a value (`ColumnTrait::save_as`:
/// a cast for a native enum, or the entity's own).
struct KeyPart {
    column: DynIden,
    value: Value,
    save_as: Box<dyn Fn(Expr) -> Expr + Send + Sync>,
}

impl RowKey {
    /// The key an ActiveModel points at (`None` while part of it is not set).
    pub(crate) fn of<A: ActiveModelTrait>(active: &A) -> Option<Self> {
        let mut key = Vec::new();
        for pk in <A::Entity as EntityTrait>::PrimaryKey::iter() {
            let col = pk.into_column();
            match active.get(col) {
                ActiveValue::Set(value) | ActiveValue::Unchanged(value) => key.push(KeyPart {
                    column: col.into_iden(),
                    value,
                    save_as: Box::new(move |e| col.save_as(e)),
                }),
                ActiveValue::NotSet => return None,
            }
        }
        Some(Self {
            table: A::Entity::default().table_ref(),
            key,
        })
    }

    /// `SELECT 1 FROM <table> WHERE <key column> = <placeholder> …` in `builder`'s
    /// quoting, with the key's values in placeholder order: the condition SeaORM's own
    /// delete by key has. `placeholder(i)` names the i-th value (0-based): `?`, or `$n`
    /// numbered after the statement's own.
    pub(crate) fn select(
        &self,
        builder: impl QueryBuilder,
        placeholder: impl Fn(usize) -> String,
    ) -> (String, Vec<Value>) {
        let mut query = Query::select();
        query.expr(Expr::cust("1")).from(self.table.clone());
        for (i, part) in self.key.iter().enumerate() {
            let value = (part.save_as)(Expr::cust(placeholder(i)));
            query.and_where(Expr::col(part.column.clone()).eq(value));
        }
        let values = self.key.iter().map(|p| p.value.clone()).collect();
        (query.to_string(builder), values)
    }
}

/// What a hooked write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The rows were written, or nothing needed writing.
    Written,
    /// The subject has no version to diff against; nothing was written.
    NoBaseline,
    /// A delete left its row (a trigger or rule cancelled it); nothing was written.
    NotDeleted,
    /// A delete of a row whose latest version says it was deleted already; nothing was
    /// written (the delete removed nothing, or a row inserted again outside the trail).
    AlreadyDeleted,
    /// MySQL/MariaDB: an update whose transaction's snapshot is older than the subject's
    /// latest version; nothing was written. SeaORM's read-back after the UPDATE is a
    /// consistent read, which returns the row as the snapshot saw it when the UPDATE
    /// changed no value (InnoDB then writes no row version of its own), so the update is
    /// written again from the row as a locking read finds it ([`HookedRow::fresh`]).
    Stale,
}

/// What a hooked write that the plan gave nothing to write did: a delete of a row the
/// trail says was deleted already is told apart (the hook warns of it).
pub(crate) fn nothing_written(row: &HookedRow<'_>, prev: Option<&Latest>) -> Outcome {
    if row.write.kind == Kind::Deleted && prev.is_some_and(|p| !p.alive()) {
        Outcome::AlreadyDeleted
    } else {
        Outcome::Written
    }
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
        event: version.event.into(),
        data: version.data,
    }))
}

/// Refuses a subject id the backend's indexes cannot hold: MySQL/MariaDB would cut it
/// (a server without strict mode silently, merging subjects); PostgreSQL would fail the
/// write (one B-tree index entry holds about 2,700 bytes, and the subject indexes hold the
/// subject type too). SQLite stores any length. MySQL/MariaDB also refuse a type or id
/// that ends in a space ([`Error::TrailingSpace`]): it would share another's trail, and
/// two such chains would stop `seal` at the duplicate key of their links.
pub(crate) fn check_subject_id(backend: DbBackend, subject: (&str, &str)) -> Result<()> {
    let (subject_type, id) = subject;
    if backend == DbBackend::MySql {
        for (what, value) in [("type", subject_type), ("id", id)] {
            if value.ends_with(' ') {
                return Err(Error::TrailingSpace {
                    what,
                    value: value.to_owned(),
                });
            }
        }
    }
    check_subject_id_length(backend, subject)
}

/// The length half of [`check_subject_id`]: what a key given to an update or delete can be
/// checked for before the write (the trail names the record by the key as its row holds
/// it, which may be spelt otherwise: with trailing spaces a `PAD SPACE` column ignored).
pub(crate) fn check_subject_id_length(
    backend: DbBackend,
    (subject_type, id): (&str, &str),
) -> Result<()> {
    let (length, max, unit, name) = match backend {
        DbBackend::MySql => (
            id.chars().count(),
            crate::schema::MYSQL_MAX_SUBJECT_ID,
            "characters",
            "MySQL/MariaDB",
        ),
        DbBackend::Postgres => (id.len(), POSTGRES_MAX_SUBJECT_ID, "bytes", "PostgreSQL"),
        _ => return Ok(()),
    };
    if length > max {
        return Err(Error::SubjectIdTooLong {
            subject_type: subject_type.to_owned(),
            length,
            max,
            unit,
            backend: name,
        });
    }
    Ok(())
}

/// The longest subject id PostgreSQL takes, in bytes: with a subject type of up to 100
/// characters (400 bytes) and the entry's overhead, under the 2,704 bytes of a B-tree
/// index entry (a value that does not compress).
pub(crate) const POSTGRES_MAX_SUBJECT_ID: usize = 2_000;

fn text(s: Option<&str>) -> SimpleExpr {
    Value::String(s.map(str::to_owned)).into()
}

fn json(v: Option<Json>) -> SimpleExpr {
    Value::Json(v.map(Box::new)).into()
}

pub(crate) fn changes_json(changes: &Changes) -> Json {
    serde_json::to_value(changes).unwrap_or_else(|_| Json::Object(Map::new()))
}

/// An `INSERT INTO activity_log` with its columns and no rows yet.
pub(crate) fn entry_insert() -> InsertStatement {
    use activity_log::Column as A;
    Query::insert()
        .into_table(activity_log::Entity)
        .columns([
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
        ])
        .to_owned()
}

/// A time as the backend's `created_at` takes it: MySQL's `DATETIME(6)` a `DATETIME`
/// value (a `TIMESTAMP` parameter past 2038 would become NULL), the others as it is.
pub(crate) fn time(created_at: DateTime<Utc>, backend: DbBackend) -> SimpleExpr {
    time_value(created_at, backend).into()
}

/// The earliest and latest times sent as bounds (1000-01-01 and 9999-12-31): every
/// backend takes them, and no trail holds a row outside them.
const EARLIEST: i64 = -30_610_224_000;
const LATEST: i64 = 253_402_300_799;

/// `t` within [`EARLIEST`] and [`LATEST`] (PostgreSQL refuses years before 4713 BC, the
/// MySQL driver any before year 0): a bound past them means the same as one at them.
pub(crate) fn clamp_time(t: DateTime<Utc>) -> DateTime<Utc> {
    let secs = t.timestamp().clamp(EARLIEST, LATEST);
    if secs == t.timestamp() {
        t
    } else {
        DateTime::from_timestamp(secs, 0).unwrap_or(t)
    }
}

/// `t` cut to its whole microsecond, the precision of stored times, as PostgreSQL's and
/// MySQL's drivers cut a bound (SQLite would compare the nanoseconds as text): a bound
/// between two microseconds counts as the one below it, on every backend.
pub(crate) fn floor_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::SubsecRound;
    t.trunc_subsecs(6)
}

/// A bound of a listing or count: [`floor_micros`], then [`bound`].
pub(crate) fn bound_micros(t: DateTime<Utc>, backend: DbBackend) -> Value {
    bound(floor_micros(t), backend)
}

/// A time to compare stored times with, clamped ([`clamp_time`]), as [`time_value`].
pub(crate) fn bound(t: DateTime<Utc>, backend: DbBackend) -> Value {
    time_value(clamp_time(t), backend)
}

/// [`time`] as a value.
pub(crate) fn time_value(created_at: DateTime<Utc>, backend: DbBackend) -> Value {
    match backend {
        DbBackend::MySql => Value::ChronoDateTime(Some(created_at.naive_utc())),
        _ => Value::ChronoDateTimeUtc(Some(created_at)),
    }
}

/// One entry row of `subject`, attributed `by` (`None`: nobody known, as for drift).
#[allow(clippy::too_many_arguments)]
pub(crate) fn push_entry(
    insert: &mut InsertStatement,
    subject: (&str, &str),
    action: &str,
    changes: &Changes,
    by: Option<&Attribution>,
    version_id: SimpleExpr,
    created_at: DateTime<Utc>,
    backend: DbBackend,
) {
    let mut values: Vec<SimpleExpr> =
        entry_values(subject, action, changes, by, None, created_at, backend)
            .into_iter()
            .map(SimpleExpr::from)
            .collect();
    values[ENTRY_VERSION_ID] = version_id;
    insert.values_panic(values);
}

/// Where `version_id` is among the columns of [`entry_insert`].
const ENTRY_VERSION_ID: usize = 9;

/// The values of one row of [`entry_insert`], in its column order.
pub(crate) fn entry_values(
    (subject_type, subject_id): (&str, &str),
    action: &str,
    changes: &Changes,
    by: Option<&Attribution>,
    version_id: Option<i64>,
    created_at: DateTime<Utc>,
    backend: DbBackend,
) -> Vec<Value> {
    let text = |s: Option<&str>| Value::String(s.map(str::to_owned));
    vec![
        text(Some(action)),
        text(Some(subject_type)),
        text(Some(subject_id)),
        text(by.and_then(|b| b.causer_id.as_deref())),
        Value::Json(Some(Box::new(changes_json(changes)))),
        Value::Json(by.and_then(|b| b.properties.clone()).map(Box::new)),
        text(by.and_then(|b| b.ip.as_deref())),
        text(by.and_then(|b| b.user_agent.as_deref())),
        text(by.and_then(|b| b.request_id.as_deref())),
        Value::BigInt(version_id),
        time_value(created_at, backend),
    ]
}

/// `INSERT INTO activity_log` of a hooked write's drift entry (if any) and its own entry
/// (if any), in that order; the own entry links to `version_id`.
pub(crate) fn entries_insert(
    row: &HookedRow<'_>,
    plan: &Plan,
    version_id: SimpleExpr,
    backend: DbBackend,
) -> Option<InsertStatement> {
    if plan.drift.is_none() && plan.entry.is_none() {
        return None;
    }
    let subject = (row.subject_type, row.subject_id);
    let at = row.by.created_at;
    let mut insert = entry_insert();
    if let Some(drift) = &plan.drift {
        let null = Value::BigInt(None).into();
        push_entry(&mut insert, subject, DRIFT, drift, None, null, at, backend);
    }
    if let Some(entry) = &plan.entry {
        let by = Some(&row.by);
        push_entry(
            &mut insert,
            subject,
            row.write.action,
            entry,
            by,
            version_id,
            at,
            backend,
        );
    }
    Some(insert)
}

/// `INSERT INTO versions` of one version numbered by `number`.
pub(crate) fn version_insert(
    (subject_type, subject_id): (&str, &str),
    event: &str,
    data: &Map<String, Json>,
    causer_id: Option<&str>,
    created_at: DateTime<Utc>,
    number: SimpleExpr,
    backend: DbBackend,
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
            text(Some(subject_type)),
            text(Some(subject_id)),
            number,
            text(Some(event)),
            json(Some(Json::Object(data.clone()))),
            text(causer_id),
            time(created_at, backend),
        ])
        .to_owned()
}

/// [`version_insert`] of a hooked write's planned version (drift has no causer).
pub(crate) fn planned_version_insert(
    row: &HookedRow<'_>,
    event: &str,
    data: &Map<String, Json>,
    number: SimpleExpr,
    backend: DbBackend,
) -> InsertStatement {
    let causer = if event == DRIFT {
        None
    } else {
        row.by.causer_id.as_deref()
    };
    version_insert(
        (row.subject_type, row.subject_id),
        event,
        data,
        causer,
        row.by.created_at,
        number,
        backend,
    )
}

/// The next version number of a subject, computed by the database in the statement that
/// uses it.
pub(crate) fn next_number(subject_type: &str, subject_id: &str) -> SimpleExpr {
    let select = Query::select()
        .expr(Expr::cust(r#"COALESCE(MAX("version"), 0) + 1"#))
        .from(versions::Entity)
        .and_where(Expr::col(versions::Column::SubjectType).eq(subject_type))
        .and_where(Expr::col(versions::Column::SubjectId).eq(subject_id))
        .to_owned();
    SimpleExpr::SubQuery(None, Box::new(select.into()))
}

/// `conds` joined by `OR`, nested as a balanced tree. sea-query folds a
/// [`Condition::any`](sea_orm::Condition::any) of N parts into a chain N deep, which its
/// SQL writer walks recursively (a stack overflow at a few thousand parts) and SQLite's
/// parser refuses beyond a depth of 1,000; balanced, the depth is log₂ N.
pub(crate) fn any_of(mut conds: Vec<sea_orm::Condition>) -> sea_orm::Condition {
    use sea_orm::Condition;
    const FLAT: usize = 8;
    if conds.len() <= FLAT {
        return conds.into_iter().fold(Condition::any(), Condition::add);
    }
    let right = conds.split_off(conds.len() / 2);
    Condition::any().add(any_of(conds)).add(any_of(right))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mysql_gets_created_at_as_a_datetime() {
        use chrono::TimeZone;
        let late = Utc.with_ymd_and_hms(2999, 6, 1, 12, 0, 0).unwrap();
        let mysql = time(late, DbBackend::MySql);
        assert_eq!(mysql, Value::ChronoDateTime(Some(late.naive_utc())).into());
        let pg = time(late, DbBackend::Postgres);
        assert_eq!(pg, Value::ChronoDateTimeUtc(Some(late)).into());
    }

    /// Thousands of parts build (no deep recursion) into SQL that names each of them once.
    #[test]
    fn any_of_many_parts_stays_shallow() {
        use sea_orm::sea_query::SqliteQueryBuilder;
        let n: i32 = 50_000;
        let parts = (0..n)
            .map(|i| sea_orm::Condition::all().add(Expr::col("a").eq(i)))
            .collect();
        let sql = Query::select()
            .column("a")
            .from("t")
            .cond_where(super::any_of(parts))
            .to_string(SqliteQueryBuilder);
        assert_eq!(sql.matches(r#""a" = "#).count(), n as usize);
        assert!(sql.contains(r#""a" = 49999"#));
        // Parentheses nest about log2(n) deep, not n.
        let (mut depth, mut deepest) = (0i32, 0);
        for c in sql.chars() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => {}
            }
            deepest = std::cmp::Ord::max(deepest, depth);
        }
        assert!(deepest < 40, "nested {deepest} deep");
    }
}
