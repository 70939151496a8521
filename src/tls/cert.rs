//! The Certificate handshake message (RFC 5246 §7.4.2: a list of DER
//! certificates, each with a 3-byte length, sender's own first) and the
//! subject of an X.509 certificate, parsed by `x509-parser` (a maintained
//! DER/X.509 parser; never by hand).

use super::Reader;

/// The first certificate of a TLS 1.2 / DTLS 1.2 Certificate body: `None`
/// when malformed, `Some(None)` for an empty list (a client asked for a
/// certificate that has none).
pub fn first_certificate(body: &[u8]) -> Option<Option<&[u8]>> {
    let mut r = Reader::new(body);
    let list = r.vec24()?;
    if list.is_empty() {
        return Some(None);
    }
    let first = Reader::new(list).vec24()?;
    Some((!first.is_empty()).then_some(first))
}

/// The subject of a DER certificate as RFC 4514-like text (`CN=...,
/// O=...`), or `None` when it is not an X.509 certificate. The text is an
/// identifier: it only goes to the findings store as evidence.
pub fn subject(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(cert.subject().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_list_shapes() {
        assert_eq!(first_certificate(&[0, 0, 0]), Some(None));
        assert_eq!(
            first_certificate(&[0, 0, 5, 0, 0, 2, 1, 2]),
            Some(Some(&[1u8, 2][..]))
        );
        // A list length past the body, a certificate past the list.
        assert_eq!(first_certificate(&[0, 0, 9, 0, 0, 2, 1, 2]), None);
        assert_eq!(first_certificate(&[0, 0, 5, 0, 0, 9, 1, 2]), None);
        assert_eq!(first_certificate(&[]), None);
        // Not DER: no subject, no panic.
        assert_eq!(subject(&[1, 2]), None);
        assert_eq!(subject(&[0x30, 0x82, 0xff, 0xff, 0]), None);
    }
}
