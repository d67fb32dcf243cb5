//! Section 1: write overhead, plain SeaORM vs audited (and a PostgreSQL trigger), per
//! backend, autocommit and one transaction per write; then what the extra round trips alone
//! would cost.

use std::time::{Duration, Instant};

use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ConnectionTrait, DatabaseConnection, DbBackend,
    EntityTrait, IntoActiveModel, Set, Statement, TransactionTrait,
};

use crate::BoxError;
use crate::common::{median, ratio, timed, us};
use crate::entities::{audited, plain, triggered};
use crate::report::Report;
use crate::setup::Backend;

/// How the kinds of write take turns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Interleave {
    /// Plain, audited (and trigger) take turns write by write, the order rotating, so that
    /// each write of one kind runs in the conditions of the others (the default).
    Write,
    /// Rounds of sixty-odd writes of one kind in a row, then the next kind (as sections
    /// 1–24 measured, except that these also leave out a warm-up of updates and deletes): a
    /// tight loop of plain writes runs faster than the same writes among others, which
    /// raises the ratios.
    Round,
}

/// Rounds of [`Interleave::Round`].
const ROUNDS: usize = 5;

/// A benchmark entity: how to make its row number `i`, and how to edit one field of it.
trait BenchRow: EntityTrait {
    /// Row number `i`, to insert.
    fn make(i: i32) -> Self::ActiveModel;
    /// `m` with its title changed (the "update 1 field" write).
    fn touch(m: Self::Model, i: i32) -> Self::ActiveModel;
}

macro_rules! bench_row {
    ($($m:ident),*) => {$(
        impl BenchRow for $m::Entity {
            fn make(i: i32) -> $m::ActiveModel {
                new_row!($m, i)
            }
            fn touch(m: $m::Model, i: i32) -> $m::ActiveModel {
                let mut am = m.into_active_model();
                am.title = Set(format!("Edited {i}"));
                am
            }
        }
    )*};
}

bench_row!(plain, audited, triggered);

/// Medians of insert, update and delete.
#[derive(Default, Clone, Copy)]
struct WriteTimes {
    insert: Duration,
    update: Duration,
    delete: Duration,
}

/// Per-operation durations of one kind of write.
#[derive(Default)]
struct WriteSamples {
    insert: Vec<Duration>,
    update: Vec<Duration>,
    delete: Vec<Duration>,
}

impl WriteSamples {
    fn medians(self) -> WriteTimes {
        WriteTimes {
            insert: median(self.insert),
            update: median(self.update),
            delete: median(self.delete),
        }
    }
}

/// The write-overhead targets (audited ÷ plain, one write per transaction).
fn write_target(backend: &str, op: &str) -> Option<f64> {
    Some(match (backend, op) {
        ("PostgreSQL", "update 1 field") => 1.5,
        ("PostgreSQL", "delete") => 1.5,
        ("PostgreSQL", "insert") => 1.45,
        ("SQLite (file, WAL)", "update 1 field") => 1.4,
        ("SQLite (file, WAL)", "delete") => 1.5,
        ("SQLite (file, WAL)", "insert") => 1.35,
        ("MySQL/MariaDB", "update 1 field") => 1.6,
        ("MySQL/MariaDB", "delete") => 1.7,
        ("MySQL/MariaDB", "insert") => 1.45,
        _ => return None,
    })
}

/// The calls an audited write adds to the plain one: one statement on PostgreSQL, one call
/// on SQLite; on MySQL one call, after a read of the latest version for an update or a
/// delete.
fn extra_statements(op: &str, backend: DbBackend) -> u32 {
    match (op, backend) {
        ("insert", _) | (_, DbBackend::Postgres | DbBackend::Sqlite) => 1,
        _ => 2,
    }
}

/// `$body` (a future of `$c`, the connection) timed: in autocommit, or in a transaction of
/// its own; its output and the time.
macro_rules! timed_write {
    ($db:expr, $in_tx:expr, |$c:ident| $body:expr) => {{
        let start = Instant::now();
        let out = if $in_tx {
            let txn = $db.begin().await?;
            let out = {
                let $c = &txn;
                $body.await?
            };
            txn.commit().await?;
            out
        } else {
            let $c = $db;
            $body.await?
        };
        (out, start.elapsed())
    }};
}

