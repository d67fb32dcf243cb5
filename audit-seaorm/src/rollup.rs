//! Hourly counts of the activity log (`activity_log_hourly`), so that the dashboard's
//! counts over any window read at most a year of hours instead of every entry.
//!
//! An hour is counted the first time a read needs it, once it is over by [`GRACE`] (an
//! entry is stamped before its transaction commits, so a late commit still lands in an
//! hour not yet counted). Counting an hour is one grouped read of its entries over the
//! time index; its counts and a marker row (the hour's total) are then written with
//! "insert unless present", so two readers counting the same hour agree. What is not a
//! counted hour, the window's ragged ends and the last hours, is counted from the log
//! itself. [`prune`](crate::prune) drops the counts of the hours it deleted entries from,
//! in the transaction that deletes them; counting an hour and writing its counts is one
//! transaction too, and both hold the seal runs' lock, so a count read before a prune's
//! delete committed is never written after it.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Expr, OnConflict, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QuerySelect,
    TransactionSession, TransactionTrait,
};

use crate::entity::{activity_log, hourly};
use crate::{Error, Result};

/// How long after an hour ends its entries are counted: entries of transactions that
/// commit later than this after they were written would be missed.
pub const GRACE: Duration = Duration::hours(1);

/// The subject type of an hour's marker row, which no subject type is.
pub(crate) const MARKER: &str = "\u{1}";

/// The most rows one statement writes (4 parameters each: well under every backend's
/// limit, however many subject types and actions an hour holds).
const ROWS_PER_INSERT: usize = 5_000;

/// Hours counted per transaction: a day, so that counting a year of hours the first time
/// holds the seal runs' lock (see [`count_hours`]; on SQLite the write lock) a day's
/// grouped reads at a time.
const HOURS_PER_TRANSACTION: usize = 24;

/// How many entries a time window holds: [`activity_counts`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ActivityCounts {
    /// Every entry.
    pub total: i64,
    /// Per action.
    pub by_action: BTreeMap<String, i64>,
    /// Per subject type (`""`: entries without a subject).
    pub by_subject_type: BTreeMap<String, i64>,
}

impl ActivityCounts {
    fn add(&mut self, subject_type: String, action: String, n: i64) {
        self.total += n;
        *self.by_action.entry(action).or_default() += n;
        *self.by_subject_type.entry(subject_type).or_default() += n;
    }
}

/// How many entries were written in `[since, until)`, per action and per subject type:
/// what the dashboard shows.
///
/// The whole hours of the window are read from the hourly counts (a year is at most
/// 8,760 hours of rows, whatever the log holds), counting first the hours no read has
/// counted yet: the first call over a long window of an existing log reads that window's
/// entries once, hour by hour, and the calls after it only the hours since. The
/// window's ragged ends and the last hour (see [`GRACE`]) are read from the log. A window
/// that starts before the first entry in it is counted from that entry's hour, so an "all
/// time" window (`DateTime::MIN_UTC`) costs nothing for the empty years; times are read
/// within the years 1000 to 9999, which every backend stores.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = sea_orm::Database::connect("sqlite::memory:").await?;
/// # audit_seaorm::install(&db).await?;
/// use audit_seaorm::{NewActivity, activity_counts, log};
/// use chrono::{Duration, Utc};
/// log(&db, NewActivity::new("viewed").subject("post", 1)).await?;
/// let now = Utc::now();
/// let counts = activity_counts(&db, now - Duration::days(365), now + Duration::seconds(1)).await?;
/// assert_eq!(counts.total, 1);
/// assert_eq!(counts.by_action["viewed"], 1);
/// assert_eq!(counts.by_subject_type["post"], 1);
/// # Ok(())
/// # }
/// ```
pub async fn activity_counts<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<ActivityCounts> {
    counts(db, since, until, &[]).await
}

