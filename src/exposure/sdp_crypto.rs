//! SDES `a=crypto` lines (RFC 4568) that promise SRTP and deliver less:
//!
//! - `srtp_null_cipher` (field `sdp_crypto`): a NULL suite
//!   (`NULL_HMAC_SHA1_80/32`) or the session parameter `UNENCRYPTED_SRTP`
//!   or `UNENCRYPTED_SRTCP` (RFC 4568 §6.3.2): the media (or its RTCP,
//!   SDES items included) travels in the clear under an SRTP profile.
//! - `weak_transport_crypto` (field `srtp_auth`): a 32-bit authentication
//!   tag (`*_HMAC_SHA1_32`, RFC 3711 §9.5: forgeable by guessing) or
//!   `UNAUTHENTICATED_SRTP` (no tag at all).
//!
//! Counted once per `a=crypto` line and finding (an offer listing three
//! weak suites counts three). The evidence is the line cut after the suite
//! (`a=crypto:1 NULL_HMAC_SHA1_80`) or the session parameters, never the
//! key (RFC 4568 §9.1). Pure: no state, no I/O.

use super::{Field, Finding, Kind};
use crate::sdp::{session_param, Sdp};

/// Appends the findings of every `a=crypto` line of `sdp`.
pub fn scan<'a>(sdp: Option<&Sdp<'a>>, out: &mut Vec<Finding<'a>>) {
    let Some(sdp) = sdp else {
        return;
    };
    for l in &sdp.crypto_lines {
        let c = &l.crypto;
        let f = |kind, field, evidence| Finding {
            kind,
            field,
            name: b"",
            evidence,
        };
        let unencrypted = session_param::UNENCRYPTED_SRTP | session_param::UNENCRYPTED_SRTCP;
        if c.suite.is_null() {
            out.push(f(Kind::SrtpNullCipher, Field::SdpCrypto, l.head));
        } else if c.session & unencrypted != 0 {
            out.push(f(Kind::SrtpNullCipher, Field::SdpCrypto, l.params));
        }
        if c.suite.short_tag() {
            out.push(f(Kind::WeakTransportCrypto, Field::SrtpAuth, l.head));
        } else if c.session & session_param::UNAUTHENTICATED_SRTP != 0 {
            out.push(f(Kind::WeakTransportCrypto, Field::SrtpAuth, l.params));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdp::parse_sdp;

    fn found(body: &str) -> Vec<(Kind, Field, String)> {
        let sdp = parse_sdp(body.as_bytes()).unwrap();
        let mut out = Vec::new();
        scan(Some(&sdp), &mut out);
        out.iter()
            .map(|f| {
                (
                    f.kind,
                    f.field,
                    String::from_utf8_lossy(f.evidence).into_owned(),
                )
            })
            .collect()
    }

    const HEAD: &str = "v=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/SAVP 0\r\n";

    #[test]
    fn null_suites_and_session_parameters() {
        let body = format!(
            "{HEAD}a=crypto:1 NULL_HMAC_SHA1_80 inline:S0VZS0VZS0VZS0VZS0VZS0VZS0VZS0VZS0VZS0VZ|2^20\r\n\
             a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:S0VZS0VZS0VZS0VZS0VZS0VZS0VZS0VZS0VZS0VZ UNENCRYPTED_SRTP\r\n\
             a=crypto:3 AES_CM_128_HMAC_SHA1_32 inline:S0VZS0VZS0VZS0VZS0VZS0VZS0VZS0VZS0VZS0VZ\r\n\
             a=crypto:4 AES_CM_128_HMAC_SHA1_80 inline:S0VZS0VZS0VZS0VZS0VZS0VZS0VZS0VZS0VZS0VZ UNENCRYPTED_SRTCP UNAUTHENTICATED_SRTP\r\n\
             a=crypto:5 null_hmac_sha1_32 inline:S0VZS0VZS0VZS0VZS0VZS0VZS0VZS0VZS0VZS0VZ\r\n\
             a=crypto:6 AES_CM_128_HMAC_SHA1_80 inline:S0VZS0VZS0VZS0VZS0VZS0VZS0VZS0VZS0VZS0VZ|2^20|1:4\r\n"
        );
        let got = found(&body);
        let k = |kind, field, ev: &str| (kind, field, ev.to_string());
        assert_eq!(
            got,
            vec![
                k(
                    Kind::SrtpNullCipher,
                    Field::SdpCrypto,
                    "a=crypto:1 NULL_HMAC_SHA1_80"
                ),
                k(Kind::SrtpNullCipher, Field::SdpCrypto, "UNENCRYPTED_SRTP"),
                k(
                    Kind::WeakTransportCrypto,
                    Field::SrtpAuth,
                    "a=crypto:3 AES_CM_128_HMAC_SHA1_32"
                ),
                k(
                    Kind::SrtpNullCipher,
                    Field::SdpCrypto,
                    "UNENCRYPTED_SRTCP UNAUTHENTICATED_SRTP"
                ),
                k(
                    Kind::WeakTransportCrypto,
                    Field::SrtpAuth,
                    "UNENCRYPTED_SRTCP UNAUTHENTICATED_SRTP"
                ),
                k(
                    Kind::SrtpNullCipher,
                    Field::SdpCrypto,
                    "a=crypto:5 null_hmac_sha1_32"
                ),
                k(
                    Kind::WeakTransportCrypto,
                    Field::SrtpAuth,
                    "a=crypto:5 null_hmac_sha1_32"
                ),
            ]
        );
        // The key never reaches the evidence.
        assert!(got.iter().all(|(_, _, e)| !e.contains("S0VZ")));
    }

    #[test]
    fn strong_suites_and_no_sdp_find_nothing() {
        let body = format!(
            "{HEAD}a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:S0VZS0VZ\r\n\
             a=crypto:2 AEAD_AES_256_GCM inline:S0VZS0VZ KDR=1\r\n"
        );
        assert!(found(&body).is_empty());
        let mut out = Vec::new();
        scan(None, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn null_sdes_is_a_media_fact() {
        let only_null = format!("{HEAD}a=crypto:1 NULL_HMAC_SHA1_80 inline:S0VZ\r\n");
        let s = parse_sdp(only_null.as_bytes()).unwrap();
        assert!(s.facts(&s.media[0]).null_srtp);
        let unenc =
            format!("{HEAD}a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:S0VZ UNENCRYPTED_SRTP\r\n");
        let s = parse_sdp(unenc.as_bytes()).unwrap();
        assert!(s.facts(&s.media[0]).null_srtp);
        // A real suite among the offers: the answer may pick it.
        let mixed = format!(
            "{HEAD}a=crypto:1 NULL_HMAC_SHA1_80 inline:S0VZ\r\na=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:S0VZ\r\n"
        );
        let s = parse_sdp(mixed.as_bytes()).unwrap();
        assert!(!s.facts(&s.media[0]).null_srtp);
    }
}
