//! The server name of a TLS ClientHello (RFC 6066 §3), for `tls_server_name`.
//!
//! Bounded and panic-free: every length is checked against what the
//! record holds; a record cut by the snap length, by a TCP segment or by
//! a ClientHello spanning records yields `None` (strict, not lax: half a
//! name is not a name).

use super::{Field, Finding, Kind};

/// TLS record header (RFC 8446 §5.1) and handshake header (§4) sizes.
mod field {
    pub const RECORD_HEADER: usize = 5;
    pub const HANDSHAKE_HEADER: usize = 4;
    /// legacy_version (2) + random (32), RFC 8446 §4.1.2.
    pub const HELLO_FIXED: usize = 2 + 32;
    pub const CONTENT_HANDSHAKE: u8 = 22;
    pub const CLIENT_HELLO: u8 = 1;
    pub const EXT_SERVER_NAME: u16 = 0;
    pub const NAME_TYPE_HOST: u8 = 0;
    /// RFC 6066 §3: HostName is at most 2^16-1; a DNS name at most 255.
    pub const MAX_HOST_NAME: usize = 255;
}

/// A bounds-checked reader over a byte slice.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn u8(&mut self) -> Option<u8> {
        let b = *self.data.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes([self.u8()?, self.u8()?]))
    }
    fn u24(&mut self) -> Option<usize> {
        let (a, b, c) = (self.u8()?, self.u8()?, self.u8()?);
        Some(usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c))
    }
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.data.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }
    /// A vector with a `len_bytes`-byte length prefix.
    fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.take(usize::from(n))
    }
    fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }
}

/// The `host_name` of the `server_name` extension of the ClientHello in
/// `record` (one TLS record, header included), or `None` when the record
/// is not a complete ClientHello with a plausible DNS host name.
pub fn tls_client_hello_sni(record: &[u8]) -> Option<&[u8]> {
    use field::*;
    let mut r = Reader {
        data: record,
        pos: 0,
    };
    if r.u8()? != CONTENT_HANDSHAKE {
        return None;
    }
    let _legacy_record_version = r.u16()?;
    let rec_len = usize::from(r.u16()?);
    let fragment = r.take(rec_len)?;
    debug_assert_eq!(r.pos, RECORD_HEADER + rec_len);
    let mut h = Reader {
        data: fragment,
        pos: 0,
    };
    if h.u8()? != CLIENT_HELLO {
        return None;
    }
    let hs_len = h.u24()?;
    let hello = h.take(hs_len)?;
    debug_assert_eq!(h.pos, HANDSHAKE_HEADER + hs_len);
    let mut c = Reader {
        data: hello,
        pos: 0,
    };
    c.take(HELLO_FIXED)?;
    c.vec8()?; // legacy_session_id
    c.vec16()?; // cipher_suites
    c.vec8()?; // legacy_compression_methods
               // No extensions at all (TLS 1.0-1.2 may omit them): no SNI.
    let exts = c.vec16()?;
    let mut e = Reader { data: exts, pos: 0 };
    while e.pos < exts.len() {
        let ty = e.u16()?;
        let body = e.vec16()?;
        if ty != EXT_SERVER_NAME {
            continue;
        }
        // ServerNameList: <1..2^16-1> of { NameType; opaque HostName<1..2^16-1> }
        let mut s = Reader { data: body, pos: 0 };
        let list = s.vec16()?;
        let mut l = Reader { data: list, pos: 0 };
        while l.pos < list.len() {
            let nt = l.u8()?;
            let name = l.vec16()?;
            if nt == NAME_TYPE_HOST {
                let ok = !name.is_empty()
                    && name.len() <= MAX_HOST_NAME
                    && name
                        .iter()
                        .all(|&b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
                return ok.then_some(name);
            }
        }
        return None;
    }
    None
}

// ------------------------------------------ handshakes (issue #13) ----

/// Negotiated versions below TLS 1.2 (DTLS 1.0 is TLS 1.1's DTLS).
fn weak_version(v: u16, dtls: bool) -> Option<&'static str> {
    match (dtls, v) {
        (true, 0xfeff) => Some("DTLSv1.0"),
        (true, 0x0100) => Some("DTLS-pre-RFC"),
        (false, 0x0002) => Some("SSLv2"),
        (false, 0x0300) => Some("SSLv3"),
        (false, 0x0301) => Some("TLSv1.0"),
        (false, 0x0302) => Some("TLSv1.1"),
        _ => None,
    }
}

