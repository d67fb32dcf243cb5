//! [`seal`]: links the rows written since the last run into their chains.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, SubsecRound, Utc};
use sea_orm::sea_query::{DynIden, Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Statement, TransactionSession, TransactionTrait,
};

use super::gaps;
use super::hash::{self, GENESIS, Hash, Kind, Row, Salts};
use crate::entity::{chains, seal_runs, seals};
use crate::{Error, Result};

/// How late a row may commit after it was written (its `created_at`) and still be
/// sealed: a row that shows up later than this after a run that caught up is held back
/// (left unsealed), and [`verify`](crate::verify) reports it as
/// [`Inserted`](crate::BreakReason::Inserted) until [`seal_late`] seals it.
pub const SEAL_GRACE: Duration = Duration::minutes(10);

/// How often [`seal`] looks behind the last run for rows that committed after rows with
/// higher ids were sealed (a sweep of the last [`SEAL_GRACE`] or so of the trail, at the
/// ids the runs passed without sealing them): a call sweeps when the last sweep that
/// caught up began this long ago or more; the calls in between read only the rows written
/// since the last run. [`seal_all`] sweeps whenever it is called.
pub const SEAL_SWEEP: Duration = Duration::minutes(1);

/// Rows of each table sealed per step (one transaction).
pub(crate) const PAGE: u64 = 1000;

/// What [`seal`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Sealed {
    /// Rows linked into their chains.
    pub rows: u64,
    /// Rows left unsealed because they appeared more than [`SEAL_GRACE`] after their
    /// `created_at`, behind a run that had caught up (rows inserted into the past, or
    /// written by a transaction that took that long to commit), or because their
    /// `created_at` is more than [`SEAL_GRACE`] ahead of the run's clock (they wait for
    /// their time), or, on PostgreSQL, because their id is above the last one their
    /// table's sequence gave (see [`above_sequence`](Self::above_sequence)).
    pub held_back: u64,
    /// Of [`held_back`](Self::held_back), the rows held back on PostgreSQL because their
    /// id is above the last one their table's sequence gave: inserted with an id of their
    /// own (an import copying ids), they are never sealed, and `verify` reports them
    /// `inserted` once they are late.
    pub above_sequence: u64,
    /// Steps committed (one transaction each).
    pub steps: u64,
    /// Whether the call swept: looked behind the last run too (see [`SEAL_SWEEP`]).
    pub swept: bool,
    /// With a sweep that looked only where the runs since the floor left ids unsealed
    /// behind them (rows not committed yet, rolled back, held back): how many such gaps
    /// (ranges of ids) it read. `None` when the call did not sweep, or when its sweep
    /// read every row since the floor: [`seal_all`], or where the runs' record of their
    /// gaps does not reach back that far (the first sweeps on a trail the record began
    /// on later).
    pub swept_gaps: Option<u64>,
}

/// Links every row of `activity_log` and `versions` written since the last run into its
/// subject's chain, in steps of at most 1,000 rows of each table, one transaction each.
///
/// A chain holds the rows of one table about one subject, in the order they were sealed;
/// each link's hash covers the row's stored content and the link before it (see the
/// README's "Tamper evidence"). Writers never wait for it: run it from a job every few
/// seconds or minutes (the time between a write and its seal is the time in which the
/// row could be changed without a trace), and before a [`checkpoint`](crate::checkpoint).
/// Concurrent runs take turns. The first run on an existing trail seals all of it.
///
/// Most calls read only the rows with ids above the last run's: their cost follows the
/// rows written since. Once every [`SEAL_SWEEP`] a call also looks behind (a sweep) for
/// rows whose transaction committed after rows with higher ids were sealed: at the ids
/// the runs passed without sealing them (`{activity_log}_seal_gaps`), or, where the runs'
/// record of those does not reach back far enough, at every row since the runs' floor, as
/// [`seal_all`] does.
///
/// ```no_run
/// # async fn job(db: &sea_orm::DatabaseConnection) -> audit_seaorm::Result<()> {
/// let sealed = audit_seaorm::seal(db).await?;
/// tracing::info!(rows = sealed.rows, "audit trail sealed");
/// # Ok(()) }
/// ```
pub async fn seal<C: ConnectionTrait + TransactionTrait>(db: &C) -> Result<Sealed> {
    run(db, false).await
}

/// [`seal`], and a sweep whether or not one is due, of every row since the runs' floor
/// (not only the ids the runs passed without sealing them): links every unsealed row that
/// is not late, however far behind the last run it sits.
///
/// ```no_run
/// # async fn job(db: &sea_orm::DatabaseConnection) -> audit_seaorm::Result<()> {
/// let sealed = audit_seaorm::seal_all(db).await?;
/// assert!(sealed.swept);
/// # Ok(()) }
/// ```
pub async fn seal_all<C: ConnectionTrait + TransactionTrait>(db: &C) -> Result<Sealed> {
    run(db, true).await
}

