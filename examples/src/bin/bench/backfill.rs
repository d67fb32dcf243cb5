//! `backfill` of a table whose rows predate auditing.

use std::time::Instant;

use chrono::Utc;
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait, Schema, Set};

use crate::entities::legacy;
use crate::{BoxError, row, rss_kb};

/// Inserts `rows` rows around the hooks, then times `backfill`: (seconds, written, RSS
/// growth in kB).
pub async fn run(db: &DatabaseConnection, rows: u64) -> Result<(f64, u64, u64), BoxError> {
    let schema = Schema::new(db.get_database_backend());
    db.execute(&schema.create_table_from_entity(legacy::Entity))
        .await?;
    let mut next = 0i32;
    while (next as u64) < rows {
        let batch: Vec<legacy::ActiveModel> = (next..(next + 1000).min(rows as i32))
            .map(|i| {
                let (title, body) = row(i);
                legacy::ActiveModel {
                    title: Set(title),
                    body: Set(body),
                    author: Set("author".into()),
                    status: Set("draft".into()),
                    score: Set(i),
                    rating: Set(4.5),
                    published: Set(false),
                    tags: Set("rust,orm".into()),
                    created_at: Set(Utc::now()),
                    ..Default::default()
                }
            })
            .collect();
        next += batch.len() as i32;
        legacy::Entity::insert_many(batch).exec(db).await?;
    }
    let rss = rss_kb();
    let start = Instant::now();
    let done = audit_seaorm::backfill::<legacy::Entity, _>(db).await?;
    let secs = start.elapsed().as_secs_f64();
    Ok((secs, done.written, rss_kb().saturating_sub(rss)))
}
