//! `/api/exposures`: the findings store as JSON, paginated, rendered at
//! most once per [`RENDER_INTERVAL`] and shared by every reader.
//!
//! Owner: `http`. The store is snapshotted (sorted once) and every entry
//! rendered once into one buffer; a page is a refcounted slice of it
//! (`Bytes`), plus a few bytes of page header and trailer. So 64 slow
//! readers hold one rendering between them, not 64 copies (they held
//! 567 MiB when each rendered its own), and a scrape storm costs one
//! render a second, not one per request.
//!
//! Memory bound: a reader keeps the snapshot it started on alive for at
//! most the connection lifetime (15 s), so at most 15 / 1 + 1 = 16
//! snapshots exist at once, whatever the number of readers.
//!
//! Document (the shape `Store::to_json` has always had, plus paging):
//!
//! ```json
//! { "stats": {...}, "exposures": [ ... ], "limit": 1000, "next": "…" | null }
//! ```
//!
//! `?limit=N` (1 ..= [`MAX_LIMIT`], default [`DEFAULT_LIMIT`]) and
//! `?after=CURSOR` (the `next` of the previous page). A cursor names the
//! last entry returned by its place in the order (severity, count
//! descending, kind, field, sender), not by an index, so a page taken from
//! a newer snapshot continues after that entry: entries never repeat
//! within one walk unless their count grew past the cursor meanwhile.

use crate::findings::{Entry, Store};
use crate::observer::cdr_view::ObserverLog;
use hyper::body::Bytes;
use std::cmp::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Entries per page when `limit` is not given. Large enough that today's
/// consumers reading the whole list in one request keep working for any
/// store of the default capacity's tenth; walk with `next` beyond.
pub const DEFAULT_LIMIT: usize = 1000;
/// Largest `limit`: the default findings capacity (10,000), so one request
/// can still take a default-sized store whole; the page is a slice of the
/// shared rendering, so a large page costs no copy.
pub const MAX_LIMIT: usize = 10_000;
/// A store is rendered at most this often, however many readers ask.
/// Findings are aggregated counts: a second of staleness is invisible.
pub const RENDER_INTERVAL: Duration = Duration::from_secs(1);
/// Longest cursor accepted (hex of a sort key: far below this).
const MAX_CURSOR: usize = 512;

/// Where an entry sits in the order, as a cursor carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    severity: usize,
    count: u64,
    kind: String,
    field: String,
    sender: String,
}

fn sev_rank(s: &str) -> usize {
    crate::exposure::Severity::ALL
        .iter()
        .position(|x| x.as_str() == s)
        .unwrap_or(usize::MAX)
}

impl Key {
    fn of(e: &Entry) -> Key {
        Key {
            severity: sev_rank(e.severity),
            count: e.count,
            kind: e.kind.to_owned(),
            field: e.field.to_owned(),
            sender: e.sender.clone(),
        }
    }

    /// The order `Store::snapshot` sorts by.
    fn cmp_order(&self, o: &Key) -> Ordering {
        self.severity
            .cmp(&o.severity)
            .then(o.count.cmp(&self.count))
            .then(self.kind.cmp(&o.kind))
            .then(self.field.cmp(&o.field))
            .then(self.sender.cmp(&o.sender))
    }

    /// Hex of `severity count kind field sender` (none has a space): opaque
    /// to clients, URL-safe, and parsed back without a dependency.
    fn encode(&self) -> String {
        let s = format!(
            "{} {} {} {} {}",
            self.severity, self.count, self.kind, self.field, self.sender
        );
        s.bytes().map(|b| format!("{b:02x}")).collect()
    }

    fn decode(c: &str) -> Option<Key> {
        if c.len() > MAX_CURSOR || c.len() % 2 != 0 {
            return None;
        }
        let bytes: Vec<u8> = (0..c.len())
            .step_by(2)
            .map(|i| c.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
            .collect::<Option<_>>()?;
        let s = String::from_utf8(bytes).ok()?;
        let mut it = s.split(' ');
        let k = Key {
            severity: it.next()?.parse().ok()?,
            count: it.next()?.parse().ok()?,
            kind: it.next()?.to_owned(),
            field: it.next()?.to_owned(),
            sender: it.next()?.to_owned(),
        };
        it.next().is_none().then_some(k)
    }
}

/// One rendering of the store.
struct Snapshot {
    at: Instant,
    /// `{ "stats": …, "exposures": [` (shared by every page).
    head: Bytes,
    /// Every entry rendered, separated by `,\n`.
    body: Bytes,
    /// Byte range of each entry in `body`, and its place in the order.
    entries: Vec<(usize, usize, Key)>,
}

/// The query of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub limit: usize,
    after: Option<Key>,
}

