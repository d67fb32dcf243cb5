//! In-process micro-benchmarks: typed diff vs a generic `serde_json::Value` diff, snapshot
//! and rebuild from a snapshot. Median of 15 batches, each timed over many iterations.

use std::hint::black_box;
use std::time::{Duration, Instant};

use audit_seaorm::{Audited, Changes};
use chrono::{TimeZone, Utc};

use crate::entities::wide;

pub struct Micro {
    pub rows: Vec<(&'static str, Duration)>,
    pub typed_one: Duration,
    pub typed_all: Duration,
    pub generic_one: Duration,
    pub generic_all: Duration,
}

fn per_call(iters: u32, mut f: impl FnMut()) -> Duration {
    for _ in 0..iters / 10 {
        f();
    }
    let mut batches = Vec::with_capacity(15);
    for _ in 0..15 {
        let start = Instant::now();
        for _ in 0..iters {
            f();
        }
        batches.push(start.elapsed() / iters);
    }
    batches.sort();
    batches[batches.len() / 2]
}

fn model(n: i64) -> wide::Model {
    wide::Model {
        id: 1,
        title: format!("Title {n}"),
        slug: format!("title-{n}"),
        body: "A body of moderate length, as a blog post's first paragraph would be.".repeat(2)
            + &n.to_string(),
        author_id: 7 + n as i32,
        score: 40 + n as i32,
        rating: 4.25 + n as f64,
        published: n % 2 == 0,
        tags: format!("rust,orm,{n}"),
        lang: if n == 0 { "en".into() } else { "de".into() },
        created_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, n as u32).unwrap(),
        updated_at: if n == 0 { None } else { Some(Utc::now()) },
    }
}

fn generic(old: &wide::Model, new: &wide::Model) -> Changes {
    let old = serde_json::to_value(old).unwrap();
    let new = serde_json::to_value(new).unwrap();
    Changes::between(&old, &new)
}

pub fn run() -> Micro {
    let a = model(0);
    let mut one = a.clone();
    one.title = "Changed".into();
    let mut all = model(1);
    all.id = a.id + 1;
    const N: u32 = 20_000;

    assert_eq!(wide::Model::changes(Some(&a), Some(&one)).unwrap().len(), 1);
    assert_eq!(
        generic(&a, &one),
        wide::Model::changes(Some(&a), Some(&one)).unwrap()
    );
    assert_eq!(
        wide::Model::changes(Some(&a), Some(&all)).unwrap().len(),
        12
    );

    let typed_one = per_call(N, || {
        black_box(wide::Model::changes(Some(black_box(&a)), Some(black_box(&one))).unwrap());
    });
    let typed_all = per_call(N, || {
        black_box(wide::Model::changes(Some(black_box(&a)), Some(black_box(&all))).unwrap());
    });
    let generic_one = per_call(N, || {
        black_box(generic(black_box(&a), black_box(&one)));
    });
    let generic_all = per_call(N, || {
        black_box(generic(black_box(&a), black_box(&all)));
    });
    let unchanged = per_call(N, || {
        black_box(wide::Model::changes(Some(black_box(&a)), Some(black_box(&a))).unwrap());
    });
    let snapshot = per_call(N, || {
        black_box(black_box(&a).snapshot().unwrap());
    });
    let data = a.snapshot().unwrap();
    let rebuild = per_call(N, || {
        black_box(wide::Model::from_snapshot(None, black_box(&data)).unwrap());
    });
    Micro {
        rows: vec![
            ("typed diff, nothing changed", unchanged),
            ("typed diff, 1 of 12 fields changed", typed_one),
            ("typed diff, 12 of 12 fields changed", typed_all),
            ("`serde_json::Value` diff, 1 of 12 changed", generic_one),
            ("`serde_json::Value` diff, 12 of 12 changed", generic_all),
            ("snapshot (12 fields to JSON)", snapshot),
            (
                "rebuild a model from a snapshot (restore, in process)",
                rebuild,
            ),
        ],
        typed_one,
        typed_all,
        generic_one,
        generic_all,
    }
}
