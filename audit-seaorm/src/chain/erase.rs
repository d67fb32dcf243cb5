//! [`erase`]: removes field values from a subject's trail for a data-protection request,
//! keeping the chains verifiable.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, TransactionSession,
    TransactionTrait,
};
use serde_json::{Map, Value as Json, json};

use super::hash::{self, ERASED, GENESIS, Hash, Kind, Row, Salts};
use super::rows::Rows;
use super::seal::lock_runs;
use crate::api::NewActivity;
use crate::entity::{activity_log, chains, seals, versions};
use crate::{Error, Result};

/// What [`erase`] changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Erased {
    /// Versions whose snapshot held one of the fields (it is removed from them).
    pub versions: u64,
    /// Entries whose changes held a value of one of them (their values read `"[erased]"`
    /// now; a change already reading only null, `"[erased]"` or `"[redacted]"` holds none,
    /// and is left as it is).
    pub entries: u64,
    /// The `erased` entry that records the erasure.
    pub entry_id: i64,
}

/// Rows read per query.
const PAGE: u64 = 500;

/// Erases the values of `fields` from every version and entry of one subject, for a
/// data-protection request, and records an `erased` entry (its properties name the
/// fields, never the values).
///
/// The fields leave the versions' snapshots (a restore of such a version keeps the
/// record's current value, as for a redacted field) and each entry's change of them reads
/// `"[erased]"` for every value that was not null. Sealed rows keep verifying: each value
/// entered its link's hash as a salted commitment, which stays in the link while the
/// salt that could confirm a guess is destroyed. A sealed row that no longer matches its
/// link is refused ([`Error::Tampered`]) rather than erased, so an erasure cannot hide a
/// change. It runs in one transaction (a savepoint in yours), holding the seal runs' lock,
/// and writes each row it scrubs from the row as committed, locked (on MySQL/MariaDB a
/// locking read of it by its key, so that an older snapshot does not write back values
/// an erasure committed since removed). A field of the primary key, and a subject of
/// which the trail holds no row ([`Error::NoTrail`]), are refused.
///
/// A write of the subject still in flight (not committed) when `erase` reads the trail
/// is not seen, and its version copies the values it read: call `erase` in the
/// transaction that anonymizes or deletes the record, after that write, whose row lock
/// waits for writes in flight to commit and holds later ones back until yours commits.
/// That transaction must read committed data (PostgreSQL's default READ COMMITTED, or
/// MySQL/MariaDB's default REPEATABLE READ, whose snapshot `erase` reads around): in a
/// PostgreSQL REPEATABLE READ or SERIALIZABLE transaction that read before a `seal`
/// committed, the links sealed since are invisible, and the rows they seal would be
/// scrubbed as unsealed (`verify` then reports them `changed`).
///
/// ```no_run
/// # async fn demo(db: &sea_orm::DatabaseConnection) -> audit_seaorm::Result<()> {
/// let done = audit_seaorm::erase(db, "user", 42, &["email", "phone"]).await?;
/// println!("{} versions and {} entries erased", done.versions, done.entries);
/// # Ok(()) }
/// ```
pub async fn erase<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    subject_type: &str,
    subject_id: impl ToString,
    fields: &[&str],
) -> Result<Erased> {
    let subject_id = subject_id.to_string();
    if fields.is_empty() {
        return Err(Error::InvalidArgument(
            "erase: name at least one field".to_owned(),
        ));
    }
    let unknown = check_request(subject_type, &subject_id, fields)?;
    let mut found: Vec<&str> = Vec::new();
    let txn = crate::transaction::begin_own(db)
        .await
        .map_err(Error::db("starting the erasure"))?;
    lock_runs(&txn).await?;
    let mut done = Erased::default();
    let mut any = false;
    for kind in Kind::ALL {
        // Every id, those no database gives (0 and below: rows written by hand) too.
        let mut after = i64::MIN;
        loop {
            let rows = Rows {
                after_id: after,
                subject_type: Some(subject_type),
                subject_id: Some(&subject_id),
                limit: PAGE,
                ..Rows::default()
            }
            .read(&txn, kind)
            .await?;
            let full = rows.len() as u64 == PAGE;
            for row in rows {
                any = true;
                after = row.id();
                if found.len() < unknown.len() {
                    let present = row.fields();
                    let held: Vec<&str> = unknown
                        .iter()
                        .copied()
                        .filter(|f| present.contains_key(*f) && !found.contains(f))
                        .collect();
                    found.extend(held);
                }
                if erase_row(&txn, kind, row, fields, ERASED).await? {
                    match kind {
                        Kind::Log => done.entries += 1,
                        Kind::Versions => done.versions += 1,
                    }
                }
            }
            if !full {
                break;
            }
        }
    }
    // No row at all: a misspelt type or id (or a trail pruned away), which would erase
    // nothing and still record the erasure, under a subject that has no other row.
    if !any {
        return Err(Error::NoTrail {
            subject_type: subject_type.to_owned(),
            subject_id,
        });
    }
    // A field the model does not have (any more) that no row holds either: a misspelling,
    // which would erase nothing and still record the erasure. (Rolled back: nothing
    // written.)
    if let Some(missing) = unknown.iter().find(|f| !found.contains(f)) {
        let names: Vec<&str> = crate::registry::fields_of(subject_type)
            .unwrap_or_default()
            .iter()
            .map(|k| k.name)
            .collect();
        return Err(Error::InvalidArgument(format!(
            "erase: `{subject_type}` has no field `{missing}` (its fields: {}), and no row of \
             `{subject_id}`'s trail holds one",
            names.join(", ")
        )));
    }
    let entry = crate::api::log(
        &txn,
        NewActivity::new("erased")
            .subject(subject_type, &subject_id)
            .properties(json!({
                "fields": fields,
                "versions": done.versions,
                "entries": done.entries,
            })),
    )
    .await?;
    done.entry_id = entry.id;
    txn.commit()
        .await
        .map_err(Error::db("committing the erasure"))?;
    Ok(done)
}

