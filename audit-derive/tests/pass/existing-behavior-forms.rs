//! The forms an existing impl comes in: `#[async_trait]` imported, no `#[async_trait]` at
//! all, signatures spelled with `Self::Entity`, inline bounds or `where`, attributes and
//! `cfg` on the impl, imports of `ActiveModelBehavior` and `async_trait` that must stay
//! used (the test build denies warnings); next to an entity without hooks of its own.
#![deny(warnings)]
mod imported_async_trait {
    use async_trait::async_trait;
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, audit_seaorm::Audited)]
    #[sea_orm(table_name = "tags")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub name: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    #[audit_seaorm::behavior]
    #[async_trait]
    #[allow(clippy::needless_return)]
    impl ActiveModelBehavior for ActiveModel {
        async fn after_save<C>(
            model: <Self::Entity as EntityTrait>::Model,
            _db: &C,
            _insert: bool,
        ) -> Result<<Self::Entity as EntityTrait>::Model, DbErr>
        where
            C: ConnectionTrait,
        {
            return Ok(model);
        }
    }
}

mod native_async {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, audit_seaorm::Audited)]
    #[sea_orm(table_name = "notes")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub body: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    #[cfg(all())]
    #[audit_seaorm::behavior]
    impl sea_orm::ActiveModelBehavior for ActiveModel {
        async fn before_save<C: ConnectionTrait>(mut self, db: &C, insert: bool) -> Result<Self, DbErr> {
            let _ = (db, insert);
            if let sea_orm::ActiveValue::Set(body) = &self.body {
                self.body = sea_orm::Set(body.trim().to_owned());
            }
            Ok(self)
        }

        async fn before_delete<C: ConnectionTrait>(self, db: &C) -> Result<Self, DbErr> {
            // Uses the connection, as real hooks do.
            let _ = Entity::find_by_id(1).one(db).await?;
            Ok(self)
        }
    }
}

mod explicit_imports {
    use async_trait::async_trait;
    use sea_orm::ActiveModelBehavior;
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, audit_seaorm::Audited)]
    #[sea_orm(table_name = "authors")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub name: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    #[audit_seaorm::behavior]
    #[async_trait]
    impl ActiveModelBehavior for ActiveModel {
        async fn after_delete<C: ConnectionTrait>(self, _db: &C) -> Result<Self, DbErr> {
            Ok(self)
        }
    }
}

mod no_hooks {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, audit_seaorm::Audited)]
    #[sea_orm(table_name = "cakes")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

fn main() {
    use sea_orm::ActiveModelBehavior;
    let _ = imported_async_trait::ActiveModel::new();
    let _ = native_async::ActiveModel::new();
    let _ = explicit_imports::ActiveModel::new();
    let _ = no_hooks::ActiveModel::new();
}