/// Seals rows that [`seal`] held back as late, once someone has checked them: rows
/// `verify` reports as [`Inserted`](crate::BreakReason::Inserted) because their
/// transaction committed more than [`SEAL_GRACE`] after it wrote them, and that are
/// genuine. `rows` names each by its table (`"activity_log"` or `"versions"`, as in
/// [`Break::table`](crate::Break::table)) and id.
///
/// All or nothing, in one transaction: each row is linked at the end of its chain (a
/// chain is in seal order), and a `sealed_late` entry (no subject; the causer in scope)
/// records the rows and `reason`, so that accepting rows is on the trail itself. A row
/// that is already sealed, or that does not exist, is an error and nothing is sealed.
///
/// ```no_run
/// # async fn job(db: &sea_orm::DatabaseConnection) -> audit_seaorm::Result<()> {
/// let sealed = audit_seaorm::seal_late(
///     db,
///     &[("activity_log", 4711), ("versions", 2208)],
///     "the nightly import's transaction committed after 25 minutes (ticket OPS-1234)",
/// )
/// .await?;
/// assert_eq!(sealed.rows, 2);
/// # Ok(()) }
/// ```
pub async fn seal_late<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    rows: &[(&str, i64)],
    reason: &str,
) -> Result<Sealed> {
    if let Some((table, _)) = rows
        .iter()
        .find(|(t, _)| Kind::ALL.iter().all(|k| k.table() != *t))
    {
        return Err(Error::InvalidArgument(format!(
            "no audit table `{table}`: late rows are in `activity_log` or `versions`"
        )));
    }
    let txn = crate::transaction::begin_own(db)
        .await
        .map_err(Error::db("starting to seal late rows"))?;
    let runs = lock_runs(&txn).await?;
    // (after the lock, and never before the last run's time)
    let now = Ord::max(Utc::now().trunc_subsecs(6), runs.latest.sealed_at);
    let run = runs.latest.run + 1;
    let mut sealed = 0;
    for kind in Kind::ALL {
        let mut ids: Vec<i64> = rows
            .iter()
            .filter(|(t, _)| *t == kind.table())
            .map(|(_, id)| *id)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            continue;
        }
        // A page at a time, in id order as a sweep links them: each page's links and heads
        // are one statement within every backend's limit on parameters, and memory holds a
        // page. (An error leaves nothing: the transaction is not committed.)
        for chunk in ids.chunks(PAGE as usize) {
            let read = super::rows::Rows {
                unsealed: true,
                ids: Some(chunk),
                limit: PAGE,
                ..Default::default()
            };
            let found = read.read(&txn, kind).await?;
            let found_ids: std::collections::BTreeSet<i64> = found.iter().map(Row::id).collect();
            if let Some(id) = chunk.iter().find(|id| !found_ids.contains(id)) {
                return Err(Error::InvalidArgument(format!(
                    "{} row {id} is not an unsealed row: nothing sealed",
                    kind.table()
                )));
            }
            sealed += link(&txn, kind, found, run).await?;
        }
    }
    seal_runs::Entity::insert(seal_runs::ActiveModel {
        run: Set(run),
        sealed_at: Set(now),
        rows: Set(sealed as i64),
        log_max_id: Set(runs.latest.log_max_id),
        versions_max_id: Set(runs.latest.versions_max_id),
        // Not a sweep: the late line stays where the last sweep put it.
        complete: Set(false),
        ..origin()
    })
    .exec_without_returning(&txn)
    .await
    .map_err(Error::db("recording a seal run"))?;
    let named: Vec<serde_json::Value> = rows
        .iter()
        .map(|(table, id)| serde_json::json!({"table": table, "id": id}))
        .collect();
    crate::api::log(
        &txn,
        crate::NewActivity::new(SEALED_LATE).properties(serde_json::json!({
            "rows": named,
            "reason": reason,
            "run": run,
        })),
    )
    .await?;
    txn.commit()
        .await
        .map_err(Error::db("committing the late rows' seal"))?;
    Ok(Sealed {
        rows: sealed,
        held_back: 0,
        above_sequence: 0,
        steps: 1,
        swept: false,
        swept_gaps: None,
    })
}

/// The action of the entry [`seal_late`] writes.
pub const SEALED_LATE: &str = "sealed_late";

async fn run<C: ConnectionTrait + TransactionTrait>(db: &C, all: bool) -> Result<Sealed> {
    let mut total = Sealed::default();
    // Where this call's previous step stopped reading, per table: each step reads on
    // from there, so that sealing a long trail reads it once. The first step decides
    // where to start (behind the last run when sweeping).
    let mut from: Option<From> = None;
    loop {
        let txn = crate::transaction::begin_own(db)
            .await
            .map_err(Error::db("starting a seal step"))?;
        let step = step(&txn, from, all).await?;
        txn.commit()
            .await
            .map_err(Error::db("committing a seal step"))?;
        total.rows += step.rows;
        total.held_back += step.held_back;
        total.above_sequence += step.above_sequence;
        total.steps += u64::from(step.committed);
        total.swept = step.from.sweep;
        total.swept_gaps = step.from.swept_gaps;
        from = Some(step.from);
        if step.complete {
            let late = total.held_back - total.above_sequence;
            if late > 0 {
                tracing::warn!(
                    held_back = late,
                    "audit: rows appeared more than SEAL_GRACE after they were written (or \
                     are dated more than SEAL_GRACE ahead); they are left unsealed and \
                     `verify` reports them"
                );
            }
            if total.above_sequence > 0 {
                tracing::warn!(
                    held_back = total.above_sequence,
                    "audit: rows carry ids above the last one their table's sequence gave \
                     (inserted with ids of their own); they are left unsealed and `verify` \
                     reports them"
                );
            }
            return Ok(total);
        }
    }
}

/// Where a call's steps read from.
#[derive(Debug)]
struct From {
    /// Ids above these, per table (log, versions).
    after: (i64, i64),
    /// Whether the call sweeps (looks behind the last run too).
    sweep: bool,
    /// The gaps behind the last run a sweep looks at, per table (log, versions), where the
    /// runs' record tells ([`gaps::behind`]); a sweep of a table without reads every row
    /// above `after` (the floor).
    behind: (Behind, Behind),
    /// The gaps behind the last run the sweep looks at ([`Sealed::swept_gaps`]).
    swept_gaps: Option<u64>,
    /// When its first step began (a sweep that caught up is recorded at that time).
    started: DateTime<Utc>,
}

