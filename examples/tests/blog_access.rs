//! The example app's access policy, cell by cell: anonymous callers get nothing, authors
//! read the trail of posts and comments but not of authors, the admin reads everything,
//! restores and reverts.

mod common;

use common::{call, serve};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn subject_types(page: &Value) -> Vec<String> {
    let mut types: Vec<String> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["subject_type"].as_str().unwrap().to_owned())
        .collect();
    types.sort();
    types.dedup();
    types
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_cell_of_the_policy() {
    let blog = serve().await;
    // Alice signs up, posts and gets a comment, all in one request each.
    let (status, _) = call(
        &blog,
        Some("alice"),
        "POST",
        "/authors",
        Some(json!({"name": "Alice", "password": "pw"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, post) = call(
        &blog,
        Some("alice"),
        "POST",
        "/posts",
        Some(json!({"author_id": 1, "title": "Hi", "body": "First"})),
    )
    .await;
    let post_id = post["id"].as_i64().unwrap();
    let (status, _) = call(
        &blog,
        Some("bob"),
        "POST",
        &format!("/posts/{post_id}/comments"),
        Some(json!({"author": "bob", "body": "Nice"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);

    let trails = [
        ("post", format!("/api/audit/subjects/post/{post_id}")),
        ("comment", "/api/audit/subjects/comment/1".to_owned()),
        ("author", "/api/audit/subjects/author/1".to_owned()),
    ];
    // (caller, may read posts, comments, authors)
    let cells = [
        (None, [false, false, false]),
        (Some("alice"), [true, true, false]),
        (Some("admin"), [true, true, true]),
    ];
    for (user, may) in cells {
        for ((subject, path), allowed) in trails.iter().zip(may) {
            let (status, body) = call(&blog, user, "GET", path, None).await;
            let expected = if allowed {
                StatusCode::OK
            } else {
                StatusCode::FORBIDDEN
            };
            assert_eq!(
                status, expected,
                "{user:?} reading the {subject} trail: {body}"
            );
        }
    }
    // What `/permissions` tells the page: exactly the cells above, restore, revert and
    // verify for the admin only.
    let (status, _) = call(&blog, None, "GET", "/api/audit/permissions", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let cell = |read: bool, write: bool| json!({"read": read, "restore": write, "revert": write, "verify": write});
    let (_, alice) = call(&blog, Some("alice"), "GET", "/api/audit/permissions", None).await;
    assert_eq!(alice["any"], cell(true, false));
    assert_eq!(alice["subject_types"]["post"], cell(true, false));
    assert_eq!(alice["subject_types"]["comment"], cell(true, false));
    assert_eq!(alice["subject_types"]["author"], cell(false, false));
    let (_, admin) = call(&blog, Some("admin"), "GET", "/api/audit/permissions", None).await;
    for t in ["post", "comment", "author"] {
        assert_eq!(admin["subject_types"][t], cell(true, true), "{t}");
    }
    assert_eq!(admin["any"], cell(true, true));
    // Listings: what each caller may read, nothing more.
    let (status, _) = call(&blog, None, "GET", "/api/audit/activity", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, page) = call(&blog, Some("alice"), "GET", "/api/audit/activity", None).await;
    assert_eq!(subject_types(&page), ["comment", "post"]);
    let (status, _) = call(
        &blog,
        Some("alice"),
        "GET",
        "/api/audit/activity?subject_type=author",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, page) = call(&blog, Some("admin"), "GET", "/api/audit/activity", None).await;
    assert_eq!(subject_types(&page), ["author", "comment", "post"]);

    // Restore: the admin only.
    let (_, versions) = call(
        &blog,
        Some("admin"),
        "GET",
        &format!("/api/audit/versions/post/{post_id}"),
        None,
    )
    .await;
    let version_id = versions["items"][0]["id"].as_i64().unwrap();
    let restore = format!("/api/audit/versions/{version_id}/restore");
    for (user, expected) in [
        (None, StatusCode::FORBIDDEN),
        (Some("alice"), StatusCode::FORBIDDEN),
        (Some("admin"), StatusCode::OK),
    ] {
        let (status, body) = call(
            &blog,
            user,
            "POST",
            &restore,
            Some(json!({"reason": "test"})),
        )
        .await;
        assert_eq!(status, expected, "{user:?} restoring: {body}");
    }
    // Revert of the request that created the comment: the admin only.
    let (_, page) = call(
        &blog,
        Some("admin"),
        "GET",
        "/api/audit/activity?subject_type=comment",
        None,
    )
    .await;
    let request = page["items"][0]["request_id"].as_str().unwrap().to_owned();
    let revert = format!("/api/audit/requests/{request}/revert");
    for (user, expected) in [
        (None, StatusCode::FORBIDDEN),
        (Some("alice"), StatusCode::FORBIDDEN),
        (Some("admin"), StatusCode::OK),
    ] {
        let (status, body) = call(&blog, user, "POST", &revert, Some(json!({}))).await;
        assert_eq!(status, expected, "{user:?} reverting: {body}");
    }
    // Reached directly, the blog takes no client's `X-Request-Id`: a comment sent under
    // another request's id gets one of its own (joined, it would make that request shared,
    // which a revert refuses).
    let res = reqwest::Client::new()
        .post(format!("{}/posts/{post_id}/comments", blog.base))
        .header("x-request-id", &request)
        .json(&json!({"author": "mallory", "body": "joined"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_ne!(res.headers()["x-request-id"], request.as_str());
}
