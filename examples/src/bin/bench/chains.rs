//! Section 15: tamper evidence. `seal` and `verify` rates over a big trail, a checkpoint
//! over 100,000 chains (PostgreSQL), and what a sealing job running beside 8 audited
//! writers costs them.

use std::time::{Duration, Instant};

use audit_seaorm::ed25519_dalek::SigningKey;
use audit_seaorm::{VerifyScope, checkpoint, seal, seal_all, verify, verify_checkpoint};
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
    r.line("Rows already in `activity_log` (written by SQL, ten per subject), sealed by one `seal` call, then walked by `verify(VerifyScope::all())`: once before the tables have planner statistics, then after `ANALYZE` (what autovacuum does) twice in one range of chains (`parallel(1)`) and twice split into the default two ranges walked at once, alternately; the rows/s are of the faster split walk. The checkpoint seals (nothing left) and signs the Merkle root over every chain head.");
    r.line("");
    r.line("| backend | rows | chains | seal | seal rows/s | verify, no statistics | verify, one range | verify | verify rows/s | checkpoint | verify_checkpoint |");
    r.line("|---|---|---|---|---|---|---|---|---|---|---|");
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
        // Once without the planner's statistics of the new rows (this machine runs
        // PostgreSQL with autovacuum off), then with them, as autovacuum would have them:
        // in one range of chains and split, alternately.
        let mut times = Vec::new();
        for (analyzed, parallel) in [(false, 2), (true, 1), (true, 2), (true, 1), (true, 2)] {
            if analyzed && times.len() == 1 {
                analyze(db).await?;
            }
            let start = Instant::now();
            let report = verify(db, &VerifyScope::all().parallel(parallel)).await?;
            times.push(start.elapsed());
            if !report.is_intact() || report.links != n || sealed.rows != n {
                return Err(
                    format!("{}: sealed {}, verified {:?}", b.name, sealed.rows, report).into(),
                );
            }
        }
        let one_range = times[1].min(times[3]);
        let verify_time = times[2].min(times[4]);
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
            "| {} | {n} | {} | {:.1} s | {:.0} | {:.1} s | {:.1} s ({:.0} rows/s) | {:.1} s | {:.0} | {:.2} s | {:.2} s |",
            b.name,
            cp.chains,
            seal_time.as_secs_f64(),
            n as f64 / seal_time.as_secs_f64(),
            times[0].as_secs_f64(),
            one_range.as_secs_f64(),
            n as f64 / one_range.as_secs_f64(),
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
                // (met only where the run had the chains the target names)
                format!(
                    "PostgreSQL: checkpoint of 100,000 chains or more ≤ 2 s (this run: {} chains)",
                    cp.chains
                ),
                cp_time <= Duration::from_secs(2) && cp.chains >= 100_000,
                format!("{:.2} s", cp_time.as_secs_f64()),
            );
        }
        clear(db).await?;
    }
    writers(r, backends).await
}

/// Gathers the planner's statistics of the audit tables and the chains.
async fn analyze(db: &DatabaseConnection) -> Result<(), BoxError> {
    let sql = match db.get_database_backend() {
        sea_orm::DbBackend::MySql => {
            "ANALYZE TABLE activity_log, activity_log_seals, activity_log_chains"
        }
        _ => "ANALYZE",
    };
    db.execute_unprepared(sql).await?;
    Ok(())
}

/// Empties the audit tables, the chains and the runs' gaps: `TRUNCATE` where there is one (this
/// machine's PostgreSQL runs without autovacuum, and a `DELETE` would leave a million
/// dead rows in the indexes for every later read to step over), `DELETE` on SQLite.
async fn clear(db: &DatabaseConnection) -> Result<(), BoxError> {
    let sqlite = db.get_database_backend() == sea_orm::DbBackend::Sqlite;
    for table in [
        "activity_log_seals",
        "activity_log_chains",
        "activity_log_seal_gaps",
        "activity_log",
        "versions",
    ] {
        let sql = if sqlite {
            format!("DELETE FROM {table}")
        } else {
            format!("TRUNCATE TABLE {table}")
        };
        db.execute_unprepared(&sql).await?;
    }
    db.execute_unprepared("DELETE FROM activity_log_seal_runs WHERE run > 0")
        .await?;
    Ok(())
}

