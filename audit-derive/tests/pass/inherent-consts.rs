//! A model with inherent items named like the trait's (`FIELDS`, `SUBJECT_TYPE`): the
//! generated code names the trait's, never these.
use audit_seaorm::Audited;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Audited)]
#[sea_orm(table_name = "cakes")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub name: String,
}

impl Model {
    /// The fields an API shows.
    pub const FIELDS: &'static [&'static str] = &["id", "name"];
    /// Something else entirely.
    pub const SUBJECT_TYPE: u8 = 7;
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

fn main() {
    assert_eq!(<Model as Audited>::SUBJECT_TYPE, "cakes");
    assert_eq!(Model::FIELDS.len(), 2);
    assert_eq!(Model::SUBJECT_TYPE, 7);
}
