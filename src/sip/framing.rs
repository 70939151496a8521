//! Finding SIP messages in bytes: is a datagram SIP, where does a message end
//! in a TCP stream (RFC 3261 §18.3, Content-Length), is a stream TLS.
//! No state, no I/O.
