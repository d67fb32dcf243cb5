//! Strict mode: a setting of a scope (`AuditContext::strict`) or of the HTTP layer for
//! every request (`AuditLayer::strict`), never a process-wide switch.

use audit_seaorm::http::AuditLayer;
use audit_seaorm::{AuditContext, AuditedEntity, Error, versions};
use audit_tests::{backend_tests, post};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post as post_route;
use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, TransactionTrait};

async fn scope_setting(db: DatabaseConnection) {
    assert!(!AuditContext::strict_mode(), "off when no scope says");
    AuditContext::new()
        .strict(true)
        .scope(async {
            // A nested scope that says nothing about strict mode keeps it.
            let err = AuditContext::new()
                .causer("7")
                .scope(post::new("Hi", "hi").insert(&db))
                .await
                .unwrap_err();
            assert!(err.to_string().contains("audit: strict mode"), "{err}");
            assert!(post::Entity::find().all(&db).await.unwrap().is_empty());
            // A nested scope may relax it.
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
            // So does `record_change`, whose version and entry are two statements.
            let old = post::reload(&db, p.id).await;
            let mut new = old.clone();
            new.title = "Recorded".into();
            let before = versions(&db, "post", p.id).await.unwrap().len();
            match audit_seaorm::record_change(&db, Some(&old), Some(&new)).await {
                Err(Error::NotInTransaction {
                    subject_type: "post",
                }) => {}
                other => panic!("expected NotInTransaction, got {other:?}"),
            }
            assert_eq!(versions(&db, "post", p.id).await.unwrap().len(), before);
            let txn = db.begin().await.unwrap();
            assert!(
                audit_seaorm::record_change(&txn, Some(&old), Some(&new))
                    .await
                    .unwrap()
            );
            txn.commit().await.unwrap();
            assert_eq!(versions(&db, "post", p.id).await.unwrap().len(), before + 1);
        })
        .await;
    // Outside the scope it is off again: nothing global was switched.
    assert!(!AuditContext::strict_mode());
    post::new("After", "after").insert(&db).await.unwrap();
}

/// Inserts a post outside a transaction: 500 with the error when the audit refuses it.
async fn write(State(db): State<DatabaseConnection>) -> (StatusCode, String) {
    match post::new("Hi", "hi").insert(&db).await {
        Ok(p) => (StatusCode::OK, p.id.to_string()),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn serve(db: &DatabaseConnection, layer: AuditLayer) -> String {
    let app = Router::new()
        .route("/write", post_route(write))
        .with_state(db.clone())
        .layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/write")
}

async fn layer_setting(db: DatabaseConnection) {
    let client = reqwest::Client::new();
    let strict = serve(&db, AuditLayer::new().strict(true)).await;
    let res = client.post(&strict).send().await.unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::INTERNAL_SERVER_ERROR);
    let body = res.text().await.unwrap();
    assert!(body.contains("audit: strict mode"), "{body}");
    assert!(post::Entity::find().all(&db).await.unwrap().is_empty());

    let relaxed = serve(&db, AuditLayer::new()).await;
    let res = client.post(&relaxed).send().await.unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    assert_eq!(post::Entity::find().all(&db).await.unwrap().len(), 1);
}

/// A write strict mode refuses is refused before the entity's own `before_save` runs
/// (whatever that hook would write, on a plain connection, would stay).
async fn refused_before_the_entitys_hook(db: DatabaseConnection) {
    use audit_tests::compat::baker;
    use std::sync::atomic::Ordering;
    let runs = baker::BEFORE_SAVE_RUNS.load(Ordering::SeqCst);
    let am = baker::ActiveModel {
        name: sea_orm::Set("Ada".into()),
        contact_details: sea_orm::Set(serde_json::json!({})),
        ..Default::default()
    };
    let err = AuditContext::new()
        .strict(true)
        .scope(am.insert(&db))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("audit: strict mode"), "{err}");
    assert_eq!(baker::BEFORE_SAVE_RUNS.load(Ordering::SeqCst), runs);
    assert!(baker::Entity::find().all(&db).await.unwrap().is_empty());
}

backend_tests!(scope_setting, layer_setting);

// (one backend: the baker's hook counts runs of the whole binary)
mod refused_before_the_entitys_hook {
    audit_tests::__backend_test!(refused_before_the_entitys_hook, sqlite, Sqlite, "_s");
}
