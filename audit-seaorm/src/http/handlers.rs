//! The endpoints. Each handler's `#[utoipa::path]` is both its route and its description:
//! [`routes`] registers them, and the OpenAPI document is collected from the same list.

use std::sync::Arc;

use audit_core::{Action, ActivityEntry, AuditContext, Filter, MAX_LIMIT, Order, Page, Version};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, Path, Query, State};
use chrono::{DateTime, Duration, Utc};
use http::request::Parts;
use http::{HeaderMap, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::api::{Access, ApiState, Permission};
use super::body::{
    ActivityPage, CallerPermissions, Dashboard, DashboardCounts, DashboardWindow, RecordAt,
    RestoreRequest, Restored, RevertRequest, SubjectBlame, SubjectHistory, SubjectPage,
    SubjectVersions, TypePermissions, VersionDiff,
};
use super::error::{
    ApiError, AtErrors, DiffErrors, DocErrors, ErrorCode, ReadErrors, RestoreErrors, RevertErrors,
};
use crate::Error;
use crate::entity::activity_log;

/// The endpoints with their descriptions, before the state is given.
pub(super) fn routes() -> OpenApiRouter<Arc<ApiState>> {
    OpenApiRouter::with_openapi(<super::openapi::ApiDoc as utoipa::OpenApi>::openapi())
        .routes(routes!(activity))
        .routes(routes!(subject_history))
        .routes(routes!(subject_versions))
        .routes(routes!(subject_at))
        .routes(routes!(subject_diff))
        .routes(routes!(subject_blame))
        .routes(routes!(request_activity))
        .routes(routes!(revert_request))
        .routes(routes!(restore))
        .routes(routes!(dashboard))
        .routes(routes!(permissions))
        .routes(routes!(verify))
        .routes(routes!(openapi_json))
}

/// axum's `Query`, with the API's JSON error (400 `invalid_parameter`) as its rejection.
struct ApiQuery<T>(T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(Self(value)),
            Err(e) => Err(ApiError::bad(e.body_text())),
        }
    }
}

/// The query of an endpoint that takes no parameter: any one is 400 `invalid_parameter`,
/// as an unknown parameter is elsewhere, rather than silently ignored.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NoQuery {}

/// axum's `Path`, with the API's JSON error (400 `invalid_parameter`) as its rejection.
struct ApiPath<T>(T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(Self(value)),
            Err(e) => Err(ApiError::bad(e.body_text())),
        }
    }
}

/// `GET /activity` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ActivityQuery {
    /// The subject's type.
    subject_type: Option<String>,
    /// The subject's id (with `subject_type`).
    subject_id: Option<String>,
    /// Who caused it.
    causer_id: Option<String>,
    /// The action: `created`, `updated`, `deleted`, `restored` or a custom one.
    action: Option<String>,
    /// Entries of one request.
    request_id: Option<String>,
    /// Entries at or after this time (RFC 3339).
    since: Option<DateTime<Utc>>,
    /// Entries before this time (RFC 3339).
    until: Option<DateTime<Utc>>,
    /// Page size (default 50, capped at 500).
    limit: Option<u64>,
    /// Entries to skip (at most 10,000: page further with `after_id`).
    offset: Option<u64>,
    /// Keyset cursor: the previous page's `next_cursor` (400 when a time-bounded listing's
    /// cursor entry has been pruned since).
    after_id: Option<i64>,
    /// Listing order (default `newest_first`): by `(created_at, id)` when `since` or `until`
    /// is given, by id otherwise.
    #[param(inline)]
    order: Option<Order>,
}

/// The largest `offset` `GET /activity` takes.
pub const MAX_OFFSET: u64 = 10_000;

/// The most entries `GET /subjects/{type}/{id}/blame` reads, newest first: a field whose
/// last change is older than that is left out, and the answer says `complete: false`.
pub const MAX_BLAME_ENTRIES: u64 = 10_000;

