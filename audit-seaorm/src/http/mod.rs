//! HTTP: a REST API over the audit trail and a request-context middleware (axum /
//! tower). Available with the `axum` feature.
//!
//! Every answer is one of the typed bodies here ([`ActivityPage`], [`Restored`],
//! [`ErrorBody`], …), and the OpenAPI description ([`openapi`], also served at
//! `/openapi.json`) is derived from those types and from the handlers' route annotations,
//! with `utoipa`.
//!
//! ```
//! # async fn demo(db: sea_orm::DatabaseConnection) -> std::io::Result<()> {
//! use audit_seaorm::http::{AuditApi, AuditLayer};
//! use std::net::SocketAddr;
//!
//! #[derive(Clone)]
//! struct User(String); // put in the extensions by your authentication
//!
//! let app = axum::Router::new()
//!     // .route("/posts", post(create_post)) ... your routes
//!     .nest(
//!         "/api/audit",
//!         AuditApi::new(db.clone())
//!             .authorize(|parts, _| parts.extensions.get::<User>().is_some_and(|u| u.0 == "admin"))
//!             .router(),
//!     )
//!     .layer(AuditLayer::new().causer_from(|parts| parts.extensions.get::<User>().map(|u| u.0.clone())));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! # let _ = || async move {
//! axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await
//! # };
//! # Ok(())
//! # }
//! ```

mod api;
mod body;
mod error;
mod handlers;
mod middleware;
mod openapi;
#[cfg(feature = "ui")]
mod ui;

pub use api::{Access, AuditApi, MAX_BODY_BYTES, Permission};
pub use body::{
    ActivityPage, CallerPermissions, Dashboard, DashboardCounts, DashboardWindow, RecordAt,
    Restored, SubjectBlame, SubjectHistory, SubjectPage, SubjectVersions, TypePermissions,
    VersionDiff,
};
pub use error::{ApiError, ErrorBody, ErrorCode, ErrorDetail};
pub use handlers::{MAX_BLAME_ENTRIES, MAX_OFFSET};
/// The `ipnet` this API takes ([`AuditLayer::trusted_proxy_ranges`]), so that callers need
/// not pin the same version.
pub use ipnet;
pub use middleware::{
    AuditLayer, AuditService, DEFAULT_MAX_USER_AGENT, ForwardedHeader, MAX_USER_ID_HEADER,
    REQUEST_ID_HEADER, USER_ID_HEADER, valid_request_id,
};
pub use openapi::openapi;
/// The `utoipa` whose `OpenApi` [`openapi`] returns, so that callers need not pin the same
/// version.
pub use utoipa;
