//! `audit`: the trail's tamper evidence from the command line.
//!
//! ```text
//! audit keygen --out key.hex                  # a signing key (keep it secret)
//! audit seal --database-url URL               # link new rows into their chains
//! audit seal-late --database-url URL --row activity_log:4711 --reason "…"
//!                                             # seal rows held back as late, once checked
//! audit checkpoint --database-url URL --key-file key.hex > checkpoint.json
//! audit verify --database-url URL [--subject-type T [--subject-id ID]]
//!              [--checkpoint checkpoint.json --public-key HEX]
//! ```
//!
//! With the application's own table names: `--table-prefix acme_` (or `--tables
//! LOG,VERSIONS,BASELINES`) before or after the command.
//!
//! `verify` prints each broken link and exits 1 when it found any (or when the trail no
//! longer matches the checkpoint), 2 on an error, 0 otherwise.

use std::path::PathBuf;
use std::process::ExitCode;

use audit_seaorm::ed25519_dalek::{SigningKey, VerifyingKey};
use audit_seaorm::entity::{TableNames, set_table_names};
use audit_seaorm::{Checkpoint, VerifyScope};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "audit",
    about = "Seal, checkpoint and verify the audit trail's hash chains"
)]
struct Cli {
    /// The audit tables' names start with this (`TableNames::prefixed`: `acme_` for
    /// `acme_activity_log`, `acme_versions`, …), as the application set them.
    #[arg(long, global = true, conflicts_with = "tables")]
    table_prefix: Option<String>,
    /// The audit tables' own names (`TableNames::new`), as the application set them.
    #[arg(long, global = true, value_name = "LOG,VERSIONS,BASELINES", value_parser = parse_tables)]
    tables: Option<(String, String, String)>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Writes a new Ed25519 signing key (hex) to a file and prints its public key.
    Keygen {
        /// Where to write the key; it must not exist.
        #[arg(long)]
        out: PathBuf,
    },
    /// Links the rows written since the last run into their chains.
    Seal {
        /// The application's database (default: the `DATABASE_URL` environment variable,
        /// which keeps the password out of the process list).
        #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
        database_url: String,
    },
    /// Seals rows held back as late (`verify` reports them as inserted) once you have
    /// checked them; a `sealed_late` entry records them and the reason.
    SealLate {
        /// The application's database (default: the `DATABASE_URL` environment variable,
        /// which keeps the password out of the process list).
        #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
        database_url: String,
        /// A row to seal, as TABLE:ID (`activity_log:4711`, `versions:2208`); repeatable.
        #[arg(long = "row", value_name = "TABLE:ID", required = true, value_parser = parse_row)]
        rows: Vec<(String, i64)>,
        /// Why these rows are genuine (kept in the `sealed_late` entry).
        #[arg(long)]
        reason: String,
    },
    /// Seals, then signs every chain head; prints the checkpoint (JSON) to keep elsewhere.
    Checkpoint {
        /// The application's database (default: the `DATABASE_URL` environment variable,
        /// which keeps the password out of the process list).
        #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
        database_url: String,
        /// The signing key written by `keygen`.
        #[arg(long)]
        key_file: PathBuf,
    },
    /// Walks the chains; exits 1 when a link is broken.
    Verify {
        /// The application's database (default: the `DATABASE_URL` environment variable,
        /// which keeps the password out of the process list).
        #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
        database_url: String,
        /// Only this subject type's chains.
        #[arg(long)]
        subject_type: Option<String>,
        /// Only this subject's chains (with --subject-type).
        #[arg(long, requires = "subject_type")]
        subject_id: Option<String>,
        /// Also check the trail against this checkpoint (JSON, as `checkpoint` printed).
        #[arg(long, requires = "public_key")]
        checkpoint: Option<PathBuf>,
        /// The public key (hex) the checkpoint must be signed with.
        #[arg(long, requires = "checkpoint")]
        public_key: Option<String>,
        /// Ranges of chains walked at once, each on a connection of its own.
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
        parallel: u16,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // The table flags as given, for the commands this one suggests.
    let quoted = |v: &str| {
        if !v.is_empty()
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_,.-".contains(c))
        {
            v.to_owned()
        } else {
            format!("'{}'", v.replace('\'', r"'\''"))
        }
    };
    let table_flags = match (&cli.table_prefix, &cli.tables) {
        (Some(prefix), _) => format!(" --table-prefix {}", quoted(prefix)),
        (None, Some((log, versions, baselines))) => {
            format!(
                " --tables {}",
                quoted(&format!("{log},{versions},{baselines}"))
            )
        }
        (None, None) => String::new(),
    };
    let names = match (cli.table_prefix, cli.tables) {
        (Some(prefix), _) => Some(TableNames::prefixed(&prefix)),
        (None, Some((log, versions, baselines))) => Some(TableNames::new(log, versions, baselines)),
        (None, None) => None,
    };
    if let Some(names) = names
        && let Err(e) = set_table_names(names)
    {
        eprintln!("audit: {e}");
        return ExitCode::from(2);
    }
    match run(cli.command, &table_flags).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("audit: {e}");
            ExitCode::from(2)
        }
    }
}