/// The gaps a sweep has still to look at, in order.
#[derive(Debug, Default)]
struct Behind {
    gaps: Vec<gaps::Ids>,
    /// The first gap not read through.
    next: usize,
    /// The last id read in it.
    after: i64,
}

impl Behind {
    /// Gaps read in one statement, at most.
    const READ: usize = 200;

    /// The next gaps to read (the first from after the last id read), for a page of at
    /// most `room` rows: as many as hold at most `room` ids between them, read whole in
    /// one statement without `ORDER BY` or `LIMIT` (`false`), or else one larger gap, read
    /// in id order up to `room` rows (`true`).
    fn ahead(&self, room: u64) -> (Vec<gaps::Ids>, bool) {
        let mut out = Vec::new();
        let mut ids = 0;
        for (i, &(first, last)) in self.gaps.iter().enumerate().skip(self.next) {
            let first = if i == self.next {
                Ord::max(first, self.after + 1)
            } else {
                first
            };
            let n = u64::try_from(last - first + 1).unwrap_or(0);
            if out.is_empty() && n > room {
                return (vec![(first, last)], true);
            }
            if ids + n > room || out.len() == Self::READ {
                break;
            }
            ids += n;
            out.push((first, last));
        }
        (out, false)
    }

    /// Moves on past `read` (the gaps [`Self::ahead`] gave), all of them or, when they
    /// were read in order and the page was full, up to id `last`.
    fn advance(&mut self, read: &[gaps::Ids], full: bool, last: Option<i64>) {
        match last.filter(|_| full) {
            Some(last) => {
                self.after = last;
                while self.gaps.get(self.next).is_some_and(|g| g.1 <= last) {
                    self.next += 1;
                }
            }
            None => self.next += read.len(),
        }
    }

    fn done(&self) -> bool {
        self.next >= self.gaps.len()
    }
}

/// The run with number 0, whose row the runs lock to take turns.
pub(crate) async fn ensure_origin<C: ConnectionTrait>(db: &C) -> Result<()> {
    const CONTEXT: &str = "creating the seal runs' origin";
    if seal_runs::Entity::find_by_id(0)
        .one(db)
        .await
        .map_err(Error::db(CONTEXT))?
        .is_some()
    {
        return Ok(());
    }
    seal_runs::Entity::insert(origin())
        .exec_without_returning(db)
        .await
        .map_err(Error::db(CONTEXT))?;
    Ok(())
}

/// The origin row's `INSERT` (doing nothing when it is there), as text for
/// [`install_sql`](crate::install_sql): run by a schema tool instead of `install`.
pub(crate) fn origin_sql(backend: sea_orm::DbBackend) -> String {
    use sea_orm::sea_query::{
        MysqlQueryBuilder, OnConflict, PostgresQueryBuilder, Query, SqliteQueryBuilder,
    };
    use seal_runs::Column as R;
    let epoch = DateTime::<Utc>::UNIX_EPOCH;
    // (MySQL's DATETIME takes no offset: the time as UTC's wall clock, as sqlx binds it.)
    let sealed_at: sea_orm::Value = match backend {
        sea_orm::DbBackend::MySql => epoch.naive_utc().into(),
        _ => epoch.into(),
    };
    let mut insert = Query::insert();
    insert
        .into_table(seal_runs::Entity)
        .columns([
            R::Run,
            R::SealedAt,
            R::Rows,
            R::LogMaxId,
            R::VersionsMaxId,
            R::Complete,
        ])
        .values_panic([
            0i64.into(),
            sealed_at.into(),
            0i64.into(),
            0i64.into(),
            0i64.into(),
            false.into(),
        ])
        .on_conflict(
            OnConflict::column(R::Run)
                .do_nothing_on([R::Run])
                .to_owned(),
        );
    match backend {
        sea_orm::DbBackend::MySql => insert.to_string(MysqlQueryBuilder),
        sea_orm::DbBackend::Postgres => insert.to_string(PostgresQueryBuilder),
        _ => insert.to_string(SqliteQueryBuilder),
    }
}

fn origin() -> seal_runs::ActiveModel {
    seal_runs::ActiveModel {
        run: Set(0),
        sealed_at: Set(DateTime::UNIX_EPOCH),
        rows: Set(0),
        log_max_id: Set(0),
        versions_max_id: Set(0),
        complete: Set(false),
        chains: Set(None),
        root: Set(None),
        public_key: Set(None),
        signature: Set(None),
    }
}

/// Where the runs stand, read holding the runs' lock.
pub(crate) struct Runs {
    pub latest: seal_runs::Model,
    /// When the last run that swept and caught up committed.
    pub swept_at: Option<DateTime<Utc>>,
    /// Which unsealed rows are late.
    pub late: Late,
}

/// Which unsealed rows are late: [`seal`] holds them back and [`verify`](crate::verify)
/// reports them as [`Inserted`](crate::BreakReason::Inserted), where the others are
/// pending (waiting for the next run).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Late {
    /// Rows written before this are late; `None` until a run swept and caught up.
    pub before: Option<DateTime<Utc>>,
    /// Rows with ids up to these were sealed by a run at least [`SEAL_GRACE`] older than
    /// the last run that swept and caught up: the rows still unsealed there are late, and
    /// runs skip them.
    pub floor: (i64, i64),
}

