//! What a provider or on-path observer can assemble from traffic it is
//! not meant to read (issue #15): identifiers that link separate calls
//! ([`linker`]), registration presence ([`registrations`]), and the
//! parsers both read ([`extract`]).
//!
//! Owner: `observer`. Invariant: tables keep keyed 64-bit tags (the
//! findings pseudonym key), never values; each is bounded and counts what
//! it drops. Parsers live in `extract` and hold no state.

pub mod cdr_view;
pub mod extract;
pub mod linker;
pub mod registrations;

pub use linker::{Linker, Source};
pub use registrations::{Presence, Registrations};