/// Filtered, paginated activity (newest first unless asked otherwise).
#[utoipa::path(
    get,
    path = "/activity",
    params(ActivityQuery),
    responses((status = 200, description = "a page of entries", body = ActivityPage), ReadErrors)
)]
async fn activity(
    State(state): State<Arc<ApiState>>,
    parts: Parts,
    ApiQuery(q): ApiQuery<ActivityQuery>,
) -> Result<Json<ActivityPage>, ApiError> {
    // The database walks what an offset skips: a large one is a scan per call.
    if q.offset.is_some_and(|o| o > MAX_OFFSET) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidParameter,
            format!(
                "`offset` is at most {MAX_OFFSET}: page further with `after_id` (the previous \
                 page's `next_cursor`)"
            ),
        ));
    }
    // No index starts with a subject id: alone, it would be a walk of the whole log per call.
    if q.subject_id.is_some() && q.subject_type.is_none() {
        return Err(ApiError::bad("subject_id needs subject_type"));
    }
    // A filter on one type asks for it; without one, unreadable types are left out. A
    // filter on a request asks with its id.
    let excluded = match &q.subject_type {
        Some(t) => {
            let mut access = Access::to(Permission::Read).subject(t, q.subject_id.as_deref());
            access.request_id = q.request_id.as_deref();
            state.check(&parts, access, &[Permission::Read])?;
            Vec::new()
        }
        None => {
            if let Some(request_id) = q.request_id.as_deref() {
                let mut access = Access::to(Permission::Read);
                access.request_id = Some(request_id);
                state.check(&parts, access, &[Permission::Read])?;
            }
            state.unreadable_types(&parts, q.request_id.as_deref())
        }
    };
    let mut filter = Filter::new();
    if let Some(action) = q.action {
        filter = filter.action(action);
    }
    filter.subject_type = q.subject_type;
    filter.subject_id = q.subject_id.map(audit_core::SubjectId::new);
    filter.causer_id = q.causer_id;
    filter.request_id = q.request_id;
    filter.since = q.since;
    filter.until = q.until;
    filter.limit = q.limit;
    filter.offset = q.offset;
    filter.after_id = q.after_id;
    filter.order = q.order.unwrap_or_default();
    let page = crate::api::activity_excluding(&state.db, &filter, &excluded).await?;
    Ok(Json(ActivityPage {
        items: page.items,
        next_cursor: page.next_cursor,
        limit: filter.effective_limit(),
    }))
}

/// A record, in the paths of the per-subject listings.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
struct SubjectPath {
    /// The subject's type.
    subject_type: String,
    /// The subject's id.
    subject_id: String,
}

/// Paging parameters of the per-subject listings.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    /// Page size (default 50, capped at 500).
    limit: Option<u64>,
    /// The previous page's `next_cursor`.
    after_id: Option<i64>,
}

/// A record's full history, oldest first, in pages.
#[utoipa::path(
    get,
    path = "/subjects/{subject_type}/{subject_id}",
    params(SubjectPath, PageQuery),
    responses((status = 200, description = "a page of the history", body = SubjectPage<ActivityEntry>), ReadErrors)
)]
async fn subject_history(
    State(state): State<Arc<ApiState>>,
    parts: Parts,
    ApiPath(subject): ApiPath<SubjectPath>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<SubjectHistory>, ApiError> {
    subject.check(&state, &parts)?;
    let mut filter = Filter::new()
        .subject(&subject.subject_type, &subject.subject_id)
        .order(Order::OldestFirst);
    filter.limit = q.limit;
    filter.after_id = q.after_id;
    let page = crate::activity(&state.db, &filter).await?;
    Ok(Json(subject_page(subject, page, filter.effective_limit())))
}

/// A record's snapshots, version 1 first, in pages.
#[utoipa::path(
    get,
    path = "/versions/{subject_type}/{subject_id}",
    params(SubjectPath, PageQuery),
    responses((status = 200, description = "a page of the versions", body = SubjectPage<Version>), ReadErrors)
)]
async fn subject_versions(
    State(state): State<Arc<ApiState>>,
    parts: Parts,
    ApiPath(subject): ApiPath<SubjectPath>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<SubjectVersions>, ApiError> {
    subject.check(&state, &parts)?;
    let page = crate::versions_page(
        &state.db,
        &subject.subject_type,
        &subject.subject_id,
        q.limit,
        q.after_id,
    )
    .await?;
    Ok(Json(subject_page(
        subject,
        page,
        audit_core::page_limit(q.limit),
    )))
}

impl SubjectPath {
    /// 403 unless the caller may read this record's trail.
    fn check(&self, state: &ApiState, parts: &Parts) -> Result<(), ApiError> {
        let access =
            Access::to(Permission::Read).subject(&self.subject_type, Some(&self.subject_id));
        state.check(parts, access, &[Permission::Read])
    }
}

fn subject_page<T>(subject: SubjectPath, page: Page<T>, limit: u64) -> SubjectPage<T> {
    SubjectPage {
        subject_type: subject.subject_type,
        subject_id: subject.subject_id,
        items: page.items,
        next_cursor: page.next_cursor,
        limit,
    }
}

/// `.../at` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct AtQuery {
    /// The time (RFC 3339; default: now). Exact at the stored microsecond.
    time: Option<DateTime<Utc>>,
}

