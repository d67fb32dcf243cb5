//! The `ActiveModelBehavior` hooks that audit a model's writes.
//!
//! `#[derive(Audited)]` implements `ActiveModelBehavior` with these four functions. An
//! entity that keeps its own impl marks it [`#[audit_seaorm::behavior]`](crate::behavior),
//! and the derived impl runs its hooks around these. With `#[audit(manual_hooks)]` you write
//! the impl yourself and call them from yours:
//!
//! ```standalone_crate
//! mod note {
//!     use audit_seaorm::Audited;
//!     use sea_orm::entity::prelude::*;
//!
//!     #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
//!     #[sea_orm(table_name = "notes")]
//!     #[audit(manual_hooks)]
//!     pub struct Model {
//!         #[sea_orm(primary_key)]
//!         pub id: i32,
//!         pub body: String,
//!         pub updated_at: Option<DateTimeUtc>,
//!     }
//!
//!     #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
//!     pub enum Relation {}
//!
//!     #[async_trait::async_trait]
//!     impl ActiveModelBehavior for ActiveModel {
//!         async fn before_save<C: ConnectionTrait>(mut self, db: &C, insert: bool) -> Result<Self, DbErr> {
//!             self.updated_at = sea_orm::Set(Some(chrono::Utc::now())); // your own logic first
//!             audit_seaorm::hooks::before_save(self, db, insert).await
//!         }
//!         async fn after_save<C: ConnectionTrait>(model: Model, db: &C, insert: bool) -> Result<Model, DbErr> {
//!             audit_seaorm::hooks::after_save(model, db, insert).await
//!         }
//!         async fn before_delete<C: ConnectionTrait>(self, db: &C) -> Result<Self, DbErr> {
//!             audit_seaorm::hooks::before_delete(self, db).await
//!         }
//!         async fn after_delete<C: ConnectionTrait>(self, db: &C) -> Result<Self, DbErr> {
//!             audit_seaorm::hooks::after_delete(self, db).await
//!         }
//!     }
//! }
//! # fn main() {}
//! ```
//!
//! Your own logic in `before_save`/`before_delete` runs before a refusal of the audit hook
//! (strict mode outside a transaction, no tokio runtime): if it writes to the database,
//! call [`refuse_early`]`::<Self, C>()?` first, as the derived impl does, so that a write
//! refused is refused before anything of it is written.
//!
//! How a write is logged: `after_save` / `after_delete` diff the row against the
//! subject's latest version (the trail is the old state) and write
//! the entry and the version in one statement on PostgreSQL, in one call on SQLite, in a
//! read and one call on MySQL/MariaDB. `before_save` reads nothing:
//! it notes which fields the write `Set`, so that a field changed outside the trail
//! (raw SQL, `update_many`, another program) is logged as `drift` with no causer rather
//! than blamed on this writer. That note is never needed for the write to be logged.
//!
//! For an entity whose rows may predate auditing (no baseline yet: see
//! [`backfill`](crate::backfill)), `before_save` (on update) and `before_delete` also read
//! the row (one `SELECT`, `FOR UPDATE` in a transaction), so that its first audited write
//! records a truthful baseline version instead of unknown old values.

use std::any::Any;

use audit_core::{Action, AuditContext, Audited, Changes, FieldMode, REDACTED, SubjectId};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, Iterable,
    ModelTrait, PrimaryKeyToColumn, QueryFilter, QuerySelect, TryIntoModel,
};
use serde_json::Value as Json;

use crate::dialect::RowKey;
use crate::trail::pending::{self, Key, Op, Pending};
use crate::trail::plan::{Hooked, Kind};
use crate::trail::restoring::Restoring;
use crate::trail::{self, Recorded, baseline};
use crate::{AuditedModel, Error};

/// Whether a create needs to know if its key was given or generated: only MySQL/MariaDB
/// number a create's version without reading the trail (see `dialect::mysql`).
fn numbers_creates<C: ConnectionTrait>(db: &C) -> bool {
    db.get_database_backend() == sea_orm::DbBackend::MySql
}

