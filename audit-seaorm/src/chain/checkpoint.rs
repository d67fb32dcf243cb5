//! [`checkpoint`]: a signed digest of every chain head, to keep outside the database.

use chrono::{DateTime, SubsecRound, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionSession, TransactionTrait,
};
use serde::{Deserialize, Serialize};

use super::hash::{self, Hash, Kind, Merkle};
use super::seal::{self, lock_runs};
use crate::entity::{chains, seal_runs, seals};
use crate::{Error, Result};

/// A signed statement of every chain's head at one seal run: keep it (or at least its
/// `root`) outside the database, where whoever can write the audit tables cannot reach.
/// [`verify_checkpoint`] then proves that no chain has lost links or vanished since.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "axum", derive(utoipa::ToSchema))]
pub struct Checkpoint {
    /// The seal run it covers: the links of this run and the runs before it.
    pub run: i64,
    /// When it was taken (UTC).
    pub sealed_at: DateTime<Utc>,
    /// How many chains it covers (the Merkle tree's leaves).
    pub chains: u64,
    /// The RFC 6962 Merkle root over the chain heads, in (table, subject) order (hex).
    pub root: String,
    /// The Ed25519 public key that signed it (hex).
    pub public_key: String,
    /// The Ed25519 signature over [`Checkpoint::message`] (hex).
    pub signature: String,
}

impl Checkpoint {
    /// The bytes signed: tag, format, run, time (µs), chain count, root.
    pub fn message(&self) -> Vec<u8> {
        message(self.run, self.sealed_at, self.chains, &self.root)
    }
}

fn message(run: i64, at: DateTime<Utc>, chains: u64, root: &str) -> Vec<u8> {
    let mut m = Vec::with_capacity(96);
    m.extend_from_slice(hash::TAG);
    m.extend_from_slice(b"/checkpoint\0");
    m.push(hash::FORMAT);
    m.extend_from_slice(&run.to_be_bytes());
    m.extend_from_slice(&at.timestamp_micros().to_be_bytes());
    m.extend_from_slice(&chains.to_be_bytes());
    m.extend_from_slice(root.as_bytes());
    m
}

/// Seals what is unsealed, then signs the Merkle root over every chain's head with `key`
/// and records the checkpoint as a seal run. Returns it to be kept outside the database.
///
/// ```no_run
/// # async fn job(db: &sea_orm::DatabaseConnection) -> audit_seaorm::Result<()> {
/// use audit_seaorm::ed25519_dalek::SigningKey;
/// let key = SigningKey::from_bytes(&[7; 32]); // from your secret store
/// let checkpoint = audit_seaorm::checkpoint(db, &key).await?;
/// println!("{}", serde_json::to_string(&checkpoint).unwrap()); // keep it elsewhere
/// # Ok(()) }
/// ```
pub async fn checkpoint<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    key: &SigningKey,
) -> Result<Checkpoint> {
    seal::seal(db).await?;
    let txn = crate::transaction::begin_own(db)
        .await
        .map_err(Error::db("starting the checkpoint"))?;
    let runs = lock_runs(&txn).await?;
    // (after the lock, and never before the last run: the runs' times only go forward)
    let sealed_at = Ord::max(Utc::now().trunc_subsecs(6), runs.latest.sealed_at);
    let run = runs.latest.run + 1;
    let (root, n) = heads_root(&txn, None).await?;
    let root = hash::to_hex(&root);
    let signature = key.sign(&message(run, sealed_at, n, &root));
    let checkpoint = Checkpoint {
        run,
        sealed_at,
        chains: n,
        root,
        public_key: const_hex::encode(key.verifying_key().to_bytes()),
        signature: const_hex::encode(signature.to_bytes()),
    };
    seal_runs::Entity::insert(seal_runs::ActiveModel {
        run: Set(run),
        sealed_at: Set(sealed_at),
        rows: Set(0),
        log_max_id: Set(runs.latest.log_max_id),
        versions_max_id: Set(runs.latest.versions_max_id),
        // Its `seal` may not have swept.
        complete: Set(false),
        chains: Set(Some(n as i64)),
        root: Set(Some(checkpoint.root.clone())),
        public_key: Set(Some(checkpoint.public_key.clone())),
        signature: Set(Some(checkpoint.signature.clone())),
    })
    .exec_without_returning(&txn)
    .await
    .map_err(Error::db("recording the checkpoint"))?;
    txn.commit()
        .await
        .map_err(Error::db("committing the checkpoint"))?;
    Ok(checkpoint)
}

/// The checkpoints recorded in the database, newest first (at most `limit`). A copy kept
/// elsewhere is what counts: these can be rewritten with the rest.
pub async fn checkpoints<C: ConnectionTrait>(db: &C, limit: u64) -> Result<Vec<Checkpoint>> {
    let rows = seal_runs::Entity::find()
        .filter(seal_runs::Column::Root.is_not_null())
        .order_by_desc(seal_runs::Column::Run)
        .limit(limit)
        .all(db)
        .await
        .map_err(Error::db("reading the checkpoints"))?;
    Ok(rows
        .into_iter()
        .map(|r| Checkpoint {
            run: r.run,
            sealed_at: r.sealed_at,
            chains: r.chains.unwrap_or(0) as u64,
            root: r.root.unwrap_or_default(),
            public_key: r.public_key.unwrap_or_default(),
            signature: r.signature.unwrap_or_default(),
        })
        .collect())
}

