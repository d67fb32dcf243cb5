//! Chains after retention: [`prune`](crate::prune) marks the links of the rows it removes
//! ([`mark_pruned`], in the transaction that removes them), and [`reanchor`] moves each
//! chain's anchor past its marked links. A row removed any other way leaves its link
//! unmarked, and `verify` reports it whatever retention runs later.

use std::collections::{HashMap, VecDeque};

use sea_orm::sea_query::{Expr, ExprTrait, IntoIden, Query, SelectStatement};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionSession, TransactionTrait,
};

use super::hash::{self, GENESIS, Hash, Kind, Salts};
use crate::entity::{chains, seals};
use crate::{Error, Result};

/// The rows of `kind` among those `ids` selects whose content no longer gives their link's
/// hash after the link before it: rows changed since they were sealed (their `created_at`
/// too, which is what decides what retention removes). Retention leaves them in place, so
/// that `verify` reports them, instead of removing the evidence with its mark. Rows without
/// a link have nothing to be checked against; a link whose predecessor cannot be found
/// (a break `verify` reports) counts as changed. Run it holding the seal runs' lock, so
/// that no row is sealed between the check and the mark.
/// How many row ids one read of [`changed_rows`] names (under every backend's parameter
/// limit, SQLite's 32,766 the lowest).
const IDS_PER_READ: usize = 10_000;

