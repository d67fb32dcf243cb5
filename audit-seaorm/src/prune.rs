//! [`prune`]: retention for the audit tables, in bounded batches.

use std::collections::BTreeMap;

use audit_core::Action;
use chrono::{DateTime, Duration, SubsecRound, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, TransactionSession, TransactionTrait,
};
use serde_json::json;

use crate::api::NewActivity;
use crate::chain::hash::Kind;
use crate::entity::{activity_log, versions};
use crate::partition::MonthDrop;
use crate::{Error, Result};

/// What one subject type keeps: entries younger than a duration, the last N versions of
/// each record. A field left unset keeps everything of its kind (or, in a per-type
/// override, falls back to the [`Retention`]'s own).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    entries_older_than: Option<Duration>,
    keep_versions: Option<u64>,
}

impl Policy {
    /// A policy that keeps everything.
    pub fn new() -> Self {
        Self::default()
    }

    /// The longest age `entries_older_than` takes: 1,000 years (365,250 days).
    pub const MAX_AGE: Duration = Duration::days(365_250);

    /// Removes activity entries older than `age`.
    pub fn entries_older_than(mut self, age: Duration) -> Self {
        self.entries_older_than = Some(age);
        self
    }

    /// Keeps the last `n` versions of each record (at least 1: the latest version is the
    /// record's old state for its next write, and what a restore of a deleted record
    /// starts from).
    pub fn keep_versions(mut self, n: u64) -> Self {
        self.keep_versions = Some(n);
        self
    }

    /// This policy's fields, and `base`'s where this one has none.
    fn or(self, base: Policy) -> Policy {
        Policy {
            entries_older_than: self.entries_older_than.or(base.entries_older_than),
            keep_versions: self.keep_versions.or(base.keep_versions),
        }
    }

    fn check(&self, whose: &str) -> Result<()> {
        if let Some(age) = self.entries_older_than
            && age <= Duration::zero()
        {
            return Err(Error::InvalidRetention(format!(
                "{whose}: entries_older_than must be a positive duration, not {age}"
            )));
        }
        // The cut-off must be a time every backend holds (MySQL's from the year 1000).
        if let Some(age) = self.entries_older_than
            && age > Self::MAX_AGE
        {
            return Err(Error::InvalidRetention(format!(
                "{whose}: entries_older_than must be at most 1,000 years, not {} days \
                 (to keep a type's entries longer than the default age, give its override \
                 an age of its own)",
                age.num_days()
            )));
        }
        if self.keep_versions == Some(0) {
            return Err(Error::InvalidRetention(format!(
                "{whose}: keep_versions must be at least 1 (the latest version of every record is kept)"
            )));
        }
        Ok(())
    }
}

/// The retention [`prune`] applies: a policy for every subject type, overrides per type,
/// the batch size and whether to only count.
///
/// ```
/// use audit_seaorm::{Policy, Retention};
/// use chrono::Duration;
///
/// let retention = Retention::new()
///     .entries_older_than(Duration::days(365))
///     .keep_versions(50)
///     .subject_type("session", Policy::new().entries_older_than(Duration::days(30)));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retention {
    default: Policy,
    overrides: BTreeMap<String, Policy>,
    batch: u64,
    pause: std::time::Duration,
    dry_run: bool,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            default: Policy::default(),
            overrides: BTreeMap::new(),
            batch: Self::BATCH,
            pause: std::time::Duration::ZERO,
            dry_run: false,
        }
    }
}

impl Retention {
    /// Rows deleted per statement unless [`batch_size`](Self::batch_size) says otherwise.
    pub const BATCH: u64 = 5_000;
    /// The largest batch: a batch of versions is three parameters per subject.
    pub const MAX_BATCH: u64 = 10_000;

    /// A retention that keeps everything until policies are added.
    pub fn new() -> Self {
        Self::default()
    }

    /// Removes activity entries older than `age` (every subject type without its own).
    pub fn entries_older_than(mut self, age: Duration) -> Self {
        self.default = self.default.entries_older_than(age);
        self
    }

