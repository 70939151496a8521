//! Random inputs for "never panics" tests: deterministic (xorshift, fixed
//! seed), biased towards a parser's own syntax so it goes deep.

/// Marsaglia's xorshift64 (shifts 13, 7, 17): the one word source of the
/// randomized tests, deterministic for a seed (not zero).
pub struct Xorshift(u64);

impl Xorshift {
    pub fn new(seed: u64) -> Xorshift {
        Xorshift(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// Calls `f` `cases` times with a buffer of up to `max_len` bytes: three
/// in four drawn from `alpha`, one in four raw bytes; `f` also gets one
/// more random word for its own choices.
pub fn for_random_inputs(
    alpha: &[u8],
    cases: usize,
    max_len: u64,
    mut f: impl FnMut(&mut Vec<u8>, u64),
) {
    let mut rng = Xorshift::new(0x9e37_79b9_7f4a_7c15);
    let mut next = move || rng.next_u64();
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
