//! The linker: which identifiers stay the same across dialogs, so that an
//! observer could link separate calls (even encrypted ones) to one device
//! or person (`linkable_identifier`, issue #15).
//!
//! Owner: `observer`. Invariant: the table holds keyed 64-bit tags
//! ([`Pseudonymizer::tag64`], the findings key) of identifiers and dialogs,
//! never the values; it holds at most `cap` entries (the least recently
//! seen goes first, counted), and an identifier not seen for
//! [`IDENTIFIER_TTL`] of capture time is forgotten (counted). One
//! observation costs two HMACs outside the lock and O(1) inside it,
//! whether the table is full or not.
//!
//! An identifier is counted once: the first time it is seen in a dialog
//! other than the one it was first seen in. What "dialog" is depends on
//! the source (the caller passes its bytes): the Call-ID for SIP and SDP
//! sources, the REGISTER transaction (Call-ID and CSeq) for
//! `register_call_id`, the RTCP flow (sender and receiver addresses and
//! ports) for CNAMEs read from RTCP.

use crate::exposure::Field;
use crate::findings::redact::Pseudonymizer;
use crate::lru::Lru;
use std::sync::Mutex;
use std::time::Duration;

/// How long an identifier is remembered after it was last seen (capture
/// time): a day links a device's calls of one working day, and a day's
/// identifiers of a large site fit the default cap.
pub const IDENTIFIER_TTL: Duration = Duration::from_secs(24 * 3600);

/// Bytes one entry takes, measured (`entry_size_is_documented`): the LRU
/// node (tag, value, links) plus its hash index slot, at the hash map's
/// worst load. README "What an observer can assemble" quotes it.
pub const BYTES_PER_ENTRY: usize = 64;

/// Which namespace an identifier is tagged in: the same CNAME read from an
/// SDP and from that call's RTCP must not look like two dialogs (their
/// dialog units differ), so the two sources never meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// SIP headers and SDP bodies; dialog = Call-ID (or REGISTER
    /// transaction).
    Signaling,
    /// RTCP packets; dialog = RTCP flow.
    Media,
}

