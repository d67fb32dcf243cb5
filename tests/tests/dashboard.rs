//! The dashboard's counts: read from hourly counts kept beside the log, they always equal
//! a count of the log itself, for any window, after late reads, and after a prune.

use std::collections::BTreeMap;

use audit_seaorm::entity::{activity_log, hourly};
use audit_seaorm::{NewActivity, Retention, activity_counts, log, prune};
use audit_tests::{
    backend_tests, move_entries, server_backend_tests, time_value, until_a_lock_wait,
};
use chrono::{DateTime, Duration, DurationRound, Utc};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};

/// An entry written at `at` (its `created_at` moved there).
async fn entry_at(db: &DatabaseConnection, action: &str, subject_type: &str, at: DateTime<Utc>) {
    let entry = log(db, NewActivity::new(action).subject(subject_type, 1))
        .await
        .unwrap();
    move_entries(db, [entry.id], at).await;
}

/// What the counts must be: the seeded entries of `[since, until)`, counted here.
fn expected(
    seeded: &[(String, String, DateTime<Utc>)],
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> (i64, BTreeMap<String, i64>, BTreeMap<String, i64>) {
    let mut by_action = BTreeMap::new();
    let mut by_type = BTreeMap::new();
    let mut total = 0;
    for (action, subject_type, at) in seeded {
        if since <= *at && *at < until {
            total += 1;
            *by_action.entry(action.clone()).or_insert(0) += 1;
            *by_type.entry(subject_type.clone()).or_insert(0) += 1;
        }
    }
    (total, by_action, by_type)
}

async fn hourly_rows(db: &DatabaseConnection) -> u64 {
    hourly::Entity::find().count(db).await.unwrap()
}

/// An entry written into an hour already counted (an import with past times) is in the
/// log but not in that hour's count, until `recount_activity` drops the hour's counts and
/// the next read counts it again.
async fn an_import_into_counted_hours_is_recounted(db: DatabaseConnection) {
    let now = Utc::now();
    let window = (now - Duration::days(1), now + Duration::seconds(1));
    entry_at(&db, "viewed", "post", now - Duration::hours(5)).await;
    let before = activity_counts(&db, window.0, window.1).await.unwrap();
    assert_eq!(before.total, 1);
    entry_at(&db, "imported", "post", now - Duration::hours(3)).await;
    let stale = activity_counts(&db, window.0, window.1).await.unwrap();
    assert_eq!(stale.total, 1, "the hour was counted before the import");
    audit_seaorm::recount_activity(&db, now - Duration::hours(4), now - Duration::hours(2))
        .await
        .unwrap();
    let after = activity_counts(&db, window.0, window.1).await.unwrap();
    assert_eq!(after.total, 2);
    assert_eq!(after.by_action["imported"], 1);
}

async fn counts_equal_the_log_for_any_window(db: DatabaseConnection) {
    let now = Utc::now();
    let hour = now.duration_trunc(Duration::hours(1)).unwrap();
    // 60 entries, one every 23 minutes back from 10 minutes ago: some in the last,
    // uncounted hour, most in hours long over.
    let mut seeded = Vec::new();
    for i in 0..60i64 {
        let at = now - Duration::minutes(10 + 23 * i);
        let action = ["viewed", "shared", "updated"][(i % 3) as usize];
        let subject_type = if i % 4 == 0 { "comment" } else { "post" };
        entry_at(&db, action, subject_type, at).await;
        seeded.push((action.to_owned(), subject_type.to_owned(), at));
    }
    let windows = [
        (now - Duration::hours(24), now + Duration::seconds(1)),
        (now - Duration::minutes(317), now - Duration::minutes(95)),
        (hour - Duration::hours(7), hour - Duration::hours(2)),
        (now - Duration::minutes(30), now + Duration::seconds(1)),
        (now - Duration::days(365), now + Duration::seconds(1)),
    ];
    for (since, until) in windows {
        let counts = activity_counts(&db, since, until).await.unwrap();
        let (total, by_action, by_type) = expected(&seeded, since, until);
        assert_eq!(counts.total, total, "[{since}, {until})");
        assert_eq!(counts.by_action, by_action, "[{since}, {until})");
        assert_eq!(counts.by_subject_type, by_type, "[{since}, {until})");
    }
    // The year's window counted every hour over: a second read counts none again.
    let rows = hourly_rows(&db).await;
    assert!(rows > 0);
    let again = activity_counts(&db, now - Duration::days(365), now + Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(again.total, 60);
    assert_eq!(hourly_rows(&db).await, rows);
    // Each counted hour has its marker, whose total is the hour's entries.
    let markers = hourly::Entity::find()
        .filter(hourly::Column::SubjectType.eq("\u{1}"))
        .all(&db)
        .await
        .unwrap();
    // From the first entry's hour: the hours before it hold nothing to count.
    let earliest = seeded
        .iter()
        .map(|s| s.2)
        .filter(|t| *t >= now - Duration::days(365))
        .min()
        .unwrap();
    let first = ((now - Duration::days(365))
        .duration_trunc(Duration::hours(1))
        .unwrap()
        + Duration::hours(1))
    .max(earliest.duration_trunc(Duration::hours(1)).unwrap());
    let end = (now - Duration::hours(1))
        .duration_trunc(Duration::hours(1))
        .unwrap();
    assert_eq!(
        markers.len() as i64,
        (end - first).num_hours(),
        "every hour over by an hour, from the first entry's"
    );
    let marked: i64 = markers.iter().map(|m| m.n).sum();
    assert_eq!(marked, expected(&seeded, first, end).0);

    // Prune: the hours that lost entries are counted again, from what is left.
    let pruned = prune(
        &db,
        &Retention::new().entries_older_than(Duration::hours(12)),
    )
    .await
    .unwrap();
    let (old, _, _) = expected(
        &seeded,
        now - Duration::days(400),
        now - Duration::hours(12),
    );
    assert_eq!(pruned.entries, old as u64);
    let later = Utc::now() + Duration::seconds(1);
    let after = activity_counts(&db, now - Duration::days(365), later)
        .await
        .unwrap();
    let left = activity_log::Entity::find()
        .filter(activity_log::Column::Action.ne("pruned"))
        .count(&db)
        .await
        .unwrap();
    // The `pruned` entry itself is in the log (and the counts) too.
    assert_eq!(after.total, left as i64 + 1);
    assert_eq!(after.by_action.get("pruned"), Some(&1));
    assert_eq!(after.total - 1, 60 - old);
}

/// An "all time" window (the earliest and latest times there are) counts from the first
/// entry's hour: the empty years before it cost nothing, and no time past what a backend
/// stores is sent.
async fn all_time_counts_start_at_the_first_entry(db: DatabaseConnection) {
    entry_at(&db, "viewed", "post", Utc::now() - Duration::hours(30)).await;
    let counts = activity_counts(&db, DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC)
        .await
        .unwrap();
    assert_eq!(counts.total, 1);
    assert_eq!(counts.by_action.get("viewed"), Some(&1));
    let rows = hourly_rows(&db).await;
    assert!(rows <= 40, "{rows} hourly rows for one entry 30 hours ago");
    let none = activity_counts(
        &db,
        DateTime::<Utc>::MIN_UTC,
        Utc::now() - Duration::days(2),
    )
    .await
    .unwrap();
    assert_eq!(none.total, 0);
}

server_backend_tests!(a_count_waits_for_a_prune);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_count_waits_for_a_prune_on_a_pooled_sqlite_file() {
    let (db, _dir) = audit_tests::pooled_sqlite_file("dashboard").await;
    a_count_waits_for_a_prune(db.clone()).await;
    db.close().await.unwrap();
}

/// A dashboard read that counts an hour while a prune's batch is deleting entries of that
/// hour waits for the batch (both hold the seal runs' lock), and counts what is left: a
/// count read before the delete committed and written after it would keep the deleted
/// entries counted for good, since the batch forgot the hour's counts before they were
/// written.
async fn a_count_waits_for_a_prune(db: DatabaseConnection) {
    use audit_seaorm::entity::seal_runs;
    use sea_orm::QuerySelect;
    let hour = (Utc::now() - Duration::hours(5))
        .duration_trunc(Duration::hours(1))
        .unwrap();
    for i in 0..4 {
        entry_at(&db, "viewed", "post", hour + Duration::minutes(10 * i)).await;
    }
    // What a prune batch does, held open: the runs' lock, the delete, the forget.
    let batch = audit_seaorm::begin_write(&db).await.unwrap();
    seal_runs::Entity::find_by_id(0)
        .lock_exclusive()
        .one(&batch)
        .await
        .unwrap()
        .expect("the runs' origin row");
    let deleted = activity_log::Entity::delete_many()
        .filter(activity_log::Column::CreatedAt.lt(time_value(&db, hour + Duration::minutes(15))))
        .exec(&batch)
        .await
        .unwrap();
    assert_eq!(deleted.rows_affected, 2);
    hourly::Entity::delete_many().exec(&batch).await.unwrap();
    let reader = tokio::spawn({
        let db = db.clone();
        async move {
            activity_counts(&db, hour, hour + Duration::hours(1))
                .await
                .unwrap()
        }
    });
    until_a_lock_wait(&db).await;
    assert!(
        !reader.is_finished(),
        "the count waits for the prune's batch"
    );
    batch.commit().await.unwrap();
    let during = reader.await.unwrap();
    assert_eq!(during.total, 2, "counted while the batch was open");
    let later = activity_counts(&db, hour, hour + Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(later.total, 2, "counted after it");
    let marker = hourly::Entity::find()
        .filter(hourly::Column::SubjectType.eq("\u{1}"))
        .one(&db)
        .await
        .unwrap()
        .expect("the hour's marker");
    assert_eq!(marker.n, 2);
}

/// Inside a caller's transaction the counts are the same, and no hour's count is written
/// (the runs' lock would be held until that transaction ends, and its snapshot may
/// predate a prune); on the pool they are written.
async fn counts_in_a_transaction_write_nothing(db: DatabaseConnection) {
    use sea_orm::TransactionTrait;
    let now = Utc::now();
    entry_at(&db, "viewed", "post", now - Duration::hours(30)).await;
    entry_at(&db, "shared", "post", now - Duration::hours(3)).await;
    let txn = db.begin().await.unwrap();
    let counts = activity_counts(&txn, now - Duration::days(2), now)
        .await
        .unwrap();
    txn.commit().await.unwrap();
    assert_eq!(counts.total, 2);
    assert_eq!(counts.by_action.get("viewed"), Some(&1));
    assert_eq!(hourly_rows(&db).await, 0);
    let again = activity_counts(&db, now - Duration::days(2), now)
        .await
        .unwrap();
    assert_eq!(again, counts);
    assert!(hourly_rows(&db).await > 0);
}

backend_tests!(
    an_import_into_counted_hours_is_recounted,
    counts_in_a_transaction_write_nothing,
    all_time_counts_start_at_the_first_entry,
    counts_equal_the_log_for_any_window,
    counts_entries_written_by_plain_sql,
    an_hour_with_many_kinds_of_entries
);

/// An hour with more (subject type, action) pairs than one statement can bind counts all
/// the same: the counts go out in statements of bounded size (17,000 pairs here, 68,000
/// values: over every backend's parameter limit in one statement).
async fn an_hour_with_many_kinds_of_entries(db: DatabaseConnection) {
    use sea_orm::ConnectionTrait;
    let hour = (Utc::now() - Duration::days(2))
        .format("%Y-%m-%d %H:00:00")
        .to_string();
    let at = match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => format!("timestamptz '{hour}+00'"),
        sea_orm::DbBackend::MySql => format!("'{hour}'"),
        _ => format!("'{}+00:00'", hour.replace(' ', "T")),
    };
    const PAIRS: usize = 17_000;
    for chunk in (0..PAIRS).collect::<Vec<_>>().chunks(1_000) {
        let rows: Vec<String> = chunk
            .iter()
            .map(|i| format!("('act-{i}', 'kind-{}', '{i}', '{{}}', {at})", i % 2))
            .collect();
        db.execute_unprepared(&format!(
            "INSERT INTO activity_log (action, subject_type, subject_id, changes, created_at) \
             VALUES {}",
            rows.join(", ")
        ))
        .await
        .unwrap();
    }
    let now = Utc::now();
    let counts = activity_counts(&db, now - Duration::days(3), now)
        .await
        .unwrap();
    assert_eq!(counts.total, PAIRS as i64);
    assert_eq!(counts.by_action.len(), PAIRS);
    assert_eq!(counts.by_subject_type["kind-1"], PAIRS as i64 / 2);
    // Counted once: the second call reads the counts.
    let again = activity_counts(&db, now - Duration::days(3), now)
        .await
        .unwrap();
    assert_eq!(again, counts);
}

/// Entries written by SQL of their own (a bulk load, another program) count the same. On
/// SQLite they hold the time as the library writes it, RFC 3339 text (time filters compare
/// text there).
async fn counts_entries_written_by_plain_sql(db: DatabaseConnection) {
    use sea_orm::ConnectionTrait;
    let at = |t: &str| match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => format!("timestamptz '{t}+00'"),
        sea_orm::DbBackend::MySql => format!("'{t}'"),
        _ => format!("'{}+00:00'", t.replace(' ', "T")),
    };
    let start = Utc::now() - Duration::days(30);
    for i in 0..50i64 {
        let t = (start + Duration::minutes(37 * i))
            .format("%Y-%m-%d %H:%M:%S")
            .to_string();
        db.execute_unprepared(&format!(
            "INSERT INTO activity_log (action, subject_type, subject_id, changes, created_at) \
             VALUES ('viewed', 'post', '{i}', '{{}}', {})",
            at(&t)
        ))
        .await
        .unwrap();
    }
    let now = Utc::now();
    let counts = activity_counts(&db, now - Duration::days(365), now)
        .await
        .unwrap();
    assert_eq!(counts.total, 50);
    let again = activity_counts(&db, now - Duration::days(365), now)
        .await
        .unwrap();
    assert_eq!(again.total, 50);
}
