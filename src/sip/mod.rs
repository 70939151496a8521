//! SIP: recognising, framing and parsing messages (RFC 3261), leniently.
//!
//! Owner: the `sip` module. Parsers (`parse.rs`, `framing.rs`, `ws.rs`,
//! `body.rs` for bodies and their parts) hold no state; `stream.rs` holds per-TCP-stream state and parses no bytes
//! itself. Nothing here does I/O, logs or touches metrics: callers count.
//! Error and label strings come from fixed sets (`as_str`).

pub mod body;
pub mod dialog;
pub mod framing;
pub mod parse;
pub mod stream;
pub mod ws;

pub use body::Body;
pub use framing::{frame_stream, looks_like_sip, StreamFrame};
pub use parse::{parse_message, Header, HeaderName, Message, Method, ParseError, StartLine};
pub use stream::{SipEvent, StreamKind, StreamState};

crate::label_enum! {
    /// The `transport` label of a SIP message.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Transport {
        Udp = "udp",
        Tcp = "tcp",
        Tls = "tls",
        Ws = "ws",
        Wss = "wss",
        Sctp = "sctp",
    }
}

/// No entry point panics or loops on arbitrary bytes (STYLE.md §11). Inputs
/// are random bytes and random mutations of real messages, so the parsers'
/// deeper paths (headers, bodies, frames) are reached too.
#[cfg(test)]
mod fuzz {
    use super::framing::{self, StreamFrame};
    use super::stream::StreamState;
    use super::ws;
    use super::*;
    use proptest::prelude::*;

    const SEEDS: [&[u8]; 4] = [
        b"INVITE sip:b@h SIP/2.0\r\nv: SIP/2.0/TCP h\r\nCall-ID: 1\r\nCSeq: 1 INVITE\r\nl: 4\r\n\r\nv=0\n",
        b"\r\n\r\nSIP/2.0 200 OK\nTo : x\n folded\nContent-Length: 0\n\n",
        b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58",
        b"\x82\x7e\x00\x20SIP/2.0 100 Trying\r\nl: 0\r\n\r\n",
    ];

    fn input() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..512),
            (
                0..SEEDS.len(),
                proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8),
                any::<usize>()
            )
                .prop_map(|(i, edits, cut)| {
                    let mut d = SEEDS[i].to_vec();
                    for (at, b) in edits {
                        let at = at % d.len();
                        d[at] = b;
                    }
                    d.truncate(cut % (d.len() + 1));
                    d
                }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn parse_message_never_panics(d in input()) {
            if let Ok(m) = parse_message(&d) {
                prop_assert!(m.len <= d.len());
                let _ = (m.cseq(), m.call_id(), m.content_length(), m.status_class(), m.validate());
            }
            // The content test and the parser agree on what a start line is.
            if framing::looks_like_sip(&d) {
                prop_assert_ne!(parse_message(&d).err(), Some(ParseError::BadStartLine));
            }
        }

        #[test]
        fn frame_stream_never_panics(d in input()) {
            match framing::frame_stream(&d) {
                StreamFrame::Complete { len } => prop_assert!(len > 0 && len <= d.len()),
                StreamFrame::Skip { len } => prop_assert!(len > 0 && len <= d.len()),
                StreamFrame::Invalid { skip, .. } => prop_assert!(skip > 0 && skip <= d.len()),
                StreamFrame::NeedMore => {}
            }
        }

        #[test]
        fn parse_frame_never_panics(d in input()) {
            if let Ok(Some((f, n))) = ws::parse_frame(&d) {
                prop_assert!(n <= d.len());
                let mut out = Vec::new();
                if let Some(k) = f.mask {
                    ws::unmask_into(f.payload, k, &mut out);
                }
            }
            let _ = ws::http_header_end(&d, 1024);
        }

        #[test]
        fn on_data_never_panics(d in input(), split in any::<usize>(), hint in any::<bool>(), gap in any::<bool>()) {
            let mut st = StreamState::default();
            let cut = split % (d.len() + 1);
            let mut buf = d[..cut].to_vec();
            let n = st.on_data(&buf, hint, |_| {});
            prop_assert!(n <= buf.len());
            buf.drain(..n);
            if gap {
                st.on_gap();
                buf.clear();
            }
            buf.extend_from_slice(&d[cut..]);
            let n = st.on_data(&buf, hint, |_| {});
            prop_assert!(n <= buf.len());
        }
    }
}