impl Late {
    /// Reads where the runs stand, from the runs' own times (no reader's clock):
    /// [`lock_runs`] reads it holding the runs' lock; [`verify`](crate::verify) reads it
    /// as it stands.
    pub(crate) async fn read<C: ConnectionTrait>(
        db: &C,
    ) -> Result<(Late, Option<seal_runs::Model>)> {
        const CONTEXT: &str = "reading the seal runs";
        let complete = || {
            seal_runs::Entity::find()
                .filter(seal_runs::Column::Complete.eq(true))
                .order_by_desc(seal_runs::Column::Run)
        };
        let caught_up = complete().one(db).await.map_err(Error::db(CONTEXT))?;
        // The floor is measured from the last sweep that caught up, not from now: a row
        // behind a run that is still unsealed after a sweep at least SEAL_GRACE later
        // committed more than SEAL_GRACE after it was written. (From now, a row that
        // committed just after the only run of the last half hour would be skipped,
        // though it was not late for the sweep that meets it first.)
        let settled = match &caught_up {
            Some(swept) => complete()
                .filter(seal_runs::Column::SealedAt.lte(swept.sealed_at - SEAL_GRACE))
                .one(db)
                .await
                .map_err(Error::db(CONTEXT))?,
            None => None,
        };
        let late = Late {
            before: caught_up.as_ref().map(|r| r.sealed_at - SEAL_GRACE),
            floor: settled.map_or((0, 0), |r| (r.log_max_id, r.versions_max_id)),
        };
        Ok((late, caught_up))
    }

    pub(crate) fn floor(&self, kind: Kind) -> i64 {
        match kind {
            Kind::Log => self.floor.0,
            Kind::Versions => self.floor.1,
        }
    }

    /// Whether `row`, of `kind` and without a link, is late: written before the late
    /// line, or behind the floor (the runs have moved past it for good, as past a row
    /// dated ahead that they held back until the floor passed it).
    pub(crate) fn is_late(&self, kind: Kind, row: &Row) -> bool {
        row.id() <= self.floor(kind) || self.before.is_some_and(|t| row.created_at() < t)
    }
}

/// Takes the runs' lock (the origin row, `FOR UPDATE`; on SQLite the write lock the
/// transaction began with): seal steps, re-anchoring and retention's marks take turns.
pub(crate) async fn take_runs_lock<C: ConnectionTrait>(db: &C) -> Result<()> {
    seal_runs::Entity::find_by_id(0)
        .lock_exclusive()
        .one(db)
        .await
        .map_err(Error::db("taking the seal runs' lock"))?
        .ok_or_else(|| {
            Error::Chain(
                "the seal runs' table has no origin row: run `audit_seaorm::install` first"
                    .to_owned(),
            )
        })?;
    Ok(())
}

/// Takes the runs' lock ([`take_runs_lock`]) and reads where the runs stand.
pub(crate) async fn lock_runs<C: ConnectionTrait>(db: &C) -> Result<Runs> {
    take_runs_lock(db).await?;
    let latest = seal_runs::Entity::find()
        .order_by_desc(seal_runs::Column::Run)
        .one(db)
        .await
        .map_err(Error::db("reading the seal runs"))?
        .ok_or_else(|| Error::Chain("the seal runs' table is empty".to_owned()))?;
    let (late, caught_up) = Late::read(db).await?;
    Ok(Runs {
        latest,
        swept_at: caught_up.map(|r| r.sealed_at),
        late,
    })
}

struct Step {
    from: From,
    rows: u64,
    held_back: u64,
    above_sequence: u64,
    complete: bool,
    committed: bool,
}

/// Where a call's first step starts: above the last run's ids, or, when a sweep is due
/// (or `all`), behind them too: at the ids the runs left behind where their gaps tell, or
/// at every row since the runs' floor (`all`, or where the runs' record does not reach).
async fn start<C: ConnectionTrait>(
    db: &C,
    runs: &Runs,
    now: DateTime<Utc>,
    all: bool,
) -> Result<From> {
    let top = (runs.latest.log_max_id, runs.latest.versions_max_id);
    let mut from = From {
        after: top,
        sweep: false,
        behind: Default::default(),
        swept_gaps: None,
        started: now,
    };
    if !all && runs.swept_at.is_some_and(|t| t > now - SEAL_SWEEP) {
        return Ok(from);
    }
    from.sweep = true;
    from.swept_gaps = Some(0);
    for kind in Kind::ALL {
        let floor = runs.late.floor(kind);
        let (after, behind) = match kind {
            Kind::Log => (&mut from.after.0, &mut from.behind.0),
            Kind::Versions => (&mut from.after.1, &mut from.behind.1),
        };
        // What ends at or below the floor is of no use to a sweep any more.
        gaps::forget(db, kind, floor).await?;
        let ids = if all {
            None
        } else {
            gaps::behind(db, kind, floor, *after).await?
        };
        match ids {
            Some(gaps) => {
                if let Some(n) = &mut from.swept_gaps {
                    *n += gaps.len() as u64;
                }
                *behind = Behind {
                    gaps,
                    ..Default::default()
                };
            }
            None => {
                from.swept_gaps = None;
                *after = 0;
            }
        }
    }
    Ok(from)
}

