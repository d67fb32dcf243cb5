//! What auditing costs, measured against plain SeaORM (and a PostgreSQL trigger) in one run.
//!
//! ```text
//! cargo run --release -p audit-examples --bin bench            # SQLite file + memory
//! AUDIT_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres \
//! AUDIT_BENCH_MYSQL_URL=mysql://root@127.0.0.1:3306/test \
//!   cargo run --release -p audit-examples --bin bench          # all four backends
//! ```
//!
//! Options: `--ops N` (writes per measurement, default 300), `--rows N` (size of the big
//! log, default 1000000), `--seconds N` (throughput run, default 10), `--out FILE`
//! (default `BENCHMARKS.md`), `--skip-big-log`, `--backfill-rows N` (rows given a baseline
//! by `backfill` on PostgreSQL, default 1000000; 0 skips it), `--only NAME` (backends whose name contains
//! NAME, e.g. `postgres`). Prints a markdown report and writes it to
//! the output file. Every figure is a median of per-operation times after a warm-up, and
//! every audited figure stands next to its plain baseline measured in the same run.

mod backfill;
mod entities;
mod micro;

use std::fmt::Write as _;
use std::future::Future;
use std::time::{Duration, Instant};

use audit_seaorm::entity::activity_log;
use audit_seaorm::{Filter, activity, activity_select, history};
use chrono::Utc;
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ConnectOptions, ConnectionTrait, Database,
    DatabaseConnection, DbBackend, EntityTrait, IntoActiveModel, QuerySelect, QueryTrait, Schema,
    Set, Statement, TransactionTrait,
};

use entities::{audited, plain, triggered};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

struct Options {
    ops: usize,
    rows: u64,
    seconds: u64,
    out: String,
    big_log: bool,
    backfill_rows: u64,
    only: Option<String>,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().collect();
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    Options {
        ops: value("--ops").and_then(|v| v.parse().ok()).unwrap_or(300),
        rows: value("--rows")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000_000),
        seconds: value("--seconds")
            .and_then(|v| v.parse().ok())
            .unwrap_or(10),
        out: value("--out").unwrap_or_else(|| "BENCHMARKS.md".to_owned()),
        big_log: !args.iter().any(|a| a == "--skip-big-log"),
        backfill_rows: value("--backfill-rows")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000_000),
        only: value("--only").map(|v| v.to_lowercase()),
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

/// Resident set size now (kB).
fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

fn row(i: i32) -> (String, String) {
    (
        format!("Title {i}"),
        format!("Body of post {i}, long enough to look like a paragraph of text."),
    )
}

macro_rules! new_row {
    ($m:ident, $i:expr) => {{
        let (title, body) = row($i);
        $m::ActiveModel {
            title: Set(title),
            body: Set(body),
            author: Set("author".into()),
            status: Set("draft".into()),
            score: Set($i),
            rating: Set(4.5),
            published: Set(false),
            tags: Set("rust,orm".into()),
            created_at: Set(Utc::now()),
            ..Default::default()
        }
    }};
}

/// Times `n` calls of `op`, after `n / 10` warm-up calls; per-call durations.
async fn time_each<F, Fut>(n: usize, mut op: F) -> Result<Vec<Duration>, BoxError>
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = Result<(), BoxError>>,
{
    let warm = (n / 10).max(5);
    for i in 0..warm {
        op(i).await?;
    }
    let mut out = Vec::with_capacity(n);
    for i in warm..warm + n {
        let start = Instant::now();
        op(i).await?;
        out.push(start.elapsed());
    }
    Ok(out)
}

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

/// Rounds per measurement: plain, audited (and trigger) take turns, so that drift on the
/// machine hits each of them alike.
const ROUNDS: usize = 5;

