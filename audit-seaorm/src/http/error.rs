//! The JSON error every failure of the API answers with, and its OpenAPI responses.

use std::collections::BTreeMap;

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::openapi::{RefOr, ResponseBuilder, content::Content, response::Response as Doc};
use utoipa::{IntoResponses, ToSchema};

use crate::Error;

/// What went wrong, as the `code` of an error body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// 400: a query or path parameter is unknown or malformed.
    InvalidParameter,
    /// 400: the request body is not the JSON the endpoint takes.
    InvalidBody,
    /// 403: the router was built without [`AuditApi::authorize`](super::AuditApi::authorize).
    AccessNotConfigured,
    /// 403: the access decision refused the request.
    Forbidden,
    /// 404: no such version.
    NotFound,
    /// 404: no such endpoint.
    RouteNotFound,
    /// 405: the endpoint does not take this method.
    MethodNotAllowed,
    /// 409: the version cannot be restored onto its model, or the database refused the
    /// row by a constraint (a row it refers to is gone, a unique value is taken).
    CannotRestore,
    /// 409: strict mode refused a write outside a transaction.
    StrictMode,
    /// 409: later changes touched what the request changed (`conflicts` lists them).
    RevertConflicts,
    /// 409: the request changed records of a type the API cannot revert, or records whose
    /// state before it the trail no longer holds, or its id was used by requests of more
    /// than one causer.
    CannotRevert,
    /// 410: the record's state at that time was pruned from the trail.
    StatePruned,
    /// 410: the record's trail starts after that time, with its baseline (the row as
    /// auditing first saw it).
    StateBeforeTrail,
    /// 413: the body is larger than [`MAX_BODY_BYTES`](super::MAX_BODY_BYTES).
    PayloadTooLarge,
    /// 415: restore without `Content-Type: application/json`.
    UnsupportedMediaType,
    /// 500: a database failure (details in the server's `tracing` log).
    Internal,
}

/// The body of every error response: `{"error": {"code", "message"}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[non_exhaustive]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// The `error` of an `ErrorBody`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[non_exhaustive]
pub struct ErrorDetail {
    /// What went wrong, for programs.
    pub code: ErrorCode,
    /// What went wrong, for people.
    pub message: String,
    /// `revert_conflicts`: the later changes in the way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflicts: Option<Vec<crate::Conflict>>,
}

/// A failed request: answers with its status and an [`ErrorBody`].
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: ErrorCode,
    message: String,
    conflicts: Option<Vec<crate::Conflict>>,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            conflicts: None,
        }
    }

    pub(super) fn bad(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidParameter,
            message,
        )
    }

    /// The HTTP status it answers with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The error's code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The error's message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
                conflicts: self.conflicts,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::VersionNotFound(_)
            | Error::VersionNumberNotFound { .. }
            | Error::RequestNotFound(_)
            | Error::NoTrail { .. } => {
                Self::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, e.to_string())
            }
            Error::RevertConflicts(ref conflicts) => {
                let conflicts = conflicts.clone();
                let mut error = Self::new(
                    StatusCode::CONFLICT,
                    ErrorCode::RevertConflicts,
                    e.to_string(),
                );
                error.conflicts = Some(conflicts);
                error
            }
            Error::NotRevertible(_) | Error::NoStateBefore { .. } => {
                Self::new(StatusCode::CONFLICT, ErrorCode::CannotRevert, e.to_string())
            }
            // Without the causers and the record: the caller was checked for neither.
            Error::RequestShared { ref request_id, .. } => Self::new(
                StatusCode::CONFLICT,
                ErrorCode::CannotRevert,
                format!(
                    "request `{request_id}` has entries of more than one causer: its id was \
                     used by more than one request; nothing reverted"
                ),
            ),
            Error::RequestChanged { ref request_id, .. } => Self::new(
                StatusCode::CONFLICT,
                ErrorCode::CannotRevert,
                format!(
                    "request `{request_id}` changed more records since they were checked: \
                     nothing reverted; try again"
                ),
            ),
            Error::StatePruned { .. } => {
                Self::new(StatusCode::GONE, ErrorCode::StatePruned, e.to_string())
            }
            Error::StateBeforeTrail { .. } => {
                Self::new(StatusCode::GONE, ErrorCode::StateBeforeTrail, e.to_string())
            }
            Error::SubjectIdTooLong { .. }
            | Error::NameTooLong { .. }
            | Error::TrailingSpace { .. }
            | Error::InvalidArgument(_) => Self::bad(e.to_string()),
            Error::CursorNotFound(_) => Self::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidParameter,
                e.to_string(),
            ),
            Error::SubjectMismatch { .. }
            | Error::Model(_)
            | Error::KeyMatchesAnother { .. }
            | Error::RestoreRefused { .. } => Self::new(
                StatusCode::CONFLICT,
                ErrorCode::CannotRestore,
                e.to_string(),
            ),
            Error::NotInTransaction { .. } => {
                Self::new(StatusCode::CONFLICT, ErrorCode::StrictMode, e.to_string())
            }
            other => {
                tracing::error!(error = %other, "audit API: database failure");
                // What failed is named; the driver's text (which may quote data or name
                // hosts) stays in the server's log.
                let message = match &other {
                    Error::Database { context, .. } => {
                        format!("database failure while {context}; see the server logs")
                    }
                    _ => "internal error, see the server logs".to_owned(),
                };
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorCode::Internal,
                    message,
                )
            }
        }
    }
}

