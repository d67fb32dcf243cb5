//! The write path: every hooked write is logged from the trail itself, whatever happened
//! between its hooks; changes made outside the trail show as drift.

use std::time::Duration;

use audit_seaorm::{AuditContext, Filter, activity, history, versions};
use audit_tests::{backend_tests, post, server_backend_tests, until_a_lock_wait, warnings_of};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DatabaseTransaction, EntityTrait,
    ModelTrait, QueryFilter, Set, TransactionTrait,
};
use serde_json::json;

fn ctx() -> AuditContext {
    AuditContext::new().causer("42").request_id("req-7")
}

async fn set_slug_around_the_hooks(db: &DatabaseConnection, id: i32, slug: &str) {
    post::Entity::update_many()
        .col_expr(post::Column::Slug, Expr::value(slug))
        .filter(post::Column::Id.eq(id))
        .exec(db)
        .await
        .unwrap();
}

/// A change made around the hooks is logged as drift (no causer) before the next write's
/// own entry, which names only what that write set.
async fn outside_change_is_drift(db: DatabaseConnection) {
    let p = post::new("Hi", "hi").insert(&db).await.unwrap();
    set_slug_around_the_hooks(&db, p.id, "changed-outside").await;
    let txn = db.begin().await.unwrap();
    let am = post::ActiveModel {
        id: Set(p.id),
        title: Set("Hello".into()),
        ..Default::default()
    };
    ctx().scope(am.update(&txn)).await.unwrap();
    txn.commit().await.unwrap();

    let trail = history(&db, "post", p.id).await.unwrap();
    let actions: Vec<&str> = trail.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["created", "drift", "updated"]);
    let drift = &trail[1];
    assert_eq!(drift.causer_id, None);
    assert_eq!(drift.request_id, None);
    assert_eq!(
        serde_json::to_value(&drift.changes).unwrap(),
        json!({"slug": {"old": "hi", "new": "changed-outside"}})
    );
    let own = &trail[2];
    assert_eq!(own.causer_id.as_deref(), Some("42"));
    assert_eq!(
        serde_json::to_value(&own.changes).unwrap(),
        json!({"title": {"old": "Hi", "new": "Hello"}})
    );
    // One version per write: the latest holds the row as it is.
    let vs = versions(&db, "post", p.id).await.unwrap();
    assert_eq!(vs.len(), 2);
    assert_eq!(vs[1].data["slug"], json!("changed-outside"));
    assert_eq!(vs[1].data["title"], json!("Hello"));
    // The write's own entry points at its version; the drift, written in the same
    // statement before it, at none.
    assert_eq!(drift.version_id, None);
    assert_eq!(own.version_id, Some(vs[1].id));
    assert_eq!(trail[0].version_id, Some(vs[0].id));
}

/// A write that sets only a field that drifted records the drift alone, with a version of
/// event `drift` and no causer, and nothing for the writer.
async fn drift_only_write(db: DatabaseConnection) {
    let p = post::new("Hi", "hi").insert(&db).await.unwrap();
    set_slug_around_the_hooks(&db, p.id, "new-slug").await;
    let am = post::ActiveModel {
        id: Set(p.id),
        title: Set("Hi".into()), // set, but equal to the trail's value
        ..Default::default()
    };
    ctx().scope(am.update(&db)).await.unwrap();
    let trail = history(&db, "post", p.id).await.unwrap();
    let actions: Vec<&str> = trail.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["created", "drift"]);
    let vs = versions(&db, "post", p.id).await.unwrap();
    assert_eq!(vs[1].event, "drift");
    assert_eq!(vs[1].causer_id, None);
}

/// `update_without_returning` runs only `before_save`: its change cannot be logged when it
/// happens, and the next write of the row records it as drift instead of losing it.
async fn update_without_returning(db: DatabaseConnection) {
    let p = post::new("Hi", "hi").insert(&db).await.unwrap();
    let am = post::ActiveModel {
        id: Set(p.id),
        slug: Set("quiet".into()),
        ..Default::default()
    };
    ctx().scope(am.update_without_returning(&db)).await.unwrap();
    let am = post::ActiveModel {
        id: Set(p.id),
        title: Set("Next".into()),
        ..Default::default()
    };
    ctx().scope(am.update(&db)).await.unwrap();
    let trail = history(&db, "post", p.id).await.unwrap();
    let actions: Vec<&str> = trail.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["created", "drift", "updated"]);
    assert_eq!(trail[1].changes.get("slug").unwrap().new, json!("quiet"));
    assert_eq!(trail[2].changes.fields().collect::<Vec<_>>(), ["title"]);
}

