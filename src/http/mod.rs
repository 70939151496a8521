//! HTTP endpoints: `/metrics` (Prometheus text format), `/healthz` (200
//! while every pipeline thread is alive and making progress, 503 naming
//! what is not), `/api/exposures` (the findings store as JSON:
//! pseudonymised, redacted, paginated; see `exposures`), and `/`: the
//! status page (`report::html`, the page `audit --format html` writes),
//! rendered from the registry and the findings store at most once a second.
//!
//! Owner: `http`. Runs hyper 1.x on a small single-threaded tokio runtime on
//! its own thread, so scrapes never compete with capture or workers for more
//! than that one thread. Every accepted connection is served at once, as
//! its own task, up to a cap (past it a new connection is closed at once,
//! so a storm cannot grow memory); each has a 3 s limit for its TLS
//! handshake and for its request headers, and a 15 s lifetime. Rendering
//! is synchronous on the one runtime thread, so renders never run
//! concurrently whatever the number of connections: there is no second,
//! "serving" limit for slow clients to fill. (There was one, 16
//! connections: 16 slow readers or idle sockets held every slot, and a
//! scrape waited behind them for up to 17 s in `tests/scrape_storm.rs`.)
//! [`LOOPBACK_RESERVED`] of the slots are kept for loopback peers, so
//! remote sockets cannot lock out a local Prometheus or health check.
//!
//! With a web config (`webconfig`): TLS (rustls) and/or basic auth
//! (`auth`, bcrypt off the runtime thread) on every endpoint.

pub mod auth;
pub mod exposures;
pub mod webconfig;

use crate::findings::Store;
use crate::health::Health;
use crate::metrics::Metrics;
use hyper::body::{Body, Bytes, Frame};
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
pub use webconfig::{WebConfig, WebConfigError};

/// At most this many connections are open at once; more are closed at
/// once. Each costs a task, hyper's buffers (and a TLS session) and at most
/// one page of a shared rendering.
pub const MAX_CONNECTIONS: usize = 256;
/// Of [`MAX_CONNECTIONS`], this many are only for loopback peers: enough
/// for a local Prometheus, a health checker and an operator's curl at
/// once, few enough not to matter to remote scrapers.
pub const LOOPBACK_RESERVED: usize = 8;
/// Longest life of one served connection.
const CONNECTION_LIMIT: Duration = Duration::from_secs(15);
/// Longest wait for request headers, and separately for a TLS handshake:
/// a slow-loris client (plain or TLS) gives up its slot after this.
const HEADER_TIMEOUT: Duration = Duration::from_secs(3);
/// Largest request head (request line and headers) read, and hyper's
/// per-connection buffer bound. hyper's default (about 408 KiB) let a
/// client that sends a huge, unfinished head pin that much until the
/// header timeout: 240 such connections held 72 MiB. A scraper's request
/// is a few hundred bytes (an `Authorization` value past 1 KiB is refused
/// anyway); a longer head is answered 431.
const MAX_REQUEST_HEAD: usize = 16 * 1024;
/// How often the pipeline's health is sampled (stall detection and
/// `thread_up`), besides every `/healthz` and `/metrics`.
const HEALTH_SAMPLE: Duration = Duration::from_secs(1);

/// Bind first (so a busy port is a startup error), serve later.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let l = TcpListener::bind(addr)?;
    l.set_nonblocking(true)?;
    Ok(l)
}

/// Peers that may use the [`LOOPBACK_RESERVED`] slots: loopback, including
/// an IPv4 loopback peer seen through an IPv6 (dual-stack) socket.
pub fn is_reserved_peer(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => a.is_loopback(),
        IpAddr::V6(a) => a.is_loopback() || a.to_ipv4_mapped().is_some_and(|v| v.is_loopback()),
    }
}

/// Connection slots: a general pool and a small one only loopback peers
/// may take once the general one is full.
pub struct Slots {
    general: Arc<Semaphore>,
    reserved: Arc<Semaphore>,
}

impl Slots {
    pub fn new(total: usize, reserved: usize) -> Slots {
        let reserved = reserved.min(total);
        Slots {
            general: Arc::new(Semaphore::new(total - reserved)),
            reserved: Arc::new(Semaphore::new(reserved)),
        }
    }