    /// Keeps the last `n` versions of each record (every subject type without its own).
    pub fn keep_versions(mut self, n: u64) -> Self {
        self.default = self.default.keep_versions(n);
        self
    }

    /// `policy` for `subject_type`; its unset fields fall back to this retention's.
    pub fn subject_type(mut self, subject_type: impl Into<String>, policy: Policy) -> Self {
        self.overrides.insert(subject_type.into(), policy);
        self
    }

    /// Rows per delete statement (and subjects per read of the versions); at most
    /// [`MAX_BATCH`](Self::MAX_BATCH), which keeps every statement under the backends'
    /// parameter limits.
    pub fn batch_size(mut self, n: u64) -> Self {
        self.batch = n;
        self
    }

    /// Sleeps this long after each batch, leaving the database to the application's writes
    /// (none by default).
    pub fn pause_between_batches(mut self, pause: std::time::Duration) -> Self {
        self.pause = pause;
        self
    }

    /// Only count what would be removed; write nothing. A dry run counts by age and by
    /// version number alone: it does not check rows against their hash-chain links, so a
    /// row a real run keeps because it changed since it was sealed is counted in it
    /// ([`Pruned::kept_changed`] is 0; run `verify` to find such rows).
    pub fn dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }

    fn check(&self) -> Result<()> {
        if self.batch == 0 || self.batch > Self::MAX_BATCH {
            return Err(Error::InvalidRetention(format!(
                "batch_size must be 1 to {}, not {}",
                Self::MAX_BATCH,
                self.batch
            )));
        }
        self.default.check("the retention")?;
        for (subject_type, policy) in &self.overrides {
            if subject_type.is_empty() {
                return Err(Error::InvalidRetention(
                    "a per-type policy needs a subject type".into(),
                ));
            }
            policy.check(&format!("the policy of `{subject_type}`"))?;
        }
        let any = |p: &Policy| p.entries_older_than.is_some() || p.keep_versions.is_some();
        if !any(&self.default) && !self.overrides.values().any(any) {
            return Err(Error::InvalidRetention(
                "no policy: set entries_older_than or keep_versions".into(),
            ));
        }
        Ok(())
    }

    /// The policy in force for `subject_type`.
    fn policy(&self, subject_type: &str) -> Policy {
        match self.overrides.get(subject_type) {
            Some(own) => own.or(self.default),
            None => self.default,
        }
    }
}

/// What [`prune`] removed (or, in a dry run, would remove).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Pruned {
    /// Activity entries removed.
    pub entries: u64,
    /// Versions removed.
    pub versions: u64,
    /// Whether this was a dry run (nothing removed, no entry written).
    pub dry_run: bool,
    /// The month partitions of `activity_log` dropped whole (partitioned layout; their
    /// entries are counted in `entries`).
    pub partitions: Vec<String>,
    /// The `pruned` entry that records the run (`None` in a dry run).
    pub entry_id: Option<i64>,
    /// Rows old enough to go that were left in place because they no longer match their
    /// links (changed since they were sealed: `verify` reports them). Removing them would
    /// remove the evidence with them.
    pub kept_changed: u64,
    /// The batches of rows deleted, each in a transaction of its own and none over
    /// [`Retention::batch_size`] rows (0 in a dry run; month partitions dropped whole are
    /// not batches).
    pub batches: u64,
}