/// A transaction that updated post `id` to `title` and so holds its row lock.
async fn lock_by_update(db: &DatabaseConnection, id: i32, title: &str) -> DatabaseTransaction {
    let holder = db.begin().await.unwrap();
    post::ActiveModel {
        id: Set(id),
        title: Set(title.into()),
        ..Default::default()
    }
    .update(&holder)
    .await
    .unwrap();
    holder
}

/// A write whose `after_save` never ran (cancelled while it waited for the row lock)
/// leaves nothing that confuses the next write: that one is logged, chained to the trail.
async fn cancelled_write(db: DatabaseConnection) {
    let p = post::new("Hi", "hi").insert(&db).await.unwrap();
    let holder = lock_by_update(&db, p.id, "held").await;
    // This write waits on the lock and is cancelled between its two hooks.
    let waiting = {
        let db = db.clone();
        tokio::spawn(async move {
            let txn = db.begin().await.unwrap();
            post::ActiveModel {
                id: Set(p.id),
                title: Set("cancelled".into()),
                ..Default::default()
            }
            .update(&txn)
            .await
        })
    };
    until_a_lock_wait(&db).await;
    assert!(
        !waiting.is_finished(),
        "the second writer should have waited for the lock"
    );
    waiting.abort();
    assert!(waiting.await.unwrap_err().is_cancelled());
    holder.commit().await.unwrap();
    // The lock holder's write was logged after a wait of its own kind; the next one too.
    let am = post::ActiveModel {
        id: Set(p.id),
        title: Set("after".into()),
        ..Default::default()
    };
    ctx().scope(am.update(&db)).await.unwrap();
    let trail = history(&db, "post", p.id).await.unwrap();
    let titles: Vec<(String, serde_json::Value)> = trail
        .iter()
        .map(|e| {
            (
                e.action.to_string(),
                e.changes.get("title").unwrap().new.clone(),
            )
        })
        .collect();
    assert_eq!(
        titles,
        [
            ("created".to_owned(), json!("Hi")),
            ("updated".to_owned(), json!("held")),
            ("updated".to_owned(), json!("after")),
        ]
    );
    assert_eq!(trail[2].changes.get("title").unwrap().old, json!("held"));
}

/// A write that waited on the row lock for a long time is logged like any other (the
/// trail has no time limit between the hooks).
async fn long_lock_wait(db: DatabaseConnection) {
    let p = post::new("Hi", "hi").insert(&db).await.unwrap();
    let holder = lock_by_update(&db, p.id, "first").await;
    let second = {
        let db = db.clone();
        tokio::spawn(async move {
            let txn = db.begin().await.unwrap();
            ctx()
                .scope(
                    post::ActiveModel {
                        id: Set(p.id),
                        title: Set("second".into()),
                        ..Default::default()
                    }
                    .update(&txn),
                )
                .await
                .unwrap();
            txn.commit().await.unwrap();
        })
    };
    // Waiting for the lock, then for a while longer.
    until_a_lock_wait(&db).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !second.is_finished(),
        "the second writer waits for the lock"
    );
    holder.commit().await.unwrap();
    second.await.unwrap();
    let trail = history(&db, "post", p.id).await.unwrap();
    assert_eq!(trail.len(), 3);
    assert_eq!(trail[2].changes.get("title").unwrap().old, json!("first"));
    assert_eq!(trail[2].changes.get("title").unwrap().new, json!("second"));
    assert_eq!(trail[2].causer_id.as_deref(), Some("42"));
}