/// Drops the dashboard's counts of the hours from `since` to `until` (the hours holding
/// them), so that the next read counts those hours again from the log. An hour is counted
/// once, an hour after it ends ([`GRACE`]): entries written into it later (an import
/// with past times, rows copied in, a writer whose clock ran an hour or more behind the
/// reading process's, a
/// transaction that committed more than an hour after it wrote) are in the log but not in
/// its count until then. It takes the lock counting and `prune` take, in a transaction of
/// its own (a savepoint in yours).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = sea_orm::Database::connect("sqlite::memory:").await?;
/// # audit_seaorm::install(&db).await?;
/// use chrono::{Duration, Utc};
/// let now = Utc::now();
/// // After importing a week of old entries:
/// audit_seaorm::recount_activity(&db, now - Duration::days(7), now).await?;
/// # Ok(())
/// # }
/// ```
pub async fn recount_activity<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<()> {
    let (since, until) = (
        crate::dialect::clamp_time(since),
        crate::dialect::clamp_time(until),
    );
    if since > until {
        return Ok(());
    }
    let txn = crate::transaction::begin_own(db)
        .await
        .map_err(Error::db("starting the recount of the hourly counts"))?;
    crate::chain::take_runs_lock(&txn).await?;
    forget(&txn, since, until).await?;
    txn.commit()
        .await
        .map_err(Error::db("committing the recount of the hourly counts"))
}

/// The hour `t` falls in, at any time a trail holds (`duration_trunc` works in
/// nanoseconds: it gives up outside 1677–2262, which an import can reach).
fn floor_hour(t: DateTime<Utc>) -> DateTime<Utc> {
    let hour = t.timestamp().div_euclid(3600) * 3600;
    DateTime::from_timestamp(hour, 0).unwrap_or(t)
}

fn ceil_hour(t: DateTime<Utc>) -> DateTime<Utc> {
    let floor = floor_hour(t);
    if floor == t {
        t
    } else {
        floor + Duration::hours(1)
    }
}

fn at(t: DateTime<Utc>, backend: sea_orm::DbBackend) -> sea_orm::Value {
    crate::dialect::time_value(t, backend)
}

/// The entries written in `[since, until)` per action and subject type, leaving out the
/// `excluded` subject types: the whole hours from their counts (counting those not
/// counted yet), the rest from the log.
pub(crate) async fn counts<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    excluded: &[&str],
) -> Result<ActivityCounts> {
    let mut counts = ActivityCounts::default();
    // Within what every backend's times hold (MySQL's DATETIME: years 1000 to 9999), in
    // whole microseconds as `activity` takes them.
    let (since, until) = (
        crate::dialect::clamp_time(crate::dialect::floor_micros(since)),
        crate::dialect::clamp_time(crate::dialect::floor_micros(until)),
    );
    if since >= until {
        return Ok(counts);
    }
    // The hours before the first entry hold nothing: counting starts at its hour, so a
    // window reaching far back ("all time") costs nothing for the empty years.
    let Some(first_at) = first_entry(db, since, until).await? else {
        return Ok(counts);
    };
    let since = since.max(floor_hour(first_at));
    let first = ceil_hour(since);
    let end = floor_hour(until.min(Utc::now() - GRACE));
    if first >= end {
        count_live(db, since, until, excluded, &mut counts).await?;
        return Ok(counts);
    }
    // One read gives the sums and, in the markers' group, how many hours are counted; a
    // window with hours not counted yet counts them and reads again.
    let mut rows = hour_sums(db, first, end, excluded).await?;
    let counted = |rows: &[(String, String, i64, i64)]| {
        rows.iter().find(|r| r.0 == MARKER).map_or(0, |r| r.3)
    };
    if counted(&rows) < (end - first).num_hours() {
        if !crate::hooks::is_plain_connection::<C>() {
            // In the caller's transaction no counts are written: the runs' lock would be
            // held until it ends, and its snapshot may predate a prune's delete. The
            // window is counted from the log.
            count_live(db, since, until, excluded, &mut counts).await?;
            return Ok(counts);
        }
        count_hours(db, first, end).await?;
        rows = hour_sums(db, first, end, excluded).await?;
    }
    for (subject_type, action, n, _) in rows {
        if subject_type != MARKER {
            counts.add(subject_type, action, n);
        }
    }
    count_live(db, since, first, excluded, &mut counts).await?;
    count_live(db, end, until, excluded, &mut counts).await?;
    Ok(counts)
}

