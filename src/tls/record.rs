//! Records to handshake messages: TLS over a TCP stream direction
//! ([`TlsReader`]), DTLS one datagram at a time ([`dtls_datagram`]).

use super::cert::first_certificate;
use super::hello::{client_hello, server_hello};
use super::{Event, Reader, Role, Unreadable};

/// Largest handshake message held while it arrives in pieces (16 KiB: a
/// ClientHello, ServerHello or a certificate chain of a SIP device fits;
/// a larger one is counted `too_large` and the direction is given up).
pub const MAX_HANDSHAKE: usize = 16 * 1024;
/// Largest TLS record fragment (RFC 5246 §6.2.3: 2^14 + 2048).
const MAX_RECORD: usize = (1 << 14) + 2048;
/// Handshake messages read per direction before giving up: a real
/// handshake has fewer than 10 before ChangeCipherSpec.
const MAX_MESSAGES: u8 = 16;
/// Records read per DTLS datagram.
const MAX_DTLS_RECORDS: usize = 32;

mod content {
    pub const HANDSHAKE: u8 = 22;
}

mod hs {
    pub const CLIENT_HELLO: u8 = 1;
    pub const SERVER_HELLO: u8 = 2;
    pub const CERTIFICATE: u8 = 11;
    pub const SERVER_KEY_EXCHANGE: u8 = 12;
    pub const CERTIFICATE_REQUEST: u8 = 13;
    pub const SERVER_HELLO_DONE: u8 = 14;
    pub const CERTIFICATE_VERIFY: u8 = 15;
    pub const CLIENT_KEY_EXCHANGE: u8 = 16;
}

/// One direction of a TLS stream, from its first record until the
/// handshake is encrypted (ChangeCipherSpec, application data, TLS 1.3
/// ServerHello) or unreadable; then [`TlsReader::done`] and every later
/// byte costs nothing.
#[derive(Debug, Default)]
pub struct TlsReader {
    /// Handshake bytes of a message not yet whole (≤ [`MAX_HANDSHAKE`]).
    buf: Vec<u8>,
    role: Role,
    messages: u8,
    certificate_seen: bool,
    done: bool,
    /// Handshake bytes copied into `buf` (the work per byte test).
    #[cfg(test)]
    copied: usize,
}

impl TlsReader {
    pub fn done(&self) -> bool {
        self.done
    }

    /// Bytes held (for the TCP reassembler's budget).
    pub fn held_bytes(&self) -> usize {
        self.buf.capacity()
    }

    /// Bytes were lost: record boundaries are gone, stop reading.
    pub fn on_gap(&mut self) {
        self.finish();
    }

    fn finish(&mut self) {
        self.done = true;
        self.buf = Vec::new();
    }

    /// Read the whole records at the start of `data`; returns the bytes
    /// consumed (a partial record is left for the next call, with more
    /// bytes appended). Once done, consumes everything.
    pub fn feed<F: FnMut(Event<'_>)>(&mut self, data: &[u8], f: &mut F) -> usize {
        let mut pos = 0;
        while !self.done {
            let Some(rest) = data.get(pos..) else { break };
            let mut r = Reader::new(rest);
            let (Some(ty), Some(_version), Some(len)) = (r.u8(), r.u16(), r.u16()) else {
                return pos;
            };
            let len = usize::from(len);
            if len > MAX_RECORD || !(20..=24).contains(&ty) {
                f(Event::Unreadable(Unreadable::Malformed));
                self.finish();
                break;
            }
            let Some(fragment) = r.take(len) else {
                return pos;
            };
            pos += 5 + len;
            if ty != content::HANDSHAKE {
                // ChangeCipherSpec, alert or application data: what
                // follows is encrypted or the connection is ending.
                self.finish();
                break;
            }
            self.handshake_bytes(fragment, f);
        }
        data.len()
    }

    /// Handshake record payload: join to what is held, hand out whole
    /// messages.
    fn handshake_bytes<F: FnMut(Event<'_>)>(&mut self, fragment: &[u8], f: &mut F) {
        if self.buf.is_empty() {
            let used = self.messages_in(fragment, f);
            if !self.done {
                if let Some(rest) = fragment.get(used..) {
                    self.hold(rest, f);
                }
            }
            return;
        }
        self.hold(fragment, f);
        if self.done {
            return;
        }
        // Parse in place and keep the same buffer: copying the held rest
        // anew per record would cost a 16 KiB copy per one-byte record.
        let mut buf = std::mem::take(&mut self.buf);
        let used = self.messages_in(&buf, f);
        if !self.done {
            if used > 0 {
                #[cfg(test)]
                {
                    self.copied += buf.len().saturating_sub(used);
                }
                buf.drain(..used.min(buf.len()));
            }
            self.buf = buf;
        }
    }

