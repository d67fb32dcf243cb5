//! Questions asked of a record's history through its entity: its state at a time (at the
//! boundaries), the changes between versions and since a time, who changed each field.

use audit_seaorm::entity::versions as versions_table;
use audit_seaorm::{AuditContext, AuditedEntity, Error, Version};
use audit_tests::{backend_tests, post, translation};
use chrono::{DateTime, Duration, Utc};
use sea_orm::{ActiveModelTrait, ActiveValue, DatabaseConnection, ModelTrait, Set};
use serde_json::json;

const MICRO: Duration = Duration::microseconds(1);

async fn retitle(db: &DatabaseConnection, id: i32, title: &str) -> post::Model {
    post::ActiveModel {
        id: ActiveValue::Unchanged(id),
        title: Set(title.into()),
        ..Default::default()
    }
    .update(db)
    .await
    .unwrap()
}

/// The time each version of post `id` was written, by number.
async fn times(db: &DatabaseConnection, id: i32) -> Vec<DateTime<Utc>> {
    let vs: Vec<Version> = post::Entity::versions(db, id).await.unwrap();
    vs.iter().map(|v| v.created_at).collect()
}

async fn title_at(db: &DatabaseConnection, id: i32, t: DateTime<Utc>) -> Option<String> {
    post::Entity::as_of(db, id, t)
        .await
        .unwrap()
        .map(|p| p.title)
}

/// Created, renamed, deleted, created again: the state at each boundary, exact to the
/// stored microsecond.
async fn as_of_at_the_boundaries(db: DatabaseConnection) {
    let p = post::new("first", "s").insert(&db).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    retitle(&db, p.id, "second").await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    p.clone().delete(&db).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let mut again: post::ActiveModel = post::new("third", "s");
    again.id = Set(p.id);
    again.insert(&db).await.unwrap();
    let t = times(&db, p.id).await;
    assert_eq!(t.len(), 4, "created, updated, deleted, created");

    assert_eq!(
        title_at(&db, p.id, t[0] - MICRO).await,
        None,
        "before creation"
    );
    assert_eq!(
        title_at(&db, p.id, t[0]).await.as_deref(),
        Some("first"),
        "exact"
    );
    assert_eq!(
        title_at(&db, p.id, t[1] - MICRO).await.as_deref(),
        Some("first")
    );
    assert_eq!(title_at(&db, p.id, t[1]).await.as_deref(), Some("second"));
    assert_eq!(title_at(&db, p.id, t[2]).await, None, "deleted");
    assert_eq!(
        title_at(&db, p.id, t[3]).await.as_deref(),
        Some("third"),
        "re-created"
    );
    let v = post::Entity::version_at(&db, p.id, t[2])
        .await
        .unwrap()
        .unwrap();
    assert_eq!((v.version, v.event.as_str()), (3, "deleted"));

    // Redacted and skipped fields are in no snapshot: their type's default.
    let then = post::Entity::as_of(&db, p.id, t[0]).await.unwrap().unwrap();
    assert_eq!((then.api_token.as_str(), then.view_count), ("", 0));
}

/// A time between two microseconds counts as the one below it, before 2000 too (where
/// PostgreSQL's driver, cutting toward its epoch, rounded the bound up).
async fn as_of_between_microseconds_before_2000(db: DatabaseConnection) {
    use audit_seaorm::entity::versions;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
    let p = post::new("old", "s").insert(&db).await.unwrap();
    let stored: DateTime<Utc> = "1999-06-01T00:00:00.000002Z".parse().unwrap();
    versions::Entity::update_many()
        .col_expr(versions::Column::CreatedAt, Expr::value(stored))
        .filter(versions::Column::SubjectId.eq(p.id.to_string()))
        .exec(&db)
        .await
        .unwrap();
    let between: DateTime<Utc> = "1999-06-01T00:00:00.0000015Z".parse().unwrap();
    assert_eq!(title_at(&db, p.id, between).await, None);
    assert_eq!(title_at(&db, p.id, stored).await.as_deref(), Some("old"));
}

