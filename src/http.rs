//! HTTP endpoints: `/metrics` (Prometheus text format), `/healthz`,
//! `/api/exposures` (the findings store as JSON: pseudonymised, redacted).
//!
//! Owner: `http`. Runs hyper 1.x on a small single-threaded tokio runtime on
//! its own thread, so scrapes never compete with capture or workers for more
//! than that one thread. Every accepted connection is served at once, as
//! its own task, up to a cap (past it a new connection is closed at once,
//! so a storm cannot grow memory); each has a 3 s header-read timeout and
//! a 15 s lifetime. Rendering is synchronous on the one runtime thread, so
//! renders never run concurrently whatever the number of connections:
//! there is no second, "serving" limit for slow clients to fill. (There
//! was one, 16 connections: 16 slow readers or idle sockets held every
//! slot, and a scrape waited behind them for up to 17 s in
//! `tests/scrape_storm.rs`.)

use crate::findings::Store;
use crate::metrics::Metrics;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

/// At most this many connections are open at once; more are closed at
/// once. Each costs a task, hyper's buffers and at most one rendered body.
const MAX_CONNECTIONS: usize = 256;
/// Longest life of one served connection.
const CONNECTION_LIMIT: Duration = Duration::from_secs(15);

/// Bind first (so a busy port is a startup error), serve later.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let l = TcpListener::bind(addr)?;
    l.set_nonblocking(true)?;
    Ok(l)
}

fn respond(
    metrics: &Metrics,
    store: Option<&Store>,
    req: &Request<hyper::body::Incoming>,
) -> Response<Full<Bytes>> {
    let text = |code: StatusCode, body: &'static str| {
        let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
        *r.status_mut() = code;
        r.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        r
    };
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    }
    match req.uri().path() {
        "/metrics" => {
            let mut r = Response::new(Full::new(Bytes::from(metrics.render())));
            r.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            r
        }
        "/api/exposures" => match store {
            Some(store) => {
                let mut r = Response::new(Full::new(Bytes::from(store.to_json())));
                r.headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                r
            }
            None => text(StatusCode::NOT_FOUND, "no findings store\n"),
        },
        "/healthz" => text(StatusCode::OK, "ok\n"),
        "/" => text(
            StatusCode::OK,
            "sipsentinel: see /metrics, /healthz and /api/exposures\n",
        ),
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

/// Serve on a dedicated thread until the process exits, without a findings
/// store (`/api/exposures` answers 404). Kept until `main` moves to
/// [`spawn_with_store`].
pub fn spawn(
    listener: TcpListener,
    metrics: Metrics,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    serve(listener, metrics, None)
}

/// Serve `/metrics`, `/healthz` and `/api/exposures` (from `store`) on a
/// dedicated thread until the process exits.
pub fn spawn_with_store(
    listener: TcpListener,
    metrics: Metrics,
    store: Arc<Store>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    serve(listener, metrics, Some(store))
}

fn serve(
    listener: TcpListener,
    metrics: Metrics,
    store: Option<Arc<Store>>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()?;
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
                let permits = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
                let metrics = Arc::new(metrics);
                loop {
                    let (stream, _) = match listener.accept().await {
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
                    let Ok(permit) = permits.clone().try_acquire_owned() else {
                        drop(stream);
                        continue;
                    };
                    let metrics = metrics.clone();
                    let store = store.clone();
                    tokio::spawn(async move {
                        let svc = hyper::service::service_fn(move |req| {
                            let r = respond(&metrics, store.as_deref(), &req);
                            async move { Ok::<_, std::convert::Infallible>(r) }
                        });
                        let conn = hyper::server::conn::http1::Builder::new()
                            .timer(TokioTimer::new())
                            .header_read_timeout(Duration::from_secs(3))
                            .serve_connection(TokioIo::new(stream), svc);
                        // A whole connection may not outlive this: bounds
                        // slow readers of a large /metrics body too.
                        let _ = tokio::time::timeout(CONNECTION_LIMIT, conn).await;
                        drop(permit);
                    });
                }
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn get(addr: SocketAddr, path: &str) -> String {
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
        let store = Arc::new(Store::with_key(
            &[5u8; 32],
            crate::findings::StoreConfig::default(),
        ));
        let f = crate::exposure::Finding {
            kind: crate::exposure::Kind::CustomHeader,
            field: crate::exposure::Field::XHeader,
            name: b"X-Account",
            evidence: b"5551234567",
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
}
