//! An entity as sea-orm-cli writes it, with hooks of its own: audited by adding the derive
//! and `#[audit_seaorm::behavior]`, nothing else.

use audit_seaorm::Audited;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq, Audited)]
#[sea_orm(table_name = "cli_cake")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub name: String,
    pub slug: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

#[audit_seaorm::behavior]
#[async_trait::async_trait]
impl ActiveModelBehavior for ActiveModel {
    async fn before_save<C>(mut self, _db: &C, _insert: bool) -> Result<Self, DbErr>
    where
        C: ConnectionTrait,
    {
        if let sea_orm::ActiveValue::Set(name) = &self.name {
            self.slug = sea_orm::Set(name.to_lowercase().replace(' ', "-"));
        }
        Ok(self)
    }

    async fn after_save<C>(model: Model, _db: &C, _insert: bool) -> Result<Model, DbErr>
    where
        C: ConnectionTrait,
    {
        if model.name == "fail after save" {
            return Err(DbErr::Custom("after_save of the application failed".into()));
        }
        Ok(model)
    }
}