/// The hourly counts of `[first, end)` summed per subject type and action, with how many
/// rows each sum adds up (for the markers' group: the hours counted).
async fn hour_sums<C: ConnectionTrait>(
    db: &C,
    first: DateTime<Utc>,
    end: DateTime<Utc>,
    excluded: &[&str],
) -> Result<Vec<(String, String, i64, i64)>> {
    use hourly::Column as H;
    let backend = db.get_database_backend();
    hourly::Entity::find()
        .select_only()
        .column(H::SubjectType)
        .column(H::Action)
        .column_as(sum_n(backend), "n")
        .column_as(H::Hour.count(), "hours")
        .filter(H::Hour.gte(at(first, backend)))
        .filter(H::Hour.lt(at(end, backend)))
        .filter(H::SubjectType.is_not_in(excluded.iter().copied()))
        .group_by(H::SubjectType)
        .group_by(H::Action)
        .into_tuple()
        .all(db)
        .await
        .map_err(Error::db("reading the hourly counts"))
}

/// Adds the entries of `[since, until)` read from the log itself.
async fn count_live<C: ConnectionTrait>(
    db: &C,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    excluded: &[&str],
    counts: &mut ActivityCounts,
) -> Result<()> {
    if since >= until {
        return Ok(());
    }
    for (subject_type, action, n) in group(db, since, until, excluded).await? {
        counts.add(subject_type, action, n);
    }
    Ok(())
}

/// The entries of `[since, until)` grouped by subject type and action.
async fn group<C: ConnectionTrait>(
    db: &C,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    excluded: &[&str],
) -> Result<Vec<(String, String, i64)>> {
    use activity_log::Column as A;
    let backend = db.get_database_backend();
    activity_log::Entity::find()
        .select_only()
        .column(A::SubjectType)
        .column(A::Action)
        .column_as(A::Id.count(), "n")
        .filter(A::CreatedAt.gte(at(since, backend)))
        .filter(A::CreatedAt.lt(at(until, backend)))
        .filter(A::SubjectType.is_not_in(excluded.iter().copied()))
        .group_by(A::SubjectType)
        .group_by(A::Action)
        .into_tuple()
        .all(db)
        .await
        .map_err(Error::db("counting the activity log"))
}

/// Counts the hours of `[first, end)` not counted yet.
pub(crate) async fn count_hours<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    first: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<u64> {
    use hourly::Column as H;
    let backend = db.get_database_backend();
    let in_range = || {
        hourly::Entity::find()
            .filter(H::SubjectType.eq(MARKER))
            .filter(H::Hour.gte(at(first, backend)))
            .filter(H::Hour.lt(at(end, backend)))
    };
    let hours = (end - first).num_hours();
    let counted: i64 = in_range()
        .select_only()
        .column_as(H::Hour.count(), "n")
        .into_tuple()
        .one(db)
        .await
        .map_err(Error::db("reading the counted hours"))?
        .unwrap_or(0);
    if counted >= hours {
        return Ok(0);
    }
    let counted: BTreeSet<DateTime<Utc>> = in_range()
        .select_only()
        .column(H::Hour)
        .into_tuple()
        .all(db)
        .await
        .map_err(Error::db("reading the counted hours"))?
        .into_iter()
        .collect();
    let missing: Vec<DateTime<Utc>> = (0..hours)
        .map(|h| first + Duration::hours(h))
        .filter(|h| !counted.contains(h))
        .collect();
    tracing::debug!(
        target: "audit_seaorm::rollup",
        hours = missing.len(),
        "counting the activity of hours not counted yet"
    );
    for chunk in missing.chunks(HOURS_PER_TRANSACTION) {
        count_chunk(db, chunk).await?;
    }
    Ok(missing.len() as u64)
}

