//! Which restore is writing: set by a typed restore (or a revert) around its write, so
//! that the hook logs "restored" or "reverted" (with what it restored) instead of
//! "updated", "created" or "deleted".

use std::future::Future;

use audit_core::Action;
use serde_json::Value;

/// The restore in progress.
#[derive(Clone)]
pub(crate) struct Restoring {
    pub subject_type: &'static str,
    pub subject_id: String,
    /// The action logged: `restored`, or `reverted` for a request's revert.
    pub action: Action,
    /// The entry's properties (an object).
    pub properties: Value,
}

tokio::task_local! {
    static RESTORING: Restoring;
}

impl Restoring {
    /// Runs the restore's write with this marker in scope.
    pub(crate) async fn scope<F: Future>(self, write: F) -> F::Output {
        RESTORING.scope(self, write).await
    }

    /// The restore in progress, when it is of this subject.
    pub(crate) fn current(subject_type: &str, subject_id: &str) -> Option<Restoring> {
        RESTORING
            .try_with(|r| {
                (r.subject_type == subject_type && r.subject_id == subject_id).then(|| r.clone())
            })
            .ok()
            .flatten()
    }
}
