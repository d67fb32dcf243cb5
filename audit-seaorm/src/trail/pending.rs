//! What `before_*` hands to `after_*` of the same write: the fields the write `Set`, and
//! (only for subject types without a baseline) the row as it was before the write.
//!
//! Nothing here decides whether a write is logged: `after_*` logs every write, and what
//! it finds here only sharpens the entry (which changes are the writer's, which are
//! drift) or gives an un-versioned row its baseline. Entries are keyed by (task or
//! thread, model type, primary key, connection), so two writes of one key on two
//! connections in one task, or in two tasks, never meet. An entry left behind (a write
//! that failed or was cancelled between its hooks, `update_without_returning`, which
//! runs only `before_save`) is replaced or dropped by the next write of the same key, with
//! a warning (an `after_*` hook takes only the entry of its own kind of write); the table
//! is capped, the oldest entries going first.

use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap};
use std::sync::{LazyLock, Mutex};

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Owner {
    Task(tokio::task::Id),
    /// Outside a tokio task (inside `block_on`, or another runtime).
    Thread(std::thread::ThreadId),
}

fn owner() -> Owner {
    match tokio::task::try_id() {
        Some(id) => Owner::Task(id),
        None => Owner::Thread(std::thread::current().id()),
    }
}

/// Identifies one write's hooks: model type, primary key text, connection address.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub(crate) struct Key {
    owner: Owner,
    model: TypeId,
    primary_key: String,
    connection: usize,
}

impl Key {
    /// The key's text is folded as the loosest key column compares it (case, trailing
    /// spaces: MySQL/MariaDB's default collations, PostgreSQL's `citext`): `before_save`
    /// knows the key as the write spells it, `after_save` as the row holds it, and the two
    /// must meet, so that a note another write left under the row's spelling is replaced,
    /// not taken. (Two writes in flight at once in one task on one connection whose keys
    /// differ only so share a note: each is still logged, less sharply.)
    pub(crate) fn new<M: 'static, C: ?Sized>(primary_key: String, db: &C) -> Self {
        let mut primary_key = primary_key.to_lowercase();
        while primary_key.contains(" \")") {
            primary_key = primary_key.replace(" \")", "\")");
        }
        Self {
            owner: owner(),
            model: TypeId::of::<M>(),
            primary_key,
            connection: std::ptr::from_ref(db).cast::<()>() as usize,
        }
    }
}

/// The write whose `before_*` hook left a note: its `after_*` hook takes only a note of
/// its own kind, so that a note another write left behind (an update that failed before
/// `after_save`) never stands for a later write of the key.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Op {
    /// An insert whose key the caller gave (not one the database generates), which a
    /// trail may hold already.
    Insert,
    Update,
    Delete,
}

/// What `before_*` learnt.
pub(crate) struct Pending {
    /// The fields the write `Set` (by field name).
    pub set: Vec<&'static str>,
    /// The row before the write, read only when the subject type has no baseline yet:
    /// `Some(None)` when it was read and not found.
    pub before: Option<Option<Box<dyn Any + Send>>>,
    /// Which write left it.
    pub op: Op,
}

/// Most entries live between two hooks of one write: the cap only matters when writes
/// keep failing between them, or when more writes than this wait between their hooks at
/// once (a burst queued for a small pool's connections). A write whose note is dropped is
/// still logged, less sharply (see the README's "Drift"), and the drop is a warning.
const CAP: usize = 16_384;

/// Notes dropped at the cap so far, and the count at the last warning (one a minute at
/// most).
static DROPPED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static WARNED: Mutex<Option<(std::time::Instant, u64)>> = Mutex::new(None);

struct Table {
    entries: HashMap<Key, (u64, Pending)>,
    /// The entries' keys by age, oldest first: the one to drop at the cap, found at once
    /// however many entries failed writes left behind.
    order: BTreeMap<u64, Key>,
    next: u64,
}

impl Table {
    fn remove(&mut self, key: &Key) -> Option<Pending> {
        let (n, pending) = self.entries.remove(key)?;
        self.order.remove(&n);
        Some(pending)
    }
}

static TABLE: LazyLock<Mutex<Table>> = LazyLock::new(|| {
    Mutex::new(Table {
        entries: HashMap::new(),
        order: BTreeMap::new(),
        next: 0,
    })
});

fn table() -> std::sync::MutexGuard<'static, Table> {
    TABLE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Leaves `pending` for the `after_*` hook of the same write.
