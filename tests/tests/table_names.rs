//! Audit tables under names of the program's choosing (`acme_activity_log`, …): every
//! write, read, restore and install goes to them. Its own binary: the names are fixed per
//! program.

use audit_seaorm::entity::{TableNames, set_table_names, table_names};
use audit_seaorm::{AuditedEntity, Filter, activity, history, versions};
use audit_tests::post;
use sea_orm::{ActiveModelTrait, ConnectionTrait, DatabaseConnection, ModelTrait, Set, Statement};

fn acme() {
    set_table_names(TableNames::prefixed("acme_")).expect("the names, before any use");
}

async fn count(db: &DatabaseConnection, table: &str) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            format!("SELECT COUNT(*) AS n FROM {table}"),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

async fn the_trail_uses_the_chosen_names(db: DatabaseConnection) {
    assert_eq!(table_names().versions, "acme_versions");
    let p = post::new("a", "s").insert(&db).await.unwrap();
    let mut am: post::ActiveModel = p.clone().into();
    am.title = Set("b".into());
    am.update(&db).await.unwrap();
    p.clone().delete(&db).await.unwrap();
    let v1 = versions(&db, "post", p.id).await.unwrap()[0].id;
    let txn = audit_seaorm::begin_write(&db).await.unwrap();
    post::Entity::restore(&txn, v1).await.unwrap();
    txn.commit().await.unwrap();

    let trail = history(&db, "post", p.id).await.unwrap();
    let actions: Vec<&str> = trail.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["created", "updated", "deleted", "restored"]);
    assert_eq!(activity(&db, &Filter::new()).await.unwrap().items.len(), 4);
    assert_eq!(count(&db, "acme_activity_log").await, 4);
    assert_eq!(count(&db, "acme_versions").await, 4);
    // The table is there (the mark itself is cached per process, and the other backends'
    // tests of this binary may have made it).
    assert!(count(&db, "acme_baselines").await <= 1);
    // No table under the default names was made.
    let default = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) FROM versions",
        ))
        .await;
    assert!(default.is_err(), "`versions` must not exist");
    // Installing again adds nothing and fails on nothing.
    audit_seaorm::install(&db).await.unwrap();
    post::reload(&db, p.id).await.delete(&db).await.unwrap();
    assert_eq!(count(&db, "acme_versions").await, 5);
}

#[test]
fn names_are_fixed_once_and_checked() {
    acme();
    assert!(
        set_table_names(TableNames::prefixed("acme_")).is_ok(),
        "the same again"
    );
    assert!(matches!(
        set_table_names(TableNames::default()),
        Err(audit_seaorm::Error::TableNamesFixed { .. })
    ));
    assert!(matches!(
        set_table_names(TableNames::prefixed("bad name; drop table x")),
        Err(audit_seaorm::Error::InvalidTableName { longest: 44, .. })
    ));
}

mod the_trail_uses_the_chosen_names {
    audit_tests::__backend_test!(
        the_trail_uses_the_chosen_names,
        sqlite,
        Sqlite,
        "_s",
        before = super::acme()
    );
    audit_tests::__backend_test!(
        the_trail_uses_the_chosen_names,
        postgres,
        Postgres,
        "_p",
        before = super::acme()
    );
    audit_tests::__backend_test!(
        the_trail_uses_the_chosen_names,
        mysql,
        MySql,
        "_m",
        before = super::acme()
    );
}
