//! Tamper evidence: after `seal`, each kind of tampering done with plain SQL is reported
//! by `verify` at the right link with the right reason; a checkpoint kept outside the
//! database catches what the chains alone cannot (a whole subject removed with its
//! links); and an untouched trail never raises a false alarm.

use std::collections::BTreeMap;

use audit_seaorm::ed25519_dalek::SigningKey;
use audit_seaorm::entity::{activity_log, chains, seal_gaps, seal_runs, seals, versions};
use audit_seaorm::{
    BreakReason, Cursor, Report, Retention, SEALED_LATE, VerifyScope, checkpoint, checkpoints,
    erase, prune, seal, seal_all, seal_late, verify, verify_checkpoint,
};
use audit_tests::{
    backend_tests, move_entries, partition_activity_log, post, postgres_tests,
    server_backend_tests, time_value, until_a_lock_wait,
};
use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, ModelTrait, QueryFilter,
    QueryOrder, Set, TransactionTrait,
};
use serde_json::json;

/// A post written, then updated `updates` times: `updates + 1` entries and versions.
async fn post_with_history(db: &DatabaseConnection, slug: &str, updates: usize) -> post::Model {
    let mut p = post::new("v1", slug).insert(db).await.unwrap();
    for i in 0..updates {
        let mut am: post::ActiveModel = p.into();
        am.title = Set(format!("v{}", i + 2));
        p = am.update(db).await.unwrap();
    }
    p
}

/// An `approved` entry of a post, written at `at`, as raw SQL would write it.
fn approval(post: i32, at: DateTime<Utc>) -> activity_log::ActiveModel {
    activity_log::ActiveModel {
        action: Set("approved".into()),
        subject_type: Set("post".into()),
        subject_id: Set(post.to_string()),
        causer_id: Set(Some("admin".into())),
        changes: Set(json!({})),
        properties: Set(None),
        ip: Set(None),
        user_agent: Set(None),
        request_id: Set(None),
        version_id: Set(None),
        created_at: Set(at),
        ..Default::default()
    }
}

/// The ids of a post's entries (or versions), oldest first.
async fn entry_ids(db: &DatabaseConnection, id: i32) -> Vec<i64> {
    activity_log::Entity::find()
        .filter(activity_log::Column::SubjectType.eq("post"))
        .filter(activity_log::Column::SubjectId.eq(id.to_string()))
        .order_by_asc(activity_log::Column::Id)
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect()
}

async fn version_ids(db: &DatabaseConnection, id: i32) -> Vec<i64> {
    versions::Entity::find()
        .filter(versions::Column::SubjectType.eq("post"))
        .filter(versions::Column::SubjectId.eq(id.to_string()))
        .order_by_asc(versions::Column::Id)
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.id)
        .collect()
}

/// (table, subject id) → (link, reason) of every break.
fn breaks(report: &Report) -> BTreeMap<(String, String), (Option<i64>, BreakReason)> {
    report
        .breaks
        .iter()
        .map(|b| ((b.table.clone(), b.subject_id.clone()), (b.seq, b.reason)))
        .collect()
}

fn key(table: &str, id: i32) -> (String, String) {
    (table.to_owned(), id.to_string())
}

/// Rewrites who caused an entry, as raw SQL would.
async fn set_causer(db: &DatabaseConnection, entry: i64, causer: &str) {
    activity_log::Entity::update_many()
        .col_expr(activity_log::Column::CauserId, Expr::val(causer))
        .filter(activity_log::Column::Id.eq(entry))
        .exec(db)
        .await
        .unwrap();
}

/// Swaps the ids of two entries: each row now sits where the other was.
async fn swap_entries(db: &DatabaseConnection, a: i64, b: i64) {
    swap(db, "activity_log", "1 = 1", "id", a, b).await;
}

async fn each_tampering_is_reported_at_its_link(db: DatabaseConnection) {
    let mut posts = Vec::new();
    for i in 0..12 {
        posts.push(post_with_history(&db, &format!("p{i}"), 3).await);
    }
    let id = |i: usize| posts[i].id;
    // Post 10's first entry is two days old: a replay of it is a row from the past.
    let old_entry = entry_ids(&db, id(10)).await[0];
    move_entries(&db, [old_entry], Utc::now() - Duration::days(2)).await;

    let sealed = seal(&db).await.unwrap();
    assert_eq!(sealed.rows, 12 * 8, "4 entries and 4 versions of each post");
    assert_eq!(sealed.held_back, 0);
    let clean = verify(&db, &VerifyScope::all()).await.unwrap();
    assert!(clean.is_intact(), "{:?}", clean.breaks);
    assert_eq!((clean.links, clean.chains, clean.pending), (96, 24, 0));
    // Sealing again links nothing twice.
    assert_eq!(seal(&db).await.unwrap().rows, 0);

    // 0: one value in an entry's `changes`.
    let e = entry_ids(&db, id(0)).await;
    activity_log::Entity::update_many()
        .col_expr(
            activity_log::Column::Changes,
            Expr::val(json!({"title": {"old": "v1", "new": "forged"}})),
        )
        .filter(activity_log::Column::Id.eq(e[1]))
        .exec(&db)
        .await
        .unwrap();
    // 1: one value in a version's `data`.
    let v = version_ids(&db, id(1)).await;
    let mut row: versions::ActiveModel = versions::Entity::find_by_id(v[2])
        .one(&db)
        .await
        .unwrap()
        .unwrap()
        .into();
    row.data = Set(json!({"id": id(1), "title": "forged", "slug": "p1", "published_at": null}));
    row.update(&db).await.unwrap();
    // 2: who did it.
    let e = entry_ids(&db, id(2)).await;
    set_causer(&db, e[0], "someone-else").await;
    // 3: when (one microsecond).
    let v = version_ids(&db, id(3)).await;
    let at = versions::Entity::find_by_id(v[1])
        .one(&db)
        .await
        .unwrap()
        .unwrap()
        .created_at;
    versions::Entity::update_many()
        .col_expr(
            versions::Column::CreatedAt,
            Expr::val(time_value(&db, at + Duration::microseconds(1))),
        )
        .filter(versions::Column::Id.eq(v[1]))
        .exec(&db)
        .await
        .unwrap();
    // 4: a middle entry deleted.
    let e = entry_ids(&db, id(4)).await;
    activity_log::Entity::delete_by_id(e[1])
        .exec(&db)
        .await
        .unwrap();
    // 5: the newest version deleted.
    let v = version_ids(&db, id(5)).await;
    versions::Entity::delete_by_id(v[3])
        .exec(&db)
        .await
        .unwrap();
    // 6: the newest version deleted with its link.
    let v = version_ids(&db, id(6)).await;
    versions::Entity::delete_by_id(v[3])
        .exec(&db)
        .await
        .unwrap();
    seals::Entity::delete_many()
        .filter(seals::Column::Kind.eq(2))
        .filter(seals::Column::RowId.eq(v[3]))
        .exec(&db)
        .await
        .unwrap();
    // 7: a forged entry inserted into the past.
    let forged = approval(id(7), Utc::now() - Duration::days(1));
    activity_log::Entity::insert(forged)
        .exec(&db)
        .await
        .unwrap();
    // 8: two entries swapped.
    let e = entry_ids(&db, id(8)).await;
    swap_entries(&db, e[0], e[2]).await;
    // 9: a whole subject truncated (its rows; its links stay).
    activity_log::Entity::delete_many()
        .filter(activity_log::Column::SubjectId.eq(id(9).to_string()))
        .exec(&db)
        .await
        .unwrap();
    versions::Entity::delete_many()
        .filter(versions::Column::SubjectId.eq(id(9).to_string()))
        .exec(&db)
        .await
        .unwrap();
    // 10: an old entry replayed as a new row.
    let mut replay: activity_log::ActiveModel = activity_log::Entity::find_by_id(old_entry)
        .one(&db)
        .await
        .unwrap()
        .unwrap()
        .into();
    replay.id = sea_orm::ActiveValue::NotSet;
    let replay = replay.insert(&db).await.unwrap();
    // 11: untouched.

    let report = verify(&db, &VerifyScope::all()).await.unwrap();
    let found = breaks(&report);
    let expected = BTreeMap::from([
        (key("activity_log", id(0)), (Some(2), BreakReason::Changed)),
        (key("versions", id(1)), (Some(3), BreakReason::Changed)),
        (key("activity_log", id(2)), (Some(1), BreakReason::Changed)),
        (key("versions", id(3)), (Some(2), BreakReason::Changed)),
        (key("activity_log", id(4)), (Some(2), BreakReason::Missing)),
        (key("versions", id(5)), (Some(4), BreakReason::Missing)),
        (key("versions", id(6)), (Some(4), BreakReason::Missing)),
        (key("activity_log", id(7)), (None, BreakReason::Inserted)),
        (
            key("activity_log", id(8)),
            (Some(1), BreakReason::Reordered),
        ),
        (key("activity_log", id(9)), (Some(1), BreakReason::Missing)),
        (key("versions", id(9)), (Some(1), BreakReason::Missing)),
        (key("activity_log", id(10)), (None, BreakReason::Inserted)),
    ]);
    assert_eq!(found, expected, "{:#?}", report.breaks);
    let replayed = report
        .breaks
        .iter()
        .find(|b| b.subject_id == id(10).to_string())
        .unwrap();
    assert_eq!(replayed.row_id, Some(replay.id));

    // A later seal does not make the inserted rows part of the chains: they are late.
    let again = seal(&db).await.unwrap();
    assert_eq!((again.rows, again.held_back), (0, 2));
    assert_eq!(
        breaks(&verify(&db, &VerifyScope::all()).await.unwrap()),
        expected
    );

    // One subject's scope reports that subject only.
    let one = verify(&db, &VerifyScope::all().subject("post", id(4).to_string()))
        .await
        .unwrap();
    assert_eq!(one.chains, 2);
    assert_eq!(
        breaks(&one),
        BTreeMap::from([(key("activity_log", id(4)), (Some(2), BreakReason::Missing))])
    );
    let untouched = verify(&db, &VerifyScope::all().subject("post", id(11).to_string()))
        .await
        .unwrap();
    assert!(untouched.is_intact());
    assert_eq!(untouched.links, 8);
}

/// A walk in small steps, each going on from the last one's cursor, finds what one walk
/// finds.
async fn a_walk_in_steps_finds_what_one_walk_finds(db: DatabaseConnection) {
    let mut posts = Vec::new();
    for i in 0..6 {
        posts.push(post_with_history(&db, &format!("s{i}"), 4).await);
    }
    seal(&db).await.unwrap();
    let e = entry_ids(&db, posts[3].id).await;
    activity_log::Entity::delete_by_id(e[3])
        .exec(&db)
        .await
        .unwrap();
    // Rows written since the seal: found by the search for rows without a link, which
    // steps through the ids a budget at a time too.
    for i in 0..2 {
        post_with_history(&db, &format!("late{i}"), 1).await;
    }
    let whole = verify(&db, &VerifyScope::all()).await.unwrap();
    assert_eq!(whole.breaks.len(), 1);
    assert_eq!(
        whole.pending, 8,
        "two entries and two versions of each new post"
    );
    assert!(whole.next.is_none());

    let (mut links, mut pending) = (0, 0);
    let mut found = Vec::new();
    let mut scope = VerifyScope::all().max_links(7);
    let mut steps = 0;
    loop {
        let step = verify(&db, &scope).await.unwrap();
        steps += 1;
        links += step.links;
        pending += step.pending;
        found.extend(step.breaks);
        let Some(next) = step.next else { break };
        let cursor: Cursor = next.parse().unwrap();
        assert_eq!(cursor.to_string(), next);
        scope = VerifyScope::all().max_links(7).after(cursor);
        assert!(steps < 100, "the walk goes on");
    }
    assert!(steps > 5, "{steps} steps");
    assert_eq!(found, whole.breaks);
    assert_eq!(links, whole.links);
    assert_eq!(pending, whole.pending);
    assert!("x1.2".parse::<Cursor>().is_err());
}

