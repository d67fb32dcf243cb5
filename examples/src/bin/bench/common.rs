//! Helpers shared by the sections: timing, formatting, the benchmark row, memory.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::BoxError;

/// An insert of the benchmark row number `$i` into the entity module `$m` (one of
/// [`crate::entities`]' ten-column modules).
macro_rules! new_row {
    ($m:ident, $i:expr) => {{
        let (title, body) = $crate::common::row($i);
        $m::ActiveModel {
            title: sea_orm::Set(title),
            body: sea_orm::Set(body),
            author: sea_orm::Set("author".into()),
            status: sea_orm::Set("draft".into()),
            score: sea_orm::Set($i),
            rating: sea_orm::Set(4.5),
            published: sea_orm::Set(false),
            tags: sea_orm::Set("rust,orm".into()),
            created_at: sea_orm::Set(chrono::Utc::now()),
            ..Default::default()
        }
    }};
}

/// The middle value of `v` (the upper middle for an even length).
pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// `d` in microseconds, one decimal.
pub fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

/// `a ÷ b`.
pub fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

/// Resident set size now (kB).
pub fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

/// Title and body of the benchmark row number `i`.
pub fn row(i: i32) -> (String, String) {
    (
        format!("Title {i}"),
        format!("Body of post {i}, long enough to look like a paragraph of text."),
    )
}

/// Median of `runs` calls of `f`, after 3 warm-up calls.
pub async fn timed<F, Fut, T>(runs: usize, mut f: F) -> Result<Duration, BoxError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, BoxError>>,
{
    for _ in 0..3 {
        f().await?;
    }
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        f().await?;
        times.push(start.elapsed());
    }
    Ok(median(times))
}
