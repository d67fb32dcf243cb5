//! Section 3: queries on a big log — history, filters, first and deep pages — with memory
//! while loading and paging, and the PostgreSQL plans.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use audit_seaorm::entity::activity_log;
use audit_seaorm::{Filter, activity, activity_select, history};
use chrono::Utc;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QuerySelect, QueryTrait, Statement,
};

use crate::BoxError;
use crate::common::{ratio, rss_kb, timed, us};
use crate::report::Report;
use crate::setup::Backend;

/// Section 3: one row per backend, its targets, and the plans of PostgreSQL.
pub async fn section(r: &mut Report, backends: &[Backend], rows: u64) -> Result<(), BoxError> {
    r.line("");
    r.line(format!(
        "## 3. Queries on a big log ({rows} activity rows, 10,000 subjects, 100 causers)"
    ));
    r.line("");
    r.line("| backend | load | subject history (100 rows) | causer's latest 50 | action + time range, 50 | first page (50) | deep page, keyset | deep page, offset | RSS growth: load / paging all |");
    r.line("|---|---|---|---|---|---|---|---|---|");
    let mut plans = None;
    for b in backends {
        plans = plans.or(big_log(r, b, rows).await?);
    }
    if let Some(plans) = plans {
        r.line("");
        r.line("Query plans on PostgreSQL (`EXPLAIN`, the node that reads `activity_log`):");
        r.line("");
        for l in plans.lines() {
            r.line(l);
        }
    }
    Ok(())
}

