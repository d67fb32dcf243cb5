//! [`verify`]: walks the chains and reports the first broken link of each.

use std::collections::{HashSet, VecDeque};

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QueryResult,
    QuerySelect,
};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::hash::{self, Content, GENESIS, Hash, Kind, Row, Salts};
use super::rows::by_index::JsonText;
use super::rows::{self, Rows};
use super::seal::Late;
use crate::entity::{chains, seals};
use crate::{Error, Result};

/// Rows read per query where `verify` looks for rows without a link, and chain heads
/// read per query.
const PAGE: u64 = 1000;
/// Links (with their rows) read per query. Larger pages cost the database less per row
/// (a query's planning and start); on PostgreSQL pages of 4,000 walk about 10 % faster
/// than pages of 1,000 (BENCHMARKS.md section 44), and larger ones no faster.
const LINK_PAGE: u64 = 4000;

/// The links read per query in `scope`: no more than its [`VerifyScope::max_links`],
/// so that a call with a small budget reads no page beyond it.
fn link_page(scope: &VerifyScope) -> u64 {
    LINK_PAGE.min(scope.max_links.max(1))
}
/// Row ids read per query when looking for rows without a link.
const ID_PAGE: u64 = 10_000;
/// Links of a chain past the page at hand read to tell a moved row from a changed one.
const LOOKAHEAD: u64 = 10_000;
/// Links hashed between two yields to the page being read meanwhile.
const YIELD_EVERY: u64 = 128;

/// What [`verify`] checks: everything, one subject type or one subject, the rows of a
/// time range, in bounded steps.
///
/// ```
/// use audit_seaorm::VerifyScope;
/// let scope = VerifyScope::all().subject_type("post").max_links(10_000);
/// # let _ = scope;
/// ```
#[derive(Clone, Debug)]
pub struct VerifyScope {
    subject_type: Option<String>,
    subject_id: Option<String>,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    max_links: u64,
    max_breaks: usize,
    after: Option<Cursor>,
    parallel: usize,
}

impl Default for VerifyScope {
    fn default() -> Self {
        Self {
            subject_type: None,
            subject_id: None,
            since: None,
            until: None,
            max_links: u64::MAX,
            max_breaks: 1000,
            after: None,
            parallel: 2,
        }
    }
}

impl VerifyScope {
    /// Every chain of both tables.
    pub fn all() -> Self {
        Self::default()
    }

    /// Only the chains of one subject type.
    pub fn subject_type(mut self, subject_type: impl Into<String>) -> Self {
        self.subject_type = Some(subject_type.into());
        self
    }

    /// Only the two chains of one subject (its entries and its versions).
    pub fn subject(
        mut self,
        subject_type: impl Into<String>,
        subject_id: impl Into<String>,
    ) -> Self {
        self.subject_type = Some(subject_type.into());
        self.subject_id = Some(subject_id.into());
        self
    }

    /// Reports the rows without a link (pending, or inserted) written at or after `since`
    /// only. Every linked row of the chains walked is checked whatever its time: a row's
    /// `created_at` is one of the things a tampering can change, so it cannot decide
    /// whether the row is looked at.
    pub fn since(mut self, since: DateTime<Utc>) -> Self {
        self.since = Some(since);
        self
    }

    /// Reports the rows without a link written before `until` only (see
    /// [`since`](Self::since)).
    pub fn until(mut self, until: DateTime<Utc>) -> Self {
        self.until = Some(until);
        self
    }

    /// Stops after about this many links and rows (at least 1), with
    /// [`Report::next`] saying where to go on.
    pub fn max_links(mut self, n: u64) -> Self {
        self.max_links = n.max(1);
        self
    }

    /// Reports at most this many breaks (default 1,000); [`Report::more_breaks`] says
    /// when there were more.
    pub fn max_breaks(mut self, n: usize) -> Self {
        self.max_breaks = n;
        self
    }

    /// Goes on where an earlier report's [`Report::next`] stopped.
    pub fn after(mut self, cursor: Cursor) -> Self {
        self.after = Some(cursor);
        self
    }

    /// Walks up to `n` ranges of chains at once (default 2, at least 1), each reading on
    /// a connection of its own when `db` is a pool: the database's work on the links
    /// and rows, most of a walk's time, then runs on as many of its cores. Only a walk
    /// of everything or of a subject type, without [`max_links`](Self::max_links) or a
    /// cursor, is split; a stepped walk goes one range at a time.
    pub fn parallel(mut self, n: usize) -> Self {
        self.parallel = n.max(1);
        self
    }

    /// Whether this walk is split into ranges of chains walked at once.
    fn splits(&self) -> bool {
        self.parallel > 1
            && self.max_links == u64::MAX
            && self.after.is_none()
            && self.subject_id.is_none()
    }

    fn in_time(&self, at: DateTime<Utc>) -> bool {
        self.since.is_none_or(|s| at >= s) && self.until.is_none_or(|u| at < u)
    }
}

/// Where a [`verify`] that stopped at its [`VerifyScope::max_links`] goes on, as an
/// opaque text (`Display` / `FromStr`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor(Position);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Position {
    /// After this link.
    Link(Kind, String, String, i64),
    /// Looking for unsealed rows of this table after this id.
    Unsealed(Kind, i64),
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Position::Link(k, t, id, seq) => {
                write!(f, "l{}.{seq}.{}.{t}{id}", k.code(), t.len())
            }
            Position::Unsealed(k, id) => write!(f, "u{}.{id}", k.code()),
        }
    }
}

impl std::str::FromStr for Cursor {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::InvalidArgument(format!("not a verify cursor: {s:?}"));
        let (tag, rest) = s.split_at_checked(1).ok_or_else(bad)?;
        let mut parts = rest.splitn(4, '.');
        let kind = parts
            .next()
            .and_then(|k| k.parse().ok())
            .and_then(Kind::from_code)
            .ok_or_else(bad)?;
        let num: i64 = parts.next().and_then(|n| n.parse().ok()).ok_or_else(bad)?;
        match tag {
            "u" if parts.next().is_none() => Ok(Cursor(Position::Unsealed(kind, num))),
            "l" => {
                let len: usize = parts.next().and_then(|n| n.parse().ok()).ok_or_else(bad)?;
                let key = parts.next().ok_or_else(bad)?;
                let (t, id) = key.split_at_checked(len).ok_or_else(bad)?;
                Ok(Cursor(Position::Link(
                    kind,
                    t.to_owned(),
                    id.to_owned(),
                    num,
                )))
            }
            _ => Err(bad()),
        }
    }
}

/// What [`verify`] found.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "axum", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct Report {
    /// Links followed.
    pub links: u64,
    /// Chains walked.
    pub chains: u64,
    /// Rows not sealed yet, written within [`SEAL_GRACE`](crate::SEAL_GRACE) of the last run that caught
    /// up (or before any run did): the next [`seal`](crate::seal) links them.
    pub pending: u64,
    /// The first break of each broken chain.
    pub breaks: Vec<Break>,
    /// Whether breaks were left out (more than [`VerifyScope::max_breaks`]).
    pub more_breaks: bool,
    /// Where to go on ([`VerifyScope::after`]) when the walk stopped at its limit.
    pub next: Option<String>,
}

