//! Section 7: bulk writes through the trail against SeaORM's plain bulk calls and against
//! hooked single writes, and the memory a 100,000-row bulk update takes.

use std::time::{Duration, Instant};

use audit_seaorm::AuditedBulk;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect, Set,
    TransactionTrait,
};

use crate::BoxError;
use crate::common::{median, ratio};
use crate::entities::{audited, plain};
use crate::report::Report;
use crate::setup::Backend;

/// Rows of one bulk update.
const UPDATE_ROWS: i32 = 1_000;
/// Rows of one bulk insert.
const INSERT_ROWS: i32 = 10_000;
/// Rows of the bulk update whose memory is measured, and of the smaller one it is set
/// against.
const BIG: i32 = 100_000;
const SMALL: i32 = 10_000;
/// Rounds: plain and audited take turns.
const UPDATE_ROUNDS: usize = 9;
const INSERT_ROUNDS: usize = 3;
const SINGLE_ROUNDS: usize = 3;

/// Section 7: per backend, the medians, their ratios and the targets.
pub async fn section(r: &mut Report, backends: &[Backend]) -> Result<(), BoxError> {
    r.line("");
    r.line("## 7. Bulk writes: `update_many_audited`, `insert_many_audited`");
    r.line("");
    r.line(format!(
        "Medians over {UPDATE_ROUNDS} interleaved rounds (updates) and {INSERT_ROUNDS} (inserts); \
         each update of {UPDATE_ROWS} rows and each run of {UPDATE_ROWS} hooked single updates \
         in one transaction. Memory: how far the process's resident set rose above its size at \
         the start of a bulk update of {SMALL} and of {BIG} rows (Linux's peak `VmHWM`, reset \
         before each call; SQLite in memory: with the database's own pages, which grow with \
         the rows written, so no target is judged there)."
    ));
    r.line("");
    r.line(format!(
        "| backend | update_many {UPDATE_ROWS}: plain | audited | ratio | {UPDATE_ROWS} hooked updates | bulk speed-up | insert_many {INSERT_ROWS}: plain | audited | ratio | RSS growth {SMALL} / {BIG} rows |"
    ));
    r.line("|---|---|---|---|---|---|---|---|---|---|");
    for b in backends {
        let f = figures(&b.db).await?;
        let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1e3);
        let update_ratio = ratio(f.update_audited, f.update_plain);
        let speedup = ratio(f.single, f.update_audited);
        let insert_ratio = ratio(f.insert_audited, f.insert_plain);
        r.line(format!(
            "| {} | {} | {} | {:.2}× | {} | {:.1}× | {} | {} | {:.2}× | {} |",
            b.name,
            ms(f.update_plain),
            ms(f.update_audited),
            update_ratio,
            ms(f.single),
            speedup,
            ms(f.insert_plain),
            ms(f.insert_audited),
            insert_ratio,
            match (f.memory_small, f.memory_big) {
                (Some(small), Some(big)) =>
                    format!("+{:.1} / +{:.1} MB", mb(small.growth()), mb(big.growth())),
                _ => "not measured (no /proc/self)".to_owned(),
            },
        ));
        let name = b.name;
        r.target(
            format!("{name}: update_many_audited of 1,000 rows ≤ 3× plain update_many"),
            update_ratio <= 3.0,
            format!("{update_ratio:.2}×"),
        );
        r.target(
            format!(
                "{name}: update_many_audited of 1,000 rows ≥ 20× faster than 1,000 hooked updates"
            ),
            speedup >= 20.0,
            format!("{speedup:.1}×"),
        );
        r.target(
            format!("{name}: insert_many_audited of 10,000 rows ≤ 2.5× plain insert_many"),
            insert_ratio <= 2.5,
            format!("{insert_ratio:.2}×"),
        );
        if b.in_process() {
            // Its resident set holds the database, which grows with the rows written.
            continue;
        }
        // Bounded: ten times the rows may grow the resident set no more than a quarter
        // (or 4 MB, the noise of the runtime's own buffers) beyond what the smaller
        // update grew it; rows held whole would take ten times as much.
        let (met, result) = match (f.memory_small, f.memory_big) {
            (Some(small), Some(big)) => (
                big.growth() <= small.growth() + (small.growth() / 4).max(4 * 1024),
                format!(
                    "resident set grew {:.1} MB at 10,000 rows, {:.1} MB at 100,000",
                    mb(small.growth()),
                    mb(big.growth())
                ),
            ),
            _ => (false, "not measured (no /proc/self)".to_owned()),
        };
        r.target(
            format!(
                "{name}: a 100,000-row bulk update's memory bounded by the batch, not the rows"
            ),
            met,
            result,
        );
    }
    Ok(())
}

struct Figures {
    update_plain: Duration,
    update_audited: Duration,
    single: Duration,
    insert_plain: Duration,
    insert_audited: Duration,
    memory_small: Option<Rss>,
    memory_big: Option<Rss>,
}

/// The next id a table will hand out (its rows are dense: the bench only inserts).
async fn next_id<E: EntityTrait>(db: &DatabaseConnection, id: E::Column) -> Result<i32, BoxError> {
    let max: Option<Option<i32>> = E::find()
        .select_only()
        .column_as(id.max(), "m")
        .into_tuple()
        .one(db)
        .await?;
    Ok(max.flatten().unwrap_or(0) + 1)
}