/// The documented error responses, each an [`ErrorBody`].
fn error_responses(statuses: &[(u16, &str)]) -> BTreeMap<String, RefOr<Doc>> {
    let content = Content::new(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
        ErrorBody::name(),
    ))));
    statuses
        .iter()
        .map(|&(status, description)| {
            let response = ResponseBuilder::new()
                .description(description)
                .content("application/json", content.clone())
                .build();
            (status.to_string(), RefOr::T(response))
        })
        .collect()
}

const FORBIDDEN: (u16, &str) = (403, "`forbidden` or `access_not_configured`");
const INTERNAL: (u16, &str) = (500, "`internal`: a database failure");

/// The errors of the read endpoints.
pub(super) struct ReadErrors;

impl IntoResponses for ReadErrors {
    fn responses() -> BTreeMap<String, RefOr<Doc>> {
        error_responses(&[
            (
                400,
                "`invalid_parameter`: an unknown or malformed parameter",
            ),
            FORBIDDEN,
            INTERNAL,
        ])
    }
}

/// The errors of `.../diff`.
pub(super) struct DiffErrors;

impl IntoResponses for DiffErrors {
    fn responses() -> BTreeMap<String, RefOr<Doc>> {
        error_responses(&[
            (
                400,
                "`invalid_parameter`: an unknown or malformed parameter",
            ),
            FORBIDDEN,
            (
                404,
                "`not_found`: the record has no version of that number (never written, or \
                 pruned)",
            ),
            INTERNAL,
        ])
    }
}

/// The errors of the endpoints that read a record at a time.
pub(super) struct AtErrors;

impl IntoResponses for AtErrors {
    fn responses() -> BTreeMap<String, RefOr<Doc>> {
        error_responses(&[
            (
                400,
                "`invalid_parameter`: an unknown or malformed parameter",
            ),
            FORBIDDEN,
            (
                410,
                "`state_pruned`: the record's versions up to that time were pruned; \
                 `state_before_trail`: its trail starts later, with its baseline",
            ),
            INTERNAL,
        ])
    }
}

/// The errors of the restore endpoint.
pub(super) struct RestoreErrors;

/// The errors of `POST /requests/{request_id}/revert`.
pub(super) struct RevertErrors;

impl IntoResponses for RevertErrors {
    fn responses() -> BTreeMap<String, RefOr<Doc>> {
        error_responses(&[
            (400, "`invalid_parameter` or `invalid_body`"),
            FORBIDDEN,
            (404, "`not_found`: no change was made under that request id"),
            (
                409,
                "`revert_conflicts` (with `conflicts`), `cannot_revert` or `strict_mode`",
            ),
            (413, "`payload_too_large`"),
            (415, "`unsupported_media_type`: not `application/json`"),
            INTERNAL,
        ])
    }
}

impl IntoResponses for RestoreErrors {
    fn responses() -> BTreeMap<String, RefOr<Doc>> {
        error_responses(&[
            (400, "`invalid_parameter` or `invalid_body`"),
            FORBIDDEN,
            (404, "`not_found`: no such version"),
            (409, "`cannot_restore` or `strict_mode`"),
            (413, "`payload_too_large`"),
            (415, "`unsupported_media_type`: not `application/json`"),
            INTERNAL,
        ])
    }
}

/// The errors of the description itself.
pub(super) struct DocErrors;

impl IntoResponses for DocErrors {
    fn responses() -> BTreeMap<String, RefOr<Doc>> {
        error_responses(&[
            (400, "`invalid_parameter`: it takes no parameter"),
            FORBIDDEN,
        ])
    }
}