/// A record as it stood at a time: the version in force then and its data.
#[utoipa::path(
    get,
    path = "/subjects/{subject_type}/{subject_id}/at",
    params(SubjectPath, AtQuery),
    responses((status = 200, description = "the record at that time", body = RecordAt), AtErrors)
)]
async fn subject_at(
    State(state): State<Arc<ApiState>>,
    parts: Parts,
    ApiPath(subject): ApiPath<SubjectPath>,
    ApiQuery(q): ApiQuery<AtQuery>,
) -> Result<Json<RecordAt>, ApiError> {
    subject.check(&state, &parts)?;
    let time = q.time.unwrap_or_else(Utc::now);
    let version =
        crate::history::state_at(&state.db, &subject.subject_type, &subject.subject_id, time)
            .await?;
    let exists = version.as_ref().is_some_and(|v| v.event != Action::Deleted);
    let data = version.as_ref().filter(|_| exists).map(|v| v.data.clone());
    Ok(Json(RecordAt {
        subject_type: subject.subject_type,
        subject_id: subject.subject_id,
        time,
        exists,
        version,
        data,
    }))
}

/// `.../diff` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct DiffQuery {
    /// The version number to compare from (default: the earliest one left, 1 unless
    /// retention pruned the first ones).
    #[param(minimum = 1)]
    from: Option<i64>,
    /// The version number to compare to (default: the latest); not below `from`.
    #[param(minimum = 1)]
    to: Option<i64>,
}

/// The changes between two versions of a record, `{field: {old, new}}`.
#[utoipa::path(
    get,
    path = "/subjects/{subject_type}/{subject_id}/diff",
    params(SubjectPath, DiffQuery),
    responses((status = 200, description = "the changes", body = VersionDiff), DiffErrors)
)]
async fn subject_diff(
    State(state): State<Arc<ApiState>>,
    parts: Parts,
    ApiPath(subject): ApiPath<SubjectPath>,
    ApiQuery(q): ApiQuery<DiffQuery>,
) -> Result<Json<VersionDiff>, ApiError> {
    subject.check(&state, &parts)?;
    let (kind, id) = (subject.subject_type.as_str(), subject.subject_id.as_str());
    for (name, n) in [("from", q.from), ("to", q.to)] {
        if n.is_some_and(|n| n < 1) {
            return Err(ApiError::bad(format!(
                "`{name}` is a version number, 1 or more"
            )));
        }
    }
    let from = match q.from {
        Some(from) => from,
        None => crate::history::earliest_version_number(&state.db, kind, id)
            .await?
            .unwrap_or(1),
    };
    let to = match q.to {
        Some(to) => to,
        // (`from` given above the latest version: that version is not there, 404)
        None => crate::history::latest_version(&state.db, kind, id)
            .await?
            .map_or(from, |v| v.version.max(from)),
    };
    let from = match q.from {
        // `to` given below the earliest version left: that version is not there (404).
        None if from > to => to,
        _ => from,
    };
    if from > to {
        return Err(ApiError::bad(format!(
            "`from` ({from}) is after `to` ({to})"
        )));
    }
    let changes = crate::history::diff(&state.db, kind, id, from, to).await?;
    Ok(Json(VersionDiff {
        subject_type: subject.subject_type,
        subject_id: subject.subject_id,
        from,
        to,
        changes,
    }))
}

