//! A bounded LRU map shared by the state tables (media streams, calls).
//!
//! Owner: crate utility. Invariant: at most `cap` entries; insert evicts
//! and returns the least recently used one, so every table built on it is
//! bounded and every eviction is visible to the caller to count. Indexing
//! into `nodes` only uses indices taken from `index`/the list, which the
//! methods keep consistent, so it cannot go out of bounds.

use std::collections::HashMap;
use std::hash::Hash;

// A bounded LRU map: dense node vector with an intrusive doubly linked list
// (head = most recent), and a hash index. O(1) touch, insert, evict.

const NIL: u32 = u32::MAX;

#[derive(Debug)]
pub struct Node<K, V> {
    key: K,
    val: V,
    prev: u32,
    next: u32,
}

pub struct Lru<K, V> {
    index: HashMap<K, u32, ahash::RandomState>,
    nodes: Vec<Node<K, V>>,
    head: u32,
    tail: u32,
    cap: usize,
}

impl<K: Hash + Eq + Copy, V> Lru<K, V> {
    pub fn new(cap: usize) -> Self {
        Lru {
            index: HashMap::with_hasher(ahash::RandomState::new()),
            nodes: Vec::new(),
            head: NIL,
            tail: NIL,
            cap,
        }
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    fn unlink(&mut self, i: u32) {
        let (prev, next) = {
            let n = &self.nodes[i as usize];
            (n.prev, n.next)
        };
        match prev {
            NIL => self.head = next,
            p => self.nodes[p as usize].next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.nodes[n as usize].prev = prev,
        }
    }

    fn push_front(&mut self, i: u32) {
        let old = self.head;
        {
            let n = &mut self.nodes[i as usize];
            n.prev = NIL;
            n.next = old;
        }
        match old {
            NIL => self.tail = i,
            o => self.nodes[o as usize].prev = i,
        }
        self.head = i;
    }

    pub fn peek(&self, k: &K) -> Option<&V> {
        self.index.get(k).map(|&i| &self.nodes[i as usize].val)
    }

    /// Looks up and marks as most recently used.
    pub fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        let i = *self.index.get(k)?;
        if self.head != i {
            self.unlink(i);
            self.push_front(i);
        }
        Some(&mut self.nodes[i as usize].val)
    }

    /// Marks `k` as most recently used; false when absent. With
    /// [`Self::front_mut`] this is a lookup-or-insert with one hash on a
    /// hit, the per-packet case.
    pub fn touch(&mut self, k: &K) -> bool {
        self.get_mut(k).is_some()
    }

    /// The most recently used entry (the one just touched or inserted).
    pub fn front_mut(&mut self) -> Option<&mut V> {
        let h = self.head;
        self.nodes.get_mut(h as usize).map(|n| &mut n.val)
    }

    /// Inserts a key that is not present, evicting the least recently used
    /// entry when full; returns it.
    pub fn insert(&mut self, k: K, v: V) -> Option<(K, V)> {
        let evicted = if self.nodes.len() >= self.cap {
            self.pop_lru_if(|_| true)
        } else {
            None
        };
        let i = self.nodes.len() as u32;
        self.nodes.push(Node {
            key: k,
            val: v,
            prev: NIL,
            next: NIL,
        });
        self.index.insert(k, i);
        self.push_front(i);
        evicted
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Removes `k` if present.
    pub fn remove(&mut self, k: &K) -> Option<V> {
        let i = *self.index.get(k)?;
        // Make it the least recently used, then pop it.
        if self.tail != i {
            self.unlink(i);
            let old = self.tail;
            {
                let n = &mut self.nodes[i as usize];
                n.prev = old;
                n.next = NIL;
            }
            match old {
                NIL => self.head = i,
                o => self.nodes[o as usize].next = i,
            }
            self.tail = i;
        }
        self.pop_lru_if(|_| true).map(|(_, v)| v)
    }

    /// Removes the least recently used entry if `pred` holds for it.
    pub fn pop_lru_if(&mut self, pred: impl Fn(&V) -> bool) -> Option<(K, V)> {
        let t = self.tail;
        if t == NIL || !pred(&self.nodes[t as usize].val) {
            return None;
        }
        self.unlink(t);
        let last = (self.nodes.len() - 1) as u32;
        if t != last {
            // The last node moves into slot t: fix its neighbours and index.
            let (prev, next, key) = {
                let n = &self.nodes[last as usize];
                (n.prev, n.next, n.key)
            };
            match prev {
                NIL => self.head = t,
                p => self.nodes[p as usize].next = t,
            }
            match next {
                NIL => self.tail = t,
                n => self.nodes[n as usize].prev = t,
            }
            self.index.insert(key, t);
        }
        let node = self.nodes.swap_remove(t as usize);
        self.index.remove(&node.key);
        Some((node.key, node.val))
    }
}

#[cfg(test)]
mod tests {
    use super::Lru;

    #[test]
    fn insert_touch_evict_remove() {
        let mut l: Lru<u32, u32> = Lru::new(3);
        assert!(l.insert(1, 10).is_none());
        assert!(l.insert(2, 20).is_none());
        assert!(l.insert(3, 30).is_none());
        assert_eq!(l.get_mut(&1).copied(), Some(10)); // 1 is now most recent
        assert_eq!(l.insert(4, 40), Some((2, 20)));
        assert_eq!(l.remove(&3), Some(30));
        assert_eq!(l.remove(&3), None);
        assert_eq!(l.len(), 2);
        assert_eq!(l.remove(&4), Some(40)); // the head
        assert_eq!(l.remove(&1), Some(10));
        assert!(l.is_empty());
        assert!(l.insert(5, 50).is_none());
        assert_eq!(l.pop_lru_if(|_| true), Some((5, 50)));
    }

    #[test]
    fn random_operations_keep_the_bound() {
        let mut l: Lru<u16, u16> = Lru::new(16);
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let k = (x % 64) as u16;
            match x % 3 {
                0 => {
                    if l.peek(&k).is_none() {
                        l.insert(k, k);
                    }
                }
                1 => {
                    l.remove(&k);
                }
                _ => {
                    if let Some(v) = l.get_mut(&k) {
                        assert_eq!(*v, k);
                    }
                }
            }
            assert!(l.len() <= 16);
        }
    }
}
