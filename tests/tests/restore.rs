//! Typed restore and the untyped version API.

use audit_seaorm::{AuditContext, AuditedEntity, Error, history, snapshot, versions};
use audit_tests::{backend_tests, post, sample, translation};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait,
    ModelTrait, QueryFilter, Set, TransactionTrait,
};
use serde_json::json;

async fn three_versions(db: &DatabaseConnection) -> post::Model {
    let p = post::ActiveModel {
        title: Set("v1".into()),
        slug: Set("s".into()),
        api_token: Set("tok-1".into()),
        view_count: Set(1),
        published_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    let mut am: post::ActiveModel = p.into();
    am.title = Set("v2".into());
    let p = am.update(db).await.unwrap();
    let mut am: post::ActiveModel = p.into();
    am.title = Set("v3".into());
    am.slug = Set("s3".into());
    am.api_token = Set("tok-3".into());
    am.view_count = Set(30);
    am.update(db).await.unwrap()
}

async fn restore_existing_row(db: DatabaseConnection) {
    let p = three_versions(&db).await;
    let v1 = &versions(&db, "post", p.id).await.unwrap()[0];
    let restored = AuditContext::new()
        .causer("admin")
        .scope(post::Entity::restore(&db, v1.id))
        .await
        .unwrap();
    assert_eq!(restored.title, "v1");
    assert_eq!(restored.slug, "s");
    assert_eq!(restored.view_count, 30, "skipped fields are not restored");
    assert_eq!(
        restored.api_token, "tok-3",
        "redacted fields are not restored"
    );
    assert_eq!(post::reload(&db, p.id).await, restored);
    let trail = history(&db, "post", p.id).await.unwrap();
    let last = trail.last().unwrap();
    assert_eq!(last.action.as_str(), "restored");
    assert_eq!(last.causer_id.as_deref(), Some("admin"));
    assert_eq!(
        serde_json::to_value(&last.changes).unwrap(),
        json!({"title": {"old": "v3", "new": "v1"}, "slug": {"old": "s3", "new": "s"}})
    );
    assert_eq!(
        last.properties.as_ref().unwrap()["restored_version"],
        json!(1)
    );
    let vs = versions(&db, "post", p.id).await.unwrap();
    assert_eq!(vs.len(), 4);
    assert_eq!(vs[3].event, "restored");
    assert_eq!(vs[3].data, vs[0].data);
}

async fn restore_deleted_row(db: DatabaseConnection) {
    let p = three_versions(&db).await;
    p.clone().delete(&db).await.unwrap();
    let vs = versions(&db, "post", p.id).await.unwrap();
    assert_eq!(vs.last().unwrap().event, "deleted");
    let txn = db.begin().await.unwrap();
    let restored = post::Entity::restore(&txn, vs[1].id).await.unwrap();
    txn.commit().await.unwrap();
    assert_eq!(restored.id, p.id);
    assert_eq!(restored.title, "v2");
    assert_eq!(
        restored.view_count, 0,
        "a re-inserted row gets the default of a skipped field"
    );
    assert_eq!(restored.api_token, "", "and of a redacted one");
    assert_eq!(post::reload(&db, p.id).await, restored);
    let trail = history(&db, "post", p.id).await.unwrap();
    assert_eq!(trail.last().unwrap().action.as_str(), "restored");
    assert_eq!(
        trail.last().unwrap().changes.get("title").unwrap().old,
        json!(null)
    );
}

async fn restore_composite_key(db: DatabaseConnection) {
    let t = translation::ActiveModel {
        post_id: Set(1),
        locale: Set("de".into()),
        body: Set("Hallo".into()),
    }
    .insert(&db)
    .await
    .unwrap();
    t.clone().delete(&db).await.unwrap();
    let v = &versions(&db, "translations", r#"[1,"de"]"#).await.unwrap()[0];
    let restored = translation::Entity::restore(&db, v.id).await.unwrap();
    assert_eq!(restored, t);
}

async fn restore_errors(db: DatabaseConnection) {
    let p = three_versions(&db).await;
    match post::Entity::restore(&db, 999_999).await {
        Err(Error::VersionNotFound(999_999)) => {}
        other => panic!("expected VersionNotFound, got {other:?}"),
    }
    let t = translation::ActiveModel {
        post_id: Set(1),
        locale: Set("en".into()),
        body: Set("x".into()),
    }
    .insert(&db)
    .await
    .unwrap();
    let tv = &versions(&db, "translations", r#"[1,"en"]"#).await.unwrap()[0];
    match post::Entity::restore(&db, tv.id).await {
        Err(e @ Error::SubjectMismatch { .. }) => {
            assert_eq!(
                e.to_string(),
                format!(
                    "version {} is a version of `translations`, not of `post`",
                    tv.id
                )
            )
        }
        other => panic!("expected SubjectMismatch, got {other:?}"),
    }
    drop(t);
    // A field removed from the model since the snapshot.
    let removed = snapshot(
        &db,
        "post",
        p.id,
        &json!({"id": p.id, "title": "x", "slug": "y", "subtitle": "gone"}),
    )
    .await
    .unwrap();
    let err = post::Entity::restore(&db, removed.id).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("field `subtitle` is in the snapshot but no longer a field"),
        "{err}"
    );
    // A field retyped since.
    let retyped = snapshot(
        &db,
        "post",
        p.id,
        &json!({"id": p.id, "title": 5, "slug": "y"}),
    )
    .await
    .unwrap();
    let err = post::Entity::restore(&db, retyped.id).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("field `title` no longer has the stored type"),
        "{err}"
    );
    // Nothing was written by the failed restores.
    let row = post::reload(&db, p.id).await;
    assert_eq!(row, p);
    // Nor when the row changed outside the trail: its drift is not logged either.
    post::Entity::update_many()
        .col_expr(
            post::Column::Title,
            sea_orm::sea_query::Expr::value("outside"),
        )
        .filter(post::Column::Id.eq(p.id))
        .exec(&db)
        .await
        .unwrap();
    let trail = (
        history(&db, "post", p.id).await.unwrap().len(),
        versions(&db, "post", p.id).await.unwrap().len(),
    );
    for bad in [removed.id, retyped.id] {
        post::Entity::restore(&db, bad).await.unwrap_err();
    }
    assert_eq!(
        (
            history(&db, "post", p.id).await.unwrap().len(),
            versions(&db, "post", p.id).await.unwrap().len()
        ),
        trail
    );
    // A field added since (missing from the snapshot) keeps its current value.
    let partial = snapshot(&db, "post", p.id, &json!({"id": p.id, "title": "partial"}))
        .await
        .unwrap();
    let restored = post::Entity::restore(&db, partial.id).await.unwrap();
    assert_eq!(
        (restored.title.as_str(), restored.slug.as_str()),
        ("partial", "s3")
    );
}

async fn untyped_restore_returns_data(db: DatabaseConnection) {
    let p = three_versions(&db).await;
    let v2 = &versions(&db, "post", p.id).await.unwrap()[1];
    let data = audit_seaorm::version(&db, v2.id).await.unwrap().unwrap();
    assert_eq!(data.version, 2);
    assert_eq!(data.data["title"], json!("v2"));
    // Nothing written.
    assert_eq!(post::reload(&db, p.id).await.title, "v3");
}

async fn reinsert_needs_defaults(db: DatabaseConnection) {
    use audit_seaorm::Audited;
    use sea_orm::IntoActiveModel;
    let m = sample::Model {
        id: uuid::Uuid::from_u128(9),
        small: 1,
        big: 2,
        text: "t".into(),
        flag: true,
        ratio: 0.5,
        maybe: None,
        at: chrono::Utc::now(),
        day: chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap(),
        amount: rust_decimal::Decimal::new(1, 2),
        blob: vec![],
        doc: json!({}),
        status: sample::Status::Live,
    };
    let m = m.into_active_model().reset_all().insert(&db).await.unwrap();
    m.clone().delete(&db).await.unwrap();
    // A snapshot taken before `status` existed: no such key.
    let mut data = m.snapshot().unwrap();
    data.remove("status");
    let old = snapshot(
        &db,
        "samples",
        m.subject_id().unwrap(),
        &serde_json::Value::Object(data),
    )
    .await
    .unwrap();
    let err = sample::Entity::restore(&db, old.id).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("field `status` is not in the snapshot and its type has no default"),
        "{err}"
    );
    assert!(
        sample::Entity::find_by_id(m.id)
            .one(&db)
            .await
            .unwrap()
            .is_none(),
        "nothing re-inserted"
    );
    // Time travel the same: a field the snapshot lacks takes its type's default, and a
    // type without one is an error naming the field (as the README says).
    let err = sample::Entity::as_of(&db, m.id, old.created_at)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Model(_)), "{err:?}");
    assert!(
        err.to_string()
            .contains("field `status` is not in the snapshot and its type has no default"),
        "{err}"
    );
}

