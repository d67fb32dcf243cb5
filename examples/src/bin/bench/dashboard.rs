//! Section 12: time filters and the dashboard on a big log — 10,000,000 activity rows on
//! PostgreSQL (the size the targets name), 1,000,000 on the others — with the listings
//! that must not have changed, and the PostgreSQL plans.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use audit_seaorm::http::AuditApi;
use audit_seaorm::{Filter, Order, activity, activity_select};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, QuerySelect, QueryTrait, Statement};
use tower::ServiceExt as _;

use crate::BoxError;
use crate::big_log::{explain, fill_sql};
use crate::common::{timed, us};
use crate::report::Report;
use crate::setup::Backend;

/// Section 12: one row per backend, its targets, and the plans of PostgreSQL.
pub async fn section(r: &mut Report, backends: &[Backend], pg_rows: u64) -> Result<(), BoxError> {
    r.line("");
    r.line(format!(
        "## 12. Time filters and the dashboard on a big log (PostgreSQL: {pg_rows} activity rows; the others: 1,000,000)"
    ));
    r.line("");
    r.line(
        "Entries one a second from 2026-01-01, 10,000 subjects, 100 causers, 4 actions. \
            The dashboard is `GET /dashboard?window_hours=8760` through the API's router \
            (counts and the 20 latest entries): its first read counts every hour of the \
            year that has not been counted yet; the figure after it is the median of the reads \
            that follow (five rounds of 25: the median round, and the fastest and slowest).",
    );
    r.line("");
    r.line("| backend | rows | load | action + time range, 50 | time range, first page | time range, deep page | dashboard 1 year, first read | dashboard 1 year | subject history, first 100 | causer's latest 50 | deep page by id, keyset |");
    r.line("|---|---|---|---|---|---|---|---|---|---|---|");
    let mut plans = None;
    for b in backends {
        let rows = if b.is_postgres() { pg_rows } else { 1_000_000 };
        let t = measure(b, rows).await?;
        r.line(format!(
            "| {} | {rows} | {:.1} s | {} | {} | {} | {:.2} s | {} ({}–{}) | {} | {} | {} |",
            b.name,
            t.load.as_secs_f64(),
            us(t.ranged),
            us(t.time_first),
            us(t.time_deep),
            t.dashboard_first.as_secs_f64(),
            us(t.dashboard.0),
            us(t.dashboard.1),
            us(t.dashboard.2),
            us(t.subject),
            us(t.causer),
            us(t.deep_by_id),
        ));
        targets(r, b, rows, &t);
        if b.is_postgres() {
            plans = Some(plans_of(&b.db, rows).await?);
        }
        // The next sections start from an empty log.
        b.db.execute_unprepared("DELETE FROM activity_log").await?;
        b.db.execute_unprepared("DELETE FROM activity_log_hourly")
            .await?;
    }
    if let Some(plans) = plans {
        r.line("");
        r.line("Query plans on PostgreSQL (`EXPLAIN`, the nodes that read a table):");
        r.line("");
        for l in plans.lines() {
            r.line(l);
        }
    }
    Ok(())
}

struct Times {
    load: Duration,
    ranged: Duration,
    time_first: Duration,
    time_deep: Duration,
    dashboard_first: Duration,
    /// The median of five rounds' medians, the lowest and the highest.
    dashboard: (Duration, Duration, Duration),
    subject: Duration,
    causer: Duration,
    deep_by_id: Duration,
}

fn time(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("a valid time")
        .with_timezone(&Utc)
}

/// The ids the deep pages start after: the entry in the middle of January's entries (its
/// month's listing, newest first, from there), and the middle of the log by id.
async fn cursors(db: &DatabaseConnection, rows: u64) -> Result<(i64, i64), BoxError> {
    // One entry a second: the month's entries end with the month or with the log.
    let seconds_in_month = rows.min(31 * 24 * 3600) as i64;
    let middle = time("2026-01-01T00:00:00Z") + chrono::Duration::seconds(seconds_in_month / 2);
    let mid_month = Filter::new()
        .since(middle)
        .order(Order::OldestFirst)
        .limit(1);
    let first = activity(db, &mid_month).await?.items[0].id;
    let newest = activity(db, &Filter::new().limit(1)).await?.items[0].id;
    let oldest = activity(db, &Filter::new().order(Order::OldestFirst).limit(1))
        .await?
        .items[0]
        .id;
    Ok((first, (newest + oldest) / 2))
}

