//! A user-defined `new()` is kept; `use audit_seaorm::behavior` works as well as the path.
#![deny(warnings)]
use audit_seaorm::{Audited, behavior};
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

#[behavior]
impl ActiveModelBehavior for ActiveModel {
    /// Every new post starts as a draft.
    fn new() -> Self {
        Self {
            status: sea_orm::Set("draft".to_owned()),
            ..ActiveModelTrait::default()
        }
    }
}

fn main() {
    let active = ActiveModel::new();
    assert_eq!(active.status, sea_orm::Set("draft".to_owned()));
    assert!(active.title.is_not_set());
    // `new` also backs `ActiveModelBehavior::new` where SeaORM calls it.
    let active = <ActiveModel as ActiveModelBehavior>::new();
    assert_eq!(active.status, sea_orm::Set("draft".to_owned()));
}
