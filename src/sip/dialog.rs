//! Call and registration tracking by Call-ID (RFC 3261 §12–§15), shared by
//! all workers.
//!
//! Owner: `sip`. This file keeps state and parses no bytes: the caller gives
//! a [`Observation`] summarised from a parsed message. Invariants: the table
//! holds at most `max_entries` Call-IDs of each class (calls being set up,
//! answered calls, registrations; sharded, one LRU per class and shard, so
//! each LRU has one idle timeout and expiry only looks at its tail), keyed by a
//! keyed 64-bit hash of the Call-ID — the Call-ID itself, an identifier, is
//! never stored; every call that starts ends exactly once, with an outcome
//! (answered, rejected, cancelled, timeout), including calls evicted from a
//! full table, so `calls_total` never loses a count.
//!
//! Messages of one dialog may travel over several flows (proxies, forks),
//! hence several workers: the table is shared, one mutex per shard.

use super::parse::Method;
use crate::lru::Lru;
use std::sync::Mutex;
use std::time::Duration;

/// `calls_total{outcome}` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Answered,
    Rejected,
    Cancelled,
    Timeout,
}

impl Outcome {
    pub const ALL: [Outcome; 4] = [
        Outcome::Answered,
        Outcome::Rejected,
        Outcome::Cancelled,
        Outcome::Timeout,
    ];
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Answered => "answered",
            Outcome::Rejected => "rejected",
            Outcome::Cancelled => "cancelled",
            Outcome::Timeout => "timeout",
        }
    }
}

/// What the table needs from one SIP message.
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    pub call_id: &'a [u8],
    /// Request method, or the CSeq method of a response.
    pub method: Method,
    /// Status code for responses, `None` for requests.
    pub code: Option<u16>,
}

/// What happened, for the caller to count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CallEvent {
    /// A new INVITE dialog: `calls_active` + 1.
    Started,
    /// A call ended: `calls_active` − 1, `calls_total{outcome}` + 1, and for
    /// answered calls ended by BYE the duration from 2xx to BYE.
    Ended {
        outcome: Outcome,
        duration: Option<Duration>,
    },
}

/// Result of [`CallTable::observe`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Observed {
    pub event: Option<CallEvent>,
    /// First message seen of a new INVITE dialog or REGISTER Call-ID: the
    /// unit the `cleartext_signaling` exposure is counted once per.
    pub new_dialog: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// INVITE seen, no final response yet.
    Proceeding,
    /// 2xx to INVITE seen.
    Confirmed,
    /// A REGISTER Call-ID (not a call).
    Registration,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    state: State,
    answered_at: Option<Duration>,
    cancelled: bool,
    last: Duration,
}

#[derive(Debug, Clone, Copy)]
pub struct CallConfig {
    pub max_entries: usize,
    pub shards: usize,
    /// A call with no final response gives up after this (RFC 3261 Timer C
    /// is 3 minutes).
    pub setup_timeout: Duration,
    /// An answered call with no SIP for this long is ended (no BYE seen:
    /// capture started late or lost it); session timers (RFC 4028) refresh
    /// well within it.
    pub answered_timeout: Duration,
    /// A registration Call-ID is forgotten after this.
    pub registration_timeout: Duration,
}

impl Default for CallConfig {
    fn default() -> Self {
        CallConfig {
            max_entries: 200_000,
            shards: 16,
            setup_timeout: Duration::from_secs(180),
            answered_timeout: Duration::from_secs(4 * 3600),
            registration_timeout: Duration::from_secs(3600),
        }
    }
}

/// Counters since the last [`CallTable::take_stats`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CallStats {
    pub evicted_capacity: u64,
    pub expired: u64,
}

/// One LRU per [`State`], so each has a single idle timeout.
struct Shard {
    lrus: [Lru<u64, Entry>; 3],
    stats: CallStats,
}

impl State {
    fn class(self) -> usize {
        match self {
            State::Proceeding => 0,
            State::Confirmed => 1,
            State::Registration => 2,
        }
    }
}

impl Shard {
    fn find(&self, h: u64) -> Option<State> {
        self.lrus.iter().find_map(|l| l.peek(&h).map(|e| e.state))
    }

    /// Insert into the LRU of `e.state`, returning an evicted entry.
    fn insert(&mut self, h: u64, e: Entry) -> Option<Entry> {
        let i = e.state.class();
        self.lrus.get_mut(i)?.insert(h, e).map(|(_, old)| old)
    }

    fn len(&self) -> usize {
        self.lrus.iter().map(|l| l.len()).sum()
    }
}

pub struct CallTable {
    cfg: CallConfig,
    hasher: ahash::RandomState,
    shards: Vec<Mutex<Shard>>,
}

impl CallTable {
    pub fn new(cfg: CallConfig) -> CallTable {
        let n = cfg.shards.max(1);
        let per = cfg.max_entries.div_ceil(n).max(1);
        CallTable {
            cfg,
            // Random keys per process: the hash reveals nothing stable
            // about a Call-ID.
            hasher: ahash::RandomState::new(),
            shards: (0..n)
                .map(|_| {
                    Mutex::new(Shard {
                        lrus: [Lru::new(per), Lru::new(per), Lru::new(per)],
                        stats: CallStats::default(),
                    })
                })
                .collect(),
        }
    }

