//! Creating the audit tables: idempotent install, the migration, the entities.

use audit_seaorm::entity::{activity_log, versions};
use audit_seaorm::{NewActivity, install, log};
use audit_tests::backend_tests;
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter};
use sea_orm_migration::{MigrationTrait, MigratorTrait};

async fn install_is_idempotent(db: DatabaseConnection) {
    // fresh_db installed once already.
    install(&db).await.unwrap();
    install(&db).await.unwrap();
    log(&db, NewActivity::new("viewed").subject("post", 1))
        .await
        .unwrap();
    // The entities query the tables with SeaORM itself.
    let rows = activity_log::Entity::find()
        .filter(activity_log::Column::Action.eq("viewed"))
        .all(&db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(versions::Entity::find().all(&db).await.unwrap().len(), 0);
    // The unique index backs gap-free version numbers.
    audit_seaorm::snapshot(&db, "s", "1", &serde_json::json!({}))
        .await
        .unwrap();
    let dup = format!(
        "INSERT INTO versions (subject_type, subject_id, version, event, data, created_at) \
         VALUES ('s', '1', 1, 'x', '{{}}', {})",
        if db.get_database_backend() == sea_orm::DbBackend::Sqlite {
            "'2020-01-01'"
        } else {
            "CURRENT_TIMESTAMP"
        }
    );
    db.execute_unprepared(&dup)
        .await
        .expect_err("duplicate version number is refused");
}

struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(audit_seaorm::migration::Migration)]
    }
}

/// The migrations as a program lists them.
struct Migrations;

impl MigratorTrait for Migrations {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        audit_seaorm::migration::migrations()
    }
}

/// A database whose first migration ran under an earlier version (here: without the hash
/// chains' tables) is brought up to date by the migrations of this one: `seal` works.
async fn migrations_upgrade_old_tables(db: DatabaseConnection) {
    Migrator::up(&db, None).await.unwrap();
    drop_tables(
        &db,
        &[
            "activity_log_seals",
            "activity_log_chains",
            "activity_log_seal_runs",
            "activity_log_seal_gaps",
        ],
    )
    .await;
    audit_seaorm::seal(&db).await.unwrap_err();
    Migrations::up(&db, None).await.unwrap();
    log(&db, NewActivity::new("viewed").subject("post", 1))
        .await
        .unwrap();
    assert_eq!(audit_seaorm::seal(&db).await.unwrap().rows, 1);
    // Again: nothing to do.
    Migrations::up(&db, None).await.unwrap();
    let applied = Migrations::get_applied_migrations(&db).await.unwrap();
    assert_eq!(applied.len(), 4);
}

async fn migration_creates_tables(db: DatabaseConnection) {
    db.execute_unprepared("DROP TABLE activity_log")
        .await
        .unwrap();
    db.execute_unprepared("DROP TABLE versions").await.unwrap();
    let mysql = db.get_database_backend() == sea_orm::DbBackend::MySql;
    if mysql {
        // Several idle connections in the pool: MySQL's migrations run on the pool itself,
        // where the install lock, taken on one, was released on another and leaked.
        let busy = |_| db.execute_unprepared("DO SLEEP(0.2)");
        futures::future::try_join_all((0..4).map(busy))
            .await
            .unwrap();
    }
    Migrator::up(&db, None).await.unwrap();
    if mysql {
        let holder = db
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::MySql,
                "SELECT IS_USED_LOCK(CONCAT('audit_seaorm_install:', MD5(DATABASE()))) AS holder",
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get::<Option<i64>>("", "holder")
            .unwrap();
        assert_eq!(holder, None, "the install lock is released");
    }
    log(&db, NewActivity::new("viewed").subject("post", 1))
        .await
        .unwrap();
    Migrator::down(&db, None).await.unwrap();
    assert!(
        log(&db, NewActivity::new("viewed").subject("post", 1))
            .await
            .is_err()
    );
}

/// Drops `tables`, as an older version (or none) left the database.
async fn drop_tables(db: &DatabaseConnection, tables: &[&str]) {
    for table in tables {
        db.execute_unprepared(&format!("DROP TABLE {table}"))
            .await
            .unwrap();
    }
}

