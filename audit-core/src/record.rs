//! The records the audit trail is made of.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{Changes, SubjectId};

/// What happened to a subject: the action of an activity entry, and the event that wrote
/// a version. The words are what users read in the log; JSON and the database hold the
/// word (`"updated"`), and any word that is not one of these is [`Action::Custom`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(into = "String", from = "String")]
#[non_exhaustive]
pub enum Action {
    /// A row was inserted.
    Created,
    /// A row was updated.
    Updated,
    /// A row was deleted.
    Deleted,
    /// A row was restored to an earlier version.
    Restored,
    /// A change undone by reverting the request that made it.
    Reverted,
    /// A field changed outside the trail (raw SQL, `update_many`, another program), found
    /// at the next audited write; no causer.
    Drift,
    /// A version of a row as it already stood when auditing began (written by `backfill`
    /// or before the first audited write of a row that predates auditing).
    Baseline,
    /// A version taken on request (`snapshot`).
    Snapshot,
    /// A run of `prune` removed old entries and versions (no subject; the counts and
    /// bounds are its properties).
    Pruned,
    /// `erase` removed fields' values from a subject's trail (its properties name the
    /// fields, never the values).
    Erased,
    /// `redact_history` removed a redacted field's values from the trail written before
    /// (no subject; the subject type, the field and the counts are its properties).
    Redacted,
    /// `seal_late` sealed rows held back as late (no subject; the rows and the reason are
    /// its properties).
    SealedLate,
    /// Anything the application logs itself ("published", "exported", …).
    Custom(String),
}

impl Action {
    /// The word stored in the log.
    pub fn as_str(&self) -> &str {
        match self {
            Action::Created => "created",
            Action::Updated => "updated",
            Action::Deleted => "deleted",
            Action::Restored => "restored",
            Action::Reverted => "reverted",
            Action::Drift => "drift",
            Action::Baseline => "baseline",
            Action::Snapshot => "snapshot",
            Action::Pruned => "pruned",
            Action::Erased => "erased",
            Action::Redacted => "redacted",
            Action::SealedLate => "sealed_late",
            Action::Custom(s) => s,
        }
    }
}

/// Actions are equal when their words are: `Action::Custom("erased".into())` (as code
/// written before `Erased` was a variant builds it) equals `Action::Erased`.
impl PartialEq for Action {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Action {}

impl std::hash::Hash for Action {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl PartialEq<str> for Action {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Action {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl From<&str> for Action {
    fn from(s: &str) -> Self {
        match s {
            "created" => Action::Created,
            "updated" => Action::Updated,
            "deleted" => Action::Deleted,
            "restored" => Action::Restored,
            "reverted" => Action::Reverted,
            "drift" => Action::Drift,
            "baseline" => Action::Baseline,
            "snapshot" => Action::Snapshot,
            "pruned" => Action::Pruned,
            "erased" => Action::Erased,
            "redacted" => Action::Redacted,
            "sealed_late" => Action::SealedLate,
            other => Action::Custom(other.to_owned()),
        }
    }
}

impl From<String> for Action {
    fn from(s: String) -> Self {
        match Action::from(s.as_str()) {
            Action::Custom(_) => Action::Custom(s),
            known => known,
        }
    }
}

impl From<Action> for String {
    fn from(a: Action) -> Self {
        match a {
            Action::Custom(s) => s,
            known => known.as_str().to_owned(),
        }
    }
}

/// One entry of the activity log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActivityEntry {
    /// Row id; increases with time, used as the pagination cursor.
    pub id: i64,
    /// What happened.
    pub action: Action,
    /// The subject's type (`post`, `posts`, …).
    pub subject_type: String,
    /// The subject's id.
    pub subject_id: SubjectId,
    /// Who caused it.
    pub causer_id: Option<String>,
    /// The changed fields.
    pub changes: Changes,
    /// Free properties (the context's and the call's).
    pub properties: Option<Value>,
    /// The client's IP.
    pub ip: Option<String>,
    /// The client's User-Agent.
    pub user_agent: Option<String>,
    /// The request id.
    pub request_id: Option<String>,
    /// The version written with this entry.
    pub version_id: Option<i64>,
    /// When it was written (UTC).
    pub created_at: DateTime<Utc>,
}

/// A point-in-time JSON snapshot of a subject.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Version {
    /// Row id.
    pub id: i64,
    /// The subject's type.
    pub subject_type: String,
    /// The subject's id.
    pub subject_id: SubjectId,
    /// Per-subject counter: 1, 2, 3 …
    pub version: i64,
    /// The event that produced it (created, updated, deleted, restored, snapshot, …).
    pub event: Action,
    /// The audited fields.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub data: Map<String, Value>,
    /// Who caused it.
    pub causer_id: Option<String>,
    /// When it was written (UTC).
    pub created_at: DateTime<Utc>,
}

/// One page of a listing, in the listing's order (activity: newest first unless the
/// filter asks otherwise; a record's versions: oldest first).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Pass as `after_id` to get the next page; `None` on the last page.
    pub next_cursor: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::Action;

    /// A custom action spelt like a built-in one is that action, as the trail reads it back.
    #[test]
    fn actions_are_their_words() {
        assert_eq!(Action::Custom("erased".into()), Action::Erased);
        assert_ne!(Action::Custom("published".into()), Action::Erased);
        let set: std::collections::HashSet<Action> =
            [Action::Custom("redacted".into()), Action::Redacted].into();
        assert_eq!(set.len(), 1);
    }
}
