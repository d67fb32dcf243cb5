//! The blog's audited entities.

/// Authors: their accounts, with a password hash whose changes are logged without values.
pub mod author {
    use audit_seaorm::Audited;
    use sea_orm::entity::prelude::*;

    /// An author.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(table_name = "authors")]
    #[audit(subject = "author")]
    pub struct Model {
        /// The key.
        #[sea_orm(primary_key)]
        pub id: i32,
        /// The name shown on posts.
        pub name: String,
        /// The change is logged, the hash never is.
        #[audit(redact)]
        pub password_hash: String,
    }

    /// No relations are declared.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// Posts, with a view counter that is not audited.
pub mod post {
    use audit_seaorm::Audited;
    use sea_orm::entity::prelude::*;

    /// A post.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(table_name = "posts")]
    #[audit(subject = "post")]
    pub struct Model {
        /// The key.
        #[sea_orm(primary_key)]
        pub id: i32,
        /// The author's id.
        pub author_id: i32,
        /// The title.
        pub title: String,
        /// The text.
        #[sea_orm(column_type = "Text")]
        pub body: String,
        /// Whether readers see it.
        pub published: bool,
        /// Bumped on every read: not worth a log entry, and a restore leaves it alone.
        #[audit(skip)]
        pub view_count: i32,
    }

    /// No relations are declared.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// Comments on posts.
pub mod comment {
    use audit_seaorm::Audited;
    use sea_orm::entity::prelude::*;

    /// A comment.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(table_name = "comments")]
    #[audit(subject = "comment")]
    pub struct Model {
        /// The key.
        #[sea_orm(primary_key)]
        pub id: i32,
        /// The post commented on.
        pub post_id: i32,
        /// Who wrote it.
        pub author: String,
        /// The text.
        pub body: String,
    }

    /// No relations are declared.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}
