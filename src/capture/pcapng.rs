//! The pcapng blocks the direct file reader takes (no I/O): a section
//! header in the host's byte order, interface descriptions and enhanced
//! packet blocks. Everything else a reader meets is either skipped the way
//! libpcap skips it (name resolution, interface statistics, decryption
//! secrets, custom blocks) or handed over to libpcap at that block (a
//! second section, simple or obsolete packet blocks, any option or value
//! the reader would have to interpret differently), so what the sensor sees
//! is always what libpcap yields.
//!
//! Why: with pcapng, libpcap copies every block out of stdio's buffer; the
//! audit of a pcapng file cost 2.7x tcpdump's CPU against 2.1x for the same
//! frames in a classic pcap file (`benches/offline.sh`, `docs/performance.md`).

/// Section header block type (also its byte-order-independent marker).
pub const SHB: u32 = 0x0A0D_0D0A;
/// Interface description block.
pub const IDB: u32 = 1;
/// Obsolete packet block (handed over).
pub const OPB: u32 = 2;
/// Simple packet block (handed over: its length depends on the snaplen).
pub const SPB: u32 = 3;
/// Enhanced packet block.
pub const EPB: u32 = 6;
/// Byte-order magic in a section header, as the host reads it.
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;
/// Smallest block: type, total length, total length.
pub const MIN_BLOCK: usize = 12;
/// Largest block the reader takes: an enhanced packet block of libpcap's
/// largest snaplen (262,144) with 64 KiB of header and options. A larger
/// block (libpcap accepts up to 16 MiB) goes to libpcap, so eight bytes of
/// block header never make the reader's buffer grow past this.
pub const MAX_BLOCK: usize = 262_144 + 65_536;

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at + 2)?;
    Some(u16::from_ne_bytes([s[0], s[1]]))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 4)?;
    Some(u32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
}

/// Type and total length of the block starting `b`, if they are sane
/// (a multiple of 4, at least [`MIN_BLOCK`], at most [`MAX_BLOCK`]).
pub fn block_header(b: &[u8]) -> Option<(u32, usize)> {
    let kind = u32_at(b, 0)?;
    let len = usize::try_from(u32_at(b, 4)?).ok()?;
    (len >= MIN_BLOCK && len % 4 == 0 && len <= MAX_BLOCK).then_some((kind, len))
}

/// The length of `block` if it is one whole block of type `kind`: a sane
/// header, exactly `block.len()` bytes, the trailing length equal.
fn whole(block: &[u8], kind: u32) -> Option<usize> {
    let (k, len) = block_header(block)?;
    (k == kind && block.len() == len && u32_at(block, len - 4)? == u32::try_from(len).ok()?)
        .then_some(len)
}

/// A section header block (whole) in the host's byte order, version 1.0:
/// the reader takes the file; anything else is libpcap's.
pub fn section_ok(block: &[u8]) -> bool {
    whole(block, SHB).is_some()
        && u32_at(block, 8) == Some(BYTE_ORDER_MAGIC)
        && u16_at(block, 12) == Some(1)
        && u16_at(block, 14) == Some(0)
}

/// One interface of the section, as far as the reader cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interface {
    pub linktype: u16,
    /// Captured bytes at most (0 in the file: no limit).
    pub snaplen: u32,
    /// Time stamp units per second: 10^6 (the default) or 10^9.
    pub units: u64,
}

/// An interface description block (whole). `None` when it uses what the
/// reader does not interpret (a time stamp resolution other than micro-
/// or nanoseconds, a time stamp offset) or is malformed: libpcap takes
/// over there.
pub fn interface(block: &[u8]) -> Option<Interface> {
    let len = whole(block, IDB)?;
    let linktype = u16_at(block, 8)?;
    let snaplen = u32_at(block, 12)?;
    let mut units = 1_000_000;
    // Options from byte 16 to the trailing length.
    let opts = block.get(16..len - 4)?;
    let mut at = 0;
    while at + 4 <= opts.len() {
        let code = u16_at(opts, at)?;
        let olen = usize::from(u16_at(opts, at + 2)?);
        let value = opts.get(at + 4..at + 4 + olen)?;
        match code {
            0 => break,
            // if_tsresol: 10^-6 or 10^-9 only (2^-n and other powers of ten
            // need libpcap's scaling).
            9 => {
                units = match value {
                    [6] => 1_000_000,
                    [9] => 1_000_000_000,
                    _ => return None,
                }
            }
            // if_tsoffset: libpcap adds it; rare enough to leave to libpcap.
            14 => return None,
            _ => {}
        }
        at += 4 + olen.div_ceil(4) * 4;
    }
    Some(Interface {
        linktype,
        snaplen,
        units,
    })
}