/// Scrubs `fields` out of one row (`marker`: what an entry's erased value reads) and, when
/// the row is sealed, moves its link to commitments. Whether the row held any of them.
pub(crate) async fn erase_row<C: ConnectionTrait>(
    db: &C,
    kind: Kind,
    row: Row,
    fields: &[&str],
    marker: &str,
) -> Result<bool> {
    // Which of `fields` the row holds a value of, and its fields: a version's snapshot the
    // field, an entry's change a value that is not null or a marker already (erased or
    // redacted before: nothing left to remove, and its marker stays).
    let held = |row: &Row| {
        let present = row.fields();
        let touched: Vec<&str> = fields
            .iter()
            .copied()
            .filter(|f| match (row, present.get(*f)) {
                (_, None) => false,
                (Row::Log(_), Some(change)) => !hash::scrubbed_change(change),
                (Row::Versions(_), Some(_)) => true,
            })
            .collect();
        (present, touched)
    };
    if held(&row).1.is_empty() {
        return Ok(false);
    }
    // The row as committed now, locked until the transaction ends (MySQL/MariaDB: a
    // locking read of it by its key; a scan of the table's rows would lock every row it
    // passes): a scan in a snapshot older than a scrub committed since must not write
    // back the values that scrub removed.
    let row = if db.get_database_backend() == sea_orm::DbBackend::MySql {
        let ids = [row.id()];
        let fresh = Rows {
            after_id: i64::MIN,
            ids: Some(&ids),
            limit: 1,
            committed: true,
            ..Rows::default()
        }
        .read(db, kind)
        .await?;
        match fresh.into_iter().next() {
            Some(fresh) => fresh,
            None => return Ok(false), // removed meanwhile (pruned)
        }
    } else {
        row
    };
    let (present, touched) = held(&row);
    if touched.is_empty() {
        return Ok(false);
    }
    let scrubbed = scrub(&row, &present, &touched, marker);
    let backend = db.get_database_backend();
    // (By the row's subject too: on the partitioned layout ids are unique per partition
    // only, and a row forged under another's id must not be checked against that one's
    // link.)
    let (subject_type, subject_id) = row.subject();
    let link = seals::Entity::find()
        .filter(seals::Column::Kind.eq(kind.code()))
        .filter(seals::Column::SubjectType.eq(subject_type))
        .filter(seals::Column::SubjectId.eq(subject_id))
        .filter(seals::Column::RowId.eq(row.id()));
    let link = super::committed(link, backend)
        .one(db)
        .await
        .map_err(Error::db("reading a row's link"))?;
    if let Some(link) = link {
        let broken = || Error::Tampered {
            table: kind.table(),
            row_id: row.id(),
            reason: "erasing it would hide that",
        };
        let salts = Salts::stored(link.salt.as_deref(), link.erased.as_ref()).ok_or_else(broken)?;
        let prev = previous(db, kind, &link).await?;
        let before = row.content(&salts).ok_or_else(broken)?;
        let stored = hash::from_hex(&link.hash).ok_or_else(broken)?;
        if hash::link(link.format, &prev, row.id(), &before) != Some(stored) {
            return Err(broken());
        }
        let after = salts.erase(&row, &touched).ok_or_else(broken)?;
        if scrubbed.content(&after).as_deref() != Some(before.as_slice()) {
            return Err(Error::Chain(format!(
                "{} row {}: its erased form would not verify",
                kind.table(),
                row.id()
            )));
        }
        seals::Entity::update(seals::ActiveModel {
            kind: Set(link.kind),
            subject_type: Set(link.subject_type.clone()),
            subject_id: Set(link.subject_id.clone()),
            seq: Set(link.seq),
            salt: Set(after.secret_hex()),
            erased: Set(after.erased_json()),
            ..Default::default()
        })
        .exec(db)
        .await
        .map_err(Error::db("keeping the erased values' commitments"))?;
    }
    write_scrubbed(db, &scrubbed).await?;
    Ok(true)
}