/// A restore writes every field back: what changed outside the trail since the latest
/// version (here a plain `update_many`) is logged first as `drift`, with no causer, and
/// the `restored` entry's old values are the row's, not the latest version's.
async fn restore_logs_outside_changes_first(db: DatabaseConnection) {
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, QueryFilter};
    let p = post::new("a", "a").insert(&db).await.unwrap();
    let mut am: post::ActiveModel = p.clone().into();
    am.title = Set("c".into());
    am.update(&db).await.unwrap();
    post::Entity::update_many()
        .col_expr(post::Column::Title, Expr::value("b"))
        .col_expr(post::Column::Slug, Expr::value("outside"))
        .filter(post::Column::Id.eq(p.id))
        .exec(&db)
        .await
        .unwrap();
    let v1 = versions(&db, "post", p.id).await.unwrap()[0].clone();
    AuditContext::new()
        .causer("restorer")
        .scope(post::Entity::restore(&db, v1.id))
        .await
        .unwrap();
    let row = post::reload(&db, p.id).await;
    assert_eq!((row.title.as_str(), row.slug.as_str()), ("a", "a"));
    let trail = history(&db, "post", p.id).await.unwrap();
    let actions: Vec<&str> = trail.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["created", "updated", "drift", "restored"]);
    assert_eq!(trail[2].causer_id, None);
    assert_eq!(
        serde_json::to_value(&trail[2].changes).unwrap(),
        json!({"title": {"old": "c", "new": "b"}, "slug": {"old": "a", "new": "outside"}})
    );
    assert_eq!(trail[3].causer_id.as_deref(), Some("restorer"));
    assert_eq!(
        serde_json::to_value(&trail[3].changes).unwrap(),
        json!({"title": {"old": "b", "new": "a"}, "slug": {"old": "outside", "new": "a"}})
    );
    // Restoring again changes nothing outside the trail: no second drift.
    post::Entity::restore(&db, v1.id).await.unwrap();
    let trail = history(&db, "post", p.id).await.unwrap();
    assert_eq!(trail.iter().filter(|e| e.action == "drift").count(), 1);
}

