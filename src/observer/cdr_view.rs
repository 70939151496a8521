//! What an on-path observer could log about a call (issue #15 item 5): per
//! INVITE dialog, which fields of a call detail record its cleartext
//! signalling showed, folded when the dialog ends into counts per field and
//! signalling protection. Counts only: no identifier is kept.
//!
//! The bits live in the dialog's entry of the shared call table
//! (`sip::dialog`), so the table's cap bounds them; the aggregate is a fixed
//! array of counters.

use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};

/// One bit per CDR field.
pub mod bit {
    /// From or P-Asserted-Identity in a cleartext request or response.
    pub const CALLER: u8 = 1;
    /// To in a cleartext message (the Request-URI travels with it).
    pub const CALLEE: u8 = 1 << 1;
    /// The INVITE request itself, in cleartext.
    pub const START: u8 = 1 << 2;
    /// A 2xx to the INVITE and a BYE, both in cleartext (set at the end).
    pub const DURATION: u8 = 1 << 3;
    /// User-Agent or Server.
    pub const USER_AGENT: u8 = 1 << 4;
    /// An SDP body with a media section (c=/m=: addresses and ports).
    pub const MEDIA_ENDPOINTS: u8 = 1 << 5;
    /// A `dtmf_disclosed` finding on the call (SIP INFO digits).
    pub const DTMF: u8 = 1 << 6;
}

/// Field names, in bit order (the report's and the API's keys).
pub const FIELDS: [(&str, u8); 7] = [
    ("caller", bit::CALLER),
    ("callee", bit::CALLEE),
    ("start", bit::START),
    ("duration", bit::DURATION),
    ("user_agent", bit::USER_AGENT),
    ("media_endpoints", bit::MEDIA_ENDPOINTS),
    ("dtmf_count", bit::DTMF),
];

/// Signalling protection of a call, as the observer meets it.
pub const PROTECTIONS: [&str; 2] = ["cleartext", "tls"];

/// Calls and per-field counts, per protection; shared by all workers.
#[derive(Debug, Default)]
pub struct ObserverLog {
    calls: [AtomicU64; 2],
    fields: [[AtomicU64; 7]; 2],
}

/// A snapshot for one protection.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct ProtectionCounts {
    /// INVITE dialogs ended (or flushed) with this signalling protection.
    pub calls: u64,
    /// Calls whose field was visible, keyed by [`FIELDS`] names.
    pub visible: std::collections::BTreeMap<&'static str, u64>,
}

impl ObserverLog {
    /// Counts one ended call with the fields `seen` (bits of [`bit`]);
    /// `tls` for signalling the observer could not read.
    pub fn fold(&self, seen: u8, tls: bool) {
        let p = usize::from(tls);
        self.calls[p].fetch_add(1, Ordering::Relaxed);
        for (i, (_, b)) in FIELDS.iter().enumerate() {
            if seen & b != 0 {
                self.fields[p][i].fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The counts per protection name.
    pub fn snapshot(&self) -> std::collections::BTreeMap<&'static str, ProtectionCounts> {
        PROTECTIONS
            .iter()
            .enumerate()
            .map(|(p, name)| {
                let visible = FIELDS
                    .iter()
                    .enumerate()
                    .map(|(i, (f, _))| (*f, self.fields[p][i].load(Ordering::Relaxed)))
                    .collect();
                let calls = self.calls[p].load(Ordering::Relaxed);
                (*name, ProtectionCounts { calls, visible })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fold_counts_each_visible_field_once_per_call() {
        let log = ObserverLog::default();
        log.fold(bit::CALLER | bit::CALLEE | bit::START, false);
        log.fold(bit::CALLER | bit::DTMF, false);
        log.fold(0, true);
        let s = log.snapshot();
        assert_eq!(s["cleartext"].calls, 2);
        assert_eq!(s["cleartext"].visible["caller"], 2);
        assert_eq!(s["cleartext"].visible["callee"], 1);
        assert_eq!(s["cleartext"].visible["dtmf_count"], 1);
        assert_eq!(s["cleartext"].visible["duration"], 0);
        assert_eq!(s["tls"].calls, 1);
        assert!(s["tls"].visible.values().all(|v| *v == 0));
    }

    #[test]
    fn field_bits_are_distinct() {
        let all = FIELDS.iter().fold(0u8, |acc, (_, b)| {
            assert_eq!(acc & b, 0);
            acc | b
        });
        assert_eq!(all.count_ones() as usize, FIELDS.len());
    }
}
