//! Nothing waits between the hooks once the writes are done (its own binary: the count is
//! process-wide).

use audit_seaorm::hooks::pending_writes;
use audit_seaorm::versions;
use audit_tests::{Backend, fresh_db, post};
use sea_orm::{ActiveModelTrait, Set};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_writes_leave_nothing_pending() {
    let db = fresh_db(Backend::Sqlite, "pending").await.unwrap();
    let db = db.connection();
    let p = post::new("t", "s").insert(&db).await.unwrap();
    for i in 0..10_000 {
        post::ActiveModel {
            id: Set(p.id),
            title: Set(format!("t{i}")),
            ..Default::default()
        }
        .update(&db)
        .await
        .unwrap();
    }
    assert_eq!(pending_writes(), 0);
    assert_eq!(versions(&db, "post", p.id).await.unwrap().len(), 10_001);
}
