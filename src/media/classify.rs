//! Per-packet classification of a UDP payload seen on a media path, following
//! the RFC 7983 (updated by RFC 9443) first-byte demultiplexing that
//! endpoints themselves use when STUN, ZRTP, DTLS, RTP and RTCP share a port:
//!
//! | first byte | protocol |
//! |---|---|
//! | 0–3 | STUN (with magic cookie 0x2112A442 at bytes 4..8, RFC 8489 §5) |
//! | 16–19 | ZRTP (magic cookie `ZRTP` at bytes 4..8, RFC 6189 §5) |
//! | 20–63 | DTLS (record header version check, RFC 9147 unified header) |
//! | 128–191 | RTP or RTCP (RTCP when the second byte is 192–223, RFC 5761 §4) |
//!
//! Views borrow the payload and are built by one checked constructor each
//! ([`RtpHeader::new_checked`]); after it no accessor can panic. RTCP is
//! reduced to an owned [`RtcpInfo`] holding packet types and SDES item
//! *types*: item values (CNAME, e-mail, phone...) are never kept. No state.

use std::fmt;

/// What a UDP payload is.
///
/// Not a `label_enum!`: its variants carry the parsed views; `as_str`
/// names the variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketKind<'a> {
    Rtp(RtpHeader<'a>),
    Rtcp(RtcpInfo),
    Stun,
    Dtls(DtlsContentType),
    Zrtp,
    Unknown,
}

impl PacketKind<'_> {
    /// Metric label.
    pub fn as_str(&self) -> &'static str {
        match self {
            PacketKind::Rtp(_) => "rtp",
            PacketKind::Rtcp(_) => "rtcp",
            PacketKind::Stun => "stun",
            PacketKind::Dtls(_) => "dtls",
            PacketKind::Zrtp => "zrtp",
            PacketKind::Unknown => "unknown",
        }
    }
}

/// Classifies one UDP payload.
///
/// `inline(always)`: called out of line, the `PacketKind` came back
/// through the stack and the caller's 16-byte reload of the RTP header
/// missed store forwarding: a third of `Worker::packet_once` (`perf
/// annotate`, offline benchmark).
#[inline(always)]
pub fn classify(p: &[u8]) -> PacketKind<'_> {
    let Some(&b0) = p.first() else {
        return PacketKind::Unknown;
    };
    match b0 {
        0..=3 if is_stun(p) => PacketKind::Stun,
        16..=19 if is_zrtp(p) => PacketKind::Zrtp,
        20..=63 => dtls(p).map_or(PacketKind::Unknown, PacketKind::Dtls),
        128..=191 => match p.get(1) {
            Some(192..=223) => rtcp(p).map_or(PacketKind::Unknown, PacketKind::Rtcp),
            _ => RtpHeader::new_checked(p).map_or(PacketKind::Unknown, PacketKind::Rtp),
        },
        _ => PacketKind::Unknown,
    }
}

const STUN_MAGIC: [u8; 4] = [0x21, 0x12, 0xa4, 0x42];
const ZRTP_MAGIC: [u8; 4] = *b"ZRTP";

/// RFC 8489 §5: 20-byte header, top two bits zero, length a multiple of 4
/// that fits, magic cookie.
fn is_stun(p: &[u8]) -> bool {
    if p.len() < 20 || p[4..8] != STUN_MAGIC {
        return false;
    }
    let len = usize::from(u16::from_be_bytes([p[2], p[3]]));
    len % 4 == 0 && 20 + len <= p.len()
}

/// RFC 6189 §5: `0001` version bits, then "not used" bits, a sequence
/// number, the `ZRTP` cookie, SSRC, and at least a CRC.
fn is_zrtp(p: &[u8]) -> bool {
    p.len() >= 16 && p[0] >> 4 == 1 && p[4..8] == ZRTP_MAGIC
}

/// DTLS record content type (RFC 6347 §4.1, RFC 9147 §4).
///
/// Not a `label_enum!`: it keeps the unknown number (`Unknown(u8)`, STYLE.md
/// §3), so it has no fixed `ALL`; `as_str` names known types only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtlsContentType {
    ChangeCipherSpec,
    Alert,
    Handshake,
    ApplicationData,
    Heartbeat,
    Tls12Cid,
    Ack,
    /// DTLS 1.3 encrypted record with the unified header (first bits 001).
    Ciphertext13,
    Unknown(u8),
}

