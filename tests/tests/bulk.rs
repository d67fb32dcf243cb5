//! Bulk writes through the trail: `insert_many_audited`, `update_many_audited`,
//! `delete_many_audited` and `delete_by_id_audited` log each affected row as a hooked
//! write would, in batches, in one transaction.

use audit_seaorm::{
    AuditContext, AuditedBulk, AuditedEntity, BulkWrite, Error, REDACTED, activity, history,
    versions, without_auditing,
};
use audit_tests::{
    backend_tests, mysql_tests, post, postgres_tests, server_backend_tests, translation,
    until_a_lock_wait,
};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QuerySelect, Set, TransactionTrait,
};
use serde_json::{Value, json};

fn ctx() -> AuditContext {
    AuditContext::new()
        .causer("7")
        .request_id("bulk-1")
        .ip("10.0.0.9".parse::<std::net::IpAddr>().unwrap())
}

async fn posts(db: &DatabaseConnection, n: usize) -> Vec<post::Model> {
    let models = (0..n).map(|i| post::new(&format!("t{i}"), &format!("s{i}")));
    ctx()
        .scope(post::Entity::insert_many_audited(models).exec(db))
        .await
        .unwrap();
    post::Entity::find().all(db).await.unwrap()
}

async fn audit_rows(db: &DatabaseConnection) -> (u64, u64) {
    use audit_seaorm::entity::{activity_log, versions as v};
    (
        activity_log::Entity::find().count(db).await.unwrap(),
        v::Entity::find().count(db).await.unwrap(),
    )
}

fn changes(entry: &audit_seaorm::ActivityEntry) -> Value {
    serde_json::to_value(&entry.changes).unwrap()
}

/// Each inserted row gets `created` with its whole diff (redacted shown as such, skipped
/// left out), version 1 and the context's attribution.
async fn insert_many_logs_each_row(db: DatabaseConnection) {
    let done = ctx()
        .scope(
            post::Entity::insert_many_audited(
                (0..3).map(|i| post::new(&format!("t{i}"), &format!("s{i}"))),
            )
            .exec(&db),
        )
        .await
        .unwrap();
    assert_eq!((done.rows, done.entries, done.versions), (3, 3, 3));
    let rows = post::Entity::find().all(&db).await.unwrap();
    assert_eq!(rows.len(), 3);
    for row in &rows {
        let trail = history(&db, "post", row.id).await.unwrap();
        assert_eq!(trail.len(), 1);
        let e = &trail[0];
        assert_eq!(e.action.as_str(), "created");
        assert_eq!(e.causer_id.as_deref(), Some("7"));
        assert_eq!(e.request_id.as_deref(), Some("bulk-1"));
        assert_eq!(e.ip.as_deref(), Some("10.0.0.9"));
        assert_eq!(
            changes(e),
            json!({
                "id": {"old": null, "new": row.id},
                "title": {"old": null, "new": row.title},
                "slug": {"old": null, "new": row.slug},
                "api_token": {"old": null, "new": REDACTED},
                "published_at": {"old": null, "new": null},
            })
        );
        let vs = versions(&db, "post", row.id).await.unwrap();
        assert_eq!(vs.len(), 1);
        assert_eq!(vs[0].version, 1);
        assert_eq!(e.version_id, Some(vs[0].id));
        assert_eq!(vs[0].data["title"], json!(row.title));
        assert!(vs[0].data.get("api_token").is_none());
        assert!(vs[0].data.get("view_count").is_none());
    }
}

