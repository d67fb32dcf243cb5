//! A small blog on axum + SeaORM with an audit trail.
//!
//! ```text
//! cargo run -p audit-examples --bin blog -- --demo   # scripted scenario, prints the trail
//! cargo run -p audit-examples --bin blog             # serves http://127.0.0.1:3000
//! ```
//!
//! SQLite file `blog.db` in the current directory by default (`blog-demo.db`, started
//! afresh, for `--demo`); `DATABASE_URL` picks another database (PostgreSQL, MySQL), `PORT`
//! another port. The audit trail's web page is at `/api/audit/ui`: sign the browser in
//! first (demo only) with `/demo/sign-in/admin` (everything) or `/demo/sign-in/alice` (an
//! author: posts and comments, no restore).

mod demo;

use std::net::SocketAddr;

use audit_examples::blog::{self, routes};
use sea_orm::{ConnectOptions, Database, DatabaseConnection};
use tracing_subscriber::EnvFilter;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn")),
        )
        .init();
    let demo = std::env::args().any(|a| a == "--demo");
    let db = connect(demo).await?;
    if demo {
        return demo::run(&db).await;
    }
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    tracing::info!("listening on http://{addr}");
    // Demo only: the sign-in route sets the cookie the page's requests carry.
    tracing::info!("the audit page: http://{addr}/demo/sign-in/admin (or /demo/sign-in/alice)");
    axum::serve(
        listener,
        routes::app(db).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("Ctrl-C: shutting down");
    })
    .await?;
    Ok(())
}

async fn connect(demo: bool) -> Result<DatabaseConnection, BoxError> {
    let url = match std::env::var("DATABASE_URL") {
        Ok(url) => {
            let kind = url.split_once(':').map_or("?", |(scheme, _)| scheme);
            println!("database: {kind}, from DATABASE_URL");
            url
        }
        Err(_) => {
            // The demo starts from an empty file of its own each time; the server keeps its
            // data in `blog.db` across runs.
            let path = std::env::current_dir()?.join(if demo { "blog-demo.db" } else { "blog.db" });
            if demo {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            println!("database: SQLite file {}", path.display());
            format!("sqlite://{}?mode=rwc", path.display())
        }
    };
    let mut options = ConnectOptions::new(url.clone());
    // No idle timeout or lifetime: sqlx 0.9.0's pool maintenance task can spin forever on a
    // miscounted idle queue (transact-rs/sqlx#3645), which also keeps a runtime from
    // shutting down.
    options
        .sqlx_logging(false)
        .idle_timeout(None::<std::time::Duration>)
        .max_lifetime(None::<std::time::Duration>);
    let db = Database::connect(options).await.map_err(|e| {
        let message = audit_examples::without_credentials(&e.to_string(), &url);
        format!("connecting to the database: {message}")
    })?;
    blog::create_tables(&db).await?;
    Ok(db)
}