/// A restore writes only what differs from the row: a field the versions do not hold (a
/// column added since) keeps its value and is not logged as the restorer's change.
async fn a_field_no_version_holds_is_not_the_restorers(db: DatabaseConnection) {
    let p = post::new("a", "added-later").insert(&db).await.unwrap();
    // The latest version, as one written before the slug column existed.
    let before_slug = snapshot(&db, "post", p.id, &json!({"id": p.id, "title": "a"}))
        .await
        .unwrap();
    post::Entity::restore(&db, before_slug.id).await.unwrap();
    let last = history(&db, "post", p.id).await.unwrap().pop().unwrap();
    assert_eq!(last.action.as_str(), "restored");
    assert!(last.changes.is_empty(), "{:?}", last.changes);
    assert_eq!(post::reload(&db, p.id).await.slug, "added-later");
    // What does differ is written and logged.
    let v1 = versions(&db, "post", p.id).await.unwrap()[0].id;
    let mut am: post::ActiveModel = post::reload(&db, p.id).await.into();
    am.title = Set("b".into());
    am.update(&db).await.unwrap();
    post::Entity::restore(&db, v1).await.unwrap();
    let last = history(&db, "post", p.id).await.unwrap().pop().unwrap();
    assert_eq!(
        serde_json::to_value(&last.changes).unwrap(),
        json!({"title": {"old": "b", "new": "a"}})
    );
}

