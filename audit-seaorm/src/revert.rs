//! Undoing everything one request changed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use audit_core::{Action, ActivityEntry, AuditContext, Audited, Filter, Order, REDACTED, Version};
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait,
    DatabaseConnection, DatabaseTransaction, EntityTrait, IntoActiveModel, ModelTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::entity::{activity_log, versions};
use crate::trail::restoring::Restoring;
use crate::{AuditedModel, Error, Result};

/// Records per query of a revert's reads: three parameters each, far below every
/// backend's limit (SQLite 32,766) whatever the request's size.
const RECORDS_PER_QUERY: usize = 1000;

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Locks a record's row (by the key its latest version names) for the revert's
/// transaction, and logs as `drift` what changed in it outside the trail: the id of that
/// entry, if any.
type LockFn = dyn for<'a> Fn(&'a DatabaseTransaction, &'a Subject) -> BoxFuture<'a, Result<Locked>>
    + Send
    + Sync;

/// Puts one record back (its step, the `reverted` entry's properties).
type ApplyFn = dyn for<'a> Fn(&'a DatabaseTransaction, &'a Step, Value) -> BoxFuture<'a, Result<()>>
    + Send
    + Sync;

/// What the reverter does with the records of one entity type.
struct Ops {
    lock: Box<LockFn>,
    apply: Box<ApplyFn>,
}

/// A record, by subject type and id.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "axum", derive(utoipa::ToSchema))]
pub struct Subject {
    /// The subject type.
    pub subject_type: String,
    /// The subject id.
    pub subject_id: String,
}

/// A later change that touched what a revert would undo.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "axum", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct Conflict {
    /// The record.
    pub subject: Subject,
    /// The field both changed.
    pub field: String,
    /// The later entry that changed it.
    pub later_entry_id: i64,
    /// Whether the change was made outside the trail (raw SQL, `update_many`, another
    /// program): `later_entry_id` is then a `drift` entry, one a later write logged or one
    /// the revert wrote when it found the row differing from the record's latest version.
    /// The revert's own is kept only when the revert goes ahead (`force`); refused, it rolls
    /// back with the rest, and the record's next write logs the drift.
    pub outside_trail: bool,
}

/// What [`Reverter::revert_request`] did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "axum", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct Reverted {
    /// The request id the reverting writes were made under (a new one).
    pub request_id: String,
    /// The records put back, in the order they were put back.
    pub subjects: Vec<Subject>,
    /// The redacted fields the request changed, which could not go back: no version holds
    /// their values, so each keeps the value the request gave it (a record re-inserted
    /// gets the field's default). Check them by other means (a `tracing` warning names
    /// them too).
    pub redacted_kept: Vec<KeptField>,
    /// The other fields the request changed that the version before it does not hold (a
    /// column added to the model after that version was written, a field erased from the
    /// trail since): the trail does not know their values before the request, so each
    /// keeps the value it has (the request's, or a later write's; a later change of it is
    /// no conflict). A `tracing` warning names them too.
    pub unknown_kept: Vec<KeptField>,
}

/// A field of a record that a revert could not put back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "axum", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct KeptField {
    /// The record.
    pub subject: Subject,
    /// The field.
    pub field: String,
}

/// Reverts requests: undoes every hooked change one request id made (creates deleted,
/// updates rolled back, deletes re-inserted), for the entity types registered with
/// [`entity`](Self::entity).
///
/// ```
/// # async fn demo<E>(db: &sea_orm::DatabaseConnection) -> audit_seaorm::Result<()>
/// # where
/// #     E: sea_orm::EntityTrait,
/// #     E::Model: audit_seaorm::AuditedModel + sea_orm::IntoActiveModel<E::ActiveModel>,
/// #     E::ActiveModel: sea_orm::ActiveModelTrait<Entity = E> + sea_orm::ActiveModelBehavior + Send,
/// # {
/// let reverter = audit_seaorm::Reverter::new().entity::<E>();
/// let done = reverter.revert_request(db, "req-42", false).await?;
/// println!("{} records put back under request {}", done.subjects.len(), done.request_id);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Default)]
pub struct Reverter {
    types: HashMap<&'static str, Arc<Ops>>,
}

