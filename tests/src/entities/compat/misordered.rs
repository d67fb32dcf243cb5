//! The expanded format with a composite key whose fields come in another order than its
//! `enum PrimaryKey`: the hooks refuse to write it rather than name records two ways.

use audit_seaorm::Audited;
use sea_orm::entity::prelude::*;

#[derive(Copy, Clone, Default, Debug, DeriveEntity)]
pub struct Entity;

impl EntityName for Entity {
    fn table_name(&self) -> &'static str {
        "compat_misordered"
    }
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveModel, DeriveActiveModel, Audited)]
#[audit(subject = "compat_misordered")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub lang: String,
    #[sea_orm(primary_key)]
    pub id: i32,
    pub body: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveColumn)]
pub enum Column {
    Lang,
    Id,
    Body,
}

#[derive(Copy, Clone, Debug, EnumIter, DerivePrimaryKey)]
pub enum PrimaryKey {
    Id,
    Lang,
}

impl PrimaryKeyTrait for PrimaryKey {
    type ValueType = (i32, String);

    fn auto_increment() -> bool {
        false
    }
}

#[derive(Copy, Clone, Debug, EnumIter)]
pub enum Relation {}

impl ColumnTrait for Column {
    type EntityName = Entity;

    fn def(&self) -> ColumnDef {
        match self {
            Self::Lang => ColumnType::String(StringLen::N(16)).def(),
            Self::Id => ColumnType::Integer.def(),
            Self::Body => ColumnType::String(StringLen::None).def(),
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