/// Audited writers (one task, then eight) without and with a `seal` every second beside
/// them (PostgreSQL): many short rounds, each measuring both, in turn first, so that the
/// machine's drift from one measurement to the next (on a shared machine, more than the
/// job's cost) evens out over the rounds.
async fn writers(r: &mut Report, backends: &[Backend]) -> Result<(), BoxError> {
    let Some(pg) = backends.iter().find(|b| b.is_postgres()) else {
        return Ok(());
    };
    let db = &pg.db;
    for i in 0..8 {
        new_row!(audited, 9000 + i).insert(db).await?;
    }
    seal(db).await?;
    // (tasks, seconds per measurement, rounds)
    let plans: [(u64, u64, usize); 2] = [(1, 3, 10), (8, 4, 12)];
    r.line("");
    r.line(format!(
        "Audited updates (one transaction each) on PostgreSQL, without and with a sealing job (`seal` every second) beside them: one task ({} rounds of {} s each way: how long a write takes when the machine has room), then 8 tasks ({} rounds of {} s each way: the machine's two cores saturated). Each round measures both, the one first that went second in the round before; the ratio of the rounds' sums stands beside the median of their ratios.",
        plans[0].2, plans[0].1, plans[1].2, plans[1].1
    ));
    r.line("");
    r.line("| writers | without: writes/s (median round) | with | with ÷ without, per round | median | sums |");
    r.line("|---|---|---|---|---|---|");
    for (tasks, seconds, rounds) in plans {
        let (mut without, mut with) = (Vec::new(), Vec::new());
        for round in 0..rounds {
            for job in [round % 2 == 1, round % 2 == 0] {
                // Each measurement starts with nothing left to seal: the job then seals
                // what the writers write beside it, not the backlog before.
                seal(db).await?;
                if !job {
                    without.push(throughput::<audited::Entity>(db, seconds, tasks, touch).await?);
                    continue;
                }
                let sealer = {
                    let db = db.clone();
                    tokio::spawn(async move {
                        let stop = Instant::now() + Duration::from_secs(seconds);
                        while Instant::now() < stop {
                            seal(&db).await?;
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                        Ok::<(), BoxError>(())
                    })
                };
                with.push(throughput::<audited::Entity>(db, seconds, tasks, touch).await?);
                sealer.await??;
            }
        }
        let median = |v: &[f64]| {
            let mut v = v.to_vec();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let ratios: Vec<f64> = with.iter().zip(&without).map(|(w, o)| w / o).collect();
        let sums = with.iter().sum::<f64>() / without.iter().sum::<f64>();
        let ratio_median = median(&ratios);
        r.line(format!(
            "| {tasks} | {:.0} | {:.0} | {} | {ratio_median:.3} | {sums:.3} |",
            median(&without),
            median(&with),
            ratios
                .iter()
                .map(|x| format!("{x:.2}"))
                .collect::<Vec<_>>()
                .join(" / "),
        ));
        let name = if tasks == 1 { "1 task" } else { "8 tasks" };
        r.target(
            format!("PostgreSQL: audited writes ({name}) with a sealing job beside them within 5% of without (median of {rounds} rounds)"),
            ratio_median >= 0.95,
            format!(
                "{ratio_median:.3} (rounds {:.3}–{:.3}; sums {sums:.3})",
                ratios.iter().copied().fold(f64::INFINITY, f64::min),
                ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            ),
        );
    }
    sweep_cost(r, db).await
}

/// What a sweep costs after the writers: one that falls due now (the runs moved two
/// minutes back), reading the gaps the runs left; then `seal_all` over the same rows,
/// reading every row since the runs' floor.
async fn sweep_cost(r: &mut Report, db: &DatabaseConnection) -> Result<(), BoxError> {
    seal(db).await?;
    db.execute_unprepared(
        "UPDATE activity_log_seal_runs SET sealed_at = sealed_at - interval '2 minutes' \
         WHERE run > 0",
    )
    .await?;
    let start = Instant::now();
    let due = seal(db).await?;
    let due_time = start.elapsed();
    let start = Instant::now();
    let all = seal_all(db).await?;
    let all_time = start.elapsed();
    let rows: i64 = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT (SELECT count(*) FROM activity_log) + (SELECT count(*) FROM versions)",
        ))
        .await?
        .and_then(|row| row.try_get_by_index(0).ok())
        .unwrap_or(0);
    if !due.swept || !all.swept || all.rows != 0 {
        return Err(format!("sweeps: due {due:?}, all {all:?}").into());
    }
    r.line("");
    r.line(format!(
        "A sweep after them, over {rows} rows: one due ({}): {:.1} ms; `seal_all` (every row since the runs' floor, nothing left to seal): {:.1} ms.",
        match due.swept_gaps {
            Some(n) => format!("the {n} gaps the runs left"),
            None => "every row since the floor".to_owned(),
        },
        due_time.as_secs_f64() * 1e3,
        all_time.as_secs_f64() * 1e3,
    ));
    Ok(())
}

fn touch(m: audited::Model, i: i32) -> audited::ActiveModel {
    let mut am = m.into_active_model();
    am.score = Set(i);
    am
}
