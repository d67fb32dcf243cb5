//! Section 8: `prune` of a month of entries on an unpartitioned PostgreSQL table (batched
//! deletes), alone and under 8 tasks of audited writes; then on the partitioned layout,
//! where the month is dropped whole.

use std::time::Instant;

use audit_seaorm::{Install, Retention, install, install_with, prune};
use sea_orm::{ActiveModelTrait, ConnectionTrait, DatabaseConnection, IntoActiveModel, Set};

use crate::BoxError;
use crate::big_log::fill_sql;
use crate::entities::audited;
use crate::report::Report;
use crate::setup::Backend;
use crate::throughput::throughput;

/// Section 8, if PostgreSQL is among `backends`.
pub async fn section(r: &mut Report, backends: &[Backend], rows: u64) -> Result<(), BoxError> {
    let Some(pg) = backends.iter().find(|b| b.is_postgres()) else {
        return Ok(());
    };
    let db = &pg.db;
    r.line("");
    r.line(format!(
        "## 8. Retention: `prune` of {rows} entries (one month, January 2026) on PostgreSQL, unpartitioned"
    ));
    r.line("");
    for i in 0..8 {
        new_row!(audited, i).insert(db).await?;
    }
    // Alone.
    fill(db, rows).await?;
    let size_before = table_size(db).await?;
    let start = Instant::now();
    let alone = prune(db, &month_old()).await?;
    let alone_time = start.elapsed();
    let size_after = table_size(db).await?;
    r.line(format!(
        "Alone: {:.1} s for {} entries; `activity_log` with its indexes {} MB before, {} MB after.",
        alone_time.as_secs_f64(),
        alone.entries,
        size_before / (1 << 20),
        size_after / (1 << 20),
    ));
    // Alone again, the same rows sealed first: each batch then also checks its rows
    // against their links, marks the links and folds them into their chains' anchors.
    fill(db, rows).await?;
    let start = Instant::now();
    audit_seaorm::seal_all(db).await?;
    let seal_time = start.elapsed();
    // What autovacuum does after such growth (this machine runs without it): with the
    // statistics from before the seal, the links of the batch are found by a scan of all
    // of them, once per batch.
    db.execute_unprepared("ANALYZE activity_log_seals; ANALYZE activity_log_chains")
        .await?;
    let start = Instant::now();
    let sealed = prune(db, &month_old()).await?;
    let sealed_time = start.elapsed();
    r.line("");
    r.line(format!(
        "Alone, the same entries sealed first (the seal took {:.1} s; then `ANALYZE` of the \
         links and chains): {:.1} s for {} entries ({} kept as changed); each batch also \
         checks its rows against their links and marks the links, and the run folds them \
         into their chains' anchors.",
        seal_time.as_secs_f64(),
        sealed_time.as_secs_f64(),
        sealed.entries,
        sealed.kept_changed,
    ));
    r.line("");
    r.line("| batch | pause between batches | prune under writers | audited writes/s before → during | kept |");
    r.line("|---|---|---|---|---|");
    let seconds = alone_time.as_secs().clamp(3, 30);
    let mut kept_at = Vec::new();
    for (batch, pause_ms) in [
        (Retention::BATCH, 0u64),
        (Retention::BATCH, 20),
        (1_000, 20),
    ] {
        // Writers' throughput before, and while a prune of the same size runs.
        fill(db, rows).await?;
        let before_wps = throughput::<audited::Entity>(db, seconds, 8, touch).await?;
        let retention = month_old()
            .batch_size(batch)
            .pause_between_batches(std::time::Duration::from_millis(pause_ms));
        let pruner = {
            let db = db.clone();
            tokio::spawn(async move {
                let start = Instant::now();
                let done = prune(&db, &retention).await?;
                Ok::<_, BoxError>((done.entries, start.elapsed()))
            })
        };
        let during_wps = throughput::<audited::Entity>(db, seconds, 8, touch).await?;
        let (entries, took) = pruner.await??;
        let kept = during_wps / before_wps;
        kept_at.push((batch, pause_ms, kept));
        r.line(format!(
            "| {batch} | {pause_ms} ms | {:.1} s ({entries} entries) | {before_wps:.0} → {during_wps:.0} | {:.0} % |",
            took.as_secs_f64(),
            kept * 100.0
        ));
    }
    for (batch, pause_ms, kept) in kept_at {
        r.target(
            format!("PostgreSQL: audited writes keep ≥ 80% of their throughput while prune runs (unpartitioned, batches of {batch}, {pause_ms} ms between)"),
            kept >= 0.8,
            format!("{:.0} %", kept * 100.0),
        );
    }
    r.target(
        "PostgreSQL: no growth of the table after an unpartitioned prune",
        size_after <= size_before,
        format!(
            "{} MB → {} MB",
            size_before / (1 << 20),
            size_after / (1 << 20)
        ),
    );
    partitioned(r, db, rows).await
}

