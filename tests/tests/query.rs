//! Reading the trail: filters, keyset and offset pagination, explicit log calls.

use std::collections::HashSet;

use audit_seaorm::{
    AuditContext, Filter, MAX_LIMIT, NewActivity, Order, activity, log, snapshot, versions,
};
use audit_tests::backend_tests;
use chrono::{Duration, Utc};
use sea_orm::{DatabaseConnection, TransactionTrait};
use serde_json::json;

async fn seed(db: &DatabaseConnection) {
    for i in 0..30 {
        let causer = format!("user-{}", i % 3);
        let action = if i % 2 == 0 { "viewed" } else { "shared" };
        AuditContext::new()
            .causer(causer)
            .request_id(format!("req-{}", i / 10))
            .scope(log(db, NewActivity::new(action).subject("post", i % 5)))
            .await
            .unwrap();
    }
}

async fn filters_select_entries(db: DatabaseConnection) {
    seed(&db).await;
    let all = |f: Filter| {
        let db = db.clone();
        async move { activity(&db, &f.limit(MAX_LIMIT)).await.unwrap().items }
    };
    assert_eq!(all(Filter::new()).await.len(), 30);
    let by_subject = all(Filter::new().subject("post", "3")).await;
    assert_eq!(by_subject.len(), 6);
    assert!(by_subject.iter().all(|e| e.subject_id == "3"));
    let by_causer = all(Filter::new().causer("user-1")).await;
    assert_eq!(by_causer.len(), 10);
    let by_action = all(Filter::new().action("shared").causer("user-1")).await;
    assert_eq!(by_action.len(), 5);
    assert!(
        by_action
            .iter()
            .all(|e| e.action.as_str() == "shared" && e.causer_id.as_deref() == Some("user-1"))
    );
    assert_eq!(all(Filter::new().request_id("req-2")).await.len(), 10);
    // Newest first by default.
    let ids: Vec<i64> = all(Filter::new()).await.iter().map(|e| e.id).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]));
    let ids: Vec<i64> = all(Filter::new().order(Order::OldestFirst))
        .await
        .iter()
        .map(|e| e.id)
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    // Time range.
    let now = Utc::now();
    assert_eq!(
        all(Filter::new().since(now - Duration::hours(1)))
            .await
            .len(),
        30
    );
    assert_eq!(
        all(Filter::new().since(now + Duration::hours(1)))
            .await
            .len(),
        0
    );
    assert_eq!(
        all(Filter::new().until(now - Duration::hours(1)))
            .await
            .len(),
        0
    );
    assert_eq!(
        all(Filter::new()
            .until(now + Duration::hours(1))
            .action("viewed"))
        .await
        .len(),
        15
    );
}

async fn keyset_pages_cover_everything_once(db: DatabaseConnection) {
    seed(&db).await;
    for order in [Order::NewestFirst, Order::OldestFirst] {
        let mut seen = Vec::new();
        let mut cursor = None;
        let mut pages = 0;
        loop {
            let mut f = Filter::new().limit(7).order(order);
            if let Some(c) = cursor {
                f = f.after_id(c);
            }
            let page = activity(&db, &f).await.unwrap();
            pages += 1;
            seen.extend(page.items.iter().map(|e| e.id));
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(pages, 5);
        assert_eq!(seen.len(), 30);
        assert_eq!(
            seen.iter().collect::<HashSet<_>>().len(),
            30,
            "no duplicates"
        );
    }
    // Offset pagination agrees with keyset.
    let first = activity(&db, &Filter::new().limit(10)).await.unwrap();
    let second = activity(&db, &Filter::new().limit(10).offset(10))
        .await
        .unwrap();
    let keyset = activity(
        &db,
        &Filter::new().limit(10).after_id(first.next_cursor.unwrap()),
    )
    .await
    .unwrap();
    assert_eq!(second.items, keyset.items);
    // Not both: following `next_cursor` while keeping an offset would skip entries.
    let err = activity(
        &db,
        &Filter::new()
            .offset(10)
            .after_id(first.next_cursor.unwrap()),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, audit_seaorm::Error::InvalidArgument(m) if m.contains("give one")),
        "{err}"
    );
    // The listing's own query with an offset and no page limit runs on every backend.
    let rest = audit_seaorm::activity_select(
        &Filter::new().offset(25),
        sea_orm::ConnectionTrait::get_database_backend(&db),
    );
    assert_eq!(
        sea_orm::PaginatorTrait::count(rest.clone(), &db)
            .await
            .unwrap(),
        5
    );
    assert_eq!(rest.all(&db).await.unwrap().len(), 5);
    // Limits are capped, never zero.
    assert_eq!(Filter::new().limit(0).effective_limit(), 1);
    assert_eq!(
        activity(&db, &Filter::new().limit(u64::MAX))
            .await
            .unwrap()
            .items
            .len(),
        30
    );
}

