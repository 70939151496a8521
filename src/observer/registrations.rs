//! Registration presence: when an address of record came online
//! (`register`), stayed (`refresh`) and went offline (`deregister`), as an
//! observer of cleartext REGISTER transactions learns it (issue #15), and
//! the bindings currently registered (`registrations_active`).
//!
//! Owner: `observer`. Invariant: both tables hold keyed 64-bit tags only
//! (of Call-ID + CSeq for transactions, of AOR + contact URI for
//! bindings), each at most `cap` entries. A REGISTER waits for its final
//! response at most [`TRANSACTION_TIMEOUT`]; a full transaction table drops
//! its least recently seen entry, a full binding table the binding that
//! expires first; both are counted. Every operation is O(1) or O(log cap).
//!
//! Counted once per REGISTER transaction with a 2xx final response (a
//! retransmitted 2xx finds no pending transaction). The field:
//! `deregister` when every contact's expiry (its `expires=` parameter, else
//! the `Expires` header) is 0 or the contact is `*` (RFC 3261 §10.2.2);
//! otherwise `refresh` when one of its bindings was already registered,
//! else `register`. A REGISTER without Contact (a query, §10.2.3) changes
//! nothing and is not counted; nor is a non-2xx final response.

use super::extract::{RegisterFacts, MAX_CONTACTS};
use crate::exposure::Field;
use crate::findings::redact::Pseudonymizer;
use crate::lru::Lru;
use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

/// RFC 3261 §17.1.2.2 Timer F: 64*T1 = 32 s for a non-INVITE transaction.
pub const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(32);

/// RFC 3261 §10.2.1.1: the registrar's default when neither `expires=`
/// nor `Expires` is present (commonly 3600).
pub const DEFAULT_EXPIRES: u32 = 3600;

#[derive(Debug, Clone, Copy)]
struct Pending {
    /// Tags of (AOR, contact URI) with the requested expiry in seconds.
    bindings: [Option<(u64, u32)>; MAX_CONTACTS],
    deregister: bool,
    /// The REGISTER's sender: the device whose presence shows.
    sender: IpAddr,
    started: u32,
}

struct Inner {
    pending: Lru<u64, Pending>,
    /// Binding tag → capture second it expires.
    bindings: HashMap<u64, u32, ahash::RandomState>,
    /// (expiry, tag): the order bindings expire in.
    by_expiry: BTreeSet<(u32, u64)>,
    evicted_capacity: u64,
    expired_pending: u64,
}

/// A REGISTER that got its 2xx: what it tells, and whose it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Presence {
    pub field: Field,
    pub sender: IpAddr,
}

/// A cleartext REGISTER request, as the table needs it.
#[derive(Debug, Clone, Copy)]
pub struct RegisterRequest<'a> {
    pub call_id: &'a [u8],
    pub cseq: u32,
    /// The To URI: the address of record (RFC 3261 §10.2).
    pub aor: &'a [u8],
    pub facts: &'a RegisterFacts<'a>,
    /// The `Expires` header.
    pub expires: Option<u32>,
    pub sender: IpAddr,
}

/// The shared registration table.
pub struct Registrations {
    key: Pseudonymizer,
    cap: usize,
    inner: Mutex<Inner>,
}

fn secs(now: Duration) -> u32 {
    u32::try_from(now.as_secs()).unwrap_or(u32::MAX)
}

