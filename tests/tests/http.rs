//! The REST API and the middleware, over a real TCP listener with a real HTTP client.

use std::collections::HashSet;
use std::net::SocketAddr;

use audit_seaorm::http::{Access, AuditApi, AuditLayer, Permission};
use audit_seaorm::{NewActivity, history, log, snapshot, versions};
use audit_tests::{backend_tests, note, post};
use axum::extract::{Request, State};
use axum::middleware::{Next, from_fn};
use axum::response::Response;
use axum::routing::post as post_route;
use axum::{Json, Router};
use reqwest::StatusCode;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, ModelTrait, QueryFilter, Set,
};
use serde_json::{Value, json};

#[derive(Clone)]
struct User(String);

/// The app's own authentication: `Authorization: Bearer <name>`.
async fn auth(mut req: Request, next: Next) -> Response {
    let user = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|u| User(u.to_owned()));
    if let Some(user) = user {
        req.extensions_mut().insert(user);
    }
    next.run(req).await
}

/// Creates a post and edits it: two audited writes in one request.
async fn create_post(State(db): State<DatabaseConnection>, Json(body): Json<Value>) -> Json<Value> {
    let title = body["title"].as_str().unwrap_or("untitled").to_owned();
    let p = post::new(&title, body["slug"].as_str().unwrap_or("s"))
        .insert(&db)
        .await
        .unwrap();
    let mut am: post::ActiveModel = p.into();
    am.title = Set(format!("{title}!"));
    let p = am.update(&db).await.unwrap();
    Json(json!({"id": p.id}))
}

fn api(db: &DatabaseConnection) -> AuditApi {
    AuditApi::new(db.clone())
        .authorize(
            |parts, permission| match parts.extensions.get::<User>().map(|u| u.0.as_str()) {
                Some("admin") => true,
                Some("reader") => permission == Permission::Read,
                _ => false,
            },
        )
        .restorer::<post::Entity>()
}

fn layer() -> AuditLayer {
    AuditLayer::new().causer_from(|parts| parts.extensions.get::<User>().map(|u| u.0.clone()))
}

async fn serve_app(db: &DatabaseConnection, api: AuditApi, layer: AuditLayer) -> String {
    let app = Router::new()
        .route("/posts", post_route(create_post))
        .with_state(db.clone())
        .nest("/api/audit", api.router())
        .layer(layer)
        .layer(from_fn(auth));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    format!("http://{addr}")
}

