//! Random inputs for "never panics" tests: deterministic (xorshift, fixed
//! seed), biased towards a parser's own syntax so it goes deep.

/// Calls `f` `cases` times with a buffer of up to `max_len` bytes: three
/// in four drawn from `alpha`, one in four raw bytes; `f` also gets one
/// more random word for its own choices.
pub fn for_random_inputs(
    alpha: &[u8],
    cases: usize,
    max_len: u64,
    mut f: impl FnMut(&mut Vec<u8>, u64),
) {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut buf = Vec::new();
    for _ in 0..cases {
        buf.clear();
        let len = next() % max_len;
        let raw = next() % 4 == 0 || alpha.is_empty();
        for _ in 0..len {
            let r = next();
            buf.push(if raw {
                r as u8
            } else {
                alpha[(r as usize) % alpha.len()]
            });
        }
        f(&mut buf, next());
    }
}
