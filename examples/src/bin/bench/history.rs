//! Section 6: questions asked of the history (time travel, diffs, blame, a request's
//! revert) on records with 1,000 versions, on every backend.

use std::time::{Duration, Instant};

use audit_seaorm::{AuditContext, AuditedEntity, Reverter};
use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ActiveValue, DatabaseConnection, Set};

use crate::BoxError;
use crate::common::{timed, us};
use crate::entities::{audited, wide};
use crate::report::Report;
use crate::setup::Backend;

/// Versions of the record the single-record questions read.
const VERSIONS: i32 = 1_000;
/// Records `as_of_many` reads.
const MANY: i32 = 1_000;
/// Changes of the reverted request.
const REVERTED: i32 = 100;

/// Section 6: the median time of each question on each backend, against its target.
pub async fn section(r: &mut Report, backends: &[Backend]) -> Result<(), BoxError> {
    r.line("");
    r.line(format!(
        "## 6. History questions: one record with {VERSIONS} versions, {MANY} records, a request of {REVERTED} changes"
    ));
    r.line("");
    r.line("| backend | as_of (midway) | diff v1 → v1000 | blame | as_of_many (1,000) | revert (100 changes) |");
    r.line("|---|---|---|---|---|---|");
    for b in backends {
        let f = figures(&b.db).await?;
        r.line(format!(
            "| {} | {} | {} | {} | {} | {} |",
            b.name,
            us(f.as_of),
            us(f.diff),
            us(f.blame),
            us(f.as_of_many),
            us(f.revert)
        ));
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let name = b.name;
        r.target(
            format!("{name}: as_of of a record with 1,000 versions ≤ 2 ms"),
            ms(f.as_of) <= 2.0,
            format!("{:.2} ms", ms(f.as_of)),
        );
        r.target(
            format!("{name}: as_of_many of 1,000 records ≤ 50 ms"),
            ms(f.as_of_many) <= 50.0,
            format!("{:.1} ms", ms(f.as_of_many)),
        );
        r.target(
            format!("{name}: diff across 1,000 versions ≤ 5 ms"),
            ms(f.diff) <= 5.0,
            format!("{:.2} ms", ms(f.diff)),
        );
        r.target(
            format!("{name}: blame of a 20-field record with 1,000 entries ≤ 5 ms"),
            ms(f.blame) <= 5.0,
            format!("{:.2} ms", ms(f.blame)),
        );
        if b.is_postgres() {
            r.target(
                "PostgreSQL: revert of a 100-change request ≤ 100 ms",
                ms(f.revert) <= 100.0,
                format!("{:.1} ms", ms(f.revert)),
            );
        }
    }
    Ok(())
}

struct Figures {
    as_of: Duration,
    diff: Duration,
    blame: Duration,
    as_of_many: Duration,
    revert: Duration,
}

async fn figures(db: &DatabaseConnection) -> Result<Figures, BoxError> {
    let (id, midway) = long_history(db).await?;
    let as_of = timed(20, || async {
        audited::Entity::as_of(db, id, midway).await?;
        Ok::<_, BoxError>(())
    })
    .await?;
    let diff = timed(20, || async {
        audited::Entity::diff(db, id, 1, i64::from(VERSIONS)).await?;
        Ok::<_, BoxError>(())
    })
    .await?;
    let wide_id = wide_history(db).await?;
    let blame = timed(10, || async {
        wide::Entity::blame(db, wide_id).await?;
        Ok::<_, BoxError>(())
    })
    .await?;
    let keys = many_records(db).await?;
    let now = Utc::now();
    let as_of_many = timed(10, || async {
        audited::Entity::as_of_many(db, &keys, now).await?;
        Ok::<_, BoxError>(())
    })
    .await?;
    let revert = revert_once(db, &keys[..REVERTED as usize]).await?;
    Ok(Figures {
        as_of,
        diff,
        blame,
        as_of_many,
        revert,
    })
}

async fn score(db: &DatabaseConnection, id: i32, score: i32) -> Result<(), BoxError> {
    audited::ActiveModel {
        id: ActiveValue::Unchanged(id),
        score: Set(score),
        ..Default::default()
    }
    .update(db)
    .await?;
    Ok(())
}

/// A record with `VERSIONS` versions, and the time its middle one was written.
async fn long_history(db: &DatabaseConnection) -> Result<(i32, DateTime<Utc>), BoxError> {
    let id = new_row!(audited, 0).insert(db).await?.id;
    for i in 1..VERSIONS {
        score(db, id, i).await?;
    }
    let versions = audited::Entity::versions(db, id).await?;
    Ok((id, versions[versions.len() / 2].created_at))
}

/// A record of the 20-field entity with `VERSIONS` entries, each update changing two of its
/// fields in turn; its key.
async fn wide_history(db: &DatabaseConnection) -> Result<i32, BoxError> {
    let mut row = wide::ActiveModel {
        f01: Set(0),
        f02: Set(0),
        f03: Set(0),
        f04: Set(0),
        f05: Set(0),
        f06: Set(0),
        f07: Set(0),
        f08: Set(0),
        f09: Set(0),
        f10: Set(0),
        f11: Set(String::new()),
        f12: Set(String::new()),
        f13: Set(String::new()),
        f14: Set(String::new()),
        f15: Set(String::new()),
        f16: Set(String::new()),
        f17: Set(String::new()),
        f18: Set(String::new()),
        f19: Set(String::new()),
        f20: Set(String::new()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    for i in 1..VERSIONS {
        let mut am: wide::ActiveModel = row.into();
        match i % 10 {
            0 => {
                am.f01 = Set(i);
                am.f11 = Set(format!("v{i}"));
            }
            1 => {
                am.f02 = Set(i);
                am.f12 = Set(format!("v{i}"));
            }
            2 => {
                am.f03 = Set(i);
                am.f13 = Set(format!("v{i}"));
            }
            3 => {
                am.f04 = Set(i);
                am.f14 = Set(format!("v{i}"));
            }
            4 => {
                am.f05 = Set(i);
                am.f15 = Set(format!("v{i}"));
            }
            5 => {
                am.f06 = Set(i);
                am.f16 = Set(format!("v{i}"));
            }
            6 => {
                am.f07 = Set(i);
                am.f17 = Set(format!("v{i}"));
            }
            7 => {
                am.f08 = Set(i);
                am.f18 = Set(format!("v{i}"));
            }
            8 => {
                am.f09 = Set(i);
                am.f19 = Set(format!("v{i}"));
            }
            _ => {
                am.f10 = Set(i);
                am.f20 = Set(format!("v{i}"));
            }
        }
        row = am.update(db).await?;
    }
    Ok(row.id)
}

/// `MANY` new records; their keys.
async fn many_records(db: &DatabaseConnection) -> Result<Vec<i32>, BoxError> {
    let mut keys = Vec::with_capacity(MANY as usize);
    for i in 0..MANY {
        keys.push(new_row!(audited, i).insert(db).await?.id);
    }
    Ok(keys)
}

/// One request that changes each of `keys` once, then the time of its revert.
async fn revert_once(db: &DatabaseConnection, keys: &[i32]) -> Result<Duration, BoxError> {
    let request = format!("bench-revert-{}", Utc::now().timestamp_micros());
    AuditContext::new()
        .request_id(request.clone())
        .scope(async {
            for &id in keys {
                score(db, id, -1).await?;
            }
            Ok::<_, BoxError>(())
        })
        .await?;
    let reverter = Reverter::new().entity::<audited::Entity>();
    let start = Instant::now();
    reverter.revert_request(db, &request, false).await?;
    Ok(start.elapsed())
}
