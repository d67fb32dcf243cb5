//! Errors of the backend-free runtime.

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong while diffing, snapshotting or restoring a model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A field value could not be turned into JSON.
    #[error("cannot serialize field `{field}` of `{subject_type}` to JSON: {source}")]
    Serialize {
        /// The subject type of the model.
        subject_type: &'static str,
        /// The field that failed.
        field: &'static str,
        /// What serde said.
        #[source]
        source: serde_json::Error,
    },
    /// A stored snapshot no longer fits the model (a field was removed, retyped, or added
    /// without a default since the snapshot was taken).
    #[error("snapshot of `{subject_type}` does not fit the model: field `{field}` {reason}")]
    SnapshotMismatch {
        /// The subject type of the model.
        subject_type: &'static str,
        /// The field concerned.
        field: String,
        /// Why it does not fit.
        reason: String,
    },
}
