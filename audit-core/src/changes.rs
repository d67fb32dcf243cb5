//! Field-level changes: `{field: {old, new}}`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What stands in the log for the value of a redacted field.
pub const REDACTED: &str = "[redacted]";

/// The old and the new value of one field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Change {
    /// The value before the write (`null` on create).
    pub old: Value,
    /// The value after the write (`null` on delete).
    pub new: Value,
}

/// The changed fields of one write, keyed by field name.
///
/// Serializes exactly as `{"field": {"old": …, "new": …}, …}`, fields in name order.
///
/// ```
/// use audit_core::{Change, Changes};
/// use serde_json::json;
///
/// let changes = Changes::between(
///     &json!({"title": "Hi", "views": 1}),
///     &json!({"title": "Hello", "views": 1}),
/// );
/// assert_eq!(
///     serde_json::to_value(&changes).unwrap(),
///     json!({"title": {"old": "Hi", "new": "Hello"}})
/// );
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(description = "The changed fields of one write: field name → {old, new}.")
)]
#[serde(transparent)]
pub struct Changes(BTreeMap<String, Change>);

impl Changes {
    /// No changes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `field` went from `old` to `new` (replacing an earlier record of it).
    pub fn insert(&mut self, field: impl Into<String>, old: Value, new: Value) {
        self.0.insert(field.into(), Change { old, new });
    }

    /// The change of one field, if it changed.
    pub fn get(&self, field: &str) -> Option<&Change> {
        self.0.get(field)
    }

    /// Whether no field changed.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many fields changed.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The changes in field-name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Change)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The changed field names, in order.
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// The fields that differ between two JSON objects, compared as JSON.
    ///
    /// A key present on one side only is a change from/to `null`. Values that are not
    /// objects are treated as empty objects. This is the generic diff behind
    /// `log_change`; audited models use their typed, generated diff instead.
    pub fn between(old: &Value, new: &Value) -> Self {
        let empty = Map::new();
        let old = old.as_object().unwrap_or(&empty);
        let new = new.as_object().unwrap_or(&empty);
        let mut changes = Self::new();
        for (key, new_value) in new {
            let old_value = old.get(key).unwrap_or(&Value::Null);
            if old_value != new_value {
                changes.insert(key.clone(), old_value.clone(), new_value.clone());
            }
        }
        for (key, old_value) in old {
            if !new.contains_key(key) && !old_value.is_null() {
                changes.insert(key.clone(), old_value.clone(), Value::Null);
            }
        }
        changes
    }

    /// Applies the changes forward to a JSON state: every changed field takes its `new`
    /// value. Replaying a subject's diffs in order from an empty object rebuilds its
    /// latest state (redacted fields excepted).
    pub fn apply(&self, state: &mut Map<String, Value>) {
        for (field, change) in &self.0 {
            state.insert(field.clone(), change.new.clone());
        }
    }

    /// Applies the changes backward: every changed field takes its `old` value.
    pub fn revert(&self, state: &mut Map<String, Value>) {
        for (field, change) in &self.0 {
            state.insert(field.clone(), change.old.clone());
        }
    }
}

impl IntoIterator for Changes {
    type Item = (String, Change);
    type IntoIter = std::collections::btree_map::IntoIter<String, Change>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl FromIterator<(String, Change)> for Changes {
    fn from_iter<I: IntoIterator<Item = (String, Change)>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

// ---- typed diffs: what the generated `Audited::changes` calls (through `__private`) ----

/// Adds `field` to `changes` when it differs between `old` and `new` (compared typed).
#[inline]
pub fn diff_field<T: PartialEq>(
    changes: &mut Changes,
    codec: impl crate::codec::Codec<T>,
    subject_type: &'static str,
    field: &'static str,
    old: Option<&T>,
    new: Option<&T>,
) -> crate::Result<()> {
    if let (Some(o), Some(n)) = (old, new)
        && codec.same(o, n)
    {
        return Ok(());
    }
    let value = |v: Option<&T>| -> crate::Result<Value> {
        match v {
            None => Ok(Value::Null),
            Some(v) => crate::codec::to_json(&codec, subject_type, field, v),
        }
    };
    changes.insert(field, value(old)?, value(new)?);
    Ok(())
}

/// Adds a redacted `field` to `changes` when it differs: the change is recorded, the values
/// never are (so the type needs no serde).
#[inline]
pub fn diff_redacted<T: PartialEq + 'static>(
    changes: &mut Changes,
    field: &'static str,
    old: Option<&T>,
    new: Option<&T>,
) {
    // (Two NaNs of a float field, which `==` never calls equal, are the same value, as for
    // audited floats.)
    if let (Some(o), Some(n)) = (old, new)
        && (o == n || (is_float::<T>() && !reflexive(o) && !reflexive(n)))
    {
        return;
    }
    let value = |v: Option<&T>| match v {
        None => Value::Null,
        Some(_) => Value::String(REDACTED.to_owned()),
    };
    changes.insert(field, value(old), value(new));
}

/// Whether `T` is a float or an optional float (whose only value unequal to itself is NaN).
fn is_float<T: 'static>() -> bool {
    use std::any::TypeId;
    [
        TypeId::of::<f32>(),
        TypeId::of::<f64>(),
        TypeId::of::<Option<f32>>(),
        TypeId::of::<Option<f64>>(),
    ]
    .contains(&TypeId::of::<T>())
}

