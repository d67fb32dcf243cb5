//! The request-context middleware: a tower `Layer` that puts an [`AuditContext`] in scope
//! for each request.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use audit_core::AuditContext;
use axum::extract::ConnectInfo;
use http::request::Parts;
use http::{HeaderName, HeaderValue, Request, Response};
use ipnet::IpNet;

/// The header that carries the request id in and out.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");
/// The causer header, read only when [`AuditLayer::trust_user_id_header`] is on.
pub const USER_ID_HEADER: HeaderName = HeaderName::from_static("x-user-id");
/// User-Agents are cut to this many bytes unless configured otherwise.
pub const DEFAULT_MAX_USER_AGENT: usize = 512;

type CauserFn = dyn Fn(&Parts) -> Option<String> + Send + Sync;

#[derive(Clone)]
struct Config {
    causer: Option<Arc<CauserFn>>,
    trust_user_id_header: bool,
    trust_request_id_header: bool,
    trusted_proxies: Vec<IpNet>,
    forwarded_header: ForwardedHeader,
    max_user_agent: usize,
    strict: Option<bool>,
}

/// The header your trusted proxies write the client chain into. Only that one is read: a
/// proxy that maintains one header passes the other through from the client unchanged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (the default).
    #[default]
    XForwardedFor,
    /// `Forwarded: for=client, for=proxy1` (RFC 7239).
    Forwarded,
}

/// Tower layer that attributes every audited write of a request: causer, client IP,
/// User-Agent and request id go into an [`AuditContext`] for the handler's future, and the
/// request id is echoed in the response's `X-Request-Id`.
///
/// * **causer**: from [`causer_from`](Self::causer_from), a function of the request parts
///   (read what your authentication put in the extensions). The `X-User-Id` header is
///   ignored unless [`trust_user_id_header`](Self::trust_user_id_header) is on and no
///   `causer_from` is set: any client can set it.
/// * **ip**: the peer address (`ConnectInfo<SocketAddr>`: serve with
///   `into_make_service_with_connect_info::<SocketAddr>()`). Only when the peer is one of the
///   [`trusted_proxies`](Self::trusted_proxies) is the chain in `X-Forwarded-For` (or
///   `Forwarded`, see [`forwarded_header`](Self::forwarded_header)) read, from the nearest
///   hop back to the first address that is not a trusted proxy.
/// * **user agent**: the `User-Agent` header, cut to [`max_user_agent`](Self::max_user_agent)
///   bytes (512 by default).
/// * **request id**: `X-Request-Id` when it is 1–128 characters of `[A-Za-z0-9._:-]` and
///   comes from a trusted proxy (from any client when none is configured; never with
///   [`trust_request_id_header(false)`](Self::trust_request_id_header)), else a new UUID.
///
/// Put it inside your authentication layer so that the user is known when it runs (in
/// axum, `.layer(audit)` before `.layer(auth)`).
///
/// ```
/// use audit_seaorm::http::AuditLayer;
/// #[derive(Clone)]
/// struct CurrentUser(u64);
///
/// let layer = AuditLayer::new()
///     .causer_from(|parts| parts.extensions.get::<CurrentUser>().map(|u| u.0.to_string()))
///     .trusted_proxies(["10.0.0.1".parse().unwrap()]);
/// let app: axum::Router = axum::Router::new().layer(layer);
/// ```
#[derive(Clone)]
pub struct AuditLayer {
    config: Arc<Config>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLayer")
            .field("causer_from", &self.causer.as_ref().map(|_| "fn"))
            .field("trust_user_id_header", &self.trust_user_id_header)
            .field("trust_request_id_header", &self.trust_request_id_header)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("forwarded_header", &self.forwarded_header)
            .field("max_user_agent", &self.max_user_agent)
            .field("strict", &self.strict)
            .finish()
    }
}

impl std::fmt::Debug for AuditLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.config.fmt(f)
    }
}