async fn step<C: ConnectionTrait>(db: &C, from: Option<From>, all: bool) -> Result<Step> {
    let runs = lock_runs(db).await?;
    // Read holding the lock, and never before the last run's, whatever waited for the
    // lock (a sweep that caught up is recorded at the time it began: see below).
    let now = Ord::max(Utc::now().trunc_subsecs(6), runs.latest.sealed_at);
    let mut from = match from {
        Some(from) => from,
        None => start(db, &runs, now, all).await?,
    };
    if from.sweep && db.get_database_backend() == DbBackend::Postgres {
        // A sweep's reads are index lookups the planner may price high (ids beyond its
        // statistics): compiling them (JIT) would take longer than running them.
        db.execute_unprepared("SET LOCAL jit = off")
            .await
            .map_err(Error::db("starting a sweep"))?;
    }
    let run = runs.latest.run + 1;
    let mut rows = 0;
    let mut held_back = 0;
    let mut above_sequence = 0;
    let mut complete = true;
    let mut max_ids = (runs.latest.log_max_id, runs.latest.versions_max_id);
    let mut passes = Vec::new();
    for kind in Kind::ALL {
        let (read_from, behind, top) = match kind {
            Kind::Log => (&mut from.after.0, &mut from.behind.0, max_ids.0),
            Kind::Versions => (&mut from.after.1, &mut from.behind.1, max_ids.1),
        };
        let floor = runs.late.floor(kind);
        // Behind the last run, the ids the runs left there (in pages of ids, until a
        // page of rows is found); then on above the last run.
        let mut found = Vec::new();
        while found.len() < PAGE as usize && !behind.done() {
            let room = PAGE - found.len() as u64;
            let (ranges, in_order) = behind.ahead(room);
            let read = super::rows::Rows {
                after_id: floor,
                unsealed: true,
                ranges: Some(&ranges),
                limit: room,
                unlimited: !in_order,
                ..Default::default()
            };
            let page = read.read(db, kind).await?;
            let full = in_order && page.len() as u64 == room;
            behind.advance(&ranges, full, page.last().map(Row::id));
            found.extend(page);
        }
        let room = PAGE - found.len() as u64;
        // A step filled behind the last run has not read above it: more to read, even
        // when the runs' gaps are done (a sweep is not caught up before it has).
        let mut more = !behind.done() || room == 0;
        // Reading on above `read_from`, the step passes the ids above `past` (those
        // below the last run's, a sweep reading every row sees only where unsealed).
        let mut past = None;
        if !more {
            let start = Ord::max(floor, *read_from);
            let page = unsealed(db, kind, start, room).await?;
            more = page.len() as u64 == room;
            if let Some(last) = page.last() {
                *read_from = last.id();
            }
            past = Some(Ord::max(start, top));
            found.extend(page);
        }
        complete &= !more;
        // A row dated more than SEAL_GRACE ahead of this run waits (no write is stamped in
        // the future, beyond clocks that disagree): sealed once its time has come, or, if
        // the runs' floor passes it first, left behind for good (`verify`: inserted).
        let ahead = now + SEAL_GRACE;
        // One pass sorts the rows: late for good, waiting for their time (held back
        // both), or sealed now.
        let ids: Vec<i64> = found.iter().map(Row::id).collect();
        let given = match ids.last() {
            Some(_) => last_given_id(db, kind).await?,
            None => None,
        };
        let mut waiting = Vec::new();
        let mut fresh = Vec::with_capacity(found.len());
        for row in found {
            if given.is_some_and(|given| row.id() > given) {
                held_back += 1;
                above_sequence += 1;
            } else if runs.late.is_late(kind, &row) {
                held_back += 1;
            } else if row.created_at() > ahead {
                held_back += 1;
                waiting.push(row.id());
            } else {
                fresh.push(row);
            }
        }
        // (behind the last run only `waiting` counts: `past` is above every id there)
        passes.push((kind, gaps::passed(past.unwrap_or(i64::MAX), &ids, &waiting)));
        if let Some(max) = fresh.iter().map(Row::id).max() {
            match kind {
                Kind::Log => max_ids.0 = Ord::max(max_ids.0, max),
                Kind::Versions => max_ids.1 = Ord::max(max_ids.1, max),
            }
        }
        rows += link(db, kind, fresh, run).await?;
    }
    // A run that neither sealed nor swept is not recorded, when it was the call's last
    // (the next call reads what it read again); a sweep always is (its time moves the
    // late line on and spaces the sweeps), and so is a step after which the call reads
    // on (the ids it passed, past rows it held back, are recorded).
    let idle = rows == 0 && !from.sweep && complete;
    // A sweep that caught up vouches for the rows that had committed when it began, not
    // when it ended: a row it passed before its commit was not seen, and the late line
    // (`SEAL_GRACE` before this time) must not pass it. Never before the last sweep that
    // caught up (one that began later and ended first): the late line and the floor only
    // move forward. (The runs' times step back there; later runs go on from it.)
    let swept = complete && from.sweep;
    let sealed_at = match runs.swept_at {
        _ if !swept => now,
        Some(last) => Ord::max(from.started, last),
        None => from.started,
    };
    if !idle {
        seal_runs::Entity::insert(seal_runs::ActiveModel {
            run: Set(run),
            sealed_at: Set(sealed_at),
            rows: Set(rows as i64),
            log_max_id: Set(max_ids.0),
            versions_max_id: Set(max_ids.1),
            complete: Set(swept),
            ..origin()
        })
        .exec_without_returning(db)
        .await
        .map_err(Error::db("recording a seal run"))?;
        for (kind, pass) in &passes {
            gaps::record(db, run, *kind, pass).await?;
        }
    }
    Ok(Step {
        from,
        rows,
        held_back,
        above_sequence,
        complete,
        committed: !idle,
    })
}

