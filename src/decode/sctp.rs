//! SCTP DATA chunks (RFC 9260 §3.3.1), for SIP over SCTP (RFC 4168).
//!
//! Owner: `decode`. Invariant: a parser only; the iterator borrows the
//! chunk bytes of [`super::L4::Sctp`], stops at the first chunk whose length
//! is impossible, and never panics. SIP over SCTP sends one message per
//! user message; reassembling a message split over several DATA chunks
//! (B/E flags) is the consumer's job.

use super::{be16, be32};

/// Chunk type of DATA (RFC 9260 §3.2).
const CHUNK_DATA: u8 = 0;
/// Type, flags, length; then TSN, stream id, stream sequence, PPID.
const DATA_HEADER_LEN: usize = 16;

/// One DATA chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SctpData<'a> {
    /// U: unordered delivery.
    pub unordered: bool,
    /// B: first fragment of a user message.
    pub begin: bool,
    /// E: last fragment of a user message.
    pub end: bool,
    pub tsn: u32,
    pub stream_id: u16,
    pub stream_seq: u16,
    /// Payload protocol identifier (SIP has none assigned; usually 0).
    pub ppid: u32,
    pub data: &'a [u8],
}

/// Iterator over the DATA chunks of an SCTP packet; see [`sctp_data_chunks`].
#[derive(Debug, Clone)]
pub struct SctpDataChunks<'a> {
    rest: &'a [u8],
}

/// Walk the chunks after the SCTP common header and yield the DATA ones.
pub fn sctp_data_chunks(chunks: &[u8]) -> SctpDataChunks<'_> {
    SctpDataChunks { rest: chunks }
}

impl<'a> Iterator for SctpDataChunks<'a> {
    type Item = SctpData<'a>;

    fn next(&mut self) -> Option<SctpData<'a>> {
        loop {
            let rest = self.rest;
            let (&ctype, &flags, len) = (rest.first()?, rest.get(1)?, usize::from(be16(rest, 2)?));
            // The length excludes padding and includes the 4-byte chunk
            // header; a chunk shorter than that or past the end stops the walk.
            let Some(chunk) = rest.get(..len).filter(|_| len >= 4) else {
                self.rest = &[];
                return None;
            };
            // Chunks are padded to 4 bytes (§3.2); the last one may omit it.
            let padded = len.saturating_add(3) & !3;
            self.rest = rest.get(padded..).unwrap_or(&[]);
            if ctype != CHUNK_DATA {
                continue;
            }
            // A DATA chunk too short for its header is skipped, not fatal.
            let (Some(tsn), Some(stream_id), Some(stream_seq), Some(ppid)) = (
                be32(chunk, 4),
                be16(chunk, 8),
                be16(chunk, 10),
                be32(chunk, 12),
            ) else {
                continue;
            };
            return Some(SctpData {
                unordered: flags & 0x04 != 0,
                begin: flags & 0x02 != 0,
                end: flags & 0x01 != 0,
                tsn,
                stream_id,
                stream_seq,
                ppid,
                data: chunk.get(DATA_HEADER_LEN..).unwrap_or(&[]),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_chunks_with_padding_and_others() {
        let bytes = [
            // SACK chunk: type 3, flags 0, length 16
            0x03, 0x00, 0x00, 0x10, //
            0, 0, 0, 1, 0, 0, 0x10, 0, 0, 0, 0, 0, //
            // DATA: type 0, flags B|E (0x03), length 16+5 = 21, then 3 pad bytes
            0x00, 0x03, 0x00, 0x15, //
            0x00, 0x00, 0x00, 0x2a, // TSN 42
            0x00, 0x01, 0x00, 0x07, // stream 1, seq 7
            0x00, 0x00, 0x00, 0x00, // PPID 0
            b'I', b'N', b'V', b'I', b'T', 0, 0, 0, //
            // DATA: unordered, begin only, no data, unpadded last chunk
            0x00, 0x06, 0x00, 0x10, //
            0x00, 0x00, 0x00, 0x2b, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2e,
        ];
        let v: Vec<_> = sctp_data_chunks(&bytes).collect();
        assert_eq!(v.len(), 2);
        assert_eq!(
            v[0],
            SctpData {
                unordered: false,
                begin: true,
                end: true,
                tsn: 42,
                stream_id: 1,
                stream_seq: 7,
                ppid: 0,
                data: b"INVIT"
            }
        );
        assert!(v[1].unordered && v[1].begin && !v[1].end);
        assert_eq!((v[1].tsn, v[1].ppid, v[1].data.len()), (43, 46, 0));
    }

    #[test]
    fn bad_lengths_stop_the_walk() {
        // Length 2 (< 4): stop.
        assert_eq!(sctp_data_chunks(&[0, 3, 0, 2, 0, 0, 0, 0]).count(), 0);
        // Length beyond the bytes: stop.
        assert_eq!(sctp_data_chunks(&[0, 3, 0, 40, 0, 0, 0, 0]).count(), 0);
        // DATA chunk of 8 bytes (too short for its header): skipped.
        assert_eq!(sctp_data_chunks(&[0, 3, 0, 8, 0, 0, 0, 0]).count(), 0);
        assert_eq!(sctp_data_chunks(&[]).count(), 0);
        assert_eq!(sctp_data_chunks(&[0, 3]).count(), 0);
    }
}
