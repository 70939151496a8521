//! Test support shared by unit tests, integration tests, benches and
//! examples: frame builders ([`frames`]), a pcap writer ([`pcap`]), the
//! location of the third-party capture corpus ([`corpus`]) and pseudonym
//! stripping for leak checks of redacted output ([`pseudonyms`]) and TCP
//! flag sets for driving the reassembler ([`tcp`]), random inputs
//! for never-panics tests ([`random`]).
//!
//! The sensor never calls into this module; it is public (and hidden from
//! the docs) only because integration tests, benches and examples are
//! separate crates that can reach the library and nothing else. One home
//! for these helpers keeps every test building the same frames the same
//! way (issue #17: "no test helper or frame builder exists twice").
//! `tests/common` re-exports it next to the helpers that only integration
//! tests need (running the binary, scraping, namespaces).

pub mod corpus;
pub mod frames;
pub mod pcap;
pub mod pseudonyms;
pub mod random;
pub mod tcp;