    /// A slot for a connection from `peer`, or None: close it.
    pub fn acquire(&self, peer: IpAddr) -> Option<OwnedSemaphorePermit> {
        if let Ok(p) = self.general.clone().try_acquire_owned() {
            return Some(p);
        }
        if is_reserved_peer(peer) {
            return self.reserved.clone().try_acquire_owned().ok();
        }
        None
    }
}

/// What to warn about at startup, if anything: serving beyond this host
/// without TLS or without auth exposes metrics and findings to the network.
pub fn exposure_warning(addr: SocketAddr, web: Option<&WebConfig>) -> Option<&'static str> {
    if addr.ip().is_loopback() {
        return None;
    }
    let tls = web.is_some_and(|w| w.tls.is_some());
    let auth = web.is_some_and(|w| w.users.is_some() || w.client_cert_required);
    match (tls, auth) {
        (true, true) => None,
        (false, false) => Some("listening beyond loopback without TLS or authentication: anyone who can reach the port reads metrics and findings (see --web-config)"),
        (false, true) => Some("listening beyond loopback without TLS: passwords and findings cross the network in clear text (see --web-config)"),
        (true, false) => Some("listening beyond loopback without authentication: anyone who can reach the port reads metrics and findings (see basic_auth_users in --web-config)"),
    }
}

/// A response body made of shared chunks (a page of `/api/exposures` is a
/// slice of one rendering plus a few bytes; see `exposures`).
pub struct Chunks {
    chunks: VecDeque<Bytes>,
    len: u64,
}

impl Chunks {
    fn new(chunks: impl IntoIterator<Item = Bytes>) -> Chunks {
        let chunks: VecDeque<Bytes> = chunks.into_iter().filter(|c| !c.is_empty()).collect();
        let len = chunks.iter().map(|c| c.len() as u64).sum();
        Chunks { chunks, len }
    }
}

impl Body for Chunks {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let next = self.chunks.pop_front();
        if let Some(c) = &next {
            self.len -= c.len() as u64;
        }
        Poll::Ready(next.map(|c| Ok(Frame::data(c))))
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::SizeHint::with_exact(self.len)
    }
}

/// Everything a request may need (shared by all connections).
struct State {
    metrics: Metrics,
    exposures: Option<exposures::Exposures>,
    store: Option<Arc<Store>>,
    /// The last rendering of `/` and when it was made: one render a second
    /// whatever the number of readers (as for `/api/exposures`).
    page: std::sync::Mutex<Option<(std::time::Instant, Bytes)>>,
    health: Option<Health>,
    auth: Option<auth::BasicAuth>,
}

fn text(code: StatusCode, body: impl Into<Bytes>) -> Response<Chunks> {
    let mut r = Response::new(Chunks::new([body.into()]));
    *r.status_mut() = code;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn respond<B>(st: &State, req: &Request<B>) -> Response<Chunks> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    }
    match req.uri().path() {
        "/metrics" => {
            // Fresh thread_up gauges in every scrape.
            if let Some(h) = &st.health {
                h.check();
            }
            let mut r = Response::new(Chunks::new([Bytes::from(st.metrics.render())]));
            r.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            r
        }
        "/api/exposures" => match &st.exposures {
            Some(x) => match exposures::parse_query(req.uri().query()) {
                Ok(page) => {
                    let mut r = Response::new(Chunks::new(x.page(&page)));
                    r.headers_mut()
                        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                    r
                }
                Err(why) => text(StatusCode::BAD_REQUEST, format!("bad query: {why}\n")),
            },
            None => text(StatusCode::NOT_FOUND, "no findings store\n"),
        },
        "/healthz" => {
            let v = st.health.as_ref().map(Health::check).unwrap_or_default();
            if v.healthy() {
                text(StatusCode::OK, "ok\n")
            } else {
                text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("unhealthy: {}\n", v.problems.join(", ")),
                )
            }
        }
        "/" => {
            let mut r = Response::new(Chunks::new([status_page(st)]));
            let h = r.headers_mut();
            h.insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            h.insert(
                hyper::header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(crate::report::html::CSP),
            );
            h.insert(
                hyper::header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            h.insert(
                hyper::header::CACHE_CONTROL,
                HeaderValue::from_static("no-store"),
            );
            r
        }
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

/// The status page, rendered at most once per
/// [`exposures::RENDER_INTERVAL`] and shared by every reader.
fn status_page(st: &State) -> Bytes {
    let mut cache = st.page.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((at, page)) = cache.as_ref() {
        if at.elapsed() < exposures::RENDER_INTERVAL {
            return page.clone();
        }
    }
    let page = Bytes::from(crate::report::html::page(
        &st.metrics,
        st.store.as_deref(),
        crate::report::html::Source::Live,
    ));
    *cache = Some((std::time::Instant::now(), page.clone()));
    page
}

async fn handle<B>(st: Arc<State>, peer: IpAddr, req: Request<B>) -> Response<Chunks> {
    if let Some(a) = &st.auth {
        let h = req.headers().get(AUTHORIZATION).map(HeaderValue::as_bytes);
        if !a.check(h, peer).await {
            let mut r = text(StatusCode::UNAUTHORIZED, "unauthorized\n");
            r.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"sipsentinel\""),
            );
            return r;
        }
    }
    respond(&st, &req)
}

