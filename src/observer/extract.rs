//! Parsers (no state, no I/O) for the values an observer links calls by:
//! `+sip.instance` in a Contact, `a=fingerprint` and `a=ssrc ... cname:` in
//! an SDP body, `o=` username and session id, the CNAME of a cleartext RTCP
//! SDES chunk, and the facts of a REGISTER (`Expires`, `expires=`, `*`).
//!
//! Invariant: every function borrows its input, walks it once with bounded
//! loops (at most [`MAX_LINES`] SDP lines, [`MAX_CONTACTS`] contacts, the
//! RTCP compound's own length), never allocates and never panics: every
//! index is a checked `get`.

/// SDP lines looked at; an SDP of a real call has a few dozen.
pub const MAX_LINES: usize = 512;

/// Contacts of one REGISTER taken into account (RFC 3261 §10.2.1 allows a
/// list; a device sends one, rarely two).
pub const MAX_CONTACTS: usize = 4;

/// Longest identifier value taken (a CNAME is at most 255 bytes, RFC 3550
/// §6.5; a SHA-512 fingerprint is 191 characters): longer values are cut,
/// which only ever makes two values look equal when they share this prefix.
pub const MAX_VALUE: usize = 256;

fn cap(v: &[u8]) -> &[u8] {
    v.get(..MAX_VALUE).unwrap_or(v)
}

fn trim(mut v: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = v {
        if !first.is_ascii_whitespace() {
            break;
        }
        v = rest;
    }
    while let [rest @ .., last] = v {
        if !last.is_ascii_whitespace() {
            break;
        }
        v = rest;
    }
    v
}

fn strip_prefix_ci<'a>(v: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let head = v.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| v.get(prefix.len()..))
        .flatten()
}

/// Values an SDP body carries that identify its sender across calls.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SdpIds<'a> {
    /// `a=fingerprint:<hash> <hex>` (RFC 8122 §5), the value after the
    /// colon: the DTLS certificate's digest, stable while the endpoint
    /// keeps its certificate.
    pub fingerprint: Option<&'a [u8]>,
    /// The first `a=ssrc:<id> cname:<cname>` (RFC 5576 §6.1).
    pub cname: Option<&'a [u8]>,
    /// `o=<username> <sess-id>` (RFC 8866 §5.2): the two first tokens as
    /// one slice (`alice 2890844526`), when the session id is not trivial.
    pub origin: Option<&'a [u8]>,
}

/// The first of each identifier in an SDP body (CRLF or LF lines).
pub fn sdp_ids(body: &[u8]) -> SdpIds<'_> {
    let mut ids = SdpIds::default();
    for line in body.split(|&b| b == b'\n').take(MAX_LINES) {
        let line = trim(line);
        if let Some(v) = line.strip_prefix(b"a=fingerprint:") {
            ids.fingerprint = ids
                .fingerprint
                .or(Some(cap(trim(v))).filter(|v| !v.is_empty()));
        } else if let Some(v) = line.strip_prefix(b"a=ssrc:") {
            ids.cname = ids.cname.or_else(|| ssrc_cname(v));
        } else if let Some(v) = line.strip_prefix(b"o=") {
            ids.origin = ids.origin.or_else(|| origin_key(v));
        }
    }
    ids
}

/// `<ssrc-id> cname:<value>`: the value (RFC 5576 §4.1, §6.1).
fn ssrc_cname(v: &[u8]) -> Option<&[u8]> {
    let sp = v.iter().position(|&b| b == b' ')?;
    let attr = trim(v.get(sp..)?);
    let cname = trim(strip_prefix_ci(attr, b"cname:")?);
    (!cname.is_empty()).then(|| cap(cname))
}

/// `<username> <sess-id>` of an `o=` value, as one slice of the line.
/// A session id of fewer than 4 characters or all zeros (`o=- 0 0 ...`,
/// common in gateways) is the same for unrelated hosts: not an identifier.
fn origin_key(v: &[u8]) -> Option<&[u8]> {
    let user_end = v.iter().position(|&b| b == b' ')?;
    let rest = v.get(user_end + 1..)?;
    let sid_len = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
    let sid = rest.get(..sid_len)?;
    if sid.len() < 4 || sid.iter().all(|&b| b == b'0') {
        return None;
    }
    v.get(..user_end + 1 + sid_len).map(cap)
}

