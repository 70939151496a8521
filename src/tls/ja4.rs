//! JA4, the TLS client fingerprint (FoxIO, BSD-3-Clause: only the `ja4`
//! part, <https://github.com/FoxIO-LLC/ja4/blob/main/technical_details/JA4.md>):
//! `{t|d}{version}{d|i}{ciphers:02}{extensions:02}{alpn}_{hash of sorted
//! ciphers}_{hash of sorted extensions "_" signature algorithms}`. It names
//! the client software's TLS stack, not a person: a `software_version`.
//!
//! GREASE values (RFC 8701) are ignored everywhere; the extension hash
//! leaves out SNI (0x0000) and ALPN (0x0010), the count keeps them.

use super::hello::ext;
use super::{is_grease, ClientHello};
use sha2::{Digest, Sha256};
use std::fmt::Write;

/// Written for an empty list instead of its hash.
const EMPTY_HASH: &str = "000000000000";

/// The JA4 string of a ClientHello (36 ASCII characters).
pub fn ja4(hello: &ClientHello<'_>) -> String {
    let ciphers: Vec<u16> = hello.cipher_suites().filter(|c| !is_grease(*c)).collect();
    let exts: Vec<u16> = super::hello::extensions(hello.extensions)
        .map(|(t, _)| t)
        .filter(|t| !is_grease(*t))
        .collect();
    let sni = if exts.contains(&ext::SERVER_NAME) {
        'd'
    } else {
        'i'
    };
    let mut out = String::with_capacity(36);
    out.push(if hello.dtls { 'd' } else { 't' });
    out.push_str(version_code(hello.max_version()));
    out.push(sni);
    // Counts above 99 are written as 99 (the spec's two characters).
    let _ = write!(out, "{:02}{:02}", ciphers.len().min(99), exts.len().min(99));
    out.push_str(&alpn_code(hello.first_alpn()));
    out.push('_');
    out.push_str(&hash_list(&ciphers, None));
    out.push('_');
    let mut hashed: Vec<u16> = exts
        .into_iter()
        .filter(|t| *t != ext::SERVER_NAME && *t != ext::ALPN)
        .collect();
    let sigs: Vec<u16> = hello
        .signature_algorithms()
        .filter(|s| !is_grease(*s))
        .collect();
    hashed.sort_unstable();
    out.push_str(&hash_list(&hashed, Some(&sigs)));
    out
}

/// Two characters for the version (spec table; anything else "00").
fn version_code(v: u16) -> &'static str {
    match v {
        0x0304 => "13",
        0x0303 => "12",
        0x0302 => "11",
        0x0301 => "10",
        0x0300 => "s3",
        0x0002 => "s2",
        0xfeff => "d1",
        0xfefd => "d2",
        0xfefc => "d3",
        _ => "00",
    }
}

/// First and last character of the first ALPN value; when either is not
/// ASCII alphanumeric, the first and last hex digits of the value; "00"
/// without ALPN.
fn alpn_code(alpn: Option<&[u8]>) -> String {
    let Some((&first, &last)) = alpn.and_then(|a| Some((a.first()?, a.last()?))) else {
        return "00".to_string();
    };
    if first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric() {
        return [char::from(first), char::from(last)].iter().collect();
    }
    let hex = |n: u8| char::from_digit(u32::from(n), 16).unwrap_or('0');
    [hex(first >> 4), hex(last & 0xf)].iter().collect()
}

/// The first 12 hex digits of SHA-256 over the values as 4-digit lower
/// hex joined by commas (sorted for ciphers by the caller or here), with
/// `_` and the signature algorithms appended when there are any.
fn hash_list(values: &[u16], sigs: Option<&[u16]>) -> String {
    if values.is_empty() {
        return EMPTY_HASH.to_string();
    }
    let mut sorted = values.to_vec();
    if sigs.is_none() {
        sorted.sort_unstable();
    }
    let mut text = join_hex(&sorted);
    if let Some(s) = sigs.filter(|s| !s.is_empty()) {
        text.push('_');
        text.push_str(&join_hex(s));
    }
    let digest = Sha256::digest(text.as_bytes());
    let mut out = String::with_capacity(12);
    for b in digest.iter().take(6) {
        let _ = write!(out, "{b:02x}");
    }
    out
}

fn join_hex(values: &[u16]) -> String {
    let mut s = String::with_capacity(values.len() * 5);
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{v:04x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u16s(v: &[u16]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_be_bytes()).collect()
    }

    fn ext_block(exts: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut b = Vec::new();
        for (t, body) in exts {
            b.extend_from_slice(&t.to_be_bytes());
            b.extend_from_slice(&(body.len() as u16).to_be_bytes());
            b.extend_from_slice(body);
        }
        b
    }

    fn with_len16(v: Vec<u8>) -> Vec<u8> {
        let mut b = (v.len() as u16).to_be_bytes().to_vec();
        b.extend(v);
        b
    }

    /// The worked example of the JA4 specification (FoxIO-LLC/ja4,
    /// technical_details/JA4.md: a Chrome ClientHello, "JA4 =
    /// t13d1516h2_8daaf6152771_e5627efa2ab1", its raw form `JA4_r` lists
    /// the sorted ciphers, sorted extensions and signature algorithms
    /// below). The hello is rebuilt from those lists, plus a GREASE cipher
    /// and extension that must be ignored, in a shuffled order that must
    /// not matter.
    #[test]
    fn spec_example() {
        let ciphers = [
            0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014,
            0x009c, 0x009d, 0x002f, 0x0035, 0x3a3a,
        ];
        let sigs = [
            0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
        ];
        let mut exts: Vec<(u16, Vec<u8>)> = vec![(0x2a2a, vec![])];
        let sni = with_len16([&[0u8][..], &with_len16(b"a.example".to_vec())].concat());
        exts.push((0x0000, sni));
        for t in [
            0x0005, 0x000a, 0x000b, 0x0012, 0x0015, 0x0017, 0x001b, 0x0023, 0x002d, 0x0033, 0x4469,
            0xff01,
        ] {
            exts.push((t, vec![]));
        }
        exts.push((0x000d, with_len16(u16s(&sigs))));
        exts.push((
            0x002b,
            [&[6u8][..], &u16s(&[0x4a4a, 0x0304, 0x0303])].concat(),
        ));
        exts.push((
            0x0010,
            with_len16([&[2u8][..], b"h2", &[8], b"http/1.1"].concat()),
        ));
        exts.reverse();
        let block = ext_block(&exts);
        let c = u16s(&ciphers);
        let hello = ClientHello {
            version: 0x0303,
            ciphers: &c,
            extensions: &block,
            dtls: false,
        };
        assert_eq!(ja4(&hello), "t13d1516h2_8daaf6152771_e5627efa2ab1");
    }

    #[test]
    fn edge_cases() {
        // No ciphers, no extensions: TLS 1.0, no SNI, no ALPN.
        let hello = ClientHello {
            version: 0x0301,
            ciphers: &[],
            extensions: &[],
            dtls: false,
        };
        assert_eq!(ja4(&hello), "t10i000000_000000000000_000000000000");
        // DTLS 1.2, one cipher.
        let c = u16s(&[0x002f]);
        let hello = ClientHello {
            version: 0xfefd,
            ciphers: &c,
            extensions: &[],
            dtls: true,
        };
        assert!(ja4(&hello).starts_with("dd2i0100"));
        assert_eq!(alpn_code(Some(b"\xab\xcd")), "ad");
        assert_eq!(alpn_code(Some(b"h")), "hh");
        assert_eq!(alpn_code(Some(b"")), "00");
    }
}
