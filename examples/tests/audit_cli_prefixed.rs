//! The `audit` command on a trail whose tables have the application's own names (a process
//! of its own: the names are fixed per process).

mod common;

use common::audit_cli as run;

use audit_seaorm::entity::{TableNames, set_table_names};
use audit_seaorm::{NewActivity, log, snapshot};
use serde_json::json;

#[tokio::test]
async fn seal_and_verify_tables_with_a_prefix() {
    set_table_names(TableNames::prefixed("acme_")).unwrap();
    let dir = std::env::temp_dir().join(format!("audit-cli-prefixed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("app.db").to_str().unwrap());
    let mut options = sea_orm::ConnectOptions::new(&url);
    options
        .idle_timeout(None::<std::time::Duration>)
        .max_lifetime(None::<std::time::Duration>);
    let db = sea_orm::Database::connect(options).await.unwrap();
    audit_seaorm::install(&db).await.unwrap();
    snapshot(&db, "invoice", "1", &json!({"n": 1}))
        .await
        .unwrap();
    log(&db, NewActivity::new("viewed").subject("invoice", "1"))
        .await
        .unwrap();

    // Without the names, the command does not find the trail, and says so.
    let (code, out) = run(&["verify", "--database-url", &url]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("activity_log"), "{out}");

    let (code, out) = run(&["seal", "--database-url", &url, "--table-prefix", "acme_"]);
    assert_eq!((code, out.trim()), (0, "sealed 2 rows (0 held back)"));
    let (code, out) = run(&[
        "--tables",
        "acme_activity_log,acme_versions,acme_baselines",
        "verify",
        "--database-url",
        &url,
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("2 links in 2 chains"), "{out}");
    let (code, out) = run(&["verify", "--database-url", &url, "--tables", "a,b"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("three table names"), "{out}");

    db.close().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