/// Two versions written at one stored timestamp: the higher number is in force.
async fn as_of_orders_by_number_within_a_timestamp(db: DatabaseConnection) {
    let p = post::new("one", "s").insert(&db).await.unwrap();
    retitle(&db, p.id, "two").await;
    let vs = post::Entity::versions(&db, p.id).await.unwrap();
    versions_table::ActiveModel {
        id: ActiveValue::Unchanged(vs[1].id),
        created_at: Set(vs[0].created_at),
        ..Default::default()
    }
    .update(&db)
    .await
    .unwrap();
    assert_eq!(
        title_at(&db, p.id, vs[0].created_at).await.as_deref(),
        Some("two")
    );
}

/// Posts `p0`, `p1`, … (their ids), and a time after their creation and before any later
/// write.
async fn posts_then_a_moment(db: &DatabaseConnection, n: usize) -> (Vec<i32>, DateTime<Utc>) {
    let mut ids = Vec::new();
    for i in 0..n {
        let p = post::new(&format!("p{i}"), &format!("s{i}"));
        ids.push(p.insert(db).await.unwrap().id);
    }
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let moment = Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    (ids, moment)
}

async fn as_of_many_in_one_query(db: DatabaseConnection) {
    let (ids, before) = posts_then_a_moment(&db, 3).await;
    retitle(&db, ids[0], "changed").await;
    post::reload(&db, ids[1]).await.delete(&db).await.unwrap();
    let mut then = post::Entity::as_of_many(&db, &ids, before).await.unwrap();
    then.sort_by_key(|p| p.id);
    let titles: Vec<&str> = then.iter().map(|p| p.title.as_str()).collect();
    assert_eq!(titles, ["p0", "p1", "p2"]);
    let now = post::Entity::as_of_many(&db, &ids, Utc::now())
        .await
        .unwrap();
    let mut titles: Vec<String> = now.into_iter().map(|p| p.title).collect();
    titles.sort();
    assert_eq!(titles, ["changed", "p2"], "the deleted one is gone");
    let twice = post::Entity::as_of_many(&db, &[ids[2], ids[2]], Utc::now())
        .await
        .unwrap();
    assert_eq!(twice.len(), 1, "a key named twice, one record");
    assert!(
        post::Entity::as_of_many(&db, &[], before)
            .await
            .unwrap()
            .is_empty()
    );
    // Times past what a database stores are clamped, as `as_of`'s are.
    let never = post::Entity::as_of_many(&db, &ids, DateTime::<Utc>::MIN_UTC)
        .await
        .unwrap();
    assert!(never.is_empty());
    let ever = post::Entity::as_of_many(&db, &ids, DateTime::<Utc>::MAX_UTC)
        .await
        .unwrap();
    assert_eq!(ever.len(), 2);
}

/// A delete has no fields after it: a diff to (or from) a `deleted` version takes every
/// field to (or from) `null`, as `changes_since` does.
async fn a_diff_across_a_delete(db: DatabaseConnection) {
    let p = post::new("a", "s").insert(&db).await.unwrap();
    p.clone().delete(&db).await.unwrap();
    let vs = post::Entity::versions(&db, p.id).await.unwrap();
    assert_eq!(vs.len(), 2);
    // (a field that was `null` stays `null`: no change)
    let fields: Vec<&str> = vs[0]
        .data
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, _)| k.as_str())
        .collect();
    assert!(fields.len() >= 2, "{fields:?}");
    for d in [
        post::Entity::diff(&db, p.id, 1, 2).await.unwrap(),
        audit_seaorm::diff_versions(&db, vs[0].id, vs[1].id)
            .await
            .unwrap(),
    ] {
        let gone: Vec<&str> = d.iter().map(|(f, _)| f).collect();
        assert_eq!(gone, fields);
        for (field, change) in d.iter() {
            assert_eq!(
                (&change.old, &change.new),
                (&vs[0].data[field], &json!(null))
            );
        }
    }
    let back = post::Entity::diff(&db, p.id, 2, 1).await.unwrap();
    assert_eq!(back.get("title").unwrap().old, json!(null));
    assert_eq!(back.get("title").unwrap().new, json!("a"));
}

