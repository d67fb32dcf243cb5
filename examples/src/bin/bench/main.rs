//! What auditing costs, measured against plain SeaORM (and a PostgreSQL trigger) in one run.
//!
//! ```text
//! cargo run --release -p audit-examples --bin bench            # SQLite file + memory
//! AUDIT_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres \
//! AUDIT_BENCH_MYSQL_URL=mysql://root@127.0.0.1:3306/test \
//!   cargo run --release -p audit-examples --bin bench          # all four backends
//! cargo run --release -p audit-examples --bin bench -- --help  # the options
//! cargo bench -p audit-examples --bench micro                  # diff and snapshot (criterion)
//! ```
//!
//! Options: `--ops N` (writes per measurement, default 300), `--rows N` (size of the big
//! log, default 1000000), `--seconds N` (throughput run, default 10), `--out FILE`
//! (default `BENCHMARKS.md`), `--skip-big-log`, `--backfill-rows N` (rows given a baseline
//! by `backfill` on PostgreSQL, default 1000000; 0 skips it), `--only NAME` (backends whose
//! name contains NAME, e.g. `postgres`), `--skip-history`. An unknown option or a value that does not parse
//! is a usage error. Prints a markdown report and writes it to the output file. Every
//! figure is a median of per-operation times after a warm-up, and every audited figure
//! stands next to its plain baseline measured in the same run.
//!
//! One module per section of the report: [`writes`] (1: write overhead and round trips),
//! [`big_log`] (3: queries on a big log), [`throughput`] (4), [`backfill`] (5),
//! [`history`] (6: time travel, diffs, blame, revert at 1,000 versions), [`bulk`] (7: bulk
//! writes against plain bulk calls and hooked single writes), [`prune`] (8: retention on an
//! unpartitioned PostgreSQL table, alone and under writers), [`dashboard`] (12: time
//! filters and the dashboard at 10,000,000 rows on PostgreSQL), [`chains`] (15: seal,
//! verify and checkpoint rates; a sealing job beside writers). Section 2,
//! the in-process diff and snapshot micro-benchmarks, is `benches/micro.rs`, run by
//! criterion.

#[macro_use]
mod common;
mod backfill;
mod big_log;
mod bulk;
mod chains;
mod cli;
mod dashboard;
mod entities;
mod history;
mod prune;
mod report;
mod setup;
mod throughput;
mod writes;

use clap::Parser as _;

use cli::Options;
use report::Report;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let opts = Options::parse();
    let backends = setup::backends(opts.only.as_deref()).await?;
    let mut r = Report::default();
    r.header(&backends, &opts).await;
    let run = |name: &str| opts.section.is_empty() || opts.section.iter().any(|s| s == name);
    if run("writes") {
        writes::section(&mut r, &backends, opts.ops, opts.interleave).await?;
        r.micro_pointer();
    }
    if run("big-log") && !opts.skip_big_log {
        big_log::section(&mut r, &backends, opts.rows).await?;
    }
    if run("throughput") {
        throughput::section(&mut r, &backends, opts.seconds).await?;
    }
    if run("backfill") {
        backfill::section(&mut r, &backends, opts.backfill_rows).await?;
    }
    if run("history") && !opts.skip_history {
        history::section(&mut r, &backends).await?;
    }
    if run("bulk") {
        bulk::section(&mut r, &backends).await?;
    }
    if run("prune") {
        prune::section(&mut r, &backends, opts.rows).await?;
    }
    if run("dashboard") {
        dashboard::section(&mut r, &backends, opts.dashboard_rows).await?;
    }
    if run("chains") {
        chains::section(&mut r, &backends, opts.chain_rows).await?;
    }
    std::fs::write(&opts.out, r.finish())?;
    eprintln!("\nwritten to {}", opts.out);
    Ok(())
}
