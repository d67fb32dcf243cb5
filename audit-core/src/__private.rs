//! Support for the code `#[derive(Audited)]` generates. Not public API.

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::{Changes, Error, REDACTED, Result};

/// What the type of an audited field must be: storable in the JSON log and readable back.
///
/// The generated code asserts it once per audited field, spanned at the field's type, and
/// reaches serde only through a [`Codec`] picked by [`CodecOf`]: a type without serde
/// then gives exactly one error, on the field, and none inside the expansion.
#[diagnostic::on_unimplemented(
    message = "the type of an audited field must implement `serde::Serialize` and `serde::Deserialize`, and `{Self}` does not",
    label = "`{Self}` is not `Serialize + Deserialize`: the audit log stores this field as JSON",
    note = "derive them on your type (`#[derive(serde::Serialize, serde::Deserialize)]`), enable the `serde` feature of the crate it comes from (for the date, decimal and uuid types SeaORM re-exports: sea-orm's `with-json`), or keep its value out of the log with `#[audit(skip)]` or `#[audit(redact)]`"
)]
pub trait AuditValue: Serialize + DeserializeOwned {}

// `do_not_recommend`: the error names `AuditValue` (and its message), not the two serde
// traits one by one.
#[diagnostic::do_not_recommend]
impl<T: Serialize + DeserializeOwned> AuditValue for T {}

/// How the values of one field type go to and from JSON.
pub trait Codec<T> {
    /// The value as JSON.
    fn encode(&self, v: &T) -> serde_json::Result<Value>;
    /// The value read back from JSON.
    fn decode(&self, v: &Value) -> serde_json::Result<T>;
}

/// serde's: the codec of every field type that compiles (see [`AuditValue`]).
#[derive(Clone, Copy)]
pub struct Serde;

impl<T: AuditValue> Codec<T> for Serde {
    #[inline]
    fn encode(&self, v: &T) -> serde_json::Result<Value> {
        serde_json::to_value(v)
    }
    #[inline]
    fn decode(&self, v: &Value) -> serde_json::Result<T> {
        T::deserialize(v)
    }
}

/// Stands in for a field type without serde so that the expansion type-checks around the
/// one error the per-field [`AuditValue`] assertion gives. A program that compiles never
/// has it.
#[derive(Clone, Copy)]
pub struct NoCodec;

impl<T> Codec<T> for NoCodec {
    fn encode(&self, _: &T) -> serde_json::Result<Value> {
        Err(serde::ser::Error::custom(
            "the field type has no serde impls",
        ))
    }
    fn decode(&self, _: &Value) -> serde_json::Result<T> {
        Err(serde::de::Error::custom(
            "the field type has no serde impls",
        ))
    }
}

/// Picks the codec of `T` without requiring serde of `T` (autoref specialization, as
/// [`DefaultOr`]): the generated code calls `(&CodecOf::<T>::new()).codec()` with
/// [`ViaSerde`] and [`WithoutSerde`] in scope.
pub struct CodecOf<T: ?Sized>(PhantomData<T>);

impl<T: ?Sized> CodecOf<T> {
    /// The probe.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Self(PhantomData)
    }
}

/// Chosen when the field type implements serde.
pub trait ViaSerde {
    /// serde's codec.
    fn codec(&self) -> Serde;
}

impl<T: AuditValue> ViaSerde for CodecOf<T> {
    #[inline]
    fn codec(&self) -> Serde {
        Serde
    }
}

/// Chosen when it does not (the build fails on the field anyway).
pub trait WithoutSerde {
    /// The stand-in.
    fn codec(&self) -> NoCodec;
}

impl<T: ?Sized> WithoutSerde for &CodecOf<T> {
    fn codec(&self) -> NoCodec {
        NoCodec
    }
}

fn to_json<T>(
    codec: &impl Codec<T>,
    subject_type: &'static str,
    field: &'static str,
    v: &T,
) -> Result<Value> {
    codec.encode(v).map_err(|source| Error::Serialize {
        subject_type,
        field,
        source,
    })
}

/// Adds `field` to `changes` when it differs between `old` and `new` (compared typed).
#[inline]
pub fn diff_field<T: PartialEq>(
    changes: &mut Changes,
    codec: impl Codec<T>,
    subject_type: &'static str,
    field: &'static str,
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
            Some(v) => to_json(&codec, subject_type, field, v),
        }
    };
    changes.insert(field, value(old)?, value(new)?);
    Ok(())
}

