//! Entities written as sea-orm-cli (or SeaORM's own test entities) write them, with
//! `#[derive(Audited)]` added and their `impl ActiveModelBehavior` kept under
//! `#[audit_seaorm::behavior]`: the shapes real code brings to the derive.
//!
//! Tables are named `compat_*` so they stay clear of the other test entities.

pub mod baker;
pub mod bakery;
pub mod cake;
pub mod cakes_bakers;
pub mod camel;
pub mod dense;
pub mod dense_note;
pub mod expanded;
pub mod flavor;
pub mod keyed;
pub mod misordered;
pub mod mood;
pub mod pantry;
pub mod reading;
pub mod sea_orm_active_enums;
pub mod underscored;
pub mod variants;
