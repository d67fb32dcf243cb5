//! Tamper evidence: hash chains over the audit rows, [`verify`](verify::verify), signed
//! checkpoints.
//!
//! Writers never wait for the chains: [`seal`](seal::seal) links the rows written since
//! its last run into per-subject chains afterwards, in the manner of a transparency log's
//! sequencer (RFC 6962, Trillian): rows are evidence from the moment they are sealed.

pub(crate) mod anchor;
pub(crate) mod checkpoint;
pub(crate) mod erase;
pub(crate) mod gaps;
pub(crate) mod hash;
pub(crate) mod rows;
pub(crate) mod seal;
pub(crate) mod verify;

use sea_orm::{DbBackend, EntityTrait, QuerySelect, Select};

/// `query`, a point read of links or chain heads for the scrubbing of `erase` and
/// `redact_history`, as a read of what is committed now: on MySQL/MariaDB a locking read,
/// since a plain one reads the transaction's snapshot, which in a caller's transaction may
/// predate the links a seal committed before the scrub took the runs' lock (InnoDB's
/// locking reads see the latest commit); elsewhere as it is (PostgreSQL's READ COMMITTED
/// statements see it anyway, and SQLite's write transaction began after it). The rows
/// themselves are read plainly: a sealed row is never changed by the library but by a
/// scrub, which holds the runs' lock, and locking every row a scan passes would hold back
/// every writer of the table on MySQL.
pub(crate) fn committed<E: EntityTrait>(query: Select<E>, backend: DbBackend) -> Select<E> {
    if backend == DbBackend::MySql {
        query.lock_exclusive()
    } else {
        query
    }
}

/// Rows from which a page's decoding or hashing goes to [`off_thread`]: below it the
/// hand-off costs more than the work.
pub(crate) const OFF_THREAD_ROWS: usize = 64;

/// Runs `work`, a page's CPU work (decoding or hashing up to a thousand rows: some
/// milliseconds), on tokio's blocking pool when a tokio runtime is at hand, so that the
/// runtime's workers go on with the application's other tasks meanwhile (a `seal` job in
/// a web server's runtime would otherwise hold a worker that long); else here.
pub(crate) async fn off_thread<T: Send + 'static>(
    work: impl FnOnce() -> crate::Result<T> + Send + 'static,
) -> crate::Result<T> {
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return work();
    };
    match rt.spawn_blocking(work).await {
        Ok(done) => done,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(crate::Error::Chain(format!(
            "a page's decoding or hashing did not finish: {e}"
        ))),
    }
}

pub(crate) use anchor::{changed_rows, mark_pruned, reanchor};
pub(crate) use seal::{ensure_origin, origin_sql, take_runs_lock};

/// Whether `chain` is a versions chain folded up to its head whose record has no version
/// left: retention keeps every record's latest version (sealed, or written since the last
/// seal), so no prune leaves that; rows removed with an anchor moved over them do.
pub(crate) async fn folded_away<C: sea_orm::ConnectionTrait>(
    db: &C,
    kind: hash::Kind,
    chain: &crate::entity::chains::Model,
) -> crate::Result<bool> {
    use crate::entity::versions::{Column as V, Entity as Versions};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
    if kind != hash::Kind::Versions
        || chain.anchor_hash.is_none()
        || chain.anchor_seq < chain.head_seq
    {
        return Ok(false);
    }
    let left = Versions::find()
        .select_only()
        .column(V::Id)
        .filter(V::SubjectType.eq(chain.subject_type.as_str()))
        .filter(V::SubjectId.eq(chain.subject_id.as_str()))
        .limit(1)
        .into_tuple::<i64>()
        .one(db)
        .await
        .map_err(crate::Error::db("reading a record's versions"))?;
    Ok(left.is_none())
}
