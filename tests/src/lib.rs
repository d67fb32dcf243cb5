//! Shared test support: the test entities, one fresh database per test on each backend,
//! and [`backend_tests!`] to run the same test body on SQLite, PostgreSQL and MySQL.
//!
//! PostgreSQL and MySQL run when `AUDIT_TEST_POSTGRES_URL` / `AUDIT_TEST_MYSQL_URL` are
//! set (a URL to a server whose user may create databases). Without them those tests are
//! skipped with a warning on stderr that the test harness does not capture; with
//! `AUDIT_TEST_REQUIRE_ALL_BACKENDS=1` (CI) a missing URL fails the test instead. A URL
//! that is set but unreachable always fails. With `AUDIT_TEST_PARTITIONED=1`, the
//! PostgreSQL databases get the partitioned layout (`Install::partitioned`): CI runs the
//! PostgreSQL tests once on each layout.

#![allow(missing_docs)]

pub mod entities;

use std::io::Write;
use std::sync::OnceLock;

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, EntityTrait, Schema,
    Statement,
};

pub use entities::{cake, cli_cake, compat, label, legacy, note, post, sample, translation};

/// A database backend under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    MySql,
}

impl Backend {
    fn env_var(self) -> Option<&'static str> {
        match self {
            Backend::Sqlite => None,
            Backend::Postgres => Some("AUDIT_TEST_POSTGRES_URL"),
            Backend::MySql => Some("AUDIT_TEST_MYSQL_URL"),
        }
    }
}

fn warn_once(backend: Backend, var: &str) {
    static PG: OnceLock<()> = OnceLock::new();
    static MY: OnceLock<()> = OnceLock::new();
    let cell = if backend == Backend::Postgres {
        &PG
    } else {
        &MY
    };
    cell.get_or_init(|| {
        // Straight to the file descriptor: libtest captures `eprintln!`, not this.
        let _ = writeln!(
            std::io::stderr(),
            "\n*** WARNING: {var} is not set: {backend:?} tests are SKIPPED (they pass without running). ***\n"
        );
    });
}

/// Replaces the database name (the URL's path) of a server URL.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_end = base[scheme_end..]
        .find('/')
        .map(|i| i + scheme_end)
        .unwrap_or(base.len());
    let mut out = format!("{}/{}", &base[..host_end], name);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// A test's database: derefs to its connection, and drops the database (on a server) when
/// it goes out of scope, whether the test passed or panicked.
pub struct TestDb {
    conn: Option<DatabaseConnection>,
    /// The admin URL and the `DROP DATABASE` statement.
    drop: Option<(String, String)>,
}

impl TestDb {
    /// A connection to the test's database (the database lives as long as `self`).
    pub fn connection(&self) -> DatabaseConnection {
        (**self).clone()
    }
}