impl Report {
    /// Adds what a walk of a later part found, keeping at most `max_breaks` breaks.
    fn absorb(&mut self, part: Report, max_breaks: usize) {
        self.links += part.links;
        self.chains += part.chains;
        self.pending += part.pending;
        let room = max_breaks.saturating_sub(self.breaks.len());
        self.more_breaks |= part.more_breaks || part.breaks.len() > room;
        self.breaks.extend(part.breaks.into_iter().take(room));
    }

    /// No break found (in what was walked: see [`Report::next`]).
    pub fn is_intact(&self) -> bool {
        self.breaks.is_empty()
    }
}

/// A broken link.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "axum", derive(utoipa::ToSchema))]
pub struct Break {
    /// `activity_log` or `versions`.
    pub table: String,
    /// The chain's subject type.
    pub subject_type: String,
    /// The chain's subject id.
    pub subject_id: String,
    /// The link's place in the chain (`None` for a row that has no link).
    pub seq: Option<i64>,
    /// The row concerned, when there is one.
    pub row_id: Option<i64>,
    /// What is wrong.
    pub reason: BreakReason,
}

/// Why a link is broken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "axum", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum BreakReason {
    /// The row's content is not what was sealed.
    Changed,
    /// The link's row, or links, are gone: a deleted row, or a chain cut short.
    Missing,
    /// A row the chains have moved past without it: inserted into the past, or dated so
    /// far ahead that the runs moved past it before its time came (or written by a
    /// transaction that committed more than [`SEAL_GRACE`](crate::SEAL_GRACE) after writing
    /// it; once you have checked such a row, [`seal_late`](crate::seal_late) seals it).
    Inserted,
    /// The row holds what another link of the chain sealed: rows swapped or moved (to
    /// any link before it, or up to 10,000 links past the page of links at hand; one
    /// moved farther ahead is reported as [`Changed`](Self::Changed)).
    Reordered,
    /// The chain's recorded head does not match its last link.
    HeadChanged,
}

/// Walks the chains in `scope` and reports, for each, the first broken link with the
/// reason, then the rows that have no link but should. Reads one page at a time: its
/// memory does not grow with the trail.
///
/// A chain is the rows of one table about one subject, in the order [`seal`](crate::seal)
/// linked them. `verify` proves that no sealed row was changed, removed, reordered or
/// inserted behind the chain since it was sealed. It cannot tell whether someone who
/// could rewrite every row also rewrote the chains: a [`checkpoint`](crate::checkpoint)
/// kept outside the database can ([`verify_checkpoint`](crate::verify_checkpoint)).
///
/// ```no_run
/// # async fn job(db: &sea_orm::DatabaseConnection) -> audit_seaorm::Result<()> {
/// use audit_seaorm::{VerifyScope, verify};
/// let report = verify(db, &VerifyScope::all()).await?;
/// for b in &report.breaks {
///     eprintln!("{} {} {}: {:?} at link {:?}", b.table, b.subject_type, b.subject_id, b.reason, b.seq);
/// }
/// assert!(report.is_intact());
/// # Ok(()) }
/// ```
pub async fn verify<C: ConnectionTrait>(db: &C, scope: &VerifyScope) -> Result<Report> {
    let (late, _) = Late::read(db).await?;
    let mut report = if scope.splits() {
        verify_split(db, scope, late).await?
    } else {
        verify_walk(db, scope, late).await?
    };
    confirm(db, scope, &mut report).await?;
    Ok(report)
}

/// How many times [`confirm`] walks a chain again while a seal keeps moving its head.
const CONFIRM_TRIES: usize = 3;

/// Walks again, alone, each chain a break of `report` says is `missing` a link, has a
/// head that does not match, or holds a `changed` link: the walk read the chain's head
/// and its links at different moments, and a seal that extended the chain in between
/// looks like either of the first two, a prune that folded its oldest links into the
/// anchor like the third (a link below the anchor read before the fold). Each chain
/// is walked between two reads of its head; when the head did not move (a seal writes a
/// chain's links and its head in one transaction), that walk's findings replace the
/// first ones. When it kept moving, or the walks ran out of the call's `max_links`
/// (shared by them all), the first findings stand.
async fn confirm<C: ConnectionTrait>(
    db: &C,
    scope: &VerifyScope,
    report: &mut Report,
) -> Result<()> {
    let mut suspects: Vec<(Kind, Key)> = Vec::new();
    for b in &report.breaks {
        if !matches!(
            b.reason,
            BreakReason::Missing | BreakReason::HeadChanged | BreakReason::Changed
        ) {
            continue;
        }
        let Some(kind) = Kind::ALL.into_iter().find(|k| k.table() == b.table) else {
            continue;
        };
        if b.reason == BreakReason::Changed {
            // Only a link the chain's anchor has passed since (a prune folded it) can be
            // the walk's misreading; a change further on would be found again.
            let pk = (kind.code(), b.subject_type.clone(), b.subject_id.clone());
            let anchor = chains::Entity::find_by_id(pk)
                .one(db)
                .await
                .map_err(Error::db("reading a chain's head"))?
                .map(|h| h.anchor_seq);
            if anchor.is_none_or(|a| b.seq.is_none_or(|seq| seq > a)) {
                continue;
            }
        }
        let suspect = (kind, (b.subject_type.clone(), b.subject_id.clone()));
        if !suspects.contains(&suspect) {
            suspects.push(suspect);
        }
    }
    // The walks again share the call's `max_links`: a trail with many breaks cannot make
    // one call walk more than that again.
    let mut budget = scope.max_links;
    for (kind, key) in suspects {
        for _ in 0..CONFIRM_TRIES {
            if budget == 0 {
                return Ok(());
            }
            let one = VerifyScope {
                subject_type: Some(key.0.clone()),
                subject_id: Some(key.1.clone()),
                after: None,
                parallel: 1,
                max_links: budget,
                ..scope.clone()
            };
            let before = head_of(db, kind, &key).await?;
            let mut walk = Walk::new(&one);
            let stopped = walk.links(db, kind, None, None).await?;
            // What the walk read, links past a break included.
            budget = walk.budget.min(budget.saturating_sub(1));
            if stopped.is_some() {
                break;
            }
            if head_of(db, kind, &key).await? != before {
                continue;
            }
            let of_chain = |b: &Break| {
                b.table == kind.table() && (&b.subject_type, &b.subject_id) == (&key.0, &key.1)
            };
            // What the walk of links can find; a row without a link (`inserted`) was found
            // by the search for such rows, which this walk does not repeat: it stays.
            let of_links = |b: &Break| of_chain(b) && b.reason != BreakReason::Inserted;
            let at = report.breaks.iter().position(of_links).unwrap_or(0);
            report.breaks.retain(|b| !of_links(b));
            let found = walk.report.breaks.into_iter().filter(|b| of_links(b));
            report.breaks.splice(at..at, found);
            break;
        }
    }
    Ok(())
}

/// A chain's head: its seq and hash (`None`: no head).
async fn head_of<C: ConnectionTrait>(
    db: &C,
    kind: Kind,
    key: &Key,
) -> Result<Option<(i64, String)>> {
    let pk = (kind.code(), key.0.clone(), key.1.clone());
    Ok(chains::Entity::find_by_id(pk)
        .one(db)
        .await
        .map_err(Error::db("reading a chain's head"))?
        .map(|h| (h.head_seq, h.head_hash)))
}

