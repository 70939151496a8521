//! Call and registration tracking by Call-ID (RFC 3261 §12–§15), shared by
//! all workers.
//!
//! Owner: `sip`. This file keeps state and parses no bytes: the caller gives
//! an [`Observation`] summarised from a parsed message. Invariants: the
//! table holds at most `max_entries` Call-IDs of each class (sharded, one
//! LRU per class and shard, so each LRU has one idle timeout and expiry only
//! looks at its tail), keyed by a keyed 64-bit hash of the Call-ID — the
//! Call-ID itself, an identifier, is never stored; every call that starts
//! ends exactly once, with an outcome (answered, rejected, cancelled,
//! timeout), including calls evicted from a full table, so `calls_total`
//! never loses a count.
//!
//! Messages of one dialog travel over several flows (a response goes to the
//! port in Via, proxies, forks, B2BUA legs), hence several workers, which
//! handle them in no fixed order. So an entry records facts with their
//! capture times — INVITE seen, earliest 2xx, final failure, earliest BYE —
//! and the outcome is decided from those facts only when the dialog has
//! been quiet for a while: the same capture gives the same counts however
//! the threads interleave.

use super::parse::Method;
use crate::lru::Lru;
use crate::observer::cdr_view::bit;
use std::sync::Mutex;
use std::time::Duration;

crate::label_enum! {
    /// `calls_total{outcome}` values.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Outcome {
        Answered = "answered",
        Rejected = "rejected",
        Cancelled = "cancelled",
        Timeout = "timeout",
    }
}

crate::label_enum! {
    /// `sip_registrations_total{outcome}`: what a final response to
    /// REGISTER says (RFC 3261 §10.3).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum RegistrationOutcome {
        /// 2xx: the binding was accepted.
        Success = "success",
        /// 401/407: the registrar asks for credentials (§22.2, §22.3).
        Challenged = "challenged",
        /// Any other final response.
        Failed = "failed",
    }
}

impl RegistrationOutcome {
    /// The outcome of a REGISTER's response `code`; `None` for a
    /// provisional (1xx, or a code below 100) response, which ends nothing.
    pub fn of(code: u16) -> Option<RegistrationOutcome> {
        match code {
            0..=199 => None,
            200..=299 => Some(RegistrationOutcome::Success),
            401 | 407 => Some(RegistrationOutcome::Challenged),
            _ => Some(RegistrationOutcome::Failed),
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
    /// Index of the transport the message came over (< 8).
    pub transport: u8,
    /// CDR fields this message shows an on-path observer
    /// (`observer::cdr_view::bit`); 0 for signalling it cannot read.
    pub visible: u8,
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
        /// CDR fields an on-path observer saw (`observer::cdr_view::bit`).
        seen: u8,
    },
}

/// Result of [`CallTable::observe`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Observed {
    pub event: Option<CallEvent>,
    /// The first INVITE or REGISTER request of this Call-ID over this
    /// transport: the unit `cleartext_signaling` is counted once per (a
    /// dialog or registration, per transport it crosses — which set of
    /// those exists does not depend on the order workers see them).
    pub new_dialog: bool,
}

/// Which timeout applies to an entry; one LRU per class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// INVITE seen, no final answer yet.
    Proceeding,
    /// Answered (2xx to INVITE), no BYE yet.
    Confirmed,
    /// Over (BYE, or a failure with no 2xx) or not a call we saw start
    /// (responses or BYE without the INVITE so far): decided once quiet
    /// for [`LINGER`].
    Settling,
    /// A REGISTER Call-ID (not a call).
    Registration,
}

impl Class {
    const ALL: [Class; 4] = [
        Class::Proceeding,
        Class::Confirmed,
        Class::Settling,
        Class::Registration,
    ];
    fn index(self) -> usize {
        self as usize
    }
}

/// How long an entry that looks over waits for more messages (the other
/// leg's BYE, a 2xx that another worker had not handled yet). Longer than
/// the one second of capture time workers may drift apart between
/// synchronisations when reading files.
const LINGER: Duration = Duration::from_secs(2);

