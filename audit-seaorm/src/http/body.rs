//! The JSON bodies of the API's answers (and of the restore request). The OpenAPI
//! description is derived from these types: a field added here is documented.

use std::collections::BTreeMap;

use audit_core::{ActivityEntry, Version};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// `GET /activity`: one page of filtered activity.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[non_exhaustive]
pub struct ActivityPage {
    /// The entries, in the requested order.
    pub items: Vec<ActivityEntry>,
    /// Pass as `after_id` for the next page; `null` on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<i64>,
    /// The page size used (the requested limit, defaulted and capped).
    pub limit: u64,
}

/// One page of one record's trail: `GET /subjects/{subject_type}/{subject_id}` (its
/// history, oldest first: [`SubjectHistory`]) and `GET /versions/{subject_type}/{subject_id}`
/// (its snapshots, version 1 first: [`SubjectVersions`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[non_exhaustive]
pub struct SubjectPage<T> {
    /// The subject's type, as requested.
    pub subject_type: String,
    /// The subject's id, as requested.
    pub subject_id: String,
    /// The entries or snapshots, oldest first.
    pub items: Vec<T>,
    /// Pass as `after_id` for the next page; `null` on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<i64>,
    /// The page size used.
    pub limit: u64,
}

/// A page of a record's history.
pub type SubjectHistory = SubjectPage<ActivityEntry>;

/// A page of a record's snapshots.
pub type SubjectVersions = SubjectPage<Version>;

/// `GET /subjects/{subject_type}/{subject_id}/at`: a record as it stood at a time.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[non_exhaustive]
pub struct RecordAt {
    /// The subject's type, as requested.
    pub subject_type: String,
    /// The subject's id, as requested.
    pub subject_id: String,
    /// The time asked about.
    pub time: DateTime<Utc>,
    /// Whether the record existed then (created, and not deleted).
    pub exists: bool,
    /// The version in force then: the highest-numbered one written at or before `time`.
    #[schema(required = true)]
    pub version: Option<Version>,
    /// The record's audited fields then, when it existed.
    #[schema(value_type = Option<Object>, required = true)]
    pub data: Option<Map<String, Value>>,
}

/// `GET /subjects/{subject_type}/{subject_id}/diff`: the changes between two versions.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[non_exhaustive]
pub struct VersionDiff {
    /// The subject's type, as requested.
    pub subject_type: String,
    /// The subject's id, as requested.
    pub subject_id: String,
    /// The version number compared from.
    pub from: i64,
    /// The version number compared to.
    pub to: i64,
    /// `{field: {old, new}}` from `from` to `to`.
    pub changes: audit_core::Changes,
}

/// `GET /subjects/{subject_type}/{subject_id}/blame`: who last changed each field.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[non_exhaustive]
pub struct SubjectBlame {
    /// The subject's type, as requested.
    pub subject_type: String,
    /// The subject's id, as requested.
    pub subject_id: String,
    /// For each field the trail has seen change, the last entry that changed it.
    pub fields: BTreeMap<String, crate::Blame>,
    /// Whether every entry was read: `false` when the record has more than
    /// [`MAX_BLAME_ENTRIES`](super::MAX_BLAME_ENTRIES) entries, in which case a field whose
    /// last change is older than those is missing from `fields`.
    pub complete: bool,
}

/// `POST /versions/{version_id}/restore`: the restored record (types registered with
/// `AuditApi::restorer`) or the data to re-apply.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[non_exhaustive]
pub struct Restored {
    /// Whether the record was written back (`record` is set) or not (`data` is set).
    pub restored: bool,
    /// The version restored.
    pub version: Version,
    /// The record as restored, when `restored`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object, required = false)]
    pub record: Option<Map<String, Value>>,
    /// The version's data to re-apply, when not `restored`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object, required = false)]
    pub data: Option<Map<String, Value>>,
}

/// `GET /dashboard`: counts over a window and its most recent entries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[non_exhaustive]
pub struct Dashboard {
    /// The window counted.
    pub window: DashboardWindow,
    /// The counts over the window.
    pub counts: DashboardCounts,
    /// The newest entries of the window, newest first.
    pub recent: Vec<ActivityEntry>,
}

/// The window of a `Dashboard`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[non_exhaustive]
pub struct DashboardWindow {
    /// Its start (inclusive).
    pub since: DateTime<Utc>,
    /// Its end: when the dashboard was read.
    pub until: DateTime<Utc>,
    /// Its length in hours.
    pub hours: u32,
}

/// The counts of a `Dashboard`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[non_exhaustive]
pub struct DashboardCounts {
    /// Entries in the window.
    pub total: i64,
    /// Entries per action.
    pub by_action: BTreeMap<String, i64>,
    /// Entries per subject type.
    pub by_subject_type: BTreeMap<String, i64>,
}

/// `POST /requests/{request_id}/revert` body: optional, and so is its field.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RevertRequest {
    /// Revert even over later changes of the same fields (default false: 409).
    #[serde(default)]
    pub(super) force: bool,
}

/// `POST /versions/{version_id}/restore` body: optional, and so is its field.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RestoreRequest {
    /// Why: stored in the restore entry's properties.
    pub(super) reason: Option<String>,
}

/// `GET /permissions`: what the caller may do, as the access decision answers it. The web
/// page shows only what this allows (a restore button only where `restore` is true); every
/// endpoint still decides for itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[non_exhaustive]
pub struct CallerPermissions {
    /// The permissions asked with no subject (may the caller use them at all).
    pub any: TypePermissions,
    /// Per registered subject type (every `#[derive(Audited)]` model of the program).
    pub subject_types: BTreeMap<String, TypePermissions>,
}

/// The permissions of a caller on one subject type (or on the trail as a whole).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[non_exhaustive]
pub struct TypePermissions {
    /// May read the trail.
    pub read: bool,
    /// May restore versions, and the API writes them back (`AuditApi::restorer` was given
    /// for the type; for the trail as a whole: for any type).
    pub restore: bool,
    /// May revert requests that changed the type.
    pub revert: bool,
    /// May verify the type's hash chains (`GET /verify`).
    pub verify: bool,
}