/// Two writes of the same key on two databases, joined in one task, each logged in its own
/// database with its own diff.
async fn two_connections_one_task(db: DatabaseConnection) {
    let other_db = audit_tests::fresh_db(
        audit_tests::backend(&db),
        &format!("two_conn_{:?}", db.get_database_backend()),
    )
    .await
    .unwrap();
    let other = other_db.connection();
    let a = post::new("A", "a").insert(&db).await.unwrap();
    let b = post::new("B", "b").insert(&other).await.unwrap();
    assert_eq!(a.id, b.id);
    let (ra, rb) = futures::join!(
        post::ActiveModel {
            id: Set(a.id),
            title: Set("A2".into()),
            ..Default::default()
        }
        .update(&db),
        post::ActiveModel {
            id: Set(b.id),
            slug: Set("b2".into()),
            ..Default::default()
        }
        .update(&other),
    );
    ra.unwrap();
    rb.unwrap();
    let ta = history(&db, "post", a.id).await.unwrap();
    let tb = history(&other, "post", b.id).await.unwrap();
    assert_eq!(ta[1].changes.fields().collect::<Vec<_>>(), ["title"]);
    assert_eq!(tb[1].changes.fields().collect::<Vec<_>>(), ["slug"]);
    assert_eq!(ta.len() + tb.len(), 4);
}

/// Tasks that move between the threads of a multi-thread runtime between their hooks are
/// all logged, chained.
async fn tasks_move_threads(db: DatabaseConnection) {
    let p = post::new("t", "s").insert(&db).await.unwrap();
    let mut tasks = Vec::new();
    for w in 0..4 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            for r in 0..10 {
                tokio::task::yield_now().await;
                let txn = db.begin().await.unwrap();
                post::ActiveModel {
                    id: Set(p.id),
                    title: Set(format!("w{w}-r{r}")),
                    ..Default::default()
                }
                .update(&txn)
                .await
                .unwrap();
                tokio::task::yield_now().await;
                txn.commit().await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let trail = history(&db, "post", p.id).await.unwrap();
    assert_eq!(trail.len(), 41);
    for pair in trail.windows(2) {
        assert_eq!(
            pair[1].changes.get("title").unwrap().old,
            pair[0].changes.get("title").unwrap().new
        );
    }
    let drift = activity(&db, &Filter::new().action("drift")).await.unwrap();
    assert!(drift.items.is_empty(), "{:?}", drift.items);
}

/// A row deleted around the hooks and created again through them: the unseen delete is
/// drift (every field to `null`), then the create, numbered after the trail.
async fn recreated_row_shows_the_unseen_delete(db: DatabaseConnection) {
    let p = post::new("Hi", "hi").insert(&db).await.unwrap();
    post::Entity::delete_many()
        .filter(post::Column::Id.eq(p.id))
        .exec(&db)
        .await
        .unwrap();
    let mut again = post::new("Again", "again");
    again.id = Set(p.id);
    ctx().scope(again.insert(&db)).await.unwrap();
    let trail = history(&db, "post", p.id).await.unwrap();
    let actions: Vec<&str> = trail.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["created", "drift", "created"]);
    assert_eq!(trail[1].causer_id, None);
    assert_eq!(trail[1].changes.get("title").unwrap().old, json!("Hi"));
    assert_eq!(trail[1].changes.get("title").unwrap().new, json!(null));
    let vs = versions(&db, "post", p.id).await.unwrap();
    assert_eq!(vs.iter().map(|v| v.version).collect::<Vec<_>>(), [1, 2]);
}

