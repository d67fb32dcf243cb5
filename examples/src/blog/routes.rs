//! The blog's HTTP routes, the audit middleware and the audit API.

use audit_seaorm::http::{Access, AuditApi, AuditLayer, Permission};
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{Next, from_fn};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseConnection, EntityTrait, ModelTrait, Set,
};
use serde::Deserialize;
use serde_json::json;

use super::entities::{author, comment, post};

/// Who is calling. DEMO ONLY: taken without any check from `Authorization: Bearer <name>`
/// (for `curl`) or from the `demo_user` cookie that `/demo/sign-in/{name}` sets (for the
/// browser). A real app puts its authenticated user here.
#[derive(Clone)]
pub struct User(pub String);

/// The cookie `/demo/sign-in/{name}` sets.
pub const DEMO_COOKIE: &str = "demo_user";

fn demo_name(name: &str) -> Option<String> {
    let name = name.trim();
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ok.then(|| name.to_owned())
}

async fn demo_auth(mut req: Request, next: Next) -> Response {
    let headers = req.headers();
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(DEMO_COOKIE)?.strip_prefix('='));
    if let Some(name) = bearer.or(cookie).and_then(demo_name) {
        req.extensions_mut().insert(User(name));
    }
    next.run(req).await
}

/// DEMO ONLY: signs the browser in as `name` (a cookie) and opens the audit page.
async fn demo_sign_in(Path(name): Path<String>) -> Result<Response, AppError> {
    let name = demo_name(&name).ok_or_else(|| {
        AppError(
            StatusCode::BAD_REQUEST,
            "a name is 1 to 64 letters, digits, `-` or `_`".into(),
        )
    })?;
    let cookie = format!("{DEMO_COOKIE}={name}; Path=/; HttpOnly; SameSite=Strict");
    Ok((
        [(header::SET_COOKIE, cookie)],
        Redirect::to("/api/audit/ui"),
    )
        .into_response())
}

/// DEMO ONLY: forgets the browser's user.
async fn demo_sign_out() -> Response {
    let cookie = format!("{DEMO_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    (
        [(header::SET_COOKIE, cookie)],
        Redirect::to("/api/audit/ui"),
    )
        .into_response()
}

/// The whole app.
pub fn app(db: DatabaseConnection) -> Router {
    let audit_api = AuditApi::new(db.clone())
        // The access decision, per subject type: anonymous callers get nothing, signed-in
        // users (the authors) read the trail of posts and comments but not of authors (it
        // holds their accounts), and only the admin reads everything, restores versions,
        // reverts requests and verifies the hash chains. (The demo's users come from `demo_auth` unchecked; a real app's
        // from its authentication.)
        .authorize_access(|parts, access: &Access<'_>| {
            let Some(User(name)) = parts.extensions.get::<User>() else {
                return false;
            };
            if name == "admin" {
                return true;
            }
            access.permission == Permission::Read
                && matches!(access.subject_type, None | Some("post" | "comment"))
        })
        .restorer::<post::Entity>()
        .restorer::<author::Entity>()
        .restorer::<comment::Entity>()
        // The web page at /api/audit/ui.
        .ui()
        .router();
    Router::new()
        .route("/authors", post(create_author))
        .route("/posts", post(create_post))
        .route(
            "/posts/{id}",
            get(get_post).patch(update_post).delete(delete_post),
        )
        .route("/posts/{id}/comments", post(create_comment))
        .route("/demo/sign-in/{name}", get(demo_sign_in))
        .route("/demo/sign-out", get(demo_sign_out))
        .with_state(db)
        .nest("/api/audit", audit_api)
        // Inside the auth layer: the user is known when the audit context is built.
        // Clients reach the blog directly (no proxy sets `X-Request-Id`): every request
        // gets an id of its own, so that none can join another's.
        .layer(
            AuditLayer::new()
                .causer_from(|parts| parts.extensions.get::<User>().map(|u| u.0.clone()))
                .trust_request_id_header(false),
        )
        .layer(from_fn(demo_auth))
}

