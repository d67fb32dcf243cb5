//! The expanded format (no `DeriveEntityModel`), as in SeaORM's `tests_cfg/cake_expanded.rs`.
//! The derive cannot read `impl EntityName` or `enum PrimaryKey`, so the model names its
//! subject and marks its key field (`DeriveModel` ignores `#[sea_orm(primary_key)]`).
//! `flavour`'s column is renamed on `enum Column` only, as the expanded format allows.

use audit_seaorm::Audited;
use sea_orm::entity::prelude::*;

#[derive(Copy, Clone, Default, Debug, DeriveEntity)]
pub struct Entity;

impl EntityName for Entity {
    fn table_name(&self) -> &'static str {
        "compat_expanded"
    }
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveModel, DeriveActiveModel, Audited)]
#[audit(subject = "compat_expanded")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub name: String,
    pub flavour: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveColumn)]
pub enum Column {
    Id,
    Name,
    #[sea_orm(column_name = "cake_flavour")]
    Flavour,
}

#[derive(Copy, Clone, Debug, EnumIter, DerivePrimaryKey)]
pub enum PrimaryKey {
    Id,
}

impl PrimaryKeyTrait for PrimaryKey {
    type ValueType = i32;

    fn auto_increment() -> bool {
        true
    }
}

#[derive(Copy, Clone, Debug, EnumIter)]
pub enum Relation {}

impl ColumnTrait for Column {
    type EntityName = Entity;

    fn def(&self) -> ColumnDef {
        match self {
            Self::Id => ColumnType::Integer.def(),
            Self::Name => ColumnType::String(StringLen::None).def(),
            Self::Flavour => ColumnType::String(StringLen::None).def(),
        }
    }
}

impl RelationTrait for Relation {
    fn def(&self) -> RelationDef {
        panic!("No RelationDef")
    }
}

#[audit_seaorm::behavior]
impl ActiveModelBehavior for ActiveModel {}