/// Insert, update one field, delete: `n` each, autocommit or one transaction per write.
async fn writes<E>(
    db: &DatabaseConnection,
    n: usize,
    in_tx: bool,
    make: impl Fn(i32) -> E::ActiveModel,
    touch: impl Fn(E::Model, i32) -> E::ActiveModel,
) -> Result<WriteSamples, BoxError>
where
    E: EntityTrait,
    E::Model: IntoActiveModel<E::ActiveModel> + Clone + Send + Sync,
    E::ActiveModel: ActiveModelTrait<Entity = E> + ActiveModelBehavior + Send,
{
    let total = n + (n / 10).max(5);
    let mut models: Vec<E::Model> = Vec::with_capacity(total);
    let insert = {
        let mut times = Vec::new();
        for i in 0..total {
            let am = make(i as i32);
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
        times.split_off(total - n)
    };
    let update = time_each(n, |i| {
        let am = touch(models[i].clone(), i as i32);
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

async fn setup_tables(db: &DatabaseConnection) -> Result<(), BoxError> {
    let schema = Schema::new(db.get_database_backend());
    for stmt in [
        schema.create_table_from_entity(plain::Entity),
        schema.create_table_from_entity(audited::Entity),
        schema.create_table_from_entity(triggered::Entity),
    ] {
        db.execute(&stmt).await?;
    }
    audit_seaorm::install(db).await?;
    Ok(())
}

const TRIGGER_SQL: &str = r#"
CREATE TABLE bench_trigger_log (
    id BIGSERIAL PRIMARY KEY, table_name TEXT NOT NULL, op TEXT NOT NULL,
    old_row JSONB, new_row JSONB, changed_at TIMESTAMPTZ NOT NULL DEFAULT now());
CREATE FUNCTION bench_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO bench_trigger_log (table_name, op, old_row, new_row)
    VALUES (TG_TABLE_NAME, TG_OP,
            CASE WHEN TG_OP = 'INSERT' THEN NULL ELSE to_jsonb(OLD) END,
            CASE WHEN TG_OP = 'DELETE' THEN NULL ELSE to_jsonb(NEW) END);
    RETURN NULL;
END $$;
CREATE TRIGGER bench_audit AFTER INSERT OR UPDATE OR DELETE ON bench_triggered
    FOR EACH ROW EXECUTE FUNCTION bench_audit();
"#;

struct Backend {
    name: &'static str,
    db: DatabaseConnection,
}

async fn fresh_server_db(url: &str, kind: DbBackend) -> Result<DatabaseConnection, BoxError> {
    let name = "audit_bench";
    let admin = Database::connect(url).await?;
    let (drop, create) = match kind {
        DbBackend::Postgres => (
            format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#),
            format!(r#"CREATE DATABASE "{name}""#),
        ),
        _ => (
            format!("DROP DATABASE IF EXISTS `{name}`"),
            format!("CREATE DATABASE `{name}`"),
        ),
    };
    admin.execute_unprepared(&drop).await?;
    admin.execute_unprepared(&create).await?;
    admin.close().await?;
    let base = url.rsplit_once('/').map(|(b, _)| b).unwrap_or(url);
    let mut opts = ConnectOptions::new(format!("{base}/{name}"));
    opts.max_connections(16).sqlx_logging(false);
    Ok(Database::connect(opts).await?)
}

async fn backends() -> Result<Vec<Backend>, BoxError> {
    let mut out = Vec::new();
    let dir = std::env::temp_dir().join("audit-bench");
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("bench.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
    }
    let mut opts = ConnectOptions::new(format!("sqlite://{}?mode=rwc", file.display()));
    opts.max_connections(1).sqlx_logging(false);
    let db = Database::connect(opts).await?;
    db.execute_unprepared("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
        .await?;
    out.push(Backend {
        name: "SQLite (file, WAL)",
        db,
    });
    let mut opts = ConnectOptions::new("sqlite::memory:");
    opts.sqlx_logging(false);
    out.push(Backend {
        name: "SQLite (memory)",
        db: Database::connect(opts).await?,
    });
    if let Ok(url) = std::env::var("AUDIT_BENCH_POSTGRES_URL") {
        out.push(Backend {
            name: "PostgreSQL",
            db: fresh_server_db(&url, DbBackend::Postgres).await?,
        });
    }
    if let Ok(url) = std::env::var("AUDIT_BENCH_MYSQL_URL") {
        out.push(Backend {
            name: "MySQL/MariaDB",
            db: fresh_server_db(&url, DbBackend::MySql).await?,
        });
    }
    for b in &out {
        setup_tables(&b.db).await?;
        if b.db.get_database_backend() == DbBackend::Postgres {
            b.db.execute_unprepared(TRIGGER_SQL).await?;
        }
    }
    Ok(out)
}

async fn server_version(db: &DatabaseConnection) -> String {
    let sql = match db.get_database_backend() {
        DbBackend::Sqlite => "SELECT 'SQLite ' || sqlite_version() AS v",
        _ => "SELECT version() AS v",
    };
    match db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
    {
        Ok(Some(row)) => row.try_get::<String>("", "v").unwrap_or_default(),
        _ => String::new(),
    }
}

fn machine() -> String {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .next()
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_owned())
        })
        .and_then(|kb| kb.parse::<u64>().ok())
        .map(|kb| format!("{:.1} GiB", kb as f64 / 1048576.0))
        .unwrap_or_default();
    let rustc = std::process::Command::new("rustc")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    format!(
        "{cores} cores, {mem} memory; {rustc}; sea-orm 2.0.4; audit {}",
        env!("CARGO_PKG_VERSION")
    )
}

struct Report {
    text: String,
    targets: Vec<(String, bool, String)>,
}

impl Report {
    fn line(&mut self, s: impl AsRef<str>) {
        println!("{}", s.as_ref());
        self.text.push_str(s.as_ref());
        self.text.push('\n');
    }
    fn target(&mut self, name: impl Into<String>, met: bool, detail: impl Into<String>) {
        self.targets.push((name.into(), met, detail.into()));
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let opts = options();
    let mut r = Report {
        text: String::new(),
        targets: Vec::new(),
    };
    let mut backends = backends().await?;
    if let Some(only) = &opts.only {
        backends.retain(|b| b.name.to_lowercase().contains(only.as_str()));
    }
    r.line("# Benchmarks");
    r.line("");
    r.line(format!(
        "Run {} on {}.",
        Utc::now().format("%Y-%m-%d %H:%M UTC"),
        machine()
    ));
    for b in &backends {
        r.line(format!("- {}: {}", b.name, server_version(&b.db).await));
    }
    r.line("");
    r.line(format!(
        "Command: `cargo run --release -p audit-examples --bin bench -- --ops {} --rows {} --seconds {}` \
         (PostgreSQL/MySQL from `AUDIT_BENCH_POSTGRES_URL` / `AUDIT_BENCH_MYSQL_URL`). \
         Figures are medians of per-operation times over {} operations after a warm-up.",
        opts.ops, opts.rows, opts.seconds, opts.ops
    ));

    // 1 + 2. Write overhead.
    r.line("");
    r.line("## 1. Write overhead: plain SeaORM vs audited (10-column entity)");
    r.line("");
    r.line("| backend | mode | op | plain | audited | audited ÷ plain | trigger (PG) | audited ÷ trigger |");
    r.line("|---|---|---|---|---|---|---|---|");
    let mut floors = Vec::new();
    for b in &backends {
        let backend = b.db.get_database_backend();
        let rtt = timed(opts.ops, || async {
            b.db.query_one_raw(Statement::from_string(backend, "SELECT 1"))
                .await?;
            Ok::<_, BoxError>(())
        })
        .await?;
        for in_tx in [false, true] {
            let mode = if in_tx {
                "in transaction"
            } else {
                "autocommit"
            };
            let pg = b.db.get_database_backend() == DbBackend::Postgres;
            let per_round = opts.ops.div_ceil(ROUNDS);
            let (mut p, mut a, mut t) = (
                WriteSamples::default(),
                WriteSamples::default(),
                WriteSamples::default(),
            );
            for _ in 0..ROUNDS {
                p.add(
                    writes::<plain::Entity>(
                        &b.db,
                        per_round,
                        in_tx,
                        |i| new_row!(plain, i),
                        |m, i| {
                            let mut am = m.into_active_model();
                            am.title = Set(format!("Edited {i}"));
                            am
                        },
                    )
                    .await?,
                );
                a.add(
                    writes::<audited::Entity>(
                        &b.db,
                        per_round,
                        in_tx,
                        |i| new_row!(audited, i),
                        |m, i| {
                            let mut am = m.into_active_model();
                            am.title = Set(format!("Edited {i}"));
                            am
                        },
                    )
                    .await?,
                );
                if pg {
                    t.add(
                        writes::<triggered::Entity>(
                            &b.db,
                            per_round,
                            in_tx,
                            |i| new_row!(triggered, i),
                            |m, i| {
                                let mut am = m.into_active_model();
                                am.title = Set(format!("Edited {i}"));
                                am
                            },
                        )
                        .await?,
                    );
                }
            }
            let (p, a) = (p.medians(), a.medians());
            let t = pg.then(|| t.medians());
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
                if in_tx && let Some(limit) = write_target(b.name, op) {
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
                if in_tx && op != "delete" {
                    // What the extra statements alone cost: the audit rows are one
                    // statement on PostgreSQL; on SQLite one call, after a read of the
                    // latest version for an update; on MySQL the version and the entries,
                    // after that read for an update.
                    let extra = match (op, b.db.get_database_backend()) {
                        ("insert", DbBackend::MySql) => 2,
                        ("insert", _) => 1,
                        (_, DbBackend::MySql) => 3,
                        (_, DbBackend::Postgres) => 1,
                        _ => 2,
                    };
                    floors.push((
                        b.name,
                        op,
                        extra,
                        rtt,
                        ratio(pv + rtt * extra, pv),
                        ratio(av, pv),
                    ));
                }
                if op == "update 1 field"
                    && in_tx
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
    }

    r.line("");
    r.line(
        "Why the ratios are what they are: an audited write is the plain write plus whole extra",
    );
    r.line("statements, and each costs at least one round trip (`SELECT 1`, measured on the same pool):");
    r.line("");
    r.line("| backend | op (in transaction) | extra statements | one round trip | plain + extra round trips ÷ plain | measured audited ÷ plain |");
    r.line("|---|---|---|---|---|---|");
    for (name, op, extra, rtt, floor, measured) in &floors {
        r.line(format!(
            "| {name} | {op} | {extra} | {} | {floor:.2}× | {measured:.2}× |",
            us(*rtt)
        ));
    }

    // 3. Diff and snapshot.
    r.line("");
    r.line("## 2. Diff and snapshot (12-field model, in process)");
    r.line("");
    r.line("| operation | median per call |");
    r.line("|---|---|");
    let m = micro::run();
    for (name, d) in &m.rows {
        r.line(format!("| {name} | {:.0} ns |", d.as_secs_f64() * 1e9));
    }
    let speedup = ratio(m.generic_one, m.typed_one);
    r.line("");
    r.line(format!(
        "Typed diff vs `serde_json::Value` diff, one field changed: {speedup:.1}× faster; all fields changed: {:.1}× faster.",
        ratio(m.generic_all, m.typed_all)
    ));
    r.target(
        "typed diff ≥ 5× faster than the Value diff (1 field)",
        speedup >= 5.0,
        format!("{speedup:.1}×"),
    );
    r.target(
        "typed diff under 1 µs with one field changed",
        m.typed_one < Duration::from_micros(1),
        format!("{:.0} ns", m.typed_one.as_secs_f64() * 1e9),
    );

    // 4 + 6. Queries on a big log, memory.
    if opts.big_log {
        r.line("");
        r.line(format!(
            "## 3. Queries on a big log ({} activity rows, 10,000 subjects, 100 causers)",
            opts.rows
        ));
        r.line("");
        r.line("| backend | load | subject history (100 rows) | causer's latest 50 | action + time range, 50 | first page (50) | deep page, keyset | deep page, offset | RSS growth: load / paging all |");
        r.line("|---|---|---|---|---|---|---|---|---|");
        let mut plans = None;
        for b in &backends {
            plans = plans.or(big_log(&mut r, b, opts.rows).await?);
        }
        if let Some(plans) = plans {
            r.line("");
            r.line("Query plans on PostgreSQL (`EXPLAIN`, the node that reads `activity_log`):");
            r.line("");
            for l in plans.lines() {
                r.line(l);
            }
        }
    }

    // 5. Throughput.
    let pg = backends
        .iter()
        .find(|b| b.db.get_database_backend() == DbBackend::Postgres);
    if let Some(pg) = pg {
        r.line("");
        r.line(format!("## 4. Throughput: 8 tasks updating different rows for {} s (PostgreSQL, one transaction per write)", opts.seconds));
        r.line("");
        for i in 0..8 {
            new_row!(plain, i).insert(&pg.db).await?;
            new_row!(audited, i).insert(&pg.db).await?;
        }
        let plain_wps = throughput::<plain::Entity>(&pg.db, opts.seconds, |m, i| {
            let mut am = m.into_active_model();
            am.score = Set(i);
            am
        })
        .await?;
        let audited_wps = throughput::<audited::Entity>(&pg.db, opts.seconds, |m, i| {
            let mut am = m.into_active_model();
            am.score = Set(i);
            am
        })
        .await?;
        r.line("| plain writes/s | audited writes/s | audited ÷ plain |");
        r.line("|---|---|---|");
        r.line(format!(
            "| {plain_wps:.0} | {audited_wps:.0} | {:.2} |",
            audited_wps / plain_wps
        ));
    }

    if opts.backfill_rows > 0
        && let Some(pg) = backends.iter().find(|b| b.name == "PostgreSQL")
    {
        let (secs, written, rss) = backfill::run(&pg.db, opts.backfill_rows).await?;
        r.line("");
        r.line(format!(
            "## 5. Backfill: baselines for {} rows that predate auditing (PostgreSQL)",
            opts.backfill_rows
        ));
        r.line("");
        r.line("| rows | baselines written | time | rows/s | RSS growth |");
        r.line("|---|---|---|---|---|");
        r.line(format!(
            "| {} | {written} | {secs:.1} s | {:.0} | {} MiB |",
            opts.backfill_rows,
            written as f64 / secs,
            rss / 1024
        ));
    }

    r.line("");
    r.line("## Targets");
    r.line("");
    r.line("| target | result | met |");
    r.line("|---|---|---|");
    let targets = std::mem::take(&mut r.targets);
    for (name, met, detail) in &targets {
        r.line(format!(
            "| {name} | {detail} | {} |",
            if *met { "yes" } else { "**no**" }
        ));
    }
    std::fs::write(&opts.out, &r.text)?;
    eprintln!("\nwritten to {}", opts.out);
    Ok(())
}

async fn throughput<E>(
    db: &DatabaseConnection,
    seconds: u64,
    touch: fn(E::Model, i32) -> E::ActiveModel,
) -> Result<f64, BoxError>
where
    E: EntityTrait,
    E::Model: IntoActiveModel<E::ActiveModel> + Clone + Send + Sync,
    E::ActiveModel: ActiveModelTrait<Entity = E> + ActiveModelBehavior + Send,
{
    let rows = E::find().limit(8).all(db).await?;
    if rows.len() < 8 {
        return Err(format!("the throughput run needs 8 rows, found {}", rows.len()).into());
    }
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for row in rows {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            let mut model = row;
            while Instant::now() < deadline {
                let txn = db.begin().await?;
                model = touch(model, n as i32).update(&txn).await?;
                txn.commit().await?;
                n += 1;
            }
            Ok::<u64, BoxError>(n)
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await??;
    }
    Ok(total as f64 / seconds as f64)
}

/// Fills `activity_log` with `rows` synthetic entries in one statement.
fn fill_sql(backend: DbBackend, rows: u64) -> String {
    let digits = "SELECT 0 AS n UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 \
                  UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9";
    let (subject, causer, at) = match backend {
        DbBackend::Postgres => (
            "(g % 10000)::text".to_owned(),
            "'user-' || (g % 100)".to_owned(),
            "timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second'".to_owned(),
        ),
        DbBackend::MySql => (
            "CAST(g % 10000 AS CHAR)".to_owned(),
            "CONCAT('user-', g % 100)".to_owned(),
            "TIMESTAMPADD(SECOND, g, '2026-01-01 00:00:00')".to_owned(),
        ),
        _ => (
            "CAST(g % 10000 AS TEXT)".to_owned(),
            "'user-' || (g % 100)".to_owned(),
            "strftime('%Y-%m-%d %H:%M:%S', '2026-01-01', '+' || g || ' seconds') || '+00:00'"
                .to_owned(),
        ),
    };
    // No quoted identifiers: the same text works on every backend.
    let changes = r#"'{"title":{"old":"a","new":"b"}}'"#;
    format!(
        "INSERT INTO activity_log (action, subject_type, subject_id, causer_id, changes, created_at)
        SELECT CASE g % 4 WHEN 0 THEN 'created' WHEN 1 THEN 'updated' WHEN 2 THEN 'viewed' ELSE 'deleted' END,
               'post', {subject}, {causer}, {changes}, {at}
        FROM (SELECT a.n + 10 * b.n + 100 * c.n + 1000 * d.n + 10000 * e.n + 100000 * f.n AS g
              FROM ({digits}) a, ({digits}) b, ({digits}) c, ({digits}) d, ({digits}) e, ({digits}) f) nums
        WHERE g < {rows}"
    )
}

async fn timed<F, Fut, T>(runs: usize, mut f: F) -> Result<Duration, BoxError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, BoxError>>,
{
    for _ in 0..3 {
        f().await?;
    }
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        f().await?;
        times.push(start.elapsed());
    }
    Ok(median(times))
}

async fn big_log(r: &mut Report, b: &Backend, rows: u64) -> Result<Option<String>, BoxError> {
    let db = &b.db;
    let backend = db.get_database_backend();
    db.execute_unprepared("DELETE FROM activity_log").await?;
    let rss_before_load = rss_kb();
    let start = Instant::now();
    db.execute_unprepared(&fill_sql(backend, rows)).await?;
    match backend {
        DbBackend::Postgres => {
            db.execute_unprepared("ANALYZE activity_log").await?;
        }
        DbBackend::MySql => {
            db.execute_unprepared("ANALYZE TABLE activity_log").await?;
        }
        _ => {
            db.execute_unprepared("ANALYZE").await?;
        }
    }
    let load = start.elapsed();
    let load_rss = rss_kb().saturating_sub(rss_before_load);
    let max_id: i64 = activity_log::Entity::find()
        .select_only()
        .column_as(
            sea_orm::sea_query::Expr::from(sea_orm::sea_query::Func::max(
                sea_orm::sea_query::Expr::col(activity_log::Column::Id),
            )),
            "m",
        )
        .into_tuple::<Option<i64>>()
        .one(db)
        .await?
        .flatten()
        .unwrap_or(0);
    let since = chrono::DateTime::parse_from_rfc3339("2026-01-03T00:00:00Z")?.with_timezone(&Utc);
    let until = chrono::DateTime::parse_from_rfc3339("2026-01-05T00:00:00Z")?.with_timezone(&Utc);
    let subject = || history(db, "post", "4242");
    let causer = Filter::new().causer("user-42").limit(50);
    let ranged = Filter::new()
        .action("viewed")
        .since(since)
        .until(until)
        .limit(50);
    let first = Filter::new().limit(50);
    let deep_keyset = Filter::new().limit(50).after_id(max_id - rows as i64 / 2);
    let deep_offset = Filter::new().limit(50).offset(rows / 2);
    let runs = 25;
    let t_subject = timed(runs, || async { Ok::<_, BoxError>(subject().await?.len()) }).await?;
    let t_causer = timed(runs, || async {
        Ok::<_, BoxError>(activity(db, &causer).await?.items.len())
    })
    .await?;
    let t_ranged = timed(runs, || async {
        Ok::<_, BoxError>(activity(db, &ranged).await?.items.len())
    })
    .await?;
    let t_first = timed(runs, || async {
        Ok::<_, BoxError>(activity(db, &first).await?.items.len())
    })
    .await?;
    let t_keyset = timed(runs, || async {
        Ok::<_, BoxError>(activity(db, &deep_keyset).await?.items.len())
    })
    .await?;
    let t_offset = timed(5, || async {
        Ok::<_, BoxError>(activity(db, &deep_offset).await?.items.len())
    })
    .await?;
    assert_eq!(subject().await?.len() as u64, rows / 10_000, "history size");

    // Page through everything with the cursor: memory must not grow with the log.
    let rss_before_paging = rss_kb();
    let mut paging_rss = 0;
    let mut cursor = None;
    let mut seen = 0u64;
    loop {
        let mut f = Filter::new().limit(500);
        if let Some(c) = cursor {
            f = f.after_id(c);
        }
        let page = activity(db, &f).await?;
        seen += page.items.len() as u64;
        paging_rss = paging_rss.max(rss_kb().saturating_sub(rss_before_paging));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let page_rss = paging_rss;
    assert_eq!(seen, rows);

    r.line(format!(
        "| {} | {:.1} s | {} | {} | {} | {} | {} | {} | +{} MiB / +{} MiB |",
        b.name,
        load.as_secs_f64(),
        us(t_subject),
        us(t_causer),
        us(t_ranged),
        us(t_first),
        us(t_keyset),
        us(t_offset),
        load_rss / 1024,
        page_rss / 1024,
    ));
    let ms2 = Duration::from_millis(2);
    r.target(
        format!("{}: subject history at {rows} rows ≤ 2 ms", b.name),
        t_subject <= ms2,
        us(t_subject),
    );
    r.target(
        format!("{}: causer's latest 50 at {rows} rows ≤ 2 ms", b.name),
        t_causer <= ms2,
        us(t_causer),
    );
    let q = ratio(t_keyset, t_first);
    r.target(
        format!("{}: deep keyset page ≤ 2× first page", b.name),
        q <= 2.0,
        format!("{q:.2}×"),
    );

    if backend == DbBackend::Postgres {
        let mut plans = String::new();
        for (name, filter) in [
            ("causer's latest 50", &causer),
            ("action + time range", &ranged),
            ("first page", &first),
            ("deep page, keyset", &deep_keyset),
            ("deep page, offset", &deep_offset),
        ] {
            let stmt = activity_select(filter)
                .limit(filter.effective_limit() + 1)
                .build(DbBackend::Postgres);
            let _ = writeln!(plans, "- {name}: {}", explain(db, stmt).await?);
        }
        let stmt = activity_select(
            &Filter::new()
                .subject("post", "4242")
                .order(audit_seaorm::Order::OldestFirst),
        )
        .build(DbBackend::Postgres);
        let _ = writeln!(plans, "- subject history: {}", explain(db, stmt).await?);
        return Ok(Some(plans));
    }
    Ok(None)
}

/// The scan nodes of a plan, e.g. `Index Scan Backward using idx_activity_log_causer`.
async fn explain(db: &DatabaseConnection, stmt: Statement) -> Result<String, BoxError> {
    let sql = format!("EXPLAIN {}", stmt.sql);
    let rows = db.query_all_raw(Statement { sql, ..stmt }).await?;
    let nodes: Vec<String> = rows
        .iter()
        .filter_map(|row| row.try_get::<String>("", "QUERY PLAN").ok())
        .map(|l| l.trim().trim_start_matches("->").trim().to_owned())
        .filter(|l| l.contains("Scan"))
        .map(|l| l.split("  (").next().unwrap_or(&l).to_owned())
        .collect();
    Ok(nodes.join("; "))
}
