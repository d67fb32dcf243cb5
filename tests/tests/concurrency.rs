//! Concurrent transactions on one row: diffs chain, versions have no gap.

use audit_seaorm::{history, versions};
use audit_tests::{backend_tests, post, until_a_lock_wait};
use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, Set, TransactionTrait};
use serde_json::{Map, Value};

const WRITERS: usize = 8;
const ROUNDS: usize = 3;

async fn concurrent_updates_chain(db: DatabaseConnection) {
    let p = post::new("t0", "s").insert(&db).await.unwrap();
    let id = p.id;
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            for r in 0..ROUNDS {
                let txn = db.begin().await.unwrap();
                let am = post::ActiveModel {
                    id: Set(id),
                    title: Set(format!("w{w}-r{r}")),
                    ..Default::default()
                };
                am.update(&txn).await.unwrap();
                txn.commit().await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }

    let trail = history(&db, "post", id).await.unwrap();
    assert_eq!(trail.len(), 1 + WRITERS * ROUNDS);
    // Each diff's old equals the previous diff's new.
    let mut state = Map::new();
    for (i, entry) in trail.iter().enumerate() {
        if i > 0 {
            let title = entry.changes.get("title").expect("title changed");
            assert_eq!(
                Some(&title.old),
                state.get("title"),
                "entry {i} does not chain"
            );
        }
        entry.changes.apply(&mut state);
    }
    // Replaying the diffs rebuilds the final row.
    let row = post::reload(&db, id).await;
    assert_eq!(state["title"], Value::from(row.title.clone()));
    assert_eq!(state["slug"], Value::from(row.slug.clone()));
    // Versions 1..=N, no gap, no duplicate; the last one is the final row.
    let vs = versions(&db, "post", id).await.unwrap();
    let numbers: Vec<i64> = vs.iter().map(|v| v.version).collect();
    assert_eq!(
        numbers,
        (1..=(1 + WRITERS * ROUNDS) as i64).collect::<Vec<_>>()
    );
    assert_eq!(vs.last().unwrap().data["title"], Value::from(row.title));
}

/// Concurrent inserts of different rows: each gets its "created" entry and version 1, and
/// no transaction fails (no lock conflict between different subjects).
async fn concurrent_inserts_of_new_rows(db: DatabaseConnection) {
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for r in 0..ROUNDS * 2 {
                let txn = db.begin().await.unwrap();
                let p = post::new(&format!("w{w}-r{r}"), &format!("w{w}-r{r}"))
                    .insert(&txn)
                    .await
                    .unwrap();
                let mut am: post::ActiveModel = p.into();
                am.title = Set(format!("w{w}-r{r}-edited"));
                let p = am.update(&txn).await.unwrap();
                txn.commit().await.unwrap();
                ids.push(p.id);
            }
            ids
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    assert_eq!(all.len(), WRITERS * ROUNDS * 2);
    for id in all {
        let vs = versions(&db, "post", id).await.unwrap();
        assert_eq!(vs.iter().map(|v| v.version).collect::<Vec<_>>(), [1, 2]);
    }
}

/// A transaction whose snapshot predates another writer's commit still numbers its version
/// after that writer's (MySQL's REPEATABLE READ: the stale number is detected and re-read).
async fn stale_snapshot_numbers_correctly(db: DatabaseConnection) {
    let p = post::new("v1", "s").insert(&db).await.unwrap();
    // SQLite in memory has one connection: the two transactions cannot overlap there.
    let overlap = db.get_database_backend() != sea_orm::DbBackend::Sqlite;
    let txn_b = if overlap {
        Some(db.begin().await.unwrap())
    } else {
        None
    };
    if let Some(txn) = &txn_b {
        // B reads first: its snapshot is taken now.
        assert!(versions(txn, "post", p.id).await.unwrap().len() == 1);
    }
    let txn_a = db.begin().await.unwrap();
    let am = post::ActiveModel {
        id: Set(p.id),
        title: Set("v2".into()),
        ..Default::default()
    };
    am.update(&txn_a).await.unwrap();
    txn_a.commit().await.unwrap();
    let am = post::ActiveModel {
        id: Set(p.id),
        title: Set("v3".into()),
        ..Default::default()
    };
    match txn_b {
        Some(txn) => {
            am.update(&txn).await.unwrap();
            txn.commit().await.unwrap();
        }
        None => {
            am.update(&db).await.unwrap();
        }
    }
    let vs = versions(&db, "post", p.id).await.unwrap();
    assert_eq!(vs.iter().map(|v| v.version).collect::<Vec<_>>(), [1, 2, 3]);
    let trail = history(&db, "post", p.id).await.unwrap();
    assert_eq!(trail[2].changes.get("title").unwrap().old, "v2");
}