/// Who last changed each field of a record: entry, causer, request, time, old → new.
#[utoipa::path(
    get,
    path = "/subjects/{subject_type}/{subject_id}/blame",
    params(SubjectPath),
    responses((status = 200, description = "the last change of each field", body = SubjectBlame), ReadErrors)
)]
async fn subject_blame(
    State(state): State<Arc<ApiState>>,
    parts: Parts,
    ApiPath(subject): ApiPath<SubjectPath>,
    _: ApiQuery<NoQuery>,
) -> Result<Json<SubjectBlame>, ApiError> {
    subject.check(&state, &parts)?;
    // Newest first, a page at a time: a long history is read through, never held, and at
    // most MAX_BLAME_ENTRIES of it per call. A registered type's key is left out and the
    // walk stops once each of its fields has its change (as the typed `blame`).
    let (key, wanted) = crate::registry::fields_of(&subject.subject_type)
        .map(crate::history::blamed_fields)
        .unzip();
    let (fields, complete) = crate::history::blame_paged(
        &state.db,
        &subject.subject_type,
        &subject.subject_id,
        key.as_deref().unwrap_or_default(),
        wanted.as_deref(),
        Some(MAX_BLAME_ENTRIES),
    )
    .await?;
    Ok(Json(SubjectBlame {
        fields,
        complete,
        subject_type: subject.subject_type,
        subject_id: subject.subject_id,
    }))
}

/// The request whose entries to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
struct RequestPath {
    /// The request id (`X-Request-Id`).
    request_id: String,
}

/// Everything one request changed, oldest first, in pages.
#[utoipa::path(
    get,
    path = "/requests/{request_id}",
    params(RequestPath, PageQuery),
    responses((status = 200, description = "a page of the request's entries", body = ActivityPage), ReadErrors)
)]
async fn request_activity(
    State(state): State<Arc<ApiState>>,
    parts: Parts,
    ApiPath(RequestPath { request_id }): ApiPath<RequestPath>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<ActivityPage>, ApiError> {
    let mut access = Access::to(Permission::Read);
    access.request_id = Some(&request_id);
    state.check(&parts, access, &[Permission::Read])?;
    let excluded = state.unreadable_types(&parts, Some(&request_id));
    let mut filter = Filter::new()
        .request_id(request_id)
        .order(Order::OldestFirst);
    filter.limit = q.limit;
    filter.after_id = q.after_id;
    let page = crate::api::activity_excluding(&state.db, &filter, &excluded).await?;
    Ok(Json(ActivityPage {
        items: page.items,
        next_cursor: page.next_cursor,
        limit: filter.effective_limit(),
    }))
}

/// Revert a request: every record it changed goes back to its version before it.
///
/// Needs the Read and Revert permissions on every record the request changed (asked per
/// record) and `Content-Type: application/json`; the body `{"force": true}` reverts over
/// later changes of the same fields (else 409 with the conflicts). Only types registered
/// with `AuditApi::restorer` are reverted. A request that changed only records the caller
/// may not read answers 404, as an unknown one.
#[utoipa::path(
    post,
    path = "/requests/{request_id}/revert",
    params(RequestPath),
    request_body(content = Option<RevertRequest>, content_type = "application/json"),
    responses((status = 200, description = "what was put back", body = crate::Reverted), RevertErrors)
)]
async fn revert_request(
    State(state): State<Arc<ApiState>>,
    parts: Parts,
    ApiPath(RequestPath { request_id }): ApiPath<RequestPath>,
    _: ApiQuery<NoQuery>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<crate::Reverted>, ApiError> {
    let body: RevertRequest = json_body(&headers, body)?;
    // Every record the request changed must be the caller's to revert, each asked about
    // by its id. Records the caller may not read are not named: a request that changed
    // only such records is one that does not exist for them (the same 404).
    let subjects = request_subjects(&state, &request_id).await?;
    let readable = |(subject_type, subject_id): &(String, String)| {
        let mut access = Access::to(Permission::Read).subject(subject_type, Some(subject_id));
        access.request_id = Some(&request_id);
        // As every other check: a request id sent with trailing spaces is asked about
        // without them too (MySQL/MariaDB read it as the one without).
        state.check(&parts, access, &[Permission::Read]).is_ok()
    };
    let hidden = subjects.iter().filter(|s| !readable(s)).count();
    if hidden > 0 {
        if hidden == subjects.len() {
            return Err(Error::RequestNotFound(request_id).into());
        }
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            "not allowed to read every record this request changed",
        ));
    }
    for (subject_type, subject_id) in &subjects {
        let mut access = Access::to(Permission::Revert).subject(subject_type, Some(subject_id));
        access.request_id = Some(&request_id);
        state.check(&parts, access, &[Permission::Revert])?;
    }
    // The revert reads the request's records again in its transaction: one written
    // under this request id since (by any client) was not asked about, and is refused.
    let checked: std::collections::BTreeSet<(String, String)> = subjects.into_iter().collect();
    let done = state
        .reverter
        .revert_checked(&state.db, &request_id, body.force, Some(&checked))
        .await?;
    Ok(Json(done))
}

