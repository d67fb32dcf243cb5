//! Reverting a request: every change it made undone, newest first, in one transaction;
//! refused (nothing written) when a later change touched the same field, unless forced.

use audit_seaorm::{
    AuditContext, AuditedBulk, AuditedEntity, Error, Retention, Reverter, activity, history, prune,
    versions,
};
use audit_tests::{backend_tests, post, until_a_lock_wait};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, DatabaseConnection, EntityTrait, ModelTrait,
    QueryFilter, Set,
};

async fn retitle<C: sea_orm::ConnectionTrait>(db: &C, id: i32, title: &str) {
    post::ActiveModel {
        id: ActiveValue::Unchanged(id),
        title: Set(title.into()),
        ..Default::default()
    }
    .update(db)
    .await
    .unwrap();
}

/// Whether post `id`'s row is not there.
async fn gone(db: &DatabaseConnection, id: i32) -> bool {
    post::Entity::find_by_id(id)
        .one(db)
        .await
        .unwrap()
        .is_none()
}

fn request(id: &str) -> AuditContext {
    AuditContext::new().causer("editor").request_id(id)
}

async fn entry_count(db: &DatabaseConnection) -> usize {
    let filter = audit_seaorm::Filter::new().limit(500);
    activity(db, &filter).await.unwrap().items.len()
}

/// Fields the version before the request does not hold (added to the model after that
/// version was written): the trail does not know their values before the request (the
/// request's entry reads `old: null`, "unknown"), so they keep their values, named in
/// `unknown_kept`, and a later change of them is no conflict; the fields it holds go back.
async fn a_field_added_since_keeps_its_value(db: DatabaseConnection) {
    use sea_orm::{ConnectionTrait, DbBackend};
    let p = post::new("t", "s").insert(&db).await.unwrap();
    // The first version as written before `title` and `published_at` were columns.
    let data = match db.get_database_backend() {
        DbBackend::Postgres => "data - 'published_at' - 'title'",
        DbBackend::MySql => "JSON_REMOVE(data, '$.published_at', '$.title')",
        _ => "json_remove(data, '$.published_at', '$.title')",
    };
    db.execute_unprepared(&format!(
        "UPDATE versions SET data = {data} WHERE subject_type = 'post' AND subject_id = '{}'",
        p.id
    ))
    .await
    .unwrap();
    let at = chrono::Utc::now();
    request("req-added")
        .scope(async {
            post::ActiveModel {
                id: ActiveValue::Unchanged(p.id),
                title: Set("by the request".into()),
                slug: Set("s2".into()),
                published_at: Set(Some(at)),
                ..Default::default()
            }
            .update(&db)
            .await
            .unwrap();
        })
        .await;
    let published = post::reload(&db, p.id).await.published_at;
    assert!(published.is_some());
    let mut later: post::ActiveModel = post::reload(&db, p.id).await.into();
    later.title = Set("later".into());
    later.update(&db).await.unwrap();
    let reverter = Reverter::new().entity::<post::Entity>();
    let done = reverter
        .revert_request(&db, "req-added", false)
        .await
        .unwrap();
    let row = post::reload(&db, p.id).await;
    assert_eq!(
        (row.title.as_str(), row.slug.as_str(), row.published_at),
        ("later", "s", published)
    );
    let kept: Vec<&str> = done.unknown_kept.iter().map(|k| k.field.as_str()).collect();
    assert_eq!(kept, ["published_at", "title"]);
    assert!(
        done.unknown_kept
            .iter()
            .all(|k| k.subject.subject_id == p.id.to_string())
    );
    assert!(done.redacted_kept.is_empty(), "{:?}", done.redacted_kept);
}