/// A walk split into ranges of chains walked at once reports what one range reports, in
/// the same order, whatever the number of ranges (one chain each, at the most), with
/// breaks on both sides of each cut and rows without a link.
async fn a_split_walk_finds_what_one_range_finds(db: DatabaseConnection) {
    let mut posts = Vec::new();
    for i in 0..9 {
        posts.push(post_with_history(&db, &format!("r{i}"), 2).await);
    }
    seal(&db).await.unwrap();
    for (n, p) in posts.iter().enumerate() {
        let e = entry_ids(&db, p.id).await;
        match n % 3 {
            0 => set_causer(&db, e[1], "mallory").await,
            1 => {
                let v = version_ids(&db, p.id).await;
                versions::Entity::delete_by_id(v[2])
                    .exec(&db)
                    .await
                    .unwrap();
            }
            _ => {}
        }
    }
    // A chain whose head is gone, and a row from the past that no chain has.
    chains::Entity::delete_many()
        .filter(chains::Column::SubjectId.eq(posts[4].id.to_string()))
        .exec(&db)
        .await
        .unwrap();
    let late = approval(posts[8].id, Utc::now() - Duration::days(2));
    late.insert(&db).await.unwrap();

    let one = verify(&db, &VerifyScope::all().parallel(1)).await.unwrap();
    // Entries: three changed, one chain without its head, one row from the past;
    // versions: two missing, one chain without its head.
    assert_eq!(one.breaks.len(), 5 + 3, "{:#?}", one.breaks);
    assert_eq!(one.chains, 2 * 9 - 2, "two heads are gone");
    for n in [2, 3, 4, 7, 18, 50] {
        let split = verify(&db, &VerifyScope::all().parallel(n)).await.unwrap();
        assert_eq!(split, one, "{n} ranges");
    }
    // On one connection (a transaction), the ranges take turns.
    let txn = db.begin().await.unwrap();
    let split = verify(&txn, &VerifyScope::all().parallel(3)).await.unwrap();
    txn.commit().await.unwrap();
    assert_eq!(split, one, "in a transaction");
    // Breaks beyond the most asked for are left out in the same way.
    let few = |n| VerifyScope::all().max_breaks(4).parallel(n);
    let one = verify(&db, &few(1)).await.unwrap();
    assert!(one.more_breaks);
    assert_eq!(one.breaks.len(), 4);
    for n in [2, 5] {
        assert_eq!(verify(&db, &few(n)).await.unwrap(), one, "{n} ranges");
    }
    // A walk of one subject type is split too.
    let posts_only = VerifyScope::all().subject_type("post").parallel(4);
    let whole = VerifyScope::all().parallel(1);
    let (posts_only, whole) = (verify(&db, &posts_only), verify(&db, &whole));
    assert_eq!(posts_only.await.unwrap(), whole.await.unwrap());
}

/// Chains whose keys the database's collation orders unlike their bytes ("a" before "B"
/// in a language's collation, after it in bytes), one of them pruned to its anchor (a
/// head without links): the walk, in one range or split, finds nothing wrong.
async fn chains_are_walked_in_byte_order(db: DatabaseConnection) {
    use audit_seaorm::{NewActivity, log};
    for id in ["a", "B", "c", "D"] {
        for action in ["opened", "closed"] {
            log(&db, NewActivity::new(action).subject("ticket", id))
                .await
                .unwrap();
        }
    }
    let old: Vec<i64> = activity_log::Entity::find()
        .filter(activity_log::Column::SubjectId.is_in(["a", "c"]))
        .all(&db)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    // Old before they are sealed (aged after, they would no longer match their links).
    move_entries(&db, old, Utc::now() - Duration::days(2)).await;
    seal(&db).await.unwrap();
    let pruned = prune(&db, &Retention::new().entries_older_than(Duration::days(1)))
        .await
        .unwrap();
    assert_eq!(pruned.entries, 4);
    seal(&db).await.unwrap();
    // The four entries left, and the one that records the pruning.
    let rows = activity_log::Entity::find().all(&db).await.unwrap().len();
    assert_eq!(rows, 5);
    for n in [1, 2, 4] {
        let report = verify(&db, &VerifyScope::all().parallel(n)).await.unwrap();
        assert!(report.is_intact(), "{n} ranges: {:?}", report.breaks);
        assert_eq!(report.links, 5, "{n} ranges");
    }
    let key = SigningKey::from_bytes(&[9; 32]);
    let cp = checkpoint(&db, &key).await.unwrap();
    let check = verify_checkpoint(&db, &cp, &key.verifying_key()).await;
    assert!(check.unwrap().matches);
}

/// A row moved to a place of its chain past the page of links at hand (pages of 1,000)
/// is reported as reordered, as it is within a page: the reason does not depend on where
/// the pages fall.
async fn a_row_moved_past_the_page_is_reordered(db: DatabaseConnection) {
    use audit_seaorm::{NewActivity, log};
    let mut ids = Vec::new();
    for i in 0..1005 {
        let entry = NewActivity::new(format!("step-{i}")).subject("ticket", "long");
        ids.push(log(&db, entry).await.unwrap().id);
    }
    assert_eq!(seal(&db).await.unwrap().rows, 1005);
    // Links 990 and 1003 now find each other's row.
    swap_entries(&db, ids[989], ids[1002]).await;
    let report = verify(&db, &VerifyScope::all()).await.unwrap();
    let found: Vec<_> = report.breaks.iter().map(|b| (b.seq, b.reason)).collect();
    assert_eq!(found, [(Some(990), BreakReason::Reordered)]);
}

/// A checkpoint signed outside the database catches a subject removed with its links
/// and chain heads, which the chains alone cannot see.
async fn a_checkpoint_catches_a_removed_subject(db: DatabaseConnection) {
    let key = SigningKey::from_bytes(&[7; 32]);
    let a = post_with_history(&db, "a", 2).await;
    let b = post_with_history(&db, "b", 2).await;
    let cp = checkpoint(&db, &key).await.unwrap();
    assert_eq!(cp.chains, 4);
    assert_eq!(checkpoints(&db, 10).await.unwrap(), vec![cp.clone()]);
    let check = verify_checkpoint(&db, &cp, &key.verifying_key())
        .await
        .unwrap();
    assert!(check.matches, "{check:?}");

    // Writes after the checkpoint do not disturb it.
    let mut am: post::ActiveModel = a.clone().into();
    am.title = Set("later".into());
    am.update(&db).await.unwrap();
    let c = post_with_history(&db, "c", 0).await;
    // c's entry is old (written two days ago, it commits only now: held back as late by
    // the seal, then accepted).
    let c_entries = entry_ids(&db, c.id).await;
    move_entries(&db, c_entries.clone(), Utc::now() - Duration::days(2)).await;
    let sealed = seal(&db).await.unwrap();
    assert_eq!(sealed.held_back, 1);
    audit_seaorm::seal_late(&db, &[("activity_log", c_entries[0])], "imported")
        .await
        .unwrap();
    let check = verify_checkpoint(&db, &cp, &key.verifying_key())
        .await
        .unwrap();
    assert!(check.matches, "{check:?}");
    // Nor does a chain that began after it and was pruned since (its anchor is later).
    let pruned = prune(&db, &Retention::new().entries_older_than(Duration::days(1)))
        .await
        .unwrap();
    assert_eq!(pruned.entries, 1);
    seal(&db).await.unwrap();
    let check = verify_checkpoint(&db, &cp, &key.verifying_key())
        .await
        .unwrap();
    assert!(check.matches, "{check:?}");
    assert!(verify(&db, &VerifyScope::all()).await.unwrap().is_intact());

    // Another key's checkpoint, or a changed one, is refused.
    let other = SigningKey::from_bytes(&[8; 32]);
    assert!(matches!(
        verify_checkpoint(&db, &cp, &other.verifying_key()).await,
        Err(audit_seaorm::Error::SignatureInvalid { run }) if run == cp.run
    ));
    let mut bent = cp.clone();
    bent.chains += 1;
    assert!(matches!(
        verify_checkpoint(&db, &bent, &key.verifying_key()).await,
        Err(audit_seaorm::Error::SignatureInvalid { .. })
    ));

    // b removed entirely: rows, links, heads. The chains walk clean; the checkpoint not.
    let b_id = b.id.to_string();
    remove_rows_and_links(&db, &b_id).await;
    chains::Entity::delete_many()
        .filter(chains::Column::SubjectId.eq(b_id.as_str()))
        .exec(&db)
        .await
        .unwrap();
    assert!(verify(&db, &VerifyScope::all()).await.unwrap().is_intact());
    let check = verify_checkpoint(&db, &cp, &key.verifying_key())
        .await
        .unwrap();
    assert!(!check.matches);
    assert_eq!((check.chains_then, check.chains_now), (4, 2));
}

/// Removes subject `id`'s entries, versions and links (not its chains' heads).
async fn remove_rows_and_links(db: &DatabaseConnection, id: &str) {
    activity_log::Entity::delete_many()
        .filter(activity_log::Column::SubjectId.eq(id))
        .exec(db)
        .await
        .unwrap();
    versions::Entity::delete_many()
        .filter(versions::Column::SubjectId.eq(id))
        .exec(db)
        .await
        .unwrap();
    seals::Entity::delete_many()
        .filter(seals::Column::SubjectId.eq(id))
        .exec(db)
        .await
        .unwrap();
}

/// A subject removed with its chains' anchors moved up to their heads, as if retention had
/// folded them: retention keeps every record's latest version, so `verify` and the
/// checkpoint both see the versions chain's rows gone.
async fn a_subject_folded_away_is_found(db: DatabaseConnection) {
    use sea_orm::sea_query::Expr;
    let key = SigningKey::from_bytes(&[7; 32]);
    let _a = post_with_history(&db, "a", 2).await;
    let b = post_with_history(&db, "b", 2).await;
    let cp = checkpoint(&db, &key).await.unwrap();
    let b_id = b.id.to_string();
    remove_rows_and_links(&db, &b_id).await;
    chains::Entity::update_many()
        .col_expr(
            chains::Column::AnchorSeq,
            Expr::col(chains::Column::HeadSeq),
        )
        .col_expr(
            chains::Column::AnchorHash,
            Expr::col(chains::Column::HeadHash),
        )
        .filter(chains::Column::SubjectId.eq(b_id.as_str()))
        .exec(&db)
        .await
        .unwrap();
    let report = verify(&db, &VerifyScope::all()).await.unwrap();
    assert!(!report.is_intact(), "{report:?}");
    let check = verify_checkpoint(&db, &cp, &key.verifying_key())
        .await
        .unwrap();
    assert!(!check.matches, "{check:?}");
}

/// Retention removes the oldest links of chains: they start from anchors afterwards and
/// verify clean, before and after more writes; a row removed from the middle is still
/// reported.
async fn pruned_chains_start_from_their_anchors(db: DatabaseConnection) {
    let a = post_with_history(&db, "a", 5).await;
    let b = post_with_history(&db, "b", 1).await;
    // a's first three entries, and b's first, are two days old.
    let old: Vec<i64> = entry_ids(&db, a.id).await[..3]
        .iter()
        .copied()
        .chain([entry_ids(&db, b.id).await[0]])
        .collect();
    move_entries(&db, old, Utc::now() - Duration::days(2)).await;
    seal(&db).await.unwrap();
    let retention = Retention::new()
        .entries_older_than(Duration::days(1))
        .keep_versions(2);
    let pruned = prune(&db, &retention).await.unwrap();
    assert_eq!((pruned.entries, pruned.versions), (4, 4));
    let report = verify(&db, &VerifyScope::all()).await.unwrap();
    assert!(report.is_intact(), "{:#?}", report.breaks);
    // The `pruned` entry is unsealed until the next seal.
    assert_eq!(report.pending, 1);
    let head = chains::Entity::find_by_id((1i16, "post".to_owned(), a.id.to_string()))
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((head.anchor_seq, head.head_seq), (3, 6));

    let mut am: post::ActiveModel = a.clone().into();
    am.title = Set("after the prune".into());
    am.update(&db).await.unwrap();
    seal(&db).await.unwrap();
    let report = verify(&db, &VerifyScope::all()).await.unwrap();
    assert!(report.is_intact(), "{:#?}", report.breaks);
    assert_eq!(report.pending, 0);

    // A middle row removed is no retention's: reported, and a prune keeps it so.
    let e = entry_ids(&db, a.id).await;
    activity_log::Entity::delete_by_id(e[1])
        .exec(&db)
        .await
        .unwrap();
    prune(&db, &retention).await.unwrap();
    let found = breaks(&verify(&db, &VerifyScope::all()).await.unwrap());
    assert_eq!(
        found,
        BTreeMap::from([(key("activity_log", a.id), (Some(5), BreakReason::Missing))])
    );

    // Every row of a subject removed, then a routine prune that removes something else:
    // the subject's links were not retention's to fold, so the removal stays reported.
    let c = post_with_history(&db, "c", 1).await;
    move_entries(
        &db,
        vec![entry_ids(&db, c.id).await[0]],
        Utc::now() - Duration::days(2),
    )
    .await;
    seal(&db).await.unwrap();
    activity_log::Entity::delete_many()
        .filter(activity_log::Column::SubjectId.eq(b.id.to_string()))
        .exec(&db)
        .await
        .unwrap();
    versions::Entity::delete_many()
        .filter(versions::Column::SubjectId.eq(b.id.to_string()))
        .exec(&db)
        .await
        .unwrap();
    let routine = prune(&db, &retention).await.unwrap();
    assert_eq!(routine.entries, 1, "c's old entry");
    let found = breaks(&verify(&db, &VerifyScope::all()).await.unwrap());
    assert_eq!(
        found,
        BTreeMap::from([
            (key("activity_log", a.id), (Some(5), BreakReason::Missing)),
            (key("activity_log", b.id), (Some(2), BreakReason::Missing)),
            (key("versions", b.id), (Some(1), BreakReason::Missing)),
        ])
    );
}