/// Whether `C` is known to run each statement on its own (a pool, not a transaction).
/// `ConnectionTrait` does not say, so this reads the type: `DatabaseConnection` and
/// `RestrictedConnection` are not transactions; every other type (`DatabaseTransaction`,
/// `DatabaseExecutor`, wrappers of your own) is treated as one may be — it gets the row
/// lock, and strict mode lets it through.
pub(crate) fn is_plain_connection<C: ?Sized>() -> bool {
    let name = std::any::type_name::<C>();
    let name = name.trim_start_matches('&');
    name.ends_with("::DatabaseConnection") || name.ends_with("::RestrictedConnection")
}

/// Refuses a write outside a tokio runtime (see [`Error::NoTokioRuntime`]).
fn on_tokio<M: Audited>() -> Result<(), DbErr> {
    match tokio::runtime::Handle::try_current() {
        Ok(_) => Ok(()),
        Err(_) => Err(Error::NoTokioRuntime {
            subject_type: M::SUBJECT_TYPE,
        }
        .into()),
    }
}

/// What both `before_*` hooks do first: `None` when auditing is off in scope, else whether
/// the entity has a baseline; an error when strict mode refuses the write (see
/// [`hooks_active`]).
async fn before_write<A, C>(db: &C, insert: bool) -> Result<Option<bool>, DbErr>
where
    A: ActiveModelTrait,
    ModelOf<A>: AuditedModel,
    C: ConnectionTrait,
{
    if !hooks_active::<ModelOf<A>, C>()? {
        return Ok(None);
    }
    check_key_order::<A::Entity>()?;
    let subject_type = <ModelOf<A> as Audited>::SUBJECT_TYPE;
    let baselined = baseline::has_baseline::<A::Entity, C>(db, subject_type, insert).await?;
    Ok(Some(baselined))
}

/// The entity's column of a field: the column whose name is the one the derive saw;
/// else `Column::from_str` of it (`type_` is the column `type`, as `DeriveEntityModel`
/// names it), else of the field name (a column renamed for the whole struct, or in an
/// expanded entity's `Column`). The exact name first: `from_str` also takes a variant's
/// own field name, so a field whose column is named like another field (`label` in the
/// column `name`, beside a field `name` in another column) would find that field's.
pub(crate) fn column_of<E: EntityTrait>(field: &audit_core::Field) -> Option<E::Column> {
    use sea_orm::{IdenStatic, Iterable};
    use std::str::FromStr;
    E::Column::iter()
        .find(|c| c.as_str() == field.column)
        .or_else(|| E::Column::from_str(field.column).ok())
        .or_else(|| E::Column::from_str(field.name).ok())
}

/// An error when the model's `#[sea_orm(primary_key)]` fields and the entity's `enum
/// PrimaryKey` name the key's columns in different orders (the expanded format writes the
/// enum by hand): the subject id follows the fields, a restore's and a typed query's key
/// the enum, so they would name different records. A few string comparisons, no lock or
/// allocation: checked on every write rather than remembered.
/// [`Error::KeyOrder`]; the bulk writes check it too.
pub(crate) fn check_key_order<E: EntityTrait>() -> crate::Result<()>
where
    E::Model: AuditedModel,
{
    use sea_orm::IdenStatic;
    let fields = || {
        <E::Model as Audited>::FIELDS
            .iter()
            .filter(|f| f.primary_key)
            .map(|f| column_of::<E>(f).map_or(f.name, |c| c.as_str()))
    };
    let keys = || E::PrimaryKey::iter().map(|k| k.into_column().as_str());
    if !fields().eq(keys()) {
        return Err(Error::KeyOrder {
            subject_type: <E::Model as Audited>::SUBJECT_TYPE,
            fields: fields().collect(),
            keys: keys().collect(),
        });
    }
    Ok(())
}

/// Whether the `before_*` hooks act: auditing is on in scope, and strict mode (if on) does
/// not refuse the write. Strict mode is a setting of the scope ([`AuditContext::strict`],
/// or `AuditLayer::strict` for every request): an audited write outside a transaction
/// fails before anything is written. SeaORM's hooks return `DbErr`, so the write returns
/// `DbErr::Custom` with [`Error::NotInTransaction`]'s message (`audit: strict mode: …`).
fn hooks_active<M: Audited, C: ?Sized>() -> Result<bool, DbErr> {
    on_tokio::<M>()?;
    Ok(auditing_on::<M, C>()?)
}

