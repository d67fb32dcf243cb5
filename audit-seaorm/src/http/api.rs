//! The REST API over the audit trail.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{Method, StatusCode};
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, DatabaseConnection, EntityTrait, IntoActiveModel,
};
use serde_json::{Map, Value};

use super::error::{ApiError, ErrorCode};
use crate::{AuditedEntity, AuditedModel, Error};

/// What a request wants to do with the trail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Permission {
    /// Read activity, history, versions, the dashboard.
    Read,
    /// Restore a version (writes to the database).
    Restore,
    /// Revert a request (writes to the database).
    Revert,
    /// Verify the hash chains (`GET /verify`, which also needs `Read`): walks the
    /// tables, so it is a permission of its own.
    Verify,
}

/// What a request asks for, as the access decision sees it: the permission, and what it
/// concerns when the endpoint knows.
///
/// Every request is first asked with no subject (`subject_type: None`: may the caller use
/// this permission at all); an endpoint that concerns a record asks again with its type
/// and id (and the version or request concerned); listings (`/activity`, `/requests/{id}`,
/// `/dashboard`) leave out the entries of the registered subject types the caller may not
/// read, and refuse with 403 a filter that names one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Access<'a> {
    /// What the request wants to do.
    pub permission: Permission,
    /// The subject type concerned (`None`: any, or not known yet).
    pub subject_type: Option<&'a str>,
    /// The record concerned, when there is one.
    pub subject_id: Option<&'a str>,
    /// The version to restore.
    pub version_id: Option<i64>,
    /// The request to list or revert: set for `/requests/{id}`, `/activity?request_id=`
    /// and a revert, so that a rule about requests decides all three.
    pub request_id: Option<&'a str>,
}

impl<'a> Access<'a> {
    pub(super) fn to(permission: Permission) -> Self {
        Self {
            permission,
            subject_type: None,
            subject_id: None,
            version_id: None,
            request_id: None,
        }
    }

    pub(super) fn subject(mut self, subject_type: &'a str, subject_id: Option<&'a str>) -> Self {
        self.subject_type = Some(subject_type);
        self.subject_id = subject_id;
        self
    }
}

type AuthorizeFn = dyn Fn(&Parts, &Access<'_>) -> bool + Send + Sync;
type RestoreFuture = Pin<Box<dyn Future<Output = Result<Map<String, Value>, Error>> + Send>>;
type RestoreFn = dyn Fn(DatabaseConnection, i64) -> RestoreFuture + Send + Sync;

/// The largest request body the API accepts.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

pub(super) struct ApiState {
    pub(super) db: DatabaseConnection,
    authorize: Option<Arc<AuthorizeFn>>,
    pub(super) restorers: HashMap<&'static str, Arc<RestoreFn>>,
    /// Reverts requests of the types registered with `restorer`.
    pub(super) reverter: crate::Reverter,
    /// What `GET /openapi.json` answers.
    pub(super) openapi: utoipa::openapi::OpenApi,
}

impl ApiState {
    /// Whether the caller may do `access` (no access decision: nothing is allowed).
    pub(super) fn allows(&self, parts: &Parts, access: &Access<'_>) -> bool {
        self.authorize.as_ref().is_some_and(|f| f(parts, access))
    }

    /// 403 unless the caller may do each of `permissions` on what `access` names.
    ///
    /// A type, id or request id that ends in spaces is asked about as sent and without
    /// them: MySQL/MariaDB compare text with trailing spaces ignored (`PAD SPACE`), so
    /// `users ` reads the trail of `users`, and a rule about `users` must decide it.
    pub(super) fn check(
        &self,
        parts: &Parts,
        access: Access<'_>,
        permissions: &[Permission],
    ) -> Result<(), ApiError> {
        self.check_as_named(parts, access, permissions)?;
        let padded = |v: Option<&str>| v.is_some_and(|v| v.ends_with(' '));
        if padded(access.subject_type) || padded(access.subject_id) || padded(access.request_id) {
            fn trimmed(v: Option<&str>) -> Option<&str> {
                v.map(|v| v.trim_end_matches(' '))
            }
            let unpadded = Access {
                subject_type: trimmed(access.subject_type),
                subject_id: trimmed(access.subject_id),
                request_id: trimmed(access.request_id),
                ..access
            };
            self.check_as_named(parts, unpadded, permissions)?;
        }
        Ok(())
    }

    fn check_as_named(
        &self,
        parts: &Parts,
        access: Access<'_>,
        permissions: &[Permission],
    ) -> Result<(), ApiError> {
        for &permission in permissions {
            let asked = Access {
                permission,
                ..access
            };
            if !self.allows(parts, &asked) {
                let what = match permission {
                    Permission::Read => "read",
                    Permission::Restore => "restore",
                    Permission::Revert => "revert",
                    Permission::Verify => "verify",
                };
                let whose = access
                    .subject_type
                    .map_or(String::new(), |t| format!(" of `{t}`"));
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    ErrorCode::Forbidden,
                    format!("not allowed to {what} the audit trail{whose}"),
                ));
            }
        }
        Ok(())
    }

    /// The registered subject types the caller may not read: left out of listings. A
    /// listing of one request's entries asks with its id, as a listing of one type does.
    pub(super) fn unreadable_types(
        &self,
        parts: &Parts,
        request_id: Option<&str>,
    ) -> Vec<&'static str> {
        crate::registry::subject_types()
            .iter()
            .copied()
            .filter(|t| {
                let mut access = Access::to(Permission::Read).subject(t, None);
                access.request_id = request_id;
                self.check(parts, access, &[Permission::Read]).is_err()
            })
            .collect()
    }
}