/// Removes what `retention` does not keep, then records one `pruned` entry (no subject)
/// with the counts and the bounds.
///
/// Entries go by age (`created_at` before now minus the policy's duration), versions
/// beyond the last N of each record; the latest version of every record always stays.
/// The work goes in batches of at most [`Retention::batch_size`] rows per `DELETE` (by id,
/// or by subject and version: a record with more versions to go is trimmed over several
/// batches, oldest first), each in a transaction of its own with the marks on the rows'
/// links (the hash chains fold marked links only), so no lock is held across batches and
/// memory stays bounded; progress is logged through `tracing` (target
/// `audit_seaorm::prune`). After a crash, run it again: it continues where it stopped
/// (the `pruned` entry is written when a run completes). Run inside a transaction, it all
/// commits or rolls back together (and holds its locks until then).
///
/// An entry's `version_id` may name a version that was pruned; restoring it then fails
/// with [`Error::VersionNotFound`]. Bad policies (a duration of zero or less or over
/// [`Policy::MAX_AGE`], keeping 0 versions, a batch of 0 or over
/// [`Retention::MAX_BATCH`], no policy at all) are [`Error::InvalidRetention`].
pub async fn prune<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    retention: &Retention,
) -> Result<Pruned> {
    retention.check()?;
    let now = Utc::now().trunc_subsecs(6);
    let mut done = Pruned {
        dry_run: retention.dry_run,
        ..Pruned::default()
    };
    let mut bounds = serde_json::Map::new();
    let scopes = entry_scopes(retention);
    let mut kept = 0;
    let mut batches = 0;
    let removed = async {
        if crate::partition::is_partitioned(db).await? {
            let (rows, dropped) = prune_partitions(db, retention, &scopes, now).await?;
            // A dry run counts those rows again below, with the others of their age.
            if !retention.dry_run {
                done.entries += rows;
            }
            done.partitions = dropped;
        }
        for (scope, age) in scopes {
            let before = now - age;
            bounds.insert(scope.label(), json!(before));
            done.entries += prune_entries(
                db,
                &scope,
                before,
                retention,
                &done,
                &mut kept,
                &mut batches,
            )
            .await?;
        }
        done.batches = batches;
        prune_versions(db, retention, &mut done, &mut kept).await
    }
    .await;
    if !retention.dry_run {
        // The chains start after the removed rows, from anchors. Also when this run
        // removed nothing (the marks of a run that stopped before this point fold now),
        // and when it stopped at an error: the batches committed before it fold too.
        let folded = crate::chain::reanchor(db).await;
        match (&removed, folded) {
            (_, Ok(_)) => {}
            (Ok(()), Err(e)) => return Err(e),
            (Err(_), Err(e)) => tracing::warn!(
                target: "audit_seaorm::prune",
                error = %e,
                "audit: prune stopped at an error, and the chains could not fold what it \
                 removed before it (the next run folds them)"
            ),
        }
    }
    removed?;
    done.kept_changed = kept;
    if kept > 0 {
        tracing::warn!(
            target: "audit_seaorm::prune",
            rows = kept,
            "audit: rows old enough to prune no longer match their hash-chain links \
             (changed since they were sealed); they are kept: run `verify`"
        );
    }
    if !retention.dry_run {
        let keep: BTreeMap<&str, u64> = retention
            .overrides
            .iter()
            .filter_map(|(t, p)| Some((t.as_str(), p.or(retention.default).keep_versions?)))
            .collect();
        let entry = crate::api::log(
            db,
            NewActivity::new(Action::Pruned).properties(json!({
                "entries": done.entries,
                "versions": done.versions,
                "entries_before": bounds,
                "keep_versions": retention.default.keep_versions,
                "keep_versions_by_type": keep,
                "partitions_dropped": done.partitions,
                "kept_changed": done.kept_changed,
            })),
        )
        .await?;
        done.entry_id = Some(entry.id);
    }
    Ok(done)
}

