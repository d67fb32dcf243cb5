//! The explicit API: log custom actions and diffs, take snapshots, read the trail.

use audit_core::{
    Action, ActivityEntry, AuditContext, Audited, Changes, Filter, Order, Page, SubjectId, Version,
};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use serde_json::{Map, Value};

use crate::entity::{activity_log, versions};
use crate::write::{ActivityRow, Record, VersionRow, write, write_entry, write_version};
use crate::{Error, Result};

/// An activity entry to log by hand: a custom action, or a write that bypassed the hooks.
///
/// The IP, User-Agent and request id come from the [`AuditContext`](crate::AuditContext) in
/// scope, and so does the causer unless [`causer`](Self::causer) sets it.
///
/// ```
/// use audit_seaorm::NewActivity;
/// use serde_json::json;
/// let entry = NewActivity::new("published")
///     .subject("posts", 7)
///     .properties(json!({"channel": "newsletter"}));
/// ```
#[derive(Clone, Debug)]
pub struct NewActivity {
    action: Action,
    subject_type: String,
    subject_id: SubjectId,
    causer_id: Option<String>,
    changes: Changes,
    properties: Option<Value>,
}

impl NewActivity {
    /// An entry with `action`: an [`Action`], or the word users read (`"published"`,
    /// `"exported"`, …), which is [`Action::Custom`] unless it is one of the built-in words.
    pub fn new(action: impl Into<Action>) -> Self {
        Self {
            action: action.into(),
            subject_type: String::new(),
            subject_id: SubjectId::new(""),
            causer_id: None,
            changes: Changes::new(),
            properties: None,
        }
    }

    /// The subject by type and id (a key value, text, or a [`SubjectId`]).
    pub fn subject(mut self, subject_type: impl Into<String>, subject_id: impl ToString) -> Self {
        self.subject_type = subject_type.into();
        self.subject_id = SubjectId::new(subject_id.to_string());
        self
    }

    /// The subject from an audited model. Fails when its key does not serialize.
    pub fn for_model<M: Audited>(mut self, model: &M) -> Result<Self> {
        self.subject_type = M::SUBJECT_TYPE.to_owned();
        self.subject_id = model.subject_id()?;
        Ok(self)
    }

    /// The causer, overriding the context's.
    pub fn causer(mut self, causer_id: impl Into<String>) -> Self {
        self.causer_id = Some(causer_id.into());
        self
    }

    /// The changes to record.
    pub fn changes(mut self, changes: Changes) -> Self {
        self.changes = changes;
        self
    }

    /// Properties, merged over the context's (an object; anything else is stored under
    /// `"value"`).
    pub fn properties(mut self, properties: Value) -> Self {
        self.properties = Some(properties);
        self
    }
}

/// Writes one activity entry (no version).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = sea_orm::Database::connect("sqlite::memory:").await?;
/// # audit_seaorm::install(&db).await?;
/// use audit_seaorm::{log, AuditContext, NewActivity};
/// let entry = AuditContext::new()
///     .causer("42")
///     .scope(log(&db, NewActivity::new("exported").subject("report", "q3")))
///     .await?;
/// assert_eq!(entry.action.as_str(), "exported");
/// assert_eq!(entry.causer_id.as_deref(), Some("42"));
/// # Ok(())
/// # }
/// ```
pub async fn log<C: ConnectionTrait>(db: &C, entry: NewActivity) -> Result<ActivityEntry> {
    let written = write_entry(
        db,
        (&entry.subject_type, entry.subject_id.as_str()),
        entry.causer_id.as_deref(),
        ActivityRow {
            action: entry.action.as_str(),
            changes: &entry.changes,
            properties: entry.properties.clone(),
        },
    )
    .await?;
    let ctx = crate::AuditContext::current();
    Ok(ActivityEntry {
        id: written.id,
        action: entry.action,
        subject_type: entry.subject_type,
        subject_id: entry.subject_id,
        causer_id: written.causer_id,
        changes: entry.changes,
        properties: written.properties,
        ip: ctx.as_ref().and_then(|c| c.ip.map(|ip| ip.to_string())),
        user_agent: ctx.as_ref().and_then(|c| c.user_agent.clone()),
        request_id: ctx.as_ref().and_then(|c| c.request_id.clone()),
        version_id: None,
        created_at: written.created_at,
    })
}