impl std::ops::Deref for TestDb {
    type Target = DatabaseConnection;
    fn deref(&self) -> &DatabaseConnection {
        self.conn.as_ref().expect("connection until drop")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        drop(self.conn.take());
        let Some((url, sql)) = self.drop.take() else {
            return;
        };
        // `Drop` cannot await, and may run while the test's runtime unwinds: drop the
        // database from a thread with a runtime of its own.
        let statement = sql.clone();
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime to drop the test database");
            rt.block_on(async {
                let admin = Database::connect(connect_options(&url))
                    .await
                    .map_err(|e| e.to_string())?;
                let done = tokio::time::timeout(
                    std::time::Duration::from_secs(30),
                    admin.execute_unprepared(&statement),
                )
                .await;
                admin.close().await.ok();
                match done {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(_) => Err("timed out".to_owned()),
                }
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            // Not a panic (it may run during one): CI's check for leftovers catches it.
            let _ = writeln!(std::io::stderr(), "could not run `{sql}`: {dropped:?}");
        }
    }
}

/// Whether PostgreSQL's tests install the partitioned layout (`AUDIT_TEST_PARTITIONED=1`).
pub fn partitioned_layout() -> bool {
    std::env::var("AUDIT_TEST_PARTITIONED").is_ok_and(|v| v == "1")
}

/// Returns once a session on `db`'s database waits for a lock (a row lock, or an advisory
/// or user lock), which a test's other task is set up to do; panics when none has after
/// 30 s. SQLite shows no such wait: there the other task gets 500 ms.
pub async fn until_a_lock_wait(db: &DatabaseConnection) {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'"
        }
        // MariaDB lists a transaction's lock wait in `innodb_trx` only once it has
        // written: a statement of the test's database running for a second or more
        // (nothing else there takes that long) is waiting too.
        DbBackend::MySql => {
            "SELECT (SELECT count(*) FROM information_schema.innodb_trx t \
                 JOIN information_schema.processlist p ON p.id = t.trx_mysql_thread_id \
                 WHERE t.trx_state = 'LOCK WAIT' AND p.db = DATABASE()) \
             + (SELECT count(*) FROM information_schema.processlist \
                 WHERE db = DATABASE() AND id <> CONNECTION_ID() \
                 AND command IN ('Query', 'Execute') AND time >= 1)"
        }
        _ => {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            return;
        }
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let waiting: i64 = db
            .query_one_raw(sea_orm::Statement::from_string(backend, sql))
            .await
            .unwrap()
            .expect("a count")
            .try_get_by_index(0)
            .unwrap();
        if waiting > 0 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no session waited for a lock within 30 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// PostgreSQL: `activity_log` made again, partitioned (`Install::partitioned`), whatever
/// layout the test's database had.
pub async fn partition_activity_log(db: &DatabaseConnection) {
    db.execute_unprepared("DROP TABLE activity_log")
        .await
        .unwrap();
    audit_seaorm::install_with(db, &audit_seaorm::Install::new().partitioned(true))
        .await
        .unwrap();
}

/// A fresh, empty database for one test, with the audit tables and the test entities'
/// tables created, dropped again when the returned [`TestDb`] goes out of scope. `None`
/// when the backend is not configured (skipped loudly).
pub async fn fresh_db(backend: Backend, test: &str) -> Option<TestDb> {
    // Holds the database from its `CREATE` on: a panic while it is set up drops it too.
    let mut guard = TestDb {
        conn: None,
        drop: None,
    };
    let db = match backend {
        Backend::Sqlite => Database::connect(connect_options("sqlite::memory:"))
            .await
            .expect("open SQLite in memory"),
        other => {
            let var = other.env_var().expect("server backend");
            let url = match std::env::var(var) {
                Ok(url) if !url.is_empty() => url,
                _ => {
                    if std::env::var("AUDIT_TEST_REQUIRE_ALL_BACKENDS").is_ok_and(|v| v == "1") {
                        panic!("{var} is not set but AUDIT_TEST_REQUIRE_ALL_BACKENDS=1");
                    }
                    warn_once(other, var);
                    return None;
                }
            };
            let name = format!("audit_t_{}", test.replace("::", "_"));
            assert!(name.len() <= 63, "database name too long: {name}");
            let admin = Database::connect(connect_options(&url))
                .await
                .unwrap_or_else(|e| panic!("{var}={url} is set but unreachable: {e}"));
            let (drop, create) = match other {
                // The usual default of a production server: a language's collation
                // (ICU's en-US here, which needs no OS locale), which orders text
                // unlike its bytes ("a" < "B").
                Backend::Postgres => (
                    format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#),
                    format!(
                        r#"CREATE DATABASE "{name}" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"#
                    ),
                ),
                _ => (
                    format!("DROP DATABASE IF EXISTS `{name}`"),
                    format!("CREATE DATABASE `{name}`"),
                ),
            };
            admin
                .execute_unprepared(&drop)
                .await
                .unwrap_or_else(|e| panic!("{drop}: {e}"));
            admin
                .execute_unprepared(&create)
                .await
                .unwrap_or_else(|e| panic!("{create}: {e}"));
            admin.close().await.ok();
            guard.drop = Some((url.clone(), drop));
            let mut opts = connect_options(&with_database(&url, &name));
            opts.max_connections(10);
            Database::connect(opts)
                .await
                .unwrap_or_else(|e| panic!("connect to {name}: {e}"))
        }
    };
    // `AUDIT_TEST_PARTITIONED=1`: PostgreSQL's tests run on the partitioned layout.
    let partitioned = backend == Backend::Postgres && partitioned_layout();
    audit_seaorm::install_with(&db, &audit_seaorm::Install::new().partitioned(partitioned))
        .await
        .expect("install the audit tables");
    create_tables(&db).await;
    guard.conn = Some(db);
    Some(guard)
}

/// Creates the table of `entity` (one a test file declares for itself).
pub async fn create_table<E: EntityTrait>(db: &DatabaseConnection, entity: E) {
    let schema = Schema::new(db.get_database_backend());
    let stmt = schema.create_table_from_entity(entity);
    db.execute(&stmt)
        .await
        .unwrap_or_else(|e| panic!("create table: {e}"));
}

/// Creates the test entities' tables.
pub async fn create_tables(db: &DatabaseConnection) {
    create_table(db, post::Entity).await;
    create_table(db, translation::Entity).await;
    create_table(db, label::Entity).await;
    create_table(db, sample::Entity).await;
    create_table(db, note::Entity).await;
    create_table(db, cake::Entity).await;
    create_table(db, legacy::Entity).await;
    create_table(db, cli_cake::Entity).await;
    // Referenced tables first: their foreign keys are created with them.
    create_table(db, compat::bakery::Entity).await;
    create_table(db, compat::cake::Entity).await;
    create_table(db, compat::baker::Entity).await;
    create_table(db, compat::cakes_bakers::Entity).await;
    create_table(db, compat::pantry::Entity).await;
    create_table(db, compat::keyed::Entity).await;
    create_table(db, compat::flavor::Entity).await;
    create_table(db, compat::reading::Entity).await;
    create_table(db, compat::misordered::Entity).await;
    // A native enum type first, where there are such types (PostgreSQL).
    let schema = Schema::new(db.get_database_backend());
    if let Some(kind) = schema.create_enum_from_active_enum::<compat::mood::Mood>() {
        db.execute(&kind)
            .await
            .unwrap_or_else(|e| panic!("create type: {e}"));
    }
    create_table(db, compat::mood::Entity).await;
    create_table(db, compat::dense::Entity).await;
    create_table(db, compat::dense_note::Entity).await;
    create_table(db, compat::expanded::Entity).await;
    create_table(db, compat::camel::Entity).await;
    create_table(db, compat::underscored::Entity).await;
    create_table(db, compat::variants::Entity).await;
}

/// Asserts that no activity entry and no version of `post` `id` exist.
pub async fn assert_no_audit_rows(db: &DatabaseConnection, id: i32) {
    let entries = audit_seaorm::activity(db, &audit_seaorm::Filter::new())
        .await
        .unwrap()
        .items;
    assert!(entries.is_empty(), "unexpected activity: {entries:?}");
    assert!(
        audit_seaorm::versions(db, "post", id)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Moves the activity entries `ids` to the time `at` (as the backend takes a time: MySQL's
/// `DATETIME` as such, the others as a UTC time).
pub async fn move_entries(
    db: &DatabaseConnection,
    ids: impl IntoIterator<Item = i64>,
    at: chrono::DateTime<chrono::Utc>,
) {
    use audit_seaorm::entity::activity_log;
    use sea_orm::{ColumnTrait, QueryFilter, sea_query::Expr};
    activity_log::Entity::update_many()
        .col_expr(
            activity_log::Column::CreatedAt,
            Expr::val(time_value(db, at)),
        )
        .filter(activity_log::Column::Id.is_in(ids))
        .exec(db)
        .await
        .unwrap();
}

/// A time as the audit tables' `created_at` takes it on the connection's backend (MySQL's
/// `DATETIME` holds UTC without an offset).
pub fn time_value(db: &DatabaseConnection, at: chrono::DateTime<chrono::Utc>) -> sea_orm::Value {
    match db.get_database_backend() {
        DbBackend::MySql => at.naive_utc().into(),
        _ => at.into(),
    }
}

/// The [`Backend`] a connection talks to.
pub fn backend(db: &DatabaseConnection) -> Backend {
    match db.get_database_backend() {
        DbBackend::Postgres => Backend::Postgres,
        DbBackend::MySql => Backend::MySql,
        _ => Backend::Sqlite,
    }
}

/// The backend a connection talks to.
pub fn backend_of(db: &DatabaseConnection) -> DbBackend {
    db.get_database_backend()
}

/// Runs each listed `async fn name(db: DatabaseConnection)` on every backend, each in a
/// fresh database: `name::sqlite`, `name::postgres`, `name::mysql`.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                $crate::__backend_test!($name, sqlite, Sqlite, "_s");
                $crate::__backend_test!($name, postgres, Postgres, "_p");
                $crate::__backend_test!($name, mysql, MySql, "_m");
            }
        )*
    };
}

