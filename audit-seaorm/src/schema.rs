//! Creating the audit tables: [`install`], and a `sea-orm-migration` migration.

use sea_orm::sea_query::{
    ColumnDef, Index, IndexCreateStatement, IntoIden, IntoTableRef, Table, TableCreateStatement,
};
use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionSession, TransactionTrait};

use crate::entity::{activity_log, baselines, hourly, versions};
use crate::{Error, Result};

/// Creates `activity_log`, `versions`, `audit_baselines`, `activity_log_hourly` (the
/// dashboard's hourly counts) and the four tables of the hash chains
/// (`activity_log_seals`, `activity_log_chains`, `activity_log_seal_runs`,
/// `activity_log_seal_gaps`) with their indexes if they do not exist.
///
/// Idempotent: call it on every boot, from as many instances at once as you like (they
/// take turns on an advisory lock on PostgreSQL, a named lock on MySQL/MariaDB). It adds
/// what an existing schema lacks: an index a newer version declares is created on tables
/// an older one made. Works on SQLite, PostgreSQL and MySQL/MariaDB, on a connection or
/// inside a transaction (MySQL commits DDL by itself, so there it ends the caller's
/// transaction, as any DDL does).
///
/// On MySQL/MariaDB pass a `DatabaseConnection` or a transaction: any other type (a
/// `DatabaseExecutor`, a wrapper of your own) is taken as one connection, and a pool
/// behind it would take the install lock on one of its connections and try to release it
/// on another (an error, and the lock stays with the first until it closes). In a
/// sea-orm-migration, use the `migration` feature's migrations, which unwrap the
/// migration's `DatabaseExecutor`.
///
/// It first checks the program's audited models: two that write one subject type (the
/// same table name in two schemas, or the same `#[audit(subject)]`) fail it with
/// [`Error::SubjectCollision`] naming both, before anything is created.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let db = sea_orm::Database::connect("sqlite::memory:").await?;
/// audit_seaorm::install(&db).await?;
/// audit_seaorm::install(&db).await?; // again: nothing happens
/// # Ok(())
/// # }
/// ```
pub async fn install<C: ConnectionTrait + TransactionTrait>(db: &C) -> Result<()> {
    install_with(db, &Install::new()).await
}

/// How [`install_with`] lays out the audit tables.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Install {
    partitioned: bool,
}

impl Install {
    /// The plain layout, as [`install`] makes it.
    pub fn new() -> Self {
        Self::default()
    }

    /// PostgreSQL only: `activity_log` range-partitioned by month on `created_at`, its
    /// primary key `(id, created_at, subject_id)` (the partition key, as PostgreSQL
    /// requires, and the subject id, as Citus requires of the distribution column: see
    /// `SCALING.md`; `versions`' is `(id, subject_id)`), a partition per month
    /// (`activity_log_pYYYY_MM`, created for the current month and the
    /// [`MONTHS_AHEAD`](crate::MONTHS_AHEAD) after it by `install` and `prune`) and a
    /// default partition for any other time, so a write never lacks one; `prune` drops
    /// whole expired months instead of deleting their rows. `versions` stays one table: its
    /// unique `(subject_type, subject_id, version)` index, which keeps version numbers
    /// gap-free, cannot span partitions, and its retention (the last N of each record)
    /// is per record, not per month. Asked of another backend, or of an `activity_log` that
    /// exists unpartitioned, `install_with` fails with [`Error::Partitioning`]; once made,
    /// plain [`install`] keeps the layout (and its partitions) as it is.
    pub fn partitioned(mut self, partitioned: bool) -> Self {
        self.partitioned = partitioned;
        self
    }
}

/// [`install`] with a layout of your choice ([`Install`]): the partitioned one on
/// PostgreSQL.
///
/// ```no_run
/// # async fn demo(db: sea_orm::DatabaseConnection) -> audit_seaorm::Result<()> {
/// use audit_seaorm::{Install, install_with};
/// install_with(&db, &Install::new().partitioned(true)).await?;
/// # Ok(())
/// # }
/// ```
pub async fn install_with<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    options: &Install,
) -> Result<()> {
    crate::registry::check_all()?;
    if options.partitioned && db.get_database_backend() != DbBackend::Postgres {
        return Err(Error::Partitioning(format!(
            "the partitioned layout is PostgreSQL's; this is {:?}",
            db.get_database_backend()
        )));
    }
    // MySQL commits DDL by itself, which ends a transaction (and its savepoints): inside
    // the caller's transaction, whose connection is already one, run on it as it is.
    if db.get_database_backend() == DbBackend::MySql && !crate::hooks::is_plain_connection::<C>() {
        return install_locked(db, options).await;
    }
    // One connection for the lock and the statements: a transaction (a savepoint when
    // `db` is one already).
    let txn = crate::transaction::begin_own(db)
        .await
        .map_err(Error::db("starting the install transaction"))?;
    install_locked(&txn, options).await?;
    txn.commit()
        .await
        .map_err(Error::db("committing the install"))
}

/// The name of the lock concurrent installs take turns on.
const INSTALL_LOCK: &str = "audit_seaorm_install";

/// MySQL/MariaDB: the install lock's name, of this database (`GET_LOCK` names are the
/// server's: installs in other databases do not wait for this one).
const MYSQL_INSTALL_LOCK: &str = "CONCAT('audit_seaorm_install:', MD5(IFNULL(DATABASE(), '')))";

