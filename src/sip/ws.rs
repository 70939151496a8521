//! WebSocket (RFC 6455) handshake and frame parsing for SIP over WebSocket (RFC 7118). No state, no I/O.
