//! Retention: `prune` removes old entries and all but the last versions of each record,
//! per subject type, in batches, and records what it did.

use audit_seaorm::entity::{activity_log, versions as versions_table};
use audit_seaorm::{
    Action, AuditedEntity, Error, Filter, Policy, Retention, activity, history, prune, versions,
};
use audit_tests::{backend_tests, post, translation};
use chrono::{Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, ModelTrait, PaginatorTrait,
    QueryFilter, Set,
};
use serde_json::json;

/// Moves the entries with these ids `days` into the past.
async fn age_entries(db: &DatabaseConnection, ids: Vec<i64>, days: i64) {
    let then = (Utc::now() - Duration::days(days)).naive_utc();
    activity_log::Entity::update_many()
        .col_expr(activity_log::Column::CreatedAt, Expr::value(then))
        .filter(activity_log::Column::Id.is_in(ids))
        .exec(db)
        .await
        .unwrap();
}

async fn post_with_versions(db: &DatabaseConnection, slug: &str, updates: usize) -> post::Model {
    let mut p = post::new("v1", slug).insert(db).await.unwrap();
    for i in 0..updates {
        let mut am: post::ActiveModel = p.into();
        am.title = Set(format!("v{}", i + 2));
        p = am.update(db).await.unwrap();
    }
    p
}

/// Moves every entry of post `id` `days` into the past.
async fn age_history(db: &DatabaseConnection, id: i32, days: i64) {
    let ids = history(db, "post", id)
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    age_entries(db, ids, days).await;
}

async fn entry_count(db: &DatabaseConnection) -> u64 {
    activity_log::Entity::find().count(db).await.unwrap()
}

/// Entries older than the policy's age go; younger ones, and the versions, stay; one
/// `pruned` entry records the run.
async fn entries_older_than(db: DatabaseConnection) {
    let a = post_with_versions(&db, "a", 0).await;
    let b = post_with_versions(&db, "b", 1).await;
    age_history(&db, b.id, 400).await;
    let done = prune(
        &db,
        &Retention::new().entries_older_than(Duration::days(365)),
    )
    .await
    .unwrap();
    assert_eq!((done.entries, done.versions), (2, 0));
    assert!(history(&db, "post", b.id).await.unwrap().is_empty());
    assert_eq!(history(&db, "post", a.id).await.unwrap().len(), 1);
    assert_eq!(versions(&db, "post", b.id).await.unwrap().len(), 2);
    let runs = activity(&db, &Filter::new().action(Action::Pruned))
        .await
        .unwrap();
    assert_eq!(runs.items.len(), 1);
    assert_eq!(Some(runs.items[0].id), done.entry_id);
    let props = runs.items[0].properties.clone().unwrap();
    assert_eq!(props["entries"], json!(2));
    assert_eq!(props["versions"], json!(0));
    assert!(props["entries_before"]["*"].is_string(), "{props}");
}

/// More chains than `prune` folds into their anchors in one transaction: every chain is
/// folded once, and the trail verifies.
async fn chains_fold_over_transactions(db: DatabaseConnection) {
    const N: usize = 1_100;
    let at = Utc::now() - Duration::days(400);
    let rows = (0..N).map(|i| activity_log::ActiveModel {
        action: Set("viewed".into()),
        subject_type: Set("item".into()),
        subject_id: Set(i.to_string()),
        changes: Set(json!({})),
        created_at: Set(at),
        ..Default::default()
    });
    activity_log::Entity::insert_many(rows)
        .exec_without_returning(&db)
        .await
        .unwrap();
    assert_eq!(audit_seaorm::seal_all(&db).await.unwrap().rows, N as u64);
    let done = prune(
        &db,
        &Retention::new().entries_older_than(Duration::days(365)),
    )
    .await
    .unwrap();
    assert_eq!(done.entries, N as u64);
    let anchored = audit_seaorm::entity::chains::Entity::find()
        .filter(audit_seaorm::entity::chains::Column::SubjectType.eq("item"))
        .filter(audit_seaorm::entity::chains::Column::AnchorSeq.eq(1))
        .count(&db)
        .await
        .unwrap();
    assert_eq!(anchored, N as u64);
    let marked = audit_seaorm::entity::seals::Entity::find()
        .filter(audit_seaorm::entity::seals::Column::RowId.lt(0))
        .count(&db)
        .await
        .unwrap();
    assert_eq!(marked, 0);
    let report = audit_seaorm::verify(&db, &audit_seaorm::VerifyScope::all())
        .await
        .unwrap();
    assert!(report.is_intact(), "{:#?}", report.breaks);
}