/// The index names of the audit tables, from the database's catalog.
async fn audit_indexes(db: &DatabaseConnection) -> Vec<String> {
    use sea_orm::DatabaseBackend as B;
    let sql = match db.get_database_backend() {
        B::Postgres => {
            "SELECT indexname FROM pg_indexes WHERE tablename IN ('activity_log', 'versions', 'activity_log_hourly') AND indexname NOT LIKE '%pkey' ORDER BY 1"
        }
        B::MySql => {
            "SELECT DISTINCT index_name FROM information_schema.statistics WHERE table_schema = DATABASE() AND table_name IN ('activity_log', 'versions', 'activity_log_hourly') AND index_name <> 'PRIMARY' ORDER BY 1"
        }
        _ => {
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('activity_log', 'versions', 'activity_log_hourly') AND name NOT LIKE 'sqlite_%' ORDER BY 1"
        }
    };
    db.query_all_raw(sea_orm::Statement::from_string(
        db.get_database_backend(),
        sql,
    ))
    .await
    .unwrap()
    .iter()
    .map(|row| row.try_get_by_index::<String>(0).unwrap())
    .collect()
}

/// Eight instances booting at once on an empty database: every install succeeds, once.
/// And a table that exists but lacks an index (made by an earlier version) gets it.
async fn concurrent_installs(db: DatabaseConnection) {
    let expected = audit_indexes(&db).await;
    assert_eq!(expected.len(), 7, "{expected:?}");
    drop_tables(
        &db,
        &[
            "activity_log",
            "versions",
            "audit_baselines",
            "activity_log_hourly",
        ],
    )
    .await;
    let installs = (0..8).map(|_| install(&db));
    for result in futures::future::join_all(installs).await {
        result.expect("a concurrent install");
    }
    assert_eq!(audit_indexes(&db).await, expected);

    let drop_index = match db.get_database_backend() {
        sea_orm::DbBackend::MySql => "DROP INDEX idx_activity_log_causer_prefix ON activity_log",
        _ => "DROP INDEX idx_activity_log_causer_prefix",
    };
    db.execute_unprepared(drop_index).await.unwrap();
    install(&db).await.unwrap();
    assert_eq!(
        audit_indexes(&db).await,
        expected,
        "the missing index is added"
    );
    // The indexes an earlier version made and this one replaced are dropped.
    let mysql = db.get_database_backend() == sea_orm::DbBackend::MySql;
    for (name, cols) in [
        ("action", "action, created_at"),
        ("created_at", "created_at"),
        (
            "causer",
            if mysql {
                "causer_id(100), id"
            } else {
                "causer_id, id"
            },
        ),
        (
            "request",
            if mysql {
                "request_id(100)"
            } else {
                "request_id"
            },
        ),
    ] {
        db.execute_unprepared(&format!(
            "CREATE INDEX idx_activity_log_{name} ON activity_log ({cols})"
        ))
        .await
        .unwrap();
    }
    assert_eq!(audit_indexes(&db).await.len(), expected.len() + 4);
    install(&db).await.unwrap();
    assert_eq!(
        audit_indexes(&db).await,
        expected,
        "the retired indexes are dropped"
    );
    log(&db, NewActivity::new("viewed").subject("post", 1))
        .await
        .unwrap();
    // Inside a transaction too (MySQL commits DDL by itself; the install still succeeds).
    let txn = sea_orm::TransactionTrait::begin(&db).await.unwrap();
    install(&txn).await.unwrap();
    txn.commit().await.unwrap();
}

/// Links an earlier version sealed sit in a table without the `format` column: `install`
/// adds it, marking them format 1 (their hash leaves the row's id out), and the links
/// sealed afterwards are format 2.
async fn install_gives_old_links_their_format(db: DatabaseConnection) {
    let entry = || log(&db, NewActivity::new("viewed").subject("post", 1));
    entry().await.unwrap();
    audit_seaorm::seal_all(&db).await.unwrap();
    db.execute_unprepared("ALTER TABLE activity_log_seals DROP COLUMN format")
        .await
        .unwrap();
    install(&db).await.unwrap();
    entry().await.unwrap();
    audit_seaorm::seal_all(&db).await.unwrap();
    assert_eq!(audit_tests::link_formats(&db).await, [1, 2]);
    // Again: nothing to do.
    install(&db).await.unwrap();
}

backend_tests!(
    install_gives_old_links_their_format,
    concurrent_installs,
    install_is_idempotent,
    migration_creates_tables,
    migrations_upgrade_old_tables
);

