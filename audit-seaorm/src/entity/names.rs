//! The names of the audit tables, chosen once per program.

use std::sync::OnceLock;

use crate::{Error, Result};

/// The names of the audit tables (`activity_log`, `versions` and `audit_baselines` unless
/// [`set_table_names`] chose others; the dashboard's hourly counts are in
/// `{activity_log}_hourly`, the hash chains in `{activity_log}_seals`, `_chains` and
/// `_seal_runs`).
///
/// ```
/// use audit_seaorm::entity::TableNames;
/// let names = TableNames::prefixed("acme_");
/// assert_eq!(names.activity_log, "acme_activity_log");
/// assert_eq!(names.baselines, "acme_baselines");
/// assert_eq!(names.hourly, "acme_activity_log_hourly");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TableNames {
    /// The activity log.
    pub activity_log: String,
    /// The versions.
    pub versions: String,
    /// The entities whose every row has a version.
    pub baselines: String,
    /// The activity log's hourly counts: `{activity_log}_hourly`.
    pub hourly: String,
    /// The hash chains' links: `{activity_log}_seals`.
    pub seals: String,
    /// The hash chains' heads: `{activity_log}_chains`.
    pub chains: String,
    /// The seal runs and signed checkpoints: `{activity_log}_seal_runs`.
    pub seal_runs: String,
}

impl Default for TableNames {
    fn default() -> Self {
        Self::new("activity_log", "versions", "audit_baselines")
    }
}

impl TableNames {
    /// Names of your own for the three tables.
    pub fn new(
        activity_log: impl Into<String>,
        versions: impl Into<String>,
        baselines: impl Into<String>,
    ) -> Self {
        let activity_log = activity_log.into();
        Self {
            hourly: format!("{activity_log}_hourly"),
            seals: format!("{activity_log}_seals"),
            chains: format!("{activity_log}_chains"),
            seal_runs: format!("{activity_log}_seal_runs"),
            activity_log,
            versions: versions.into(),
            baselines: baselines.into(),
        }
    }

    /// `{prefix}activity_log`, `{prefix}versions`, `{prefix}baselines`.
    pub fn prefixed(prefix: &str) -> Self {
        Self::new(
            format!("{prefix}activity_log"),
            format!("{prefix}versions"),
            format!("{prefix}baselines"),
        )
    }
}

static NAMES: OnceLock<TableNames> = OnceLock::new();

/// Chooses the audit tables' names for this program: call it once, before `install` and
/// before the first audited write (the names are fixed at their first use). Fails when
/// other names are in use already, or when a name is not 1–48 characters of
/// `[A-Za-z0-9_]` (the index names add up to 21 characters to it).
///
/// ```
/// use audit_seaorm::entity::{TableNames, set_table_names, table_names};
/// set_table_names(TableNames::prefixed("acme_")).unwrap();
/// assert_eq!(table_names().versions, "acme_versions");
/// // The same names again are fine; others are refused.
/// assert!(set_table_names(TableNames::prefixed("acme_")).is_ok());
/// assert!(set_table_names(TableNames::default()).is_err());
/// ```
pub fn set_table_names(names: TableNames) -> Result<()> {
    for name in [&names.activity_log, &names.versions, &names.baselines] {
        let plain = !name.is_empty()
            && name.len() <= 48
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !plain {
            return Err(Error::InvalidTableName(name.clone()));
        }
    }
    let fixed = NAMES.get_or_init(|| names.clone());
    if *fixed == names {
        Ok(())
    } else {
        Err(Error::TableNamesFixed {
            in_use: Box::new(fixed.clone()),
        })
    }
}

/// The audit tables' names in use (the default ones unless [`set_table_names`] came first).
pub fn table_names() -> &'static TableNames {
    NAMES.get_or_init(TableNames::default)
}
