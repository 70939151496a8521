//! HTTP basic auth against the bcrypt hashes of the web config.
//!
//! Owner: `http`. A bcrypt check costs tens of milliseconds by design, and
//! the HTTP runtime has one thread: checks run on tokio's blocking pool,
//! at most [`BCRYPT_PARALLEL`] at a time (a slot is held until its job
//! ends, even when the client hung up) and one at a time per client
//! network (one guesser cannot queue in front of everyone), and a
//! successful (user, password,
//! hash) is remembered as a keyed hash (HMAC-SHA256 under a per-process
//! random key, as the exporter-toolkit caches) so a scraper logging in
//! every 15 s pays one bcrypt, not one per scrape. Failures are never
//! cached: a wrong password always costs a full check. Unknown users are
//! checked against a real hash too, so the answer's timing does not tell
//! which user names exist. Cache hits are compared in constant time.
//! Passwords and hashes are never logged.

use super::webconfig::Users;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use subtle::ConstantTimeEq;

/// Successful logins remembered. A handful of scrapers (Prometheus HA
/// pairs, a health checker) log in with a handful of passwords; 64 keys
/// of 32 bytes are nothing, and the oldest is forgotten first.
const CACHE_ENTRIES: usize = 64;
/// bcrypt checks running at once. Each keeps a core busy for its whole
/// duration; two leave the capture and worker threads room on a small
/// machine while a password-guessing client waits in line (bounded by the
/// connection lifetime) instead of piling up threads.
pub const BCRYPT_PARALLEL: usize = 2;
/// Longest `Authorization` value looked at: user and password of a real
/// scraper fit in far less, and bcrypt reads only 72 bytes of a password.
const MAX_HEADER: usize = 1024;

pub struct BasicAuth {
    users: Arc<Users>,
    key: [u8; 32],
    cache: Mutex<VecDeque<[u8; 32]>>,
    slots: Arc<tokio::sync::Semaphore>,
    /// Hash checked for unknown users (one of the real ones: same cost).
    decoy: String,
    /// One queue place per client network ([`lane_of`]): see `check`.
    lanes: Mutex<HashMap<IpAddr, Arc<tokio::sync::Mutex<()>>>>,
}

/// The network a login attempt is queued for: an IPv4 address, or an
/// IPv6 /64 (one host may use a whole /64).
fn lane_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = a.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// A place in one network's lane; forgets the lane when nobody else is in
/// it (the map stays as small as the number of networks checking now).
struct Lane<'a> {
    auth: &'a BasicAuth,
    key: IpAddr,
    turn: Arc<tokio::sync::Mutex<()>>,
}

impl Drop for Lane<'_> {
    fn drop(&mut self) {
        let mut m = self.auth.lanes.lock().unwrap_or_else(|p| p.into_inner());
        // Ours and the map's: no one else holds or waits for this lane.
        if Arc::strong_count(&self.turn) == 2 {
            m.remove(&self.key);
        }
    }
}

impl BasicAuth {
    pub fn new(users: Arc<Users>) -> std::io::Result<BasicAuth> {
        let mut key = [0u8; 32];
        getrandom::getrandom(&mut key).map_err(|e| std::io::Error::other(e.to_string()))?;
        let decoy = users.0.values().next().cloned().unwrap_or_default();
        Ok(BasicAuth {
            users,
            key,
            cache: Mutex::new(VecDeque::with_capacity(CACHE_ENTRIES)),
            slots: Arc::new(tokio::sync::Semaphore::new(BCRYPT_PARALLEL)),
            decoy,
            lanes: Mutex::new(HashMap::new()),
        })
    }

