//! What an observer learns from a media stream even when SRTP protects its
//! payload: the DTMF keys pressed (RFC 4733 events, cleartext or
//! recognisable by payload type and timestamp under SRTP), speech activity
//! (RFC 6464 audio levels in readable header extensions, RFC 6562 payload
//! lengths of a variable-bitrate codec), and the ZRTP Hello's ZID.
//!
//! [`Watch`] is the per-stream state (16 bytes, inside the stream table's
//! entry) and costs a few comparisons per packet: once every check is done
//! or cannot apply, [`Watch::active`] is false and nothing is looked at.
//! Parsers here are bounded by the packet they read and never allocate.

use super::classify::RtpHeader;
use crate::sdp::MediaFacts;

/// Packets of the stream's codec in one payload-length window (2 s of
/// 20 ms packets): the variation test is run once, at its end.
pub const LENGTH_WINDOW: u16 = 100;
/// A window whose payload length changed from one packet to the next in
/// at least this many of [`LENGTH_WINDOW`] packets is variable-bitrate
/// speech (RFC 6562 §1). Measured on baresip Opus calls (README, "Protection
/// that is not protection"): constant bitrate changes 0 times, VBR Opus on
/// a tone or speech most of the time.
pub const LENGTH_CHANGES_MIN: u16 = 20;
/// Comfort noise (RFC 3389): a few bytes of level, not speech frames.
const PT_CN: u8 = 13;

/// What a stream gave away; the caller counts and reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchEvent {
    /// One RFC 4733 event (a key press): a new event timestamp. `timing`
    /// when the stream is encrypted (only the timing and count are
    /// readable); `first` on the first digit of this field in the stream.
    Digit { timing: bool, first: bool },
    /// An RFC 6464 audio level seen in an encrypted stream (once).
    AudioLevel,
    /// Payload lengths of an encrypted stream vary with speech (once).
    PacketLength,
}

const HAVE_EVENT_TS: u8 = 1;
const DIGIT_CLEAR_SEEN: u8 = 2;
const DIGIT_TIMING_SEEN: u8 = 4;
const LEVEL_DONE: u8 = 8;
const LENGTH_DONE: u8 = 16;

/// Per-stream state of the checks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Watch {
    facts: MediaFacts,
    /// RTP timestamp of the last event packet: one event keeps it for all
    /// its packets, retransmitted ends included (RFC 4733 §2.5.1).
    event_ts: u32,
    prev_len: u16,
    samples: u16,
    changes: u16,
    flags: u8,
}

/// What the stream's protection is known to be when a packet arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// The stream has its final protection label.
    pub decided: bool,
    /// The label (or, before it, the SDP declaration) is encrypted.
    pub encrypted: bool,
}

impl Watch {
    pub fn new(facts: MediaFacts) -> Watch {
        Watch {
            facts,
            ..Watch::default()
        }
    }

    pub fn facts(&self) -> MediaFacts {
        self.facts
    }

    /// The SDP was found after the stream started (another worker).
    pub fn set_facts(&mut self, facts: MediaFacts) {
        self.facts = facts;
    }

    /// Anything left to look at.
    pub fn active(&self) -> bool {
        self.facts.event_pt.is_some()
            || self.flags & (LEVEL_DONE | LENGTH_DONE) != (LEVEL_DONE | LENGTH_DONE)
    }

    /// One packet of a validated stream whose codec is `main_pt`.
    pub fn observe(
        &mut self,
        hdr: &RtpHeader<'_>,
        main_pt: u8,
        seen: Seen,
        mut emit: impl FnMut(WatchEvent),
    ) {
        let pt = hdr.payload_type();
        if self.facts.event_pt == Some(pt) {
            if let Some(ev) = self.event(hdr, seen.encrypted) {
                emit(ev);
            }
            return;
        }
        if seen.decided && !seen.encrypted {
            // Cleartext: `cleartext_media` says it all.
            self.flags |= LEVEL_DONE | LENGTH_DONE;
            return;
        }
        if self.flags & LEVEL_DONE == 0 && seen.decided && self.audio_level(hdr) {
            self.flags |= LEVEL_DONE;
            emit(WatchEvent::AudioLevel);
        }
        if self.flags & LENGTH_DONE == 0 && pt == main_pt && pt != PT_CN && self.length(hdr, seen) {
            emit(WatchEvent::PacketLength);
        }
    }

