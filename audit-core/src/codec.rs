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