impl<S: std::fmt::Debug> std::fmt::Debug for AuditService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditService")
            .field("inner", &self.inner)
            .field("layer", &self.config)
            .finish()
    }
}

impl Default for AuditLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl AuditLayer {
    /// A layer with no causer source, no trusted proxy.
    pub fn new() -> Self {
        Self {
            config: Arc::new(Config {
                causer: None,
                trust_user_id_header: false,
                trust_request_id_header: true,
                trusted_proxies: Vec::new(),
                forwarded_header: ForwardedHeader::default(),
                max_user_agent: DEFAULT_MAX_USER_AGENT,
                strict: None,
            }),
        }
    }

    fn config_mut(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }

    /// Where the causer comes from: a function of the request parts (e.g. a user your
    /// authentication middleware put in the extensions).
    pub fn causer_from(
        mut self,
        f: impl Fn(&Parts) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.config_mut().causer = Some(Arc::new(f));
        self
    }

    /// Reads the causer from the `X-User-Id` header. Off by default: only for apps behind a
    /// gateway that sets the header. With [`trusted_proxies`](Self::trusted_proxies) (or
    /// ranges) configured, only a request that comes from one of them is believed; without,
    /// every request is, so the app must be reachable through the gateway only. Ignored when
    /// [`causer_from`](Self::causer_from) is set: a request that function finds anonymous
    /// stays anonymous, so a client cannot name its causer by sending the header.
    pub fn trust_user_id_header(mut self, trust: bool) -> Self {
        self.config_mut().trust_user_id_header = trust;
        self
    }

    /// Whether an incoming `X-Request-Id` names the request (on by default). With
    /// [`trusted_proxies`](Self::trusted_proxies) (or ranges) configured, only a request
    /// that comes from one of them is believed (which needs the peer's address: serve with
    /// `into_make_service_with_connect_info::<SocketAddr>()`, or every request gets a new
    /// id); without, every request is. A client that
    /// picks its id can add entries to another request's id, or mix an anonymous write into
    /// its own so that `Reverter` refuses it as shared: turn it off (every request gets a
    /// new UUID) when clients reach the app directly and no proxy sets the header.
    pub fn trust_request_id_header(mut self, trust: bool) -> Self {
        self.config_mut().trust_request_id_header = trust;
        self
    }

    /// Proxies whose `X-Forwarded-For` / `Forwarded` headers are believed, by address
    /// (added to those already trusted). An IPv4 proxy also matches when the connection
    /// shows it as `::ffff:a.b.c.d`.
    pub fn trusted_proxies(mut self, proxies: impl IntoIterator<Item = IpAddr>) -> Self {
        let proxies = proxies.into_iter().map(|ip| IpNet::from(ip.to_canonical()));
        self.config_mut().trusted_proxies.extend(proxies);
        self
    }

    /// Proxies trusted by range (`"10.0.0.0/8".parse()?`, `"fd00::/8".parse()?`), added to
    /// those already trusted. A range of IPv4-mapped addresses (`::ffff:10.0.0.0/104`) is
    /// the IPv4 range it maps (`10.0.0.0/8`), as addresses are compared in their IPv4 form.
    pub fn trusted_proxy_ranges(mut self, ranges: impl IntoIterator<Item = IpNet>) -> Self {
        let ranges = ranges.into_iter().map(canonical_range);
        self.config_mut().trusted_proxies.extend(ranges);
        self
    }

    /// Which header the trusted proxies set (default `X-Forwarded-For`).
    pub fn forwarded_header(mut self, header: ForwardedHeader) -> Self {
        self.config_mut().forwarded_header = header;
        self
    }

    /// The longest User-Agent kept, in bytes.
    pub fn max_user_agent(mut self, bytes: usize) -> Self {
        self.config_mut().max_user_agent = bytes;
        self
    }