/// See [`CallTable::expire`].
const EXPIRY_MARGIN: Duration = Duration::from_secs(1);

/// Facts about one Call-ID, each independent of the order messages arrive.
#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    invite: bool,
    register: bool,
    cancelled: bool,
    /// Transports (bit per index) an INVITE/REGISTER request came over.
    signaled: u8,
    /// Earliest 2xx to INVITE.
    answered_at: Option<Duration>,
    /// A final failure to INVITE (≥ 300), the lowest code seen.
    failure: Option<u16>,
    /// Earliest BYE.
    bye_at: Option<Duration>,
    /// Latest capture time of any message.
    last: Duration,
    /// `dtmf_disclosed` (field `sip_info`) already counted for this call.
    dtmf_info: bool,
    /// CDR fields seen so far (`observer::cdr_view::bit`).
    seen: u8,
}

fn earliest(slot: &mut Option<Duration>, t: Duration) {
    if slot.is_none_or(|x| t < x) {
        *slot = Some(t);
    }
}

impl Entry {
    fn class(&self) -> Class {
        if self.register && !self.invite {
            Class::Registration
        } else if !self.invite
            || self.bye_at.is_some()
            || (self.failure.is_some() && self.answered_at.is_none())
        {
            Class::Settling
        } else if self.answered_at.is_some() {
            Class::Confirmed
        } else {
            Class::Proceeding
        }
    }

    /// How the entry ends when removed (settled, idle, evicted): `None`
    /// for registrations and for dialogs whose INVITE was never seen.
    fn outcome(&self) -> Option<CallEvent> {
        if !self.invite {
            return None;
        }
        let (outcome, duration) = match (self.answered_at, self.failure, self.bye_at) {
            (Some(a), _, Some(b)) => (Outcome::Answered, Some(b.saturating_sub(a))),
            // Answered, end not seen (capture ended or lost it).
            (Some(_), _, None) => (Outcome::Answered, None),
            (None, Some(c), _) if c == 487 || self.cancelled => (Outcome::Cancelled, None),
            (None, Some(_), _) => (Outcome::Rejected, None),
            // BYE before any 2xx (lost 2xx, early-dialog BYE): given up.
            (None, None, Some(_)) => (Outcome::Cancelled, None),
            (None, None, None) => (Outcome::Timeout, None),
        };
        let mut seen = self.seen;
        // Duration needs both ends of the answered call in cleartext.
        if self.answered_at.is_some() && self.bye_at.is_some() && self.seen & bit::START != 0 {
            seen |= bit::DURATION;
        }
        Some(CallEvent::Ended {
            outcome,
            duration,
            seen,
        })
    }
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

/// One recency list per [`Class`] (list `Class::index`), so each has a
/// single idle timeout; the lists share one node arena and index.
struct Shard {
    lrus: Lru<u64, Entry, 4>,
    stats: CallStats,
}

impl Shard {
    fn find(&self, h: u64) -> Option<Class> {
        let (l, _) = self.lrus.peek_with_list(&h)?;
        Class::ALL.into_iter().find(|c| c.index() == l)
    }

    fn remove(&mut self, h: u64) -> Option<Entry> {
        self.lrus.remove(&h)
    }

    /// Insert into the LRU of the entry's class; a full LRU evicts its
    /// least recently used entry, which ends like an idle one.
    fn insert(&mut self, h: u64, e: Entry, events: &mut Vec<CallEvent>) {
        if let Some((_, old)) = self.lrus.insert_in(e.class().index(), h, e) {
            self.stats.evicted_capacity += 1;
            events.extend(old.outcome());
        }
    }

