//! What the phone system keeps at rest: call detail records (CDR).
//!
//! Owner: `cdr`. It audits a CDR store (an SQLite file, a PostgreSQL
//! database or an Asterisk `Master.csv`), classes its columns, measures its
//! age against a retention period, and (in [`sanitize`]) folds records older
//! than the cutoff into a daily aggregate table and deletes them.
//!
//! Invariant: no value read from a record ever leaves this module raw. What
//! comes out is counts, ages, column names (schema, not data) and, for
//! `--samples`, values replaced by keyed pseudonyms ([`Pseudonymizer`]) or
//! by ages. Errors name files, tables and columns, never a value.

pub mod cli;
pub mod render;
pub mod sanitize;
pub mod store;
pub mod time;

use crate::findings::Pseudonymizer;
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

pub use store::Store;

/// Why an audit or a sanitize failed. Messages carry no record value.
#[derive(Debug, thiserror::Error)]
pub enum CdrError {
    #[error("{path}: {message}")]
    Sqlite { path: String, message: String },
    #[error("PostgreSQL: {0}")]
    Postgres(String),
    #[error("{path}: {message}")]
    Csv { path: String, message: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("table {0} not found in the CDR store")]
    NoTable(String),
    #[error("column {column} ({role}) is not in table {table}")]
    NoColumn {
        table: String,
        column: String,
        role: &'static str,
    },
    #[error("table {table} has no time column (tried {tried}); map one with [cdr.columns] time = \"...\"")]
    NoTime { table: String, tried: String },
    #[error("invalid CDR setting {key}: {message}")]
    Invalid { key: &'static str, message: String },
    #[error("no CDR source: give SOURCE or set [cdr] source in the config file")]
    NoSource,
}

/// Where the records are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    Sqlite(PathBuf),
    Csv(PathBuf),
    /// A `postgres://` or `postgresql://` URL (it may hold a password: it is
    /// never printed).
    Postgres(String),
}

impl SourceSpec {
    /// URL → PostgreSQL; `*.csv` → CSV; `*.db`, `*.sqlite*` → SQLite;
    /// another name (a rotated `Master.csv.1`) whose first byte is a CSV
    /// quote → CSV; anything else → SQLite (which then says whether it is
    /// a database).
    pub fn parse(s: &str) -> SourceSpec {
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            return SourceSpec::Postgres(s.to_owned());
        }
        let p = PathBuf::from(s);
        let ext = p
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        match ext.as_deref() {
            Some("csv") => SourceSpec::Csv(p),
            Some("db" | "sqlite" | "sqlite3") => SourceSpec::Sqlite(p),
            _ => {
                let mut head = [0u8; 1];
                let n = std::fs::File::open(&p)
                    .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
                    .unwrap_or(0);
                if n == 1 && head[0] == b'"' {
                    SourceSpec::Csv(p)
                } else {
                    SourceSpec::Sqlite(p)
                }
            }
        }
    }

    /// What kind of store, for reports (never the URL).
    pub fn kind(&self) -> &'static str {
        match self {
            SourceSpec::Sqlite(_) => "sqlite",
            SourceSpec::Csv(_) => "csv",
            SourceSpec::Postgres(_) => "postgresql",
        }
    }
}

/// Schema presets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Preset {
    /// Asterisk `cdr` (cdr_pgsql, cdr_sqlite3_custom, cdr_csv).
    #[default]
    Asterisk,
    /// Kamailio `acc` module (`acc` and `missed_calls`).
    KamailioAcc,
}

impl Preset {
    pub fn parse(s: &str) -> Option<Preset> {
        match s {
            "asterisk" => Some(Preset::Asterisk),
            "kamailio-acc" | "kamailio" => Some(Preset::KamailioAcc),
            _ => None,
        }
    }