/// A row the database refuses (a unique value taken since, a row it refers to gone): an
/// error naming the record and the constraint's kind, and nothing written.
async fn a_row_the_database_refuses(db: DatabaseConnection) {
    let p = post::new("first", "taken").insert(&db).await.unwrap();
    p.clone().delete(&db).await.unwrap();
    post::new("second", "taken").insert(&db).await.unwrap();
    let v1 = versions(&db, "post", p.id).await.unwrap()[0].id;
    let txn = db.begin().await.unwrap();
    let err = post::Entity::restore(&txn, v1).await.unwrap_err();
    txn.rollback().await.unwrap();
    match &err {
        Error::RestoreRefused {
            subject_type,
            subject_id,
            version,
            constraint,
            ..
        } => {
            assert_eq!(subject_type, "post");
            assert_eq!(subject_id, &p.id.to_string());
            assert_eq!((*version, *constraint), (1, "a unique key"));
        }
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string().contains("cannot go back to version 1"),
        "{err}"
    );
    let trail = history(&db, "post", p.id).await.unwrap();
    assert_eq!(trail.last().unwrap().action.as_str(), "deleted");

    use audit_tests::compat::{baker_and_cake, cakes_bakers};
    let (_, cake, link) = baker_and_cake(&db, "Battenberg", 11).await;
    link.clone().delete(&db).await.unwrap();
    cake.delete(&db).await.unwrap();
    let id = json!([link.cake_id, link.baker_id]).to_string();
    let v1 = versions(&db, "compat_cakes_bakers", id.as_str())
        .await
        .unwrap()[0]
        .id;
    let txn = db.begin().await.unwrap();
    let err = cakes_bakers::Entity::restore(&txn, v1).await.unwrap_err();
    txn.rollback().await.unwrap();
    assert!(
        matches!(
            err,
            Error::RestoreRefused {
                constraint: "a foreign key",
                ..
            }
        ),
        "{err:?}"
    );
}

/// A row the database refuses for a value it no longer takes (a check constraint added
/// since, a column narrowed since; on SQLite a trigger's `RAISE(ABORT)`, a constraint
/// there): `Error::RestoreRefused` naming what refused it, not a database failure, and
/// nothing written.
async fn a_value_the_column_no_longer_takes(db: DatabaseConnection) {
    let p = post::new("a long title", "refused")
        .insert(&db)
        .await
        .unwrap();
    let mut am: post::ActiveModel = p.clone().into();
    am.title = Set("ok".into());
    am.update(&db).await.unwrap();
    let v1 = versions(&db, "post", p.id).await.unwrap()[0].id;
    let refused_by = |db: DatabaseConnection| async move {
        let txn = db.begin().await.unwrap();
        let err = post::Entity::restore(&txn, v1).await.unwrap_err();
        txn.rollback().await.unwrap();
        let Error::RestoreRefused {
            subject_id,
            version,
            constraint,
            ..
        } = &err
        else {
            panic!("{err:?}");
        };
        assert_eq!(
            (subject_id.as_str(), *version),
            (p.id.to_string().as_str(), 1)
        );
        assert!(
            err.to_string().contains("cannot go back to version 1"),
            "{err}"
        );
        assert_eq!(post::reload(&db, p.id).await.title, "ok");
        assert_eq!(history(&db, "post", p.id).await.unwrap().len(), 2);
        *constraint
    };
    match db.get_database_backend() {
        DbBackend::Sqlite => {
            db.execute_unprepared(
                "CREATE TRIGGER short_titles BEFORE UPDATE ON posts \
                 WHEN length(NEW.title) > 5 BEGIN SELECT RAISE(ABORT, 'title too long'); END",
            )
            .await
            .unwrap();
            assert_eq!(refused_by(db.clone()).await, "a constraint");
        }
        backend => {
            db.execute_unprepared(
                "ALTER TABLE posts ADD CONSTRAINT short_titles CHECK (length(title) <= 5)",
            )
            .await
            .unwrap();
            assert_eq!(refused_by(db.clone()).await, "a check constraint");
            db.execute_unprepared("ALTER TABLE posts DROP CONSTRAINT short_titles")
                .await
                .unwrap();
            db.execute_unprepared(if backend == DbBackend::Postgres {
                "ALTER TABLE posts ALTER COLUMN title TYPE varchar(5)"
            } else {
                "ALTER TABLE posts MODIFY title VARCHAR(5) NOT NULL"
            })
            .await
            .unwrap();
            if backend == DbBackend::Postgres {
                // A new pool: the statements the old one prepared would return the
                // column's old type ("cached plan must not change result type").
                let fresh = audit_tests::reconnect(&db).await;
                assert_eq!(refused_by(fresh.clone()).await, "the column's type");
                fresh.close().await.unwrap();
            } else {
                assert_eq!(refused_by(db.clone()).await, "the column's type");
            }
        }
    }
}