/// An install on boot beside a transaction that wrote to the audit tables and is still
/// open (a long bulk write, a prune) does not wait for it, so audited writes do not queue
/// behind the install: PostgreSQL's `CREATE INDEX IF NOT EXISTS` locks its table against
/// writes even when the index is there, so an index that exists is not created again.
async fn install_beside_an_open_write(db: DatabaseConnection) {
    let txn = sea_orm::TransactionTrait::begin(&db).await.unwrap();
    log(&txn, NewActivity::new("viewed").subject("post", 1))
        .await
        .unwrap();
    audit_seaorm::snapshot(&txn, "post", "1", &serde_json::json!({}))
        .await
        .unwrap();
    let installed = tokio::time::timeout(std::time::Duration::from_secs(20), install(&db)).await;
    txn.commit().await.unwrap();
    installed
        .expect("the install waited for a transaction that wrote to the audit tables")
        .unwrap();
    assert_eq!(
        activity_log::Entity::find().all(&db).await.unwrap().len(),
        1
    );
}

audit_tests::server_backend_tests!(install_beside_an_open_write);

/// The chains' key columns (links and heads) whose collation is not `C`, on PostgreSQL.
async fn unordered_chain_keys(db: &DatabaseConnection) -> i64 {
    let sql = r#"SELECT count(*) FROM pg_attribute
        WHERE attrelid IN ('activity_log_seals'::regclass, 'activity_log_chains'::regclass)
          AND attname IN ('subject_type', 'subject_id')
          AND attcollation <> 'pg_catalog."C"'::regcollation"#;
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            sql,
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index(0).unwrap()
}

/// An install from before the chains' keys compared by their bytes gets that order at
/// its next install (a language's collation would make `verify` see false breaks).
async fn chain_keys_get_byte_order(db: DatabaseConnection) {
    assert_eq!(unordered_chain_keys(&db).await, 0, "a new install has it");
    for table in ["activity_log_seals", "activity_log_chains"] {
        db.execute_unprepared(&format!(
            r#"ALTER TABLE {table} ALTER COLUMN subject_type TYPE varchar(100) COLLATE "default",
               ALTER COLUMN subject_id TYPE text COLLATE "default""#
        ))
        .await
        .unwrap();
    }
    assert_eq!(unordered_chain_keys(&db).await, 4);
    install(&db).await.unwrap();
    assert_eq!(unordered_chain_keys(&db).await, 0);
    install(&db).await.unwrap();
    assert_eq!(unordered_chain_keys(&db).await, 0);
}