/// MySQL/MariaDB: how long an install waits for another to finish (one that builds an
/// index on a big table takes minutes).
const MYSQL_INSTALL_WAIT_SECS: u32 = 3600;

/// Creates what is missing, holding the install lock: PostgreSQL's `CREATE TABLE IF NOT
/// EXISTS` is not safe against itself (two sessions can both try to create the table's
/// type), and on MySQL/MariaDB, whose `CREATE INDEX` has no `IF NOT EXISTS`, the indexes
/// an existing table lacks are looked up first.
async fn install_locked<C: ConnectionTrait>(db: &C, options: &Install) -> Result<()> {
    let backend = db.get_database_backend();
    take_install_lock(db).await?;
    let created = async {
        create_missing(db, backend, options).await?;
        link_format(db, backend).await?;
        if backend == DbBackend::Postgres {
            byte_ordered_keys(db).await?;
        }
        crate::chain::ensure_origin(db).await
    }
    .await;
    if backend == DbBackend::MySql {
        let released = release_install_lock(db).await;
        // The install's own error first.
        created?;
        return released;
    }
    created
}

/// MySQL/MariaDB: releases the install lock, an error when this connection did not hold it.
async fn release_install_lock<C: ConnectionTrait>(db: &C) -> Result<()> {
    const CONTEXT: &str = "releasing the install lock";
    let release = format!("SELECT RELEASE_LOCK({MYSQL_INSTALL_LOCK}) AS released");
    let released: Option<i64> = db
        .query_one_raw(Statement::from_string(DbBackend::MySql, release))
        .await
        .map_err(Error::db(CONTEXT))?
        .map(|row| row.try_get("", "released"))
        .transpose()
        .map_err(Error::db(CONTEXT))?
        .flatten();
    // 0 or NULL: this connection did not hold it (a pool, not one connection, was passed
    // in: the lock stays with another of its connections until that one closes).
    if released == Some(1) {
        return Ok(());
    }
    Err(Error::Database {
        context: CONTEXT,
        source: sea_orm::DbErr::Custom(format!(
            "`{INSTALL_LOCK}` was not held by the connection releasing it: install on a \
             `DatabaseConnection` or in a transaction, not on a pooled executor"
        )),
    })
}

/// Gives the links table an earlier version made its `format` column (what each link's
/// hash covers): the links there were sealed before it and are format 1. Once; adding a
/// column with a constant default rewrites no rows (PostgreSQL 11 and later, MySQL 8.0.12,
/// MariaDB 10.3; earlier servers rebuild the table once).
async fn link_format<C: ConnectionTrait>(db: &C, backend: DbBackend) -> Result<()> {
    use crate::entity::seals;
    const CONTEXT: &str = "giving the links their format column";
    let table = crate::entity::table_names().seals.clone();
    let sql = match backend {
        DbBackend::Postgres => {
            "SELECT count(*) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
             WHERE c.relname = $1 AND a.attname = 'format' AND NOT a.attisdropped \
             AND c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())"
        }
        DbBackend::MySql => {
            "SELECT COUNT(*) FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = ? AND column_name = 'format'"
        }
        _ => "SELECT count(*) FROM pragma_table_info(?) WHERE name = 'format'",
    };
    let found: i64 = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [table.as_str().into()],
        ))
        .await
        .map_err(Error::db(CONTEXT))?
        .map(|row| row.try_get_by_index(0))
        .transpose()
        .map_err(Error::db(CONTEXT))?
        .unwrap_or(0);
    if found > 0 {
        return Ok(());
    }
    let alter = Table::alter()
        .table(seals::Entity)
        .add_column(
            ColumnDef::new(seals::Column::Format)
                .small_integer()
                .not_null()
                .default(1),
        )
        .to_owned();
    db.execute(&alter).await.map_err(Error::db(CONTEXT))?;
    tracing::info!(table, "the links now record their format");
    Ok(())
}

/// PostgreSQL: gives the chains' keys (links and heads) the byte order they are created
/// with now (`COLLATE "C"`) where tables created before lack it: once, rebuilding the
/// two tables' indexes on those columns.
async fn byte_ordered_keys<C: ConnectionTrait>(db: &C) -> Result<()> {
    const CONTEXT: &str = "giving the chains' keys their byte order";
    let names = crate::entity::table_names();
    let sql = r#"SELECT DISTINCT c.relname FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        WHERE a.attrelid IN (to_regclass(quote_ident($1)), to_regclass(quote_ident($2)))
          AND a.attname IN ('subject_type', 'subject_id')
          -- (not `'pg_catalog."C"'::regcollation`: that type is PostgreSQL 13's)
          AND a.attcollation <> (SELECT oid FROM pg_collation
              WHERE collname = 'C' AND collnamespace = 'pg_catalog'::regnamespace)"#;
    let stmt = sea_orm::Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        [names.seals.as_str().into(), names.chains.as_str().into()],
    );
    let tables = db.query_all_raw(stmt).await.map_err(Error::db(CONTEXT))?;
    for row in tables {
        let table: String = row.try_get_by_index(0).map_err(Error::db(CONTEXT))?;
        let alter = format!(
            r#"ALTER TABLE "{}" ALTER COLUMN subject_type TYPE varchar(100) COLLATE "C",
               ALTER COLUMN subject_id TYPE text COLLATE "C""#,
            table.replace('"', "\"\"")
        );
        db.execute_unprepared(&alter)
            .await
            .map_err(Error::db(CONTEXT))?;
        tracing::info!(table, "the chains' keys now compare by their bytes");
    }
    Ok(())
}

