//! An existing entity with hooks of its own, audited through `#[audit_seaorm::behavior]`.

use audit_seaorm::history;
use audit_tests::{backend_tests, cli_cake};
use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, Set};
use serde_json::json;

/// The application's `before_save` runs first: the trail holds the slug it set.
async fn own_before_save_runs_first(db: DatabaseConnection) {
    let cake = cli_cake::ActiveModel {
        name: Set("Lemon Tart".into()),
        slug: Set(String::new()),
        ..Default::default()
    }
    .insert(&db)
    .await
    .unwrap();
    assert_eq!(cake.slug, "lemon-tart");
    let trail = history(&db, "cli_cake", cake.id).await.unwrap();
    assert_eq!(trail.len(), 1);
    assert_eq!(
        trail[0].changes.get("slug").unwrap().new,
        json!("lemon-tart")
    );
}

/// The application's `after_save` fails after the write succeeded (outside a transaction,
/// so the row stays): the write is logged all the same, since the audit hook ran first.
async fn failing_own_after_save_leaves_no_gap(db: DatabaseConnection) {
    let cake = cli_cake::ActiveModel {
        name: Set("Plain".into()),
        slug: Set(String::new()),
        ..Default::default()
    }
    .insert(&db)
    .await
    .unwrap();
    let err = cli_cake::ActiveModel {
        id: Set(cake.id),
        name: Set("fail after save".into()),
        ..Default::default()
    }
    .update(&db)
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("after_save of the application failed"),
        "{err}"
    );
    let row = cli_cake::Entity::find_by_id(cake.id)
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.name, "fail after save");
    let trail = history(&db, "cli_cake", cake.id).await.unwrap();
    assert_eq!(trail.len(), 2);
    assert_eq!(
        trail[1].changes.get("name").unwrap().new,
        json!("fail after save")
    );
    assert_eq!(
        trail[1].changes.get("slug").unwrap().new,
        json!("fail-after-save")
    );
}

backend_tests!(
    own_before_save_runs_first,
    failing_own_after_save_leaves_no_gap
);