/// A row inserted again around the hooks after its `deleted` version: a hooked delete
/// cannot tell it from a delete that removed nothing (SeaORM does not say how many rows
/// went) and logs nothing, with a warning; `backfill` finds it and logs it as drift, after
/// which the trail says it exists and its delete is logged.
async fn reinserted_row_is_found_by_backfill(db: DatabaseConnection) {
    let p = post::new("Hi", "hi").insert(&db).await.unwrap();
    let id = p.id;
    ctx().scope(p.delete(&db)).await.unwrap();
    let reinsert = |title: &str| {
        let mut again = post::new(title, "back");
        again.id = Set(id);
        post::Entity::insert(again).exec(&db)
    };
    reinsert("Back").await.unwrap();
    let logged = audit_seaorm::backfill::<post::Entity, _>(&db)
        .await
        .unwrap();
    assert_eq!((logged.rows, logged.written, logged.drift), (1, 0, 1));
    let trail = history(&db, "post", id).await.unwrap();
    let actions: Vec<&str> = trail.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["created", "deleted", "drift"]);
    assert_eq!(trail[2].causer_id, None);
    assert_eq!(
        trail[2].changes.get("title").map(|c| (&c.old, &c.new)),
        Some((&json!(null), &json!("Back")))
    );
    assert!(trail[2].changes.get("api_token").is_none(), "redacted");
    let vs = versions(&db, "post", id).await.unwrap();
    assert_eq!(
        vs.iter().map(|v| v.event.as_str()).collect::<Vec<_>>(),
        ["created", "deleted", "drift"]
    );
    assert_eq!(vs[2].data["title"], json!("Back"));
    assert!(vs[2].data.get("api_token").is_none(), "redacted");
    let again = audit_seaorm::backfill::<post::Entity, _>(&db)
        .await
        .unwrap();
    assert_eq!((again.written, again.drift), (0, 0), "found once");

    // Now the trail knows the row: its delete is logged, from what backfill saw.
    let row = post::reload(&db, id).await;
    ctx().scope(row.delete(&db)).await.unwrap();
    let trail = history(&db, "post", id).await.unwrap();
    assert_eq!(trail.len(), 4);
    assert_eq!(trail[3].action.as_str(), "deleted");
    assert_eq!(trail[3].changes.get("title").unwrap().old, json!("Back"));

    // Inserted again and deleted through the hooks before any backfill: nothing to tell
    // it from a second delete of a deleted row.
    reinsert("Twice").await.unwrap();
    let row = post::reload(&db, id).await;
    let (deleted, warned) = warnings_of(ctx().scope(row.delete(&db))).await;
    deleted.unwrap();
    assert!(
        warned.contains("says it was deleted already"),
        "a warning, not silence: {warned:?}"
    );
    assert_eq!(history(&db, "post", id).await.unwrap().len(), 4);
    assert!(
        post::Entity::find_by_id(id)
            .one(&db)
            .await
            .unwrap()
            .is_none()
    );
}

