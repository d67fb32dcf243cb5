//! The example blog served for a test.

#![allow(dead_code)]

use std::net::SocketAddr;

use audit_examples::blog::{create_tables, routes};
use reqwest::StatusCode;
use serde_json::Value;

/// The example blog, served on a free port from a SQLite file removed on drop.
pub struct Blog {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    file: std::path::PathBuf,
}

impl Blog {
    /// A connection of the test's own to the blog's database.
    pub async fn connect(&self) -> sea_orm::DatabaseConnection {
        sea_orm::Database::connect(options(&format!("sqlite://{}", self.file.display())))
            .await
            .unwrap()
    }
}

impl Drop for Blog {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.file.display()));
        }
    }
}

/// The blog on a fresh SQLite file, served on a free port.
pub async fn serve() -> Blog {
    let file = std::env::temp_dir().join(format!(
        "blog-test-{}-{}.db",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    ));
    let db = sea_orm::Database::connect(options(&format!("sqlite://{}?mode=rwc", file.display())))
        .await
        .unwrap();
    create_tables(&db).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            routes::app(db).into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    Blog {
        base: format!("http://{addr}"),
        file,
    }
}

/// Calls the blog as `user` (a bearer name); the status and the JSON body (`null` if none).
pub async fn call(
    blog: &Blog,
    user: Option<&str>,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let client = reqwest::Client::new();
    let url = format!("{}{path}", blog.base);
    let mut req = match method {
        "POST" => client.post(url),
        "PATCH" => client.patch(url),
        _ => client.get(url),
    };
    if let Some(user) = user {
        req = req.header("authorization", format!("Bearer {user}"));
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Connection options without sqlx's pool maintenance task (no idle timeout, no
/// lifetime): in sqlx 0.9.0 that task can spin forever on a miscounted idle queue
/// (transact-rs/sqlx#3645), which hangs a test's runtime when it shuts down.
pub fn options(url: &str) -> sea_orm::ConnectOptions {
    let mut opts = sea_orm::ConnectOptions::new(url);
    opts.idle_timeout(None::<std::time::Duration>)
        .max_lifetime(None::<std::time::Duration>)
        .sqlx_logging(false);
    opts
}

/// Runs the `audit` command with `args`: its exit code and its output (stdout, then
/// stderr).
pub fn audit_cli(args: &[&str]) -> (i32, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_audit"))
        .args(args)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap(), text)
}

/// Runs the `audit` command with its standard output a pipe nobody reads (closed before the
/// command writes, as `| head -0` leaves it): its exit code and standard error.
pub fn audit_cli_unread(args: &[&str]) -> (i32, String) {
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_audit"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code().unwrap(), text)
}