/// A version changed after it was sealed, among versions that `keep_versions` removes: it
/// stays (with the records' latest versions), and only the other old versions go.
async fn changed_version_survives_prune(db: DatabaseConnection) {
    let a = post_with_history(&db, "a", 2).await;
    let b = post_with_history(&db, "b", 2).await;
    seal(&db).await.unwrap();
    let tampered = version_ids(&db, a.id).await[0];
    versions::Entity::update_many()
        .col_expr(versions::Column::CauserId, Expr::value("someone else"))
        .filter(versions::Column::Id.eq(tampered))
        .exec(&db)
        .await
        .unwrap();
    let pruned = prune(&db, &Retention::new().keep_versions(1))
        .await
        .unwrap();
    assert_eq!((pruned.versions, pruned.kept_changed), (3, 1), "{pruned:?}");
    let (va, vb) = (version_ids(&db, a.id).await, version_ids(&db, b.id).await);
    assert_eq!(
        va.len(),
        2,
        "the changed version and the latest stay: {va:?}"
    );
    assert!(va.contains(&tampered));
    assert_eq!(vb.len(), 1, "b keeps its latest: {vb:?}");
    let numbers: Vec<i64> = versions::Entity::find()
        .filter(versions::Column::SubjectId.eq(b.id.to_string()))
        .all(&db)
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(numbers, [3]);
}

/// A batch of versions as large as retention takes (10,000 records with one old version
/// each: three parameters a record) with thousands of its rows changed since they were
/// sealed: the changed rows are kept out a thousand per statement, under SQLite's 32,766
/// parameters, and the others go. (Slow on SQLite: planning a statement of 10,000 ranges.)
async fn a_large_batch_keeps_many_changed_rows(db: DatabaseConnection) {
    const RECORDS: usize = 10_000;
    const CHANGED: usize = 3_000;
    let version = |i: usize, n: i64| versions::ActiveModel {
        subject_type: Set("post".into()),
        subject_id: Set(format!("{i}")),
        version: Set(n),
        event: Set(if n == 1 { "created" } else { "updated" }.into()),
        data: Set(json!({"title": format!("v{n}")})),
        causer_id: Set(None),
        created_at: Set(Utc::now()),
        ..Default::default()
    };
    let rows: Vec<_> = (0..RECORDS)
        .flat_map(|i| [version(i, 1), version(i, 2)])
        .collect();
    for chunk in rows.chunks(2_000) {
        versions::Entity::insert_many(chunk.to_vec())
            .exec(&db)
            .await
            .unwrap();
    }
    seal_all(&db).await.unwrap();
    // The first versions of the first records (ids 1, 3, 5, …).
    versions::Entity::update_many()
        .col_expr(versions::Column::CauserId, Expr::value("someone else"))
        .filter(versions::Column::Version.eq(1))
        .filter(versions::Column::Id.lte(2 * CHANGED as i64))
        .exec(&db)
        .await
        .unwrap();
    let pruned = prune(
        &db,
        &Retention::new()
            .keep_versions(1)
            .batch_size(Retention::MAX_BATCH),
    )
    .await
    .unwrap();
    assert_eq!(
        (pruned.versions, pruned.kept_changed),
        ((RECORDS - CHANGED) as u64, CHANGED as u64),
        "{pruned:?}"
    );
    let left = sea_orm::PaginatorTrait::count(versions::Entity::find(), &db)
        .await
        .unwrap();
    assert_eq!(left, (RECORDS + CHANGED) as u64);
}

mod a_large_batch_keeps_many_changed_rows {
    audit_tests::__backend_test!(a_large_batch_keeps_many_changed_rows, sqlite, Sqlite, "_s");
}

/// Rows aged by hand after they were sealed (their `created_at` moved into the past, so
/// that retention would take them) are not pruned away: they no longer match their links,
/// so prune keeps them and `verify` reports them. Rows that match go as usual, in the same
/// run.
async fn aged_rows_are_not_pruned_away(db: DatabaseConnection) {
    let honest = post_with_history(&db, "honest", 1).await;
    let aged = post_with_history(&db, "aged", 2).await;
    move_entries(
        &db,
        vec![entry_ids(&db, honest.id).await[0]],
        Utc::now() - Duration::days(2),
    )
    .await;
    seal(&db).await.unwrap();
    // After the seal: someone ages every entry of `aged`.
    move_entries(
        &db,
        entry_ids(&db, aged.id).await,
        Utc::now() - Duration::days(400),
    )
    .await;
    let retention = Retention::new().entries_older_than(Duration::days(1));
    let pruned = prune(&db, &retention).await.unwrap();
    assert_eq!((pruned.entries, pruned.kept_changed), (1, 3), "{pruned:?}");
    assert_eq!(entry_ids(&db, aged.id).await.len(), 3);
    let found = breaks(&verify(&db, &VerifyScope::all()).await.unwrap());
    assert_eq!(
        found,
        BTreeMap::from([(
            key("activity_log", aged.id),
            (Some(1), BreakReason::Changed)
        )])
    );
    // Kept by every later run, which reports them again.
    let again = prune(&db, &retention).await.unwrap();
    assert_eq!((again.entries, again.kept_changed), (0, 3));
}

/// A prune that removes more links of one chain than a page folds them all, a page at a
/// time.
async fn a_long_pruned_chain_folds_in_pages(db: DatabaseConnection) {
    let old = Utc::now() - Duration::days(2);
    for _ in 0..5 {
        let rows = (0..500).map(|_| approval(999, old));
        activity_log::Entity::insert_many(rows)
            .exec(&db)
            .await
            .unwrap();
    }
    assert_eq!(seal_all(&db).await.unwrap().rows, 2500);
    let pruned = prune(&db, &Retention::new().entries_older_than(Duration::days(1)))
        .await
        .unwrap();
    assert_eq!(pruned.entries, 2500);
    let head = chains::Entity::find_by_id((1i16, "post".to_owned(), "999".to_owned()))
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((head.anchor_seq, head.head_seq), (2500, 2500));
    assert_eq!(
        sea_orm::PaginatorTrait::count(seals::Entity::find(), &db)
            .await
            .unwrap(),
        0
    );
    let report = verify(&db, &VerifyScope::all()).await.unwrap();
    assert!(report.is_intact(), "{:#?}", report.breaks);
}

/// A row that commits after a row with a higher id was sealed (a slow transaction) is
/// left to the next sweep by the calls in between, which read only the rows above the
/// last run's; until then `verify` counts it as pending, not as a break.
async fn a_row_behind_the_last_run_waits_for_a_sweep(db: DatabaseConnection) {
    let p = post_with_history(&db, "p", 2).await;
    let first = seal(&db).await.unwrap();
    assert!(first.swept, "the first call sweeps");
    assert_eq!(first.rows, 6);
    let top = *entry_ids(&db, p.id).await.last().unwrap();
    ids_given_up_to(&db, top + 100).await;
    let entry = |id: i64| activity_log::ActiveModel {
        id: Set(id),
        ..approval(p.id, Utc::now())
    };
    // Ids as a slow transaction would leave them: the higher one commits first.
    activity_log::Entity::insert(entry(top + 100))
        .exec(&db)
        .await
        .unwrap();
    let cheap = seal(&db).await.unwrap();
    assert_eq!((cheap.rows, cheap.swept), (1, false));
    activity_log::Entity::insert(entry(top + 50))
        .exec(&db)
        .await
        .unwrap();
    let cheap = seal(&db).await.unwrap();
    assert_eq!((cheap.rows, cheap.swept), (0, false), "behind the last run");
    let report = verify(&db, &VerifyScope::all()).await.unwrap();
    assert!(report.is_intact(), "{:#?}", report.breaks);
    assert_eq!(report.pending, 1);
    let sweep = seal_all(&db).await.unwrap();
    assert_eq!((sweep.rows, sweep.swept), (1, true));
    let report = verify(&db, &VerifyScope::all()).await.unwrap();
    assert!(report.is_intact(), "{:#?}", report.breaks);
    assert_eq!((report.pending, report.links), (0, 8));
    // Within SEAL_SWEEP of the last sweep, calls do not sweep again.
    checkpoint(&db, &SigningKey::from_bytes(&[1; 32]))
        .await
        .unwrap();
    assert!(!seal(&db).await.unwrap().swept);
}

/// Runs further apart than SEAL_GRACE: a row written just before a run, with an id below
/// the rows it sealed, that committed just after it, is sealed by the next run's sweep
/// (it was not late for that run), not left behind for good.
async fn a_row_behind_an_old_run_is_swept(db: DatabaseConnection) {
    let p = post_with_history(&db, "p", 2).await;
    let top = *entry_ids(&db, p.id).await.last().unwrap();
    ids_given_up_to(&db, top + 100).await;
    let entry = |id: i64, at: DateTime<Utc>| activity_log::ActiveModel {
        id: Set(id),
        ..approval(p.id, at)
    };
    activity_log::Entity::insert(entry(top + 100, Utc::now()))
        .exec(&db)
        .await
        .unwrap();
    assert_eq!(seal_all(&db).await.unwrap().rows, 7);
    // That run, the only one, took place 15 minutes ago …
    let then = Utc::now() - Duration::minutes(15);
    age_runs(&db, then).await;
    // … and a row written just before it committed just after it.
    activity_log::Entity::insert(entry(top + 50, then))
        .exec(&db)
        .await
        .unwrap();
    let next = seal(&db).await.unwrap();
    assert!(next.swept);
    assert_eq!((next.rows, next.held_back), (1, 0));
    let report = verify(&db, &VerifyScope::all()).await.unwrap();
    assert!(report.is_intact(), "{:#?}", report.breaks);
    assert_eq!((report.pending, report.links), (0, 8));
}

/// A sweep finds every row that committed behind the last run, wherever it is among
/// thousands of linked rows and however many there are (more than a step seals), and
/// seals nothing twice: a sweep of every row (`seal_all`) then finds nothing more.
async fn a_sweep_finds_every_row_behind_the_last_run(db: DatabaseConnection) {
    let now = Utc::now();
    let entry = |id: i64| activity_log::ActiveModel {
        id: Set(id),
        ..approval(i32::try_from(id % 50).unwrap(), now)
    };
    // Odd ids first, as if every even id's transaction were still open.
    let odd: Vec<i64> = (0..12_500).map(|i| 2 * i + 1).collect();
    for chunk in odd.chunks(500) {
        activity_log::Entity::insert_many(chunk.iter().map(|&id| entry(id)))
            .exec(&db)
            .await
            .unwrap();
    }
    assert_eq!(seal_all(&db).await.unwrap().rows, 12_500);
    // Then some of them commit: one near the start, 1,500 in the middle (more
    // than a step's 1,000), one near the end.
    let late: Vec<i64> = [2]
        .into_iter()
        .chain((0..1_500).map(|i| 12_000 + 2 * i))
        .chain([24_998])
        .collect();
    for chunk in late.chunks(500) {
        activity_log::Entity::insert_many(chunk.iter().map(|&id| entry(id)))
            .exec(&db)
            .await
            .unwrap();
    }
    let cheap = seal(&db).await.unwrap();
    assert_eq!((cheap.rows, cheap.swept), (0, false), "behind the last run");
    // A sweep due finds them at the ids the first run passed without a row: 12,499
    // gaps, read in pages.
    age_runs(&db, Utc::now() - Duration::minutes(2)).await;
    let sweep = seal(&db).await.unwrap();
    assert_eq!((sweep.rows, sweep.held_back), (late.len() as u64, 0));
    assert_eq!(sweep.swept_gaps, Some(12_499));
    assert!(sweep.swept && sweep.steps >= 2, "{sweep:?}");
    let report = verify(&db, &VerifyScope::all()).await.unwrap();
    assert!(report.is_intact(), "{:#?}", report.breaks);
    assert_eq!(
        (report.pending, report.links),
        (0, 12_500 + late.len() as u64)
    );
    assert_eq!(seal_all(&db).await.unwrap().rows, 0);
}

/// A sweep whose rows behind the last run fill its first step exactly (1,000 of them, the
/// last at the last gap) reads on above the last run in the same call: it is not recorded
/// as caught up with the rows written since unread, which the late line would then pass.
async fn a_sweep_that_fills_a_step_behind_reads_on(db: DatabaseConnection) {
    let now = Utc::now();
    let entry = |id: i64| activity_log::ActiveModel {
        id: Set(id),
        ..approval(i32::try_from(id % 50).unwrap(), now)
    };
    let insert = |ids: Vec<i64>| {
        let db = db.clone();
        async move {
            for chunk in ids.chunks(500) {
                activity_log::Entity::insert_many(chunk.iter().map(|&id| entry(id)))
                    .exec(&db)
                    .await
                    .unwrap();
            }
        }
    };
    // Odd ids 1..=2001 sealed: the run passed the 1,000 even ids below its top.
    insert((0..=1000).map(|i| 2 * i + 1).collect()).await;
    assert_eq!(seal_all(&db).await.unwrap().rows, 1001);
    // Those commit behind it, and ten rows after it.
    insert((1..=1000).map(|i| 2 * i).collect()).await;
    insert((2002..2012).collect()).await;
    age_runs(&db, Utc::now() - Duration::minutes(2)).await;
    let sweep = seal(&db).await.unwrap();
    assert_eq!(sweep.swept_gaps, Some(1000), "{sweep:?}");
    assert_eq!((sweep.rows, sweep.held_back), (1010, 0), "{sweep:?}");
    assert!(sweep.swept && sweep.steps >= 2, "{sweep:?}");
    let report = verify(&db, &VerifyScope::all()).await.unwrap();
    assert!(report.is_intact(), "{:#?}", report.breaks);
    assert_eq!((report.pending, report.links), (0, 2011));
}