/// The partitioned layout: creates the months ahead (in a transaction holding the install
/// lock), then detaches and drops the months whose every entry the policies expire (only
/// when the retention's own age covers every type without an override; before the
/// earliest cut-off), each in a transaction of its own holding the install lock and the
/// seal runs' lock. Their entries and names. The marks of their links fold into the
/// chains' anchors at the end of [`prune`].
async fn prune_partitions<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    retention: &Retention,
    scopes: &[(Scope, Duration)],
    now: DateTime<Utc>,
) -> Result<(u64, Vec<String>)> {
    if !retention.dry_run {
        let txn = crate::transaction::begin_own(db)
            .await
            .map_err(Error::db("starting the partition maintenance"))?;
        crate::schema::take_install_lock(&txn).await?;
        crate::partition::ensure(&txn, crate::partition::MONTHS_AHEAD, None).await?;
        txn.commit()
            .await
            .map_err(Error::db("committing the partition maintenance"))?;
    }
    let earliest = scopes.iter().map(|(_, age)| now - *age).min();
    let mut out = (0, Vec::new());
    let (Some(_), Some(before)) = (retention.default.entries_older_than, earliest) else {
        return Ok(out);
    };
    for month in crate::partition::expired(db, before).await? {
        let mut tries = 0;
        loop {
            match drop_month(db, retention, &month).await? {
                Some(MonthDrop::Dropped(rows)) => {
                    out.0 += rows;
                    out.1.push(month.name.clone());
                }
                None => {}
                Some(MonthDrop::Keeps(rows)) => {
                    tracing::info!(
                        target: "audit_seaorm::prune",
                        partition = month.name.as_str(),
                        kept = rows,
                        "an expired partition holds entries retention keeps; it stays, and \
                         its other entries are deleted row by row"
                    );
                }
                Some(MonthDrop::NotOwned) => {
                    tracing::warn!(
                        target: "audit_seaorm::prune",
                        partition = month.name.as_str(),
                        "audit: this role does not own activity_log or its expired \
                         partition, so it cannot detach it; its entries are deleted row by \
                         row instead"
                    );
                }
                // The detach gave up waiting (long transactions on `activity_log`, or one
                // waiting for this month's rows): rolled back, tried again, and in the end
                // left to the row-by-row deletes that follow.
                Some(MonthDrop::NotDetached(_)) if tries < DETACH_TRIES => {
                    tries += 1;
                    tokio::time::sleep(crate::partition::DETACH_WAIT * tries).await;
                    continue;
                }
                Some(MonthDrop::NotDetached(e)) => {
                    tracing::warn!(
                        target: "audit_seaorm::prune",
                        partition = month.name.as_str(),
                        error = %e,
                        "audit: could not detach an expired partition (most often: \
                         transactions kept activity_log busy); its entries are deleted row \
                         by row instead"
                    );
                }
            }
            break;
        }
        pause(retention).await;
    }
    Ok(out)
}

/// How many times a month's drop is tried again after its detach failed.
const DETACH_TRIES: u32 = 3;

/// One expired month dropped (see [`crate::partition::drop_month`]) in a transaction of its
/// own, committed when it was (`None`: another prune dropped it meanwhile).
async fn drop_month<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    retention: &Retention,
    month: &crate::partition::Partition,
) -> Result<Option<MonthDrop>> {
    let txn = crate::transaction::begin_own(db)
        .await
        .map_err(Error::db("starting to drop an expired partition"))?;
    crate::schema::take_install_lock(&txn).await?;
    // The seal runs' lock before the partition's (a seal step holds the first while it
    // reads `activity_log`).
    if !retention.dry_run {
        crate::chain::seal::take_runs_lock(&txn).await?;
    }
    if !crate::partition::months(&txn)
        .await?
        .iter()
        .any(|p| p.name == month.name)
    {
        return Ok(None);
    }
    let dropped = crate::partition::drop_month(&txn, month, retention.dry_run).await?;
    // (A month not detached: its transaction rolls back as `txn` drops.)
    if let MonthDrop::Dropped(_) = dropped {
        txn.commit()
            .await
            .map_err(Error::db("committing the drop of an expired partition"))?;
    }
    Ok(Some(dropped))
}

/// The entries one age applies to: one overridden subject type, or every other one.
enum Scope {
    Type(String),
    Others(Vec<String>),
}

impl Scope {
    fn label(&self) -> String {
        match self {
            Scope::Type(t) => t.clone(),
            Scope::Others(_) => "*".to_owned(),
        }
    }

