//! Sizes of the per-flow table entries the sensor keeps, from
//! `std::mem::size_of` of the exported types (heap blocks they own, such as
//! reassembly buffers and the hash maps' own overhead, come on top; the
//! RSS-based estimate in `benches/memory.sh` includes them).
//!
//! Run: `cargo run --release --example memory`

use sipsentinel::decode::tcp::{Stream as TcpStream, StreamKey as TcpKey};
use sipsentinel::media::stream::{entry_size, StreamKey};
use sipsentinel::media::PayloadSampler;
use sipsentinel::sip::StreamState;
use std::mem::size_of;

fn main() {
    let rows = [
        (
            "media stream table entry (LRU node: StreamKey + Stream)",
            entry_size(),
        ),
        (
            "  of which media::StreamKey (5-tuple + SSRC)",
            size_of::<StreamKey>(),
        ),
        (
            "media::PayloadSampler (boxed, freed once a stream is classified)",
            size_of::<PayloadSampler>(),
        ),
        (
            "TCP stream direction (decode::tcp::Stream<sip::StreamState>)",
            size_of::<TcpStream<StreamState>>(),
        ),
        (
            "dialog (sip::dialog, LRU node per Call-ID)",
            sipsentinel::sip::dialog::entry_size(),
        ),
        ("  key (decode::tcp::StreamKey)", size_of::<TcpKey>()),
    ];
    for (what, bytes) in rows {
        println!("{bytes:>6} B  {what}");
    }
    println!(
        "media stream while sampling: {} B + allocator and map overhead; after classification: {} B",
        entry_size() + size_of::<PayloadSampler>(),
        entry_size()
    );
    println!(
        "SIP dialog: {} B per Call-ID (LRU node) + hash index slot",
        sipsentinel::sip::dialog::entry_size()
    );
}
