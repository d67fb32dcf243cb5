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

async fn migration_creates_tables(db: DatabaseConnection) {
    db.execute_unprepared("DROP TABLE activity_log")
        .await
        .unwrap();
    db.execute_unprepared("DROP TABLE versions").await.unwrap();
    Migrator::up(&db, None).await.unwrap();
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

backend_tests!(install_is_idempotent, migration_creates_tables);

#[test]
fn install_sql_is_reviewable() {
    let sql = audit_seaorm::install_sql(sea_orm::DbBackend::MySql).join(";\n");
    assert!(sql.contains("DATETIME(6)"), "{sql}");
    assert!(sql.contains("uq_versions_subject_version"), "{sql}");
    let pg = audit_seaorm::install_sql(sea_orm::DbBackend::Postgres).join(";\n");
    assert!(pg.contains("CREATE UNIQUE INDEX IF NOT EXISTS"), "{pg}");
}
