//! PostgreSQL's partitioned layout: `activity_log` by month, partitions made ahead,
//! retention by dropping whole months, a default partition that loses nothing.

use audit_seaorm::entity::activity_log;
use audit_seaorm::{
    Error, Install, NewActivity, Retention, activity_counts, install, install_with, log,
    maintain_partitions, prune,
};
use audit_tests::{
    backend_tests, move_entries, partition_activity_log, post, postgres_tests, until_a_lock_wait,
};
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter,
};

/// The first instant of the month `months` after the current one.
fn month(months: i32) -> DateTime<Utc> {
    let now = Utc::now();
    let index = now.year() * 12 + now.month0() as i32 + months;
    let date =
        NaiveDate::from_ymd_opt(index.div_euclid(12), index.rem_euclid(12) as u32 + 1, 1).unwrap();
    Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).unwrap())
}

fn name(months: i32) -> String {
    let m = month(months);
    format!("activity_log_p{:04}_{:02}", m.year(), m.month())
}

/// The partitions of `activity_log`, by name.
async fn partitions(db: &DatabaseConnection) -> Vec<String> {
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             WHERE i.inhparent = 'activity_log'::regclass ORDER BY 1",
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| r.try_get_by_index::<String>(0).unwrap())
        .collect()
}

/// How many entries each partition holds, for the partitions named.
async fn rows_in(db: &DatabaseConnection, partition: &str) -> i64 {
    db.query_one_raw(sea_orm::Statement::from_string(
        sea_orm::DbBackend::Postgres,
        format!(r#"SELECT count(*) FROM "{partition}""#),
    ))
    .await
    .unwrap()
    .unwrap()
    .try_get_by_index(0)
    .unwrap()
}

/// A partition of its own for the month `m` months after the current one (as an operator
/// or pg_partman makes them).
async fn month_partition(db: &DatabaseConnection, m: i32) {
    let sql = format!(
        "CREATE TABLE \"{}\" PARTITION OF activity_log FOR VALUES FROM ('{}') TO ('{}')",
        name(m),
        month(m).format("%Y-%m-%d"),
        month(m + 1).format("%Y-%m-%d")
    );
    db.execute_unprepared(&sql).await.unwrap();
}

/// `prune` of entries older than 100 days: every month that ended four months ago or more.
async fn prune_past_100_days(db: &DatabaseConnection) -> audit_seaorm::Pruned {
    prune(
        db,
        &Retention::new().entries_older_than(Duration::days(100)),
    )
    .await
    .unwrap()
}

async fn entries_at(db: &DatabaseConnection, n: usize, at: DateTime<Utc>) -> Vec<i64> {
    let mut ids = Vec::new();
    for i in 0..n {
        let e = log(db, NewActivity::new("viewed").subject("item", i))
            .await
            .unwrap();
        ids.push(e.id);
    }
    move_entries(db, ids.iter().copied(), at).await;
    ids
}

/// A month made beside a transaction that uses the log (a long audited transaction, a
/// report): install neither waits for it nor holds writes behind it; the month is left
/// for later, and made once the log is free.
async fn a_month_waits_for_no_transaction(db: DatabaseConnection) {
    use sea_orm::TransactionTrait;
    partition_activity_log(&db).await;
    db.execute_unprepared(&format!(r#"DROP TABLE "{}""#, name(3)))
        .await
        .unwrap();
    let reader = db.begin().await.unwrap();
    reader
        .execute_unprepared("SELECT count(*) FROM activity_log")
        .await
        .unwrap();
    // (the reader stays open until after: an install that waited for it would not end)
    tokio::time::timeout(std::time::Duration::from_secs(20), install(&db))
        .await
        .expect("install waited for the reading transaction")
        .unwrap();
    assert!(!partitions(&db).await.contains(&name(3)));
    // Writes go on meanwhile.
    post::new("beside", "beside").insert(&db).await.unwrap();
    reader.commit().await.unwrap();
    let created = maintain_partitions(&db).await.unwrap();
    assert_eq!(created, [name(3)]);
    assert!(partitions(&db).await.contains(&name(3)));
}

async fn install_makes_months_ahead_and_keeps_them(db: DatabaseConnection) {
    partition_activity_log(&db).await;
    let mut expected: Vec<String> = (0..=3).map(name).collect();
    expected.push("activity_log_default".to_owned());
    expected.sort();
    assert_eq!(partitions(&db).await, expected);
    // Again, plain or partitioned: nothing changes.
    install(&db).await.unwrap();
    install_with(&db, &Install::new().partitioned(true))
        .await
        .unwrap();
    assert_eq!(partitions(&db).await, expected);
    // A hooked write lands in this month's partition; an old time in the default one.
    let p = post::new("hello", "hello").insert(&db).await.unwrap();
    assert_eq!(rows_in(&db, &name(0)).await, 1);
    let old = entries_at(&db, 2, Utc::now() - Duration::days(800)).await;
    assert_eq!(old.len(), 2);
    assert_eq!(rows_in(&db, "activity_log_default").await, 2);
    assert_eq!(
        audit_seaorm::history(&db, "post", p.id)
            .await
            .unwrap()
            .len(),
        1
    );
    // A plain activity_log is not converted behind the caller's back.
    db.execute_unprepared("DROP TABLE activity_log")
        .await
        .unwrap();
    install(&db).await.unwrap();
    let refused = install_with(&db, &Install::new().partitioned(true)).await;
    assert!(
        matches!(refused, Err(Error::Partitioning(_))),
        "{refused:?}"
    );
}

async fn prune_drops_whole_expired_months(db: DatabaseConnection) {
    partition_activity_log(&db).await;
    // Two past months as partitions of their own (as an operator or pg_partman makes them).
    for m in [-6, -5] {
        month_partition(&db, m).await;
    }
    entries_at(&db, 5, month(-6) + Duration::days(3)).await;
    entries_at(&db, 4, month(-5) + Duration::days(3)).await;
    // Older still, in the default partition: deleted row by row.
    entries_at(&db, 3, month(-9)).await;
    let recent = entries_at(&db, 2, Utc::now() - Duration::days(1)).await;
    let now = Utc::now();
    let counted = activity_counts(&db, now - Duration::days(365), now)
        .await
        .unwrap();
    assert_eq!(counted.total, 14);

    // 100 days: both past months end before the cut-off (they end at least 4 months ago).
    let retention = Retention::new().entries_older_than(Duration::days(100));
    let dry = prune(&db, &retention.clone().dry_run(true)).await.unwrap();
    assert_eq!(dry.entries, 12);
    assert_eq!(dry.partitions, [name(-6), name(-5)]);
    assert!(
        partitions(&db).await.contains(&name(-6)),
        "a dry run drops nothing"
    );
    let done = prune(&db, &retention).await.unwrap();
    assert_eq!(done.entries, 12);
    assert_eq!(done.partitions, [name(-6), name(-5)]);
    let left = partitions(&db).await;
    assert!(
        !left.contains(&name(-6)) && !left.contains(&name(-5)),
        "{left:?}"
    );
    let remaining: Vec<i64> = activity_log::Entity::find()
        .filter(activity_log::Column::Action.eq("viewed"))
        .all(&db)
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(remaining, recent);
    let entry = audit_seaorm::activity(&db, &audit_seaorm::Filter::new().action("pruned"))
        .await
        .unwrap()
        .items
        .remove(0);
    let props = entry.properties.unwrap();
    assert_eq!(props["entries"], 12);
    assert_eq!(
        props["partitions_dropped"],
        serde_json::json!([name(-6), name(-5)])
    );
    // The dashboard's counts follow: the dropped months are counted again, empty.
    let later = Utc::now() + Duration::seconds(1);
    let counted = activity_counts(&db, now - Duration::days(365), later)
        .await
        .unwrap();
    assert_eq!(
        counted.total,
        2 + 1,
        "the recent entries and the `pruned` one"
    );
    // An override that keeps a type longer keeps the months whole.
    partition_activity_log(&db).await;
    month_partition(&db, -6).await;
    entries_at(&db, 2, month(-6) + Duration::days(3)).await;
    let keep_items = retention.subject_type(
        "item",
        audit_seaorm::Policy::new().entries_older_than(Duration::days(400)),
    );
    let done = prune(&db, &keep_items).await.unwrap();
    assert!(done.partitions.is_empty());
    assert_eq!(done.entries, 0);
    assert_eq!(rows_in(&db, &name(-6)).await, 2);
}

async fn new_month_takes_rows_from_default(db: DatabaseConnection) {
    partition_activity_log(&db).await;
    // Month +3 missing (maintenance lapsed): its entries went to the default partition.
    db.execute_unprepared(&format!(r#"DROP TABLE "{}""#, name(3)))
        .await
        .unwrap();
    let ids = entries_at(&db, 3, month(3) + Duration::days(2)).await;
    assert_eq!(rows_in(&db, "activity_log_default").await, 3);
    let created = maintain_partitions(&db).await.unwrap();
    assert_eq!(created, [name(3)]);
    assert_eq!(rows_in(&db, &name(3)).await, 3);
    assert_eq!(rows_in(&db, "activity_log_default").await, 0);
    let found = activity_log::Entity::find()
        .filter(activity_log::Column::Id.is_in(ids))
        .count(&db)
        .await
        .unwrap();
    assert_eq!(found, 3, "nothing lost on the way");
    assert!(maintain_partitions(&db).await.unwrap().is_empty());
    // A row whose time was changed to one no month holds (`-infinity`, a year BC) stays
    // in the default partition, where `verify` reports it; maintenance goes on.
    for at in ["-infinity", "4000-01-01 00:00:00+00 BC"] {
        db.execute_unprepared(&format!(
            "INSERT INTO activity_log (action, subject_type, subject_id, changes, created_at) \
             VALUES ('updated', 'post', '1', '{{}}', '{at}')"
        ))
        .await
        .unwrap();
        assert!(maintain_partitions(&db).await.unwrap().is_empty(), "{at}");
    }
    assert_eq!(rows_in(&db, "activity_log_default").await, 2);
}

/// The README's conversion of a plain `activity_log`: a table only renamed keeps its
/// indexes' names, and `install` refuses rather than leave the new table without them;
/// moved to another schema, it leaves the names free; rows copied in land in the default
/// partition, and `maintain_partitions` gives each of their months a partition.
async fn a_plain_log_converts_to_months(db: DatabaseConnection) {
    db.execute_unprepared("DROP TABLE activity_log")
        .await
        .unwrap();
    install(&db).await.unwrap();
    let old = entries_at(&db, 2, month(-5) + Duration::days(2)).await;
    entries_at(&db, 1, month(-2) + Duration::days(1)).await;
    post::new("now", "now").insert(&db).await.unwrap();

    db.execute_unprepared("ALTER TABLE activity_log RENAME TO activity_log_plain")
        .await
        .unwrap();
    let err = install_with(&db, &Install::new().partitioned(true))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Schema(_)), "{err}");
    assert!(
        err.to_string()
            .contains("belongs to the table `activity_log_plain`"),
        "{err}"
    );

    db.execute_unprepared(
        "DROP TABLE IF EXISTS activity_log; CREATE SCHEMA audit_old; \
         ALTER TABLE activity_log_plain SET SCHEMA audit_old",
    )
    .await
    .unwrap();
    install_with(&db, &Install::new().partitioned(true))
        .await
        .unwrap();
    let indexes: i64 = db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema() \
             AND tablename = 'activity_log' AND indexname LIKE 'idx_activity_log_%'",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index(0)
        .unwrap();
    assert_eq!(indexes, 5, "the new table has its indexes");
    db.execute_unprepared(
        "INSERT INTO activity_log SELECT * FROM audit_old.activity_log_plain; \
         SELECT setval(pg_get_serial_sequence('activity_log', 'id'), (SELECT max(id) FROM activity_log))",
    )
    .await
    .unwrap();
    assert_eq!(rows_in(&db, "activity_log_default").await, 3);
    let created = maintain_partitions(&db).await.unwrap();
    assert_eq!(created, [name(-5), name(-2)]);
    assert_eq!(rows_in(&db, "activity_log_default").await, 0);
    assert_eq!(rows_in(&db, &name(-5)).await, 2);
    let found = activity_log::Entity::find()
        .filter(activity_log::Column::Id.is_in(old))
        .count(&db)
        .await
        .unwrap();
    assert_eq!(found, 2);
    // New entries take new ids.
    let next = log(&db, NewActivity::new("viewed")).await.unwrap();
    assert!(next.id > 4, "{}", next.id);
    assert!(maintain_partitions(&db).await.unwrap().is_empty());
}

/// A month that a partition of another name covers (one made by hand, or by pg_partman 5)
/// is left to it: another would overlap it.
async fn a_month_of_another_name_is_left_to_it(db: DatabaseConnection) {
    partition_activity_log(&db).await;
    db.execute_unprepared(&format!(r#"DROP TABLE "{}""#, name(2)))
        .await
        .unwrap();
    db.execute_unprepared(&format!(
        "CREATE TABLE activity_log_by_hand PARTITION OF activity_log FOR VALUES FROM ('{}') TO ('{}')",
        month(2).format("%Y-%m-%d"),
        month(3).format("%Y-%m-%d")
    ))
    .await
    .unwrap();
    assert!(maintain_partitions(&db).await.unwrap().is_empty());
    install_with(&db, &Install::new().partitioned(true))
        .await
        .unwrap();
    assert!(!partitions(&db).await.contains(&name(2)));
    // Nor is one up to `infinity` (no month: its bound is no time to read).
    db.execute_unprepared(
        "CREATE TABLE activity_log_future PARTITION OF activity_log \
         FOR VALUES FROM ('2200-01-01') TO ('infinity')",
    )
    .await
    .unwrap();
    assert!(maintain_partitions(&db).await.unwrap().is_empty());
    let done = prune_past_100_days(&db).await;
    assert!(done.partitions.is_empty(), "{done:?}");
    assert!(
        partitions(&db)
            .await
            .contains(&"activity_log_future".to_owned())
    );
}

/// pg_partman (4.x, Debian's `postgresql-15-partman`) takes the table over: it keeps the
/// months `install` made (same names), makes its own ahead, and `prune` drops its months.
/// Runs where the extension is installed; `AUDIT_TEST_PARTMAN=1` (CI) makes it required.
async fn pg_partman_takes_over(db: DatabaseConnection) {
    let available = db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_partman'",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap();
    if available == 0 {
        assert!(
            !std::env::var("AUDIT_TEST_PARTMAN").is_ok_and(|v| v == "1"),
            "AUDIT_TEST_PARTMAN=1 but pg_partman is not installed (postgresql-15-partman)"
        );
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            b"\n*** SKIPPED pg_partman_takes_over: pg_partman is not installed. ***\n",
        );
        return;
    }
    partition_activity_log(&db).await;
    let start = month(-6).format("%Y-%m-%d").to_string();
    for sql in [
        "CREATE SCHEMA partman".to_owned(),
        "CREATE EXTENSION pg_partman SCHEMA partman".to_owned(),
        // pg_partman 4 makes a default partition of its own, under the same name.
        "ALTER TABLE activity_log DETACH PARTITION activity_log_default".to_owned(),
        "DROP TABLE activity_log_default".to_owned(),
        format!(
            "SELECT partman.create_parent('public.activity_log', 'created_at', 'native', \
             'monthly', p_premake := 3, p_start_partition := '{start}')"
        ),
        "SELECT partman.run_maintenance()".to_owned(),
    ] {
        db.execute_unprepared(&sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    let mut expected: Vec<String> = (-6..=3).map(name).collect();
    expected.push("activity_log_default".to_owned());
    expected.sort();
    assert_eq!(partitions(&db).await, expected);
    // The library keeps working beside it.
    install(&db).await.unwrap();
    assert!(maintain_partitions(&db).await.unwrap().is_empty());
    post::new("partman", "partman").insert(&db).await.unwrap();
    assert_eq!(rows_in(&db, &name(0)).await, 1);
    entries_at(&db, 3, month(-6) + Duration::days(3)).await;
    let done = prune_past_100_days(&db).await;
    assert_eq!(done.entries, 3);
    assert_eq!(done.partitions, [name(-6), name(-5)]);
    db.execute_unprepared("SELECT partman.run_maintenance()")
        .await
        .unwrap();
    assert!(!partitions(&db).await.contains(&name(-6)));
}

/// Elsewhere the layout is refused, clearly; on PostgreSQL it is refused over a plain
/// `activity_log` (the test's own, unless the suite runs on the partitioned layout).
async fn partitioning_is_postgres_only(db: DatabaseConnection) {
    let asked = install_with(&db, &Install::new().partitioned(true)).await;
    let on_partitioned = db.get_database_backend() == sea_orm::DbBackend::Postgres
        && audit_tests::partitioned_layout();
    if on_partitioned {
        asked.unwrap();
    } else {
        assert!(matches!(asked, Err(Error::Partitioning(_))), "{asked:?}");
        assert!(maintain_partitions(&db).await.unwrap().is_empty());
    }
}

/// Entries moved into an expired month after they were sealed (their time changed, so
/// that the month's drop would take them) are kept: the month is not dropped, its honest
/// entries go row by row, and the changed ones stay in it, where `verify` reports them.
/// Partition maintenance leaves it so, and the next prune finds nothing more to do
/// (before, the changed rows went into the default partition, from which each
/// `maintain_partitions` made the month again and each prune dropped it again).
async fn a_month_drop_keeps_changed_rows(db: DatabaseConnection) {
    use audit_seaorm::{BreakReason, VerifyScope, seal, verify};
    partition_activity_log(&db).await;
    month_partition(&db, -6).await;
    entries_at(&db, 3, month(-6) + Duration::days(3)).await;
    let p = post::new("kept", "kept").insert(&db).await.unwrap();
    let mut am: post::ActiveModel = p.clone().into();
    am.title = sea_orm::Set("renamed".into());
    am.update(&db).await.unwrap();
    seal(&db).await.unwrap();
    let aged: Vec<i64> = activity_log::Entity::find()
        .filter(activity_log::Column::SubjectType.eq("post"))
        .all(&db)
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(aged.len(), 2);
    move_entries(&db, aged.iter().copied(), month(-6) + Duration::days(4)).await;
    assert_eq!(rows_in(&db, &name(-6)).await, 5);

    let done = prune_past_100_days(&db).await;
    assert!(done.partitions.is_empty(), "{done:?}");
    assert_eq!((done.entries, done.kept_changed), (3, 2), "{done:?}");
    assert_eq!(rows_in(&db, &name(-6)).await, 2);
    assert_eq!(rows_in(&db, "activity_log_default").await, 0);
    assert!(maintain_partitions(&db).await.unwrap().is_empty());
    let again = prune_past_100_days(&db).await;
    assert!(again.partitions.is_empty(), "{again:?}");
    assert_eq!((again.entries, again.kept_changed), (0, 2), "{again:?}");
    let left: Vec<i64> = activity_log::Entity::find()
        .filter(activity_log::Column::SubjectType.eq("post"))
        .all(&db)
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(left, aged);
    let report = verify(&db, &VerifyScope::all()).await.unwrap();
    let found = audit_tests::breaks_found(&report);
    let id = p.id.to_string();
    assert_eq!(found, [("activity_log", id.as_str(), BreakReason::Changed)]);
}

/// A row under an id no database gives (0 and below) in an expired month stays, as on the
/// plain layout, for `verify` to report: the drop does not take it for a row of its own.
/// Marking its "link" would have found the link that the same prune marked for the row
/// whose id it negates (a month dropped before), and turned it back into a live link.
async fn a_month_drop_keeps_forged_rows(db: DatabaseConnection) {
    use audit_seaorm::{BreakReason, VerifyScope, seal_all, verify};
    partition_activity_log(&db).await;
    month_partition(&db, -7).await;
    month_partition(&db, -6).await;
    let gone = entries_at(&db, 1, month(-7) + Duration::days(3)).await[0];
    // (`seal_all`: `seal` holds a row dated that far back for a late one.)
    assert_eq!(seal_all(&db).await.unwrap().rows, 1);
    entries_at(&db, 1, month(-6) + Duration::days(3)).await;
    db.execute_unprepared(&format!(
        "INSERT INTO activity_log (id, action, subject_type, subject_id, changes, created_at) \
         VALUES ({}, 'viewed', 'item', 'forged', '{{}}', TIMESTAMPTZ '{}')",
        -gone,
        (month(-6) + Duration::days(4)).format("%Y-%m-%d %H:%M:%S+00")
    ))
    .await
    .unwrap();
    assert_eq!(rows_in(&db, &name(-6)).await, 2);
    let done = prune_past_100_days(&db).await;
    // (the month of the forged row stays, holding it; its other row goes by itself)
    assert_eq!(done.partitions, [name(-7)]);
    assert_eq!(done.entries, 2, "{done:?}");
    assert_eq!(rows_in(&db, &name(-6)).await, 1);
    let forged = activity_log::Entity::find()
        .filter(activity_log::Column::Id.eq(-gone))
        .count(&db)
        .await
        .unwrap();
    assert_eq!(forged, 1, "the forged row is kept");
    let report = verify(&db, &VerifyScope::all()).await.unwrap();
    let found = audit_tests::breaks_found(&report);
    assert_eq!(found, [("activity_log", "forged", BreakReason::Inserted)]);
}

/// On the partitioned layout an id is not unique (the key holds the time): a row inserted
/// under a sealed row's id with an old time is not taken for that row by retention, which
/// would delete both by their id and fold the sealed row's link away. Both are kept.
async fn a_copy_under_a_sealed_rows_id_is_kept(db: DatabaseConnection) {
    use audit_seaorm::entity::seals;
    use audit_seaorm::seal;
    partition_activity_log(&db).await;
    let p = post::new("real", "real").insert(&db).await.unwrap();
    let mut am: post::ActiveModel = p.clone().into();
    am.title = sea_orm::Set("renamed".into());
    am.update(&db).await.unwrap();
    seal(&db).await.unwrap();
    let first = activity_log::Entity::find()
        .filter(activity_log::Column::SubjectType.eq("post"))
        .all(&db)
        .await
        .unwrap()[0]
        .id;
    db.execute_unprepared(&format!(
        "INSERT INTO activity_log (id, action, subject_type, subject_id, causer_id, changes, \
         properties, ip, user_agent, request_id, version_id, created_at) \
         SELECT id, action, subject_type, subject_id, causer_id, changes, properties, ip, \
         user_agent, request_id, version_id, TIMESTAMPTZ '1990-01-01 00:00:00+00' \
         FROM activity_log WHERE id = {first}"
    ))
    .await
    .unwrap();
    let done = prune_past_100_days(&db).await;
    assert_eq!((done.entries, done.kept_changed), (0, 1), "{done:?}");
    let under_id = activity_log::Entity::find()
        .filter(activity_log::Column::Id.eq(first))
        .count(&db)
        .await
        .unwrap();
    assert_eq!(under_id, 2, "the sealed row and the copy are both there");
    let link = seals::Entity::find()
        .filter(seals::Column::Kind.eq(1i16)) // activity_log's links
        .filter(seals::Column::RowId.eq(first))
        .count(&db)
        .await
        .unwrap();
    assert_eq!(
        link, 1,
        "the sealed row's link is neither marked nor folded"
    );
}

/// A month is dropped in a transaction of its own, and `activity_log` is locked only from
/// its `DETACH`: while the month's rows wait for a writer of that month (the drop locks
/// them first), a write of today goes through, and a dry run leaves the links of an
/// interrupted run marked.
async fn a_month_drop_locks_the_log_last(db: DatabaseConnection) {
    use sea_orm::{Set, TransactionTrait};
    partition_activity_log(&db).await;
    month_partition(&db, -6).await;
    entries_at(&db, 3, month(-6) + Duration::days(3)).await;
    audit_seaorm::seal_all(&db).await.unwrap();
    // What an interrupted prune leaves: the month's links marked, not folded.
    let links = || async {
        audit_seaorm::entity::seals::Entity::find()
            .all(&db)
            .await
            .unwrap()
            .into_iter()
            .map(|l| (l.subject_id, l.seq, l.row_id))
            .collect::<Vec<_>>()
    };
    db.execute_unprepared("UPDATE activity_log_seals SET row_id = -row_id WHERE seq = 1")
        .await
        .unwrap();
    let marked = links().await;
    let retention = Retention::new().entries_older_than(Duration::days(100));
    let dry = prune(&db, &retention.clone().dry_run(true)).await.unwrap();
    assert_eq!(dry.partitions, [name(-6)]);
    assert_eq!(links().await, marked, "a dry run writes nothing");

    // A write dated in that month, in flight.
    let holder = db.begin().await.unwrap();
    activity_log::ActiveModel {
        action: Set("imported".into()),
        subject_type: Set("item".into()),
        subject_id: Set("late".into()),
        changes: Set(serde_json::json!({})),
        created_at: Set(month(-6) + Duration::days(4)),
        ..Default::default()
    }
    .insert(&holder)
    .await
    .unwrap();
    let pruning = tokio::spawn({
        let (db, retention) = (db.clone(), retention.clone());
        async move { prune(&db, &retention).await }
    });
    until_a_lock_wait(&db).await;
    let writer = db.begin().await.unwrap();
    writer
        .execute_unprepared("SET LOCAL lock_timeout = '3s'")
        .await
        .unwrap();
    post::new("today", "today")
        .insert(&writer)
        .await
        .expect("a write of today while the month waits");
    writer.commit().await.unwrap();
    holder.commit().await.unwrap();
    let done = pruning.await.unwrap().unwrap();
    assert_eq!(done.partitions, [name(-6)]);
    assert_eq!(done.entries, 4);
    assert!(!partitions(&db).await.contains(&name(-6)));
}

/// Runs `prune`, which must not wait for the busy month more than a few seconds: it drops
/// no month, deletes `entries` rows one by one, and warns that it could not detach.
async fn pruned_by_rows(db: &DatabaseConnection, retention: &Retention, entries: u64) {
    let (done, warnings) = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        audit_tests::warnings_of(prune(db, retention)),
    )
    .await
    .expect("prune waits for a busy month a few seconds at most");
    let done = done.unwrap();
    assert!(done.partitions.is_empty(), "{:?}", done.partitions);
    assert_eq!(done.entries, entries);
    assert!(warnings.contains("could not detach"), "{warnings}");
}

/// A month whose `DETACH` cannot have `activity_log` (a long transaction reads it) is not
/// waited for: its transaction gives up, and its entries go row by row with a warning.
async fn a_busy_log_prunes_the_month_by_rows(db: DatabaseConnection) {
    use sea_orm::TransactionTrait;
    partition_activity_log(&db).await;
    month_partition(&db, -6).await;
    entries_at(&db, 3, month(-6) + Duration::days(3)).await;
    let reader = db.begin().await.unwrap();
    reader
        .execute_unprepared("SELECT count(*) FROM activity_log")
        .await
        .unwrap();
    let retention = Retention::new().entries_older_than(Duration::days(100));
    pruned_by_rows(&db, &retention, 3).await;
    assert!(partitions(&db).await.contains(&name(-6)));
    assert_eq!(rows_in(&db, &name(-6)).await, 0);
    reader.commit().await.unwrap();
    // Once the log is free, the empty month goes whole.
    let again = prune(&db, &retention).await.unwrap();
    assert_eq!(again.partitions, [name(-6)]);
}

/// A month whose rows cannot be locked (a transaction writes a backdated entry into it
/// and stays open) is not waited for either: the month's transaction gives up, and its
/// committed entries go row by row with a warning; the open write is not touched.
async fn a_month_being_written_prunes_by_rows(db: DatabaseConnection) {
    use sea_orm::TransactionTrait;
    partition_activity_log(&db).await;
    month_partition(&db, -6).await;
    entries_at(&db, 3, month(-6) + Duration::days(3)).await;
    let writer = db.begin().await.unwrap();
    writer
        .execute_unprepared(&format!(
            "INSERT INTO activity_log (action, subject_type, subject_id, changes, created_at) \
             VALUES ('imported', 'item', '9', '{{}}', '{}')",
            (month(-6) + Duration::days(4)).to_rfc3339()
        ))
        .await
        .unwrap();
    let retention = Retention::new().entries_older_than(Duration::days(100));
    pruned_by_rows(&db, &retention, 3).await;
    writer.commit().await.unwrap();
    assert_eq!(rows_in(&db, &name(-6)).await, 1);
}

/// A role with rights on `activity_log` and none on its partitions (as one grants them on a
/// partitioned table) may not detach or drop a month: its prune deletes the month's
/// entries row by row through the log, with a warning that says why, and its dry run
/// reports what that run does (before, the dry run failed reading the month).
async fn a_role_that_owns_no_month_prunes_by_rows(db: DatabaseConnection) {
    const ROLE: &str = "audit_pruner";
    partition_activity_log(&db).await;
    month_partition(&db, -6).await;
    entries_at(&db, 3, month(-6) + Duration::days(3)).await;
    let app = audit_tests::connect_as_dml_role(&db, ROLE).await;
    let retention = Retention::new().entries_older_than(Duration::days(100));
    let dry = prune(&app, &retention.clone().dry_run(true)).await;
    let (done, warned) = audit_tests::warnings_of(prune(&app, &retention)).await;
    audit_tests::drop_role(&db, app, ROLE).await;
    let dry = dry.unwrap();
    assert!(dry.partitions.is_empty(), "{dry:?}");
    assert_eq!(dry.entries, 3);
    let done = done.unwrap();
    assert!(done.partitions.is_empty(), "{done:?}");
    assert_eq!(done.entries, 3);
    assert!(warned.contains("does not own"), "{warned}");
    assert!(partitions(&db).await.contains(&name(-6)));
    assert_eq!(rows_in(&db, &name(-6)).await, 0);
}

postgres_tests!(
    a_month_waits_for_no_transaction,
    a_role_that_owns_no_month_prunes_by_rows,
    a_month_drop_locks_the_log_last,
    a_month_being_written_prunes_by_rows,
    a_busy_log_prunes_the_month_by_rows,
    a_plain_log_converts_to_months,
    a_month_of_another_name_is_left_to_it,
    a_copy_under_a_sealed_rows_id_is_kept,
    a_month_drop_keeps_forged_rows,
    a_month_drop_keeps_changed_rows,
    pg_partman_takes_over,
    install_makes_months_ahead_and_keeps_them,
    prune_drops_whole_expired_months,
    new_month_takes_rows_from_default,
);

backend_tests!(partitioning_is_postgres_only);

#[test]
fn install_sql_has_the_partitioned_variant() {
    let sql = audit_seaorm::install_sql_with(
        sea_orm::DbBackend::Postgres,
        &Install::new().partitioned(true),
    )
    .unwrap()
    .join(";\n");
    assert!(
        sql.contains(
            r#"PRIMARY KEY ("id", "created_at", "subject_id") ) PARTITION BY RANGE ("created_at")"#
        ),
        "{sql}"
    );
    assert!(
        sql.contains(
            r#""created_at" timestamp with time zone NOT NULL, PRIMARY KEY ("id", "subject_id") )"#
        ),
        "{sql}"
    );
    assert!(
        audit_seaorm::install_sql_with(
            sea_orm::DbBackend::MySql,
            &Install::new().partitioned(true)
        )
        .is_err()
    );
}