impl std::fmt::Debug for Reverter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut types: Vec<&str> = self.types.keys().copied().collect();
        types.sort_unstable();
        f.debug_struct("Reverter").field("types", &types).finish()
    }
}

impl Reverter {
    /// A reverter that knows no entity type yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Lets requests that changed records of `E` be reverted.
    pub fn entity<E>(mut self) -> Self
    where
        E: EntityTrait,
        E::Model: AuditedModel + IntoActiveModel<E::ActiveModel>,
        E::ActiveModel: ActiveModelTrait<Entity = E> + ActiveModelBehavior + Send,
    {
        let ops = Ops {
            lock: Box::new(|txn, subject| Box::pin(lock_row::<E>(txn, subject))),
            apply: Box::new(|txn, step, properties| Box::pin(put_back::<E>(txn, step, properties))),
        };
        self.types
            .insert(<E::Model as Audited>::SUBJECT_TYPE, Arc::new(ops));
        self
    }

    /// Undoes every hooked change made under `request_id`, in one transaction, each logged
    /// as `reverted` (properties: the reverted entries' ids and request id) under a new
    /// request id. Each record touched goes back to its state before the request: the
    /// fields the request changed get their values from the version before it (a field
    /// that version does not hold keeps its value: [`Reverted::unknown_kept`]; later
    /// changes of other fields stay), created records are deleted, deleted ones
    /// re-inserted. Rows the request deleted come back first (the one it deleted last
    /// first), then rows it changed go back, then rows it created go (the one it created
    /// last first): so a row is re-inserted after the rows it refers to and deleted before
    /// them, and a row put back refers to rows that are there.
    ///
    /// Every record's row is locked before the check for conflicts, in the same
    /// transaction: when another change touched a field the request changed (a later one,
    /// or one of a request that interleaved with it), it refuses with
    /// [`Error::RevertConflicts`] listing them, and writes nothing, unless `force`. A
    /// request with a record of a type not registered with [`entity`](Self::entity) is
    /// [`Error::NotRevertible`]; an unknown request id, [`Error::RequestNotFound`]; a record
    /// whose state before the request the trail no longer holds (pruned by
    /// [`keep_versions`](crate::Retention::keep_versions), or older than its trail),
    /// [`Error::NoStateBefore`]: nothing is reverted rather than deleting a record the
    /// request did not create.
    pub async fn revert_request(
        &self,
        db: &DatabaseConnection,
        request_id: &str,
        force: bool,
    ) -> Result<Reverted> {
        self.revert_checked(db, request_id, force, None).await
    }