impl DtlsContentType {
    pub fn as_str(&self) -> &'static str {
        match self {
            DtlsContentType::ChangeCipherSpec => "change_cipher_spec",
            DtlsContentType::Alert => "alert",
            DtlsContentType::Handshake => "handshake",
            DtlsContentType::ApplicationData => "application_data",
            DtlsContentType::Heartbeat => "heartbeat",
            DtlsContentType::Tls12Cid => "tls12_cid",
            DtlsContentType::Ack => "ack",
            DtlsContentType::Ciphertext13 => "ciphertext13",
            DtlsContentType::Unknown(_) => "other",
        }
    }
}

fn dtls(p: &[u8]) -> Option<DtlsContentType> {
    let b0 = *p.first()?;
    if b0 & 0xe0 == 0x20 {
        // RFC 9147 §4 unified header 001CSLEE, no version field. On a mirror
        // port the first-byte range alone also matches DNS, MGCP ("200 OK")
        // and other text, so only the checkable form is accepted: no
        // connection ID (C=0), length present (L=1), and a length that fits
        // and holds at least a 16-byte AEAD tag. (Records without a length
        // run to the datagram end and cannot be told from noise.)
        if b0 & 0x10 != 0 || b0 & 0x04 == 0 {
            return None;
        }
        let seq_len = if b0 & 0x08 != 0 { 2 } else { 1 };
        let l = p.get(1 + seq_len..3 + seq_len)?;
        let len = usize::from(u16::from_be_bytes([l[0], l[1]]));
        let hdr = 3 + seq_len;
        return (len >= 16 && hdr + len <= p.len()).then_some(DtlsContentType::Ciphertext13);
    }
    // DTLSPlaintext: type(1) version(2) epoch(2) seq(6) length(2).
    if p.len() < 13 {
        return None;
    }
    // 0xfeff DTLS 1.0, 0xfefd DTLS 1.2 (also the legacy version of 1.3).
    if p[1] != 0xfe || !matches!(p[2], 0xff | 0xfd | 0xfc) {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([p[11], p[12]]));
    if 13 + len > p.len() {
        return None;
    }
    Some(match b0 {
        20 => DtlsContentType::ChangeCipherSpec,
        21 => DtlsContentType::Alert,
        22 => DtlsContentType::Handshake,
        23 => DtlsContentType::ApplicationData,
        24 => DtlsContentType::Heartbeat,
        25 => DtlsContentType::Tls12Cid,
        26 => DtlsContentType::Ack,
        n => DtlsContentType::Unknown(n),
    })
}

crate::label_enum! {
    /// Why bytes starting like RTP are not a valid RTP packet.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum RtpError {
        TooShort = "too_short",
        BadVersion = "bad_version",
        /// CSRC list or header extension runs past the end.
        HeaderOverrun = "header_overrun",
        /// Padding count is zero or exceeds the payload (RFC 3550 §5.1).
        BadPadding = "bad_padding",
    }
}

impl fmt::Display for RtpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for RtpError {}

/// RTP fixed header field offsets (RFC 3550 §5.1).
mod field {
    use std::ops::Range;
    pub const SEQ: Range<usize> = 2..4;
    pub const TIMESTAMP: Range<usize> = 4..8;
    pub const SSRC: Range<usize> = 8..12;
    pub const FIXED_LEN: usize = 12;
}

/// A checked view of an RTP packet.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader<'a> {
    buf: &'a [u8],
    /// Fixed header + CSRC list + extension header and data.
    header_len: usize,
    /// End of the payload (before padding).
    payload_end: usize,
}