/// `weak_transport_crypto` for what a ServerHello selected, at most one
/// finding per field: `version` below 1.2; `key_exchange` without forward
/// secrecy (RSA key transport, static DH/ECDH: whoever gets the server key
/// later decrypts the recording); `cipher` NULL, export-grade or anonymous.
/// Evidence: the version or the IANA suite name (not identifiers). The
/// suite table is tls-parser's (IANA registry). Plus `srtp_null_cipher`
/// (field `dtls_srtp_profile`) when a DTLS-SRTP server selects
/// SRTP_NULL_HMAC_SHA1_80/32 (RFC 5764 §4.1.2, 0x0005/0x0006).
pub fn server_hello_findings(sh: &crate::tls::ServerHello, out: &mut Vec<Finding<'static>>) {
    use tls_parser::{TlsCipherAu, TlsCipherEnc, TlsCipherKx, TlsCipherSuite};
    if let Some(v) = weak_version(sh.version, sh.dtls) {
        out.push(Finding {
            evidence: v.as_bytes(),
            ..Finding::new(Kind::WeakTransportCrypto, Field::Version)
        });
    }
    if let Some(cs) = TlsCipherSuite::from_id(sh.cipher_suite) {
        let name = cs.name.as_bytes();
        let anonymous = cs.au == TlsCipherAu::Null;
        // Anonymous (DH_anon/ECDH_anon) suites are ephemeral: their flaw
        // is no authentication, reported as `cipher`.
        let static_kx = matches!(
            cs.kx,
            TlsCipherKx::Rsa | TlsCipherKx::Dh | TlsCipherKx::Ecdh
        );
        if static_kx && !anonymous {
            out.push(Finding {
                evidence: name,
                ..Finding::new(Kind::WeakTransportCrypto, Field::KeyExchange)
            });
        }
        if cs.enc == TlsCipherEnc::Null || cs.name.contains("EXPORT") || anonymous {
            out.push(Finding {
                evidence: name,
                ..Finding::new(Kind::WeakTransportCrypto, Field::Cipher)
            });
        }
    }
    if sh.dtls && matches!(sh.srtp_profile, Some(0x0005 | 0x0006)) {
        let evidence: &'static [u8] = if sh.srtp_profile == Some(5) {
            b"SRTP_NULL_HMAC_SHA1_80"
        } else {
            b"SRTP_NULL_HMAC_SHA1_32"
        };
        out.push(Finding {
            evidence,
            ..Finding::new(Kind::SrtpNullCipher, Field::DtlsSrtpProfile)
        });
    }
}

/// `certificate_exposed` for a certificate sent in clear by `from`, with
/// its subject as evidence (an identifier: the findings store redacts it).
pub fn certificate_finding(from: crate::tls::Role, subject: &[u8]) -> Option<Finding<'_>> {
    let field = match from {
        crate::tls::Role::Server => Field::ServerCertificate,
        crate::tls::Role::Client => Field::ClientCertificate,
        crate::tls::Role::Unknown => return None,
    };
    Some(Finding {
        evidence: subject,
        ..Finding::new(Kind::CertificateExposed, field)
    })
}

