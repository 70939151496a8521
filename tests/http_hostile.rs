//! Hostile clients of the HTTP endpoints that `tests/scrape_storm.rs` does
//! not play: what a stranger who can reach the port can still do with
//! basic auth on (`--web-config`), plain HTTP, a replaying sensor.
//!
//! Asserted:
//! - a flood of wrong logins whose clients hang up mid-check (hyper drops
//!   the request on EOF) does not queue bcrypt checks: a first login
//!   afterwards is answered within [`LOGIN_LIMIT`] (before the fix: 1,106
//!   hang-ups in 3 s, and a first login was not answered within the 15 s
//!   connection lifetime);
//! - a keep-alive client that keeps sending requests is still closed at
//!   the connection lifetime (15 s).
//!
//! No root, no external tools (the bcrypt hash is made with the crate).
mod common;

use base64::Engine as _;
use common::sensor::{
    basic_auth_users, free_port, http_raw as request, spawn_replay_with_web_config,
};
use common::{stop, temp_dir};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

const USER: &str = "prometheus";
const PASSWORD: &str = "correct horse battery staple";
/// A login (bcrypt cost 10: tens of ms) must be answered well within
/// Prometheus' 10 s scrape timeout.
const LOGIN_LIMIT: Duration = Duration::from_secs(5);

struct Server {
    child: Child,
    addr: SocketAddr,
    stderr: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        stop(&mut self.child, Duration::from_secs(5));
    }
}

impl Server {
    /// A replaying sensor with basic auth for `users` (name, password).
    fn start(label: &str, users: &[(&str, &str)]) -> Server {
        let dir = temp_dir(label);
        let web = dir.join("web.yml");
        std::fs::write(&web, basic_auth_users(users)).unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let stderr = dir.join("sensor.stderr");
        let child = spawn_replay_with_web_config(addr, &web, &stderr, &dir);
        let mut s = Server {
            child,
            addr,
            stderr,
        };
        // Ready when it answers at all (401 without credentials).
        let t = Instant::now();
        loop {
            if let Ok(r) = request(addr, &get("/healthz", None), Duration::from_secs(2)) {
                if r.starts_with("HTTP/1.1 401") {
                    return s;
                }
            }
            if let Some(st) = s.child.try_wait().ok().flatten() {
                panic!("sensor exited ({st}): {}", s.stderr());
            }
            assert!(t.elapsed() < Duration::from_secs(20), "not ready");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

fn get(path: &str, login: Option<(&str, &str)>) -> String {
    let auth = login.map_or(String::new(), |(u, p)| {
        format!(
            "Authorization: Basic {}\r\n",
            base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
        )
    });
    format!("GET {path} HTTP/1.1\r\nHost: hostile\r\n{auth}Connection: close\r\n\r\n")
}

#[test]
fn hung_up_logins_do_not_lock_out_a_first_login() {
    let s = Server::start("hostile-hangup", &[(USER, PASSWORD), ("second", PASSWORD)]);
    let addr = s.addr;
    // One wrong login, answered: the price of a check.
    let t = Instant::now();
    let r = request(addr, &get("/metrics", Some((USER, "nope"))), LOGIN_LIMIT).unwrap();
    assert!(r.starts_with("HTTP/1.1 401"), "{r}");
    let one = t.elapsed();

    // Four clients for 3 s: ask with a wrong password, hang up 10 ms
    // later (once the server has started the check; a client that hangs
    // up before is dropped before its check starts). Keep-alive requests:
    // after a `Connection: close` one hyper stops reading and does not
    // see the hang-up.
    let bad = get("/metrics", Some((USER, "guess"))).replace("Connection: close\r\n", "");
    let until = Instant::now() + Duration::from_secs(3);
    let flood: Vec<_> = (0..4)
        .map(|_| {
            let bad = bad.clone();
            std::thread::spawn(move || {
                let mut n = 0u32;
                while Instant::now() < until && n < 5_000 {
                    if let Ok(mut c) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
                        let _ = c.write_all(bad.as_bytes());
                        std::thread::sleep(Duration::from_millis(10));
                        let _ = c.shutdown(Shutdown::Both);
                        n += 1;
                    }
                }
                n
            })
        })
        .collect();
    let hung_up: u32 = flood.into_iter().map(|h| h.join().unwrap()).sum();

    // A first login (never cached) right after: before the fix it waited
    // behind every abandoned check (about `hung_up` / 2 checks' time).
    let t = Instant::now();
    let r = request(
        addr,
        &get("/metrics", Some(("second", PASSWORD))),
        LOGIN_LIMIT,
    );
    let took = t.elapsed();
    eprintln!("one check {one:?}; {hung_up} hung-up logins; then a first login took {took:?}");
    let r =
        r.unwrap_or_else(|e| panic!("first login after {hung_up} hang-ups: {e} after {took:?}"));
    assert!(r.starts_with("HTTP/1.1 200"), "{r}\n{}", s.stderr());
    assert!(took < LOGIN_LIMIT, "{took:?}");
}

#[test]
fn keep_alive_is_closed_at_the_connection_lifetime() {
    let s = Server::start("hostile-keepalive", &[(USER, PASSWORD)]);
    let mut c = TcpStream::connect(s.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    // Requests without `Connection: close`, one every 0.5 s (a cached
    // login each), reading whatever comes, until the server closes.
    let req = get("/healthz", Some((USER, PASSWORD))).replace("Connection: close\r\n", "");
    let t = Instant::now();
    let mut answered = 0;
    let mut buf = [0u8; 4096];
    let closed_after = loop {
        assert!(
            t.elapsed() < Duration::from_secs(25),
            "keep-alive connection still open after {:?} ({answered} answers)",
            t.elapsed()
        );
        if c.write_all(req.as_bytes()).is_err() {
            break t.elapsed();
        }
        match c.read(&mut buf) {
            Ok(0) => break t.elapsed(),
            Ok(n) => {
                answered += String::from_utf8_lossy(&buf[..n])
                    .matches("HTTP/1.1 200")
                    .count()
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => break t.elapsed(),
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    eprintln!("keep-alive: {answered} answers, closed after {closed_after:?}");
    assert!(answered >= 10, "{answered}");
    assert!(closed_after >= Duration::from_secs(14), "{closed_after:?}");
}