    /// [`revert_request`](Self::revert_request) of a request whose records were checked
    /// (asked about, one by one) before: a record of it not among `checked` is
    /// [`Error::RequestChanged`], and nothing is reverted.
    pub(crate) async fn revert_checked(
        &self,
        db: &DatabaseConnection,
        request_id: &str,
        force: bool,
        checked: Option<&BTreeSet<(String, String)>>,
    ) -> Result<Reverted> {
        let txn = crate::transaction::begin_own(db)
            .await
            .map_err(Error::db("starting the revert transaction"))?;
        let entries = request_entries(&txn, request_id).await?;
        if entries.is_empty() {
            return Err(Error::RequestNotFound(request_id.to_owned()));
        }
        // A client may pick its request id, and another's too: entries of more than one
        // causer are not one request's, and undoing them all would undo another's writes.
        let causers: BTreeSet<Option<&str>> =
            entries.iter().map(|e| e.causer_id.as_deref()).collect();
        if causers.len() > 1 {
            return Err(Error::RequestShared {
                request_id: request_id.to_owned(),
                causers: causers.into_iter().map(|c| c.map(str::to_owned)).collect(),
            });
        }
        let plan = plan(&txn, &entries).await?;
        if let Some(checked) = checked {
            let unchecked = plan
                .iter()
                .map(|s| &s.subject)
                .find(|s| !checked.contains(&(s.subject_type.clone(), s.subject_id.clone())));
            if let Some(s) = unchecked {
                return Err(Error::RequestChanged {
                    request_id: request_id.to_owned(),
                    subject_type: s.subject_type.clone(),
                    subject_id: s.subject_id.clone(),
                });
            }
        }
        let mut ops = Vec::with_capacity(plan.len());
        for step in &plan {
            match self.types.get(step.subject.subject_type.as_str()) {
                Some(op) => ops.push(op),
                None => return Err(Error::NotRevertible(step.subject.subject_type.clone())),
            }
        }
        // The rows first: a write of one of them now waits for the revert, so what the
        // check below finds is what the revert puts back over. What changed in a row
        // outside the trail is logged as `drift` first, so that the check sees it and the
        // revert's own entries hold only what the revert changes.
        let mut drift = BTreeSet::new();
        // Records the revert would delete that are gone already: nothing later is lost.
        let mut done = BTreeSet::new();
        for (step, op) in plan.iter().zip(&ops) {
            let locked = (op.lock)(&txn, &step.subject).await?;
            drift.extend(locked.drift);
            if locked.gone && step.target.is_none() {
                done.insert(&step.subject);
            }
        }
        let mut conflicts = conflicts(&txn, &plan).await?;
        conflicts.retain(|c| !done.contains(&c.subject));
        for c in &mut conflicts {
            c.outside_trail |= drift.contains(&c.later_entry_id);
        }
        if !conflicts.is_empty() && !force {
            return Err(Error::RevertConflicts(conflicts));
        }
        let new_request = format!(
            "revert:{request_id}:{}",
            chrono::Utc::now().timestamp_micros()
        );
        let ctx = AuditContext::current()
            .map(|c| (*c).clone())
            .unwrap_or_default()
            .request_id(new_request.clone());
        ctx.scope(async {
            for (step, op) in plan.iter().zip(&ops) {
                let properties = json!({
                    "reverted_request_id": request_id,
                    "reverted_entry_ids": step.entry_ids,
                });
                (op.apply)(&txn, step, properties).await?;
            }
            Ok::<_, Error>(())
        })
        .await?;
        txn.commit()
            .await
            .map_err(Error::db("committing the revert"))?;
        let redacted_kept: Vec<KeptField> = plan
            .iter()
            // (a record the revert deletes keeps nothing)
            .filter(|s| s.target.is_some())
            .flat_map(|s| {
                let declared = crate::registry::fields_of(&s.subject.subject_type);
                let before = s.target.as_ref().map(|t| &t.data);
                s.redacted
                    .iter()
                    // Kept: redacted now, or not in the version the revert goes back to (a
                    // value that merely reads `[redacted]` goes back like any other).
                    .filter(move |field| {
                        redacted_now(declared, field)
                            || before.is_none_or(|d| !d.contains_key(field.as_str()))
                    })
                    .map(|field| KeptField {
                        subject: s.subject.clone(),
                        field: field.clone(),
                    })
            })
            .collect();
        if !redacted_kept.is_empty() {
            tracing::warn!(
                request_id,
                fields = ?redacted_kept,
                "audit: a reverted request changed redacted fields; no version holds their \
                 values, so they keep what the request gave them"
            );
        }
        let unknown_kept: Vec<KeptField> = plan
            .iter()
            .filter_map(|s| Some((s, &s.target.as_ref()?.data)))
            .flat_map(|(s, before)| {
                s.fields
                    .iter()
                    .filter(|f| !s.redacted.contains(*f) && !before.contains_key(f.as_str()))
                    .map(|field| KeptField {
                        subject: s.subject.clone(),
                        field: field.clone(),
                    })
            })
            .collect();
        if !unknown_kept.is_empty() {
            tracing::warn!(
                request_id,
                fields = ?unknown_kept,
                "audit: a reverted request changed fields the version before it does not \
                 hold (added to the model since, or erased); their values before the \
                 request are unknown, so they keep the values they have"
            );
        }
        Ok(Reverted {
            request_id: new_request,
            subjects: plan.into_iter().map(|s| s.subject).collect(),
            redacted_kept,
            unknown_kept,
        })
    }
}