/// An update whose transaction's snapshot predates another writer's commit, setting a
/// field to the value that writer committed, changes nothing: nothing is logged for it
/// (MySQL's REPEATABLE READ: SeaORM's read-back after such an update returns the row as
/// the snapshot saw it, not as it is).
async fn stale_update_changing_nothing(db: DatabaseConnection) {
    let p = post::new("pending", "s").insert(&db).await.unwrap();
    let txn_b = db.begin().await.unwrap();
    // B reads first: its snapshot is taken now.
    post::Entity::find_by_id(p.id).one(&txn_b).await.unwrap();
    let set_title = |title: &str| post::ActiveModel {
        id: Set(p.id),
        title: Set(title.into()),
        ..Default::default()
    };
    let txn_a = db.begin().await.unwrap();
    set_title("approved").update(&txn_a).await.unwrap();
    txn_a.commit().await.unwrap();
    set_title("approved").update(&txn_b).await.unwrap();
    txn_b.commit().await.unwrap();
    assert_eq!(post::reload(&db, p.id).await.title, "approved");
    let vs = versions(&db, "post", p.id).await.unwrap();
    assert_eq!(vs.iter().map(|v| v.version).collect::<Vec<_>>(), [1, 2]);
    let trail = history(&db, "post", p.id).await.unwrap();
    assert_eq!(trail.len(), 2, "{trail:?}");
    // The next write diffs against the row as it is: no drift.
    set_title("published").update(&db).await.unwrap();
    let trail = history(&db, "post", p.id).await.unwrap();
    assert_eq!(trail.len(), 3, "{trail:?}");
    let title = trail[2].changes.get("title").unwrap();
    assert_eq!(
        (&title.old, &title.new),
        (&Value::from("approved"), &Value::from("published"))
    );
}

/// Explicit snapshots of one subject from two transactions at once: the second waits for
/// the first's number, then takes the next one instead of failing on it.
async fn explicit_snapshots_take_turns(db: DatabaseConnection) {
    use audit_seaorm::snapshot;
    let data = serde_json::json!({"n": 0});
    snapshot(&db, "ledger", "x", &data).await.unwrap();
    let first = db.begin().await.unwrap();
    assert_eq!(
        snapshot(&first, "ledger", "x", &data)
            .await
            .unwrap()
            .version,
        2
    );
    let second = {
        let db = db.clone();
        tokio::spawn(
            async move { snapshot(&db, "ledger", "x", &serde_json::json!({"n": 1})).await },
        )
    };
    until_a_lock_wait(&db).await;
    first.commit().await.unwrap();
    assert_eq!(second.await.unwrap().unwrap().version, 3);
    let vs = versions(&db, "ledger", "x").await.unwrap();
    assert_eq!(vs.iter().map(|v| v.version).collect::<Vec<_>>(), [1, 2, 3]);
}

