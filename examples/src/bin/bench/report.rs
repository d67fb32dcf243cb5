//! The markdown report: its header, its lines (echoed to stdout) and the targets table.

use chrono::Utc;

use crate::cli::Options;
use crate::setup::{Backend, machine, server_version};

/// One target of the report's last table.
struct Target {
    name: String,
    met: bool,
    detail: String,
}

/// The report being written: its text so far and the targets checked by the sections.
#[derive(Default)]
pub struct Report {
    text: String,
    targets: Vec<Target>,
}

impl Report {
    /// Appends a line, and prints it.
    pub fn line(&mut self, s: impl AsRef<str>) {
        println!("{}", s.as_ref());
        self.text.push_str(s.as_ref());
        self.text.push('\n');
    }

    /// Records a target for the final table: whether it was `met`, and the measured value.
    pub fn target(&mut self, name: impl Into<String>, met: bool, detail: impl Into<String>) {
        self.targets.push(Target {
            name: name.into(),
            met,
            detail: detail.into(),
        });
    }

    /// The title, the machine, the backends' versions and the command line.
    pub async fn header(&mut self, backends: &[Backend], opts: &Options) {
        self.line("# Benchmarks");
        self.line("");
        self.line(format!(
            "Run {} on {}.",
            Utc::now().format("%Y-%m-%d %H:%M UTC"),
            machine()
        ));
        for b in backends {
            self.line(format!("- {}: {}", b.name, server_version(&b.db).await));
        }
        self.line("");
        // The options as given, so that the run can be repeated.
        let mut args = format!(
            "--ops {} --rows {} --seconds {} --backfill-rows {} --dashboard-rows {} --chain-rows {}",
            opts.ops,
            opts.rows,
            opts.seconds,
            opts.backfill_rows,
            opts.dashboard_rows,
            opts.chain_rows
        );
        for section in &opts.section {
            args.push_str(&format!(" --section {section}"));
        }
        if opts.skip_big_log {
            args.push_str(" --skip-big-log");
        }
        if opts.skip_history {
            args.push_str(" --skip-history");
        }
        if let Some(only) = &opts.only {
            args.push_str(&format!(" --only {only}"));
        }
        self.line(format!(
            "Command: `cargo run --release -p audit-examples --bin bench -- {args}` \
             (PostgreSQL/MySQL from `AUDIT_BENCH_POSTGRES_URL` / `AUDIT_BENCH_MYSQL_URL`). \
             Figures are medians of per-operation times over {} operations after a warm-up.",
            opts.ops
        ));
    }

    /// Section 2: where the diff and snapshot figures are measured now.
    pub fn micro_pointer(&mut self) {
        self.line("");
        self.line("## 2. Diff and snapshot (12-field model, in process)");
        self.line("");
        self.line(
            "Not measured by this program: run `cargo bench -p audit-examples --bench micro` (criterion).",
        );
    }

    /// Appends the table of the targets recorded so far, and returns the whole text.
    pub fn finish(mut self) -> String {
        self.line("");
        self.line("## Targets");
        self.line("");
        self.line("| target | result | met |");
        self.line("|---|---|---|");
        for t in std::mem::take(&mut self.targets) {
            self.line(format!(
                "| {} | {} | {} |",
                t.name,
                t.detail,
                if t.met { "yes" } else { "**no**" }
            ));
        }
        self.text
    }
}