/// An update names exactly what it changed per row; rows it does not match, and matched
/// rows whose audited fields do not change, get nothing.
async fn update_many_logs_exact_diffs(db: DatabaseConnection) {
    let rows = posts(&db, 4).await;
    let ids: Vec<i32> = rows.iter().map(|r| r.id).collect();
    // Row 0 already has the title the update sets: matched, not changed.
    let done = ctx()
        .scope(
            post::Entity::update_many_audited()
                .col_expr(post::Column::Title, Expr::value("t0"))
                .filter(post::Column::Id.is_in(ids[..3].to_vec()))
                .exec(&db),
        )
        .await
        .unwrap();
    assert_eq!(done.rows, 3);
    assert_eq!((done.entries, done.versions), (2, 2));
    for (i, id) in ids.iter().enumerate() {
        let trail = history(&db, "post", *id).await.unwrap();
        if i == 0 || i == 3 {
            assert_eq!(trail.len(), 1, "row {i} has only its create");
            continue;
        }
        let e = &trail[1];
        assert_eq!(e.action.as_str(), "updated");
        assert_eq!(e.causer_id.as_deref(), Some("7"));
        assert_eq!(
            changes(e),
            json!({"title": {"old": format!("t{i}"), "new": "t0"}})
        );
        let vs = versions(&db, "post", *id).await.unwrap();
        assert_eq!(vs.iter().map(|v| v.version).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(vs[1].data["title"], json!("t0"));
        assert_eq!(e.version_id, Some(vs[1].id));
    }
    assert_eq!(post::reload(&db, ids[3]).await.title, "t3");
}

/// A redacted field set by the update is reported without its values; a skipped field
/// is not logged, and an update of nothing but skipped fields logs nothing.
async fn update_many_redacts_and_skips(db: DatabaseConnection) {
    let rows = posts(&db, 2).await;
    let done = post::Entity::update_many_audited()
        .col_expr(
            post::Column::ViewCount,
            Expr::col(post::Column::ViewCount).add(1),
        )
        .exec(&db)
        .await
        .unwrap();
    assert_eq!((done.rows, done.entries, done.versions), (2, 0, 0));
    let done = post::Entity::update_many_audited()
        .set(post::ActiveModel {
            api_token: Set("secret-2".into()),
            view_count: Set(9),
            ..Default::default()
        })
        .exec(&db)
        .await
        .unwrap();
    assert_eq!((done.rows, done.entries), (2, 2));
    for row in &rows {
        let trail = history(&db, "post", row.id).await.unwrap();
        assert_eq!(
            changes(&trail[1]),
            json!({"api_token": {"old": REDACTED, "new": REDACTED}})
        );
        let stored = post::reload(&db, row.id).await;
        assert_eq!(
            (stored.api_token.as_str(), stored.view_count),
            ("secret-2", 9)
        );
    }
    // The secret is in no audit table.
    let all = serde_json::to_string(&activity(&db, &Default::default()).await.unwrap()).unwrap();
    assert!(!all.contains("secret-2"));
}

/// A call that matches no row writes nothing and logs nothing.
async fn nothing_affected_logs_nothing(db: DatabaseConnection) {
    posts(&db, 2).await;
    let before = audit_rows(&db).await;
    let none = post::Entity::update_many_audited()
        .col_expr(post::Column::Title, Expr::value("x"))
        .filter(post::Column::Id.eq(-1))
        .exec(&db)
        .await
        .unwrap();
    assert_eq!(none, BulkWrite::default());
    let none = post::Entity::delete_many_audited()
        .filter(post::Column::Slug.eq("no such slug"))
        .exec(&db)
        .await
        .unwrap();
    assert_eq!(none, BulkWrite::default());
    let none = post::Entity::insert_many_audited(Vec::new())
        .exec(&db)
        .await
        .unwrap();
    assert_eq!(none, BulkWrite::default());
    assert_eq!(audit_rows(&db).await, before);
}

/// Deletes log `deleted` with every audited field to null and a last version holding the
/// last state, from which the row can be restored.
async fn delete_many_and_by_id(db: DatabaseConnection) {
    let rows = posts(&db, 3).await;
    let done = ctx()
        .scope(
            post::Entity::delete_many_audited()
                .filter(post::Column::Id.ne(rows[2].id))
                .exec(&db),
        )
        .await
        .unwrap();
    assert_eq!((done.rows, done.entries, done.versions), (2, 2, 2));
    let done = post::Entity::delete_by_id_audited(rows[2].id)
        .exec(&db)
        .await
        .unwrap();
    assert_eq!(done.rows, 1);
    assert_eq!(post::Entity::find().count(&db).await.unwrap(), 0);
    for row in &rows {
        let trail = history(&db, "post", row.id).await.unwrap();
        let e = trail.last().unwrap();
        assert_eq!(e.action.as_str(), "deleted");
        assert_eq!(
            changes(e),
            json!({
                "id": {"old": row.id, "new": null},
                "title": {"old": row.title, "new": null},
                "slug": {"old": row.slug, "new": null},
                "api_token": {"old": REDACTED, "new": null},
                "published_at": {"old": null, "new": null},
            })
        );
        let vs = versions(&db, "post", row.id).await.unwrap();
        assert_eq!(vs.len(), 2);
        assert_eq!(vs[1].event.as_str(), "deleted");
        assert_eq!(vs[1].data["title"], json!(row.title));
    }
    // A second delete of the same rows finds nothing.
    let again = post::Entity::delete_by_id_audited(rows[0].id)
        .exec(&db)
        .await
        .unwrap();
    assert_eq!(again, BulkWrite::default());
    // Deleted rows come back from their last version (redacted field: its default).
    let vs = versions(&db, "post", rows[0].id).await.unwrap();
    let restored = post::Entity::restore(&db, vs[0].id).await.unwrap();
    assert_eq!(restored.title, rows[0].title);
}

/// Composite keys: inserted, updated and deleted in bulk, each row its own subject.
async fn composite_keys(db: DatabaseConnection) {
    let models = ["en", "fr", "de"].map(|l| translation::ActiveModel {
        post_id: Set(1),
        locale: Set(l.into()),
        body: Set(format!("body {l}")),
    });
    let done = translation::Entity::insert_many_audited(models)
        .exec(&db)
        .await
        .unwrap();
    assert_eq!((done.rows, done.entries), (3, 3));
    let done = translation::Entity::update_many_audited()
        .col_expr(translation::Column::Body, Expr::value("same"))
        .filter(translation::Column::Locale.ne("de"))
        .exec(&db)
        .await
        .unwrap();
    assert_eq!((done.rows, done.entries), (2, 2));
    let done = translation::Entity::delete_by_id_audited((1, "de".to_owned()))
        .exec(&db)
        .await
        .unwrap();
    assert_eq!((done.rows, done.entries), (1, 1));
    let en = translation::Entity::history(&db, (1, "en".to_owned()))
        .await
        .unwrap();
    assert_eq!(
        en.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        ["created", "updated"]
    );
    assert_eq!(
        changes(&en[1]),
        json!({"body": {"old": "body en", "new": "same"}})
    );
    let de = translation::Entity::versions(&db, (1, "de".to_owned()))
        .await
        .unwrap();
    assert_eq!(
        de.iter().map(|v| v.event.as_str()).collect::<Vec<_>>(),
        ["created", "deleted"]
    );
}

/// More rows than a batch: every row is written and logged once, numbered in order.
async fn more_rows_than_a_batch(db: DatabaseConnection) {
    let n = BulkWrite::BATCH as usize * 2 + 37;
    let models = (0..n).map(|i| post::new(&format!("t{i}"), &format!("s{i}")));
    let done = post::Entity::insert_many_audited(models)
        .exec(&db)
        .await
        .unwrap();
    assert_eq!(
        (done.rows, done.entries, done.versions),
        (n as u64, n as u64, n as u64)
    );
    let done = post::Entity::update_many_audited()
        .col_expr(post::Column::Title, Expr::value("all"))
        .exec(&db)
        .await
        .unwrap();
    assert_eq!(
        (done.rows, done.entries, done.versions),
        (n as u64, n as u64, n as u64)
    );
    let (entries, versions) = audit_rows(&db).await;
    assert_eq!((entries, versions), (2 * n as u64, 2 * n as u64));
    // Every row: created then updated, versions 1 and 2, the entry linked to version 2.
    let rows = post::Entity::find().all(&db).await.unwrap();
    assert_eq!(rows.len(), n);
    for row in [&rows[0], &rows[n / 2], &rows[n - 1]] {
        let trail = history(&db, "post", row.id).await.unwrap();
        assert_eq!(trail.len(), 2);
        let vs = audit_seaorm::versions(&db, "post", row.id).await.unwrap();
        assert_eq!(trail[1].version_id, Some(vs[1].id));
        assert_eq!(vs[1].version, 2);
    }
    let done = post::Entity::delete_many_audited().exec(&db).await.unwrap();
    assert_eq!((done.rows, done.entries), (n as u64, n as u64));
}

/// A filter with many parameters of its own: each batch's statement carries the filter
/// and the batch's keys, so the batches shrink to stay under the backend's limit wherever
/// the plain call fits.
async fn a_long_filter_fits_the_parameter_limit(db: DatabaseConnection) {
    let n = 1_500;
    posts(&db, n).await;
    // Just under the limit with the update's one value (SQLite 32,766; PostgreSQL and
    // MySQL 65,535), so that a batch of 1,000 keys on top would go over.
    let listed = match db.get_database_backend() {
        sea_orm::DbBackend::Sqlite => 32_500,
        _ => 65_000,
    };
    let ids = (1..=listed).collect::<Vec<i32>>();
    let done = post::Entity::update_many_audited()
        .col_expr(post::Column::Title, Expr::value("listed"))
        .filter(post::Column::Id.is_in(ids.clone()))
        .exec(&db)
        .await
        .unwrap();
    let n = n as u64;
    assert_eq!((done.rows, done.entries, done.versions), (n, n, n));
    let done = post::Entity::delete_many_audited()
        .filter(post::Column::Id.is_in(ids))
        .exec(&db)
        .await
        .unwrap();
    assert_eq!((done.rows, done.entries, done.versions), (n, n, n));
    assert_eq!(post::Entity::find().count(&db).await.unwrap(), 0);
    assert_eq!(audit_rows(&db).await, (3 * n, 3 * n));
}

/// A filter at the edge of the parameter limit: one that leaves room for a batch's read (its
/// filter, the last key read and the batch's size) runs, a key at a time if need be; one
/// that leaves none is an error before anything is written (its batches' reads would go
/// over the limit once the first batch was written).
async fn a_filter_at_the_parameter_limit(db: DatabaseConnection) {
    let rows = posts(&db, 3).await;
    let before = audit_rows(&db).await;
    let limit = match db.get_database_backend() {
        sea_orm::DbBackend::Sqlite => 32_766,
        _ => 65_535,
    };
    let listed = |n: i32| {
        let mut ids: Vec<i32> = rows.iter().map(|r| r.id).collect();
        ids.extend((1..=n - 3).map(|i| -i));
        post::Column::Id.is_in(ids)
    };
    let err = post::Entity::delete_many_audited()
        .filter(listed(limit - 1))
        .exec(&db)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, audit_seaorm::Error::InvalidArgument(m) if m.contains("split the call")),
        "{err}"
    );
    assert_eq!(post::Entity::find().count(&db).await.unwrap(), 3);
    assert_eq!(audit_rows(&db).await, before);
    let done = post::Entity::delete_many_audited()
        .filter(listed(limit - 2))
        .exec(&db)
        .await
        .unwrap();
    assert_eq!((done.rows, done.entries, done.versions), (3, 3, 3));
    assert_eq!(post::Entity::find().count(&db).await.unwrap(), 0);
}

/// A bulk write inside a transaction that rolls back leaves neither rows nor trail.
async fn rollback_takes_the_trail_with_it(db: DatabaseConnection) {
    let rows = posts(&db, 3).await;
    let before = audit_rows(&db).await;
    let txn = db.begin().await.unwrap();
    post::Entity::update_many_audited()
        .col_expr(post::Column::Title, Expr::value("gone"))
        .exec(&txn)
        .await
        .unwrap();
    post::Entity::delete_by_id_audited(rows[0].id)
        .exec(&txn)
        .await
        .unwrap();
    post::Entity::insert_many_audited([post::new("n", "n")])
        .exec(&txn)
        .await
        .unwrap();
    txn.rollback().await.unwrap();
    assert_eq!(audit_rows(&db).await, before);
    assert_eq!(post::Entity::find().count(&db).await.unwrap(), 3);
    assert_eq!(post::reload(&db, rows[0].id).await.title, "t0");
}