/// [`verify`] in one range: the chains of each table, then its unsealed rows.
async fn verify_walk<C: ConnectionTrait>(
    db: &C,
    scope: &VerifyScope,
    late: Late,
) -> Result<Report> {
    let mut walk = Walk::new(scope);
    let start = scope.after.as_ref().map(|c| c.0.clone());
    let kinds = Kind::ALL;
    let first = match &start {
        Some(Position::Link(k, ..) | Position::Unsealed(k, _)) => {
            kinds.iter().position(|x| x == k).unwrap_or(0)
        }
        None => 0,
    };
    for (i, &kind) in kinds.iter().enumerate().skip(first) {
        let here = if i == first { start.clone() } else { None };
        let unsealed_from = match here {
            Some(Position::Unsealed(_, id)) => id,
            other => {
                let after = match other {
                    Some(Position::Link(_, t, id, seq)) => Some((t, id, seq)),
                    _ => None,
                };
                if let Some(stop) = walk.links(db, kind, after, None).await? {
                    walk.report.next = Some(Cursor(stop).to_string());
                    return Ok(walk.report);
                }
                0
            }
        };
        if let Some(stop) = walk.unsealed(db, kind, unsealed_from, late).await? {
            walk.report.next = Some(Cursor(stop).to_string());
            return Ok(walk.report);
        }
    }
    Ok(walk.report)
}

/// [`verify`] of everything (or of a subject type), each table's chains split into
/// [`VerifyScope::parallel`] ranges walked at once, beside the search for its unsealed
/// rows. Reports what the walk in one range would, in the same order.
async fn verify_split<C: ConnectionTrait>(
    db: &C,
    scope: &VerifyScope,
    late: Late,
) -> Result<Report> {
    let mut report = Report::default();
    for kind in Kind::ALL {
        let ranges = ranges(db, scope, kind).await?;
        let links = ranges.into_iter().map(|(from, upto)| async move {
            let mut walk = Walk::new(scope);
            let after = from.map(|(t, id)| (t, id, i64::MAX));
            walk.links(db, kind, after, upto.as_ref()).await?;
            Ok::<_, Error>(walk.report)
        });
        let unsealed = async {
            let mut walk = Walk::new(scope);
            walk.unsealed(db, kind, 0, late).await?;
            Ok::<_, Error>(walk.report)
        };
        let (parts, rest) = tokio::join!(futures::future::try_join_all(links), unsealed);
        for part in parts?.into_iter().chain([rest?]) {
            report.absorb(part, scope.max_breaks);
        }
    }
    Ok(report)
}

/// The chains of `kind` in scope, cut into [`VerifyScope::parallel`] ranges of about as
/// many chains: (after this chain, up to and with this one).
async fn ranges<C: ConnectionTrait>(
    db: &C,
    scope: &VerifyScope,
    kind: Kind,
) -> Result<Vec<(Option<Key>, Option<Key>)>> {
    use chains::Column as H;
    use sea_orm::PaginatorTrait;
    let heads = || {
        let q = chains::Entity::find().filter(H::Kind.eq(kind.code()));
        scoped(scope, q, H::SubjectType, H::SubjectId)
    };
    let count = heads()
        .count(db)
        .await
        .map_err(Error::db("counting the chains"))?;
    let parts = (scope.parallel as u64).min(count).max(1);
    let mut cuts = Vec::new();
    for i in 1..parts {
        let cut: Option<(String, String)> = heads()
            .select_only()
            .columns([H::SubjectType, H::SubjectId])
            .order_by_asc(H::SubjectType)
            .order_by_asc(H::SubjectId)
            .offset(count * i / parts - 1)
            .limit(1)
            .into_tuple()
            .one(db)
            .await
            .map_err(Error::db("reading the chains' heads"))?;
        // Heads written meanwhile can only make the ranges uneven, never overlap them.
        if let Some(cut) = cut.filter(|c| cuts.last().is_none_or(|l| c > l)) {
            cuts.push(cut);
        }
    }
    let mut ranges = Vec::with_capacity(cuts.len() + 1);
    let mut from = None;
    for cut in cuts {
        ranges.push((from, Some(cut.clone())));
        from = Some(cut);
    }
    ranges.push((from, None));
    Ok(ranges)
}

struct Walk<'a> {
    scope: &'a VerifyScope,
    report: Report,
    budget: u64,
}

type Key = (String, String);

/// How many of the links passed in a chain the walk keeps for telling a row moved back
/// in its chain (reordered) from a changed one.
const PASSED_KEPT: usize = 4096;

/// A link passed in a chain: its predecessor's hash, its hash, its salts, its format, its
/// row's id.
type Passed = (Hash, Hash, Option<Salts>, i16, i64);

impl<'a> Walk<'a> {
    fn new(scope: &'a VerifyScope) -> Self {
        Self {
            scope,
            report: Report::default(),
            budget: scope.max_links,
        }
    }

    fn flag(
        &mut self,
        kind: Kind,
        key: &Key,
        seq: Option<i64>,
        row_id: Option<i64>,
        reason: BreakReason,
    ) {
        if self.report.breaks.len() >= self.scope.max_breaks {
            self.report.more_breaks = true;
            return;
        }
        self.report.breaks.push(Break {
            table: kind.table().to_owned(),
            subject_type: key.0.clone(),
            subject_id: key.1.clone(),
            seq,
            row_id,
            reason,
        });
    }

    /// Follows the links of `kind` (after `after`: a link, or a whole chain when its seq
    /// is `i64::MAX`; up to the chain `upto` and with it); `Some`: stopped there.
    async fn links<C: ConnectionTrait>(
        &mut self,
        db: &C,
        kind: Kind,
        after: Option<(String, String, i64)>,
        upto: Option<&Key>,
    ) -> Result<Option<Position>> {
        // The pages of links are read by a second future of this task, one page ahead of
        // the walk, and decoded and checked on tokio's blocking pool (see `Pending`):
        // the database works on the next page, and another core on this one, while the
        // walk follows the chains. The walk's own thread is then free for the reading
        // of several ranges at once.
        let (tx, rx) = mpsc::channel(1);
        let read = read_links(db, self.scope, kind, after.clone(), upto, tx);
        let links = Links {
            rx,
            buf: VecDeque::new(),
            done: false,
            page: link_page(self.scope),
        };
        let walk = self.walk_links(db, kind, after, upto, links);
        let ((), walked) = tokio::join!(read, walk);
        walked
    }

