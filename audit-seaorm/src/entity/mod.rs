//! The audit tables as SeaORM entities, for querying them with SeaORM itself.

pub mod activity_log;
pub mod baselines;
pub mod chains;
pub mod hourly;
mod names;
pub mod seal_gaps;
pub mod seal_runs;
pub mod seals;
pub mod versions;

pub use names::{TableNames, set_table_names, table_names};