/// Takes the lock concurrent installs (and partition maintenance) take turns on: for the
/// transaction on PostgreSQL, until released on MySQL, none on SQLite (one writer).
pub(crate) async fn take_install_lock<C: ConnectionTrait>(db: &C) -> Result<()> {
    const CONTEXT: &str = "taking the install lock";
    match db.get_database_backend() {
        DbBackend::Postgres => db
            .execute_unprepared(&format!(
                "SELECT pg_advisory_xact_lock(hashtext('{INSTALL_LOCK}'))"
            ))
            .await
            .map(|_| ())
            .map_err(Error::db(CONTEXT)),
        DbBackend::MySql => {
            // GET_LOCK answers 0 when it timed out (and NULL on an error) rather than
            // failing: going on without the lock would race the install that holds it.
            let get = |secs: u32| async move {
                let row = db
                    .query_one_raw(sea_orm::Statement::from_string(
                        DbBackend::MySql,
                        format!("SELECT GET_LOCK({MYSQL_INSTALL_LOCK}, {secs}) AS got"),
                    ))
                    .await
                    .map_err(Error::db(CONTEXT))?;
                row.map(|row| row.try_get::<Option<i64>>("", "got"))
                    .transpose()
                    .map(Option::flatten)
                    .map_err(Error::db(CONTEXT))
            };
            let mut got = get(0).await?;
            if got == Some(0) {
                tracing::info!(
                    target: "audit_seaorm::install",
                    "waiting for another install of the audit tables to finish (building an \
                     index on a big table takes minutes)"
                );
                got = get(MYSQL_INSTALL_WAIT_SECS).await?;
            }
            if got == Some(1) {
                return Ok(());
            }
            let why = match got {
                Some(0) => {
                    format!("another session held `{INSTALL_LOCK}` for {MYSQL_INSTALL_WAIT_SECS} s")
                }
                // (NULL: an error of the server's lock service, the session killed meanwhile)
                _ => format!("GET_LOCK of `{INSTALL_LOCK}` answered {got:?}"),
            };
            Err(Error::Database {
                context: CONTEXT,
                source: sea_orm::DbErr::Custom(why),
            })
        }
        _ => Ok(()),
    }
}

/// PostgreSQL: which of the audit tables the current schema holds (where `CREATE TABLE`
/// would put them).
async fn existing_tables<C: ConnectionTrait>(db: &C) -> Result<Vec<String>> {
    let names = crate::entity::table_names();
    let all = [
        &names.activity_log,
        &names.versions,
        &names.baselines,
        &names.hourly,
        &names.seals,
        &names.chains,
        &names.seal_runs,
        &names.seal_gaps,
    ];
    let mut found = Vec::new();
    for name in all {
        if crate::partition::in_current_schema(db, name).await? {
            found.push(name.clone());
        }
    }
    Ok(found)
}

async fn create_missing<C: ConnectionTrait>(
    db: &C,
    backend: DbBackend,
    options: &Install,
) -> Result<()> {
    if options.partitioned && crate::partition::is_plain_table(db).await? {
        return Err(Error::Partitioning(
            "activity_log exists as a plain table: converting it to the partitioned layout is \
             a migration of its own (README: Retention and big tables)"
                .to_owned(),
        ));
    }
    // PostgreSQL: the indexes there already. `CREATE INDEX IF NOT EXISTS` of an index
    // that exists still locks its table against writes (`SHARE`, until the install
    // commits: a boot beside a long audited transaction would stall every audited write
    // behind it) and needs the table's owner: it is sent only for an index that is missing.
    // And the tables there already: `CREATE TABLE IF NOT EXISTS` still needs the right to
    // create in the schema, which a role that only reads and writes the tables lacks.
    let (present, tables) = if backend == DbBackend::Postgres {
        (check_index_owners(db).await?, existing_tables(db).await?)
    } else {
        (Vec::new(), Vec::new())
    };
    for stmt in statements(backend, options.partitioned)? {
        if let Ddl::Index(index) = &stmt
            && index
                .get_index_spec()
                .get_name()
                .is_some_and(|name| present.iter().any(|p| p == name))
        {
            continue;
        }
        if stmt
            .creates_table()
            .is_some_and(|table| tables.contains(&table))
        {
            continue;
        }
        db.execute(&stmt)
            .await
            .map_err(Error::db("creating the audit tables"))?;
    }
    if backend != DbBackend::MySql {
        if crate::partition::is_partitioned(db).await? {
            crate::partition::ensure(db, crate::partition::MONTHS_AHEAD, None).await?;
        }
        // The statements create a missing index themselves (IF NOT EXISTS).
        return drop_retired(db, backend, &[]).await;
    }
    let names = crate::entity::table_names();
    let present: Vec<String> = db
        .query_all_raw(sea_orm::Statement::from_sql_and_values(
            backend,
            "SELECT DISTINCT index_name FROM information_schema.statistics \
             WHERE table_schema = DATABASE() AND table_name IN (?, ?, ?, ?)",
            [
                names.activity_log.as_str().into(),
                names.versions.as_str().into(),
                names.hourly.as_str().into(),
                names.seals.as_str().into(),
            ],
        ))
        .await
        .map_err(Error::db("reading the audit tables' indexes"))?
        .iter()
        .filter_map(|row| row.try_get_by_index::<String>(0).ok())
        .collect();
    for spec in INDEXES
        .iter()
        .filter(|spec| !present.contains(&index_name(spec).1))
    {
        db.execute(&index(spec, true, backend))
            .await
            .map_err(Error::db("adding an index to the audit tables"))?;
    }
    drop_retired(db, backend, &present).await
}