    fn shard(&self, h: u64) -> Option<std::sync::MutexGuard<'_, Shard>> {
        let i = (h % self.shards.len() as u64) as usize;
        // A poisoned shard means a panic elsewhere already; keep counting.
        self.shards
            .get(i)
            .map(|m| m.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Record one message; `now` is its capture time.
    pub fn observe(
        &self,
        o: &Observation<'_>,
        now: Duration,
        events: &mut Vec<CallEvent>,
    ) -> Observed {
        let mut out = Observed::default();
        if o.call_id.is_empty() {
            return out;
        }
        let h = self.hasher.hash_one(o.call_id);
        let Some(mut shard) = self.shard(h) else {
            return out;
        };
        let shard = &mut *shard;
        let Some(state) = shard.find(h) else {
            let state = match (o.method, o.code) {
                (Method::Invite, None) => State::Proceeding,
                (Method::Register, None) => State::Registration,
                // Anything else first (a BYE or a response of a call that
                // started before the capture) is not a call we saw start.
                _ => return out,
            };
            let e = Entry {
                state,
                answered_at: None,
                cancelled: false,
                last: now,
            };
            if let Some(old) = shard.insert(h, e) {
                shard.stats.evicted_capacity += 1;
                if let Some(ev) = end_on_eviction(&old) {
                    events.push(ev);
                }
            }
            out.new_dialog = true;
            if state == State::Proceeding {
                out.event = Some(CallEvent::Started);
                events.push(CallEvent::Started);
            }
            return out;
        };
        let class = state.class();
        let Some(e) = shard.lrus.get_mut(class).and_then(|l| l.get_mut(&h)) else {
            return out;
        };
        e.last = now;
        if e.state == State::Registration {
            return out;
        }
        let ended = match (o.method, o.code) {
            (Method::Cancel, None) => {
                e.cancelled = true;
                None
            }
            (Method::Invite, Some(200..=299)) => {
                if e.state == State::Proceeding {
                    e.state = State::Confirmed;
                    e.answered_at = Some(now);
                }
                None
            }
            // A final failure ends a call still being set up (a failure to
            // a re-INVITE leaves an established call alone, §14.1).
            (Method::Invite, Some(c)) if c >= 300 && e.state == State::Proceeding => {
                let outcome = if c == 487 || e.cancelled {
                    Outcome::Cancelled
                } else {
                    Outcome::Rejected
                };
                Some(CallEvent::Ended {
                    outcome,
                    duration: None,
                })
            }
            (Method::Bye, None) => Some(match e.answered_at {
                Some(t) => CallEvent::Ended {
                    outcome: Outcome::Answered,
                    duration: Some(now.saturating_sub(t)),
                },
                // BYE before any 2xx seen (a lost 2xx, or an early-dialog
                // BYE): the caller gave up.
                None => CallEvent::Ended {
                    outcome: Outcome::Cancelled,
                    duration: None,
                },
            }),
            _ => None,
        };
        let moved = e.state.class() != class;
        if let Some(ev) = ended {
            if let Some(l) = shard.lrus.get_mut(class) {
                l.remove(&h);
            }
            out.event = Some(ev);
            events.push(ev);
        } else if moved {
            // Answered: move to the LRU with the answered timeout.
            if let Some(e) = shard.lrus.get_mut(class).and_then(|l| l.remove(&h)) {
                if let Some(old) = shard.insert(h, e) {
                    shard.stats.evicted_capacity += 1;
                    if let Some(ev) = end_on_eviction(&old) {
                        events.push(ev);
                    }
                }
            }
        }
        out
    }

    /// End calls and forget registrations idle past their timeouts.
    pub fn expire(&self, now: Duration, events: &mut Vec<CallEvent>) {
        let limits = [
            self.cfg.setup_timeout,
            self.cfg.answered_timeout,
            self.cfg.registration_timeout,
        ];
        for m in &self.shards {
            let mut shard = m.lock().unwrap_or_else(|p| p.into_inner());
            let shard = &mut *shard;
            for (lru, limit) in shard.lrus.iter_mut().zip(limits) {
                // LRU order is last-touched order: idle entries are at the tail.
                while let Some((_, e)) = lru.pop_lru_if(|e| now.saturating_sub(e.last) > limit) {
                    shard.stats.expired += 1;
                    if let Some(ev) = end_on_eviction(&e) {
                        events.push(ev);
                    }
                }
            }
        }
    }

    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|m| m.lock().unwrap_or_else(|p| p.into_inner()).len())
            .sum()
    }

    /// Calls being set up or answered (not registrations).
    pub fn calls(&self) -> usize {
        self.shards
            .iter()
            .map(|m| {
                let s = m.lock().unwrap_or_else(|p| p.into_inner());
                s.lrus[0].len() + s.lrus[1].len()
            })
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn take_stats(&self) -> CallStats {
        let mut t = CallStats::default();
        for m in &self.shards {
            let mut s = m.lock().unwrap_or_else(|p| p.into_inner());
            t.evicted_capacity += s.stats.evicted_capacity;
            t.expired += s.stats.expired;
            s.stats = CallStats::default();
        }
        t
    }
}

