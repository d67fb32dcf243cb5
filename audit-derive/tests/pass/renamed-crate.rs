//! `#[audit(crate = "…")]` and `#[audit_seaorm::behavior(crate = "…")]`: the generated code
//! names the runtime by the path given, as when `Cargo.toml` renames the dependency
//! (`audit = { package = "audit-seaorm", … }`). Here the rename is an `extern crate … as`.
extern crate audit_seaorm as audit;

mod post {
    use audit::Audited;
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(table_name = "posts")]
    #[audit(crate = "::audit")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub title: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    #[audit::behavior(crate = "audit")]
    impl ActiveModelBehavior for ActiveModel {}
}

fn main() {
    use audit::Audited;
    let m = post::Model { id: 3, title: "Hi".into() };
    assert_eq!(m.subject_id().unwrap(), "3");
    assert_eq!(<post::Model as Audited>::SUBJECT_TYPE, "posts");
}