    async fn walk_links<C: ConnectionTrait>(
        &mut self,
        db: &C,
        kind: Kind,
        after: Option<(String, String, i64)>,
        upto: Option<&Key>,
        mut links: Links,
    ) -> Result<Option<Position>> {
        let resumed = after.clone().filter(|a| a.2 != i64::MAX);
        let mut heads = Heads {
            last: after.as_ref().map(|(t, id, _)| (t.clone(), id.clone())),
            upto: upto.cloned(),
            inclusive: resumed.is_some(),
            buf: VecDeque::new(),
            done: false,
        };
        loop {
            let head = heads.next(self, db, kind).await?;
            let head_key = head
                .as_ref()
                .map(|h| (h.subject_type.clone(), h.subject_id.clone()));
            // Links whose chain has no head (before the next head, or after the last).
            while let Some(s) = links.peek().await? {
                let key = (s.subject_type.clone(), s.subject_id.clone());
                if head_key.as_ref().is_some_and(|h| key >= *h) {
                    break;
                }
                let (seq, row) = (s.seq, s.row_id);
                self.flag(kind, &key, Some(seq), Some(row), BreakReason::HeadChanged);
                while links
                    .peek()
                    .await?
                    .is_some_and(|l| (&l.subject_type, &l.subject_id) == (&key.0, &key.1))
                {
                    links.next();
                }
            }
            let (Some(head), Some(key)) = (head, head_key) else {
                return Ok(None);
            };
            self.report.chains += 1;
            // Where the chain starts: after the resumed link, or after its anchor.
            let start = match &resumed {
                Some((t, id, seq)) if (t, id) == (&key.0, &key.1) => {
                    let pk = (kind.code(), key.0.clone(), key.1.clone(), *seq);
                    let before = seals::Entity::find_by_id(pk)
                        .one(db)
                        .await
                        .map_err(Error::db("reading a link"))?;
                    before
                        .and_then(|b| hash::from_hex(&b.hash))
                        .map(|h| (seq + 1, h))
                        .ok_or(*seq)
                }
                _ => match head.anchor_hash.as_deref() {
                    None => Ok((1, GENESIS)),
                    Some(a) => hash::from_hex(a)
                        .map(|h| (head.anchor_seq + 1, h))
                        .ok_or(head.anchor_seq),
                },
            };
            let (mut expected, mut prev, mut broken) = match start {
                Ok((e, p)) => (e, p, false),
                Err(seq) => {
                    self.flag(kind, &key, Some(seq), None, BreakReason::Missing);
                    (0, GENESIS, true)
                }
            };
            // Retention keeps every record's latest version: a versions chain folded up to
            // its head lost a row no prune removes (an anchor moved over a subject's rows).
            if !broken && super::folded_away(db, kind, &head).await? {
                self.flag(kind, &key, Some(head.head_seq), None, BreakReason::Missing);
                broken = true;
            }
            // (predecessor, hash) of the last links passed in this chain, for telling a
            // moved row from a changed one (a row moved back further than these is
            // reported changed): a long chain does not grow the walk's memory.
            let mut passed: VecDeque<Passed> = VecDeque::new();
            while let Some(s) = links.peek().await? {
                if (&s.subject_type, &s.subject_id) != (&key.0, &key.1) {
                    break;
                }
                let Linked { link: s, row } = links.next().expect("peeked");
                if broken {
                    // Read all the same: charged to the budget, which may stop here.
                    self.budget = self.budget.saturating_sub(1);
                    if self.budget == 0 && s.seq < head.head_seq {
                        return Ok(Some(Position::Link(kind, key.0, key.1, s.seq)));
                    }
                    continue;
                }
                self.report.links += 1;
                if self.report.links.is_multiple_of(YIELD_EVERY) {
                    // Lets the reading future take in the next page meanwhile.
                    tokio::task::yield_now().await;
                }
                self.budget = self.budget.saturating_sub(1);
                let Some(stored) = s.stored.filter(|_| s.seq == expected) else {
                    let reason = if s.seq > expected {
                        BreakReason::Missing
                    } else {
                        BreakReason::Changed
                    };
                    self.flag(
                        kind,
                        &key,
                        Some(expected.min(s.seq)),
                        Some(s.row_id),
                        reason,
                    );
                    broken = true;
                    continue;
                };
                let (salts, format) = (s.salts, s.format);
                match row {
                    Found::Gone => {
                        let reason = BreakReason::Missing;
                        self.flag(kind, &key, Some(s.seq), Some(s.row_id), reason);
                        broken = true;
                        continue;
                    }
                    // Checked with its page after the link before it there, the one just
                    // passed (any other predecessor would give another hash).
                    // Every row walked is checked, whatever its time: its `created_at` is
                    // one of the things a tampering can change.
                    Found::Fits(after) if after != prev => {
                        self.flag(
                            kind,
                            &key,
                            Some(s.seq),
                            Some(s.row_id),
                            BreakReason::Changed,
                        );
                        broken = true;
                        continue;
                    }
                    Found::Fits(_) => {}
                    Found::Unreadable => {
                        let reason = BreakReason::Changed;
                        self.flag(kind, &key, Some(s.seq), Some(s.row_id), reason);
                        broken = true;
                        continue;
                    }
                    Found::Row(row) => {
                        let link = Stored {
                            row_id: s.row_id,
                            format,
                            salts: salts.as_ref(),
                            prev: &prev,
                            hash: &stored,
                        };
                        if !fits(&row, link) {
                            let failed = (s.seq, stored);
                            let (elsewhere, read) = links
                                .seals_elsewhere(db, kind, &key, failed, &passed, &row)
                                .await?;
                            self.budget = self.budget.saturating_sub(read);
                            let reason = if elsewhere {
                                BreakReason::Reordered
                            } else {
                                BreakReason::Changed
                            };
                            self.flag(kind, &key, Some(s.seq), Some(s.row_id), reason);
                            broken = true;
                            continue;
                        }
                    }
                }
                if passed.len() == PASSED_KEPT {
                    passed.pop_front();
                }
                passed.push_back((prev, stored, salts, format, s.row_id));
                prev = stored;
                expected += 1;
                if self.budget == 0 && s.seq < head.head_seq {
                    return Ok(Some(Position::Link(kind, key.0, key.1, s.seq)));
                }
            }
            if !broken {
                let last = expected - 1;
                if last < head.head_seq {
                    self.flag(kind, &key, Some(last + 1), None, BreakReason::Missing);
                } else if last > head.head_seq || hash::to_hex(&prev) != head.head_hash {
                    let seq = Some(head.head_seq);
                    self.flag(kind, &key, seq, None, BreakReason::HeadChanged);
                }
            }
            if self.budget == 0 {
                return Ok(Some(Position::Link(kind, key.0, key.1, i64::MAX)));
            }
        }
    }

    /// Reports the unsealed rows of `kind` (ids above `after`): late ones as inserted,
    /// the others as pending. `Some`: stopped there.
    async fn unsealed<C: ConnectionTrait>(
        &mut self,
        db: &C,
        kind: Kind,
        after: i64,
        late: Late,
    ) -> Result<Option<Position>> {
        if after == 0 {
            self.forged_ids(db, kind).await?;
        }
        if self.scope.subject_type.is_none() && self.scope.subject_id.is_none() {
            self.unsealed_by_range(db, kind, after, late).await
        } else {
            self.unsealed_of_subjects(db, kind, after, late).await
        }
    }

    /// Reports as inserted the rows of `kind` in scope whose id no database gives (0 and
    /// below: ids start at 1), whatever links they seem to have: `seal` never links them,
    /// and a pruned row's link is marked by negating its row id, which such a row could
    /// match. Each chain is reported once.
    async fn forged_ids<C: ConnectionTrait>(&mut self, db: &C, kind: Kind) -> Result<()> {
        let mut flagged = HashSet::new();
        let mut after = 0;
        loop {
            let rows = Rows {
                after_id: after,
                subject_type: self.scope.subject_type.as_deref(),
                subject_id: self.scope.subject_id.as_deref(),
                limit: PAGE,
                forged_ids: true,
                ..Rows::default()
            }
            .read(db, kind)
            .await?;
            for row in rows.iter().filter(|r| self.scope.in_time(r.created_at())) {
                self.inserted(kind, row, &mut flagged);
            }
            match rows.last() {
                Some(last) if rows.len() as u64 == PAGE && last.id() < 0 => after = last.id(),
                _ => return Ok(()),
            }
        }
    }