/// Whether the model of a subject type (`fields`, when this program has one) redacts
/// `field` now.
fn redacted_now(fields: Option<&[audit_core::Field]>, field: &str) -> bool {
    fields.is_some_and(|fields| {
        fields
            .iter()
            .any(|f| f.name == field && f.mode == audit_core::FieldMode::Redacted)
    })
}

/// One record to put back.
struct Step {
    subject: Subject,
    /// The request's entries of it, oldest first.
    entry_ids: Vec<i64>,
    /// The fields the request changed.
    fields: BTreeSet<String>,
    /// Of those, the redacted ones: no version holds their values.
    redacted: BTreeSet<String>,
    /// Its version before the request (`None`: it did not exist).
    target: Option<Version>,
    /// Whether the request's last change of it deleted it.
    deleted_last: bool,
}

impl Step {
    /// Where the step goes in the revert (ascending): rows the request deleted come back
    /// first, the one it deleted last first (a row is deleted before the row it refers
    /// to); then rows it changed go back; then rows it created go, the one it created
    /// last first (a row is created after the row it refers to). So each re-inserted row
    /// finds the rows it refers to, each row put back refers to rows there, and no row
    /// goes while another still refers to it.
    fn order(&self) -> (u8, std::cmp::Reverse<i64>) {
        let first = self.entry_ids[0];
        let last = *self.entry_ids.last().unwrap_or(&first);
        match (&self.target, self.deleted_last) {
            (Some(_), true) => (0, std::cmp::Reverse(last)),
            (Some(_), false) => (1, std::cmp::Reverse(last)),
            (None, _) => (2, std::cmp::Reverse(first)),
        }
    }
}

/// The actions of the entries a revert undoes (those with a version): the hooked writes,
/// restores and reverts. A custom entry (`log`) only records; it changed nothing.
pub(crate) const REVERTED: [Action; 5] = [
    Action::Created,
    Action::Updated,
    Action::Deleted,
    Action::Restored,
    Action::Reverted,
];

/// The hooked changes of a request, oldest first.
async fn request_entries<C: ConnectionTrait>(
    db: &C,
    request_id: &str,
) -> Result<Vec<ActivityEntry>> {
    let mut all = Vec::new();
    let mut filter = Filter::new()
        .request_id(request_id)
        .order(Order::OldestFirst);
    loop {
        let page = crate::activity(db, &filter).await?;
        all.extend(
            page.items
                .into_iter()
                .filter(|e| e.version_id.is_some() && REVERTED.contains(&e.action)),
        );
        match page.next_cursor {
            Some(cursor) => filter = filter.after_id(cursor),
            None => return Ok(all),
        }
    }
}