/// The latest version is the highest-numbered one, whatever the clock of the server that
/// wrote it said: one stamped ahead of the reader's clock is not left out.
async fn the_latest_version_is_by_number(db: DatabaseConnection) {
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let p = post::new("a", "s").insert(&db).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let after_create = Utc::now();
    retitle(&db, p.id, "b").await;
    let ahead = Utc::now() + Duration::minutes(5);
    let ahead = match db.get_database_backend() {
        sea_orm::DbBackend::MySql => sea_orm::Value::ChronoDateTime(Some(ahead.naive_utc())),
        _ => sea_orm::Value::ChronoDateTimeUtc(Some(ahead)),
    };
    versions_table::Entity::update_many()
        .col_expr(versions_table::Column::CreatedAt, Expr::val(ahead))
        .filter(versions_table::Column::SubjectId.eq(p.id.to_string()))
        .filter(versions_table::Column::Version.eq(2))
        .exec(&db)
        .await
        .unwrap();
    let since = post::Entity::changes_since(&db, p.id, after_create)
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(&since).unwrap(),
        json!({"title": {"old": "a", "new": "b"}})
    );
}

async fn diffs_between_versions_and_since_a_time(db: DatabaseConnection) {
    let p = post::new("a", "s").insert(&db).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let after_create = Utc::now();
    retitle(&db, p.id, "b").await;
    retitle(&db, p.id, "c").await;
    let d = post::Entity::diff(&db, p.id, 1, 3).await.unwrap();
    assert_eq!(
        serde_json::to_value(&d).unwrap(),
        json!({"title": {"old": "a", "new": "c"}})
    );
    let back = post::Entity::diff(&db, p.id, 3, 1).await.unwrap();
    assert_eq!(back.get("title").unwrap().new, json!("a"));
    let since = post::Entity::changes_since(&db, p.id, after_create)
        .await
        .unwrap();
    assert_eq!(since, d);
    let vs = post::Entity::versions(&db, p.id).await.unwrap();
    let by_id = audit_seaorm::diff_versions(&db, vs[0].id, vs[2].id)
        .await
        .unwrap();
    assert_eq!(by_id, d);
    let other = post::new("x", "x").insert(&db).await.unwrap();
    let theirs = post::Entity::versions(&db, other.id).await.unwrap()[0].id;
    assert!(matches!(
        audit_seaorm::diff_versions(&db, vs[0].id, theirs).await,
        Err(Error::SubjectMismatch { .. })
    ));
    match post::Entity::diff(&db, p.id, 1, 9).await {
        Err(Error::VersionNumberNotFound { version: 9, .. }) => {}
        other => panic!("expected VersionNumberNotFound, got {other:?}"),
    }
}

/// The last change of each field, and the history of one field, with who and which request.
async fn blame_and_field_history(db: DatabaseConnection) {
    let p = AuditContext::new()
        .causer("alice")
        .scope(post::new("a", "s").insert(&db))
        .await
        .unwrap();
    AuditContext::new()
        .causer("bob")
        .request_id("req-7")
        .scope(retitle(&db, p.id, "b"))
        .await;
    let blame = post::Entity::blame(&db, p.id).await.unwrap();
    assert_eq!(blame["title"].causer_id.as_deref(), Some("bob"));
    assert_eq!(blame["title"].request_id.as_deref(), Some("req-7"));
    assert_eq!(
        (blame["title"].old.clone(), blame["title"].new.clone()),
        (json!("a"), json!("b"))
    );
    assert_eq!(blame["slug"].causer_id.as_deref(), Some("alice"));
    assert_eq!(
        blame["api_token"].new,
        json!("[redacted]"),
        "redacted stays redacted"
    );
    assert!(
        !blame.contains_key("view_count"),
        "skipped fields are never logged"
    );
    let titles = post::Entity::field_history(&db, p.id, "title")
        .await
        .unwrap();
    let news: Vec<_> = titles.iter().map(|b| b.new.clone()).collect();
    assert_eq!(news, [json!("a"), json!("b")]);
}