/// An enhanced packet block's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet {
    pub interface: u32,
    /// Time stamp in the interface's units.
    pub ts: u64,
    /// Offset of the data in the block, and its captured length.
    pub data_at: usize,
    pub caplen: usize,
    pub orig_len: u32,
}

/// An enhanced packet block (whole). `None` when malformed (data beyond
/// the block, trailing length differs): libpcap reports it.
pub fn packet(block: &[u8]) -> Option<Packet> {
    let len = whole(block, EPB)?;
    let interface = u32_at(block, 8)?;
    let ts = u64::from(u32_at(block, 12)?) << 32 | u64::from(u32_at(block, 16)?);
    let caplen = usize::try_from(u32_at(block, 20)?).ok()?;
    let orig_len = u32_at(block, 24)?;
    // Header 28 bytes, data padded to 4, trailing length 4.
    if 28 + caplen.div_ceil(4) * 4 + 4 > len {
        return None;
    }
    Some(Packet {
        interface,
        ts,
        data_at: 28,
        caplen,
        orig_len,
    })
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A block in the host's byte order (the capture tests build files
    /// with it too).
    pub(in crate::capture) fn block(kind: u32, body: &[u8]) -> Vec<u8> {
        let len = (12 + body.len().div_ceil(4) * 4) as u32;
        let mut b = Vec::new();
        b.extend_from_slice(&kind.to_ne_bytes());
        b.extend_from_slice(&len.to_ne_bytes());
        b.extend_from_slice(body);
        b.resize(len as usize - 4, 0);
        b.extend_from_slice(&len.to_ne_bytes());
        b
    }

    #[test]
    fn blocks_parse_and_refuse_what_libpcap_must_read() {
        let mut shb = Vec::new();
        shb.extend_from_slice(&0x1A2B_3C4Du32.to_ne_bytes());
        shb.extend_from_slice(&1u16.to_ne_bytes());
        shb.extend_from_slice(&0u16.to_ne_bytes());
        shb.extend_from_slice(&(-1i64).to_ne_bytes());
        assert!(section_ok(&block(SHB, &shb)));
        let mut swapped = shb.clone();
        swapped[..4].copy_from_slice(&0x1A2B_3C4Du32.swap_bytes().to_ne_bytes());
        assert!(!section_ok(&block(SHB, &swapped)));

        let idb = |opts: &[u8]| {
            let mut b = vec![1, 0, 0, 0];
            b[..2].copy_from_slice(&1u16.to_ne_bytes());
            b.extend_from_slice(&65535u32.to_ne_bytes());
            b.extend_from_slice(opts);
            block(IDB, &b)
        };
        let plain = interface(&idb(&[])).unwrap();
        assert_eq!(
            (plain.linktype, plain.snaplen, plain.units),
            (1, 65535, 1_000_000)
        );
        let mut nanos = Vec::new();
        nanos.extend_from_slice(&9u16.to_ne_bytes());
        nanos.extend_from_slice(&1u16.to_ne_bytes());
        nanos.extend_from_slice(&[9, 0, 0, 0]);
        assert_eq!(interface(&idb(&nanos)).unwrap().units, 1_000_000_000);
        let mut binary = nanos.clone();
        binary[4] = 0x80 | 20; // 2^-20 s
        assert_eq!(interface(&idb(&binary)), None);
        let mut offset = Vec::new();
        offset.extend_from_slice(&14u16.to_ne_bytes());
        offset.extend_from_slice(&8u16.to_ne_bytes());
        offset.extend_from_slice(&[0; 8]);
        assert_eq!(interface(&idb(&offset)), None);

        let mut epb = Vec::new();
        for w in [0u32, 1, 2, 5, 60] {
            epb.extend_from_slice(&w.to_ne_bytes());
        }
        epb.extend_from_slice(b"hello");
        let p = packet(&block(EPB, &epb)).unwrap();
        assert_eq!((p.ts, p.caplen, p.orig_len), (1 << 32 | 2, 5, 60));
        // Captured length beyond the block.
        epb[12..16].copy_from_slice(&500u32.to_ne_bytes());
        assert_eq!(packet(&block(EPB, &epb)), None);
        // Insane lengths.
        assert_eq!(block_header(&[6, 0, 0, 0, 13, 0, 0, 0]), None);
        assert_eq!(block_header(&[6, 0, 0, 0, 8, 0, 0, 0]), None);
        let huge = |len: u32| [6u32.to_ne_bytes(), len.to_ne_bytes()].concat();
        assert_eq!(block_header(&huge(MAX_BLOCK as u32)), Some((6, MAX_BLOCK)));
        assert_eq!(block_header(&huge(MAX_BLOCK as u32 + 4)), None);
    }
}
