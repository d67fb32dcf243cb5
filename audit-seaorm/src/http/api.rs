//! The REST API over the audit trail.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use audit_core::{AuditContext, Filter, MAX_LIMIT, Order};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Duration, Utc};
use http::request::Parts;
use http::{HeaderMap, Method, StatusCode};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter, QuerySelect,
    TransactionTrait,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::entity::activity_log;
use crate::{AuditedEntity, AuditedModel, Error};

/// What a request wants to do with the trail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Permission {
    /// Read activity, history, versions, the dashboard.
    Read,
    /// Restore a version (writes to the database).
    Restore,
}

type AuthorizeFn = dyn Fn(&Parts, Permission) -> bool + Send + Sync;
type RestoreFuture = Pin<Box<dyn Future<Output = Result<Value, Error>> + Send>>;
type RestoreFn = dyn Fn(DatabaseConnection, i64) -> RestoreFuture + Send + Sync;

/// The largest request body the API accepts.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

struct ApiState {
    db: DatabaseConnection,
    authorize: Option<Arc<AuthorizeFn>>,
    restorers: HashMap<&'static str, Arc<RestoreFn>>,
}

/// Builder of the REST API router. Nest it where the trail should live:
/// `app.nest("/api/audit", AuditApi::new(db).authorize(..).router())`.
///
/// | Method | Path | Purpose |
/// |---|---|---|
/// | GET | `/activity` | filtered, paginated activity |
/// | GET | `/subjects/{type}/{id}` | a record's full history |
/// | GET | `/versions/{type}/{id}` | a record's snapshots |
/// | POST | `/versions/{id}/restore` | restore (registered types) or the data to re-apply |
/// | GET | `/dashboard` | recent activity and counts over a window |
/// | GET | `/openapi.json` | the OpenAPI description of these |
///
/// Access must be decided explicitly with [`authorize`](Self::authorize): a router built
/// without it answers every request with 403.
///
/// ```
/// # async fn demo(db: sea_orm::DatabaseConnection) {
/// use audit_seaorm::http::{AuditApi, Permission};
/// #[derive(Clone)]
/// struct Admin;
/// let api = AuditApi::new(db)
///     // read for any signed-in admin, restore too
///     .authorize(|parts, _permission: Permission| parts.extensions.get::<Admin>().is_some())
///     .router();
/// let app: axum::Router = axum::Router::new().nest("/api/audit", api);
/// # }
/// ```
pub struct AuditApi {
    state: ApiState,
}

impl AuditApi {
    /// An API over `db` that refuses everything until [`authorize`](Self::authorize) is
    /// given.
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            state: ApiState {
                db,
                authorize: None,
                restorers: HashMap::new(),
            },
        }
    }

    /// The access decision: called with the request parts and the permission the endpoint
    /// needs (`Read` for GETs, `Restore` for the restore POST); `false` answers 403.
    pub fn authorize(
        mut self,
        f: impl Fn(&Parts, Permission) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.state.authorize = Some(Arc::new(f));
        self
    }

    /// Lets `POST /versions/{id}/restore` really restore versions of `E` (typed restore in a
    /// transaction) and return the restored record.
    pub fn restorer<E>(mut self) -> Self
    where
        E: EntityTrait,
        E::Model: AuditedModel + IntoActiveModel<E::ActiveModel>,
        E::ActiveModel: Send,
    {
        let f: Arc<RestoreFn> = Arc::new(|db: DatabaseConnection, version_id: i64| {
            Box::pin(async move {
                let txn = db
                    .begin()
                    .await
                    .map_err(Error::db("starting the restore transaction"))?;
                let model = E::restore(&txn, version_id).await?;
                txn.commit()
                    .await
                    .map_err(Error::db("committing the restore"))?;
                Ok(Value::Object(audit_core::Audited::snapshot(&model)?))
            }) as RestoreFuture
        });
        self.state
            .restorers
            .insert(<E::Model as audit_core::Audited>::SUBJECT_TYPE, f);
        self
    }

    /// The router (paths relative to where you nest it).
    pub fn router(self) -> Router {
        let state = Arc::new(self.state);
        // Built from the table the OpenAPI description lists, so the two cannot drift.
        let mut router = Router::new();
        for &(method, path) in super::openapi::ROUTES {
            let handler = match (method, path) {
                ("get", "/activity") => get(activity),
                ("get", "/subjects/{subject_type}/{subject_id}") => get(subject_history),
                ("get", "/versions/{subject_type}/{subject_id}") => get(subject_versions),
                ("post", "/versions/{version_id}/restore") => post(restore),
                ("get", "/dashboard") => get(dashboard),
                ("get", "/openapi.json") => get(openapi),
                // A route listed without a handler is caught by the HTTP tests.
                _ => continue,
            };
            router = router.route(path, handler);
        }
        router
            .fallback(not_found)
            .method_not_allowed_fallback(method_not_allowed)
            .layer(axum::middleware::from_fn_with_state(state.clone(), access))
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            .with_state(state)
    }
}