/// A failing statement leaves nothing half-written: the unique slug stops the second
/// batch of an insert, and the first batch goes too.
async fn a_failure_writes_nothing(db: DatabaseConnection) {
    posts(&db, 1).await; // slug "s0"
    let before = audit_rows(&db).await;
    let n = BulkWrite::BATCH as usize + 5;
    let models = (0..n).map(|i| {
        let slug = if i == n - 1 {
            "s0".into()
        } else {
            format!("new{i}")
        };
        post::new("x", &slug)
    });
    let err = post::Entity::insert_many_audited(models)
        .exec(&db)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Database {
                context: "running the bulk insert",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(audit_rows(&db).await, before);
    assert_eq!(post::Entity::find().count(&db).await.unwrap(), 1);
}

/// Strict mode refuses a bulk write outside a transaction before writing anything, and
/// takes one inside a transaction.
async fn strict_mode(db: DatabaseConnection) {
    let rows = posts(&db, 2).await;
    let before = audit_rows(&db).await;
    let strict = AuditContext::new().strict(true);
    let err = strict
        .clone()
        .scope(
            post::Entity::update_many_audited()
                .col_expr(post::Column::Title, Expr::value("x"))
                .exec(&db),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotInTransaction {
                subject_type: "post"
            }
        ),
        "{err}"
    );
    let err = strict
        .clone()
        .scope(post::Entity::insert_many_audited([post::new("n", "n")]).exec(&db))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotInTransaction { .. }), "{err}");
    let err = strict
        .clone()
        .scope(post::Entity::delete_by_id_audited(rows[0].id).exec(&db))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotInTransaction { .. }), "{err}");
    assert_eq!(audit_rows(&db).await, before);
    assert_eq!(post::reload(&db, rows[0].id).await.title, "t0");

    let txn = db.begin().await.unwrap();
    let done = strict
        .scope(
            post::Entity::update_many_audited()
                .col_expr(post::Column::Title, Expr::value("x"))
                .exec(&txn),
        )
        .await
        .unwrap();
    txn.commit().await.unwrap();
    assert_eq!(done.entries, 2);
}

/// A bulk update of a key column is refused; so is nothing else about keys.
async fn key_updates_are_refused(db: DatabaseConnection) {
    let rows = posts(&db, 1).await;
    let err = post::Entity::update_many_audited()
        .col_expr(post::Column::Id, Expr::value(1000))
        .exec(&db)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::BulkKeyUpdate { subject_type: "post", column } if column == "id"),
        "{err}"
    );
    assert_eq!(post::reload(&db, rows[0].id).await.id, rows[0].id);
}

/// Fields changed outside the trail since the last version show as drift (no causer)
/// before the bulk write's own entry; a row that predates its trail gets a truthful
/// baseline version first.
async fn drift_and_baselines(db: DatabaseConnection) {
    let rows = posts(&db, 1).await;
    let id = rows[0].id;
    post::Entity::update_many()
        .col_expr(post::Column::Slug, Expr::value("outside"))
        .filter(post::Column::Id.eq(id))
        .exec(&db)
        .await
        .unwrap();
    // A row inserted outside the trail: no version.
    let raw = without_auditing(post::new("raw", "raw").insert(&db))
        .await
        .unwrap();
    ctx()
        .scope(
            post::Entity::update_many_audited()
                .col_expr(post::Column::Title, Expr::value("bulk"))
                .exec(&db),
        )
        .await
        .unwrap();
    let trail = history(&db, "post", id).await.unwrap();
    assert_eq!(
        trail.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        ["created", "drift", "updated"]
    );
    assert_eq!(trail[1].causer_id, None);
    assert_eq!(
        changes(&trail[1]),
        json!({"slug": {"old": "s0", "new": "outside"}})
    );
    assert_eq!(
        changes(&trail[2]),
        json!({"title": {"old": "t0", "new": "bulk"}})
    );

    let vs = raw_then_bulk(&db, raw.id).await;
    assert_eq!(vs[0].causer_id, None);
}

/// Post `id`, inserted outside the trail titled "raw", then retitled "bulk" by a bulk
/// update: its baseline version, then the update's, whose entry is the one change from
/// the baseline. Its versions.
async fn raw_then_bulk(db: &DatabaseConnection, id: i32) -> Vec<audit_seaorm::Version> {
    let trail = history(db, "post", id).await.unwrap();
    assert_eq!(trail.len(), 1);
    assert_eq!(
        changes(&trail[0]),
        json!({"title": {"old": "raw", "new": "bulk"}})
    );
    let vs = versions(db, "post", id).await.unwrap();
    assert_eq!(
        vs.iter()
            .map(|v| (v.version, v.event.as_str()))
            .collect::<Vec<_>>(),
        [(1, "baseline"), (2, "updated")]
    );
    assert_eq!(vs[0].data["title"], json!("raw"));
    vs
}

/// Under `without_auditing` the calls are the plain SeaORM ones.
async fn without_auditing_is_plain(db: DatabaseConnection) {
    let done = without_auditing(
        post::Entity::insert_many_audited([post::new("a", "a"), post::new("b", "b")]).exec(&db),
    )
    .await
    .unwrap();
    assert_eq!(done.rows, 2);
    let done = without_auditing(
        post::Entity::update_many_audited()
            .col_expr(post::Column::Title, Expr::value("c"))
            .exec(&db),
    )
    .await
    .unwrap();
    assert_eq!(done.rows, 2);
    let done = without_auditing(post::Entity::delete_many_audited().exec(&db))
        .await
        .unwrap();
    assert_eq!(done.rows, 2);
    assert_eq!(audit_rows(&db).await, (0, 0));
    // More rows than one statement takes, the last a key used before: as the plain call,
    // which is one statement, nothing is inserted.
    let models = (1..=2_500).map(|i| {
        let mut m = post::new(&format!("p{i}"), &format!("p{i}"));
        m.id = Set(if i == 2_500 { 1 } else { i });
        m
    });
    let failed = without_auditing(post::Entity::insert_many_audited(models).exec(&db)).await;
    assert!(failed.is_err(), "{failed:?}");
    assert_eq!(post::Entity::find().count(&db).await.unwrap(), 0);
}

/// Models that set their key and models that leave it to the database, in one call: as
/// the plain `insert_many` goes, so goes the audited one. Where it succeeds (SQLite,
/// MySQL: there without `RETURNING`, row by row), each row is logged under the key it
/// got; where it fails (PostgreSQL: SeaORM sends NULL for the missing keys), nothing is
/// written.
async fn insert_mixed_keys(db: DatabaseConnection) {
    let models = || {
        let mut given = post::new("given", "given");
        given.id = Set(500);
        [given, post::new("generated", "generated")]
    };
    let txn = db.begin().await.unwrap();
    let plain = post::Entity::insert_many(models()).exec(&txn).await;
    txn.rollback().await.unwrap();
    let audited = post::Entity::insert_many_audited(models()).exec(&db).await;
    let Ok(done) = audited else {
        assert!(plain.is_err(), "the plain call succeeded: {audited:?}");
        assert_eq!(audit_rows(&db).await, (0, 0));
        assert_eq!(post::Entity::find().count(&db).await.unwrap(), 0);
        return;
    };
    assert!(plain.is_ok());
    assert_eq!((done.rows, done.entries), (2, 2));
    for row in post::Entity::find().all(&db).await.unwrap() {
        let trail = history(&db, "post", row.id).await.unwrap();
        assert_eq!(trail.len(), 1, "row {}", row.id);
        assert_eq!(trail[0].changes.get("title").unwrap().new, json!(row.title));
    }
    assert_eq!(history(&db, "post", 500).await.unwrap().len(), 1);
}

/// A transaction whose snapshot predates another writer's commit still numbers its
/// versions after that writer's, and diffs from its state (MySQL's REPEATABLE READ: the
/// stale number is detected and the versions read again with a locking read).
async fn stale_snapshot_numbers_correctly(db: DatabaseConnection) {
    let rows = posts(&db, 1).await;
    let id = rows[0].id;
    let txn_b = db.begin().await.unwrap();
    // B reads first: its snapshot is taken now.
    assert_eq!(versions(&txn_b, "post", id).await.unwrap().len(), 1);
    let txn_a = db.begin().await.unwrap();
    post::ActiveModel {
        id: Set(id),
        title: Set("v2".into()),
        ..Default::default()
    }
    .update(&txn_a)
    .await
    .unwrap();
    txn_a.commit().await.unwrap();
    post::Entity::update_many_audited()
        .col_expr(post::Column::Title, Expr::value("v3"))
        .exec(&txn_b)
        .await
        .unwrap();
    txn_b.commit().await.unwrap();
    let vs = versions(&db, "post", id).await.unwrap();
    assert_eq!(vs.iter().map(|v| v.version).collect::<Vec<_>>(), [1, 2, 3]);
    let trail = history(&db, "post", id).await.unwrap();
    assert_eq!(trail[2].changes.get("title").unwrap().old, "v2");
}

