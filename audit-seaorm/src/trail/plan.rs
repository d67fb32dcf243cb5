//! What one hooked write adds to the trail, decided from the subject's latest version.
//!
//! The latest version is the old state: a write's diff is the new snapshot against it.
//! Fields that differ but were not `Set` by the write changed outside the trail (drift):
//! they go to a separate `drift` entry with no causer, never into the writer's entry.
//! MySQL/MariaDB run this planner (and SQLite, for a create); PostgreSQL and SQLite decide
//! the same in SQL (`dialect::postgres`, `dialect::sqlite`). The tests run every rule on every backend.

use audit_core::{Changes, REDACTED};
use serde_json::{Map, Value as Json};

/// What the hook saw: a row inserted, updated or deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Created,
    Updated,
    Deleted,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Created => "created",
            Kind::Updated => "updated",
            Kind::Deleted => "deleted",
        }
    }
}

/// The event of a version that records only drift.
pub(crate) const DRIFT: &str = "drift";
/// The event of a version that records a row's state found when auditing first saw it.
pub(crate) const BASELINE: &str = "baseline";

/// A subject's latest version.
#[derive(Clone, Debug)]
pub(crate) struct Latest {
    pub version: i64,
    pub event: String,
    pub data: Map<String, Json>,
}

impl Latest {
    /// Whether the trail says the row exists.
    pub(crate) fn alive(&self) -> bool {
        self.event != Kind::Deleted.as_str()
    }
}

/// One hooked write, as the hook knows it.
#[derive(Clone, Copy)]
pub(crate) struct Hooked<'a> {
    pub kind: Kind,
    /// The action logged for the write's own entry (created, updated, deleted, restored).
    pub action: &'a str,
    /// The row's audited fields after the write (`None` for a delete).
    pub data: Option<&'a Map<String, Json>>,
    /// The fields the write `Set`, when known (`None`: every differing field is the
    /// write's own change).
    pub set: Option<&'a [&'static str]>,
    /// Changes the hook computed itself: the whole diff of a create, and the redacted
    /// fields (whose values no version holds).
    pub extra: &'a Changes,
    /// Write the entry and version even when nothing changed (a restore).
    pub force: bool,
}

/// The rows a hooked write adds.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Plan {
    /// Fields changed outside the trail, logged first as a `drift` entry.
    pub drift: Option<Changes>,
    /// The write's own entry.
    pub entry: Option<Changes>,
    /// The new version: number, event, data.
    pub version: Option<(i64, String, Map<String, Json>)>,
}

/// The subject has no version: its old state is not in the trail.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct NoBaseline;

/// The fields a create's diff (`extra`) names and its snapshot lacks: those the model
/// redacts. The drift of a create over a trail that says the row exists (it was deleted
/// outside the trail) names them `[redacted]`: a version written before a field was
/// redacted, or by `snapshot`, may hold its value, which must not be copied.
/// (PostgreSQL's statement applies the same rule in SQL.)
pub(crate) fn redacted_in_create<'a>(write: &'a Hooked<'_>) -> Vec<&'a str> {
    write
        .extra
        .fields()
        .filter(|field| write.data.is_none_or(|data| !data.contains_key(*field)))
        .collect()
}

