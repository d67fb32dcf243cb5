//! In-process micro-benchmarks, run by criterion: the typed diff of a 12-field model
//! against a generic `serde_json::Value` diff, snapshot, and rebuild from a snapshot.
//!
//! ```text
//! cargo bench -p audit-examples --bench micro
//! cargo bench -p audit-examples --bench micro -- diff     # only the diff cases
//! ```
//!
//! These were section 2 of the report of the `bench` program, which now measures the
//! database comparisons only.

use std::hint::black_box;

use audit_seaorm::{Audited, Changes};
use chrono::{TimeZone, Utc};
use criterion::{Criterion, criterion_main};

/// Twelve fields, audited.
mod wide {
    use audit_seaorm::Audited;
    use sea_orm::entity::prelude::*;
    use serde::Serialize;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited, Serialize)]
    #[sea_orm(table_name = "bench_wide")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub title: String,
        pub slug: String,
        pub body: String,
        pub author_id: i32,
        pub score: i32,
        pub rating: f64,
        pub published: bool,
        pub tags: String,
        pub lang: String,
        pub created_at: DateTimeUtc,
        pub updated_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// A model whose every field depends on `n`: models for different `n` differ in all 12.
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

/// The generic diff: both models to `serde_json::Value`, then compared key by key.
fn generic(old: &wide::Model, new: &wide::Model) -> Changes {
    let old = serde_json::to_value(old).unwrap();
    let new = serde_json::to_value(new).unwrap();
    Changes::between(&old, &new)
}

/// Typed diff (nothing, 1 and 12 of 12 fields changed) against the `Value` diff.
fn diff(c: &mut Criterion) {
    let a = model(0);
    let mut one = a.clone();
    one.title = "Changed".into();
    let mut all = model(1);
    all.id = a.id + 1;

    assert_eq!(wide::Model::changes(Some(&a), Some(&one)).unwrap().len(), 1);
    assert_eq!(
        generic(&a, &one),
        wide::Model::changes(Some(&a), Some(&one)).unwrap()
    );
    assert_eq!(
        wide::Model::changes(Some(&a), Some(&all)).unwrap().len(),
        12
    );

    let mut g = c.benchmark_group("diff");
    g.bench_function("typed, nothing changed", |b| {
        b.iter(|| wide::Model::changes(Some(black_box(&a)), Some(black_box(&a))).unwrap())
    });
    g.bench_function("typed, 1 of 12 fields changed", |b| {
        b.iter(|| wide::Model::changes(Some(black_box(&a)), Some(black_box(&one))).unwrap())
    });
    g.bench_function("typed, 12 of 12 fields changed", |b| {
        b.iter(|| wide::Model::changes(Some(black_box(&a)), Some(black_box(&all))).unwrap())
    });
    g.bench_function("serde_json::Value, 1 of 12 changed", |b| {
        b.iter(|| generic(black_box(&a), black_box(&one)))
    });
    g.bench_function("serde_json::Value, 12 of 12 changed", |b| {
        b.iter(|| generic(black_box(&a), black_box(&all)))
    });
    g.finish();
}

/// Snapshot of the 12 fields to JSON, and a model rebuilt from it (restore, in process).
fn snapshot(c: &mut Criterion) {
    let a = model(0);
    let data = a.snapshot().unwrap();
    assert_eq!(wide::Model::from_snapshot(None, &data).unwrap(), a);
    let mut g = c.benchmark_group("snapshot");
    g.bench_function("12 fields to JSON", |b| {
        b.iter(|| black_box(&a).snapshot().unwrap())
    });
    g.bench_function("rebuild a model from a snapshot", |b| {
        b.iter(|| wide::Model::from_snapshot(None, black_box(&data)).unwrap())
    });
    g.finish();
}

/// The group run by `main` (a private module: the macro's `pub fn` has no doc comment).
mod group {
    use super::{diff, snapshot};
    criterion::criterion_group!(benches, diff, snapshot);
}

criterion_main!(group::benches);