/// Logs the fields that differ between two JSON states (`None` and nothing written when
/// none differ). Use it for writes that bypass the hooks (`update_many`, raw SQL, …).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = sea_orm::Database::connect("sqlite::memory:").await?;
/// # audit_seaorm::install(&db).await?;
/// use audit_seaorm::{log_change, NewActivity};
/// use serde_json::json;
/// let entry = log_change(
///     &db,
///     NewActivity::new("updated").subject("posts", 7),
///     &json!({"title": "Hi", "views": 3}),
///     &json!({"title": "Hello", "views": 3}),
/// )
/// .await?
/// .unwrap();
/// assert_eq!(entry.changes.fields().collect::<Vec<_>>(), ["title"]);
/// # Ok(())
/// # }
/// ```
pub async fn log_change<C: ConnectionTrait>(
    db: &C,
    entry: NewActivity,
    old: &Value,
    new: &Value,
) -> Result<Option<ActivityEntry>> {
    let changes = Changes::between(old, new);
    if changes.is_empty() {
        return Ok(None);
    }
    log(db, entry.changes(changes)).await.map(Some)
}

/// Records a write of an audited model that bypassed the hooks (`update_many`,
/// `Entity::insert(..).exec`, raw SQL, …) in the hooks' shape: `created` when only `new`
/// is given, `deleted` when only `old` is, `updated` with the changed audited fields
/// otherwise — each with a new version. Returns `false`, writing nothing, when no audited
/// field changed (or neither state is given). A field changes when its values differ, or
/// when they are equal by `==` but stored differently (a `Decimal` with another scale, a
/// `DateTime<FixedOffset>` with another offset).
///
/// Unlike a hooked write, which diffs against the record's latest version, it diffs the
/// two states you give: a change made outside the trail before `old` was read is not
/// looked for (read `old` before the bypassing write, in its transaction), and the new
/// version takes it in as it is. The version and the entry are two statements: in
/// [strict mode](crate::AuditContext::strict) a call outside a transaction is refused
/// ([`Error::NotInTransaction`](crate::Error::NotInTransaction)) before anything is
/// written. Two states with different keys are [`Error::KeyChanged`](crate::Error::KeyChanged)
/// (record the old key's delete and the new key's create instead).
///
/// ```standalone_crate
/// # mod post {
/// #     use audit_seaorm::Audited;
/// #     use sea_orm::entity::prelude::*;
/// #     #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
/// #     #[sea_orm(table_name = "posts")]
/// #     pub struct Model {
/// #         #[sea_orm(primary_key)]
/// #         pub id: i32,
/// #         pub published: bool,
/// #     }
/// #     #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
/// #     pub enum Relation {}
/// # }
/// use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect, TransactionTrait};
/// use sea_orm::sea_query::Expr;
///
/// async fn publish_all(db: &sea_orm::DatabaseConnection) -> Result<(), Box<dyn std::error::Error>> {
///     // In a transaction, so that the rows and their trail commit together.
///     let txn = db.begin().await?;
///     let drafts = post::Entity::find()
///         .filter(post::Column::Published.eq(false))
///         .lock_exclusive()
///         .all(&txn)
///         .await?;
///     // update_many runs no hooks ...
///     post::Entity::update_many()
///         .col_expr(post::Column::Published, Expr::value(true))
///         .filter(post::Column::Published.eq(false))
///         .exec(&txn)
///         .await?;
///     // ... so record each change yourself.
///     for old in drafts {
///         let new = post::Entity::find_by_id(old.id).one(&txn).await?.ok_or("gone")?;
///         audit_seaorm::record_change(&txn, Some(&old), Some(&new)).await?;
///     }
///     txn.commit().await?;
///     Ok(())
/// }
/// ```
pub async fn record_change<M: Audited, C: ConnectionTrait>(
    db: &C,
    old: Option<&M>,
    new: Option<&M>,
) -> Result<bool> {
    let (action, state) = match (old, new) {
        (None, Some(n)) => (Action::Created, n),
        (Some(o), None) => (Action::Deleted, o),
        (Some(_), Some(n)) => (Action::Updated, n),
        (None, None) => return Ok(false),
    };
    crate::registry::check(M::SUBJECT_TYPE)?;
    if AuditContext::strict_mode() && crate::hooks::is_plain_connection::<C>() {
        return Err(Error::NotInTransaction {
            subject_type: M::SUBJECT_TYPE,
        });
    }
    if let (Some(o), Some(n)) = (old, new) {
        let (from, to) = (o.subject_id()?, n.subject_id()?);
        if from != to {
            return Err(Error::KeyChanged {
                subject_type: M::SUBJECT_TYPE,
                from: from.into_string(),
                to: to.into_string(),
            });
        }
    }
    let mut changes = M::changes(old, new)?;
    let data = state.snapshot()?;
    if let (Some(o), Some(_)) = (old, new) {
        // `==` can be coarser than what the trail stores (a `Decimal`'s scale, the offset
        // of a `DateTime<FixedOffset>`): values stored differently are a change too.
        let before = o.snapshot()?;
        for (field, value) in &data {
            let was = before.get(field).unwrap_or(&serde_json::Value::Null);
            if was != value && changes.get(field).is_none() {
                changes.insert(field.clone(), was.clone(), value.clone());
            }
        }
    }
    if changes.is_empty() {
        return Ok(false);
    }
    write(
        db,
        Record {
            subject_type: M::SUBJECT_TYPE,
            subject_id: state.subject_id()?.as_str(),
            causer_id: None,
            activity: Some(ActivityRow {
                action: action.as_str(),
                changes: &changes,
                properties: None,
            }),
            version: Some(VersionRow {
                event: action.as_str(),
                data: &data,
            }),
        },
    )
    .await?;
    Ok(true)
}

