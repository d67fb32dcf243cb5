//! Inputs the trail must survive: keys that differ only in case, time filters far from
//! today.

use audit_seaorm::{Filter, activity, history, versions};
use audit_tests::{backend_tests, label, post, postgres_tests, translation};
use chrono::{TimeZone, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, Set};

/// Keys `"en"` and `"EN"` are two records (the entity's table compares them exactly) and
/// two subjects of the trail, on every backend: their entries and versions never mix.
async fn keys_differing_in_case_are_two_subjects(db: DatabaseConnection) {
    if db.get_database_backend() == DbBackend::MySql {
        // The entity's own table as a case-sensitive key needs it (MySQL's default
        // collation would refuse the second key); the audit tables are exact already.
        db.execute_unprepared(
            "ALTER TABLE translations CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
        )
        .await
        .unwrap();
    }
    for locale in ["en", "EN"] {
        translation::ActiveModel {
            post_id: Set(7),
            locale: Set(locale.into()),
            body: Set(format!("Hello {locale}")),
        }
        .insert(&db)
        .await
        .unwrap();
    }
    let mut am: translation::ActiveModel = translation::ActiveModel {
        post_id: sea_orm::ActiveValue::Unchanged(7),
        locale: sea_orm::ActiveValue::Unchanged("en".into()),
        ..Default::default()
    };
    am.body = Set("Hi en".into());
    am.update(&db).await.unwrap();

    let lower = history(&db, "translations", r#"[7,"en"]"#).await.unwrap();
    let upper = history(&db, "translations", r#"[7,"EN"]"#).await.unwrap();
    assert_eq!(lower.len(), 2, "{lower:?}");
    assert_eq!(upper.len(), 1, "{upper:?}");
    assert!(upper.iter().all(|e| e.subject_id == r#"[7,"EN"]"#));
    let numbers = |id: &'static str| {
        let db = db.clone();
        async move {
            versions(&db, "translations", id)
                .await
                .unwrap()
                .iter()
                .map(|v| v.version)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(numbers(r#"[7,"en"]"#).await, [1, 2]);
    assert_eq!(numbers(r#"[7,"EN"]"#).await, [1]);
}

/// A version written in clear before a field became `#[audit(redact)]` (and before
/// `redact_history` ran): a delete logs the field as redacted, its old value nowhere in the
/// entry, on every backend.
async fn a_delete_never_copies_a_value_now_redacted(db: DatabaseConnection) {
    use audit_seaorm::snapshot;
    use sea_orm::{ConnectionTrait, DbBackend, ModelTrait};
    use serde_json::json;
    let p = post::new("Hi", "hi").insert(&db).await.unwrap();
    let clear = json!({"id": p.id, "title": "Hi", "slug": "hi", "api_token": "secret-0", "published_at": null});
    snapshot(&db, "post", p.id, &clear).await.unwrap();
    p.clone().delete(&db).await.unwrap();
    let trail = history(&db, "post", p.id).await.unwrap();
    let deleted = trail.last().unwrap();
    assert_eq!(deleted.action.as_str(), "deleted");
    let token = deleted.changes.get("api_token").unwrap();
    assert_eq!(token.old, json!("[redacted]"));
    assert!(token.new.is_null());
    assert_eq!(deleted.changes.get("title").unwrap().old, json!("Hi"));
    // The stored text, not its parse (which keeps one of two equal keys).
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => r#"SELECT "changes"::text AS t FROM "activity_log" WHERE "id" = $1"#,
        DbBackend::MySql => {
            "SELECT CAST(`changes` AS CHAR) AS t FROM `activity_log` WHERE `id` = ?"
        }
        _ => r#"SELECT CAST("changes" AS TEXT) AS t FROM "activity_log" WHERE "id" = ?"#,
    };
    let stored: String = db
        .query_one_raw(sea_orm::Statement::from_sql_and_values(
            backend,
            sql,
            [deleted.id.into()],
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get("", "t")
        .unwrap();
    assert!(!stored.contains("secret-0"), "{stored}");
}

backend_tests!(a_delete_never_copies_a_value_now_redacted);

/// The stored text of every entry of post `id`, and of every version but those `snapshot`
/// wrote (the one holding the value in clear, on purpose).
async fn stored_trail(db: &DatabaseConnection, id: i32) -> Vec<String> {
    let backend = db.get_database_backend();
    let (entries, versions) = match backend {
        DbBackend::Postgres => (
            r#"SELECT "changes"::text AS t FROM "activity_log" WHERE "subject_id" = $1"#,
            r#"SELECT "data"::text AS t FROM "versions" WHERE "subject_id" = $1 AND "event" <> 'snapshot'"#,
        ),
        DbBackend::MySql => (
            "SELECT CAST(`changes` AS CHAR) AS t FROM `activity_log` WHERE `subject_id` = ?",
            "SELECT CAST(`data` AS CHAR) AS t FROM `versions` WHERE `subject_id` = ? AND `event` <> 'snapshot'",
        ),
        _ => (
            r#"SELECT CAST("changes" AS TEXT) AS t FROM "activity_log" WHERE "subject_id" = ?"#,
            r#"SELECT CAST("data" AS TEXT) AS t FROM "versions" WHERE "subject_id" = ? AND "event" <> 'snapshot'"#,
        ),
    };
    let mut texts = Vec::new();
    for sql in [entries, versions] {
        for row in db
            .query_all_raw(sea_orm::Statement::from_sql_and_values(
                backend,
                sql,
                [id.to_string().into()],
            ))
            .await
            .unwrap()
        {
            texts.push(row.try_get::<String>("", "t").unwrap());
        }
    }
    texts
}

/// The same value in clear in the latest version, then the row deleted outside the trail:
/// neither the drift that a create of its key logs (the trail still said the row
/// existed) nor the drift and `deleted` version a revert logs for the row gone copy it;
/// the field is named `[redacted]`.
async fn a_drift_never_copies_a_value_now_redacted(db: DatabaseConnection) {
    use audit_seaorm::{AuditContext, Reverter, snapshot};
    use serde_json::json;
    let clear = |id: i32, title: &str| json!({"id": id, "title": title, "slug": "hi", "api_token": "secret-0", "published_at": null});
    // A create over the live trail.
    let p = post::new("Hi", "hi").insert(&db).await.unwrap();
    snapshot(&db, "post", p.id, &clear(p.id, "Hi"))
        .await
        .unwrap();
    post::Entity::delete_by_id(p.id).exec(&db).await.unwrap();
    post::ActiveModel {
        id: Set(p.id),
        ..post::new("again", "again")
    }
    .insert(&db)
    .await
    .unwrap();
    let trail = history(&db, "post", p.id).await.unwrap();
    let drift = &trail[trail.len() - 2];
    assert_eq!(drift.action.as_str(), "drift", "{trail:?}");
    assert_eq!(
        drift.changes.get("api_token").unwrap().old,
        json!("[redacted]")
    );
    assert_eq!(drift.changes.get("title").unwrap().old, json!("Hi"));
    for text in stored_trail(&db, p.id).await {
        assert!(!text.contains("secret-0"), "{text}");
    }

    // A revert of a request whose record is gone.
    let q = post::new("Ho", "ho").insert(&db).await.unwrap();
    AuditContext::new()
        .causer("editor")
        .request_id("req-clear")
        .scope(async {
            let mut am: post::ActiveModel = post::reload(&db, q.id).await.into();
            am.title = Set("Ho!".into());
            am.update(&db).await.unwrap();
        })
        .await;
    snapshot(&db, "post", q.id, &clear(q.id, "Ho!"))
        .await
        .unwrap();
    post::Entity::delete_by_id(q.id).exec(&db).await.unwrap();
    Reverter::new()
        .entity::<post::Entity>()
        .revert_request(&db, "req-clear", true)
        .await
        .unwrap();
    let trail = history(&db, "post", q.id).await.unwrap();
    let drift = trail.iter().find(|e| e.action.as_str() == "drift").unwrap();
    assert_eq!(
        drift.changes.get("api_token").unwrap().old,
        json!("[redacted]")
    );
    for text in stored_trail(&db, q.id).await {
        assert!(!text.contains("secret-0"), "{text}");
    }
}

backend_tests!(a_drift_never_copies_a_value_now_redacted);

backend_tests!(keys_differing_in_case_are_two_subjects);

/// Makes the `labels` key column ignore case on every backend (MySQL/MariaDB's default
/// collation does already).
async fn labels_ignoring_case(db: &DatabaseConnection) {
    match db.get_database_backend() {
        DbBackend::Postgres => {
            db.execute_unprepared(
                "CREATE COLLATION IF NOT EXISTS ci (provider = icu, locale = 'und-u-ks-level2', \
                 deterministic = false); \
                 ALTER TABLE labels ALTER COLUMN name TYPE varchar(400) COLLATE ci",
            )
            .await
            .unwrap();
        }
        DbBackend::Sqlite => {
            db.execute_unprepared(
                "DROP TABLE labels; CREATE TABLE labels \
                 (name varchar(400) COLLATE NOCASE NOT NULL PRIMARY KEY, color varchar NOT NULL)",
            )
            .await
            .unwrap();
        }
        _ => {} // the default collation ignores case
    }
}

/// The label `"blue-label"`, inserted through the hooks (its trail: `created`).
async fn insert_blue_label(db: &DatabaseConnection) {
    audit_tests::label::ActiveModel {
        name: Set("blue-label".into()),
        color: Set("blue".into()),
    }
    .insert(db)
    .await
    .unwrap();
}

/// A delete by an ActiveModel holding only the key `name`; the rows it removed.
async fn delete_label_by_name<C: sea_orm::ConnectionTrait>(db: &C, name: &str) -> u64 {
    audit_tests::label::ActiveModel {
        name: Set(name.to_owned()),
        ..Default::default()
    }
    .delete(db)
    .await
    .unwrap()
    .rows_affected
}

/// The events of the versions of label `name`, in order.
async fn label_events(db: &DatabaseConnection, name: &str) -> Vec<String> {
    versions(db, "labels", name)
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.event.as_str().to_owned())
        .collect()
}

/// MySQL/MariaDB at REPEATABLE READ: a delete by key in another form, in a transaction
/// whose snapshot predates the row, names the record by the key the row holds all the
/// same: the key is read as the DELETE reads it (the latest commit), not from the snapshot.
async fn a_key_read_past_the_snapshot(db: DatabaseConnection) {
    use sea_orm::TransactionTrait;
    let txn = db.begin().await.unwrap();
    // A read fixes the transaction's snapshot, before the row is there.
    assert!(label::Entity::find().all(&txn).await.unwrap().is_empty());
    insert_blue_label(&db).await;
    let gone = delete_label_by_name(&txn, "Blue-Label").await;
    assert_eq!(gone, 1, "the column ignores case");
    txn.commit().await.unwrap();
    assert_eq!(
        label_events(&db, "blue-label").await,
        ["created", "deleted"]
    );
}

audit_tests::mysql_tests!(a_key_read_past_the_snapshot);

/// A delete by key (an ActiveModel holding only the key) given in another form than the
/// row holds it: where the key column ignores case (MySQL/MariaDB's default collation,
/// here on every backend), `"Blue-Label"` deletes the row `"blue-label"`, and the trail
/// of `"blue-label"`, which names the record by its key as stored, says it is deleted —
/// on PostgreSQL and MySQL/MariaDB. SQLite reads no key back (its default collation
/// compares exactly, and a read before the write would make a deferred transaction fail
/// rather than wait): there the delete goes unlogged, as the README says.
async fn a_delete_by_key_in_another_form(db: DatabaseConnection) {
    labels_ignoring_case(&db).await;
    insert_blue_label(&db).await;
    assert_eq!(
        delete_label_by_name(&db, "Blue-Label").await,
        1,
        "the column ignores case"
    );
    let events = label_events(&db, "blue-label").await;
    if db.get_database_backend() == DbBackend::Sqlite {
        assert_eq!(events, ["created"]);
        return;
    }
    assert_eq!(events, ["created", "deleted"]);
    let trail = history(&db, "labels", "blue-label").await.unwrap();
    assert_eq!(trail.last().unwrap().action.as_str(), "deleted");
    assert!(
        versions(&db, "labels", "Blue-Label")
            .await
            .unwrap()
            .is_empty()
    );
    // A key that matches no row: nothing deleted, nothing logged.
    assert_eq!(delete_label_by_name(&db, "Green").await, 0);
    assert!(versions(&db, "labels", "Green").await.unwrap().is_empty());
}

backend_tests!(a_delete_by_key_in_another_form);

/// A note an earlier write left behind (`update_without_returning` runs only `before_save`)
/// under the row's spelling of its key is not taken by a later update that spells the key
/// otherwise (a column that ignores case): that update is logged as its own.
async fn a_note_left_under_another_spelling(db: DatabaseConnection) {
    use audit_tests::label;
    labels_ignoring_case(&db).await;
    insert_blue_label(&db).await;
    // Sets nothing audited, and never reaches `after_save`: its note stays.
    let _ = label::ActiveModel {
        name: sea_orm::ActiveValue::Unchanged("blue-label".into()),
        ..Default::default()
    }
    .update_without_returning(&db)
    .await;
    let row = label::ActiveModel {
        name: sea_orm::ActiveValue::Unchanged("Blue-Label".into()),
        color: Set("red".into()),
    }
    .update(&db)
    .await
    .unwrap();
    assert_eq!(row.name, "blue-label");
    let last = history(&db, "labels", "blue-label")
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(last.action.as_str(), "updated");
    assert_eq!(
        serde_json::to_value(&last.changes).unwrap(),
        serde_json::json!({"color": {"old": "blue", "new": "red"}})
    );
}

backend_tests!(a_note_left_under_another_spelling);

/// A time bound between two microseconds (stored times are whole microseconds) counts as
/// the microsecond below it on every backend (PostgreSQL's and MySQL's drivers cut it so;
/// SQLite compared the nanoseconds): `since` holds an entry at that microsecond, `until`
/// does not.
async fn time_bounds_between_microseconds(db: DatabaseConnection) {
    let e = audit_seaorm::log(
        &db,
        audit_seaorm::NewActivity::new("viewed").subject("post", 1),
    )
    .await
    .unwrap();
    let at = e.created_at;
    let half = at + chrono::Duration::nanoseconds(500);
    let n = |filter: Filter| {
        let db = db.clone();
        async move { activity(&db, &filter).await.unwrap().items.len() }
    };
    assert_eq!(n(Filter::new().until(half)).await, 0);
    assert_eq!(n(Filter::new().since(half)).await, 1);
    assert_eq!(n(Filter::new().since(at)).await, 1);
    assert_eq!(n(Filter::new().until(at)).await, 0);
    // The dashboard's counts the same.
    let hour = chrono::Duration::hours(1);
    let total = |since, until| {
        let db = db.clone();
        async move {
            audit_seaorm::activity_counts(&db, since, until)
                .await
                .unwrap()
                .total
        }
    };
    assert_eq!(total(half, at + hour).await, 1);
    assert_eq!(total(at - hour, half).await, 0);
    // Bounds at the ends of time: no overflow, the same answers.
    use chrono::DateTime;
    assert_eq!(n(Filter::new().until(DateTime::<Utc>::MAX_UTC)).await, 1);
    assert_eq!(n(Filter::new().since(DateTime::<Utc>::MIN_UTC)).await, 1);
    assert_eq!(n(Filter::new().since(DateTime::<Utc>::MAX_UTC)).await, 0);
}

backend_tests!(time_bounds_between_microseconds);

/// `since` and `until` far from today (before 1970, after 2038) compare as the dates they
/// are on every backend (MySQL's TIMESTAMP parameters stop at 2038).
async fn time_filters_far_from_today(db: DatabaseConnection) {
    audit_seaorm::log(
        &db,
        audit_seaorm::NewActivity::new("viewed").subject("post", 1),
    )
    .await
    .unwrap();
    let far_past = Utc.with_ymd_and_hms(1900, 1, 1, 0, 0, 0).unwrap();
    let far_future = Utc.with_ymd_and_hms(2999, 1, 1, 0, 0, 0).unwrap();
    let count = |filter: Filter| {
        let db = db.clone();
        async move { activity(&db, &filter).await.unwrap().items.len() }
    };
    assert_eq!(count(Filter::new().until(far_future)).await, 1);
    assert_eq!(count(Filter::new().since(far_past)).await, 1);
    assert_eq!(
        count(Filter::new().since(far_past).until(far_future)).await,
        1
    );
    assert_eq!(count(Filter::new().since(far_future)).await, 0);
    assert_eq!(count(Filter::new().until(far_past)).await, 0);
    // A time past 2038 is stored and read back as it is (MySQL's DATETIME(6) holds it). It
    // is written here as the library writes `created_at`: on MySQL a DATETIME value, since
    // SeaORM binds a `DateTime<Utc>` as a TIMESTAMP, which becomes NULL past 2038.
    use audit_seaorm::entity::activity_log::{Column as A, Entity as Log};
    let late = Utc.with_ymd_and_hms(2999, 6, 1, 12, 0, 0).unwrap();
    let at: sea_orm::Value = match db.get_database_backend() {
        DbBackend::MySql => late.naive_utc().into(),
        _ => late.into(),
    };
    let insert = sea_orm::sea_query::Query::insert()
        .into_table(Log)
        .columns([
            A::Action,
            A::SubjectType,
            A::SubjectId,
            A::Changes,
            A::CreatedAt,
        ])
        .values_panic([
            "scheduled".into(),
            "post".into(),
            "2".into(),
            serde_json::json!({}).into(),
            at.into(),
        ])
        .to_owned();
    db.execute(&insert).await.unwrap();
    let found = activity(&db, &Filter::new().since(far_future))
        .await
        .unwrap()
        .items;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].created_at, late);
}

backend_tests!(time_filters_far_from_today);

/// A field that became `#[audit(redact)]` after the trail recorded it in clear (written
/// here by hand, as an earlier version of the program did): `redact_history` scrubs it
/// from versions and entries, keeps the record of the change, and refuses any other field.
async fn redact_history_scrubs_old_values(db: DatabaseConnection) {
    use audit_seaorm::{Changes, NewActivity, log, redact_history, snapshot};
    use serde_json::json;
    let p = post::new("Hi", "hi").insert(&db).await.unwrap();
    let clear = json!({"id": p.id, "title": "Hi", "slug": "hi", "api_token": "secret-0", "published_at": null});
    snapshot(&db, "post", p.id, &clear).await.unwrap();
    let mut changes = Changes::new();
    changes.insert("api_token", json!("secret-0"), json!("secret-1"));
    changes.insert("title", json!("Old"), json!("Hi"));
    log(
        &db,
        NewActivity::new("updated")
            .subject("post", p.id)
            .changes(changes),
    )
    .await
    .unwrap();

    // The trail is sealed: scrubbing must keep its chains verifying.
    audit_seaorm::seal(&db).await.unwrap();
    let err = redact_history::<post::Entity, _>(&db, "title")
        .await
        .unwrap_err();
    assert!(
        matches!(err, audit_seaorm::Error::NotRedacted { .. }),
        "{err}"
    );

    let done = redact_history::<post::Entity, _>(&db, "api_token")
        .await
        .unwrap();
    assert_eq!((done.versions, done.entries), (1, 1), "{done:?}");
    // Recorded on the trail, so that it is not taken for a forged erasure.
    let entry = audit_seaorm::entity::activity_log::Entity::find_by_id(done.entry_id.unwrap())
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.action, audit_seaorm::REDACTED_ACTION);
    // Under the type, so that a reader who may not read it does not see it either.
    assert_eq!(
        (entry.subject_type.as_str(), entry.subject_id.as_str()),
        ("post", "")
    );
    assert_eq!(
        entry.properties,
        Some(json!({"subject_type": "post", "field": "api_token", "versions": 1, "entries": 1}))
    );
    for v in versions(&db, "post", p.id).await.unwrap() {
        assert!(!v.data.contains_key("api_token"), "{:?}", v.data);
    }
    let trail = history(&db, "post", p.id).await.unwrap();
    let scrubbed = &trail.last().unwrap().changes;
    assert_eq!(scrubbed.get("api_token").unwrap().old, json!("[redacted]"));
    assert_eq!(scrubbed.get("api_token").unwrap().new, json!("[redacted]"));
    assert_eq!(
        scrubbed.get("title").unwrap().old,
        json!("Old"),
        "other fields stay"
    );
    let text = serde_json::to_string(&trail).unwrap();
    assert!(!text.contains("secret-"), "{text}");
    // Run again: nothing left to do.
    let again = redact_history::<post::Entity, _>(&db, "api_token")
        .await
        .unwrap();
    assert_eq!(
        (again.versions, again.entries, again.entry_id),
        (0, 0, None)
    );
    let report = audit_seaorm::verify(&db, &audit_seaorm::VerifyScope::all())
        .await
        .unwrap();
    assert!(report.is_intact(), "{:#?}", report.breaks);
    assert_eq!(report.links, 4, "2 entries, 2 versions");
}

/// A field erased from a record's trail before the model redacted it: `redact_history`
/// finds nothing left to scrub there, and the entries keep their `[erased]` marker (the
/// chained `erased` entry and its counts stay what tells that erasure from a forged one).
async fn an_erased_field_stays_erased(db: DatabaseConnection) {
    use audit_seaorm::{Changes, NewActivity, erase, log, redact_history};
    use serde_json::json;
    let p = post::new("Hi", "erased").insert(&db).await.unwrap();
    let mut changes = Changes::new();
    changes.insert("api_token", json!("secret-0"), json!("secret-1"));
    log(
        &db,
        NewActivity::new("updated")
            .subject("post", p.id)
            .changes(changes),
    )
    .await
    .unwrap();
    audit_seaorm::seal(&db).await.unwrap();
    let done = erase(&db, "post", p.id, &["api_token"]).await.unwrap();
    assert_eq!((done.versions, done.entries), (0, 1));
    let again = redact_history::<post::Entity, _>(&db, "api_token")
        .await
        .unwrap();
    assert_eq!(
        (again.versions, again.entries, again.entry_id),
        (0, 0, None)
    );
    let trail = history(&db, "post", p.id).await.unwrap();
    let change = trail
        .iter()
        .filter(|e| e.action.as_str() == "updated")
        .find_map(|e| e.changes.get("api_token"))
        .unwrap();
    assert_eq!(
        (&change.old, &change.new),
        (&json!("[erased]"), &json!("[erased]"))
    );
    let report = audit_seaorm::verify(&db, &audit_seaorm::VerifyScope::all())
        .await
        .unwrap();
    assert!(report.is_intact(), "{:#?}", report.breaks);
}

backend_tests!(
    redact_history_scrubs_old_values,
    an_erased_field_stays_erased
);

/// Letters that do not compress (a pseudo-random sequence), `n` of them.
fn noise(n: usize, seed: u64) -> String {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b'a' + (x % 26) as u8)
        })
        .collect()
}

/// What an application can make long: a 300-character string key, a composite key of long
/// strings, a 5,000-character causer and request id. Each is stored whole and found again.
async fn long_values_are_stored_whole(db: DatabaseConnection) {
    use audit_seaorm::AuditContext;
    use audit_tests::label;
    let key = noise(300, 1);
    let causer = noise(5_000, 2);
    let request = noise(5_000, 3);
    let ctx = AuditContext::new()
        .causer(causer.clone())
        .request_id(request.clone());
    ctx.scope(async {
        let l = label::ActiveModel {
            name: Set(key.clone()),
            color: Set("red".into()),
        }
        .insert(&db)
        .await
        .unwrap();
        let mut am: label::ActiveModel = l.into();
        am.color = Set("blue".into());
        am.update(&db).await.unwrap();
        translation::ActiveModel {
            post_id: Set(7),
            locale: Set(noise(250, 4)),
            body: Set("long".into()),
        }
        .insert(&db)
        .await
        .unwrap();
    })
    .await;
    let trail = history(&db, "labels", &key).await.unwrap();
    assert_eq!(trail.len(), 2);
    assert_eq!(trail[0].subject_id, key.as_str());
    assert_eq!(trail[1].causer_id.as_deref(), Some(causer.as_str()));
    let composite = format!(r#"[7,"{}"]"#, noise(250, 4));
    assert_eq!(
        versions(&db, "translations", &composite)
            .await
            .unwrap()
            .len(),
        1
    );
    let by_causer = activity(&db, &Filter::new().causer(causer.clone()))
        .await
        .unwrap();
    assert_eq!(by_causer.items.len(), 3);
    let by_request = activity(&db, &Filter::new().request_id(request))
        .await
        .unwrap();
    assert_eq!(by_request.items.len(), 3);
    // A causer that shares the long one's indexed prefix is another causer.
    let mut other = causer.clone();
    other.push('z');
    assert!(
        activity(&db, &Filter::new().causer(other))
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

/// PostgreSQL keeps subject ids up to 2,000 bytes: a longer one is refused with a clear
/// error before anything is written, by the explicit API and by a hooked write (which
/// the database would otherwise fail on its index); SQLite keeps it.
async fn subject_ids_beyond_postgres_limit(db: DatabaseConnection) {
    use audit_seaorm::snapshot;
    let id = noise(2_500, 6);
    let written = snapshot(&db, "notes", &id, &serde_json::json!({"a": 1})).await;
    // A composite key of 2,106 bytes: the entity's own index holds it, the trail's refuses.
    let locale = noise(2_100, 7);
    let key = format!(r#"[7,"{locale}"]"#);
    let hooked = translation::ActiveModel {
        post_id: Set(7),
        locale: Set(locale.clone()),
        body: Set("long".into()),
    }
    .insert(&db)
    .await;
    if db.get_database_backend() == DbBackend::Postgres {
        let err = written.unwrap_err();
        assert!(
            matches!(
                err,
                audit_seaorm::Error::SubjectIdTooLong {
                    length: 2_500,
                    max: 2_000,
                    unit: "bytes",
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "the subject id of `notes` is 2500 bytes long; PostgreSQL stores at most 2000"
        );
        let err = hooked.unwrap_err().to_string();
        assert!(err.contains("2106 bytes long"), "{err}");
        assert!(versions(&db, "notes", &id).await.unwrap().is_empty());
        assert!(
            versions(&db, "translations", &key)
                .await
                .unwrap()
                .is_empty()
        );
        let rows = translation::Entity::find().all(&db).await.unwrap();
        assert!(rows.is_empty(), "the entity write is rolled back");
        // Such a row written around the hooks does not stop `backfill` for good: it gets
        // no baseline, is counted, and the rows after it in key order get theirs.
        let row = |post_id: i32, locale: &str| translation::ActiveModel {
            post_id: Set(post_id),
            locale: Set(locale.to_owned()),
            body: Set("old".into()),
        };
        translation::Entity::insert_many([row(1, "a"), row(7, &locale), row(9, "z")])
            .exec(&db)
            .await
            .unwrap();
        let done = audit_seaorm::backfill::<translation::Entity, _>(&db)
            .await
            .unwrap();
        assert_eq!((done.rows, done.written, done.too_long), (3, 2, 1));
        // A hooked delete of it is refused before its `DELETE`: on a plain connection
        // nothing would bring the row back.
        let err = row(7, &locale).delete(&db).await.unwrap_err().to_string();
        assert!(err.contains("2106 bytes long"), "{err}");
        assert_eq!(translation::Entity::find().all(&db).await.unwrap().len(), 3);
        assert_eq!(
            versions(&db, "translations", r#"[9,"z"]"#)
                .await
                .unwrap()
                .len(),
            1
        );
    } else {
        assert_eq!(written.unwrap().subject_id, id.as_str());
        hooked.unwrap();
        assert_eq!(versions(&db, "translations", &key).await.unwrap().len(), 1);
    }
}

mod subject_ids_beyond_postgres_limit {
    audit_tests::__backend_test!(subject_ids_beyond_postgres_limit, sqlite, Sqlite, "_s");
    audit_tests::__backend_test!(subject_ids_beyond_postgres_limit, postgres, Postgres, "_p");
}

/// Subject types, actions and version events over 100 characters (their columns) are
/// refused before anything is written, on every backend: SQLite would keep them whole and
/// MySQL/MariaDB without strict mode would cut them, merging two that share a prefix.
async fn names_beyond_their_columns(db: DatabaseConnection) {
    use audit_seaorm::{Error, NewActivity, log, snapshot};
    let long = "a".repeat(101);
    let fits = "a".repeat(100);
    let err = log(&db, NewActivity::new(long.as_str()).subject("post", 1))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::NameTooLong {
                what: "action",
                length: 101,
                max: 100
            }
        ),
        "{err}"
    );
    let err = snapshot(&db, &long, 1, &serde_json::json!({}))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::NameTooLong {
                what: "subject type",
                ..
            }
        ),
        "{err}"
    );
    assert!(
        activity(&db, &Filter::new())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    log(
        &db,
        NewActivity::new(fits.as_str()).subject(fits.as_str(), 1),
    )
    .await
    .unwrap();
    assert_eq!(
        activity(&db, &Filter::new().action(fits))
            .await
            .unwrap()
            .items
            .len(),
        1
    );
}

backend_tests!(names_beyond_their_columns);

/// MySQL/MariaDB keep subject ids up to 600 characters: a longer one is refused with a
/// clear error before anything is written (a server without strict mode would cut it and
/// merge subjects); the other backends keep it.
async fn subject_ids_beyond_mysql_limit(db: DatabaseConnection) {
    use audit_seaorm::snapshot;
    let id = noise(700, 5);
    let written = snapshot(&db, "notes", &id, &serde_json::json!({"a": 1})).await;
    if db.get_database_backend() == DbBackend::MySql {
        let err = written.unwrap_err();
        assert!(
            matches!(
                err,
                audit_seaorm::Error::SubjectIdTooLong {
                    length: 700,
                    max: 600,
                    ..
                }
            ),
            "{err}"
        );
        assert!(versions(&db, "notes", &id).await.unwrap().is_empty());
    } else {
        assert_eq!(written.unwrap().subject_id, id.as_str());
        assert_eq!(versions(&db, "notes", &id).await.unwrap().len(), 1);
    }
}

backend_tests!(long_values_are_stored_whole, subject_ids_beyond_mysql_limit);

/// MySQL/MariaDB compare text with trailing spaces ignored: a subject type or id that ends
/// in a space would share the trail (and the hash chain) of the one without them, and is
/// refused before anything is written, by the explicit API and by a hooked write. The
/// other backends keep it as another subject.
async fn trailing_spaces_in_subjects(db: DatabaseConnection) {
    use audit_seaorm::{Error, NewActivity, log, snapshot};
    log(&db, NewActivity::new("login").subject("user", "alice"))
        .await
        .unwrap();
    let padded = log(&db, NewActivity::new("login").subject("user", "alice ")).await;
    let typed = snapshot(&db, "user ", "alice", &serde_json::json!({"a": 1})).await;
    // (a composite key's subject id, `[1,"en "]`, ends in no space: kept everywhere)
    translation::ActiveModel {
        post_id: Set(1),
        locale: Set("en ".into()),
        body: Set("padded".into()),
    }
    .insert(&db)
    .await
    .unwrap();
    let hooked = label::ActiveModel {
        name: Set("urgent ".into()),
        color: Set("red".into()),
    }
    .insert(&db)
    .await;
    let user = async |id: &str| {
        let filter = Filter::new().subject("user", id.to_owned());
        activity(&db, &filter).await
    };
    if db.get_database_backend() == DbBackend::MySql {
        let err = padded.unwrap_err();
        assert!(
            matches!(&err, Error::TrailingSpace { what: "id", value } if value == "alice "),
            "{err}"
        );
        let err = typed.unwrap_err();
        assert!(
            matches!(&err, Error::TrailingSpace { what: "type", .. }),
            "{err}"
        );
        let err = hooked.unwrap_err().to_string();
        assert!(err.contains("ends in a space"), "{err}");
        assert!(label::Entity::find().all(&db).await.unwrap().is_empty());
        // An update that names a row by its key with a space its column ignores is
        // logged under the key the row holds.
        label::ActiveModel {
            name: Set("urgent".into()),
            color: Set("red".into()),
        }
        .insert(&db)
        .await
        .unwrap();
        label::ActiveModel {
            name: sea_orm::ActiveValue::Unchanged("urgent ".into()),
            color: Set("blue".into()),
        }
        .update(&db)
        .await
        .unwrap();
        let trail = history(&db, "labels", "urgent").await.unwrap();
        assert_eq!(trail.len(), 2, "{trail:?}");
        assert_eq!(user("alice").await.unwrap().items.len(), 1);
        assert!(versions(&db, "user ", "alice").await.unwrap().is_empty());
    } else {
        padded.unwrap();
        typed.unwrap();
        hooked.unwrap();
        assert_eq!(user("alice").await.unwrap().items.len(), 1);
        assert_eq!(user("alice ").await.unwrap().items.len(), 1);
    }
    // The trail's chains seal either way.
    audit_seaorm::seal(&db).await.unwrap();
}

backend_tests!(trailing_spaces_in_subjects);

/// A delete that a trigger cancels removes no row: nothing is logged, no version written.
/// (SQLite's `RAISE(IGNORE)` and a PostgreSQL `BEFORE DELETE` trigger returning NULL skip
/// the row; MySQL's triggers can only fail the statement, which logs nothing anyway.)
async fn delete_cancelled_by_a_trigger(db: DatabaseConnection) {
    let p = post::new("kept", "kept").insert(&db).await.unwrap();
    let trigger = match db.get_database_backend() {
        DbBackend::Postgres => {
            "CREATE FUNCTION keep_posts() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$; \
             CREATE TRIGGER keep_posts BEFORE DELETE ON posts FOR EACH ROW EXECUTE FUNCTION keep_posts()"
        }
        _ => "CREATE TRIGGER keep_posts BEFORE DELETE ON posts BEGIN SELECT RAISE(IGNORE); END",
    };
    db.execute_unprepared(trigger).await.unwrap();
    let deleted = sea_orm::ModelTrait::delete(p.clone(), &db).await.unwrap();
    assert_eq!(deleted.rows_affected, 0, "the trigger kept the row");
    assert_eq!(post::reload(&db, p.id).await, p);
    let trail = history(&db, "post", p.id).await.unwrap();
    let actions: Vec<&str> = trail.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["created"]);
    assert_eq!(versions(&db, "post", p.id).await.unwrap().len(), 1);
}

mod delete_cancelled_by_a_trigger {
    audit_tests::__backend_test!(delete_cancelled_by_a_trigger, sqlite, Sqlite, "_s");
    audit_tests::__backend_test!(delete_cancelled_by_a_trigger, postgres, Postgres, "_p");
}

/// A bulk delete of which a trigger keeps some rows logs only the rows it removed.
async fn bulk_delete_partly_cancelled_by_a_trigger(db: DatabaseConnection) {
    use audit_seaorm::AuditedBulk;
    use sea_orm::{ColumnTrait, EntityTrait};
    let kept = post::new("kept", "keep-1").insert(&db).await.unwrap();
    let gone = post::new("gone", "gone-1").insert(&db).await.unwrap();
    let trigger = match db.get_database_backend() {
        DbBackend::Postgres => {
            "CREATE FUNCTION keep_some() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             IF OLD.slug LIKE 'keep%' THEN RETURN NULL; END IF; RETURN OLD; END $$; \
             CREATE TRIGGER keep_some BEFORE DELETE ON posts FOR EACH ROW EXECUTE FUNCTION keep_some()"
        }
        _ => {
            "CREATE TRIGGER keep_some BEFORE DELETE ON posts WHEN OLD.slug LIKE 'keep%' \
             BEGIN SELECT RAISE(IGNORE); END"
        }
    };
    db.execute_unprepared(trigger).await.unwrap();
    let done = post::Entity::delete_many_audited()
        .filter(post::Column::Id.is_in([kept.id, gone.id]))
        .exec(&db)
        .await
        .unwrap();
    assert_eq!((done.rows, done.entries, done.versions), (1, 1, 1));
    assert_eq!(post::reload(&db, kept.id).await, kept);
    assert!(
        post::Entity::find_by_id(gone.id)
            .one(&db)
            .await
            .unwrap()
            .is_none()
    );
    let actions = |trail: Vec<audit_seaorm::ActivityEntry>| {
        trail
            .iter()
            .map(|e| e.action.to_string())
            .collect::<Vec<_>>()
    };
    let kept_trail = history(&db, "post", kept.id).await.unwrap();
    assert_eq!(actions(kept_trail), ["created"]);
    let gone_trail = history(&db, "post", gone.id).await.unwrap();
    assert_eq!(actions(gone_trail), ["created", "deleted"]);
}

mod bulk_delete_partly_cancelled_by_a_trigger {
    audit_tests::__backend_test!(
        bulk_delete_partly_cancelled_by_a_trigger,
        sqlite,
        Sqlite,
        "_s"
    );
    audit_tests::__backend_test!(
        bulk_delete_partly_cancelled_by_a_trigger,
        postgres,
        Postgres,
        "_p"
    );
}

/// PostgreSQL with `default_transaction_isolation = 'repeatable read'`: the dashboard's
/// count of an hour, waiting for the lock a prune holds while it deletes that hour's
/// entries, counts what the prune left (the library's own transactions read at READ
/// COMMITTED; a snapshot taken before the wait kept the deleted entries counted for good).
async fn counts_under_repeatable_read(db: DatabaseConnection) {
    use audit_seaorm::entity::{activity_log, seal_runs};
    use sea_orm::{ColumnTrait, QueryFilter, QuerySelect, TransactionTrait};
    let database = audit_tests::current_database(&db).await;
    db.execute_unprepared(&format!(
        r#"ALTER DATABASE "{database}" SET default_transaction_isolation = 'repeatable read'"#
    ))
    .await
    .unwrap();
    let rr = audit_tests::reconnect(&db).await;
    let hour = Utc.with_ymd_and_hms(2024, 3, 1, 10, 0, 0).unwrap();
    for minute in [1, 2, 3] {
        activity_log::Entity::insert(activity_log::ActiveModel {
            action: Set("viewed".into()),
            subject_type: Set("post".into()),
            subject_id: Set("1".into()),
            changes: Set(serde_json::json!({})),
            created_at: Set(hour + chrono::Duration::minutes(minute)),
            ..Default::default()
        })
        .exec(&rr)
        .await
        .unwrap();
    }
    // A prune's batch: the lock, then two of the hour's entries deleted.
    let holder = rr.begin().await.unwrap();
    seal_runs::Entity::find_by_id(0)
        .lock_exclusive()
        .one(&holder)
        .await
        .unwrap()
        .unwrap();
    activity_log::Entity::delete_many()
        .filter(activity_log::Column::CreatedAt.lt(hour + chrono::Duration::minutes(3)))
        .exec(&holder)
        .await
        .unwrap();
    let reader = {
        let rr = rr.clone();
        tokio::spawn(async move {
            audit_seaorm::activity_counts(
                &rr,
                hour - chrono::Duration::hours(1),
                hour + chrono::Duration::hours(2),
            )
            .await
            .unwrap()
        })
    };
    audit_tests::until_a_lock_wait(&db).await;
    holder.commit().await.unwrap();
    assert_eq!(reader.await.unwrap().total, 1);
    rr.close().await.unwrap();
}

postgres_tests!(counts_under_repeatable_read);
