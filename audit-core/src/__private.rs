//! Paths the code `#[derive(Audited)]` generates names. Not public API: re-exports only,
//! each defined in the module it belongs to.

pub use crate::changes::{diff_field, diff_redacted};
pub use crate::codec::{
    AuditValue, Codec, CodecOf, NoCodec, Serde, ViaSerde, WithoutSerde, to_json as key_value,
};
pub use crate::snapshot::{
    DefaultOr, NoDefault, ViaDefault, check_snapshot_keys, field_from_snapshot, missing_key,
    snapshot_field,
};