/// Builder of the REST API router. Nest it where the trail should live:
/// `app.nest("/api/audit", AuditApi::new(db).authorize(..).router())`.
///
/// | Method | Path | Purpose |
/// |---|---|---|
/// | GET | `/activity` | filtered, paginated activity |
/// | GET | `/subjects/{type}/{id}` | a record's full history |
/// | GET | `/versions/{type}/{id}` | a record's snapshots |
/// | GET | `/subjects/{type}/{id}/at` | the record at a time |
/// | GET | `/subjects/{type}/{id}/diff` | the changes between two versions |
/// | GET | `/subjects/{type}/{id}/blame` | who last changed each field |
/// | GET | `/requests/{id}` | everything one request wrote |
/// | POST | `/requests/{id}/revert` | revert a request (registered types) |
/// | POST | `/versions/{id}/restore` | restore (registered types) or the data to re-apply |
/// | GET | `/dashboard` | recent activity and counts over a window |
/// | GET | `/verify` | check the hash chains, a bounded page of links per call (needs `Verify` and `Read`) |
/// | GET | `/permissions` | what the caller may read, restore, revert and verify, per type |
/// | GET | `/openapi.json` | the OpenAPI description of these ([`openapi`](super::openapi)) |
/// | GET | `/ui` | the web page, with [`ui`](Self::ui) (feature `ui`) |
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
    #[cfg(feature = "ui")]
    ui: bool,
}

