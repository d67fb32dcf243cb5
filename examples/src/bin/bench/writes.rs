//! Section 1: write overhead, plain SeaORM vs audited (and a PostgreSQL trigger), per
//! backend, autocommit and one transaction per write; then what the extra round trips alone
//! would cost.

use std::time::{Duration, Instant};

use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ConnectionTrait, DatabaseConnection, DbBackend,
    EntityTrait, IntoActiveModel, Set, Statement, TransactionTrait,
};

use crate::BoxError;
use crate::common::{median, ratio, time_each, timed, us};
use crate::entities::{audited, plain, triggered};
use crate::report::Report;
use crate::setup::Backend;

/// Rounds per measurement: plain, audited (and trigger) take turns, so that drift on the
/// machine hits each of them alike.
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

/// Per-operation durations of several rounds of [`writes`].
#[derive(Default)]
struct WriteSamples {
    insert: Vec<Duration>,
    update: Vec<Duration>,
    delete: Vec<Duration>,
}

impl WriteSamples {
    fn add(&mut self, more: WriteSamples) {
        self.insert.extend(more.insert);
        self.update.extend(more.update);
        self.delete.extend(more.delete);
    }
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

/// The calls an audited write adds to the plain one: the audit rows are one statement on
/// PostgreSQL; on SQLite and MySQL one call, after a read of the latest version for an
/// update or a delete.
fn extra_statements(op: &str, backend: DbBackend) -> u32 {
    match (op, backend) {
        ("insert", _) => 1,
        (_, DbBackend::Postgres) => 1,
        _ => 2,
    }
}

/// Inserts `total` rows of `E`, timing each; the rows written and the last `n` times.
async fn inserts<E>(
    db: &DatabaseConnection,
    total: usize,
    n: usize,
    in_tx: bool,
) -> Result<(Vec<E::Model>, Vec<Duration>), BoxError>
where
    E: BenchRow,
    E::Model: IntoActiveModel<E::ActiveModel> + Clone + Send + Sync,
    E::ActiveModel: ActiveModelTrait<Entity = E> + ActiveModelBehavior + Send,
{
    let mut models = Vec::with_capacity(total);
    let mut times = Vec::with_capacity(total);
    for i in 0..total {
        let am = E::make(i as i32);
        let start = Instant::now();
        let m = if in_tx {
            let txn = db.begin().await?;
            let m = am.insert(&txn).await?;
            txn.commit().await?;
            m
        } else {
            am.insert(db).await?
        };
        times.push(start.elapsed());
        models.push(m);
    }
    Ok((models, times.split_off(total - n)))
}

/// Insert, update one field, delete of `E`: `n` each (after a warm-up), autocommit or one
/// transaction per write.
async fn writes<E>(db: &DatabaseConnection, n: usize, in_tx: bool) -> Result<WriteSamples, BoxError>
where
    E: BenchRow,
    E::Model: IntoActiveModel<E::ActiveModel> + Clone + Send + Sync,
    E::ActiveModel: ActiveModelTrait<Entity = E> + ActiveModelBehavior + Send,
{
    let total = n + (n / 10).max(5);
    let (models, insert) = inserts::<E>(db, total, n, in_tx).await?;
    let update = time_each(n, |i| {
        let am = E::touch(models[i].clone(), i as i32);
        async move {
            if in_tx {
                let txn = db.begin().await?;
                am.update(&txn).await?;
                txn.commit().await?;
            } else {
                am.update(db).await?;
            }
            Ok(())
        }
    })
    .await?;
    let delete = time_each(n, |i| {
        let am = models[i].clone().into_active_model();
        async move {
            if in_tx {
                let txn = db.begin().await?;
                am.delete(&txn).await?;
                txn.commit().await?;
            } else {
                am.delete(db).await?;
            }
            Ok(())
        }
    })
    .await?;
    Ok(WriteSamples {
        insert,
        update,
        delete,
    })
}

/// Medians for plain, audited and (PostgreSQL only) trigger writes, taking turns for
/// [`ROUNDS`] rounds of `ops / ROUNDS` writes each.
async fn measure(
    b: &Backend,
    ops: usize,
    in_tx: bool,
) -> Result<(WriteTimes, WriteTimes, Option<WriteTimes>), BoxError> {
    let per_round = ops.div_ceil(ROUNDS);
    let (mut p, mut a, mut t) = (
        WriteSamples::default(),
        WriteSamples::default(),
        WriteSamples::default(),
    );
    for _ in 0..ROUNDS {
        p.add(writes::<plain::Entity>(&b.db, per_round, in_tx).await?);
        a.add(writes::<audited::Entity>(&b.db, per_round, in_tx).await?);
        if b.is_postgres() {
            t.add(writes::<triggered::Entity>(&b.db, per_round, in_tx).await?);
        }
    }
    let t = b.is_postgres().then(|| t.medians());
    Ok((p.medians(), a.medians(), t))
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
pub async fn section(r: &mut Report, backends: &[Backend], ops: usize) -> Result<(), BoxError> {
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
            let times = measure(b, ops, in_tx).await?;
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