    /// Tables to audit; the first is required, the others are audited when
    /// present.
    fn tables(self) -> &'static [&'static str] {
        match self {
            Preset::Asterisk => &["cdr"],
            Preset::KamailioAcc => &["acc", "missed_calls"],
        }
    }

    /// Candidate column names per role, first present wins.
    fn candidates(self, role: Role) -> &'static [&'static str] {
        match (self, role) {
            (Preset::Asterisk, Role::Time) => &["calldate", "start", "end"],
            (Preset::Asterisk, Role::Caller) => &["src", "clid"],
            (Preset::Asterisk, Role::Callee) => &["dst"],
            (Preset::Asterisk, Role::Disposition) => &["disposition"],
            (Preset::Asterisk, Role::Billsec) => &["billsec", "duration"],
            (Preset::KamailioAcc, Role::Time) => &["time", "created"],
            (Preset::KamailioAcc, Role::Caller) => &["src_user", "from_user", "caller_id"],
            (Preset::KamailioAcc, Role::Callee) => {
                &["dst_user", "dst_ouser", "to_user", "callee_id"]
            }
            (Preset::KamailioAcc, Role::Disposition) => &["sip_code"],
            (Preset::KamailioAcc, Role::Billsec) => &["duration", "billsec"],
        }
    }
}

crate::label_enum! {
    /// What a column is used for by the audit and the sanitizer (the
    /// keys of a schema's column roles).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Role {
        Time = "time",
        Caller = "caller",
        Callee = "callee",
        Disposition = "disposition",
        Billsec = "billsec",
    }
}

impl Role {
    /// The key naming this role (its label).
    pub fn key(self) -> &'static str {
        self.as_str()
    }
}

crate::label_enum! {
    /// Privacy class of a column (the `class` label of `sipsentinel_cdr_columns`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    pub enum Class {
        /// Who: numbers, names, accounts.
        Identity = "identity",
        /// Where: addresses, channel names that carry a peer or an address.
        Network = "network",
        /// When and how long.
        Timing = "timing",
        /// Free text an application wrote (dial strings, user fields).
        Content = "content",
        /// Keys that join this record to others (call-IDs, unique IDs, tags).
        Linkage = "linkage",
        /// Codes and configuration (disposition, AMA flags, context names).
        Other = "other",
    }
}

