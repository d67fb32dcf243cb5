//! The example blog app as a library: its entities, its routes (with the audit middleware
//! and API) and its tables, used by the `blog` binary and by the tests of its access
//! policy.

pub mod blog;

/// `message` (a connection error's text) with `url` and the credentials in it replaced,
/// so that a password never reaches a terminal, a log or a cron mail: drivers put the
/// whole URL in some of their errors (one they cannot parse, for a start).
///
/// ```
/// let url = "postgres://app:s3/cret@db.internal/app";
/// let message = format!("invalid URL {url}: bad port; user app:s3/cret");
/// let shown = audit_examples::without_credentials(&message, url);
/// assert!(!shown.contains("s3/cret"), "{shown}");
/// ```
pub fn without_credentials(message: &str, url: &str) -> String {
    let mut shown = message.replace(url, "<database url>");
    // `scheme://user:password@host…`: the password runs from the first `:` after the
    // scheme to the last `@` before any query (a password may hold `/`, `@` or `#`).
    if let Some((_, rest)) = url.split_once("://") {
        let rest = rest.split_once('?').map_or(rest, |(before, _)| before);
        if let Some((credentials, _)) = rest.rsplit_once('@')
            && let Some((_, password)) = credentials.split_once(':')
            && !password.is_empty()
        {
            shown = shown.replace(password, "<password>");
        }
    }
    shown
}