    /// [`Walk::unsealed`] over the whole table, a range of ids at a time: only the rows
    /// without a link are read whole.
    async fn unsealed_by_range<C: ConnectionTrait>(
        &mut self,
        db: &C,
        kind: Kind,
        mut after: i64,
        late: Late,
    ) -> Result<Option<Position>> {
        let mut flagged = HashSet::new();
        loop {
            let limit = ID_PAGE.min(self.budget.max(1));
            let Some(step) = rows::unlinked_after(db, kind, after, limit).await? else {
                return Ok(None);
            };
            for chunk in step.ids.chunks(PAGE as usize) {
                // Read again with the link check: a `seal` may have linked them meanwhile.
                let rows = Rows {
                    after_id: after,
                    unsealed: true,
                    ids: Some(chunk),
                    limit: chunk.len() as u64,
                    ..Rows::default()
                }
                .read(db, kind)
                .await?;
                for row in &rows {
                    self.unsealed_row(kind, row, late, &mut flagged);
                }
            }
            self.budget = self.budget.saturating_sub(step.read);
            after = step.upto;
            if step.last {
                return Ok(None);
            }
            if self.budget == 0 {
                return Ok(Some(Position::Unsealed(kind, after)));
            }
        }
    }

    /// [`Walk::unsealed`] for a subject type or subject: its rows that have no link of
    /// their own subject, each checked by the link's key.
    async fn unsealed_of_subjects<C: ConnectionTrait>(
        &mut self,
        db: &C,
        kind: Kind,
        mut after: i64,
        late: Late,
    ) -> Result<Option<Position>> {
        let mut flagged = HashSet::new();
        loop {
            let rows = Rows {
                after_id: after,
                subject_type: self.scope.subject_type.as_deref(),
                subject_id: self.scope.subject_id.as_deref(),
                unsealed: true,
                own_link: true,
                limit: PAGE,
                ids: None,
                ranges: None,
                unlimited: false,
                forged_ids: false,
                committed: false,
            }
            .read(db, kind)
            .await?;
            let full = rows.len() as u64 == PAGE;
            for row in &rows {
                after = row.id();
                self.unsealed_row(kind, row, late, &mut flagged);
            }
            self.budget = self.budget.saturating_sub(rows.len() as u64);
            if !full {
                return Ok(None);
            }
            if self.budget == 0 {
                return Ok(Some(Position::Unsealed(kind, after)));
            }
        }
    }

    /// Counts or reports a row without a link: late, as inserted (once per chain in
    /// `flagged`); otherwise as pending.
    fn unsealed_row(&mut self, kind: Kind, row: &Row, late: Late, flagged: &mut HashSet<Key>) {
        if !self.scope.in_time(row.created_at()) {
            return;
        }
        if late.is_late(kind, row) {
            self.inserted(kind, row, flagged);
        } else {
            self.report.pending += 1;
        }
    }

    /// Reports `row`, which has no link, as inserted, once per chain in `flagged`. Once
    /// the report holds `max_breaks`, nothing more is remembered (memory stays bounded
    /// however many chains have such rows).
    fn inserted(&mut self, kind: Kind, row: &Row, flagged: &mut HashSet<Key>) {
        if self.report.breaks.len() >= self.scope.max_breaks {
            self.report.more_breaks = true;
            return;
        }
        let (t, id) = row.subject();
        let key = (t.to_owned(), id.to_owned());
        if !flagged.contains(&key) {
            self.flag(kind, &key, None, Some(row.id()), BreakReason::Inserted);
            flagged.insert(key);
        }
    }
}

/// `query` narrowed to the scope's subject type and subject.
fn scoped<E: EntityTrait, T: ColumnTrait, I: ColumnTrait>(
    scope: &VerifyScope,
    query: sea_orm::Select<E>,
    subject_type: T,
    subject_id: I,
) -> sea_orm::Select<E> {
    let mut query = query;
    if let Some(t) = &scope.subject_type {
        query = query.filter(subject_type.eq(t.as_str()));
    }
    if let Some(id) = &scope.subject_id {
        query = query.filter(subject_id.eq(id.as_str()));
    }
    query
}

/// The chain heads in key order, a page at a time.
struct Heads {
    last: Option<Key>,
    upto: Option<Key>,
    inclusive: bool,
    buf: VecDeque<chains::Model>,
    done: bool,
}

impl Heads {
    async fn next<C: ConnectionTrait>(
        &mut self,
        walk: &Walk<'_>,
        db: &C,
        kind: Kind,
    ) -> Result<Option<chains::Model>> {
        if self.buf.is_empty() && !self.done {
            use chains::Column as H;
            let mut q = chains::Entity::find()
                .filter(H::Kind.eq(kind.code()))
                .order_by_asc(H::SubjectType)
                .order_by_asc(H::SubjectId)
                .limit(PAGE);
            if let Some((t, id)) = &self.last {
                q = q.filter(rows::after(
                    &[H::SubjectType, H::SubjectId],
                    vec![t.as_str().into(), id.as_str().into()],
                    self.inclusive,
                    db.get_database_backend(),
                ));
            }
            if let Some((t, id)) = &self.upto {
                q = q.filter(rows::upto(
                    &[H::SubjectType, H::SubjectId],
                    vec![t.as_str().into(), id.as_str().into()],
                    db.get_database_backend(),
                ));
            }
            let page = scoped(walk.scope, q, H::SubjectType, H::SubjectId)
                .all(db)
                .await
                .map_err(Error::db("reading the chains' heads"))?;
            self.done = (page.len() as u64) < PAGE;
            self.inclusive = false;
            if let Some(l) = page.last() {
                self.last = Some((l.subject_type.clone(), l.subject_id.clone()));
            }
            self.buf.extend(page);
        }
        Ok(self.buf.pop_front())
    }
}

/// A link, as [`verify`] reads it.
#[derive(Debug)]
struct Link {
    subject_type: String,
    subject_id: String,
    seq: i64,
    row_id: i64,
    /// The stored hash (`None`: not 64 hex digits).
    stored: Option<Hash>,
    /// The link's salts (`None`: malformed).
    salts: Option<Salts>,
    /// What its hash covers (see [`hash::link`]).
    format: i16,
}

/// A link's hash as [`fits`] checks a row against it: of `format` (see [`hash::link`]),
/// over the content of the row `row_id` (the link's), after `prev`, with the link's salts.
#[derive(Clone, Copy)]
pub(super) struct Stored<'a> {
    pub row_id: i64,
    pub format: i16,
    pub salts: Option<&'a Salts>,
    pub prev: &'a Hash,
    pub hash: &'a Hash,
}

/// Whether `row`'s content, as the row under the link's `row_id`, gives the link's hash
/// `stored`. (Read by the link's `row_id`, the row has that id; checked against another
/// link of its chain, it fits only under that link's id: a row whose id was swapped with
/// another's holds what that one's link sealed, `reordered`.)
pub(super) fn fits(row: &Row, stored: Stored<'_>) -> bool {
    content_fits(&row.view(), stored)
}