/// The models of one kind written so far, and its samples.
struct Lane<E: EntityTrait> {
    models: Vec<E::Model>,
    samples: WriteSamples,
}

impl<E> Lane<E>
where
    E: BenchRow,
    E::Model: IntoActiveModel<E::ActiveModel> + Clone + Send + Sync,
    E::ActiveModel: ActiveModelTrait<Entity = E> + ActiveModelBehavior + Send,
{
    fn new() -> Self {
        Self {
            models: Vec::new(),
            samples: WriteSamples::default(),
        }
    }

    /// Write number `i` of `phase` (0 insert, 1 update, 2 delete); its time kept when
    /// `keep`.
    async fn step(
        &mut self,
        db: &DatabaseConnection,
        in_tx: bool,
        phase: usize,
        i: usize,
        keep: bool,
    ) -> Result<(), BoxError> {
        let d = match phase {
            0 => {
                let am = E::make(i as i32);
                let (m, d) = timed_write!(db, in_tx, |c| am.insert(c));
                self.models.push(m);
                d
            }
            1 => {
                let am = E::touch(self.models[i].clone(), i as i32);
                timed_write!(db, in_tx, |c| am.update(c)).1
            }
            _ => {
                let am = self.models[i].clone().into_active_model();
                timed_write!(db, in_tx, |c| am.delete(c)).1
            }
        };
        if keep {
            [
                &mut self.samples.insert,
                &mut self.samples.update,
                &mut self.samples.delete,
            ][phase.min(2)]
            .push(d);
        }
        Ok(())
    }
}

/// Medians for plain, audited and (PostgreSQL only) trigger writes: `ops` of each (after
/// a tenth more as warm-up), every insert, then every update, then every delete, the kinds
/// taking turns as `interleave` says.
async fn measure(
    b: &Backend,
    ops: usize,
    in_tx: bool,
    interleave: Interleave,
) -> Result<(WriteTimes, WriteTimes, Option<WriteTimes>), BoxError> {
    let kinds = if b.is_postgres() { 3 } else { 2 };
    let (mut p, mut a, mut t) = (
        Lane::<plain::Entity>::new(),
        Lane::<audited::Entity>::new(),
        Lane::<triggered::Entity>::new(),
    );
    let db = &b.db;
    match interleave {
        Interleave::Write => {
            let warm = (ops / 10).max(5);
            for phase in 0..3 {
                for i in 0..warm + ops {
                    for k in 0..kinds {
                        let keep = i >= warm;
                        match (i + k) % kinds {
                            0 => p.step(db, in_tx, phase, i, keep).await?,
                            1 => a.step(db, in_tx, phase, i, keep).await?,
                            _ => t.step(db, in_tx, phase, i, keep).await?,
                        }
                    }
                }
            }
        }
        Interleave::Round => {
            // Each round: one kind's inserts, updates and deletes, then the next kind's.
            let per_round = ops.div_ceil(ROUNDS);
            let warm = (per_round / 10).max(5);
            let mut offset = 0;
            for _ in 0..ROUNDS {
                for k in 0..kinds {
                    for phase in 0..3 {
                        for i in offset..offset + warm + per_round {
                            let keep = i >= offset + warm;
                            match k {
                                0 => p.step(db, in_tx, phase, i, keep).await?,
                                1 => a.step(db, in_tx, phase, i, keep).await?,
                                _ => t.step(db, in_tx, phase, i, keep).await?,
                            }
                        }
                    }
                }
                offset += warm + per_round;
            }
        }
    }
    let t = b.is_postgres().then(|| t.samples.medians());
    Ok((p.samples.medians(), a.samples.medians(), t))
}

/// What the extra statements of an audited write alone would cost, next to what it did.
struct Floor {
    backend: &'static str,
    op: &'static str,
    extra: u32,
    rtt: Duration,
    floor: f64,
    measured: f64,
}