/// One request creates A, renames B and deletes C; its revert deletes A, renames B back
/// and re-inserts C, each logged `reverted` under a new request id.
async fn a_request_is_undone(db: DatabaseConnection) {
    let b = post::new("b", "b").insert(&db).await.unwrap();
    let c = post::new("c", "c").insert(&db).await.unwrap();
    let a = request("req-1")
        .scope(async {
            let a = post::new("a", "a").insert(&db).await.unwrap();
            retitle(&db, b.id, "b renamed").await;
            c.clone().delete(&db).await.unwrap();
            a
        })
        .await;
    let reverter = Reverter::new().entity::<post::Entity>();
    let done = reverter.revert_request(&db, "req-1", false).await.unwrap();
    assert_ne!(done.request_id, "req-1");
    assert_eq!(done.subjects.len(), 3);

    assert!(gone(&db, a.id).await);
    assert_eq!(post::reload(&db, b.id).await.title, "b");
    assert_eq!(post::reload(&db, c.id).await.title, "c");
    for id in [a.id, b.id, c.id] {
        let last = history(&db, "post", id).await.unwrap().pop().unwrap();
        assert_eq!(last.action.as_str(), "reverted", "post {id}");
        assert_eq!(last.request_id.as_deref(), Some(done.request_id.as_str()));
        let props = last.properties.unwrap();
        assert_eq!(props["reverted_request_id"], "req-1");
        assert!(
            props["reverted_entry_ids"]
                .as_array()
                .is_some_and(|ids| !ids.is_empty())
        );
    }
    // The trail goes on: versions keep counting.
    let vs = versions(&db, "post", b.id).await.unwrap();
    assert_eq!(vs.iter().map(|v| v.version).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(vs[2].data["title"], "b");
}

/// A later change of a field the request changed: refused, nothing written; forced, the
/// field goes back to before the request.
async fn conflicts_are_refused_unless_forced(db: DatabaseConnection) {
    let b = post::new("b", "b").insert(&db).await.unwrap();
    request("req-2").scope(retitle(&db, b.id, "by req-2")).await;
    request("req-3").scope(retitle(&db, b.id, "by req-3")).await;
    let before = entry_count(&db).await;
    let reverter = Reverter::new().entity::<post::Entity>();
    match reverter.revert_request(&db, "req-2", false).await {
        Err(Error::RevertConflicts(conflicts)) => {
            assert_eq!(conflicts.len(), 1, "{conflicts:?}");
            assert_eq!(conflicts[0].field, "title");
            assert_eq!(conflicts[0].subject.subject_id, b.id.to_string());
        }
        other => panic!("expected RevertConflicts, got {other:?}"),
    }
    assert_eq!(entry_count(&db).await, before, "nothing written");
    assert_eq!(post::reload(&db, b.id).await.title, "by req-3");

    reverter.revert_request(&db, "req-2", true).await.unwrap();
    assert_eq!(post::reload(&db, b.id).await.title, "b");
}

/// A conflict past the first page of later entries (1,000 later changes of another field,
/// then one of the request's field) is found.
async fn a_conflict_after_many_later_changes(db: DatabaseConnection) {
    let b = post::new("b", "many").insert(&db).await.unwrap();
    request("req-many")
        .scope(retitle(&db, b.id, "by the request"))
        .await;
    let txn = sea_orm::TransactionTrait::begin(&db).await.unwrap();
    for i in 0..1_000 {
        post::ActiveModel {
            id: ActiveValue::Unchanged(b.id),
            view_count: Set(i),
            slug: Set(format!("many-{i}")),
            ..Default::default()
        }
        .update(&txn)
        .await
        .unwrap();
    }
    txn.commit().await.unwrap();
    retitle(&db, b.id, "last").await;
    let reverter = Reverter::new().entity::<post::Entity>();
    match reverter.revert_request(&db, "req-many", false).await {
        Err(Error::RevertConflicts(conflicts)) => {
            let found: Vec<_> = conflicts.iter().map(|c| c.field.as_str()).collect();
            assert_eq!(found, ["title"]);
            let last = history(&db, "post", b.id).await.unwrap().pop().unwrap();
            assert_eq!(conflicts[0].later_entry_id, last.id);
        }
        other => panic!("expected RevertConflicts, got {other:?}"),
    }
}

async fn unknown_requests_and_types_are_errors(db: DatabaseConnection) {
    let reverter = Reverter::new().entity::<post::Entity>();
    assert!(matches!(
        reverter.revert_request(&db, "nope", false).await,
        Err(Error::RequestNotFound(_))
    ));
    request("req-4")
        .scope(post::new("x", "x").insert(&db))
        .await
        .unwrap();
    assert!(matches!(
        Reverter::new().revert_request(&db, "req-4", false).await,
        Err(Error::NotRevertible(t)) if t == "post"
    ));
}

/// A request id used by two requests of different causers (a client may send another's
/// `X-Request-Id`): its entries are not one request's, and nothing is reverted.
async fn a_request_id_of_two_causers_is_refused(db: DatabaseConnection) {
    let mine = request("req-5")
        .scope(post::new("mine", "m").insert(&db))
        .await
        .unwrap();
    let theirs = AuditContext::new()
        .causer("intruder")
        .request_id("req-5")
        .scope(post::new("theirs", "t").insert(&db))
        .await
        .unwrap();
    let reverter = Reverter::new().entity::<post::Entity>();
    match reverter.revert_request(&db, "req-5", false).await {
        Err(Error::RequestShared {
            request_id,
            causers,
        }) => {
            assert_eq!(request_id, "req-5");
            assert_eq!(
                causers,
                [Some("editor".to_owned()), Some("intruder".to_owned())]
            );
        }
        other => panic!("expected RequestShared, got {other:?}"),
    }
    assert!(!gone(&db, mine.id).await);
    assert!(!gone(&db, theirs.id).await);
}

/// A request whose record's earlier versions were pruned: the trail no longer says what
/// the record was before it, so the revert is refused and the record stays (it is not
/// taken for one the request created and deleted).
async fn pruned_state_before_is_refused(db: DatabaseConnection) {
    let b = post::new("b", "b").insert(&db).await.unwrap(); // version 1
    request("req-5").scope(retitle(&db, b.id, "by req-5")).await; // version 2
    let pruned = prune(&db, &Retention::new().keep_versions(1))
        .await
        .unwrap();
    assert_eq!(pruned.versions, 1);
    let before = entry_count(&db).await;
    let reverter = Reverter::new().entity::<post::Entity>();
    match reverter.revert_request(&db, "req-5", true).await {
        Err(Error::NoStateBefore {
            subject_type,
            subject_id,
            version,
        }) => {
            assert_eq!(subject_type, "post");
            assert_eq!(subject_id, b.id.to_string());
            assert_eq!(version, 1);
        }
        other => panic!("expected NoStateBefore, got {other:?}"),
    }
    assert_eq!(entry_count(&db).await, before, "nothing written");
    assert_eq!(post::reload(&db, b.id).await.title, "by req-5");
}

/// A record deleted in the trail, put back outside it, then updated by the request: the
/// version before the request says `deleted`, but the request found the row there, so
/// what it held before is in no version. The revert is refused, forced or not, and the
/// row stays (it is not taken for one the request created).
async fn a_row_put_back_outside_is_not_deleted(db: DatabaseConnection) {
    let p = post::new("a", "a").insert(&db).await.unwrap(); // version 1
    p.clone().delete(&db).await.unwrap(); // version 2, deleted
    post::Entity::insert(post::ActiveModel {
        id: Set(p.id),
        ..post::new("back", "back")
    })
    .exec(&db)
    .await
    .unwrap();
    request("req-back")
        .scope(retitle(&db, p.id, "by req-back"))
        .await;
    let before = entry_count(&db).await;
    let reverter = Reverter::new().entity::<post::Entity>();
    for force in [false, true] {
        match reverter.revert_request(&db, "req-back", force).await {
            Err(Error::NoStateBefore {
                subject_id,
                version,
                ..
            }) => {
                assert_eq!(subject_id, p.id.to_string());
                assert_eq!(version, 2, "the deleted version");
            }
            other => panic!("expected NoStateBefore, got {other:?}"),
        }
    }
    assert_eq!(entry_count(&db).await, before, "nothing written");
    assert_eq!(post::reload(&db, p.id).await.title, "by req-back");

    // Deleted by a request instead (a bulk delete logs the row's return as drift, then
    // its delete): the row cannot be put back either.
    let q = post::new("q", "q").insert(&db).await.unwrap();
    q.clone().delete(&db).await.unwrap();
    post::Entity::insert(post::ActiveModel {
        id: Set(q.id),
        ..post::new("back", "back-q")
    })
    .exec(&db)
    .await
    .unwrap();
    request("req-gone")
        .scope(post::Entity::delete_by_id_audited(q.id).exec(&db))
        .await
        .unwrap();
    let before = entry_count(&db).await;
    match reverter.revert_request(&db, "req-gone", true).await {
        Err(Error::NoStateBefore { subject_id, .. }) => assert_eq!(subject_id, q.id.to_string()),
        other => panic!("expected NoStateBefore, got {other:?}"),
    }
    assert_eq!(entry_count(&db).await, before, "nothing written");
    assert!(gone(&db, q.id).await);
}

/// A request that put a deleted record back (a revert of its delete, a restore of it):
/// reverting it deletes the record again, though the version before it says `deleted`.
async fn a_record_put_back_goes_again(db: DatabaseConnection) {
    let c = post::new("c", "c").insert(&db).await.unwrap();
    request("req-del")
        .scope(c.clone().delete(&db))
        .await
        .unwrap();
    let reverter = Reverter::new().entity::<post::Entity>();
    let back = reverter
        .revert_request(&db, "req-del", false)
        .await
        .unwrap();
    assert!(!gone(&db, c.id).await, "put back by the revert");
    reverter
        .revert_request(&db, &back.request_id, false)
        .await
        .unwrap();
    assert!(gone(&db, c.id).await, "gone again with the revert's revert");

    let d = post::new("d", "d").insert(&db).await.unwrap();
    d.clone().delete(&db).await.unwrap();
    let first = versions(&db, "post", d.id).await.unwrap()[0].id;
    request("req-restore")
        .scope(post::Entity::restore(&db, first))
        .await
        .unwrap();
    assert!(!gone(&db, d.id).await, "put back by the restore");
    reverter
        .revert_request(&db, "req-restore", false)
        .await
        .unwrap();
    assert!(
        gone(&db, d.id).await,
        "gone again with the restore's revert"
    );

    // Deleted outside the trail, then restored: the restore records the delete first (a
    // `drift` entry and a `deleted` version), so its revert deletes the row again.
    let e = post::new("e", "e").insert(&db).await.unwrap();
    retitle(&db, e.id, "e2").await;
    post::Entity::delete_by_id(e.id).exec(&db).await.unwrap();
    let first = versions(&db, "post", e.id).await.unwrap()[0].id;
    request("req-restore-gone")
        .scope(post::Entity::restore(&db, first))
        .await
        .unwrap();
    let events: Vec<String> = versions(&db, "post", e.id)
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.event.as_str().to_owned())
        .collect();
    assert_eq!(events, ["created", "updated", "deleted", "restored"]);
    let trail = history(&db, "post", e.id).await.unwrap();
    assert_eq!(trail[2].action.as_str(), "drift");
    assert_eq!(
        trail[2].changes.get("title").unwrap().new,
        serde_json::Value::Null
    );
    reverter
        .revert_request(&db, "req-restore-gone", false)
        .await
        .unwrap();
    assert!(
        gone(&db, e.id).await,
        "gone again with the restore's revert"
    );
}