impl Registrations {
    pub fn new(cap: usize, key: Pseudonymizer) -> Registrations {
        let cap = cap.max(1);
        Registrations {
            key,
            cap,
            inner: Mutex::new(Inner {
                pending: Lru::new(cap),
                bindings: HashMap::with_hasher(ahash::RandomState::new()),
                by_expiry: BTreeSet::new(),
                evicted_capacity: 0,
                expired_pending: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn transaction(&self, call_id: &[u8], cseq: u32) -> u64 {
        self.key.tag64(&[b"reg-tx", call_id, &cseq.to_be_bytes()])
    }

    /// A cleartext REGISTER request.
    pub fn request(&self, r: &RegisterRequest<'_>, now: Duration) {
        let RegisterRequest {
            call_id,
            cseq,
            aor,
            facts,
            expires,
            sender,
        } = *r;
        let mut p = Pending {
            bindings: [None; MAX_CONTACTS],
            deregister: facts.wildcard,
            sender,
            started: secs(now),
        };
        let mut any = false;
        for (slot, b) in p.bindings.iter_mut().zip(facts.bindings()) {
            let e = b.expires.or(expires).unwrap_or(DEFAULT_EXPIRES);
            *slot = Some((self.key.tag64(&[b"reg-bind", aor, b.uri]), e));
            any = true;
        }
        if !any && !facts.wildcard {
            return; // a query: nothing changes
        }
        // With `*` the bindings are not listed; every listed one at 0 is
        // a removal too.
        p.deregister |= p.bindings.iter().flatten().all(|&(_, e)| e == 0);
        let tx = self.transaction(call_id, cseq);
        let mut g = self.lock();
        if let Some(old) = g.pending.get_mut(&tx) {
            *old = p; // a retransmission
            return;
        }
        if g.pending.insert(tx, p).is_some() {
            g.evicted_capacity += 1;
        }
    }

    /// A final response to REGISTER: the presence it reveals, for a 2xx
    /// whose request was seen.
    pub fn response(
        &self,
        call_id: &[u8],
        cseq: u32,
        code: u16,
        now: Duration,
    ) -> Option<Presence> {
        if code < 200 {
            return None;
        }
        let tx = self.transaction(call_id, cseq);
        let mut g = self.lock();
        let p = g.pending.remove(&tx)?;
        if !(200..300).contains(&code) {
            return None;
        }
        let now = secs(now);
        let bindings = p.bindings.iter().flatten();
        let field = if p.deregister {
            for &(tag, _) in bindings {
                g.unbind(tag);
            }
            Field::Deregister
        } else {
            let mut known = false;
            for &(tag, e) in bindings {
                known |= g.unbind(tag);
                if e > 0 {
                    g.bind(tag, now.saturating_add(e), self.cap);
                }
            }
            if known {
                Field::Refresh
            } else {
                Field::Register
            }
        };
        Some(Presence {
            field,
            sender: p.sender,
        })
    }

    /// Bindings past their expiry leave; transactions without a final
    /// response after [`TRANSACTION_TIMEOUT`] are dropped (counted).
    pub fn expire(&self, now: Duration) {
        let t = secs(now);
        let mut g = self.lock();
        while let Some(&(at, tag)) = g.by_expiry.first() {
            if at > t {
                break;
            }
            g.by_expiry.pop_first();
            g.bindings.remove(&tag);
        }
        let limit = secs(now.saturating_sub(TRANSACTION_TIMEOUT));
        while g.pending.pop_lru_if(|p| p.started < limit).is_some() {
            g.expired_pending += 1;
        }
    }

    /// Bindings currently registered (`registrations_active`).
    pub fn active(&self) -> usize {
        self.lock().bindings.len()
    }

    /// REGISTER transactions waiting for their final response.
    pub fn pending(&self) -> usize {
        self.lock().pending.len()
    }

    pub fn cap(&self) -> usize {
        self.cap
    }

    /// (evicted because a table was full, transactions that timed out)
    /// since the last call.
    pub fn take_evictions(&self) -> (u64, u64) {
        let mut g = self.lock();
        let out = (g.evicted_capacity, g.expired_pending);
        g.evicted_capacity = 0;
        g.expired_pending = 0;
        out
    }
}

impl Inner {
    /// Removes a binding; true when it was registered.
    fn unbind(&mut self, tag: u64) -> bool {
        match self.bindings.remove(&tag) {
            Some(at) => {
                self.by_expiry.remove(&(at, tag));
                true
            }
            None => false,
        }
    }

    fn bind(&mut self, tag: u64, at: u32, cap: usize) {
        if self.bindings.len() >= cap {
            // Full: the binding that expires first makes room.
            if let Some((_, old)) = self.by_expiry.pop_first() {
                self.bindings.remove(&old);
                self.evicted_capacity += 1;
            }
        }
        self.bindings.insert(tag, at);
        self.by_expiry.insert((at, tag));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(cap: usize) -> Registrations {
        Registrations::new(cap, Pseudonymizer::new(&[3u8; 32]))
    }

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));

    fn facts(v: &[u8]) -> RegisterFacts<'_> {
        RegisterFacts::from_contacts([v].into_iter())
    }

    #[allow(clippy::too_many_arguments)]
    fn req(
        r: &Registrations,
        call_id: &[u8],
        cseq: u32,
        aor: &[u8],
        facts: &RegisterFacts<'_>,
        expires: Option<u32>,
        sender: IpAddr,
        now: Duration,
    ) {
        let request = RegisterRequest {
            call_id,
            cseq,
            aor,
            facts,
            expires,
            sender,
        };
        r.request(&request, now);
    }

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn register_refresh_deregister() {
        let r = table(16);
        let c = facts(b"<sip:alice@192.0.2.1:5060>");
        req(
            &r,
            b"cid",
            1,
            b"sip:alice@example.com",
            &c,
            Some(60),
            IP,
            s(1),
        );
        assert_eq!(r.response(b"cid", 1, 401, s(1)), None, "challenged");
        req(
            &r,
            b"cid",
            2,
            b"sip:alice@example.com",
            &c,
            Some(60),
            IP,
            s(1),
        );
        assert_eq!(r.response(b"cid", 2, 100, s(1)), None, "provisional");
        let p = r.response(b"cid", 2, 200, s(1)).unwrap();
        assert_eq!((p.field, p.sender), (Field::Register, IP));
        assert_eq!(r.response(b"cid", 2, 200, s(1)), None, "retransmitted 2xx");
        assert_eq!(r.active(), 1);
        req(
            &r,
            b"cid",
            3,
            b"sip:alice@example.com",
            &c,
            Some(60),
            IP,
            s(30),
        );
        assert_eq!(
            r.response(b"cid", 3, 200, s(30)).unwrap().field,
            Field::Refresh
        );
        assert_eq!(r.active(), 1);
        req(
            &r,
            b"cid",
            4,
            b"sip:alice@example.com",
            &c,
            Some(0),
            IP,
            s(40),
        );
        assert_eq!(
            r.response(b"cid", 4, 200, s(40)).unwrap().field,
            Field::Deregister
        );
        assert_eq!(r.active(), 0);
        // `expires=0` on the contact wins over the header; `*` deregisters
        let c0 = facts(b"<sip:alice@192.0.2.1:5060>;expires=0");
        req(
            &r,
            b"cid",
            5,
            b"sip:alice@example.com",
            &c0,
            Some(60),
            IP,
            s(41),
        );
        assert_eq!(
            r.response(b"cid", 5, 200, s(41)).unwrap().field,
            Field::Deregister
        );
        req(
            &r,
            b"cid",
            6,
            b"sip:alice@example.com",
            &facts(b"*"),
            Some(0),
            IP,
            s(42),
        );
        assert_eq!(
            r.response(b"cid", 6, 200, s(42)).unwrap().field,
            Field::Deregister
        );
        // a query (no Contact) is not counted
        req(
            &r,
            b"cid",
            7,
            b"sip:alice@example.com",
            &facts(b""),
            None,
            IP,
            s(43),
        );
        assert_eq!(r.response(b"cid", 7, 200, s(43)), None);
    }

    #[test]
    fn bindings_expire_and_transactions_time_out() {
        let r = table(16);
        let c = facts(b"<sip:bob@192.0.2.9>");
        req(&r, b"x", 1, b"sip:bob@h", &c, None, IP, s(10));
        r.response(b"x", 1, 200, s(10));
        assert_eq!(r.active(), 1);
        r.expire(s(10 + u64::from(DEFAULT_EXPIRES) - 1));
        assert_eq!(r.active(), 1);
        r.expire(s(10 + u64::from(DEFAULT_EXPIRES)));
        assert_eq!(r.active(), 0);
        req(&r, b"y", 1, b"sip:bob@h", &c, None, IP, s(5000));
        assert_eq!(r.pending(), 1);
        r.expire(s(5000) + TRANSACTION_TIMEOUT + s(2));
        assert_eq!(r.pending(), 0);
        assert_eq!(r.take_evictions(), (0, 1));
    }

    #[test]
    fn full_tables_keep_their_cap() {
        let r = table(50);
        for i in 0..1000u32 {
            let uri = format!("<sip:{i}@192.0.2.1>");
            let aor = format!("sip:{i}@h");
            req(
                &r,
                &i.to_be_bytes(),
                1,
                aor.as_bytes(),
                &facts(uri.as_bytes()),
                Some(60 + i),
                IP,
                s(1),
            );
            r.response(&i.to_be_bytes(), 1, 200, s(1));
        }
        assert_eq!(r.active(), 50);
        let (evicted, _) = r.take_evictions();
        assert_eq!(evicted, 950);
        for i in 0..1000u32 {
            req(
                &r,
                &i.to_be_bytes(),
                9,
                b"sip:q@h",
                &facts(b"<sip:q@h>"),
                None,
                IP,
                s(2),
            );
        }
        assert_eq!(r.pending(), 50);
        assert_eq!(r.take_evictions().0, 950);
    }
}
