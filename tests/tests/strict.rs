//! The process-wide strict mode (its own test binary: the switch is global).

use audit_seaorm::{AuditContext, AuditedEntity, Error, set_strict_mode, strict_mode, versions};
use audit_tests::{backend_tests, post};
use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, TransactionTrait};

async fn global_strict_mode(db: DatabaseConnection) {
    set_strict_mode(true);
    assert!(strict_mode());
    let err = post::new("Hi", "hi").insert(&db).await.unwrap_err();
    assert!(err.to_string().contains("audit: strict mode"), "{err}");
    assert!(post::Entity::find().all(&db).await.unwrap().is_empty());
    // A scope may relax it.
    let p = AuditContext::new()
        .strict(false)
        .scope(post::new("Hi", "hi").insert(&db))
        .await
        .unwrap();
    // In a transaction it is allowed.
    let txn = db.begin().await.unwrap();
    let mut am: post::ActiveModel = p.clone().into();
    am.title = sea_orm::Set("Hello".into());
    am.update(&txn).await.unwrap();
    txn.commit().await.unwrap();
    // The typed restore says so with a typed error.
    let v1 = versions(&db, "post", p.id).await.unwrap()[0].id;
    match post::Entity::restore(&db, v1).await {
        Err(Error::NotInTransaction {
            subject_type: "post",
        }) => {}
        other => panic!("expected NotInTransaction, got {other:?}"),
    }
    let txn = db.begin().await.unwrap();
    assert_eq!(post::Entity::restore(&txn, v1).await.unwrap().title, "Hi");
    txn.commit().await.unwrap();
}

backend_tests!(global_strict_mode);