/// A transaction whose snapshot predates a commit writes a row back to what its snapshot
/// says: the change is logged all the same (MySQL reads the snapshot's latest version,
/// then confirms "nothing to write" with a locking read); and a row the update matched but
/// left as it was is diffed as it is now, not as the snapshot has it.
async fn stale_snapshot_writes_back(db: DatabaseConnection) {
    let rows = posts(&db, 2).await;
    let (back, same) = (rows[0].clone(), rows[1].clone());
    let txn_b = db.begin().await.unwrap();
    // B reads first: its snapshot is taken now.
    assert_eq!(versions(&txn_b, "post", back.id).await.unwrap().len(), 1);
    for p in [&back, &same] {
        post::ActiveModel {
            id: Set(p.id),
            title: Set(format!("{}-v2", p.title)),
            ..Default::default()
        }
        .update(&db)
        .await
        .unwrap();
    }
    // Back to the title B's snapshot holds.
    ctx()
        .scope(
            post::Entity::update_many_audited()
                .col_expr(post::Column::Title, Expr::value(back.title.clone()))
                .filter(post::Column::Id.eq(back.id))
                .exec(&txn_b),
        )
        .await
        .unwrap();
    // The redacted token set to the value it has: MySQL leaves the row as it was.
    ctx()
        .scope(
            post::Entity::update_many_audited()
                .col_expr(post::Column::ApiToken, Expr::value(same.api_token.clone()))
                .filter(post::Column::Id.eq(same.id))
                .exec(&txn_b),
        )
        .await
        .unwrap();
    txn_b.commit().await.unwrap();

    let trail = history(&db, "post", back.id).await.unwrap();
    let actions: Vec<&str> = trail.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["created", "updated", "updated"]);
    assert_eq!(
        serde_json::to_value(&trail[2].changes).unwrap(),
        json!({"title": {"old": format!("{}-v2", back.title), "new": back.title}})
    );
    let vs = versions(&db, "post", back.id).await.unwrap();
    assert_eq!(vs.iter().map(|v| v.version).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(vs[2].data["title"], json!(back.title));

    // Created, renamed, then the token write (reported whenever it is set): no title
    // goes back to the snapshot's.
    let vs = versions(&db, "post", same.id).await.unwrap();
    assert_eq!(vs.len(), 3, "{vs:?}");
    for v in &vs[1..] {
        assert_eq!(
            v.data["title"],
            json!(format!("{}-v2", same.title)),
            "{vs:?}"
        );
    }
    let trail = history(&db, "post", same.id).await.unwrap();
    let last = trail.last().unwrap();
    assert!(last.changes.get("title").is_none(), "{:?}", last.changes);
    assert!(
        last.changes.get("api_token").is_some(),
        "{:?}",
        last.changes
    );
}

/// A bulk update of wide rows: its own `UPDATE` is small, the versions it writes are not
/// (1,000 rows of 20 KB here, over MariaDB's default 16 MiB packet in one statement); the
/// audit rows go out in statements of bounded size.
async fn wide_rows_fit_the_packet(db: DatabaseConnection) {
    use audit_tests::sample;
    const N: usize = 1_000;
    let doc = json!({"pad": "x".repeat(20_000)});
    wide_samples(&db, N, &doc).await;
    let done = ctx()
        .scope(
            sample::Entity::update_many_audited()
                .col_expr(sample::Column::Small, Expr::value(1))
                .exec(&db),
        )
        .await
        .unwrap();
    assert_eq!(
        (done.rows, done.entries, done.versions),
        (N as u64, N as u64, N as u64)
    );
    let id = uuid::Uuid::from_u128(N as u128);
    let vs = versions(&db, "samples", id).await.unwrap();
    assert_eq!(vs.len(), 2);
    assert_eq!(vs[1].data["doc"], doc);
    assert_eq!(vs[1].data["small"], json!(1));
}

/// `n` samples (ids 1 to `n`) each holding `doc`, inserted through the trail.
async fn wide_samples(db: &DatabaseConnection, n: usize, doc: &Value) {
    use audit_tests::sample;
    use chrono::{NaiveDate, Utc};
    let models: Vec<sample::ActiveModel> = (0..n)
        .map(|i| sample::ActiveModel {
            id: Set(uuid::Uuid::from_u128(i as u128 + 1)),
            small: Set(0),
            big: Set(i as i64),
            text: Set(format!("row {i}")),
            flag: Set(false),
            ratio: Set(0.5),
            maybe: Set(None),
            at: Set(Utc::now()),
            day: Set(NaiveDate::from_ymd_opt(2026, 12, 5).unwrap()),
            amount: Set(rust_decimal::Decimal::new(1, 2)),
            blob: Set(vec![1, 2, 3]),
            doc: Set(doc.clone()),
            status: Set(sample::Status::Draft),
        })
        .collect();
    for chunk in models.chunks(100) {
        sample::Entity::insert_many_audited(chunk.to_vec())
            .exec(db)
            .await
            .unwrap();
    }
}

