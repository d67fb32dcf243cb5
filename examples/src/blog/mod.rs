//! A small blog on axum + SeaORM with an audit trail.

pub mod entities;
pub mod routes;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, Schema};

use entities::{author, comment, post};

/// Creates the audit tables and the blog's own (if they do not exist).
pub async fn create_tables(
    db: &DatabaseConnection,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    audit_seaorm::install(db).await?;
    create_table(db, author::Entity).await?;
    create_table(db, post::Entity).await?;
    create_table(db, comment::Entity).await?;
    Ok(())
}

async fn create_table<E: EntityTrait>(db: &DatabaseConnection, entity: E) -> Result<(), DbErr> {
    let mut stmt = Schema::new(db.get_database_backend()).create_table_from_entity(entity);
    db.execute(stmt.if_not_exists()).await?;
    Ok(())
}