/// Fills `activity_log` with `rows` synthetic entries in one statement.
pub fn fill_sql(backend: DbBackend, rows: u64) -> String {
    let digits = "SELECT 0 AS n UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 \
                  UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9";
    let (subject, causer, at) = match backend {
        DbBackend::Postgres => (
            "(g % 10000)::text".to_owned(),
            "'user-' || (g % 100)".to_owned(),
            "timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second'".to_owned(),
        ),
        DbBackend::MySql => (
            "CAST(g % 10000 AS CHAR)".to_owned(),
            "CONCAT('user-', g % 100)".to_owned(),
            "TIMESTAMPADD(SECOND, g, '2026-01-01 00:00:00')".to_owned(),
        ),
        _ => (
            "CAST(g % 10000 AS TEXT)".to_owned(),
            "'user-' || (g % 100)".to_owned(),
            // The text SQLite holds a `DateTime<Utc>` as (RFC 3339): time filters compare text.
            "strftime('%Y-%m-%dT%H:%M:%S', '2026-01-01', '+' || g || ' seconds') || '+00:00'"
                .to_owned(),
        ),
    };
    // No quoted identifiers: the same text works on every backend.
    let changes = r#"'{"title":{"old":"a","new":"b"}}'"#;
    // As many digits as the largest g has (a cross join of ten rows per digit).
    let width = rows.saturating_sub(1).max(1).to_string().len();
    let tables = (0..width)
        .map(|i| format!("({digits}) d{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let number = (0..width)
        .map(|i| format!("{} * d{i}.n", 10u64.pow(i as u32)))
        .collect::<Vec<_>>()
        .join(" + ");
    format!(
        "INSERT INTO activity_log (action, subject_type, subject_id, causer_id, changes, created_at)
        SELECT CASE g % 4 WHEN 0 THEN 'created' WHEN 1 THEN 'updated' WHEN 2 THEN 'viewed' ELSE 'deleted' END,
               'post', {subject}, {causer}, {changes}, {at}
        FROM (SELECT {number} AS g FROM {tables}) nums
        WHERE g < {rows}"
    )
}

/// Empties `activity_log`, fills it with `rows` entries and analyzes it: the time taken
/// and the RSS growth (kB).
async fn load(db: &DatabaseConnection, rows: u64) -> Result<(Duration, u64), BoxError> {
    let backend = db.get_database_backend();
    db.execute_unprepared("DELETE FROM activity_log").await?;
    let rss_before_load = rss_kb();
    let start = Instant::now();
    db.execute_unprepared(&fill_sql(backend, rows)).await?;
    match backend {
        DbBackend::Postgres => {
            db.execute_unprepared("ANALYZE activity_log").await?;
        }
        DbBackend::MySql => {
            db.execute_unprepared("ANALYZE TABLE activity_log").await?;
        }
        _ => {
            db.execute_unprepared("ANALYZE").await?;
        }
    }
    Ok((start.elapsed(), rss_kb().saturating_sub(rss_before_load)))
}

/// The highest `activity_log` id, 0 if empty.
async fn max_id(db: &DatabaseConnection) -> Result<i64, BoxError> {
    Ok(activity_log::Entity::find()
        .select_only()
        .column_as(
            sea_orm::sea_query::Expr::from(sea_orm::sea_query::Func::max(
                sea_orm::sea_query::Expr::col(activity_log::Column::Id),
            )),
            "m",
        )
        .into_tuple::<Option<i64>>()
        .one(db)
        .await?
        .flatten()
        .unwrap_or(0))
}

/// The filters timed on the big log.
struct Filters {
    causer: Filter,
    ranged: Filter,
    first: Filter,
    deep_keyset: Filter,
    deep_offset: Filter,
}

impl Filters {
    async fn new(db: &DatabaseConnection, rows: u64) -> Result<Self, BoxError> {
        let max_id = max_id(db).await?;
        let since =
            chrono::DateTime::parse_from_rfc3339("2026-01-03T00:00:00Z")?.with_timezone(&Utc);
        let until =
            chrono::DateTime::parse_from_rfc3339("2026-01-05T00:00:00Z")?.with_timezone(&Utc);
        Ok(Filters {
            causer: Filter::new().causer("user-42").limit(50),
            ranged: Filter::new()
                .action("viewed")
                .since(since)
                .until(until)
                .limit(50),
            first: Filter::new().limit(50),
            deep_keyset: Filter::new().limit(50).after_id(max_id - rows as i64 / 2),
            deep_offset: Filter::new().limit(50).offset(rows / 2),
        })
    }
}

/// Median times of the queries of the big-log table.
struct QueryTimes {
    subject: Duration,
    causer: Duration,
    ranged: Duration,
    first: Duration,
    keyset: Duration,
    offset: Duration,
}

/// Median time of `runs` reads of the activity page that `filter` selects.
async fn time_filter(
    db: &DatabaseConnection,
    filter: &Filter,
    runs: usize,
) -> Result<Duration, BoxError> {
    timed(runs, || async {
        Ok::<_, BoxError>(activity(db, filter).await?.items.len())
    })
    .await
}

/// Times the subject history and every filter of `f` (25 runs each, 5 for the offset page).
async fn time_queries(db: &DatabaseConnection, f: &Filters) -> Result<QueryTimes, BoxError> {
    let runs = 25;
    Ok(QueryTimes {
        subject: timed(runs, || async {
            Ok::<_, BoxError>(history(db, "post", "4242").await?.len())
        })
        .await?,
        causer: time_filter(db, &f.causer, runs).await?,
        ranged: time_filter(db, &f.ranged, runs).await?,
        first: time_filter(db, &f.first, runs).await?,
        keyset: time_filter(db, &f.deep_keyset, runs).await?,
        offset: time_filter(db, &f.deep_offset, 5).await?,
    })
}

/// Pages through the whole log with the cursor, 500 at a time: the entries seen and the
/// highest RSS growth on the way (kB). Memory must not grow with the log.
async fn page_all(db: &DatabaseConnection) -> Result<(u64, u64), BoxError> {
    let rss_before_paging = rss_kb();
    let mut paging_rss = 0;
    let mut cursor = None;
    let mut seen = 0u64;
    loop {
        let mut f = Filter::new().limit(500);
        if let Some(c) = cursor {
            f = f.after_id(c);
        }
        let page = activity(db, &f).await?;
        seen += page.items.len() as u64;
        paging_rss = paging_rss.max(rss_kb().saturating_sub(rss_before_paging));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    Ok((seen, paging_rss))
}

/// Loads, times and pages one backend's big log, writes its row and targets; its plans if
/// it is PostgreSQL.
async fn big_log(r: &mut Report, b: &Backend, rows: u64) -> Result<Option<String>, BoxError> {
    let db = &b.db;
    let (load, load_rss) = load(db, rows).await?;
    let filters = Filters::new(db, rows).await?;
    let t = time_queries(db, &filters).await?;
    assert_eq!(
        history(db, "post", "4242").await?.len() as u64,
        rows / 10_000,
        "history size"
    );
    let (seen, page_rss) = page_all(db).await?;
    assert_eq!(seen, rows);

    r.line(format!(
        "| {} | {:.1} s | {} | {} | {} | {} | {} | {} | +{} MiB / +{} MiB |",
        b.name,
        load.as_secs_f64(),
        us(t.subject),
        us(t.causer),
        us(t.ranged),
        us(t.first),
        us(t.keyset),
        us(t.offset),
        load_rss / 1024,
        page_rss / 1024,
    ));
    targets(r, b, rows, &t);
    if b.is_postgres() {
        return Ok(Some(plans(db, &filters).await?));
    }
    Ok(None)
}

/// The big-log targets of one backend.
fn targets(r: &mut Report, b: &Backend, rows: u64, t: &QueryTimes) {
    let ms2 = Duration::from_millis(2);
    r.target(
        format!("{}: subject history at {rows} rows ≤ 2 ms", b.name),
        t.subject <= ms2,
        us(t.subject),
    );
    r.target(
        format!("{}: causer's latest 50 at {rows} rows ≤ 2 ms", b.name),
        t.causer <= ms2,
        us(t.causer),
    );
    let q = ratio(t.keyset, t.first);
    r.target(
        format!("{}: deep keyset page ≤ 2× first page", b.name),
        q <= 2.0,
        format!("{q:.2}×"),
    );
}

/// The scan nodes of the PostgreSQL plans of every timed query, one list item each.
async fn plans(db: &DatabaseConnection, f: &Filters) -> Result<String, BoxError> {
    let mut plans = String::new();
    for (name, filter) in [
        ("causer's latest 50", &f.causer),
        ("action + time range", &f.ranged),
        ("first page", &f.first),
        ("deep page, keyset", &f.deep_keyset),
        ("deep page, offset", &f.deep_offset),
    ] {
        let stmt = activity_select(filter, DbBackend::Postgres)
            .limit(filter.effective_limit() + 1)
            .build(DbBackend::Postgres);
        let _ = writeln!(plans, "- {name}: {}", explain(db, stmt).await?);
    }
    let stmt = activity_select(
        &Filter::new()
            .subject("post", "4242")
            .order(audit_seaorm::Order::OldestFirst),
        DbBackend::Postgres,
    )
    .build(DbBackend::Postgres);
    let _ = writeln!(plans, "- subject history: {}", explain(db, stmt).await?);
    Ok(plans)
}

/// The scan nodes of a plan, e.g. `Index Scan Backward using idx_activity_log_causer`.
pub async fn explain(db: &DatabaseConnection, stmt: Statement) -> Result<String, BoxError> {
    let sql = format!("EXPLAIN {}", stmt.sql);
    let rows = db.query_all_raw(Statement { sql, ..stmt }).await?;
    let nodes: Vec<String> = rows
        .iter()
        .filter_map(|row| row.try_get::<String>("", "QUERY PLAN").ok())
        .map(|l| l.trim().trim_start_matches("->").trim().to_owned())
        .filter(|l| l.contains("Scan"))
        .map(|l| l.split("  (").next().unwrap_or(&l).to_owned())
        .collect();
    Ok(nodes.join("; "))
}