impl<'a> RtpHeader<'a> {
    /// Checks version 2 and that the CSRC list, the extension (RFC 3550
    /// §5.3.1: 4-byte header whose length counts 32-bit words) and the
    /// padding all fit.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, RtpError> {
        if buf.len() < field::FIXED_LEN {
            return Err(RtpError::TooShort);
        }
        if buf[0] >> 6 != 2 {
            return Err(RtpError::BadVersion);
        }
        let cc = usize::from(buf[0] & 0x0f);
        let mut header_len = field::FIXED_LEN + 4 * cc;
        if buf[0] & 0x10 != 0 {
            let ext = buf
                .get(header_len..header_len + 4)
                .ok_or(RtpError::HeaderOverrun)?;
            header_len += 4 + 4 * usize::from(u16::from_be_bytes([ext[2], ext[3]]));
        }
        if header_len > buf.len() {
            return Err(RtpError::HeaderOverrun);
        }
        let mut payload_end = buf.len();
        if buf[0] & 0x20 != 0 {
            let pad = usize::from(buf[buf.len() - 1]);
            if pad == 0 || header_len + pad > buf.len() {
                return Err(RtpError::BadPadding);
            }
            payload_end -= pad;
        }
        Ok(RtpHeader {
            buf,
            header_len,
            payload_end,
        })
    }

    pub fn version(&self) -> u8 {
        self.buf[0] >> 6
    }
    pub fn padding(&self) -> bool {
        self.buf[0] & 0x20 != 0
    }
    pub fn extension(&self) -> bool {
        self.buf[0] & 0x10 != 0
    }
    pub fn csrc_count(&self) -> u8 {
        self.buf[0] & 0x0f
    }
    pub fn marker(&self) -> bool {
        self.buf[1] & 0x80 != 0
    }
    pub fn payload_type(&self) -> u8 {
        self.buf[1] & 0x7f
    }
    pub fn sequence(&self) -> u16 {
        u16::from_be_bytes([self.buf[field::SEQ.start], self.buf[field::SEQ.start + 1]])
    }
    pub fn timestamp(&self) -> u32 {
        be32(&self.buf[field::TIMESTAMP])
    }
    pub fn ssrc(&self) -> u32 {
        be32(&self.buf[field::SSRC])
    }
    /// Fixed header, CSRCs and extension, in bytes.
    pub fn header_len(&self) -> usize {
        self.header_len
    }
    /// The header extension (RFC 3550 §5.3.1): its 16-bit profile field
    /// and its data (length checked by [`Self::new_checked`]). SRTP leaves
    /// it readable unless RFC 6904 or RFC 9335 (cryptex) is used.
    pub fn extension_data(&self) -> Option<(u16, &'a [u8])> {
        if !self.extension() {
            return None;
        }
        let at = field::FIXED_LEN + 4 * usize::from(self.csrc_count());
        let head = self.buf.get(at..at + 4)?;
        let data = self.buf.get(at + 4..self.header_len)?;
        Some((u16::from_be_bytes([head[0], head[1]]), data))
    }
    /// Payload without header and padding. For SRTP it is ciphertext plus
    /// the authentication tag (RFC 3711 §3.1).
    pub fn payload(&self) -> &'a [u8] {
        &self.buf[self.header_len..self.payload_end]
    }
    /// The whole packet length.
    pub fn len(&self) -> usize {
        self.buf.len()
    }
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

impl fmt::Debug for RtpHeader<'_> {
    // No payload bytes in debug output.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RtpHeader")
            .field("pt", &self.payload_type())
            .field("seq", &self.sequence())
            .field("ts", &self.timestamp())
            .field("ssrc", &self.ssrc())
            .field("marker", &self.marker())
            .field("header_len", &self.header_len)
            .field("payload_len", &self.payload().len())
            .finish()
    }
}

fn be32(b: &[u8]) -> u32 {
    match b {
        [a, b, c, d, ..] => u32::from_be_bytes([*a, *b, *c, *d]),
        _ => 0,
    }
}

/// RTCP packet types (RFC 3550 §12.1, RFC 4585, RFC 3611, RFC 5760...).
///
/// Not a `label_enum!`: it keeps the unknown number (`Unknown(u8)`, STYLE.md
/// §3), so it has no fixed `ALL`; `as_str` names known types only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtcpType {
    Sr,
    Rr,
    Sdes,
    Bye,
    App,
    Rtpfb,
    Psfb,
    Xr,
    Unknown(u8),
}