/// A request whose own versions were pruned (entries are kept longer than versions): a
/// record it only changed cannot go back (its state before is gone with them), and one it
/// created is still deleted (that needs no version).
async fn a_request_whose_versions_were_pruned(db: DatabaseConnection) {
    let b = post::new("b", "b").insert(&db).await.unwrap();
    request("req-changed")
        .scope(retitle(&db, b.id, "by req-changed"))
        .await;
    let c = request("req-made")
        .scope(post::new("c", "c").insert(&db))
        .await
        .unwrap();
    retitle(&db, b.id, "later").await;
    retitle(&db, c.id, "later").await;
    let pruned = prune(&db, &Retention::new().keep_versions(1))
        .await
        .unwrap();
    assert_eq!(pruned.versions, 3, "b's first two, c's first");
    let reverter = Reverter::new().entity::<post::Entity>();
    let before = entry_count(&db).await;
    match reverter.revert_request(&db, "req-changed", true).await {
        Err(Error::NoStateBefore {
            subject_id,
            version,
            ..
        }) => {
            assert_eq!(subject_id, b.id.to_string());
            assert_eq!(version, 0);
        }
        other => panic!("expected NoStateBefore, got {other:?}"),
    }
    assert_eq!(entry_count(&db).await, before, "nothing written");
    assert_eq!(post::reload(&db, b.id).await.title, "later");
    reverter
        .revert_request(&db, "req-made", true)
        .await
        .unwrap();
    assert!(gone(&db, c.id).await);
}

