//! `#[audit(manual_hooks)]`: the entity keeps its own `ActiveModelBehavior` and calls
//! the audit hooks from it.

use audit_seaorm::Audited;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
#[sea_orm(table_name = "notes")]
#[audit(manual_hooks)]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub body: String,
    /// Set by the entity's own hook: the upper-cased body.
    pub shout: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

#[async_trait::async_trait]
impl ActiveModelBehavior for ActiveModel {
    async fn before_save<C: ConnectionTrait>(
        mut self,
        db: &C,
        insert: bool,
    ) -> Result<Self, DbErr> {
        if let sea_orm::ActiveValue::Set(body) = &self.body {
            self.shout = sea_orm::ActiveValue::Set(body.to_uppercase());
        }
        audit_seaorm::hooks::before_save(self, db, insert).await
    }

    async fn after_save<C: ConnectionTrait>(
        model: Model,
        db: &C,
        insert: bool,
    ) -> Result<Model, DbErr> {
        audit_seaorm::hooks::after_save(model, db, insert).await
    }

    async fn before_delete<C: ConnectionTrait>(self, db: &C) -> Result<Self, DbErr> {
        audit_seaorm::hooks::before_delete(self, db).await
    }

    async fn after_delete<C: ConnectionTrait>(self, db: &C) -> Result<Self, DbErr> {
        audit_seaorm::hooks::after_delete(self, db).await
    }
}
