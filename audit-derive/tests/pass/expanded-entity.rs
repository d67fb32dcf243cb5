//! The expanded entity format (no `DeriveEntityModel`), as in SeaORM's `cake_expanded.rs`:
//! `#[audit(subject)]` and `#[sea_orm(primary_key)]` on the model are all it needs.
use audit_seaorm::Audited;
use sea_orm::entity::prelude::*;

#[derive(Copy, Clone, Default, Debug, DeriveEntity)]
pub struct Entity;

impl EntityName for Entity {
    fn table_name(&self) -> &'static str {
        "cake"
    }
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveModel, DeriveActiveModel, Audited)]
#[audit(subject = "cake")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub name: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveColumn)]
pub enum Column {
    Id,
    Name,
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

fn main() {
    use audit_seaorm::AuditedModel;
    assert_eq!(<Model as Audited>::SUBJECT_TYPE, "cake");
    let m = Model { id: 7, name: "Cheese".into() };
    assert_eq!(m.subject_id().unwrap(), "7");
    let data = m.snapshot().unwrap();
    assert_eq!((data.len(), &data["id"], &data["name"]), (2, &7.into(), &"Cheese".into()));
    assert_eq!(Model::key_from_snapshot(&data).unwrap(), vec![sea_orm::Value::from(7)]);
}