/// The `+sip.instance` value of a Contact header value (RFC 5626 §4.1),
/// quotes and angle brackets included as written; the first one.
pub fn sip_instance(contact: &[u8]) -> Option<&[u8]> {
    const NAME: &[u8] = b"+sip.instance";
    let at = contact
        .windows(NAME.len())
        .position(|w| w.eq_ignore_ascii_case(NAME))?;
    let rest = trim(contact.get(at + NAME.len()..)?);
    let rest = trim(rest.strip_prefix(b"=")?);
    let end = if rest.first() == Some(&b'"') {
        // The quoted string ends at the next quote.
        1 + rest.get(1..)?.iter().position(|&b| b == b'"')? + 1
    } else {
        rest.iter()
            .position(|&b| b == b';' || b == b',' || b.is_ascii_whitespace())
            .unwrap_or(rest.len())
    };
    let v = rest.get(..end)?;
    (!v.is_empty()).then(|| cap(v))
}

/// One contact of a REGISTER: its URI (between `<>`, or up to `;`) and
/// its `expires=` parameter, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContactBinding<'a> {
    pub uri: &'a [u8],
    pub expires: Option<u32>,
}

/// What a REGISTER asks for.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RegisterFacts<'a> {
    /// `Contact: *` (RFC 3261 §10.2.2: remove every binding, with
    /// `Expires: 0`).
    pub wildcard: bool,
    /// Contacts, at most [`MAX_CONTACTS`].
    pub contacts: [Option<ContactBinding<'a>>; MAX_CONTACTS],
}

impl<'a> RegisterFacts<'a> {
    /// From the Contact header values of a REGISTER.
    pub fn from_contacts<'h>(values: impl Iterator<Item = &'h [u8]>) -> RegisterFacts<'a>
    where
        'h: 'a,
    {
        let mut f = RegisterFacts::default();
        let mut n = 0;
        for v in values {
            for c in split_contacts(v) {
                let c = trim(c);
                if c == b"*" {
                    f.wildcard = true;
                } else if let (Some(slot), Some(b)) = (f.contacts.get_mut(n), contact_binding(c)) {
                    *slot = Some(b);
                    n += 1;
                }
            }
        }
        f
    }

    pub fn bindings(&self) -> impl Iterator<Item = &ContactBinding<'a>> {
        self.contacts.iter().flatten()
    }
}

/// Splits a Contact value on commas outside `<>` and quotes (at most
/// [`MAX_CONTACTS`] + 1 pieces looked at).
fn split_contacts(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut start = 0;
    let mut depth_angle = false;
    let mut quoted = false;
    let mut pieces = 0;
    let mut i = 0;
    std::iter::from_fn(move || {
        while pieces <= MAX_CONTACTS && start <= v.len() {
            let b = v.get(i).copied();
            i += 1;
            match b {
                Some(b'"') if !depth_angle => quoted = !quoted,
                Some(b'<') if !quoted => depth_angle = true,
                Some(b'>') if !quoted => depth_angle = false,
                Some(b',') if !quoted && !depth_angle => {
                    let piece = v.get(start..i - 1);
                    start = i;
                    pieces += 1;
                    return piece;
                }
                None => {
                    let piece = v.get(start..);
                    start = v.len() + 1;
                    pieces += 1;
                    return piece;
                }
                _ => {}
            }
        }
        None
    })
}

fn contact_binding(c: &[u8]) -> Option<ContactBinding<'_>> {
    let (uri, params) = match (
        c.iter().position(|&b| b == b'<'),
        c.iter().position(|&b| b == b'>'),
    ) {
        (Some(l), Some(r)) if l < r => (c.get(l + 1..r)?, c.get(r + 1..)?),
        _ => {
            let semi = c.iter().position(|&b| b == b';').unwrap_or(c.len());
            (c.get(..semi)?, c.get(semi..)?)
        }
    };
    let uri = trim(uri);
    if uri.is_empty() {
        return None;
    }
    let expires = params
        .split(|&b| b == b';')
        .take(32)
        .find_map(|p| strip_prefix_ci(trim(p), b"expires="))
        .and_then(|v| parse_u32(trim(v)));
    Some(ContactBinding {
        uri: cap(uri),
        expires,
    })
}

