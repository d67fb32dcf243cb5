//! Entities the tests audit.

pub mod cake;
pub mod cli_cake;
pub mod compat;
pub mod label;
pub mod legacy;
pub mod note;
pub mod post;
pub mod sample;
pub mod translation;
