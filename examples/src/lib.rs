//! The example blog app as a library: its entities, its routes (with the audit middleware
//! and API) and its tables, used by the `blog` binary and by the tests of its access
//! policy.

pub mod blog;