    fn hold<F: FnMut(Event<'_>)>(&mut self, bytes: &[u8], f: &mut F) {
        if self.buf.len() + bytes.len() > MAX_HANDSHAKE + 4 {
            f(Event::Unreadable(Unreadable::TooLarge));
            self.finish();
            return;
        }
        #[cfg(test)]
        {
            self.copied += bytes.len();
        }
        // Grow by doubling (linear work) but never past the bound, so what
        // is held stays ≤ MAX_HANDSHAKE + 4 bytes of capacity.
        let need = self.buf.len() + bytes.len();
        if need > self.buf.capacity() {
            let cap = need.max(self.buf.capacity() * 2).min(MAX_HANDSHAKE + 4);
            self.buf.reserve_exact(cap - self.buf.len());
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Whole messages at the start of `data`; returns bytes used.
    fn messages_in<F: FnMut(Event<'_>)>(&mut self, data: &[u8], f: &mut F) -> usize {
        let mut pos = 0;
        while !self.done {
            let mut r = Reader::new(data.get(pos..).unwrap_or(&[]));
            let (Some(ty), Some(len)) = (r.u8(), r.u24()) else {
                break;
            };
            if len > MAX_HANDSHAKE {
                f(Event::Unreadable(Unreadable::TooLarge));
                self.finish();
                break;
            }
            let Some(body) = r.take(len) else { break };
            pos += 4 + len;
            self.message(ty, body, f);
        }
        pos
    }

    fn message<F: FnMut(Event<'_>)>(&mut self, ty: u8, body: &[u8], f: &mut F) {
        self.messages += 1;
        if self.messages > MAX_MESSAGES {
            self.finish();
            return;
        }
        match ty {
            hs::CLIENT_HELLO if self.role == Role::Unknown => {
                self.role = Role::Client;
                match client_hello(body, false) {
                    Some(h) => f(Event::ClientHello(h)),
                    None => f(Event::Unreadable(Unreadable::Malformed)),
                }
            }
            hs::SERVER_HELLO if self.role == Role::Unknown => {
                self.role = Role::Server;
                match server_hello(body, false) {
                    Some(h) => {
                        f(Event::ServerHello(h));
                        // TLS 1.3: the rest of the handshake is encrypted.
                        if h.is_tls13() {
                            self.finish();
                        }
                    }
                    None => f(Event::Unreadable(Unreadable::Malformed)),
                }
            }
            hs::CERTIFICATE if !self.certificate_seen && self.role != Role::Unknown => {
                self.certificate_seen = true;
                certificate(body, self.role, f);
            }
            _ => {}
        }
    }
}

fn certificate<'a, F: FnMut(Event<'a>)>(body: &'a [u8], from: Role, f: &mut F) {
    match first_certificate(body) {
        Some(Some(der)) => f(Event::Certificate { from, der }),
        Some(None) => {}
        None => f(Event::Unreadable(Unreadable::Malformed)),
    }
}

/// A whole, unfragmented DTLS handshake message.
struct DtlsMessage<'a> {
    ty: u8,
    body: &'a [u8],
}

