//! Per-UDP-association memory of DTLS handshakes: who the server is (to
//! tell whose certificate a lone Certificate datagram carries) and which
//! finding fields the association already reported, so retransmitted
//! flights count once.
//!
//! Owner: `tls`. Bounded: an LRU of [`DTLS_FLOWS_CAP`] entries, O(1) per
//! datagram when full (the least recently used association is forgotten;
//! a forgotten one that handshakes again may count again, never more than
//! once per time it is remembered).

use super::Role;
use crate::lru::Lru;
use std::net::IpAddr;

/// Associations remembered per worker (24-byte keys and small entries:
/// about 1.5 MiB when full).
pub const DTLS_FLOWS_CAP: usize = 16_384;

#[derive(Debug, Default, Clone, Copy)]
struct Entry {
    /// Bit `i`: field index `i` (mod 64) already reported.
    reported: u64,
    server: Option<(IpAddr, u16)>,
}

pub struct DtlsFlows {
    table: Lru<u64, Entry>,
    key: ahash::RandomState,
}

/// One datagram's view of its association.
pub struct FlowView<'a> {
    entry: &'a mut Entry,
    src: (IpAddr, u16),
    dst: (IpAddr, u16),
}

impl DtlsFlows {
    pub fn new(cap: usize) -> DtlsFlows {
        DtlsFlows {
            table: Lru::new(cap),
            key: ahash::RandomState::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// The association of a datagram from `src` to `dst`, remembered (and
    /// the least recently used one forgotten when full).
    pub fn view(&mut self, src: (IpAddr, u16), dst: (IpAddr, u16)) -> Option<FlowView<'_>> {
        let k = self
            .key
            .hash_one(if src <= dst { (src, dst) } else { (dst, src) });
        if self.table.get_mut(&k).is_none() {
            self.table.insert(k, Entry::default());
        }
        let entry = self.table.get_mut(&k)?;
        Some(FlowView { entry, src, dst })
    }
}

impl FlowView<'_> {
    /// The datagram's sender sent a ClientHello: the other side serves.
    pub fn client_hello(&mut self) {
        self.entry.server = Some(self.dst);
    }

    /// The datagram's sender sent a ServerHello.
    pub fn server_hello(&mut self) {
        self.entry.server = Some(self.src);
    }

    /// The sender's role, when a hello told it.
    pub fn sender(&self) -> Role {
        match self.entry.server {
            Some(s) if s == self.src => Role::Server,
            Some(_) => Role::Client,
            None => Role::Unknown,
        }
    }

    /// First report of field `i` for this association?
    pub fn first(&mut self, field: usize) -> bool {
        let b = 1u64 << (field & 63);
        let new = self.entry.reported & b == 0;
        self.entry.reported |= b;
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(i: u8, port: u16) -> (IpAddr, u16) {
        (IpAddr::from([192, 0, 2, i]), port)
    }

    #[test]
    fn roles_and_once_per_association() {
        let mut t = DtlsFlows::new(4);
        let (a, b) = (ep(1, 4000), ep(2, 5000));
        let mut v = t.view(a, b).unwrap();
        assert_eq!(v.sender(), Role::Unknown);
        v.client_hello();
        assert_eq!(v.sender(), Role::Client);
        assert!(v.first(3));
        assert!(!v.first(3));
        // The other direction is the same association.
        let mut v = t.view(b, a).unwrap();
        assert_eq!(v.sender(), Role::Server);
        assert!(!v.first(3));
        assert!(v.first(4));
    }

    #[test]
    fn full_table_keeps_its_cap() {
        let mut t = DtlsFlows::new(8);
        for i in 0..1000u16 {
            let mut v = t.view(ep(1, i), ep(2, 5000)).unwrap();
            assert!(v.first(1));
        }
        assert_eq!(t.len(), 8);
    }
}
