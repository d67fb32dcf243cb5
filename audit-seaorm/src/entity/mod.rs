//! The audit tables as SeaORM entities, for querying them with SeaORM itself.

pub mod activity_log;
pub mod baselines;
pub mod versions;
