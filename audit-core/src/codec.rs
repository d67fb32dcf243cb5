//! How audited field values go to and from JSON: the serde bound every audited field
//! type meets, and the codec the generated code reaches serde through.
//!
//! Support for the code `#[derive(Audited)]` generates (through `__private`); not public
//! API.

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{Error, Result};

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
    /// Whether a write from `a` to `b` changes nothing (`==` unless the codec knows better).
    fn same(&self, a: &T, b: &T) -> bool
    where
        T: PartialEq,
    {
        a == b
    }
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
/// [`DefaultOr`](crate::snapshot::DefaultOr)): the generated code calls `(&CodecOf::<T>::new()).codec()` with
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

/// One field value as JSON; a serde failure names the field.
pub fn to_json<T>(
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

// ---- floats -------------------------------------------------------------------------
//
// serde_json writes a non-finite float as `null`, which no `f64` reads back, and `NaN !=
// NaN` would make every write of a NaN a change. The probe picks this codec for `f32`,
// `f64` and their `Option`s (an inherent method wins over the traits' `codec`): finite
// values are JSON numbers as before, NaN and the infinities the strings `"NaN"`,
// `"Infinity"` and `"-Infinity"`, and two NaNs are the same value.

/// The codec of `f32`, `f64` and their `Option`s.
#[derive(Clone, Copy)]
pub struct Float;

/// A float type [`Float`] stores.
pub trait FloatValue: Copy + PartialEq + Serialize + DeserializeOwned {
    /// The value as `f64` (exact for `f32`).
    fn widen(self) -> f64;
    /// The `f64` as this type (exact for what `widen` gave).
    fn narrow(v: f64) -> Self;
}

impl FloatValue for f64 {
    fn widen(self) -> f64 {
        self
    }
    fn narrow(v: f64) -> Self {
        v
    }
}

impl FloatValue for f32 {
    fn widen(self) -> f64 {
        f64::from(self)
    }
    fn narrow(v: f64) -> Self {
        v as f32
    }
}

fn float_to_json<F: FloatValue>(v: F) -> serde_json::Result<Value> {
    let wide = v.widen();
    Ok(if wide.is_nan() {
        Value::from("NaN")
    } else if wide == f64::INFINITY {
        Value::from("Infinity")
    } else if wide == f64::NEG_INFINITY {
        Value::from("-Infinity")
    } else {
        serde_json::to_value(v)?
    })
}

fn float_from_json<F: FloatValue>(v: &Value) -> serde_json::Result<F> {
    match v.as_str() {
        Some("NaN") => Ok(F::narrow(f64::NAN)),
        Some("Infinity") => Ok(F::narrow(f64::INFINITY)),
        Some("-Infinity") => Ok(F::narrow(f64::NEG_INFINITY)),
        _ => F::deserialize(v),
    }
}

fn same_float<F: FloatValue>(a: F, b: F) -> bool {
    a == b || (a.widen().is_nan() && b.widen().is_nan())
}

impl<F: FloatValue> Codec<F> for Float {
    fn encode(&self, v: &F) -> serde_json::Result<Value> {
        float_to_json(*v)
    }
    fn decode(&self, v: &Value) -> serde_json::Result<F> {
        float_from_json(v)
    }
    fn same(&self, a: &F, b: &F) -> bool {
        same_float(*a, *b)
    }
}

impl<F: FloatValue> Codec<Option<F>> for Float {
    fn encode(&self, v: &Option<F>) -> serde_json::Result<Value> {
        v.map_or(Ok(Value::Null), float_to_json)
    }
    fn decode(&self, v: &Value) -> serde_json::Result<Option<F>> {
        match v {
            Value::Null => Ok(None),
            v => float_from_json(v).map(Some),
        }
    }
    fn same(&self, a: &Option<F>, b: &Option<F>) -> bool {
        match (a, b) {
            (Some(a), Some(b)) => same_float(*a, *b),
            (a, b) => a.is_none() && b.is_none(),
        }
    }
}

macro_rules! float_probe {
    ($($t:ty),*) => {$(
        impl CodecOf<$t> {
            /// [`Float`], chosen over the traits' `codec` (an inherent method wins).
            pub fn codec(&self) -> Float {
                Float
            }
        }
    )*};
}

float_probe!(f32, f64, Option<f32>, Option<f64>);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::needless_borrow)] // the borrow is what the generated code writes
    fn floats_pick_the_float_codec() {
        let codec = (&CodecOf::<f64>::new()).codec();
        assert_eq!(codec.encode(&f64::NAN).unwrap(), Value::from("NaN"));
        assert_eq!(
            codec.encode(&f64::NEG_INFINITY).unwrap(),
            Value::from("-Infinity")
        );
        assert_eq!(codec.encode(&1.5).unwrap(), serde_json::json!(1.5));
        assert!(codec.same(&f64::NAN, &f64::NAN));
        assert!(!codec.same(&f64::NAN, &1.0));
        let codec = (&CodecOf::<Option<f32>>::new()).codec();
        assert_eq!(
            Codec::<Option<f32>>::encode(&codec, &None).unwrap(),
            Value::Null
        );
        assert_eq!(
            codec.encode(&Some(f32::INFINITY)).unwrap(),
            Value::from("Infinity")
        );
        let back: Option<f32> = codec.decode(&Value::from("Infinity")).unwrap();
        assert_eq!(back, Some(f32::INFINITY));
    }
}
