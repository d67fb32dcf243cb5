//! Which subject types have a baseline: every row of theirs has a version, so the latest
//! version is a row's old state and the hooks read no row.
//!
//! A type gets its baseline from [`backfill`](crate::backfill), or by itself when its
//! first audited insert finds the table empty (nothing predates auditing). Until then its
//! updates and deletes read the row first (one `SELECT`, locked in a transaction), so a
//! row older than auditing gets a truthful baseline version the first time it is written.
//!
//! The answer is kept per subject type: "yes" for the life of the process when it was read
//! outside a transaction, or inside transactions twice at least [`RECHECK`] apart, else
//! for [`RECHECK`] (inside a transaction the mark seen may be the transaction's own, not
//! committed yet, and gone if it rolls back); "no" for [`RECHECK`]. The answer knows subject types, not databases: a program that audits one
//! type in several databases runs `backfill` on each before any of them takes writes.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use chrono::{SubsecRound, Utc};
use sea_orm::sea_query::{Expr, OnConflict, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, StatementBuilder,
};

use crate::entity::baselines;
use crate::{Error, Result};

/// How long a "no baseline" answer is trusted before the table is asked again.
pub(crate) const RECHECK: Duration = Duration::from_secs(30);

#[derive(Clone, Copy)]
enum Known {
    /// Seen committed.
    Yes,
    /// Seen inside a transaction at this time, maybe its own mark: trusted for [`RECHECK`].
    Tentative(Instant),
    No(Instant),
}

static KNOWN: LazyLock<Mutex<HashMap<String, Known>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn cached(subject_type: &str) -> Option<bool> {
    let known = KNOWN.lock().unwrap_or_else(|e| e.into_inner());
    match known.get(subject_type)? {
        Known::Yes => Some(true),
        Known::Tentative(at) if at.elapsed() < RECHECK => Some(true),
        Known::No(at) if at.elapsed() < RECHECK => Some(false),
        Known::Tentative(_) | Known::No(_) => None,
    }
}

/// Keeps what was found: `yes` (`committed`: read outside a transaction, or marked by a
/// call that committed it), or no. A "yes" is not undone by a "no" found meanwhile by a
/// check that began before the baseline was marked (until a tentative one expires).
fn remember(subject_type: &str, yes: bool, committed: bool) {
    let mut known = KNOWN.lock().unwrap_or_else(|e| e.into_inner());
    let now = Instant::now();
    let current = known.get(subject_type).copied();
    let new = match (yes, committed, current) {
        (true, true, _) | (_, _, Some(Known::Yes)) => Known::Yes,
        // Seen again, inside a transaction too, at least RECHECK after the first time: a
        // mark that two transactions that far apart both see is committed (unless one
        // transaction made it and is still open after all that time, which is taken as
        // committed too). So a program that writes only in transactions (strict mode)
        // stops asking: on SQLite each check was a read before a deferred transaction's
        // first write, which fails at once under a concurrent writer.
        (true, false, Some(Known::Tentative(at))) if at.elapsed() >= RECHECK => Known::Yes,
        (true, false, _) => Known::Tentative(now),
        (false, _, Some(Known::Tentative(at))) if at.elapsed() < RECHECK => Known::Tentative(at),
        (false, _, _) => Known::No(now),
    };
    known.insert(subject_type.to_owned(), new);
}

/// Lets this process's tentative "yes" answers (read inside transactions) expire now, as
/// they do after [`RECHECK`] (tests of a mark rolled back).
#[doc(hidden)]
pub fn expire_tentative_baselines() {
    let mut known = KNOWN.lock().unwrap_or_else(|e| e.into_inner());
    known.retain(|_, k| !matches!(k, Known::Tentative(_)));
}

/// Forgets what this process knows about baselines (tests that recreate databases).
#[doc(hidden)]
pub fn forget_baselines() {
    KNOWN.lock().unwrap_or_else(|e| e.into_inner()).clear();
}