/// The refusals of the `before_*` hooks (strict mode, no tokio runtime, a subject type two
/// models share), checked before the entity's own `before_save`/`before_delete` logic
/// runs (the derived impl calls it first; call it first in a `manual_hooks` impl whose own
/// logic writes), so that a write refused is refused before anything the entity's hook
/// writes. `A` is the `ActiveModel`, `C` the connection type of the hook.
pub fn refuse_early<A, C>() -> Result<(), DbErr>
where
    A: ActiveModelTrait,
    ModelOf<A>: AuditedModel,
    C: ?Sized,
{
    hooks_active::<ModelOf<A>, C>().map(drop)
}

/// Whether a write of `M` through `C` is audited: auditing is on in scope and strict mode
/// (if on) does not refuse it. Shared by the hooks and the bulk writes.
pub(crate) fn auditing_on<M: Audited, C: ?Sized>() -> crate::Result<bool> {
    crate::registry::check(M::SUBJECT_TYPE)?;
    if AuditContext::auditing_disabled() {
        return Ok(false);
    }
    if AuditContext::strict_mode() && is_plain_connection::<C>() {
        return Err(Error::NotInTransaction {
            subject_type: M::SUBJECT_TYPE,
        });
    }
    Ok(true)
}

/// How many writes wait between their `before_*` and `after_*` hooks in this process: 0
/// whenever no audited write is in flight (a diagnostic; also used by the tests).
pub fn pending_writes() -> usize {
    pending::pending_len()
}

#[doc(hidden)]
pub use crate::bulk::reading_back_bulk_ids;
#[doc(hidden)]
pub use crate::trail::baseline::{expire_tentative_baselines, forget_baselines};

// ---- hooks ----------------------------------------------------------------------------

type ModelOf<A> = <<A as ActiveModelTrait>::Entity as EntityTrait>::Model;

/// The `SELECT` of the row an ActiveModel points at (`None` while its key is not set).
fn by_key<A: ActiveModelTrait>(active: &A) -> Option<sea_orm::Select<A::Entity>> {
    let mut query = A::Entity::find();
    for key in <A::Entity as EntityTrait>::PrimaryKey::iter() {
        let col = key.into_column();
        match active.get(col) {
            ActiveValue::Set(v) | ActiveValue::Unchanged(v) => query = query.filter(col.eq(v)),
            ActiveValue::NotSet => return None,
        }
    }
    Some(query)
}

/// Reads the row an ActiveModel points at, locked for update inside a transaction when
/// `lock` says so.
async fn read_row<A, C>(active: &A, db: &C, lock: bool) -> Result<Option<ModelOf<A>>, DbErr>
where
    A: ActiveModelTrait,
    C: ConnectionTrait,
{
    let Some(mut query) = by_key(active) else {
        return Ok(None);
    };
    // The lock only means something inside a transaction; outside one it would cost a
    // write (and, on PostgreSQL, a WAL flush) for nothing.
    if lock && !is_plain_connection::<C>() {
        query = query.lock_exclusive();
    }
    query.one(db).await.map_err(|e| {
        Error::Database {
            context: "reading the row before the write",
            source: e,
        }
        .into()
    })
}

/// The primary key of an ActiveModel as text (`None` while it is not set).
fn active_key<A: ActiveModelTrait>(active: &A) -> Option<String> {
    let mut key = String::new();
    for pk in <A::Entity as EntityTrait>::PrimaryKey::iter() {
        match active.get(pk.into_column()) {
            ActiveValue::Set(v) | ActiveValue::Unchanged(v) => key.push_str(&format!("{v:?};")),
            ActiveValue::NotSet => return None,
        }
    }
    Some(key)
}

/// [`active_key`] of a saved model.
fn model_key<M: ModelTrait>(model: &M) -> String {
    let mut key = String::new();
    for pk in <M::Entity as EntityTrait>::PrimaryKey::iter() {
        key.push_str(&format!("{:?};", model.get(pk.into_column())));
    }
    key
}

/// The row read before the write, when there is one.
fn before_row<M: 'static>(pending: &Option<Pending>) -> trail::Before<'_, M> {
    match pending.as_ref().and_then(|p| p.before.as_ref()) {
        None => trail::Before::Unread,
        Some(None) => trail::Before::Absent,
        Some(Some(row)) => row
            .downcast_ref::<M>()
            .map_or(trail::Before::Unread, trail::Before::Row),
    }
}