/// The subjects (type, id) of the records the request changed: of its entries a revert
/// undoes (not those it only logged, which a revert leaves alone).
async fn request_subjects(
    state: &ApiState,
    request_id: &str,
) -> Result<Vec<(String, String)>, ApiError> {
    use activity_log::Column as A;
    let subjects: Vec<(String, String)> = activity_log::Entity::find()
        .select_only()
        .column(A::SubjectType)
        .column(A::SubjectId)
        .distinct()
        // (Through the request index on PostgreSQL, as the listings do.)
        .filter(crate::api::long_text_eq(
            A::RequestId,
            request_id,
            state.db.get_database_backend(),
        ))
        .filter(A::SubjectType.ne(""))
        .filter(A::VersionId.is_not_null())
        .filter(A::Action.is_in(crate::revert::REVERTED.iter().map(|a| a.as_str())))
        .into_tuple()
        .all(&state.db)
        .await
        .map_err(Error::db("reading the records of a request"))?;
    Ok(subjects)
}

/// The version to restore.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
struct VersionPath {
    /// The version's id.
    version_id: i64,
}

/// Restore a version (registered types) or get the data to re-apply.
///
/// Needs the Read and Restore permissions and `Content-Type: application/json` (the body
/// may be empty); 415 otherwise. A version the caller may not read answers 404, as one
/// that does not exist.
#[utoipa::path(
    post,
    path = "/versions/{version_id}/restore",
    params(VersionPath),
    request_body(content = Option<RestoreRequest>, content_type = "application/json"),
    responses((status = 200, description = "restored, or the data", body = Restored), RestoreErrors)
)]
async fn restore(
    State(state): State<Arc<ApiState>>,
    parts: Parts,
    ApiPath(VersionPath { version_id }): ApiPath<VersionPath>,
    _: ApiQuery<NoQuery>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Restored>, ApiError> {
    let body = restore_request(&headers, body)?;
    let version = crate::version(&state.db, version_id)
        .await?
        .ok_or(Error::VersionNotFound(version_id))?;
    let mut access = Access::to(Permission::Read)
        .subject(&version.subject_type, Some(version.subject_id.as_str()));
    access.version_id = Some(version_id);
    // The id names nothing the caller knows: a version they may not read is one that does
    // not exist for them (the same 404), so ids cannot be probed for what they hold.
    if !state.allows(&parts, &access) {
        return Err(Error::VersionNotFound(version_id).into());
    }
    state.check(&parts, access, &[Permission::Restore])?;
    let Some(restorer) = state.restorers.get(version.subject_type.as_str()) else {
        let data = Some(version.data.clone());
        return Ok(Json(Restored {
            restored: false,
            version,
            record: None,
            data,
        }));
    };
    let mut ctx = AuditContext::current()
        .map(|c| (*c).clone())
        .unwrap_or_default();
    if let Some(reason) = body.reason {
        ctx = ctx.property("reason", reason);
    }
    let record = ctx.scope(restorer(state.db.clone(), version_id)).await?;
    Ok(Json(Restored {
        restored: true,
        version,
        record: Some(record),
        data: None,
    }))
}

/// The restore request: only JSON, even with an empty body. A browser cannot send it
/// cross-site without a CORS preflight, so a forged form post cannot restore anything.
fn restore_request(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<RestoreRequest, ApiError> {
    let request: RestoreRequest = json_body(headers, body)?;
    if request.reason.as_deref().is_some_and(|r| r.contains('\0')) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidBody,
            "`reason` must not contain a NUL character",
        ));
    }
    Ok(request)
}