/// Blame reads the history newest first and stops once every field is found: a field
/// changed only at creation, 150 entries back (beyond the first page), is still found.
async fn blame_reaches_back_to_the_creation(db: DatabaseConnection) {
    let p = AuditContext::new()
        .causer("alice")
        .scope(post::new("t0", "slug").insert(&db))
        .await
        .unwrap();
    for i in 1..=150 {
        AuditContext::new()
            .causer("bob")
            .scope(retitle(&db, p.id, &format!("t{i}")))
            .await;
    }
    let blame = post::Entity::blame(&db, p.id).await.unwrap();
    assert_eq!(blame["title"].new, json!("t150"));
    assert_eq!(blame["title"].causer_id.as_deref(), Some("bob"));
    assert_eq!(blame["slug"].new, json!("slug"));
    assert_eq!(blame["slug"].action.as_str(), "created");
    assert_eq!(blame["published_at"].action.as_str(), "created");
    assert!(!blame.contains_key("id"), "the key has no blame");
}

/// A composite key is passed as the tuple of its values.
async fn composite_keys(db: DatabaseConnection) {
    let t = translation::ActiveModel {
        post_id: Set(7),
        locale: Set("en".into()),
        body: Set("Hello".into()),
    }
    .insert(&db)
    .await
    .unwrap();
    let key = (7, "en".to_owned());
    assert_eq!(
        translation::Entity::history(&db, key.clone())
            .await
            .unwrap()
            .len(),
        1
    );
    let then = translation::Entity::as_of(&db, key, Utc::now())
        .await
        .unwrap();
    assert_eq!(then, Some(t));
}

/// A one-column key that serializes as an array (bytes).
mod bytes_keyed {
    use audit_seaorm::Audited;
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq, Audited)]
    #[sea_orm(table_name = "bytes_keyed")]
    pub struct Model {
        #[sea_orm(
            primary_key,
            auto_increment = false,
            column_type = "VarBinary(StringLen::N(16))"
        )]
        pub id: Vec<u8>,
        pub name: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    #[audit_seaorm::behavior]
    impl ActiveModelBehavior for ActiveModel {}
}

/// A key of one byte is found by the typed lookups under the id the hooks wrote (`[5]`,
/// not the `5` of a composite key of one value).
async fn a_key_of_one_byte(db: DatabaseConnection) {
    use audit_seaorm::Audited;
    audit_tests::create_table(&db, bytes_keyed::Entity).await;
    let row = bytes_keyed::ActiveModel {
        id: Set(vec![5]),
        name: Set("five".into()),
    }
    .insert(&db)
    .await
    .unwrap();
    assert_eq!(row.subject_id().unwrap(), "[5]");
    let trail = bytes_keyed::Entity::history(&db, vec![5]).await.unwrap();
    assert_eq!(trail.len(), 1);
    assert_eq!(trail[0].subject_id, "[5]");
    let then = bytes_keyed::Entity::as_of(&db, vec![5], Utc::now())
        .await
        .unwrap();
    assert_eq!(then, Some(row));
}

/// Every record at a time, in pages, one query each: the deleted one is left out.
async fn all_as_of_in_pages(db: DatabaseConnection) {
    let (ids, before) = posts_then_a_moment(&db, 5).await;
    post::reload(&db, ids[2]).await.delete(&db).await.unwrap();
    retitle(&db, ids[0], "p0 later").await;

    let mut seen = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let page = post::Entity::all_as_of(&db, Utc::now(), after.as_ref(), 2)
            .await
            .unwrap();
        pages += 1;
        seen.extend(page.items.into_iter().map(|p| p.title));
        match page.next_after {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, ["p0 later", "p1", "p3", "p4"]);
    assert_eq!(pages, 3, "five subjects, two a page");
    let then = post::Entity::all_as_of(&db, before, None, 10)
        .await
        .unwrap();
    let titles: Vec<_> = then.items.into_iter().map(|p| p.title).collect();
    assert_eq!(titles, ["p0", "p1", "p2", "p3", "p4"]);
}