/// `software_version` (field `tls_client_hello`) with the JA4 string of a
/// ClientHello as evidence.
pub fn client_hello_finding(ja4: &str) -> Finding<'_> {
    Finding {
        evidence: ja4.as_bytes(),
        ..Finding::new(Kind::SoftwareVersion, Field::TlsClientHello)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ClientHello with the given extensions block (no length prefix).
    fn hello(exts: &[u8]) -> Vec<u8> {
        let mut body = vec![0x03, 0x03]; // legacy_version TLS 1.2
        body.extend_from_slice(&[0xab; 32]); // random
        body.push(0); // session id: empty
        body.extend_from_slice(&[0, 2, 0x13, 0x01]); // one cipher suite
        body.extend_from_slice(&[1, 0]); // compression: null
        body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
        body.extend_from_slice(exts);
        let mut hs = vec![1]; // ClientHello
        hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        hs.extend_from_slice(&body);
        let mut rec = vec![22, 3, 1]; // handshake, legacy version 3.1
        rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
        rec.extend_from_slice(&hs);
        rec
    }

    fn sni_ext(name: &[u8]) -> Vec<u8> {
        let mut list = vec![0]; // host_name
        list.extend_from_slice(&(name.len() as u16).to_be_bytes());
        list.extend_from_slice(name);
        let mut ext = vec![0, 0]; // server_name
        ext.extend_from_slice(&((list.len() + 2) as u16).to_be_bytes());
        ext.extend_from_slice(&(list.len() as u16).to_be_bytes());
        ext.extend_from_slice(&list);
        ext
    }

    #[test]
    fn finds_server_name_after_other_extensions() {
        // supported_versions (43) first, then server_name.
        let mut exts = vec![0, 43, 0, 3, 2, 3, 4];
        exts.extend_from_slice(&sni_ext(b"sip.example.com"));
        let rec = hello(&exts);
        assert_eq!(tls_client_hello_sni(&rec), Some(&b"sip.example.com"[..]));
        let f = crate::exposure::scan_tls(&rec).unwrap();
        assert_eq!(f.kind.as_str(), "tls_server_name");
        assert_eq!(f.field.as_str(), "tls_sni");
        // Every cut of the record: None, never a panic.
        for cut in 0..rec.len() {
            assert_eq!(tls_client_hello_sni(&rec[..cut]), None, "{cut}");
        }
    }

    #[test]
    fn no_sni() {
        assert_eq!(tls_client_hello_sni(&hello(&[0, 43, 0, 3, 2, 3, 4])), None);
        assert_eq!(tls_client_hello_sni(&hello(&[])), None);
        // Not a ClientHello (ServerHello = 2), not handshake, garbage names.
        let mut rec = hello(&sni_ext(b"a.example"));
        rec[5] = 2;
        assert_eq!(tls_client_hello_sni(&rec), None);
        let mut rec = hello(&sni_ext(b"a.example"));
        rec[0] = 23;
        assert_eq!(tls_client_hello_sni(&rec), None);
        assert_eq!(tls_client_hello_sni(&hello(&sni_ext(b"a b"))), None);
        assert_eq!(tls_client_hello_sni(&hello(&sni_ext(b""))), None);
        assert_eq!(tls_client_hello_sni(b""), None);
        // A length that runs past the extension block.
        let mut bad = sni_ext(b"x.example");
        bad[3] = 200;
        assert_eq!(tls_client_hello_sni(&hello(&bad)), None);
    }

    /// Frame 7 of the corpus capture
    /// `voipshark_SIP-over-TLS-RTP-Normal_Call_two_parties.pcap` (TLS 1.2
    /// ClientHello to port 5061, 199 bytes; tshark reads its SNI as the
    /// literal 192.168.20.130, which RFC 6066 forbids but phones send).
    #[test]
    fn real_client_hello() {
        let hex: String = [
            "16030100c2010000be030313735cc8d8f99ac450fb0957893f958787a8dd1e07",
            "3bd7fce7689a0a065ec91c000038c02cc030009fcca9cca8ccaac02bc02f009e",
            "c024c028006bc023c0270067c00ac0140039c009c0130033009d009c003d003c",
            "0035002f00ff0100005d00000013001100000e3139322e3136382e32302e3133",
            "30000b000403000102000a000a0008001d00170019001800230000000d002000",
            "1e06010602060305010502050304010402040303010302030302010202020300",
            "16000000170000",
        ]
        .concat();
        let rec: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        assert_eq!(rec.len(), 199);
        assert_eq!(tls_client_hello_sni(&rec), Some(&b"192.168.20.130"[..]));
        assert!(crate::sip::framing::tls_client_hello(&rec));
    }

    fn sh(version: u16, suite: u16, profile: Option<u16>, dtls: bool) -> Vec<&'static str> {
        let mut out = Vec::new();
        let h = crate::tls::ServerHello {
            version,
            cipher_suite: suite,
            srtp_profile: profile,
            dtls,
        };
        server_hello_findings(&h, &mut out);
        out.iter().map(|f| f.field.as_str()).collect()
    }

    #[test]
    fn weak_transport_crypto_fields() {
        // TLS_RSA_WITH_AES_256_CBC_SHA on TLS 1.0 (the voipshark call).
        assert_eq!(sh(0x0301, 0x0035, None, false), ["version", "key_exchange"]);
        // ECDHE-RSA-AES128-GCM-SHA256 on TLS 1.2 / DTLS 1.2: nothing.
        assert!(sh(0x0303, 0xc02f, None, false).is_empty());
        assert!(sh(0xfefd, 0xc02b, Some(1), true).is_empty());
        // TLS 1.3 suite.
        assert!(sh(0x0304, 0x1301, None, false).is_empty());
        // DTLS 1.0 with ECDHE: version only.
        assert_eq!(sh(0xfeff, 0xc00a, None, true), ["version"]);
        // NULL, export, anonymous suites.
        assert_eq!(sh(0x0303, 0x0002, None, false), ["key_exchange", "cipher"]);
        assert_eq!(sh(0x0303, 0x0003, None, false), ["key_exchange", "cipher"]);
        assert_eq!(sh(0x0303, 0x0034, None, false), ["cipher"]); // DH_anon_AES128
        assert_eq!(sh(0x0303, 0xc006, None, false), ["cipher"]); // ECDHE_ECDSA_NULL
                                                                 // NULL SRTP profiles, only over DTLS.
        assert_eq!(sh(0xfefd, 0xc02b, Some(5), true), ["dtls_srtp_profile"]);
        assert_eq!(sh(0xfefd, 0xc02b, Some(6), true), ["dtls_srtp_profile"]);
        assert!(sh(0xfefd, 0xc02b, Some(7), true).is_empty());
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut x: u32 = 0x1234_5678;
        for _ in 0..2000 {
            let mut d = hello(&sni_ext(b"a.example"));
            for _ in 0..4 {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let at = (x as usize) % d.len();
                d[at] = (x >> 8) as u8;
            }
            let _ = tls_client_hello_sni(&d);
        }
    }
}
