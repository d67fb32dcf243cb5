//! Which subject types have a baseline: every row of theirs has a version, so the latest
//! version is a row's old state and the hooks read no row.
//!
//! A type gets its baseline from [`backfill`](crate::backfill), or by itself when its
//! first audited insert finds the table empty (nothing predates auditing). Until then its
//! updates and deletes read the row first (one `SELECT`, locked in a transaction), so a
//! row older than auditing gets a truthful baseline version the first time it is written.
//!
//! The answer is kept per subject type for the life of the process ("yes" for good, "no"
//! for [`RECHECK`]): a program that audits one type in several databases runs `backfill`
//! on each.

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
    Yes,
    No(Instant),
}

static KNOWN: LazyLock<Mutex<HashMap<String, Known>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn cached(subject_type: &str) -> Option<bool> {
    let known = KNOWN.lock().unwrap_or_else(|e| e.into_inner());
    match known.get(subject_type)? {
        Known::Yes => Some(true),
        Known::No(at) if at.elapsed() < RECHECK => Some(false),
        Known::No(_) => None,
    }
}

/// Keeps what was found. "Yes" stays for good: a "no" found meanwhile by a check that
/// began before the baseline was marked does not undo it.
fn remember(subject_type: &str, yes: bool) {
    let mut known = KNOWN.lock().unwrap_or_else(|e| e.into_inner());
    if !yes && matches!(known.get(subject_type), Some(Known::Yes)) {
        return;
    }
    known.insert(
        subject_type.to_owned(),
        if yes {
            Known::Yes
        } else {
            Known::No(Instant::now())
        },
    );
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
    if is_marked(db, subject_type).await? {
        remember(subject_type, true);
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
            mark(db, subject_type).await?;
            return Ok(true);
        }
        // Under READ COMMITTED each statement sees the latest commits: the row found may
        // be another first insert's, committed with its mark after the count above. Ask
        // again, or a busy start would take "no baseline" for that row's sake (and read
        // every row before writing it until RECHECK).
        if is_marked(db, subject_type).await? {
            remember(subject_type, true);
            return Ok(true);
        }
    }
    remember(subject_type, false);
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

/// Records that every row of `subject_type` has a version.
pub(crate) async fn mark<C: ConnectionTrait>(db: &C, subject_type: &str) -> Result<()> {
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
    remember(subject_type, true);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_late_no_does_not_undo_a_yes() {
        let t = "baseline-unit-test-type";
        remember(t, false);
        assert_eq!(cached(t), Some(false));
        remember(t, true);
        assert_eq!(cached(t), Some(true));
        // A check that began before the mark and saw a row but no mark ends later.
        remember(t, false);
        assert_eq!(cached(t), Some(true));
    }
}