/// A row under an id no database gives (0 and below, written with an explicit id) is not
/// retention's to remove, however old: `verify` reports it `inserted`, and the partitioned
/// layout's month drop keeps it too.
async fn forged_rows_stay(db: DatabaseConnection) {
    let honest = post_with_versions(&db, "honest", 0).await;
    age_history(&db, honest.id, 400).await;
    activity_log::Entity::insert(activity_log::ActiveModel {
        id: Set(-1),
        action: Set("viewed".into()),
        subject_type: Set("item".into()),
        subject_id: Set("forged".into()),
        changes: Set(json!({})),
        created_at: Set(Utc::now() - Duration::days(400)),
        ..Default::default()
    })
    .exec_without_returning(&db)
    .await
    .unwrap();
    let done = prune(
        &db,
        &Retention::new().entries_older_than(Duration::days(365)),
    )
    .await
    .unwrap();
    assert_eq!(done.entries, 1, "{done:?}");
    let forged = activity_log::Entity::find()
        .filter(activity_log::Column::Id.eq(-1))
        .count(&db)
        .await
        .unwrap();
    assert_eq!(forged, 1);
}

/// The longest age a policy takes is a cut-off every backend holds (MySQL's `DATETIME`
/// starts at the year 1000): nothing that young goes.
async fn the_longest_age_keeps_everything(db: DatabaseConnection) {
    let a = post_with_versions(&db, "a", 1).await;
    age_history(&db, a.id, 400).await;
    let done = prune(&db, &Retention::new().entries_older_than(Policy::MAX_AGE))
        .await
        .unwrap();
    assert_eq!((done.entries, done.versions), (0, 0));
    assert_eq!(history(&db, "post", a.id).await.unwrap().len(), 2);
}

/// A batch whose hours' dashboard counts cannot be forgotten removes nothing: the entries
/// and their counts go in one transaction, so a failure (or a crash) between the two
/// cannot leave counts of entries that are gone.
async fn entries_and_their_counts_go_together(db: DatabaseConnection) {
    use sea_orm::ConnectionTrait;
    let b = post_with_versions(&db, "b", 1).await;
    age_history(&db, b.id, 400).await;
    db.execute_unprepared("DROP TABLE activity_log_hourly")
        .await
        .unwrap();
    let failed = prune(
        &db,
        &Retention::new().entries_older_than(Duration::days(365)),
    )
    .await;
    assert!(failed.is_err(), "{failed:?}");
    assert_eq!(history(&db, "post", b.id).await.unwrap().len(), 2);
}

/// Versions beyond the last N of each record go; the record's next write still diffs
/// against its latest version and numbers after it, and what is left restores.
async fn keep_last_versions(db: DatabaseConnection) {
    let p = post_with_versions(&db, "p", 5).await; // versions 1..=6
    let q = post_with_versions(&db, "q", 1).await; // versions 1..=2
    let done = prune(&db, &Retention::new().keep_versions(2))
        .await
        .unwrap();
    assert_eq!((done.entries, done.versions), (0, 4));
    let numbers = |vs: Vec<audit_seaorm::Version>| vs.iter().map(|v| v.version).collect::<Vec<_>>();
    assert_eq!(numbers(versions(&db, "post", p.id).await.unwrap()), [5, 6]);
    assert_eq!(numbers(versions(&db, "post", q.id).await.unwrap()), [1, 2]);
    // The write path reads the latest version: still there.
    let mut am: post::ActiveModel = p.clone().into();
    am.title = Set("v7".into());
    am.update(&db).await.unwrap();
    let trail = history(&db, "post", p.id).await.unwrap();
    let last = trail.last().unwrap();
    assert_eq!(last.changes.get("title").unwrap().old, json!("v6"));
    let vs = versions(&db, "post", p.id).await.unwrap();
    assert_eq!(numbers(vs.clone()), [5, 6, 7]);
    let restored = post::Entity::restore(&db, vs[0].id).await.unwrap();
    assert_eq!(restored.title, "v5");
    // Running again finds nothing more beyond the last 2 except what the writes added.
    let again = prune(&db, &Retention::new().keep_versions(2))
        .await
        .unwrap();
    assert_eq!(again.versions, 2); // versions 5 and 6 of `p`, now that 7 and 8 exist
}

/// A deleted record keeps its last version (the one a restore brings it back from).
async fn deleted_records_keep_their_last_version(db: DatabaseConnection) {
    let p = post_with_versions(&db, "p", 3).await;
    p.clone().delete(&db).await.unwrap();
    let done = prune(&db, &Retention::new().keep_versions(1))
        .await
        .unwrap();
    assert_eq!(done.versions, 4);
    let vs = versions(&db, "post", p.id).await.unwrap();
    assert_eq!(vs.len(), 1);
    assert_eq!(vs[0].event.as_str(), "deleted");
    let back = post::Entity::restore(&db, vs[0].id).await.unwrap();
    assert_eq!(back.title, p.title);
}