/// A key used again after its record's first versions were pruned: the create is numbered
/// after the versions kept (not 1 again), so the trail goes on saying what the row is.
async fn a_key_used_again_after_a_prune(db: DatabaseConnection) {
    use audit_tests::label;
    let label = |color: &str| label::ActiveModel {
        name: Set("x".into()),
        color: Set(color.into()),
    };
    label("a").insert(&db).await.unwrap();
    label("b").update(&db).await.unwrap();
    label("c").update(&db).await.unwrap();
    let row = label::Entity::find_by_id("x")
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    ctx().scope(row.delete(&db)).await.unwrap();
    let keep = audit_seaorm::Retention::new().keep_versions(2);
    audit_seaorm::prune(&db, &keep).await.unwrap();
    let numbers = |db: DatabaseConnection| async move {
        versions(&db, "labels", "x")
            .await
            .unwrap()
            .iter()
            .map(|v| (v.version, v.event.as_str().to_owned()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        numbers(db.clone()).await,
        [(3, "updated".to_owned()), (4, "deleted".to_owned())]
    );
    ctx().scope(label("d").insert(&db)).await.unwrap();
    assert_eq!(
        numbers(db.clone()).await.last(),
        Some(&(5, "created".to_owned()))
    );
    let row = label::Entity::find_by_id("x")
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    ctx().scope(row.delete(&db)).await.unwrap();
    let trail = history(&db, "labels", "x").await.unwrap();
    let last = trail.last().unwrap();
    assert_eq!(last.action.as_str(), "deleted");
    assert_eq!(last.changes.get("color").unwrap().old, json!("d"));
}

/// An update that changes no value, in a transaction whose snapshot is older than the
/// latest version (MySQL's REPEATABLE READ): SeaORM reads the row back from that snapshot,
/// so the model holds values a newer version changed. They are not drift, and the trail
/// keeps the newer values.
async fn an_unchanging_update_in_an_older_snapshot(db: DatabaseConnection) {
    let p = post::new("t", "s").insert(&db).await.unwrap();
    let older = db.begin().await.unwrap();
    let seen = post::Entity::find_by_id(p.id)
        .one(&older)
        .await
        .unwrap()
        .unwrap();
    post::ActiveModel {
        id: Set(p.id),
        title: Set("t2".into()),
        ..Default::default()
    }
    .update(&db)
    .await
    .unwrap();
    post::ActiveModel {
        id: Set(p.id),
        slug: Set(seen.slug.clone()),
        ..Default::default()
    }
    .update(&older)
    .await
    .unwrap();
    older.commit().await.unwrap();
    let vs = versions(&db, "post", p.id).await.unwrap();
    assert_eq!(vs.last().unwrap().data["title"], json!("t2"), "{vs:?}");
    let drift = activity(&db, &Filter::new().action("drift")).await.unwrap();
    assert!(drift.items.is_empty(), "{:?}", drift.items);
}

/// A field redacted after versions were written with its value (until `redact_history`
/// scrubs them): a delete's version, which copies the latest state, leaves it out.
async fn a_delete_leaves_out_a_field_redacted_since(db: DatabaseConnection) {
    use audit_seaorm::entity::versions as versions_table;
    let p = post::new("Hi", "hi").insert(&db).await.unwrap();
    // As if written before `api_token` was marked `redact`.
    let mut data = versions(&db, "post", p.id).await.unwrap()[0].data.clone();
    data.insert("api_token".into(), json!("secret-then"));
    versions_table::Entity::update_many()
        .col_expr(
            versions_table::Column::Data,
            Expr::value(serde_json::Value::Object(data)),
        )
        .filter(versions_table::Column::SubjectId.eq(p.id.to_string()))
        .exec(&db)
        .await
        .unwrap();
    let id = p.id;
    ctx().scope(p.delete(&db)).await.unwrap();
    let vs = versions(&db, "post", id).await.unwrap();
    assert_eq!(vs.len(), 2);
    assert_eq!(vs[1].event.as_str(), "deleted");
    assert!(vs[1].data.get("api_token").is_none(), "{:?}", vs[1].data);
    assert_eq!(vs[1].data["title"], json!("Hi"));
    let trail = history(&db, "post", id).await.unwrap();
    let token = trail[1].changes.get("api_token").unwrap();
    assert_eq!(token.old, json!(audit_seaorm::REDACTED));
}

/// A field the trail's versions do not hold yet (added to the model after they were
/// written) that is still null: no change, on every backend (it is not a change from
/// "missing" to `null`, nor drift).
async fn a_new_null_field_is_no_change(db: DatabaseConnection) {
    use sea_orm::{ConnectionTrait, DbBackend};
    let p = post::new("Hi", "hi").insert(&db).await.unwrap();
    let sql = match audit_tests::backend_of(&db) {
        DbBackend::Postgres => {
            r#"UPDATE "versions" SET "data" = "data" - 'published_at' WHERE "subject_type" = 'post'"#
        }
        DbBackend::MySql => {
            "UPDATE `versions` SET `data` = JSON_REMOVE(`data`, '$.published_at') WHERE `subject_type` = 'post'"
        }
        _ => {
            r#"UPDATE "versions" SET "data" = json_remove("data", '$.published_at') WHERE "subject_type" = 'post'"#
        }
    };
    assert_eq!(db.execute_unprepared(sql).await.unwrap().rows_affected(), 1);
    let vs = versions(&db, "post", p.id).await.unwrap();
    assert!(vs[0].data.get("published_at").is_none(), "{:?}", vs[0].data);

    let am = post::ActiveModel {
        id: Set(p.id),
        title: Set("Hello".into()),
        ..Default::default()
    };
    ctx().scope(am.update(&db)).await.unwrap();
    let trail = history(&db, "post", p.id).await.unwrap();
    let actions: Vec<&str> = trail.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["created", "updated"]);
    assert_eq!(
        serde_json::to_value(&trail[1].changes).unwrap(),
        json!({"title": {"old": "Hi", "new": "Hello"}})
    );
    let vs = versions(&db, "post", p.id).await.unwrap();
    assert_eq!(vs[1].data["published_at"], json!(null));
}

/// A transaction whose snapshot predates a row's creation (MySQL's REPEATABLE READ
/// snapshot is taken at its first read) updates and deletes that row: both are logged
/// with the row's real old state, not taken for writes of a row without a version.
async fn writes_after_an_older_snapshot(db: DatabaseConnection) {
    use sea_orm::{ConnectionTrait, Statement};
    post::new("older", "older").insert(&db).await.unwrap(); // the type has its baseline
    async fn snapshot(txn: &DatabaseTransaction) {
        let sql = Statement::from_string(txn.get_database_backend(), "SELECT COUNT(*) FROM posts");
        txn.query_one_raw(sql).await.unwrap();
    }

    let txn = db.begin().await.unwrap();
    snapshot(&txn).await;
    let p = post::new("new", "new").insert(&db).await.unwrap(); // another connection
    let am = post::ActiveModel {
        id: Set(p.id),
        title: Set("renamed".into()),
        ..Default::default()
    };
    ctx().scope(am.update(&txn)).await.unwrap();
    txn.commit().await.unwrap();

    let txn = db.begin().await.unwrap();
    snapshot(&txn).await;
    let q = post::new("doomed", "doomed").insert(&db).await.unwrap();
    let am = post::ActiveModel {
        id: Set(q.id),
        ..Default::default()
    };
    ctx().scope(am.delete(&txn)).await.unwrap();
    txn.commit().await.unwrap();

    let trail = history(&db, "post", p.id).await.unwrap();
    let actions: Vec<&str> = trail.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["created", "updated"]);
    assert_eq!(
        serde_json::to_value(&trail[1].changes).unwrap(),
        json!({"title": {"old": "new", "new": "renamed"}})
    );
    assert_eq!(trail[1].properties, None);
    let trail = history(&db, "post", q.id).await.unwrap();
    let actions: Vec<&str> = trail.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["created", "deleted"]);
    assert_eq!(trail[1].changes.get("title").unwrap().old, json!("doomed"));
    let numbers: Vec<i64> = versions(&db, "post", q.id)
        .await
        .unwrap()
        .iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(numbers, [1, 2]);

    // The older snapshot holds a version that the write happens to match: a rename back
    // (`v2` → `v1`, while the snapshot still says `v1`) is a change all the same.
    let r = post::new("v1", "back").insert(&db).await.unwrap();
    let txn = db.begin().await.unwrap();
    snapshot(&txn).await;
    let v1_seen = versions(&txn, "post", r.id).await.unwrap();
    assert_eq!(v1_seen.len(), 1);
    let rename = |title: &str| post::ActiveModel {
        id: Set(r.id),
        title: Set(title.into()),
        ..Default::default()
    };
    rename("v2").update(&db).await.unwrap(); // another connection, committed
    ctx().scope(rename("v1").update(&txn)).await.unwrap();
    txn.commit().await.unwrap();
    let trail = history(&db, "post", r.id).await.unwrap();
    let actions: Vec<&str> = trail.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["created", "updated", "updated"]);
    assert_eq!(
        serde_json::to_value(&trail[2].changes).unwrap(),
        json!({"title": {"old": "v2", "new": "v1"}})
    );
    assert_eq!(trail[2].causer_id.as_deref(), Some("42"));
    let vs = versions(&db, "post", r.id).await.unwrap();
    assert_eq!(vs.iter().map(|v| v.version).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(vs[2].data["title"], json!("v1"));
}