    fn event(&mut self, hdr: &RtpHeader<'_>, encrypted: bool) -> Option<WatchEvent> {
        // RFC 4733 §2.3: 4 bytes per event (SRTP adds its tag).
        if hdr.payload().len() < 4 {
            return None;
        }
        let ts = hdr.timestamp();
        if self.flags & HAVE_EVENT_TS != 0 && ts == self.event_ts {
            return None;
        }
        self.flags |= HAVE_EVENT_TS;
        self.event_ts = ts;
        let bit = if encrypted {
            DIGIT_TIMING_SEEN
        } else {
            DIGIT_CLEAR_SEEN
        };
        let first = self.flags & bit == 0;
        self.flags |= bit;
        Some(WatchEvent::Digit {
            timing: encrypted,
            first,
        })
    }

    /// The announced audio-level id is present in this packet's extension.
    fn audio_level(&mut self, hdr: &RtpHeader<'_>) -> bool {
        let id = self.facts.audio_level_id;
        if id == 0 {
            self.flags |= LEVEL_DONE;
            return false;
        }
        hdr.extension_data()
            .is_some_and(|(profile, data)| has_element(profile, data, id))
    }

    /// Counts length changes; true once, when a full window shows VBR
    /// under encryption.
    fn length(&mut self, hdr: &RtpHeader<'_>, seen: Seen) -> bool {
        let len = u16::try_from(hdr.payload().len()).unwrap_or(u16::MAX);
        if self.samples > 0 && len != self.prev_len {
            self.changes += 1;
        }
        self.prev_len = len;
        self.samples += 1;
        if self.samples < LENGTH_WINDOW {
            return false;
        }
        if !seen.decided {
            // Not yet known to be encrypted: measure a new window.
            self.samples = 0;
            self.changes = 0;
            return false;
        }
        self.flags |= LENGTH_DONE;
        self.changes >= LENGTH_CHANGES_MIN
    }
}

/// RFC 8285 header extension elements: does `data` (under `profile`) hold
/// a non-empty element `id`? One-byte form (0xBEDE, §4.2) and two-byte
/// form (0x100X, §4.3); padding bytes (id 0) skipped, id 15 stops the
/// one-byte form. One pass, bounded by `data`.
pub fn has_element(profile: u16, data: &[u8], id: u8) -> bool {
    let two_byte = profile & 0xfff0 == 0x1000;
    if profile != 0xBEDE && !two_byte {
        return false;
    }
    let mut i = 0;
    while let Some(&b) = data.get(i) {
        let (eid, len, head) = if two_byte {
            if b == 0 {
                i += 1;
                continue;
            }
            let Some(&l) = data.get(i + 1) else {
                return false;
            };
            (b, usize::from(l), 2)
        } else {
            if b == 0 {
                i += 1;
                continue;
            }
            let eid = b >> 4;
            if eid == 15 {
                return false;
            }
            (eid, usize::from(b & 0x0f) + 1, 1)
        };
        if i + head + len > data.len() {
            return false;
        }
        if eid == id && len > 0 {
            return true;
        }
        i += head + len;
    }
    false
}

/// ZRTP message offsets (RFC 6189 §5): 12-byte packet header, then the
/// message: preamble 0x505a, length, 8-byte type block; a Hello (§5.2)
/// goes on with version (4), client id (16), H3 (32), ZID (12).
const ZRTP_MSG: usize = 12;
const HELLO_CLIENT: std::ops::Range<usize> = 28..44;
const HELLO_ZID: std::ops::Range<usize> = 76..88;

/// The ZID of a ZRTP Hello (RFC 6189 §5.2): a 96-bit identifier the
/// endpoint keeps for all its calls, sent in the clear. `None` for any
/// other packet. Bounds are checked; nothing is copied.
pub fn zrtp_hello_zid(p: &[u8]) -> Option<&[u8]> {
    let msg = p.get(ZRTP_MSG..)?;
    if p.get(4..8)? != b"ZRTP" || msg.get(..2)? != [0x50, 0x5a] || msg.get(4..12)? != b"Hello   " {
        return None;
    }
    // The CRC (4 bytes) follows the message.
    if p.len() < HELLO_ZID.end + 4 {
        return None;
    }
    p.get(HELLO_ZID)
}

