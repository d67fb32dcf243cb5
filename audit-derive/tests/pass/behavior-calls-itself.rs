//! A hook body may call the impl's own items by path (`Self::new()`, `ActiveModel::new()`,
//! `self.before_save(..)`'s siblings) as it could without `#[audit_seaorm::behavior]`.
#![deny(warnings)]
use audit_seaorm::Audited;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
#[sea_orm(table_name = "posts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub title: String,
    pub status: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

#[audit_seaorm::behavior]
#[async_trait::async_trait]
impl ActiveModelBehavior for ActiveModel {
    fn new() -> Self {
        Self {
            status: sea_orm::Set("draft".to_owned()),
            ..ActiveModelTrait::default()
        }
    }

    async fn before_save<C>(mut self, _db: &C, insert: bool) -> Result<Self, DbErr>
    where
        C: ConnectionTrait,
    {
        if insert && self.status.is_not_set() {
            self.status = Self::new().status;
        }
        if self.title.is_not_set() {
            self.title = ActiveModel::new().title;
        }
        Ok(self)
    }
}

fn main() {
    let active = ActiveModel::new();
    assert_eq!(active.status, sea_orm::Set("draft".to_owned()));
}