impl std::fmt::Debug for AuditApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut restorers: Vec<&str> = self.state.restorers.keys().copied().collect();
        restorers.sort_unstable();
        let mut d = f.debug_struct("AuditApi");
        d.field("authorized", &self.state.authorize.is_some())
            .field("restorers", &restorers)
            .field("reverter", &self.state.reverter);
        #[cfg(feature = "ui")]
        d.field("ui", &self.ui);
        d.finish_non_exhaustive()
    }
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
                reverter: crate::Reverter::new(),
                openapi: utoipa::openapi::OpenApi::default(),
            },
            #[cfg(feature = "ui")]
            ui: false,
        }
    }

    /// The access decision by permission alone: called with the request parts and the
    /// permission the endpoint needs (`Read` for GETs, `Restore` for the restore POST,
    /// `Revert` for the revert POST, `Verify` besides `Read` for `GET /verify`); `false`
    /// answers 403. A rule that denies by listing (`p != Restore && p != Revert`) grants
    /// `Verify`, a walk of up to 100,000 links per call: name what it grants instead. The same answer holds for every
    /// subject type: to decide per type, use [`authorize_access`](Self::authorize_access).
    pub fn authorize(
        mut self,
        f: impl Fn(&Parts, Permission) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.state.authorize = Some(Arc::new(move |parts, access: &Access<'_>| {
            f(parts, access.permission)
        }));
        self
    }

    /// The access decision per subject: called with the request parts and what is asked
    /// for ([`Access`]: the permission, and the subject type, record, version or request
    /// when the endpoint knows them); `false` answers 403, or leaves the type's entries out
    /// of a listing.
    ///
    /// ```
    /// # async fn demo(db: sea_orm::DatabaseConnection) {
    /// use audit_seaorm::http::{Access, AuditApi, Permission};
    /// #[derive(Clone)]
    /// struct Staff { admin: bool }
    /// let api = AuditApi::new(db)
    ///     .authorize_access(|parts, access: &Access<'_>| {
    ///         let Some(staff) = parts.extensions.get::<Staff>() else { return false };
    ///         match (access.permission, access.subject_type) {
    ///             _ if staff.admin => true,
    ///             // staff read everything but the users' trail, and restore nothing
    ///             (Permission::Read, Some("users")) => false,
    ///             (Permission::Read, _) => true,
    ///             _ => false,
    ///         }
    ///     })
    ///     .router();
    /// # }
    /// ```
    pub fn authorize_access(
        mut self,
        f: impl Fn(&Parts, &Access<'_>) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.state.authorize = Some(Arc::new(f));
        self
    }

    /// Lets `POST /versions/{id}/restore` really restore versions of `E` (typed restore in a
    /// transaction) and return the restored record, and `POST /requests/{id}/revert` revert
    /// requests that changed records of `E`.
    pub fn restorer<E>(mut self) -> Self
    where
        E: EntityTrait,
        E::Model: AuditedModel + IntoActiveModel<E::ActiveModel>,
        E::ActiveModel: ActiveModelTrait<Entity = E> + ActiveModelBehavior + Send,
    {
        let f: Arc<RestoreFn> = Arc::new(|db: DatabaseConnection, version_id: i64| {
            Box::pin(async move {
                let txn = crate::transaction::begin_own(&db)
                    .await
                    .map_err(Error::db("starting the restore transaction"))?;
                let model = E::restore(&txn, version_id).await?;
                txn.commit()
                    .await
                    .map_err(Error::db("committing the restore"))?;
                Ok(audit_core::Audited::snapshot(&model)?)
            }) as RestoreFuture
        });
        self.state
            .restorers
            .insert(<E::Model as audit_core::Audited>::SUBJECT_TYPE, f);
        self.state.reverter = std::mem::take(&mut self.state.reverter).entity::<E>();
        self
    }

    /// Serves the web page at `/ui` under the API's prefix (`/api/audit/ui` when nested at
    /// `/api/audit`): the activity timeline with the API's filters, the dashboard's counts,
    /// a record's history with each change field by field, its versions side by side, and
    /// restore. The page's files are embedded in the library and served to any caller (they
    /// hold no data); everything it shows comes from the JSON API, under the same access
    /// decision, and it offers restore only where [`GET /permissions`](Self::router) allows
    /// it. The caller's credentials must travel with the browser's requests (a session
    /// cookie): the page sends no `Authorization` header of its own.
    #[cfg(feature = "ui")]
    #[cfg_attr(docsrs, doc(cfg(feature = "ui")))]
    pub fn ui(mut self) -> Self {
        self.ui = true;
        self
    }

    /// The router (paths relative to where you nest it).
    pub fn router(self) -> Router {
        // The routes and the OpenAPI document come from the same handler annotations.
        let (router, openapi) = super::handlers::routes().split_for_parts();
        let state = Arc::new(ApiState {
            openapi,
            ..self.state
        });
        let api = router
            .fallback(not_found)
            .method_not_allowed_fallback(method_not_allowed)
            .layer(axum::middleware::from_fn_with_state(state.clone(), access))
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            .layer(axum::middleware::from_fn(no_store))
            .with_state(state);
        #[cfg(feature = "ui")]
        if self.ui {
            // Outside the access layer: the page's files hold no data. A method they do
            // not take is the API's JSON 405, kept out of caches like the API's answers.
            let page = super::ui::routes().method_not_allowed_fallback(|| async {
                let mut response = method_not_allowed().await.into_response();
                keep_out_of_caches(&mut response);
                response
            });
            return api.merge(page);
        }
        api
    }
}

/// Every answer of the API, errors included, kept out of caches (the browser's disk, a
/// proxy's): they hold the trail's values, causers, addresses.
async fn no_store(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    keep_out_of_caches(&mut response);
    response
}

fn keep_out_of_caches(response: &mut Response) {
    use axum::http::{HeaderValue, header};
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}

async fn access(State(state): State<Arc<ApiState>>, request: Request, next: Next) -> Response {
    let Some(authorize) = &state.authorize else {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::AccessNotConfigured,
            "the audit API was built without an access decision (AuditApi::authorize)",
        )
        .into_response();
    };
    // Restoring answers with the version's data too: it needs both permissions. (`GET
    // /verify` checks its own permission: a path's last segment cannot tell it from a
    // subject or request whose id is `verify`.)
    // Other methods on the read routes are theirs to refuse (405), after Read.
    let post = *request.method() == Method::POST;
    let path = request.uri().path();
    let needed: &[Permission] = if post && path.ends_with("/revert") {
        &[Permission::Read, Permission::Revert]
    } else if post && path.ends_with("/restore") {
        &[Permission::Read, Permission::Restore]
    } else {
        &[Permission::Read]
    };
    let (parts, body) = request.into_parts();
    if let Some(&denied) = needed.iter().find(|p| !authorize(&parts, &Access::to(**p))) {
        let what = match denied {
            Permission::Read => "read the audit trail",
            Permission::Restore => "restore versions",
            Permission::Revert => "revert requests",
            Permission::Verify => "verify the audit trail",
        };
        return ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            format!("not allowed to {what}"),
        )
        .into_response();
    }
    // No text the API takes may hold a NUL: PostgreSQL can neither store nor compare one
    // (it would answer 500), and no subject, causer or action has one.
    let uri = &parts.uri;
    if uri.path().contains("%00") || uri.query().is_some_and(|q| q.contains("%00")) {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidParameter,
            "a path or query parameter contains a NUL character (%00)",
        )
        .into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        ErrorCode::RouteNotFound,
        "no such audit endpoint",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::MethodNotAllowed,
        "method not allowed on this endpoint",
    )
}