async fn serve(db: &DatabaseConnection) -> String {
    serve_app(db, api(db), layer()).await
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

async fn create(
    base: &str,
    user: &str,
    extra: &[(&str, &str)],
    title: &str,
) -> (i32, reqwest::header::HeaderMap) {
    let mut req = client()
        .post(format!("{base}/posts"))
        .header("authorization", format!("Bearer {user}"))
        .json(&json!({"title": title, "slug": title}));
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let res = req.send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let headers = res.headers().clone();
    let body: Value = res.json().await.unwrap();
    (body["id"].as_i64().unwrap() as i32, headers)
}

async fn get(base: &str, user: &str, path: &str) -> (StatusCode, Value) {
    let res = client()
        .get(format!("{base}{path}"))
        .header("authorization", format!("Bearer {user}"))
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn post_json(
    base: &str,
    user: &str,
    path: &str,
    body: Option<String>,
) -> (StatusCode, Value) {
    let mut req = client()
        .post(format!("{base}{path}"))
        .header("authorization", format!("Bearer {user}"));
    req = req.header("content-type", "application/json");
    if let Some(body) = body {
        req = req.body(body);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn attribution_and_grouping(db: DatabaseConnection) {
    let base = serve(&db).await;
    let (id, headers) = create(
        &base,
        "alice",
        &[("user-agent", "curl-test/1.0"), ("x-request-id", "req-42")],
        "hello",
    )
    .await;
    assert_eq!(headers["x-request-id"], "req-42");
    let trail = history(&db, "post", id).await.unwrap();
    assert_eq!(trail.len(), 2);
    for e in &trail {
        assert_eq!(e.causer_id.as_deref(), Some("alice"));
        assert_eq!(e.ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(e.user_agent.as_deref(), Some("curl-test/1.0"));
        assert_eq!(e.request_id.as_deref(), Some("req-42"));
    }
    // Without a (valid) request id, a fresh one groups the request's entries.
    let (id2, headers) = create(&base, "bob", &[("x-request-id", "bad id!")], "second").await;
    let rid = headers["x-request-id"].to_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&rid).is_ok(), "{rid}");
    let (status, page) = get(
        &base,
        "admin",
        &format!("/api/audit/activity?request_id={rid}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(
        items
            .iter()
            .all(|e| e["subject_id"] == json!(id2.to_string()) && e["causer_id"] == json!("bob"))
    );
}

async fn spoofed_headers_ignored(db: DatabaseConnection) {
    let base = serve(&db).await;
    let res = client()
        .post(format!("{base}/posts"))
        .header("x-user-id", "999")
        .header("x-forwarded-for", "1.2.3.4")
        .header("forwarded", "for=5.6.7.8")
        .json(&json!({"title": "anon", "slug": "anon"}))
        .send()
        .await
        .unwrap();
    let id = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let trail = history(&db, "post", id).await.unwrap();
    assert_eq!(
        trail[0].causer_id, None,
        "X-User-Id from a client is not trusted by default"
    );
    assert_eq!(
        trail[0].ip.as_deref(),
        Some("127.0.0.1"),
        "X-Forwarded-For from an untrusted peer is ignored"
    );

    // Behind a trusted proxy, and with the header trusted on purpose, both count.
    let trusting = AuditLayer::new()
        .trust_user_id_header(true)
        .trusted_proxies(["127.0.0.1".parse().unwrap()]);
    let base = serve_app(&db, api(&db), trusting).await;
    let res = client()
        .post(format!("{base}/posts"))
        .header("x-user-id", "999")
        .header("x-forwarded-for", "1.2.3.4")
        .json(&json!({"title": "proxied", "slug": "proxied"}))
        .send()
        .await
        .unwrap();
    let id = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let trail = history(&db, "post", id).await.unwrap();
    assert_eq!(trail[0].causer_id.as_deref(), Some("999"));
    assert_eq!(trail[0].ip.as_deref(), Some("1.2.3.4"));

    // When the app names the causer itself, a request it finds anonymous cannot name one
    // through the header, trusted or not.
    let app_decides = AuditLayer::new()
        .causer_from(|_| None)
        .trust_user_id_header(true);
    let base = serve_app(&db, api(&db), app_decides).await;
    let res = client()
        .post(format!("{base}/posts"))
        .header("x-user-id", "admin")
        .json(&json!({"title": "anonymous", "slug": "anonymous"}))
        .send()
        .await
        .unwrap();
    let id = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let trail = history(&db, "post", id).await.unwrap();
    assert_eq!(trail[0].causer_id, None);

    // A request id: from a trusted proxy, taken; from another peer once proxies are
    // configured, or at all with the header not trusted, a new one.
    let layers = [
        (
            AuditLayer::new().trusted_proxies(["127.0.0.1".parse().unwrap()]),
            true,
        ),
        (
            AuditLayer::new().trusted_proxies(["10.9.9.9".parse().unwrap()]),
            false,
        ),
        (AuditLayer::new().trust_request_id_header(false), false),
    ];
    for (n, (layer, taken)) in layers.into_iter().enumerate() {
        let base = serve_app(&db, api(&db), layer).await;
        let given = format!("picked-{n}");
        let res = client()
            .post(format!("{base}/posts"))
            .header("x-request-id", &given)
            .json(&json!({"title": "rid", "slug": format!("rid-{n}")}))
            .send()
            .await
            .unwrap();
        let echoed = res.headers()["x-request-id"].to_str().unwrap().to_owned();
        let id = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
        let trail = history(&db, "post", id).await.unwrap();
        assert_eq!(trail[0].request_id.as_deref(), Some(echoed.as_str()));
        if taken {
            assert_eq!(echoed, given);
        } else {
            assert!(uuid::Uuid::parse_str(&echoed).is_ok(), "{n}: {echoed}");
        }
    }
    // Two lines, even from a trusted proxy (one that adds its own after the client's):
    // neither is taken, the request gets a new id.
    let layer = AuditLayer::new().trusted_proxies(["127.0.0.1".parse().unwrap()]);
    let base = serve_app(&db, api(&db), layer).await;
    let res = client()
        .post(format!("{base}/posts"))
        .header("x-request-id", "victims-request")
        .header("x-request-id", "gateways-request")
        .json(&json!({"title": "rid", "slug": "rid-two-lines"}))
        .send()
        .await
        .unwrap();
    let echoed = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let id = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let trail = history(&db, "post", id).await.unwrap();
    assert!(uuid::Uuid::parse_str(&echoed).is_ok(), "{echoed}");
    assert_eq!(trail[0].request_id.as_deref(), Some(echoed.as_str()));
}

async fn endpoints_happy_path(db: DatabaseConnection) {
    let base = serve(&db).await;
    let (id, _) = create(&base, "alice", &[], "first").await;
    let v1 = listings(&base, id).await;
    restores(&base, &db, id, v1).await;
    dashboard_windows(&base, &db, id).await;
}

/// The activity, history and versions of post `id` (created, then edited once), with
/// their cursors; the id of its version 1.
async fn listings(base: &str, id: i32) -> i64 {
    let (status, page) = get(
        base,
        "reader",
        &format!("/api/audit/activity?subject_type=post&subject_id={id}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert_eq!(page["items"][0]["action"], "updated", "newest first");
    assert_eq!(
        page["items"][0]["changes"],
        json!({"title": {"old": "first", "new": "first!"}})
    );
    assert_eq!(page["next_cursor"], Value::Null);

    let (status, hist) = get(base, "reader", &format!("/api/audit/subjects/post/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    let actions: Vec<&str> = hist["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["created", "updated"]);
    let created_at = hist["items"][0]["created_at"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(created_at).is_ok() && created_at.ends_with('Z'),
        "{created_at}"
    );

    let (status, vs) = get(base, "reader", &format!("/api/audit/versions/post/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    let v1 = vs["items"][0]["id"].as_i64().unwrap();
    assert_eq!(vs["items"][0]["data"]["title"], "first");
    // Both per-subject listings page with a cursor.
    let (_, first) = get(
        base,
        "reader",
        &format!("/api/audit/versions/post/{id}?limit=1"),
    )
    .await;
    assert_eq!(first["items"].as_array().unwrap().len(), 1);
    let cursor = first["next_cursor"].as_i64().expect("a second page");
    let (_, second) = get(
        base,
        "reader",
        &format!("/api/audit/versions/post/{id}?limit=1&after_id={cursor}"),
    )
    .await;
    assert_eq!(second["items"][0]["version"], 2);
    assert_eq!(second["next_cursor"], Value::Null);
    let (_, first) = get(
        base,
        "reader",
        &format!("/api/audit/subjects/post/{id}?limit=1"),
    )
    .await;
    assert_eq!(first["items"][0]["action"], "created");
    let cursor = first["next_cursor"].as_i64().expect("a second page");
    let (_, second) = get(
        base,
        "reader",
        &format!("/api/audit/subjects/post/{id}?limit=1&after_id={cursor}"),
    )
    .await;
    assert_eq!(second["items"][0]["action"], "updated");
    v1
}

/// Restores of a registered type (written back) and of an unregistered one (the data).
async fn restores(base: &str, db: &DatabaseConnection, id: i32, v1: i64) {
    // Registered type: a real restore, attributed to the caller, with the reason.
    let (status, restored) = post_json(
        base,
        "admin",
        &format!("/api/audit/versions/{v1}/restore"),
        Some(r#"{"reason":"typo"}"#.into()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{restored}");
    assert_eq!(restored["restored"], true);
    assert_eq!(restored["record"]["title"], "first");
    assert_eq!(post::reload(db, id).await.title, "first");
    let last = history(db, "post", id).await.unwrap().pop().unwrap();
    assert_eq!(last.action.as_str(), "restored");
    assert_eq!(last.causer_id.as_deref(), Some("admin"));
    assert_eq!(last.properties.unwrap()["reason"], "typo");

    // Unregistered type: the data to re-apply, nothing written.
    let v = snapshot(db, "settings", "site", &json!({"theme": "dark"}))
        .await
        .unwrap();
    let (status, data) = post_json(
        base,
        "admin",
        &format!("/api/audit/versions/{}/restore", v.id),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(data["restored"], false);
    assert_eq!(data["data"], json!({"theme": "dark"}));
    assert_eq!(versions(db, "settings", "site").await.unwrap().len(), 1);
}

/// A restore the database refuses (the post's unique slug taken since it was deleted):
/// 409, the record named, the driver's text kept in the server's log.
async fn a_refused_restore_is_a_conflict(db: DatabaseConnection) {
    let base = serve(&db).await;
    let gone = post::new("gone", "reused").insert(&db).await.unwrap();
    gone.clone().delete(&db).await.unwrap();
    post::new("newer", "reused").insert(&db).await.unwrap();
    let v = versions(&db, "post", gone.id).await.unwrap()[0].id;
    let (status, body) = post_json(
        &base,
        "admin",
        &format!("/api/audit/versions/{v}/restore"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "cannot_restore", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("`post` {}", gone.id)),
        "{message}"
    );
    assert!(!message.contains("reused"), "{message}");
    let last = history(&db, "post", gone.id).await.unwrap().pop().unwrap();
    assert_eq!(last.action.as_str(), "deleted");
}

/// The dashboard's counts and recent entries, windowed.
async fn dashboard_windows(base: &str, db: &DatabaseConnection, id: i32) {
    // An entry from three days ago is outside a one-hour window.
    audit_seaorm::entity::activity_log::ActiveModel {
        action: Set("archived".into()),
        subject_type: Set("post".into()),
        subject_id: Set(id.to_string()),
        changes: Set(json!({})),
        created_at: Set(chrono::Utc::now() - chrono::Duration::days(3)),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    let (status, dash) = get(
        base,
        "reader",
        "/api/audit/dashboard?window_hours=1&limit=2",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        dash["counts"]["by_action"],
        json!({"created": 1, "updated": 1, "restored": 1})
    );
    assert_eq!(dash["counts"]["by_subject_type"], json!({"post": 3}));
    assert_eq!(dash["counts"]["total"], 3);
    assert_eq!(dash["recent"].as_array().unwrap().len(), 2);
    let (_, wide) = get(
        base,
        "reader",
        "/api/audit/dashboard?window_hours=100&limit=50",
    )
    .await;
    assert_eq!(wide["counts"]["by_action"]["archived"], 1);
    assert_eq!(wide["recent"].as_array().unwrap().len(), 4);
    let (_, narrow) = get(
        base,
        "reader",
        "/api/audit/dashboard?window_hours=1&limit=50",
    )
    .await;
    assert_eq!(
        narrow["recent"].as_array().unwrap().len(),
        3,
        "recent entries are windowed too"
    );
}

/// The record at a time, the diff of two versions, the blame, a request's entries.
async fn time_travel_over_http(db: DatabaseConnection) {
    let base = serve(&db).await;
    let (id, headers) = create(&base, "alice", &[], "first").await;
    let request = headers["x-request-id"].to_str().unwrap().to_owned();
    let v1 = &versions(&db, "post", id).await.unwrap()[0];
    let time = v1
        .created_at
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let at = |time: String| {
        let base = base.clone();
        async move {
            let path = format!(
                "/api/audit/subjects/post/{id}/at?time={}",
                time.replace('+', "%2B")
            );
            get(&base, "reader", &path).await
        }
    };
    let (status, then) = at(time.clone()).await;
    assert_eq!(status, StatusCode::OK, "{then}");
    assert_eq!(
        (then["exists"].clone(), then["data"]["title"].clone()),
        (json!(true), json!("first"))
    );
    assert_eq!(then["version"]["version"], 1);
    let (_, before) = at("2000-01-01T00:00:00Z".into()).await;
    assert_eq!(
        (before["exists"].clone(), before["data"].clone()),
        (json!(false), Value::Null)
    );
    // Times past what the backends store mean the same as their earliest and latest.
    let (status, ancient) = at("-5000-01-01T00:00:00Z".into()).await;
    assert_eq!(status, StatusCode::OK, "{ancient}");
    assert_eq!(ancient["exists"], json!(false));
    let (status, far) = at("+20000-01-01T00:00:00Z".into()).await;
    assert_eq!(status, StatusCode::OK, "{far}");
    assert_eq!(far["data"]["title"], json!("first!"));
    for window in [
        "since=-0001-01-01T00:00:00Z",
        "since=-5000-01-01T00:00:00Z&until=%2B20000-01-01T00:00:00Z",
    ] {
        let path = format!("/api/audit/activity?subject_type=post&subject_id={id}&{window}");
        let (status, page) = get(&base, "reader", &path).await;
        assert_eq!(status, StatusCode::OK, "{window}: {page}");
        assert_eq!(page["items"].as_array().unwrap().len(), 2, "{window}");
    }

    let (status, diff) = get(
        &base,
        "reader",
        &format!("/api/audit/subjects/post/{id}/diff?from=1&to=2"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{diff}");
    assert_eq!(
        diff["changes"],
        json!({"title": {"old": "first", "new": "first!"}})
    );
    let (_, latest) = get(
        &base,
        "reader",
        &format!("/api/audit/subjects/post/{id}/diff"),
    )
    .await;
    assert_eq!(
        (latest["from"].clone(), latest["to"].clone()),
        (json!(1), json!(2))
    );

    let (status, blame) = get(
        &base,
        "reader",
        &format!("/api/audit/subjects/post/{id}/blame"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{blame}");
    assert_eq!(blame["fields"]["title"]["causer_id"], "alice");
    assert_eq!(blame["fields"]["title"]["new"], "first!");
    // A history longer than a page: the blame of a field changed only at the start still
    // comes from there.
    let bob = audit_seaorm::AuditContext::new().causer("bob");
    for i in 0..120 {
        let am = post::ActiveModel {
            id: Set(id),
            title: Set(format!("take {i}")),
            ..Default::default()
        };
        bob.clone().scope(am.update(&db)).await.unwrap();
    }
    let (status, blame) = get(
        &base,
        "reader",
        &format!("/api/audit/subjects/post/{id}/blame"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{blame}");
    assert_eq!(blame["complete"], true);
    assert_eq!(blame["fields"]["title"]["causer_id"], "bob");
    assert_eq!(blame["fields"]["title"]["new"], "take 119");
    assert_eq!(blame["fields"]["slug"]["causer_id"], "alice");
    assert_eq!(blame["fields"]["slug"]["action"], "created");

    let (status, page) = get(&base, "reader", &format!("/api/audit/requests/{request}")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let actions: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["created", "updated"]);
    // Its first version pruned: the state at version 1's time is gone, not "absent".
    let other = post::new("pruned", "pruned").insert(&db).await.unwrap();
    let pruned_at = versions(&db, "post", other.id).await.unwrap()[0].created_at;
    post::ActiveModel {
        id: Set(other.id),
        title: Set("renamed".into()),
        ..Default::default()
    }
    .update(&db)
    .await
    .unwrap();
    let keep_one = audit_seaorm::Retention::new()
        .subject_type("post", audit_seaorm::Policy::new().keep_versions(1));
    audit_seaorm::prune(&db, &keep_one).await.unwrap();
    let path = format!(
        "/api/audit/subjects/post/{}/at?time={}",
        other.id,
        pruned_at
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
            .replace('+', "%2B")
    );
    let (status, gone) = get(&base, "reader", &path).await;
    assert_eq!(status, StatusCode::GONE, "{gone}");
    assert_eq!(gone["error"]["code"], "state_pruned");
}

/// A database failure is a 500 that names what failed, without the driver's text.
async fn database_failure_is_named(db: DatabaseConnection) {
    use sea_orm::ConnectionTrait;
    let base = serve(&db).await;
    db.execute_unprepared("DROP TABLE activity_log")
        .await
        .unwrap();
    let (status, body) = get(&base, "reader", "/api/audit/activity").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert_eq!(body["error"]["code"], "internal");
    assert_eq!(
        body["error"]["message"],
        "database failure while reading the activity log; see the server logs"
    );
}

/// `POST /requests/{id}/revert`: Revert permission, 409 with the conflicts, forced revert.
async fn revert_over_http(db: DatabaseConnection) {
    let base = serve(&db).await;
    let (id, _) = create(&base, "alice", &[("x-request-id", "req-rv")], "first").await;
    let path = "/api/audit/requests/req-rv/revert";
    let (status, _) = post_json(&base, "reader", path, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "Read alone does not revert");

    // A later change of the title, outside the request.
    let mut am: post::ActiveModel = post::reload(&db, id).await.into();
    am.title = Set("later".into());
    am.update(&db).await.unwrap();
    let entries = history(&db, "post", id).await.unwrap().len();
    let (status, body) = post_json(&base, "admin", path, Some("{}".into())).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "revert_conflicts");
    assert_eq!(body["error"]["conflicts"][0]["field"], "title");
    assert_eq!(
        history(&db, "post", id).await.unwrap().len(),
        entries,
        "nothing written"
    );

    let (status, body) = post_json(&base, "admin", path, Some(r#"{"force":true}"#.into())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["subjects"][0]["subject_id"], id.to_string());
    let gone = post::Entity::find_by_id(id).one(&db).await.unwrap();
    assert!(
        gone.is_none(),
        "the request created it: reverted, it is deleted"
    );
    let last = history(&db, "post", id).await.unwrap().pop().unwrap();
    assert_eq!(last.action.as_str(), "reverted");
    let (status, body) = post_json(&base, "admin", "/api/audit/requests/none/revert", None).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::NOT_FOUND, json!("not_found"))
    );
}

async fn pagination_over_http(db: DatabaseConnection) {
    for i in 0..25 {
        log(&db, NewActivity::new("viewed").subject("post", i))
            .await
            .unwrap();
    }
    let base = serve(&db).await;
    let mut seen = HashSet::new();
    let mut cursor: Option<i64> = None;
    let mut pages = 0;
    loop {
        let path = match cursor {
            Some(c) => format!("/api/audit/activity?limit=10&after_id={c}"),
            None => "/api/audit/activity?limit=10".to_owned(),
        };
        let (status, page) = get(&base, "reader", &path).await;
        assert_eq!(status, StatusCode::OK);
        pages += 1;
        for e in page["items"].as_array().unwrap() {
            assert!(
                seen.insert(e["id"].as_i64().unwrap()),
                "duplicate across pages"
            );
        }
        match page["next_cursor"].as_i64() {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!((pages, seen.len()), (3, 25));

    // A time-bounded listing pages by (created_at, id) with the same cursors; a cursor whose
    // entry is gone is a 400 that says so, not an empty page.
    let since = "2000-01-01T00:00:00Z";
    let (_, first) = get(
        &base,
        "reader",
        &format!("/api/audit/activity?limit=10&since={since}"),
    )
    .await;
    let cursor = first["next_cursor"].as_i64().unwrap();
    let (status, next) = get(
        &base,
        "reader",
        &format!("/api/audit/activity?limit=10&since={since}&after_id={cursor}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(next["items"].as_array().unwrap().len(), 10);
    audit_seaorm::entity::activity_log::Entity::delete_by_id(cursor)
        .exec(&db)
        .await
        .unwrap();
    let (status, body) = get(
        &base,
        "reader",
        &format!("/api/audit/activity?limit=10&since={since}&after_id={cursor}"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "invalid_parameter");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not in this listing"),
        "{body}"
    );
}

async fn access_control(db: DatabaseConnection) {
    // No access decision: everything refused, even for "admin".
    let base = serve_app(&db, AuditApi::new(db.clone()), layer()).await;
    for (status, body) in [
        get(&base, "admin", "/api/audit/activity").await,
        post_json(&base, "admin", "/api/audit/versions/1/restore", None).await,
    ] {
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(body["error"]["code"], "access_not_configured");
    }
    let v = snapshot(&db, "settings", "site", &json!({"a": 1}))
        .await
        .unwrap();
    let base = serve(&db).await;
    assert_eq!(
        get(&base, "nobody", "/api/audit/activity").await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        get(&base, "reader", "/api/audit/activity").await.0,
        StatusCode::OK
    );
    let (status, body) = post_json(
        &base,
        "reader",
        &format!("/api/audit/versions/{}/restore", v.id),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "forbidden");
    // A method a read route does not take is that route's 405, not a refused restore;
    // a POST to a reading route is no restore either.
    for (method, path) in [
        (reqwest::Method::DELETE, "/api/audit/activity"),
        (reqwest::Method::POST, "/api/audit/dashboard"),
    ] {
        let res = client()
            .request(method.clone(), format!("{base}{path}"))
            .header("authorization", "Bearer reader")
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "method_not_allowed");
    }
    // Verifying walks the tables: a permission of its own.
    let (status, body) = get(&base, "reader", "/api/audit/verify").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        body["error"]["message"],
        "not allowed to verify the audit trail"
    );
    assert_eq!(
        get(&base, "admin", "/api/audit/verify").await.0,
        StatusCode::OK
    );
    // A record whose id is `verify` is read with Read alone.
    assert_eq!(
        get(&base, "reader", "/api/audit/subjects/post/verify")
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        post_json(
            &base,
            "admin",
            &format!("/api/audit/versions/{}/restore", v.id),
            None
        )
        .await
        .0,
        StatusCode::OK
    );
}

/// A request the API must refuse: method, path from the API's root, body, status, code.
type BadCase = (&'static str, String, Option<String>, u16, &'static str);

fn bad_cases() -> Vec<BadCase> {
    const PARAM: &str = "invalid_parameter";
    let get = |path: &str, code| ("GET", path.to_owned(), None, 400, code);
    let mut cases = vec![
        get("/activity?limit=-1", PARAM),
        get("/activity?limit=abc", PARAM),
        get("/activity?limit=99999999999999999999999", PARAM),
        get("/activity?bogus=1", PARAM),
        get("/activity?since=yesterday", PARAM),
        get("/activity?after_id=x", PARAM),
        get("/activity?offset=-5", PARAM),
        get("/activity?order=sideways", PARAM),
        // (no index starts with a subject id: alone, it is a walk of the whole log)
        get("/activity?subject_id=1", PARAM),
        get("/dashboard?window_hours=0", PARAM),
        get("/dashboard?window_hours=x", PARAM),
        get("/subjects/post/1?limit=x", PARAM),
        get("/versions/post/1?page=2", PARAM),
        get("/subjects/post/1/at?time=yesterday", PARAM),
        get("/subjects/post/1/diff?from=x", PARAM),
        get("/subjects/post/1/diff?from=3&to=2", PARAM),
        get("/subjects/post/1/diff?from=0", PARAM),
        get("/subjects/post/1/diff?to=-1", PARAM),
        // Endpoints without parameters refuse one as the others refuse an unknown one.
        get("/subjects/post/1/blame?limit=5", PARAM),
        get("/permissions?verbose=1", PARAM),
        get("/openapi.json?v=3", PARAM),
        (
            "GET",
            "/subjects/post/1/diff?from=1&to=99".into(),
            None,
            404,
            "not_found",
        ),
        get("/requests/r1?limit=x", PARAM),
        get("/verify?limit=0", PARAM),
        get("/verify?limit=100001", PARAM),
        get("/verify?after=l9.1.1.x", PARAM),
        get("/verify?after=", PARAM),
        get("/verify?subject_id=1", PARAM),
        get("/verify?since=yesterday", PARAM),
        // A NUL in any text (PostgreSQL cannot store or compare one).
        get("/activity?subject_type=%00", PARAM),
        get("/activity?subject_id=a%00b", PARAM),
        get("/activity?causer_id=%00", PARAM),
        get("/activity?action=up%00dated", PARAM),
        get("/activity?request_id=%00", PARAM),
        get("/subjects/note/a%00b", PARAM),
        get("/subjects/no%00te/1", PARAM),
        get("/versions/note/a%00b", PARAM),
        ("GET", "/nothing-here".into(), None, 404, "route_not_found"),
        (
            "DELETE",
            "/activity".into(),
            None,
            405,
            "method_not_allowed",
        ),
    ];
    cases.extend(bad_restores());
    cases
}

/// The restore requests [`bad_cases`] holds.
fn bad_restores() -> Vec<BadCase> {
    let restore = |id: &str, body: Option<String>, status, code| {
        (
            "POST",
            format!("/versions/{id}/restore"),
            body,
            status,
            code,
        )
    };
    let big = "x".repeat(64 * 1024);
    vec![
        restore("abc", None, 400, "invalid_parameter"),
        restore("99999999", None, 404, "not_found"),
        restore("1", Some("{not json".into()), 400, "invalid_body"),
        restore(
            "1",
            Some(r#"{"reason":"a\u0000b"}"#.into()),
            400,
            "invalid_body",
        ),
        restore(
            "1",
            Some(r#"{"reason":"x","extra":1}"#.into()),
            400,
            "invalid_body",
        ),
        restore(
            "1",
            Some(format!(r#"{{"reason":"{big}"}}"#)),
            413,
            "payload_too_large",
        ),
        // What a cross-site HTML form can send.
        (
            "FORM",
            "/versions/1/restore".into(),
            Some("reason=csrf".into()),
            415,
            "unsupported_media_type",
        ),
    ]
}

/// Sends one request as the admin: `FORM` is a POST with a form body, anything else JSON.
async fn send(base: &str, method: &str, path: &str, body: Option<String>) -> (StatusCode, Value) {
    match method {
        "GET" => get(base, "admin", path).await,
        "POST" => post_json(base, "admin", path, body).await,
        _ => {
            let (verb, content_type) = match method {
                "FORM" => ("POST", "application/x-www-form-urlencoded"),
                other => (other, "application/json"),
            };
            let res = client()
                .request(
                    reqwest::Method::from_bytes(verb.as_bytes()).unwrap(),
                    format!("{base}{path}"),
                )
                .header("authorization", "Bearer admin")
                .header("content-type", content_type)
                .body(body.unwrap_or_default())
                .send()
                .await
                .unwrap();
            let s = res.status();
            (s, res.json().await.unwrap_or(Value::Null))
        }
    }
}

async fn bad_inputs_are_4xx(db: DatabaseConnection) {
    let base = serve(&db).await;
    for (method, path, body, want, code) in bad_cases() {
        let path = format!("/api/audit{path}");
        let (status, json) = send(&base, method, &path, body).await;
        assert_eq!(status.as_u16(), want, "{method} {path}: {json}");
        assert_eq!(json["error"]["code"], code, "{method} {path}: {json}");
        assert!(
            json["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{method} {path}: {json}"
        );
    }
    // An offset past what the database can bind is a 400 (below), not a crash.
    let (status, _) = get(
        &base,
        "admin",
        "/api/audit/activity?offset=18446744073709551615",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // A huge but well-formed limit is capped, not refused.
    let (status, page) = get(&base, "admin", "/api/audit/activity?limit=1000000").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["limit"], json!(audit_seaorm::MAX_LIMIT));
    // An offset is walked by the database: a large one is refused, pointing to the cursor.
    let max = audit_seaorm::http::MAX_OFFSET;
    let (status, _) = get(&base, "admin", &format!("/api/audit/activity?offset={max}")).await;
    assert_eq!(status, StatusCode::OK);
    let path = format!("/api/audit/activity?offset={}", max + 1);
    let (status, body) = get(&base, "admin", &path).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "invalid_parameter");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("after_id"),
        "{body}"
    );
}

/// The API's operations, as (method, path).
const OPERATIONS: &[(&str, &str)] = &[
    ("get", "/activity"),
    ("get", "/subjects/{subject_type}/{subject_id}"),
    ("get", "/versions/{subject_type}/{subject_id}"),
    ("get", "/subjects/{subject_type}/{subject_id}/at"),
    ("get", "/subjects/{subject_type}/{subject_id}/diff"),
    ("get", "/subjects/{subject_type}/{subject_id}/blame"),
    ("get", "/requests/{request_id}"),
    ("post", "/requests/{request_id}/revert"),
    ("post", "/versions/{version_id}/restore"),
    ("get", "/dashboard"),
    ("get", "/permissions"),
    ("get", "/verify"),
    ("get", "/openapi.json"),
];

/// Every field of an operation's 200 body is a property of its documented schema.
fn assert_documented(doc: &Value, op: &Value, body: &Value, what: &str) {
    let schema = &op["responses"]["200"]["content"]["application/json"]["schema"];
    let Some(name) = schema["$ref"]
        .as_str()
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
    else {
        return;
    };
    let documented = &doc["components"]["schemas"][name]["properties"];
    for key in body.as_object().unwrap().keys() {
        assert!(
            documented.get(key).is_some(),
            "{what}: `{key}` is served but not in the schema {name}"
        );
    }
}

/// Each query parameter `op` documents, sent alone with a sample value, answers 200.
async fn accepts_each_query_parameter(base: &str, op: &Value, concrete: &str, what: &str) {
    for param in op["parameters"].as_array().into_iter().flatten() {
        if param["in"] != "query" {
            continue;
        }
        let name = param["name"].as_str().unwrap();
        let schema = &param["schema"];
        let sample = if let Some(values) = schema["enum"].as_array() {
            values[0].as_str().unwrap().to_owned()
        } else if schema["format"] == "date-time" {
            "2026-01-01T00:00:00Z".to_owned()
        } else if schema["type"] == "integer" {
            "1".to_owned()
        } else if (concrete, name) == ("/verify", "after") {
            // A cursor `GET /verify` gave: unsealed activity rows after id 0.
            "u1.0".to_owned()
        } else {
            "x".to_owned()
        };
        // A subject id names a subject of a type.
        let with = if name == "subject_id" && matches!(concrete, "/verify" | "/activity") {
            "subject_type=post&"
        } else {
            ""
        };
        let path = format!("/api/audit{concrete}?{with}{name}={sample}");
        let (status, body) = get(base, "admin", &path).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{what}?{name}={sample} is documented: {body}"
        );
    }
}

async fn openapi_matches_routes(db: DatabaseConnection) {
    let base = serve(&db).await;
    // Post 1 with versions 1 and 2, so that every per-record operation has data.
    let (id, _) = create(&base, "alice", &[], "first").await;
    assert_eq!(id, 1);
    let (status, doc) = get(&base, "reader", "/api/audit/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    // Its paths are resolved against where it is served, wherever the router is nested.
    assert_eq!(doc["servers"][0]["url"], ".");
    assert_eq!(
        doc,
        serde_json::to_value(audit_seaorm::http::openapi()).unwrap()
    );
    let mut served = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            served.push((method.clone(), path.clone()));
            let concrete = path
                .replace("{subject_type}", "post")
                .replace("{subject_id}", "1")
                .replace("{version_id}", "1")
                .replace("{request_id}", "r1");
            // Every documented operation is served (not a 404/405 from the router) ...
            let url = format!("{base}/api/audit{concrete}");
            let req = match method.as_str() {
                "get" => client().get(&url),
                "post" => client()
                    .post(&url)
                    .header("content-type", "application/json"),
                other => panic!("unexpected method {other}"),
            };
            let res = req
                .header("authorization", "Bearer admin")
                .send()
                .await
                .unwrap();
            let status = res.status();
            let body: Value = res.json().await.unwrap_or(Value::Null);
            assert!(
                body["error"]["code"] != "route_not_found"
                    && status != StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path} is documented but not served: {status} {body}"
            );
            if status == StatusCode::OK {
                assert_documented(&doc, op, &body, &format!("{method} {path}"));
            }
            // ... and accepts every query parameter it documents, refusing an unknown one
            // with 400, as its description says.
            accepts_each_query_parameter(&base, op, &concrete, &format!("{method} {path}")).await;
            let (status, body) = send(
                &base,
                &method.to_uppercase(),
                &format!("/api/audit{concrete}?bogus=1"),
                None,
            )
            .await;
            assert_eq!(
                status,
                StatusCode::BAD_REQUEST,
                "{method} {path}?bogus=1: {body}"
            );
            assert_eq!(
                body["error"]["code"], "invalid_parameter",
                "{method} {path}"
            );
            assert!(
                op["responses"].get("400").is_some(),
                "{method} {path} answers 400 but does not document it"
            );
        }
    }
    // The description lists exactly the API's operations.
    let mut routes: Vec<(String, String)> = OPERATIONS
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    routes.sort();
    served.sort();
    assert_eq!(served, routes);
}

/// A diff without `from` starts at the record's earliest version left, which is not 1
/// once retention pruned the first ones; a version that is not there is a documented 404.
async fn a_diff_after_retention(db: DatabaseConnection) {
    let base = serve(&db).await;
    let (id, _) = create(&base, "alice", &[], "first").await;
    let mut am: post::ActiveModel = post::reload(&db, id).await.into();
    am.title = Set("second".into());
    am.update(&db).await.unwrap();
    let retention = audit_seaorm::Retention::new().keep_versions(1);
    audit_seaorm::prune(&db, &retention).await.unwrap();
    let left = versions(&db, "post", id).await.unwrap();
    assert_eq!(left.len(), 1);
    let (status, body) = get(
        &base,
        "admin",
        &format!("/api/audit/subjects/post/{id}/diff"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["from"], json!(left[0].version));
    assert_eq!(body["to"], json!(left[0].version));
    assert_eq!(body["changes"], json!({}));
    let (status, body) = get(
        &base,
        "admin",
        &format!("/api/audit/subjects/post/{id}/diff?from=1"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["code"], "not_found");
    // `to` alone, below the earliest version left: that version is not there either.
    let (status, body) = get(
        &base,
        "admin",
        &format!("/api/audit/subjects/post/{id}/diff?to=1"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    // `from` alone, above the latest version: neither.
    let (status, body) = get(
        &base,
        "admin",
        &format!(
            "/api/audit/subjects/post/{id}/diff?from={}",
            left[0].version + 5
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["code"], "not_found");
    let doc = serde_json::to_value(audit_seaorm::http::openapi()).unwrap();
    assert!(
        doc["paths"]["/subjects/{subject_type}/{subject_id}/diff"]["get"]["responses"]
            .get("404")
            .is_some()
    );
}

/// Access per subject type: `staff` read everything but notes and restore nothing,
/// `editor` read everything and restore and revert posts only, `clerk` read and restore
/// posts only, `reviser` read and revert posts only, `picky` read everything and revert
/// posts as a type but no post by its id, `admin` everything.
fn per_subject_api(db: &DatabaseConnection) -> AuditApi {
    AuditApi::new(db.clone())
        .authorize_access(|parts, access: &Access<'_>| {
            let user = parts.extensions.get::<User>().map(|u| u.0.as_str());
            match (user, access.permission, access.subject_type) {
                (Some("admin"), _, _) => true,
                (Some("staff"), Permission::Read, Some("notes")) => false,
                (Some("staff" | "editor"), Permission::Read, _) => true,
                (Some("editor"), _, None | Some("post")) => true,
                (Some("clerk"), Permission::Read | Permission::Restore, None | Some("post")) => {
                    true
                }
                (Some("reviser"), Permission::Read | Permission::Revert, None | Some("post")) => {
                    true
                }
                // Restores and verifies posts, but not the trail: refused at the door.
                (Some("typed"), Permission::Read, _) => true,
                (Some("typed"), Permission::Restore | Permission::Verify, Some("post")) => true,
                // Reverts posts by type, but no post in particular.
                (Some("picky"), Permission::Read, _) => true,
                (Some("picky"), Permission::Revert, None | Some("post")) => {
                    access.subject_id.is_none()
                }
                _ => false,
            }
        })
        .restorer::<post::Entity>()
        .restorer::<note::Entity>()
}

/// A record written under a request id while its revert is being authorized (any client
/// may send that id): the revert, which asked about the request's records before, finds
/// one it did not ask about, refuses (409) and writes nothing. Here the record is a note,
/// which the caller may not revert.
async fn a_record_joining_during_the_check_is_refused(db: DatabaseConnection) {
    use audit_seaorm::AuditContext;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let ctx = || AuditContext::new().causer("u1").request_id("req-race");
    let p = ctx()
        .scope(post::new("first", "first").insert(&db))
        .await
        .unwrap();
    let joined = Arc::new(AtomicBool::new(false));
    let api = AuditApi::new(db.clone())
        .authorize_access({
            let (db, joined) = (db.clone(), joined.clone());
            move |_parts, access: &Access<'_>| {
                // While the first record's Revert is asked about, a note joins the request.
                if access.permission == Permission::Revert
                    && access.subject_id.is_some()
                    && !joined.swap(true, Ordering::SeqCst)
                {
                    let db = db.clone();
                    tokio::task::block_in_place(|| {
                        tokio::runtime::Handle::current().block_on(async {
                            ctx()
                                .scope(
                                    note::ActiveModel {
                                        body: Set("joined".into()),
                                        ..Default::default()
                                    }
                                    .insert(&db),
                                )
                                .await
                                .unwrap()
                        })
                    });
                }
                !(access.permission == Permission::Revert && access.subject_type == Some("notes"))
            }
        })
        .restorer::<post::Entity>()
        .restorer::<note::Entity>();
    let base = serve_app(&db, api, layer()).await;
    let (status, body) = post_json(&base, "u1", "/api/audit/requests/req-race/revert", None).await;
    assert!(
        joined.load(Ordering::SeqCst),
        "the note joined during the check"
    );
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "cannot_revert", "{body}");
    // The record the caller was not checked for is not named.
    let message = body["error"]["message"].as_str().unwrap();
    assert!(!message.contains("note"), "{message}");
    assert_eq!(note::Entity::find().all(&db).await.unwrap().len(), 1);
    assert!(
        post::Entity::find_by_id(p.id)
            .one(&db)
            .await
            .unwrap()
            .is_some()
    );
    let actions: Vec<String> = audit_seaorm::activity(&db, &audit_seaorm::Filter::new())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|e| e.action.as_str().to_owned())
        .collect();
    assert!(!actions.iter().any(|a| a == "reverted"), "{actions:?}");
}

/// A record with more entries than one blame call reads (`MAX_BLAME_ENTRIES`): the call
/// reads that many, newest first, and says that it did not reach the first.
async fn blame_reads_a_bounded_history(db: DatabaseConnection) {
    use audit_seaorm::entity::activity_log;
    use audit_seaorm::http::MAX_BLAME_ENTRIES;
    let entry = |field: &str, i: u64| activity_log::ActiveModel {
        action: Set("updated".into()),
        subject_type: Set("post".into()),
        subject_id: Set("77".into()),
        changes: Set(json!({ field: {"old": i, "new": i + 1} })),
        created_at: Set(chrono::Utc::now()),
        ..Default::default()
    };
    // The oldest entry is the only one that changes `slug`.
    let rows: Vec<_> = std::iter::once(entry("slug", 0))
        .chain((1..=MAX_BLAME_ENTRIES).map(|i| entry("title", i)))
        .collect();
    for chunk in rows.chunks(1_000) {
        activity_log::Entity::insert_many(chunk.to_vec())
            .exec(&db)
            .await
            .unwrap();
    }
    let base = serve(&db).await;
    let (status, blame) = get(&base, "reader", "/api/audit/subjects/post/77/blame").await;
    assert_eq!(status, StatusCode::OK, "{blame}");
    assert_eq!(blame["complete"], false);
    assert_eq!(
        blame["fields"]["title"]["new"],
        json!(MAX_BLAME_ENTRIES + 1)
    );
    assert!(blame["fields"].get("slug").is_none(), "{}", blame["fields"]);
    // One entry fewer, and the walk reaches the first.
    activity_log::Entity::delete_many()
        .filter(activity_log::Column::Id.eq(rows_last_id(&db).await))
        .exec(&db)
        .await
        .unwrap();
    let (_, blame) = get(&base, "reader", "/api/audit/subjects/post/77/blame").await;
    assert_eq!(blame["complete"], true);
    assert_eq!(blame["fields"]["slug"]["new"], json!(1));
    // A newest entry that changes every field of the model: the walk stops there, with
    // the answer complete however long the history, and the key has no blame.
    let mut all = entry("title", 0);
    all.changes = Set(json!({
        "id": {"old": null, "new": 77},
        "title": {"old": 1, "new": "t"},
        "slug": {"old": 1, "new": "s"},
        "api_token": {"old": "[redacted]", "new": "[redacted]"},
        "published_at": {"old": null, "new": null},
    }));
    all.insert(&db).await.unwrap();
    let (_, blame) = get(&base, "reader", "/api/audit/subjects/post/77/blame").await;
    assert_eq!(blame["complete"], true, "{blame}");
    assert_eq!(blame["fields"]["slug"]["new"], "s");
    assert!(blame["fields"].get("id").is_none(), "{}", blame["fields"]);
}

/// The id of the newest entry.
async fn rows_last_id(db: &DatabaseConnection) -> i64 {
    use audit_seaorm::entity::activity_log;
    use sea_orm::QueryOrder;
    activity_log::Entity::find()
        .order_by_desc(activity_log::Column::Id)
        .one(db)
        .await
        .unwrap()
        .unwrap()
        .id
}

/// The request listings ask with the request's id: a rule about requests decides
/// `/requests/{id}` and `/activity?request_id=` as it decides a revert.
async fn access_per_request(db: DatabaseConnection) {
    let api = AuditApi::new(db.clone()).authorize_access(|parts, access: &Access<'_>| {
        let user = parts.extensions.get::<User>().map(|u| u.0.as_str());
        let typed = access.subject_type == Some("post") && access.request_id == Some("req-typed");
        user == Some("admin") || (access.request_id != Some("req-secret") && !typed)
    });
    let base = serve_app(&db, api, layer()).await;
    create(&base, "admin", &[("x-request-id", "req-secret")], "hidden").await;
    create(&base, "admin", &[("x-request-id", "req-open")], "shown").await;
    create(&base, "admin", &[("x-request-id", "req-typed")], "typed").await;
    // A rule about one type within one request: that type's entries are left out of the
    // request's listings (under either spelling), and a listing of that type is refused.
    for path in [
        "/api/audit/requests/req-typed",
        "/api/audit/requests/req-typed%20",
        "/api/audit/activity?request_id=req-typed",
        "/api/audit/activity?request_id=req-typed%20",
    ] {
        let (status, page) = get(&base, "staff", path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {page}");
        assert_eq!(page["items"], json!([]), "{path}");
        let (_, page) = get(&base, "admin", path).await;
        assert!(
            !page["items"].as_array().unwrap().is_empty() || path.ends_with("%20"),
            "{path}"
        );
    }
    let path = "/api/audit/activity?request_id=req-typed&subject_type=post";
    let (status, body) = get(&base, "staff", path).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
    for path in [
        "/api/audit/requests/req-secret",
        "/api/audit/activity?request_id=req-secret",
        "/api/audit/activity?request_id=req-secret&subject_type=post",
    ] {
        let (status, body) = get(&base, "staff", path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        let (status, page) = get(&base, "admin", path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(!page["items"].as_array().unwrap().is_empty(), "{path}");
    }
    // Trailing spaces name the same request on MySQL/MariaDB (`PAD SPACE`): refused alike.
    for path in [
        "/api/audit/requests/req-secret%20",
        "/api/audit/activity?request_id=req-secret%20",
    ] {
        let (status, body) = get(&base, "staff", path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
    }
    // A revert of it is an unknown request's, under either spelling.
    for request in ["req-secret", "req-secret%20"] {
        let path = format!("/api/audit/requests/{request}/revert");
        let (status, body) = post_json(&base, "staff", &path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    for path in [
        "/api/audit/requests/req-open",
        "/api/audit/activity?request_id=req-open",
    ] {
        let (status, page) = get(&base, "staff", path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(!page["items"].as_array().unwrap().is_empty(), "{path}");
    }
    // Answers and refusals alike are kept out of caches.
    for (request, status) in [
        ("req-open", StatusCode::OK),
        ("req-secret", StatusCode::FORBIDDEN),
    ] {
        let res = client()
            .get(format!("{base}/api/audit/requests/{request}"))
            .header("authorization", "Bearer staff")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), status);
        assert_eq!(res.headers()["cache-control"], "no-store", "{request}");
        assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    }
}

async fn access_per_subject(db: DatabaseConnection) {
    let base = serve_app(&db, per_subject_api(&db), layer()).await;
    let (post_id, _) = create(&base, "admin", &[("x-request-id", "req-post")], "p").await;
    let note = audit_seaorm::AuditContext::new()
        .request_id("req-mixed")
        .scope(async {
            let mut am: post::ActiveModel = post::Entity::find_by_id(post_id)
                .one(&db)
                .await
                .unwrap()
                .unwrap()
                .into();
            am.title = Set("mixed".into());
            am.update(&db).await.unwrap();
            note::ActiveModel {
                body: Set("secret note".into()),
                ..Default::default()
            }
            .insert(&db)
            .await
            .unwrap()
        })
        .await;
    let types = |page: &Value| -> HashSet<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["subject_type"].as_str().unwrap().to_owned())
            .collect()
    };

    // What `/permissions` tells the page, per caller and type.
    let cell = |read: bool, write: bool, verify: bool| json!({"read": read, "restore": write, "revert": write, "verify": verify});
    let (_, staff) = get(&base, "staff", "/api/audit/permissions").await;
    assert_eq!(staff["any"], cell(true, false, false));
    assert_eq!(staff["subject_types"]["post"], cell(true, false, false));
    assert_eq!(staff["subject_types"]["notes"], cell(false, false, false));
    let (_, editor) = get(&base, "editor", "/api/audit/permissions").await;
    assert_eq!(editor["any"], cell(true, true, true));
    assert_eq!(editor["subject_types"]["post"], cell(true, true, true));
    assert_eq!(editor["subject_types"]["notes"], cell(true, false, false));
    let (_, admin) = get(&base, "admin", "/api/audit/permissions").await;
    assert_eq!(admin["subject_types"]["notes"], cell(true, true, true));
    // Registered but without a restorer: readable, not restorable through the API.
    assert_eq!(admin["subject_types"]["cakes"], cell(true, false, true));
    let (status, _) = get(&base, "nobody", "/api/audit/permissions").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Allowed for the type but not for the trail, which every endpoint asks first: the
    // answer is no, as the endpoints' own.
    let (_, typed) = get(&base, "typed", "/api/audit/permissions").await;
    assert_eq!(typed["any"], cell(true, false, false));
    assert_eq!(typed["subject_types"]["post"], cell(true, false, false));
    let (status, body) = get(&base, "typed", "/api/audit/verify?subject_type=post").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let path = format!("/api/audit/versions/post/{post_id}");
    let (_, listed) = get(&base, "admin", &path).await;
    let v1 = listed["items"][0]["id"].as_i64().unwrap();
    let path = format!("/api/audit/versions/{v1}/restore");
    let (status, body) = post_json(&base, "typed", &path, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    // Listings leave out what the caller may not read; naming it is 403.
    let (status, page) = get(&base, "staff", "/api/audit/activity").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(types(&page), HashSet::from(["post".to_owned()]));
    let (_, page) = get(&base, "admin", "/api/audit/activity").await;
    assert!(types(&page).contains("notes"));
    // Trailing spaces name the same type on MySQL/MariaDB (`PAD SPACE`): refused alike.
    let forbidden = [
        "/api/audit/activity?subject_type=notes".to_owned(),
        format!("/api/audit/subjects/notes/{}", note.id),
        format!("/api/audit/versions/notes/{}", note.id),
        format!("/api/audit/subjects/notes/{}/blame", note.id),
        "/api/audit/activity?subject_type=notes%20".to_owned(),
        format!("/api/audit/subjects/notes%20/{}", note.id),
        format!("/api/audit/versions/notes%20%20/{}", note.id),
        format!("/api/audit/subjects/notes%20/{}/at", note.id),
    ];
    for path in &forbidden {
        let (status, body) = get(&base, "staff", path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        assert_eq!(body["error"]["code"], "forbidden");
        let (status, _) = get(&base, "admin", path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
    // A time-ordered page does not start after an entry the caller may not read: that
    // would tell when it was written.
    let note_entry = history(&db, "notes", note.id).await.unwrap()[0].id;
    let after_note = format!(
        "/api/audit/activity?since=2000-01-01T00:00:00Z&order=oldest_first&after_id={note_entry}"
    );
    let (status, body) = get(&base, "staff", &after_note).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = get(&base, "admin", &after_note).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = get(
        &base,
        "staff",
        &format!("/api/audit/subjects/post/{post_id}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, page) = get(&base, "staff", "/api/audit/requests/req-mixed").await;
    assert_eq!(types(&page), HashSet::from(["post".to_owned()]));
    let (_, dash) = get(&base, "staff", "/api/audit/dashboard").await;
    assert!(
        dash["counts"]["by_subject_type"].get("notes").is_none(),
        "{dash}"
    );
    assert!(
        types(&json!({"items": dash["recent"]}))
            .iter()
            .all(|t| t != "notes")
    );
    let (_, dash) = get(&base, "admin", "/api/audit/dashboard").await;
    assert_eq!(dash["counts"]["by_subject_type"]["notes"], json!(1));

    // Restore and revert, per type.
    let note_version = versions(&db, "notes", note.id).await.unwrap()[0].id;
    let post_version = versions(&db, "post", post_id).await.unwrap()[0].id;
    let restore = |user: &'static str, id: i64| {
        let base = base.clone();
        async move {
            post_json(
                &base,
                user,
                &format!("/api/audit/versions/{id}/restore"),
                None,
            )
            .await
        }
    };
    assert_eq!(
        restore("editor", note_version).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        restore("staff", post_version).await.0,
        StatusCode::FORBIDDEN
    );
    // A version of a type the caller may not read is not there for them: the same 404 as
    // an id that does not exist, so ids cannot be probed for what they hold.
    let (status, hidden) = restore("clerk", note_version).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{hidden}");
    let missing = note_version + 1_000_000;
    let (status, absent) = restore("clerk", missing).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{absent}");
    assert_eq!(
        hidden["error"]["message"]
            .as_str()
            .unwrap()
            .replace(&note_version.to_string(), "N"),
        absent["error"]["message"]
            .as_str()
            .unwrap()
            .replace(&missing.to_string(), "N"),
    );
    assert_eq!(hidden["error"]["code"], absent["error"]["code"]);
    assert_eq!(restore("editor", post_version).await.0, StatusCode::OK);
    let revert = |user: &'static str, request: &'static str| {
        let base = base.clone();
        async move {
            // Forced: the editor's restore above changed the post's title since.
            let path = format!("/api/audit/requests/{request}/revert");
            post_json(&base, user, &path, Some(r#"{"force":true}"#.into())).await
        }
    };
    // Reverting is asked per record: a policy that refuses every post by its id refuses.
    let (status, body) = revert("picky", "req-post").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        post::Entity::find_by_id(post_id)
            .one(&db)
            .await
            .unwrap()
            .is_some()
    );
    // A request that changed only what the caller may not read is not there for them; one
    // that changed some of it is refused without naming it.
    audit_seaorm::AuditContext::new()
        .request_id("req-note")
        .scope(
            note::ActiveModel {
                body: Set("another secret".into()),
                ..Default::default()
            }
            .insert(&db),
        )
        .await
        .unwrap();
    let (status, hidden) = revert("reviser", "req-note").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{hidden}");
    let (_, absent) = revert("reviser", "req-none-such").await;
    assert_eq!(hidden["error"]["code"], absent["error"]["code"]);
    assert_eq!(
        hidden["error"]["message"]
            .as_str()
            .unwrap()
            .replace("req-note", "R"),
        absent["error"]["message"]
            .as_str()
            .unwrap()
            .replace("req-none-such", "R"),
    );
    let (status, body) = revert("reviser", "req-mixed").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(!body.to_string().contains("note"), "{body}");
    // A record the request only logged (a custom entry: it changed nothing) is not one the
    // revert touches, and not asked about: the reviser reverts the post.
    audit_seaorm::AuditContext::new()
        .request_id("req-viewed")
        .scope(async {
            let mut am: post::ActiveModel = post::reload(&db, post_id).await.into();
            am.title = Set("viewed".into());
            am.update(&db).await.unwrap();
            audit_seaorm::log(
                &db,
                audit_seaorm::NewActivity::new("viewed").subject("notes", note.id),
            )
            .await
            .unwrap();
        })
        .await;
    let (status, body) = revert("reviser", "req-viewed").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["subjects"].as_array().unwrap().len(), 1, "{body}");
    // The mixed request changed a note too: the editor may not revert it, and nothing moves.
    let (status, body) = revert("editor", "req-mixed").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("notes"),
        "{body}"
    );
    assert!(
        note::Entity::find_by_id(note.id)
            .one(&db)
            .await
            .unwrap()
            .is_some()
    );
    let (status, body) = revert("admin", "req-mixed").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        note::Entity::find_by_id(note.id)
            .one(&db)
            .await
            .unwrap()
            .is_none()
    );
}

/// The web page: off unless asked for; its files served to anyone (they hold no data) under
/// a strict Content-Security-Policy, while the API behind it still refuses.
#[tokio::test]
async fn ui_page_is_served_with_a_strict_policy() {
    let db = sea_orm::Database::connect(audit_tests::connect_options("sqlite::memory:"))
        .await
        .unwrap();
    audit_seaorm::install(&db).await.unwrap();
    let plain = serve(&db).await;
    let (status, body) = get(&plain, "admin", "/api/audit/ui").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "route_not_found");

    let base = serve_app(&db, api(&db).ui(), layer()).await;
    let res = client()
        .get(format!("{base}/api/audit/ui"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let header = |res: &reqwest::Response, name: &str| {
        res.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    assert_eq!(header(&res, "content-type"), "text/html; charset=utf-8");
    let csp = header(&res, "content-security-policy");
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "connect-src 'self'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} in {csp}");
    }
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    assert_eq!(header(&res, "x-content-type-options"), "nosniff");
    let html = res.text().await.unwrap();
    // No inline script: each script element loads a file of the page's own.
    let scripts: Vec<&str> = html.split("<script").skip(1).collect();
    assert_eq!(scripts.len(), 1, "{html}");
    assert!(scripts[0].starts_with(r#" src="ui/app.js""#), "{html}");
    // Nor inline event handlers.
    assert!(
        !["onclick", "onload", "onsubmit", "onerror"]
            .iter()
            .any(|h| html.contains(h)),
        "{html}"
    );
    for (file, content_type) in [
        ("ui/app.js", "text/javascript; charset=utf-8"),
        ("ui/app.css", "text/css; charset=utf-8"),
    ] {
        let res = client()
            .get(format!("{base}/api/audit/{file}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{file}");
        assert_eq!(header(&res, "content-type"), content_type);
        assert_eq!(header(&res, "x-content-type-options"), "nosniff");
        assert!(!res.text().await.unwrap().is_empty());
    }
    // `/ui/` leads to `/ui`, where the page's relative links resolve.
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = no_redirects
        .get(format!("{base}/api/audit/ui/"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(header(&res, "location"), "../ui");
    // A method the page does not take is the API's JSON 405, out of caches.
    for file in ["ui", "ui/app.js"] {
        let res = client()
            .post(format!("{base}/api/audit/{file}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED, "{file}");
        assert_eq!(header(&res, "cache-control"), "no-store", "{file}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "method_not_allowed", "{file}");
    }
    // The data behind the page keeps its access decision.
    let res = client()
        .get(format!("{base}/api/audit/permissions"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

/// `GET /verify` reports a row changed behind the trail's back, in bounded steps.
async fn verify_over_http(db: DatabaseConnection) {
    use audit_seaorm::entity::activity_log;
    use sea_orm::{ColumnTrait, QueryFilter, QueryOrder, sea_query::Expr};
    let base = serve(&db).await;
    for title in ["a", "b", "c"] {
        create(&base, "alice", &[], title).await;
    }
    audit_seaorm::seal(&db).await.unwrap();
    let (status, report) = get(&base, "admin", "/api/audit/verify").await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["breaks"], json!([]));
    assert_eq!(
        (report["links"].as_u64(), report["chains"].as_u64()),
        (Some(12), Some(6))
    );
    assert_eq!(report["next"], Value::Null);

    let second = activity_log::Entity::find()
        .filter(activity_log::Column::SubjectId.eq("2"))
        .order_by_asc(activity_log::Column::Id)
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    activity_log::Entity::update_many()
        .col_expr(activity_log::Column::CauserId, Expr::val("mallory"))
        .filter(activity_log::Column::Id.eq(second.id))
        .exec(&db)
        .await
        .unwrap();
    let (_, report) = get(&base, "admin", "/api/audit/verify?subject_type=post").await;
    assert_eq!(
        report["breaks"],
        json!([{"table": "activity_log", "subject_type": "post", "subject_id": "2",
                "seq": 1, "row_id": second.id, "reason": "changed"}])
    );
    // Two links per call: the walk goes on through `next` and finds the same.
    let mut after = String::new();
    let mut found = Vec::new();
    for _ in 0..20 {
        let (status, step) =
            get(&base, "admin", &format!("/api/audit/verify?limit=2{after}")).await;
        assert_eq!(status, StatusCode::OK, "{step}");
        found.extend(step["breaks"].as_array().unwrap().clone());
        match step["next"].as_str() {
            Some(next) => after = format!("&after={next}"),
            None => break,
        }
    }
    assert_eq!(Value::Array(found), report["breaks"]);
    let (_, one) = get(
        &base,
        "admin",
        "/api/audit/verify?subject_type=post&subject_id=3",
    )
    .await;
    assert_eq!(
        (one["breaks"].clone(), one["chains"].as_u64()),
        (json!([]), Some(2))
    );
}

backend_tests!(
    a_refused_restore_is_a_conflict,
    verify_over_http,
    attribution_and_grouping,
    spoofed_headers_ignored,
    endpoints_happy_path,
    pagination_over_http,
    time_travel_over_http,
    revert_over_http,
    a_record_joining_during_the_check_is_refused,
    access_control,
    bad_inputs_are_4xx,
    openapi_matches_routes,
    access_per_subject,
    access_per_request,
    database_failure_is_named,
    blame_reads_a_bounded_history,
    a_diff_after_retention,
);