impl RtcpType {
    pub fn from_u8(pt: u8) -> RtcpType {
        match pt {
            200 => RtcpType::Sr,
            201 => RtcpType::Rr,
            202 => RtcpType::Sdes,
            203 => RtcpType::Bye,
            204 => RtcpType::App,
            205 => RtcpType::Rtpfb,
            206 => RtcpType::Psfb,
            207 => RtcpType::Xr,
            n => RtcpType::Unknown(n),
        }
    }
    pub fn as_u8(&self) -> u8 {
        match self {
            RtcpType::Sr => 200,
            RtcpType::Rr => 201,
            RtcpType::Sdes => 202,
            RtcpType::Bye => 203,
            RtcpType::App => 204,
            RtcpType::Rtpfb => 205,
            RtcpType::Psfb => 206,
            RtcpType::Xr => 207,
            RtcpType::Unknown(n) => *n,
        }
    }
    pub fn as_str(&self) -> &'static str {
        match self {
            RtcpType::Sr => "sr",
            RtcpType::Rr => "rr",
            RtcpType::Sdes => "sdes",
            RtcpType::Bye => "bye",
            RtcpType::App => "app",
            RtcpType::Rtpfb => "rtpfb",
            RtcpType::Psfb => "psfb",
            RtcpType::Xr => "xr",
            RtcpType::Unknown(_) => "other",
        }
    }
}

/// SDES item types (RFC 3550 §6.5) as bits of [`RtcpInfo::sdes_items`].
pub mod sdes {
    pub const CNAME: u16 = 1 << 1;
    pub const NAME: u16 = 1 << 2;
    pub const EMAIL: u16 = 1 << 3;
    pub const PHONE: u16 = 1 << 4;
    pub const LOC: u16 = 1 << 5;
    pub const TOOL: u16 = 1 << 6;
    pub const NOTE: u16 = 1 << 7;
    pub const PRIV: u16 = 1 << 8;
    /// Item types above 8.
    pub const OTHER: u16 = 1 << 15;
}

/// Packets walked per compound datagram.
pub const MAX_RTCP_PACKETS: usize = 16;
/// SDES chunks walked per SDES packet.
const MAX_SDES_CHUNKS: usize = 31;

/// Summary of one RTCP datagram (compound or not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RtcpInfo {
    /// Bit `pt - 192` for each packet type present (192..=223).
    pub types: u32,
    /// Packets walked.
    pub packets: u8,
    /// Sender SSRC of the first packet (clear even in SRTCP).
    pub ssrc: u32,
    /// SDES item types present, see [`sdes`]. Only in cleartext RTCP.
    pub sdes_items: u16,
    /// An SRTCP trailer (E flag + index, RFC 3711 §3.4) follows the packets.
    pub srtcp: bool,
    /// SRTCP with the E flag set: the packets after the first header are
    /// ciphertext.
    pub encrypted: bool,
}

impl RtcpInfo {
    pub fn has(&self, t: RtcpType) -> bool {
        let pt = t.as_u8();
        (192..=223).contains(&pt) && self.types & (1 << (pt - 192)) != 0
    }
    pub fn first_type(&self) -> Option<RtcpType> {
        (self.types != 0).then(|| RtcpType::from_u8(192 + self.types.trailing_zeros() as u8))
    }
}

/// Walks an RTCP compound packet (RFC 3550 §6.1): each packet has version
/// 2, a length in 32-bit words minus one, and padding only in the last.
/// When the walk stops before the end, the datagram may be SRTCP (RFC 3711
/// §3.4): the first 8 bytes are clear, the rest ciphertext, then a 4-byte
/// E-flag|index word, an optional MKI and the authentication tag.
pub fn rtcp(p: &[u8]) -> Option<RtcpInfo> {
    let mut info = RtcpInfo {
        ssrc: be32(p.get(4..8)?),
        ..RtcpInfo::default()
    };
    let mut off = 0usize;
    let mut first_end = 0usize;
    while off < p.len() && usize::from(info.packets) < MAX_RTCP_PACKETS {
        let Some(h) = p.get(off..off + 4) else { break };
        let pt = h[1];
        if h[0] >> 6 != 2 || !(192..=223).contains(&pt) {
            break;
        }
        let len = 4 * (usize::from(u16::from_be_bytes([h[2], h[3]])) + 1);
        let Some(body) = p.get(off + 4..off + len) else {
            break;
        };
        if off == 0 {
            first_end = len;
        }
        // Tentative: committed only if the whole datagram parses, so an
        // SRTCP ciphertext that happens to look like a header adds nothing.
        info.types |= 1 << (pt - 192);
        info.packets += 1;
        if pt == 202 {
            info.sdes_items |= sdes_item_types(body, h[0] & 0x1f);
        }
        off += len;
    }
    if info.packets == 0 {
        return None;
    }
    if off == p.len() {
        return Some(info);
    }
    if off > first_end && p.len() - off < 4 {
        // Lax: a complete compound followed by 1–3 stray bytes (seen from
        // real senders; neither a header nor an SRTCP trailer fits there).
        return Some(info);
    }
    // Not a clean compound: keep only the first packet's type and look for
    // the SRTCP trailer after it.
    let first_pt = p[1];
    let trailer = srtcp_trailer(p, first_end)?;
    Some(RtcpInfo {
        types: 1 << (first_pt - 192),
        packets: 1,
        ssrc: info.ssrc,
        sdes_items: 0,
        srtcp: true,
        encrypted: trailer,
    })
}

