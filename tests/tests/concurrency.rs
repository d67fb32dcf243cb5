//! Concurrent transactions on one row: diffs chain, versions have no gap.

use audit_seaorm::{history, versions};
use audit_tests::{backend_tests, post};
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
    let row = post::Entity::find_by_id(id)
        .one(&db)
        .await
        .unwrap()
        .unwrap();
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

backend_tests!(concurrent_updates_chain);