/// The filters timed: an action over two days, every entry of a month (first page, and
/// the page after the middle of the month), and the listings by id.
fn filters((mid_month, mid_log): (i64, i64)) -> [(&'static str, Filter); 6] {
    let since = time("2026-01-03T00:00:00Z");
    let until = time("2026-01-05T00:00:00Z");
    let month = (time("2026-01-01T00:00:00Z"), time("2026-02-01T00:00:00Z"));
    [
        (
            "action + time range",
            Filter::new()
                .action("viewed")
                .since(since)
                .until(until)
                .limit(50),
        ),
        (
            "time range, first page",
            Filter::new().since(month.0).until(month.1).limit(50),
        ),
        (
            "time range, deep page",
            Filter::new()
                .since(month.0)
                .until(month.1)
                .limit(50)
                .after_id(mid_month),
        ),
        (
            "subject history",
            Filter::new()
                .subject("post", "4242")
                .order(Order::OldestFirst)
                .limit(100),
        ),
        (
            "causer's latest 50",
            Filter::new().causer("user-42").limit(50),
        ),
        ("deep page by id", Filter::new().limit(50).after_id(mid_log)),
    ]
}

async fn load(db: &DatabaseConnection, rows: u64) -> Result<Duration, BoxError> {
    let backend = db.get_database_backend();
    db.execute_unprepared("DELETE FROM activity_log").await?;
    db.execute_unprepared("DELETE FROM activity_log_hourly")
        .await?;
    let start = Instant::now();
    db.execute_unprepared(&fill_sql(backend, rows)).await?;
    db.execute_unprepared(match backend {
        DbBackend::Postgres => "VACUUM ANALYZE activity_log",
        DbBackend::MySql => "ANALYZE TABLE activity_log",
        _ => "ANALYZE",
    })
    .await?;
    Ok(start.elapsed())
}

/// `GET /dashboard?window_hours=8760` through the API's router, once: its total.
async fn dashboard(api: &axum::Router) -> Result<i64, BoxError> {
    let request = Request::get("/dashboard?window_hours=8760").body(Body::empty())?;
    let response = api.clone().oneshot(request).await?;
    if response.status() != StatusCode::OK {
        return Err(format!("dashboard answered {}", response.status()).into());
    }
    let body = axum::body::to_bytes(response.into_body(), 1 << 20).await?;
    let body: serde_json::Value = serde_json::from_slice(&body)?;
    body["counts"]["total"]
        .as_i64()
        .ok_or_else(|| "no total in the dashboard".into())
}

async fn measure(b: &Backend, rows: u64) -> Result<Times, BoxError> {
    let db = &b.db;
    let load = load(db, rows).await?;
    let [ranged, time_first, time_deep, subject, causer, deep_by_id] =
        filters(cursors(db, rows).await?);
    let runs = 25;
    let page = |filter: Filter| async move {
        timed(runs, || async {
            Ok::<_, BoxError>(activity(db, &filter).await?.items.len())
        })
        .await
    };
    // Every filter finds a full page (a wrong cursor would time an empty one).
    for (name, filter) in [
        &ranged,
        &time_first,
        &time_deep,
        &subject,
        &causer,
        &deep_by_id,
    ] {
        let n = activity(db, filter).await?.items.len() as u64;
        if n != filter.effective_limit() {
            return Err(format!("{name}: {n} entries, not a full page").into());
        }
    }
    let api = AuditApi::new(db.clone()).authorize(|_, _| true).router();
    let start = Instant::now();
    let total = dashboard(&api).await?;
    let dashboard_first = start.elapsed();
    // The counts are those of the log: every entry is in the year's window.
    if total != rows as i64 {
        return Err(format!("the dashboard counted {total} entries of {rows}").into());
    }
    Ok(Times {
        load,
        ranged: page(ranged.1).await?,
        time_first: page(time_first.1).await?,
        time_deep: page(time_deep.1).await?,
        dashboard_first,
        dashboard: {
            // Five rounds: the median round, and the spread of the rounds.
            let mut rounds = Vec::new();
            for _ in 0..5 {
                rounds.push(timed(runs, || dashboard(&api)).await?);
            }
            rounds.sort();
            (rounds[2], rounds[0], rounds[4])
        },
        subject: page(subject.1).await?,
        causer: page(causer.1).await?,
        deep_by_id: page(deep_by_id.1).await?,
    })
}

fn targets(r: &mut Report, b: &Backend, rows: u64, t: &Times) {
    let ms2 = Duration::from_millis(2);
    for (name, d, limit) in [
        ("action + time range, 50", t.ranged, ms2),
        (
            "dashboard, 1-year window",
            t.dashboard.0,
            Duration::from_millis(20),
        ),
        ("subject history", t.subject, ms2),
        ("causer's latest 50", t.causer, ms2),
        ("deep keyset page", t.deep_by_id, ms2),
    ] {
        r.target(
            format!(
                "{}: {name} at {rows} rows ≤ {} ms",
                b.name,
                limit.as_millis()
            ),
            d <= limit,
            us(d),
        );
    }
}

/// The read nodes of the PostgreSQL plans of the time-filtered listings and the counts.
async fn plans_of(db: &DatabaseConnection, rows: u64) -> Result<String, BoxError> {
    let mut plans = String::new();
    let [ranged, time_first, time_deep, ..] = filters(cursors(db, rows).await?);
    for (name, filter) in [ranged, time_first, time_deep] {
        let stmt = activity_select(&filter, DbBackend::Postgres)
            .limit(filter.effective_limit() + 1)
            .build(DbBackend::Postgres);
        let _ = writeln!(plans, "- {name}: {}", explain(db, stmt).await?);
    }
    let sum = Statement::from_string(
        DbBackend::Postgres,
        "SELECT subject_type, action, CAST(SUM(n) AS BIGINT) FROM activity_log_hourly \
         WHERE hour >= now() - interval '1 year' AND hour < now() AND subject_type <> '\u{1}' \
         GROUP BY subject_type, action",
    );
    let _ = writeln!(
        plans,
        "- the year's hourly counts: {}",
        explain(db, sum).await?
    );
    Ok(plans)
}