/// Looks for `E|SRTCP index` followed by an authentication tag of a common
/// length (10 bytes HMAC-SHA1-80, 4 bytes HMAC-SHA1-32, none for AEAD
/// (RFC 7714 §9.1: the tag is inside the encrypted portion), optionally
/// after a 4-byte MKI). The ciphertext keeps the compound's 32-bit
/// alignment (AES-CM/GCM are stream modes), and the index counts packets
/// from 0 (RFC 3711 §3.4), so a plausible one is small. Returns the E flag.
fn srtcp_trailer(p: &[u8], first_end: usize) -> Option<bool> {
    const TAGS: [usize; 5] = [10, 4, 0, 14, 8];
    for tag in TAGS {
        let Some(body_end) = p.len().checked_sub(tag + 4) else {
            continue;
        };
        if body_end < first_end.max(8) || body_end % 4 != 0 {
            continue;
        }
        let word = be32(&p[body_end..body_end + 4]);
        let e = word & 0x8000_0000 != 0;
        let index = word & 0x7fff_ffff;
        if index < 1 << 24 {
            return Some(e);
        }
    }
    None
}

/// SDES chunks (RFC 3550 §6.5): SSRC/CSRC, then items `type, length,
/// value`, ended by a zero type and padded to 32 bits. Only item types are
/// recorded; values are skipped.
fn sdes_item_types(body: &[u8], source_count: u8) -> u16 {
    let mut mask = 0u16;
    let mut off = 0usize;
    for _ in 0..usize::from(source_count).min(MAX_SDES_CHUNKS) {
        off += 4; // SSRC/CSRC
        loop {
            let Some(&t) = body.get(off) else { return mask };
            if t == 0 {
                // End of items; skip to the next 32-bit boundary.
                off = (off + 4) & !3;
                break;
            }
            let Some(&len) = body.get(off + 1) else {
                return mask;
            };
            mask |= if t <= 8 { 1 << t } else { sdes::OTHER };
            off += 2 + usize::from(len);
        }
    }
    mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtp_basic() {
        let pkt = [
            0x80, 0x08, // V=2, PT=8 (PCMA)
            0x12, 0x34, // seq
            0x00, 0x00, 0x0a, 0x00, // ts 2560
            0xde, 0xad, 0xbe, 0xef, // ssrc
            0xd5, 0xd5, 0x55, // payload
        ];
        let PacketKind::Rtp(h) = classify(&pkt) else {
            panic!()
        };
        assert_eq!(h.version(), 2);
        assert!(!h.padding() && !h.extension() && !h.marker());
        assert_eq!(
            (h.payload_type(), h.sequence(), h.timestamp()),
            (8, 0x1234, 2560)
        );
        assert_eq!(h.ssrc(), 0xdead_beef);
        assert_eq!(h.header_len(), 12);
        assert_eq!(h.payload(), [0xd5, 0xd5, 0x55]);
    }

    #[test]
    fn rtp_csrc_extension_padding() {
        let pkt = [
            0xb1,
            0x80 | 111, // V=2 P=1 X=1 CC=1, M=1 PT=111
            0,
            1,
            0,
            0,
            0,
            1,
            0,
            0,
            0,
            2, // seq, ts, ssrc
            0,
            0,
            0,
            3, // CSRC
            0xbe,
            0xde,
            0,
            1, // RFC 8285 one-byte extension, 1 word
            0x10,
            0xaa,
            0,
            0, // extension data
            0x77,
            0x88, // payload
            0,
            0,
            3, // padding: 3 bytes incl. count
        ];
        let h = RtpHeader::new_checked(&pkt).unwrap();
        assert!(h.padding() && h.extension() && h.marker());
        assert_eq!(h.csrc_count(), 1);
        assert_eq!(h.payload_type(), 111);
        assert_eq!(h.header_len(), 24);
        assert_eq!(h.payload(), [0x77, 0x88]);
        // Extension claims more words than present.
        let mut bad = pkt;
        bad[19] = 9;
        assert_eq!(RtpHeader::new_checked(&bad), Err(RtpError::HeaderOverrun));
        // Padding count larger than the packet body.
        let mut bad = pkt;
        bad[pkt.len() - 1] = 40;
        assert_eq!(RtpHeader::new_checked(&bad), Err(RtpError::BadPadding));
        assert_eq!(RtpHeader::new_checked(&pkt[..11]), Err(RtpError::TooShort));
        assert_eq!(
            RtpHeader::new_checked(&[0x40; 12]),
            Err(RtpError::BadVersion)
        );
    }

    #[test]
    fn stun_dtls_zrtp() {
        // STUN binding request: type 0x0001, length 0, cookie, txid.
        let mut stun = [0u8; 20];
        stun[1] = 1;
        stun[4..8].copy_from_slice(&STUN_MAGIC);
        assert_eq!(classify(&stun), PacketKind::Stun);
        stun[3] = 4; // length 4 but nothing follows
        assert_eq!(classify(&stun), PacketKind::Unknown);

        // DTLS 1.2 handshake record header with a 1-byte fragment.
        let dtls = [22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 1];
        assert_eq!(
            classify(&dtls),
            PacketKind::Dtls(DtlsContentType::Handshake)
        );
        let mut bad = dtls;
        bad[2] = 0x03; // TLS version, not DTLS
        assert_eq!(classify(&bad), PacketKind::Unknown);
        let short = [0x2c; 10];
        assert_eq!(classify(&short), PacketKind::Unknown);
        // DTLS 1.3 unified header: 0x2c = 001 0 1 1 00 (C=0, 16-bit seq,
        // length present), seq, length 20, 20 bytes.
        let mut u = vec![0x2c, 0, 1, 0, 20];
        u.extend_from_slice(&[0x99; 20]);
        assert_eq!(
            classify(&u),
            PacketKind::Dtls(DtlsContentType::Ciphertext13)
        );
        u[4] = 21; // longer than the datagram
        assert_eq!(classify(&u), PacketKind::Unknown);
        // DNS query id 0x3106 (from a real capture) is not DTLS.
        let dns = [
            0x31, 0x06, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 2, b'g', b'o', 0, 0, 1, 0, 1,
        ];
        assert_eq!(classify(&dns), PacketKind::Unknown);
        assert_eq!(classify(b"200 1234 OK\r\n\r\n"), PacketKind::Unknown);

        // ZRTP Hello: 0x10 0x00, seq, "ZRTP", ssrc, preamble...
        let mut zrtp = [0u8; 28];
        zrtp[0] = 0x10;
        zrtp[3] = 1;
        zrtp[4..8].copy_from_slice(b"ZRTP");
        assert_eq!(classify(&zrtp), PacketKind::Zrtp);
        zrtp[4] = b'X';
        assert_eq!(classify(&zrtp), PacketKind::Unknown);
        assert_eq!(classify(&[]), PacketKind::Unknown);
    }

    /// RR (no blocks) + SDES with CNAME and TOOL, as FreeSWITCH sends.
    const COMPOUND: [u8; 32] = [
        0x80, 201, 0, 1, // RR, RC=0, length 1 word
        0x11, 0x22, 0x33, 0x44, // sender SSRC
        0x81, 202, 0, 5, // SDES, SC=1, length 5 words
        0x11, 0x22, 0x33, 0x44, // chunk SSRC
        1, 5, b'a', b'@', b'b', b'.', b'c', // CNAME "a@b.c"
        6, 3, b'f', b's', b'w', // TOOL "fsw"
        0, 0, 0, 0, // end + padding to 32 bits
    ];

    #[test]
    fn rtcp_compound_sdes() {
        let PacketKind::Rtcp(i) = classify(&COMPOUND) else {
            panic!()
        };
        assert_eq!(i.packets, 2);
        assert!(i.has(RtcpType::Rr) && i.has(RtcpType::Sdes) && !i.has(RtcpType::Sr));
        assert_eq!(i.first_type(), Some(RtcpType::Rr));
        assert_eq!(i.sdes_items, sdes::CNAME | sdes::TOOL);
        assert_eq!(i.ssrc, 0x1122_3344);
        assert!(!i.encrypted && !i.srtcp);
        // Debug output carries no item values.
        assert!(!format!("{i:?}").contains("a@b"));
    }

    #[test]
    fn srtcp_detected() {
        // First 8 bytes clear (SR header claiming 6 words + SSRC), then
        // "ciphertext", then E|index=5, then an 80-bit tag.
        let mut p = vec![0x80, 200, 0, 6, 1, 2, 3, 4];
        p.extend_from_slice(&[0x3b; 20]); // rest of SR, encrypted
        p.extend_from_slice(&[0x17; 20]); // SDES, encrypted: not a header
        p.extend_from_slice(&[0x80, 0, 0, 5]);
        p.extend_from_slice(&[0xaa; 10]);
        let PacketKind::Rtcp(i) = classify(&p) else {
            panic!()
        };
        assert!(i.srtcp && i.encrypted);
        assert_eq!(i.first_type(), Some(RtcpType::Sr));
        assert_eq!(i.sdes_items, 0);
        // Same with E=0: authenticated-only SRTCP after a clean compound.
        let mut q = COMPOUND.to_vec();
        q.extend_from_slice(&[0, 0, 0, 9]);
        q.extend_from_slice(&[0xaa; 10]);
        let PacketKind::Rtcp(i) = classify(&q) else {
            panic!()
        };
        assert!(i.srtcp && !i.encrypted);
        // Garbage after the first packet without a trailer: not RTCP.
        let mut r = COMPOUND[..8].to_vec();
        r.extend_from_slice(&[0xff, 0xff, 0xff]);
        assert_eq!(classify(&r), PacketKind::Unknown);
        // A compound followed by 2 stray bytes (as in a real capture) is
        // still RTCP.
        let mut t = COMPOUND.to_vec();
        t.extend_from_slice(&[0, 0]);
        let PacketKind::Rtcp(i) = classify(&t) else {
            panic!()
        };
        assert_eq!((i.packets, i.srtcp), (2, false));
        // First length overruns.
        assert_eq!(
            classify(&[0x80, 200, 0, 9, 1, 2, 3, 4]),
            PacketKind::Unknown
        );
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = crate::testkit::random::Xorshift::new(0x2545_f491_4f6c_dd1d);
        let mut next = move || rng.next_u64();
        let mut buf = Vec::new();
        let mut kinds = [0usize; 6];
        for _ in 0..200_000 {
            buf.clear();
            let len = (next() % 120) as usize;
            for _ in 0..len {
                buf.push(next() as u8);
            }
            // Steer the first bytes into each branch.
            if let Some(b) = buf.first_mut() {
                *b = [0x00, 0x10, 0x16, 0x80, 0x81][(next() % 5) as usize] | (*b & 0x01);
            }
            if buf.len() > 1 && next() % 2 == 0 {
                buf[1] = 200 + (next() % 8) as u8;
            }
            let k = classify(&buf);
            if let PacketKind::Rtp(h) = k {
                assert!(h.header_len() <= h.len());
                let _ = h.payload();
            }
            kinds[match k {
                PacketKind::Rtp(_) => 0,
                PacketKind::Rtcp(_) => 1,
                PacketKind::Stun => 2,
                PacketKind::Dtls(_) => 3,
                PacketKind::Zrtp => 4,
                PacketKind::Unknown => 5,
            }] += 1;
        }
        assert!(kinds[0] > 0 && kinds[5] > 0);
    }
}