/// A writing request's JSON body (empty or `null`: the default).
fn json_body<T: DeserializeOwned + Default>(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let json = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            "this endpoint takes `Content-Type: application/json` (the body may be empty)",
        ));
    }
    let body = body.map_err(|e| {
        let status = e.status();
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
            ErrorCode::PayloadTooLarge
        } else {
            ErrorCode::InvalidBody
        };
        ApiError::new(status, code, e.body_text())
    })?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    // `null` as no body, as the description's optional body allows.
    serde_json::from_slice::<Option<T>>(&body)
        .map(Option::unwrap_or_default)
        .map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidBody,
                e.to_string(),
            )
        })
}

/// `GET /dashboard` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct DashboardQuery {
    /// The window for the counts, in hours (default 24).
    #[param(minimum = 1, maximum = 8760)]
    window_hours: Option<u32>,
    /// How many recent entries (default 20, capped at 500).
    limit: Option<u64>,
}

/// Recent activity and counts per action and subject type over a window.
///
/// The counts come from hourly counts kept beside the log: whatever the log holds, a
/// window reads at most 8,760 hours of them plus the entries of its ragged ends and of
/// the last hour or two. The first call over a window of an existing log counts the
/// hours not counted yet, reading their entries once.
#[utoipa::path(
    get,
    path = "/dashboard",
    params(DashboardQuery),
    responses((status = 200, description = "the dashboard", body = Dashboard), ReadErrors)
)]
async fn dashboard(
    State(state): State<Arc<ApiState>>,
    parts: Parts,
    ApiQuery(q): ApiQuery<DashboardQuery>,
) -> Result<Json<Dashboard>, ApiError> {
    let excluded = state.unreadable_types(&parts, None);
    let hours = q.window_hours.unwrap_or(24);
    if !(1..=8760).contains(&hours) {
        return Err(ApiError::bad("window_hours must be between 1 and 8760"));
    }
    let until = Utc::now();
    let since = until - Duration::hours(i64::from(hours));
    let recent = crate::api::activity_excluding(
        &state.db,
        &Filter::new()
            .since(since)
            .limit(q.limit.unwrap_or(20).min(MAX_LIMIT)),
        &excluded,
    )
    .await?;
    // From the hourly counts: a year's window reads at most 8,760 hours of them.
    let counts = crate::rollup::counts(&state.db, since, until, &excluded).await?;
    Ok(Json(Dashboard {
        window: DashboardWindow {
            since,
            until,
            hours,
        },
        counts: DashboardCounts {
            total: counts.total,
            by_action: counts.by_action,
            by_subject_type: counts.by_subject_type,
        },
        recent: recent.items,
    }))
}

/// `GET /verify` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct VerifyQuery {
    /// Only the chains of this subject type.
    subject_type: Option<String>,
    /// Only the chains of this subject (needs `subject_type`).
    subject_id: Option<String>,
    /// Check the content of rows written at or after this time (RFC 3339).
    since: Option<DateTime<Utc>>,
    /// Check the content of rows written before this time (RFC 3339).
    until: Option<DateTime<Utc>>,
    /// Links and rows to read in this call (default 10,000, at most 100,000).
    limit: Option<u64>,
    /// Go on from the previous call's `next`.
    after: Option<String>,
}

/// The most links one `GET /verify` reads.
const MAX_VERIFY_LINKS: u64 = 100_000;