/// A post created through the hooks, and one inserted around them (its id 100 above).
async fn a_row_around_the_hooks(db: &DatabaseConnection) -> (post::Model, i32) {
    use sea_orm::EntityTrait;
    let seen = post::new("seen", "seen").insert(db).await.unwrap();
    let around = seen.id + 100;
    post::Entity::insert(post::ActiveModel {
        id: Set(around),
        ..post::new("around", "around")
    })
    .exec(db)
    .await
    .unwrap();
    (seen, around)
}

/// A row inserted around the hooks that no audited write has touched: `as_of` says the
/// trail does not hold it (not "not created yet"); an id with no row and no version is
/// `None`.
async fn a_row_the_trail_never_saw(db: DatabaseConnection) {
    let (_, around) = a_row_around_the_hooks(&db).await;
    let r = post::Entity::as_of(&db, around, Utc::now()).await;
    assert!(matches!(r, Err(Error::NoTrail { .. })), "{r:?}");
    assert_eq!(
        post::Entity::as_of(&db, around + 1, Utc::now())
            .await
            .unwrap(),
        None
    );
}

/// A version written before a field was removed from the model (here: a snapshot holding
/// a field the model does not have) still reads back as the record then, without it.
async fn a_removed_field_is_left_out_of_the_past(db: DatabaseConnection) {
    let p = post::new("v1", "s").insert(&db).await.unwrap();
    audit_seaorm::snapshot(
        &db,
        "post",
        p.id,
        &serde_json::json!({"id": p.id, "title": "old", "slug": "s", "subtitle": "gone"}),
    )
    .await
    .unwrap();
    let then = post::Entity::as_of(&db, p.id, Utc::now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(then.title, "old");
    let many = post::Entity::as_of_many(&db, &[p.id], Utc::now())
        .await
        .unwrap();
    assert_eq!(many.len(), 1);
}

/// A row inserted around the hooks, first seen by its hooked update (its type already has
/// its baseline, so no baseline is written first): before that version the row existed,
/// as what the trail cannot tell, not "not created yet".
async fn a_row_first_seen_by_an_update(db: DatabaseConnection) {
    let (seen, around) = a_row_around_the_hooks(&db).await;
    let before = Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    retitle(&db, around, "seen now").await;
    let vs = post::Entity::versions(&db, around).await.unwrap();
    assert_eq!(vs[0].event, "updated", "the scenario: {vs:?}");
    let before_trail = |r: &Result<_, Error>| matches!(r, Err(Error::StateBeforeTrail { .. }));
    let r = post::Entity::as_of(&db, around, before).await.map(|_| ());
    assert!(before_trail(&r), "{r:?}");
    let r = post::Entity::as_of_many(&db, &[seen.id, around], before)
        .await
        .map(|_| ());
    assert!(before_trail(&r), "{r:?}");
    let r = post::Entity::changes_since(&db, around, before)
        .await
        .map(|_| ());
    assert!(before_trail(&r), "{r:?}");
    let then = post::Entity::all_as_of(&db, before, None, 10)
        .await
        .unwrap();
    let ids: Vec<i32> = then.items.iter().map(|p| p.id).collect();
    assert_eq!(ids, [seen.id], "left out");
    assert_eq!(
        title_at(&db, around, Utc::now()).await.as_deref(),
        Some("seen now")
    );
}

/// Versions pruned by `keep_versions`: a time before the earliest version left is a state
/// the trail cannot tell (an error, not "did not exist"); later times answer as before.
async fn a_pruned_state_is_an_error(db: DatabaseConnection) {
    use audit_seaorm::{Retention, prune};
    let p = post::new("v1", "pruned").insert(&db).await.unwrap();
    for title in ["v2", "v3", "v4"] {
        retitle(&db, p.id, title).await;
    }
    let before = times(&db, p.id).await;
    prune(&db, &Retention::new().keep_versions(2))
        .await
        .unwrap();
    let left: Vec<i64> = post::Entity::versions(&db, p.id)
        .await
        .unwrap()
        .iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(left, [3, 4]);
    let later = post::new("later", "later").insert(&db).await.unwrap();
    for t in [before[0] - MICRO, before[1], before[2] - MICRO] {
        match post::Entity::as_of(&db, p.id, t).await {
            Err(Error::StatePruned { earliest, .. }) => assert_eq!(earliest, 3),
            other => panic!("at {t}: expected StatePruned, got {other:?}"),
        }
        assert!(matches!(
            post::Entity::version_at(&db, p.id, t).await,
            Err(Error::StatePruned { earliest: 3, .. })
        ));
        // Among records that did not exist then (none yet at `t`): the pruned one is named.
        match post::Entity::as_of_many(&db, &[later.id, p.id], t).await {
            Err(Error::StatePruned {
                subject_id,
                earliest,
                ..
            }) => assert_eq!((subject_id, earliest), (p.id.to_string(), 3)),
            other => panic!("at {t}: expected StatePruned, got {other:?}"),
        }
        assert!(matches!(
            post::Entity::changes_since(&db, p.id, t).await,
            Err(Error::StatePruned { .. })
        ));
    }
    assert_eq!(title_at(&db, p.id, before[2]).await.as_deref(), Some("v3"));
    assert_eq!(title_at(&db, p.id, Utc::now()).await.as_deref(), Some("v4"));
}

/// A record deleted since a time: every field it had then goes to `null`.
async fn changes_since_a_delete(db: DatabaseConnection) {
    let p = post::new("kept", "gone").insert(&db).await.unwrap();
    let t = Utc::now();
    p.clone().delete(&db).await.unwrap();
    let changes = post::Entity::changes_since(&db, p.id, t).await.unwrap();
    assert_eq!(changes.get("title").unwrap().old, json!("kept"));
    assert_eq!(changes.get("title").unwrap().new, json!(null));
    // And one that did not exist then but does now: every field new.
    let born = Utc::now();
    let q = post::new("new", "born").insert(&db).await.unwrap();
    let changes = post::Entity::changes_since(&db, q.id, born).await.unwrap();
    assert_eq!(changes.get("title").unwrap().old, json!(null));
    assert_eq!(changes.get("title").unwrap().new, json!("new"));
}

/// More keys than SQLite takes parameters in one statement (32,766): the read goes in
/// parts, and every record comes back.
async fn as_of_many_of_more_keys_than_one_statement_takes(db: DatabaseConnection) {
    use audit_seaorm::AuditedBulk;
    use sea_orm::EntityTrait;
    const N: usize = 40_000;
    post::Entity::insert_many_audited(
        (0..N).map(|i| post::new(&format!("p{i}"), &format!("s{i}"))),
    )
    .exec(&db)
    .await
    .unwrap();
    let ids: Vec<i32> = post::Entity::find()
        .all(&db)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(ids.len(), N);
    let all = post::Entity::as_of_many(&db, &ids, Utc::now())
        .await
        .unwrap();
    assert_eq!(all.len(), N);
    let mut titles: Vec<String> = all.into_iter().map(|p| p.title).collect();
    titles.sort();
    titles.dedup();
    assert_eq!(titles.len(), N, "each record once");
}

/// SQLite only: its parameter limit is the lowest.
mod as_of_many_of_more_keys_than_one_statement_takes {
    audit_tests::__backend_test!(
        as_of_many_of_more_keys_than_one_statement_takes,
        sqlite,
        Sqlite,
        "_s"
    );
}

backend_tests!(
    as_of_between_microseconds_before_2000,
    a_row_the_trail_never_saw,
    a_removed_field_is_left_out_of_the_past,
    a_row_first_seen_by_an_update,
    a_pruned_state_is_an_error,
    changes_since_a_delete,
    all_as_of_in_pages,
    as_of_at_the_boundaries,
    as_of_orders_by_number_within_a_timestamp,
    as_of_many_in_one_query,
    a_diff_across_a_delete,
    the_latest_version_is_by_number,
    diffs_between_versions_and_since_a_time,
    blame_and_field_history,
    blame_reaches_back_to_the_creation,
    composite_keys,
    a_key_of_one_byte,
);
