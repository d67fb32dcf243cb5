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
}

type AuthorizeFn = dyn Fn(&Parts, Permission) -> bool + Send + Sync;
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
/// | GET | `/openapi.json` | the OpenAPI description of these ([`openapi`](super::openapi)) |
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
                reverter: crate::Reverter::new(),
                openapi: utoipa::openapi::OpenApi::default(),
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
                let txn = crate::begin_write(&db)
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

    /// The router (paths relative to where you nest it).
    pub fn router(self) -> Router {
        // The routes and the OpenAPI document come from the same handler annotations.
        let (router, openapi) = super::handlers::routes().split_for_parts();
        let state = Arc::new(ApiState {
            openapi,
            ..self.state
        });
        router
            .fallback(not_found)
            .method_not_allowed_fallback(method_not_allowed)
            .layer(axum::middleware::from_fn_with_state(state.clone(), access))
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            .with_state(state)
    }
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
    // Restoring answers with the version's data too: it needs both permissions.
    let needed: &[Permission] = if matches!(*request.method(), Method::GET | Method::HEAD) {
        &[Permission::Read]
    } else if request.uri().path().ends_with("/revert") {
        &[Permission::Read, Permission::Revert]
    } else {
        &[Permission::Read, Permission::Restore]
    };
    let (parts, body) = request.into_parts();
    if let Some(&denied) = needed.iter().find(|p| !authorize(&parts, **p)) {
        let what = match denied {
            Permission::Read => "read the audit trail",
            Permission::Restore => "restore versions",
            Permission::Revert => "revert requests",
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