    fn condition(&self) -> Condition {
        use activity_log::Column as A;
        match self {
            Scope::Type(t) => Condition::all().add(A::SubjectType.eq(t.as_str())),
            Scope::Others(types) if types.is_empty() => Condition::all(),
            Scope::Others(types) => {
                Condition::all().add(A::SubjectType.is_not_in(types.iter().map(String::as_str)))
            }
        }
    }
}

/// Each scope of entries with its age.
fn entry_scopes(retention: &Retention) -> Vec<(Scope, Duration)> {
    let mut scopes = Vec::new();
    for (subject_type, policy) in &retention.overrides {
        if let Some(age) = policy.or(retention.default).entries_older_than {
            scopes.push((Scope::Type(subject_type.clone()), age));
        }
    }
    if let Some(age) = retention.default.entries_older_than {
        let types = retention.overrides.keys().cloned().collect();
        scopes.push((Scope::Others(types), age));
    }
    scopes
}

async fn pause(retention: &Retention) {
    if !retention.pause.is_zero() {
        tokio::time::sleep(retention.pause).await;
    }
}

fn at(t: DateTime<Utc>, backend: DbBackend) -> sea_orm::Value {
    crate::dialect::time_value(t, backend)
}

/// Deletes the entries of `scope` written before `before`, a batch at a time.
async fn prune_entries<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    scope: &Scope,
    before: DateTime<Utc>,
    retention: &Retention,
    so_far: &Pruned,
    kept: &mut u64,
    batches: &mut u64,
) -> Result<u64> {
    use activity_log::Column as A;
    let backend = db.get_database_backend();
    // From the earliest time a trail holds on: a row dated before it (PostgreSQL's
    // `-infinity`, MySQL's zero date: changed since it was written, as `verify` reports)
    // cannot be read back as a time, and stays.
    let earliest = crate::dialect::clamp_time(DateTime::<Utc>::MIN_UTC);
    let old = Condition::all()
        .add(scope.condition())
        .add(Expr::col(A::CreatedAt).gte(at(earliest, backend)))
        .add(Expr::col(A::CreatedAt).lt(at(before, backend)));
    if retention.dry_run {
        return activity_log::Entity::find()
            .filter(old)
            .count(db)
            .await
            .map_err(Error::db("counting the entries to prune"));
    }
    let mut removed = 0;
    // Past the last batch: the index entries of rows just deleted stay until vacuum, and
    // starting each batch from the first id would walk over all of them again.
    let mut after = 0i64;
    loop {
        let rows: Vec<(i64, DateTime<Utc>)> = activity_log::Entity::find()
            .select_only()
            .column(A::Id)
            .column(A::CreatedAt)
            .filter(old.clone())
            .filter(A::Id.gt(after))
            .order_by_asc(A::Id)
            .limit(retention.batch)
            .into_tuple()
            .all(db)
            .await
            .map_err(Error::db("reading the entries to prune"))?;
        let Some(&(last, _)) = rows.last() else {
            return Ok(removed);
        };
        after = last;
        // Old by the time each row holds, not by how it is spelt: SQLite compares the text,
        // and a time rewritten with another offset (the same instant, so the same hash)
        // would sort before the bound while the row is younger.
        let rows: Vec<(i64, DateTime<Utc>)> = rows.into_iter().filter(|r| r.1 < before).collect();
        if rows.is_empty() {
            continue;
        }
        let times = rows.iter().map(|r| r.1);
        let hours = (times.clone().min(), times.max());
        let ids: Vec<i64> = rows.into_iter().map(|r| r.0).collect();
        let backend = db.get_database_backend();
        let batch = Condition::all()
            .add(A::Id.is_in(ids))
            // The time bound lets the partitioned layout read only the old months.
            .add(Expr::col(A::CreatedAt).lt(at(before, backend)));
        // The hours that lost entries are counted again when the dashboard next reads them
        // (forgotten in the batch's own transaction: a crash cannot keep their counts).
        let hours = match hours {
            (Some(first), Some(latest)) => Some((first, latest)),
            _ => None,
        };
        removed += remove_marked::<activity_log::Entity, _>(
            db,
            Kind::Log,
            A::Id,
            batch,
            "pruning entries",
            kept,
            hours,
        )
        .await?;
        *batches += 1;
        tracing::info!(
            target: "audit_seaorm::prune",
            scope = scope.label(),
            entries = so_far.entries + removed,
            "prune progress"
        );
        pause(retention).await;
    }
}

