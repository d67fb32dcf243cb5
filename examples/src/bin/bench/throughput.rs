//! Section 4: throughput of 8 concurrent tasks, plain vs audited (PostgreSQL).

use std::time::{Duration, Instant};

use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, DatabaseConnection, EntityTrait, IntoActiveModel,
    QuerySelect, Set, TransactionTrait,
};

use crate::BoxError;
use crate::entities::{audited, plain};
use crate::report::Report;
use crate::setup::Backend;

/// Section 4, if PostgreSQL is among `backends`: plain and audited writes per second.
pub async fn section(r: &mut Report, backends: &[Backend], seconds: u64) -> Result<(), BoxError> {
    let Some(pg) = backends.iter().find(|b| b.is_postgres()) else {
        return Ok(());
    };
    r.line("");
    r.line(format!("## 4. Throughput: 8 tasks updating different rows for {seconds} s (PostgreSQL, one transaction per write)"));
    r.line("");
    for i in 0..8 {
        new_row!(plain, i).insert(&pg.db).await?;
        new_row!(audited, i).insert(&pg.db).await?;
    }
    let plain_wps = throughput::<plain::Entity>(&pg.db, seconds, 8, |m, i| {
        let mut am = m.into_active_model();
        am.score = Set(i);
        am
    })
    .await?;
    let audited_wps = throughput::<audited::Entity>(&pg.db, seconds, 8, |m, i| {
        let mut am = m.into_active_model();
        am.score = Set(i);
        am
    })
    .await?;
    r.line("| plain writes/s | audited writes/s | audited ÷ plain |");
    r.line("|---|---|---|");
    r.line(format!(
        "| {plain_wps:.0} | {audited_wps:.0} | {:.2} |",
        audited_wps / plain_wps
    ));
    Ok(())
}

/// Writes per second of `tasks` tasks (at most 8), each updating its own row in a
/// transaction per write, for `seconds`.
pub async fn throughput<E>(
    db: &DatabaseConnection,
    seconds: u64,
    tasks: u64,
    touch: fn(E::Model, i32) -> E::ActiveModel,
) -> Result<f64, BoxError>
where
    E: EntityTrait,
    E::Model: IntoActiveModel<E::ActiveModel> + Clone + Send + Sync,
    E::ActiveModel: ActiveModelTrait<Entity = E> + ActiveModelBehavior + Send,
{
    let rows = E::find().limit(tasks).all(db).await?;
    if (rows.len() as u64) < tasks {
        return Err(format!(
            "the throughput run needs {tasks} rows, found {}",
            rows.len()
        )
        .into());
    }
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for row in rows {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            let mut model = row;
            while Instant::now() < deadline {
                let txn = db.begin().await?;
                model = touch(model, n as i32).update(&txn).await?;
                txn.commit().await?;
                n += 1;
            }
            Ok::<u64, BoxError>(n)
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await??;
    }
    Ok(total as f64 / seconds as f64)
}
