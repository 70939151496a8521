//! HTTP endpoints: `/metrics` (Prometheus text format), `/healthz`.
//!
//! Owner: `http`. Runs hyper 1.x on a small single-threaded tokio runtime on
//! its own thread, so scrapes never compete with capture or workers for more
//! than that one thread. Concurrent connections are capped (a scrape storm
//! waits at the semaphore instead of growing memory), and every connection
//! has a header-read timeout so slow clients cannot pin it.

use crate::metrics::Metrics;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

/// At most this many connections are served at once.
const MAX_CONNECTIONS: usize = 16;

/// Bind first (so a busy port is a startup error), serve later.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let l = TcpListener::bind(addr)?;
    l.set_nonblocking(true)?;
    Ok(l)
}

fn respond(metrics: &Metrics, req: &Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
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
        "/healthz" => text(StatusCode::OK, "ok\n"),
        "/" => text(StatusCode::OK, "sipsentinel: see /metrics and /healthz\n"),
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

/// Serve on a dedicated thread until the process exits.
pub fn spawn(
    listener: TcpListener,
    metrics: Metrics,
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
                    let Ok(permit) = permits.clone().acquire_owned().await else {
                        return;
                    };
                    let (stream, _) = match listener.accept().await {
                        Ok(s) => s,
                        Err(e) => {
                            // EMFILE and friends: back off instead of spinning.
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    };
                    let metrics = metrics.clone();
                    tokio::spawn(async move {
                        let svc = hyper::service::service_fn(move |req| {
                            let r = respond(&metrics, &req);
                            async move { Ok::<_, std::convert::Infallible>(r) }
                        });
                        let conn = hyper::server::conn::http1::Builder::new()
                            .timer(TokioTimer::new())
                            .header_read_timeout(Duration::from_secs(10))
                            .serve_connection(TokioIo::new(stream), svc);
                        // A whole connection may not outlive 30 s: bounds
                        // slow readers of a large /metrics body too.
                        let _ = tokio::time::timeout(Duration::from_secs(30), conn).await;
                        drop(permit);
                    });
                }
            })
        })
}