/// A hooked update whose number an explicit snapshot of the same record took first (its
/// transaction still open when the update's audit statement runs) waits for it, then
/// takes the next number and diffs against the snapshot's state, instead of failing on
/// the unique index.
async fn hooked_write_after_an_explicit_snapshot(db: DatabaseConnection) {
    use audit_seaorm::snapshot;
    let p = post::new("v1", "s").insert(&db).await.unwrap();
    let mut state = versions(&db, "post", p.id).await.unwrap()[0].data.clone();
    let first = db.begin().await.unwrap();
    state["title"] = "by the snapshot".into();
    assert_eq!(
        snapshot(&first, "post", p.id, &Value::Object(state))
            .await
            .unwrap()
            .version,
        2
    );
    let update = {
        let db = db.clone();
        tokio::spawn(async move {
            let txn = db.begin().await?;
            post::ActiveModel {
                id: Set(p.id),
                title: Set("by the update".into()),
                ..Default::default()
            }
            .update(&txn)
            .await?;
            txn.commit().await
        })
    };
    until_a_lock_wait(&db).await;
    first.commit().await.unwrap();
    update.await.unwrap().unwrap();
    let vs = versions(&db, "post", p.id).await.unwrap();
    assert_eq!(vs.iter().map(|v| v.version).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(vs[2].data["title"], "by the update");
    let trail = history(&db, "post", p.id).await.unwrap();
    let last = trail.last().unwrap();
    assert_eq!(last.version_id, Some(vs[2].id));
    let title = last.changes.get("title").unwrap();
    assert_eq!(
        (title.old.clone(), title.new.clone()),
        ("by the snapshot".into(), "by the update".into())
    );
}

/// PostgreSQL: a hooked update in a REPEATABLE READ transaction whose version number an
/// explicit snapshot committed after the transaction's snapshot took fails, and the caller
/// gets the database's own error (SQLSTATE 40001, what a retry loop looks for), not a
/// message in a `DbErr::Custom`. Nothing of the failed write is left.
async fn serialization_failure_reaches_caller(db: DatabaseConnection) {
    use sea_orm::{DbErr, IsolationLevel, RuntimeErr};
    let p = post::new("v1", "s").insert(&db).await.unwrap();
    let txn = db
        .begin_with_config(Some(IsolationLevel::RepeatableRead), None)
        .await
        .unwrap();
    // The transaction's snapshot is taken by its first read.
    assert_eq!(versions(&txn, "post", p.id).await.unwrap().len(), 1);
    audit_seaorm::snapshot(&db, "post", p.id, &serde_json::json!({"title": "v1"}))
        .await
        .unwrap();
    let am = post::ActiveModel {
        id: Set(p.id),
        title: Set("v2".into()),
        ..Default::default()
    };
    let err = am.update(&txn).await.unwrap_err();
    let code = match &err {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => e
            .as_database_error()
            .and_then(|d| d.code())
            .map(|c| c.into_owned()),
        _ => None,
    };
    assert_eq!(code.as_deref(), Some("40001"), "{err:?}");
    txn.rollback().await.unwrap();
    let vs = versions(&db, "post", p.id).await.unwrap();
    assert_eq!(vs.iter().map(|v| v.version).collect::<Vec<_>>(), [1, 2]);
    // The creation's entry only: a snapshot writes a version alone.
    assert_eq!(history(&db, "post", p.id).await.unwrap().len(), 1);
}

audit_tests::postgres_tests!(serialization_failure_reaches_caller);

audit_tests::server_backend_tests!(
    explicit_snapshots_take_turns,
    hooked_write_after_an_explicit_snapshot,
    stale_update_changing_nothing
);

backend_tests!(
    concurrent_updates_chain,
    concurrent_inserts_of_new_rows,
    stale_snapshot_numbers_correctly
);

/// SQLite through a pool of connections to one file (what an app on SQLite runs): eight
/// tasks updating one row in transactions all succeed, and the diffs chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooled_sqlite_file() {
    let (db, _dir) = audit_tests::pooled_sqlite_file("pool").await;
    concurrent_updates_chain(db.clone()).await;
    // The usual shape: read the row in the transaction, then write it. SQLite's default
    // transaction cannot wait to upgrade its read lock: `begin_write` begins IMMEDIATE.
    let p = post::new("r0", "r").insert(&db).await.unwrap();
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            for r in 0..ROUNDS {
                let txn = audit_seaorm::begin_write(&db).await.unwrap();
                let row = post::Entity::find_by_id(p.id)
                    .one(&txn)
                    .await
                    .unwrap()
                    .unwrap();
                let mut am: post::ActiveModel = row.into();
                am.title = Set(format!("w{w}-r{r}"));
                am.update(&txn).await.unwrap();
                txn.commit().await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        history(&db, "post", p.id).await.unwrap().len(),
        1 + WRITERS * ROUNDS
    );
    db.close().await.unwrap();
}