type Fallible<T> = Result<T, Box<dyn std::error::Error>>;

/// A line on standard output. A reader that stopped reading (`audit verify | head -1`)
/// takes no more lines and the command's exit status stands, where `println!` would
/// panic; any other failure to write is the command's error.
macro_rules! out {
    ($($arg:tt)*) => {
        line(format_args!($($arg)*))?
    };
}

fn line(args: std::fmt::Arguments<'_>) -> Fallible<()> {
    use std::io::Write;
    match writeln!(std::io::stdout().lock(), "{args}") {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.map_err(|e| format!("writing to standard output: {e}").into()),
    }
}

async fn connect(url: &str) -> Fallible<sea_orm::DatabaseConnection> {
    // No idle timeout or lifetime: sqlx 0.9.0's pool maintenance task can spin forever on a
    // miscounted idle queue (transact-rs/sqlx#3645), and a command must be able to exit.
    let mut options = sea_orm::ConnectOptions::new(url);
    options
        .idle_timeout(None::<std::time::Duration>)
        .max_lifetime(None::<std::time::Duration>);
    sea_orm::Database::connect(options).await.map_err(|e| {
        let message = audit_examples::without_credentials(&e.to_string(), url);
        format!("connecting to the database: {message}").into()
    })
}

/// `LOG,VERSIONS,BASELINES`.
fn parse_tables(text: &str) -> Result<(String, String, String), String> {
    match text.split(',').map(str::trim).collect::<Vec<_>>()[..] {
        [log, versions, baselines] if ![log, versions, baselines].contains(&"") => {
            Ok((log.to_owned(), versions.to_owned(), baselines.to_owned()))
        }
        _ => Err(format!(
            "`{text}` is not LOG,VERSIONS,BASELINES (three table names)"
        )),
    }
}

/// `TABLE:ID`.
fn parse_row(text: &str) -> Result<(String, i64), String> {
    let (table, id) = text
        .rsplit_once(':')
        .ok_or_else(|| format!("`{text}` is not TABLE:ID"))?;
    let id = id
        .parse()
        .map_err(|_| format!("`{id}` in `{text}` is not a row id"))?;
    Ok((table.to_owned(), id))
}

fn hex32(text: &str, what: &str) -> Fallible<[u8; 32]> {
    let mut out = [0u8; 32];
    const_hex::decode_to_slice(text, &mut out)
        .map_err(|_| format!("{what} is not 32 bytes of hex"))?;
    Ok(out)
}