/// A batch whose versions go out in several statements (1,000 rows of 5 KB) and whose
/// snapshot predates a commit to its last row: the statement with that row fails on the
/// taken number after the first statements went in, and the batch is planned again from
/// the latest commit without what its first try wrote (MySQL's REPEATABLE READ). Every
/// row keeps its entry, linked to its version.
async fn a_stale_batch_of_wide_rows_is_logged_whole(db: DatabaseConnection) {
    use audit_tests::sample;
    const N: usize = 1_000;
    let doc = json!({"pad": "x".repeat(5_000)});
    wide_samples(&db, N, &doc).await;
    let last = uuid::Uuid::from_u128(N as u128);
    let txn_b = db.begin().await.unwrap();
    // B reads first: its snapshot is taken now.
    assert_eq!(versions(&txn_b, "samples", last).await.unwrap().len(), 1);
    sample::ActiveModel {
        id: Set(last),
        small: Set(7),
        ..Default::default()
    }
    .update(&db)
    .await
    .unwrap();
    let done = ctx()
        .scope(
            sample::Entity::update_many_audited()
                .col_expr(sample::Column::Big, Expr::value(-1))
                .exec(&txn_b),
        )
        .await
        .unwrap();
    txn_b.commit().await.unwrap();
    assert_eq!(
        (done.rows, done.entries, done.versions),
        (N as u64, N as u64, N as u64)
    );
    let n = N as u64;
    // Created, the single update of the last row, then the bulk update of every row.
    assert_eq!(audit_rows(&db).await, (2 * n + 1, 2 * n + 1));
    for i in [1, N / 2, N] {
        let id = uuid::Uuid::from_u128(i as u128);
        let trail = history(&db, "samples", id).await.unwrap();
        let vs = versions(&db, "samples", id).await.unwrap();
        assert_eq!(trail.len(), vs.len(), "{trail:?}");
        let bulk = trail.last().unwrap();
        assert_eq!(bulk.version_id, Some(vs.last().unwrap().id));
        assert_eq!(bulk.changes.get("big").unwrap().new, json!(-1));
        assert_eq!(vs.last().unwrap().data["big"], json!(-1));
    }
    let vs = versions(&db, "samples", last).await.unwrap();
    assert_eq!(vs.iter().map(|v| v.version).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(vs[2].data["small"], json!(7));
}

/// MySQL has no `RETURNING`: the bulk insert finds its rows again by their keys. A key of
/// 0 is generated as if not given, and rows stored under other keys than the models gave
/// (here a trigger rewrites them) fail the call, which then writes nothing, instead of
/// going unlogged.
async fn inserted_rows_are_found_by_their_stored_keys(db: DatabaseConnection) {
    let zero = (0..3).map(|i| {
        let mut am = post::new(&format!("z{i}"), &format!("z{i}"));
        am.id = Set(0);
        am
    });
    let done = post::Entity::insert_many_audited(zero)
        .exec(&db)
        .await
        .unwrap();
    assert_eq!((done.rows, done.entries, done.versions), (3, 3, 3));
    for row in post::Entity::find().all(&db).await.unwrap() {
        assert_ne!(row.id, 0);
        let trail = history(&db, "post", row.id).await.unwrap();
        assert_eq!(trail.len(), 1);
        assert_eq!(trail[0].action, "created");
    }
    db.execute_unprepared(
        "CREATE TRIGGER posts_moved BEFORE INSERT ON posts FOR EACH ROW SET NEW.id = NEW.id + 1000",
    )
    .await
    .unwrap();
    let given = (0..2).map(|i| {
        let mut am = post::new(&format!("g{i}"), &format!("g{i}"));
        am.id = Set(50 + i);
        am
    });
    let err = post::Entity::insert_many_audited(given)
        .exec(&db)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::BulkKeysChanged {
                inserted: 2,
                found: 0,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(post::Entity::find().count(&db).await.unwrap(), 3);
    assert_eq!(audit_rows(&db).await, (3, 3));
}

/// A bulk update that waits for a row's lock comes after the version that lock's writer
/// commits meanwhile: its version's time too, so that time travel finds each version
/// (versions of one record rise in time as in number).
async fn a_batch_is_timed_after_the_rows_it_waited_for(db: DatabaseConnection) {
    let rows = posts(&db, 1).await;
    let id = rows[0].id;
    let holder = db.begin().await.unwrap();
    post::Entity::find_by_id(id)
        .lock_exclusive()
        .one(&holder)
        .await
        .unwrap();
    let bulk = {
        let db = db.clone();
        tokio::spawn(async move {
            post::Entity::update_many_audited()
                .col_expr(post::Column::Title, Expr::value("by bulk"))
                .exec(&db)
                .await
                .unwrap()
        })
    };
    until_a_lock_wait(&db).await;
    post::ActiveModel {
        id: Set(id),
        title: Set("by single".into()),
        ..Default::default()
    }
    .update(&holder)
    .await
    .unwrap();
    holder.commit().await.unwrap();
    assert_eq!(bulk.await.unwrap().versions, 1);
    let vs = versions(&db, "post", id).await.unwrap();
    assert_eq!(vs.iter().map(|v| v.version).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(vs[2].data["title"], json!("by bulk"));
    assert!(
        vs.windows(2).all(|w| w[0].created_at <= w[1].created_at),
        "{:?}",
        vs.iter().map(|v| v.created_at).collect::<Vec<_>>()
    );
}

const ROWS: i32 = 10;
const BULK_ROUNDS: usize = 6;
const SINGLE_WRITERS: usize = 4;
const SINGLE_ROUNDS: usize = 10;

/// A bulk updater and single writers on the same rows at once: every row's versions have
/// no gap, and each entry's old value is the previous entry's new one.
async fn bulk_and_single_writers_chain(db: DatabaseConnection) {
    let rows = posts(&db, ROWS as usize).await;
    let ids: Vec<i32> = rows.iter().map(|r| r.id).collect();
    let mut tasks = Vec::new();
    {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            for r in 0..BULK_ROUNDS {
                let txn = db.begin().await.unwrap();
                post::Entity::update_many_audited()
                    .col_expr(post::Column::Title, Expr::value(format!("bulk-{r}")))
                    .exec(&txn)
                    .await
                    .unwrap();
                txn.commit().await.unwrap();
            }
        }));
    }
    for w in 0..SINGLE_WRITERS {
        let db = db.clone();
        let ids = ids.clone();
        tasks.push(tokio::spawn(async move {
            for r in 0..SINGLE_ROUNDS {
                let id = ids[(w * 7 + r * 3) % ids.len()];
                let txn = db.begin().await.unwrap();
                post::ActiveModel {
                    id: Set(id),
                    title: Set(format!("w{w}-r{r}")),
                    ..Default::default()
                }
                .update(&txn)
                .await
                .unwrap();
                txn.commit().await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    for id in ids {
        let trail = history(&db, "post", id).await.unwrap();
        let vs = versions(&db, "post", id).await.unwrap();
        let numbers: Vec<i64> = vs.iter().map(|v| v.version).collect();
        assert_eq!(
            numbers,
            (1..=vs.len() as i64).collect::<Vec<_>>(),
            "row {id}"
        );
        let mut title = Value::Null;
        for e in &trail {
            if let Some(change) = e.changes.get("title") {
                assert_eq!(change.old, title, "row {id}: entry {} does not chain", e.id);
                title = change.new.clone();
            }
        }
        assert_eq!(title, json!(post::reload(&db, id).await.title));
        assert_eq!(vs.last().unwrap().data["title"], title);
    }
}

/// The trail's rows go out in multi-row statements: a 2,000-row update takes a handful
/// of statements in all, not one per row (counted by SeaORM's metric callback).
async fn audit_rows_go_out_in_few_statements(db: DatabaseConnection) {
    use std::sync::{Arc, Mutex};
    let n = 2 * BulkWrite::BATCH as usize;
    let models = (0..n).map(|i| post::new(&format!("t{i}"), &format!("s{i}")));
    post::Entity::insert_many_audited(models)
        .exec(&db)
        .await
        .unwrap();
    let mut db = db;
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = seen.clone();
    db.set_metric_callback(move |info| {
        log.lock().unwrap().push(info.statement.sql.clone());
    });
    let done = post::Entity::update_many_audited()
        .col_expr(post::Column::Title, Expr::value("x"))
        .exec(&db)
        .await
        .unwrap();
    assert_eq!((done.entries, done.versions), (n as u64, n as u64));
    let seen = seen.lock().unwrap();
    let audit_inserts = seen
        .iter()
        .filter(|sql| {
            sql.contains("INSERT INTO")
                && (sql.contains("activity_log") || sql.contains("versions"))
        })
        .count();
    // Per batch of 1,000 rows: one insert of versions, one of entries.
    assert_eq!(audit_inserts, 4, "{seen:#?}");
    assert!(seen.len() <= 16, "{} statements for {n} rows", seen.len());
}

/// A row inserted again outside the trail after its `deleted` version: a bulk update or
/// delete, which reads the row, logs its return as drift (every field from `null`, no
/// causer) before its own entry, diffed against the row as read.
async fn bulk_writes_log_a_returned_row(db: DatabaseConnection) {
    let rows = posts(&db, 2).await;
    post::Entity::delete_many_audited().exec(&db).await.unwrap();
    for row in &rows {
        let mut back = post::new("back", &format!("back-{}", row.id));
        back.id = Set(row.id);
        post::Entity::insert(back).exec(&db).await.unwrap();
    }
    let done = ctx()
        .scope(
            post::Entity::update_many_audited()
                .col_expr(post::Column::Title, Expr::value("again"))
                .filter(post::Column::Id.eq(rows[0].id))
                .exec(&db),
        )
        .await
        .unwrap();
    assert_eq!((done.rows, done.entries, done.versions), (1, 2, 1));
    let trail = history(&db, "post", rows[0].id).await.unwrap();
    let actions: Vec<&str> = trail.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["created", "deleted", "drift", "updated"]);
    assert_eq!(trail[2].causer_id, None);
    assert_eq!(
        trail[2].changes.get("title").map(|c| (&c.old, &c.new)),
        Some((&json!(null), &json!("back")))
    );
    assert_eq!(
        changes(&trail[3]),
        json!({"title": {"old": "back", "new": "again"}})
    );
    let done = ctx()
        .scope(post::Entity::delete_by_id_audited(rows[1].id).exec(&db))
        .await
        .unwrap();
    assert_eq!((done.rows, done.entries, done.versions), (1, 2, 1));
    let trail = history(&db, "post", rows[1].id).await.unwrap();
    let actions: Vec<&str> = trail.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["created", "deleted", "drift", "deleted"]);
    assert_eq!(trail[3].changes.get("title").unwrap().old, json!("back"));
    let vs = versions(&db, "post", rows[1].id).await.unwrap();
    assert_eq!(
        vs.iter().map(|v| v.event.as_str()).collect::<Vec<_>>(),
        ["created", "deleted", "deleted"]
    );
    assert_eq!(vs[2].data["title"], json!("back"));
}

/// A bulk update that writes no audited field (only skipped ones) logs nothing, as a
/// hooked update that sets none: not even the drift it would find (the next audited write
/// logs that).
async fn an_update_of_skipped_fields_logs_nothing(db: DatabaseConnection) {
    let rows = posts(&db, 2).await;
    post::Entity::update_many()
        .col_expr(post::Column::Slug, Expr::value("outside"))
        .filter(post::Column::Id.eq(rows[0].id))
        .exec(&db)
        .await
        .unwrap();
    let before = audit_rows(&db).await;
    let done = post::Entity::update_many_audited()
        .col_expr(
            post::Column::ViewCount,
            Expr::col(post::Column::ViewCount).add(1),
        )
        .exec(&db)
        .await
        .unwrap();
    assert_eq!((done.rows, done.entries, done.versions), (2, 0, 0));
    assert_eq!(audit_rows(&db).await, before);
    let counts: Vec<i32> = post::Entity::find()
        .all(&db)
        .await
        .unwrap()
        .iter()
        .map(|p| p.view_count)
        .collect();
    assert_eq!(counts, [1, 1]);
}

/// A `backfill` batch that commits a row's baseline while a bulk update of the row waits
/// to insert versions planned without it (the update's read found no version, so it
/// planned a baseline of its own): the update plans again from the committed baseline and
/// goes through, its diff starting there.
async fn a_baseline_committed_meanwhile_is_planned_again(db: DatabaseConnection) {
    use audit_seaorm::Audited;
    use audit_seaorm::entity::versions as v;
    let raw = without_auditing(post::new("raw", "raw").insert(&db))
        .await
        .unwrap();
    // What a backfill batch does, held open: the row's baseline, the row not locked.
    let backfill = db.begin().await.unwrap();
    v::ActiveModel {
        subject_type: Set("post".to_owned()),
        subject_id: Set(raw.id.to_string()),
        version: Set(1),
        event: Set("baseline".to_owned()),
        data: Set(Value::Object(raw.snapshot().unwrap())),
        causer_id: Set(None),
        created_at: Set(chrono::Utc::now()),
        ..Default::default()
    }
    .insert(&backfill)
    .await
    .unwrap();
    let update = tokio::spawn({
        let db = db.clone();
        ctx().scope(async move {
            post::Entity::update_many_audited()
                .col_expr(post::Column::Title, Expr::value("bulk"))
                .filter(post::Column::Id.eq(raw.id))
                .exec(&db)
                .await
        })
    });
    until_a_lock_wait(&db).await;
    backfill.commit().await.unwrap();
    let done = update
        .await
        .unwrap()
        .expect("the bulk update after the backfill");
    assert_eq!((done.rows, done.entries, done.versions), (1, 1, 1));
    raw_then_bulk(&db, raw.id).await;
    let trail = history(&db, "post", raw.id).await.unwrap();
    assert_eq!(trail[0].causer_id.as_deref(), Some("7"));
}

/// Replies in threads: a reply goes with the comment it answers (`ON DELETE CASCADE`).
mod reply {
    use audit_seaorm::Audited;
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq, Audited)]
    #[sea_orm(table_name = "replies")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub thread: i32,
        pub parent_id: Option<i32>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(
            belongs_to = "Entity",
            from = "Column::ParentId",
            to = "Column::Id",
            on_delete = "Cascade"
        )]
        Parent,
    }

    #[audit_seaorm::behavior]
    impl ActiveModelBehavior for ActiveModel {}
}