/// Rows of `kind` with ids above `floor` that have no link, oldest first.
pub(crate) async fn unsealed<C: ConnectionTrait>(
    db: &C,
    kind: Kind,
    floor: i64,
    limit: u64,
) -> Result<Vec<Row>> {
    let rows = super::rows::Rows {
        after_id: floor,
        unsealed: true,
        limit,
        ..Default::default()
    };
    rows.read(db, kind).await
}

/// On PostgreSQL, the last id the sequence of `kind`'s table gave, read after its rows:
/// a row above it was inserted with an id of its own (`INSERT … (id, …)`), which the
/// sequence does not move past. Such a row is never sealed: the runs' top and floor would
/// jump to it, and every row the sequence gives after it would fall behind them, unsealed
/// for good. Held back, it reads `inserted` once the late line passes its time, as a row
/// with an id no database gives does. `None` (no bound): another backend (their counters
/// move past an id given), a column without a sequence, one this role may not read, or
/// one not used yet.
async fn last_given_id<C: ConnectionTrait>(db: &C, kind: Kind) -> Result<Option<i64>> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(None);
    }
    const CONTEXT: &str = "reading the last id the audit table's sequence gave";
    let names = crate::entity::table_names();
    let table = match kind {
        Kind::Log => &names.activity_log,
        Kind::Versions => &names.versions,
    };
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT CASE WHEN has_sequence_privilege(s, 'SELECT, USAGE') \
                    THEN pg_sequence_last_value(s) END \
             FROM (SELECT pg_get_serial_sequence(quote_ident($1), 'id')::regclass AS s) q",
            [table.as_str().into()],
        ))
        .await
        .map_err(Error::db(CONTEXT))?;
    row.map(|row| row.try_get_by_index::<Option<i64>>(0))
        .transpose()
        .map(Option::flatten)
        .map_err(Error::db(CONTEXT))
}

/// `NOT EXISTS (the row's link)`; with `subject` (the row's table and its subject type
/// and id columns), only a link of the row's own subject counts.
///
/// On PostgreSQL with `OFFSET 0`, which keeps the planner from turning it into an anti
/// join: a join's plan depends on the statistics of the links of `kind`, and with stale
/// ones (a kind that had no links at the last `ANALYZE`) it materializes them all and
/// compares every row with every link. As a subquery it is one index probe per row.
pub(crate) fn no_link(
    kind: Kind,
    (table, id): (DynIden, DynIden),
    subject: Option<(DynIden, DynIden)>,
    backend: DbBackend,
) -> Condition {
    let mut link = Query::select();
    link.expr(Expr::val(1))
        .from(seals::Entity)
        .and_where(Expr::col((seals::Entity, seals::Column::Kind)).eq(kind.code()))
        .and_where(Expr::col((seals::Entity, seals::Column::RowId)).equals((table.clone(), id)));
    if let Some((subject_type, subject_id)) = subject {
        link.and_where(
            Expr::col((seals::Entity, seals::Column::SubjectType))
                .equals((table.clone(), subject_type)),
        )
        .and_where(
            Expr::col((seals::Entity, seals::Column::SubjectId)).equals((table, subject_id)),
        );
    }
    if backend == DbBackend::Postgres {
        link.offset(0);
    }
    Condition::all().add(Expr::exists(link.to_owned()).not())
}

/// The chains of `subjects` in `kind`, by subject.
pub(crate) async fn heads<C: ConnectionTrait>(
    db: &C,
    kind: Kind,
    subjects: impl Iterator<Item = (String, String)>,
) -> Result<HashMap<(String, String), chains::Model>> {
    // Per subject type, one `subject_id IN (…)` list (an index range scan on every
    // backend, where a long OR of pairs is not), in chunks well under every backend's
    // parameter limit.
    let mut by_type: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (t, id) in subjects {
        by_type.entry(t).or_default().push(id);
    }
    let mut out = HashMap::new();
    for (t, ids) in by_type {
        for chunk in ids.chunks(1000) {
            let query = if db.get_database_backend() == DbBackend::Postgres {
                // One primary-key lookup per id, whatever the planner's statistics say
                // (a table that grew fast since its last ANALYZE gets `subject_id = ANY`
                // as a filter over every chain of the type instead).
                let sql = format!(
                    // `LIMIT 1` (the key is unique) keeps the lateral subquery a probe:
                    // without it the planner may flatten it into a join, planned from
                    // statistics.
                    r#"SELECT c.* FROM json_array_elements_text($1::json) AS u(id)
                       CROSS JOIN LATERAL (SELECT * FROM "{}" WHERE kind = $2
                       AND subject_type = $3 AND subject_id = u.id LIMIT 1) c"#,
                    crate::entity::table_names().chains
                );
                let ids = serde_json::to_string(chunk).unwrap_or_default();
                chains::Entity::find()
                    .from_raw_sql(Statement::from_sql_and_values(
                        DbBackend::Postgres,
                        sql,
                        [ids.into(), kind.code().into(), t.as_str().into()],
                    ))
                    .all(db)
                    .await
            } else {
                chains::Entity::find()
                    .filter(chains::Column::Kind.eq(kind.code()))
                    .filter(chains::Column::SubjectType.eq(t.as_str()))
                    .filter(chains::Column::SubjectId.is_in(chunk.iter().map(String::as_str)))
                    .all(db)
                    .await
            };
            let found = query.map_err(Error::db("reading the chains' heads"))?;
            for c in found {
                out.insert((c.subject_type.clone(), c.subject_id.clone()), c);
            }
        }
    }
    Ok(out)
}

