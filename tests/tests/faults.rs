//! Failures: no phantom audit rows, nothing half-written.

use audit_seaorm::{Filter, activity, history, versions};
use audit_tests::{backend_tests, post};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseConnection, EntityTrait, Set, TransactionTrait,
};

async fn failed_update_leaves_no_rows(db: DatabaseConnection) {
    post::new("A", "a").insert(&db).await.unwrap();
    let b = post::new("B", "b").insert(&db).await.unwrap();
    let mut am: post::ActiveModel = b.clone().into();
    am.slug = Set("a".into()); // violates the unique slug
    am.update(&db).await.expect_err("unique violation");
    assert_eq!(history(&db, "post", b.id).await.unwrap().len(), 1);
    assert_eq!(versions(&db, "post", b.id).await.unwrap().len(), 1);

    // The stash entry the failed write left behind does not leak into the next write.
    let mut am: post::ActiveModel = b.clone().into();
    am.title = Set("B2".into());
    am.update(&db).await.unwrap();
    let trail = history(&db, "post", b.id).await.unwrap();
    assert_eq!(trail.len(), 2);
    assert_eq!(
        serde_json::to_value(&trail[1].changes).unwrap(),
        serde_json::json!({"title": {"old": "B", "new": "B2"}})
    );
}

async fn failed_insert_leaves_no_rows(db: DatabaseConnection) {
    post::new("A", "a").insert(&db).await.unwrap();
    post::new("A again", "a")
        .insert(&db)
        .await
        .expect_err("unique violation");
    let all = activity(&db, &Filter::new()).await.unwrap().items;
    assert_eq!(all.len(), 1);
}

async fn failed_audit_write_rolls_back(db: DatabaseConnection) {
    // Make the audit write fail: the versions table is gone.
    db.execute_unprepared("DROP TABLE versions").await.unwrap();
    let txn = db.begin().await.unwrap();
    let err = post::new("A", "a")
        .insert(&txn)
        .await
        .expect_err("audit write fails");
    // The database's own error, passed on whole: it names the table.
    assert!(
        matches!(err, sea_orm::DbErr::Exec(_) | sea_orm::DbErr::Query(_)),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("versions"),
        "the error names what failed: {msg}"
    );
    txn.rollback().await.unwrap();
    assert!(
        post::Entity::find().all(&db).await.unwrap().is_empty(),
        "the entity write was rolled back"
    );
}

async fn transaction_rollback_drops_audit_rows(db: DatabaseConnection) {
    let txn = db.begin().await.unwrap();
    let p = post::new("A", "a").insert(&txn).await.unwrap();
    let mut am: post::ActiveModel = p.clone().into();
    am.title = Set("B".into());
    am.update(&txn).await.unwrap();
    txn.rollback().await.unwrap();
    audit_tests::assert_no_audit_rows(&db, p.id).await;
}

async fn stale_stash_is_not_used(db: DatabaseConnection) {
    post::new("A", "a").insert(&db).await.unwrap();
    let b = post::new("B", "b").insert(&db).await.unwrap();
    // A failed write leaves the row it read behind...
    let mut am: post::ActiveModel = b.clone().into();
    am.slug = Set("a".into());
    am.update(&db).await.expect_err("unique violation");
    // ...the row changes outside the hooks...
    post::Entity::update_many()
        .col_expr(post::Column::Title, sea_orm::sea_query::Expr::value("Bulk"))
        .exec(&db)
        .await
        .unwrap();
    // ...and a write that changes no audited field must not log the stale difference.
    let mut am: post::ActiveModel = b.clone().into();
    am.view_count = Set(5);
    am.update(&db).await.unwrap();
    assert_eq!(history(&db, "post", b.id).await.unwrap().len(), 1);
}

/// The hooks keep their state in tokio task-locals: a write polled by another executor
/// fails loudly instead of being written without its audit rows.
async fn writes_outside_tokio_are_refused(db: DatabaseConnection) {
    let conn = db.clone();
    let result = std::thread::spawn(move || {
        futures::executor::block_on(post::new("Elsewhere", "elsewhere").insert(&conn))
    })
    .join()
    .expect("the write returns, it does not panic");
    let err = result.expect_err("refused outside tokio");
    assert!(err.to_string().contains("outside a tokio runtime"), "{err}");
    assert!(post::Entity::find().all(&db).await.unwrap().is_empty());
    let entries = activity(&db, &Filter::new()).await.unwrap().items;
    assert_eq!(entries.len(), 0, "{entries:?}");
}

backend_tests!(
    stale_stash_is_not_used,
    failed_update_leaves_no_rows,
    failed_insert_leaves_no_rows,
    failed_audit_write_rolls_back,
    transaction_rollback_drops_audit_rows,
    writes_outside_tokio_are_refused,
);
