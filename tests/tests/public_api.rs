//! The public surface the README's tables list compiles, by those names: a rename or a
//! removal fails here before a user meets it.

#![allow(unused_imports)]

use audit_seaorm::entity::{activity_log, versions};
use audit_seaorm::http::{AuditApi, AuditLayer, Permission};
use audit_seaorm::migration::Migration;
use audit_seaorm::{
    Action, ActivityEntry, AuditContext, Audited, AuditedEntity, AuditedModel, Backfill, Change,
    Changes, DEFAULT_LIMIT, Error, Field, FieldMode, Filter, MAX_LIMIT, NewActivity, Order, Page,
    REDACTED, Result, SubjectId, Version, activity, activity_select, backfill, behavior, history,
    install, install_sql, log, log_change, propagate, record_change, snapshot, spawn, version,
    versions, versions_page, without_auditing,
};
use audit_seaorm::{
    ActivityCounts, Blame, Break, BreakReason, BulkWrite, Checkpoint, CheckpointCheck, Conflict,
    Cursor, Erased, Install, KeptField, KeyOf, Policy, Pruned, RecordsPage, Redacted, Report,
    Retention, Reverted, Reverter, SEALED_LATE, Sealed, Subject, VerifyScope, checkpoints,
    install_sql_with,
};
use audit_seaorm::{
    AuditedBulk, ModelError, ModelResult, activity_counts, begin_write, checkpoint, diff_versions,
    erase, install_with, maintain_partitions, page_limit, prune, recount_activity, redact_history,
    seal, seal_all, seal_late, verify, verify_checkpoint,
};
use audit_seaorm::{
    entity::set_table_names,
    http::{Access, ForwardedHeader},
    migration::migrations,
};
use audit_seaorm::{
    hooks,
    hooks::{after_delete, after_save, before_delete, before_save},
};

#[test]
fn actions_keep_their_words() {
    for (action, word) in [
        (Action::Created, "created"),
        (Action::Updated, "updated"),
        (Action::Deleted, "deleted"),
        (Action::Restored, "restored"),
        (Action::Drift, "drift"),
        (Action::Baseline, "baseline"),
        (Action::Snapshot, "snapshot"),
        (Action::Reverted, "reverted"),
        (Action::Pruned, "pruned"),
        (Action::Erased, "erased"),
        (Action::Redacted, "redacted"),
        (Action::SealedLate, "sealed_late"),
        (Action::Custom("published".into()), "published"),
    ] {
        assert_eq!(action.as_str(), word);
        assert_eq!(
            Action::from(word),
            action,
            "{word} reads back as its variant"
        );
        assert_eq!(
            serde_json::to_value(&action).unwrap(),
            serde_json::json!(word)
        );
        assert_eq!(
            serde_json::from_value::<Action>(serde_json::json!(word)).unwrap(),
            action
        );
    }
}

#[test]
fn filters_take_actions_and_words_alike() {
    let typed = Filter::new().action(Action::Deleted).subject("post", 7);
    let words = Filter::new().action("deleted").subject("post", "7");
    assert_eq!(typed, words);
    assert_eq!(typed.subject_id, Some(SubjectId::new("7")));
    // The JSON form of a filter is unchanged: the action is its word.
    assert_eq!(
        serde_json::to_value(&typed).unwrap()["action"],
        serde_json::json!("deleted")
    );
}

#[test]
fn contexts_hold_typed_addresses() {
    let ctx = AuditContext::new().ip([203, 0, 113, 9]).strict(true);
    assert_eq!(ctx.ip, Some("203.0.113.9".parse().unwrap()));
    assert_eq!(ctx.strict, Some(true));
}