    fn cache_key(&self, user: &[u8], password: &[u8], hash: &str) -> [u8; 32] {
        // `new_from_slice` accepts any key length for HMAC: cannot fail.
        let Ok(mut m) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            return [0; 32];
        };
        // Length-prefixed fields: ("ab","c") and ("a","bc") differ.
        for part in [user, password, hash.as_bytes()] {
            m.update(&(part.len() as u64).to_le_bytes());
            m.update(part);
        }
        m.finalize().into_bytes().into()
    }

    fn cached(&self, k: &[u8; 32]) -> bool {
        let c = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        // Every entry is compared, in constant time each.
        c.iter()
            .fold(subtle::Choice::from(0), |acc, e| acc | e.ct_eq(k))
            .into()
    }

    fn remember(&self, k: [u8; 32]) {
        let mut c = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if c.iter().any(|e| bool::from(e.ct_eq(&k))) {
            return;
        }
        if c.len() >= CACHE_ENTRIES {
            c.pop_front();
        }
        c.push_back(k);
    }

    /// Is this `Authorization` header value, from `peer`, a valid login?
    pub async fn check(&self, header: Option<&[u8]>, peer: IpAddr) -> bool {
        let Some((user, password)) = header.and_then(parse_basic) else {
            return false;
        };
        let (hash, known) = match std::str::from_utf8(&user)
            .ok()
            .and_then(|u| self.users.0.get(u))
        {
            Some(h) => (h.clone(), true),
            None => (self.decoy.clone(), false),
        };
        let k = self.cache_key(&user, &password, &hash);
        if known && self.cached(&k) {
            return true;
        }
        // One check at a time per client network, before the shared queue:
        // the bcrypt queue is fair (first come, first served), so without
        // this 100 connections of one password guesser queued 100 checks
        // and a first login from elsewhere waited 10.7 s behind them (past
        // Prometheus' scrape timeout; 248 would pass the connection
        // lifetime). Now it waits behind one check per guessing network.
        let key = lane_of(peer);
        let lane = Lane {
            auth: self,
            key,
            turn: self
                .lanes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(key)
                .or_default()
                .clone(),
        };
        // Declared after `lane`, dropped before it.
        let _turn = lane.turn.clone().lock_owned().await;
        let Ok(slot) = self.slots.clone().acquire_owned().await else {
            return false;
        };
        // The slot goes with the job, not with this future: a client that
        // hangs up mid-check drops this future (hyper ends the connection
        // on EOF), but a blocking job cannot be cancelled and runs on. Had
        // the slot been freed with the future, every hang-up would let one
        // more job into the blocking pool's unbounded queue: a login flood
        // of hang-ups queued thousands of checks, and a real first login
        // waited behind all of them, past any scrape timeout.
        let ok = tokio::task::spawn_blocking(move || {
            let _slot = slot;
            bcrypt::verify(&password, &hash).unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        if ok && known {
            self.remember(k);
        }
        ok && known
    }
}

/// `Basic base64(user:password)` → (user, password).
fn parse_basic(v: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    if v.len() > MAX_HEADER {
        return None;
    }
    let s = std::str::from_utf8(v).ok()?.trim();
    let (scheme, b64) = s.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let i = raw.iter().position(|&b| b == b':')?;
    Some((raw[..i].to_vec(), raw[i + 1..].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const PEER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7));

    fn auth() -> BasicAuth {
        let mut u = BTreeMap::new();
        u.insert("prometheus".to_string(), bcrypt::hash("s3cret", 4).unwrap());
        BasicAuth::new(Arc::new(Users(u))).unwrap()
    }

    fn header(user: &str, pw: &str) -> Vec<u8> {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"))
        )
        .into_bytes()
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    }

    #[test]
    fn parses_basic_headers() {
        assert_eq!(
            parse_basic(&header("a", "b:c")),
            Some((b"a".to_vec(), b"b:c".to_vec()))
        );
        assert_eq!(parse_basic(b"Bearer xyz"), None);
        assert_eq!(parse_basic(b"Basic !!!"), None);
        assert_eq!(parse_basic(b"Basic"), None);
        assert_eq!(parse_basic(&vec![b'a'; 5000]), None);
    }

    #[test]
    fn good_login_passes_and_is_cached_bad_ones_fail() {
        let a = auth();
        let rt = rt();
        rt.block_on(async {
            assert!(a.check(Some(&header("prometheus", "s3cret")), PEER).await);
            assert_eq!(a.cache.lock().unwrap().len(), 1);
            assert!(a.check(Some(&header("prometheus", "s3cret")), PEER).await);
            assert_eq!(a.cache.lock().unwrap().len(), 1);
            assert!(!a.check(Some(&header("prometheus", "wrong")), PEER).await);
            // The right password under an unknown name is still refused,
            // though it was checked against a real hash.
            assert!(!a.check(Some(&header("nobody", "s3cret")), PEER).await);
            assert!(!a.check(None, PEER).await);
            assert_eq!(a.cache.lock().unwrap().len(), 1);
        });
    }

    /// Clients that ask and hang up at once (hyper drops the check's future
    /// on EOF) must not pile bcrypt jobs up behind the two blocking threads:
    /// a real login afterwards waits for at most the jobs already running.
    /// (It waited for all 100 abandoned ones: about 50 checks' time.)
    #[test]
    fn hung_up_logins_do_not_queue_bcrypt_jobs() {
        use std::future::Future as _;
        use std::time::{Duration, Instant};
        let mut u = BTreeMap::new();
        u.insert("prometheus".to_string(), bcrypt::hash("s3cret", 8).unwrap());
        u.insert("second".to_string(), bcrypt::hash("other", 8).unwrap());
        let a = BasicAuth::new(Arc::new(Users(u))).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .max_blocking_threads(BCRYPT_PARALLEL)
            .build()
            .unwrap();
        rt.block_on(async {
            let t = Instant::now();
            assert!(!a.check(Some(&header("prometheus", "wrong")), PEER).await);
            let one = t.elapsed().max(Duration::from_millis(1));
            let bad = header("prometheus", "wrong");
            for _ in 0..100 {
                // Polled once (starts its check if a slot is free), then
                // dropped: a client that hung up.
                let mut f = Box::pin(a.check(Some(&bad), PEER));
                std::future::poll_fn(|cx| {
                    let _ = f.as_mut().poll(cx);
                    std::task::Poll::Ready(())
                })
                .await;
            }
            let t = Instant::now();
            assert!(a.check(Some(&header("second", "other")), PEER).await);
            let login = t.elapsed();
            eprintln!("one check {one:?}, a login after 100 hang-ups {login:?}");
            assert!(
                login < one * 10,
                "a login after 100 hang-ups took {login:?}, one check {one:?}"
            );
        });
    }

    /// Many concurrent guesses from one network queue one check at a time:
    /// a login from elsewhere waits behind one of them, not all 40 (it
    /// waited about 20 checks' time).
    #[test]
    fn one_network_cannot_fill_the_bcrypt_queue() {
        use std::time::{Duration, Instant};
        let mut u = BTreeMap::new();
        u.insert("prometheus".to_string(), bcrypt::hash("s3cret", 8).unwrap());
        u.insert("second".to_string(), bcrypt::hash("other", 8).unwrap());
        let a = Arc::new(BasicAuth::new(Arc::new(Users(u))).unwrap());
        let rt = tokio::runtime::Builder::new_current_thread()
            .max_blocking_threads(BCRYPT_PARALLEL)
            .build()
            .unwrap();
        rt.block_on(async {
            let t = Instant::now();
            assert!(!a.check(Some(&header("prometheus", "wrong")), PEER).await);
            let one = t.elapsed().max(Duration::from_millis(1));
            // 40 guesses from one /64 (different addresses in it).
            let guesses: Vec<_> = (0..40u16)
                .map(|i| {
                    let a = a.clone();
                    let ip = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, i));
                    tokio::spawn(
                        async move { a.check(Some(&header("prometheus", "wrong")), ip).await },
                    )
                })
                .collect();
            tokio::task::yield_now().await;
            let t = Instant::now();
            assert!(a.check(Some(&header("second", "other")), PEER).await);
            let login = t.elapsed();
            eprintln!("one check {one:?}, a login beside 40 guesses {login:?}");
            assert!(
                login < one * 8,
                "a login beside 40 guesses took {login:?}, one check {one:?}"
            );
            for g in guesses {
                assert!(!g.await.unwrap());
            }
            // Every lane is forgotten once its checks are done.
            assert!(a.lanes.lock().unwrap().is_empty());
        });
    }

    #[test]
    fn lanes_are_addresses_and_ipv6_64s() {
        let l = |s: &str| lane_of(s.parse().unwrap());
        assert_eq!(l("192.0.2.1"), l("::ffff:192.0.2.1"));
        assert_ne!(l("192.0.2.1"), l("192.0.2.2"));
        assert_eq!(l("2001:db8:0:1::5"), l("2001:db8:0:1:ffff::9"));
        assert_ne!(l("2001:db8:0:1::5"), l("2001:db8:0:2::5"));
    }

    #[test]
    fn cache_is_bounded() {
        let a = auth();
        for i in 0..(CACHE_ENTRIES + 10) {
            a.remember(a.cache_key(b"u", format!("p{i}").as_bytes(), "h"));
        }
        assert_eq!(a.cache.lock().unwrap().len(), CACHE_ENTRIES);
        assert!(!a.cached(&a.cache_key(b"u", b"p0", "h")));
        assert!(a.cached(&a.cache_key(b"u", format!("p{}", CACHE_ENTRIES + 9).as_bytes(), "h")));
    }
}