/// Refuses a request that cannot be what was meant, for a subject type a model of the
/// program writes: for a model whose key has several fields, a subject id that is not
/// the JSON array of as many values the trail names it by (`[1,"en"]`). The fields the
/// model does not have (removed since, or misspelt): [`erase`] refuses those that no row
/// of the trail holds either. A type no model writes any more is taken as given.
fn check_request<'f>(
    subject_type: &str,
    subject_id: &str,
    fields: &[&'f str],
) -> Result<Vec<&'f str>> {
    let Some(known) = crate::registry::fields_of(subject_type) else {
        return Ok(Vec::new());
    };
    // The key's values name the subject (its `subject_id`, every link of its chains):
    // erasing them from the rows would hide nothing, and would leave no version that a
    // restore or revert could rebuild the record from.
    if let Some(key) = fields
        .iter()
        .find(|f| known.iter().any(|k| k.primary_key && k.name == **f))
    {
        return Err(Error::InvalidArgument(format!(
            "erase: `{key}` is part of `{subject_type}`'s primary key, which names the \
             subject in every row of its trail: it cannot be erased"
        )));
    }
    let unknown = fields
        .iter()
        .copied()
        .filter(|f| !known.iter().any(|k| k.name == *f))
        .collect();
    let keys = known.iter().filter(|k| k.primary_key).count();
    if keys > 1 {
        let parsed: Option<Vec<Json>> = serde_json::from_str(subject_id).ok();
        let canonical = parsed
            .filter(|values| values.len() == keys)
            .map(|values| Json::Array(values).to_string());
        if canonical.as_deref() != Some(subject_id) {
            let hint = canonical.map_or(String::new(), |c| format!(" (here `{c}`)"));
            return Err(Error::InvalidArgument(format!(
                "erase: `{subject_type}`'s key has {keys} fields: its subject id is the JSON \
                 array of their values as the trail names it (`SubjectId::from_key`){hint}, \
                 not `{subject_id}`"
            )));
        }
    }
    Ok(unknown)
}

/// The row with `touched` scrubbed: gone from a snapshot, `marker` for an entry's values.
fn scrub(row: &Row, present: &Map<String, Json>, touched: &[&str], marker: &str) -> Row {
    let mut map = present.clone();
    for field in touched {
        match row {
            Row::Versions(_) => {
                map.remove(*field);
            }
            Row::Log(_) => {
                if let Some(Json::Object(change)) = map.get_mut(*field) {
                    for value in change.values_mut() {
                        if !value.is_null() {
                            *value = Json::String(marker.to_owned());
                        }
                    }
                }
            }
        }
    }
    match row.clone() {
        Row::Versions(mut r) => {
            r.data = Json::Object(map);
            Row::Versions(r)
        }
        Row::Log(mut r) => {
            r.changes = Json::Object(map);
            Row::Log(r)
        }
    }
}

async fn write_scrubbed<C: ConnectionTrait>(db: &C, row: &Row) -> Result<()> {
    const CONTEXT: &str = "writing the erased row";
    match row {
        // By id and subject: on the partitioned layout ids are unique per partition only.
        Row::Versions(r) => {
            versions::Entity::update_many()
                .col_expr(versions::Column::Data, Expr::val(r.data.clone()))
                .filter(versions::Column::Id.eq(r.id))
                .filter(versions::Column::SubjectType.eq(r.subject_type.as_str()))
                .filter(versions::Column::SubjectId.eq(r.subject_id.as_str()))
                .exec(db)
                .await
                .map_err(Error::db(CONTEXT))?;
        }
        Row::Log(r) => {
            activity_log::Entity::update_many()
                .col_expr(activity_log::Column::Changes, Expr::val(r.changes.clone()))
                .filter(activity_log::Column::Id.eq(r.id))
                .filter(activity_log::Column::SubjectType.eq(r.subject_type.as_str()))
                .filter(activity_log::Column::SubjectId.eq(r.subject_id.as_str()))
                .exec(db)
                .await
                .map_err(Error::db(CONTEXT))?;
        }
    }
    Ok(())
}

/// The hash a link follows: the link before it, the chain's anchor, or the genesis.
async fn previous<C: ConnectionTrait>(db: &C, kind: Kind, link: &seals::Model) -> Result<Hash> {
    if link.seq > 1 {
        let pk = (
            kind.code(),
            link.subject_type.clone(),
            link.subject_id.clone(),
            link.seq - 1,
        );
        let backend = db.get_database_backend();
        if let Some(before) = super::committed(seals::Entity::find_by_id(pk), backend)
            .one(db)
            .await
            .map_err(Error::db("reading a link"))?
        {
            return hash::from_hex(&before.hash).ok_or(Error::Tampered {
                table: kind.table(),
                row_id: link.row_id,
                reason: "the link before it holds no hash",
            });
        }
        let pk = (
            kind.code(),
            link.subject_type.clone(),
            link.subject_id.clone(),
        );
        let chain = super::committed(chains::Entity::find_by_id(pk), backend)
            .one(db)
            .await
            .map_err(Error::db("reading a chain's head"))?;
        return chain
            .filter(|c| c.anchor_seq == link.seq - 1)
            .and_then(|c| c.anchor_hash)
            .and_then(|h| hash::from_hex(&h))
            .ok_or(Error::Tampered {
                table: kind.table(),
                row_id: link.row_id,
                reason: "the link before it is missing",
            });
    }
    Ok(GENESIS)
}
