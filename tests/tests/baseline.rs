//! Rows older than auditing: a truthful baseline on their first audited write, and
//! `backfill`. Its own binary, the tests one after another: whether a subject type has a
//! baseline is known per process.

use audit_seaorm::hooks::{expire_tentative_baselines, forget_baselines};
use audit_seaorm::{AuditContext, Backfill, Error, Reverter, backfill, history, versions};
use audit_tests::{backend_tests, legacy, server_backend_tests, until_a_lock_wait};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, ModelTrait, Set,
};
use serde_json::json;

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn old_rows_get_a_baseline(db: DatabaseConnection) {
    let _serial = SERIAL.lock().await;
    forget_baselines();
    insert_around_the_hooks(&db, 1, 3).await;

    // An update: the row as it was becomes version 1, the update version 2, and the
    // entry's old values are the real ones.
    let txn = sea_orm::TransactionTrait::begin(&db).await.unwrap();
    legacy::ActiveModel {
        id: Set(1),
        qty: Set(10),
        ..Default::default()
    }
    .update(&txn)
    .await
    .unwrap();
    txn.commit().await.unwrap();
    let vs = versions(&db, "legacy_items", 1).await.unwrap();
    assert_eq!(
        vs.iter().map(|v| v.event.as_str()).collect::<Vec<_>>(),
        ["baseline", "updated"]
    );
    assert_eq!(
        vs[0].data,
        json!({"id": 1, "name": "old-1", "qty": 1})
            .as_object()
            .unwrap()
            .clone()
    );
    assert_eq!(vs[0].causer_id, None);
    let trail = history(&db, "legacy_items", 1).await.unwrap();
    assert_eq!(trail.len(), 1);
    assert_eq!(
        serde_json::to_value(&trail[0].changes).unwrap(),
        json!({"qty": {"old": 1, "new": 10}})
    );

    // A delete: baseline, then "deleted" with the real last state.
    let row = legacy::Entity::find_by_id(2)
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    row.delete(&db).await.unwrap();
    let vs = versions(&db, "legacy_items", 2).await.unwrap();
    assert_eq!(
        vs.iter().map(|v| v.event.as_str()).collect::<Vec<_>>(),
        ["baseline", "deleted"]
    );
    let trail = history(&db, "legacy_items", 2).await.unwrap();
    assert_eq!(trail[0].changes.get("name").unwrap().old, json!("old-2"));

    // A delete a trigger cancels (PostgreSQL, SQLite: MySQL's triggers can only fail it)
    // logs nothing, not even the baseline read before it.
    let keep = match db.get_database_backend() {
        DbBackend::Postgres => Some((
            "CREATE FUNCTION keep_legacy() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$; \
             CREATE TRIGGER keep_legacy BEFORE DELETE ON legacy_items FOR EACH ROW EXECUTE FUNCTION keep_legacy()",
            "DROP TRIGGER keep_legacy ON legacy_items; DROP FUNCTION keep_legacy()",
        )),
        DbBackend::Sqlite => Some((
            "CREATE TRIGGER keep_legacy BEFORE DELETE ON legacy_items BEGIN SELECT RAISE(IGNORE); END",
            "DROP TRIGGER keep_legacy",
        )),
        _ => None,
    };
    if let Some((create, drop)) = keep {
        db.execute_unprepared(create).await.unwrap();
        let row = legacy::Entity::find_by_id(3)
            .one(&db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.delete(&db).await.unwrap().rows_affected, 0);
        assert!(versions(&db, "legacy_items", 3).await.unwrap().is_empty());
        assert!(history(&db, "legacy_items", 3).await.unwrap().is_empty());
        db.execute_unprepared(drop).await.unwrap();
    }

    backfill_the_rest(&db).await;
    forget_baselines();
}