/// Stores a point-in-time snapshot of a subject as its next version (event `"snapshot"`),
/// without an activity entry.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = sea_orm::Database::connect("sqlite::memory:").await?;
/// # audit_seaorm::install(&db).await?;
/// use serde_json::json;
/// let v1 = audit_seaorm::snapshot(&db, "settings", "site", &json!({"theme": "dark"})).await?;
/// let v2 = audit_seaorm::snapshot(&db, "settings", "site", &json!({"theme": "light"})).await?;
/// assert_eq!((v1.version, v2.version), (1, 2));
/// # Ok(())
/// # }
/// ```
pub async fn snapshot<C: ConnectionTrait>(
    db: &C,
    subject_type: &str,
    subject_id: impl ToString,
    data: &Value,
) -> Result<Version> {
    let subject_id = SubjectId::new(subject_id.to_string());
    let data = match data {
        Value::Object(map) => map.clone(),
        other => Map::from_iter([("value".to_owned(), other.clone())]),
    };
    let written = write_version(
        db,
        (subject_type, subject_id.as_str()),
        VersionRow {
            event: Action::Snapshot.as_str(),
            data: &data,
        },
    )
    .await?;
    Ok(Version {
        id: written.id,
        subject_type: subject_type.to_owned(),
        subject_id,
        version: written.number,
        event: Action::Snapshot,
        data,
        causer_id: written.causer_id,
        created_at: written.created_at,
    })
}