/// A per-type policy overrides the retention's own, field by field.
async fn per_type_overrides(db: DatabaseConnection) {
    let p = post_with_versions(&db, "p", 3).await; // 4 versions
    let mut t = translation::ActiveModel {
        post_id: Set(1),
        locale: Set("en".into()),
        body: Set("b1".into()),
    }
    .insert(&db)
    .await
    .unwrap();
    for i in 2..=4 {
        let mut am: translation::ActiveModel = t.into();
        am.body = Set(format!("b{i}"));
        t = am.update(&db).await.unwrap();
    }
    let retention = Retention::new()
        .keep_versions(1)
        .subject_type("translations", Policy::new().keep_versions(3));
    let done = prune(&db, &retention).await.unwrap();
    assert_eq!(done.versions, 3 + 1);
    assert_eq!(versions(&db, "post", p.id).await.unwrap().len(), 1);
    let kept = translation::Entity::versions(&db, (1, "en".to_owned()))
        .await
        .unwrap();
    assert_eq!(kept.len(), 3);
}

/// A dry run counts what a real run then removes, and removes nothing itself.
async fn dry_run_only_counts(db: DatabaseConnection) {
    post_with_versions(&db, "p", 4).await;
    let ids: Vec<i64> = activity_log::Entity::find()
        .all(&db)
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .take(3)
        .collect();
    age_entries(&db, ids, 40).await;
    let retention = Retention::new()
        .entries_older_than(Duration::days(30))
        .keep_versions(2);
    let entries = entry_count(&db).await;
    let counted = prune(&db, &retention.clone().dry_run(true)).await.unwrap();
    assert!(counted.dry_run);
    assert_eq!((counted.entries, counted.versions), (3, 3));
    assert_eq!(counted.entry_id, None);
    assert_eq!(entry_count(&db).await, entries);
    let done = prune(&db, &retention).await.unwrap();
    assert_eq!((done.entries, done.versions), (3, 3));
    assert_eq!(entry_count(&db).await, entries - 3 + 1);
}

/// Small batches: everything is removed over many statements, and a second run (as after
/// a crash) has nothing left to do.
async fn batches_and_resume(db: DatabaseConnection) {
    for i in 0..7 {
        post_with_versions(&db, &format!("p{i}"), 2).await;
    }
    let ids: Vec<i64> = activity_log::Entity::find()
        .all(&db)
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids.len(), 21);
    age_entries(&db, ids, 10).await;
    let retention = Retention::new()
        .entries_older_than(Duration::days(1))
        .keep_versions(1)
        .batch_size(2);
    let done = prune(&db, &retention).await.unwrap();
    assert_eq!((done.entries, done.versions), (21, 14));
    assert_eq!(versions_table::Entity::find().count(&db).await.unwrap(), 7);
    let again = prune(&db, &retention).await.unwrap();
    assert_eq!((again.entries, again.versions), (0, 0));
}

/// A record with more versions to go than a batch holds is trimmed over several batches,
/// oldest first, none over the batch size; the chains fold what each batch removed.
async fn a_long_record_is_trimmed_over_batches(db: DatabaseConnection) {
    let big = post_with_versions(&db, "big", 11).await;
    let small = [
        post_with_versions(&db, "s1", 2).await,
        post_with_versions(&db, "s2", 2).await,
    ];
    audit_seaorm::seal_all(&db).await.unwrap();
    // 10 versions of the big record go and 1 of each small one: batches of 4, 4 and 4.
    let retention = Retention::new().keep_versions(2).batch_size(4);
    let counted = prune(&db, &retention.clone().dry_run(true)).await.unwrap();
    assert_eq!((counted.versions, counted.batches), (12, 0));
    let done = prune(&db, &retention).await.unwrap();
    assert_eq!((done.versions, done.batches), (12, 3));
    let numbers = |versions: Vec<audit_seaorm::Version>| {
        versions.iter().map(|v| v.version).collect::<Vec<_>>()
    };
    assert_eq!(
        numbers(versions(&db, "post", big.id).await.unwrap()),
        [11, 12]
    );
    for p in &small {
        assert_eq!(numbers(versions(&db, "post", p.id).await.unwrap()), [2, 3]);
    }
    let report = audit_seaorm::verify(&db, &audit_seaorm::VerifyScope::all())
        .await
        .unwrap();
    assert!(report.is_intact(), "{:#?}", report.breaks);
    let again = prune(&db, &retention).await.unwrap();
    assert_eq!((again.versions, again.batches), (0, 0));
}