/// A record the revert deletes is gone for time travel too: its version is `deleted`
/// (the entry says `reverted`), and inserting its key again is a plain create, not a drift
/// over a record the trail took for alive.
async fn a_reverted_create_is_deleted_in_the_trail(db: DatabaseConnection) {
    let a = request("req-6")
        .scope(post::new("a", "a").insert(&db))
        .await
        .unwrap();
    let reverter = Reverter::new().entity::<post::Entity>();
    reverter.revert_request(&db, "req-6", false).await.unwrap();
    let vs = versions(&db, "post", a.id).await.unwrap();
    assert_eq!(vs.last().unwrap().event.as_str(), "deleted", "{vs:?}");
    let last = history(&db, "post", a.id).await.unwrap().pop().unwrap();
    assert_eq!(last.action.as_str(), "reverted");
    assert!(
        post::Entity::as_of(&db, a.id, chrono::Utc::now())
            .await
            .unwrap()
            .is_none()
    );
    let mut again = post::new("a again", "a-again");
    again.id = Set(a.id);
    again.insert(&db).await.unwrap();
    let actions: Vec<String> = history(&db, "post", a.id)
        .await
        .unwrap()
        .iter()
        .map(|e| e.action.as_str().to_owned())
        .collect();
    assert_eq!(actions, ["created", "reverted", "created"]);
}

/// A revert puts back the fields the request changed and leaves the others as later
/// writes left them (a later change of another field is no conflict, and stays).
async fn later_changes_of_other_fields_stay(db: DatabaseConnection) {
    let b = post::new("b", "b").insert(&db).await.unwrap();
    request("req-7").scope(retitle(&db, b.id, "by req-7")).await;
    request("req-8")
        .scope(
            post::ActiveModel {
                id: ActiveValue::Unchanged(b.id),
                slug: Set("slug-by-req-8".into()),
                ..Default::default()
            }
            .update(&db),
        )
        .await
        .unwrap();
    let reverter = Reverter::new().entity::<post::Entity>();
    reverter.revert_request(&db, "req-7", false).await.unwrap();
    let now = post::reload(&db, b.id).await;
    assert_eq!(now.title, "b");
    assert_eq!(now.slug, "slug-by-req-8");
    let last = history(&db, "post", b.id).await.unwrap().pop().unwrap();
    assert_eq!(
        serde_json::to_value(&last.changes).unwrap(),
        serde_json::json!({"title": {"old": "by req-7", "new": "b"}})
    );
}

