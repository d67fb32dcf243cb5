//! Automatic auditing through the ActiveModel hooks.

use audit_seaorm::{AuditContext, Filter, REDACTED, activity, history, versions, without_auditing};
use audit_tests::{backend_tests, cake, note, post, translation};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, ModelTrait, QueryFilter, Set,
    TransactionTrait,
};
use serde_json::json;

fn ctx() -> AuditContext {
    AuditContext::new()
        .causer("42")
        .ip([203, 0, 113, 9])
        .user_agent("tests/1.0")
        .request_id("req-1")
}

async fn insert_logs_created(db: DatabaseConnection) {
    let p = ctx()
        .scope(post::new("Hi", "hi").insert(&db))
        .await
        .unwrap();
    let trail = history(&db, "post", p.id).await.unwrap();
    assert_eq!(trail.len(), 1);
    let e = &trail[0];
    assert_eq!(e.action.as_str(), "created");
    assert_eq!(e.subject_type, "post");
    assert_eq!(e.subject_id, p.id.to_string());
    assert_eq!(e.causer_id.as_deref(), Some("42"));
    assert_eq!(e.ip.as_deref(), Some("203.0.113.9"));
    assert_eq!(e.user_agent.as_deref(), Some("tests/1.0"));
    assert_eq!(e.request_id.as_deref(), Some("req-1"));
    assert_eq!(
        serde_json::to_value(&e.changes).unwrap(),
        json!({
            "id": {"old": null, "new": p.id},
            "title": {"old": null, "new": "Hi"},
            "slug": {"old": null, "new": "hi"},
            "api_token": {"old": null, "new": REDACTED},
            "published_at": {"old": null, "new": null},
        })
    );
    let vs = versions(&db, "post", p.id).await.unwrap();
    assert_eq!(vs.len(), 1);
    assert_eq!(vs[0].version, 1);
    assert_eq!(vs[0].event, "created");
    assert_eq!(e.version_id, Some(vs[0].id));
    assert_eq!(
        serde_json::Value::Object(vs[0].data.clone()),
        json!({"id": p.id, "title": "Hi", "slug": "hi", "published_at": null})
    );
    assert_eq!(vs[0].causer_id.as_deref(), Some("42"));
}

