//! Two audited models that would write one subject type: the same table name in two
//! schemas (the default subject type is qualified by the schema), or the same explicit
//! `#[audit(subject)]`. The program refuses to merge their trails. (Its own binary: the
//! registry is the whole program's, and these models collide on purpose.)

use audit_seaorm::{Audited, Error, install};
use sea_orm::{ActiveModelTrait, ConnectionTrait, Database, DatabaseConnection, Schema, Set};

/// An audited entity in module `$module`: `$table`, with the given extra `sea_orm` and
/// `audit` attributes.
macro_rules! entity {
    ($module:ident, $table:literal $(, schema = $schema:literal)? $(, subject = $subject:literal)?) => {
        mod $module {
            use audit_seaorm::Audited;
            use sea_orm::entity::prelude::*;

            #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
            #[sea_orm(table_name = $table $(, schema_name = $schema)?)]
            $(#[audit(subject = $subject)])?
            pub struct Model {
                #[sea_orm(primary_key)]
                pub id: i32,
                pub name: String,
            }

            #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
            pub enum Relation {}
        }
    };
}

// One table name in two schemas: two subject types.
entity!(billing_invoice, "invoices", schema = "billing");
entity!(archive_invoice, "invoices", schema = "archive");
// One explicit subject type for two tables: a collision.
entity!(first, "first_things", subject = "thing");
entity!(second, "second_things", subject = "thing");

#[test]
fn the_schema_qualifies_the_default_subject_type() {
    assert_eq!(billing_invoice::Model::SUBJECT_TYPE, "billing.invoices");
    assert_eq!(archive_invoice::Model::SUBJECT_TYPE, "archive.invoices");
}

async fn sqlite_with_things() -> DatabaseConnection {
    let db = Database::connect(audit_tests::connect_options("sqlite::memory:"))
        .await
        .unwrap();
    let schema = Schema::new(db.get_database_backend());
    db.execute(&schema.create_table_from_entity(first::Entity))
        .await
        .unwrap();
    db.execute(&schema.create_table_from_entity(second::Entity))
        .await
        .unwrap();
    db
}

#[tokio::test]
async fn install_names_both_models() {
    let db = sqlite_with_things().await;
    match install(&db).await {
        Err(Error::SubjectCollision {
            subject_type: "thing",
            models,
        }) => assert_eq!(
            models,
            ["collisions::first::Model", "collisions::second::Model"]
        ),
        other => panic!("expected SubjectCollision, got {other:?}"),
    }
    let message = install(&db).await.unwrap_err().to_string();
    assert!(
        message.contains("`collisions::first::Model` and `collisions::second::Model`"),
        "{message}"
    );
}

#[tokio::test]
async fn writes_of_colliding_models_are_refused() {
    let db = sqlite_with_things().await;
    let err = first::ActiveModel {
        name: Set("a".into()),
        ..Default::default()
    }
    .insert(&db)
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("all write subject type `thing`"),
        "{err}"
    );
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT id FROM first_things",
        ))
        .await
        .unwrap();
    assert!(rows.is_empty(), "the refused write wrote nothing");
    // `backfill` refuses as the hooks do.
    match audit_seaorm::backfill::<first::Entity, _>(&db).await {
        Err(Error::SubjectCollision { .. }) => {}
        other => panic!("expected SubjectCollision, got {other:?}"),
    }
}