/// The records the request touched, in the order they go back ([`Step::order`]), each
/// with its version before.
async fn plan<C: ConnectionTrait>(db: &C, entries: &[ActivityEntry]) -> Result<Vec<Step>> {
    let mut by_subject: BTreeMap<Subject, Vec<&ActivityEntry>> = BTreeMap::new();
    for e in entries {
        let subject = Subject {
            subject_type: e.subject_type.clone(),
            subject_id: e.subject_id.to_string(),
        };
        by_subject.entry(subject).or_default().push(e);
    }
    // The number of each record's first version in the request, all in one query …
    let first_ids: Vec<i64> = by_subject
        .values()
        .filter_map(|entries| entries[0].version_id)
        .collect();
    let mut numbers: HashMap<i64, i64> = HashMap::new();
    for ids in first_ids.chunks(RECORDS_PER_QUERY) {
        numbers.extend(
            versions::Entity::find()
                .filter(versions::Column::Id.is_in(ids.iter().copied()))
                .all(db)
                .await
                .map_err(Error::db("reading the request's versions"))?
                .into_iter()
                .map(|v| (v.id, v.version)),
        );
    }
    let mut steps = Vec::new();
    for (subject, entries) in by_subject {
        // The request's change is the record's first version: before it, the record did
        // not exist only if that change created it.
        let created = matches!(entries[0].action, Action::Created | Action::Restored);
        // A create is a create whatever versions came before it (a row deleted outside the
        // trail leaves its last version saying it exists).
        let created_here = entries[0].action == Action::Created;
        let first = entries[0].version_id.unwrap_or_default();
        let number = match numbers.get(&first) {
            Some(number) => *number,
            // (A record the request created needs no number: it goes.)
            None if created_here => 1,
            // The request's own version was pruned (its entries kept longer): the versions
            // before it went first.
            None => {
                return Err(Error::NoStateBefore {
                    subject_type: subject.subject_type,
                    subject_id: subject.subject_id,
                    version: 0,
                });
            }
        };
        // (A revert's first change of a record is never its first version: it puts back
        // a state the trail held.)
        if number == 1 && !created {
            return Err(Error::NoStateBefore {
                subject_type: subject.subject_type,
                subject_id: subject.subject_id,
                version: 0,
            });
        }
        // The fields the model redacts (a restore keeps their values), and those whose
        // changes the trail holds redacted (redacted when the request ran: the version
        // before may not hold them); which of them stay is known with that version.
        let declared = crate::registry::fields_of(&subject.subject_type);
        let redacted = entries
            .iter()
            .flat_map(|e| e.changes.iter())
            .filter(|(field, c)| {
                redacted_now(declared, field)
                    || [&c.old, &c.new]
                        .iter()
                        .any(|v| v.as_str() == Some(REDACTED))
            })
            .map(|(field, _)| field.to_owned())
            .collect();
        steps.push((
            // (the version before the request is read only when there is one to go back to)
            if created_here { 1 } else { number },
            // (whether the request's first change was made to a row that was there; a
            // restore's or a revert's over a `deleted` version put it back)
            matches!(entries[0].action, Action::Updated | Action::Deleted),
            Step {
                entry_ids: entries.iter().map(|e| e.id).collect(),
                fields: entries
                    .iter()
                    .flat_map(|e| e.changes.fields().map(str::to_owned))
                    .collect(),
                redacted,
                subject,
                target: None,
                deleted_last: entries.last().is_some_and(|e| e.action == Action::Deleted),
            },
        ));
    }
    // … and the versions before them, in another.
    let later: Vec<_> = steps.iter().filter(|(n, _, _)| *n > 1).collect();
    let mut targets: HashMap<(String, String), Version> = HashMap::new();
    for chunk in later.chunks(RECORDS_PER_QUERY) {
        let before = crate::dialect::any_of(
            chunk
                .iter()
                .map(|(number, _, step)| {
                    Condition::all()
                        .add(versions::Column::SubjectType.eq(step.subject.subject_type.as_str()))
                        .add(versions::Column::SubjectId.eq(step.subject.subject_id.as_str()))
                        .add(versions::Column::Version.eq(number - 1))
                })
                .collect(),
        );
        for row in versions::Entity::find()
            .filter(before)
            .all(db)
            .await
            .map_err(Error::db("reading the versions before the request"))?
        {
            let v = crate::api::version_from_row(row)?;
            targets.insert((v.subject_type.clone(), v.subject_id.to_string()), v);
        }
    }
    let mut steps: Vec<Step> = steps
        .into_iter()
        .map(|(number, existing, mut step)| {
            let key = (
                step.subject.subject_type.clone(),
                step.subject.subject_id.clone(),
            );
            if number > 1 {
                // The version before the request: a pruned one leaves nothing to go back
                // to (a record it held is not one the request created).
                let before = targets.remove(&key);
                // A version before that says the record was deleted, while the request's
                // first change updated or deleted the row (put back outside the trail; a
                // restore or a revert of a row there would have logged that as drift
                // first): what the row held before the request is in no version, and
                // deleting it would lose a record the request only changed, nor can a
                // row it deleted be put back.
                let deleted = before.as_ref().map(|v| v.event == Action::Deleted);
                if deleted.is_none() || (deleted == Some(true) && existing) {
                    return Err(Error::NoStateBefore {
                        subject_type: key.0,
                        subject_id: key.1,
                        version: number - 1,
                    });
                }
                step.target = before.filter(|v| v.event != Action::Deleted);
            }
            Ok(step)
        })
        .collect::<Result<_>>()?;
    steps.sort_by_key(Step::order);
    Ok(steps)
}