/// Refuses a key the trail cannot hold (see `dialect::check_subject_id`) before the row is
/// written: on a plain connection nothing would roll the row back. An update or delete is
/// checked for the length alone: the trail names its record by the key the row holds,
/// which `after_*` learns (MySQL's `PAD SPACE` finds the row `"a "` by the key `"a"`, and
/// `"a"` by `"a "`), and checks in full.
fn check_active_subject_id<A, C>(active: &A, db: &C, insert: bool) -> Result<(), DbErr>
where
    A: ActiveModelTrait,
    A::Entity: EntityTrait<ActiveModel = A>,
    ModelOf<A>: AuditedModel,
    C: ConnectionTrait,
{
    let backend = db.get_database_backend();
    if backend != sea_orm::DbBackend::Sqlite
        && let Some(Ok(id)) = <ModelOf<A> as AuditedModel>::subject_id_of_active(active)
    {
        let subject = (<ModelOf<A> as Audited>::SUBJECT_TYPE, id.as_str());
        if insert {
            crate::dialect::check_subject_id(backend, subject)?;
        } else {
            crate::dialect::check_subject_id_length(backend, subject)?;
        }
    }
    Ok(())
}

/// `before_save` hook: on update, notes the fields the write `Set` (and reads the row
/// when the entity has no baseline yet); on insert, only the strict-mode check.
pub async fn before_save<A, C>(active: A, db: &C, insert: bool) -> Result<A, DbErr>
where
    A: ActiveModelTrait + Send,
    A::Entity: EntityTrait<ActiveModel = A>,
    ModelOf<A>: AuditedModel,
    C: ConnectionTrait,
{
    let Some(baselined) = before_write::<A, C>(db, insert).await? else {
        return Ok(active);
    };
    let subject_type = <ModelOf<A> as Audited>::SUBJECT_TYPE;
    check_active_subject_id(&active, db, insert)?;
    if insert {
        // A key the caller gives may be in the trail already (a key used again): on
        // MySQL/MariaDB, which number a create without reading, the create then numbers
        // its version from the latest one. A generated key is new.
        if numbers_creates(db)
            && let Some(key) = active_key(&active)
        {
            let pending = Pending {
                set: Vec::new(),
                before: None,
                op: Op::Insert,
            };
            pending::put(Key::new::<ModelOf<A>, C>(key, db), pending, subject_type);
        }
        return Ok(active);
    }
    let Some(key) = active_key(&active) else {
        return Ok(active);
    };
    let key = Key::new::<ModelOf<A>, C>(key, db);
    let set = <ModelOf<A> as AuditedModel>::set_fields(&active);
    let before = if baselined || set.is_empty() {
        None
    } else {
        Some(
            read_row(&active, db, true)
                .await?
                .map(|m| Box::new(m) as Box<dyn Any + Send>),
        )
    };
    let pending = Pending {
        set,
        before,
        op: Op::Update,
    };
    pending::put(key, pending, subject_type);
    Ok(active)
}