backend_tests!(
    a_field_no_version_holds_is_not_the_restorers,
    a_row_the_database_refuses,
    a_value_the_column_no_longer_takes,
    restore_logs_outside_changes_first,
    reinsert_needs_defaults,
    restore_existing_row,
    restore_deleted_row,
    restore_composite_key,
    restore_errors,
    untyped_restore_returns_data
);

/// A snapshot without its key (written through the explicit API, say) names no record:
/// rebuilding a model from it is an error, not a model keyed by the base's or a default
/// key.
#[test]
fn a_snapshot_without_its_key_is_refused() {
    use audit_seaorm::Audited;
    let data = json!({"title": "t", "slug": "s"});
    let base = post::Model {
        id: 7,
        title: "old".into(),
        slug: "old".into(),
        api_token: String::new(),
        view_count: 0,
        published_at: None,
    };
    for base in [None, Some(&base)] {
        let err = post::Model::from_snapshot(base, data.as_object().unwrap()).unwrap_err();
        assert!(
            err.to_string().contains("id") && err.to_string().contains("primary key but missing"),
            "{err}"
        );
    }
}

/// MySQL/MariaDB, whose key column compares case-insensitively here: restoring a deleted
/// record (`"Rust"`) whose key finds another record's row (`"rust"`) is refused, and
/// writes nothing (it overwrote `"rust"` with `"Rust"`'s values, logged under `"rust"`).
async fn a_key_matching_another_loosely(db: DatabaseConnection) {
    use audit_tests::compat::keyed;
    use sea_orm::PaginatorTrait;
    let row = |code: &str| keyed::ActiveModel {
        code: Set(code.into()),
        r#type: Set("t".into()),
        label: Set(format!("label of {code}")),
    };
    let gone = row("Rust").insert(&db).await.unwrap();
    gone.delete(&db).await.unwrap();
    row("rust").insert(&db).await.unwrap();
    let first = versions(&db, "compat_keyed", "Rust").await.unwrap()[0].id;
    let stored = audit_seaorm::entity::versions::Entity::find()
        .count(&db)
        .await
        .unwrap();
    let err = keyed::Entity::restore(&db, first).await.unwrap_err();
    assert!(
        matches!(&err, Error::KeyMatchesAnother { found, .. } if found == "rust"),
        "{err}"
    );
    let kept = keyed::Entity::find().all(&db).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(
        (kept[0].code.as_str(), kept[0].label.as_str()),
        ("rust", "label of rust")
    );
    assert_eq!(
        audit_seaorm::entity::versions::Entity::find()
            .count(&db)
            .await
            .unwrap(),
        stored
    );
}

audit_tests::mysql_tests!(a_key_matching_another_loosely);
