//! TCP flag sets (`decode::TcpFlags`) for feeding the reassembler segments
//! directly, without building frames.

use crate::decode::TcpFlags;

/// SYN alone: a connection's first segment.
pub const SYN: TcpFlags = TcpFlags {
    syn: true,
    fin: false,
    rst: false,
    ack: false,
};

/// ACK alone: an ordinary data segment.
pub const ACK: TcpFlags = TcpFlags {
    syn: false,
    fin: false,
    rst: false,
    ack: true,
};

/// FIN|ACK: the sender's last segment.
pub const FIN: TcpFlags = TcpFlags {
    syn: false,
    fin: true,
    rst: false,
    ack: true,
};

/// RST alone.
pub const RST: TcpFlags = TcpFlags {
    syn: false,
    fin: false,
    rst: true,
    ack: false,
};