/// Adds a redacted `field` to `changes` when it differs: the change is recorded, the values
/// never are (so the type needs no serde).
#[inline]
pub fn diff_redacted<T: PartialEq>(
    changes: &mut Changes,
    field: &'static str,
    old: Option<&T>,
    new: Option<&T>,
) {
    if let (Some(o), Some(n)) = (old, new)
        && o == n
    {
        return;
    }
    let value = |v: Option<&T>| match v {
        None => Value::Null,
        Some(_) => Value::String(REDACTED.to_owned()),
    };
    changes.insert(field, value(old), value(new));
}

/// Puts one field into a snapshot.
#[inline]
pub fn snapshot_field<T>(
    data: &mut Map<String, Value>,
    codec: impl Codec<T>,
    subject_type: &'static str,
    field: &'static str,
    v: &T,
) -> Result<()> {
    data.insert(field.to_owned(), to_json(&codec, subject_type, field, v)?);
    Ok(())
}

/// Reads one field of a snapshot; `Ok(None)` when the snapshot does not hold it.
pub fn field_from_snapshot<T>(
    data: &Map<String, Value>,
    codec: impl Codec<T>,
    subject_type: &'static str,
    field: &'static str,
) -> Result<Option<T>> {
    match data.get(field) {
        None => Ok(None),
        Some(v) => codec
            .decode(v)
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
pub fn key_part<T>(codec: impl Codec<T>, v: &T) -> String {
    match codec.encode(v) {
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
pub fn key_json<T>(codec: impl Codec<T>, v: &T) -> Value {
    codec.encode(v).unwrap_or(Value::Null)
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
    #[allow(clippy::needless_borrow)] // the borrow is what selects the impl
    fn codec_probe_picks_serde_when_available() {
        let mut data = Map::new();
        snapshot_field(&mut data, (&CodecOf::<i32>::new()).codec(), "t", "n", &7).unwrap();
        assert_eq!(data["n"], Value::from(7));
        let e = snapshot_field(
            &mut data,
            (&CodecOf::<NoDefaultType>::new()).codec(),
            "t",
            "x",
            &NoDefaultType,
        );
        assert!(
            e.unwrap_err()
                .to_string()
                .contains("cannot serialize field `x`")
        );
    }

    #[test]
    fn keys_render_as_text() {
        assert_eq!(key_part(Serde, &42), "42");
        assert_eq!(key_part(Serde, &"a/b".to_owned()), "a/b");
        assert_eq!(
            composite_key(vec![key_json(Serde, &1), key_json(Serde, &"en".to_owned())]),
            r#"[1,"en"]"#
        );
    }

    #[test]
    fn redacted_fields_never_show_their_value() {
        let mut changes = Changes::new();
        diff_redacted(&mut changes, "secret", Some(&"a"), Some(&"b"));
        let c = changes.get("secret").unwrap();
        assert_eq!(c.old, Value::from(REDACTED));
        assert_eq!(c.new, Value::from(REDACTED));
    }

    proptest::proptest! {
        /// Every finite float comes back bit for bit from the snapshot as it is stored:
        /// JSON text (serde_json's `float_roundtrip` makes the parse exact).
        #[test]
        fn finite_floats_round_trip_bit_for_bit(
            f in proptest::num::f64::NORMAL | proptest::num::f64::SUBNORMAL | proptest::num::f64::ZERO,
            g in proptest::num::f32::NORMAL | proptest::num::f32::SUBNORMAL | proptest::num::f32::ZERO,
        ) {
            let mut data = Map::new();
            snapshot_field(&mut data, Serde, "t", "f64", &f).unwrap();
            snapshot_field(&mut data, Serde, "t", "f32", &g).unwrap();
            let text = serde_json::to_string(&data).unwrap();
            let data: Map<String, Value> = serde_json::from_str(&text).unwrap();
            let f_back: f64 = field_from_snapshot(&data, Serde, "t", "f64").unwrap().unwrap();
            let g_back: f32 = field_from_snapshot(&data, Serde, "t", "f32").unwrap().unwrap();
            proptest::prop_assert_eq!(f_back.to_bits(), f.to_bits(), "{} read back as {}", f, f_back);
            proptest::prop_assert_eq!(g_back.to_bits(), g.to_bits(), "{} read back as {}", g, g_back);
        }
    }
}