pub(crate) async fn changed_rows<C: ConnectionTrait>(
    db: &C,
    kind: Kind,
    ids: SelectStatement,
) -> Result<Vec<i64>> {
    use sea_orm::sea_query::{Alias, Condition, JoinType};
    use seals::Column as S;
    const CONTEXT: &str = "reading the links of rows to prune";
    // Each link with the hash of the link before it and its chain's anchor, in one query:
    // three key lookups per row (a list of keys in a row-value `IN` is planned as a scan
    // of the links on PostgreSQL).
    let (l, p, c) = (Alias::new("l"), Alias::new("p"), Alias::new("c"));
    let same_chain = |other: &Alias, kind_col, type_col, id_col| {
        Condition::all()
            .add(Expr::col((other.clone(), kind_col)).equals((l.clone(), S::Kind)))
            .add(Expr::col((other.clone(), type_col)).equals((l.clone(), S::SubjectType)))
            .add(Expr::col((other.clone(), id_col)).equals((l.clone(), S::SubjectId)))
    };
    let query = Query::select()
        .columns([
            (l.clone(), S::SubjectType),
            (l.clone(), S::SubjectId),
            (l.clone(), S::Seq),
            (l.clone(), S::RowId),
            (l.clone(), S::Hash),
            (l.clone(), S::Salt),
            (l.clone(), S::Erased),
            (p.clone(), S::Hash),
        ])
        .column((c.clone(), chains::Column::AnchorSeq))
        .column((c.clone(), chains::Column::AnchorHash))
        .column((l.clone(), S::Format))
        .from_as(seals::Entity, l.clone())
        .join_as(
            JoinType::LeftJoin,
            seals::Entity,
            p.clone(),
            same_chain(
                &p,
                S::Kind.into_iden(),
                S::SubjectType.into_iden(),
                S::SubjectId.into_iden(),
            )
            .add(Expr::col((p.clone(), S::Seq)).eq(Expr::col((l.clone(), S::Seq)).sub(1))),
        )
        .join_as(
            JoinType::LeftJoin,
            chains::Entity,
            c.clone(),
            same_chain(
                &c,
                chains::Column::Kind.into_iden(),
                chains::Column::SubjectType.into_iden(),
                chains::Column::SubjectId.into_iden(),
            ),
        )
        .and_where(Expr::col((l.clone(), S::Kind)).eq(kind.code()))
        .and_where(Expr::col((l.clone(), S::RowId)).in_subquery(ids))
        .to_owned();
    struct Found {
        seq: i64,
        row_id: i64,
        hash: String,
        salts: Option<Salts>,
        prev: Option<String>,
        anchor: (Option<i64>, Option<String>),
        format: i16,
    }
    let links: Vec<Found> = db
        .query_all(&query)
        .await
        .map_err(Error::db(CONTEXT))?
        .iter()
        .map(|r| {
            let salt: Option<String> = r.try_get_by_index(5)?;
            let erased: Option<serde_json::Value> = r.try_get_by_index(6)?;
            Ok(Found {
                seq: r.try_get_by_index(2)?,
                row_id: r.try_get_by_index(3)?,
                hash: r.try_get_by_index(4)?,
                salts: Salts::stored(salt.as_deref(), erased.as_ref()),
                prev: r.try_get_by_index(7)?,
                anchor: (r.try_get_by_index(8)?, r.try_get_by_index(9)?),
                format: r.try_get_by_index(10)?,
            })
        })
        .collect::<std::result::Result<_, sea_orm::DbErr>>()
        .map_err(Error::db(CONTEXT))?;
    if links.is_empty() {
        return Ok(Vec::new());
    }
    let row_ids: Vec<i64> = links.iter().map(|l| l.row_id).collect();
    // Every row with these ids: on the partitioned layout an id is not unique (the key
    // holds the time too), and a row inserted under a sealed row's id must not pass for it.
    // (In pieces: a record may have more sealed versions to prune than a statement takes
    // parameters.)
    let mut rows = Vec::with_capacity(row_ids.len());
    // A row that cannot be read back (changed into a value of no type) is changed too:
    // kept, and reported by `verify`, rather than stopping retention.
    let mut unreadable = Vec::new();
    for ids in row_ids.chunks(IDS_PER_READ) {
        let mut ids = ids.to_vec();
        loop {
            let read = super::rows::Rows {
                ids: Some(&ids),
                limit: i64::MAX as u64,
                ..Default::default()
            };
            match read.read(db, kind).await {
                Ok(found) => {
                    rows.extend(found);
                    break;
                }
                Err(Error::Corrupt { id, .. }) if ids.contains(&id) => {
                    unreadable.push(id);
                    ids.retain(|i| *i != id);
                }
                Err(e) => return Err(e),
            }
        }
    }
    let mut by_id: HashMap<i64, Vec<hash::Row>> = HashMap::new();
    for r in rows {
        by_id.entry(r.id()).or_default().push(r);
    }
    let mut changed = Vec::new();
    for l in &links {
        if unreadable.contains(&l.row_id) {
            changed.push(l.row_id);
            continue;
        }
        let row = match by_id.get(&l.row_id).map(Vec::as_slice) {
            None | Some([]) => continue, // gone already: nothing left to keep
            Some([row]) => row,
            Some(_) => {
                // Two rows under one id: which one the link is of cannot be told by id,
                // and a delete by id would take both. Kept, and reported by `verify`.
                changed.push(l.row_id);
                continue;
            }
        };
        let prev: Option<Hash> = match (&l.prev, &l.anchor) {
            _ if l.seq == 1 => Some(GENESIS),
            (Some(h), _) => hash::from_hex(h),
            // The link before was folded into the chain's anchor.
            (None, (Some(seq), Some(h))) if *seq == l.seq - 1 => hash::from_hex(h),
            _ => None,
        };
        let fits = match (prev, hash::from_hex(&l.hash)) {
            (Some(prev), Some(stored)) => super::verify::fits(
                row,
                super::verify::Stored {
                    row_id: l.row_id,
                    format: l.format,
                    salts: l.salts.as_ref(),
                    prev: &prev,
                    hash: &stored,
                },
            ),
            _ => false,
        };
        if !fits {
            changed.push(l.row_id);
        }
    }
    Ok(changed)
}

const PAGE: u64 = 1000;