impl Source {
    fn tag(self) -> &'static [u8] {
        match self {
            Source::Signaling => b"sig",
            Source::Media => b"rtcp",
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    first_dialog: u64,
    /// Capture seconds when last seen.
    last_seen: u32,
    counted: bool,
}

struct Inner {
    table: Lru<u64, Entry>,
    evicted_capacity: u64,
    expired: u64,
}

/// The shared linker (every worker; identifiers of one device reach
/// different workers).
pub struct Linker {
    key: Pseudonymizer,
    cap: usize,
    inner: Mutex<Inner>,
}

fn secs(now: Duration) -> u32 {
    u32::try_from(now.as_secs()).unwrap_or(u32::MAX)
}

impl Linker {
    /// At most `cap` identifiers (at least 1); tags keyed with `key`.
    pub fn new(cap: usize, key: Pseudonymizer) -> Linker {
        let cap = cap.max(1);
        Linker {
            key,
            cap,
            inner: Mutex::new(Inner {
                table: Lru::new(cap),
                evicted_capacity: 0,
                expired: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Every update leaves the table consistent: a panic elsewhere
        // while holding the lock does not make it unusable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `value` of `field` seen in `dialog` at `now`: true when this is the
    /// first time the identifier is seen in a second dialog (count it
    /// then, once). The public entry for every source, e.g. the ZRTP ZID
    /// (`Field::ZrtpZid`, dialog = the ZRTP stream's Call-ID or flow).
    pub fn observe(&self, field: Field, value: &[u8], dialog: &[u8], now: Duration) -> bool {
        self.observe_from(Source::Signaling, field, value, dialog, now)
    }

    /// As [`Self::observe`], in the namespace of `source`.
    pub fn observe_from(
        &self,
        source: Source,
        field: Field,
        value: &[u8],
        dialog: &[u8],
        now: Duration,
    ) -> bool {
        if value.is_empty() {
            return false;
        }
        let id = self
            .key
            .tag64(&[source.tag(), field.as_str().as_bytes(), value]);
        let d = self.key.tag64(&[b"dialog", source.tag(), dialog]);
        self.observe_tags(id, d, secs(now))
    }

    fn observe_tags(&self, id: u64, dialog: u64, now: u32) -> bool {
        let mut g = self.lock();
        if let Some(e) = g.table.get_mut(&id) {
            e.last_seen = now;
            if e.counted || e.first_dialog == dialog {
                return false;
            }
            e.counted = true;
            return true;
        }
        let entry = Entry {
            first_dialog: dialog,
            last_seen: now,
            counted: false,
        };
        if g.table.insert(id, entry).is_some() {
            g.evicted_capacity += 1;
        }
        false
    }

    /// Forget identifiers not seen for [`IDENTIFIER_TTL`]; the least
    /// recently seen are at the tail, so this stops at the first live one.
    pub fn expire(&self, now: Duration) {
        let Some(limit) = now.checked_sub(IDENTIFIER_TTL) else {
            return;
        };
        let limit = secs(limit);
        let mut g = self.lock();
        while g.table.pop_lru_if(|e| e.last_seen < limit).is_some() {
            g.expired += 1;
        }
    }

    pub fn len(&self) -> usize {
        self.lock().table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn cap(&self) -> usize {
        self.cap
    }

    /// (evicted because full, forgotten after the TTL) since the last call.
    pub fn take_evictions(&self) -> (u64, u64) {
        let mut g = self.lock();
        let out = (g.evicted_capacity, g.expired);
        g.evicted_capacity = 0;
        g.expired = 0;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn linker(cap: usize) -> Linker {
        Linker::new(cap, Pseudonymizer::new(&[9u8; 32]))
    }

    const T: Duration = Duration::from_secs(10);

    #[test]
    fn counted_once_when_seen_in_a_second_dialog() {
        let l = linker(16);
        let f = Field::DtlsFingerprint;
        assert!(!l.observe(f, b"sha-256 AA", b"call-1", T));
        // the same dialog again (offer and re-INVITE): not linking
        assert!(!l.observe(f, b"sha-256 AA", b"call-1", T));
        // a second call: linked, once
        assert!(l.observe(f, b"sha-256 AA", b"call-2", T));
        assert!(!l.observe(f, b"sha-256 AA", b"call-3", T));
        // another value, another field with the same bytes: separate
        assert!(!l.observe(f, b"sha-256 BB", b"call-2", T));
        assert!(!l.observe(Field::RtcpCname, b"sha-256 AA", b"call-9", T));
        // the same CNAME from RTCP of the call whose SDP carried it: its
        // own namespace, no false link
        assert!(!l.observe_from(Source::Media, Field::RtcpCname, b"sha-256 AA", b"flow", T));
        assert!(
            !l.observe(f, b"", b"call-4", T),
            "empty values are not identifiers"
        );
    }

    #[test]
    fn a_full_table_keeps_its_cap_and_counts_evictions() {
        let l = linker(100);
        for i in 0..1000u32 {
            l.observe(Field::SipInstance, &i.to_be_bytes(), b"d", T);
        }
        assert_eq!(l.len(), 100);
        assert_eq!(l.take_evictions(), (900, 0));
        assert_eq!(l.take_evictions(), (0, 0), "handed over once");
        // the most recent survive: linking still works for them
        assert!(l.observe(Field::SipInstance, &999u32.to_be_bytes(), b"e", T));
        // an evicted one starts over
        assert!(!l.observe(Field::SipInstance, &0u32.to_be_bytes(), b"e", T));
    }

    #[test]
    fn identifiers_expire_after_the_ttl() {
        let l = linker(16);
        l.observe(Field::SdpOrigin, b"alice 1234", b"c1", T);
        l.expire(T + IDENTIFIER_TTL);
        assert_eq!(l.len(), 1, "not yet");
        l.expire(T + IDENTIFIER_TTL + Duration::from_secs(2));
        assert_eq!(l.len(), 0);
        assert_eq!(l.take_evictions(), (0, 1));
        assert!(!l.observe(
            Field::SdpOrigin,
            b"alice 1234",
            b"c2",
            T + IDENTIFIER_TTL * 2
        ));
    }

    #[test]
    fn tags_depend_on_the_key() {
        // Two keys: the tag of one value differs (nothing stored can be
        // recomputed without the key).
        let a = Pseudonymizer::new(&[1u8; 32]).tag64(&[b"x"]);
        let b = Pseudonymizer::new(&[2u8; 32]).tag64(&[b"x"]);
        assert_ne!(a, b);
        let p = Pseudonymizer::new(&[1u8; 32]);
        assert_ne!(p.tag64(&[b"ab", b"c"]), p.tag64(&[b"a", b"bc"]));
    }

    #[test]
    fn entry_size_is_documented() {
        // node: tag (8) + Entry (16) + links and list (9), padded; index:
        // (u64, u32) = 16 bytes plus one control byte, at 7/8 load.
        let node = std::mem::size_of::<crate::lru::Node<u64, Entry>>();
        let index = (std::mem::size_of::<(u64, u32)>() + 1) * 8 / 7 + 1;
        assert!(node + index <= BYTES_PER_ENTRY, "{node} + {index}");
    }
}
