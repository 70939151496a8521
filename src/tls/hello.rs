//! ClientHello and ServerHello bodies (RFC 5246 §7.4.1, RFC 8446 §4.1,
//! RFC 6347 §4.2.1 for the DTLS cookie) and the extensions read from them.

use super::{is_grease, Reader};

/// Extension ids (IANA "TLS ExtensionType Values").
pub mod ext {
    pub const SERVER_NAME: u16 = 0;
    pub const SIGNATURE_ALGORITHMS: u16 = 13;
    /// RFC 5764 §4.1.1.
    pub const USE_SRTP: u16 = 14;
    pub const ALPN: u16 = 16;
    pub const SUPPORTED_VERSIONS: u16 = 43;
}

/// legacy_version (2) + random (32).
const HELLO_FIXED: usize = 2 + 32;

/// A ClientHello, borrowing its cipher suite list and extension block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientHello<'a> {
    /// legacy_version (the highest version before TLS 1.3).
    pub version: u16,
    /// The cipher suites, two bytes each.
    pub ciphers: &'a [u8],
    /// The extensions block without its length (empty when absent).
    pub extensions: &'a [u8],
    /// Sent over DTLS.
    pub dtls: bool,
}

/// What a ServerHello settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerHello {
    /// The negotiated version: supported_versions when present (TLS 1.3),
    /// else legacy_version.
    pub version: u16,
    pub cipher_suite: u16,
    /// The SRTP protection profile selected by `use_srtp` (DTLS-SRTP).
    pub srtp_profile: Option<u16>,
    pub dtls: bool,
}

impl ServerHello {
    /// TLS 1.3 (or a draft of it, 0x7fxx): everything after the
    /// ServerHello is encrypted.
    pub fn is_tls13(&self) -> bool {
        !self.dtls && (self.version >= 0x0304 || self.version >> 8 == 0x7f)
            || self.dtls && self.version == 0xfefc
    }
}

/// Iterate `(type, body)` over an extensions block; stops at the first
/// extension whose length runs past the block.
pub fn extensions(block: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut r = Reader::new(block);
    std::iter::from_fn(move || {
        if r.is_empty() {
            return None;
        }
        let ty = r.u16()?;
        let body = r.vec16()?;
        Some((ty, body))
    })
}

/// Whether every extension of `block` is whole (lengths add up exactly).
fn extensions_well_formed(block: &[u8]) -> bool {
    let mut r = Reader::new(block);
    while !r.is_empty() {
        if r.u16().is_none() || r.vec16().is_none() {
            return false;
        }
    }
    true
}

/// A ClientHello body (after the handshake header).
pub fn client_hello(body: &[u8], dtls: bool) -> Option<ClientHello<'_>> {
    let mut r = Reader::new(body);
    let version = r.u16()?;
    r.take(HELLO_FIXED - 2)?;
    r.vec8()?; // legacy_session_id
    if dtls {
        r.vec8()?; // cookie (RFC 6347 §4.2.1)
    }
    let ciphers = r.vec16()?;
    if ciphers.len() % 2 != 0 {
        return None;
    }
    r.vec8()?; // compression methods
               // Extensions are optional before TLS 1.3 (RFC 5246 §7.4.1.2).
    let extensions = if r.is_empty() { &[][..] } else { r.vec16()? };
    extensions_well_formed(extensions).then_some(ClientHello {
        version,
        ciphers,
        extensions,
        dtls,
    })
}

/// A ServerHello body (after the handshake header).
pub fn server_hello(body: &[u8], dtls: bool) -> Option<ServerHello> {
    let mut r = Reader::new(body);
    let mut version = r.u16()?;
    r.take(HELLO_FIXED - 2)?;
    if !dtls && version >> 8 == 0x7f {
        // A TLS 1.3 draft (0x7fxx, before draft 22): no session id and no
        // compression method; everything after it is encrypted anyway.
        let cipher_suite = r.u16()?;
        return Some(ServerHello {
            version,
            cipher_suite,
            srtp_profile: None,
            dtls,
        });
    }
    r.vec8()?; // session id
    let cipher_suite = r.u16()?;
    r.u8()?; // compression method
    let exts = if r.is_empty() { &[][..] } else { r.vec16()? };
    if !extensions_well_formed(exts) {
        return None;
    }
    let mut srtp_profile = None;
    for (ty, b) in extensions(exts) {
        match ty {
            // RFC 8446 §4.2.1: the server's selected_version.
            ext::SUPPORTED_VERSIONS => {
                let v = Reader::new(b).u16()?;
                if !is_grease(v) {
                    version = v;
                }
            }
            // RFC 5764 §4.1.1: the server returns one profile.
            ext::USE_SRTP => {
                let mut e = Reader::new(b);
                srtp_profile = Reader::new(e.vec16()?).u16();
            }
            _ => {}
        }
    }
    Some(ServerHello {
        version,
        cipher_suite,
        srtp_profile,
        dtls,
    })
}

