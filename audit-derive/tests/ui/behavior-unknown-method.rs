use audit_seaorm::Audited;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
#[sea_orm(table_name = "posts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub title: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

#[audit_seaorm::behavior]
#[async_trait::async_trait]
impl ActiveModelBehavior for ActiveModel {
    async fn before_update<C: ConnectionTrait>(self, _db: &C) -> Result<Self, DbErr> {
        Ok(self)
    }
}

fn main() {}