/// One version by id: its snapshot data, to re-apply by hand (nothing is written). For
/// audited entities, [`AuditedEntity::restore`](crate::AuditedEntity::restore) writes it
/// back and logs "restored".
pub async fn version<C: ConnectionTrait>(db: &C, version_id: i64) -> Result<Option<Version>> {
    versions::Entity::find_by_id(version_id)
        .one(db)
        .await
        .map_err(Error::db("reading a version"))?
        .map(version_from_row)
        .transpose()
}

/// Every version of a subject, oldest first.
pub async fn versions<C: ConnectionTrait>(
    db: &C,
    subject_type: &str,
    subject_id: impl ToString,
) -> Result<Vec<Version>> {
    versions::Entity::find()
        .filter(versions::Column::SubjectType.eq(subject_type))
        .filter(versions::Column::SubjectId.eq(subject_id.to_string()))
        .order_by_asc(versions::Column::Version)
        .all(db)
        .await
        .map_err(Error::db("reading a subject's versions"))?
        .into_iter()
        .map(version_from_row)
        .collect()
}

/// A subject's whole history, oldest first.
pub async fn history<C: ConnectionTrait>(
    db: &C,
    subject_type: &str,
    subject_id: impl ToString,
) -> Result<Vec<ActivityEntry>> {
    activity_log::Entity::find()
        .filter(activity_log::Column::SubjectType.eq(subject_type))
        .filter(activity_log::Column::SubjectId.eq(subject_id.to_string()))
        .order_by_asc(activity_log::Column::Id)
        .all(db)
        .await
        .map_err(Error::db("reading a subject's history"))?
        .into_iter()
        .map(entry_from_row)
        .collect()
}

/// The activity log, filtered and paginated (newest first unless `filter.order` says
/// otherwise).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = sea_orm::Database::connect("sqlite::memory:").await?;
/// # audit_seaorm::install(&db).await?;
/// use audit_seaorm::{activity, log, Filter, NewActivity};
/// for i in 0..3 {
///     log(&db, NewActivity::new("viewed").subject("posts", i).causer("7")).await?;
/// }
/// let first = activity(&db, &Filter::new().causer("7").limit(2)).await?;
/// assert_eq!(first.items.len(), 2);
/// let rest = activity(&db, &Filter::new().causer("7").limit(2).after_id(first.next_cursor.unwrap())).await?;
/// assert_eq!(rest.items.len(), 1);
/// assert_eq!(rest.next_cursor, None);
/// # Ok(())
/// # }
/// ```
pub async fn activity<C: ConnectionTrait>(db: &C, filter: &Filter) -> Result<Page<ActivityEntry>> {
    activity_excluding(db, filter, &[]).await
}

/// [`activity`] without the entries of the `excluded` subject types.
pub(crate) async fn activity_excluding<C: ConnectionTrait>(
    db: &C,
    filter: &Filter,
    excluded: &[&str],
) -> Result<Page<ActivityEntry>> {
    if let (Some(offset), Some(after)) = (filter.offset, filter.after_id) {
        // (A client that follows `next_cursor` keeping its `offset` would skip that many
        // entries on every page.)
        return Err(Error::InvalidArgument(format!(
            "offset ({offset}) and after_id ({after}) both place the page: give one"
        )));
    }
    let limit = filter.effective_limit();
    let backend = db.get_database_backend();
    let rows = activity_query(filter, backend, excluded)
        .limit(limit + 1)
        .all(db)
        .await
        .map_err(Error::db("reading the activity log"))?;
    if let (true, Some(cursor), true) = (rows.is_empty(), filter.after_id, filter.time_ordered()) {
        // Nothing after the cursor, or no cursor entry of this listing to start from:
        // tell them apart.
        let exists = activity_query(&without_cursor(filter), backend, excluded)
            .filter(activity_log::Column::Id.eq(cursor))
            .count(db)
            .await
            .map_err(Error::db("reading the cursor's entry"))?;
        if exists == 0 {
            return Err(Error::CursorNotFound(cursor));
        }
    }
    into_page(rows, limit, |r| r.id, entry_from_row)
}