/// The rows kept out of a batch per statement: with a batch's own parameters (at most three
/// per subject of [`Retention::MAX_BATCH`]) a statement stays under SQLite's 32,766.
const EXCLUDED_PER_STATEMENT: usize = 1_000;

/// `batch` without the rows `changed` (sorted) names, as conditions of at most
/// [`EXCLUDED_PER_STATEMENT`] excluded ids each: one per range of ids, the ranges covering
/// every id once. (`batch` may be an OR, the versions' per-subject ranges: each exclusion
/// is an AND around it, never one more alternative.)
fn excluding<C: ColumnTrait>(batch: Condition, id: C, changed: &[i64]) -> Vec<Condition> {
    let chunks: Vec<&[i64]> = changed.chunks(EXCLUDED_PER_STATEMENT).collect();
    let mut from = i64::MIN;
    let mut parts = Vec::with_capacity(chunks.len());
    for (i, chunk) in chunks.iter().enumerate() {
        let to = match chunk.last() {
            Some(&last) if i + 1 < chunks.len() => last,
            _ => i64::MAX,
        };
        parts.push(
            Condition::all()
                .add(batch.clone())
                .add(id.between(from, to))
                .add(id.is_not_in(chunk.iter().copied())),
        );
        from = to.saturating_add(1);
    }
    parts
}

/// Deletes the rows of `E` that `batch` selects together with the marks on their links
/// (`kind`, see [`crate::chain::mark_pruned`]), in one transaction: the chains then fold
/// what retention removed, and only that. Rows that no longer match their links stay
/// (counted in `kept`: see [`crate::chain::changed_rows`]). `context` names the delete in
/// an error. `hours`: the dashboard's hourly counts to forget with the rows, in the same
/// transaction.
async fn remove_marked<E, C>(
    db: &C,
    kind: Kind,
    id: E::Column,
    batch: Condition,
    context: &'static str,
    kept: &mut u64,
    hours: Option<(DateTime<Utc>, DateTime<Utc>)>,
) -> Result<u64>
where
    E: EntityTrait,
    C: ConnectionTrait + TransactionTrait,
{
    let txn = crate::transaction::begin_own(db)
        .await
        .map_err(Error::db("starting to prune a batch"))?;
    let ids = |batch: &Condition| {
        Query::select()
            .column(id)
            .from(E::default())
            .cond_where(batch.clone())
            .to_owned()
    };
    // No seal step links a row between the check and the mark.
    crate::chain::seal::take_runs_lock(&txn).await?;
    let mut changed = crate::chain::changed_rows(&txn, kind, ids(&batch)).await?;
    let parts = if changed.is_empty() {
        vec![batch]
    } else {
        *kept += changed.len() as u64;
        tracing::warn!(
            target: "audit_seaorm::prune",
            table = kind.table(),
            ids = ?changed,
            "audit: rows to prune no longer match their hash-chain links; kept"
        );
        changed.sort_unstable();
        excluding(batch, id, &changed)
    };
    let mut removed = 0;
    for part in parts {
        crate::chain::mark_pruned(&txn, kind, ids(&part)).await?;
        removed += E::delete_many()
            .filter(part)
            .exec(&txn)
            .await
            .map_err(Error::db(context))?
            .rows_affected;
    }
    if let Some((first, latest)) = hours {
        crate::rollup::forget(&txn, first, latest).await?;
    }
    txn.commit()
        .await
        .map_err(Error::db("committing a pruned batch"))?;
    Ok(removed)
}