/// PostgreSQL: the audit tables' indexes that exist (by name), or an error when one of
/// their names belongs to another table. Index names are the schema's, and a table renamed
/// away (as when converting to the partitioned layout) keeps its indexes' names: `CREATE
/// INDEX IF NOT EXISTS` would then find the name taken and create nothing, leaving the new
/// table without the index.
async fn check_index_owners<C: ConnectionTrait>(db: &C) -> Result<Vec<String>> {
    let wanted: Vec<(&str, String)> = INDEXES.iter().map(index_name).collect();
    let names: Vec<String> = wanted.iter().map(|(_, n)| n.clone()).collect();
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT indexname, tablename FROM pg_indexes \
             WHERE schemaname = current_schema() AND indexname IN (SELECT jsonb_array_elements_text($1))",
            [sea_orm::Value::Json(Some(Box::new(names.into())))],
        ))
        .await
        .map_err(Error::db("reading the audit tables' indexes"))?;
    let mut present = Vec::new();
    for row in rows {
        let read = |i| row.try_get_by_index::<String>(i);
        let (index, owner) = (
            read(0).map_err(Error::db("reading the audit tables' indexes"))?,
            read(1).map_err(Error::db("reading the audit tables' indexes"))?,
        );
        if let Some((table, _)) = wanted.iter().find(|(t, n)| *n == index && *t != owner) {
            return Err(Error::Schema(format!(
                "the index `{index}` belongs to the table `{owner}`, not to `{table}` (a table \
                 renamed away keeps its indexes' names): rename that table's indexes, or move \
                 the table to another schema (`ALTER TABLE \"{owner}\" SET SCHEMA …`), then \
                 install again"
            )));
        }
        present.push(index);
    }
    Ok(present)
}

/// One DDL statement of the audit schema.
#[allow(clippy::large_enum_variant)] // a handful of statements, built once
enum Ddl {
    Table(TableCreateStatement),
    Index(IndexCreateStatement),
    /// A table's `CREATE TABLE` as text (the partitioned layout's), and the table.
    Raw(String, String),
}

impl Ddl {
    /// The table a `CREATE TABLE` creates.
    fn creates_table(&self) -> Option<String> {
        match self {
            Ddl::Table(t) => t.get_table_name().map(|t| match t {
                sea_orm::sea_query::TableRef::Table(name, _) => name.1.to_string(),
                other => format!("{other:?}"),
            }),
            Ddl::Raw(_, table) => Some(table.clone()),
            Ddl::Index(_) => None,
        }
    }
}

impl sea_orm::StatementBuilder for Ddl {
    fn build(&self, db_backend: &DbBackend) -> sea_orm::Statement {
        match self {
            Ddl::Table(t) => db_backend.build(t),
            Ddl::Index(i) => db_backend.build(i),
            Ddl::Raw(sql, _) => sea_orm::Statement::from_string(*db_backend, sql.clone()),
        }
    }
}

/// The table an index is on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum On {
    Log,
    Versions,
    Hourly,
    Seals,
}