/// [`backend_tests!`] for tests about row locks, which SQLite does not have (its one
/// in-memory connection cannot even wait): `name::postgres`, `name::mysql`.
#[macro_export]
macro_rules! server_backend_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                $crate::__backend_test!($name, postgres, Postgres, "_p");
                $crate::__backend_test!($name, mysql, MySql, "_m");
            }
        )*
    };
}

/// [`backend_tests!`] for what only PostgreSQL can store (NaN and the infinities in a
/// `double precision` column): `name::postgres`.
#[macro_export]
macro_rules! postgres_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                $crate::__backend_test!($name, postgres, Postgres, "_p");
            }
        )*
    };
}

/// [`backend_tests!`] for what only MySQL/MariaDB does (a key of 0 generated, keys a
/// trigger rewrites): `name::mysql`.
#[macro_export]
macro_rules! mysql_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                $crate::__backend_test!($name, mysql, MySql, "_m");
            }
        )*
    };
}

/// One test function of [`backend_tests!`]: `$name` on `$backend`, in a database of its
/// own. A server backend whose URL is not set is skipped (loudly, by [`fresh_db`]).
#[doc(hidden)]
#[macro_export]
macro_rules! __backend_test {
    ($name:ident, $test:ident, $backend:ident, $suffix:literal $(, before = $before:expr)?) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $test() {
            $($before;)?
            let name = concat!(module_path!(), $suffix);
            // `db` drops the database when the test ends, passed or panicked.
            if let Some(db) = $crate::fresh_db($crate::Backend::$backend, name).await {
                super::$name(db.connection()).await;
            }
        }
    };
}

