//! Support for the code `#[derive(Audited)]` generates. Not public API.

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::{Changes, Error, REDACTED, Result};

fn to_json<T: Serialize>(subject_type: &'static str, field: &'static str, v: &T) -> Result<Value> {
    serde_json::to_value(v).map_err(|source| Error::Serialize {
        subject_type,
        field,
        source,
    })
}

/// Adds `field` to `changes` when it differs between `old` and `new` (compared typed).
#[inline]
pub fn diff_field<T: PartialEq + Serialize>(
    changes: &mut Changes,
    subject_type: &'static str,
    field: &'static str,
    redact: bool,
    old: Option<&T>,
    new: Option<&T>,
) -> Result<()> {
    if let (Some(o), Some(n)) = (old, new)
        && o == n
    {
        return Ok(());
    }
    let value = |v: Option<&T>| -> Result<Value> {
        match v {
            None => Ok(Value::Null),
            Some(_) if redact => Ok(Value::String(REDACTED.to_owned())),
            Some(v) => to_json(subject_type, field, v),
        }
    };
    changes.insert(field, value(old)?, value(new)?);
    Ok(())
}

/// Puts one field into a snapshot.
#[inline]
pub fn snapshot_field<T: Serialize>(
    data: &mut Map<String, Value>,
    subject_type: &'static str,
    field: &'static str,
    v: &T,
) -> Result<()> {
    data.insert(field.to_owned(), to_json(subject_type, field, v)?);
    Ok(())
}

/// Reads one field of a snapshot; `Ok(None)` when the snapshot does not hold it.
pub fn field_from_snapshot<T: DeserializeOwned>(
    data: &Map<String, Value>,
    subject_type: &'static str,
    field: &'static str,
) -> Result<Option<T>> {
    match data.get(field) {
        None => Ok(None),
        Some(v) => T::deserialize(v)
            .map(Some)
            .map_err(|e| Error::SnapshotMismatch {
                subject_type,
                field: field.to_owned(),
                reason: format!("no longer has the stored type: {e}"),
            }),
    }
}

/// Fails on a snapshot key that is no field of the model.
pub fn check_snapshot_keys(
    data: &Map<String, Value>,
    subject_type: &'static str,
    fields: &[crate::Field],
) -> Result<()> {
    for key in data.keys() {
        if !fields.iter().any(|f| f.name == key) {
            return Err(Error::SnapshotMismatch {
                subject_type,
                field: key.clone(),
                reason: "is in the snapshot but no longer a field of the model".to_owned(),
            });
        }
    }
    Ok(())
}

/// A key part as text: strings as they are, anything else as its JSON text.
pub fn key_part<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// A composite key as a JSON array text.
pub fn composite_key(parts: Vec<Value>) -> String {
    Value::Array(parts).to_string()
}

/// One part of a composite key as JSON.
pub fn key_json<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// Picks `Default::default()` when the field type has one, else an error, without
/// requiring `Default` of every field type (autoref specialization: the generated code
/// calls `(&DefaultOr::<T>::new()).default_value(..)` with both traits in scope).
pub struct DefaultOr<T>(PhantomData<T>);

impl<T> DefaultOr<T> {
    /// The probe.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Self(PhantomData)
    }
}

/// Chosen when the field type implements `Default`.
pub trait ViaDefault<T> {
    /// The default value.
    fn default_value(&self, subject_type: &'static str, field: &'static str) -> Result<T>;
}

impl<T: Default> ViaDefault<T> for DefaultOr<T> {
    fn default_value(&self, _: &'static str, _: &'static str) -> Result<T> {
        Ok(T::default())
    }
}

/// Chosen when it does not.
pub trait NoDefault<T> {
    /// An error naming the field.
    fn default_value(&self, subject_type: &'static str, field: &'static str) -> Result<T>;
}

impl<T> NoDefault<T> for &DefaultOr<T> {
    fn default_value(&self, subject_type: &'static str, field: &'static str) -> Result<T> {
        Err(Error::SnapshotMismatch {
            subject_type,
            field: field.to_owned(),
            reason: "is not in the snapshot and its type has no default".to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct NoDefaultType;

    #[test]
    #[allow(clippy::needless_borrow)] // the borrow is what selects the impl
    fn default_probe_picks_default_when_available() {
        let v: Result<i32> = (&DefaultOr::<i32>::new()).default_value("t", "f");
        assert_eq!(v.unwrap(), 0);
        let e: Result<NoDefaultType> = (&DefaultOr::<NoDefaultType>::new()).default_value("t", "f");
        assert!(
            e.unwrap_err()
                .to_string()
                .contains("field `f` is not in the snapshot")
        );
    }

    #[test]
    fn keys_render_as_text() {
        assert_eq!(key_part(&42), "42");
        assert_eq!(key_part(&"a/b".to_owned()), "a/b");
        assert_eq!(
            composite_key(vec![key_json(&1), key_json(&"en")]),
            r#"[1,"en"]"#
        );
    }

    #[test]
    fn redacted_fields_never_show_their_value() {
        let mut changes = Changes::new();
        diff_field(&mut changes, "t", "secret", true, Some(&"a"), Some(&"b")).unwrap();
        let c = changes.get("secret").unwrap();
        assert_eq!(c.old, Value::from(REDACTED));
        assert_eq!(c.new, Value::from(REDACTED));
    }
}
