//! Who did it, from where: the audit context of the current task.

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;

use serde_json::{Map, Value};

tokio::task_local! {
    static CURRENT: Arc<AuditContext>;
}

/// Attribution for the audit entries written while it is in scope: the causer, the
/// request's IP, User-Agent and id, and free properties merged into every entry.
///
/// The context lives in a [`tokio::task_local!`]: the HTTP middleware sets it for each
/// request, and [`AuditContext::scope`] sets it by hand (jobs, CLIs, tests). Tasks started
/// with `tokio::spawn` do **not** inherit it: wrap their future with [`propagate`], or
/// start them with [`spawn`].
///
/// ```
/// use audit_core::AuditContext;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// AuditContext::new()
///     .causer("42")
///     .ip([203, 0, 113, 9])
///     .scope(async {
///         let ctx = AuditContext::current().unwrap();
///         assert_eq!(ctx.causer_id.as_deref(), Some("42"));
///     })
///     .await;
/// assert!(AuditContext::current().is_none());
/// # }
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct AuditContext {
    /// The id of who causes the changes (a user, an API client, a job).
    pub causer_id: Option<String>,
    /// The client's IP address.
    pub ip: Option<IpAddr>,
    /// The client's User-Agent.
    pub user_agent: Option<String>,
    /// The request id that groups the entries of one request.
    pub request_id: Option<String>,
    /// Properties merged into the `properties` of every entry written in scope.
    pub properties: Map<String, Value>,
    /// When true, automatic auditing is switched off in scope (see [`without_auditing`]).
    pub disabled: bool,
    /// Strict mode in scope: `Some(true)` refuses audited writes outside a transaction,
    /// `Some(false)` allows them, `None` keeps what an outer scope says (off when no scope
    /// says anything). The HTTP layer sets it for every request with `AuditLayer::strict`.
    pub strict: Option<bool>,
}

impl AuditContext {
    /// An empty context: no causer, no request data.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the causer id.
    pub fn causer(mut self, causer_id: impl Into<String>) -> Self {
        self.causer_id = Some(causer_id.into());
        self
    }

    /// Sets the client IP.
    pub fn ip(mut self, ip: impl Into<IpAddr>) -> Self {
        self.ip = Some(ip.into());
        self
    }

    /// Sets the User-Agent.
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = Some(user_agent.into());
        self
    }

    /// Sets the request id.
    pub fn request_id(mut self, request_id: impl Into<String>) -> Self {
        self.request_id = Some(request_id.into());
        self
    }

    /// Adds a property merged into every entry written in scope.
    pub fn property(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.properties.insert(key.into(), value.into());
        self
    }

    /// Sets strict mode in scope (see the field [`AuditContext::strict`]).
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = Some(strict);
        self
    }

    /// Runs `fut` with this context in scope. It replaces the context of an outer scope,
    /// except that auditing switched off outside ([`without_auditing`]) stays off, and an
    /// outer strict-mode override holds unless this context sets its own.
    pub async fn scope<F: Future>(mut self, fut: F) -> F::Output {
        if let Some(outer) = Self::current() {
            self.disabled |= outer.disabled;
            self.strict = self.strict.or(outer.strict);
        }
        CURRENT.scope(Arc::new(self), fut).await
    }

    /// The context in scope, if any.
    pub fn current() -> Option<Arc<AuditContext>> {
        CURRENT.try_with(Arc::clone).ok()
    }

    /// Calls `f` with the context in scope (without cloning it).
    pub fn with_current<R>(f: impl FnOnce(Option<&AuditContext>) -> R) -> R {
        let mut f = Some(f);
        match CURRENT.try_with(|ctx| (f.take().expect("called once"))(Some(ctx))) {
            Ok(r) => r,
            Err(_) => (f.take().expect("not called yet"))(None),
        }
    }

    /// Whether strict mode is on in the current scope: audited writes outside a transaction
    /// are refused.
    pub fn strict_mode() -> bool {
        Self::with_current(|ctx| ctx.and_then(|c| c.strict)).unwrap_or(false)
    }

    /// Whether automatic auditing is switched off in the current scope.
    pub fn auditing_disabled() -> bool {
        Self::with_current(|ctx| ctx.is_some_and(|c| c.disabled))
    }
}

/// Wraps `fut` so that it runs with the audit context that is in scope now, wherever it is
/// polled later: use it for futures handed to `tokio::spawn` or to other executors.
pub fn propagate<F: Future>(fut: F) -> impl Future<Output = F::Output> {
    let ctx = AuditContext::current();
    async move {
        match ctx {
            Some(ctx) => CURRENT.scope(ctx, fut).await,
            None => fut.await,
        }
    }
}

/// `tokio::spawn` that carries the current audit context into the new task.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use audit_core::{spawn, AuditContext};
/// let causer = AuditContext::new()
///     .causer("7")
///     .scope(async { spawn(async { AuditContext::current().unwrap().causer_id.clone() }).await })
///     .await
///     .unwrap();
/// assert_eq!(causer.as_deref(), Some("7"));
/// # }
/// ```
pub fn spawn<F>(fut: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(propagate(fut))
}

/// Runs `fut` with automatic auditing switched off (bulk imports, backfills, fixtures).
/// The rest of the current context stays in scope for explicit log calls.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use audit_core::{without_auditing, AuditContext};
/// assert!(without_auditing(async { AuditContext::auditing_disabled() }).await);
/// assert!(!AuditContext::auditing_disabled());
/// # }
/// ```
pub async fn without_auditing<F: Future>(fut: F) -> F::Output {
    let mut ctx = AuditContext::current()
        .map(|c| (*c).clone())
        .unwrap_or_default();
    ctx.disabled = true;
    ctx.scope(fut).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn spawned_task_does_not_inherit_without_propagate() {
        let seen = AuditContext::new()
            .causer("1")
            .scope(async {
                tokio::spawn(async { AuditContext::current() })
                    .await
                    .unwrap()
            })
            .await;
        assert!(seen.is_none());
    }

    #[tokio::test]
    async fn nested_scope_wins_and_restores_outer() {
        AuditContext::new()
            .causer("outer")
            .scope(async {
                AuditContext::new()
                    .causer("inner")
                    .scope(async {
                        assert_eq!(
                            AuditContext::current().unwrap().causer_id.as_deref(),
                            Some("inner")
                        );
                    })
                    .await;
                assert_eq!(
                    AuditContext::current().unwrap().causer_id.as_deref(),
                    Some("outer")
                );
            })
            .await;
    }

    #[tokio::test]
    async fn nested_scope_keeps_auditing_off_and_strict() {
        AuditContext::new()
            .strict(true)
            .scope(without_auditing(async {
                AuditContext::new()
                    .causer("inner")
                    .scope(async {
                        let ctx = AuditContext::current().unwrap();
                        assert!(
                            ctx.disabled,
                            "a nested scope does not switch auditing back on"
                        );
                        assert_eq!(ctx.strict, Some(true));
                        assert_eq!(ctx.causer_id.as_deref(), Some("inner"));
                    })
                    .await;
            }))
            .await;
    }

    #[tokio::test]
    async fn without_auditing_keeps_the_causer() {
        AuditContext::new()
            .causer("9")
            .scope(without_auditing(async {
                let ctx = AuditContext::current().unwrap();
                assert!(ctx.disabled);
                assert_eq!(ctx.causer_id.as_deref(), Some("9"));
            }))
            .await;
    }
}
