//! A baker, with hooks of its own: `before_save` fills the slug from the name, `after_save`
//! refuses one name (after the audit hook has logged the write).

use audit_seaorm::Audited;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq, Audited)]
#[sea_orm(table_name = "compat_baker")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub name: String,
    pub slug: String,
    pub contact_details: Json,
    pub bakery_id: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::bakery::Entity",
        from = "Column::BakeryId",
        to = "super::bakery::Column::Id",
        on_update = "Cascade",
        on_delete = "SetNull"
    )]
    Bakery,
    #[sea_orm(has_many = "super::cakes_bakers::Entity")]
    CakesBakers,
}

impl Related<super::bakery::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Bakery.def()
    }
}

impl Related<super::cakes_bakers::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::CakesBakers.def()
    }
}

impl Related<super::cake::Entity> for Entity {
    fn to() -> RelationDef {
        super::cakes_bakers::Relation::Cake.def()
    }
    fn via() -> Option<RelationDef> {
        Some(super::cakes_bakers::Relation::Baker.def().rev())
    }
}

/// How many times the baker's own `before_save` ran.
pub static BEFORE_SAVE_RUNS: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(0);

#[audit_seaorm::behavior]
#[async_trait::async_trait]
impl ActiveModelBehavior for ActiveModel {
    async fn before_save<C>(mut self, _db: &C, _insert: bool) -> Result<Self, DbErr>
    where
        C: ConnectionTrait,
    {
        BEFORE_SAVE_RUNS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if let sea_orm::ActiveValue::Set(name) = &self.name {
            self.slug = sea_orm::Set(name.to_lowercase().replace(' ', "-"));
        }
        Ok(self)
    }

    async fn after_save<C>(model: Model, _db: &C, _insert: bool) -> Result<Model, DbErr>
    where
        C: ConnectionTrait,
    {
        if model.name == "Nobody" {
            return Err(DbErr::Custom("no baker is called Nobody".into()));
        }
        Ok(model)
    }
}