/// Runs a command; `table_flags` are the table names' flags as given (empty, or starting
/// with a space), repeated in the commands it suggests.
async fn run(command: Command, table_flags: &str) -> Fallible<ExitCode> {
    match command {
        Command::Keygen { out } => {
            let mut secret = [0u8; 32];
            getrandom::fill(&mut secret).map_err(|e| format!("no randomness: {e}"))?;
            let key = SigningKey::from_bytes(&secret);
            let mut file = std::fs::OpenOptions::new();
            file.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut file, 0o600);
            let mut file = file
                .open(&out)
                .map_err(|e| format!("writing {}: {e}", out.display()))?;
            std::io::Write::write_all(&mut file, const_hex::encode(secret).as_bytes())?;
            out!("{}", const_hex::encode(key.verifying_key().to_bytes()));
        }
        Command::Seal { database_url } => {
            let db = connect(&database_url).await?;
            let sealed = audit_seaorm::seal(&db).await?;
            out!(
                "sealed {} rows ({} held back)",
                sealed.rows,
                sealed.held_back
            );
        }
        Command::SealLate {
            database_url,
            rows,
            reason,
        } => {
            let db = connect(&database_url).await?;
            let rows: Vec<(&str, i64)> = rows.iter().map(|(t, id)| (t.as_str(), *id)).collect();
            let sealed = audit_seaorm::seal_late(&db, &rows, &reason).await?;
            out!("sealed {} late rows", sealed.rows);
        }
        Command::Checkpoint {
            database_url,
            key_file,
        } => {
            let text = std::fs::read_to_string(&key_file)
                .map_err(|e| format!("reading {}: {e}", key_file.display()))?;
            let key = SigningKey::from_bytes(&hex32(text.trim(), "the key file")?);
            let db = connect(&database_url).await?;
            let checkpoint = audit_seaorm::checkpoint(&db, &key).await?;
            out!("{}", serde_json::to_string_pretty(&checkpoint)?);
        }
        Command::Verify {
            database_url,
            subject_type,
            subject_id,
            checkpoint,
            public_key,
            parallel,
        } => {
            let db = connect(&database_url).await?;
            let mut scope = VerifyScope::all().parallel(parallel.into());
            match (subject_type, subject_id) {
                (Some(t), Some(id)) => scope = scope.subject(t, id),
                (Some(t), None) => scope = scope.subject_type(t),
                _ => {}
            }
            let report = audit_seaorm::verify(&db, &scope).await?;
            for b in &report.breaks {
                let seq = b.seq.map_or("-".to_owned(), |s| s.to_string());
                let row = b.row_id.map_or("-".to_owned(), |r| r.to_string());
                out!(
                    "BROKEN {} {} {} link {seq} row {row}: {:?}",
                    b.table,
                    b.subject_type,
                    b.subject_id,
                    b.reason
                );
            }
            let late: Vec<String> = report
                .breaks
                .iter()
                .filter(|b| b.reason == audit_seaorm::BreakReason::Inserted)
                .filter_map(|b| Some(format!("--row {}:{}", b.table, b.row_id?)))
                .collect();
            if !late.is_empty() {
                out!(
                    "rows reported Inserted that you have checked (a transaction that committed \
                     late, not a forgery) can be sealed: audit{table_flags} seal-late \
                     --database-url URL {} --reason \"…\"",
                    late.join(" ")
                );
            }
            let mut intact = report.is_intact();
            out!(
                "{} links in {} chains, {} rows not sealed yet, {} broken chains{}",
                report.links,
                report.chains,
                report.pending,
                report.breaks.len(),
                if report.more_breaks {
                    " (more not shown)"
                } else {
                    ""
                }
            );
            if report.chains == 0 && report.pending == 0 {
                // Nothing to vouch for: a scope that names no subject (spelled otherwise?),
                // or an empty trail. Not a break, but not silence either.
                eprintln!("audit: warning: no chain and no row in this scope: nothing was checked");
            } else if report.pending > 0 {
                eprintln!(
                    "audit: warning: {} rows are not sealed yet, so not protected: run `audit \
                     seal` (from a schedule) so that verify checks them",
                    report.pending
                );
            }
            if let (Some(path), Some(public_key)) = (checkpoint, public_key) {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("reading {}: {e}", path.display()))?;
                let cp: Checkpoint = serde_json::from_str(&text)
                    .map_err(|e| format!("{} is not a checkpoint: {e}", path.display()))?;
                let key = VerifyingKey::from_bytes(&hex32(&public_key, "the public key")?)
                    .map_err(|e| format!("the public key: {e}"))?;
                let check = match audit_seaorm::verify_checkpoint(&db, &cp, &key).await {
                    // A checkpoint the key did not sign, or one changed since: a break.
                    Err(e @ audit_seaorm::Error::SignatureInvalid { .. }) => {
                        out!("BROKEN {e}");
                        return Ok(ExitCode::from(1));
                    }
                    other => other?,
                };
                if check.matches {
                    out!(
                        "matches checkpoint {} ({} chains)",
                        check.run,
                        check.chains_then
                    );
                } else {
                    intact = false;
                    out!(
                        "BROKEN checkpoint {}: {} chains then, {} as of it now; root {} now, {} signed",
                        check.run,
                        check.chains_then,
                        check.chains_now,
                        check.root_now,
                        cp.root
                    );
                }
            }
            return Ok(if intact {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}