/// Bad policies are errors before anything is touched.
async fn bad_policies(db: DatabaseConnection) {
    post_with_versions(&db, "p", 2).await;
    for r in [
        Retention::new(),
        Retention::new().keep_versions(0),
        Retention::new().entries_older_than(Duration::days(-3)),
    ] {
        let err = prune(&db, &r).await.unwrap_err();
        assert!(matches!(err, Error::InvalidRetention(_)), "{err}");
    }
    assert_eq!(versions_table::Entity::find().count(&db).await.unwrap(), 3);
    assert_eq!(entry_count(&db).await, 3);
}

/// A batch of thousands of records to trim: their condition is one statement that every
/// backend takes (a chain of thousands of `OR`s overflowed the stack while the statement
/// was written, and SQLite refuses an expression over 1,000 deep).
async fn many_records_in_one_batch(db: DatabaseConnection) {
    use audit_seaorm::AuditedBulk;
    const N: usize = 3_000;
    post::Entity::insert_many_audited((0..N).map(|i| post::new("v1", &format!("s{i}"))))
        .exec(&db)
        .await
        .unwrap();
    post::Entity::update_many_audited()
        .col_expr(post::Column::Title, Expr::value("v2"))
        .exec(&db)
        .await
        .unwrap();
    assert_eq!(
        versions_table::Entity::find().count(&db).await.unwrap(),
        2 * N as u64
    );
    let done = prune(&db, &Retention::new().keep_versions(1))
        .await
        .unwrap();
    assert_eq!(done.versions, N as u64);
    let left = versions_table::Entity::find()
        .filter(versions_table::Column::Version.eq(2))
        .count(&db)
        .await
        .unwrap();
    assert_eq!(left, N as u64);
    assert_eq!(
        versions_table::Entity::find().count(&db).await.unwrap(),
        N as u64
    );
}

/// A generated key the database hands out again (its table emptied and its counter reset
/// outside the trail) for a record whose first versions were pruned. PostgreSQL and
/// SQLite number the create after the latest version, whose trail said the row existed
/// (a drift entry says it went). MySQL/MariaDB number a create with a generated key 1
/// without reading the trail (an extra statement in every create's call costs about a
/// quarter of a plain insert: BENCHMARKS.md section 34): there the new row starts again at
/// version 1, beneath the old ones, as the README says; pinned here so that it is known.
async fn a_generated_key_given_again_after_prune(db: DatabaseConnection) {
    use sea_orm::{ConnectionTrait, DbBackend};
    let p = post::new("v1", "s").insert(&db).await.unwrap();
    for title in ["v2", "v3"] {
        let mut am: post::ActiveModel = post::reload(&db, p.id).await.into();
        am.title = Set(title.into());
        am.update(&db).await.unwrap();
    }
    let pruned = prune(&db, &Retention::new().keep_versions(1))
        .await
        .unwrap();
    assert_eq!(pruned.versions, 2);
    let reset = match db.get_database_backend() {
        DbBackend::Postgres => r#"TRUNCATE "posts" RESTART IDENTITY"#,
        DbBackend::MySql => "TRUNCATE TABLE `posts`",
        _ => {
            r#"DELETE FROM "posts"; UPDATE "sqlite_sequence" SET "seq" = 0 WHERE "name" = 'posts'"#
        }
    };
    db.execute_unprepared(reset).await.unwrap();
    let again = post::new("again", "again").insert(&db).await.unwrap();
    assert_eq!(again.id, p.id, "the scenario: the key given again");
    let vs = versions(&db, "post", p.id).await.unwrap();
    let numbered: Vec<(i64, &str)> = vs.iter().map(|v| (v.version, v.event.as_str())).collect();
    let actions: Vec<String> = history(&db, "post", p.id)
        .await
        .unwrap()
        .iter()
        .map(|e| e.action.as_str().to_owned())
        .collect();
    if db.get_database_backend() == DbBackend::MySql {
        assert_eq!(numbered, [(1, "created"), (3, "updated")]);
        assert_eq!(actions, ["created", "updated", "updated", "created"]);
    } else {
        assert_eq!(numbered, [(3, "updated"), (4, "created")]);
        assert_eq!(
            actions,
            ["created", "updated", "updated", "drift", "created"]
        );
    }
}

backend_tests!(
    a_generated_key_given_again_after_prune,
    forged_rows_stay,
    chains_fold_over_transactions,
    the_longest_age_keeps_everything,
    entries_and_their_counts_go_together,
    many_records_in_one_batch,
    entries_older_than,
    keep_last_versions,
    deleted_records_keep_their_last_version,
    per_type_overrides,
    dry_run_only_counts,
    batches_and_resume,
    a_long_record_is_trimmed_over_batches,
    bad_policies,
);