/// Decides what `write` adds on top of `latest`.
pub(crate) fn plan(write: &Hooked<'_>, latest: Option<&Latest>) -> Result<Plan, NoBaseline> {
    let empty = Map::new();
    let alive = latest.is_some_and(Latest::alive);
    let base = match latest {
        Some(l) if alive => &l.data,
        _ => &empty,
    };
    let mut own = Changes::new();
    let mut drift = Changes::new();
    let data = match write.kind {
        Kind::Created => {
            // The trail says the row exists: it was deleted outside the trail.
            let redacted = redacted_in_create(write);
            for (field, old) in base {
                let old = match redacted.contains(&field.as_str()) {
                    true => Json::from(REDACTED),
                    false => old.clone(),
                };
                drift.insert(field.clone(), old, Json::Null);
            }
            write.data.cloned().unwrap_or_default()
        }
        Kind::Updated => {
            if latest.is_none() {
                return Err(NoBaseline);
            }
            let new = write.data.cloned().unwrap_or_default();
            for (field, value) in &new {
                let known = base.get(field);
                let old = known.unwrap_or(&Json::Null);
                if same(old, value) {
                    continue;
                }
                let set_here = write.set.is_none_or(|s| s.contains(&field.as_str()));
                // A field the latest version lacks (erased since, or a column added after
                // it) has no known old value: the write's own change from null, never
                // drift. Its value joins the trail with the next version written.
                if !set_here && alive && known.is_none() {
                    continue;
                }
                let target = if set_here { &mut own } else { &mut drift };
                target.insert(field.clone(), old.clone(), value.clone());
            }
            new
        }
        Kind::Deleted => {
            if latest.is_none() {
                return Err(NoBaseline);
            }
            if !alive {
                // Already deleted as far as the trail knows: nothing was deleted now.
                return Ok(Plan::default());
            }
            for (field, old) in base {
                own.insert(field.clone(), old.clone(), Json::Null);
            }
            // The redacted fields' changes come from the hook: a value a version took
            // before its field was redacted stays out of the new one.
            let mut data = base.clone();
            for (field, _) in write.extra.iter() {
                data.remove(field);
            }
            data
        }
    };
    for (field, change) in write.extra.iter() {
        own.insert(field, change.old.clone(), change.new.clone());
    }
    let own_changed = !own.is_empty() || write.force;
    if !own_changed && drift.is_empty() {
        return Ok(Plan::default());
    }
    // A delete's version says `deleted` whatever its entry's action (a revert logs
    // `reverted`): the trail reads a record's existence from its versions' events.
    let event = match (own_changed, write.kind) {
        (false, _) => DRIFT,
        (true, Kind::Deleted) => Kind::Deleted.as_str(),
        (true, _) => write.action,
    };
    Ok(Plan {
        drift: (!drift.is_empty()).then_some(drift),
        entry: own_changed.then_some(own),
        version: Some((latest.map_or(1, |l| l.version + 1), event.to_owned(), data)),
    })
}

