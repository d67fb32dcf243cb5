//! What the seal runs read through and left behind (`{activity_log}_seal_gaps`), so that
//! a sweep of [`seal`](crate::seal) looks only where a row can have committed behind a
//! run: at the ids a run passed without sealing.
//!
//! A run reads the unsealed rows above the last run's ids in id order; every id it passes
//! that it does not seal is one whose row had not committed yet (or never will: a
//! rollback), or a row it held back. It records the range it read through (a pass) and
//! those ids (its gaps). A sweep then reads the gaps behind the last run instead of every
//! row since the runs' floor, provided the passes cover every id from the floor to the
//! last run's; where they do not (the runs before this table existed, or runs of an
//! earlier version beside this one) it reads every row, as before.

use sea_orm::ActiveValue::Set;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::hash::Kind;
use crate::entity::seal_gaps;
use crate::{Error, Result};

/// A sweep reads every row rather than the gaps when the runs left more gaps than this
/// behind the last run (each is a range of the rows' index a sweep reads; rows it finds
/// there cost what they cost in a sweep of every row, ids without a row nothing): this
/// bounds what a sweep holds in memory.
const MOST: usize = 100_000;

/// Ranges recorded per statement (five parameters each).
const CHUNK: usize = 1000;

/// The gaps of `kind` behind the last run that a sweep looks at: the ranges of ids the
/// runs left unsealed in `(floor, top]`, merged, in order; or `None` when the recorded
/// passes do not cover that range or there are more than [`MOST`] (then the sweep reads
/// every row).
pub(crate) async fn behind<C: ConnectionTrait>(
    db: &C,
    kind: Kind,
    floor: i64,
    top: i64,
) -> Result<Option<Vec<Ids>>> {
    if top <= floor {
        return Ok(Some(Vec::new()));
    }
    let passes = ranges(db, kind, false, floor, top).await?;
    if !covers(passes, floor, top) {
        return Ok(None);
    }
    let gaps = ranges(db, kind, true, floor, top).await?;
    let merged = merge(gaps, floor, top);
    Ok((merged.len() <= MOST).then_some(merged))
}

/// `ranges` clipped to `(floor, top]`, sorted, overlapping and adjacent ones merged.
fn merge(mut ranges: Vec<Ids>, floor: i64, top: i64) -> Vec<Ids> {
    ranges.sort_unstable();
    let mut out: Vec<Ids> = Vec::new();
    for (first, last) in ranges {
        let (first, last) = (Ord::max(first, floor + 1), Ord::min(last, top));
        if first > last {
            continue;
        }
        match out.last_mut() {
            Some(prev) if first <= prev.1.saturating_add(1) => prev.1 = Ord::max(prev.1, last),
            _ => out.push((first, last)),
        }
    }
    out
}

/// The passes (`gap` false) or gaps (`gap` true) of `kind` that reach into `(floor, top]`.
async fn ranges<C: ConnectionTrait>(
    db: &C,
    kind: Kind,
    gap: bool,
    floor: i64,
    top: i64,
) -> Result<Vec<(i64, i64)>> {
    use seal_gaps::Column as G;
    seal_gaps::Entity::find()
        .select_only()
        .columns([G::FirstId, G::LastId])
        .filter(G::Kind.eq(kind.code()))
        .filter(G::Gap.eq(gap))
        .filter(G::LastId.gt(floor))
        .filter(G::FirstId.lte(top))
        .order_by_asc(G::LastId)
        .into_tuple()
        .all(db)
        .await
        .map_err(Error::db("reading the seal runs' gaps"))
}

/// Whether `passes` (inclusive ranges) hold every id in `(floor, top]`.
fn covers(mut passes: Vec<(i64, i64)>, floor: i64, top: i64) -> bool {
    passes.sort_unstable();
    let mut reach = floor;
    for (first, last) in passes {
        if reach >= top || first > reach + 1 {
            break;
        }
        reach = Ord::max(reach, last);
    }
    reach >= top
}

/// A range of ids, first and last.
pub(crate) type Ids = (i64, i64);

/// What a run passed in one table.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Pass {
    /// The ids it read through (`None`: none).
    pub read: Option<Ids>,
    /// The ids it left unsealed: in `read` without a row, or rows it held back until
    /// their time (anywhere).
    pub gaps: Vec<Ids>,
}