/// A chain whose head was removed has links still: `seal` cannot start it again from its
/// first link, and says which chain, where it used to fail on a unique key it did not
/// name; `verify` reports the chain `head_changed`.
async fn a_removed_head_is_named_by_seal(db: DatabaseConnection) {
    use audit_seaorm::{NewActivity, log};
    let p = post_with_history(&db, "headless", 1).await;
    seal(&db).await.unwrap();
    chains::Entity::delete_many()
        .filter(chains::Column::Kind.eq(1i16)) // activity_log's chains
        .filter(chains::Column::SubjectId.eq(p.id.to_string()))
        .exec(&db)
        .await
        .unwrap();
    log(&db, NewActivity::new("viewed").subject("post", p.id))
        .await
        .unwrap();
    let err = seal(&db).await.unwrap_err();
    let audit_seaorm::Error::Chain(message) = &err else {
        panic!("{err:?}");
    };
    assert!(message.contains(&format!("`post` {}", p.id)), "{message}");
    assert!(message.contains("head_changed"), "{message}");
    let report = verify(&db, &VerifyScope::all()).await.unwrap();
    let found: Vec<(&str, BreakReason)> = report
        .breaks
        .iter()
        .map(|b| (b.table.as_str(), b.reason))
        .collect();
    assert_eq!(found, [("activity_log", BreakReason::HeadChanged)]);
}

/// A sweep that `seal` makes looks only at the ids the runs since the floor passed
/// without sealing (their gaps: rows not committed yet, rows held back), not at every row
/// behind the last run; where the runs' record of those has a hole, it reads every row.
async fn a_sweep_looks_where_the_runs_left_gaps(db: DatabaseConnection) {
    let p = post_with_history(&db, "p", 2).await;
    let first = seal(&db).await.unwrap();
    assert!(first.swept && first.rows == 6, "{first:?}");
    let top = *entry_ids(&db, p.id).await.last().unwrap();
    ids_given_up_to(&db, top + 1000).await;
    let entry = |id: i64, at: DateTime<Utc>| activity_log::ActiveModel {
        id: Set(id),
        ..approval(p.id, at)
    };
    // A run passes 1,000 ids and seals all but two: one not committed yet, one dated an
    // hour ahead.
    let (slow, ahead) = (top + 500, top + 600);
    let rows: Vec<i64> = (top + 1..=top + 1000).filter(|&id| id != slow).collect();
    for chunk in rows.chunks(250) {
        activity_log::Entity::insert_many(chunk.iter().map(|&id| {
            let at = if id == ahead {
                Utc::now() + Duration::hours(1)
            } else {
                Utc::now()
            };
            entry(id, at)
        }))
        .exec(&db)
        .await
        .unwrap();
    }
    let cheap = seal(&db).await.unwrap();
    assert_eq!((cheap.rows, cheap.held_back, cheap.swept), (998, 1, false));
    // The slow one commits behind it.
    activity_log::Entity::insert(entry(slow, Utc::now()))
        .exec(&db)
        .await
        .unwrap();
    assert_eq!(seal(&db).await.unwrap().rows, 0, "behind the last run");
    // A sweep falls due: it looks at those two ids, no more.
    age_runs(&db, Utc::now() - Duration::minutes(2)).await;
    let sweep = seal(&db).await.unwrap();
    assert_eq!(
        (sweep.swept, sweep.swept_gaps, sweep.rows, sweep.held_back),
        (true, Some(2), 1, 1),
        "{sweep:?}"
    );
    let report = verify(&db, &VerifyScope::all()).await.unwrap();
    assert!(report.is_intact(), "{:#?}", report.breaks);
    assert_eq!(report.links, 6 + 999);
    // Without the runs' record (here: deleted), a sweep reads every row since the floor,
    // and finds the row dated ahead that way.
    let gone = seal_gaps::Entity::delete_many().exec(&db).await.unwrap();
    assert!(gone.rows_affected >= 4, "{gone:?}");
    age_runs(&db, Utc::now() - Duration::minutes(2)).await;
    let sweep = seal(&db).await.unwrap();
    assert!(sweep.swept && sweep.swept_gaps.is_none(), "{sweep:?}");
    assert_eq!((sweep.rows, sweep.held_back), (0, 1));
    // `seal_all` reads every row whatever the record says.
    let all = seal_all(&db).await.unwrap();
    assert!(all.swept && all.swept_gaps.is_none(), "{all:?}");
    assert_eq!((all.rows, all.held_back), (0, 1));
}

/// On PostgreSQL, moves the sequence of the log's ids to `id`, as if it had given the ids
/// a test writes by hand below it (`seal` leaves a row above the last id given unsealed).
async fn ids_given_up_to(db: &DatabaseConnection, id: i64) {
    use sea_orm::{ConnectionTrait, DbBackend};
    if db.get_database_backend() == DbBackend::Postgres {
        db.execute_unprepared(&format!(
            "SELECT setval(pg_get_serial_sequence('activity_log', 'id'), {id})"
        ))
        .await
        .unwrap();
    }
}

/// PostgreSQL: a row inserted under an id of its own above the last one the sequence gave
/// (an import copying ids) is held back, never sealed: the runs' top does not jump to it,
/// so the rows the sequence gives after it are sealed as they come, and `verify` reports
/// it `inserted` once it is late.
async fn a_row_above_the_sequence_is_held_back(db: DatabaseConnection) {
    let p = post_with_history(&db, "p", 1).await;
    assert_eq!(seal(&db).await.unwrap().rows, 4);
    age_runs(&db, Utc::now() - Duration::hours(1)).await;
    let far = activity_log::ActiveModel {
        id: Set(i64::MAX / 2),
        ..approval(p.id, Utc::now() - Duration::minutes(30))
    };
    activity_log::Entity::insert(far)
        .exec_without_returning(&db)
        .await
        .unwrap();
    let update = |title: &'static str| {
        let db = db.clone();
        async move {
            let mut am: post::ActiveModel = post::reload(&db, p.id).await.into();
            am.title = Set(title.into());
            am.update(&db).await.unwrap();
        }
    };
    update("v3").await;
    let (sweep, warned) = audit_tests::warnings_of(seal(&db)).await;
    let sweep = sweep.unwrap();
    assert!(sweep.swept, "{sweep:?}");
    assert_eq!(
        (sweep.rows, sweep.held_back, sweep.above_sequence),
        (2, 1, 1),
        "{sweep:?}"
    );
    // The warning says why the row was held back, and no other reason.
    assert!(warned.contains("above the last one"), "{warned}");
    assert!(!warned.contains("SEAL_GRACE"), "{warned}");
    update("v4").await;
    let next = seal(&db).await.unwrap();
    assert_eq!((next.rows, next.held_back), (2, 1), "{next:?}");
    let report = verify(&db, &VerifyScope::all()).await.unwrap();
    let found: Vec<(&str, Option<i64>, BreakReason)> = report
        .breaks
        .iter()
        .map(|b| (b.table.as_str(), b.row_id, b.reason))
        .collect();
    assert_eq!(
        found,
        [("activity_log", Some(i64::MAX / 2), BreakReason::Inserted)]
    );
    assert_eq!((report.pending, report.links), (0, 8));
}

/// Moves every seal run to `then`, as if they had taken place then.
async fn age_runs(db: &DatabaseConnection, then: DateTime<Utc>) {
    seal_runs::Entity::update_many()
        .col_expr(seal_runs::Column::SealedAt, Expr::val(time_value(db, then)))
        .filter(seal_runs::Column::Run.gt(0))
        .exec(db)
        .await
        .unwrap();
}

async fn insert_entry(db: &DatabaseConnection, entry: activity_log::ActiveModel) -> i64 {
    activity_log::Entity::insert(entry)
        .exec(db)
        .await
        .unwrap()
        .last_insert_id
}

/// Gives entry `id` the time `at` (an unsealed row: as its writer could have stamped it).
async fn retime(db: &DatabaseConnection, id: i64, at: DateTime<Utc>) {
    activity_log::Entity::update_many()
        .col_expr(
            activity_log::Column::CreatedAt,
            Expr::val(time_value(db, at)),
        )
        .filter(activity_log::Column::Id.eq(id))
        .exec(db)
        .await
        .unwrap();
}

/// A row dated ahead of the sealing job's clock waits for its time (a clock a little fast
/// costs nothing); one the runs move past before its time comes is left behind for good
/// and reported as inserted, also once its time has come.
async fn a_row_dated_ahead_waits_for_its_time(db: DatabaseConnection) {
    let p = post_with_history(&db, "ahead", 1).await;
    assert_eq!(seal_all(&db).await.unwrap().rows, 4);
    // Half an hour ahead: pending, then sealed once its time has come.
    let soon = insert_entry(&db, approval(p.id, Utc::now() + Duration::minutes(30))).await;
    let held = seal_all(&db).await.unwrap();
    assert_eq!((held.rows, held.held_back), (0, 1));
    let report = verify(&db, &VerifyScope::all()).await.unwrap();
    assert!(report.is_intact(), "{:#?}", report.breaks);
    assert_eq!(report.pending, 1);
    retime(&db, soon, Utc::now()).await;
    assert_eq!(seal_all(&db).await.unwrap().rows, 1);

    // Two hours ahead, and the runs move past it: a later write is sealed, the runs age
    // past SEAL_GRACE and a sweep comes.
    let far = insert_entry(&db, approval(p.id, Utc::now() + Duration::hours(2))).await;
    post_with_history(&db, "later", 0).await;
    let sealed = seal_all(&db).await.unwrap();
    assert_eq!((sealed.rows, sealed.held_back), (2, 1));
    let then = Utc::now() - Duration::minutes(15);
    age_runs(&db, then).await;
    seal_all(&db).await.unwrap();
    let inserted = BTreeMap::from([(key("activity_log", p.id), (None, BreakReason::Inserted))]);
    let report = verify(&db, &VerifyScope::all()).await.unwrap();
    assert_eq!(breaks(&report), inserted);
    assert_eq!(report.breaks[0].row_id, Some(far));
    // Its time comes: it stays behind.
    retime(&db, far, Utc::now()).await;
    assert_eq!(seal_all(&db).await.unwrap().rows, 0, "runs moved past it");
    assert_eq!(
        breaks(&verify(&db, &VerifyScope::all()).await.unwrap()),
        inserted
    );
    let one = verify(&db, &VerifyScope::all().subject("post", p.id.to_string()))
        .await
        .unwrap();
    assert_eq!(breaks(&one), inserted);
}

/// Rows held back as late stay `inserted` until someone seals them with `seal_late`,
/// which chains them like any row and records who did it and why.
async fn a_late_row_is_sealed_once_checked(db: DatabaseConnection) {
    let p = post_with_history(&db, "late", 1).await;
    assert_eq!(seal_all(&db).await.unwrap().rows, 4);
    // A transaction that wrote an entry and a version a day ago and committed just now.
    let at = Utc::now() - Duration::days(1);
    let entry = activity_log::Entity::insert(approval(p.id, at))
        .exec(&db)
        .await
        .unwrap()
        .last_insert_id;
    let version = versions::Entity::insert(versions::ActiveModel {
        subject_type: Set("post".into()),
        subject_id: Set(p.id.to_string()),
        version: Set(3),
        event: Set("approved".into()),
        data: Set(json!({"title": "v2"})),
        causer_id: Set(Some("admin".into())),
        created_at: Set(at),
        ..Default::default()
    })
    .exec(&db)
    .await
    .unwrap()
    .last_insert_id;
    let held = seal_all(&db).await.unwrap();
    assert_eq!((held.rows, held.held_back), (0, 2));
    let late = BTreeMap::from([
        (key("activity_log", p.id), (None, BreakReason::Inserted)),
        (key("versions", p.id), (None, BreakReason::Inserted)),
    ]);
    assert_eq!(
        breaks(&verify(&db, &VerifyScope::all()).await.unwrap()),
        late
    );

    // A row that is not an unsealed one, or a table that is not an audit table: nothing
    // is sealed.
    let sealed_row = entry_ids(&db, p.id).await[0];
    let err = seal_late(
        &db,
        &[("activity_log", entry), ("activity_log", sealed_row)],
        "checked",
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains(&format!("row {sealed_row}")),
        "{err}"
    );
    let err = seal_late(&db, &[("posts", 1)], "checked")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("`posts`"), "{err}");
    assert_eq!(
        breaks(&verify(&db, &VerifyScope::all()).await.unwrap()),
        late
    );

    let why = "import transaction committed after 25 minutes";
    let accepted = seal_late(&db, &[("activity_log", entry), ("versions", version)], why)
        .await
        .unwrap();
    assert_eq!(accepted.rows, 2);
    let report = verify(&db, &VerifyScope::all()).await.unwrap();
    assert!(report.is_intact(), "{:#?}", report.breaks);
    assert_eq!(
        report.pending, 1,
        "the sealed_late entry, until the next seal"
    );
    let records = audit_seaorm::activity(&db, &audit_seaorm::Filter::new().action(SEALED_LATE))
        .await
        .unwrap()
        .items;
    assert_eq!(records.len(), 1);
    let properties = records[0].properties.clone().unwrap();
    assert_eq!(properties["reason"], json!(why));
    assert_eq!(
        properties["rows"],
        json!([{"table": "activity_log", "id": entry}, {"table": "versions", "id": version}])
    );
    assert_eq!(seal(&db).await.unwrap().rows, 1);

    // Chained like any row: a change to it is reported at its link.
    activity_log::Entity::update_many()
        .col_expr(activity_log::Column::CauserId, Expr::val("mallory"))
        .filter(activity_log::Column::Id.eq(entry))
        .exec(&db)
        .await
        .unwrap();
    let found = breaks(&verify(&db, &VerifyScope::all()).await.unwrap());
    assert_eq!(
        found,
        BTreeMap::from([(key("activity_log", p.id), (Some(3), BreakReason::Changed))])
    );
}