/// Whether a stored value and a new one are the same JSON, numbers compared by value: a
/// float that PostgreSQL's `jsonb` gives back without its exponent (`1e+17` read as the
/// integer `100000000000000000`) or without its sign (`-0.0` as `0.0`) is no change.
fn same(stored: &Json, new: &Json) -> bool {
    match (stored, new) {
        (Json::Number(a), Json::Number(b)) if a.is_f64() || b.is_f64() => a.as_f64() == b.as_f64(),
        (Json::Array(a), Json::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same(a, b))
        }
        (Json::Object(a), Json::Object(b)) => {
            a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| same(v, w)))
        }
        _ => stored == new,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Json) -> Map<String, Json> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn numbers_are_compared_by_value() {
        let read: Json = serde_json::from_str("100000000000000000").unwrap();
        assert!(same(&read, &json!(1e17)));
        assert!(same(&json!(0.0), &json!(-0.0)));
        assert!(same(&json!({"a": [1.5, 2]}), &json!({"a": [1.5, 2]})));
        assert!(!same(&json!(1e17), &json!(1.0000000000000002e17)));
        assert!(
            !same(&json!(u64::MAX), &json!(u64::MAX - 1)),
            "integers exactly"
        );
        assert!(!same(&json!("1"), &json!(1)));
        assert!(!same(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
    }

    fn latest(version: i64, event: &str, data: Json) -> Latest {
        Latest {
            version,
            event: event.into(),
            data: map(data),
        }
    }

    fn update<'a>(data: &'a Map<String, Json>, set: Option<&'a [&'static str]>) -> Hooked<'a> {
        static NONE: std::sync::LazyLock<Changes> = std::sync::LazyLock::new(Changes::new);
        Hooked {
            kind: Kind::Updated,
            action: "updated",
            data: Some(data),
            set,
            extra: &NONE,
            force: false,
        }
    }

    #[test]
    fn fields_set_by_the_write_are_its_changes_the_rest_is_drift() {
        let prev = latest(3, "updated", json!({"title": "a", "slug": "s", "n": 1}));
        let new = map(json!({"title": "b", "slug": "t", "n": 1}));
        let plan = plan(&update(&new, Some(&["title"])), Some(&prev)).unwrap();
        assert_eq!(
            serde_json::to_value(plan.entry.unwrap()).unwrap(),
            json!({"title": {"old": "a", "new": "b"}})
        );
        assert_eq!(
            serde_json::to_value(plan.drift.unwrap()).unwrap(),
            json!({"slug": {"old": "s", "new": "t"}})
        );
        let (number, event, data) = plan.version.unwrap();
        assert_eq!((number, event.as_str()), (4, "updated"));
        assert_eq!(data, new);
    }

    #[test]
    fn without_the_set_fields_every_difference_is_the_writes() {
        let prev = latest(1, "created", json!({"title": "a", "slug": "s"}));
        let new = map(json!({"title": "b", "slug": "t"}));
        let plan = plan(&update(&new, None), Some(&prev)).unwrap();
        assert_eq!(plan.entry.unwrap().len(), 2);
        assert!(plan.drift.is_none());
    }

    #[test]
    fn an_update_that_changes_nothing_writes_nothing() {
        let prev = latest(1, "created", json!({"title": "a"}));
        let new = map(json!({"title": "a"}));
        assert_eq!(
            plan(&update(&new, Some(&["title"])), Some(&prev)).unwrap(),
            Plan::default()
        );
    }

    #[test]
    fn drift_alone_gets_a_drift_version_and_no_entry_of_the_writer() {
        let prev = latest(1, "created", json!({"title": "a", "slug": "s"}));
        let new = map(json!({"title": "a", "slug": "t"}));
        let plan = plan(&update(&new, Some(&["title"])), Some(&prev)).unwrap();
        assert!(plan.entry.is_none());
        assert!(plan.drift.is_some());
        assert_eq!(plan.version.unwrap().1, DRIFT);
    }

    #[test]
    fn no_version_means_no_baseline_for_updates_and_deletes() {
        let new = map(json!({"title": "a"}));
        assert_eq!(plan(&update(&new, None), None), Err(NoBaseline));
        let none = Changes::new();
        let delete = Hooked {
            kind: Kind::Deleted,
            action: "deleted",
            data: None,
            set: None,
            extra: &none,
            force: false,
        };
        assert_eq!(plan(&delete, None), Err(NoBaseline));
        // A row the trail already saw deleted: nothing was deleted now.
        let gone = latest(2, "deleted", json!({"title": "a"}));
        assert_eq!(plan(&delete, Some(&gone)).unwrap(), Plan::default());
        let live = latest(2, "updated", json!({"title": "a"}));
        let p = plan(&delete, Some(&live)).unwrap();
        assert_eq!(
            serde_json::to_value(p.entry.unwrap()).unwrap(),
            json!({"title": {"old": "a", "new": null}})
        );
        assert_eq!(p.version.unwrap().2, map(json!({"title": "a"})));
    }

    #[test]
    fn a_create_over_a_live_trail_records_the_unseen_delete_as_drift() {
        let prev = latest(5, "updated", json!({"title": "a"}));
        let mut created = Changes::new();
        created.insert("title", Json::Null, json!("b"));
        let new = map(json!({"title": "b"}));
        let write = Hooked {
            kind: Kind::Created,
            action: "created",
            data: Some(&new),
            set: None,
            extra: &created,
            force: false,
        };
        let p = plan(&write, Some(&prev)).unwrap();
        assert_eq!(
            serde_json::to_value(p.drift.unwrap()).unwrap(),
            json!({"title": {"old": "a", "new": null}})
        );
        assert_eq!(p.version.unwrap().0, 6);
    }
}