/// Records are put back in the reverse order of the request's first change of each: a
/// junction row created after the cake it points at is deleted before the cake (which
/// would otherwise take it along through `ON DELETE CASCADE`, unlogged).
async fn records_go_back_in_reverse_order(db: DatabaseConnection) {
    use audit_tests::compat::{baker, cake, cakes_bakers};
    let baker = baker::ActiveModel {
        name: Set("Ann".into()),
        slug: Set("ann".into()),
        contact_details: Set(serde_json::json!({})),
        bakery_id: Set(None),
        ..Default::default()
    }
    .insert(&db)
    .await
    .unwrap();
    let (cake, link) = request("req-9")
        .scope(async {
            let cake = cake::ActiveModel {
                name: Set("Sponge".into()),
                price: Set(rust_decimal::Decimal::new(350, 2)),
                bakery_id: Set(None),
                gluten_free: Set(false),
                serial: Set(uuid::Uuid::from_u128(9)),
                ..Default::default()
            }
            .insert(&db)
            .await
            .unwrap();
            let link = cakes_bakers::ActiveModel {
                cake_id: Set(cake.id),
                baker_id: Set(baker.id),
            }
            .insert(&db)
            .await
            .unwrap();
            // The cake's last change comes after the junction row's.
            let mut renamed: cake::ActiveModel = cake.clone().into();
            renamed.name = Set("Victoria sponge".into());
            renamed.update(&db).await.unwrap();
            (cake, link)
        })
        .await;
    let reverter = Reverter::new()
        .entity::<cake::Entity>()
        .entity::<cakes_bakers::Entity>();
    reverter.revert_request(&db, "req-9", false).await.unwrap();
    assert!(
        cake::Entity::find_by_id(cake.id)
            .one(&db)
            .await
            .unwrap()
            .is_none()
    );
    let link_id = serde_json::json!([link.cake_id, link.baker_id]).to_string();
    let trail = history(&db, "compat_cakes_bakers", link_id.as_str())
        .await
        .unwrap();
    let actions: Vec<&str> = trail.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["created", "reverted"], "{trail:?}");
}

/// A row the request changed first and deleted last, after deleting a row that referred
/// to it: it comes back before the row that refers to it (whose insert would otherwise
/// fail on the foreign key).
async fn a_row_deleted_last_comes_back_first(db: DatabaseConnection) {
    use audit_tests::compat::{baker_and_cake, cake, cakes_bakers};
    let (_, cake, link) = baker_and_cake(&db, "Madeira", 10).await;
    request("req-10")
        .scope(async {
            // The cake's first change comes before the junction row's.
            let mut renamed: cake::ActiveModel = cake.clone().into();
            renamed.name = Set("Madeira loaf".into());
            let renamed = renamed.update(&db).await.unwrap();
            cakes_bakers::ActiveModel::from(link.clone())
                .delete(&db)
                .await
                .unwrap();
            cake::ActiveModel::from(renamed).delete(&db).await.unwrap();
        })
        .await;
    let reverter = Reverter::new()
        .entity::<cake::Entity>()
        .entity::<cakes_bakers::Entity>();
    reverter.revert_request(&db, "req-10", false).await.unwrap();
    let back = cake::Entity::find_by_id(cake.id)
        .one(&db)
        .await
        .unwrap()
        .expect("the cake is back");
    assert_eq!(back.name, "Madeira");
    let links = cakes_bakers::Entity::find().all(&db).await.unwrap();
    assert_eq!(links, [link]);
}

/// A write of a record in flight when the revert starts (its transaction holds the row):
/// the revert waits for it, and its change of a field the request changed is a conflict,
/// not something the revert writes over.
async fn a_write_in_flight_is_a_conflict(db: DatabaseConnection) {
    use sea_orm::TransactionTrait;
    let b = post::new("b", "b").insert(&db).await.unwrap();
    request("req-10")
        .scope(retitle(&db, b.id, "by req-10"))
        .await;
    let txn = db.begin().await.unwrap();
    request("req-11")
        .scope(retitle(&txn, b.id, "by req-11"))
        .await;
    let reverter = Reverter::new().entity::<post::Entity>();
    let revert = {
        let db = db.clone();
        tokio::spawn(async move { reverter.revert_request(&db, "req-10", false).await })
    };
    until_a_lock_wait(&db).await;
    assert!(!revert.is_finished(), "the revert waits for the row");
    txn.commit().await.unwrap();
    match revert.await.unwrap() {
        Err(Error::RevertConflicts(conflicts)) => {
            assert_eq!(conflicts.len(), 1, "{conflicts:?}");
            assert_eq!(conflicts[0].field, "title");
        }
        other => panic!("expected RevertConflicts, got {other:?}"),
    }
    assert_eq!(post::reload(&db, b.id).await.title, "by req-11");
}