/// Values that would end or escape a quoted literal are stored as they are, in the
/// version, the diff and the context, whatever the MySQL/MariaDB session's `sql_mode` says
/// about backslashes (there the audit rows go out as text with the values written in).
async fn quotes_and_backslashes_stay_what_they_are(db: DatabaseConnection) {
    let nasty = [
        r"it's",
        r"back\slash",
        r"\'); DELETE FROM versions; -- ",
        "\\",
        "'",
        "\"double\" and 🚀 and \u{1a}",
        "",
    ];
    let txn = db.begin().await.unwrap();
    if audit_tests::backend_of(&db) == sea_orm::DbBackend::MySql {
        use sea_orm::ConnectionTrait;
        txn.execute_unprepared(
            "SET SESSION sql_mode = CONCAT(@@SESSION.sql_mode, ',NO_BACKSLASH_ESCAPES')",
        )
        .await
        .unwrap();
    }
    let agent = "agent 'quoted' \\ ";
    let ctx = AuditContext::new()
        .causer(r"o'neil\")
        .request_id(r"req\'1")
        .user_agent(agent);
    let first = ctx
        .clone()
        .scope(post::new(nasty[0], nasty[1]).insert(&txn))
        .await
        .unwrap();
    let mut previous = (nasty[0], nasty[1]);
    for pair in nasty.windows(2) {
        let am = post::ActiveModel {
            id: Set(first.id),
            title: Set(pair[1].to_owned()),
            slug: Set(pair[0].to_owned()),
            ..Default::default()
        };
        ctx.clone().scope(am.update(&txn)).await.unwrap();
        let trail = history(&txn, "post", first.id).await.unwrap();
        let last = trail.last().unwrap();
        assert_eq!(last.causer_id.as_deref(), Some(r"o'neil\"));
        assert_eq!(last.request_id.as_deref(), Some(r"req\'1"));
        assert_eq!(last.user_agent.as_deref(), Some(agent));
        let changes = serde_json::to_value(&last.changes).unwrap();
        assert_eq!(changes["title"], json!({"old": previous.0, "new": pair[1]}));
        if previous.1 != pair[0] {
            assert_eq!(changes["slug"], json!({"old": previous.1, "new": pair[0]}));
        }
        let vs = versions(&txn, "post", first.id).await.unwrap();
        let latest = vs.last().unwrap();
        assert_eq!(latest.data["title"], json!(pair[1]));
        assert_eq!(latest.data["slug"], json!(pair[0]));
        assert_eq!(last.version_id, Some(latest.id));
        previous = (pair[1], pair[0]);
    }
    txn.commit().await.unwrap();
    let numbers: Vec<i64> = versions(&db, "post", first.id)
        .await
        .unwrap()
        .iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(numbers, (1..=nasty.len() as i64).collect::<Vec<_>>());
}

backend_tests!(
    quotes_and_backslashes_stay_what_they_are,
    a_new_null_field_is_no_change,
    recreated_row_shows_the_unseen_delete,
    reinserted_row_is_found_by_backfill,
    a_delete_leaves_out_a_field_redacted_since,
    a_key_used_again_after_a_prune,
    outside_change_is_drift,
    drift_only_write,
    update_without_returning,
    two_connections_one_task,
    tasks_move_threads,
);

/// SQLite outside a transaction: the statements of a delete's call commit one by one,
/// and another connection may insert the row again between them (here a trigger does, as
/// the `deleted` version goes in). The version and its entry still go together.
async fn a_row_back_between_a_deletes_statements(db: DatabaseConnection) {
    use sea_orm::ConnectionTrait;
    let p = post::new("a", "a").insert(&db).await.unwrap();
    db.execute_unprepared(
        r#"CREATE TRIGGER "back" AFTER INSERT ON "versions" WHEN NEW."event" = 'deleted'
           BEGIN
             INSERT INTO "posts" ("id", "title", "slug", "api_token", "view_count")
             VALUES (NEW."subject_id", 'back', 'back', '', 0);
           END"#,
    )
    .await
    .unwrap();
    let id = p.id;
    p.delete(&db).await.unwrap();
    let vs = versions(&db, "post", id).await.unwrap();
    assert_eq!(vs.last().unwrap().event.as_str(), "deleted", "{vs:?}");
    let trail = history(&db, "post", id).await.unwrap();
    let last = trail.last().unwrap();
    assert_eq!(last.action.as_str(), "deleted", "{trail:?}");
    assert_eq!(last.version_id, Some(vs.last().unwrap().id));
}

mod a_row_back_between_a_deletes_statements {
    audit_tests::__backend_test!(
        a_row_back_between_a_deletes_statements,
        sqlite,
        Sqlite,
        "_s"
    );
}

server_backend_tests!(
    an_unchanging_update_in_an_older_snapshot,
    cancelled_write,
    long_lock_wait,
    writes_after_an_older_snapshot
);
