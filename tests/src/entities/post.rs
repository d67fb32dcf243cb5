//! A blog post: a redacted and a skipped field, a unique slug.

use audit_seaorm::Audited;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
#[sea_orm(table_name = "posts")]
#[audit(subject = "post")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub title: String,
    #[sea_orm(unique)]
    pub slug: String,
    #[audit(redact)]
    pub api_token: String,
    #[audit(skip)]
    pub view_count: i32,
    pub published_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

/// A new post with a secret token, no views, unpublished.
pub fn new(title: &str, slug: &str) -> ActiveModel {
    use sea_orm::Set;
    ActiveModel {
        title: Set(title.into()),
        slug: Set(slug.into()),
        api_token: Set("secret-1".into()),
        view_count: Set(0),
        published_at: Set(None),
        ..Default::default()
    }
}

/// The stored row, which must exist.
pub async fn reload(db: &sea_orm::DatabaseConnection, id: i32) -> Model {
    Entity::find_by_id(id)
        .one(db)
        .await
        .unwrap()
        .expect("the post exists")
}
