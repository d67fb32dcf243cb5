//! Snapshots: the audited fields of a model as one JSON object, and back.
//!
//! Support for the code `#[derive(Audited)]` generates (through `__private`); not public
//! API.

use std::marker::PhantomData;

use serde_json::{Map, Value};

use crate::codec::{Codec, to_json};
use crate::{Error, Field, Result};

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
    fields: &[Field],
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

/// The error for a primary key field missing from a snapshot.
pub fn missing_key(subject_type: &'static str, field: &'static str) -> Error {
    Error::SnapshotMismatch {
        subject_type,
        field: field.to_owned(),
        reason: "is part of the primary key but missing from the snapshot".to_owned(),
    }
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
    use crate::codec::{CodecOf, ViaSerde as _, WithoutSerde as _};

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

    proptest::proptest! {
        /// Every float comes back from the snapshot as it is stored (JSON text): finite
        /// ones bit for bit (serde_json's `float_roundtrip` makes the parse exact), the
        /// infinities as themselves, NaN as NaN; and the diff of a value with itself,
        /// NaN included, is empty.
        #[test]
        #[allow(clippy::needless_borrow)] // the borrow is what the generated code writes
        fn every_float_round_trips(
            f in proptest::num::f64::ANY,
            g in proptest::num::f32::ANY,
            o in proptest::option::of(proptest::num::f64::ANY),
        ) {
            let mut data = Map::new();
            snapshot_field(&mut data, (&CodecOf::<f64>::new()).codec(), "t", "f64", &f).unwrap();
            snapshot_field(&mut data, (&CodecOf::<f32>::new()).codec(), "t", "f32", &g).unwrap();
            snapshot_field(&mut data, (&CodecOf::<Option<f64>>::new()).codec(), "t", "o", &o).unwrap();
            let text = serde_json::to_string(&data).unwrap();
            let data: Map<String, Value> = serde_json::from_str(&text).unwrap();
            let f_back: f64 = field_from_snapshot(&data, (&CodecOf::<f64>::new()).codec(), "t", "f64").unwrap().unwrap();
            let g_back: f32 = field_from_snapshot(&data, (&CodecOf::<f32>::new()).codec(), "t", "f32").unwrap().unwrap();
            let o_back: Option<f64> = field_from_snapshot(&data, (&CodecOf::<Option<f64>>::new()).codec(), "t", "o").unwrap().unwrap();
            let same = |a: f64, b: f64| if a.is_nan() { b.is_nan() } else { a.to_bits() == b.to_bits() };
            proptest::prop_assert!(same(f, f_back), "{} read back as {}", f, f_back);
            proptest::prop_assert!(same(f64::from(g), f64::from(g_back)), "{} read back as {}", g, g_back);
            proptest::prop_assert_eq!(o.is_some(), o_back.is_some());
            if let (Some(o), Some(o_back)) = (o, o_back) {
                proptest::prop_assert!(same(o, o_back), "{} read back as {}", o, o_back);
            }
            let mut changes = crate::Changes::new();
            crate::changes::diff_field(&mut changes, (&CodecOf::<f64>::new()).codec(), "t", "f64", Some(&f), Some(&f)).unwrap();
            proptest::prop_assert!(changes.is_empty(), "{} differs from itself", f);
        }
    }
}
