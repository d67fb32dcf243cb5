//! Reverting a request: every change it made undone, newest first, in one transaction;
//! refused (nothing written) when a later change touched the same field, unless forced.

use audit_seaorm::{AuditContext, Error, Retention, Reverter, activity, history, prune, versions};
use audit_tests::{backend_tests, post};
use sea_orm::{ActiveModelTrait, ActiveValue, DatabaseConnection, EntityTrait, ModelTrait, Set};

async fn retitle(db: &DatabaseConnection, id: i32, title: &str) {
    post::ActiveModel {
        id: ActiveValue::Unchanged(id),
        title: Set(title.into()),
        ..Default::default()
    }
    .update(db)
    .await
    .unwrap();
}

fn request(id: &str) -> AuditContext {
    AuditContext::new().causer("editor").request_id(id)
}

async fn entry_count(db: &DatabaseConnection) -> usize {
    let filter = audit_seaorm::Filter::new().limit(500);
    activity(db, &filter).await.unwrap().items.len()
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

    assert!(
        post::Entity::find_by_id(a.id)
            .one(&db)
            .await
            .unwrap()
            .is_none()
    );
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

backend_tests!(
    pruned_state_before_is_refused,
    a_request_is_undone,
    conflicts_are_refused_unless_forced,
    unknown_requests_and_types_are_errors,
);