/// Section 1: the write-overhead table for every backend, then the round-trip table.
pub async fn section(
    r: &mut Report,
    backends: &[Backend],
    ops: usize,
    interleave: Interleave,
) -> Result<(), BoxError> {
    r.line("");
    r.line("## 1. Write overhead: plain SeaORM vs audited (10-column entity)");
    r.line("");
    r.line("| backend | mode | op | plain | audited | audited ÷ plain | trigger (PG) | audited ÷ trigger |");
    r.line("|---|---|---|---|---|---|---|---|");
    let mut floors = Vec::new();
    for b in backends {
        let backend = b.db.get_database_backend();
        let rtt = timed(ops, || async {
            b.db.query_one_raw(Statement::from_string(backend, "SELECT 1"))
                .await?;
            Ok::<_, BoxError>(())
        })
        .await?;
        for in_tx in [false, true] {
            let times = measure(b, ops, in_tx, interleave).await?;
            report_mode(r, b, in_tx, times, rtt, &mut floors);
        }
    }
    floors_table(r, &floors);
    Ok(())
}

/// The three rows (insert, update, delete) of one backend and mode, their targets, and
/// (in a transaction) their [`Floor`]s.
fn report_mode(
    r: &mut Report,
    b: &Backend,
    in_tx: bool,
    (p, a, t): (WriteTimes, WriteTimes, Option<WriteTimes>),
    rtt: Duration,
    floors: &mut Vec<Floor>,
) {
    let mode = if in_tx {
        "in transaction"
    } else {
        "autocommit"
    };
    for (op, pv, av, tv) in [
        ("insert", p.insert, a.insert, t.map(|t| t.insert)),
        ("update 1 field", p.update, a.update, t.map(|t| t.update)),
        ("delete", p.delete, a.delete, t.map(|t| t.delete)),
    ] {
        let (tcol, tratio) = match tv {
            Some(tv) => (us(tv), format!("{:.2}×", ratio(av, tv))),
            None => ("–".into(), "–".into()),
        };
        r.line(format!(
            "| {} | {mode} | {op} | {} | {} | {:.2}× | {tcol} | {tratio} |",
            b.name,
            us(pv),
            us(av),
            ratio(av, pv)
        ));
        if !in_tx {
            continue;
        }
        if let Some(limit) = write_target(b.name, op) {
            let q = ratio(av, pv);
            r.target(
                format!(
                    "{}: audited ÷ plain, {op} in a transaction ≤ {limit}×",
                    b.name
                ),
                q <= limit,
                format!("{q:.2}×"),
            );
        }
        if op != "delete" {
            let extra = extra_statements(op, b.db.get_database_backend());
            floors.push(Floor {
                backend: b.name,
                op,
                extra,
                rtt,
                floor: ratio(pv + rtt * extra, pv),
                measured: ratio(av, pv),
            });
        }
        if op == "update 1 field"
            && let Some(tv) = tv
        {
            let q = ratio(av, tv);
            r.target(
                format!("{}: audited update within 1.3× of the trigger", b.name),
                q <= 1.3,
                format!("{q:.2}×"),
            );
        }
    }
}

/// The round-trip table: plain + the extra statements' round trips, against the measure.
fn floors_table(r: &mut Report, floors: &[Floor]) {
    r.line("");
    r.line(
        "Why the ratios are what they are: an audited write is the plain write plus whole extra",
    );
    r.line(
        "calls, and each costs at least one round trip (`SELECT 1`, measured on the same pool):",
    );
    r.line("");
    r.line("| backend | op (in transaction) | extra calls | one round trip | plain + extra round trips ÷ plain | measured audited ÷ plain |");
    r.line("|---|---|---|---|---|---|");
    for f in floors {
        r.line(format!(
            "| {} | {} | {} | {} | {:.2}× | {:.2}× |",
            f.backend,
            f.op,
            f.extra,
            us(f.rtt),
            f.floor,
            f.measured
        ));
    }
}