/// What a run passed reading the unsealed rows above `after`, given the ids it found (in
/// order) and those of them it held back until their time.
pub(crate) fn passed(after: i64, found: &[i64], waiting: &[i64]) -> Pass {
    let waited = waiting.iter().map(|&id| (id, id));
    let above: Vec<i64> = found.iter().copied().filter(|&id| id > after).collect();
    let Some(&last) = above.last() else {
        return Pass {
            read: None,
            gaps: waited.collect(),
        };
    };
    let mut gaps = Vec::new();
    let mut prev = after;
    for &id in &above {
        if id > prev + 1 {
            gaps.push((prev + 1, id - 1));
        }
        prev = id;
    }
    gaps.extend(waited);
    Pass {
        read: Some((after + 1, last)),
        gaps,
    }
}

/// Records run `run`'s pass over `kind`.
pub(crate) async fn record<C: ConnectionTrait>(
    db: &C,
    run: i64,
    kind: Kind,
    Pass { read, gaps }: &Pass,
) -> Result<()> {
    let rows: Vec<seal_gaps::ActiveModel> = read
        .iter()
        .copied()
        .map(|r| (false, r))
        .chain(gaps.iter().map(|&r| (true, r)))
        .map(|(gap, (first, last))| seal_gaps::ActiveModel {
            kind: Set(kind.code()),
            gap: Set(gap),
            last_id: Set(last),
            run: Set(run),
            first_id: Set(first),
        })
        .collect();
    for chunk in rows.chunks(CHUNK) {
        seal_gaps::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(db)
            .await
            .map_err(Error::db("recording a seal run's gaps"))?;
    }
    Ok(())
}

/// Forgets the passes and gaps of `kind` that end at or below the runs' floor: rows left
/// unsealed there are late for good, and no sweep looks there.
pub(crate) async fn forget<C: ConnectionTrait>(db: &C, kind: Kind, floor: i64) -> Result<()> {
    seal_gaps::Entity::delete_many()
        .filter(seal_gaps::Column::Kind.eq(kind.code()))
        .filter(seal_gaps::Column::LastId.lte(floor))
        .exec(db)
        .await
        .map_err(Error::db("forgetting the seal runs' old gaps"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pass_holds_the_ids_it_read_through_and_its_gaps_those_it_did_not_find() {
        let pass = |read, gaps: &[Ids]| Pass {
            read,
            gaps: gaps.to_vec(),
        };
        assert_eq!(passed(10, &[], &[]), pass(None, &[]));
        assert_eq!(passed(10, &[11, 12, 13], &[]), pass(Some((11, 13)), &[]));
        assert_eq!(
            passed(10, &[13, 14, 18], &[14]),
            pass(Some((11, 18)), &[(11, 12), (15, 17), (14, 14)])
        );
        // Rows at or below `after` (read behind the last run) pass nothing there, but
        // one held back is a gap.
        assert_eq!(
            passed(10, &[3, 7, 12], &[3]),
            pass(Some((11, 12)), &[(11, 11), (3, 3)])
        );
        assert_eq!(passed(10, &[3, 7], &[3]), pass(None, &[(3, 3)]));
    }

    #[test]
    fn gaps_are_clipped_and_merged() {
        assert_eq!(merge(vec![], 0, 10), vec![]);
        assert_eq!(
            merge(
                vec![(8, 9), (1, 3), (2, 5), (6, 6), (12, 20), (0, 0)],
                0,
                15
            ),
            vec![(1, 6), (8, 9), (12, 15)]
        );
        assert_eq!(merge(vec![(3, 7), (9, 9)], 5, 8), vec![(6, 7)]);
    }

    #[test]
    fn passes_cover_a_range_only_without_a_hole() {
        assert!(covers(vec![], 5, 5));
        assert!(!covers(vec![], 5, 6));
        assert!(covers(vec![(6, 9), (1, 5), (10, 20)], 5, 20));
        assert!(covers(vec![(1, 30)], 5, 20));
        assert!(covers(vec![(6, 12), (8, 20)], 5, 20), "overlapping");
        assert!(!covers(vec![(6, 9), (11, 20)], 5, 20), "10 is missing");
        assert!(!covers(vec![(7, 20)], 5, 20), "6 is missing");
        assert!(!covers(vec![(6, 19)], 5, 20), "20 is missing");
    }
}
