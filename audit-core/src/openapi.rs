//! OpenAPI schemas (feature `openapi`) that cannot be derived: [`Action`] serializes as
//! its word, not as an enum of variants.

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

use crate::Action;

impl PartialSchema for Action {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "What happened, as its word: `created`, `updated`, `deleted`, `restored`, … \
                 or one the application logs itself",
            ))
            .examples(["updated"])
            .into()
    }
}

impl ToSchema for Action {}