async fn update_logs_changed_fields(db: DatabaseConnection) {
    let p = post::new("Hi", "hi").insert(&db).await.unwrap();
    let mut am: post::ActiveModel = p.clone().into();
    am.title = Set("Hello".into());
    am.view_count = Set(10);
    let p2 = ctx().scope(am.update(&db)).await.unwrap();
    assert_eq!(p2.title, "Hello");
    let trail = history(&db, "post", p.id).await.unwrap();
    assert_eq!(trail.len(), 2);
    assert_eq!(trail[1].action.as_str(), "updated");
    assert_eq!(
        serde_json::to_value(&trail[1].changes).unwrap(),
        json!({"title": {"old": "Hi", "new": "Hello"}})
    );
    let vs = versions(&db, "post", p.id).await.unwrap();
    assert_eq!(vs.iter().map(|v| v.version).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(vs[1].data["title"], json!("Hello"));
    assert_eq!(trail[1].version_id, Some(vs[1].id));
}

async fn noop_updates_log_nothing(db: DatabaseConnection) {
    let p = post::new("Hi", "hi").insert(&db).await.unwrap();
    // Same value set again.
    let mut am: post::ActiveModel = p.clone().into();
    am.title = Set("Hi".into());
    am.update(&db).await.unwrap();
    // Only a skipped field changes.
    let mut am: post::ActiveModel = p.clone().into();
    am.view_count = Set(99);
    let updated = am.update(&db).await.unwrap();
    assert_eq!(updated.view_count, 99);
    // Nothing set at all.
    let am: post::ActiveModel = updated.into();
    am.update(&db).await.unwrap();
    // Only the key set: SeaORM runs no UPDATE (a plain read, no row lock), so nothing is
    // logged, not even a change made outside the trail meanwhile, which the next write
    // that locks the row reports.
    post::Entity::update_many()
        .col_expr(
            post::Column::Title,
            sea_orm::sea_query::Expr::value("outside"),
        )
        .filter(post::Column::Id.eq(p.id))
        .exec(&db)
        .await
        .unwrap();
    post::ActiveModel {
        id: Set(p.id),
        ..Default::default()
    }
    .update(&db)
    .await
    .unwrap();
    assert_eq!(history(&db, "post", p.id).await.unwrap().len(), 1);
    assert_eq!(versions(&db, "post", p.id).await.unwrap().len(), 1);
}

async fn redacted_change_hides_values(db: DatabaseConnection) {
    let p = post::new("Hi", "hi").insert(&db).await.unwrap();
    let mut am: post::ActiveModel = p.clone().into();
    am.api_token = Set("secret-2".into());
    am.update(&db).await.unwrap();
    let trail = history(&db, "post", p.id).await.unwrap();
    assert_eq!(
        serde_json::to_value(&trail[1].changes).unwrap(),
        json!({"api_token": {"old": REDACTED, "new": REDACTED}})
    );
    // The secret is in no audit row, in any form: every column of every row, as text.
    let entries = audit_seaorm::entity::activity_log::Entity::find()
        .all(&db)
        .await
        .unwrap();
    let versions_rows = audit_seaorm::entity::versions::Entity::find()
        .all(&db)
        .await
        .unwrap();
    assert_eq!((entries.len(), versions_rows.len()), (2, 2));
    let text = serde_json::to_string(&(entries, versions_rows)).unwrap();
    assert!(text.contains("[redacted]"), "{text}");
    assert!(
        !text.contains("secret-"),
        "an audit row holds the secret: {text}"
    );
}

async fn delete_logs_final_version(db: DatabaseConnection) {
    let p = post::new("Hi", "hi").insert(&db).await.unwrap();
    ctx().scope(p.clone().delete(&db)).await.unwrap();
    let trail = history(&db, "post", p.id).await.unwrap();
    assert_eq!(trail.len(), 2);
    assert_eq!(trail[1].action.as_str(), "deleted");
    assert_eq!(trail[1].changes.get("title").unwrap().old, json!("Hi"));
    assert_eq!(trail[1].changes.get("title").unwrap().new, json!(null));
    assert_eq!(trail[1].causer_id.as_deref(), Some("42"));
    let vs = versions(&db, "post", p.id).await.unwrap();
    assert_eq!(vs.len(), 2);
    assert_eq!(vs[1].event, "deleted");
    assert_eq!(vs[1].data["title"], json!("Hi"));
    // Deleting a row that is not there logs nothing.
    let ghost = post::ActiveModel {
        id: Set(p.id + 1000),
        ..Default::default()
    };
    let res = ghost.delete(&db).await.unwrap();
    assert_eq!(res.rows_affected, 0);
    assert_eq!(
        activity(&db, &Filter::new().action("deleted"))
            .await
            .unwrap()
            .items
            .len(),
        1
    );
}

async fn save_inserts_then_updates(db: DatabaseConnection) {
    let saved = post::new("Hi", "hi").save(&db).await.unwrap();
    let mut am = saved;
    am.title = Set("Again".into());
    let saved = am.save(&db).await.unwrap();
    let id = saved.id.unwrap();
    let actions: Vec<String> = history(&db, "post", id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action.to_string())
        .collect();
    assert_eq!(actions, ["created", "updated"]);
}

async fn disabled_auditing_writes_nothing(db: DatabaseConnection) {
    let p = without_auditing(post::new("Hi", "hi").insert(&db))
        .await
        .unwrap();
    let mut am: post::ActiveModel = p.clone().into();
    am.title = Set("B".into());
    without_auditing(am.update(&db)).await.unwrap();
    without_auditing(p.clone().delete(&db)).await.unwrap();
    audit_tests::assert_no_audit_rows(&db, p.id).await;
}

async fn strict_mode_needs_transaction(db: DatabaseConnection) {
    let strict = AuditContext::new().strict(true);
    let err = strict
        .clone()
        .scope(post::new("Hi", "hi").insert(&db))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("strict mode"), "{err}");
    assert!(
        post::Entity::find().all(&db).await.unwrap().is_empty(),
        "the refused write must not happen"
    );
    let txn = db.begin().await.unwrap();
    let p = strict
        .scope(post::new("Hi", "hi").insert(&txn))
        .await
        .unwrap();
    txn.commit().await.unwrap();
    assert_eq!(history(&db, "post", p.id).await.unwrap().len(), 1);
}

async fn manual_hooks_keep_own_logic(db: DatabaseConnection) {
    let n = note::ActiveModel {
        body: Set("hi".into()),
        ..Default::default()
    }
    .insert(&db)
    .await
    .unwrap();
    assert_eq!(n.shout, "HI");
    let mut am: note::ActiveModel = n.clone().into();
    am.body = Set("yo".into());
    am.update(&db).await.unwrap();
    let trail = history(&db, "notes", n.id).await.unwrap();
    assert_eq!(trail.len(), 2);
    assert_eq!(
        serde_json::to_value(&trail[1].changes).unwrap(),
        json!({"body": {"old": "hi", "new": "yo"}, "shout": {"old": "HI", "new": "YO"}})
    );
}

async fn composite_key_subject(db: DatabaseConnection) {
    let t = translation::ActiveModel {
        post_id: Set(7),
        locale: Set("en".into()),
        body: Set("Hello".into()),
    }
    .insert(&db)
    .await
    .unwrap();
    let mut am: translation::ActiveModel = t.clone().into();
    am.body = Set("Hi".into());
    am.update(&db).await.unwrap();
    t.delete(&db).await.unwrap();
    let trail = history(&db, "translations", r#"[7,"en"]"#).await.unwrap();
    let actions: Vec<&str> = trail.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["created", "updated", "deleted"]);
}