/// Deletes the versions beyond the last N of each record, reading the records' version
/// ranges a batch of subjects at a time in key order, and deleting at most
/// [`Retention::batch_size`] versions per transaction: a record with more versions to go
/// than that is trimmed over several, oldest first.
async fn prune_versions<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    retention: &Retention,
    done: &mut Pruned,
    kept: &mut u64,
) -> Result<()> {
    use versions::Column as V;
    let any_keep = retention.default.keep_versions.is_some()
        || retention
            .overrides
            .values()
            .any(|p| p.keep_versions.is_some());
    if !any_keep {
        return Ok(());
    }
    let mut after: Option<(String, String)> = None;
    let mut batch = VersionBatch::default();
    loop {
        let mut query = versions::Entity::find()
            .select_only()
            .column(V::SubjectType)
            .column(V::SubjectId)
            .column_as(V::Version.max(), "max_version")
            .column_as(V::Id.count(), "n")
            .group_by(V::SubjectType)
            .group_by(V::SubjectId)
            .order_by_asc(V::SubjectType)
            .order_by_asc(V::SubjectId)
            .limit(retention.batch);
        if let Some((t, id)) = &after {
            // An index range on every backend (MySQL/MariaDB do not read a row comparison
            // as one: each page would scan the index from its start).
            query = query.filter(crate::chain::rows::after(
                &[V::SubjectType, V::SubjectId],
                vec![t.as_str().into(), id.as_str().into()],
                false,
                db.get_database_backend(),
            ));
        }
        let subjects: Vec<(String, String, i64, i64)> = query
            .into_tuple()
            .all(db)
            .await
            .map_err(Error::db("reading the versions to prune"))?;
        let Some((t, id, _, _)) = subjects.last() else {
            return batch.flush(db, retention, done, kept).await;
        };
        after = Some((t.clone(), id.clone()));
        for doomed in doomed_versions(retention, &subjects) {
            if retention.dry_run {
                done.versions += doomed.count;
                continue;
            }
            let Doomed {
                subject_type,
                subject_id,
                upto,
                mut count,
            } = doomed;
            // Versions above this one are the next range of the record's.
            let mut from = None;
            while count > 0 {
                let room = retention.batch - batch.rows;
                if count <= room {
                    batch.add(&subject_type, &subject_id, from, upto, count);
                    count = 0;
                } else {
                    // The record's oldest `room` versions now, the rest in the next batch.
                    let cut = nth_version(db, (&subject_type, &subject_id), from, upto, room)
                        .await?
                        .unwrap_or(upto);
                    batch.add(&subject_type, &subject_id, from, cut, room);
                    count = if cut == upto { 0 } else { count - room };
                    from = Some(cut);
                }
                if batch.rows >= retention.batch {
                    batch.flush(db, retention, done, kept).await?;
                }
            }
        }
    }
}

/// Versions of some records to delete in one transaction.
#[derive(Default)]
struct VersionBatch {
    ranges: Vec<Condition>,
    rows: u64,
}

impl VersionBatch {
    /// The record's versions above `from` (when given) up to `upto`, `count` of them.
    fn add(
        &mut self,
        subject_type: &str,
        subject_id: &str,
        from: Option<i64>,
        upto: i64,
        count: u64,
    ) {
        use versions::Column as V;
        let mut range = Condition::all()
            .add(V::SubjectType.eq(subject_type))
            .add(V::SubjectId.eq(subject_id))
            .add(V::Version.lte(upto));
        if let Some(from) = from {
            range = range.add(V::Version.gt(from));
        }
        self.ranges.push(range);
        self.rows += count;
    }

    /// Deletes the batch's versions (in a transaction of their own) and starts a new one.
    async fn flush<C: ConnectionTrait + TransactionTrait>(
        &mut self,
        db: &C,
        retention: &Retention,
        done: &mut Pruned,
        kept: &mut u64,
    ) -> Result<()> {
        if self.ranges.is_empty() {
            return Ok(());
        }
        let ranges = std::mem::take(&mut self.ranges);
        self.rows = 0;
        done.versions += remove_marked::<versions::Entity, _>(
            db,
            Kind::Versions,
            versions::Column::Id,
            crate::dialect::any_of(ranges),
            "pruning versions",
            kept,
            None,
        )
        .await?;
        done.batches += 1;
        tracing::info!(
            target: "audit_seaorm::prune",
            entries = done.entries,
            versions = done.versions,
            "prune progress"
        );
        pause(retention).await;
        Ok(())
    }
}