/// A revert is a request too: reverting it puts back what the first revert undid.
async fn a_revert_can_be_reverted(db: DatabaseConnection) {
    let b = post::new("b", "b").insert(&db).await.unwrap();
    let a = request("req-12")
        .scope(async {
            retitle(&db, b.id, "by req-12").await;
            post::new("a", "a").insert(&db).await.unwrap()
        })
        .await;
    let reverter = Reverter::new().entity::<post::Entity>();
    let undo = reverter.revert_request(&db, "req-12", false).await.unwrap();
    assert_eq!(post::reload(&db, b.id).await.title, "b");
    assert!(gone(&db, a.id).await);
    reverter
        .revert_request(&db, &undo.request_id, false)
        .await
        .unwrap();
    assert_eq!(post::reload(&db, b.id).await.title, "by req-12");
    assert_eq!(post::reload(&db, a.id).await.title, "a");
}

/// A request that changed more records than one statement of the revert's reads could
/// name (three parameters each, SQLite's limit is 32,766): its reads go in parts, and every
/// record goes back.
async fn a_request_of_many_records_is_undone(db: DatabaseConnection) {
    use audit_seaorm::AuditedBulk;
    use sea_orm::{PaginatorTrait, QueryFilter, sea_query::Expr};
    const N: usize = 11_000;
    post::Entity::insert_many_audited(
        (0..N).map(|i| post::new(&format!("t{i}"), &format!("s{i}"))),
    )
    .exec(&db)
    .await
    .unwrap();
    let done = request("req-many")
        .scope(
            post::Entity::update_many_audited()
                .col_expr(post::Column::Title, Expr::value("by req-many"))
                .exec(&db),
        )
        .await
        .unwrap();
    assert_eq!(done.entries, N as u64);
    let undone = Reverter::new()
        .entity::<post::Entity>()
        .revert_request(&db, "req-many", false)
        .await
        .unwrap();
    assert_eq!(undone.subjects.len(), N);
    let left = post::Entity::find()
        .filter(post::Column::Title.eq("by req-many"))
        .count(&db)
        .await
        .unwrap();
    assert_eq!(left, 0);
    let last = post::Entity::find().all(&db).await.unwrap().pop().unwrap();
    assert_eq!(last.title, format!("t{}", N - 1));
}

/// SQLite only: its parameter limit is the lowest, and the test writes 11,000 records
/// one by one on the way back.
mod a_request_of_many_records_is_undone {
    audit_tests::__backend_test!(a_request_of_many_records_is_undone, sqlite, Sqlite, "_s");
}

/// A change made outside the trail since the request (here a plain `update_many`) is
/// seen by the revert: on a field the request changed it is a conflict, marked as made
/// outside the trail; forced, the revert logs it as `drift` (no causer) before its own
/// entry, which then holds only what the revert changes.
async fn changes_outside_the_trail_are_seen(db: DatabaseConnection) {
    let p = post::new("a", "a").insert(&db).await.unwrap();
    request("req-out").scope(retitle(&db, p.id, "c")).await;
    post::Entity::update_many()
        .col_expr(post::Column::Title, sea_orm::sea_query::Expr::value("b"))
        .col_expr(
            post::Column::Slug,
            sea_orm::sea_query::Expr::value("outside"),
        )
        .filter(post::Column::Id.eq(p.id))
        .exec(&db)
        .await
        .unwrap();
    let before = entry_count(&db).await;
    let reverter = Reverter::new().entity::<post::Entity>();
    match reverter.revert_request(&db, "req-out", false).await {
        Err(Error::RevertConflicts(conflicts)) => {
            assert_eq!(conflicts.len(), 1, "{conflicts:?}");
            assert_eq!(conflicts[0].field, "title");
            assert!(conflicts[0].outside_trail, "{conflicts:?}");
        }
        other => panic!("expected RevertConflicts, got {other:?}"),
    }
    assert_eq!(entry_count(&db).await, before, "nothing written");
    assert_eq!(post::reload(&db, p.id).await.title, "b");

    reverter.revert_request(&db, "req-out", true).await.unwrap();
    let row = post::reload(&db, p.id).await;
    assert_eq!((row.title.as_str(), row.slug.as_str()), ("a", "outside"));
    let trail = history(&db, "post", p.id).await.unwrap();
    let actions: Vec<&str> = trail.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["created", "updated", "drift", "reverted"]);
    let drift = &trail[2];
    assert_eq!(drift.causer_id, None);
    assert_eq!(drift.request_id, None);
    assert_eq!(
        serde_json::to_value(&drift.changes).unwrap(),
        serde_json::json!({
            "title": {"old": "c", "new": "b"},
            "slug": {"old": "a", "new": "outside"},
        })
    );
    let reverted = &trail[3];
    assert_eq!(reverted.causer_id, None);
    assert_eq!(
        serde_json::to_value(&reverted.changes).unwrap(),
        serde_json::json!({"title": {"old": "b", "new": "a"}})
    );
    let vs = versions(&db, "post", p.id).await.unwrap();
    assert_eq!(
        vs.iter().map(|v| v.version).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert_eq!(vs[2].event, "drift");
    assert_eq!(vs[3].data["slug"], serde_json::json!("outside"));

    // Logged as drift already by a later write (of another field): the same conflict.
    let q = post::new("a", "a").insert(&db).await.unwrap();
    request("req-out-2").scope(retitle(&db, q.id, "c")).await;
    post::Entity::update_many()
        .col_expr(post::Column::Title, sea_orm::sea_query::Expr::value("b"))
        .filter(post::Column::Id.eq(q.id))
        .exec(&db)
        .await
        .unwrap();
    post::ActiveModel {
        id: ActiveValue::Unchanged(q.id),
        slug: Set("later".into()),
        ..Default::default()
    }
    .update(&db)
    .await
    .unwrap();
    let drift = history(&db, "post", q.id).await.unwrap()[2].clone();
    assert_eq!(drift.action.as_str(), "drift");
    match reverter.revert_request(&db, "req-out-2", false).await {
        Err(Error::RevertConflicts(conflicts)) => {
            assert_eq!(conflicts.len(), 1, "{conflicts:?}");
            assert_eq!(conflicts[0].later_entry_id, drift.id);
            assert!(conflicts[0].outside_trail, "{conflicts:?}");
        }
        other => panic!("expected RevertConflicts, got {other:?}"),
    }
}

