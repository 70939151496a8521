//! WebSocket (RFC 6455) handshake and frame parsing for SIP over WebSocket
//! (RFC 7118). No state of its own, no I/O: [`parse_frame`] is the checked
//! entry for one frame, the handshake helpers look at HTTP/1.1 header
//! sections ([`http_header_end_from`] resumes from a caller-kept offset so
//! a header section arriving in small segments is searched once).
//! Payload length is bounded ([`MAX_PAYLOAD`]) so a hostile length field
//! never makes a caller wait for, or buffer, more than that.

/// Largest frame payload accepted. RFC 7118 §5 puts one SIP message in one
/// WebSocket message; SIP messages are far below this.
pub const MAX_PAYLOAD: u64 = 1024 * 1024;

/// Frame opcode (RFC 6455 §5.2); reserved values are kept, not refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
    Unknown(u8),
}

impl Opcode {
    pub fn from_u8(v: u8) -> Opcode {
        match v {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            n => Opcode::Unknown(n),
        }
    }
    /// Control frames have the high bit of the opcode set (RFC 6455 §5.5).
    pub fn is_control(&self) -> bool {
        match self {
            Opcode::Close | Opcode::Ping | Opcode::Pong => true,
            Opcode::Unknown(n) => n & 0x8 != 0,
            _ => false,
        }
    }
}

/// One frame, a view into the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WsFrame<'a> {
    pub fin: bool,
    /// RSV1..RSV3 (bits 6..4 of the first byte); RSV1 set means a
    /// per-message compression extension (RFC 7692) is in use.
    pub rsv: u8,
    pub opcode: Opcode,
    /// Masking key; client-to-server frames are masked (RFC 6455 §5.3).
    pub mask: Option<[u8; 4]>,
    /// Payload as on the wire (still masked when `mask` is set).
    pub payload: &'a [u8],
}

crate::label_enum! {
    /// Why a frame is refused: a label from a fixed set.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
    pub enum WsError {
        #[error("websocket payload too large")]
        PayloadTooLarge = "payload_too_large",
        #[error("bad websocket control frame")]
        BadControlFrame = "bad_control_frame",
    }
}

/// Parse the frame at the start of `data` (RFC 6455 §5.2). `Ok(None)`: not
/// all there yet; `Ok(Some((frame, consumed)))`: one frame of `consumed` bytes.
pub fn parse_frame(data: &[u8]) -> Result<Option<(WsFrame<'_>, usize)>, WsError> {
    let (&b0, &b1) = match (data.first(), data.get(1)) {
        (Some(a), Some(b)) => (a, b),
        _ => return Ok(None),
    };
    let fin = b0 & 0x80 != 0;
    let rsv = (b0 >> 4) & 0x7;
    let opcode = Opcode::from_u8(b0 & 0x0F);
    let masked = b1 & 0x80 != 0;
    let (len, mut off): (u64, usize) = match b1 & 0x7F {
        126 => match data.get(2..4) {
            Some(&[a, b]) => (u64::from(u16::from_be_bytes([a, b])), 4),
            _ => return Ok(None),
        },
        127 => match data.get(2..10) {
            Some(b) => {
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                (u64::from_be_bytes(a), 10)
            }
            None => return Ok(None),
        },
        n => (u64::from(n), 2),
    };
    // Control frames: FIN set and at most 125 bytes (RFC 6455 §5.5).
    if opcode.is_control() && (!fin || len > 125) {
        return Err(WsError::BadControlFrame);
    }
    if len > MAX_PAYLOAD {
        return Err(WsError::PayloadTooLarge);
    }
    let mask = if masked {
        match data.get(off..off + 4) {
            Some(&[a, b, c, d]) => {
                off += 4;
                Some([a, b, c, d])
            }
            _ => return Ok(None),
        }
    } else {
        None
    };
    // len <= MAX_PAYLOAD, so the cast cannot truncate.
    let end = off + len as usize;
    match data.get(off..end) {
        Some(payload) => Ok(Some((
            WsFrame {
                fin,
                rsv,
                opcode,
                mask,
                payload,
            },
            end,
        ))),
        None => Ok(None),
    }
}

/// Append `payload` unmasked with `key` to `out` (RFC 6455 §5.3: octet i is
/// XORed with key[i mod 4]). Appends, so fragments can be joined in place.
pub fn unmask_into(payload: &[u8], key: [u8; 4], out: &mut Vec<u8>) {
    out.reserve(payload.len());
    out.extend(payload.iter().zip(key.iter().cycle()).map(|(b, k)| b ^ k));
}

/// Offset just past the empty line ending an HTTP/1.1 header section
/// (CRLFCRLF; LF-only tolerated), within `max` bytes.
pub fn http_header_end(data: &[u8], max: usize) -> Option<usize> {
    http_header_end_from(data, max, &mut 0)
}

/// [`http_header_end`] resuming at `*resume` (0 the first time) on a buffer
/// that only grows at its end; `*resume` is left where the next call on
/// the grown buffer should start (at the last LF whose follower was not
/// there yet), so each byte is examined about once.
pub fn http_header_end_from(data: &[u8], max: usize, resume: &mut usize) -> Option<usize> {
    let window = data.get(..data.len().min(max)).unwrap_or(data);
    let mut pos = (*resume).min(window.len());
    let mut stop = window.len();
    while let Some(lf) = window
        .get(pos..)
        .and_then(|r| r.iter().position(|&b| b == b'\n'))
    {
        let at = pos + lf;
        let next = at + 1;
        match window.get(next..) {
            Some([b'\n', ..]) => return Some(next + 1),
            Some([b'\r', b'\n', ..]) => return Some(next + 2),
            // The bytes after this LF are not all there: look again.
            Some([] | [b'\r']) => stop = at,
            _ => {}
        }
        pos = next;
    }
    *resume = stop;
    None
}