/// Counts these hours (in order) and writes their counts in one transaction that holds
/// the seal runs' lock, as `prune` does while it deletes entries and forgets the counts
/// of their hours: a count read before such a delete committed is never written after
/// it, which would keep the deleted entries counted for good.
async fn count_chunk<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    hours: &[DateTime<Utc>],
) -> Result<()> {
    use hourly::Column as H;
    let (Some(&first), Some(&last)) = (hours.first(), hours.last()) else {
        return Ok(());
    };
    let txn = crate::transaction::begin_own(db)
        .await
        .map_err(Error::db("starting to count hours of the activity log"))?;
    crate::chain::seal::take_runs_lock(&txn).await?;
    let backend = txn.get_database_backend();
    // Another reader may have counted some of them while this one waited for the lock.
    let done: BTreeSet<DateTime<Utc>> = hourly::Entity::find()
        .select_only()
        .column(H::Hour)
        .filter(H::SubjectType.eq(MARKER))
        .filter(H::Hour.gte(at(first, backend)))
        .filter(H::Hour.lte(at(last, backend)))
        .into_tuple()
        .all(&txn)
        .await
        .map_err(Error::db("reading the counted hours"))?
        .into_iter()
        .collect();
    let hours: Vec<DateTime<Utc>> = hours
        .iter()
        .copied()
        .filter(|h| !done.contains(h))
        .collect();
    let mut reader = HourReader {
        end: last + Duration::hours(1),
        next_entry: None,
        dense: false,
    };
    let mut rows: Vec<[sea_orm::Value; 4]> = Vec::new();
    for &hour in &hours {
        let mut total = 0;
        for (subject_type, action, n) in reader.hour(&txn, hour).await? {
            total += n;
            rows.push([
                at(hour, backend),
                subject_type.into(),
                action.into(),
                n.into(),
            ]);
            if rows.len() >= ROWS_PER_INSERT {
                write_counts(&txn, std::mem::take(&mut rows)).await?;
            }
        }
        // The marker after the hour's counts: an hour whose marker is missing is counted
        // again, and the counts it has already are kept.
        rows.push([at(hour, backend), MARKER.into(), "".into(), total.into()]);
        if rows.len() >= ROWS_PER_INSERT {
            write_counts(&txn, std::mem::take(&mut rows)).await?;
        }
    }
    write_counts(&txn, rows).await?;
    txn.commit()
        .await
        .map_err(Error::db("committing the hourly counts"))
}

/// Inserts counts rows (hour, subject type, action, n), keeping those already there.
async fn write_counts<C: ConnectionTrait>(db: &C, rows: Vec<[sea_orm::Value; 4]>) -> Result<()> {
    use hourly::Column as H;
    if rows.is_empty() {
        return Ok(());
    }
    let mut insert = Query::insert()
        .into_table(hourly::Entity)
        .columns([H::Hour, H::SubjectType, H::Action, H::N])
        .on_conflict(
            OnConflict::columns([H::Hour, H::SubjectType, H::Action])
                .do_nothing_on([H::N])
                .to_owned(),
        )
        .to_owned();
    for row in rows {
        insert.values_panic(row.map(Into::into));
    }
    db.execute(&insert)
        .await
        .map_err(Error::db("writing the hourly counts"))?;
    Ok(())
}

/// Reads the hours to count in order, skipping empty stretches: after an hour with entries
/// it reads the next one straight away (busy logs have entries every hour); after an empty
/// one it first asks where the next entry is (one index probe), and counts nothing until
/// that entry's hour.
struct HourReader {
    /// The end of the last hour to count.
    end: DateTime<Utc>,
    /// The time of the next entry, once asked: `Some(None)` when there is none before `end`.
    next_entry: Option<Option<DateTime<Utc>>>,
    /// The last hour read had entries.
    dense: bool,
}

