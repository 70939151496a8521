//! Identity carried in tokens and device identifiers (issue 14): the
//! STIR/SHAKEN PASSporT of an `Identity` header (RFC 8224, RFC 8225,
//! RFC 8588) and identifiers of the device rather than the person
//! (`+sip.instance`, IMEI URNs, GRUUs, MAC addresses).
//!
//! No state, no I/O. A PASSporT is decoded without checking its signature:
//! what matters is what an observer reads. The payload is bounded
//! ([`MAX_PASSPORT_B64`]) before it is decoded, so its JSON costs at most a
//! few KiB; serde_json stops at its own nesting limit (128), so a deep
//! document is an error, not a deep recursion.

use super::Field;
use base64::Engine as _;

/// Base64url characters of a PASSporT payload decoded at most. A SHAKEN
/// payload (`attest`, `dest`, `iat`, `orig`, `origid`) is about 200
/// characters; RFC 8588 tokens with `div` or `rcd` claims stay well below.
pub const MAX_PASSPORT_B64: usize = 4096;

/// What one `Identity` header value carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Passport {
    /// The compact form (RFC 8224 §7.3): header and payload left out
    /// (`..signature`); the verifier rebuilds them from From, To and Date,
    /// so the numbers are those in the message.
    Compact,
    /// A full token whose payload names the calling (`orig`) and called
    /// (`dest`) parties and perhaps the origination id (`origid`, RFC 8588).
    Full {
        orig: bool,
        dest: bool,
        origid: bool,
    },
}

/// Why an `Identity` value is not a PASSporT (the `bad_identity` parse
/// error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassportError {
    /// Not three dot-separated parts, or an empty signature.
    NotAToken,
    /// Payload longer than [`MAX_PASSPORT_B64`].
    TooLong,
    /// Payload not base64url.
    BadBase64,
    /// Payload not a JSON object with PASSporT claims.
    BadJson,
}

/// Reads the PASSporT in an `Identity` header value
/// (`token;info=<...>;alg=ES256;ppt=shaken`).
pub fn passport(value: &[u8]) -> Result<Passport, PassportError> {
    let token = value.split(|&b| b == b';').next().unwrap_or(value);
    let token = super::addr::trim(token);
    let mut parts = token.splitn(4, |&b| b == b'.');
    let (Some(header), Some(payload), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(PassportError::NotAToken);
    };
    if sig.is_empty() {
        return Err(PassportError::NotAToken);
    }
    if header.is_empty() && payload.is_empty() {
        return Ok(Passport::Compact);
    }
    if payload.len() > MAX_PASSPORT_B64 {
        return Err(PassportError::TooLong);
    }
    // RFC 7515 §2: base64url without padding; some signers pad anyway.
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let json = engine
        .decode(payload)
        .map_err(|_| PassportError::BadBase64)?;
    let v: serde_json::Value = serde_json::from_slice(&json).map_err(|_| PassportError::BadJson)?;
    let obj = v.as_object().ok_or(PassportError::BadJson)?;
    let (orig, dest) = (obj.contains_key("orig"), obj.contains_key("dest"));
    // RFC 8225 §5: `orig`, `dest` and `iat` are mandatory; be lenient
    // about which one is there, but something must be.
    if !orig && !dest && !obj.contains_key("iat") {
        return Err(PassportError::BadJson);
    }
    Ok(Passport::Full {
        orig,
        dest,
        origid: obj.contains_key("origid"),
    })
}

/// Device identifiers in a Contact value (RFC 5626 `+sip.instance`, the
/// GSMA IMEI URN of RFC 7254, RFC 5627 GRUUs): the most telling field.
pub fn device_in_contact(value: &[u8]) -> Option<Field> {
    // The IMEI is an instance id too: it is the more specific finding.
    if contains_ci(value, b"urn:gsma:imei:") {
        Some(Field::Imei)
    } else if contains_ci(value, b"+sip.instance") {
        Some(Field::SipInstance)
    } else if has_gruu(value) {
        Some(Field::Gruu)
    } else {
        None
    }
}

/// `pub-gruu=` / `temp-gruu=` Contact parameters or a `;gr` URI parameter
/// (RFC 5627 §4, §5.2).
pub fn has_gruu(value: &[u8]) -> bool {
    contains_ci(value, b"pub-gruu=")
        || value.windows(3).enumerate().any(|(i, w)| {
            w.eq_ignore_ascii_case(b";gr")
                && matches!(
                    value.get(i + 3),
                    None | Some(b'=' | b';' | b'>' | b' ' | b',')
                )
        })
}

/// A MAC address written as six hex pairs separated by `:` or `-` (one
/// separator throughout), not part of a longer run of the same shape (an
/// IPv6 address, a longer hex string).
pub fn has_mac(value: &[u8]) -> bool {
    const LEN: usize = 17;
    if value.len() < LEN {
        return false;
    }
    let hex = |b: &u8| b.is_ascii_hexdigit();
    (0..=value.len() - LEN).any(|i| {
        let w = &value[i..i + LEN];
        let sep = w[2];
        if sep != b':' && sep != b'-' {
            return false;
        }
        let shape = w
            .chunks(3)
            .all(|c| c.len() >= 2 && hex(&c[0]) && hex(&c[1]) && (c.len() == 2 || c[2] == sep));
        let before_ok = i == 0 || !(hex(&value[i - 1]) || value[i - 1] == sep);
        let after_ok = value.get(i + LEN).is_none_or(|b| !(hex(b) || *b == sep));
        shape && before_ok && after_ok
    })
}

fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

    fn token(payload: &str) -> String {
        format!(
            "{}.{}.c2lnbmF0dXJl;info=<https://cert.example.org/c.pem>;alg=ES256;ppt=shaken",
            B64.encode(r#"{"alg":"ES256","ppt":"shaken","typ":"passport","x5u":"https://cert.example.org/c.pem"}"#),
            B64.encode(payload)
        )
    }

    #[test]
    fn full_and_compact_tokens() {
        let t = token(
            r#"{"attest":"A","dest":{"tn":["15551230002"]},"iat":1700000000,"orig":{"tn":"15551230001"},"origid":"123e4567-e89b-12d3-a456-426655440000"}"#,
        );
        assert_eq!(
            passport(t.as_bytes()),
            Ok(Passport::Full {
                orig: true,
                dest: true,
                origid: true
            })
        );
        let t = token(r#"{"dest":{"tn":["1"]},"iat":1,"orig":{"tn":"2"}}"#);
        assert_eq!(
            passport(t.as_bytes()),
            Ok(Passport::Full {
                orig: true,
                dest: true,
                origid: false
            })
        );
        assert_eq!(
            passport(b"..c2lnbmF0dXJl;info=<https://x/c.pem>"),
            Ok(Passport::Compact)
        );
        // Padded base64 is accepted too.
        let padded = format!(
            "e30.{}.c2ln",
            base64::engine::general_purpose::URL_SAFE.encode(r#"{"iat":1}"#)
        );
        assert!(passport(padded.as_bytes()).is_ok());
    }

    #[test]
    fn malformed_tokens_are_errors() {
        use PassportError::*;
        for (v, e) in [
            (&b""[..], NotAToken),
            (b"abc", NotAToken),
            (b"a.b", NotAToken),
            (b"a.b.", NotAToken),
            (b"a.b.c.d", NotAToken),
            (b"e30.!!!.c2ln", BadBase64),
            (b"e30.bm90IGpzb24.c2ln", BadJson), // "not json"
            (b"e30.WzFd.c2ln", BadJson),        // [1]
            (b"e30.e30.c2ln", BadJson),         // {}
        ] {
            assert_eq!(passport(v), Err(e), "{}", String::from_utf8_lossy(v));
        }
        let long = format!("e30.{}.c2ln", "A".repeat(MAX_PASSPORT_B64 + 4));
        assert_eq!(passport(long.as_bytes()), Err(TooLong));
        // Deep nesting stops at serde_json's limit: an error, no overflow.
        let deep = format!("{}{}", "[".repeat(3000), "]".repeat(3000));
        let t = format!("e30.{}.c2ln", B64.encode(&deep[..3000]));
        assert_eq!(passport(t.as_bytes()), Err(BadJson));
    }

    #[test]
    fn random_values_never_panic() {
        crate::testkit::random::for_random_inputs(
            b"e30.;=-_AaZz09[]{}\":",
            20_000,
            200,
            |buf, _| {
                let _ = passport(buf);
                let _ = device_in_contact(buf);
                let _ = has_mac(buf);
            },
        );
    }

    #[test]
    fn device_identifiers() {
        let c = |v: &str| device_in_contact(v.as_bytes());
        assert_eq!(
            c("<sip:alice@192.0.2.1;transport=tcp>;+sip.instance=\"<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>\";reg-id=1"),
            Some(Field::SipInstance)
        );
        assert_eq!(
            c("<sip:a@h>;+sip.instance=\"<urn:gsma:imei:90420156-025763-0>\""),
            Some(Field::Imei)
        );
        assert_eq!(
            c("<sip:a@h>;pub-gruu=\"sip:a@example.com;gr=urn:uuid:1\""),
            Some(Field::Gruu)
        );
        assert_eq!(c("<sip:a@example.com;gr>"), Some(Field::Gruu));
        assert_eq!(c("<sip:a@example.com;gr=x>"), Some(Field::Gruu));
        assert_eq!(c("<sip:a@h;grid=1>"), None);
        assert_eq!(c("<sip:a@h>;expires=3600"), None);
    }

    #[test]
    fn mac_shapes() {
        for (v, want) in [
            ("Cisco-CP7960 00:1b:54:aa:bb:cc", true),
            ("mac=00-1B-54-AA-BB-CC;x", true),
            ("001b54aabbcc", false),
            ("2001:db8:0:0:0:0:0:1", false),
            ("aa:bb:cc:dd:ee:ff:00", false),
            ("00:1b:54-aa:bb:cc", false),
            ("1.2.3", false),
        ] {
            assert_eq!(has_mac(v.as_bytes()), want, "{v}");
        }
    }
}