impl Class {
    pub fn parse(s: &str) -> Option<Class> {
        Class::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// Class of a column by its name (Asterisk and Kamailio names, and the
/// usual words of custom schemas). Unknown names whose words hint at a
/// person or an address are classed by that hint: erring towards a
/// sensitive class only makes `--samples` hide more.
pub fn classify(name: &str) -> Class {
    let n = name.to_ascii_lowercase();
    let exact = |l: &[&str]| l.contains(&n.as_str());
    if exact(&[
        "src",
        "dst",
        "clid",
        "cnum",
        "cnam",
        "accountcode",
        "peeraccount",
        "src_user",
        "dst_user",
        "dst_ouser",
        "from_user",
        "to_user",
        "caller_id",
        "callee_id",
        "username",
        "dnid",
        "rdnis",
    ]) {
        return Class::Identity;
    }
    if exact(&[
        "channel",
        "dstchannel",
        "src_ip",
        "dst_ip",
        "src_domain",
        "dst_domain",
        "from_domain",
        "to_domain",
        "peerip",
        "recvip",
        "ip",
        "host",
        "src_port",
        "dst_port",
    ]) {
        return Class::Network;
    }
    if exact(&[
        "calldate",
        "start",
        "answer",
        "end",
        "time",
        "created",
        "duration",
        "billsec",
        "ms",
        "setuptime",
    ]) {
        return Class::Timing;
    }
    if exact(&["lastdata", "userfield", "sip_reason_text", "extra", "data"]) {
        return Class::Content;
    }
    if exact(&[
        "uniqueid",
        "linkedid",
        "callid",
        "call_id",
        "from_tag",
        "to_tag",
        "sequence",
        "sip_callid",
    ]) {
        return Class::Linkage;
    }
    if exact(&[
        "disposition",
        "amaflags",
        "lastapp",
        "dcontext",
        "sip_code",
        "sip_reason",
        "method",
        "id",
        "acctid",
    ]) {
        return Class::Other;
    }
    let has = |w: &[&str]| w.iter().any(|w| n.contains(w));
    if has(&["ip", "addr", "domain", "host", "channel", "uri", "contact"]) {
        Class::Network
    } else if has(&[
        "user", "num", "name", "caller", "callee", "from", "to", "account",
    ]) {
        Class::Identity
    } else if has(&["callid", "uuid", "tag", "unique", "linked"]) {
        Class::Linkage
    } else if has(&["date", "time", "sec", "dur"]) {
        Class::Timing
    } else {
        Class::Content
    }
}

/// The schema to read: preset, optional table override, optional column
/// mapping (role → column) and class overrides (column → class), from the
/// command line or `[cdr]` in the config file.
#[derive(Debug, Clone, Default)]
pub struct Schema {
    pub preset: Preset,
    pub table: Option<String>,
    pub columns: BTreeMap<String, String>,
    pub classes: BTreeMap<String, Class>,
}

impl Schema {
    /// Tables to read: (name, required).
    pub fn tables(&self) -> Vec<(String, bool)> {
        match &self.table {
            Some(t) => vec![(t.clone(), true)],
            None => self
                .preset
                .tables()
                .iter()
                .enumerate()
                .map(|(i, t)| ((*t).to_owned(), i == 0))
                .collect(),
        }
    }

    pub fn class_of(&self, col: &str) -> Class {
        self.classes
            .get(col)
            .copied()
            .unwrap_or_else(|| classify(col))
    }

    /// Column index per role for one table; a mapped column that is missing
    /// is an error, a preset candidate that is missing is tried next.
    pub fn resolve(&self, table: &str, cols: &[String]) -> Result<Roles, CdrError> {
        let find = |name: &str| cols.iter().position(|c| c.eq_ignore_ascii_case(name));
        let mut roles = Roles::default();
        for role in Role::ALL {
            let idx = match self.columns.get(role.key()) {
                Some(c) => Some(find(c).ok_or_else(|| CdrError::NoColumn {
                    table: table.to_owned(),
                    column: c.clone(),
                    role: role.key(),
                })?),
                None => self.preset.candidates(role).iter().find_map(|c| find(c)),
            };
            match role {
                Role::Time => roles.time = idx,
                Role::Caller => roles.caller = idx,
                Role::Callee => roles.callee = idx,
                Role::Disposition => roles.disposition = idx,
                Role::Billsec => roles.billsec = idx,
            }
        }
        if roles.time.is_none() {
            return Err(CdrError::NoTime {
                table: table.to_owned(),
                tried: self.preset.candidates(Role::Time).join(", "),
            });
        }
        Ok(roles)
    }
}

/// Resolved column indexes of one table.
#[derive(Debug, Clone, Copy, Default)]
pub struct Roles {
    pub time: Option<usize>,
    pub caller: Option<usize>,
    pub callee: Option<usize>,
    pub disposition: Option<usize>,
    pub billsec: Option<usize>,
}

/// One table's audit. Counts and ages only.
#[derive(Debug, Clone, Default)]
pub struct TableReport {
    pub table: String,
    /// (column name, class), in table order.
    pub columns: Vec<(String, Class)>,
    pub rows: u64,
    /// Rows whose time could not be read (never counted as old, never
    /// deleted).
    pub undated: u64,
    pub oldest: Option<i64>,
    pub newest: Option<i64>,
    pub beyond_retention: u64,
    pub distinct_callers: u64,
    pub distinct_callees: u64,
    /// `--samples`: pseudonymised rows.
    pub samples: Vec<Vec<String>>,
}

/// The whole audit.
#[derive(Debug, Clone)]
pub struct Report {
    pub kind: &'static str,
    pub keep_days: u32,
    /// Unix seconds the ages are measured from.
    pub now: i64,
    pub tables: Vec<TableReport>,
}

impl Report {
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }
    pub fn beyond_retention(&self) -> u64 {
        self.tables.iter().map(|t| t.beyond_retention).sum()
    }
    pub fn oldest(&self) -> Option<i64> {
        self.tables.iter().filter_map(|t| t.oldest).min()
    }
    pub fn newest(&self) -> Option<i64> {
        self.tables.iter().filter_map(|t| t.newest).max()
    }
    /// Columns per class over all tables.
    pub fn class_counts(&self) -> BTreeMap<Class, u64> {
        let mut m: BTreeMap<Class, u64> = Class::ALL.iter().map(|c| (*c, 0)).collect();
        for t in &self.tables {
            for (_, c) in &t.columns {
                *m.entry(*c).or_default() += 1;
            }
        }
        m
    }
    pub fn oldest_age_secs(&self) -> i64 {
        self.oldest().map_or(0, |o| (self.now - o).max(0))
    }
}

/// Seconds in a retention day.
pub const DAY: i64 = 86_400;

/// Cutoff: records strictly older than `now - keep_days` are beyond
/// retention.
pub fn cutoff(now: i64, keep_days: u32) -> i64 {
    now - i64::from(keep_days) * DAY
}

/// Accumulates one table's statistics row by row, keeping no value: the
/// distinct counts keep only a per-process keyed 64-bit hash.
pub(crate) struct Accumulator<'a> {
    report: TableReport,
    roles: Roles,
    cutoff: i64,
    now: i64,
    hasher: ahash::RandomState,
    callers: HashSet<u64>,
    callees: HashSet<u64>,
    samples: usize,
    pseudo: Option<&'a Pseudonymizer>,
}