/// `verify` while writes and seals go on: a chain whose head a seal moves between the
/// walk's read of the head and of its links is no break (each walk below must be intact).
async fn verify_beside_a_sealing_job(db: DatabaseConnection) {
    let mut posts = Vec::new();
    for i in 0..40 {
        posts.push(post::new("v1", &format!("s{i}")).insert(&db).await.unwrap());
    }
    seal_all(&db).await.unwrap();
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let rounds = std::sync::Arc::new(AtomicUsize::new(0));
    let job = {
        let (db, stop, posts, rounds) = (db.clone(), stop.clone(), posts.clone(), rounds.clone());
        tokio::spawn(async move {
            let mut round = 0;
            while !stop.load(Ordering::Relaxed) {
                round += 1;
                rounds.store(round, Ordering::Relaxed);
                for p in posts.iter().step_by(3) {
                    let mut am: post::ActiveModel = p.clone().into();
                    am.title = Set(format!("round {round}"));
                    am.update(&db).await.unwrap();
                }
                seal(&db).await.unwrap();
            }
            round
        })
    };
    // Walks until the job has sealed several rounds and the walks met them (a deadline
    // only against a hang).
    let mut walks = 0;
    let started = std::time::Instant::now();
    while (walks < 10 || rounds.load(Ordering::Relaxed) < 4)
        && started.elapsed() < std::time::Duration::from_secs(120)
    {
        for scope in [VerifyScope::all().parallel(1), VerifyScope::all()] {
            let report = verify(&db, &scope).await.unwrap();
            assert!(report.is_intact(), "walk {walks}: {:#?}", report.breaks);
            walks += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let rounds = job.await.unwrap();
    assert!(rounds >= 4 && walks >= 10, "{rounds} rounds, {walks} walks");
    seal_all(&db).await.unwrap();
    let report = verify(&db, &VerifyScope::all()).await.unwrap();
    assert!(report.is_intact(), "{:#?}", report.breaks);
    assert_eq!(report.pending, 0);
}

/// Writers per backend in [`no_false_alarm_under_concurrent_writes`].
const WRITERS: usize = 8;
/// Updates per writer.
const ROUNDS: usize = 1250;

/// Concurrent audited updates, restores and a prune while seals run concurrently: the
/// final seal links every row, and verify finds nothing wrong.
async fn no_false_alarm_under_concurrent_writes(db: DatabaseConnection) {
    use audit_seaorm::AuditedEntity;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(
            post::new("t0", &format!("c{i}"))
                .insert(&db)
                .await
                .unwrap()
                .id,
        );
    }
    let done = Arc::new(AtomicBool::new(false));
    let sealer = {
        let (db, done) = (db.clone(), done.clone());
        tokio::spawn(async move {
            let (mut runs, mut swept) = (0, 0);
            while !done.load(Ordering::Relaxed) {
                swept += u32::from(seal(&db).await.unwrap().swept);
                runs += 1;
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            (runs, swept)
        })
    };
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let (db, ids) = (db.clone(), ids.clone());
        tasks.push(tokio::spawn(async move {
            for r in 0..ROUNDS {
                let id = ids[(w + r) % ids.len()];
                let txn = audit_seaorm::begin_write(&db).await.unwrap();
                post::ActiveModel {
                    id: Set(id),
                    title: Set(format!("w{w}-r{r}")),
                    ..Default::default()
                }
                .update(&txn)
                .await
                .unwrap();
                if w == 2 && r % 25 == 0 {
                    // Ids that never commit: gaps for good.
                    txn.rollback().await.unwrap();
                } else {
                    txn.commit().await.unwrap();
                }
                if w == 0 && r % 10 == 0 {
                    // A restore of the record's previous version.
                    let vs = audit_seaorm::versions(&db, "post", ids[0]).await.unwrap();
                    let target = vs[vs.len().saturating_sub(2)].id;
                    let txn = audit_seaorm::begin_write(&db).await.unwrap();
                    match post::Entity::restore(&txn, target).await {
                        Ok(_) => txn.commit().await.unwrap(),
                        // Pruned meanwhile.
                        Err(audit_seaorm::Error::VersionNotFound(_)) => {}
                        Err(e) => panic!("restore: {e}"),
                    }
                }
                if w == 1 && r == ROUNDS / 2 {
                    prune(&db, &Retention::new().keep_versions(5))
                        .await
                        .unwrap();
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    done.store(true, Ordering::Relaxed);
    let (runs, swept) = sealer.await.unwrap();
    // Most calls read only what was written since the last run.
    assert!(runs > 0 && swept < runs, "{swept} of {runs} calls swept");
    // Rows that committed behind a sealed row wait for a sweep, which finds them at the
    // ids the runs passed without sealing: a sweep of every row finds nothing more.
    age_runs(&db, chrono::Utc::now() - chrono::Duration::minutes(2)).await;
    let sweep = seal(&db).await.unwrap();
    assert!(sweep.swept && sweep.swept_gaps.is_some(), "{sweep:?}");
    let all = seal_all(&db).await.unwrap();
    assert!(all.swept && all.rows == 0 && all.held_back == 0, "{all:?}");
    let report = verify(&db, &VerifyScope::all()).await.unwrap();
    assert!(report.is_intact(), "{:#?}", report.breaks);
    assert_eq!(report.pending, 0);
    use sea_orm::PaginatorTrait;
    let rows = activity_log::Entity::find().count(&db).await.unwrap()
        + versions::Entity::find().count(&db).await.unwrap();
    assert_eq!(report.links, rows);
    assert!(rows as usize > WRITERS * ROUNDS, "{rows}");
}

/// Erasing a field's values for a data-protection request leaves the chains verifying;
/// the values are gone from every row; a change after the erasure is still caught; a row
/// that no longer matches its link is not erased.
async fn erasure_keeps_the_chains_verifiable(db: DatabaseConnection) {
    let p = post_with_history(&db, "erase-me", 2).await;
    let other = post_with_history(&db, "keep-me", 1).await;
    seal(&db).await.unwrap();
    // One more write after the seal: erased unsealed, sealed later in its erased form.
    let mut am: post::ActiveModel = p.clone().into();
    am.title = Set("v-last".into());
    am.update(&db).await.unwrap();

    let done = erase(&db, "post", p.id, &["title"]).await.unwrap();
    assert_eq!((done.versions, done.entries), (4, 4));
    let entry = activity_log::Entity::find_by_id(done.entry_id)
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.action, "erased");
    seal(&db).await.unwrap();
    let report = verify(&db, &VerifyScope::all()).await.unwrap();
    assert!(report.is_intact(), "{:#?}", report.breaks);
    assert_eq!(report.pending, 0);

    // No title value of the post is left anywhere in its trail.
    for v in audit_seaorm::versions(&db, "post", p.id).await.unwrap() {
        assert!(!v.data.contains_key("title"), "{:?}", v.data);
        assert_eq!(v.data["slug"], json!("erase-me"));
    }
    for e in audit_seaorm::history(&db, "post", p.id).await.unwrap() {
        if let Some(c) = e.changes.get("title") {
            for value in [&c.old, &c.new] {
                assert!(value.is_null() || *value == json!("[erased]"), "{value}");
            }
        }
    }
    // The other post is untouched.
    let kept = audit_seaorm::versions(&db, "post", other.id).await.unwrap();
    assert_eq!(kept[1].data["title"], json!("v2"));
    // Erasing again changes nothing (and says so) and still verifies.
    let again = erase(&db, "post", p.id, &["title"]).await.unwrap();
    assert_eq!((again.versions, again.entries), (0, 0));
    seal(&db).await.unwrap();
    assert!(verify(&db, &VerifyScope::all()).await.unwrap().is_intact());

    // After the erasure: a value put back, or another field changed, is caught.
    let v = version_ids(&db, p.id).await;
    let mut row: versions::ActiveModel = versions::Entity::find_by_id(v[0])
        .one(&db)
        .await
        .unwrap()
        .unwrap()
        .into();
    row.data = Set(json!({"id": p.id, "title": "v1", "slug": "erase-me", "published_at": null}));
    row.update(&db).await.unwrap();
    let mut row: versions::ActiveModel = versions::Entity::find_by_id(v[1])
        .one(&db)
        .await
        .unwrap()
        .unwrap()
        .into();
    row.data = Set(json!({"id": p.id, "slug": "forged", "published_at": null}));
    row.update(&db).await.unwrap();
    let found = breaks(&verify(&db, &VerifyScope::all()).await.unwrap());
    assert_eq!(
        found,
        BTreeMap::from([(key("versions", p.id), (Some(1), BreakReason::Changed))])
    );
    // A tampered row is refused, not laundered by an erasure.
    let e = entry_ids(&db, other.id).await;
    activity_log::Entity::update_many()
        .col_expr(activity_log::Column::CauserId, Expr::val("mallory"))
        .filter(activity_log::Column::Id.eq(e[1]))
        .exec(&db)
        .await
        .unwrap();
    let err = erase(&db, "post", other.id, &["title"]).await.unwrap_err();
    assert!(
        matches!(
            err,
            audit_seaorm::Error::Tampered {
                table: "activity_log",
                ..
            }
        ),
        "{err}"
    );
    let kept = audit_seaorm::versions(&db, "post", other.id).await.unwrap();
    assert_eq!(kept[1].data["title"], json!("v2"), "nothing erased");
}

/// Every stored column of both tables is part of its link: rows with every column
/// filled verify, and a change to any one column is reported at its link.
async fn every_column_is_sealed(db: DatabaseConnection) {
    use activity_log::Column as A;
    use versions::Column as V;
    let mut posts = Vec::new();
    for i in 0..9 {
        posts.push(post_with_history(&db, &format!("c{i}"), 1).await);
    }
    // Each post's second entry and version get a value in every column before sealing.
    let mut entries = Vec::new();
    let mut versions = Vec::new();
    for p in &posts {
        let (e, v) = (entry_ids(&db, p.id).await, version_ids(&db, p.id).await);
        activity_log::Entity::update_many()
            .col_expr(A::CauserId, Expr::val("admin"))
            .col_expr(A::Properties, Expr::val(json!({"note": "every column"})))
            .col_expr(A::Ip, Expr::val("192.0.2.7"))
            .col_expr(A::UserAgent, Expr::val("agent/1.0"))
            .col_expr(A::RequestId, Expr::val("req-42"))
            .col_expr(A::VersionId, Expr::val(v[1]))
            .filter(A::Id.eq(e[1]))
            .exec(&db)
            .await
            .unwrap();
        versions::Entity::update_many()
            .col_expr(V::CauserId, Expr::val("admin"))
            .filter(V::Id.eq(v[1]))
            .exec(&db)
            .await
            .unwrap();
        entries.push(e[1]);
        versions.push((v[0], v[1]));
    }
    seal(&db).await.unwrap();
    let clean = verify(&db, &VerifyScope::all()).await.unwrap();
    assert!(clean.is_intact(), "{:?}", clean.breaks);
    assert_eq!(clean.links, 9 * 4);

    let entry_changes: [(A, Expr); 9] = [
        (A::Action, Expr::val("forged")),
        (A::SubjectType, Expr::val("forged")),
        (A::SubjectId, Expr::val("forged")),
        (A::CauserId, Expr::val("someone-else")),
        (A::Properties, Expr::val(json!({"note": "forged"}))),
        (A::Ip, Expr::val("192.0.2.8")),
        (A::UserAgent, Expr::val("agent/2.0")),
        (A::RequestId, Expr::val("req-43")),
        (A::VersionId, Expr::val(versions[0].0)),
    ];
    let mut expected = BTreeMap::new();
    for (i, (column, value)) in entry_changes.into_iter().enumerate() {
        activity_log::Entity::update_many()
            .col_expr(column, value)
            .filter(A::Id.eq(entries[i]))
            .exec(&db)
            .await
            .unwrap();
        expected.insert(
            key("activity_log", posts[i].id),
            (Some(2), BreakReason::Changed),
        );
    }
    let version_changes: [(V, Expr); 5] = [
        (V::SubjectType, Expr::val("forged")),
        (V::SubjectId, Expr::val("forged")),
        (V::Version, Expr::val(7)),
        (V::Event, Expr::val("forged")),
        (V::CauserId, Expr::val("someone-else")),
    ];
    for (i, (column, value)) in version_changes.into_iter().enumerate() {
        versions::Entity::update_many()
            .col_expr(column, value)
            .filter(V::Id.eq(versions[i].1))
            .exec(&db)
            .await
            .unwrap();
        expected.insert(
            key("versions", posts[i].id),
            (Some(2), BreakReason::Changed),
        );
    }
    let report = verify(&db, &VerifyScope::all()).await.unwrap();
    assert_eq!(breaks(&report), expected, "{:#?}", report.breaks);
}

/// A stepped walk stops after about `max_links` links even in broken chains: the links
/// read past a break count as the links of an intact chain do, so that a trail with many
/// broken chains cannot make one call read them all.
async fn a_stepped_walk_stops_in_broken_chains(db: DatabaseConnection) {
    async fn stepped(
        db: &DatabaseConnection,
    ) -> (
        usize,
        BTreeMap<(String, String), (Option<i64>, BreakReason)>,
    ) {
        let mut found = BTreeMap::new();
        let mut scope = VerifyScope::all().max_links(10);
        let mut calls = 0;
        loop {
            let report = verify(db, &scope).await.unwrap();
            calls += 1;
            for (k, v) in breaks(&report) {
                found.entry(k).or_insert(v);
            }
            let Some(next) = report.next else {
                return (calls, found);
            };
            scope = VerifyScope::all()
                .max_links(10)
                .after(next.parse::<Cursor>().unwrap());
        }
    }
    let mut posts = Vec::new();
    for i in 0..3 {
        posts.push(post_with_history(&db, &format!("broken-{i}"), 30).await);
    }
    seal(&db).await.unwrap();
    let (intact, found) = stepped(&db).await;
    assert!(found.is_empty());
    for p in &posts {
        set_causer(&db, entry_ids(&db, p.id).await[0], "mallory").await;
    }
    let (broken, found) = stepped(&db).await;
    // Each chain is broken at its first link, the 30 links after it read all the same.
    assert!(broken + 1 >= intact, "{broken} calls, {intact} when intact");
    let expected: BTreeMap<_, _> = posts
        .iter()
        .map(|p| (key("activity_log", p.id), (Some(1), BreakReason::Changed)))
        .collect();
    assert_eq!(found, expected);
}

/// A walk limited in time still checks every row it walks: a row changed and moved out
/// of the window by its `created_at` is caught.
async fn a_row_moved_out_of_the_window_is_checked(db: DatabaseConnection) {
    let since = Utc::now() - Duration::seconds(5);
    let p = post_with_history(&db, "moved-out", 1).await;
    seal(&db).await.unwrap();
    let e = entry_ids(&db, p.id).await;
    let long_ago = DateTime::parse_from_rfc3339("2000-01-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    activity_log::Entity::update_many()
        .col_expr(
            activity_log::Column::Changes,
            Expr::val(json!({"title": {"old": "v1", "new": "forged"}})),
        )
        .col_expr(activity_log::Column::CreatedAt, Expr::val(long_ago))
        .filter(activity_log::Column::Id.eq(e[1]))
        .exec(&db)
        .await
        .unwrap();
    let found = breaks(&verify(&db, &VerifyScope::all().since(since)).await.unwrap());
    assert_eq!(
        found,
        BTreeMap::from([(key("activity_log", p.id), (Some(2), BreakReason::Changed))])
    );
}

/// An erased field's change in an entry holds nothing but `old` and `new`, each null or
/// the marker: a key added beside them, or the change removed, is caught.
async fn an_erased_change_holds_nothing_else(db: DatabaseConnection) {
    let p = post_with_history(&db, "erase-entries", 1).await;
    seal(&db).await.unwrap();
    erase(&db, "post", p.id, &["title"]).await.unwrap();
    seal(&db).await.unwrap();
    assert!(verify(&db, &VerifyScope::all()).await.unwrap().is_intact());
    let e = entry_ids(&db, p.id).await;
    let renamed = activity_log::Entity::find_by_id(e[1])
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        renamed.changes["title"],
        json!({"old": "[erased]", "new": "[erased]"})
    );
    let id = e[1];
    let set_changes = |changes: serde_json::Value| {
        let db = db.clone();
        async move {
            activity_log::Entity::update_many()
                .col_expr(activity_log::Column::Changes, Expr::val(changes))
                .filter(activity_log::Column::Id.eq(id))
                .exec(&db)
                .await
                .unwrap();
        }
    };
    let mut forged = renamed.changes.clone();
    forged["title"]["note"] = json!("anything at all");
    let mut removed = renamed.changes.clone();
    removed.as_object_mut().unwrap().remove("title");
    for tampered in [forged, removed] {
        set_changes(tampered.clone()).await;
        let found = breaks(&verify(&db, &VerifyScope::all()).await.unwrap());
        assert_eq!(
            found,
            BTreeMap::from([(key("activity_log", p.id), (Some(2), BreakReason::Changed))]),
            "{tampered}"
        );
        set_changes(renamed.changes.clone()).await;
        assert!(verify(&db, &VerifyScope::all()).await.unwrap().is_intact());
    }
}

/// `erase` reaches rows whose ids no database gives (0 and below: written by hand), which
/// the trail's listings show like any other.
async fn an_erasure_reaches_forged_ids(db: DatabaseConnection) {
    let p = post_with_history(&db, "erase-forged", 1).await;
    let first = versions::Entity::find()
        .filter(versions::Column::SubjectId.eq(p.id.to_string()))
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    let mut copy: versions::ActiveModel = first.into();
    copy.id = Set(-1);
    copy.version = Set(99);
    versions::Entity::insert(copy)
        .exec_without_returning(&db)
        .await
        .unwrap();
    let done = erase(&db, "post", p.id, &["title"]).await.unwrap();
    assert_eq!(done.versions, 3);
    let forged = versions::Entity::find_by_id(-1)
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    // (a JSON column some drivers hand back as its text)
    let data = match forged.data {
        serde_json::Value::String(text) => serde_json::from_str(&text).unwrap(),
        data => data,
    };
    assert!(data.get("title").is_none(), "{data}");
}

/// A row whose id another record's link names (here a link marked for a pruned row, its
/// `row_id` negated, and a version of another post stored under that negative id): the
/// erasure of that other post checks its row against its own record's links only, and
/// scrubs only its own row.
async fn an_erasure_checks_its_own_records_links(db: DatabaseConnection) {
    use audit_seaorm::entity::seals;
    let a = post_with_history(&db, "erase-a", 1).await;
    let b = post_with_history(&db, "erase-b", 0).await;
    seal(&db).await.unwrap();
    let a_first = versions::Entity::find()
        .filter(versions::Column::SubjectId.eq(a.id.to_string()))
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    // A's first version's link, marked as prune marks it (its row gone).
    seals::Entity::update_many()
        .col_expr(seals::Column::RowId, Expr::value(-a_first.id))
        .filter(seals::Column::RowId.eq(a_first.id))
        .filter(seals::Column::SubjectId.eq(a.id.to_string()))
        .filter(seals::Column::Kind.eq(2))
        .exec(&db)
        .await
        .unwrap();
    let b_first = versions::Entity::find()
        .filter(versions::Column::SubjectId.eq(b.id.to_string()))
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    let mut copy: versions::ActiveModel = b_first.into();
    copy.id = Set(-a_first.id);
    copy.version = Set(99);
    versions::Entity::insert(copy)
        .exec_without_returning(&db)
        .await
        .unwrap();
    let done = erase(&db, "post", b.id, &["title"]).await.unwrap();
    assert_eq!(done.versions, 2);
}

/// The README's erasure (the record anonymized and the trail erased in one transaction),
/// then an ordinary write of another field: the erased field, gone from the latest
/// version, has no known old value, so nothing is logged as changed outside the trail;
/// its value joins the trail with the new version. The same for a field the write sets.
async fn an_erasure_is_not_drift(db: DatabaseConnection) {
    let p = post_with_history(&db, "erase-then-write", 1).await;
    let txn = sea_orm::TransactionTrait::begin(&db).await.unwrap();
    let mut am: post::ActiveModel = p.into();
    am.title = Set("anon".into());
    let p = am.update(&txn).await.unwrap();
    erase(&txn, "post", p.id, &["title"]).await.unwrap();
    txn.commit().await.unwrap();

    let mut am: post::ActiveModel = p.into();
    am.slug = Set("erase-then-write-2".into());
    let p = am.update(&db).await.unwrap();
    let trail = audit_seaorm::history(&db, "post", p.id).await.unwrap();
    let actions: Vec<&str> = trail.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["created", "updated", "updated", "erased", "updated"],
        "{trail:#?}"
    );
    let last = trail.last().unwrap();
    assert_eq!(
        serde_json::to_value(&last.changes).unwrap(),
        json!({"slug": {"old": "erase-then-write", "new": "erase-then-write-2"}})
    );
    assert_eq!(last.causer_id, None);
    let vs = audit_seaorm::versions(&db, "post", p.id).await.unwrap();
    assert_eq!(vs.last().unwrap().data["title"], json!("anon"));

    // A write that sets the erased field: its change, from an unknown (null) old value.
    let mut am: post::ActiveModel = p.into();
    am.title = Set("anon-2".into());
    let p = am.update(&db).await.unwrap();
    let trail = audit_seaorm::history(&db, "post", p.id).await.unwrap();
    assert_eq!(
        serde_json::to_value(&trail.last().unwrap().changes).unwrap(),
        json!({"title": {"old": "anon", "new": "anon-2"}})
    );
    assert!(trail.iter().all(|e| e.action.as_str() != "drift"));
    seal(&db).await.unwrap();
    assert!(verify(&db, &VerifyScope::all()).await.unwrap().is_intact());
}

/// An erasure that cannot be what was meant is refused and writes nothing: a field the
/// model does not have and no row holds (a misspelling erased nothing and still recorded
/// the erasure), or a composite key's subject id in another form than the trail's.
async fn an_erasure_of_nothing_is_refused(db: DatabaseConnection) {
    let p = post_with_history(&db, "erase-typo", 1).await;
    let before = audit_seaorm::history(&db, "post", p.id)
        .await
        .unwrap()
        .len();
    let err = erase(&db, "post", p.id, &["titel"]).await.unwrap_err();
    assert!(err.to_string().contains("no field `titel`"), "{err}");
    let t = audit_tests::translation::ActiveModel {
        post_id: Set(p.id),
        locale: Set("en".into()),
        body: Set("hello".into()),
    }
    .insert(&db)
    .await
    .unwrap();
    for id in [
        format!("{},en", t.post_id),
        format!("[{}, \"en\"]", t.post_id),
    ] {
        let err = erase(&db, "translations", &id, &["body"])
            .await
            .unwrap_err();
        assert!(err.to_string().contains("JSON array"), "{err}");
    }
    assert_eq!(
        audit_seaorm::history(&db, "post", p.id)
            .await
            .unwrap()
            .len(),
        before
    );
    // A subject with no row in the trail (a misspelt type, an id that never was): no
    // erasure is recorded under it.
    for (t, id) in [("posts", p.id.to_string()), ("post", "999999".to_owned())] {
        let err = erase(&db, t, &id, &["title"]).await.unwrap_err();
        assert!(
            matches!(err, audit_seaorm::Error::NoTrail { .. }),
            "{t} {id}: {err}"
        );
        assert!(
            audit_seaorm::history(&db, t, &id).await.unwrap().is_empty(),
            "{t} {id}"
        );
    }
    // The key names the subject in every row: it is not erased.
    let err = erase(&db, "post", p.id, &["title", "id"])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("primary key"), "{err}");
    let id = audit_seaorm::SubjectId::from_key(&(t.post_id, "en")).unwrap();
    let done = erase(&db, "translations", id.as_str(), &["body"])
        .await
        .unwrap();
    assert_eq!((done.versions, done.entries), (1, 1));
    // A field the model no longer has, but the trail still holds, is erased.
    audit_seaorm::snapshot(&db, "post", p.id, &json!({"id": p.id, "phone": "555-0100"}))
        .await
        .unwrap();
    let done = erase(&db, "post", p.id, &["phone"]).await.unwrap();
    assert_eq!((done.versions, done.entries), (1, 0));
}

/// The README's order for an erasure beside writes in flight: the record's own write
/// first, in the erasing transaction, waits for a write that has not committed yet, so
/// that `erase` sees that write's rows too and no value is left behind.
async fn erasure_waits_for_writes_in_flight(db: DatabaseConnection) {
    let p = post_with_history(&db, "erase-in-flight", 0).await;
    let mut am: post::ActiveModel = p.clone().into();
    am.title = Set("alice@example.com".into());
    let p = am.update(&db).await.unwrap();
    // A delete in flight: its version copies the title from the latest version.
    let in_flight = db.begin().await.unwrap();
    p.clone().delete(&in_flight).await.unwrap();
    let erasing = {
        let (db, p) = (db.clone(), p.clone());
        tokio::spawn(async move {
            let txn = db.begin().await.unwrap();
            // Waits on the row lock of the delete in flight, then finds the row gone.
            p.clone().delete(&txn).await.unwrap();
            let done = erase(&txn, "post", p.id, &["title"]).await.unwrap();
            txn.commit().await.unwrap();
            done
        })
    };
    until_a_lock_wait(&db).await;
    assert!(
        !erasing.is_finished(),
        "the erasure waits for the write in flight"
    );
    in_flight.commit().await.unwrap();
    let done = erasing.await.unwrap();
    // Created, renamed, deleted: three versions and three entries held the title.
    assert_eq!((done.versions, done.entries), (3, 3));
    for v in audit_seaorm::versions(&db, "post", p.id).await.unwrap() {
        assert!(!v.data.contains_key("title"), "{:?}", v.data);
    }
    for e in audit_seaorm::history(&db, "post", p.id).await.unwrap() {
        let text = serde_json::to_string(&e.changes).unwrap();
        assert!(!text.contains("alice@"), "{} {text}", e.action);
    }
}

/// `erase` in a transaction whose snapshot predates a seal (MySQL's REPEATABLE READ: the
/// snapshot is taken at the transaction's first read): it scrubs with the links as
/// committed, so the erased values' commitments go into them and the chains verify.
async fn erasure_in_an_older_snapshot_sees_the_links(db: DatabaseConnection) {
    let p = post_with_history(&db, "snapshot", 2).await;
    let txn = db.begin().await.unwrap();
    versions::Entity::find().all(&txn).await.unwrap();
    assert_eq!(seal_all(&db).await.unwrap().rows, 6);
    let done = erase(&txn, "post", p.id, &["title"]).await.unwrap();
    assert_eq!((done.versions, done.entries), (3, 3));
    txn.commit().await.unwrap();
    let report = verify(&db, &VerifyScope::all()).await.unwrap();
    assert!(report.is_intact(), "{:#?}", report.breaks);
}

/// `erase` in a transaction whose snapshot predates an erasure committed since (MySQL's
/// REPEATABLE READ): each row is scrubbed from the row as committed, so the erasure
/// committed meanwhile is not undone by writing back the snapshot's copy of a row.
async fn erasure_in_an_older_snapshot_sees_the_rows(db: DatabaseConnection) {
    // An erasure committed after the snapshot of another one's transaction.
    let q = post_with_history(&db, "older-2", 1).await;
    let txn = db.begin().await.unwrap();
    versions::Entity::find().all(&txn).await.unwrap();
    erase(&db, "post", q.id, &["title"]).await.unwrap();
    erase(&txn, "post", q.id, &["slug"]).await.unwrap();
    txn.commit().await.unwrap();
    let vs = audit_seaorm::versions(&db, "post", q.id).await.unwrap();
    assert_eq!(vs.len(), 2);
    for v in vs {
        assert!(
            !v.data.contains_key("title") && !v.data.contains_key("slug"),
            "{:?}",
            v.data
        );
    }
}

server_backend_tests!(
    erasure_waits_for_writes_in_flight,
    erasure_in_an_older_snapshot_sees_the_links,
    erasure_in_an_older_snapshot_sees_the_rows
);

/// More late rows than one statement's parameters could link at once (8 per link: about
/// 4,000 on SQLite, 8,000 elsewhere): `seal_late` links them a page at a time.
async fn many_late_rows_are_sealed(db: DatabaseConnection) {
    const LATE: i32 = 9_000;
    let p = post_with_history(&db, "late", 1).await;
    seal_all(&db).await.unwrap();
    let at = Utc::now() - Duration::days(1);
    // Over many chains and one: every other row to post `p`, the rest one chain each.
    let rows: Vec<_> = (0..LATE)
        .map(|i| approval(if i % 2 == 0 { p.id } else { 1_000 + i }, at))
        .collect();
    for chunk in rows.chunks(1_000) {
        activity_log::Entity::insert_many(chunk.to_vec())
            .exec(&db)
            .await
            .unwrap();
    }
    let late: Vec<i64> = activity_log::Entity::find()
        .filter(activity_log::Column::Action.eq("approved"))
        .all(&db)
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(late.len(), LATE as usize);
    assert_eq!(seal_all(&db).await.unwrap().held_back, LATE as u64);
    let named: Vec<(&str, i64)> = late.iter().map(|id| ("activity_log", *id)).collect();
    let sealed = seal_late(&db, &named, "a bulk import that committed late")
        .await
        .unwrap();
    assert_eq!(sealed.rows, LATE as u64);
    let report = verify(&db, &VerifyScope::all()).await.unwrap();
    assert!(report.is_intact(), "{:#?}", report.breaks);
}

/// A row with an id no database gives (below 1), forged with raw SQL: `seal` never links
/// it, and `verify` reports it inserted in every scope that holds it, the split walk's
/// included.
async fn a_row_with_a_forged_id_is_inserted(db: DatabaseConnection) {
    let p = post_with_history(&db, "forged", 1).await;
    assert_eq!(seal_all(&db).await.unwrap().rows, 4);
    let mut forged = approval(p.id, Utc::now() - Duration::days(400));
    forged.id = Set(-1);
    activity_log::Entity::insert(forged)
        .exec_without_returning(&db)
        .await
        .unwrap();
    assert_eq!(seal_all(&db).await.unwrap().rows, 0);
    // More forged rows than a page, in another chain, with ids below the first's.
    let other = post_with_history(&db, "forged-too", 0).await;
    let many = (0..1_200).map(|i| {
        let mut row = approval(other.id, Utc::now() - Duration::days(400));
        row.id = Set(-10_000 - i);
        row
    });
    activity_log::Entity::insert_many(many)
        .exec_without_returning(&db)
        .await
        .unwrap();
    let all = verify(&db, &VerifyScope::all()).await.unwrap();
    assert_eq!(
        breaks(&all).get(&key("activity_log", other.id)),
        Some(&(None, BreakReason::Inserted))
    );
    let scopes = [
        VerifyScope::all(),
        VerifyScope::all().parallel(2),
        VerifyScope::all().subject_type("post"),
        VerifyScope::all().subject("post", p.id.to_string()),
    ];
    for scope in scopes {
        let report = verify(&db, &scope).await.unwrap();
        assert_eq!(
            breaks(&report).get(&key("activity_log", p.id)),
            Some(&(None, BreakReason::Inserted)),
            "{scope:?}: {:#?}",
            report.breaks
        );
    }
}

/// Sets a row's `created_at` to a value no time decodes from: text that is no time
/// (SQLite), `infinity` (PostgreSQL), the zero date (MariaDB, whose default `sql_mode`
/// allows it).
async fn poison_time(db: &DatabaseConnection, entry: i64) {
    use sea_orm::{ConnectionTrait, DbBackend};
    let sql = match db.get_database_backend() {
        DbBackend::Postgres => {
            format!(r#"UPDATE "activity_log" SET "created_at" = 'infinity' WHERE "id" = {entry}"#)
        }
        // (in a session that lets it: MySQL 8's default `sql_mode` refuses it)
        DbBackend::MySql => format!(
            "SET SESSION sql_mode = ''; \
             UPDATE `activity_log` SET `created_at` = '0000-00-00 00:00:00' WHERE `id` = {entry}"
        ),
        _ => {
            format!(r#"UPDATE "activity_log" SET "created_at" = 'yesterday' WHERE "id" = {entry}"#)
        }
    };
    db.execute_unprepared(&sql).await.unwrap();
}

/// A sealed row changed into one that cannot be read back (a time no type holds) is a
/// `changed` link in the report, the other chains walked as usual (it does not stop
/// `verify`, nor make it panic); an unsealed one makes `seal` fail naming the row.
async fn an_unreadable_row_is_reported(db: DatabaseConnection) {
    let a = post_with_history(&db, "a", 2).await;
    let b = post_with_history(&db, "b", 2).await;
    seal(&db).await.unwrap();
    let entry = entry_ids(&db, a.id).await[1];
    poison_time(&db, entry).await;
    let report = verify(&db, &VerifyScope::all()).await.unwrap();
    assert_eq!(
        breaks(&report),
        BTreeMap::from([(key("activity_log", a.id), (Some(2), BreakReason::Changed))]),
        "{report:?}"
    );
    assert_eq!(report.breaks[0].row_id, Some(entry));
    let scoped = verify(&db, &VerifyScope::all().subject("post", b.id.to_string()))
        .await
        .unwrap();
    assert!(scoped.is_intact(), "{scoped:?}");

    let c = post_with_history(&db, "c", 0).await;
    let unsealed = entry_ids(&db, c.id).await[0];
    poison_time(&db, unsealed).await;
    let failed = seal(&db).await;
    let message = failed.unwrap_err().to_string();
    assert!(
        message.contains(&format!("activity_log row {unsealed}")),
        "{message}"
    );
}

/// Puts the key `title` in twice into the JSON `column` of row `id` of `table`, the forged
/// value first (PostgreSQL's `jsonb` keeps the last).
async fn forge_a_key_twice(db: &DatabaseConnection, table: &str, column: &str, id: i64) {
    use sea_orm::{ConnectionTrait, DbBackend};
    let sql = match db.get_database_backend() {
        DbBackend::Postgres => format!(
            r#"UPDATE "{table}" SET "{column}" = ('{{"title":"forged",' || substr("{column}"::text, 2))::jsonb WHERE "id" = {id}"#
        ),
        DbBackend::MySql => format!(
            r#"UPDATE `{table}` SET `{column}` = CONCAT('{{"title":"forged",', SUBSTRING(`{column}`, 2)) WHERE `id` = {id}"#
        ),
        _ => format!(
            r#"UPDATE "{table}" SET "{column}" = '{{"title":"forged",' || substr("{column}", 2) WHERE "id" = {id}"#
        ),
    };
    db.execute_unprepared(&sql).await.unwrap();
}

/// A key put in twice, the forged value first: serde_json would keep the last (the sealed
/// one) and hash the row as sealed, while SQLite's and MariaDB's JSON functions read the
/// first. On those backends, which store JSON as text, the row is `changed`; PostgreSQL's
/// `jsonb` keeps one of the two (the last) when it stores the text, so the value is as
/// sealed and nothing is reported.
async fn a_key_twice_is_a_change(db: DatabaseConnection) {
    use sea_orm::DbBackend;
    let p = post_with_history(&db, "twice", 1).await;
    let q = post_with_history(&db, "once", 1).await;
    seal(&db).await.unwrap();
    let version = version_ids(&db, p.id).await[1];
    let backend = db.get_database_backend();
    forge_a_key_twice(&db, "versions", "data", version).await;
    let report = verify(&db, &VerifyScope::all()).await.unwrap();
    if backend == DbBackend::Postgres {
        assert!(report.is_intact(), "{:#?}", report.breaks);
        return;
    }
    assert_eq!(
        breaks(&report),
        BTreeMap::from([(key("versions", p.id), (Some(2), BreakReason::Changed))]),
        "{:#?}",
        report.breaks
    );
    let scoped = verify(&db, &VerifyScope::all().subject("post", q.id.to_string()))
        .await
        .unwrap();
    assert!(scoped.is_intact(), "{scoped:?}");
}

/// An old entry that cannot be read back (a key put in twice, on the backends that store
/// JSON as text) is kept by `prune`, which goes on with the others: its chain reports it,
/// the others fold and verify clean.
async fn prune_keeps_an_unreadable_row(db: DatabaseConnection) {
    use sea_orm::DbBackend;
    let p = post_with_history(&db, "twice", 1).await;
    let q = post_with_history(&db, "other", 1).await;
    let forged = entry_ids(&db, p.id).await[0];
    let old = vec![forged, entry_ids(&db, q.id).await[0]];
    move_entries(&db, old, Utc::now() - Duration::days(2)).await;
    seal(&db).await.unwrap();
    let backend = db.get_database_backend();
    forge_a_key_twice(&db, "activity_log", "changes", forged).await;
    let pruned = prune(&db, &Retention::new().entries_older_than(Duration::days(1)))
        .await
        .unwrap();
    seal(&db).await.unwrap();
    let report = verify(&db, &VerifyScope::all()).await.unwrap();
    if backend == DbBackend::Postgres {
        // (`jsonb` kept the last of the two: the entry is as sealed, and goes)
        assert_eq!((pruned.entries, pruned.kept_changed), (2, 0));
        assert!(report.is_intact(), "{:#?}", report.breaks);
        return;
    }
    assert_eq!((pruned.entries, pruned.kept_changed), (1, 1));
    assert_eq!(
        breaks(&report),
        BTreeMap::from([(key("activity_log", p.id), (Some(1), BreakReason::Changed))]),
        "{:#?}",
        report.breaks
    );
}

/// A sweep of more rows than one step seals is recorded, once it has caught up, at the
/// time it began: a row it passed over before that row committed must not fall behind
/// the late line that the sweep's end would draw.
async fn a_long_sweep_is_recorded_when_it_began(db: DatabaseConnection) {
    use audit_seaorm::AuditedBulk;
    post::Entity::insert_many_audited((0..1100).map(|i| post::new("t", &format!("s{i}"))))
        .exec(&db)
        .await
        .unwrap();
    let sealed = seal_all(&db).await.unwrap();
    assert!(sealed.steps >= 2, "{sealed:?}");
    let runs = seal_runs::Entity::find()
        .filter(seal_runs::Column::Run.gt(0))
        .order_by_asc(seal_runs::Column::Run)
        .all(&db)
        .await
        .unwrap();
    let (first, last) = (runs.first().unwrap(), runs.last().unwrap());
    assert!(!first.complete && last.complete, "{runs:?}");
    assert_eq!(last.sealed_at, first.sealed_at, "{runs:?}");
    let report = verify(&db, &VerifyScope::all()).await.unwrap();
    assert!(report.is_intact(), "{:#?}", report.breaks);
    assert_eq!(report.pending, 0);
}

/// SQLite holds times as text: a sealed entry's time rewritten as the same instant with
/// another offset (so the same hash) sorts before prune's bound while the entry is
/// younger. Prune goes by the time itself, and keeps it.
async fn an_offset_does_not_age_an_entry(db: DatabaseConnection) {
    use sea_orm::ConnectionTrait;
    let p = post_with_history(&db, "young", 0).await;
    let entry = entry_ids(&db, p.id).await[0];
    let t = Utc::now() - Duration::hours(12);
    move_entries(&db, vec![entry], t).await;
    seal(&db).await.unwrap();
    let west = chrono::FixedOffset::west_opt(23 * 3600 + 59 * 60).unwrap();
    let shifted = t
        .with_timezone(&west)
        .format("%Y-%m-%d %H:%M:%S%.6f%:z")
        .to_string();
    db.execute_unprepared(&format!(
        r#"UPDATE "activity_log" SET "created_at" = '{shifted}' WHERE "id" = {entry}"#
    ))
    .await
    .unwrap();
    let report = verify(&db, &VerifyScope::all()).await.unwrap();
    assert!(report.is_intact(), "the same instant: {:#?}", report.breaks);
    let pruned = prune(&db, &Retention::new().entries_older_than(Duration::days(1)))
        .await
        .unwrap();
    assert_eq!(pruned.entries, 0);
    assert_eq!(entry_ids(&db, p.id).await, [entry]);
}

/// An entry whose time was changed into one no time type reads (PostgreSQL's
/// `-infinity`) is not read by prune, which goes on and keeps it; `verify` reports it.
async fn an_unreadable_time_is_kept(db: DatabaseConnection) {
    use sea_orm::ConnectionTrait;
    let p = post_with_history(&db, "forever", 0).await;
    let entry = entry_ids(&db, p.id).await[0];
    seal(&db).await.unwrap();
    db.execute_unprepared(&format!(
        r#"UPDATE "activity_log" SET "created_at" = '-infinity' WHERE "id" = {entry}"#
    ))
    .await
    .unwrap();
    let pruned = prune(&db, &Retention::new().entries_older_than(Duration::days(1)))
        .await
        .unwrap();
    assert_eq!(pruned.entries, 0);
    // (its id only: the row cannot be read whole)
    use sea_orm::QuerySelect;
    let left: Vec<i64> = activity_log::Entity::find()
        .select_only()
        .column(activity_log::Column::Id)
        .filter(activity_log::Column::Id.eq(entry))
        .into_tuple()
        .all(&db)
        .await
        .unwrap();
    assert_eq!(left, [entry]);
    let report = verify(&db, &VerifyScope::all()).await.unwrap();
    assert_eq!(
        breaks(&report),
        BTreeMap::from([(key("activity_log", p.id), (Some(1), BreakReason::Changed))]),
        "{:#?}",
        report.breaks
    );
}

mod an_offset_does_not_age_an_entry {
    audit_tests::__backend_test!(an_offset_does_not_age_an_entry, sqlite, Sqlite, "_s");
}

/// Swaps the values of `column` between the rows of `table` (those matching `rows`)
/// where it is `a` and `b` (through a value no row holds, each step a plain `UPDATE`).
async fn swap(db: &DatabaseConnection, table: &str, rows: &str, column: &str, a: i64, b: i64) {
    use sea_orm::ConnectionTrait;
    for (from, to) in [(a, i64::MIN), (b, a), (i64::MIN, b)] {
        db.execute_unprepared(&format!(
            "UPDATE {table} SET {column} = {to} WHERE {rows} AND {column} = {from}"
        ))
        .await
        .unwrap();
    }
}

/// Two versions' ids swapped together with their links' `row_id`s: each link still finds
/// the content it sealed, while the entries' `version_id`s (and a revert by them) now
/// name the other version. A link's hash covers its row's id, so the chain is `changed`.
async fn swapped_row_ids_are_changed(db: DatabaseConnection) {
    let p = post_with_history(&db, "p", 1).await;
    assert_eq!(seal(&db).await.unwrap().rows, 4);
    let ids: Vec<i64> = versions::Entity::find()
        .filter(versions::Column::SubjectId.eq(p.id.to_string()))
        .order_by_asc(versions::Column::Version)
        .all(&db)
        .await
        .unwrap()
        .iter()
        .map(|v| v.id)
        .collect();
    let [a, b] = ids[..] else { panic!("{ids:?}") };
    swap(&db, "versions", "1 = 1", "id", a, b).await;
    swap(&db, "activity_log_seals", "kind = 2", "row_id", a, b).await;
    let report = verify(&db, &VerifyScope::all()).await.unwrap();
    let found: Vec<(&str, Option<i64>, BreakReason)> = report
        .breaks
        .iter()
        .map(|b| (b.table.as_str(), b.row_id, b.reason))
        .collect();
    // (the chain's first break: its first link, which now names `b`)
    assert_eq!(found, [("versions", Some(b), BreakReason::Changed)]);
}

/// A link's stored format is covered by its hash: a format-2 link set back to format 1
/// (whose hash leaves the id out, to make the swap above pass) no longer fits.
async fn a_link_set_to_an_older_format_is_changed(db: DatabaseConnection) {
    let p = post_with_history(&db, "p", 0).await;
    assert_eq!(seal(&db).await.unwrap().rows, 2);
    assert_eq!(audit_tests::link_formats(&db).await, [2, 2]);
    seals::Entity::update_many()
        .col_expr(seals::Column::Format, Expr::value(1i16))
        .filter(seals::Column::Kind.eq(2i16))
        .exec(&db)
        .await
        .unwrap();
    let report = verify(&db, &VerifyScope::all()).await.unwrap();
    let id = p.id.to_string();
    assert_eq!(
        audit_tests::breaks_found(&report),
        [("versions", id.as_str(), BreakReason::Changed)]
    );
}

backend_tests!(
    many_late_rows_are_sealed,
    swapped_row_ids_are_changed,
    a_link_set_to_an_older_format_is_changed,
    a_long_sweep_is_recorded_when_it_began,
    a_sweep_that_fills_a_step_behind_reads_on,
    a_removed_head_is_named_by_seal,
    prune_keeps_an_unreadable_row,
    a_key_twice_is_a_change,
    an_unreadable_row_is_reported,
    a_row_with_a_forged_id_is_inserted,
    a_stepped_walk_stops_in_broken_chains,
    a_row_moved_out_of_the_window_is_checked,
    an_erased_change_holds_nothing_else,
    an_erasure_is_not_drift,
    an_erasure_of_nothing_is_refused,
    an_erasure_reaches_forged_ids,
    an_erasure_checks_its_own_records_links,
    changed_version_survives_prune,
    aged_rows_are_not_pruned_away,
    a_long_pruned_chain_folds_in_pages,
    verify_beside_a_sealing_job,
    a_row_behind_an_old_run_is_swept,
    a_sweep_finds_every_row_behind_the_last_run,
    a_sweep_looks_where_the_runs_left_gaps,
    a_row_dated_ahead_waits_for_its_time,
    erasure_keeps_the_chains_verifiable,
    every_column_is_sealed,
    no_false_alarm_under_concurrent_writes,
    pruned_chains_start_from_their_anchors,
    each_tampering_is_reported_at_its_link,
    a_walk_in_steps_finds_what_one_walk_finds,
    a_split_walk_finds_what_one_range_finds,
    chains_are_walked_in_byte_order,
    a_row_moved_past_the_page_is_reordered,
    a_checkpoint_catches_a_removed_subject,
    a_subject_folded_away_is_found,
    a_row_behind_the_last_run_waits_for_a_sweep,
    a_late_row_is_sealed_once_checked,
);

/// PostgreSQL's partitioned layout keeps ids unique per partition only: a row forged for
/// one subject under another subject's sealed row's id (in an older month's partition)
/// is not that other row's link. `seal` leaves it (the id has a link), and a `verify` of
/// its subject, or of its subject type, reports it inserted.
async fn a_row_under_another_subjects_id_is_inserted(db: DatabaseConnection) {
    partition_activity_log(&db).await;
    let a = post_with_history(&db, "sealed", 1).await;
    let b = post_with_history(&db, "forged-into", 1).await;
    assert_eq!(seal_all(&db).await.unwrap().rows, 8);
    let taken = activity_log::Entity::find()
        .filter(activity_log::Column::SubjectId.eq(a.id.to_string()))
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    let mut forged = approval(b.id, Utc::now() - Duration::days(400));
    forged.id = Set(taken.id);
    activity_log::Entity::insert(forged)
        .exec_without_returning(&db)
        .await
        .unwrap();
    assert_eq!(seal_all(&db).await.unwrap().rows, 0);
    for scope in [
        VerifyScope::all().subject_type("post"),
        VerifyScope::all().subject("post", b.id.to_string()),
    ] {
        let report = verify(&db, &scope).await.unwrap();
        assert_eq!(
            breaks(&report).get(&key("activity_log", b.id)),
            Some(&(None, BreakReason::Inserted)),
            "{scope:?}: {:#?}",
            report.breaks
        );
    }
    // The whole trail's walk sees two rows under one link's id.
    assert!(!verify(&db, &VerifyScope::all()).await.unwrap().is_intact());
}

/// The same forged row, in the first page of links the walk reads: the page joins more
/// rows than it has links, and the walk still reads the pages after it (a head removed
/// from a chain there is found).
async fn a_page_with_a_forged_row_goes_on(db: DatabaseConnection) {
    use audit_seaorm::{NewActivity, log};
    partition_activity_log(&db).await;
    let a = post_with_history(&db, "sealed", 0).await;
    let b = post_with_history(&db, "forged-into", 0).await;
    // More links than a page holds, in chains after the posts' ("zz" > "post").
    for i in 0..1_100 {
        log(&db, NewActivity::new("viewed").subject("zz", i))
            .await
            .unwrap();
    }
    seal_all(&db).await.unwrap();
    let taken = entry_ids(&db, a.id).await[0];
    let mut forged = approval(b.id, Utc::now() - Duration::days(400));
    forged.id = Set(taken);
    activity_log::Entity::insert(forged)
        .exec_without_returning(&db)
        .await
        .unwrap();
    // The last chain's head (its subject id sorts last of the "zz" ones), in the last page.
    let gone = chains::Entity::delete_many()
        .filter(chains::Column::SubjectType.eq("zz"))
        .filter(chains::Column::SubjectId.eq("999"))
        .exec(&db)
        .await
        .unwrap();
    assert_eq!(gone.rows_affected, 1, "the log chain's head");
    // (one range of chains: its reader meets the forged page, then the removed head)
    let report = verify(&db, &VerifyScope::all().parallel(1)).await.unwrap();
    assert_eq!(
        breaks(&report).get(&("activity_log".to_owned(), "999".to_owned())),
        Some(&(Some(1), BreakReason::HeadChanged)),
        "{:#?}",
        report.breaks
    );
}

/// SQLite keeps any text in a link's `erased` column: a cell that is no JSON is that
/// link's tampering (`changed`), not an error that stops the whole walk.
#[tokio::test]
async fn a_link_cell_that_is_no_json_is_changed() {
    let db = sea_orm::Database::connect(audit_tests::connect_options("sqlite::memory:"))
        .await
        .unwrap();
    audit_seaorm::install(&db).await.unwrap();
    audit_tests::create_tables(&db).await;
    let a = post_with_history(&db, "a", 1).await;
    post_with_history(&db, "b", 1).await;
    seal(&db).await.unwrap();
    let first = entry_ids(&db, a.id).await[0];
    seals::Entity::update_many()
        .col_expr(seals::Column::Erased, Expr::cust("'not json'"))
        .filter(seals::Column::Kind.eq(1i16)) // activity_log's links
        .filter(seals::Column::RowId.eq(first))
        .exec(&db)
        .await
        .unwrap();
    let report = verify(&db, &VerifyScope::all()).await.unwrap();
    let found = audit_tests::breaks_found(&report);
    let id = a.id.to_string();
    assert_eq!(found, [("activity_log", id.as_str(), BreakReason::Changed)]);
}

postgres_tests!(
    a_row_above_the_sequence_is_held_back,
    an_unreadable_time_is_kept,
    a_row_under_another_subjects_id_is_inserted,
    a_page_with_a_forged_row_goes_on
);
