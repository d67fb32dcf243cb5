//! Backend-free runtime of the `audit` library: field-level [`Changes`], the [`Audited`]
//! trait that `#[derive(Audited)]` implements, the task-local [`AuditContext`], the
//! [`Filter`] for reading the trail, and the record types [`ActivityEntry`] and [`Version`].
//!
//! Applications depend on `audit-seaorm`, which re-exports everything here; this crate
//! holds what does not depend on a database.
//!
//! ```
//! use audit_core::{AuditContext, Changes};
//! use serde_json::json;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let changes = Changes::between(&json!({"title": "Hi"}), &json!({"title": "Hello"}));
//! assert_eq!(changes.get("title").unwrap().new, json!("Hello"));
//!
//! AuditContext::new()
//!     .causer("42")
//!     .scope(async {
//!         // audited writes here are attributed to causer 42
//!         assert_eq!(AuditContext::current().unwrap().causer_id.as_deref(), Some("42"));
//!     })
//!     .await;
//! # }
//! ```

mod audited;
mod changes;
mod codec;
mod context;
mod error;
mod filter;
#[cfg(feature = "openapi")]
mod openapi;
mod record;
mod snapshot;
mod subject;

#[doc(hidden)]
pub mod __private;

pub use audited::{Audited, Field, FieldMode};
pub use changes::{Change, Changes, REDACTED};
pub use context::{AuditContext, propagate, spawn, without_auditing};
pub use error::{Error, Result};
pub use filter::{DEFAULT_LIMIT, Filter, MAX_LIMIT, Order, page_limit};
pub use record::{Action, ActivityEntry, Page, Version};
pub use subject::SubjectId;
