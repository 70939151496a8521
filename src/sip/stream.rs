//! Per-TCP-stream SIP state: what the stream is (SIP, WebSocket, TLS, not SIP)
//! and what was consumed. Parses no bytes itself: calls `framing`, `ws`, `parse`.
