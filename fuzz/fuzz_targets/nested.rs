//! Fuzz target `nested`: see `fuzz/harness.rs` for the input layout and
//! the invariants asserted.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::nested(data));