    /// Strict mode for every request (see [`AuditContext::strict`]): `true` refuses audited
    /// writes outside a transaction. Unset by default (off, unless a scope around the
    /// service sets it).
    pub fn strict(mut self, strict: bool) -> Self {
        self.config_mut().strict = Some(strict);
        self
    }
}

impl<S> tower::Layer<S> for AuditLayer {
    type Service = AuditService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        AuditService {
            inner,
            config: self.config.clone(),
        }
    }
}

/// The service [`AuditLayer`] wraps around the app.
#[derive(Clone)]
pub struct AuditService<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S, B, R> tower::Service<Request<B>> for AuditService<S>
where
    S: tower::Service<Request<B>, Response = Response<R>> + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let (parts, body) = req.into_parts();
        let ctx = context_for(&self.config, &parts);
        let request_id = ctx.request_id.clone();
        let fut = self.inner.call(Request::from_parts(parts, body));
        Box::pin(async move {
            let mut res = ctx.scope(fut).await?;
            if let Some(id) = request_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
                res.headers_mut().insert(REQUEST_ID_HEADER, id);
            }
            Ok(res)
        })
    }
}

/// The longest `X-User-Id` taken, in bytes: a longer one is not an id the gateway set, and
/// is ignored (cutting it could make it another user's).
pub const MAX_USER_ID_HEADER: usize = 256;

/// The one line of header `name`, as text. A request with more than one such line has
/// none: a gateway that adds its line (Envoy's `request_headers_to_add` appends by
/// default) leaves the client's own before it, and neither can be told from the other;
/// `instead` says what the request gets then (in a warning).
fn single_line<'a>(parts: &'a Parts, name: &HeaderName, instead: &str) -> Option<&'a str> {
    let mut lines = parts.headers.get_all(name).iter();
    let line = lines.next()?;
    if lines.next().is_some() {
        tracing::warn!(
            target: "audit_seaorm::http",
            header = name.as_str(),
            "audit: more than one {name} line: {instead}"
        );
        return None;
    }
    line.to_str().ok()
}

/// The causer a gateway put in `X-User-Id` (one line: see [`single_line`]).
fn gateway_user_id(parts: &Parts) -> Option<String> {
    single_line(
        parts,
        &USER_ID_HEADER,
        "the request's causer is left unknown",
    )
    .map(str::trim)
    .filter(|s| !s.is_empty() && s.len() <= MAX_USER_ID_HEADER)
    .map(str::to_owned)
}

fn context_for(config: &Config, parts: &Parts) -> AuditContext {
    let mut ctx = AuditContext::new();
    // With `causer_from` the app knows who is calling: a request it finds anonymous stays
    // anonymous, whatever `X-User-Id` it sends.
    ctx.causer_id = match &config.causer {
        Some(causer_from) => causer_from(parts),
        None if config.trust_user_id_header && from_gateway(config, parts) => {
            gateway_user_id(parts)
        }
        _ => None,
    };
    ctx.ip = client_ip(config, parts);
    ctx.strict = config.strict;
    // Not `to_str`: a User-Agent with non-ASCII bytes is kept (lossily), not dropped.
    ctx.user_agent = parts.headers.get("user-agent").map(|v| {
        truncate(
            &String::from_utf8_lossy(v.as_bytes()),
            config.max_user_agent,
        )
        .to_owned()
    });
    // A client that picks its request id can add its entries to another request (which
    // a revert then refuses as shared): with trusted proxies configured, only theirs is
    // taken.
    // (Trust first: a header that would not be believed is not read, nor warned about.)
    let given = (config.trust_request_id_header && from_gateway(config, parts))
        .then(|| single_line(parts, &REQUEST_ID_HEADER, "the request gets a new id"))
        .flatten()
        .filter(|id| valid_request_id(id));
    ctx.request_id = Some(match given {
        Some(id) => id.to_owned(),
        None => uuid::Uuid::new_v4().to_string(),
    });
    ctx
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// 1–128 characters of `[A-Za-z0-9._:-]`.
pub fn valid_request_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b))
}