/// A link [`link`] writes (its kind and run are the step's).
struct NewLink {
    subject_type: String,
    subject_id: String,
    seq: i64,
    row_id: i64,
    hash: String,
    salt: String,
}

/// Links `rows` (in id order) after their chains' heads; returns how many.
async fn link<C: ConnectionTrait>(db: &C, kind: Kind, rows: Vec<Row>, run: i64) -> Result<u64> {
    if rows.is_empty() {
        return Ok(0);
    }
    let subjects: BTreeMap<(String, String), ()> = rows
        .iter()
        .map(|r| {
            let (t, id) = r.subject();
            ((t.to_owned(), id.to_owned()), ())
        })
        .collect();
    let found = heads(db, kind, subjects.keys().cloned()).await?;
    // The chains this step starts (named if their first links collide with links there).
    let started: Vec<(String, String)> = subjects
        .into_keys()
        .filter(|k| !found.contains_key(k))
        .collect();
    let refused = |e: sea_orm::DbErr| links_refused(kind, &started, e);
    let (links, tips) = if rows.len() >= super::OFF_THREAD_ROWS {
        super::off_thread(move || chained(kind, &rows, &found)).await?
    } else {
        chained(kind, &rows, &found)?
    };
    let n = links.len() as u64;
    // The chains' new heads. A chain that exists keeps its anchor (moved only by
    // `reanchor`); a new one has none.
    let heads: Vec<chains::Model> = tips
        .into_iter()
        .map(|((subject_type, subject_id), (seq, hash))| chains::Model {
            kind: kind.code(),
            subject_type,
            subject_id,
            head_seq: seq,
            head_hash: hash::to_hex(&hash),
            head_run: run,
            anchor_seq: 0,
            anchor_hash: None,
            anchor_run: 0,
        })
        .collect();
    if db.get_database_backend() == DbBackend::Postgres {
        write_pg(db, kind, run, links, heads, refused).await?;
        return Ok(n);
    }
    seals::Entity::insert_many(links.into_iter().map(|l| seals::ActiveModel {
        kind: Set(kind.code()),
        subject_type: Set(l.subject_type),
        subject_id: Set(l.subject_id),
        seq: Set(l.seq),
        row_id: Set(l.row_id),
        hash: Set(l.hash),
        run: Set(run),
        salt: Set(Some(l.salt)),
        erased: Set(None),
        format: Set(hash::LINK_FORMAT),
    }))
    .exec_without_returning(db)
    .await
    .map_err(refused)?;
    chains::Entity::insert_many(heads.into_iter().map(chains::ActiveModel::from))
        .on_conflict(
            OnConflict::columns([
                chains::Column::Kind,
                chains::Column::SubjectType,
                chains::Column::SubjectId,
            ])
            .update_columns([
                chains::Column::HeadSeq,
                chains::Column::HeadHash,
                chains::Column::HeadRun,
            ])
            .to_owned(),
        )
        .exec_without_returning(db)
        .await
        .map_err(Error::db("moving the chains' heads"))?;
    Ok(n)
}

/// The error of a step whose links the database refused: when they collide with links
/// there (a unique key) and the step starts chains, one of those has links but no head (its
/// row in the heads' table removed: `verify` reports it `head_changed`), and its first link
/// takes a place that is taken. Every later step would too: the error names the chains.
fn links_refused(kind: Kind, started: &[(String, String)], e: sea_orm::DbErr) -> Error {
    let collided = matches!(
        e.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    );
    if !collided || started.is_empty() {
        return Error::db("writing the links")(e);
    }
    const NAMED: usize = 10;
    let mut named: Vec<String> = started
        .iter()
        .take(NAMED)
        .map(|(t, id)| format!("`{t}` {id}"))
        .collect();
    if started.len() > NAMED {
        named.push(format!("and {} more", started.len() - NAMED));
    }
    Error::Chain(format!(
        "writing the links of {}: a chain has links but no head (its head removed; \
         `verify` reports it `head_changed`), one of those this step starts: {}; sealing \
         stops here until its head is put back ({e})",
        kind.table(),
        named.join(", ")
    ))
}

/// Per chain: its new head's seq and hash.
type Tips = HashMap<(String, String), (i64, Hash)>;

/// The links of `rows` (in id order) after their chains' heads `found` (a chain not
/// there starts from [`GENESIS`]), each row with a fresh salt; and the chains' new tips.
fn chained(
    kind: Kind,
    rows: &[Row],
    found: &HashMap<(String, String), chains::Model>,
) -> Result<(Vec<NewLink>, Tips)> {
    let mut tips: Tips = HashMap::new();
    let mut links = Vec::with_capacity(rows.len());
    let mut secrets = vec![0u8; 32 * rows.len()];
    getrandom::fill(&mut secrets)
        .map_err(|e| Error::Chain(format!("no randomness for the rows' salts: {e}")))?;
    for (row, secret) in rows.iter().zip(secrets.chunks_exact(32)) {
        let (t, id) = row.subject();
        let key = (t.to_owned(), id.to_owned());
        let tip = match tips.get_mut(&key) {
            Some(tip) => tip,
            None => {
                let start = match found.get(&key) {
                    Some(c) => {
                        let hash = hash::from_hex(&c.head_hash).ok_or_else(|| {
                            Error::Chain(format!(
                                "the chain head of {} `{t}` {id} holds no hash: {:?}",
                                kind.table(),
                                c.head_hash
                            ))
                        })?;
                        (c.head_seq, hash)
                    }
                    None => (0, GENESIS),
                };
                tips.entry(key.clone()).or_insert(start)
            }
        };
        let secret: Hash = secret.try_into().expect("32 bytes");
        let content = row.content(&Salts::fresh(secret)).ok_or_else(|| {
            Error::Chain(format!(
                "{} row {} has a field without a salt",
                kind.table(),
                row.id()
            ))
        })?;
        let hash = hash::new_link(&tip.1, row.id(), &content);
        tip.0 += 1;
        tip.1 = hash;
        links.push(NewLink {
            subject_type: key.0,
            subject_id: key.1,
            seq: tip.0,
            row_id: row.id(),
            hash: hash::to_hex(&hash),
            salt: hash::to_hex(&secret),
        });
    }
    Ok((links, tips))
}