/// Verifies the hash chains: the first broken link of each chain, with the reason. One
/// call reads about `limit` links and rows at most; `next` says where the next call goes
/// on.
#[utoipa::path(
    get,
    path = "/verify",
    params(VerifyQuery),
    responses((status = 200, description = "what the walk found", body = crate::Report), ReadErrors)
)]
async fn verify(
    State(state): State<Arc<ApiState>>,
    parts: Parts,
    ApiQuery(q): ApiQuery<VerifyQuery>,
) -> Result<Json<crate::Report>, ApiError> {
    state.check(
        &parts,
        Access::to(Permission::Verify),
        &[Permission::Verify],
    )?;
    let limit = q.limit.unwrap_or(10_000);
    if !(1..=MAX_VERIFY_LINKS).contains(&limit) {
        return Err(ApiError::bad(format!(
            "limit must be between 1 and {MAX_VERIFY_LINKS}"
        )));
    }
    let mut scope = crate::VerifyScope::all().max_links(limit);
    match (&q.subject_type, &q.subject_id) {
        (Some(t), Some(id)) => {
            let access = Access::to(Permission::Verify).subject(t, Some(id));
            state.check(&parts, access, &[Permission::Read, Permission::Verify])?;
            scope = scope.subject(t.as_str(), id.as_str());
        }
        (Some(t), None) => {
            let access = Access::to(Permission::Verify).subject(t, None);
            state.check(&parts, access, &[Permission::Read, Permission::Verify])?;
            scope = scope.subject_type(t.as_str());
        }
        (None, Some(_)) => return Err(ApiError::bad("subject_id needs subject_type")),
        (None, None) => {
            // The whole trail: every registered type must be readable and verifiable.
            for t in crate::registry::subject_types() {
                let access = Access::to(Permission::Verify).subject(t, None);
                state.check(&parts, access, &[Permission::Read, Permission::Verify])?;
            }
        }
    }
    if let Some(since) = q.since {
        scope = scope.since(since);
    }
    if let Some(until) = q.until {
        scope = scope.until(until);
    }
    if let Some(after) = &q.after {
        let cursor = after
            .parse()
            .map_err(|_| ApiError::bad("after is not a cursor this endpoint gave"))?;
        scope = scope.after(cursor);
    }
    Ok(Json(crate::verify(&state.db, &scope).await?))
}

/// What the caller may do: read, restore and revert, on the trail as a whole and per
/// registered subject type (restore only where the API writes the type back). A type's
/// answer needs the trail's too: every endpoint asks about a permission with no subject
/// before it asks about the subject's type.
#[utoipa::path(
    get,
    path = "/permissions",
    responses((status = 200, description = "the caller's permissions", body = CallerPermissions), DocErrors)
)]
async fn permissions(
    State(state): State<Arc<ApiState>>,
    parts: Parts,
    _: ApiQuery<NoQuery>,
) -> Json<CallerPermissions> {
    let ask = |subject_type: Option<&str>| {
        let mut access = Access::to(Permission::Read);
        access.subject_type = subject_type;
        let may = |permission| {
            let typed = Access {
                permission,
                ..access
            };
            (subject_type.is_none() || state.allows(&parts, &Access::to(permission)))
                && state.allows(&parts, &typed)
        };
        let read = may(Permission::Read);
        let restorable = subject_type.map_or(!state.restorers.is_empty(), |t| {
            state.restorers.contains_key(t)
        });
        TypePermissions {
            read,
            restore: read && restorable && may(Permission::Restore),
            revert: read && restorable && may(Permission::Revert),
            verify: read && may(Permission::Verify),
        }
    };
    Json(CallerPermissions {
        any: ask(None),
        subject_types: crate::registry::subject_types()
            .iter()
            .map(|t| ((*t).to_owned(), ask(Some(t))))
            .collect(),
    })
}

/// This description of the API (OpenAPI 3.1).
#[utoipa::path(
    get,
    path = "/openapi.json",
    responses((status = 200, description = "the OpenAPI document", body = Object), DocErrors)
)]
async fn openapi_json(
    State(state): State<Arc<ApiState>>,
    _: ApiQuery<NoQuery>,
) -> Json<utoipa::openapi::OpenApi> {
    Json(state.openapi.clone())
}