/// What to serve besides `/metrics`.
#[derive(Default)]
pub struct Options {
    /// The findings store for `/api/exposures` (404 without).
    pub store: Option<Arc<Store>>,
    /// Pipeline health for `/healthz` (always 200 without).
    pub health: Option<Health>,
    /// TLS and basic auth.
    pub web: Option<WebConfig>,
}

/// Serve on a dedicated thread until the process exits, without a findings
/// store (`/api/exposures` answers 404).
pub fn spawn(
    listener: TcpListener,
    metrics: Metrics,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    spawn_with(listener, metrics, Options::default())
}

/// Serve `/metrics`, `/healthz` and `/api/exposures` (from `store`) on a
/// dedicated thread until the process exits.
pub fn spawn_with_store(
    listener: TcpListener,
    metrics: Metrics,
    store: Arc<Store>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    spawn_with(
        listener,
        metrics,
        Options {
            store: Some(store),
            ..Options::default()
        },
    )
}

/// Serve with everything `opts` gives, on a dedicated thread until the
/// process exits.
pub fn spawn_with(
    listener: TcpListener,
    metrics: Metrics,
    opts: Options,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        // Only bcrypt checks run on the blocking pool, at most
        // auth::BCRYPT_PARALLEL at once.
        .max_blocking_threads(auth::BCRYPT_PARALLEL)
        .build()?;
    let web = opts.web.unwrap_or_default();
    let auth = web.users.clone().map(auth::BasicAuth::new).transpose()?;
    let tls = web.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    let exposures = opts
        .store
        .clone()
        .map(|s| exposures::Exposures::new(s).with_summary(metrics.observer_log.clone()));
    let state = Arc::new(State {
        metrics,
        exposures,
        store: opts.store,
        page: std::sync::Mutex::new(None),
        health: opts.health,
        auth,
    });
    std::thread::Builder::new()
        .name("http".into())
        .spawn(move || {
            rt.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::error!(error = %e, "http listener unusable");
                        return;
                    }
                };
                if let Some(h) = state.health.clone() {
                    tokio::spawn(async move {
                        let mut t = tokio::time::interval(HEALTH_SAMPLE);
                        loop {
                            t.tick().await;
                            h.check();
                        }
                    });
                }
                let slots = Slots::new(MAX_CONNECTIONS, LOOPBACK_RESERVED);
                loop {
                    let (stream, peer) = match listener.accept().await {
                        Ok(s) => s,
                        Err(e) => {
                            // EMFILE and friends: back off instead of spinning.
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    };
                    // Accept always (a scraper never starves in the kernel's
                    // accept queue), then serve at once or close.
                    let Some(permit) = slots.acquire(peer.ip()) else {
                        drop(stream);
                        continue;
                    };
                    let state = state.clone();
                    let tls = tls.clone();
                    tokio::spawn(async move {
                        // A whole connection, handshake included, may not
                        // outlive this: bounds slow readers of a large body.
                        let _ = tokio::time::timeout(CONNECTION_LIMIT, async move {
                            match tls {
                                Some(acceptor) => {
                                    // A failed or slow handshake just ends
                                    // the connection (nothing to log per
                                    // peer: a scan would flood the log).
                                    let Ok(Ok(s)) = tokio::time::timeout(
                                        HEADER_TIMEOUT,
                                        acceptor.accept(stream),
                                    )
                                    .await
                                    else {
                                        return;
                                    };
                                    serve_connection(TokioIo::new(s), state, peer.ip()).await;
                                }
                                None => {
                                    serve_connection(TokioIo::new(stream), state, peer.ip()).await
                                }
                            }
                        })
                        .await;
                        drop(permit);
                    });
                }
            })
        })
}