/// The handshake messages of one DTLS datagram (RFC 6347 §4.1 records,
/// §4.2.2 handshake headers). Only epoch-0 records are clear; fragments
/// are counted, not reassembled. A Certificate's sender is told by the
/// messages beside it (a server sends it with ServerHello..ServerHelloDone,
/// a client with ClientKeyExchange); alone, it is `Role::Unknown` and the
/// caller decides from the flow.
pub fn dtls_datagram<'a, F: FnMut(Event<'a>)>(datagram: &'a [u8], f: &mut F) {
    let mut msgs: [Option<DtlsMessage<'_>>; MAX_DTLS_RECORDS] = std::array::from_fn(|_| None);
    let mut n = 0;
    let mut r = Reader::new(datagram);
    while !r.is_empty() && n < MAX_DTLS_RECORDS {
        // type, version, epoch, sequence_number(6), length.
        let (Some(ty), Some(_v), Some(epoch), Some(_seq), Some(fragment)) =
            (r.u8(), r.u16(), r.u16(), r.take(6), r.vec16())
        else {
            f(Event::Unreadable(Unreadable::Malformed));
            break;
        };
        if ty != content::HANDSHAKE || epoch != 0 {
            continue;
        }
        // A record may hold several handshake messages.
        let mut h = Reader::new(fragment);
        while !h.is_empty() && n < MAX_DTLS_RECORDS {
            let (Some(mt), Some(len), Some(_mseq), Some(off), Some(flen)) =
                (h.u8(), h.u24(), h.u16(), h.u24(), h.u24())
            else {
                f(Event::Unreadable(Unreadable::Malformed));
                break;
            };
            let Some(body) = h.take(flen) else {
                f(Event::Unreadable(Unreadable::Malformed));
                break;
            };
            if off != 0 || flen != len {
                f(Event::Unreadable(Unreadable::Fragment));
                continue;
            }
            if let Some(slot) = msgs.get_mut(n) {
                *slot = Some(DtlsMessage { ty: mt, body });
                n += 1;
            }
        }
    }
    let msgs = msgs.get(..n).unwrap_or(&[]);
    let has = |t: &[u8]| msgs.iter().flatten().any(|m| t.contains(&m.ty));
    let cert_from = if has(&[
        hs::SERVER_HELLO,
        hs::SERVER_KEY_EXCHANGE,
        hs::CERTIFICATE_REQUEST,
        hs::SERVER_HELLO_DONE,
    ]) {
        Role::Server
    } else if has(&[hs::CLIENT_KEY_EXCHANGE, hs::CERTIFICATE_VERIFY]) {
        Role::Client
    } else {
        Role::Unknown
    };
    for m in msgs.iter().flatten() {
        match m.ty {
            hs::CLIENT_HELLO => match client_hello(m.body, true) {
                Some(h) => f(Event::ClientHello(h)),
                None => f(Event::Unreadable(Unreadable::Malformed)),
            },
            hs::SERVER_HELLO => match server_hello(m.body, true) {
                Some(h) => f(Event::ServerHello(h)),
                None => f(Event::Unreadable(Unreadable::Malformed)),
            },
            hs::CERTIFICATE => certificate(m.body, cert_from, f),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A handshake message: type, 24-bit length, body.
    fn msg(ty: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![ty];
        m.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        m.extend_from_slice(body);
        m
    }

    fn record(ty: u8, payload: &[u8]) -> Vec<u8> {
        let mut r = vec![ty, 3, 1];
        r.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        r.extend_from_slice(payload);
        r
    }

    fn server_hello_body(version: u16, suite: u16) -> Vec<u8> {
        let mut b = version.to_be_bytes().to_vec();
        b.extend_from_slice(&[1; 32]);
        b.push(0);
        b.extend_from_slice(&suite.to_be_bytes());
        b.push(0);
        b
    }

    #[derive(Debug, PartialEq)]
    enum Ev {
        Ch,
        Sh(u16, u16),
        Cert(Role, usize),
        Bad(Unreadable),
    }

    fn collect(reader: &mut TlsReader, stream: &[u8], step: usize) -> Vec<Ev> {
        let mut out = Vec::new();
        let mut buffered: Vec<u8> = Vec::new();
        for chunk in stream.chunks(step.max(1)) {
            buffered.extend_from_slice(chunk);
            let used = reader.feed(&buffered, &mut |e| {
                out.push(match e {
                    Event::ClientHello(_) => Ev::Ch,
                    Event::ServerHello(h) => Ev::Sh(h.version, h.cipher_suite),
                    Event::Certificate { from, der } => Ev::Cert(from, der.len()),
                    Event::Unreadable(u) => Ev::Bad(u),
                })
            });
            buffered.drain(..used);
        }
        out
    }

    /// ServerHello + Certificate (one 3-byte cert) + ServerHelloDone in
    /// one record, then ChangeCipherSpec and "encrypted" bytes.
    fn server_flight() -> Vec<u8> {
        let mut hs = msg(2, &server_hello_body(0x0301, 0x0035));
        hs.extend(msg(11, &[0, 0, 6, 0, 0, 3, 0xaa, 0xbb, 0xcc]));
        hs.extend(msg(14, &[]));
        let mut s = record(22, &hs);
        s.extend(record(20, &[1]));
        s.extend(record(22, &[0x99; 40]));
        s
    }

    #[test]
    fn server_flight_any_segmentation() {
        let want = vec![Ev::Sh(0x0301, 0x35), Ev::Cert(Role::Server, 3)];
        for step in [1, 2, 3, 7, 50, 10_000] {
            let mut r = TlsReader::default();
            assert_eq!(collect(&mut r, &server_flight(), step), want, "step {step}");
            assert!(r.done());
            assert_eq!(r.held_bytes(), 0);
        }
    }

    #[test]
    fn message_across_records() {
        let m = msg(2, &server_hello_body(0x0303, 0xc02f));
        let (a, b) = m.split_at(9);
        let mut s = record(22, a);
        s.extend(record(22, b));
        let mut r = TlsReader::default();
        assert_eq!(collect(&mut r, &s, 1000), vec![Ev::Sh(0x0303, 0xc02f)]);
    }

    /// A message claiming 16 MB: given up at the bound, nothing held.
    #[test]
    fn huge_message_is_bounded() {
        let mut s = Vec::new();
        let mut hdr = vec![11u8, 0xff, 0xff, 0xff];
        hdr.extend_from_slice(&[0; 1000]);
        s.extend(record(22, &hdr));
        for _ in 0..40 {
            s.extend(record(22, &[0; 1000]));
        }
        let mut r = TlsReader::default();
        let ev = collect(&mut r, &s, 700);
        assert_eq!(ev, vec![Ev::Bad(Unreadable::TooLarge)]);
        assert!(r.held_bytes() <= MAX_HANDSHAKE + 4);
        assert!(r.done());
        // Split so the 16 MB header only arrives across records.
        let mut s = record(22, &[1, 0xff]);
        for _ in 0..40 {
            s.extend(record(22, &[0xff; 1000]));
        }
        let mut r = TlsReader::default();
        assert_eq!(
            collect(&mut r, &s, 333),
            vec![Ev::Bad(Unreadable::TooLarge)]
        );
        assert!(r.done() && r.held_bytes() == 0);
    }

    /// Hostile: a 16 KiB message sent as one-byte handshake records (six
    /// wire bytes each). Every byte must be copied a bounded number of
    /// times, not the whole held message once per record (quadratic: 16 K
    /// records x 8 KiB average = 134 MB copied for 96 KiB of input).
    #[test]
    fn one_byte_records_cost_linear_work() {
        let body_len = MAX_HANDSHAKE - 8;
        let mut m = vec![11u8];
        m.extend_from_slice(&(body_len as u32).to_be_bytes()[1..]);
        m.resize(4 + body_len, 0);
        let mut s = Vec::new();
        for b in &m {
            s.extend(record(22, &[*b]));
        }
        let mut r = TlsReader::default();
        let mut events = 0;
        let mut pos = 0;
        // One TCP segment at a time, as the stream feeds it.
        for end in (1460..s.len()).step_by(1460).chain([s.len()]) {
            pos += r.feed(&s[pos..end], &mut |_| events += 1);
        }
        assert_eq!(pos, s.len());
        // A certificate message before any hello: no event, just held.
        assert!(
            r.copied <= 4 * m.len(),
            "copied {} for {}",
            r.copied,
            m.len()
        );
        assert!(r.held_bytes() <= MAX_HANDSHAKE + 4, "{}", r.held_bytes());
    }

    #[test]
    fn not_tls_records_stop() {
        let mut r = TlsReader::default();
        assert_eq!(
            collect(&mut r, b"\x80\x2e\x01\x00\x02junk", 100),
            vec![Ev::Bad(Unreadable::Malformed)]
        );
        assert!(r.done());
    }

    #[test]
    fn random_bytes_never_panic() {
        let alpha = [22, 20, 3, 1, 0, 0xfe, 0xfd, 2, 11, 0xff, 0x30, 0x82];
        crate::testkit::random::for_random_inputs(&alpha, 3000, 600, |data, _| {
            let data = &data[..];
            let mut r = TlsReader::default();
            let used = r.feed(data, &mut |_| {});
            assert!(used <= data.len());
            assert!(r.held_bytes() <= MAX_HANDSHAKE + 4);
            dtls_datagram(data, &mut |_| {});
        });
        // Mutations of a real flight.
        let base = server_flight();
        crate::testkit::random::for_random_inputs(&[], 3000, 8, |noise, _| {
            let mut d = base.clone();
            for (i, b) in noise.iter().enumerate() {
                let at = (usize::from(*b) * 31 + i * 17) % d.len();
                d[at] ^= b.rotate_left(3) | 1;
            }
            let mut r = TlsReader::default();
            let _ = collect(&mut r, &d, 5);
        });
    }
}