/// The client identifier of a ZRTP Hello (software name), for tests and
/// the README's description of what a Hello shows.
pub fn zrtp_hello_client(p: &[u8]) -> Option<&[u8]> {
    zrtp_hello_zid(p)?;
    p.get(HELLO_CLIENT)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::media::classify::{classify, PacketKind};

    fn rtp(pt: u8, ts: u32, ext: Option<(u16, &[u8])>, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![if ext.is_some() { 0x90 } else { 0x80 }, pt, 0, 1];
        p.extend_from_slice(&ts.to_be_bytes());
        p.extend_from_slice(&7u32.to_be_bytes());
        if let Some((profile, data)) = ext {
            assert_eq!(data.len() % 4, 0);
            p.extend_from_slice(&profile.to_be_bytes());
            p.extend_from_slice(&((data.len() / 4) as u16).to_be_bytes());
            p.extend_from_slice(data);
        }
        p.extend_from_slice(payload);
        p
    }

    fn hdr(p: &[u8]) -> RtpHeader<'_> {
        match classify(p) {
            PacketKind::Rtp(h) => h,
            k => panic!("{}", k.as_str()),
        }
    }

    const ENC: Seen = Seen {
        decided: true,
        encrypted: true,
    };
    const CLEAR: Seen = Seen {
        decided: true,
        encrypted: false,
    };

    fn facts(event_pt: Option<u8>, level: u8) -> MediaFacts {
        MediaFacts {
            event_pt,
            audio_level_id: level,
            null_srtp: false,
        }
    }

    #[test]
    fn one_byte_and_two_byte_elements() {
        // id 1 len 1, padding, id 3 len 2
        let d = [0x10, 0xff, 0x00, 0x31, 1, 2, 0, 0];
        assert!(has_element(0xBEDE, &d, 1));
        assert!(has_element(0xBEDE, &d, 3));
        assert!(!has_element(0xBEDE, &d, 2));
        assert!(!has_element(0x1234, &d, 1), "unknown profile");
        // id 15 stops the walk
        assert!(!has_element(0xBEDE, &[0xf0, 0x10, 0xff, 0], 1));
        // an element running past the end
        assert!(!has_element(0xBEDE, &[0x13, 0, 0, 0], 1));
        // two-byte: id 5 len 1, padding, id 9 len 0
        let d = [5, 1, 0x80, 0, 9, 0, 0, 0];
        assert!(has_element(0x1000, &d, 5));
        assert!(!has_element(0x1000, &d, 9), "empty element");
    }

    #[test]
    fn dtmf_digits_are_timestamp_runs() {
        let mut w = Watch::new(facts(Some(101), 0));
        let mut got = Vec::new();
        // two events of three packets each (the end retransmitted), audio
        // between them
        for (pt, ts) in [
            (101, 800),
            (101, 800),
            (101, 800),
            (0, 960),
            (101, 1600),
            (101, 1600),
        ] {
            let p = rtp(pt, ts, None, &[1, 0x8a, 0, 160]);
            w.observe(&hdr(&p), 0, CLEAR, |e| got.push(e));
        }
        assert_eq!(
            got,
            [
                WatchEvent::Digit {
                    timing: false,
                    first: true
                },
                WatchEvent::Digit {
                    timing: false,
                    first: false
                }
            ]
        );
        // too short for an event
        let p = rtp(101, 5000, None, &[1, 2]);
        w.observe(&hdr(&p), 0, CLEAR, |e| got.push(e));
        assert_eq!(got.len(), 2);
        // encrypted: the timing field
        let mut w = Watch::new(facts(Some(101), 0));
        let p = rtp(101, 5000, None, &[9; 14]);
        w.observe(&hdr(&p), 0, ENC, |e| got.push(e));
        assert_eq!(
            got[2],
            WatchEvent::Digit {
                timing: true,
                first: true
            }
        );
    }

    #[test]
    fn audio_level_only_when_announced_and_encrypted() {
        let level = [0x10, 0x7f, 0, 0];
        let p = rtp(111, 0, Some((0xBEDE, &level)), &[0; 40]);
        let mut got = Vec::new();
        let mut w = Watch::new(facts(None, 1));
        w.observe(&hdr(&p), 111, ENC, |e| got.push(e));
        w.observe(&hdr(&p), 111, ENC, |e| got.push(e));
        assert_eq!(got, [WatchEvent::AudioLevel], "once");
        // another id announced
        let mut w = Watch::new(facts(None, 2));
        w.observe(&hdr(&p), 111, ENC, |e| got.push(e));
        // not announced, or cleartext
        let mut w = Watch::new(facts(None, 0));
        w.observe(&hdr(&p), 111, ENC, |e| got.push(e));
        let mut w = Watch::new(facts(None, 1));
        w.observe(&hdr(&p), 111, CLEAR, |e| got.push(e));
        assert!(!w.active());
        assert_eq!(got.len(), 1);
    }

    fn lengths(lens: impl Iterator<Item = usize>, seen: Seen) -> Vec<WatchEvent> {
        let mut w = Watch::new(facts(None, 0));
        let mut got = Vec::new();
        for len in lens {
            let p = rtp(111, 0, None, &vec![0x55; len]);
            w.observe(&hdr(&p), 111, seen, |e| got.push(e));
        }
        got
    }

    #[test]
    fn packet_length_threshold() {
        let n = usize::from(LENGTH_WINDOW) * 2;
        // constant bitrate: never
        assert!(lengths(std::iter::repeat_n(80, n), ENC).is_empty());
        // every packet different: once
        let vbr = (0..n).map(|i| 60 + i % 7);
        assert_eq!(lengths(vbr.clone(), ENC), [WatchEvent::PacketLength]);
        // cleartext: nothing (cleartext_media covers it)
        assert!(lengths(vbr, CLEAR).is_empty());
        // just below and at the threshold within one window
        let k = usize::from(LENGTH_CHANGES_MIN);
        let below =
            (0..usize::from(LENGTH_WINDOW))
                .map(|i| if i < k { 60 + i % 2 } else { 60 + (k - 1) % 2 });
        assert!(lengths(below, ENC).is_empty());
        let at =
            (0..usize::from(LENGTH_WINDOW)).map(|i| if i <= k { 60 + i % 2 } else { 60 + k % 2 });
        assert_eq!(lengths(at, ENC), [WatchEvent::PacketLength]);
    }

    /// A ZRTP Hello as RFC 6189 §5.2 lays it out (client id "sipsentinel
    /// test", ZID 1..=12).
    pub(crate) fn zrtp_hello() -> Vec<u8> {
        let mut p = vec![0x10, 0, 0, 1];
        p.extend_from_slice(b"ZRTP");
        p.extend_from_slice(&[0, 0, 0, 7]);
        p.extend_from_slice(&[0x50, 0x5a, 0, 22]);
        p.extend_from_slice(b"Hello   ");
        p.extend_from_slice(b"1.10");
        p.extend_from_slice(b"sipsentinel test");
        p.extend_from_slice(&[0xaa; 32]);
        p.extend_from_slice(&(1..=12).collect::<Vec<u8>>());
        p.extend_from_slice(&[0; 4]); // flags and counts
        p.extend_from_slice(&[0; 8]); // MAC
        p.extend_from_slice(&[0; 4]); // CRC
        p
    }

    #[test]
    fn zrtp_hello_fields() {
        let p = zrtp_hello();
        assert_eq!(zrtp_hello_zid(&p), Some(&(1..=12).collect::<Vec<u8>>()[..]));
        assert_eq!(zrtp_hello_client(&p), Some(&b"sipsentinel test"[..]));
        // another message type
        let mut q = p.clone();
        q[16..24].copy_from_slice(b"HelloACK");
        assert_eq!(zrtp_hello_zid(&q), None);
        // truncated anywhere
        for n in 0..p.len() - 15 {
            assert_eq!(zrtp_hello_zid(&p[..n]), None, "{n}");
        }
    }

    #[test]
    fn random_inputs_never_panic() {
        // RTP first bytes, extension profiles and elements, ZRTP words.
        const ALPHA: &[u8] = b"\x80\x90\x91\xb0\xbe\xde\x10\x00\x01\x22\xf0\x65ZRTPHello \x50\x5a";
        crate::testkit::random::for_random_inputs(ALPHA, 20_000, 200, |b, _| {
            let b = &b[..];
            let _ = zrtp_hello_zid(b);
            for profile in [0xBEDE, 0x1000, 0x1001] {
                let _ = has_element(profile, b, 1);
            }
            if let PacketKind::Rtp(h) = classify(b) {
                let mut w = Watch::new(facts(Some(h.payload_type()), 1));
                let _ = h.extension_data();
                for seen in [ENC, CLEAR] {
                    w.observe(&h, 0, seen, |_| {});
                }
            }
        });
    }
}