fn trusted(config: &Config, ip: IpAddr) -> bool {
    config.trusted_proxies.iter().any(|net| net.contains(&ip))
}

/// A range of IPv4-mapped IPv6 addresses as the IPv4 range it maps (peers and proxies are
/// compared in that form: `IpAddr::to_canonical`); any other range as it is.
fn canonical_range(range: IpNet) -> IpNet {
    if let IpNet::V6(v6) = range
        && v6.prefix_len() >= 96
        && let Some(v4) = v6.network().to_ipv4_mapped()
        && let Ok(net) = ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96)
    {
        return IpNet::V4(net);
    }
    range
}

/// Whether `X-User-Id` may be believed: from any peer when no proxy is configured (the
/// gateway is the only way in), else only from a trusted proxy (a client that reaches the
/// app around the gateway cannot name its causer).
fn from_gateway(config: &Config, parts: &Parts) -> bool {
    if config.trusted_proxies.is_empty() {
        return true;
    }
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|c| trusted(config, c.0.ip().to_canonical()))
}

fn client_ip(config: &Config, parts: &Parts) -> Option<IpAddr> {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_canonical())?;
    if !trusted(config, peer) {
        return Some(peer);
    }
    // Every line of the header the proxies set, in order (a proxy may add its own line
    // after the client's), one hop per comma-separated entry. An entry that is not ASCII
    // text is a hop that is no address (split as bytes: a proxy appends its hop to the
    // client's text on one line, and bytes a client sent must not hide the proxy's hop).
    let name = match config.forwarded_header {
        ForwardedHeader::XForwardedFor => "x-forwarded-for",
        ForwardedHeader::Forwarded => "forwarded",
    };
    let hops: Vec<Option<&str>> = parts
        .headers
        .get_all(name)
        .iter()
        .flat_map(|v| {
            v.as_bytes()
                .split(|b| *b == b',')
                .map(|hop| std::str::from_utf8(hop).ok().filter(|hop| hop.is_ascii()))
        })
        .collect();
    // Walk back from the nearest hop: the first address that is not a trusted proxy is the
    // client. An entry that is no address ("unknown", an obfuscated node, a line that is
    // not text) ends the walk: what stands before it cannot be told from what a client
    // wrote, so no address is recorded. When every hop is a trusted address, the client is
    // the first of them (a client inside the trusted ranges), as nginx's recursive
    // `real_ip` has it; with no hop at all, the peer.
    let mut first = peer;
    for hop in hops.iter().rev() {
        let ip = hop.and_then(|hop| match config.forwarded_header {
            ForwardedHeader::XForwardedFor => parse_node(hop.trim()),
            ForwardedHeader::Forwarded => forwarded_for(hop),
        });
        match ip.map(|ip| ip.to_canonical()) {
            Some(ip) if trusted(config, ip) => first = ip,
            Some(ip) => return Some(ip),
            None => return None,
        }
    }
    Some(first)
}

/// An address as proxies write it: `1.2.3.4`, `1.2.3.4:80`, `2001:db8::1`, `[2001:db8::1]:80`.
fn parse_node(value: &str) -> Option<IpAddr> {
    let value = value.trim_matches('"');
    if let Ok(ip) = value.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(addr) = value.parse::<SocketAddr>() {
        return Some(addr.ip());
    }
    value.strip_prefix('[')?.split(']').next()?.parse().ok()
}