/// Entries read per query of [`conflicts`].
const CONFLICTS_PAGE: u64 = 1_000;

/// Other entries of the request's records, since its first change of each, that changed a
/// field the request changed and the revert puts back (one the version before holds):
/// reverting would undo them too. Read in pages of
/// [`CONFLICTS_PAGE`] entries, up to 1,000 records a query; on MySQL/MariaDB a locking
/// read, which sees the latest commits where the transaction's snapshot (taken at its
/// first read) would not.
async fn conflicts<C: ConnectionTrait>(db: &C, plan: &[Step]) -> Result<Vec<Conflict>> {
    use activity_log::Column as A;
    let mut out = Vec::new();
    for chunk in plan.chunks(RECORDS_PER_QUERY) {
        // Any other entry since the request's first change of the record: later ones,
        // and those of requests that interleaved with it.
        let since = crate::dialect::any_of(
            chunk
                .iter()
                .map(|step| {
                    Condition::all()
                        .add(A::SubjectType.eq(step.subject.subject_type.as_str()))
                        .add(A::SubjectId.eq(step.subject.subject_id.as_str()))
                        .add(A::Id.gt(step.entry_ids[0]))
                })
                .collect(),
        );
        let by_subject: HashMap<(&str, &str), &Step> = chunk
            .iter()
            .map(|s| {
                let key = (
                    s.subject.subject_type.as_str(),
                    s.subject.subject_id.as_str(),
                );
                (key, s)
            })
            .collect();
        // A page at a time: a request's record may have had many writes since.
        let mut after = 0;
        loop {
            let mut query = activity_log::Entity::find()
                .filter(since.clone())
                .filter(A::Id.gt(after))
                .order_by_asc(A::Id)
                .limit(CONFLICTS_PAGE);
            if db.get_database_backend() == sea_orm::DbBackend::MySql {
                query = query.lock_shared();
            }
            let rows = query
                .all(db)
                .await
                .map_err(Error::db("reading the changes after the request"))?;
            let Some(last) = rows.last() else {
                break;
            };
            after = last.id;
            for row in rows {
                let key = (row.subject_type.as_str(), row.subject_id.as_str());
                let Some(step) = by_subject
                    .get(&key)
                    .copied()
                    .filter(|s| !s.entry_ids.contains(&row.id))
                else {
                    continue;
                };
                let entry = crate::api::entry_from_row(row)?;
                // A field the version before does not hold (redacted, added since, erased)
                // is not one the revert puts back (it keeps its value, named in
                // `redacted_kept` or `unknown_kept`): a later change of it is not undone, so
                // no conflict. One it holds goes back, also when a value of it merely reads
                // `[redacted]`.
                let undone = |f: &&str| {
                    step.fields.contains(*f)
                        && match &step.target {
                            Some(before) => before.data.contains_key(*f),
                            None => !step.redacted.contains(*f),
                        }
                };
                for field in entry.changes.fields().filter(undone) {
                    out.push(Conflict {
                        subject: step.subject.clone(),
                        field: field.to_owned(),
                        later_entry_id: entry.id,
                        outside_trail: entry.action == Action::Drift,
                    });
                }
            }
        }
    }
    // In the trail's order, whichever chunk found them.
    out.sort_by_key(|c| c.later_entry_id);
    Ok(out)
}

