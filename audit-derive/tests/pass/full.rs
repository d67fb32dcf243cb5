//! Every attribute in use, restore through the generated impls.
use audit_seaorm::{Audited, AuditedModel};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
#[sea_orm(table_name = "posts")]
#[audit(subject = "post")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    #[sea_orm(column_name = "headline")]
    pub title: String,
    #[audit(redact)]
    pub api_token: String,
    #[audit(skip)]
    pub view_count: i32,
    #[sea_orm(ignore)]
    pub cached: Option<String>,
    pub r#type: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

fn main() {
    assert_eq!(<Model as Audited>::SUBJECT_TYPE, "post");
    let fields: Vec<_> = Model::FIELDS.iter().map(|f| (f.name, f.column)).collect();
    assert_eq!(fields[1], ("title", "headline"));
    assert_eq!(fields[5], ("type", "type"));
    let m = Model { id: 1, title: "t".into(), api_token: "s".into(), view_count: 3, cached: None, r#type: "x".into() };
    let snap = m.snapshot().unwrap();
    assert_eq!(snap.len(), 3);
    let key = <Model as AuditedModel>::key_from_snapshot(&snap).unwrap();
    assert_eq!(key, vec![sea_orm::Value::Int(Some(1))]);
}