/// What [`verify_checkpoint`] found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "axum", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct CheckpointCheck {
    /// The run checked.
    pub run: i64,
    /// Whether the heads as of that run still give the signed root.
    pub matches: bool,
    /// The chains the checkpoint covered.
    pub chains_then: u64,
    /// The chains found as of that run now.
    pub chains_now: u64,
    /// The root the trail gives now (hex).
    pub root_now: String,
}

/// Checks `checkpoint` against the trail: its signature by `key` first
/// ([`Error::SignatureInvalid`] when it is not: a forged or altered checkpoint, an alarm
/// like a mismatch), then whether every chain still holds, at the place it had then, the link it
/// had then. A chain cut short, removed, or rewritten since gives another root.
///
/// Chains whose links before the checkpoint were all [`prune`](crate::prune)d since
/// cannot be checked against it: check against a checkpoint taken after the prune.
///
/// The heads are read in one transaction holding the seal runs' lock, as `checkpoint`
/// reads them: a seal or a prune that moves a head or an anchor meanwhile would otherwise
/// make the heads and their links disagree (a false "does not match").
pub async fn verify_checkpoint<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    checkpoint: &Checkpoint,
    key: &VerifyingKey,
) -> Result<CheckpointCheck> {
    let signature = const_hex::decode(&checkpoint.signature)
        .ok()
        .and_then(|b| Signature::from_slice(&b).ok())
        .ok_or(Error::SignatureInvalid {
            run: checkpoint.run,
        })?;
    key.verify_strict(&checkpoint.message(), &signature)
        .map_err(|_| Error::SignatureInvalid {
            run: checkpoint.run,
        })?;
    let txn = crate::transaction::begin_own(db)
        .await
        .map_err(Error::db("starting the checkpoint's check"))?;
    super::seal::take_runs_lock(&txn).await?;
    let (root, n) = heads_root(&txn, Some(checkpoint.run)).await?;
    txn.commit()
        .await
        .map_err(Error::db("ending the checkpoint's check"))?;
    let root_now = hash::to_hex(&root);
    Ok(CheckpointCheck {
        run: checkpoint.run,
        matches: root_now == checkpoint.root && n == checkpoint.chains,
        chains_then: checkpoint.chains,
        chains_now: n,
        root_now,
    })
}

/// The Merkle root over every chain's head (as of run `as_of`: its latest link made by
/// that run or before), and the chain count.
async fn heads_root<C: ConnectionTrait>(db: &C, as_of: Option<i64>) -> Result<(Hash, u64)> {
    use chains::Column as H;
    const PAGE: u64 = 5000;
    let mut tree = Merkle::default();
    let mut last: Option<(i16, String, String)> = None;
    loop {
        let mut q = chains::Entity::find()
            .order_by_asc(H::Kind)
            .order_by_asc(H::SubjectType)
            .order_by_asc(H::SubjectId)
            .limit(PAGE);
        if let Some((k, t, id)) = &last {
            q = q.filter(super::rows::after(
                &[H::Kind, H::SubjectType, H::SubjectId],
                vec![(*k).into(), t.as_str().into(), id.as_str().into()],
                false,
                db.get_database_backend(),
            ));
        }
        let page = q
            .all(db)
            .await
            .map_err(Error::db("reading the chains' heads"))?;
        let full = page.len() as u64 == PAGE;
        for c in page {
            let kind = Kind::from_code(c.kind)
                .ok_or_else(|| Error::Chain(format!("a chain of unknown table {}", c.kind)))?;
            let head = match as_of {
                // A chain no prune could have folded whole gives no leaf: its rows are gone.
                _ if super::folded_away(db, kind, &c).await? => None,
                Some(run) if c.head_run > run => head_as_of(db, &c, run).await?,
                _ => Some((c.head_seq, c.head_hash.clone())),
            };
            if let Some((seq, h)) = head {
                let h = hash::from_hex(&h)
                    .ok_or_else(|| Error::Chain(format!("a chain head holds no hash: {h:?}")))?;
                tree.push(hash::leaf(kind, (&c.subject_type, &c.subject_id), seq, &h));
            }
            last = Some((c.kind, c.subject_type, c.subject_id));
        }
        if !full {
            return Ok((tree.root(), tree.leaves));
        }
    }
}

/// A chain's latest link made by run `run` or before (`None`: the chain began later).
async fn head_as_of<C: ConnectionTrait>(
    db: &C,
    c: &chains::Model,
    run: i64,
) -> Result<Option<(i64, String)>> {
    use seals::Column as S;
    let link = seals::Entity::find()
        .filter(S::Kind.eq(c.kind))
        .filter(S::SubjectType.eq(c.subject_type.as_str()))
        .filter(S::SubjectId.eq(c.subject_id.as_str()))
        .filter(S::Run.lte(run))
        .order_by_desc(S::Seq)
        .one(db)
        .await
        .map_err(Error::db("reading a chain's link"))?;
    Ok(match link {
        Some(l) => Some((l.seq, l.hash)),
        // Pruned up to its anchor since: the anchor is that head if that run made it (a
        // later anchor means the chain's head then is gone, or the chain began later).
        None => c
            .anchor_hash
            .clone()
            .filter(|_| c.anchor_run <= run)
            .map(|h| (c.anchor_seq, h)),
    })
}