/// `backfill` gives the remaining rows their baseline and skips the versioned one; once
/// baselined, an update reads no row and still diffs against the baseline. Before its
/// baseline a row's state is not known (it existed, as what the trail cannot tell).
async fn backfill_the_rest(db: &DatabaseConnection) {
    use audit_seaorm::AuditedEntity;
    let db = db.clone();
    insert_around_the_hooks(&db, 4, 2500).await;
    let before = chrono::Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let done = backfill::<legacy::Entity, _>(&db).await.unwrap();
    assert!(matches!(
        legacy::Entity::as_of(&db, 4, before).await,
        Err(Error::StateBeforeTrail { .. })
    ));
    assert!(matches!(
        legacy::Entity::as_of_many(&db, &[3, 4], before).await,
        Err(Error::StateBeforeTrail { .. })
    ));
    assert!(matches!(
        legacy::Entity::changes_since(&db, 4, before).await,
        Err(Error::StateBeforeTrail { .. })
    ));
    let now = legacy::Entity::as_of(&db, 4, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(now.map(|r| r.name), Some("old-4".to_owned()));
    // A baseline's time is stored at the microsecond as every other row's: the state at
    // that time (as the API returns it) is the baseline, on every backend.
    let baseline = &versions(&db, "legacy_items", 4).await.unwrap()[0];
    assert_eq!(baseline.created_at.timestamp_subsec_nanos() % 1_000, 0);
    let then = legacy::Entity::as_of(&db, 4, baseline.created_at)
        .await
        .unwrap();
    assert_eq!(then.map(|r| r.name), Some("old-4".to_owned()));
    assert_eq!(done.rows, 2499, "rows 1, 3 and 4..=2500");
    assert_eq!(done.written, 2498, "all but row 1");
    let again = backfill::<legacy::Entity, _>(&db).await.unwrap();
    assert_eq!(
        (again.rows, again.written),
        (2499, 0),
        "resumable: nothing twice"
    );
    assert_eq!(
        versions(&db, "legacy_items", 3).await.unwrap()[0].event,
        "baseline"
    );

    // Once baselined, an update reads no row and still diffs against the baseline.
    legacy::ActiveModel {
        id: Set(3),
        name: Set("renamed".into()),
        ..Default::default()
    }
    .update(&db)
    .await
    .unwrap();
    let trail = history(&db, "legacy_items", 3).await.unwrap();
    assert_eq!(trail[0].changes.get("name").unwrap().old, json!("old-3"));
}

/// Rows `from..=to` inserted around the hooks (as if they predated auditing).
async fn insert_around_the_hooks(db: &DatabaseConnection, from: i32, to: i32) {
    let rows: Vec<legacy::ActiveModel> = (from..=to)
        .map(|id| legacy::ActiveModel {
            id: Set(id),
            name: Set(format!("old-{id}")),
            qty: Set(id),
        })
        .collect();
    for chunk in rows.chunks(500) {
        legacy::Entity::insert_many(chunk.to_vec())
            .exec(db)
            .await
            .unwrap();
    }
}

/// An update of a key that is not there, on a type with no baseline, reads the row (not
/// found) and fails before `after_save`, leaving what its `before_save` noted. A delete of
/// that key later, once the row exists and the type has its baseline (so `before_delete`
/// reads nothing), is still logged: a note another kind of write left is not its own.
async fn a_failed_update_leaves_no_note_for_a_delete(db: DatabaseConnection) {
    let _serial = SERIAL.lock().await;
    forget_baselines();
    insert_around_the_hooks(&db, 1, 1).await;
    let missing = legacy::ActiveModel {
        id: Set(7),
        qty: Set(70),
        ..Default::default()
    }
    .update(&db)
    .await;
    assert!(
        matches!(missing, Err(sea_orm::DbErr::RecordNotUpdated)),
        "{missing:?}"
    );
    insert_around_the_hooks(&db, 7, 7).await;
    backfill::<legacy::Entity, _>(&db).await.unwrap();
    let row = legacy::Entity::find_by_id(7)
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    row.delete(&db).await.unwrap();
    let vs = versions(&db, "legacy_items", 7).await.unwrap();
    assert_eq!(
        vs.iter().map(|v| v.event.as_str()).collect::<Vec<_>>(),
        ["baseline", "deleted"]
    );
    let trail = history(&db, "legacy_items", 7).await.unwrap();
    assert_eq!(trail.last().unwrap().action.as_str(), "deleted");
    forget_baselines();
}

/// A delete cancelled between its hooks (a timeout, a client gone) while its type had no
/// baseline leaves what its `before_delete` read: here that the row was not there. A
/// delete of that key later, once the row exists and the type has its baseline (so
/// `before_delete` reads nothing and leaves no note), is still logged: the old note does
/// not stand for it.
async fn a_cancelled_delete_note_is_dropped(db: DatabaseConnection) {
    let _serial = SERIAL.lock().await;
    forget_baselines();
    insert_around_the_hooks(&db, 1, 1).await;
    let missing = legacy::ActiveModel {
        id: Set(9),
        ..Default::default()
    };
    // What SeaORM's `delete` runs before the `DELETE` itself; the rest never happens.
    audit_seaorm::hooks::before_delete(missing, &db)
        .await
        .unwrap();
    insert_around_the_hooks(&db, 9, 9).await;
    backfill::<legacy::Entity, _>(&db).await.unwrap();
    let row = legacy::Entity::find_by_id(9)
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    row.delete(&db).await.unwrap();
    let vs = versions(&db, "legacy_items", 9).await.unwrap();
    assert_eq!(
        vs.iter().map(|v| v.event.as_str()).collect::<Vec<_>>(),
        ["baseline", "deleted"]
    );
    let trail = history(&db, "legacy_items", 9).await.unwrap();
    assert_eq!(trail.last().unwrap().action.as_str(), "deleted");
    assert_eq!(audit_seaorm::hooks::pending_writes(), 0);
    forget_baselines();
}

/// A delete whose `before_delete` found no row (its type has no baseline yet), of a row
/// another writer created through the hooks before the `DELETE` ran (which reads the
/// latest commit): the row it removed is logged `deleted`, not skipped on the strength of
/// the earlier read.
async fn a_row_created_after_the_read_is_logged(db: DatabaseConnection) {
    let _serial = SERIAL.lock().await;
    forget_baselines();
    insert_around_the_hooks(&db, 1, 1).await;
    let am = legacy::ActiveModel {
        id: Set(9),
        ..Default::default()
    };
    let am = audit_seaorm::hooks::before_delete(am, &db).await.unwrap();
    legacy::ActiveModel {
        id: Set(9),
        name: Set("new".into()),
        qty: Set(1),
    }
    .insert(&db)
    .await
    .unwrap();
    let done = legacy::Entity::delete(am.clone()).exec(&db).await.unwrap();
    assert_eq!(done.rows_affected, 1);
    audit_seaorm::hooks::after_delete(am, &db).await.unwrap();
    let vs = versions(&db, "legacy_items", 9).await.unwrap();
    assert_eq!(
        vs.iter().map(|v| v.event.as_str()).collect::<Vec<_>>(),
        ["created", "deleted"]
    );
    // A delete of a row that is not there, and has no version, still logs nothing.
    legacy::ActiveModel {
        id: Set(10),
        ..Default::default()
    }
    .delete(&db)
    .await
    .unwrap();
    assert!(versions(&db, "legacy_items", 10).await.unwrap().is_empty());
    assert!(history(&db, "legacy_items", 10).await.unwrap().is_empty());
    assert_eq!(audit_seaorm::hooks::pending_writes(), 0);
    forget_baselines();
}

/// The first audited insert into an empty table marks its type: later updates read no
/// row before writing, and are still diffed right; a row that has no version all the same
/// is logged, flagged.
async fn empty_table_is_baselined(db: DatabaseConnection) {
    let _serial = SERIAL.lock().await;
    forget_baselines();
    let row = legacy::ActiveModel {
        id: Set(7),
        name: Set("new".into()),
        qty: Set(1),
    }
    .insert(&db)
    .await
    .unwrap();
    let marked = audit_seaorm::entity::baselines::Entity::find_by_id("legacy_items")
        .one(&db)
        .await
        .unwrap();
    assert!(marked.is_some());
    let mut am: legacy::ActiveModel = row.into();
    am.qty = Set(2);
    am.update(&db).await.unwrap();
    let trail = history(&db, "legacy_items", 7).await.unwrap();
    assert_eq!(trail[1].changes.get("qty").unwrap().old, json!(1));

    // A row inserted around the hooks after the baseline has no version: its first update
    // is logged all the same, flagged, with no invented old values; its delete then has
    // a version to close.
    insert_around_the_hooks(&db, 8, 8).await;
    let update = legacy::ActiveModel {
        id: Set(8),
        qty: Set(80),
        ..Default::default()
    }
    .update(&db);
    AuditContext::new()
        .request_id("legacy-8")
        .scope(update)
        .await
        .unwrap();
    let trail = history(&db, "legacy_items", 8).await.unwrap();
    assert_eq!(trail.len(), 1);
    assert_eq!(trail[0].action.as_str(), "updated");
    assert!(trail[0].changes.is_empty(), "{:?}", trail[0].changes);
    assert_eq!(
        trail[0].properties.as_ref().unwrap()["baseline"],
        json!("missing")
    );
    let vs = versions(&db, "legacy_items", 8).await.unwrap();
    assert_eq!(vs.len(), 1);
    assert_eq!(vs[0].data["qty"], json!(80));
    // Its trail starts with that update: a revert of the request cannot tell what the row
    // was before, and leaves it (rather than deleting it as if the request created it).
    let reverter = Reverter::new().entity::<legacy::Entity>();
    assert!(matches!(
        reverter.revert_request(&db, "legacy-8", true).await,
        Err(Error::NoStateBefore { version: 0, .. })
    ));
    let row = legacy::Entity::find_by_id(8).one(&db).await.unwrap();
    assert_eq!(row.map(|r| r.qty), Some(80));
    forget_baselines();
}

/// A first insert into an empty table that rolls back takes its baseline mark with it:
/// once the process's tentative answer expires (`RECHECK`, or here at once), a row
/// inserted around the hooks gets its truthful baseline on its first audited update.
async fn a_mark_rolled_back_is_not_believed(db: DatabaseConnection) {
    let _serial = SERIAL.lock().await;
    forget_baselines();
    let txn = sea_orm::TransactionTrait::begin(&db).await.unwrap();
    legacy::ActiveModel {
        id: Set(1),
        name: Set("rolled back".into()),
        qty: Set(1),
    }
    .insert(&txn)
    .await
    .unwrap();
    txn.rollback().await.unwrap();
    let marked = audit_seaorm::entity::baselines::Entity::find_by_id("legacy_items")
        .one(&db)
        .await
        .unwrap();
    assert!(marked.is_none());

    insert_around_the_hooks(&db, 5, 5).await;
    expire_tentative_baselines();
    legacy::ActiveModel {
        id: Set(5),
        qty: Set(50),
        ..Default::default()
    }
    .update(&db)
    .await
    .unwrap();
    let vs = versions(&db, "legacy_items", 5).await.unwrap();
    assert_eq!(
        vs.iter().map(|v| v.event.as_str()).collect::<Vec<_>>(),
        ["baseline", "updated"]
    );
    let trail = history(&db, "legacy_items", 5).await.unwrap();
    assert_eq!(
        serde_json::to_value(&trail[0].changes).unwrap(),
        json!({"qty": {"old": 5, "new": 50}})
    );
    forget_baselines();
}

/// Two transactions each making the first audited update of a row older than auditing (a
/// type with no baseline yet): neither waits for the other. (On MySQL/MariaDB a locking
/// read of the missing version took a gap lock, and each baseline's insert then waited
/// for the other's: a deadlock when both had read, a wait here.)
async fn first_updates_of_old_rows_side_by_side(db: DatabaseConnection) {
    let _serial = SERIAL.lock().await;
    forget_baselines();
    insert_around_the_hooks(&db, 41, 42).await;
    let update = |id: i32| legacy::ActiveModel {
        id: Set(id),
        qty: Set(id * 10),
        ..Default::default()
    };
    let first = sea_orm::TransactionTrait::begin(&db).await.unwrap();
    update(41).update(&first).await.unwrap();
    let second = sea_orm::TransactionTrait::begin(&db).await.unwrap();
    let wait = match db.get_database_backend() {
        DbBackend::MySql => "SET SESSION innodb_lock_wait_timeout = 2",
        _ => "SET LOCAL lock_timeout = '2s'",
    };
    second.execute_unprepared(wait).await.unwrap();
    update(42)
        .update(&second)
        .await
        .expect("the second first update does not wait for the first");
    second.commit().await.unwrap();
    first.commit().await.unwrap();
    for id in [41, 42] {
        let vs = versions(&db, "legacy_items", id).await.unwrap();
        assert_eq!(
            vs.iter().map(|v| v.event.as_str()).collect::<Vec<_>>(),
            ["baseline", "updated"],
            "row {id}"
        );
    }
    forget_baselines();
}

/// A first audited update of a row older than auditing while a `backfill` that has
/// written that row's baseline is still open: the update's own baseline waits for it and
/// keeps it, and the update is diffed against it.
async fn a_baseline_beside_a_backfill(db: DatabaseConnection) {
    let _serial = SERIAL.lock().await;
    forget_baselines();
    insert_around_the_hooks(&db, 9, 9).await;
    let backfilling = sea_orm::TransactionTrait::begin(&db).await.unwrap();
    backfill::<legacy::Entity, _>(&backfilling).await.unwrap();
    forget_baselines();
    let update = {
        let db = db.clone();
        tokio::spawn(async move {
            legacy::ActiveModel {
                id: Set(9),
                qty: Set(90),
                ..Default::default()
            }
            .update(&db)
            .await
        })
    };
    until_a_lock_wait(&db).await;
    backfilling.commit().await.unwrap();
    update.await.unwrap().unwrap();
    let vs = versions(&db, "legacy_items", 9).await.unwrap();
    assert_eq!(
        vs.iter().map(|v| v.event.as_str()).collect::<Vec<_>>(),
        ["baseline", "updated"]
    );
    let trail = history(&db, "legacy_items", 9).await.unwrap();
    assert_eq!(
        serde_json::to_value(&trail[0].changes).unwrap(),
        json!({"qty": {"old": 9, "new": 90}})
    );
    forget_baselines();
}

/// A batch of wide rows (about 20 MB of snapshots in one batch of `Backfill::BATCH`, more
/// than MariaDB's default 16 MiB packet) is written in several statements: every row gets
/// its baseline.
async fn wide_rows_are_backfilled(db: DatabaseConnection) {
    const WIDE: usize = 20_000;
    let _serial = SERIAL.lock().await;
    forget_baselines();
    if db.get_database_backend() == DbBackend::MySql {
        // (the entity's `String` is a `VARCHAR(255)` there)
        db.execute_unprepared("ALTER TABLE `legacy_items` MODIFY `name` MEDIUMTEXT NOT NULL")
            .await
            .unwrap();
    }
    let rows: Vec<legacy::ActiveModel> = (1..=Backfill::BATCH as i32)
        .map(|id| legacy::ActiveModel {
            id: Set(id),
            name: Set(format!("{id}-{}", "x".repeat(WIDE))),
            qty: Set(id),
        })
        .collect();
    for chunk in rows.chunks(100) {
        legacy::Entity::insert_many(chunk.to_vec())
            .exec(&db)
            .await
            .unwrap();
    }
    let done = backfill::<legacy::Entity, _>(&db).await.unwrap();
    assert_eq!(
        (done.rows, done.written),
        (Backfill::BATCH, Backfill::BATCH)
    );
    let last = versions(&db, "legacy_items", Backfill::BATCH as i32)
        .await
        .unwrap();
    assert_eq!(last.len(), 1);
    assert_eq!(last[0].data["name"].as_str().map(str::len), Some(WIDE + 5));
    forget_baselines();
}

server_backend_tests!(
    a_baseline_beside_a_backfill,
    first_updates_of_old_rows_side_by_side
);

backend_tests!(wide_rows_are_backfilled);

backend_tests!(
    a_row_created_after_the_read_is_logged,
    a_failed_update_leaves_no_note_for_a_delete,
    a_cancelled_delete_note_is_dropped,
    old_rows_get_a_baseline,
    empty_table_is_baselined,
    a_mark_rolled_back_is_not_believed,
);