/// A row deleted outside the trail after the request: the revert logs the deletion as
/// drift and refuses (every field the request changed was changed outside the trail);
/// forced, it brings the row back in its last state with the request's fields as before.
async fn a_row_deleted_outside_the_trail_is_a_conflict(db: DatabaseConnection) {
    let p = post::new("a", "a").insert(&db).await.unwrap();
    request("req-gone").scope(retitle(&db, p.id, "b")).await;
    post::ActiveModel {
        id: ActiveValue::Unchanged(p.id),
        slug: Set("later".into()),
        ..Default::default()
    }
    .update(&db)
    .await
    .unwrap();
    post::Entity::delete_many()
        .filter(post::Column::Id.eq(p.id))
        .exec(&db)
        .await
        .unwrap();
    let before = entry_count(&db).await;
    let reverter = Reverter::new().entity::<post::Entity>();
    match reverter.revert_request(&db, "req-gone", false).await {
        Err(Error::RevertConflicts(conflicts)) => {
            let fields: Vec<(&str, bool)> = conflicts
                .iter()
                .map(|c| (c.field.as_str(), c.outside_trail))
                .collect();
            assert_eq!(fields, [("title", true)]);
        }
        other => panic!("expected RevertConflicts, got {other:?}"),
    }
    assert_eq!(entry_count(&db).await, before, "nothing written");
    assert!(gone(&db, p.id).await);

    reverter
        .revert_request(&db, "req-gone", true)
        .await
        .unwrap();
    let row = post::reload(&db, p.id).await;
    assert_eq!((row.title.as_str(), row.slug.as_str()), ("a", "later"));
    let trail = history(&db, "post", p.id).await.unwrap();
    let actions: Vec<&str> = trail.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["created", "updated", "updated", "drift", "reverted"]
    );
    let drift = &trail[3];
    assert_eq!(drift.causer_id, None);
    assert_eq!(
        drift.changes.get("title").unwrap().new,
        serde_json::json!(null)
    );
    assert_eq!(
        drift.changes.get("slug").unwrap().old,
        serde_json::json!("later")
    );
    let vs = versions(&db, "post", p.id).await.unwrap();
    let events: Vec<&str> = vs.iter().map(|v| v.event.as_str()).collect();
    assert_eq!(
        events,
        ["created", "updated", "updated", "deleted", "reverted"]
    );
}

/// A request that created a record over a trail that still said it existed (its row was
/// deleted outside the trail): reverting it deletes the record.
async fn a_create_over_an_outside_delete_is_deleted(db: DatabaseConnection) {
    let p = post::new("a", "a").insert(&db).await.unwrap();
    retitle(&db, p.id, "b").await;
    post::Entity::delete_many()
        .filter(post::Column::Id.eq(p.id))
        .exec(&db)
        .await
        .unwrap();
    request("req-again")
        .scope(async {
            post::ActiveModel {
                id: Set(p.id),
                ..post::new("again", "again")
            }
            .insert(&db)
            .await
            .unwrap()
        })
        .await;
    let reverter = Reverter::new().entity::<post::Entity>();
    let done = reverter
        .revert_request(&db, "req-again", false)
        .await
        .unwrap();
    assert!(
        done.redacted_kept.is_empty(),
        "a deleted record keeps nothing"
    );
    assert!(gone(&db, p.id).await);
    let vs = versions(&db, "post", p.id).await.unwrap();
    assert_eq!(vs.last().unwrap().event, "deleted");
}