/// A bad query: the one-line reason for the 400.
pub fn parse_query(q: Option<&str>) -> Result<Page, &'static str> {
    let mut limit = None;
    let mut after = None;
    for pair in q.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "limit" if limit.is_none() => {
                let n: usize = v.parse().map_err(|_| "limit is not a number")?;
                if !(1..=MAX_LIMIT).contains(&n) {
                    return Err("limit must be between 1 and 10000");
                }
                limit = Some(n);
            }
            "after" if after.is_none() => {
                after = Some(Key::decode(v).ok_or("after is not a cursor from `next`")?);
            }
            "limit" | "after" => return Err("parameter given twice"),
            _ => return Err("unknown parameter (only limit and after)"),
        }
    }
    Ok(Page {
        limit: limit.unwrap_or(DEFAULT_LIMIT),
        after,
    })
}

/// The shared, periodically refreshed rendering of one store.
pub struct Exposures {
    store: Arc<Store>,
    /// Source of the `summary` object (counts only, no identity).
    observer_log: Option<Arc<ObserverLog>>,
    current: Mutex<Option<Arc<Snapshot>>>,
}

/// JSON text indented by `n` spaces after each newline (JSON strings hold
/// no raw newline, so only structure is touched).
fn indent(s: &str, n: usize) -> String {
    s.replace('\n', &format!("\n{}", " ".repeat(n)))
}

impl Exposures {
    pub fn new(store: Arc<Store>) -> Exposures {
        Exposures {
            store,
            observer_log: None,
            current: Mutex::new(None),
        }
    }

    /// Adds `"summary": {"observer_log": …}` (what an on-path observer
    /// could log about the calls, per signalling protection) after `stats`.
    pub fn with_summary(mut self, log: Arc<ObserverLog>) -> Exposures {
        self.observer_log = Some(log);
        self
    }

    fn render(&self) -> Snapshot {
        let mut v = self.store.snapshot();
        let mut keyed: Vec<(Key, Entry)> = v.drain(..).map(|e| (Key::of(&e), e)).collect();
        // The store sorts in this order already; sorting again (a no-op
        // pass over sorted input) keeps cursors right should it change.
        keyed.sort_by(|a, b| a.0.cmp_order(&b.0));
        let stats =
            serde_json::to_string_pretty(&self.store.stats()).unwrap_or_else(|_| "{}".into());
        let summary = match &self.observer_log {
            Some(log) => {
                let v = serde_json::json!({ "observer_log": log.snapshot() });
                let text = serde_json::to_string_pretty(&v).unwrap_or_else(|_| "{}".into());
                format!("\n  \"summary\": {},", indent(&text, 2))
            }
            None => String::new(),
        };
        let head = format!(
            "{{\n  \"stats\": {},{summary}\n  \"exposures\": [",
            indent(&stats, 2)
        );
        let mut body = String::new();
        let mut entries = Vec::with_capacity(keyed.len());
        for (i, (k, e)) in keyed.into_iter().enumerate() {
            if i > 0 {
                body.push_str(",\n");
            }
            let start = body.len();
            body.push_str("    ");
            body.push_str(&indent(
                &serde_json::to_string_pretty(&e).unwrap_or_else(|_| "{}".into()),
                4,
            ));
            entries.push((start, body.len(), k));
        }
        Snapshot {
            at: Instant::now(),
            head: Bytes::from(head),
            body: Bytes::from(body),
            entries,
        }
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        let mut g = self.current.lock().unwrap_or_else(|p| p.into_inner());
        match &*g {
            Some(s) if s.at.elapsed() < RENDER_INTERVAL => s.clone(),
            _ => {
                let s = Arc::new(self.render());
                *g = Some(s.clone());
                s
            }
        }
    }