/// [`fits`] of a row's content.
fn content_fits(content: &Content<'_>, stored: Stored<'_>) -> bool {
    stored
        .salts
        .and_then(|salts| content.bytes(salts))
        .and_then(|c| hash::link(stored.format, stored.prev, stored.row_id, &c))
        .is_some_and(|h| h == *stored.hash)
}

impl Link {
    /// The columns [`Link::decode`] reads, in its order.
    const COLUMNS: [seals::Column; 8] = {
        use seals::Column as S;
        [
            S::SubjectType,
            S::SubjectId,
            S::Seq,
            S::RowId,
            S::Hash,
            S::Salt,
            S::Erased,
            S::Format,
        ]
    };

    /// The chain key and seq of a link as [`Link::decode`] reads it.
    fn key(res: &QueryResult) -> std::result::Result<(String, String, i64), sea_orm::DbErr> {
        use rows::by_index::Cols;
        Ok((
            res.req(0, "subject_type")?,
            res.req(1, "subject_id")?,
            res.req(2, "seq")?,
        ))
    }

    /// Its hash as [`fits`] checks a row against it, after `prev`.
    fn stored<'a>(&'a self, prev: &'a Hash, hash: &'a Hash) -> Stored<'a> {
        Stored {
            row_id: self.row_id,
            format: self.format,
            salts: self.salts.as_ref(),
            prev,
            hash,
        }
    }

    /// Whether this link is the one just before `next` in its chain.
    fn follows(&self, next: &Link) -> bool {
        self.seq + 1 == next.seq
            && self.subject_id == next.subject_id
            && self.subject_type == next.subject_type
    }

    fn decode(res: &QueryResult) -> std::result::Result<Self, sea_orm::DbErr> {
        use rows::by_index::{Cols, JsonText};
        let (subject_type, subject_id, seq) = Self::key(res)?;
        let hash: String = res.req(4, "hash")?;
        let salt: Option<String> = res.get(5)?;
        // An `erased` cell that is no JSON (SQLite keeps any text there) makes the link's
        // salts malformed, as one of another shape does: the link does not fit (`changed`),
        // and the walk goes on.
        let salts = match res.json(6, JsonText::Decoded) {
            Ok(erased) => Salts::stored(salt.as_deref(), erased.as_ref()),
            Err(_) => None,
        };
        Ok(Self {
            subject_type,
            subject_id,
            seq,
            row_id: res.req(3, "row_id")?,
            stored: hash::from_hex(&hash),
            salts,
            format: res.req(7, "format")?,
        })
    }
}

/// A link with its row, decoded (and mostly checked) off the walk's thread.
struct Linked {
    link: Link,
    row: Found,
}

/// A link's row, as its page found it.
enum Found {
    /// No row has the link's row id.
    Gone,
    /// The row fits after the link before it in the page (that link's hash), which is
    /// its predecessor (or after [`GENESIS`], for a first link).
    Fits(Hash),
    /// The row, for the walk to check (boxed: few links need it).
    Row(Box<Row>),
    /// A row whose values cannot be read back (changed into a value of no type): changed.
    Unreadable,
}

/// A page of links with their rows.
type Page = Vec<Linked>;

/// A page read: being decoded and checked on a thread of tokio's blocking pool, so that
/// the walks of several ranges, and the reading of the next page, are not held up by it;
/// or decoded already, left to the walk to check.
enum Pending {
    Decoding(tokio::task::JoinHandle<Result<Page>>),
    Decoded(Result<Page>),
}

impl Pending {
    /// Starts decoding and checking `rows` on the blocking pool when a tokio runtime is
    /// at hand and the rows came from a server; else decodes them here and leaves the
    /// checks to the walk, as the walk in one thread is fastest. SQLite's rows already
    /// come from a thread of their own (sqlx's worker, a few rows at a time): a third
    /// thread's hand-offs cost its walk more than they free (BENCHMARKS.md section 19).
    fn start(kind: Kind, rows: Vec<QueryResult>, backend: DbBackend) -> Self {
        match tokio::runtime::Handle::try_current() {
            Ok(rt) if backend != DbBackend::Sqlite => {
                let how = JsonText::of(backend);
                Pending::Decoding(rt.spawn_blocking(move || decode_page(kind, &rows, true, how)))
            }
            _ => Pending::Decoded(decode_page(kind, &rows, false, JsonText::of(backend))),
        }
    }

    async fn page(self) -> Result<Page> {
        match self {
            Pending::Decoded(page) => page,
            Pending::Decoding(task) => match task.await {
                Ok(page) => page,
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(e) => Err(Error::Chain(format!("decoding a page of links: {e}"))),
            },
        }
    }
}

/// Reads the links of `kind` after `last` (up to the chain `upto`) in (subject, seq)
/// order with their rows, a page at a time, into `tx`, until the end, an error (sent
/// too) or the walk stops taking them. Each page is sent as soon as it is read, its
/// decoding started, and the next one asked for.
async fn read_links<C: ConnectionTrait>(
    db: &C,
    scope: &VerifyScope,
    kind: Kind,
    mut last: Option<(String, String, i64)>,
    upto: Option<&Key>,
    tx: mpsc::Sender<Result<Pending>>,
) {
    let backend = db.get_database_backend();
    loop {
        let page = read_page(db, scope, kind, last.as_ref(), upto).await;
        // (more rows than links where a forged row shares a link's row id: see
        // `Rows::own_link`)
        let full = page
            .as_ref()
            .is_ok_and(|p| p.len() as u64 >= link_page(scope));
        let page = page.and_then(|rows| {
            if full {
                let key = rows.last().map(Link::key).transpose();
                last = key.map_err(Error::db("reading the links"))?;
            }
            Ok(Pending::start(kind, rows, backend))
        });
        let stop = page.is_err() || !full;
        if tx.send(page).await.is_err() || stop {
            return;
        }
    }
}

/// One page of links with their rows: one query, the rows joined to the page of links.
async fn read_page<C: ConnectionTrait>(
    db: &C,
    scope: &VerifyScope,
    kind: Kind,
    last: Option<&(String, String, i64)>,
    upto: Option<&Key>,
) -> Result<Vec<QueryResult>> {
    use sea_orm::QueryTrait;
    use seals::Column as S;
    let backend = db.get_database_backend();
    let mut page = in_chain_order(seals::Entity::find().filter(S::Kind.eq(kind.code())))
        .limit(link_page(scope));
    if let Some((t, id, seq)) = last {
        page = page.filter(rows::links_after((t, id, *seq), backend));
    }
    if let Some((t, id)) = upto {
        let cols = [S::SubjectType, S::SubjectId];
        page = page.filter(rows::upto(&cols, vec![t.into(), id.into()], backend));
    }
    let page = scoped(scope, page, S::SubjectType, S::SubjectId).into_query();
    joined(db, page, kind).await
}

/// Links in chain order: by subject, then seq.
fn in_chain_order(q: sea_orm::Select<seals::Entity>) -> sea_orm::Select<seals::Entity> {
    use seals::Column as S;
    q.order_by_asc(S::SubjectType)
        .order_by_asc(S::SubjectId)
        .order_by_asc(S::Seq)
}