/// `after_save` hook: writes "created" with the next version on insert; on update writes
/// "updated" with the changed audited fields and a new version (and a `drift` entry first
/// for fields changed outside the trail), or nothing when nothing audited changed.
pub async fn after_save<M, C>(model: M, db: &C, insert: bool) -> Result<M, DbErr>
where
    M: AuditedModel,
    M::Entity: EntityTrait<Model = M>,
    C: ConnectionTrait,
{
    if AuditContext::auditing_disabled() {
        return Ok(model);
    }
    let subject_id = model.subject_id().map_err(Error::from)?;
    let restoring = Restoring::current(M::SUBJECT_TYPE, subject_id.as_str());
    let mut key_given = false;
    let (kind, pending) = if insert {
        key_given = numbers_creates(db)
            && pending::take(
                &Key::new::<M, C>(model_key(&model), db),
                Op::Insert,
                M::SUBJECT_TYPE,
            )
            .is_some();
        (Kind::Created, None)
    } else {
        let pending = pending::take(
            &Key::new::<M, C>(model_key(&model), db),
            Op::Update,
            M::SUBJECT_TYPE,
        );
        // The write set no audited field: nothing of its own to log.
        if pending
            .as_ref()
            .is_some_and(|p| p.set.is_empty() && p.before.is_none())
            && restoring.is_none()
        {
            return Ok(model);
        }
        (Kind::Updated, pending)
    };
    let set = pending.as_ref().map(|p| p.set.as_slice());
    let extra = match kind {
        Kind::Created => M::changes(None, Some(&model)).map_err(Error::from)?,
        _ => redacted(M::FIELDS, set, Json::from(REDACTED)),
    };
    let mut data = model.snapshot().map_err(Error::from)?;
    let action = match &restoring {
        Some(r) => r.action.clone(),
        None => trail::action_of(kind),
    };
    let mut fresh = false;
    loop {
        let write = Hooked {
            kind,
            action: action.as_str(),
            data: Some(&data),
            set,
            extra: &extra,
            force: restoring.is_some(),
        };
        let recorded = trail::record::<M, C>(
            db,
            subject_id.as_str(),
            write,
            restoring.as_ref().map(|r| r.properties.clone()),
            before_row::<M>(&pending),
            None,
            insert && !key_given,
            fresh,
        )
        .await?;
        if recorded == Recorded::Done || fresh {
            return Ok(model);
        }
        // The model SeaORM read back may be the transaction's snapshot of the row: the
        // row as it is now (locked by the update already).
        let row = by_model_key(&model)
            .lock_exclusive()
            .one(db)
            .await
            .map_err(Error::db("reading the row after the write"))?
            .ok_or(Error::Database {
                context: "reading the row after the write",
                source: DbErr::RecordNotFound("the updated row".to_owned()),
            })?;
        data = row.snapshot().map_err(Error::from)?;
        fresh = true;
    }
}

/// A query for the row a model holds, by its primary key.
fn by_model_key<M: ModelTrait>(model: &M) -> sea_orm::Select<M::Entity> {
    let mut query = M::Entity::find();
    for key in <M::Entity as EntityTrait>::PrimaryKey::iter() {
        let col = key.into_column();
        query = query.filter(col.eq(model.get(col)));
    }
    query
}

