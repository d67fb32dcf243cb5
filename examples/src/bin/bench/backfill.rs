//! Section 5: `backfill` of a table whose rows predate auditing (PostgreSQL).

use std::time::Instant;

use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait, Schema};

use crate::BoxError;
use crate::common::rss_kb;
use crate::entities::legacy;
use crate::report::Report;
use crate::setup::Backend;

/// Section 5, if `rows` is not 0 and PostgreSQL is among `backends`.
pub async fn section(r: &mut Report, backends: &[Backend], rows: u64) -> Result<(), BoxError> {
    if rows == 0 {
        return Ok(());
    }
    let Some(pg) = backends.iter().find(|b| b.name == "PostgreSQL") else {
        return Ok(());
    };
    let (secs, written, rss) = run(&pg.db, rows).await?;
    r.line("");
    r.line(format!(
        "## 5. Backfill: baselines for {rows} rows that predate auditing (PostgreSQL)"
    ));
    r.line("");
    r.line("| rows | baselines written | time | rows/s | RSS growth |");
    r.line("|---|---|---|---|---|");
    r.line(format!(
        "| {rows} | {written} | {secs:.1} s | {:.0} | {} MiB |",
        written as f64 / secs,
        rss / 1024
    ));
    Ok(())
}

/// Inserts `rows` rows around the hooks, then times `backfill`: (seconds, written, RSS
/// growth in kB).
async fn run(db: &DatabaseConnection, rows: u64) -> Result<(f64, u64, u64), BoxError> {
    let schema = Schema::new(db.get_database_backend());
    db.execute(&schema.create_table_from_entity(legacy::Entity))
        .await?;
    let mut next = 0i32;
    while (next as u64) < rows {
        let batch: Vec<legacy::ActiveModel> = (next..(next + 1000).min(rows as i32))
            .map(|i| new_row!(legacy, i))
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
