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
    // A row held back as late: the command suggested to seal it carries the names too.
    use sea_orm::{EntityTrait, Set};
    let late = audit_seaorm::entity::activity_log::Entity::insert(
        audit_seaorm::entity::activity_log::ActiveModel {
            action: Set("viewed".into()),
            subject_type: Set("invoice".into()),
            subject_id: Set("1".into()),
            changes: Set(json!({})),
            created_at: Set(chrono::Utc::now() - chrono::Duration::days(1)),
            ..Default::default()
        },
    )
    .exec(&db)
    .await
    .unwrap()
    .last_insert_id;
    let (code, out) = run(&["seal", "--database-url", &url, "--table-prefix", "acme_"]);
    assert_eq!((code, out.trim()), (0, "sealed 0 rows (1 held back)"));
    let (code, out) = run(&["verify", "--database-url", &url, "--table-prefix", "acme_"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "audit --table-prefix acme_ seal-late --database-url URL --row activity_log:{late}"
        )),
        "{out}"
    );
    let row = format!("activity_log:{late}");
    let (code, out) = run(&[
        "--table-prefix",
        "acme_",
        "seal-late",
        "--database-url",
        &url,
        "--row",
        &row,
        "--reason",
        "checked",
    ]);
    assert_eq!((code, out.trim()), (0, "sealed 1 late rows"));
    let (code, out) = run(&["verify", "--database-url", &url, "--tables", "a,b"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("three table names"), "{out}");

    db.close().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
