//! `--demo`: a scripted scenario, then the trail as a table.

use audit_seaorm::{ActivityEntry, AuditContext, AuditedEntity, history, versions};
use sea_orm::{ActiveModelTrait, DatabaseConnection, ModelTrait, Set};

use audit_examples::blog::entities::{author, post};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Create, edit twice, delete, restore — as two users — and print what was logged.
pub async fn run(db: &DatabaseConnection) -> Result<(), BoxError> {
    let user = |name: &str| {
        AuditContext::new()
            .causer(name)
            .ip(std::net::Ipv4Addr::LOCALHOST)
            .user_agent("blog-demo")
    };
    let (alice, bob) = (user("alice"), user("bob"));
    let (author, post) = alice.clone().scope(create(db)).await?;
    // Bob edits twice, in a transaction each time.
    let post = bob.clone().scope(edit_twice(db, post)).await?;
    // Alice rotates her password (logged, value redacted), then deletes the post.
    alice
        .scope(async {
            let mut am: author::ActiveModel = author.clone().into();
            am.password_hash = Set("argon2$second".into());
            am.update(db).await?;
            post.clone().delete(db).await?;
            Ok::<_, BoxError>(())
        })
        .await?;
    // Bob restores the post as it was after his first edit (version 2).
    let restored = bob.scope(restore_version_2(db, post.id)).await?;
    report(db, &author, &restored).await
}

/// An author and a draft post.
async fn create(db: &DatabaseConnection) -> Result<(author::Model, post::Model), BoxError> {
    let author = author::ActiveModel {
        name: Set("Alice".into()),
        password_hash: Set("argon2$first".into()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    let post = post::ActiveModel {
        author_id: Set(author.id),
        title: Set("Hello, audit".into()),
        body: Set("First draft.".into()),
        published: Set(false),
        view_count: Set(0),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok((author, post))
}

/// A new title and body, then published (and a view count, which is not audited).
async fn edit_twice(db: &DatabaseConnection, post: post::Model) -> Result<post::Model, BoxError> {
    let txn = audit_seaorm::begin_write(db).await?;
    let mut am: post::ActiveModel = post.into();
    am.title = Set("Hello, audit trail".into());
    am.body = Set("Second draft, with more words.".into());
    let post = am.update(&txn).await?;
    txn.commit().await?;

    let txn = audit_seaorm::begin_write(db).await?;
    let mut am: post::ActiveModel = post.into();
    am.published = Set(true);
    am.view_count = Set(17); // skipped: not logged
    let post = am.update(&txn).await?;
    txn.commit().await?;
    Ok(post)
}

/// The typed restore of the post's version 2, in a transaction.
async fn restore_version_2(db: &DatabaseConnection, id: i32) -> Result<post::Model, BoxError> {
    let v2 = versions(db, "post", id)
        .await?
        .into_iter()
        .find(|v| v.version == 2)
        .ok_or("no version 2")?;
    let txn = audit_seaorm::begin_write(db).await?;
    let restored = post::Entity::restore(&txn, v2.id).await?;
    txn.commit().await?;
    Ok(restored)
}

/// The trail of the author and the post as a table, then the post's versions.
async fn report(
    db: &DatabaseConnection,
    author: &author::Model,
    restored: &post::Model,
) -> Result<(), BoxError> {
    println!("\nScenario: alice creates an author and a post; bob edits the post twice;");
    println!("alice changes her password and deletes the post; bob restores version 2.\n");
    let mut entries = history(db, "author", author.id).await?;
    entries.extend(history(db, "post", restored.id).await?);
    entries.sort_by_key(|e| e.id);
    print_table(&entries);
    println!(
        "\nRestored post {}: title {:?}, published {}, view_count {} (skipped: never restored; a re-inserted row gets the default).",
        restored.id, restored.title, restored.published, restored.view_count
    );
    let vs = versions(db, "post", restored.id).await?;
    println!(
        "Versions of post {}: {}",
        restored.id,
        vs.iter()
            .map(|v| format!("v{} {}", v.version, v.event))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

fn shorten(value: &serde_json::Value) -> String {
    let s = match value {
        serde_json::Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    };
    if s.chars().count() > 24 {
        format!("{}…", s.chars().take(23).collect::<String>())
    } else {
        s
    }
}

/// Prints entries as a table: action, subject, causer, changed fields, time.
pub fn print_table(entries: &[ActivityEntry]) {
    println!(
        "{:<4} {:<9} {:<10} {:<7} {:<48} time (UTC)",
        "id", "action", "subject", "causer", "changes (old → new)"
    );
    println!("{}", "-".repeat(100));
    for e in entries {
        let mut changes: Vec<String> = e
            .changes
            .iter()
            .filter(|(field, _)| *field != "id")
            .map(|(field, c)| format!("{field}: {} → {}", shorten(&c.old), shorten(&c.new)))
            .collect();
        if changes.is_empty() {
            changes.push("(none)".into());
        }
        let subject = format!("{}#{}", e.subject_type, e.subject_id);
        let causer = e.causer_id.as_deref().unwrap_or("-");
        let time = e.created_at.format("%H:%M:%S%.3f");
        for (i, change) in changes.iter().enumerate() {
            if i == 0 {
                println!(
                    "{:<4} {:<9} {:<10} {:<7} {:<48} {}",
                    e.id, e.action, subject, causer, change, time
                );
            } else {
                println!("{:<4} {:<9} {:<10} {:<7} {:<48}", "", "", "", "", change);
            }
        }
    }
}