/// The version number `n` places into the record's versions above `from` (when given) up
/// to `upto`, oldest first (`None`: it has fewer).
async fn nth_version<C: ConnectionTrait>(
    db: &C,
    (subject_type, subject_id): (&str, &str),
    from: Option<i64>,
    upto: i64,
    n: u64,
) -> Result<Option<i64>> {
    use versions::Column as V;
    let mut query = versions::Entity::find()
        .select_only()
        .column(V::Version)
        .filter(V::SubjectType.eq(subject_type))
        .filter(V::SubjectId.eq(subject_id))
        .filter(V::Version.lte(upto));
    if let Some(from) = from {
        query = query.filter(V::Version.gt(from));
    }
    query
        .order_by_asc(V::Version)
        .offset(n.saturating_sub(1))
        .limit(1)
        .into_tuple()
        .one(db)
        .await
        .map_err(Error::db("reading the versions to prune"))
}

/// A record's versions that its policy does not keep: those numbered at or below `upto`.
struct Doomed {
    subject_type: String,
    subject_id: String,
    upto: i64,
    count: u64,
}

/// Of these subjects (type, id, highest version, number of versions), the versions their
/// policy does not keep: those numbered at or below `max - N` (the top N are contiguous:
/// only pruning removes versions, and from the bottom).
fn doomed_versions(retention: &Retention, subjects: &[(String, String, i64, i64)]) -> Vec<Doomed> {
    let mut out = Vec::new();
    for (subject_type, subject_id, max, n) in subjects {
        let Some(keep) = retention.policy(subject_type).keep_versions else {
            continue;
        };
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        if *n <= keep {
            continue;
        }
        out.push(Doomed {
            subject_type: subject_type.clone(),
            subject_id: subject_id.clone(),
            upto: max - keep,
            count: (*n - keep) as u64,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_policies_are_errors() {
        let bad = [
            Retention::new(),
            Retention::new().keep_versions(0),
            Retention::new().entries_older_than(Duration::zero()),
            Retention::new().entries_older_than(Duration::days(-1)),
            Retention::new().entries_older_than(Duration::MAX),
            Retention::new().entries_older_than(Policy::MAX_AGE + Duration::days(1)),
            Retention::new().subject_type("post", Policy::new().entries_older_than(Duration::MAX)),
            Retention::new().keep_versions(3).batch_size(0),
            Retention::new()
                .keep_versions(3)
                .batch_size(Retention::MAX_BATCH + 1),
            Retention::new().subject_type("post", Policy::new().keep_versions(0)),
            Retention::new().subject_type("", Policy::new().keep_versions(1)),
        ];
        for r in bad {
            assert!(
                matches!(r.check(), Err(Error::InvalidRetention(_))),
                "{r:?}"
            );
        }
        assert!(Retention::new().keep_versions(1).check().is_ok());
        assert!(
            Retention::new()
                .entries_older_than(Policy::MAX_AGE)
                .check()
                .is_ok()
        );
        let only_one_type = Retention::new().subject_type("post", Policy::new().keep_versions(2));
        assert!(only_one_type.check().is_ok());
    }

    #[test]
    fn overrides_fall_back_field_by_field() {
        let r = Retention::new()
            .entries_older_than(Duration::days(365))
            .keep_versions(10)
            .subject_type(
                "session",
                Policy::new().entries_older_than(Duration::days(7)),
            );
        assert_eq!(
            r.policy("session"),
            Policy::new()
                .entries_older_than(Duration::days(7))
                .keep_versions(10)
        );
        assert_eq!(r.policy("post"), r.default);
    }
}
