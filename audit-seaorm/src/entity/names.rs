//! The names of the audit tables, chosen once per program.

use std::sync::OnceLock;

use crate::{Error, Result};

/// The names of the audit tables (`activity_log`, `versions` and `audit_baselines` unless
/// [`set_table_names`] chose others; the dashboard's hourly counts are in
/// `{activity_log}_hourly`, the hash chains in `{activity_log}_seals`, `_chains`,
/// `_seal_runs` and `_seal_gaps`).
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
    /// The ids the seal runs read through and those they left unsealed:
    /// `{activity_log}_seal_gaps`.
    pub seal_gaps: String,
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
            seal_gaps: format!("{activity_log}_seal_gaps"),
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
/// other names are in use already, or when a name is not 1–44 characters of
/// `[A-Za-z0-9_]` (the index names add up to 19 characters to it, and PostgreSQL keeps
/// 63 of an identifier, MySQL 64); the derived names (`hourly`, `seals`, `chains`,
/// `seal_runs`, `seal_gaps`) are held to the same characters and to what their own
/// indexes leave.
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
    // Each name with the longest it may be: 63 less its longest index name's additions
    // (`idx_{name}_request_prefix`, `uq_{name}_subject_version`, `idx_{name}_marker`,
    // `uq_{name}_row`).
    for (name, longest) in [
        (&names.activity_log, 44),
        (&names.versions, 44),
        (&names.baselines, 63),
        (&names.hourly, 52),
        (&names.seals, 56),
        (&names.chains, 63),
        (&names.seal_runs, 63),
        (&names.seal_gaps, 63),
    ] {
        let plain = !name.is_empty()
            && name.len() <= longest
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !plain {
            return Err(Error::InvalidTableName {
                name: name.clone(),
                longest,
            });
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Only refusals: a name accepted here would fix this test process's names.
    #[test]
    fn every_name_is_checked_and_no_index_name_passes_63() {
        let quoted = TableNames {
            chains: "x\"y".into(),
            ..TableNames::default()
        };
        assert!(matches!(
            set_table_names(quoted),
            Err(Error::InvalidTableName { longest: 63, .. })
        ));
        let long = "a".repeat(45);
        assert!(set_table_names(TableNames::new(long.clone(), "v", "b")).is_err());
        assert!(set_table_names(TableNames::new("l", long, "b")).is_err());
        // 44 is the most: `uq_{44}_subject_version` is 63 characters.
        assert_eq!(format!("uq_{}_subject_version", "a".repeat(44)).len(), 63);
        assert_eq!(format!("idx_{}_request_prefix", "a".repeat(44)).len(), 63);
        let derived = TableNames {
            hourly: "h".repeat(53),
            ..TableNames::default()
        };
        assert!(set_table_names(derived).is_err());
    }
}