struct AppError(StatusCode, String);

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        (
            self.0,
            Json(json!({"error": {"code": "blog_error", "message": self.1}})),
        )
            .into_response()
    }
}

impl From<sea_orm::DbErr> for AppError {
    fn from(e: sea_orm::DbErr) -> Self {
        tracing::error!(error = %e, "database error");
        AppError(StatusCode::INTERNAL_SERVER_ERROR, "database error".into())
    }
}

/// The post `id`, or 404.
async fn find_post<C: ConnectionTrait>(db: &C, id: i32) -> Result<post::Model, AppError> {
    post::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| AppError(StatusCode::NOT_FOUND, "no such post".into()))
}

/// `201 Created` with a JSON body.
fn created(body: serde_json::Value) -> Response {
    (StatusCode::CREATED, Json(body)).into_response()
}

fn post_json(p: &post::Model) -> serde_json::Value {
    json!({"id": p.id, "author_id": p.author_id, "title": p.title, "body": p.body,
           "published": p.published, "view_count": p.view_count})
}

#[derive(Deserialize)]
struct NewAuthor {
    name: String,
    password: String,
}

async fn create_author(
    State(db): State<DatabaseConnection>,
    Json(a): Json<NewAuthor>,
) -> Result<Response, AppError> {
    let author = author::ActiveModel {
        name: Set(a.name),
        password_hash: Set(format!("demo-hash:{}", a.password.len())),
        ..Default::default()
    }
    .insert(&db)
    .await?;
    Ok(created(json!({"id": author.id, "name": author.name})))
}

#[derive(Deserialize)]
struct NewPost {
    author_id: i32,
    title: String,
    body: String,
}

async fn create_post(
    State(db): State<DatabaseConnection>,
    Json(p): Json<NewPost>,
) -> Result<Response, AppError> {
    let post = post::ActiveModel {
        author_id: Set(p.author_id),
        title: Set(p.title),
        body: Set(p.body),
        published: Set(false),
        view_count: Set(0),
        ..Default::default()
    }
    .insert(&db)
    .await?;
    Ok(created(post_json(&post)))
}

async fn get_post(
    State(db): State<DatabaseConnection>,
    Path(id): Path<i32>,
) -> Result<Response, AppError> {
    let post = find_post(&db, id).await?;
    // Counting views is a skipped field: no log entry for it.
    let mut am: post::ActiveModel = post.clone().into();
    am.view_count = Set(post.view_count + 1);
    let post = am.update(&db).await?;
    Ok(Json(post_json(&post)).into_response())
}

#[derive(Deserialize)]
struct PostPatch {
    title: Option<String>,
    body: Option<String>,
    published: Option<bool>,
}

async fn update_post(
    State(db): State<DatabaseConnection>,
    Path(id): Path<i32>,
    Json(patch): Json<PostPatch>,
) -> Result<Response, AppError> {
    let txn = audit_seaorm::begin_write(&db).await?;
    let post = find_post(&txn, id).await?;
    let mut am: post::ActiveModel = post.into();
    if let Some(v) = patch.title {
        am.title = Set(v);
    }
    if let Some(v) = patch.body {
        am.body = Set(v);
    }
    if let Some(v) = patch.published {
        am.published = Set(v);
    }
    let post = am.update(&txn).await?;
    txn.commit().await?;
    Ok(Json(post_json(&post)).into_response())
}

async fn delete_post(
    State(db): State<DatabaseConnection>,
    Path(id): Path<i32>,
) -> Result<Response, AppError> {
    let post = find_post(&db, id).await?;
    post.delete(&db).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
struct NewComment {
    author: String,
    body: String,
}

async fn create_comment(
    State(db): State<DatabaseConnection>,
    Path(id): Path<i32>,
    Json(c): Json<NewComment>,
) -> Result<Response, AppError> {
    let comment = comment::ActiveModel {
        post_id: Set(id),
        author: Set(c.author),
        body: Set(c.body),
        ..Default::default()
    }
    .insert(&db)
    .await?;
    Ok(created(
        json!({"id": comment.id, "post_id": comment.post_id}),
    ))
}