/// The same month on the partitioned layout, as a partition of its own: dropped whole.
async fn partitioned(r: &mut Report, db: &DatabaseConnection, rows: u64) -> Result<(), BoxError> {
    // A new table numbers its entries from 1 again: the links left of the sealed run
    // above would name its rows.
    db.execute_unprepared(
        "DROP TABLE activity_log; DELETE FROM activity_log_seals; DELETE FROM activity_log_chains",
    )
    .await?;
    install_with(db, &Install::new().partitioned(true)).await?;
    db.execute_unprepared(
        "CREATE TABLE activity_log_p2026_01 PARTITION OF activity_log \
         FOR VALUES FROM ('2026-01-01 00:00:00+00') TO ('2026-02-01 00:00:00+00')",
    )
    .await?;
    let empty = table_size(db).await?;
    fill(db, rows).await?;
    let loaded = table_size(db).await?;
    let start = Instant::now();
    let done = prune(db, &month_old()).await?;
    let took = start.elapsed();
    let after = table_size(db).await?;
    r.line("");
    r.line(format!(
        "Partitioned (`Install::partitioned`, January 2026 a partition of its own): {:.3} s for {} entries ({} dropped whole); `activity_log` with its partitions and indexes {} MB empty, {} MB loaded, {} MB after.",
        took.as_secs_f64(),
        done.entries,
        done.partitions.join(", "),
        empty / (1 << 20),
        loaded / (1 << 20),
        after / (1 << 20),
    ));
    r.target(
        format!("PostgreSQL: prune of one month of {rows} entries, partitioned ≤ 1 s"),
        took.as_secs_f64() <= 1.0 && done.entries == rows,
        format!("{:.3} s", took.as_secs_f64()),
    );
    r.target(
        "PostgreSQL: no growth of the table after a partitioned prune",
        after <= empty,
        format!("{} MB → {} MB", loaded / (1 << 20), after / (1 << 20)),
    );
    // The next sections run on the plain layout.
    db.execute_unprepared("DROP TABLE activity_log").await?;
    install(db).await?;
    Ok(())
}

fn month_old() -> Retention {
    Retention::new().entries_older_than(chrono::Duration::days(30))
}

fn touch(m: audited::Model, i: i32) -> audited::ActiveModel {
    let mut am = m.into_active_model();
    am.score = Set(i);
    am
}

/// Adds `rows` entries dated in January 2026 and analyzes the table.
async fn fill(db: &DatabaseConnection, rows: u64) -> Result<(), BoxError> {
    db.execute_unprepared(&fill_sql(db.get_database_backend(), rows))
        .await?;
    db.execute_unprepared("ANALYZE activity_log").await?;
    Ok(())
}

/// `activity_log` with its indexes (and its partitions, if any), in bytes.
async fn table_size(db: &DatabaseConnection) -> Result<i64, BoxError> {
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT (pg_total_relation_size('activity_log') + COALESCE((SELECT \
             SUM(pg_total_relation_size(relid)) FROM pg_partition_tree('activity_log') \
             WHERE level > 0), 0))::bigint AS n",
        ))
        .await?
        .ok_or("no size")?;
    Ok(row.try_get("", "n")?)
}