/// Whether `E`'s rows all have a version. On an insert (`inserting`), an empty table
/// gets its baseline marked on the spot.
pub(crate) async fn has_baseline<E, C>(db: &C, subject_type: &str, inserting: bool) -> Result<bool>
where
    E: EntityTrait,
    C: ConnectionTrait,
{
    if let Some(known) = cached(subject_type) {
        return Ok(known);
    }
    let committed = crate::hooks::is_plain_connection::<C>();
    if is_marked(db, subject_type).await? {
        remember(subject_type, true, committed);
        return Ok(true);
    }
    if inserting {
        let probe = Query::select()
            .expr(Expr::val(1))
            .from(E::default())
            .limit(1)
            .to_owned();
        let empty = db
            .query_one(&probe)
            .await
            .map_err(Error::db("checking whether the audited table is empty"))?
            .is_none();
        if empty {
            mark(db, subject_type, committed).await?;
            return Ok(true);
        }
        // Under READ COMMITTED each statement sees the latest commits: the row found may
        // be another first insert's, committed with its mark after the count above. Ask
        // again, or a busy start would take "no baseline" for that row's sake (and read
        // every row before writing it until RECHECK).
        if is_marked(db, subject_type).await? {
            remember(subject_type, true, committed);
            return Ok(true);
        }
    }
    remember(subject_type, false, committed);
    Ok(false)
}

/// Whether `subject_type` has its baseline mark.
async fn is_marked<C: ConnectionTrait>(db: &C, subject_type: &str) -> Result<bool> {
    Ok(baselines::Entity::find()
        .filter(baselines::Column::SubjectType.eq(subject_type))
        .count(db)
        .await
        .map_err(Error::db("reading the audit baselines"))?
        > 0)
}

/// Records that every row of `subject_type` has a version (`committed`: `db` commits it
/// as it runs, not a transaction that may still roll it back).
pub(crate) async fn mark<C: ConnectionTrait>(
    db: &C,
    subject_type: &str,
    committed: bool,
) -> Result<()> {
    let backend = db.get_database_backend();
    let now = crate::dialect::time(Utc::now().trunc_subsecs(6), backend);
    let stmt = Query::insert()
        .into_table(baselines::Entity)
        .columns([
            baselines::Column::SubjectType,
            baselines::Column::CompletedAt,
        ])
        .values_panic([subject_type.into(), now])
        .on_conflict(
            OnConflict::column(baselines::Column::SubjectType)
                .do_nothing_on([baselines::Column::SubjectType])
                .to_owned(),
        )
        .to_owned();
    db.execute_raw(StatementBuilder::build(&stmt, &backend))
        .await
        .map_err(Error::db("marking the audit baseline"))?;
    remember(subject_type, true, committed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A "yes" seen inside transactions becomes lasting when seen again after RECHECK;
    /// seen again sooner, it stays tentative.
    #[test]
    fn a_mark_seen_twice_far_apart_lasts() {
        let t = "baseline_unit_test_type";
        remember(t, true, false);
        remember(t, true, false);
        assert!(matches!(
            KNOWN.lock().unwrap().get(t),
            Some(Known::Tentative(_))
        ));
        let long_ago = Instant::now() - RECHECK - Duration::from_secs(1);
        KNOWN
            .lock()
            .unwrap()
            .insert(t.to_owned(), Known::Tentative(long_ago));
        remember(t, true, false);
        assert!(matches!(KNOWN.lock().unwrap().get(t), Some(Known::Yes)));
        KNOWN.lock().unwrap().remove(t);
    }

    #[test]
    fn a_late_no_does_not_undo_a_yes() {
        let t = "baseline-unit-test-type";
        remember(t, false, true);
        assert_eq!(cached(t), Some(false));
        remember(t, true, true);
        assert_eq!(cached(t), Some(true));
        // A check that began before the mark and saw a row but no mark ends later.
        remember(t, false, true);
        assert_eq!(cached(t), Some(true));
    }

    #[test]
    fn a_yes_seen_in_a_transaction_expires() {
        let t = "baseline-unit-test-tentative";
        remember(t, true, false);
        assert_eq!(cached(t), Some(true));
        remember(t, false, false);
        assert_eq!(
            cached(t),
            Some(true),
            "a late no does not undo it before it expires"
        );
        expire_tentative_baselines();
        assert_eq!(cached(t), None, "asked again");
        remember(t, true, false);
        remember(t, true, true);
        expire_tentative_baselines();
        assert_eq!(cached(t), Some(true), "confirmed outside a transaction");
    }
}