/// The links of `page` (a query of links, in chain order) with their rows of `kind`,
/// found by id: one query, for [`decode_page`].
async fn joined<C: ConnectionTrait>(
    db: &C,
    page: sea_orm::sea_query::SelectStatement,
    kind: Kind,
) -> Result<Vec<QueryResult>> {
    use sea_orm::sea_query::{Expr, ExprTrait, IntoIden, JoinType, Order, Query};
    use seals::Column as S;
    let links = seals::Entity.into_iden();
    let (table, id) = rows::table_and_id(kind);
    let mut q = Query::select();
    // The page of links is a subquery under the links table's own name, so that its
    // plan is the one of the links alone (an index range in order, whatever the
    // statistics say), and each row is then found by its key.
    q.from_subquery(page, links.clone())
        .columns(Link::COLUMNS.map(|c| (links.clone(), c.into_iden())))
        .columns(rows::by_index::columns(kind))
        .join(
            JoinType::LeftJoin,
            table.clone(),
            Expr::col((links.clone(), S::RowId)).eq(Expr::col((table, id))),
        );
    for c in [S::SubjectType, S::SubjectId, S::Seq] {
        q.order_by((links.clone(), c), Order::Asc);
    }
    rows::fetched(db, &q, "reading the links").await
}

/// Decodes a page of links with their rows by column position and, with `check`, checks
/// each row against the link before it in the page where that is its predecessor (the
/// walk checks the rest). A row checked here is also dropped here: the walk's thread
/// frees less of what this one allocated.
fn decode_page(kind: Kind, rows: &[QueryResult], check: bool, how: JsonText) -> Result<Page> {
    let mut page: Page = Vec::with_capacity(rows.len());
    for res in rows {
        let link = Link::decode(res).map_err(Error::db("reading the links"))?;
        let prev = match page.last() {
            _ if !check => None,
            Some(p) if p.link.follows(&link) => p.link.stored,
            _ if link.seq == 1 => Some(GENESIS),
            _ => None,
        };
        // On PostgreSQL the row is checked where the driver holds it; one that does not
        // fit (or cannot be read so) is read again below, for the walk or as unreadable.
        #[cfg(feature = "sqlx-postgres")]
        if let (Some(pg), Some(prev), Some(stored)) = (res.try_as_pg_row(), prev, link.stored) {
            let at = Link::COLUMNS.len();
            let stored = link.stored(&prev, &stored);
            let fits_here = |c: &Content<'_>| content_fits(c, stored);
            if rows::by_index::check_in_place(kind, pg, at, fits_here) == Some(true) {
                page.push(Linked {
                    link,
                    row: Found::Fits(prev),
                });
                continue;
            }
        }
        let row = match rows::by_index::readable_row(kind, res, Link::COLUMNS.len(), how) {
            Ok(row) => row,
            // A row changed into one that cannot be read back: changed.
            Err(Error::Corrupt { .. }) => {
                page.push(Linked {
                    link,
                    row: Found::Unreadable,
                });
                continue;
            }
            Err(e) => return Err(e),
        };
        let row = match (row, prev, link.stored) {
            (None, ..) => Found::Gone,
            (Some(row), Some(prev), Some(stored)) if fits(&row, link.stored(&prev, &stored)) => {
                Found::Fits(prev)
            }
            (Some(row), ..) => Found::Row(Box::new(row)),
        };
        page.push(Linked { link, row });
    }
    Ok(page)
}

/// The links in (subject, seq) order with their rows, as [`read_links`] reads them.
struct Links {
    rx: mpsc::Receiver<Result<Pending>>,
    buf: VecDeque<Linked>,
    done: bool,
    /// The links a full page holds ([`link_page`]).
    page: u64,
}

impl Links {
    async fn peek(&mut self) -> Result<Option<&Link>> {
        if self.buf.is_empty() && !self.done {
            match self.rx.recv().await {
                Some(page) => {
                    let page = page?.page().await?;
                    self.done = (page.len() as u64) < self.page;
                    self.buf.extend(page);
                }
                None => self.done = true,
            }
        }
        Ok(self.buf.front().map(|l| &l.link))
    }

    fn next(&mut self) -> Option<Linked> {
        self.buf.pop_front()
    }