impl<'a> Accumulator<'a> {
    pub(crate) fn new(
        table: &str,
        cols: &[String],
        schema: &Schema,
        roles: Roles,
        opts: &AuditOptions,
        pseudo: Option<&'a Pseudonymizer>,
    ) -> Self {
        Accumulator {
            report: TableReport {
                table: table.to_owned(),
                columns: cols
                    .iter()
                    .map(|c| (c.clone(), schema.class_of(c)))
                    .collect(),
                ..TableReport::default()
            },
            roles,
            cutoff: cutoff(opts.now, opts.keep_days),
            now: opts.now,
            hasher: ahash::RandomState::new(),
            callers: HashSet::new(),
            callees: HashSet::new(),
            samples: opts.samples,
            pseudo,
        }
    }

    pub(crate) fn add(&mut self, row: &[Option<String>]) {
        let r = &mut self.report;
        r.rows += 1;
        let get = |i: Option<usize>| i.and_then(|i| row.get(i)).and_then(|v| v.as_deref());
        match get(self.roles.time).and_then(time::parse) {
            Some(t) => {
                r.oldest = Some(r.oldest.map_or(t, |o| o.min(t)));
                r.newest = Some(r.newest.map_or(t, |o| o.max(t)));
                if t < self.cutoff {
                    r.beyond_retention += 1;
                }
            }
            None => r.undated += 1,
        }
        if let Some(v) = get(self.roles.caller).filter(|v| !v.is_empty()) {
            self.callers.insert(self.hasher.hash_one(v));
        }
        if let Some(v) = get(self.roles.callee).filter(|v| !v.is_empty()) {
            self.callees.insert(self.hasher.hash_one(v));
        }
        if r.samples.len() < self.samples {
            if let Some(p) = self.pseudo {
                let s = row
                    .iter()
                    .zip(&r.columns)
                    .map(|(v, (_, class))| sample_value(p, *class, v.as_deref(), self.now))
                    .collect();
                r.samples.push(s);
            }
        }
    }

    pub(crate) fn finish(mut self) -> TableReport {
        self.report.distinct_callers = self.callers.len() as u64;
        self.report.distinct_callees = self.callees.len() as u64;
        self.report
    }
}

/// One value as `--samples` shows it: timing as an age or a small number,
/// a short code as is, everything else as a keyed pseudonym.
pub fn sample_value(p: &Pseudonymizer, class: Class, v: Option<&str>, now: i64) -> String {
    let Some(v) = v else {
        return "NULL".into();
    };
    if v.is_empty() {
        return String::new();
    }
    match class {
        Class::Timing => {
            if let Some(t) = time::parse(v) {
                return format!("{}d ago", (now - t).max(0) / DAY);
            }
            if v.len() <= 6 && v.bytes().all(|b| b.is_ascii_digit()) {
                return v.to_owned();
            }
            p.pseudonym("val", v.as_bytes())
        }
        Class::Other if is_code(v) => v.to_owned(),
        Class::Identity => p.pseudonym("user", v.as_bytes()),
        Class::Network => match v.parse::<std::net::IpAddr>() {
            Ok(ip) => p.ip(ip),
            Err(_) => p.pseudonym("host", v.as_bytes()),
        },
        Class::Linkage => p.pseudonym("id", v.as_bytes()),
        Class::Content | Class::Other => p.pseudonym("val", v.as_bytes()),
    }
}