/// The indexes, as (name after the table's, its table, columns, unique). An
/// index is named `idx_{table}_{name}` (`uq_…` when unique), so that two installs with
/// other table names in one database do not share index names.
type IndexSpec = (&'static str, On, &'static [&'static str], bool);

const INDEXES: &[IndexSpec] = &[
    // a subject's history, keyset-paginated by id
    (
        "subject",
        On::Log,
        &["subject_type", "subject_id", "id"],
        false,
    ),
    // a causer's activity (on a prefix of the causer: see `LONG_TEXT`)
    ("causer_prefix", On::Log, &["causer_id", "id"], false),
    // an action, with or without a time range, in (created_at, id) order
    (
        "action_time",
        On::Log,
        &["action", "created_at", "id"],
        false,
    ),
    // time ranges, in (created_at, id) order
    ("time", On::Log, &["created_at", "id"], false),
    // one request's entries (on a prefix of the id)
    ("request_prefix", On::Log, &["request_id"], false),
    // gap-free, unique version numbers per subject
    (
        "subject_version",
        On::Versions,
        &["subject_type", "subject_id", "version"],
        true,
    ),
    // the hours already counted (their marker rows), found without reading the counts
    ("marker", On::Hourly, &["subject_type", "hour"], false),
    // a row's link, and the rows not sealed yet
    ("row", On::Seals, &["kind", "row_id"], true),
];

/// Indexes of `activity_log` an earlier version created and this one replaced (by
/// `action_time` and `time`, which also hold the id that breaks ties in time order; by
/// `causer_prefix` and `request_prefix`, which hold a prefix of a value of any length):
/// [`install`] drops them, so that writes do not keep paying for them (nor fail on a
/// value too long for a whole-value index).
const RETIRED_INDEXES: &[&str] = &["action", "created_at", "causer", "request"];

/// Drops the [`RETIRED_INDEXES`] of an existing `activity_log` (`present`: the index names
/// MySQL reported; SQLite drops with `IF EXISTS`; PostgreSQL only an index of the current
/// schema's log: an unqualified name would be looked up along the search path, and drop
/// (or fail to drop) an older install's index in another schema).
async fn drop_retired<C: ConnectionTrait>(
    db: &C,
    backend: DbBackend,
    present: &[String],
) -> Result<()> {
    let table = &crate::entity::table_names().activity_log;
    for name in RETIRED_INDEXES {
        let index = format!("idx_{table}_{name}");
        let sql = match backend {
            DbBackend::MySql if present.contains(&index) => {
                format!("DROP INDEX `{index}` ON `{table}`")
            }
            DbBackend::MySql => continue,
            DbBackend::Postgres => format!(
                "DO $audit$ BEGIN IF EXISTS (SELECT 1 FROM pg_indexes \
                 WHERE schemaname = current_schema() AND tablename = {table} \
                 AND indexname = {name}) \
                 THEN EXECUTE format('DROP INDEX %I.%I', current_schema(), {name}); \
                 END IF; END $audit$",
                table = pg_text(table),
                name = pg_text(&index),
            ),
            _ => format!(r#"DROP INDEX IF EXISTS "{index}""#),
        };
        db.execute_unprepared(&sql).await.map_err(Error::db(
            "dropping an index the audit tables no longer use",
        ))?;
    }
    Ok(())
}

/// `s` as a PostgreSQL string literal.
fn pg_text(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// An index's table and full name.
fn index_name(spec: &IndexSpec) -> (&'static str, String) {
    let (name, on, _, unique) = *spec;
    let names = crate::entity::table_names();
    let table = match on {
        On::Log => names.activity_log.as_str(),
        On::Versions => names.versions.as_str(),
        On::Hourly => names.hourly.as_str(),
        On::Seals => names.seals.as_str(),
    };
    let kind = if unique { "uq" } else { "idx" };
    (table, format!("{kind}_{table}_{name}"))
}

/// Text columns of any length whose indexes hold a prefix of the value: a B-tree entry has
/// a size limit (about 2.7 KB on PostgreSQL, 3 KB of key on MySQL), and a causer or a
/// request id is whatever the application passes. Lookups compare the whole value; the
/// prefix only finds the candidates.
pub(crate) const LONG_TEXT: &[&str] = &["causer_id", "request_id"];

/// How many characters of a [`LONG_TEXT`] column an index holds.
pub(crate) const INDEX_PREFIX: u32 = 191;

/// The longest subject id MySQL/MariaDB stores (characters): the unique index on
/// (subject type, subject id, version) must fit InnoDB's 3,072-byte key. SQLite stores any
/// length, PostgreSQL up to `dialect::POSTGRES_MAX_SUBJECT_ID` bytes.
pub(crate) const MYSQL_MAX_SUBJECT_ID: usize = 600;

fn subject_id(col: &mut ColumnDef, backend: DbBackend) -> &mut ColumnDef {
    match backend {
        DbBackend::MySql => col.string_len(MYSQL_MAX_SUBJECT_ID as u32),
        _ => col.text(),
    }
}

fn index(spec: &IndexSpec, inline: bool, backend: DbBackend) -> IndexCreateStatement {
    use sea_orm::sea_query::{Alias, Expr, Func};
    let (_, _, cols, unique) = *spec;
    let (table, name) = index_name(spec);
    let mut idx = Index::create();
    idx.name(name).table(Alias::new(table));
    for &col in cols {
        match backend {
            _ if !LONG_TEXT.contains(&col) => idx.col(Alias::new(col)),
            DbBackend::MySql => idx.col((Alias::new(col), INDEX_PREFIX)),
            DbBackend::Postgres => idx.col(
                Func::cust("left")
                    .arg(Expr::col(Alias::new(col)))
                    .arg(INDEX_PREFIX),
            ),
            _ => idx.col(Alias::new(col)),
        };
    }
    if unique {
        idx.unique();
    }
    if !inline {
        idx.if_not_exists();
    }
    idx
}

fn timestamp(col: &mut ColumnDef, backend: DbBackend) -> &mut ColumnDef {
    match backend {
        // TIMESTAMP would stop in 2038 and drop the microseconds.
        DbBackend::MySql => col.custom(sea_orm::sea_query::Alias::new("DATETIME(6)")),
        _ => col.timestamp_with_time_zone(),
    }
}

/// `CREATE TABLE IF NOT EXISTS` of an audit table with its first column, the id. On
/// MySQL/MariaDB its text compares exactly (`utf8mb4_bin`), whatever the server's default
/// collation: subject ids `"ABC"` and `"abc"` are two subjects, as they are in the
/// entity's own (case-sensitive) key.
fn table(name: impl IntoTableRef, id: impl IntoIden, backend: DbBackend) -> TableCreateStatement {
    let mut table = Table::create();
    if backend == DbBackend::MySql {
        table.character_set("utf8mb4").collate("utf8mb4_bin");
    }
    table.table(name).if_not_exists().col(
        ColumnDef::new(id)
            .big_integer()
            .not_null()
            .auto_increment()
            .primary_key(),
    );
    table
}

fn statements(backend: DbBackend, partitioned: bool) -> Result<Vec<Ddl>> {
    use activity_log::Column as A;
    use versions::Column as V;
    // MySQL's CREATE INDEX has no IF NOT EXISTS: declare its indexes in CREATE TABLE.
    let inline = backend == DbBackend::MySql;

    let mut activity = table(activity_log::Entity, A::Id, backend);
    activity
        .col(ColumnDef::new(A::Action).string_len(100).not_null())
        .col(ColumnDef::new(A::SubjectType).string_len(100).not_null())
        .col(subject_id(&mut ColumnDef::new(A::SubjectId), backend).not_null())
        .col(ColumnDef::new(A::CauserId).text().null())
        .col(ColumnDef::new(A::Changes).json_binary().not_null())
        .col(ColumnDef::new(A::Properties).json_binary().null())
        .col(ColumnDef::new(A::Ip).string_len(64).null())
        .col(ColumnDef::new(A::UserAgent).text().null())
        .col(ColumnDef::new(A::RequestId).text().null())
        .col(ColumnDef::new(A::VersionId).big_integer().null())
        .col(timestamp(&mut ColumnDef::new(A::CreatedAt), backend).not_null());

    let mut version = table(versions::Entity, V::Id, backend);
    version
        .col(ColumnDef::new(V::SubjectType).string_len(100).not_null())
        .col(subject_id(&mut ColumnDef::new(V::SubjectId), backend).not_null())
        .col(ColumnDef::new(V::Version).big_integer().not_null())
        .col(ColumnDef::new(V::Event).string_len(100).not_null())
        .col(ColumnDef::new(V::Data).json_binary().not_null())
        .col(ColumnDef::new(V::CauserId).text().null())
        .col(timestamp(&mut ColumnDef::new(V::CreatedAt), backend).not_null());

    let mut baseline = Table::create();
    if backend == DbBackend::MySql {
        baseline.character_set("utf8mb4").collate("utf8mb4_bin");
    }
    baseline
        .table(baselines::Entity)
        .if_not_exists()
        .col(
            ColumnDef::new(baselines::Column::SubjectType)
                .string_len(255)
                .not_null()
                .primary_key(),
        )
        .col(timestamp(&mut ColumnDef::new(baselines::Column::CompletedAt), backend).not_null());

    use hourly::Column as H;
    let mut hours = Table::create();
    if backend == DbBackend::MySql {
        hours.character_set("utf8mb4").collate("utf8mb4_bin");
    }
    hours
        .table(hourly::Entity)
        .if_not_exists()
        .col(timestamp(&mut ColumnDef::new(H::Hour), backend).not_null())
        .col(ColumnDef::new(H::SubjectType).string_len(100).not_null())
        .col(ColumnDef::new(H::Action).string_len(100).not_null())
        .col(ColumnDef::new(H::N).big_integer().not_null())
        .primary_key(
            Index::create()
                .col(H::Hour)
                .col(H::SubjectType)
                .col(H::Action),
        );

    let [mut links, heads, runs, gaps] = chain_tables(backend);

    let mut out = vec![Ddl::Table(baseline)];
    if inline {
        for spec in INDEXES {
            let table = match spec.1 {
                On::Log => &mut activity,
                On::Versions => &mut version,
                On::Hourly => &mut hours,
                On::Seals => &mut links,
            };
            table.index(&mut index(spec, true, backend));
        }
        out.push(Ddl::Table(activity));
        out.push(Ddl::Table(version));
        out.push(Ddl::Table(hours));
        out.extend([links, heads, runs, gaps].map(Ddl::Table));
    } else {
        if partitioned {
            let plain = backend.build(&activity).to_string();
            let names = crate::entity::table_names();
            out.push(Ddl::Raw(
                crate::partition::partitioned_create(&plain)?,
                names.activity_log.clone(),
            ));
            let plain = backend.build(&version).to_string();
            out.push(Ddl::Raw(
                crate::partition::versions_create(&plain)?,
                names.versions.clone(),
            ));
        } else {
            out.push(Ddl::Table(activity));
            out.push(Ddl::Table(version));
        }
        out.push(Ddl::Table(hours));
        out.extend([links, heads, runs, gaps].map(Ddl::Table));
        out.extend(
            INDEXES
                .iter()
                .map(|spec| Ddl::Index(index(spec, false, backend))),
        );
    }
    Ok(out)
}

/// The hash chains' tables: links, heads, seal runs and their gaps (see [`crate::seal`]).
fn chain_tables(backend: DbBackend) -> [TableCreateStatement; 4] {
    use crate::entity::{chains, seal_gaps, seal_runs, seals};
    let new = |name: sea_orm::sea_query::TableRef| {
        let mut t = Table::create();
        if backend == DbBackend::MySql {
            t.character_set("utf8mb4").collate("utf8mb4_bin");
        }
        t.table(name).if_not_exists();
        t
    };
    fn hash(col: impl IntoIden) -> ColumnDef {
        ColumnDef::new(col).string_len(64).not_null().to_owned()
    }
    // A chain's key orders the links and heads, and `verify` merges the two in that order
    // and compares keys as bytes: on PostgreSQL the key is compared by its bytes too
    // (`COLLATE "C"`), whatever the database's collation (a language's orders "a" before
    // "B"; bytes, after). MySQL's `utf8mb4_bin` and SQLite's `BINARY` already do.
    let key = |col: &mut ColumnDef| {
        if backend == DbBackend::Postgres {
            col.extra(r#"COLLATE "C""#);
        }
        col.not_null().to_owned()
    };

    use seals::Column as S;
    let mut links = new(seals::Entity.into_table_ref());
    links
        .col(ColumnDef::new(S::Kind).small_integer().not_null())
        .col(key(ColumnDef::new(S::SubjectType).string_len(100)))
        .col(key(subject_id(&mut ColumnDef::new(S::SubjectId), backend)))
        .col(ColumnDef::new(S::Seq).big_integer().not_null())
        .col(ColumnDef::new(S::RowId).big_integer().not_null())
        .col(hash(S::Hash))
        .col(ColumnDef::new(S::Run).big_integer().not_null())
        .col(ColumnDef::new(S::Salt).string_len(64).null())
        .col(ColumnDef::new(S::Erased).json_binary().null())
        // (links sealed before the column existed: 1, see `link_format`)
        .col(
            ColumnDef::new(S::Format)
                .small_integer()
                .not_null()
                .default(1),
        )
        .primary_key(
            Index::create()
                .col(S::Kind)
                .col(S::SubjectType)
                .col(S::SubjectId)
                .col(S::Seq),
        );

    use chains::Column as C;
    let mut heads = new(chains::Entity.into_table_ref());
    heads
        .col(ColumnDef::new(C::Kind).small_integer().not_null())
        .col(key(ColumnDef::new(C::SubjectType).string_len(100)))
        .col(key(subject_id(&mut ColumnDef::new(C::SubjectId), backend)))
        .col(ColumnDef::new(C::HeadSeq).big_integer().not_null())
        .col(hash(C::HeadHash))
        .col(ColumnDef::new(C::HeadRun).big_integer().not_null())
        .col(ColumnDef::new(C::AnchorSeq).big_integer().not_null())
        .col(ColumnDef::new(C::AnchorHash).string_len(64).null())
        .col(ColumnDef::new(C::AnchorRun).big_integer().not_null())
        .primary_key(
            Index::create()
                .col(C::Kind)
                .col(C::SubjectType)
                .col(C::SubjectId),
        );

    use seal_runs::Column as R;
    let mut runs = new(seal_runs::Entity.into_table_ref());
    runs.col(
        ColumnDef::new(R::Run)
            .big_integer()
            .not_null()
            .primary_key(),
    )
    .col(timestamp(&mut ColumnDef::new(R::SealedAt), backend).not_null())
    .col(ColumnDef::new(R::Rows).big_integer().not_null())
    .col(ColumnDef::new(R::LogMaxId).big_integer().not_null())
    .col(ColumnDef::new(R::VersionsMaxId).big_integer().not_null())
    .col(ColumnDef::new(R::Complete).boolean().not_null())
    .col(ColumnDef::new(R::Chains).big_integer().null())
    .col(ColumnDef::new(R::Root).string_len(64).null())
    .col(ColumnDef::new(R::PublicKey).string_len(64).null())
    .col(ColumnDef::new(R::Signature).string_len(128).null());

    // (keyed for a sweep's reads: one table's ranges or gaps from an id on)
    use seal_gaps::Column as G;
    let mut gaps = new(seal_gaps::Entity.into_table_ref());
    gaps.col(ColumnDef::new(G::Kind).small_integer().not_null())
        .col(ColumnDef::new(G::Gap).boolean().not_null())
        .col(ColumnDef::new(G::LastId).big_integer().not_null())
        .col(ColumnDef::new(G::Run).big_integer().not_null())
        .col(ColumnDef::new(G::FirstId).big_integer().not_null())
        .primary_key(
            Index::create()
                .col(G::Kind)
                .col(G::Gap)
                .col(G::LastId)
                .col(G::Run),
        );
    [links, heads, runs, gaps]
}

/// The SQL [`install`] runs on `backend`, one statement per item (for review or for
/// schema tools of your own): the tables, their indexes, and the seal runs' origin row
/// (an `INSERT` that does nothing when the row is there). On an existing schema they
/// create what is missing, except on MySQL/MariaDB an index of a table that exists: its
/// `CREATE INDEX` has no `IF NOT EXISTS`, so the indexes are declared inside
/// `CREATE TABLE` (`install` looks up and creates the missing ones).
pub fn install_sql(backend: DbBackend) -> Vec<String> {
    let mut sql: Vec<String> = statements(backend, false)
        .unwrap_or_default()
        .iter()
        .map(|s| sea_orm::StatementBuilder::build(s, &backend).to_string())
        .collect();
    sql.push(crate::chain::origin_sql(backend));
    sql
}

/// [`install_sql`] of a layout of your choice: with [`Install::partitioned`], the
/// partitioned `activity_log`. Its partitions (the default one, which takes every write no
/// month partition covers, and the months) are made by `install`, `prune` and
/// [`maintain_partitions`](crate::maintain_partitions), not by this SQL: run one of them
/// before the first write.
pub fn install_sql_with(backend: DbBackend, options: &Install) -> Result<Vec<String>> {
    if options.partitioned && backend != DbBackend::Postgres {
        return Err(Error::Partitioning(format!(
            "the partitioned layout is PostgreSQL's; this is {backend:?}"
        )));
    }
    let mut sql: Vec<String> = statements(backend, options.partitioned)?
        .iter()
        .map(|s| sea_orm::StatementBuilder::build(s, &backend).to_string())
        .collect();
    sql.push(crate::chain::origin_sql(backend));
    Ok(sql)
}

/// `sea-orm-migration` migrations of the audit tables (feature `migration`).
///
/// Add [`migrations`](migration::migrations) to your `Migrator`'s list
/// (`migrations.extend(audit_seaorm::migration::migrations())`): the first creates the
/// tables; each later one brings tables an earlier version of this crate made up to date
/// (what [`install`](crate::install) adds on boot), and versions whose schema changes add
/// one, so that your `Migrator::up` applies them.
#[cfg(feature = "migration")]
pub mod migration {
    use sea_orm_migration::prelude::*;

    /// Every migration of the audit tables, in order: [`Migration`], then the upgrades.
    /// With the partitioned layout, [`partitioned_migrations`].
    pub fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(Migration),
            Box::new(Upgrade2026Dec),
            Box::new(SealGaps2026Dec),
            Box::new(LinkFormat2026Dec),
        ]
    }

    /// [`migrations`] beginning with [`PartitionedMigration`] (PostgreSQL).
    pub fn partitioned_migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(PartitionedMigration),
            Box::new(Upgrade2026Dec),
            Box::new(SealGaps2026Dec),
            Box::new(LinkFormat2026Dec),
        ]
    }

    /// An upgrade step: brings tables an earlier version made up to date, as
    /// [`install`](crate::install) does on boot (keeping the layout as it is). Down:
    /// nothing (the tables stay as they are; the first migration's down drops them all).
    macro_rules! upgrade {
        ($(#[$doc:meta])* $step:ident, $name:literal) => {
            $(#[$doc])*
            #[derive(Debug, Clone, Copy, Default)]
            pub struct $step;

            impl MigrationName for $step {
                fn name(&self) -> &str {
                    $name
                }
            }

            #[async_trait::async_trait]
            impl MigrationTrait for $step {
                async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
                    install_on(manager, &crate::Install::new()).await
                }

                async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
                    Ok(())
                }
            }
        };
    }

    upgrade!(
        /// Brings tables an earlier version made up to date: the hash chains' tables, the
        /// indexes added since, the retired ones dropped, the chains' keys in byte order (as
        /// [`install`](crate::install) does, keeping the layout as it is). Down: nothing (the
        /// tables stay as they are; the first migration's down drops them all).
        Upgrade2026Dec,
        "m20261206_000001_update_audit_tables"
    );

    upgrade!(
        /// Adds the seal runs' gaps (`{activity_log}_seal_gaps`, see [`crate::seal`]) to
        /// tables an earlier version made, as [`install`](crate::install) does. Down: nothing.
        SealGaps2026Dec,
        "m20261207_000001_add_audit_seal_gaps"
    );

    upgrade!(
        /// Adds the links' `format` column (what each link's hash covers; the links an
        /// earlier version sealed are format 1) to tables an earlier version made, as
        /// [`install`](crate::install) does. Down: nothing.
        LinkFormat2026Dec,
        "m20261208_000001_add_audit_link_format"
    );

    /// Creates the audit tables (down: drops them).
    #[derive(Debug, Clone, Copy, Default)]
    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261128_000001_create_audit_tables"
        }
    }

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            install_on(manager, &crate::Install::new()).await
        }

        async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            drop_tables(manager).await
        }
    }

    /// The same migration with the partitioned layout of PostgreSQL
    /// ([`Install::partitioned`](crate::Install::partitioned)); use one of the two.
    #[derive(Debug, Clone, Copy, Default)]
    pub struct PartitionedMigration;

    impl MigrationName for PartitionedMigration {
        fn name(&self) -> &str {
            "m20261128_000001_create_audit_tables"
        }
    }

    #[async_trait::async_trait]
    impl MigrationTrait for PartitionedMigration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            install_on(manager, &crate::Install::new().partitioned(true)).await
        }

        async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            drop_tables(manager).await
        }
    }

    /// Installs on the migration's connection: the pool itself when the migration runs
    /// without a transaction (as on MySQL/MariaDB), so that the install takes one of its
    /// connections for the lock and the statements (on the pool, the install lock could be
    /// taken on one pooled connection and released on another).
    async fn install_on(
        manager: &SchemaManager<'_>,
        options: &crate::Install,
    ) -> Result<(), DbErr> {
        match manager.get_connection() {
            sea_orm::DatabaseExecutor::Connection(db) => crate::install_with(*db, options).await,
            other => crate::install_with(other, options).await,
        }
        .map_err(Into::into)
    }

    /// Drops the audit tables (a partitioned `activity_log` with its partitions).
    async fn drop_tables(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
        use crate::entity::{
            activity_log, baselines, chains, hourly, seal_gaps, seal_runs, seals, versions,
        };
        use sea_orm::EntityName;
        let tables = [
            seal_gaps::Entity.table_name().to_owned(),
            seals::Entity.table_name().to_owned(),
            chains::Entity.table_name().to_owned(),
            seal_runs::Entity.table_name().to_owned(),
            activity_log::Entity.table_name().to_owned(),
            versions::Entity.table_name().to_owned(),
            baselines::Entity.table_name().to_owned(),
            hourly::Entity.table_name().to_owned(),
        ];
        for table in tables {
            let name = sea_orm::sea_query::Alias::new(table);
            manager
                .drop_table(Table::drop().table(name).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