/// Runs `fut` with a subscriber that keeps what it logs at `WARN` and above, and returns
/// its output with that text (for tests of what the library warns of).
pub async fn warnings_of<F: std::future::Future>(fut: F) -> (F::Output, String) {
    use std::sync::{Arc, Mutex};
    use tracing::instrument::WithSubscriber;

    #[derive(Clone, Default)]
    struct Kept(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Kept {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let kept = Kept::default();
    let writer = kept.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let out = fut.with_subscriber(subscriber).await;
    let text = String::from_utf8_lossy(&kept.0.lock().unwrap()).into_owned();
    (out, text)
}

/// PostgreSQL: a connection to `db`'s database as a new login role `role` that may only
/// read and write the tables there (rights on each table by name, as one grants them on a
/// partitioned table: none on its partitions) and use their sequences. A role of that name
/// left by an earlier run goes first; [`drop_role`] removes it.
pub async fn connect_as_dml_role(db: &DatabaseConnection, role: &str) -> DatabaseConnection {
    let admin = |sql: String| async move { db.execute_unprepared(&sql).await.unwrap() };
    let database = current_database(db).await;
    admin(format!(
        "DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN \
         EXECUTE 'DROP OWNED BY {role}'; EXECUTE 'DROP ROLE {role}'; END IF; END $$"
    ))
    .await;
    for sql in [
        format!("CREATE ROLE {role} LOGIN"),
        format!("GRANT USAGE ON SCHEMA public TO {role}"),
        format!("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}"),
    ] {
        admin(sql).await;
    }
    let tables = db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT relname::text FROM pg_class WHERE relkind IN ('r', 'p') \
             AND relnamespace = 'public'::regnamespace AND NOT relispartition",
        ))
        .await
        .unwrap();
    for row in tables {
        let table: String = row.try_get_by_index(0).unwrap();
        admin(format!(
            r#"GRANT SELECT, INSERT, UPDATE, DELETE ON "{table}" TO {role}"#
        ))
        .await;
    }
    let base = std::env::var("AUDIT_TEST_POSTGRES_URL").unwrap();
    let (head, _) = base.rsplit_once('/').unwrap();
    let rest = head.split_once("://").unwrap().1;
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let url = format!("postgres://{role}@{host}/{database}");
    Database::connect(connect_options(&url)).await.unwrap()
}

