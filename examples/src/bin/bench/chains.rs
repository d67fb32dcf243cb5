//! Section 15: tamper evidence. `seal` and `verify` rates over a big trail, a checkpoint
//! over 100,000 chains (PostgreSQL), and what a sealing job running beside 8 audited
//! writers costs them.

use std::time::{Duration, Instant};

use audit_seaorm::ed25519_dalek::SigningKey;
use audit_seaorm::{VerifyScope, checkpoint, seal, verify, verify_checkpoint};
use sea_orm::{ActiveModelTrait, ConnectionTrait, DatabaseConnection, IntoActiveModel, Set};

use crate::BoxError;
use crate::big_log::fill_sql;
use crate::entities::audited;
use crate::report::Report;
use crate::setup::Backend;
use crate::throughput::throughput;

/// Section 15. `rows`: the PostgreSQL trail's size (the others get a tenth).
pub async fn section(r: &mut Report, backends: &[Backend], rows: u64) -> Result<(), BoxError> {
    r.line("");
    r.line("## 15. Tamper evidence: seal, verify, checkpoint");
    r.line("");
    r.line("Rows already in `activity_log` (written by SQL, ten per subject), sealed by one `seal` call, then walked by `verify(VerifyScope::all())`; the checkpoint seals (nothing left) and signs the Merkle root over every chain head.");
    r.line("");
    r.line("| backend | rows | chains | seal | seal rows/s | verify | verify rows/s | checkpoint | verify_checkpoint |");
    r.line("|---|---|---|---|---|---|---|---|---|");
    let key = SigningKey::from_bytes(&[7; 32]);
    for b in backends {
        let n = if b.is_postgres() { rows } else { rows / 10 };
        let subjects = n / 10;
        let db = &b.db;
        clear(db).await?;
        db.execute_unprepared(
            &fill_sql(db.get_database_backend(), n)
                .replace("g % 10000", &format!("g % {subjects}")),
        )
        .await?;
        let start = Instant::now();
        let sealed = seal(db).await?;
        let seal_time = start.elapsed();
        let start = Instant::now();
        let report = verify(db, &VerifyScope::all()).await?;
        let verify_time = start.elapsed();
        if !report.is_intact() || report.links != n || sealed.rows != n {
            return Err(
                format!("{}: sealed {}, verified {:?}", b.name, sealed.rows, report).into(),
            );
        }
        let start = Instant::now();
        let cp = checkpoint(db, &key).await?;
        let cp_time = start.elapsed();
        let start = Instant::now();
        let check = verify_checkpoint(db, &cp, &key.verifying_key()).await?;
        let check_time = start.elapsed();
        if !check.matches {
            return Err(format!("{}: checkpoint mismatch {check:?}", b.name).into());
        }
        r.line(format!(
            "| {} | {n} | {} | {:.1} s | {:.0} | {:.1} s | {:.0} | {:.2} s | {:.2} s |",
            b.name,
            cp.chains,
            seal_time.as_secs_f64(),
            n as f64 / seal_time.as_secs_f64(),
            verify_time.as_secs_f64(),
            n as f64 / verify_time.as_secs_f64(),
            cp_time.as_secs_f64(),
            check_time.as_secs_f64(),
        ));
        if b.is_postgres() {
            r.target(
                "PostgreSQL: verify ≥ 200,000 rows/s",
                n as f64 / verify_time.as_secs_f64() >= 200_000.0,
                format!("{:.0} rows/s", n as f64 / verify_time.as_secs_f64()),
            );
            r.target(
                format!("PostgreSQL: checkpoint of {} chains ≤ 2 s", cp.chains),
                cp_time <= Duration::from_secs(2) && cp.chains >= 100_000,
                format!("{:.2} s", cp_time.as_secs_f64()),
            );
        }
        clear(db).await?;
    }
    writers(r, backends).await
}

/// Empties the audit tables and the chains.
async fn clear(db: &DatabaseConnection) -> Result<(), BoxError> {
    for table in [
        "activity_log_seals",
        "activity_log_chains",
        "activity_log",
        "versions",
    ] {
        db.execute_unprepared(&format!("DELETE FROM {table}"))
            .await?;
    }
    db.execute_unprepared("DELETE FROM activity_log_seal_runs WHERE run > 0")
        .await?;
    Ok(())
}

/// 8 audited writers for 10 s, without and with a `seal` every second beside them,
/// interleaved three times (PostgreSQL).
async fn writers(r: &mut Report, backends: &[Backend]) -> Result<(), BoxError> {
    let Some(pg) = backends.iter().find(|b| b.is_postgres()) else {
        return Ok(());
    };
    let db = &pg.db;
    for i in 0..8 {
        new_row!(audited, 9000 + i).insert(db).await?;
    }
    seal(db).await?;
    let mut ratios = Vec::new();
    r.line("");
    r.line("8 tasks of audited updates (one transaction each) on PostgreSQL for 10 s, without and with a sealing job (`seal` every second) beside them, interleaved:");
    r.line("");
    r.line(
        "| round | without: writes/s | with: writes/s | with ÷ without | rows sealed meanwhile |",
    );
    r.line("|---|---|---|---|---|");
    for round in 1..=3 {
        // Each run starts with nothing left to seal: the job then seals what the writers
        // write beside it, not the backlog of the run before.
        seal(db).await?;
        let without = throughput::<audited::Entity>(db, 10, touch).await?;
        seal(db).await?;
        let sealer = {
            let db = db.clone();
            tokio::spawn(async move {
                let stop = Instant::now() + Duration::from_secs(10);
                let mut rows = 0;
                while Instant::now() < stop {
                    rows += seal(&db).await?.rows;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Ok::<u64, BoxError>(rows)
            })
        };
        let with = throughput::<audited::Entity>(db, 10, touch).await?;
        let sealed = sealer.await??;
        ratios.push(with / without);
        r.line(format!(
            "| {round} | {without:.0} | {with:.0} | {:.3} | {sealed} |",
            with / without
        ));
    }
    ratios.sort_by(f64::total_cmp);
    let median = ratios[1];
    r.target(
        "PostgreSQL: audited writes with a sealing job beside them within 5% of without (median of 3)",
        median >= 0.95,
        format!("{median:.3} (spread {:.3}–{:.3})", ratios[0], ratios[2]),
    );
    Ok(())
}

fn touch(m: audited::Model, i: i32) -> audited::ActiveModel {
    let mut am = m.into_active_model();
    am.score = Set(i);
    am
}