/// A call removed without a final message still ends once: answered if it
/// was (no duration: its end was not seen), otherwise timeout.
fn end_on_eviction(e: &Entry) -> Option<CallEvent> {
    match e.state {
        State::Registration => None,
        State::Confirmed => Some(CallEvent::Ended {
            outcome: Outcome::Answered,
            duration: None,
        }),
        State::Proceeding => Some(CallEvent::Ended {
            outcome: Outcome::Timeout,
            duration: None,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(id: &[u8], m: Method) -> Observation<'_> {
        Observation {
            call_id: id,
            method: m,
            code: None,
        }
    }

    fn resp(id: &[u8], m: Method, code: u16) -> Observation<'_> {
        Observation {
            call_id: id,
            method: m,
            code: Some(code),
        }
    }

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn answered_call_with_duration() {
        let t = CallTable::new(CallConfig::default());
        let mut ev = Vec::new();
        assert!(
            t.observe(&req(b"a@x", Method::Invite), s(0), &mut ev)
                .new_dialog
        );
        // Retransmitted INVITE, provisional, answer, ACK, re-INVITE.
        assert!(
            !t.observe(&req(b"a@x", Method::Invite), s(0), &mut ev)
                .new_dialog
        );
        t.observe(&resp(b"a@x", Method::Invite, 180), s(1), &mut ev);
        t.observe(&resp(b"a@x", Method::Invite, 200), s(3), &mut ev);
        t.observe(&req(b"a@x", Method::Ack), s(3), &mut ev);
        t.observe(&req(b"a@x", Method::Invite), s(10), &mut ev);
        t.observe(&resp(b"a@x", Method::Invite, 491), s(10), &mut ev);
        t.observe(&req(b"a@x", Method::Bye), s(63), &mut ev);
        assert_eq!(
            ev,
            vec![
                CallEvent::Started,
                CallEvent::Ended {
                    outcome: Outcome::Answered,
                    duration: Some(s(60))
                }
            ]
        );
        assert!(t.is_empty());
        // The 200 to the BYE after the call ended starts nothing.
        t.observe(&resp(b"a@x", Method::Bye, 200), s(63), &mut ev);
        assert_eq!(ev.len(), 2);
    }

    #[test]
    fn rejected_cancelled_and_timeout() {
        let t = CallTable::new(CallConfig::default());
        let mut ev = Vec::new();
        t.observe(&req(b"r", Method::Invite), s(0), &mut ev);
        t.observe(&resp(b"r", Method::Invite, 486), s(1), &mut ev);
        t.observe(&req(b"c", Method::Invite), s(0), &mut ev);
        t.observe(&req(b"c", Method::Cancel), s(2), &mut ev);
        t.observe(&resp(b"c", Method::Invite, 487), s(2), &mut ev);
        t.observe(&req(b"t", Method::Invite), s(0), &mut ev);
        t.expire(s(100), &mut ev);
        assert_eq!(ev.len(), 5);
        t.expire(s(181), &mut ev);
        let outcomes: Vec<_> = ev
            .iter()
            .filter_map(|e| match e {
                CallEvent::Ended { outcome, .. } => Some(*outcome),
                _ => None,
            })
            .collect();
        assert_eq!(
            outcomes,
            vec![Outcome::Rejected, Outcome::Cancelled, Outcome::Timeout]
        );
        assert_eq!(t.take_stats().expired, 1);
    }

    #[test]
    fn registrations_are_dialogs_not_calls() {
        let t = CallTable::new(CallConfig::default());
        let mut ev = Vec::new();
        assert!(
            t.observe(&req(b"reg", Method::Register), s(0), &mut ev)
                .new_dialog
        );
        assert!(
            !t.observe(&req(b"reg", Method::Register), s(1), &mut ev)
                .new_dialog
        );
        // Mid-call messages of calls that started before the capture.
        assert!(
            !t.observe(&req(b"old", Method::Bye), s(1), &mut ev)
                .new_dialog
        );
        assert!(
            !t.observe(&resp(b"old2", Method::Invite, 200), s(1), &mut ev)
                .new_dialog
        );
        assert!(ev.is_empty());
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn full_table_evicts_and_still_counts_every_call_once() {
        let t = CallTable::new(CallConfig {
            max_entries: 8,
            shards: 2,
            ..CallConfig::default()
        });
        let mut ev = Vec::new();
        for i in 0..1000u32 {
            let id = i.to_string();
            t.observe(&req(id.as_bytes(), Method::Invite), s(0), &mut ev);
        }
        assert!(t.len() <= 8);
        assert_eq!(t.calls(), t.len());
        let started = ev.iter().filter(|e| **e == CallEvent::Started).count();
        let ended = ev.len() - started;
        assert_eq!(started, 1000);
        assert_eq!(ended + t.len(), 1000);
        assert_eq!(t.take_stats().evicted_capacity as usize, ended);
    }
}