async fn explicit_api_in_transaction(db: DatabaseConnection) {
    let txn = db.begin().await.unwrap();
    let e = AuditContext::new()
        .causer("ctx-causer")
        .property("tenant", "acme")
        .scope(log(
            &txn,
            NewActivity::new("exported")
                .subject("report", "q3")
                .properties(json!({"rows": 10})),
        ))
        .await
        .unwrap();
    assert_eq!(e.causer_id.as_deref(), Some("ctx-causer"));
    assert_eq!(e.properties, Some(json!({"tenant": "acme", "rows": 10})));
    let e2 = log(
        &txn,
        NewActivity::new("exported")
            .subject("report", "q4")
            .causer("explicit"),
    )
    .await
    .unwrap();
    assert_eq!(e2.causer_id.as_deref(), Some("explicit"));
    let v1 = snapshot(&txn, "report", "q3", &json!({"rows": 10}))
        .await
        .unwrap();
    let v2 = snapshot(&txn, "report", "q3", &json!({"rows": 11}))
        .await
        .unwrap();
    assert_eq!((v1.version, v2.version), (1, 2));
    txn.rollback().await.unwrap();
    assert!(
        activity(&db, &Filter::new())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(versions(&db, "report", "q3").await.unwrap().is_empty());

    // Committed, the entry reads back as written.
    let written = log(
        &db,
        NewActivity::new("exported")
            .subject("report", "q5")
            .properties(json!({"a": [1, 2]})),
    )
    .await
    .unwrap();
    let read = activity(&db, &Filter::new()).await.unwrap().items;
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].id, written.id);
    assert_eq!(read[0].properties, Some(json!({"a": [1, 2]})));
    assert_eq!(
        read[0].created_at, written.created_at,
        "stored at microsecond precision on every backend"
    );
}