/// The row of a record (by the key its latest version names), locked; `None` when it is
/// not there.
async fn locked_row<E>(txn: &DatabaseTransaction, subject: &Subject) -> Result<Option<E::Model>>
where
    E: EntityTrait,
    E::Model: AuditedModel,
{
    let Some(latest) =
        crate::history::latest_version(txn, &subject.subject_type, &subject.subject_id).await?
    else {
        return Ok(None);
    };
    let row = crate::restore::by_snapshot_key::<E>(&latest.data)?
        .lock_exclusive()
        .one(txn)
        .await
        .map_err(Error::db("reading the record to revert"))?;
    crate::restore::same_record(row, &subject.subject_type, &subject.subject_id)
}

/// A record's row as the revert found it, locked.
struct Locked {
    /// The `drift` entry logging what changed outside the trail, if anything did.
    drift: Option<i64>,
    /// The row is not there.
    gone: bool,
}

/// Locks the record's row; when it differs from the record's latest version (changed
/// outside the trail, or gone while the trail says it exists), logs the difference as a
/// `drift` entry and version, with no causer, as the record's next hooked write would.
async fn lock_row<E>(txn: &DatabaseTransaction, subject: &Subject) -> Result<Locked>
where
    E: EntityTrait,
    E::Model: AuditedModel,
{
    let (t, id) = (&subject.subject_type, &subject.subject_id);
    Ok(match locked_row::<E>(txn, subject).await? {
        Some(row) => Locked {
            drift: crate::restore::log_drift(txn, t, id, &row).await?,
            gone: false,
        },
        None => Locked {
            drift: crate::restore::log_drift_gone::<E::Model, _>(txn, t, id).await?,
            gone: true,
        },
    })
}

/// Puts the record of `E` back: the fields the request changed from the version before
/// it, over the row as it is (re-inserted from that version when the row is gone), or
/// deletes the record when the request created it.
async fn put_back<E>(txn: &DatabaseTransaction, step: &Step, properties: Value) -> Result<()>
where
    E: EntityTrait,
    E::Model: AuditedModel + IntoActiveModel<E::ActiveModel>,
    E::ActiveModel: ActiveModelTrait<Entity = E> + ActiveModelBehavior + Send,
{
    let current = locked_row::<E>(txn, &step.subject).await?;
    if let Some(before) = &step.target {
        let mut version = before.clone();
        // What the request's fields go back into: the row as it is, or, when it is gone,
        // the last state the trail holds of it (its `deleted` version keeps it).
        let base = match &current {
            Some(row) => Some(row.snapshot()?),
            None => {
                let (t, id) = (&step.subject.subject_type, &step.subject.subject_id);
                crate::history::latest_version(txn, t, id)
                    .await?
                    .filter(|v| v.version > before.version)
                    .map(|v| v.data)
            }
        };
        if let Some(mut data) = base {
            // Later changes of other fields stay. A field the version before does not hold
            // (redacted, added to the model since, erased) keeps its value: the trail does
            // not know the one it had (`Reverted::redacted_kept`, `unknown_kept`).
            for field in &step.fields {
                if let Some(value) = before.data.get(field) {
                    data.insert(field.clone(), value.clone());
                }
            }
            version.data = data;
        }
        let how = Some((Action::Reverted, properties));
        // `lock_row` logged the row's outside changes, under the same lock.
        crate::restore::restore_version::<E, _>(txn, version, how, true).await?;
        return Ok(());
    }
    // Created by the request: delete it.
    let Some(row) = current else {
        return Ok(()); // deleted since, and that is what the revert wants
    };
    let marker = Restoring {
        subject_type: <E::Model as Audited>::SUBJECT_TYPE,
        subject_id: step.subject.subject_id.clone(),
        action: Action::Reverted,
        properties,
    };
    marker
        .scope(row.delete(txn))
        .await
        .map_err(Error::db("deleting the record the request created"))?;
    Ok(())
}