/// A batch whose rows cascade into each other: SQLite and MySQL remove the reply with its
/// comment before the statement reaches it, and count it out; it is gone, and logged.
async fn a_cascade_within_a_batch_is_logged(db: DatabaseConnection) {
    audit_tests::create_table(&db, reply::Entity).await;
    let comment = reply::ActiveModel {
        thread: Set(5),
        parent_id: Set(None),
        ..Default::default()
    }
    .insert(&db)
    .await
    .unwrap();
    let answer = reply::ActiveModel {
        thread: Set(5),
        parent_id: Set(Some(comment.id)),
        ..Default::default()
    }
    .insert(&db)
    .await
    .unwrap();
    let done = ctx()
        .scope(
            reply::Entity::delete_many_audited()
                .filter(reply::Column::Thread.eq(5))
                .exec(&db),
        )
        .await
        .unwrap();
    assert_eq!(done.entries, 2, "{done:?}");
    assert_eq!(reply::Entity::find().count(&db).await.unwrap(), 0);
    for id in [comment.id, answer.id] {
        let last = history(&db, "replies", id).await.unwrap().pop().unwrap();
        assert_eq!(last.action.as_str(), "deleted", "{id}");
        assert_eq!(last.causer_id.as_deref(), Some("7"));
    }
}

/// A field whose column is named like another field (`label` in the column `name`, beside
/// a field `name` in the column `display_name`).
mod crossed {
    use audit_seaorm::Audited;
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq, Audited)]
    #[sea_orm(table_name = "crossed_names")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        #[sea_orm(column_name = "display_name")]
        pub name: String,
        #[sea_orm(column_name = "name")]
        pub label: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    #[audit_seaorm::behavior]
    impl ActiveModelBehavior for ActiveModel {}
}

/// Each field is matched to its own column: the bulk update of `label` logs `label`, as the
/// writer's change.
async fn a_column_named_like_another_field(db: DatabaseConnection) {
    audit_tests::create_table(&db, crossed::Entity).await;
    let row = crossed::ActiveModel {
        name: Set("n".into()),
        label: Set("l".into()),
        ..Default::default()
    }
    .insert(&db)
    .await
    .unwrap();
    let done = ctx()
        .scope(
            crossed::Entity::update_many_audited()
                .col_expr(crossed::Column::Label, Expr::value("l2"))
                .filter(crossed::Column::Id.eq(row.id))
                .exec(&db),
        )
        .await
        .unwrap();
    assert_eq!(done.entries, 1, "{done:?}");
    let last = history(&db, "crossed_names", row.id)
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(last.action.as_str(), "updated");
    assert_eq!(last.causer_id.as_deref(), Some("7"));
    assert_eq!(
        serde_json::to_value(&last.changes).unwrap(),
        json!({"label": {"old": "l", "new": "l2"}})
    );
}

backend_tests!(
    a_cascade_within_a_batch_is_logged,
    a_column_named_like_another_field,
    an_update_of_skipped_fields_logs_nothing,
    bulk_writes_log_a_returned_row,
    insert_many_logs_each_row,
    update_many_logs_exact_diffs,
    update_many_redacts_and_skips,
    nothing_affected_logs_nothing,
    delete_many_and_by_id,
    composite_keys,
    more_rows_than_a_batch,
    a_long_filter_fits_the_parameter_limit,
    a_filter_at_the_parameter_limit,
    rollback_takes_the_trail_with_it,
    a_failure_writes_nothing,
    strict_mode,
    key_updates_are_refused,
    drift_and_baselines,
    without_auditing_is_plain,
    audit_rows_go_out_in_few_statements,
    insert_mixed_keys,
);

server_backend_tests!(
    a_baseline_committed_meanwhile_is_planned_again,
    a_batch_is_timed_after_the_rows_it_waited_for,
    wide_rows_fit_the_packet,
    a_stale_batch_of_wide_rows_is_logged_whole,
    bulk_and_single_writers_chain,
    stale_snapshot_numbers_correctly,
    stale_snapshot_writes_back
);