pub(crate) fn put(key: Key, pending: Pending, subject_type: &str) {
    let mut t = table();
    let left = t.remove(&key);
    let mut dropped = false;
    if t.entries.len() >= CAP
        && let Some((_, oldest)) = t.order.pop_first()
    {
        t.entries.remove(&oldest);
        dropped = true;
    }
    let n = t.next;
    t.next += 1;
    t.order.insert(n, key.clone());
    t.entries.insert(key.clone(), (n, pending));
    drop(t);
    if dropped {
        let n = DROPPED.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let mut warned = WARNED.lock().unwrap_or_else(|e| e.into_inner());
        let due = warned.is_none_or(|(at, _)| at.elapsed() >= std::time::Duration::from_secs(60));
        let since = warned.map_or(n, |(_, then)| n - then);
        if due {
            *warned = Some((std::time::Instant::now(), n));
        }
        drop(warned);
        if due {
            tracing::warn!(
                dropped = since,
                total = n,
                cap = CAP,
                "audit: more hooked writes are between their hooks than the notes of which \
                 fields they set can hold: the oldest note was dropped, and its write, if still \
                 in flight, is logged without it (fields changed outside the trail are then \
                 attributed to it rather than logged as drift)"
            );
        }
    }
    if let Some(left) = left {
        left_behind(&key, &left, subject_type);
    }
}

/// Takes what the `before_*` hook of this write (`op`) left, if anything. A note of
/// another kind of write is taken too (it was left behind) but not returned.
pub(crate) fn take(key: &Key, op: Op, subject_type: &str) -> Option<Pending> {
    let pending = table().remove(key)?;
    if pending.op == op {
        return Some(pending);
    }
    left_behind(key, &pending, subject_type);
    None
}

/// Drops a note an earlier write of this key left behind (with the warning), before a
/// write that leaves none of its own.
pub(crate) fn discard(key: &Key, subject_type: &str) {
    let left = table().remove(key);
    if let Some(left) = left {
        left_behind(key, &left, subject_type);
    }
}

/// Warns of a note whose write never reached its `after_*` hook.
fn left_behind(key: &Key, pending: &Pending, subject_type: &str) {
    // (An insert that failed, say on a duplicate key, changed nothing: no warning.)
    if pending.op == Op::Insert {
        return;
    }
    tracing::warn!(
        subject_type,
        subject_id = %key.primary_key,
        "audit: an earlier write of this row ran `before_save`/`before_delete` without the \
         matching `after_*` hook (it failed, was cancelled, or was an \
         `update_without_returning`, which SeaORM runs without `after_save`); what it \
         changed, if anything, is recorded as drift by the next audited write"
    );
}

/// Drops what `before_*` left for this key.
#[cfg(test)]
fn forget(key: &Key) {
    table().remove(key);
}

/// How many entries wait for their `after_*` hook (for tests and diagnostics).
pub fn pending_len() -> usize {
    table().entries.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table is the process's: one test at a time, so that the cap test's entries
    /// do not push out another's.
    static SERIAL: Mutex<()> = Mutex::new(());

    #[test]
    fn keys_tell_connections_types_and_rows_apart() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let a = 1u8;
        let b = 2u8;
        let k1 = Key::new::<u8, _>("1".into(), &a);
        let k2 = Key::new::<u8, _>("1".into(), &b);
        let k3 = Key::new::<u16, _>("1".into(), &a);
        assert_ne!(k1, k2);
        assert_ne!(k1, k3);
        put(
            k1.clone(),
            Pending {
                set: vec!["x"],
                before: None,
                op: Op::Update,
            },
            "t",
        );
        assert!(take(&k2, Op::Update, "t").is_none());
        assert!(take(&k3, Op::Update, "t").is_none());
        assert_eq!(take(&k1, Op::Update, "t").unwrap().set, ["x"]);
        assert!(take(&k1, Op::Update, "t").is_none());
    }

    #[test]
    fn a_note_of_another_write_is_not_taken() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let conn = 0u8;
        let key = Key::new::<u8, _>("other".into(), &conn);
        let note = |op| Pending {
            set: vec![],
            before: Some(None),
            op,
        };
        put(key.clone(), note(Op::Update), "t");
        assert!(take(&key, Op::Delete, "t").is_none());
        assert!(
            take(&key, Op::Update, "t").is_none(),
            "gone with the first take"
        );
        put(key.clone(), note(Op::Delete), "t");
        assert!(take(&key, Op::Delete, "t").is_some());
    }

    #[test]
    fn the_table_is_capped() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let conn = 0u64;
        for i in 0..CAP + 10 {
            put(
                Key::new::<u64, _>(format!("cap{i}"), &conn),
                Pending {
                    set: vec![],
                    before: None,
                    op: Op::Update,
                },
                "t",
            );
        }
        assert!(pending_len() <= CAP);
        {
            let t = table();
            assert_eq!(t.order.len(), t.entries.len(), "one age per entry");
        }
        let cap = |i: usize| Key::new::<u64, _>(format!("cap{i}"), &conn);
        assert!(take(&cap(CAP + 9), Op::Update, "t").is_some());
        assert!(take(&cap(0), Op::Update, "t").is_none());
        for i in 0..CAP + 10 {
            forget(&Key::new::<u64, _>(format!("cap{i}"), &conn));
        }
    }
}