/// A record the request created, changed later, then removed outside the trail: the revert
/// wants it gone and it is, so nothing conflicts; the removal is logged as drift.
async fn a_created_record_gone_since_is_no_conflict(db: DatabaseConnection) {
    let p = request("req-made")
        .scope(async { post::new("made", "made").insert(&db).await.unwrap() })
        .await;
    retitle(&db, p.id, "changed later").await;
    post::Entity::delete_many()
        .filter(post::Column::Id.eq(p.id))
        .exec(&db)
        .await
        .unwrap();
    let reverter = Reverter::new().entity::<post::Entity>();
    reverter
        .revert_request(&db, "req-made", false)
        .await
        .unwrap();
    let trail = history(&db, "post", p.id).await.unwrap();
    let actions: Vec<&str> = trail.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["created", "updated", "drift"]);
    let vs = versions(&db, "post", p.id).await.unwrap();
    assert_eq!(vs.last().unwrap().event, "deleted");
}

/// Redacted fields cannot go back (no version holds their values): they keep what the
/// request gave them, and the revert says which.
async fn redacted_fields_are_named_not_reverted(db: DatabaseConnection) {
    let p = post::new("a", "a").insert(&db).await.unwrap();
    request("req-secret")
        .scope(
            post::ActiveModel {
                id: ActiveValue::Unchanged(p.id),
                title: Set("b".into()),
                api_token: Set("secret-2".into()),
                ..Default::default()
            }
            .update(&db),
        )
        .await
        .unwrap();
    let reverter = Reverter::new().entity::<post::Entity>();
    let (done, warnings) =
        audit_tests::warnings_of(reverter.revert_request(&db, "req-secret", false)).await;
    let done = done.unwrap();
    let kept: Vec<(&str, &str)> = done
        .redacted_kept
        .iter()
        .map(|k| (k.subject.subject_id.as_str(), k.field.as_str()))
        .collect();
    assert_eq!(kept, [(p.id.to_string().as_str(), "api_token")]);
    assert!(warnings.contains("redacted"), "{warnings}");
    let row = post::reload(&db, p.id).await;
    assert_eq!(
        (row.title.as_str(), row.api_token.as_str()),
        ("a", "secret-2")
    );

    // A later change of only the redacted field is no conflict: the revert does not
    // undo it either.
    request("req-both")
        .scope(
            post::ActiveModel {
                id: ActiveValue::Unchanged(p.id),
                title: Set("c".into()),
                api_token: Set("secret-3".into()),
                ..Default::default()
            }
            .update(&db),
        )
        .await
        .unwrap();
    request("req-token")
        .scope(
            post::ActiveModel {
                id: ActiveValue::Unchanged(p.id),
                api_token: Set("secret-4".into()),
                ..Default::default()
            }
            .update(&db),
        )
        .await
        .unwrap();
    let done = reverter
        .revert_request(&db, "req-both", false)
        .await
        .unwrap();
    assert_eq!(done.redacted_kept.len(), 1, "{:?}", done.redacted_kept);
    let row = post::reload(&db, p.id).await;
    assert_eq!(
        (row.title.as_str(), row.api_token.as_str()),
        ("a", "secret-4")
    );

    // A field in clear whose value is the text `[redacted]` goes back, and is not named;
    // since it goes back, a later change of it is a conflict.
    request("req-marker")
        .scope(retitle(&db, p.id, audit_seaorm::REDACTED))
        .await;
    retitle(&db, p.id, "fixed").await;
    match reverter.revert_request(&db, "req-marker", false).await {
        Err(Error::RevertConflicts(conflicts)) => {
            let found: Vec<_> = conflicts.iter().map(|c| c.field.as_str()).collect();
            assert_eq!(found, ["title"]);
        }
        other => panic!("expected RevertConflicts, got {other:?}"),
    }
    assert_eq!(post::reload(&db, p.id).await.title, "fixed");
    let done = reverter
        .revert_request(&db, "req-marker", true)
        .await
        .unwrap();
    assert!(done.redacted_kept.is_empty(), "{:?}", done.redacted_kept);
    assert_eq!(post::reload(&db, p.id).await.title, "a");
}

backend_tests!(
    a_field_added_since_keeps_its_value,
    a_conflict_after_many_later_changes,
    a_record_put_back_goes_again,
    a_row_put_back_outside_is_not_deleted,
    a_request_whose_versions_were_pruned,
    a_request_id_of_two_causers_is_refused,
    changes_outside_the_trail_are_seen,
    a_row_deleted_outside_the_trail_is_a_conflict,
    a_create_over_an_outside_delete_is_deleted,
    a_created_record_gone_since_is_no_conflict,
    redacted_fields_are_named_not_reverted,
    a_revert_can_be_reverted,
    a_write_in_flight_is_a_conflict,
    records_go_back_in_reverse_order,
    a_row_deleted_last_comes_back_first,
    a_reverted_create_is_deleted_in_the_trail,
    later_changes_of_other_fields_stay,
    pruned_state_before_is_refused,
    a_request_is_undone,
    conflicts_are_refused_unless_forced,
    unknown_requests_and_types_are_errors,
);