/// The JSON error every failure answers with: `{"error": {"code", "message"}}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
    fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_parameter", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({"error": {"code": self.code, "message": self.message}})),
        )
            .into_response()
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::VersionNotFound(_) => {
                Self::new(StatusCode::NOT_FOUND, "not_found", e.to_string())
            }
            Error::SubjectMismatch { .. } | Error::Model(_) => {
                Self::new(StatusCode::CONFLICT, "cannot_restore", e.to_string())
            }
            Error::NotInTransaction { .. } => {
                Self::new(StatusCode::CONFLICT, "strict_mode", e.to_string())
            }
            other => {
                tracing::error!(error = %other, "audit API: database failure");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error, see the server logs",
                )
            }
        }
    }
}

async fn access(State(state): State<Arc<ApiState>>, request: Request, next: Next) -> Response {
    let Some(authorize) = &state.authorize else {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "access_not_configured",
            "the audit API was built without an access decision (AuditApi::authorize)",
        )
        .into_response();
    };
    // Restoring answers with the version's data too: it needs both permissions.
    let needed: &[Permission] = if matches!(*request.method(), Method::GET | Method::HEAD) {
        &[Permission::Read]
    } else {
        &[Permission::Read, Permission::Restore]
    };
    let (parts, body) = request.into_parts();
    if let Some(&denied) = needed.iter().find(|p| !authorize(&parts, **p)) {
        let what = if denied == Permission::Read {
            "read the audit trail"
        } else {
            "restore versions"
        };
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("not allowed to {what}"),
        )
        .into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "route_not_found",
        "no such audit endpoint",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this endpoint",
    )
}

fn query_error(e: QueryRejection) -> ApiError {
    ApiError::bad(e.body_text())
}

fn path_error(e: PathRejection) -> ApiError {
    ApiError::bad(e.body_text())
}

/// `GET /activity` parameters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActivityQuery {
    subject_type: Option<String>,
    subject_id: Option<String>,
    causer_id: Option<String>,
    action: Option<String>,
    request_id: Option<String>,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    limit: Option<u64>,
    offset: Option<u64>,
    after_id: Option<i64>,
    order: Option<Order>,
}

async fn activity(
    State(state): State<Arc<ApiState>>,
    query: Result<Query<ActivityQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(query_error)?;
    let mut filter = Filter::new();
    filter.subject_type = q.subject_type;
    filter.subject_id = q.subject_id.map(audit_core::SubjectId::new);
    filter.causer_id = q.causer_id;
    filter.action = q.action.map(audit_core::Action::from);
    filter.request_id = q.request_id;
    filter.since = q.since;
    filter.until = q.until;
    filter.limit = q.limit;
    filter.offset = q.offset;
    filter.after_id = q.after_id;
    filter.order = q.order.unwrap_or_default();
    let page = crate::activity(&state.db, &filter).await?;
    Ok(Json(json!({
        "items": page.items,
        "next_cursor": page.next_cursor,
        "limit": filter.effective_limit(),
    }))
    .into_response())
}

/// Paging parameters of the per-subject listings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    /// Page size (default 50, capped at 500).
    limit: Option<u64>,
    /// The previous page's `next_cursor`.
    after_id: Option<i64>,
}

async fn subject_history(
    State(state): State<Arc<ApiState>>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Path((subject_type, subject_id)) = path.map_err(path_error)?;
    let Query(q) = query.map_err(query_error)?;
    let mut filter = Filter::new()
        .subject(&subject_type, &subject_id)
        .order(Order::OldestFirst);
    filter.limit = q.limit;
    filter.after_id = q.after_id;
    let page = crate::activity(&state.db, &filter).await?;
    Ok(Json(json!({
        "subject_type": subject_type,
        "subject_id": subject_id,
        "items": page.items,
        "next_cursor": page.next_cursor,
        "limit": filter.effective_limit(),
    }))
    .into_response())
}