/// A page of a subject's versions, version 1 first: `limit` (capped like every page) after
/// the row id `after_id` (the previous page's `next_cursor`).
pub async fn versions_page<C: ConnectionTrait>(
    db: &C,
    subject_type: &str,
    subject_id: impl ToString,
    limit: Option<u64>,
    after_id: Option<i64>,
) -> Result<Page<Version>> {
    let limit = audit_core::page_limit(limit);
    let mut select = versions::Entity::find()
        .filter(versions::Column::SubjectType.eq(subject_type))
        .filter(versions::Column::SubjectId.eq(subject_id.to_string()));
    if let Some(after) = after_id {
        select = select.filter(versions::Column::Id.gt(after));
    }
    let rows = select
        .order_by_asc(versions::Column::Id)
        .limit(limit + 1)
        .all(db)
        .await
        .map_err(Error::db("reading a subject's versions"))?;
    into_page(rows, limit, |r| r.id, version_from_row)
}

/// Rows read with `limit + 1` as a page: the extra row only tells that there is more.
fn into_page<R, T>(
    mut rows: Vec<R>,
    limit: u64,
    id: impl Fn(&R) -> i64,
    convert: impl Fn(R) -> Result<T>,
) -> Result<Page<T>> {
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = if more { rows.last().map(&id) } else { None };
    let items = rows.into_iter().map(convert).collect::<Result<Vec<_>>>()?;
    Ok(Page { items, next_cursor })
}

/// A row of `activity_log` as an [`ActivityEntry`].
pub(crate) fn entry_from_row(row: activity_log::Model) -> Result<ActivityEntry> {
    let changes = parse_json(row.changes, "activity entry", row.id)?;
    let properties = row
        .properties
        .map(|p| parse_json(p, "activity entry", row.id))
        .transpose()?;
    Ok(ActivityEntry {
        id: row.id,
        action: Action::from(row.action),
        subject_type: row.subject_type,
        subject_id: SubjectId::new(row.subject_id),
        causer_id: row.causer_id,
        changes,
        properties,
        ip: row.ip,
        user_agent: row.user_agent,
        request_id: row.request_id,
        version_id: row.version_id,
        created_at: row.created_at,
    })
}

/// A row of `versions` as a [`Version`].
pub(crate) fn version_from_row(row: versions::Model) -> Result<Version> {
    let data = parse_json(row.data, "version", row.id)?;
    Ok(Version {
        id: row.id,
        subject_type: row.subject_type,
        subject_id: SubjectId::new(row.subject_id),
        version: row.version,
        event: Action::from(row.event),
        data,
        causer_id: row.causer_id,
        created_at: row.created_at,
    })
}

/// A JSON column's value: parsed when the backend hands it back as its text (MariaDB's
/// JSON and SQLite's are text), as it is otherwise (and when the text is not JSON).
pub(crate) fn column_json(value: &Value) -> std::borrow::Cow<'_, Value> {
    use std::borrow::Cow;
    match value {
        Value::String(text) => serde_json::from_str(text).map_or(Cow::Borrowed(value), Cow::Owned),
        other => Cow::Borrowed(other),
    }
}

/// `text` parsed as JSON, refusing an object that holds a key twice (serde_json would keep
/// the last of the two; SQLite's and MariaDB's JSON functions see the first).
pub(crate) fn strict_json(text: &str) -> serde_json::Result<Value> {
    use serde::Deserialize;
    Strict::deserialize(&mut serde_json::Deserializer::from_str(text)).map(|s| s.0)
}

/// A JSON value deserialized with no key twice in any object ([`strict_json`]).
struct Strict(Value);

