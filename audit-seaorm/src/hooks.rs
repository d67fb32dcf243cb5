//! The `ActiveModelBehavior` hooks that audit a model's writes.
//!
//! `#[derive(Audited)]` implements `ActiveModelBehavior` with these four functions. With
//! `#[audit(manual_hooks)]` you write the impl yourself and call them from yours:
//!
//! ```
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
//! How the old state reaches `after_save`: `before_save` (on update) and `before_delete`
//! read the current row with one `SELECT` (`FOR UPDATE` unless the connection is a plain
//! pool) and leave it in a stash keyed by (task, model type, primary key); `after_save` /
//! `after_delete` take it out and write the diff. Nothing is written before the entity
//! write has succeeded, so a failed write leaves no audit row, only a stash entry: the next
//! write of the same row in the same task replaces or drops it, an entry older than
//! [`STASH_TTL`] is never used, and expired entries are swept once the stash holds many
//! (it is capped).

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use audit_core::{Action, AuditContext, Audited};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, Iterable,
    ModelTrait, PrimaryKeyToColumn, QueryFilter, QuerySelect,
};

use crate::write::{ActivityRow, Record, VersionRow, write};
use crate::{AuditedModel, Error};

/// How long a stash entry left by a failed write is kept.
pub const STASH_TTL: Duration = Duration::from_secs(300);

static STRICT: AtomicBool = AtomicBool::new(false);

/// Switches strict mode on or off for the whole process (off by default). In strict mode
/// an audited write outside a transaction fails before anything is written: SeaORM's hooks
/// return `DbErr`, so the write returns `DbErr::Custom` with [`Error::NotInTransaction`]'s
/// message (`audit: strict mode: …`). [`AuditContext::strict`] overrides it in a scope.
pub fn set_strict_mode(strict: bool) {
    STRICT.store(strict, Ordering::Relaxed);
}

/// Whether strict mode is on in the current scope.
pub fn strict_mode() -> bool {
    AuditContext::with_current(|ctx| ctx.and_then(|c| c.strict))
        .unwrap_or_else(|| STRICT.load(Ordering::Relaxed))
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

/// Whether the `before_*` hooks act: auditing is on in scope, and strict mode (if on) does
/// not refuse the write.
fn hooks_active<M: Audited, C: ?Sized>() -> Result<bool, DbErr> {
    if AuditContext::auditing_disabled() {
        return Ok(false);
    }
    check_strict::<M, C>()?;
    Ok(true)
}

fn check_strict<M: Audited, C: ?Sized>() -> Result<(), DbErr> {
    if strict_mode() && is_plain_connection::<C>() {
        return Err(Error::NotInTransaction {
            subject_type: M::SUBJECT_TYPE,
        }
        .into());
    }
    Ok(())
}

// ---- the stash ------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Owner {
    Task(tokio::task::Id),
    /// Outside a task (inside `block_on`: `#[tokio::main]`, `#[tokio::test]`).
    Thread(std::thread::ThreadId),
}

fn owner() -> Owner {
    match tokio::task::try_id() {
        Some(id) => Owner::Task(id),
        None => Owner::Thread(std::thread::current().id()),
    }
}

type StashKey = (Owner, TypeId, String);

/// Above this many entries, expired ones are dropped; above [`STASH_CAP`] after that, the
/// oldest go too. Entries exist only between the two hooks of one write, so a large stash
/// means writes failing between them (each failure leaves one entry).
const STASH_SWEEP: usize = 1024;
const STASH_CAP: usize = 16 * 1024;
type Stash = HashMap<StashKey, (Instant, Box<dyn Any + Send>)>;

static STASH: LazyLock<Mutex<Stash>> = LazyLock::new(|| Mutex::new(HashMap::new()));

fn stash_put<M: Send + 'static>(key: String, old: M) {
    let mut stash = STASH.lock().unwrap_or_else(|e| e.into_inner());
    if stash.len() >= STASH_SWEEP {
        let now = Instant::now();
        stash.retain(|_, (at, _)| now.duration_since(*at) < STASH_TTL);
        if stash.len() >= STASH_CAP {
            let mut ages: Vec<Instant> = stash.values().map(|(at, _)| *at).collect();
            ages.sort_unstable();
            let cutoff = ages[ages.len() - STASH_SWEEP / 2];
            stash.retain(|_, (at, _)| *at >= cutoff);
        }
    }
    stash.insert(
        (owner(), TypeId::of::<M>(), key),
        (Instant::now(), Box::new(old)),
    );
}

