//! The backends under test: fresh databases with the benchmark tables, the audit tables and
//! (on PostgreSQL) the comparison trigger.

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Schema, Statement,
};

use crate::BoxError;
use crate::entities::{audited, plain, triggered, wide};

/// One database under test.
pub struct Backend {
    /// Its name in the report, e.g. `PostgreSQL`.
    pub name: &'static str,
    /// A pool on a fresh database.
    pub db: DatabaseConnection,
}

impl Backend {
    /// Whether this is PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.db.get_database_backend() == DbBackend::Postgres
    }

    /// Whether the database lives in the bench's own memory (SQLite in memory).
    pub fn in_process(&self) -> bool {
        self.name == "SQLite (memory)"
    }
}

async fn setup_tables(db: &DatabaseConnection) -> Result<(), BoxError> {
    let schema = Schema::new(db.get_database_backend());
    for stmt in [
        schema.create_table_from_entity(plain::Entity),
        schema.create_table_from_entity(audited::Entity),
        schema.create_table_from_entity(triggered::Entity),
        schema.create_table_from_entity(wide::Entity),
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

async fn sqlite_backends() -> Result<Vec<Backend>, BoxError> {
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
    let mut opts = ConnectOptions::new("sqlite::memory:");
    opts.sqlx_logging(false);
    Ok(vec![
        Backend {
            name: "SQLite (file, WAL)",
            db,
        },
        Backend {
            name: "SQLite (memory)",
            db: Database::connect(opts).await?,
        },
    ])
}

/// SQLite (file and memory), and PostgreSQL and MySQL/MariaDB when their URLs are set, each
/// set up; then those whose name contains `only` (any case), if given.
pub async fn backends(only: Option<&str>) -> Result<Vec<Backend>, BoxError> {
    let mut out = sqlite_backends().await?;
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
        if b.is_postgres() {
            b.db.execute_unprepared(TRIGGER_SQL).await?;
        }
    }
    if let Some(only) = only {
        let only = only.to_lowercase();
        out.retain(|b| b.name.to_lowercase().contains(&only));
    }
    Ok(out)
}

/// The server's version string, e.g. `SQLite 3.51.3`; empty if it cannot be read.
pub async fn server_version(db: &DatabaseConnection) -> String {
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

/// Cores, memory, compiler and versions, for the report's first line.
pub fn machine() -> String {
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