impl<'a> ClientHello<'a> {
    /// The cipher suites, GREASE included, in order.
    pub fn cipher_suites(&self) -> impl Iterator<Item = u16> + 'a {
        self.ciphers
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
    }

    /// The body of the first extension of type `ty`.
    pub fn extension(&self, ty: u16) -> Option<&'a [u8]> {
        extensions(self.extensions).find_map(|(t, b)| (t == ty).then_some(b))
    }

    /// The highest version offered: supported_versions (GREASE ignored)
    /// when present, else legacy_version.
    pub fn max_version(&self) -> u16 {
        let listed = self.extension(ext::SUPPORTED_VERSIONS).and_then(|b| {
            let list = Reader::new(b).vec8()?;
            list.chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .filter(|v| !is_grease(*v))
                .max_by_key(|v| version_rank(*v))
        });
        listed.unwrap_or(self.version)
    }

    /// The first protocol of the ALPN extension (RFC 7301 §3.1).
    pub fn first_alpn(&self) -> Option<&'a [u8]> {
        let b = self.extension(ext::ALPN)?;
        let list = Reader::new(b).vec16()?;
        Reader::new(list).vec8()
    }

    /// The signature algorithms in order (RFC 8446 §4.2.3).
    pub fn signature_algorithms(&self) -> impl Iterator<Item = u16> + 'a {
        let list = self
            .extension(ext::SIGNATURE_ALGORITHMS)
            .and_then(|b| Reader::new(b).vec16())
            .unwrap_or(&[]);
        list.chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
    }
}

/// Order of versions: DTLS counts down (0xfeff 1.0 < 0xfefd 1.2 <
/// 0xfefc 1.3); TLS counts up.
fn version_rank(v: u16) -> u32 {
    if v >> 8 == 0xfe {
        0x0302 + u32::from(0xff - (v & 0xff))
    } else {
        u32::from(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ServerHello body selecting `suite`, with `exts` (no length).
    pub(crate) fn server_body(version: u16, suite: u16, exts: &[u8]) -> Vec<u8> {
        let mut b = version.to_be_bytes().to_vec();
        b.extend_from_slice(&[7; 32]);
        b.push(0);
        b.extend_from_slice(&suite.to_be_bytes());
        b.push(0);
        b.extend_from_slice(&(exts.len() as u16).to_be_bytes());
        b.extend_from_slice(exts);
        b
    }

    #[test]
    fn server_hello_reads_version_suite_and_srtp_profile() {
        // use_srtp: profiles <2 bytes: 0x0005>, empty MKI.
        let use_srtp = [0, 14, 0, 5, 0, 2, 0, 5, 0];
        let sh = server_hello(&server_body(0xfefd, 0xc02b, &use_srtp), true).unwrap();
        assert_eq!(sh.version, 0xfefd);
        assert_eq!(sh.cipher_suite, 0xc02b);
        assert_eq!(sh.srtp_profile, Some(5));
        assert!(!sh.is_tls13());
        // supported_versions selects TLS 1.3.
        let sv = [0, 43, 0, 2, 3, 4];
        let sh = server_hello(&server_body(0x0303, 0x1301, &sv), false).unwrap();
        assert_eq!(sh.version, 0x0304);
        assert!(sh.is_tls13());
        // A TLS 1.3 draft-21 ServerHello (the corpus capture
        // ws_sip-tls-1.3-and-rtcp: version 0x7f15, suite 0x1302).
        let mut d = 0x7f15u16.to_be_bytes().to_vec();
        d.extend_from_slice(&[9; 32]);
        d.extend_from_slice(&[0x13, 0x02, 0, 0]);
        let sh = server_hello(&d, false).unwrap();
        assert!(sh.is_tls13() && sh.cipher_suite == 0x1302);
        // No extensions at all (TLS 1.0 servers).
        let mut b = server_body(0x0301, 0x0035, &[]);
        b.truncate(b.len() - 2);
        let sh = server_hello(&b, false).unwrap();
        assert_eq!(
            (sh.version, sh.cipher_suite, sh.srtp_profile),
            (0x0301, 0x35, None)
        );
        // Every cut: None or a value, never a panic; a cut inside the
        // extensions block is None.
        let full = server_body(0xfefd, 0xc02b, &use_srtp);
        for cut in 0..full.len() {
            let _ = server_hello(&full[..cut], true);
        }
        assert_eq!(server_hello(&full[..full.len() - 1], true), None);
    }

    #[test]
    fn version_order() {
        assert!(version_rank(0xfefd) > version_rank(0xfeff));
        assert!(version_rank(0xfefc) > version_rank(0xfefd));
        assert!(version_rank(0x0304) > version_rank(0x0303));
        assert!(is_grease(0x0a0a) && is_grease(0xfafa) && !is_grease(0x0a1a));
    }
}