/// A trigger that changes a row's key as the bulk update writes it: that row cannot be
/// logged under the key it was read with, and the call fails with nothing written instead
/// of leaving the update out of the trail.
async fn a_key_moved_by_a_trigger_fails_the_update(db: DatabaseConnection) {
    use sea_orm::ConnectionTrait;
    let rows = posts(&db, 2).await;
    let trigger = match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => {
            "CREATE FUNCTION move_post() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN NEW.id := NEW.id + 1000; RETURN NEW; END $$; \
             CREATE TRIGGER move_post BEFORE UPDATE ON posts FOR EACH ROW EXECUTE FUNCTION move_post()"
        }
        _ => {
            "CREATE TRIGGER move_post BEFORE UPDATE ON posts FOR EACH ROW SET NEW.id = NEW.id + 1000"
        }
    };
    db.execute_unprepared(trigger).await.unwrap();
    let before = audit_rows(&db).await;
    let err = post::Entity::update_many_audited()
        .col_expr(post::Column::Title, Expr::val("moved"))
        .exec(&db)
        .await
        .unwrap_err();
    assert!(
        matches!(err, audit_seaorm::Error::BulkKeysMoved { rows: 2, .. }),
        "{err}"
    );
    assert_eq!(audit_rows(&db).await, before, "nothing logged");
    assert_eq!(
        post::reload(&db, rows[0].id).await.title,
        rows[0].title,
        "nothing written"
    );
}

server_backend_tests!(a_key_moved_by_a_trigger_fails_the_update);

/// MySQL/MariaDB reading the versions' ids back (as under `innodb_autoinc_lock_mode = 2`,
/// MySQL 8's default, where a multi-row insert's ids need not be consecutive): each entry
/// links the version its write wrote, for rows with long histories too.
async fn version_ids_read_back(db: DatabaseConnection) {
    audit_seaorm::hooks::reading_back_bulk_ids(bulk_with_ids_read_back(db)).await;
}

