//! A bounded LRU map shared by the state tables (media streams, calls).
//!
//! Owner: crate utility. Invariant: at most `cap` entries per list; insert
//! evicts and returns the least recently used entry of its list, so every
//! table built on it is bounded and every eviction is visible to the
//! caller to count. Indexing into `nodes` only uses indices taken from
//! `index`/the lists, which the methods keep consistent, so it cannot go
//! out of bounds.
//!
//! `L` recency lists share one node arena and one hash index: the call
//! table keeps a list per call state (each with its own timeout) and moves
//! an entry between lists without moving its node. Separate maps per state
//! each kept their own high-water allocation, 3x the live entries after a
//! burst of calls (`benches/memory.sh`), and a lookup probed every map.

use hashbrown::HashTable;
use std::hash::Hash;

// Dense node vector with intrusive doubly linked lists (head = most
// recent) and a hash index. O(1) touch, insert, move, evict.
//
// The index holds node numbers only and hashes the key kept in the node:
// a key is stored once (a `HashMap<K, u32>` kept a second copy in every
// bucket: 48 bytes per bucket for a stream key against 4 here). A lookup
// touches the same cache lines (control bytes, bucket, node: the node is
// read for the value anyway).

const NIL: u32 = u32::MAX;

#[derive(Debug)]
pub struct Node<K, V> {
    key: K,
    val: V,
    prev: u32,
    next: u32,
    /// When it was last moved to the front, in the caller's units, wrapping
    /// (see [`Lru::touch_stamped`]); 0 for a new entry, kept by `get_mut`.
    /// 16 bits fit beside `list` in the node's padding.
    stamp: u16,
    list: u8,
}

pub struct Lru<K, V, const L: usize = 1> {
    index: HashTable<u32>,
    hasher: ahash::RandomState,
    nodes: Vec<Node<K, V>>,
    head: [u32; L],
    tail: [u32; L],
    lens: [usize; L],
    /// Per list.
    cap: usize,
}

impl<K: Hash + Eq + Copy, V, const L: usize> Lru<K, V, L> {
    /// `cap` entries at most in each of the `L` lists.
    pub fn new(cap: usize) -> Self {
        Lru {
            index: HashTable::new(),
            hasher: ahash::RandomState::new(),
            nodes: Vec::new(),
            head: [NIL; L],
            tail: [NIL; L],
            lens: [0; L],
            cap,
        }
    }

    /// Entries in all lists.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// The node number of `k`.
    fn find(&self, k: &K) -> Option<u32> {
        let nodes = &self.nodes;
        self.index
            .find(self.hasher.hash_one(k), |&i| {
                nodes.get(i as usize).is_some_and(|n| n.key == *k)
            })
            .copied()
    }

    /// Entries in list `l`.
    pub fn len_of(&self, l: usize) -> usize {
        self.lens.get(l).copied().unwrap_or(0)
    }

    fn unlink(&mut self, i: u32) {
        let (prev, next, l) = {
            let n = &self.nodes[i as usize];
            (n.prev, n.next, n.list as usize)
        };
        match prev {
            NIL => self.head[l] = next,
            p => self.nodes[p as usize].next = next,
        }
        match next {
            NIL => self.tail[l] = prev,
            n => self.nodes[n as usize].prev = prev,
        }
        self.lens[l] -= 1;
    }

    fn push_front(&mut self, i: u32, l: usize) {
        let old = self.head[l];
        {
            let n = &mut self.nodes[i as usize];
            n.prev = NIL;
            n.next = old;
            n.list = l as u8;
        }
        match old {
            NIL => self.tail[l] = i,
            o => self.nodes[o as usize].prev = i,
        }
        self.head[l] = i;
        self.lens[l] += 1;
    }

