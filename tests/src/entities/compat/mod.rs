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

/// A baker, a cake and the junction row between them (which refers to both), written
/// through the hooks: the cake named `cake`, its serial `serial`.
pub async fn baker_and_cake(
    db: &sea_orm::DatabaseConnection,
    cake: &str,
    serial: u128,
) -> (baker::Model, self::cake::Model, cakes_bakers::Model) {
    use sea_orm::{ActiveModelTrait, Set};
    let baker = baker::ActiveModel {
        name: Set(format!("{cake}'s baker")),
        slug: Set(format!("baker-{serial}")),
        contact_details: Set(serde_json::json!({})),
        bakery_id: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    let made = self::cake::ActiveModel {
        name: Set(cake.into()),
        price: Set(rust_decimal::Decimal::new(350, 2)),
        bakery_id: Set(None),
        gluten_free: Set(false),
        serial: Set(uuid::Uuid::from_u128(serial)),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    let link = cakes_bakers::ActiveModel {
        cake_id: Set(made.id),
        baker_id: Set(baker.id),
    }
    .insert(db)
    .await
    .unwrap();
    (baker, made, link)
}