/// Marks the links of `kind` of the rows `ids` selects (their `row_id` negated: ids are
/// positive) as links of rows retention removes. Run it in the transaction that removes
/// the rows, so that a row is never gone without its mark, nor marked and kept.
pub(crate) async fn mark_pruned<C: ConnectionTrait>(
    db: &C,
    kind: Kind,
    ids: SelectStatement,
) -> Result<u64> {
    use seals::Column as S;
    // A seal step writing links meanwhile would deadlock with the marks on MySQL.
    super::seal::take_runs_lock(db).await?;
    let backend = db.get_database_backend();
    if backend == sea_orm::DbBackend::MySql {
        // MariaDB before 11.1 and MySQL before 8.0.21 run `row_id IN (subquery)` of a
        // one-table UPDATE as a dependent subquery for every link of the table (a scan of
        // all the links per batch), and a join with the rows would lock them against the
        // writers: the ids are read first (a batch's, at most `Retention::MAX_BATCH`), and
        // each probes the links' unique index.
        let ids: Vec<i64> = super::rows::decoded(db, &ids, "reading the ids of pruned rows", |r| {
            r.try_get_by_index(0)
        })
        .await?;
        let mut marked = 0;
        for chunk in ids.chunks(1_000) {
            let mark = Query::update()
                .table(seals::Entity)
                .value(S::RowId, Expr::col(S::RowId).mul(-1))
                .and_where(Expr::col(S::Kind).eq(kind.code()))
                .and_where(Expr::col(S::RowId).is_in(chunk.iter().copied()))
                .to_owned();
            marked += db
                .execute(&mark)
                .await
                .map_err(Error::db("marking the links of pruned rows"))?
                .rows_affected();
        }
        return Ok(marked);
    }
    let mark = Query::update()
        .table(seals::Entity)
        .value(S::RowId, Expr::col(S::RowId).mul(-1))
        .and_where(Expr::col(S::Kind).eq(kind.code()))
        .and_where(Expr::col(S::RowId).in_subquery(ids))
        .to_owned();
    Ok(db
        .execute(&mark)
        .await
        .map_err(Error::db("marking the links of pruned rows"))?
        .rows_affected())
}

/// How many chains [`reanchor`] folds in one transaction: the seal runs' lock (on SQLite
/// the database's write lock) is held for about as many reads and writes of a chain's
/// links and head, not for a whole run's.
const CHAINS_PER_TRANSACTION: usize = 500;

/// For every chain whose oldest links were marked by retention ([`mark_pruned`]), makes
/// the last of those links the chain's anchor and deletes them: the chain then starts
/// from the anchor and verifies as before. A link whose row is gone without a mark is not
/// retention's doing, nor is a marked link behind a link whose row is still there (until
/// that row is pruned too): they stay, and `verify` reports them. Chains are folded
/// [`CHAINS_PER_TRANSACTION`] at a time, each transaction holding the seal runs' lock (no
/// seal step moves a head meanwhile), and each chain whole in one. Returns how many
/// links were folded into anchors.
pub(crate) async fn reanchor<C: ConnectionTrait + TransactionTrait>(db: &C) -> Result<u64> {
    let mut folded = 0;
    for kind in Kind::ALL {
        let mut after = None;
        loop {
            let txn = crate::transaction::begin_own(db)
                .await
                .map_err(Error::db("starting to re-anchor the chains"))?;
            super::seal::lock_runs(&txn).await?;
            let (n, next) = fold_chains(&txn, kind, after.take()).await?;
            txn.commit()
                .await
                .map_err(Error::db("committing the chains' anchors"))?;
            folded += n;
            match next {
                Some(chain) => after = Some(chain),
                None => break,
            }
        }
    }
    Ok(folded)
}