/// A code or keyword safe to show: a few letters, spaces, `_`/`-`, and at
/// most 3 digits in a row (SIP codes, `ANSWERED`, `NO ANSWER`,
/// `DOCUMENTATION`); anything like a number or an address is not.
fn is_code(v: &str) -> bool {
    if v.len() > 24 {
        return false;
    }
    let mut run = 0;
    for b in v.bytes() {
        if b.is_ascii_digit() {
            run += 1;
            if run > 3 {
                return false;
            }
        } else if b.is_ascii_alphabetic() || b == b' ' || b == b'_' || b == b'-' {
            run = 0;
        } else {
            return false;
        }
    }
    true
}

/// Options of one audit.
#[derive(Debug, Clone)]
pub struct AuditOptions {
    pub keep_days: u32,
    pub samples: usize,
    pub now: i64,
    /// SQLite: how long to wait for a writer's lock.
    pub busy_timeout_ms: u64,
}

/// Audit every table of the schema in `source`.
pub fn audit(
    source: &SourceSpec,
    schema: &Schema,
    opts: &AuditOptions,
    pseudo: Option<&Pseudonymizer>,
) -> Result<Report, CdrError> {
    let mut store = Store::open(source, false, opts.busy_timeout_ms)?;
    let mut tables = Vec::new();
    for (table, required) in schema.tables() {
        match store.audit_table(&table, schema, opts, pseudo) {
            Ok(t) => tables.push(t),
            Err(CdrError::NoTable(_)) if !required => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Report {
        kind: source.kind(),
        keep_days: opts.keep_days,
        now: opts.now,
        tables,
    })
}

/// Now, in Unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_by_name_and_content() {
        let d = std::env::temp_dir().join(format!("ss-cdr-src-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let rotated = d.join("Master.csv.1");
        std::fs::write(&rotated, "\"\",\"100\",\"200\"\n").unwrap();
        assert_eq!(
            SourceSpec::parse(rotated.to_str().unwrap()),
            SourceSpec::Csv(rotated.clone())
        );
        let db = d.join("master");
        std::fs::write(&db, b"SQLite format 3\0....").unwrap();
        assert_eq!(
            SourceSpec::parse(db.to_str().unwrap()),
            SourceSpec::Sqlite(db.clone())
        );
        assert!(matches!(
            SourceSpec::parse("postgresql://u@h/db"),
            SourceSpec::Postgres(_)
        ));
        assert!(matches!(SourceSpec::parse("x.CSV"), SourceSpec::Csv(_)));
        assert!(matches!(
            SourceSpec::parse("missing"),
            SourceSpec::Sqlite(_)
        ));
    }

    #[test]
    fn classes_of_known_columns() {
        assert_eq!(classify("src"), Class::Identity);
        assert_eq!(classify("CLID"), Class::Identity);
        assert_eq!(classify("channel"), Class::Network);
        assert_eq!(classify("src_ip"), Class::Network);
        assert_eq!(classify("calldate"), Class::Timing);
        assert_eq!(classify("lastdata"), Class::Content);
        assert_eq!(classify("uniqueid"), Class::Linkage);
        assert_eq!(classify("callid"), Class::Linkage);
        assert_eq!(classify("disposition"), Class::Other);
        assert_eq!(classify("caller_name"), Class::Identity);
        assert_eq!(classify("remote_addr"), Class::Network);
    }

    #[test]
    fn samples_hide_values() {
        let p = Pseudonymizer::new(&[7; 32]);
        let now = 1_800_000_000;
        assert!(
            sample_value(&p, Class::Identity, Some("+4915112345678"), now).starts_with("user-")
        );
        assert!(sample_value(&p, Class::Network, Some("192.0.2.7"), now).starts_with("ip-"));
        assert!(sample_value(&p, Class::Other, Some("1234567"), now).starts_with("val-"));
        assert!(sample_value(&p, Class::Other, Some("10.0.0.1"), now).starts_with("val-"));
        assert_eq!(
            sample_value(&p, Class::Other, Some("NO ANSWER"), now),
            "NO ANSWER"
        );
        assert_eq!(sample_value(&p, Class::Timing, Some("42"), now), "42");
        assert_eq!(
            sample_value(&p, Class::Timing, Some("2027-01-14 08:00:00"), now),
            "1d ago"
        );
    }
}