/// Whether `v == v` (false for a NaN).
#[allow(clippy::eq_op)]
fn reflexive<T: PartialEq>(v: &T) -> bool {
    v == v
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn serializes_in_field_old_new_shape() {
        let mut changes = Changes::new();
        changes.insert("title", json!("a"), json!("b"));
        changes.insert("body", Value::Null, json!(1));
        let text = serde_json::to_string(&changes).unwrap();
        assert_eq!(
            text,
            r#"{"body":{"old":null,"new":1},"title":{"old":"a","new":"b"}}"#
        );
        let back: Changes = serde_json::from_str(&text).unwrap();
        assert_eq!(back, changes);
    }

    #[test]
    fn between_reports_added_and_removed_keys() {
        let changes = Changes::between(&json!({"a": 1, "b": 2}), &json!({"b": 3, "c": 4}));
        assert_eq!(
            serde_json::to_value(&changes).unwrap(),
            json!({"a": {"old": 1, "new": null}, "b": {"old": 2, "new": 3}, "c": {"old": null, "new": 4}})
        );
    }

    fn json_leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "[a-z]{0,6}".prop_map(Value::from),
        ]
    }

    fn json_object() -> impl Strategy<Value = Map<String, Value>> {
        proptest::collection::btree_map("[a-e]", json_leaf(), 0..6)
            .prop_map(|m| m.into_iter().collect())
    }

    proptest! {
        #[test]
        fn apply_of_diff_turns_old_into_new(old in json_object(), new in json_object()) {
            let changes = Changes::between(&Value::Object(old.clone()), &Value::Object(new.clone()));
            let mut state = old.clone();
            changes.apply(&mut state);
            // Keys removed from `new` come back as explicit nulls.
            state.retain(|_, v| !v.is_null());
            let mut expected = new.clone();
            expected.retain(|_, v| !v.is_null());
            prop_assert_eq!(state, expected);
        }

        #[test]
        fn revert_of_diff_turns_new_into_old(old in json_object(), new in json_object()) {
            let changes = Changes::between(&Value::Object(old.clone()), &Value::Object(new.clone()));
            let mut state = new.clone();
            changes.revert(&mut state);
            state.retain(|_, v| !v.is_null());
            let mut expected = old.clone();
            expected.retain(|_, v| !v.is_null());
            prop_assert_eq!(state, expected);
        }

        #[test]
        fn diff_of_equal_states_is_empty(state in json_object()) {
            let value = Value::Object(state);
            prop_assert!(Changes::between(&value, &value).is_empty());
        }
    }

    #[test]
    fn redacted_fields_never_show_their_value() {
        let mut changes = Changes::new();
        diff_redacted(&mut changes, "secret", Some(&"a"), Some(&"b"));
        // Two NaNs are no change; a NaN and a number are.
        let mut nan = Changes::new();
        diff_redacted(&mut nan, "score", Some(&f64::NAN), Some(&f64::NAN));
        assert!(nan.is_empty());
        diff_redacted(&mut nan, "score", Some(&f64::NAN), Some(&1.0));
        assert!(nan.get("score").is_some());
        // Not for other types holding a NaN: the rest of the value may differ.
        let mut embedding = Changes::new();
        diff_redacted(
            &mut embedding,
            "embedding",
            Some(&vec![f32::NAN, 0.1]),
            Some(&vec![f32::NAN, 0.9]),
        );
        assert!(embedding.get("embedding").is_some());
        let c = changes.get("secret").unwrap();
        assert_eq!(c.old, Value::from(REDACTED));
        assert_eq!(c.new, Value::from(REDACTED));
    }
}