impl HourReader {
    async fn hour<C: ConnectionTrait>(
        &mut self,
        db: &C,
        hour: DateTime<Utc>,
    ) -> Result<Vec<(String, String, i64)>> {
        let next_hour = hour + Duration::hours(1);
        if !self.dense {
            let next = match self.next_entry {
                Some(known) if known.is_none_or(|t| t >= hour) => known,
                _ => {
                    let probed = first_entry(db, hour, self.end).await?;
                    self.next_entry = Some(probed);
                    probed
                }
            };
            if next.is_none_or(|t| t >= next_hour) {
                return Ok(Vec::new());
            }
        }
        let groups = group(db, hour, next_hour, &[]).await?;
        self.dense = !groups.is_empty();
        self.next_entry = None;
        Ok(groups)
    }
}

/// The time of the first entry in `[since, until)`.
async fn first_entry<C: ConnectionTrait>(
    db: &C,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>> {
    use activity_log::Column as A;
    use sea_orm::QueryOrder;
    let backend = db.get_database_backend();
    activity_log::Entity::find()
        .select_only()
        .column(A::CreatedAt)
        .filter(A::CreatedAt.gte(at(since, backend)))
        .filter(A::CreatedAt.lt(at(until, backend)))
        .order_by_asc(A::CreatedAt)
        .limit(1)
        .into_tuple()
        .one(db)
        .await
        .map_err(Error::db("finding the next hour with entries"))
}

/// `SUM(n)` as a 64-bit integer (PostgreSQL sums a `bigint` to a `numeric`, MySQL to a
/// `DECIMAL`).
fn sum_n(backend: DbBackend) -> Expr {
    Expr::cust(match backend {
        DbBackend::Postgres => "CAST(SUM(n) AS BIGINT)",
        DbBackend::MySql => "CAST(SUM(n) AS SIGNED)",
        _ => "SUM(n)",
    })
}

/// Drops the counts of the hours that `[first, last]` touches (entries were deleted
/// there): they are counted again when next read.
pub(crate) async fn forget<C: ConnectionTrait>(
    db: &C,
    first: DateTime<Utc>,
    last: DateTime<Utc>,
) -> Result<()> {
    use hourly::Column as H;
    let backend = db.get_database_backend();
    hourly::Entity::delete_many()
        .filter(H::Hour.gte(at(floor_hour(first), backend)))
        .filter(H::Hour.lte(at(floor_hour(last), backend)))
        .exec(db)
        .await
        .map_err(Error::db("dropping the hourly counts of pruned hours"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_round_to_their_bounds() {
        let t: DateTime<Utc> = "2026-03-01T10:15:00.5Z".parse().unwrap();
        assert_eq!(floor_hour(t).to_rfc3339(), "2026-03-01T10:00:00+00:00");
        assert_eq!(ceil_hour(t).to_rfc3339(), "2026-03-01T11:00:00+00:00");
        let whole: DateTime<Utc> = "2026-03-01T10:00:00Z".parse().unwrap();
        assert_eq!(ceil_hour(whole), whole);
        // Beyond the years nanoseconds reach (an import's times): still on the hour.
        for (t, floor, ceil) in [
            (
                "1600-01-01T00:30:00Z",
                "1600-01-01T00:00:00+00:00",
                "1600-01-01T01:00:00+00:00",
            ),
            (
                "9999-12-31T22:59:59.9Z",
                "9999-12-31T22:00:00+00:00",
                "9999-12-31T23:00:00+00:00",
            ),
        ] {
            let t: DateTime<Utc> = t.parse().unwrap();
            assert_eq!(floor_hour(t).to_rfc3339(), floor);
            assert_eq!(ceil_hour(t).to_rfc3339(), ceil);
        }
    }
}