async fn subject_versions(
    State(state): State<Arc<ApiState>>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Path((subject_type, subject_id)) = path.map_err(path_error)?;
    let Query(q) = query.map_err(query_error)?;
    let page =
        crate::versions_page(&state.db, &subject_type, &subject_id, q.limit, q.after_id).await?;
    Ok(Json(json!({
        "subject_type": subject_type,
        "subject_id": subject_id,
        "items": page.items,
        "next_cursor": page.next_cursor,
        "limit": audit_core::page_limit(q.limit),
    }))
    .into_response())
}

/// `POST /versions/{id}/restore` body (optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RestoreBody {
    /// Why: stored in the entry's properties.
    reason: Option<String>,
}

async fn restore(
    State(state): State<Arc<ApiState>>,
    path: Result<Path<i64>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let Path(version_id) = path.map_err(path_error)?;
    // Only JSON, even with an empty body: a browser cannot send it cross-site without a
    // CORS preflight, so a forged form post cannot restore anything.
    let json = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "restore takes `Content-Type: application/json` (the body may be empty)",
        ));
    }
    let body = body.map_err(|e| {
        let status = e.status();
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "payload_too_large"
        } else {
            "invalid_body"
        };
        ApiError::new(status, code, e.body_text())
    })?;
    let body: RestoreBody = if body.iter().all(u8::is_ascii_whitespace) {
        RestoreBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_body", e.to_string()))?
    };
    let version = crate::version(&state.db, version_id)
        .await?
        .ok_or(Error::VersionNotFound(version_id))?;
    let Some(restorer) = state.restorers.get(version.subject_type.as_str()) else {
        return Ok(
            Json(json!({"restored": false, "version": version, "data": version.data}))
                .into_response(),
        );
    };
    let mut ctx = AuditContext::current()
        .map(|c| (*c).clone())
        .unwrap_or_default();
    if let Some(reason) = body.reason {
        ctx = ctx.property("reason", reason);
    }
    let record = ctx.scope(restorer(state.db.clone(), version_id)).await?;
    Ok(Json(json!({"restored": true, "version": version, "record": record})).into_response())
}

/// `GET /dashboard` parameters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DashboardQuery {
    /// The window for the counts, in hours (default 24, at most 8760).
    window_hours: Option<u32>,
    /// How many recent entries (default 20, capped like every page).
    limit: Option<u64>,
}

async fn dashboard(
    State(state): State<Arc<ApiState>>,
    query: Result<Query<DashboardQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    use activity_log::Column as A;
    let Query(q) = query.map_err(query_error)?;
    let hours = q.window_hours.unwrap_or(24);
    if !(1..=8760).contains(&hours) {
        return Err(ApiError::bad("window_hours must be between 1 and 8760"));
    }
    let until = Utc::now();
    let since = until - Duration::hours(i64::from(hours));
    let recent = crate::activity(
        &state.db,
        &Filter::new()
            .since(since)
            .limit(q.limit.unwrap_or(20).min(MAX_LIMIT)),
    )
    .await?;
    let count_by = |col: A| {
        activity_log::Entity::find()
            .select_only()
            .column(col)
            .column_as(A::Id.count(), "n")
            .filter(A::CreatedAt.gte(since))
            .group_by(col)
            .into_tuple::<(String, i64)>()
            .all(&state.db)
    };
    let by_action: BTreeMap<String, i64> = count_by(A::Action)
        .await
        .map_err(Error::db("counting activity by action"))?
        .into_iter()
        .collect();
    let by_subject: BTreeMap<String, i64> = count_by(A::SubjectType)
        .await
        .map_err(Error::db("counting activity by subject type"))?
        .into_iter()
        .collect();
    let total: i64 = by_action.values().sum();
    Ok(Json(json!({
        "window": {"since": since, "until": until, "hours": hours},
        "counts": {"total": total, "by_action": by_action, "by_subject_type": by_subject},
        "recent": recent.items,
    }))
    .into_response())
}

async fn openapi() -> Json<Value> {
    Json(super::openapi::document())
}