    fn len(&self) -> usize {
        self.lrus.len()
    }
}

/// Bytes one tracked Call-ID takes in its LRU node (key, entry, links),
/// not counting the hash index slot (a `u64` key and `u32` index, plus
/// hashbrown's control byte and load-factor slack).
pub fn entry_size() -> usize {
    std::mem::size_of::<crate::lru::Node<u64, Entry>>()
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
                        lrus: Lru::new(per),
                        stats: CallStats::default(),
                    })
                })
                .collect(),
        }
    }

    fn lock(m: &Mutex<Shard>) -> std::sync::MutexGuard<'_, Shard> {
        // A poisoned shard means a panic elsewhere already; keep counting.
        m.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn limit(&self, c: Class) -> Duration {
        match c {
            Class::Proceeding => self.cfg.setup_timeout,
            Class::Confirmed => self.cfg.answered_timeout,
            Class::Settling => LINGER,
            Class::Registration => self.cfg.registration_timeout,
        }
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
        let Some(m) = self.shards.get((h % self.shards.len() as u64) as usize) else {
            return out;
        };
        let mut shard = Self::lock(m);
        let shard = &mut *shard;
        let mut e = Entry::default();
        if let Some(c) = shard.find(h) {
            if let Some(old) = shard.remove(h) {
                // Idle past its timeout: over, whether or not a worker got
                // round to expiring it; end it the same way expiry would, so
                // the outcome depends on capture times only.
                if now.saturating_sub(old.last) > self.limit(c) {
                    if c != Class::Settling {
                        shard.stats.expired += 1;
                    }
                    events.extend(old.outcome());
                } else {
                    e = old;
                }
            }
        }
        e.seen |= o.visible;
        let had_invite = e.invite;
        if o.code.is_none() && matches!(o.method, Method::Invite | Method::Register) {
            let bit = 1u8 << (o.transport & 7);
            out.new_dialog = e.signaled & bit == 0;
            e.signaled |= bit;
        }
        match (o.method, o.code) {
            (Method::Invite, None) => e.invite = true,
            (Method::Register, None) => e.register = true,
            (Method::Cancel, None) => e.cancelled = true,
            (Method::Bye, None) => earliest(&mut e.bye_at, now),
            (Method::Invite, Some(200..=299)) => earliest(&mut e.answered_at, now),
            (Method::Invite, Some(c)) if c >= 300 => {
                e.failure = Some(e.failure.map_or(c, |f| f.min(c)));
            }
            _ => {}
        }
        e.last = e.last.max(now);
        if !e.invite
            && !e.register
            && e.answered_at.is_none()
            && e.failure.is_none()
            && e.bye_at.is_none()
        {
            // Nothing worth remembering (an OPTIONS, a stray ACK).
            return out;
        }
        if e.invite && !had_invite {
            out.event = Some(CallEvent::Started);
            events.push(CallEvent::Started);
        }
        shard.insert(h, e, events);
        out
    }

    /// Is this the call's first DTMF-carrying INFO? `dtmf_disclosed` is
    /// counted once per call: the bit is kept in the call's entry. A
    /// Call-ID the table does not hold (INFO seen without its INVITE,
    /// or evicted) has nowhere to keep it: each such message counts.
    /// Does not touch recency or the entry's class.
    pub fn first_dtmf(&self, call_id: &[u8]) -> bool {
        if call_id.is_empty() {
            return true;
        }
        let h = self.hasher.hash_one(call_id);
        let Some(m) = self.shards.get((h % self.shards.len() as u64) as usize) else {
            return true;
        };
        let mut shard = Self::lock(m);
        match shard.lrus.peek_mut(&h) {
            Some(e) => {
                e.seen |= bit::DTMF;
                !std::mem::replace(&mut e.dtmf_info, true)
            }
            None => true,
        }
    }

    /// End calls and forget registrations idle past their timeouts.
    ///
    /// Expiry waits [`EXPIRY_MARGIN`] past the timeout: a message of the
    /// dialog up to the timeout, possibly still queued at another worker,
    /// is then surely handled first (workers synchronise every second of
    /// capture time); one later than the timeout ends the entry the same
    /// way in [`Self::observe`].
    pub fn expire(&self, now: Duration, events: &mut Vec<CallEvent>) {
        for m in &self.shards {
            let mut shard = Self::lock(m);
            let shard = &mut *shard;
            for c in Class::ALL {
                let limit = self.limit(c) + EXPIRY_MARGIN;
                while let Some((_, e)) = shard
                    .lrus
                    .pop_lru_if_in(c.index(), |e| now.saturating_sub(e.last) > limit)
                {
                    if c != Class::Settling {
                        shard.stats.expired += 1;
                    }
                    events.extend(e.outcome());
                }
            }
        }
    }

    /// End every dialog that looks over (end of input: no other leg's BYE
    /// can still come).
    pub fn close_all(&self, events: &mut Vec<CallEvent>) {
        for m in &self.shards {
            let mut shard = Self::lock(m);
            while let Some((_, e)) = shard.lrus.pop_lru_if_in(Class::Settling.index(), |_| true) {
                events.extend(e.outcome());
            }
        }
    }

    /// End and forget everything (a new, unrelated capture starts).
    pub fn end_all(&self, events: &mut Vec<CallEvent>) {
        for m in &self.shards {
            let mut shard = Self::lock(m);
            for c in Class::ALL {
                while let Some((_, e)) = shard.lrus.pop_lru_if_in(c.index(), |_| true) {
                    events.extend(e.outcome());
                }
            }
        }
    }

    pub fn len(&self) -> usize {
        self.shards.iter().map(|m| Self::lock(m).len()).sum()
    }

    /// Call-IDs of calls (not registrations, not stray messages).
    pub fn calls(&self) -> usize {
        self.shards
            .iter()
            .map(|m| {
                let s = Self::lock(m);
                s.lrus.len_of(Class::Proceeding.index()) + s.lrus.len_of(Class::Confirmed.index())
            })
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn take_stats(&self) -> CallStats {
        let mut t = CallStats::default();
        for m in &self.shards {
            let mut s = Self::lock(m);
            t.evicted_capacity += s.stats.evicted_capacity;
            t.expired += s.stats.expired;
            s.stats = CallStats::default();
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_dtmf_once_per_held_call() {
        let t = CallTable::new(CallConfig::default());
        let mut ev = Vec::new();
        let obs = |call_id, method| Observation {
            call_id,
            method,
            code: None,
            transport: 0,
            visible: 0,
        };
        t.observe(&obs(b"c1", Method::Invite), Duration::from_secs(1), &mut ev);
        assert!(t.first_dtmf(b"c1"));
        assert!(!t.first_dtmf(b"c1"));
        // Kept across later messages of the call.
        t.observe(&obs(b"c1", Method::Info), Duration::from_secs(2), &mut ev);
        assert!(!t.first_dtmf(b"c1"));
        // A Call-ID the table does not hold: counted each time.
        assert!(t.first_dtmf(b"c2"));
        assert!(t.first_dtmf(b"c2"));
        assert!(t.first_dtmf(b""));
    }

    #[test]
    fn registration_outcomes() {
        use RegistrationOutcome::*;
        for (code, want) in [
            (100, None),
            (180, None),
            (200, Some(Success)),
            (202, Some(Success)),
            (299, Some(Success)),
            (302, Some(Failed)),
            (401, Some(Challenged)),
            (407, Some(Challenged)),
            (403, Some(Failed)),
            (423, Some(Failed)),
            (503, Some(Failed)),
            (699, Some(Failed)),
        ] {
            assert_eq!(RegistrationOutcome::of(code), want, "{code}");
        }
        assert_eq!(
            Outcome::LABELS,
            ["answered", "rejected", "cancelled", "timeout"]
        );
        assert_eq!(Challenged.as_str(), "challenged");
    }

    fn req(id: &[u8], m: Method) -> Observation<'_> {
        Observation {
            call_id: id,
            method: m,
            code: None,
            transport: 0,
            visible: 0,
        }
    }

    fn resp(id: &[u8], m: Method, code: u16) -> Observation<'_> {
        Observation {
            call_id: id,
            method: m,
            code: Some(code),
            transport: 0,
            visible: 0,
        }
    }

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn cdr_bits_accumulate_and_duration_needs_2xx_and_bye() {
        let t = CallTable::new(CallConfig::default());
        let mut ev = Vec::new();
        let seen = |ev: &[CallEvent]| {
            ev.iter().find_map(|e| match e {
                CallEvent::Ended { seen, .. } => Some(*seen),
                _ => None,
            })
        };
        let mut invite = req(b"c1", Method::Invite);
        invite.visible = bit::START | bit::CALLER;
        t.observe(&invite, s(1), &mut ev);
        let mut ok = resp(b"c1", Method::Invite, 200);
        ok.visible = bit::USER_AGENT;
        t.observe(&ok, s(2), &mut ev);
        assert!(t.first_dtmf(b"c1"));
        t.observe(&req(b"c1", Method::Bye), s(3), &mut ev);
        t.end_all(&mut ev);
        assert_eq!(
            seen(&ev),
            Some(bit::START | bit::CALLER | bit::USER_AGENT | bit::DTMF | bit::DURATION)
        );
        // Answered, no BYE: no duration.
        let mut ev = Vec::new();
        t.observe(&invite, s(10), &mut ev);
        t.observe(&resp(b"c1", Method::Invite, 200), s(11), &mut ev);
        t.end_all(&mut ev);
        assert_eq!(seen(&ev), Some(bit::START | bit::CALLER));
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn ended(ev: &[CallEvent]) -> Vec<(Outcome, Option<Duration>)> {
        ev.iter()
            .filter_map(|e| match e {
                CallEvent::Ended {
                    outcome, duration, ..
                } => Some((*outcome, *duration)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn answered_call_with_duration() {
        let t = CallTable::new(CallConfig::default());
        let mut ev = Vec::new();
        assert!(
            t.observe(&req(b"a@x", Method::Invite), s(0), &mut ev)
                .new_dialog
        );
        // Retransmitted INVITE, provisional, answer, ACK, re-INVITE refused.
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
        // The other leg's BYE, a little earlier, handled later.
        t.observe(&req(b"a@x", Method::Bye), ms(62_900), &mut ev);
        assert_eq!(ev, vec![CallEvent::Started]);
        t.expire(s(64), &mut ev);
        assert_eq!(ev.len(), 1, "still settling");
        t.expire(s(67), &mut ev);
        assert_eq!(ended(&ev), vec![(Outcome::Answered, Some(ms(59_900)))]);
        assert!(t.is_empty());
    }

    #[test]
    fn outcome_does_not_depend_on_processing_order() {
        // INVITE, 180, 403 and ACK of one call, handled in every order
        // (they arrive on different flows, hence workers).
        let msgs = [
            (req(b"o", Method::Invite), ms(0)),
            (resp(b"o", Method::Invite, 180), ms(10)),
            (resp(b"o", Method::Invite, 403), ms(20)),
            (req(b"o", Method::Ack), ms(30)),
        ];
        let orders = [[0, 1, 2, 3], [2, 0, 3, 1], [3, 2, 1, 0], [1, 3, 0, 2]];
        for order in orders {
            let t = CallTable::new(CallConfig::default());
            let mut ev = Vec::new();
            for i in order {
                t.observe(&msgs[i].0, msgs[i].1, &mut ev);
            }
            t.close_all(&mut ev);
            assert_eq!(ev[0], CallEvent::Started, "{order:?}");
            assert_eq!(ended(&ev), vec![(Outcome::Rejected, None)], "{order:?}");
        }
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
        let mut got: Vec<&str> = ended(&ev).iter().map(|e| e.0.as_str()).collect();
        got.sort();
        assert_eq!(got, vec!["cancelled", "rejected"]);
        t.expire(s(182), &mut ev);
        assert_eq!(ended(&ev).last(), Some(&(Outcome::Timeout, None)));
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
        // Mid-call messages of calls that started before the capture end
        // without an event.
        assert!(
            !t.observe(&req(b"old", Method::Bye), s(1), &mut ev)
                .new_dialog
        );
        assert!(
            !t.observe(&resp(b"old2", Method::Invite, 200), s(1), &mut ev)
                .new_dialog
        );
        assert!(
            !t.observe(&req(b"opt", Method::Options), s(1), &mut ev)
                .new_dialog
        );
        t.expire(s(10), &mut ev);
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
