//! The `audit` command: seal, checkpoint and verify a trail from outside the app, with
//! exit codes a cron job or a CI step can act on.

use std::path::{Path, PathBuf};
mod common;

use common::audit_cli as run;

use audit_seaorm::entity::{activity_log, chains, seals, versions};
use audit_seaorm::{NewActivity, log, snapshot};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Database, DatabaseConnection, EntityTrait, QueryFilter, Set};
use serde_json::json;

/// A directory removed when the test ends.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn trail(url: &str) -> DatabaseConnection {
    // (No idle timeout or lifetime: sqlx 0.9.0's pool maintenance task can spin forever,
    // transact-rs/sqlx#3645, and hang the test's runtime when it shuts down.)
    let mut options = sea_orm::ConnectOptions::new(url);
    options
        .idle_timeout(None::<std::time::Duration>)
        .max_lifetime(None::<std::time::Duration>);
    let db = Database::connect(options).await.unwrap();
    audit_seaorm::install(&db).await.unwrap();
    for (kind, id) in [("invoice", "1"), ("invoice", "2"), ("contract", "7")] {
        for n in 0..3 {
            snapshot(&db, kind, id, &json!({"n": n})).await.unwrap();
            log(
                &db,
                NewActivity::new("viewed").subject(kind, id).causer("u1"),
            )
            .await
            .unwrap();
        }
    }
    db
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[tokio::test]
async fn seal_checkpoint_and_verify_from_the_command_line() {
    let dir = std::env::temp_dir().join(format!("audit-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let _cleanup = TempDir(dir.clone());
    let url = format!("sqlite://{}?mode=rwc", path_str(&dir.join("app.db")));
    let db = trail(&url).await;
    let key = dir.join("key.hex");

    let (code, public_key) = run(&["keygen", "--out", path_str(&key)]);
    assert_eq!(code, 0, "{public_key}");
    let public_key = public_key.trim().to_owned();
    assert_eq!(public_key.len(), 64);
    // A key file is never overwritten.
    assert_eq!(run(&["keygen", "--out", path_str(&key)]).0, 2);

    let (code, out) = run(&["seal", "--database-url", &url]);
    assert_eq!((code, out.trim()), (0, "sealed 18 rows (0 held back)"));
    let (code, out) = run(&[
        "checkpoint",
        "--database-url",
        &url,
        "--key-file",
        path_str(&key),
    ]);
    assert_eq!(code, 0, "{out}");
    let checkpoint = dir.join("checkpoint.json");
    std::fs::write(&checkpoint, &out).unwrap();
    let cp: audit_seaorm::Checkpoint = serde_json::from_str(&out).unwrap();
    assert_eq!(cp.chains, 6);

    let verify_with = [
        "verify",
        "--database-url",
        &url,
        "--checkpoint",
        path_str(&checkpoint),
        "--public-key",
        &public_key,
    ];
    let (code, out) = run(&verify_with);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("18 links in 6 chains"), "{out}");
    assert!(out.contains("matches checkpoint"), "{out}");
    // Checked with a key that did not sign it: a break, not an error.
    let other_key = "11".repeat(32);
    let mut with_other_key = verify_with;
    with_other_key[6] = &other_key;
    let (code, out) = run(&with_other_key);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("BROKEN checkpoint") && out.contains("not signed by this key"),
        "{out}"
    );
    // A reader that stops reading early takes no lines, and the verdict stands: no panic.
    for (args, verdict) in [(&verify_with, 0), (&with_other_key, 1)] {
        let (code, err) = common::audit_cli_unread(args);
        assert_eq!(code, verdict, "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }

    // The contract removed with its links and chain heads: only the checkpoint sees it.
    activity_log::Entity::delete_many()
        .filter(activity_log::Column::SubjectType.eq("contract"))
        .exec(&db)
        .await
        .unwrap();
    versions::Entity::delete_many()
        .filter(versions::Column::SubjectType.eq("contract"))
        .exec(&db)
        .await
        .unwrap();
    seals::Entity::delete_many()
        .filter(seals::Column::SubjectType.eq("contract"))
        .exec(&db)
        .await
        .unwrap();
    chains::Entity::delete_many()
        .filter(chains::Column::SubjectType.eq("contract"))
        .exec(&db)
        .await
        .unwrap();
    let (code, out) = run(&["verify", "--database-url", &url]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = run(&verify_with);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("BROKEN checkpoint"), "{out}");

    // A causer rewritten: the chain itself breaks.
    activity_log::Entity::update_many()
        .col_expr(activity_log::Column::CauserId, Expr::val("u2"))
        .filter(activity_log::Column::SubjectId.eq("2"))
        .exec(&db)
        .await
        .unwrap();
    let (code, out) = run(&[
        "verify",
        "--database-url",
        &url,
        "--subject-type",
        "invoice",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("BROKEN activity_log invoice 2 link 1 row"),
        "{out}"
    );
    assert!(out.contains(": Changed"), "{out}");
    // Another subject's scope is intact.
    let invoice_1 = [
        "verify",
        "--database-url",
        &url,
        "--subject-type",
        "invoice",
        "--subject-id",
        "1",
    ];
    let (code, out) = run(&invoice_1);
    assert_eq!(code, 0, "{out}");

    // A row whose transaction committed a day after it was written: held back, reported,
    // and sealed once someone vouches for it.
    let late = activity_log::Entity::insert(activity_log::ActiveModel {
        action: Set("viewed".into()),
        subject_type: Set("invoice".into()),
        subject_id: Set("1".into()),
        causer_id: Set(Some("u1".into())),
        changes: Set(json!({})),
        created_at: Set(chrono::Utc::now() - chrono::Duration::days(1)),
        ..Default::default()
    })
    .exec(&db)
    .await
    .unwrap()
    .last_insert_id;
    let (code, out) = run(&["seal", "--database-url", &url]);
    assert_eq!((code, out.trim()), (0, "sealed 0 rows (1 held back)"));
    let (code, out) = run(&invoice_1);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(": Inserted"), "{out}");
    assert!(
        out.contains(&format!(
            "audit seal-late --database-url URL --row activity_log:{late}"
        )),
        "{out}"
    );
    let row = format!("activity_log:{late}");
    let seal_late = [
        "seal-late",
        "--database-url",
        &url,
        "--row",
        &row,
        "--reason",
        "checked",
    ];
    let (code, out) = run(&seal_late);
    assert_eq!((code, out.trim()), (0, "sealed 1 late rows"));
    assert_eq!(run(&invoice_1).0, 0);
    // Twice is an error: the row is sealed.
    let (code, out) = run(&seal_late);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("is not an unsealed row"), "{out}");
    let (code, out) = run(&[
        "seal-late",
        "--database-url",
        &url,
        "--row",
        "x",
        "--reason",
        "r",
    ]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("is not TABLE:ID"), "{out}");

    // Errors are exit 2 and say what failed.
    let (code, out) = run(&["verify", "--database-url", "sqlite:///nonexistent/dir/x.db"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("connecting to the database"), "{out}");
    // A password in the URL never reaches the output, even in an error that quotes the URL.
    let (code, out) = run(&[
        "verify",
        "--database-url",
        "postgres://app:s3cr/et@127.0.0.1:1/x",
    ]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("<database url>"), "{out}");
    assert!(!out.contains("s3cr"), "{out}");
    // The URL from the environment (out of the process list), and a scope with nothing in
    // it, which is said, not passed over in silence.
    let from_env = std::process::Command::new(env!("CARGO_BIN_EXE_audit"))
        .args(["verify", "--subject-type", "nosuch"])
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&from_env.stderr);
    assert_eq!(from_env.status.code(), Some(0), "{err}");
    assert!(err.contains("nothing was checked"), "{err}");
    db.close().await.unwrap();
}