/// Folds the marked links of up to [`CHAINS_PER_TRANSACTION`] chains of `kind`, in key
/// order after the chain `after` (subject type, subject id). How many links it folded,
/// and the last chain it folded when chains with marked links may follow.
async fn fold_chains<C: ConnectionTrait>(
    db: &C,
    kind: Kind,
    after: Option<(String, String)>,
) -> Result<(u64, Option<(String, String)>)> {
    let mut folded = 0;
    let mut chains = 0;
    // Past every link of the chain `after`.
    let mut last: Option<(String, String, i64)> = after.map(|(t, id)| (t, id, i64::MAX));
    // Marked links of one chain, gathered across pages (up to a page of them).
    let mut run: VecDeque<seals::Model> = VecDeque::new();
    loop {
        let page = orphans(db, kind, last.as_ref()).await?;
        let full = page.len() as u64 == PAGE;
        if let Some(l) = page.last() {
            last = Some((l.subject_type.clone(), l.subject_id.clone(), l.seq));
        }
        for link in page {
            let same = run.front().is_some_and(|f| {
                (&f.subject_type, &f.subject_id) == (&link.subject_type, &link.subject_id)
            });
            if !same && !run.is_empty() {
                let chain = (run[0].subject_type.clone(), run[0].subject_id.clone());
                folded += fold(db, kind, std::mem::take(&mut run)).await?;
                chains += 1;
                if chains >= CHAINS_PER_TRANSACTION {
                    return Ok((folded, Some(chain)));
                }
            } else if run.len() as u64 >= PAGE {
                // A chain's marked links are folded a page at a time: memory stays
                // bounded however many of them one prune marked.
                folded += fold(db, kind, std::mem::take(&mut run)).await?;
            }
            run.push_back(link);
        }
        if !full {
            break;
        }
    }
    if !run.is_empty() {
        folded += fold(db, kind, run).await?;
    }
    Ok((folded, None))
}

/// Links of `kind` marked by retention, in chain order, after `after`.
async fn orphans<C: ConnectionTrait>(
    db: &C,
    kind: Kind,
    after: Option<&(String, String, i64)>,
) -> Result<Vec<seals::Model>> {
    use seals::Column as S;
    let mut q = seals::Entity::find()
        .filter(S::Kind.eq(kind.code()))
        .filter(S::RowId.lt(0))
        .order_by_asc(S::SubjectType)
        .order_by_asc(S::SubjectId)
        .order_by_asc(S::Seq)
        .limit(PAGE);
    if let Some((t, id, seq)) = after {
        q = q.filter(super::rows::links_after(
            (t, id, *seq),
            db.get_database_backend(),
        ));
    }
    q.all(db)
        .await
        .map_err(Error::db("reading the links of pruned rows"))
}

/// Folds the orphan links of one chain (in seq order) that directly follow its anchor.
async fn fold<C: ConnectionTrait>(
    db: &C,
    kind: Kind,
    links: VecDeque<seals::Model>,
) -> Result<u64> {
    let first = &links[0];
    let pk = (
        kind.code(),
        first.subject_type.clone(),
        first.subject_id.clone(),
    );
    let Some(chain) = chains::Entity::find_by_id(pk)
        .one(db)
        .await
        .map_err(Error::db("reading a chain's head"))?
    else {
        return Ok(0);
    };
    let mut anchor = None;
    for (next, link) in (chain.anchor_seq + 1..).zip(links.iter()) {
        if link.seq != next {
            break;
        }
        anchor = Some(link);
    }
    let Some(anchor) = anchor else {
        return Ok(0);
    };
    use seals::Column as S;
    let n = seals::Entity::delete_many()
        .filter(S::Kind.eq(kind.code()))
        .filter(S::SubjectType.eq(chain.subject_type.as_str()))
        .filter(S::SubjectId.eq(chain.subject_id.as_str()))
        .filter(S::Seq.lte(anchor.seq))
        .exec(db)
        .await
        .map_err(Error::db("removing the links of pruned rows"))?
        .rows_affected;
    chains::Entity::update(chains::ActiveModel {
        kind: Set(chain.kind),
        subject_type: Set(chain.subject_type.clone()),
        subject_id: Set(chain.subject_id.clone()),
        anchor_seq: Set(anchor.seq),
        anchor_hash: Set(Some(anchor.hash.clone())),
        anchor_run: Set(anchor.run),
        ..Default::default()
    })
    .exec(db)
    .await
    .map_err(Error::db("moving a chain's anchor"))?;
    Ok(n)
}