impl<'de> serde::Deserialize<'de> for Strict {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> std::result::Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> std::result::Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> std::result::Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> std::result::Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> std::result::Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> std::result::Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> std::result::Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let Strict(v) = map.next_value()?;
            if out.contains_key(&key) {
                return Err(serde::de::Error::custom(format_args!(
                    "the key `{key}` twice in one object"
                )));
            }
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

/// JSON columns come back as strings on some backends (MariaDB's JSON is text).
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(
    value: Value,
    what: &'static str,
    id: i64,
) -> Result<T> {
    let value = match value {
        Value::String(s) => serde_json::from_str(&s),
        other => serde_json::from_value(other),
    };
    value.map_err(|e| Error::Corrupt {
        what,
        id,
        reason: e.to_string(),
    })
}

/// `column = value` for a column of any length whose PostgreSQL index holds a prefix of
/// it (see `schema::LONG_TEXT`): the prefix condition lets that index find the rows.
pub(crate) fn long_text_eq(
    column: activity_log::Column,
    value: &str,
    backend: DbBackend,
) -> Condition {
    use sea_orm::sea_query::{Expr, ExprTrait, Func};
    let cond = Condition::all().add(column.eq(value));
    if backend != DbBackend::Postgres {
        return cond;
    }
    // The length as a literal, as in the index's expression (a parameter would not match).
    let length = Expr::cust(crate::schema::INDEX_PREFIX.to_string());
    let prefix = |e: Expr| Expr::from(Func::cust("left").arg(e).arg(length.clone()));
    cond.add(prefix(Expr::col(column)).eq(prefix(Expr::val(value))))
}

/// The entries after the cursor entry `id` in `(created_at, id)` order: `created_at` on the
/// cursor's side of its time (a bound the time indexes range over), and at its very time,
/// `id` past it. A cursor whose entry is gone selects nothing. The entry's time is read under
/// the listing's own criteria (`of`, without its cursor): an entry that the listing does
/// not hold (another subject type, one the caller may not read) gives no time, so no page,
/// and [`activity_excluding`] answers [`Error::CursorNotFound`] instead of a page that
/// would start at a hidden entry's time.
fn after_in_time(
    of: &Filter,
    backend: DbBackend,
    excluded: &[&str],
    order: Order,
    id: i64,
) -> Condition {
    use activity_log::Column as A;
    use sea_orm::QueryTrait;
    use sea_orm::sea_query::{Expr, ExprTrait, SimpleExpr};
    let cursor = activity_query(&without_cursor(of), backend, excluded)
        .select_only()
        .column(A::CreatedAt)
        .filter(A::Id.eq(id))
        .into_query();
    let at = || SimpleExpr::SubQuery(None, Box::new(cursor.clone().into()));
    let col = || Expr::col((activity_log::Entity, A::CreatedAt));
    let id_col = || Expr::col((activity_log::Entity, A::Id));
    match order {
        Order::NewestFirst => Condition::all()
            .add(col().lte(at()))
            .add(Condition::any().add(col().lt(at())).add(id_col().lt(id))),
        Order::OldestFirst => Condition::all()
            .add(col().gte(at()))
            .add(Condition::any().add(col().gt(at())).add(id_col().gt(id))),
    }
}

/// The SeaORM query behind [`activity`]: every criterion of `filter`, its order, cursor and
/// offset, without the page's limit (with an offset, a `LIMIT` that limits nothing, which
/// SQLite and MySQL/MariaDB need before an `OFFSET`). Use it to add your own conditions,
/// count, or stream.
/// `backend` is the database it will run on (`db.get_database_backend()`): MySQL takes the
/// time bounds as `DATETIME` values, since a `TIMESTAMP` parameter cannot hold a time before
/// 1970 or after 2038.
pub fn activity_select(
    filter: &Filter,
    backend: DbBackend,
) -> sea_orm::Select<activity_log::Entity> {
    activity_query(filter, backend, &[])
}

/// `filter` without its page position (cursor, offset): the listing it pages through.
fn without_cursor(filter: &Filter) -> Filter {
    let mut listing = filter.clone();
    listing.after_id = None;
    listing.offset = None;
    listing
}

/// [`activity_select`] without the entries of the `excluded` subject types.
fn activity_query(
    filter: &Filter,
    backend: DbBackend,
    excluded: &[&str],
) -> sea_orm::Select<activity_log::Entity> {
    use activity_log::Column as A;
    let mut query = activity_log::Entity::find();
    if !excluded.is_empty() {
        query = query.filter(A::SubjectType.is_not_in(excluded.iter().copied()));
    }
    if let Some(v) = &filter.subject_type {
        query = query.filter(A::SubjectType.eq(v.as_str()));
    }
    if let Some(v) = &filter.subject_id {
        query = query.filter(A::SubjectId.eq(v.as_str()));
    }
    if let Some(v) = &filter.causer_id {
        query = query.filter(long_text_eq(A::CauserId, v, backend));
    }
    if let Some(v) = &filter.action {
        query = query.filter(A::Action.eq(v.as_str()));
    }
    if let Some(v) = &filter.request_id {
        query = query.filter(long_text_eq(A::RequestId, v, backend));
    }
    // (Cut to a whole microsecond: the same on every backend.)
    let time = |t: chrono::DateTime<chrono::Utc>| crate::dialect::bound_micros(t, backend);
    if let Some(v) = filter.since {
        query = query.filter(A::CreatedAt.gte(time(v)));
    }
    if let Some(v) = filter.until {
        query = query.filter(A::CreatedAt.lt(time(v)));
    }
    let by_time = filter.time_ordered();
    query = match (filter.order, filter.after_id) {
        (order, Some(id)) if by_time => {
            query.filter(after_in_time(filter, backend, excluded, order, id))
        }
        (Order::NewestFirst, Some(id)) => query.filter(A::Id.lt(id)),
        (Order::OldestFirst, Some(id)) => query.filter(A::Id.gt(id)),
        (_, None) => query,
    };
    let order = match filter.order {
        Order::NewestFirst => sea_orm::Order::Desc,
        Order::OldestFirst => sea_orm::Order::Asc,
    };
    if by_time {
        query = query.order_by(A::CreatedAt, order.clone());
    }
    query = query.order_by(A::Id, order);
    if let Some(offset) = filter.offset {
        // Drivers bind it as a signed 64-bit integer. SQLite and MySQL/MariaDB take an
        // `OFFSET` only after a `LIMIT`: one that limits nothing, which a caller's own
        // `limit` replaces.
        query = query
            .offset(offset.min(i64::MAX as u64))
            .limit(i64::MAX as u64);
    }
    query
}

#[cfg(test)]
mod tests {
    use super::strict_json;

    #[test]
    fn strict_json_reads_what_serde_json_reads() {
        for text in [
            r#"{"a":1,"b":[1,2,{"c":null}],"d":"x\"y","e":true}"#,
            r#"{"big":18446744073709551615,"neg":-9223372036854775808,"f":1e300,"z":-0.0,"q":0.1}"#,
            r#"[]"#,
            r#""text""#,
            r#"{"emoji":"\ud83d\ude00","nested":{"a":{"b":{}}}}"#,
        ] {
            let strict = strict_json(text).unwrap();
            let plain: serde_json::Value = serde_json::from_str(text).unwrap();
            assert_eq!(strict, plain, "{text}");
            assert_eq!(strict.to_string(), plain.to_string(), "{text}");
        }
    }

    #[test]
    fn strict_json_refuses_a_key_twice() {
        for text in [
            r#"{"a":1,"a":2}"#,
            r#"{"x":{"a":1,"b":2,"a":1}}"#,
            r#"[{"k":1},{"k":1,"k":1}]"#,
        ] {
            let err = strict_json(text).unwrap_err().to_string();
            assert!(err.contains("twice"), "{text}: {err}");
        }
        assert!(strict_json(r#"{"a":{"a":1}}"#).is_ok(), "one per object");
    }
}