/// The `for=` address of one `Forwarded` element (RFC 7239).
fn forwarded_for(element: &str) -> Option<IpAddr> {
    element.split(';').find_map(|pair| {
        let (key, value) = pair.trim().split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case("for")
            .then(|| parse_node(value.trim()))?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(headers: &[(&str, &str)], peer: &str) -> Parts {
        let mut req = Request::builder();
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let (mut parts, _) = req.body(()).unwrap().into_parts();
        parts
            .extensions
            .insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
        parts
    }

    #[test]
    fn the_user_id_header_counts_only_from_the_gateway() {
        let layer = AuditLayer::new()
            .trust_user_id_header(true)
            .trusted_proxies(["10.0.0.1".parse().unwrap()]);
        let around = parts(&[("x-user-id", "admin")], "198.51.100.7:5000");
        assert_eq!(context_for(&layer.config, &around).causer_id, None);
        let through = parts(&[("x-user-id", "alice")], "10.0.0.1:5000");
        assert_eq!(
            context_for(&layer.config, &through).causer_id.as_deref(),
            Some("alice")
        );
        // A gateway that adds its line after the client's: two causers, neither believed.
        let mut two_lines = parts(&[("x-user-id", "admin")], "10.0.0.1:5000");
        two_lines
            .headers
            .append("x-user-id", HeaderValue::from_static("alice"));
        assert_eq!(context_for(&layer.config, &two_lines).causer_id, None);
        // No proxy configured: the gateway is the only way in, every request is believed.
        let open = AuditLayer::new().trust_user_id_header(true);
        assert_eq!(
            context_for(&open.config, &around).causer_id.as_deref(),
            Some("admin")
        );
    }

    #[test]
    fn proxies_are_trusted_by_range() {
        let layer = AuditLayer::new().trusted_proxy_ranges(["10.0.0.0/8".parse().unwrap()]);
        let via_range = parts(&[("x-forwarded-for", "1.2.3.4, 10.9.9.9")], "10.0.0.1:5000");
        assert_eq!(
            context_for(&layer.config, &via_range).ip,
            Some("1.2.3.4".parse().unwrap()),
            "both 10.x hops are trusted"
        );
        // A client inside the trusted ranges: every hop is trusted, and the first is the
        // client, not the proxy that connected.
        let inside = parts(
            &[("x-forwarded-for", "10.0.0.5, 10.9.9.9")],
            "10.0.0.1:5000",
        );
        assert_eq!(
            context_for(&layer.config, &inside).ip,
            Some("10.0.0.5".parse().unwrap())
        );
        let outside = parts(&[("x-forwarded-for", "1.2.3.4")], "11.0.0.1:5000");
        assert_eq!(
            context_for(&layer.config, &outside).ip,
            Some("11.0.0.1".parse().unwrap())
        );
    }

    #[test]
    fn an_ipv4_proxy_matches_as_a_mapped_ipv6_peer() {
        let layer = AuditLayer::new().trusted_proxies(["10.0.0.1".parse().unwrap()]);
        let mapped = parts(&[("x-forwarded-for", "1.2.3.4")], "[::ffff:10.0.0.1]:5000");
        assert_eq!(
            context_for(&layer.config, &mapped).ip,
            Some("1.2.3.4".parse().unwrap())
        );
        // A client seen as a mapped address is recorded as the IPv4 address it is.
        let client = parts(&[], "[::ffff:198.51.100.7]:5000");
        assert_eq!(
            context_for(&layer.config, &client).ip,
            Some("198.51.100.7".parse().unwrap())
        );
        // A range written as mapped addresses is the IPv4 range it maps, matched by a peer
        // seen either way.
        let ranged =
            AuditLayer::new().trusted_proxy_ranges(["::ffff:10.0.0.0/104".parse().unwrap()]);
        for peer in ["[::ffff:10.0.0.1]:5000", "10.0.0.1:5000"] {
            let via = parts(&[("x-forwarded-for", "1.2.3.4")], peer);
            assert_eq!(
                context_for(&ranged.config, &via).ip,
                Some("1.2.3.4".parse().unwrap()),
                "{peer}"
            );
        }
        let outside = parts(&[("x-forwarded-for", "1.2.3.4")], "[::ffff:11.0.0.1]:5000");
        assert_eq!(
            context_for(&ranged.config, &outside).ip,
            Some("11.0.0.1".parse().unwrap())
        );
    }

    #[test]
    fn a_header_line_that_is_not_text_ends_the_walk() {
        let layer = AuditLayer::new().trusted_proxies(["10.0.0.1".parse().unwrap()]);
        let mut req = parts(&[("x-forwarded-for", "6.6.6.6")], "10.0.0.1:5000");
        req.headers.append(
            "x-forwarded-for",
            HeaderValue::from_bytes(b"1.2.3.4\xff").unwrap(),
        );
        assert_eq!(
            context_for(&layer.config, &req).ip,
            None,
            "not the proxy's address, not the spoofable line before"
        );
    }

    #[test]
    fn bytes_a_client_sent_do_not_hide_the_proxy_hop_on_its_line() {
        let layer = AuditLayer::new().trusted_proxies(["10.0.0.1".parse().unwrap()]);
        let mut req = parts(&[], "10.0.0.1:5000");
        req.headers.append(
            "x-forwarded-for",
            HeaderValue::from_bytes(b"\xff, 203.0.113.9").unwrap(),
        );
        assert_eq!(
            context_for(&layer.config, &req).ip,
            Some("203.0.113.9".parse().unwrap())
        );
        // The client's entry is still no address when the walk reaches it.
        let mut req = parts(&[], "10.0.0.1:5000");
        req.headers.append(
            "x-forwarded-for",
            HeaderValue::from_bytes(b"1.2.3.4\xff, 10.0.0.1").unwrap(),
        );
        assert_eq!(context_for(&layer.config, &req).ip, None);
    }

    #[test]
    fn forwarded_headers_count_only_from_trusted_proxies() {
        let layer = AuditLayer::new().trusted_proxies(["10.0.0.1".parse().unwrap()]);
        let spoof = parts(&[("x-forwarded-for", "1.2.3.4")], "198.51.100.7:5000");
        assert_eq!(
            context_for(&layer.config, &spoof).ip,
            Some("198.51.100.7".parse().unwrap())
        );
        let proxied = parts(&[("x-forwarded-for", "9.9.9.9, 1.2.3.4")], "10.0.0.1:5000");
        assert_eq!(
            context_for(&layer.config, &proxied).ip,
            Some("1.2.3.4".parse().unwrap())
        );
        // A proxy that adds its own line after the client's: the client's line is not
        // the nearest hop.
        let mut two_lines = parts(&[("x-forwarded-for", "6.6.6.6")], "10.0.0.1:5000");
        two_lines
            .headers
            .append("x-forwarded-for", HeaderValue::from_static("1.2.3.4"));
        assert_eq!(
            context_for(&layer.config, &two_lines).ip,
            Some("1.2.3.4".parse().unwrap())
        );
        // Garbage before the nearest untrusted hop ends the walk: unknown, not spoofed.
        let unknown = parts(&[("x-forwarded-for", "6.6.6.6, unknown")], "10.0.0.1:5000");
        assert_eq!(context_for(&layer.config, &unknown).ip, None);
        // `Forwarded` is read only when configured, and then `X-Forwarded-For` is not.
        let fwd = parts(
            &[
                ("forwarded", r#"for="[2001:db8::1]:4711";proto=https"#),
                ("x-forwarded-for", "6.6.6.6"),
            ],
            "10.0.0.1:5000",
        );
        assert_eq!(
            context_for(&layer.config, &fwd).ip,
            Some("6.6.6.6".parse().unwrap())
        );
        let rfc = AuditLayer::new()
            .trusted_proxies(["10.0.0.1".parse().unwrap()])
            .forwarded_header(ForwardedHeader::Forwarded);
        assert_eq!(
            context_for(&rfc.config, &fwd).ip,
            Some("2001:db8::1".parse().unwrap())
        );
    }

    #[test]
    fn request_ids_are_checked_and_user_agents_capped() {
        let layer = AuditLayer::new().max_user_agent(4);
        let mut p = parts(&[("x-request-id", "abc-123")], "127.0.0.1:1");
        let ua = HeaderValue::from_bytes("éééé".as_bytes()).unwrap();
        p.headers.insert("user-agent", ua);
        let ctx = context_for(&layer.config, &p);
        assert_eq!(ctx.request_id.as_deref(), Some("abc-123"));
        assert_eq!(ctx.user_agent.as_deref(), Some("éé"));
        let bad = parts(&[("x-request-id", "no spaces<script>")], "127.0.0.1:1");
        let id = context_for(&layer.config, &bad).request_id.unwrap();
        assert!(uuid::Uuid::parse_str(&id).is_ok());
    }

    /// Two `X-Request-Id` lines are warned of only when the header would be believed: a
    /// client cannot fill the log with a header the layer ignores.
    #[test]
    fn an_ignored_request_id_header_is_not_warned_of() {
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Kept(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Kept {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let warned = |layer: AuditLayer, peer: &str| {
            let kept = Kept::default();
            let writer = kept.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_ansi(false)
                .with_writer(move || writer.clone())
                .finish();
            let mut two = parts(&[("x-request-id", "a")], peer);
            two.headers
                .append("x-request-id", HeaderValue::from_static("b"));
            let ctx =
                tracing::subscriber::with_default(subscriber, || context_for(&layer.config, &two));
            assert!(!matches!(ctx.request_id.as_deref(), Some("a" | "b")));
            let text = String::from_utf8_lossy(&kept.0.lock().unwrap()).into_owned();
            text.contains("more than one x-request-id line")
        };
        assert!(warned(AuditLayer::new(), "198.51.100.7:5000"));
        assert!(!warned(
            AuditLayer::new().trust_request_id_header(false),
            "198.51.100.7:5000"
        ));
        let behind = || AuditLayer::new().trusted_proxies(["10.0.0.1".parse().unwrap()]);
        assert!(!warned(behind(), "198.51.100.7:5000"));
        assert!(warned(behind(), "10.0.0.1:5000"));
    }

    #[test]
    fn long_user_id_headers_are_ignored() {
        let layer = AuditLayer::new().trust_user_id_header(true);
        let fits = "u".repeat(MAX_USER_ID_HEADER);
        let req = parts(&[("x-user-id", fits.as_str())], "198.51.100.7:5000");
        assert_eq!(
            context_for(&layer.config, &req).causer_id,
            Some(fits.clone())
        );
        let long = "u".repeat(MAX_USER_ID_HEADER + 1);
        let req = parts(&[("x-user-id", long.as_str())], "198.51.100.7:5000");
        assert_eq!(context_for(&layer.config, &req).causer_id, None);
    }

    #[test]
    fn user_id_header_is_ignored_when_the_app_names_the_causer() {
        let p = parts(&[("x-user-id", "admin")], "127.0.0.1:1");
        let both = AuditLayer::new()
            .causer_from(|parts| parts.extensions.get::<String>().cloned())
            .trust_user_id_header(true);
        // Anonymous to the app: not the header's "admin".
        assert_eq!(context_for(&both.config, &p).causer_id, None);
        let mut signed_in = parts(&[("x-user-id", "admin")], "127.0.0.1:1");
        signed_in.extensions.insert("7".to_owned());
        assert_eq!(
            context_for(&both.config, &signed_in).causer_id.as_deref(),
            Some("7")
        );
    }

    #[test]
    fn user_id_header_needs_trust() {
        let p = parts(&[("x-user-id", "999")], "127.0.0.1:1");
        assert_eq!(context_for(&AuditLayer::new().config, &p).causer_id, None);
        let trusting = AuditLayer::new().trust_user_id_header(true);
        assert_eq!(
            context_for(&trusting.config, &p).causer_id.as_deref(),
            Some("999")
        );
    }
}