async fn context_follows_spawned_tasks(db: DatabaseConnection) {
    let db2 = db.clone();
    let p = AuditContext::new()
        .causer("spawner")
        .scope(async move {
            audit_seaorm::spawn(async move { post::new("Hi", "hi").insert(&db2).await }).await
        })
        .await
        .unwrap()
        .unwrap();
    let trail = history(&db, "post", p.id).await.unwrap();
    assert_eq!(trail[0].causer_id.as_deref(), Some("spawner"));
}

async fn bypassed_writes_are_not_hooked(db: DatabaseConnection) {
    let p = post::new("Hi", "hi").insert(&db).await.unwrap();
    // update_many does not run the hooks: documented; log it explicitly.
    post::Entity::update_many()
        .col_expr(post::Column::Title, sea_orm::sea_query::Expr::value("Bulk"))
        .filter(post::Column::Id.eq(p.id))
        .exec(&db)
        .await
        .unwrap();
    assert_eq!(history(&db, "post", p.id).await.unwrap().len(), 1);
    audit_seaorm::log_change(
        &db,
        audit_seaorm::NewActivity::new("updated").subject("post", p.id),
        &json!({"title": "Hi"}),
        &json!({"title": "Bulk"}),
    )
    .await
    .unwrap()
    .unwrap();
    let trail = history(&db, "post", p.id).await.unwrap();
    assert_eq!(trail[1].changes.get("title").unwrap().new, json!("Bulk"));

    // The typed way: the same entry and version the hooks would have written.
    let old = post::reload(&db, p.id).await;
    post::Entity::update_many()
        .col_expr(
            post::Column::Title,
            sea_orm::sea_query::Expr::value("Bulk 2"),
        )
        .col_expr(post::Column::ViewCount, sea_orm::sea_query::Expr::value(7))
        .filter(post::Column::Id.eq(p.id))
        .exec(&db)
        .await
        .unwrap();
    let new = post::reload(&db, p.id).await;
    assert!(
        audit_seaorm::record_change(&db, Some(&old), Some(&new))
            .await
            .unwrap()
    );
    assert!(
        !audit_seaorm::record_change(&db, Some(&new), Some(&new))
            .await
            .unwrap(),
        "no change, no entry"
    );
    let trail = history(&db, "post", p.id).await.unwrap();
    assert_eq!(trail.len(), 3);
    assert_eq!(
        serde_json::to_value(&trail[2].changes).unwrap(),
        json!({"title": {"old": "Bulk", "new": "Bulk 2"}})
    );
    let vs = versions(&db, "post", p.id).await.unwrap();
    assert_eq!(vs.last().unwrap().version, 2);
    assert_eq!(trail[2].version_id, Some(vs.last().unwrap().id));
    // A bypassed delete, recorded.
    post::Entity::delete_by_id(p.id).exec(&db).await.unwrap();
    assert!(
        audit_seaorm::record_change::<post::Model, _>(&db, Some(&new), None)
            .await
            .unwrap()
    );
    assert_eq!(
        history(&db, "post", p.id).await.unwrap()[3].action.as_str(),
        "deleted"
    );
}

async fn reinserted_id_continues_versions(db: DatabaseConnection) {
    let p = post::new("Hi", "hi").insert(&db).await.unwrap();
    p.clone().delete(&db).await.unwrap();
    let mut again = post::new("Again", "again");
    again.id = Set(p.id);
    let txn = db.begin().await.unwrap();
    again.insert(&txn).await.unwrap();
    txn.commit().await.unwrap();
    let vs = versions(&db, "post", p.id).await.unwrap();
    let events: Vec<(i64, &str)> = vs.iter().map(|v| (v.version, v.event.as_str())).collect();
    assert_eq!(events, [(1, "created"), (2, "deleted"), (3, "created")]);
}

async fn dense_model_format_is_audited(db: DatabaseConnection) {
    let c = cake::ActiveModel {
        name: Set("Sponge".into()),
        recipe: Set("eggs".into()),
        ..Default::default()
    }
    .insert(&db)
    .await
    .unwrap();
    let mut am: cake::ActiveModel = c.clone().into();
    am.name = Set("Victoria sponge".into());
    am.update(&db).await.unwrap();
    let trail = history(&db, "cakes", c.id).await.unwrap();
    assert_eq!(trail.len(), 2);
    assert_eq!(trail[0].changes.get("recipe").unwrap().new, json!(REDACTED));
    assert_eq!(
        serde_json::to_value(&trail[1].changes).unwrap(),
        json!({"name": {"old": "Sponge", "new": "Victoria sponge"}})
    );
}

backend_tests!(
    dense_model_format_is_audited,
    reinserted_id_continues_versions,
    insert_logs_created,
    update_logs_changed_fields,
    noop_updates_log_nothing,
    redacted_change_hides_values,
    delete_logs_final_version,
    save_inserts_then_updates,
    disabled_auditing_writes_nothing,
    strict_mode_needs_transaction,
    manual_hooks_keep_own_logic,
    composite_key_subject,
    context_follows_spawned_tasks,
    bypassed_writes_are_not_hooked,
);