fn stash_take<M: 'static>(key: String) -> Option<M> {
    let mut stash = STASH.lock().unwrap_or_else(|e| e.into_inner());
    let (at, old) = stash.remove(&(owner(), TypeId::of::<M>(), key))?;
    if at.elapsed() >= STASH_TTL {
        return None;
    }
    old.downcast::<M>().ok().map(|b| *b)
}

// ---- restore marker -------------------------------------------------------------------

/// Set while a typed restore writes, so the hook logs "restored".
#[derive(Clone)]
pub(crate) struct Restoring {
    pub subject_type: &'static str,
    pub subject_id: String,
    pub version_id: i64,
    pub version: i64,
}

tokio::task_local! {
    pub(crate) static RESTORING: Restoring;
}

fn restoring(subject_type: &str, subject_id: &str) -> Option<Restoring> {
    RESTORING
        .try_with(|r| {
            (r.subject_type == subject_type && r.subject_id == subject_id).then(|| r.clone())
        })
        .ok()
        .flatten()
}

// ---- hooks ----------------------------------------------------------------------------

/// Reads the row an ActiveModel points at, locked for update inside a transaction.
async fn current_row<A, C>(
    active: &A,
    db: &C,
) -> Result<Option<<A::Entity as EntityTrait>::Model>, DbErr>
where
    A: ActiveModelTrait,
    C: ConnectionTrait,
{
    let mut query = A::Entity::find();
    for key in <A::Entity as EntityTrait>::PrimaryKey::iter() {
        let col = key.into_column();
        match active.get(col) {
            ActiveValue::Set(v) | ActiveValue::Unchanged(v) => query = query.filter(col.eq(v)),
            ActiveValue::NotSet => return Ok(None),
        }
    }
    // The lock only means something inside a transaction; outside one it would cost a
    // write (and, on PostgreSQL, a WAL flush) for nothing.
    if !is_plain_connection::<C>() {
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

/// `before_save` hook: on update, reads the current row (one `SELECT`, locking in a
/// transaction) when an audited field is set; on insert, does nothing but the strict-mode
/// check.
pub async fn before_save<A, C>(active: A, db: &C, insert: bool) -> Result<A, DbErr>
where
    A: ActiveModelTrait + Send,
    A::Entity: EntityTrait<ActiveModel = A>,
    <A::Entity as EntityTrait>::Model: AuditedModel,
    C: ConnectionTrait,
{
    type M<A> = <<A as ActiveModelTrait>::Entity as EntityTrait>::Model;
    if !hooks_active::<M<A>, C>()? {
        return Ok(active);
    }
    if insert {
        return Ok(active);
    }
    let Some(key) = active_key(&active, SAVE) else {
        return Ok(active);
    };
    if !M::<A>::has_audited_changes(&active) {
        // Nothing audited can change; drop what a failed earlier write may have left.
        stash_take::<M<A>>(key);
        return Ok(active);
    }
    match current_row(&active, db).await? {
        // Keyed as the database spells the key (it is what `after_save` will see).
        Some(old) => stash_put(model_key(&old), old),
        None => {
            stash_take::<M<A>>(key);
        }
    }
    Ok(active)
}

/// `after_save` hook: writes "created" with version 1 on insert; on update writes
/// "updated" with the changed audited fields and a new version, or nothing when no
/// audited field changed.
pub async fn after_save<M, C>(model: M, db: &C, insert: bool) -> Result<M, DbErr>
where
    M: AuditedModel,
    C: ConnectionTrait,
{
    if AuditContext::auditing_disabled() {
        return Ok(model);
    }
    let subject_id = model.subject_id();
    let restoring = restoring(M::SUBJECT_TYPE, &subject_id);
    let (action, changes) = if insert {
        (
            Action::Created,
            M::changes(None, Some(&model)).map_err(Error::from)?,
        )
    } else {
        let Some(old) = stash_take::<M>(model_key(&model)) else {
            return Ok(model);
        };
        (
            Action::Updated,
            M::changes(Some(&old), Some(&model)).map_err(Error::from)?,
        )
    };
    if changes.is_empty() && restoring.is_none() {
        return Ok(model);
    }
    let (action, properties) = match &restoring {
        Some(r) => (
            Action::Restored,
            Some(
                serde_json::json!({"restored_version": r.version, "restored_version_id": r.version_id}),
            ),
        ),
        None => (action, None),
    };
    let data = model.snapshot().map_err(Error::from)?;
    write_change::<M, C>(db, &subject_id, &action, &changes, properties, &data).await?;
    Ok(model)
}

/// Writes the activity entry and the version of one hooked write.
pub(crate) async fn write_change<M: Audited, C: ConnectionTrait>(
    db: &C,
    subject_id: &str,
    action: &Action,
    changes: &audit_core::Changes,
    properties: Option<serde_json::Value>,
    data: &serde_json::Map<String, serde_json::Value>,
) -> crate::Result<()> {
    write(
        db,
        Record {
            subject_type: M::SUBJECT_TYPE,
            subject_id,
            causer_id: None,
            activity: Some(ActivityRow {
                action: action.as_str(),
                changes,
                properties,
            }),
            version: Some(VersionRow {
                event: action.as_str(),
                data,
            }),
        },
    )
    .await?;
    Ok(())
}

/// `before_delete` hook: reads the row about to be deleted (one `SELECT`, locking in a
/// transaction).
pub async fn before_delete<A, C>(active: A, db: &C) -> Result<A, DbErr>
where
    A: ActiveModelTrait + Send,
    A::Entity: EntityTrait<ActiveModel = A>,
    <A::Entity as EntityTrait>::Model: AuditedModel,
    C: ConnectionTrait,
{
    type M<A> = <<A as ActiveModelTrait>::Entity as EntityTrait>::Model;
    if !hooks_active::<M<A>, C>()? {
        return Ok(active);
    }
    let Some(key) = active_key(&active, DELETE) else {
        return Ok(active);
    };
    match current_row(&active, db).await? {
        Some(old) => stash_put(key, old),
        // Nothing to delete: drop what a failed earlier delete may have left, or
        // `after_delete` (which runs even when no row was deleted) would log it.
        None => {
            stash_take::<M<A>>(key);
        }
    }
    Ok(active)
}

/// `after_delete` hook: writes "deleted" (every audited field `{old, new: null}`) and a
/// final version holding the last state. Nothing when no row was there to delete.
pub async fn after_delete<A, C>(active: A, db: &C) -> Result<A, DbErr>
where
    A: ActiveModelTrait + Send,
    A::Entity: EntityTrait<ActiveModel = A>,
    <A::Entity as EntityTrait>::Model: AuditedModel,
    C: ConnectionTrait,
{
    type M<A> = <<A as ActiveModelTrait>::Entity as EntityTrait>::Model;
    if AuditContext::auditing_disabled() {
        return Ok(active);
    }
    let Some(old) = active_key(&active, DELETE).and_then(stash_take::<M<A>>) else {
        return Ok(active);
    };
    let subject_id = old.subject_id();
    let changes = M::<A>::changes(Some(&old), None).map_err(Error::from)?;
    let data = old.snapshot().map_err(Error::from)?;
    write_change::<M<A>, C>(db, &subject_id, &Action::Deleted, &changes, None, &data).await?;
    Ok(active)
}

const SAVE: &str = "save:";
const DELETE: &str = "delete:";

/// The stash key of an operation on the row an ActiveModel points at: the operation and
/// the primary key values. `before_*` and `after_*` compute the same key from the
/// ActiveModel or from the saved model.
fn active_key<A: ActiveModelTrait>(active: &A, op: &str) -> Option<String> {
    let mut key = String::from(op);
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
    let mut key = String::from(SAVE);
    for pk in <M::Entity as EntityTrait>::PrimaryKey::iter() {
        key.push_str(&format!("{:?};", model.get(pk.into_column())));
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stash_len() -> usize {
        STASH.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    #[test]
    fn stash_is_capped_and_keeps_the_newest() {
        for i in 0..STASH_CAP + 10 {
            stash_put(format!("k{i}"), i);
        }
        assert!(stash_len() < STASH_CAP, "{}", stash_len());
        let newest = format!("k{}", STASH_CAP + 9);
        assert_eq!(stash_take::<usize>(newest), Some(STASH_CAP + 9));
        assert_eq!(
            stash_take::<usize>("k0".to_owned()),
            None,
            "the oldest went first"
        );
        // Another type under the same key is another entry.
        stash_put("same".to_owned(), 1u8);
        assert_eq!(stash_take::<u16>("same".to_owned()), None);
        assert_eq!(stash_take::<u8>("same".to_owned()), Some(1));
    }

    #[test]
    fn plain_connections_are_told_from_transactions() {
        assert!(is_plain_connection::<sea_orm::DatabaseConnection>());
        assert!(is_plain_connection::<&sea_orm::DatabaseConnection>());
        assert!(!is_plain_connection::<sea_orm::DatabaseTransaction>());
        assert!(!is_plain_connection::<sea_orm::DatabaseExecutor<'static>>());
    }
}
