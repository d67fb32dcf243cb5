//! Which audited models a program has, by subject type: two models that would write one
//! subject type (the same `table_name` in two schemas, or the same `#[audit(subject)]`)
//! would merge their trails, so the program refuses their writes and `install` fails,
//! naming both.
//!
//! `#[derive(Audited)]` registers every model at link time (`inventory`), so the check
//! sees the whole program before its first write, whatever runs first.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use crate::{Error, Result};

/// One audited model of the program. Made by `#[derive(Audited)]`.
#[derive(Debug)]
pub struct Registration {
    /// The subject type it writes.
    pub subject_type: &'static str,
    /// Its path (`crate::post::Model`).
    pub model: &'static str,
    /// Its fields ([`Audited::FIELDS`](audit_core::Audited::FIELDS)).
    pub fields: &'static [audit_core::Field],
}

inventory::collect!(Registration);

/// Every subject type a model of the program writes, sorted.
#[cfg(feature = "axum")]
pub(crate) fn subject_types() -> &'static [&'static str] {
    static TYPES: OnceLock<Vec<&'static str>> = OnceLock::new();
    TYPES.get_or_init(|| {
        let mut types: Vec<&'static str> = inventory::iter::<Registration>
            .into_iter()
            .map(|r| r.subject_type)
            .collect();
        types.sort_unstable();
        types.dedup();
        types
    })
}

/// The fields of the model that writes `subject_type`, when the program has one.
pub(crate) fn fields_of(subject_type: &str) -> Option<&'static [audit_core::Field]> {
    inventory::iter::<Registration>
        .into_iter()
        .find(|r| r.subject_type == subject_type)
        .map(|r| r.fields)
}

/// The subject types that more than one model writes, with those models.
fn collisions() -> &'static BTreeMap<&'static str, Vec<&'static str>> {
    static COLLISIONS: OnceLock<BTreeMap<&'static str, Vec<&'static str>>> = OnceLock::new();
    COLLISIONS.get_or_init(|| {
        let mut by_subject: BTreeMap<&'static str, Vec<&'static str>> = BTreeMap::new();
        for r in inventory::iter::<Registration> {
            let models = by_subject.entry(r.subject_type).or_default();
            if !models.contains(&r.model) {
                models.push(r.model);
            }
        }
        by_subject.retain(|_, models| models.len() > 1);
        for models in by_subject.values_mut() {
            models.sort_unstable();
        }
        by_subject
    })
}

/// Fails when another model of the program writes `subject_type` too.
pub(crate) fn check(subject_type: &'static str) -> Result<()> {
    match collisions().get(subject_type) {
        None => Ok(()),
        Some(models) => Err(Error::SubjectCollision {
            subject_type,
            models: models.clone(),
        }),
    }
}

/// Fails when any two models of the program write one subject type.
pub(crate) fn check_all() -> Result<()> {
    match collisions().iter().next() {
        None => Ok(()),
        Some((subject_type, models)) => Err(Error::SubjectCollision {
            subject_type,
            models: models.clone(),
        }),
    }
}