    /// The chunks of one page's body: shared slices plus a small trailer.
    pub fn page(&self, p: &Page) -> Vec<Bytes> {
        let s = self.snapshot();
        let from = match &p.after {
            None => 0,
            Some(k) => s
                .entries
                .partition_point(|e| e.2.cmp_order(k) != Ordering::Greater),
        };
        let to = from.saturating_add(p.limit).min(s.entries.len());
        let mut out = vec![s.head.clone()];
        if let (Some(first), Some(last)) = (
            s.entries.get(from),
            to.checked_sub(1).and_then(|l| s.entries.get(l)),
        ) {
            if from < to {
                out.push(Bytes::from_static(b"\n"));
                out.push(s.body.slice(first.0..last.1));
                out.push(Bytes::from_static(b"\n  "));
            }
        }
        let next = if to < s.entries.len() && to > from {
            s.entries
                .get(to - 1)
                .map(|e| format!("\"{}\"", e.2.encode()))
        } else {
            None
        };
        out.push(Bytes::from(format!(
            "],\n  \"limit\": {},\n  \"next\": {}\n}}\n",
            p.limit,
            next.as_deref().unwrap_or("null")
        )));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposure::{Field, Finding, Kind};

    fn store(n: usize) -> Arc<Store> {
        let s = Arc::new(Store::with_key(
            &[7u8; 32],
            crate::findings::StoreConfig::default(),
        ));
        let now = std::time::SystemTime::now();
        for i in 0..n {
            let f = Finding {
                kind: if i % 3 == 0 {
                    Kind::SrtpKeyExposed
                } else {
                    Kind::CustomHeader
                },
                field: if i % 3 == 0 {
                    Field::SdpCrypto
                } else {
                    Field::XHeader
                },
                name: b"X-Account",
                evidence: b"5551234567",
            };
            let ip: std::net::IpAddr = format!("192.0.2.{}", i % 250 + 1).parse().unwrap();
            for _ in 0..(i % 4 + 1) {
                s.record(&f, ip, "udp", "unknown", now);
            }
        }
        s
    }

    fn doc(chunks: Vec<Bytes>) -> serde_json::Value {
        let all: Vec<u8> = chunks.iter().flat_map(|b| b.iter().copied()).collect();
        serde_json::from_slice(&all)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&all)))
    }

    #[test]
    fn query_parsing() {
        assert_eq!(parse_query(None).unwrap().limit, DEFAULT_LIMIT);
        assert_eq!(parse_query(Some("limit=5")).unwrap().limit, 5);
        assert!(parse_query(Some("limit=0")).is_err());
        assert!(parse_query(Some("limit=10001")).is_err());
        assert!(parse_query(Some("limit=x")).is_err());
        assert!(parse_query(Some("limit=1&limit=2")).is_err());
        assert!(parse_query(Some("after=zz")).is_err());
        assert!(parse_query(Some("after=")).is_err());
        assert!(parse_query(Some("foo=1")).is_err());
        assert!(parse_query(Some(&format!("after={}", "a".repeat(600)))).is_err());
        let k = Key {
            severity: 1,
            count: 3,
            kind: "custom_header".into(),
            field: "x_header".into(),
            sender: "ip-0a0b0c0d".into(),
        };
        assert_eq!(Key::decode(&k.encode()), Some(k));
    }

    #[test]
    fn pages_walk_the_whole_store_once_and_share_one_rendering() {
        let s = store(60);
        let x = Exposures::new(s.clone());
        let whole = doc(x.page(&parse_query(None).unwrap()));
        let all = whole["exposures"].as_array().unwrap().clone();
        assert_eq!(all.len(), s.stats().entries);
        assert!(whole["next"].is_null());
        assert_eq!(whole["stats"]["entries"], all.len());
        // The old document's shape is kept.
        let old: serde_json::Value = serde_json::from_str(&s.to_json()).unwrap();
        assert_eq!(old["exposures"], whole["exposures"]);
        assert_eq!(old["stats"], whole["stats"]);

        let mut got = Vec::new();
        let mut q = "limit=7".to_string();
        for _ in 0..100 {
            let d = doc(x.page(&parse_query(Some(&q)).unwrap()));
            let page = d["exposures"].as_array().unwrap();
            assert!(page.len() <= 7);
            got.extend(page.iter().cloned());
            match d["next"].as_str() {
                Some(c) => q = format!("limit=7&after={c}"),
                None => break,
            }
        }
        assert_eq!(got, all);

        // Pages share the snapshot's buffer: the entries chunk points into
        // the same allocation for two requests.
        let a = x.page(&parse_query(Some("limit=2")).unwrap());
        let b = x.page(&parse_query(Some("limit=3")).unwrap());
        assert_eq!(a[2].as_ptr(), b[2].as_ptr());
    }

    #[test]
    fn summary_object_when_asked_for() {
        let d = doc(Exposures::new(store(2)).page(&parse_query(None).unwrap()));
        assert!(d.get("summary").is_none());
        let log = Arc::new(ObserverLog::default());
        log.fold(crate::observer::cdr_view::bit::CALLER, false);
        let x = Exposures::new(store(2)).with_summary(log);
        let d = doc(x.page(&parse_query(None).unwrap()));
        let clear = &d["summary"]["observer_log"]["cleartext"];
        assert_eq!(clear["calls"], 1, "{d}");
        assert_eq!(clear["visible"]["caller"], 1);
        assert_eq!(clear["visible"]["callee"], 0);
        assert_eq!(d["exposures"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn empty_store_and_cursor_past_the_end() {
        let x = Exposures::new(store(0));
        let d = doc(x.page(&parse_query(None).unwrap()));
        assert_eq!(d["exposures"].as_array().unwrap().len(), 0);
        assert!(d["next"].is_null());
        let x = Exposures::new(store(5));
        let d = doc(x.page(&parse_query(Some("limit=100")).unwrap()));
        let last = d["exposures"].as_array().unwrap().len();
        assert!(last > 0);
        let k = Key {
            severity: usize::MAX,
            count: 0,
            kind: "zzz".into(),
            field: "zzz".into(),
            sender: "zzz".into(),
        };
        let d = doc(x.page(&parse_query(Some(&format!("after={}", k.encode()))).unwrap()));
        assert_eq!(d["exposures"].as_array().unwrap().len(), 0);
    }
}