    /// Every value, in no particular order.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.nodes.iter().map(|n| &n.val)
    }

    pub fn peek(&self, k: &K) -> Option<&V> {
        self.find(k).map(|i| &self.nodes[i as usize].val)
    }

    /// The value of `k`, mutable, without touching it (its place in its
    /// list stays: insertion order for tables that expire by age).
    pub fn peek_mut(&mut self, k: &K) -> Option<&mut V> {
        let i = self.find(k)?;
        self.nodes.get_mut(i as usize).map(|n| &mut n.val)
    }

    /// The least recently used entry of list 0, without touching it.
    pub fn peek_lru(&self) -> Option<(&K, &V)> {
        let t = self.tail.first().copied().unwrap_or(NIL);
        self.nodes.get(t as usize).map(|n| (&n.key, &n.val))
    }

    /// The list `k` is in, and its value, without touching it.
    pub fn peek_with_list(&self, k: &K) -> Option<(usize, &V)> {
        self.find(k).map(|i| {
            let n = &self.nodes[i as usize];
            (n.list as usize, &n.val)
        })
    }

    /// Looks up and marks as most recently used (in its list).
    pub fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        let i = self.find(k)?;
        let l = self.nodes[i as usize].list as usize;
        if self.head[l] != i {
            self.unlink(i);
            self.push_front(i, l);
        }
        Some(&mut self.nodes[i as usize].val)
    }

    /// Looks `k` up and moves it to the front only when its stamp differs
    /// from `stamp` (then sets it): the caller passes a coarse clock
    /// (capture seconds), so an entry touched on every packet is relinked
    /// at most once per tick instead of per packet (the relink touches two
    /// other nodes; it was a tenth of a worker's time for RTP). The list
    /// is then in order of those moves, and the least recently used entry
    /// it gives (eviction, expiry) was last touched less than one tick
    /// after the true one. Returns the node number for [`Self::at_mut`].
    pub fn touch_stamped(&mut self, k: &K, stamp: u16) -> Option<u32> {
        let i = self.find(k)?;
        let (l, old) = {
            let n = &self.nodes[i as usize];
            (n.list as usize, n.stamp)
        };
        if old != stamp {
            self.nodes[i as usize].stamp = stamp;
            if self.head[l] != i {
                self.unlink(i);
                self.push_front(i, l);
            }
        }
        Some(i)
    }

    /// The value in node `i` (from [`Self::touch_stamped`] or
    /// [`Self::front_index`], valid until the next insert or removal).
    pub fn at_mut(&mut self, i: u32) -> Option<&mut V> {
        self.nodes.get_mut(i as usize).map(|n| &mut n.val)
    }

    /// The node number of the front of list 0 (the entry just inserted).
    pub fn front_index(&self) -> Option<u32> {
        self.head.first().copied().filter(|&h| h != NIL)
    }

    /// Marks `k` as most recently used; false when absent. With
    /// [`Self::front_mut`] this is a lookup-or-insert with one hash on a
    /// hit, the per-packet case.
    pub fn touch(&mut self, k: &K) -> bool {
        self.get_mut(k).is_some()
    }

    /// The most recently used entry of list 0 (the one just touched or
    /// inserted there).
    pub fn front_mut(&mut self) -> Option<&mut V> {
        let h = self.head.first().copied().unwrap_or(NIL);
        self.nodes.get_mut(h as usize).map(|n| &mut n.val)
    }

    /// Inserts a key that is not present into list 0; see
    /// [`Self::insert_in`].
    pub fn insert(&mut self, k: K, v: V) -> Option<(K, V)> {
        self.insert_in(0, k, v)
    }

    /// Inserts a key that is not present at the front of list `l`,
    /// evicting that list's least recently used entry when the list is
    /// full; returns it.
    pub fn insert_in(&mut self, l: usize, k: K, v: V) -> Option<(K, V)> {
        self.insert_stamped_in(l, k, v, 0)
    }

    /// [`Self::insert`] with the new entry's stamp set to `stamp`, as a
    /// [`Self::touch_stamped`] in this tick would leave it (left at 0, a
    /// later touch in a tick whose stamp is 0 would not relink it).
    pub fn insert_stamped(&mut self, k: K, v: V, stamp: u16) -> Option<(K, V)> {
        self.insert_stamped_in(0, k, v, stamp)
    }

    fn insert_stamped_in(&mut self, l: usize, k: K, v: V, stamp: u16) -> Option<(K, V)> {
        let l = l.min(L - 1);
        let evicted = if self.lens[l] >= self.cap {
            self.pop_lru_if_in(l, |_| true)
        } else {
            None
        };
        let i = self.nodes.len() as u32;
        self.nodes.push(Node {
            key: k,
            val: v,
            prev: NIL,
            next: NIL,
            stamp,
            list: l as u8,
        });
        let (nodes, hasher) = (&self.nodes, &self.hasher);
        self.index.insert_unique(hasher.hash_one(k), i, |&j| {
            nodes.get(j as usize).map_or(0, |n| hasher.hash_one(n.key))
        });
        self.push_front(i, l);
        evicted
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Removes `k` if present.
    pub fn remove(&mut self, k: &K) -> Option<V> {
        let i = self.find(k)?;
        let l = self.nodes[i as usize].list as usize;
        // Make it the least recently used of its list, then pop it.
        if self.tail[l] != i {
            self.unlink(i);
            let old = self.tail[l];
            {
                let n = &mut self.nodes[i as usize];
                n.prev = old;
                n.next = NIL;
            }
            match old {
                NIL => self.head[l] = i,
                o => self.nodes[o as usize].next = i,
            }
            self.tail[l] = i;
            self.lens[l] += 1;
        }
        self.pop_lru_if_in(l, |_| true).map(|(_, v)| v)
    }

    /// Removes the least recently used entry of list 0 if `pred` holds.
    pub fn pop_lru_if(&mut self, pred: impl Fn(&V) -> bool) -> Option<(K, V)> {
        self.pop_lru_if_in(0, pred)
    }

    /// Removes the least recently used entry of list `l` if `pred` holds
    /// for it.
    pub fn pop_lru_if_in(&mut self, l: usize, pred: impl Fn(&V) -> bool) -> Option<(K, V)> {
        let t = *self.tail.get(l)?;
        if t == NIL || !pred(&self.nodes[t as usize].val) {
            return None;
        }
        self.unlink(t);
        // Its index entry first, while node number t is still unique.
        let victim = self.nodes[t as usize].key;
        if let Ok(e) = self
            .index
            .find_entry(self.hasher.hash_one(victim), |&j| j == t)
        {
            e.remove();
        }
        let last = (self.nodes.len() - 1) as u32;
        if t != last {
            // The last node moves into slot t: fix its neighbours and index.
            let (prev, next, key, ll) = {
                let n = &self.nodes[last as usize];
                (n.prev, n.next, n.key, n.list as usize)
            };
            match prev {
                NIL => self.head[ll] = t,
                p => self.nodes[p as usize].next = t,
            }
            match next {
                NIL => self.tail[ll] = t,
                n => self.nodes[n as usize].prev = t,
            }
            if let Some(x) = self
                .index
                .find_mut(self.hasher.hash_one(key), |&j| j == last)
            {
                *x = t;
            }
        }
        let node = self.nodes.swap_remove(t as usize);
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
        let mut rng = crate::testkit::random::Xorshift::new(0x2545_f491_4f6c_dd1d);
        for _ in 0..20_000 {
            let x = rng.next_u64();
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

    /// The index against a model: after every insert, touch, remove and
    /// eviction each key is found exactly when the model has it, with its
    /// value (node numbers move on every removal: the index must follow).
    #[test]
    fn index_follows_every_move() {
        let mut l: Lru<u16, u16> = Lru::new(24);
        let mut model = std::collections::HashMap::new();
        let mut order: Vec<u16> = Vec::new(); // least recent first
        let mut rng = crate::testkit::random::Xorshift::new(0x9e37_79b9_7f4a_7c15);
        for _ in 0..30_000 {
            let x = rng.next_u64();
            let k = (x % 97) as u16;
            match x % 4 {
                0 | 1 => {
                    if model.contains_key(&k) {
                        continue;
                    }
                    let v = k.wrapping_mul(7);
                    if let Some((ek, ev)) = l.insert(k, v) {
                        assert_eq!(Some(ek), order.first().copied(), "not the LRU");
                        assert_eq!(model.remove(&ek), Some(ev));
                        order.remove(0);
                    }
                    model.insert(k, v);
                    order.push(k);
                }
                2 => {
                    assert_eq!(l.remove(&k), model.remove(&k));
                    order.retain(|&o| o != k);
                }
                _ => {
                    assert_eq!(l.get_mut(&k).copied(), model.get(&k).copied());
                    if model.contains_key(&k) {
                        order.retain(|&o| o != k);
                        order.push(k);
                    }
                }
            }
            assert_eq!(l.len(), model.len());
            for q in 0..97u16 {
                assert_eq!(l.peek(&q), model.get(&q), "key {q}");
            }
        }
    }

    /// A stamped touch relinks once per stamp: the order is that of the
    /// first touch in each tick, so the entry evicted was last touched
    /// within one tick of the least recently touched one.
    #[test]
    fn stamped_touch_relinks_once_per_tick() {
        let mut l: Lru<u32, u32> = Lru::new(3);
        for k in 1..=3 {
            assert!(l.insert(k, k).is_none());
        }
        assert!(l.touch_stamped(&1, 5).is_some()); // order 2 3 1
        assert!(l.touch_stamped(&2, 5).is_some()); // order 3 1 2
        assert!(l.touch_stamped(&1, 5).is_some()); // same tick: stays 3 1 2
        assert_eq!(l.touch_stamped(&9, 5), None);
        assert_eq!(l.insert(4, 4), Some((3, 3)));
        // 1 was touched after 2 in tick 5, but is evicted first: the
        // approximation, bounded by the tick.
        assert_eq!(l.insert(5, 5), Some((1, 1)));
        let i = l.touch_stamped(&2, 6).unwrap(); // a new tick: relinked
        assert_eq!(l.at_mut(i).copied(), Some(2));
        assert_eq!(l.insert(6, 6), Some((4, 4)));
        assert_eq!(l.peek(&2), Some(&2));
    }

    /// Entries in several lists: moves keep every list's order and the
    /// shared index consistent; each list has its own bound.
    #[test]
    fn lists_share_an_arena() {
        let mut l: Lru<u32, u32, 3> = Lru::new(4);
        for k in 0..4 {
            assert!(l.insert_in(0, k, k).is_none());
        }
        for k in 10..13 {
            assert!(l.insert_in(2, k, k).is_none());
        }
        // Move 1 from list 0 to list 1.
        let v = l.remove(&1).unwrap();
        assert!(l.insert_in(1, 1, v).is_none());
        assert_eq!(l.peek_with_list(&1), Some((1, &1)));
        assert_eq!(
            (l.len_of(0), l.len_of(1), l.len_of(2), l.len()),
            (3, 1, 3, 7)
        );
        // List 0 is full again at 4: the oldest of list 0 (0) goes.
        assert!(l.insert_in(0, 4, 4).is_none());
        assert_eq!(l.insert_in(0, 5, 5), Some((0, 0)));
        assert_eq!(l.pop_lru_if_in(2, |_| true), Some((10, 10)));
        assert_eq!(l.pop_lru_if_in(1, |_| true), Some((1, 1)));
        assert_eq!(l.pop_lru_if_in(1, |_| true), None);
        let mut order = Vec::new();
        while let Some((k, _)) = l.pop_lru_if_in(0, |_| true) {
            order.push(k);
        }
        assert_eq!(order, [2, 3, 4, 5]);
        assert_eq!(l.len(), 2);
    }
    /// Every operation against a model, over three lists: stamped touches
    /// (relink only on a new stamp; a fresh entry has stamp 0), plain
    /// touches (stamp kept), inserts with per-list eviction, removals and
    /// conditional pops. Checks the returned node numbers, each list's
    /// order (drained at the end and at every eviction) and the index.
    #[test]
    fn model_with_stamps_lists_and_pops() {
        const LISTS: usize = 3;
        const CAP: usize = 5;
        const KEYS: u32 = 40;
        let mut l: Lru<u32, u64, LISTS> = Lru::new(CAP);
        // Per list, least recent first: (key, value, stamp).
        let mut model: [Vec<(u32, u64, u16)>; LISTS] = Default::default();
        let find = |m: &[Vec<(u32, u64, u16)>; LISTS], k: u32| {
            m.iter()
                .enumerate()
                .find_map(|(li, v)| v.iter().position(|e| e.0 == k).map(|p| (li, p)))
        };
        let mut rng = crate::testkit::random::Xorshift::new(0x1234_5678_9abc_def1);
        let mut next = || rng.next_u64();
        for step in 0..60_000u32 {
            let r = next();
            let k = (r % u64::from(KEYS)) as u32;
            let li = ((r >> 8) % LISTS as u64) as usize;
            // Few stamp values, so equal stamps are common.
            let stamp = ((r >> 16) % 3) as u16;
            let val = r >> 20;
            match (r >> 32) % 7 {
                0 | 1 => {
                    if find(&model, k).is_some() {
                        continue;
                    }
                    let got = l.insert_in(li, k, val);
                    let want = if model[li].len() >= CAP {
                        let (ek, ev, _) = model[li].remove(0);
                        Some((ek, ev))
                    } else {
                        None
                    };
                    assert_eq!(got, want, "step {step}: eviction from list {li}");
                    model[li].push((k, val, 0));
                    if li == 0 {
                        let i = l.front_index().expect("just inserted");
                        assert_eq!(l.at_mut(i).copied(), Some(val));
                    }
                }
                2 | 3 => {
                    let got = l.touch_stamped(&k, stamp);
                    match find(&model, k) {
                        None => assert_eq!(got, None, "step {step}"),
                        Some((ml, p)) => {
                            let i = got.expect("present");
                            let v = l.at_mut(i).expect("node number valid");
                            assert_eq!(*v, model[ml][p].1, "step {step}: node of key {k}");
                            // Write through the node number.
                            *v = val;
                            model[ml][p].1 = val;
                            if model[ml][p].2 != stamp {
                                let mut e = model[ml].remove(p);
                                e.2 = stamp;
                                model[ml].push(e);
                            }
                        }
                    }
                }
                4 => {
                    let got = l.get_mut(&k).copied();
                    match find(&model, k) {
                        None => assert_eq!(got, None),
                        Some((ml, p)) => {
                            let e = model[ml].remove(p);
                            assert_eq!(got, Some(e.1));
                            model[ml].push(e);
                        }
                    }
                }
                5 => {
                    let want = find(&model, k).map(|(ml, p)| model[ml].remove(p).1);
                    assert_eq!(l.remove(&k), want, "step {step}: remove {k}");
                }
                _ => {
                    let want = match model[li].first() {
                        Some(&(fk, fv, _)) if fv % 2 == 0 => {
                            model[li].remove(0);
                            Some((fk, fv))
                        }
                        _ => None,
                    };
                    assert_eq!(l.pop_lru_if_in(li, |v| v % 2 == 0), want, "step {step}");
                }
            }
            let total: usize = model.iter().map(Vec::len).sum();
            assert_eq!(l.len(), total);
            for (ml, m) in model.iter().enumerate() {
                assert_eq!(l.len_of(ml), m.len());
                assert!(m.len() <= CAP);
            }
            for q in 0..KEYS {
                let want = find(&model, q).map(|(ml, p)| (ml, model[ml][p].1));
                let got = l.peek_with_list(&q).map(|(ml, v)| (ml, *v));
                assert_eq!(got, want, "step {step}: key {q}");
            }
            // The front of list 0 is the model's most recent entry.
            let front = l.front_index().and_then(|i| l.at_mut(i).copied());
            assert_eq!(front, model[0].last().map(|e| e.1), "step {step}");
        }
        for (li, m) in model.iter().enumerate() {
            let mut order = Vec::new();
            while let Some((k, v)) = l.pop_lru_if_in(li, |_| true) {
                order.push((k, v));
            }
            let want: Vec<_> = m.iter().map(|e| (e.0, e.1)).collect();
            assert_eq!(order, want, "list {li}");
        }
        assert!(l.is_empty());
    }
}