/// A role that only reads and writes the audit tables (no right to create in the schema,
/// PostgreSQL 15's default for `public`) boots: `install` finds everything there, on the
/// plain and the partitioned layout, and sends no `CREATE`.
async fn a_role_that_cannot_create_installs(db: DatabaseConnection) {
    const ROLE: &str = "audit_dml_only";
    // On the partitioned layout, the months ahead lack one (a boot in the next month):
    // the role cannot make it, and boots all the same.
    let last_month = db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT max(c.relname::text) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             WHERE i.inhparent = to_regclass('activity_log') AND c.relname <> 'activity_log_default'",
        ))
        .await
        .unwrap()
        .and_then(|row| row.try_get_by_index::<Option<String>>(0).unwrap());
    if let Some(month) = &last_month {
        db.execute_unprepared(&format!(r#"DROP TABLE "{month}""#))
            .await
            .unwrap();
    }
    db.execute_unprepared("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        .await
        .unwrap();
    let app = audit_tests::connect_as_dml_role(&db, ROLE).await;
    let installed = install(&app).await;
    // Scheduled maintenance under that role too: what it may not do is left, not failed.
    let maintained = audit_seaorm::maintain_partitions(&app).await;
    audit_tests::drop_role(&db, app, ROLE).await;
    installed.unwrap();
    maintained.unwrap();
    if let Some(month) = last_month {
        let exists = |db: DatabaseConnection, month: String| async move {
            db.query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                format!("SELECT to_regclass('\"{month}\"') IS NOT NULL"),
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get_by_index::<bool>(0)
            .unwrap()
        };
        assert!(!exists(db.clone(), month.clone()).await, "made by the role");
        install(&db).await.unwrap();
        assert!(exists(db.clone(), month).await, "made by the owner");
    }
}

/// Audit tables of another schema on the search path (one tenant's schema before another's,
/// the shared one last) are not this schema's: install creates its own in the current
/// schema, as `CREATE TABLE` names it, and the writes find them there. The schema's name
/// is taken as it is spelt (capitals, a dot), not as an identifier to fold.
async fn tables_of_another_schema_are_not_ours(db: DatabaseConnection) {
    use sea_orm::TransactionTrait;
    let txn = db.begin().await.unwrap();
    // The shared schema's install is an older one, with an index this version retired.
    txn.execute_unprepared("CREATE INDEX idx_activity_log_action ON public.activity_log (action)")
        .await
        .unwrap();
    txn.execute_unprepared(r#"CREATE SCHEMA "Tenant.B""#)
        .await
        .unwrap();
    txn.execute_unprepared(r#"SET LOCAL search_path = "Tenant.B", public"#)
        .await
        .unwrap();
    install(&txn).await.unwrap();
    // And again, as the next boot does: the tables are found there.
    install(&txn).await.unwrap();
    let kept: bool = txn
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT to_regclass('public.idx_activity_log_action') IS NOT NULL",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index(0)
        .unwrap();
    assert!(kept, "another schema's index is left to its own install");
    let tables: i64 = txn
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'Tenant.B'",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index(0)
        .unwrap();
    assert!(tables >= 7, "{tables} tables in Tenant.B");
    txn.rollback().await.unwrap();
}

/// The partitioned layout installed in a schema of its own, the shared schema behind it on
/// the search path holding a plain `activity_log`: that table is another schema's, no
/// reason to refuse.
async fn a_plain_log_of_another_schema_is_not_ours(db: DatabaseConnection) {
    use sea_orm::TransactionTrait;
    let txn = db.begin().await.unwrap();
    // The shared schema's log, plain whatever layout the suite runs.
    txn.execute_unprepared(
        "CREATE SCHEMA shared; CREATE TABLE shared.activity_log (id bigint PRIMARY KEY); \
         CREATE SCHEMA tenant_c; SET LOCAL search_path = tenant_c, shared",
    )
    .await
    .unwrap();
    audit_seaorm::install_with(&txn, &audit_seaorm::Install::new().partitioned(true))
        .await
        .unwrap();
    let kind: String = txn
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT relkind::text FROM pg_class WHERE oid = 'tenant_c.activity_log'::regclass",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index(0)
        .unwrap();
    assert_eq!(kind, "p", "tenant_c's log is partitioned");
    txn.rollback().await.unwrap();
}

audit_tests::postgres_tests!(
    chain_keys_get_byte_order,
    a_role_that_cannot_create_installs,
    tables_of_another_schema_are_not_ours,
    a_plain_log_of_another_schema_is_not_ours
);

/// What `install_sql` gives, run by a schema tool of your own instead of `install`, is a
/// schema the library works on: writes, seal and verify; and running it again on it
/// changes nothing.
async fn install_sql_is_complete(db: DatabaseConnection) {
    drop_tables(
        &db,
        &[
            "activity_log_seals",
            "activity_log_chains",
            "activity_log_seal_runs",
            "activity_log_seal_gaps",
            "activity_log",
            "versions",
            "audit_baselines",
            "activity_log_hourly",
        ],
    )
    .await;
    for _ in 0..2 {
        for sql in audit_seaorm::install_sql(db.get_database_backend()) {
            db.execute_unprepared(&sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }
    log(&db, NewActivity::new("viewed").subject("post", 1))
        .await
        .unwrap();
    assert_eq!(audit_seaorm::seal(&db).await.unwrap().rows, 1);
    let report = audit_seaorm::verify(&db, &audit_seaorm::VerifyScope::all())
        .await
        .unwrap();
    assert!(report.is_intact(), "{:#?}", report.breaks);
}

backend_tests!(install_sql_is_complete);

#[test]
fn install_sql_is_reviewable() {
    let sql = audit_seaorm::install_sql(sea_orm::DbBackend::MySql).join(";\n");
    assert!(sql.contains("DATETIME(6)"), "{sql}");
    assert!(sql.contains("uq_versions_subject_version"), "{sql}");
    let pg = audit_seaorm::install_sql(sea_orm::DbBackend::Postgres).join(";\n");
    assert!(pg.contains("CREATE UNIQUE INDEX IF NOT EXISTS"), "{pg}");
    // The chains' keys, links and heads, compare by their bytes.
    assert_eq!(pg.matches(r#"NOT NULL COLLATE "C""#).count(), 4, "{pg}");
}