/// Is this the server's `101 Switching Protocols` (RFC 6455 §4.2.2)?
pub fn is_http_101(data: &[u8]) -> bool {
    (data.starts_with(b"HTTP/1.1 101") || data.starts_with(b"HTTP/1.0 101"))
        && matches!(data.get(12), None | Some(b' ' | b'\r' | b'\n'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unmasked_text_frame() {
        // FIN + text, length 5, unmasked (server to client).
        let d = b"\x81\x05hello rest";
        let (f, n) = parse_frame(d).unwrap().unwrap();
        assert_eq!(n, 7);
        assert!(f.fin);
        assert_eq!(f.opcode, Opcode::Text);
        assert_eq!(f.mask, None);
        assert_eq!(f.payload, b"hello");
        // Any shorter prefix needs more.
        for cut in 0..7 {
            assert_eq!(parse_frame(&d[..cut]).unwrap(), None);
        }
    }

    #[test]
    fn masked_frame_and_unmask() {
        // RFC 6455 §5.7: masked "Hello".
        let d = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        let (f, n) = parse_frame(&d).unwrap().unwrap();
        assert_eq!(n, d.len());
        assert_eq!(f.mask, Some([0x37, 0xfa, 0x21, 0x3d]));
        let mut out = b"x".to_vec();
        unmask_into(f.payload, f.mask.unwrap(), &mut out);
        assert_eq!(out, b"xHello");
        for cut in 0..d.len() {
            assert_eq!(parse_frame(&d[..cut]).unwrap(), None);
        }
    }

    #[test]
    fn extended_lengths() {
        // 16-bit length 256, binary, not FIN.
        let mut d = vec![0x02, 126, 0x01, 0x00];
        d.resize(4 + 256, b'a');
        let (f, n) = parse_frame(&d).unwrap().unwrap();
        assert_eq!(
            (f.fin, f.opcode, f.payload.len(), n),
            (false, Opcode::Binary, 256, 260)
        );
        // 64-bit length 65536, continuation.
        let mut d = vec![0x80, 127, 0, 0, 0, 0, 0, 1, 0, 0];
        assert_eq!(parse_frame(&d).unwrap(), None);
        d.resize(10 + 65536, 0);
        let (f, _) = parse_frame(&d).unwrap().unwrap();
        assert_eq!((f.opcode, f.payload.len()), (Opcode::Continuation, 65536));
        // Bounds: more than MAX_PAYLOAD, or the 64-bit MSB set.
        let d = [0x82, 127, 0, 0, 0, 0, 0, 0x10, 0, 1];
        assert_eq!(parse_frame(&d), Err(WsError::PayloadTooLarge));
        let d = [0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(parse_frame(&d), Err(WsError::PayloadTooLarge));
    }

    #[test]
    fn control_frames() {
        assert_eq!(
            parse_frame(b"\x89\x00").unwrap().unwrap().0.opcode,
            Opcode::Ping
        );
        // Fragmented ping, or a 126-byte close: refused (RFC 6455 §5.5).
        assert_eq!(parse_frame(b"\x09\x00"), Err(WsError::BadControlFrame));
        assert_eq!(
            parse_frame(b"\x88\x7e\x00\x7e"),
            Err(WsError::BadControlFrame)
        );
        assert_eq!(
            parse_frame(b"\x83\x00").unwrap().unwrap().0.opcode,
            Opcode::Unknown(3)
        );
    }

    #[test]
    fn handshake_helpers() {
        let resp = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x00";
        assert!(is_http_101(resp));
        assert_eq!(http_header_end(resp, 1024), Some(resp.len() - 2));
        assert_eq!(
            http_header_end(b"GET / HTTP/1.1\nHost: h\n\nX", 1024),
            Some(24)
        );
        assert_eq!(
            http_header_end(b"GET / HTTP/1.1\r\nHost: h\r\n", 1024),
            None
        );
        assert_eq!(http_header_end(resp, 10), None);
        assert!(!is_http_101(b"HTTP/1.1 200 OK\r\n"));
        assert!(!is_http_101(b"HTTP/1.1 1010"));
    }

    /// Resuming gives the same answer as a fresh search at every length,
    /// and examines each byte about once.
    #[test]
    fn header_end_resumes() {
        for resp in [
            &b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x00"[..],
            b"GET / HTTP/1.1\nHost: h\n\nX",
            b"GET / HTTP/1.1\r\nA: b\r\n\r\r\nC: d\r\n\r\n",
        ] {
            let mut resume = 0;
            for n in 0..=resp.len() {
                let fresh = http_header_end(&resp[..n], 1024);
                let got = http_header_end_from(&resp[..n], 1024, &mut resume);
                assert_eq!(got, fresh, "{n}");
                if got.is_some() {
                    break;
                }
                assert!(resume <= n);
                assert!(n.saturating_sub(resume) <= 2, "resumes at {resume} of {n}");
            }
        }
    }
}
