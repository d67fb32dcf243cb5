//! Entities the tests audit.

pub mod note;
pub mod post;
pub mod sample;
pub mod translation;