/// A decimal `u32` (RFC 3261 §20.19 allows up to 2^32-1 seconds); longer
/// runs saturate.
pub fn parse_u32(v: &[u8]) -> Option<u32> {
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(v.iter().fold(0u32, |n, &d| {
        n.saturating_mul(10).saturating_add(u32::from(d - b'0'))
    }))
}

/// The URI of a To/From value (`"Name" <sip:a@b>;tag=x` or `sip:a@b;tag=x`):
/// the address of record a REGISTER is about (RFC 3261 §10.2).
pub fn name_addr_uri(v: &[u8]) -> &[u8] {
    match (
        v.iter().position(|&b| b == b'<'),
        v.iter().position(|&b| b == b'>'),
    ) {
        (Some(l), Some(r)) if l < r => v.get(l + 1..r).map_or(v, trim),
        _ => {
            let semi = v.iter().position(|&b| b == b';').unwrap_or(v.len());
            v.get(..semi).map_or(v, trim)
        }
    }
}

/// SDES item type of the CNAME (RFC 3550 §6.5.1).
const SDES_CNAME: u8 = 1;
/// RTCP packet type of SDES (RFC 3550 §12.1).
const PT_SDES: u8 = 202;

/// The CNAME of the first SDES chunk of a cleartext RTCP compound packet,
/// if any (RFC 3550 §6.5). Walks the compound packet by each header's
/// length (bounded by the input); stops at anything malformed.
pub fn rtcp_cname(pkt: &[u8]) -> Option<&[u8]> {
    let mut off = 0usize;
    // Each step advances by at least 4 bytes: bounded by the input.
    while let Some(hdr) = pkt.get(off..off + 4) {
        if hdr[0] >> 6 != 2 {
            return None;
        }
        let len = (usize::from(u16::from_be_bytes([hdr[2], hdr[3]])) + 1) * 4;
        let body = pkt.get(off + 4..off + len)?;
        if hdr[1] == PT_SDES && hdr[0] & 0x1f > 0 {
            return sdes_first_cname(body);
        }
        off += len;
    }
    None
}