async fn serve_connection<I>(io: I, state: Arc<State>, peer: IpAddr)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |req| {
        let state = state.clone();
        async move { Ok::<_, std::convert::Infallible>(handle(state, peer, req).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(MAX_REQUEST_HEAD)
        .serve_connection(io, svc)
        .await;
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// A raw `GET path` on a fresh connection; the whole response, head
    /// and body (also used by the pipeline's health tests).
    pub(crate) fn get(addr: SocketAddr, path: &str) -> String {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn api_exposures_serves_the_store() {
        let addr = serve_one_finding(b"5551234567");
        let r = get(addr, "/api/exposures");
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
        assert!(r.contains("content-type: application/json"), "{r}");
        assert!(
            r.contains("\"kind\": \"custom_header\"") && r.contains("X-Account: num-"),
            "{r}"
        );
        assert!(!r.contains("5551234567") && !r.contains("192.0.2.1"), "{r}");
        // Without a store: 404.
        let l = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = l.local_addr().unwrap();
        spawn(l, Metrics::new()).unwrap();
        assert!(get(addr, "/api/exposures").starts_with("HTTP/1.1 404"));
    }

    /// A server whose store holds one X-Account finding from 192.0.2.1
    /// with `evidence`.
    fn serve_one_finding(evidence: &[u8]) -> SocketAddr {
        let store = Arc::new(Store::with_key(
            &[5u8; 32],
            crate::findings::StoreConfig::default(),
        ));
        let f = crate::exposure::Finding {
            kind: crate::exposure::Kind::CustomHeader,
            field: crate::exposure::Field::XHeader,
            name: b"X-Account",
            evidence,
        };
        store.record(
            &f,
            "192.0.2.1".parse().unwrap(),
            "udp",
            "unknown",
            std::time::SystemTime::now(),
        );
        let l = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = l.local_addr().unwrap();
        spawn_with_store(l, Metrics::new(), store).unwrap();
        addr
    }

    /// `/` is the HTML status page: inert (CSP header and meta), linking
    /// the other endpoints, rendered from the store.
    #[test]
    fn root_serves_the_status_page() {
        let addr = serve_one_finding(b"<script>5551234567</script>");
        let r = get(addr, "/");
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
        assert!(r.contains("content-type: text/html; charset=utf-8"), "{r}");
        assert!(
            r.contains("content-security-policy: default-src 'none'"),
            "{r}"
        );
        for link in ["/metrics", "/api/exposures", "/healthz"] {
            assert!(r.contains(&format!("href=\"{link}\"")), "{r}");
        }
        assert!(
            r.contains("id=\"severity-low\"") && r.contains("X-Account: "),
            "{r}"
        );
        assert!(!r.contains("<script") && !r.contains("5551234567") && !r.contains("192.0.2.1"));
    }

    #[test]
    fn api_exposures_rejects_bad_queries_with_a_reason() {
        let store = Arc::new(Store::with_key(
            &[5u8; 32],
            crate::findings::StoreConfig::default(),
        ));
        let l = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = l.local_addr().unwrap();
        spawn_with_store(l, Metrics::new(), store).unwrap();
        let r = get(addr, "/api/exposures?limit=0");
        assert!(r.starts_with("HTTP/1.1 400"), "{r}");
        assert!(
            r.ends_with("bad query: limit must be between 1 and 10000\n"),
            "{r}"
        );
        let r = get(addr, "/api/exposures?limit=2");
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
        assert!(
            r.contains("\"limit\": 2") && r.contains("\"next\": null"),
            "{r}"
        );
    }

    #[test]
    fn reserved_peers_are_loopback_only() {
        for ip in ["127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1"] {
            assert!(is_reserved_peer(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "192.0.2.1",
            "10.0.0.1",
            "::",
            "2001:db8::1",
            "::ffff:192.0.2.1",
            "0.0.0.0",
        ] {
            assert!(!is_reserved_peer(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn remote_peers_cannot_take_the_loopback_slots() {
        let slots = Slots::new(10, 3);
        let remote: IpAddr = "192.0.2.1".parse().unwrap();
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let mut held: Vec<_> = (0..7).map(|_| slots.acquire(remote).unwrap()).collect();
        // The general pool is full: remote peers are refused...
        assert!(slots.acquire(remote).is_none());
        // ...loopback ones get the reserved slots, then are refused too.
        let mut local_held: Vec<_> = (0..3).map(|_| slots.acquire(local).unwrap()).collect();
        assert!(slots.acquire(local).is_none());
        // A freed reserved slot goes to loopback only.
        local_held.pop();
        assert!(slots.acquire(remote).is_none());
        local_held.push(slots.acquire(local).unwrap());
        // A freed general slot goes to anyone.
        held.pop();
        assert!(slots.acquire(remote).is_some());
        // Real sizes: the reserve leaves the rest to everyone.
        let slots = Slots::new(MAX_CONNECTIONS, LOOPBACK_RESERVED);
        let held: Vec<_> = std::iter::from_fn(|| slots.acquire(remote))
            .take(1000)
            .collect();
        assert_eq!(held.len(), MAX_CONNECTIONS - LOOPBACK_RESERVED);
    }

    /// A request head past [`MAX_REQUEST_HEAD`] is refused with 431 as
    /// soon as it is that long (hyper's buffer stops growing there), not
    /// buffered whole; normal requests are untouched.
    #[test]
    fn huge_request_heads_are_refused_early() {
        let l = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = l.local_addr().unwrap();
        spawn(l, Metrics::new()).unwrap();
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        // 64 KiB of headers, never finished: answered before the end.
        let mut head = b"GET /metrics HTTP/1.1\r\nHost: x\r\n".to_vec();
        for i in 0..16 {
            head.extend_from_slice(format!("X-{i}: {}\r\n", "a".repeat(4000)).as_bytes());
        }
        let t = std::time::Instant::now();
        let _ = s.write_all(&head);
        let mut out = Vec::new();
        // The server may reset the connection (unread bytes at its close)
        // before the answer is read: the answer is checked when it came.
        let _ = s.read_to_end(&mut out);
        let took = t.elapsed();
        let out = String::from_utf8_lossy(&out);
        assert!(
            out.is_empty() || out.starts_with("HTTP/1.1 431"),
            "{}",
            &out[..out.len().min(200)]
        );
        // Ended at once, not at the header timeout (3 s) as it did when
        // hyper kept buffering up to its default 408 KiB.
        assert!(took < Duration::from_secs(2), "{took:?}");
        assert!(get(addr, "/healthz").starts_with("HTTP/1.1 200"));
    }

    #[test]
    fn exposure_warnings() {
        let lo: SocketAddr = "127.0.0.1:9477".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:9477".parse().unwrap();
        assert!(exposure_warning(lo, None).is_none());
        assert!(exposure_warning(any, None)
            .unwrap()
            .contains("without TLS or authentication"));
        let users = WebConfig {
            users: Some(Arc::new(webconfig::Users(Default::default()))),
            ..WebConfig::default()
        };
        assert!(exposure_warning(any, Some(&users))
            .unwrap()
            .contains("without TLS:"));
    }

    fn get_with(addr: SocketAddr, path: &str, extra: &str) -> String {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn basic_auth_guards_every_endpoint() {
        use base64::Engine as _;
        let mut u = std::collections::BTreeMap::new();
        u.insert("prom".to_string(), bcrypt::hash("pw", 4).unwrap());
        let web = WebConfig {
            users: Some(Arc::new(webconfig::Users(u))),
            ..WebConfig::default()
        };
        let l = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = l.local_addr().unwrap();
        spawn_with(
            l,
            Metrics::new(),
            Options {
                web: Some(web),
                ..Options::default()
            },
        )
        .unwrap();
        for path in ["/metrics", "/healthz", "/api/exposures", "/"] {
            let r = get(addr, path);
            assert!(r.starts_with("HTTP/1.1 401"), "{path}: {r}");
            assert!(
                r.contains("www-authenticate: Basic realm=\"sipsentinel\""),
                "{r}"
            );
        }
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let bad = format!("Authorization: Basic {}\r\n", b64("prom:nope"));
        assert!(get_with(addr, "/metrics", &bad).starts_with("HTTP/1.1 401"));
        let good = format!("Authorization: Basic {}\r\n", b64("prom:pw"));
        let r = get_with(addr, "/metrics", &good);
        assert!(
            r.starts_with("HTTP/1.1 200") && r.contains("sipsentinel_build_info"),
            "{r}"
        );
        // Cached: the second login is as good.
        assert!(get_with(addr, "/healthz", &good).starts_with("HTTP/1.1 200"));
    }
}