async fn bulk_with_ids_read_back(db: DatabaseConnection) {
    use audit_seaorm::entity::{activity_log, versions as v};
    let rows = posts(&db, 3).await;
    for i in 0..4 {
        post::Entity::update_many_audited()
            .col_expr(post::Column::Title, Expr::val(format!("round {i}")))
            .exec(&db)
            .await
            .unwrap();
    }
    // One more row, new: its first version sorts below the others' latest.
    let done = post::Entity::insert_many_audited([post::new("late", "late")])
        .exec(&db)
        .await
        .unwrap();
    assert_eq!(done.versions, 1);
    // The last call's statements: the ids are read back, the server's settings not asked.
    let mut db = db;
    let seen: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
    let log = seen.clone();
    db.set_metric_callback(move |info| log.lock().unwrap().push(info.statement.sql.clone()));
    let done = post::Entity::update_many_audited()
        .col_expr(post::Column::Title, Expr::val("last"))
        .exec(&db)
        .await
        .unwrap();
    {
        let seen = seen.lock().unwrap();
        assert!(
            !seen
                .iter()
                .any(|sql| sql.contains("innodb_autoinc_lock_mode")),
            "{seen:#?}"
        );
        let read_back = "(`subject_type`, `subject_id`, `version`) IN";
        assert!(seen.iter().any(|sql| sql.contains(read_back)), "{seen:#?}");
    }
    assert_eq!(done.versions, 4);
    let entries = activity_log::Entity::find().all(&db).await.unwrap();
    assert_eq!(entries.len(), 3 + 4 * 3 + 1 + 4);
    for entry in entries {
        let version = v::Entity::find_by_id(entry.version_id.unwrap())
            .one(&db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(version.subject_id, entry.subject_id);
        let title = &entry.changes["title"]["new"];
        assert_eq!(&version.data["title"], title, "entry {}", entry.id);
    }
    let latest = audit_seaorm::versions(&db, "post", rows[0].id)
        .await
        .unwrap();
    assert_eq!(latest.len(), 6);
}

mysql_tests!(version_ids_read_back);

/// PostgreSQL: the rows of a bulk update are locked as the plain `UPDATE` locks them (`FOR
/// NO KEY UPDATE`): a row inserted meanwhile that references one (a foreign key check,
/// `FOR KEY SHARE`) does not wait for the call's transaction.
async fn an_update_leaves_references_free(db: DatabaseConnection) {
    use sea_orm::ConnectionTrait;
    let rows = posts(&db, 2).await;
    db.execute_unprepared(
        "CREATE TABLE post_comments (id SERIAL PRIMARY KEY, post_id INT NOT NULL REFERENCES posts (id))",
    )
    .await
    .unwrap();
    let txn = db.begin().await.unwrap();
    let done = post::Entity::update_many_audited()
        .col_expr(post::Column::Title, Expr::val("edited"))
        .exec(&txn)
        .await
        .unwrap();
    assert_eq!(done.rows, 2);
    let other = db.begin().await.unwrap();
    other
        .execute_unprepared("SET LOCAL lock_timeout = '2s'")
        .await
        .unwrap();
    other
        .execute_unprepared(&format!(
            "INSERT INTO post_comments (post_id) VALUES ({})",
            rows[0].id
        ))
        .await
        .expect("a reference to a row of the bulk update is checked without waiting");
    other.commit().await.unwrap();
    txn.commit().await.unwrap();
    assert_eq!(post::reload(&db, rows[0].id).await.title, "edited");
}

/// A bulk update logs its rows in key order, whatever order the database met them in (on
/// PostgreSQL `RETURNING` gives a row updated last as last): its audit rows take their
/// index entries in the order `backfill` and the other bulk writes take them.
async fn an_update_logs_in_key_order(db: DatabaseConnection) {
    // (enough rows for the planner to update them in a scan of the table)
    let rows = posts(&db, 500).await;
    // The first row's live tuple moves after the others'.
    for _ in 0..2 {
        db.execute_unprepared(&format!(
            "UPDATE posts SET view_count = view_count + 1 WHERE id = {}",
            rows[0].id
        ))
        .await
        .unwrap();
    }
    post::Entity::update_many_audited()
        .col_expr(post::Column::Title, Expr::val("edited"))
        .exec(&db)
        .await
        .unwrap();
    use audit_seaorm::entity::versions as v;
    let mut by_key: Vec<(i32, i64)> = v::Entity::find()
        .filter(v::Column::Version.eq(2))
        .all(&db)
        .await
        .unwrap()
        .into_iter()
        .map(|v| (v.subject_id.parse().unwrap(), v.id))
        .collect();
    assert_eq!(by_key.len(), rows.len());
    by_key.sort_unstable();
    let out_of_order: Vec<_> = by_key.windows(2).filter(|w| w[0].1 > w[1].1).collect();
    assert!(
        out_of_order.is_empty(),
        "(key, version id): {out_of_order:?}"
    );
}

/// Asserts that `n` subjects have versions, two each (a baseline and a bulk update's); their
/// ids.
async fn two_versions_each(db: &DatabaseConnection, n: usize) -> Vec<String> {
    use audit_seaorm::entity::versions as v;
    let per_subject: Vec<(String, i64)> = v::Entity::find()
        .select_only()
        .column(v::Column::SubjectId)
        .column_as(v::Column::Id.count(), "n")
        .group_by(v::Column::SubjectId)
        .into_tuple()
        .all(db)
        .await
        .unwrap();
    assert_eq!(per_subject.len(), n);
    let odd: Vec<_> = per_subject.iter().filter(|(_, n)| *n != 2).collect();
    assert!(odd.is_empty(), "{odd:?}");
    per_subject.into_iter().map(|(id, _)| id).collect()
}

/// PostgreSQL: a `citext` key declared as a plain `String` (ordered by case-folded text,
/// here byte by byte: `a…` before `B…`) is stepped through in its own order: each batch
/// starts after the last key as the column compares it, not as `text` (where `B…` sorts
/// before `a…` and the second batch would take every `a…` row again). Bulk update and
/// `backfill` each reach every row once.
async fn citext_keys_step_in_their_own_order(db: DatabaseConnection) {
    use audit_seaorm::entity::activity_log;
    use audit_tests::label;
    db.execute_unprepared(
        "CREATE EXTENSION IF NOT EXISTS citext; DROP TABLE labels; \
         CREATE TABLE labels (name citext COLLATE \"C\" PRIMARY KEY, color text NOT NULL); \
         INSERT INTO labels SELECT p || lpad(i::text, 4, '0'), 'grey' \
         FROM generate_series(0, 599) i, (VALUES ('a'), ('B')) l(p)",
    )
    .await
    .unwrap();
    let backfilled = audit_seaorm::backfill::<label::Entity, _>(&db)
        .await
        .unwrap();
    assert_eq!((backfilled.rows, backfilled.written), (1_200, 1_200));
    let done = label::Entity::update_many_audited()
        .col_expr(label::Column::Color, Expr::val("red"))
        .exec(&db)
        .await
        .unwrap();
    assert_eq!((done.rows, done.entries), (1_200, 1_200));
    assert_eq!(
        activity_log::Entity::find().count(&db).await.unwrap(),
        1_200
    );
    two_versions_each(&db, 1_200).await;
}

/// PostgreSQL: string keys holding quotes and backslashes step from batch to batch on a
/// server that refuses `\'` in a literal (`backslash_quote = off`): bulk update and
/// `backfill` each reach every row once.
async fn quoted_keys_step_under_strict_quoting(db: DatabaseConnection) {
    use audit_tests::label;
    db.execute_unprepared(
        r"INSERT INTO labels (name, color) SELECT p || lpad(i::text, 4, '0'), 'grey'
          FROM generate_series(0, 599) i, (VALUES ('it''s '), (E'back\\slash''')) l(p)",
    )
    .await
    .unwrap();
    let off = || async {
        let txn = db.begin().await.unwrap();
        txn.execute_unprepared("SET LOCAL backslash_quote = off")
            .await
            .unwrap();
        txn
    };
    let txn = off().await;
    let refused = txn.execute_unprepared(r"SELECT E'\''").await;
    assert!(refused.is_err(), "the server takes \\' in a literal");
    txn.rollback().await.unwrap();
    let txn = off().await;
    let backfilled = audit_seaorm::backfill::<label::Entity, _>(&txn)
        .await
        .unwrap();
    assert_eq!((backfilled.rows, backfilled.written), (1_200, 1_200));
    let done = label::Entity::update_many_audited()
        .col_expr(label::Column::Color, Expr::val("red"))
        .exec(&txn)
        .await
        .unwrap();
    assert_eq!((done.rows, done.entries), (1_200, 1_200));
    txn.commit().await.unwrap();
    let labels = two_versions_each(&db, 1_200).await;
    assert!(labels.iter().any(|id| id == r"back\slash'0599"));
}

postgres_tests!(
    an_update_leaves_references_free,
    an_update_logs_in_key_order,
    citext_keys_step_in_their_own_order,
    quoted_keys_step_under_strict_quoting
);

/// MySQL/MariaDB, a call outside a transaction: a filter's subquery on another table is
/// read afresh by each batch, so a row that matches by a commit made while the first batch
/// ran (here, while it waited for a row lock) is updated by a later batch, as the plain
/// statement run then would (under REPEATABLE READ every batch would read the first
/// one's snapshot, and miss it).
async fn each_batch_reads_the_latest_commit(db: DatabaseConnection) {
    use sea_orm::ConnectionTrait;
    let rows = posts(&db, 1_001).await;
    let ids: Vec<i32> = rows.iter().map(|r| r.id).collect();
    db.execute_unprepared("CREATE TABLE banned (post_id INT PRIMARY KEY)")
        .await
        .unwrap();
    let first: Vec<String> = ids[..1_000].iter().map(|i| format!("({i})")).collect();
    db.execute_unprepared(&format!("INSERT INTO banned VALUES {}", first.join(",")))
        .await
        .unwrap();
    let holder = db.begin().await.unwrap();
    post::Entity::find_by_id(ids[500])
        .lock_exclusive()
        .one(&holder)
        .await
        .unwrap();
    let bulk = {
        let db = db.clone();
        tokio::spawn(async move {
            let banned = sea_orm::sea_query::Query::select()
                .column(sea_orm::sea_query::Alias::new("post_id"))
                .from(sea_orm::sea_query::Alias::new("banned"))
                .to_owned();
            post::Entity::update_many_audited()
                .col_expr(post::Column::Title, Expr::value("hidden"))
                .filter(post::Column::Id.in_subquery(banned))
                .exec(&db)
                .await
                .unwrap()
        })
    };
    until_a_lock_wait(&db).await;
    db.execute_unprepared(&format!("INSERT INTO banned VALUES ({})", ids[1_000]))
        .await
        .unwrap();
    holder.commit().await.unwrap();
    let done = bulk.await.unwrap();
    assert_eq!(done.rows, 1_001);
    assert_eq!(post::reload(&db, ids[1_000]).await.title, "hidden");
    let trail = history(&db, "post", ids[1_000]).await.unwrap();
    assert_eq!(
        trail.last().unwrap().changes.get("title").unwrap().new,
        "hidden"
    );
}

mysql_tests!(
    inserted_rows_are_found_by_their_stored_keys,
    each_batch_reads_the_latest_commit
);

/// SQLite: a key stored in another form than the driver reads it back in (a date written
/// `2024-1-1` by another program, read as `2024-01-01`): a bulk delete or update whose
/// statement, addressing the rows by their keys as read, finds none of them fails, and
/// writes nothing, rather than logging a delete of a row that is still there.
async fn keys_stored_in_another_form(db: DatabaseConnection) {
    use audit_tests::compat::reading;
    use sea_orm::{ConnectionTrait, PaginatorTrait};
    db.execute_unprepared(
        "INSERT INTO compat_readings (gauge, day, value) VALUES ('t', '2024-1-1', 5)",
    )
    .await
    .unwrap();
    let unmatched = |r: audit_seaorm::Result<audit_seaorm::BulkWrite>| {
        let err = r.unwrap_err();
        assert!(
            matches!(err, audit_seaorm::Error::BulkKeysUnmatched { rows: 1, .. }),
            "{err}"
        );
    };
    unmatched(
        reading::Entity::delete_many_audited()
            .filter(reading::Column::Value.eq(5))
            .exec(&db)
            .await,
    );
    unmatched(
        reading::Entity::update_many_audited()
            .col_expr(reading::Column::Value, sea_orm::sea_query::Expr::value(6))
            .filter(reading::Column::Value.eq(5))
            .exec(&db)
            .await,
    );
    assert_eq!(reading::Entity::find().count(&db).await.unwrap(), 1);
    assert_eq!(
        audit_seaorm::entity::activity_log::Entity::find()
            .count(&db)
            .await
            .unwrap(),
        0
    );
}

/// The same for `backfill`: the page after a full one starts after its last key as read
/// back, which (stored `2003-1-1`, read `2003-01-01`) compares otherwise than the row; it
/// fails rather than skip rows or walk them again, naming the row, and keeps the batches
/// before it.
async fn backfill_of_keys_stored_in_another_form(db: DatabaseConnection) {
    use audit_tests::compat::reading;
    use sea_orm::ConnectionTrait;
    // A first page of rows that are fine, then a page that ends with the odd one.
    for gauge in ["h", "t"] {
        let last = if gauge == "h" { 999 } else { 998 };
        db.execute_unprepared(&format!(
            "INSERT INTO compat_readings (gauge, day, value) \
             WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {last}) \
             SELECT '{gauge}', date('2000-01-01', '+' || i || ' days'), i FROM n"
        ))
        .await
        .unwrap();
    }
    db.execute_unprepared(
        "INSERT INTO compat_readings (gauge, day, value) VALUES ('t', '2003-1-1', 999)",
    )
    .await
    .unwrap();
    let err = audit_seaorm::backfill::<reading::Entity, _>(&db)
        .await
        .unwrap_err();
    match &err {
        audit_seaorm::Error::BackfillKeyUnmatched {
            subject_id,
            written,
            ..
        } => {
            assert!(subject_id.contains("2003-01-01"), "{err}");
            assert_eq!(*written, 1000, "{err}");
        }
        other => panic!("{other:?}"),
    }
    let baselines = audit_seaorm::entity::versions::Entity::find()
        .filter(audit_seaorm::entity::versions::Column::SubjectType.eq("compat_readings"))
        .count(&db)
        .await
        .unwrap();
    assert_eq!(baselines, 1000, "the first page's baselines are kept");
}

mod backfill_of_keys_stored_in_another_form {
    audit_tests::__backend_test!(
        backfill_of_keys_stored_in_another_form,
        sqlite,
        Sqlite,
        "_s"
    );
}

mod keys_stored_in_another_form {
    audit_tests::__backend_test!(keys_stored_in_another_form, sqlite, Sqlite, "_s");
}