async fn figures(db: &DatabaseConnection) -> Result<Figures, BoxError> {
    // Inserts, interleaved; they also fill the tables the updates work on.
    let (mut insert_plain, mut insert_audited) = (Vec::new(), Vec::new());
    for round in 0..INSERT_ROUNDS as i32 {
        let rows = || (0..INSERT_ROWS).map(move |i| round * INSERT_ROWS + i);
        let start = Instant::now();
        let txn = db.begin().await?;
        for chunk in rows().collect::<Vec<_>>().chunks(3_000) {
            plain::Entity::insert_many(chunk.iter().map(|&i| new_row!(plain, i)))
                .exec_without_returning(&txn)
                .await?;
        }
        txn.commit().await?;
        insert_plain.push(start.elapsed());
        let start = Instant::now();
        let txn = db.begin().await?;
        audited::Entity::insert_many_audited(rows().map(|i| new_row!(audited, i)))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        insert_audited.push(start.elapsed());
    }
    // Updates of 1,000 rows, interleaved, each on its own slice of the rows.
    let (plain_first, audited_first) = (
        next_id::<plain::Entity>(db, plain::Column::Id).await? - INSERT_ROWS * INSERT_ROUNDS as i32,
        next_id::<audited::Entity>(db, audited::Column::Id).await?
            - INSERT_ROWS * INSERT_ROUNDS as i32,
    );
    let (mut update_plain, mut update_audited) = (Vec::new(), Vec::new());
    for round in 0..UPDATE_ROUNDS as i32 {
        let lo = round * UPDATE_ROWS;
        let (p, a) = (plain_first + lo, audited_first + lo);
        let start = Instant::now();
        let txn = db.begin().await?;
        plain::Entity::update_many()
            .col_expr(plain::Column::Score, Expr::value(-round))
            .filter(plain::Column::Id.gte(p))
            .filter(plain::Column::Id.lt(p + UPDATE_ROWS))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        update_plain.push(start.elapsed());
        let start = Instant::now();
        let txn = db.begin().await?;
        audited::Entity::update_many_audited()
            .col_expr(audited::Column::Score, Expr::value(-round))
            .filter(audited::Column::Id.gte(a))
            .filter(audited::Column::Id.lt(a + UPDATE_ROWS))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        update_audited.push(start.elapsed());
    }
    // The same rows updated one hooked write at a time.
    let mut single = Vec::new();
    for round in 0..SINGLE_ROUNDS as i32 {
        let lo = audited_first + round * UPDATE_ROWS;
        let start = Instant::now();
        let txn = db.begin().await?;
        for id in lo..lo + UPDATE_ROWS {
            audited::ActiveModel {
                id: sea_orm::ActiveValue::Unchanged(id),
                score: Set(1_000 + round),
                ..Default::default()
            }
            .update(&txn)
            .await?;
        }
        txn.commit().await?;
        single.push(start.elapsed());
    }
    let (memory_small, memory_big) = memory(db).await?;
    Ok(Figures {
        update_plain: median(update_plain),
        update_audited: median(update_audited),
        single: median(single),
        insert_plain: median(insert_plain),
        insert_audited: median(insert_audited),
        memory_small,
        memory_big,
    })
}

/// The resident set during a bulk update of `SMALL` and of `BIG` rows (`None`: this
/// system has no `/proc/self` to read it from).
async fn memory(db: &DatabaseConnection) -> Result<(Option<Rss>, Option<Rss>), BoxError> {
    let first = next_id::<audited::Entity>(db, audited::Column::Id).await?;
    let mut i = 0;
    while i < BIG {
        let n = (BIG - i).min(INSERT_ROWS);
        audited::Entity::insert_many_audited((i..i + n).map(|k| new_row!(audited, k)))
            .exec(db)
            .await?;
        i += n;
    }
    let mut measured = Vec::new();
    for (rows, value) in [(SMALL, 7), (BIG, 8)] {
        let start = Rss::reset_peak();
        audited::Entity::update_many_audited()
            .col_expr(audited::Column::Score, Expr::value(value))
            .filter(audited::Column::Id.gte(first))
            .filter(audited::Column::Id.lt(first + rows))
            .exec(db)
            .await?;
        measured.push(start.and_then(|start| {
            Some(Rss {
                start,
                peak: Rss::read("VmHWM:")?,
            })
        }));
    }
    Ok((measured[0], measured[1]))
}

/// The process's resident set over a call (kB), from Linux's `/proc/self`: the bench
/// measures memory from outside the allocator, so that counting it costs the other
/// sections' threads nothing.
#[derive(Clone, Copy, Debug)]
struct Rss {
    /// When the call started.
    start: u64,
    /// At its peak during the call.
    peak: u64,
}

impl Rss {
    /// Resets the peak to the resident set now (writing 5 to `clear_refs`); returns it.
    fn reset_peak() -> Option<u64> {
        std::fs::write("/proc/self/clear_refs", "5").ok()?;
        Self::read("VmRSS:")
    }

    /// A field of `/proc/self/status`, in kB.
    fn read(field: &str) -> Option<u64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with(field))?;
        line[field.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    }

    /// How far the peak rose above the start (kB).
    fn growth(&self) -> u64 {
        self.peak.saturating_sub(self.start)
    }
}

/// kB in MB.
fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}