/// `record_change` of two states with different keys writes nothing: a change of key is
/// the old record's delete and the new one's create, which it records when asked so.
async fn record_change_refuses_a_new_key(db: DatabaseConnection) {
    use audit_tests::post;
    use sea_orm::ActiveModelTrait;
    let old = post::new("t", "t").insert(&db).await.unwrap();
    let mut new = old.clone();
    new.id += 1000;
    let refused = audit_seaorm::record_change(&db, Some(&old), Some(&new)).await;
    assert!(
        matches!(&refused, Err(audit_seaorm::Error::KeyChanged { from, to, .. })
            if *from == old.id.to_string() && *to == new.id.to_string()),
        "{refused:?}"
    );
    assert!(versions(&db, "post", new.id).await.unwrap().is_empty());
    assert_eq!(versions(&db, "post", old.id).await.unwrap().len(), 1);
    assert!(
        audit_seaorm::record_change(&db, Some(&old), None)
            .await
            .unwrap()
    );
    assert!(
        audit_seaorm::record_change(&db, None, Some(&new))
            .await
            .unwrap()
    );
    let events = |vs: Vec<audit_seaorm::Version>| {
        vs.into_iter()
            .map(|v| v.event.as_str().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        events(versions(&db, "post", old.id).await.unwrap()),
        ["created", "deleted"]
    );
    assert_eq!(
        events(versions(&db, "post", new.id).await.unwrap()),
        ["created"]
    );
}

/// With a time bound the listing is ordered by `(created_at, id)`, and the cursor (an entry
/// id) pages through that order: entries whose times and ids disagree come in time order,
/// ties broken by id, each once.
async fn time_bounded_listings_page_in_time_order(db: DatabaseConnection) {
    use audit_seaorm::entity::activity_log;
    use sea_orm::EntityTrait;
    let t0 = Utc::now() - Duration::hours(1);
    // Ids 1..=5 written at t0 + 4, 0, 2, 2, 1 seconds.
    let mut ids = Vec::new();
    for offset in [4, 0, 2, 2, 1] {
        let entry = log(&db, NewActivity::new("viewed").subject("post", 1))
            .await
            .unwrap();
        audit_tests::move_entries(&db, [entry.id], t0 + Duration::seconds(offset)).await;
        ids.push(entry.id);
    }
    let pages = |order: Order| {
        let db = db.clone();
        async move {
            let mut pages = Vec::new();
            let mut cursor = None;
            loop {
                let mut f = Filter::new().since(t0).limit(2).order(order);
                f.after_id = cursor;
                let page = activity(&db, &f).await.unwrap();
                pages.push(page.items.iter().map(|e| e.id).collect::<Vec<_>>());
                match page.next_cursor {
                    Some(c) => cursor = Some(c),
                    None => return pages,
                }
            }
        }
    };
    let [a, b, c, d, e] = ids[..] else {
        unreachable!()
    };
    assert_eq!(
        pages(Order::NewestFirst).await,
        [vec![a, d], vec![c, e], vec![b]]
    );
    assert_eq!(
        pages(Order::OldestFirst).await,
        [vec![b, e], vec![c, d], vec![a]]
    );
    // Without a time bound: id order, as always.
    let by_id = activity(&db, &Filter::new().limit(5)).await.unwrap();
    assert_eq!(
        by_id.items.iter().map(|e| e.id).collect::<Vec<_>>(),
        [e, d, c, b, a]
    );
    // `until` orders by time too, and is exclusive.
    let until = activity(&db, &Filter::new().until(t0 + Duration::seconds(2)))
        .await
        .unwrap();
    assert_eq!(until.items.iter().map(|e| e.id).collect::<Vec<_>>(), [e, b]);
    // A cursor whose entry is gone is an error, not an empty page.
    activity_log::Entity::delete_by_id(d)
        .exec(&db)
        .await
        .unwrap();
    let gone = activity(&db, &Filter::new().since(t0).after_id(d)).await;
    assert!(
        matches!(gone, Err(audit_seaorm::Error::CursorNotFound(id)) if id == d),
        "{gone:?}"
    );
    // The last page's cursor still answers an empty page.
    let last = activity(&db, &Filter::new().since(t0).after_id(b))
        .await
        .unwrap();
    assert!(last.items.is_empty() && last.next_cursor.is_none());
    // A cursor that is not an entry of the listing (here another type's) does not start
    // a page at its time: the listing would tell where that entry lies.
    let other = log(&db, NewActivity::new("viewed").subject("note", 1))
        .await
        .unwrap();
    audit_tests::move_entries(&db, [other.id], t0 + Duration::seconds(1)).await;
    let foreign = activity(
        &db,
        &Filter::new()
            .subject_type("post")
            .since(t0)
            .order(Order::OldestFirst)
            .after_id(other.id),
    )
    .await;
    assert!(
        matches!(foreign, Err(audit_seaorm::Error::CursorNotFound(id)) if id == other.id),
        "{foreign:?}"
    );
    let own = activity(
        &db,
        &Filter::new()
            .subject_type("note")
            .since(t0)
            .after_id(other.id),
    )
    .await
    .unwrap();
    assert!(own.items.is_empty(), "the note's own listing pages on");
}

backend_tests!(
    record_change_refuses_a_new_key,
    time_bounded_listings_page_in_time_order,
    filters_select_entries,
    keyset_pages_cover_everything_once,
    explicit_api_in_transaction
);