/// The CNAME item of the first chunk of an SDES body (SSRC, then items).
fn sdes_first_cname(body: &[u8]) -> Option<&[u8]> {
    let mut i = 4; // after the chunk's SSRC
    loop {
        let t = *body.get(i)?;
        if t == 0 {
            return None; // end of the chunk's item list
        }
        let n = usize::from(*body.get(i + 1)?);
        let v = body.get(i + 2..i + 2 + n)?;
        if t == SDES_CNAME {
            return (!v.is_empty()).then_some(v);
        }
        i += 2 + n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdp_identifiers() {
        let sdp = b"v=0\r\no=alice 2890844526 2890844526 IN IP4 192.0.2.1\r\ns=-\r\n\
            m=audio 4000 UDP/TLS/RTP/SAVP 0\r\n\
            a=fingerprint:sha-256 AB:CD:EF\r\n\
            a=ssrc:1234 cname:alice@host\r\n\
            a=ssrc:1234 msid:x\r\n";
        let ids = sdp_ids(sdp);
        assert_eq!(ids.fingerprint, Some(&b"sha-256 AB:CD:EF"[..]));
        assert_eq!(ids.cname, Some(&b"alice@host"[..]));
        assert_eq!(ids.origin, Some(&b"alice 2890844526"[..]));
        // Trivial session ids are shared by unrelated hosts.
        let ids = sdp_ids(b"v=0\no=- 0 0 IN IP4 192.0.2.1\n");
        assert_eq!(ids, SdpIds::default());
        // Malformed lines: nothing, no panic.
        for bad in [
            &b"a=ssrc:"[..],
            b"a=ssrc:1 cname:",
            b"o=",
            b"o=x",
            b"a=fingerprint:",
        ] {
            assert_eq!(sdp_ids(bad), SdpIds::default(), "{bad:?}");
        }
    }

    #[test]
    fn instance_of_contact() {
        let c =
            b"<sip:a@192.0.2.1;transport=udp>;+sip.instance=\"<urn:uuid:f81d4fae>\";expires=3600";
        assert_eq!(sip_instance(c), Some(&b"\"<urn:uuid:f81d4fae>\""[..]));
        assert_eq!(
            sip_instance(b"<sip:a@h>;+SIP.Instance=abc;q=1"),
            Some(&b"abc"[..])
        );
        assert_eq!(sip_instance(b"<sip:a@h>"), None);
        assert_eq!(
            sip_instance(b"<sip:a@h>;+sip.instance=\"unterminated"),
            None
        );
        assert_eq!(sip_instance(b"+sip.instance"), None);
    }

    #[test]
    fn register_contacts_and_expires() {
        let v: &[u8] = b"\"A, B\" <sip:a@192.0.2.1:5060;ob>;expires=0, <sip:a@h2>;Expires=60";
        let f = RegisterFacts::from_contacts([v].into_iter());
        let b: Vec<_> = f.bindings().collect();
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].uri, b"sip:a@192.0.2.1:5060;ob");
        assert_eq!(b[0].expires, Some(0));
        assert_eq!(b[1].expires, Some(60));
        let star = RegisterFacts::from_contacts([&b" * "[..]].into_iter());
        assert!(star.wildcard && star.bindings().next().is_none());
        // More contacts than the bound: the first MAX_CONTACTS.
        let many = b"<sip:1@h>,<sip:2@h>,<sip:3@h>,<sip:4@h>,<sip:5@h>,<sip:6@h>";
        let f = RegisterFacts::from_contacts([&many[..]].into_iter());
        assert_eq!(f.bindings().count(), MAX_CONTACTS);
        assert_eq!(parse_u32(b"99999999999"), Some(u32::MAX));
        assert_eq!(parse_u32(b"1x"), None);
        assert_eq!(name_addr_uri(b"\"Bob\" <sip:bob@h>;tag=1"), b"sip:bob@h");
        assert_eq!(name_addr_uri(b"sip:bob@h;tag=1"), b"sip:bob@h");
    }

    #[test]
    fn rtcp_sdes_cname() {
        let pkt = [
            0x80, 201, 0, 1, 0, 0, 0, 1, // RR, no blocks, SSRC 1
            0x81, 202, 0, 3, 0, 0, 0, 1, // SDES SC=1, SSRC 1
            1, 3, b'a', b'@', b'b', 0, 0, 0, // CNAME "a@b", end, pad
        ];
        assert_eq!(rtcp_cname(&pkt), Some(&b"a@b"[..]));
        // TOOL before CNAME is skipped.
        let pkt2 = [
            0x81, 202, 0, 3, 0, 0, 0, 1, //
            6, 1, b't', 1, 1, b'c', 0, 0, // TOOL "t", CNAME "c", end
        ];
        assert_eq!(rtcp_cname(&pkt2), Some(&b"c"[..]));
        // Every truncation of a valid packet: no panic, never a value
        // beyond the input.
        for n in 0..pkt.len() {
            let _ = rtcp_cname(&pkt[..n]);
        }
        assert_eq!(rtcp_cname(&pkt[..20]), None);
    }

    #[test]
    fn random_inputs_never_panic() {
        const ALPHA: &[u8] =
            b"a=o ssrc:cname:fingerprint+sip.instance\"<>;,*expires=0123\r\n\x80\x81\xca\x01\x00";
        crate::testkit::random::for_random_inputs(ALPHA, 20_000, 300, |buf, _| {
            let data = &buf[..];
            let _ = sdp_ids(data);
            let _ = sip_instance(data);
            let _ = rtcp_cname(data);
            let _ = RegisterFacts::from_contacts([data].into_iter());
            let _ = name_addr_uri(data);
        });
    }
}