/// PostgreSQL: the name of the database `db` is connected to.
pub async fn current_database(db: &DatabaseConnection) -> String {
    db.query_one_raw(Statement::from_string(
        DbBackend::Postgres,
        "SELECT current_database()",
    ))
    .await
    .unwrap()
    .unwrap()
    .try_get_by_index(0)
    .unwrap()
}

/// PostgreSQL: a new pool on `db`'s database, as the same user (its connections take the
/// database's settings as they are now, and have prepared nothing yet). Close it before
/// the test ends.
pub async fn reconnect(db: &DatabaseConnection) -> DatabaseConnection {
    let database = current_database(db).await;
    let base = std::env::var("AUDIT_TEST_POSTGRES_URL").unwrap();
    let url = format!("{}/{database}", base.rsplit_once('/').unwrap().0);
    Database::connect(connect_options(&url)).await.unwrap()
}

/// The format of each hash-chain link, in each chain's order (chains by kind and subject).
pub async fn link_formats(db: &DatabaseConnection) -> Vec<i16> {
    use audit_seaorm::entity::seals::{Column, Entity};
    use sea_orm::QueryOrder;
    Entity::find()
        .order_by_asc(Column::Kind)
        .order_by_asc(Column::SubjectType)
        .order_by_asc(Column::SubjectId)
        .order_by_asc(Column::Seq)
        .all(db)
        .await
        .unwrap()
        .iter()
        .map(|l| l.format)
        .collect()
}

/// Closes `app` (a connection of [`connect_as_dml_role`]) and removes its role.
pub async fn drop_role(db: &DatabaseConnection, app: DatabaseConnection, role: &str) {
    app.close().await.unwrap();
    for sql in [format!("DROP OWNED BY {role}"), format!("DROP ROLE {role}")] {
        db.execute_unprepared(&sql).await.unwrap();
    }
}

/// SeaORM's connection options for a test database, without sqlx's pool maintenance task
/// (no idle timeout, no lifetime): in sqlx 0.9.0 that task can spin forever on a
/// miscounted idle queue (transact-rs/sqlx#3645, fixed upstream after 0.9.0 by #4289),
/// which hangs a test's runtime when it shuts down.
pub fn connect_options(url: &str) -> ConnectOptions {
    let mut opts = ConnectOptions::new(url);
    opts.idle_timeout(None::<std::time::Duration>)
        .max_lifetime(None::<std::time::Duration>)
        .sqlx_logging(false);
    opts
}

/// A SQLite database in a file of its own, through a pool of eight connections (what an
/// application on SQLite runs, and what tests of concurrent transactions need: an
/// in-memory database is one connection), with the audit tables and the test entities'
/// tables. The file's folder goes when the returned guard drops.
pub async fn pooled_sqlite_file(name: &str) -> (DatabaseConnection, SqliteDir) {
    let dir = std::env::temp_dir().join(format!("audit-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("pool.db");
    let _ = std::fs::remove_file(&path);
    let mut opts = connect_options(&format!("sqlite://{}?mode=rwc", path.display()));
    opts.max_connections(8);
    let db = Database::connect(opts).await.unwrap();
    audit_seaorm::install(&db).await.unwrap();
    create_tables(&db).await;
    (db, SqliteDir(dir))
}

/// The folder of a [`pooled_sqlite_file`], removed on drop.
pub struct SqliteDir(std::path::PathBuf);

impl Drop for SqliteDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What `verify` reported: per break, its table, subject id and reason, in its order.
pub fn breaks_found(report: &audit_seaorm::Report) -> Vec<(&str, &str, audit_seaorm::BreakReason)> {
    report
        .breaks
        .iter()
        .map(|b| (b.table.as_str(), b.subject_id.as_str(), b.reason))
        .collect()
}