/// PostgreSQL: writes a step's links and moves its chains' heads, each in a statement
/// whose text does not depend on how many rows it carries (a column of the rows is one
/// array parameter, read by `unnest`). A multi-row `VALUES` list is a new statement for
/// each row count, and PostgreSQL parses and plans its thousands of parameters over and
/// over: that was about two fifths of the server's time in a `seal`.
async fn write_pg<C: ConnectionTrait>(
    db: &C,
    kind: Kind,
    run: i64,
    mut links: Vec<NewLink>,
    mut heads: Vec<chains::Model>,
    refused: impl Fn(sea_orm::DbErr) -> Error,
) -> Result<()> {
    // A column of the rows as one array parameter (the strings moved out, not copied:
    // the rows are not used again).
    fn texts<T>(rows: &mut [T], f: impl Fn(&mut T) -> &mut String) -> sea_orm::Value {
        rows.iter_mut()
            .map(|r| std::mem::take(f(r)))
            .collect::<Vec<_>>()
            .into()
    }
    fn numbers<T>(rows: &[T], f: impl Fn(&T) -> i64) -> sea_orm::Value {
        rows.iter().map(f).collect::<Vec<_>>().into()
    }
    let names = crate::entity::table_names();
    let links_sql = format!(
        r#"INSERT INTO "{}" (kind, subject_type, subject_id, seq, row_id, hash, run, salt,
           format)
           SELECT $1, t, i, s, r, h, $2, x, {}
           FROM unnest($3::text[], $4::text[], $5::int8[], $6::int8[], $7::text[], $8::text[])
           AS l(t, i, s, r, h, x)"#,
        names.seals,
        hash::LINK_FORMAT
    );
    let links_values = vec![
        kind.code().into(),
        run.into(),
        texts(&mut links, |l| &mut l.subject_type),
        texts(&mut links, |l| &mut l.subject_id),
        numbers(&links, |l| l.seq),
        numbers(&links, |l| l.row_id),
        texts(&mut links, |l| &mut l.hash),
        texts(&mut links, |l| &mut l.salt),
    ];
    let heads_sql = format!(
        r#"INSERT INTO "{}" (kind, subject_type, subject_id, head_seq, head_hash, head_run,
           anchor_seq, anchor_hash, anchor_run)
           SELECT $1, t, i, s, h, $2, 0, NULL, 0
           FROM unnest($3::text[], $4::text[], $5::int8[], $6::text[]) AS c(t, i, s, h)
           ON CONFLICT (kind, subject_type, subject_id) DO UPDATE SET
           head_seq = EXCLUDED.head_seq, head_hash = EXCLUDED.head_hash,
           head_run = EXCLUDED.head_run"#,
        names.chains
    );
    let heads_values = vec![
        kind.code().into(),
        run.into(),
        texts(&mut heads, |h| &mut h.subject_type),
        texts(&mut heads, |h| &mut h.subject_id),
        numbers(&heads, |h| h.head_seq),
        texts(&mut heads, |h| &mut h.head_hash),
    ];
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        links_sql,
        links_values,
    ))
    .await
    .map_err(refused)?;
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        heads_sql,
        heads_values,
    ))
    .await
    .map_err(Error::db("moving the chains' heads"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sweep_reads_small_gaps_together_and_a_large_one_in_order() {
        let mut behind = Behind {
            gaps: vec![(3, 4), (8, 8), (10, 2000), (2002, 2002)],
            ..Default::default()
        };
        // Small gaps together while their ids fit the page.
        assert_eq!(behind.ahead(1000), (vec![(3, 4), (8, 8)], false));
        assert_eq!(behind.ahead(2), (vec![(3, 4)], false));
        behind.advance(&[(3, 4), (8, 8)], false, Some(8));
        // A larger one alone, in order, a page at a time.
        assert_eq!(behind.ahead(1000), (vec![(10, 2000)], true));
        behind.advance(&[(10, 2000)], true, Some(1500));
        assert_eq!(behind.ahead(400), (vec![(1501, 2000)], true));
        assert_eq!(behind.ahead(500), (vec![(1501, 2000)], false));
        behind.advance(&[(1501, 2000)], true, Some(2000));
        assert_eq!(behind.ahead(1000), (vec![(2002, 2002)], false));
        behind.advance(&[(2002, 2002)], false, None);
        assert!(behind.done());
        // (from 1500 on, the rest fits one page)
        let mut rest = Behind {
            gaps: vec![(10, 2000), (2002, 2002)],
            next: 0,
            after: 1500,
        };
        assert_eq!(rest.ahead(1000), (vec![(1501, 2000), (2002, 2002)], false));
        rest.advance(&[(1501, 2000), (2002, 2002)], false, Some(1900));
        assert!(rest.done());
        assert_eq!(rest.ahead(1000), (vec![], false));
    }
}