    /// Whether `row`, after some other link's predecessor and with that link's salts,
    /// gives that link's hash: the row belongs elsewhere in the chain. Tries the links
    /// passed, those of the page at hand after the one that failed (`failed`: its seq and
    /// stored hash) and, when the chain goes on past the page, up to [`LOOKAHEAD`] more
    /// read for this, so that the answer does not depend on where the pages fall. Also
    /// returns how many links it read.
    async fn seals_elsewhere<C: ConnectionTrait>(
        &self,
        db: &C,
        kind: Kind,
        key: &Key,
        failed: (i64, Hash),
        passed: &VecDeque<Passed>,
        row: &Row,
    ) -> Result<(bool, u64)> {
        if passed.iter().any(|(prev, hash, salts, format, row_id)| {
            let (salts, format, row_id) = (salts.as_ref(), *format, *row_id);
            fits(
                row,
                Stored {
                    row_id,
                    format,
                    salts,
                    prev,
                    hash,
                },
            )
        }) {
            return Ok((true, 0));
        }
        let (mut seq, mut prev) = failed;
        let mut fits_next = |stored: Option<Hash>, salts: Option<&Salts>, format, row_id| {
            let hash = stored?;
            let fit = fits(
                row,
                Stored {
                    row_id,
                    format,
                    salts,
                    prev: &prev,
                    hash: &hash,
                },
            );
            prev = hash;
            Some(fit)
        };
        for s in self.buf.iter().map(|l| &l.link) {
            if (&s.subject_type, &s.subject_id) != (&key.0, &key.1) {
                return Ok((false, 0));
            }
            match fits_next(s.stored, s.salts.as_ref(), s.format, s.row_id) {
                Some(true) => return Ok((true, 0)),
                Some(false) => seq = s.seq,
                None => return Ok((false, 0)),
            }
        }
        use seals::Column as S;
        type Next = (String, Option<String>, Option<serde_json::Value>, i16, i64);
        let next: Vec<Next> = seals::Entity::find()
            .select_only()
            .columns([S::Hash, S::Salt, S::Erased, S::Format, S::RowId])
            .filter(S::Kind.eq(kind.code()))
            .filter(S::SubjectType.eq(key.0.as_str()))
            .filter(S::SubjectId.eq(key.1.as_str()))
            .filter(S::Seq.gt(seq))
            .order_by_asc(S::Seq)
            .limit(LOOKAHEAD)
            .into_tuple()
            .all(db)
            .await
            .map_err(Error::db("reading a chain's next links"))?;
        let read = next.len() as u64;
        for (hash, salt, erased, format, row_id) in &next {
            let salts = Salts::stored(salt.as_deref(), erased.as_ref());
            match fits_next(hash::from_hex(hash), salts.as_ref(), *format, *row_id) {
                Some(true) => return Ok((true, read)),
                Some(false) => {}
                None => break,
            }
        }
        Ok((false, read))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_decoded_in_place_outside_a_tokio_runtime() {
        assert!(matches!(
            Pending::start(Kind::Log, Vec::new(), DbBackend::Postgres),
            Pending::Decoded(Ok(page)) if page.is_empty()
        ));
    }

    /// A chain walked again because of a `missing` link that was a seal's doing keeps the
    /// `inserted` row the search for unlinked rows found in it.
    #[tokio::test]
    async fn a_walk_again_keeps_an_inserted_row() {
        let db = sea_orm::Database::connect("sqlite::memory:").await.unwrap();
        crate::install(&db).await.unwrap();
        crate::log(&db, crate::NewActivity::new("viewed").subject("post", 1))
            .await
            .unwrap();
        crate::seal_all(&db).await.unwrap();
        let of_post = |seq, row_id, reason| Break {
            table: Kind::Log.table().to_owned(),
            subject_type: "post".to_owned(),
            subject_id: "1".to_owned(),
            seq,
            row_id,
            reason,
        };
        let mut report = Report {
            breaks: vec![
                of_post(Some(1), Some(1), BreakReason::Missing),
                of_post(None, Some(-5), BreakReason::Inserted),
            ],
            ..Report::default()
        };
        confirm(&db, &VerifyScope::all(), &mut report)
            .await
            .unwrap();
        assert_eq!(
            report.breaks,
            [of_post(None, Some(-5), BreakReason::Inserted)]
        );
        // A `changed` link beyond the anchor stays (walking again would find it again).
        let changed = || Report {
            breaks: vec![of_post(Some(1), Some(1), BreakReason::Changed)],
            ..Report::default()
        };
        let mut report = changed();
        confirm(&db, &VerifyScope::all(), &mut report)
            .await
            .unwrap();
        assert_eq!(report.breaks, changed().breaks);
        // One the anchor has passed since (a prune folded the entry's link and removed
        // the entry, as a walk reading the link before the fold and the head after it
        // would see): walked again, the chain is intact.
        crate::log(&db, crate::NewActivity::new("viewed").subject("post", 1))
            .await
            .unwrap();
        crate::seal_all(&db).await.unwrap();
        let first =
            seals::Entity::find_by_id((Kind::Log.code(), "post".to_owned(), "1".to_owned(), 1))
                .one(&db)
                .await
                .unwrap()
                .unwrap();
        chains::Entity::update_many()
            .col_expr(
                chains::Column::AnchorSeq,
                sea_orm::sea_query::Expr::value(1),
            )
            .col_expr(
                chains::Column::AnchorHash,
                sea_orm::sea_query::Expr::value(first.hash.clone()),
            )
            .filter(chains::Column::Kind.eq(Kind::Log.code()))
            .exec(&db)
            .await
            .unwrap();
        seals::Entity::delete_many()
            .filter(seals::Column::RowId.eq(first.row_id))
            .filter(seals::Column::Kind.eq(Kind::Log.code()))
            .exec(&db)
            .await
            .unwrap();
        crate::entity::activity_log::Entity::delete_by_id(1)
            .exec(&db)
            .await
            .unwrap();
        let mut report = changed();
        confirm(&db, &VerifyScope::all(), &mut report)
            .await
            .unwrap();
        assert_eq!(report.breaks, []);
    }

    /// Links sealed before each link stored its format (format 1: the hash leaves the
    /// row's id out) go on verifying once `install` has given their table the column:
    /// links of that shape (format 1 hashes, no `format` column) are brought up to date
    /// as format 1, verify, and are pruned as the rows they sealed (retention checks each
    /// row against its link before it goes: read with another format, every row would be
    /// kept as changed); the links sealed afterwards are format 2.
    #[tokio::test]
    async fn links_of_format_1_verify_after_the_upgrade() {
        use crate::NewActivity;
        use sea_orm::{ConnectionTrait, QueryOrder, Set};
        let db = sea_orm::Database::connect("sqlite::memory:").await.unwrap();
        crate::install(&db).await.unwrap();
        let entry = || crate::log(&db, NewActivity::new("viewed").subject("post", 1));
        entry().await.unwrap();
        entry().await.unwrap();
        crate::entity::activity_log::Entity::update_many()
            .col_expr(
                crate::entity::activity_log::Column::CreatedAt,
                sea_orm::sea_query::Expr::value(chrono::Utc::now() - chrono::Duration::days(10)),
            )
            .exec(&db)
            .await
            .unwrap();
        crate::seal_all(&db).await.unwrap();
        // As an earlier version sealed them.
        let links = seals::Entity::find()
            .order_by_asc(seals::Column::Seq)
            .all(&db)
            .await
            .unwrap();
        let rows = super::rows::Rows {
            limit: 10,
            ..Default::default()
        }
        .read(&db, Kind::Log)
        .await
        .unwrap();
        let mut prev = GENESIS;
        for link in links {
            let row = rows.iter().find(|r| r.id() == link.row_id).unwrap();
            let salts = Salts::stored(link.salt.as_deref(), None).unwrap();
            let content = row.content(&salts).unwrap();
            prev = hash::link(1, &prev, row.id(), &content).unwrap();
            seals::Entity::update(seals::ActiveModel {
                hash: Set(hash::to_hex(&prev)),
                ..link.into()
            })
            .exec(&db)
            .await
            .unwrap();
        }
        crate::entity::chains::Entity::update_many()
            .col_expr(
                crate::entity::chains::Column::HeadHash,
                sea_orm::sea_query::Expr::value(hash::to_hex(&prev)),
            )
            .exec(&db)
            .await
            .unwrap();
        db.execute_unprepared("ALTER TABLE activity_log_seals DROP COLUMN format")
            .await
            .unwrap();
        crate::install(&db).await.unwrap();
        let report = verify(&db, &VerifyScope::all()).await.unwrap();
        assert_eq!((report.breaks.as_slice(), report.links), (&[][..], 2));
        entry().await.unwrap();
        crate::seal_all(&db).await.unwrap();
        let formats = || async {
            seals::Entity::find()
                .order_by_asc(seals::Column::Seq)
                .all(&db)
                .await
                .unwrap()
                .iter()
                .map(|l| l.format)
                .collect::<Vec<i16>>()
        };
        assert_eq!(formats().await, [1, 1, 2]);
        let report = verify(&db, &VerifyScope::all()).await.unwrap();
        assert_eq!((report.breaks.as_slice(), report.links), (&[][..], 3));
        let retention = crate::Retention::new().entries_older_than(chrono::Duration::days(1));
        let pruned = crate::prune(&db, &retention).await.unwrap();
        assert_eq!((pruned.entries, pruned.kept_changed), (2, 0), "{pruned:?}");
        assert_eq!(formats().await, [2]);
        let report = verify(&db, &VerifyScope::all()).await.unwrap();
        assert!(report.breaks.is_empty(), "{:?}", report.breaks);
    }

    #[tokio::test]
    async fn a_servers_pages_are_decoded_on_the_blocking_pool() {
        for backend in [DbBackend::Postgres, DbBackend::MySql] {
            let pending = Pending::start(Kind::Versions, Vec::new(), backend);
            assert!(matches!(pending, Pending::Decoding(_)));
            assert!(pending.page().await.unwrap().is_empty());
        }
        let pending = Pending::start(Kind::Versions, Vec::new(), DbBackend::Sqlite);
        assert!(matches!(pending, Pending::Decoded(..)));
        assert!(pending.page().await.unwrap().is_empty());
    }
}