/// `{"[redacted]" → new}` for each redacted field the write set; on a delete (`set` of
/// `None`) every redacted field. A redacted field's change is reported whenever the write
/// sets it: its values are in no audit table, so they cannot be compared.
pub(crate) fn redacted(
    fields: &[audit_core::Field],
    set: Option<&[&'static str]>,
    new: Json,
) -> Changes {
    let mut changes = Changes::new();
    for f in fields.iter().filter(|f| f.mode == FieldMode::Redacted) {
        if set.is_none_or(|s| s.contains(&f.name)) {
            changes.insert(f.name, Json::from(REDACTED), new.clone());
        }
    }
    changes
}

/// Whether a key value matches only itself in the database whatever its collation or
/// column type: integers, booleans, UUIDs.
fn matches_only_itself(v: &sea_orm::Value) -> bool {
    use sea_orm::Value as V;
    matches!(
        v,
        V::Bool(_)
            | V::TinyInt(_)
            | V::SmallInt(_)
            | V::Int(_)
            | V::BigInt(_)
            | V::TinyUnsigned(_)
            | V::SmallUnsigned(_)
            | V::Unsigned(_)
            | V::BigUnsigned(_)
            | V::Uuid(_)
    )
}

/// Whether the row a delete by this ActiveModel removes may spell its key otherwise than
/// the ActiveModel does: it may hold only the key (some other field is not set, or the
/// entity has no other), and a key value is of a type the database can match in another
/// form (text under a case-insensitive collation, a decimal with other trailing zeros, a
/// time at another precision). Integer, boolean and UUID keys match only themselves.
fn key_may_differ<A>(active: &A) -> bool
where
    A: ActiveModelTrait,
{
    let keys: Vec<_> = <A::Entity as EntityTrait>::PrimaryKey::iter()
        .map(|pk| pk.into_column())
        .collect();
    let exact_key = keys.iter().all(|c| match active.get(*c) {
        ActiveValue::Set(v) | ActiveValue::Unchanged(v) => matches_only_itself(&v),
        ActiveValue::NotSet => true, // no delete by this key
    });
    if exact_key {
        return false;
    }
    let mut others = <A::Entity as EntityTrait>::Column::iter()
        .filter(|c| {
            !keys
                .iter()
                .any(|k| sea_orm::IdenStatic::as_str(k) == sea_orm::IdenStatic::as_str(c))
        })
        .peekable();
    others.peek().is_none() || others.any(|c| matches!(active.get(c), ActiveValue::NotSet))
}

/// Whether a delete by a key that may be spelt otherwise reads the row's own key first
/// (see [`before_delete`]).
fn backend_reads_keys<C: ConnectionTrait>(db: &C) -> bool {
    db.get_database_backend() != sea_orm::DbBackend::Sqlite
}

/// `before_delete` hook: reads the row about to be deleted when the entity has no
/// baseline yet (one `SELECT`, locking in a transaction), and, on PostgreSQL and
/// MySQL/MariaDB, when the delete gives only a key whose row may spell it otherwise (a
/// key not made of integers, booleans or UUIDs: the record is named by its key as stored;
/// one `SELECT`, locking on MySQL/MariaDB in a transaction).
pub async fn before_delete<A, C>(active: A, db: &C) -> Result<A, DbErr>
where
    A: ActiveModelTrait + Send,
    A::Entity: EntityTrait<ActiveModel = A>,
    ModelOf<A>: AuditedModel,
    C: ConnectionTrait,
{
    let subject_type = <ModelOf<A> as Audited>::SUBJECT_TYPE;
    let Some(baselined) = before_write::<A, C>(db, false).await? else {
        return Ok(active); // auditing off
    };
    check_active_subject_id(&active, db, false)?;
    let Some(key) = active_key(&active) else {
        return Ok(active);
    };
    let key = Key::new::<ModelOf<A>, C>(key, db);
    if baselined {
        // A note an earlier delete of this key left (cancelled between its hooks while the
        // type had no baseline) must not stand for this one.
        pending::discard(&key, subject_type);
        // The trail names a record by its key as the row holds it: a key that may be
        // spelt otherwise is read back. On PostgreSQL a plain read (no lock, no privilege
        // beyond SELECT: each statement sees the latest commit); on MySQL/MariaDB, in a
        // transaction, a locking read, as the DELETE reads (a plain one reads the
        // transaction's snapshot, which may predate the row: it would go unnamed), and
        // taking the lock the DELETE takes next. Not on SQLite, whose default collation
        // compares exactly, where a read before the write would make a deferred
        // transaction fail rather than wait when another connection writes in between.
        if backend_reads_keys(db) && key_may_differ(&active) {
            let locking = db.get_database_backend() == sea_orm::DbBackend::MySql;
            let row = read_row(&active, db, locking).await?;
            // Not there: nothing to name, and the delete is logged by the given key as
            // usual (a row inserted meanwhile is checked for by the trail's statement).
            if let Some(row) = row {
                let pending = Pending {
                    set: Vec::new(),
                    before: Some(Some(Box::new(row) as Box<dyn Any + Send>)),
                    op: Op::Delete,
                };
                pending::put(key, pending, subject_type);
            }
        }
        return Ok(active);
    }
    let before = read_row(&active, db, true)
        .await?
        .map(|m| Box::new(m) as Box<dyn Any + Send>);
    pending::put(
        key,
        Pending {
            set: Vec::new(),
            before: Some(before),
            op: Op::Delete,
        },
        subject_type,
    );
    Ok(active)
}

/// `after_delete` hook: writes "deleted" (every audited field `{old, new: null}`, from the
/// latest version) and a final version holding the last state. Nothing when the trail
/// already has the row deleted, when it has no version of a row that was not there when
/// read before the delete, or when the row is still there (a trigger or rule cancelled the delete: PostgreSQL and
/// SQLite check it in the statements that write the trail; MySQL cannot cancel a delete
/// without failing it).
pub async fn after_delete<A, C>(active: A, db: &C) -> Result<A, DbErr>
where
    A: ActiveModelTrait + TryIntoModel<ModelOf<A>> + Send,
    A::Entity: EntityTrait<ActiveModel = A>,
    ModelOf<A>: AuditedModel,
    C: ConnectionTrait,
{
    type M<A> = ModelOf<A>;
    if AuditContext::auditing_disabled() {
        return Ok(active);
    }
    let Some(key) = active_key(&active) else {
        return Ok(active);
    };
    let pending = pending::take(
        &Key::new::<M<A>, C>(key, db),
        Op::Delete,
        <M<A> as Audited>::SUBJECT_TYPE,
    );
    // A row not there when read before the delete is still looked for in the trail: one
    // inserted and committed between that read and the DELETE (which reads the latest
    // commit) was deleted by it.
    let before = before_row::<M<A>>(&pending);
    // The subject id as the derive spells it: from the row when it was read, else from
    // the ActiveModel's key (complete, since the delete is by key).
    let subject_id = match before {
        trail::Before::Row(row) => row.subject_id().map_err(Error::from)?,
        _ => subject_id_of(&active)?,
    };
    let extra = redacted(<M<A> as Audited>::FIELDS, None, Json::Null);
    // A revert that deletes the row logs `reverted`, with what it reverted.
    let reverting = Restoring::current(<M<A> as Audited>::SUBJECT_TYPE, subject_id.as_str());
    let action = reverting
        .as_ref()
        .map_or(Action::Deleted, |r| r.action.clone());
    let write = Hooked {
        kind: Kind::Deleted,
        action: action.as_str(),
        data: None,
        set: None,
        extra: &extra,
        force: false,
    };
    let properties = reverting.map(|r| r.properties);
    // A delete that removed nothing (a trigger or rule cancelled it) leaves the row: the
    // audit statement checks that it is gone.
    let gone = RowKey::of(&active);
    trail::record::<M<A>, C>(
        db,
        subject_id.as_str(),
        write,
        properties,
        before,
        gone.as_ref(),
        false,
        false,
    )
    .await?;
    Ok(active)
}

/// The subject id of the row an ActiveModel points at: exact when the ActiveModel holds
/// every field (a model turned into one), else from the key's values.
fn subject_id_of<A>(active: &A) -> Result<SubjectId, DbErr>
where
    A: ActiveModelTrait + TryIntoModel<ModelOf<A>> + Clone,
    A::Entity: EntityTrait<ActiveModel = A>,
    ModelOf<A>: AuditedModel,
{
    if let Ok(model) = active.clone().try_into_model() {
        return Ok(model.subject_id().map_err(Error::from)?);
    }
    // The key fields through the derive's codecs, as every other write of the row spells
    // its id (an enum key's serde name, a date's text).
    if let Some(id) = <ModelOf<A> as AuditedModel>::subject_id_of_active(active) {
        return Ok(id.map_err(Error::from)?);
    }
    let mut parts = Vec::new();
    for pk in <A::Entity as EntityTrait>::PrimaryKey::iter() {
        match active.get(pk.into_column()) {
            ActiveValue::Set(v) | ActiveValue::Unchanged(v) => parts.push(v),
            ActiveValue::NotSet => {
                return Err(DbErr::Custom(
                    "audit: delete of an ActiveModel without its primary key".to_owned(),
                ));
            }
        }
    }
    let json = |v: &sea_orm::Value| -> Result<Json, DbErr> {
        use sea_orm::Value as V;
        match v {
            V::String(_) | V::Char(_) => Ok(sea_orm::sea_query::value::sea_value_to_json_value(v)),
            v if matches_only_itself(v) => {
                Ok(sea_orm::sea_query::value::sea_value_to_json_value(v))
            }
            other => Err(DbErr::Custom(format!(
                "audit: cannot name the deleted `{}` row from a key value {other:?}; delete it \
                 through its model (`model.delete(db)`) or an ActiveModel with every field",
                <ModelOf<A> as Audited>::SUBJECT_TYPE
            ))),
        }
    };
    let parts = parts.iter().map(json).collect::<Result<Vec<_>, _>>()?;
    Ok(SubjectId::from_key_values(parts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_connections_are_told_from_transactions() {
        assert!(is_plain_connection::<sea_orm::DatabaseConnection>());
        assert!(is_plain_connection::<&sea_orm::DatabaseConnection>());
        assert!(!is_plain_connection::<sea_orm::DatabaseTransaction>());
        assert!(!is_plain_connection::<sea_orm::DatabaseExecutor<'static>>());
    }
}
