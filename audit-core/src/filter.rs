//! Which entries to read from the activity log.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Action, SubjectId};

/// How many entries a page holds unless asked otherwise.
pub const DEFAULT_LIMIT: u64 = 50;
/// The most entries one page holds; larger limits are capped to this.
pub const MAX_LIMIT: u64 = 500;

/// The page size a requested limit gives: [`DEFAULT_LIMIT`] when unset, capped at
/// [`MAX_LIMIT`], at least 1.
pub fn page_limit(limit: Option<u64>) -> u64 {
    limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
}

/// Listing order: by id (the order the entries were written in), or, when the filter has
/// a time bound, by `(created_at, id)` (see [`Filter::time_ordered`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// Newest first (the default).
    #[default]
    NewestFirst,
    /// Oldest first.
    OldestFirst,
}

/// A query over the activity log. Every criterion set must hold.
///
/// Pagination: prefer the keyset cursor — pass the previous page's `next_cursor` as
/// `after_id`; its cost does not grow with the page's depth, unlike `offset`. The cursor
/// is an entry id in either order (see [`time_ordered`](Self::time_ordered)). A filter
/// with both an `offset` and an `after_id` is refused (an invalid argument): a caller
/// following `next_cursor` while keeping its offset would skip that many entries a page.
///
/// ```
/// use audit_core::Filter;
/// use audit_core::Action;
/// let filter = Filter::new().subject("posts", 7).action(Action::Updated).limit(20);
/// assert_eq!(filter, Filter::new().subject("posts", "7").action("updated").limit(20));
/// assert_eq!(filter.effective_limit(), 20);
/// assert_eq!(Filter::new().limit(1_000_000).effective_limit(), audit_core::MAX_LIMIT);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Filter {
    /// The subject's type.
    pub subject_type: Option<String>,
    /// The subject's id (usually with `subject_type`).
    pub subject_id: Option<SubjectId>,
    /// Who caused it.
    pub causer_id: Option<String>,
    /// The action.
    pub action: Option<Action>,
    /// The request id.
    pub request_id: Option<String>,
    /// Entries at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Entries strictly before this time.
    pub until: Option<DateTime<Utc>>,
    /// Page size ([`DEFAULT_LIMIT`] when unset, capped at [`MAX_LIMIT`]).
    pub limit: Option<u64>,
    /// Entries to skip (offset pagination).
    pub offset: Option<u64>,
    /// Keyset cursor: entries that come after this id in the listing order.
    pub after_id: Option<i64>,
    /// Listing order.
    pub order: Order,
}

impl Filter {
    /// Everything, newest first.
    pub fn new() -> Self {
        Self::default()
    }
    /// Entries of one subject.
    pub fn subject(mut self, subject_type: impl Into<String>, subject_id: impl ToString) -> Self {
        self.subject_type = Some(subject_type.into());
        self.subject_id = Some(SubjectId::new(subject_id.to_string()));
        self
    }
    /// Entries of one subject type.
    pub fn subject_type(mut self, subject_type: impl Into<String>) -> Self {
        self.subject_type = Some(subject_type.into());
        self
    }
    /// Entries caused by one causer.
    pub fn causer(mut self, causer_id: impl Into<String>) -> Self {
        self.causer_id = Some(causer_id.into());
        self
    }
    /// Entries with one action (an [`Action`], or its word: `"updated"`, `"published"`).
    pub fn action(mut self, action: impl Into<Action>) -> Self {
        self.action = Some(action.into());
        self
    }
    /// Entries of one request.
    pub fn request_id(mut self, request_id: impl Into<String>) -> Self {
        self.request_id = Some(request_id.into());
        self
    }
    /// Entries at or after `since` (times are stored in whole microseconds: a bound
    /// between two counts as the one below it, on every backend).
    pub fn since(mut self, since: DateTime<Utc>) -> Self {
        self.since = Some(since);
        self
    }
    /// Entries before `until` (cut to its microsecond, as `since`).
    pub fn until(mut self, until: DateTime<Utc>) -> Self {
        self.until = Some(until);
        self
    }
    /// Page size (capped at [`MAX_LIMIT`]).
    pub fn limit(mut self, limit: u64) -> Self {
        self.limit = Some(limit);
        self
    }
    /// Entries to skip.
    pub fn offset(mut self, offset: u64) -> Self {
        self.offset = Some(offset);
        self
    }
    /// Keyset cursor (the previous page's `next_cursor`).
    pub fn after_id(mut self, after_id: i64) -> Self {
        self.after_id = Some(after_id);
        self
    }
    /// Listing order.
    pub fn order(mut self, order: Order) -> Self {
        self.order = order;
        self
    }
    /// Whether the listing is ordered by `(created_at, id)` rather than by id: when `since`
    /// or `until` is set, so that a time range is read from the time indexes in their
    /// order (an index range scan) instead of by walking ids. The two orders differ only
    /// for entries written concurrently, whose times and ids may interleave. The cursor
    /// stays an entry id: the page after it starts at that entry's `(created_at, id)`.
    ///
    /// ```
    /// use audit_core::Filter;
    /// assert!(!Filter::new().action("updated").time_ordered());
    /// assert!(Filter::new().since(chrono::Utc::now()).time_ordered());
    /// ```
    pub fn time_ordered(&self) -> bool {
        self.since.is_some() || self.until.is_some()
    }
    /// The page size actually used: the limit, defaulted and capped, at least 1.
    pub fn effective_limit(&self) -> u64 {
        page_limit(self.limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A filter read from a partial input (a query string, a JSON body) leaves the rest
    /// at its default, as `Filter::new()` does.
    #[test]
    fn partial_input_deserializes() {
        let empty: Filter = serde_json::from_str("{}").unwrap();
        assert_eq!(empty, Filter::new());
        let some: Filter =
            serde_json::from_str(r#"{"causer_id": "7", "order": "oldest_first"}"#).unwrap();
        assert_eq!(some, Filter::new().causer("7").order(Order::OldestFirst));
    }
}
