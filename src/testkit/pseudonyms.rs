//! Reading redacted output as a leak hunter would: pseudonyms
//! (`class-` + 8 hex digits, [`crate::findings::redact::CLASSES`]) are
//! the redaction's own, so their hex digits must not count as leaked.

use crate::findings::redact::CLASSES;

/// `s` with every pseudonym replaced by `with`.
pub fn strip(s: &str, with: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut i = 0usize;
    'outer: while i < s.len() {
        for c in CLASSES {
            if s[i..].starts_with(c) {
                let hex = &s.as_bytes()[i + c.len()..];
                if hex.len() >= 8 && hex[..8].iter().all(u8::is_ascii_hexdigit) {
                    out.push_str(with);
                    i += c.len() + 8;
                    continue 'outer;
                }
            }
        }
        let ch = s[i..].chars().next().expect("i is on a char boundary");
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn strips_only_whole_pseudonyms() {
        assert_eq!(
            super::strip("a user-0123abcd b ip-12 num-deadbeef9", "#"),
            "a # b ip-12 #9"
        );
    }
}
