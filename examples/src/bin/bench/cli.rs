//! Command-line options. An unknown flag, a missing value or a number that does not parse
//! is a usage error (exit code 2), not a silent default.

use clap::Parser;
use clap::builder::RangedU64ValueParser;

/// What auditing costs, measured against plain SeaORM (and a PostgreSQL trigger).
///
/// PostgreSQL and MySQL/MariaDB are included when `AUDIT_BENCH_POSTGRES_URL` /
/// `AUDIT_BENCH_MYSQL_URL` are set.
#[derive(Debug, Parser)]
#[command(name = "bench")]
pub struct Options {
    /// Writes per measurement.
    #[arg(long, value_name = "N", default_value_t = 300,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    pub ops: usize,
    /// How plain, audited and trigger writes take turns in section 1: `write` (each write
    /// of one kind followed by one of the next) or `round` (sixty-odd of one kind in a row).
    #[arg(long, value_enum, default_value_t = crate::writes::Interleave::Write)]
    pub interleave: crate::writes::Interleave,
    /// Size of the big log (activity rows).
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    pub rows: u64,
    /// Length of the throughput run, in seconds.
    #[arg(long, value_name = "N", default_value_t = 10,
          value_parser = RangedU64ValueParser::<u64>::new().range(1..))]
    pub seconds: u64,
    /// File the markdown report is written to.
    #[arg(long, value_name = "FILE", default_value = "BENCHMARKS.md")]
    pub out: String,
    /// Skip the queries on a big log.
    #[arg(long)]
    pub skip_big_log: bool,
    /// Skip the history questions (section 6).
    #[arg(long)]
    pub skip_history: bool,
    /// Rows given a baseline by `backfill` on PostgreSQL; 0 skips it.
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    pub backfill_rows: u64,
    /// Size of the PostgreSQL log of the time-filter and dashboard section (the other
    /// backends: 1,000,000).
    #[arg(long, value_name = "N", default_value_t = 10_000_000)]
    pub dashboard_rows: u64,
    /// Rows of the PostgreSQL trail sealed and verified in the tamper-evidence section
    /// (ten per subject; the other backends: a tenth of it).
    #[arg(long, value_name = "N", default_value_t = 1_000_000,
          value_parser = RangedU64ValueParser::<u64>::new().range(10..))]
    pub chain_rows: u64,
    /// Only these sections (repeatable): writes, big-log, throughput, backfill, history,
    /// bulk, prune, dashboard, chains.
    #[arg(long, value_name = "NAME", value_parser = ["writes", "big-log", "throughput", "backfill", "history", "bulk", "prune", "dashboard", "chains"])]
    pub section: Vec<String>,
    /// Only the backends whose name contains NAME (any case), e.g. `postgres`.
    #[arg(long, value_name = "NAME")]
    pub only: Option<String>,
}
