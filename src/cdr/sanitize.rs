//! `cdr sanitize`: fold records older than the retention into a daily
//! aggregate and delete them.
//!
//! Owner: `cdr::sanitize`. Invariants:
//! - Dry run by default: the store is opened read-only and only counts are
//!   printed.
//! - SQL stores: each batch is one transaction that adds the batch's rows to
//!   `cdr_daily_summary` (day, disposition, calls, answered, billsec_total,
//!   billsec_mean; merged by `(day, disposition)`) and deletes exactly those
//!   rows. A kill at any point leaves every batch either fully folded or
//!   untouched, so aggregates always match the deleted rows and a rerun
//!   continues where the last committed batch ended (idempotent).
//! - CSV: the file is rewritten atomically (a temp file in the same
//!   directory, fsynced, same owner and mode, renamed over it), and the
//!   summary `cdr_daily_summary.csv` beside it is committed first with a
//!   `# pending` line naming the new file; a later run rolls an interrupted
//!   rewrite forward (marker matches) or back (it does not). Bytes appended
//!   by Asterisk while we work are copied over, so no row is dropped.
//! - Only rows with a readable time strictly older than the cutoff are
//!   removed; an undated row is kept. The summary holds no identity: day,
//!   a disposition from a fixed set, and sums.

use super::store::{csv_err, pg_err, quote, sqlite_err};
use super::{cutoff, time, CdrError, Roles, Schema, SourceSpec, Store};
use std::collections::BTreeMap;
use std::io::{Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};

pub const SUMMARY_TABLE: &str = "cdr_daily_summary";
pub const SUMMARY_CSV: &str = "cdr_daily_summary.csv";

#[derive(Debug, Clone)]
pub struct SanitizeOptions {
    pub keep_days: u32,
    pub now: i64,
    pub apply: bool,
    /// Rows read per transaction (SQL stores).
    pub batch: usize,
    pub busy_timeout_ms: u64,
}

/// Counts of one table's sanitize.
#[derive(Debug, Clone, Default)]
pub struct TableOutcome {
    pub table: String,
    pub rows: u64,
    /// Rows older than the cutoff (dry run: would be folded; applied:
    /// folded and deleted).
    pub old: u64,
    pub undated: u64,
    /// Distinct (day, disposition) aggregate rows the old rows fold into.
    pub summary_rows: usize,
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub kind: &'static str,
    pub keep_days: u32,
    pub applied: bool,
    pub tables: Vec<TableOutcome>,
}

impl Outcome {
    pub fn text(&self) -> String {
        let mut o = String::new();
        use std::fmt::Write as _;
        let _ = writeln!(o, "CDR store: {}", self.kind);
        let _ = writeln!(o, "retention: {} days", self.keep_days);
        for t in &self.tables {
            let verb = if self.applied {
                "folded into the daily summary and deleted"
            } else {
                "would be folded into the daily summary and deleted"
            };
            let _ = writeln!(
                o,
                "table {}: {} records, {} older than {} days {verb} ({} summary rows), {} without a readable time kept",
                t.table, t.rows, t.old, self.keep_days, t.summary_rows, t.undated
            );
        }
        if !self.applied {
            let _ = writeln!(o, "dry run: nothing changed; add --apply to sanitize");
        }
        o
    }
}

/// One aggregate cell.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Agg {
    pub calls: i64,
    pub answered: i64,
    pub billsec: i64,
}

type Aggs = BTreeMap<(String, &'static str), Agg>;

/// A disposition from a fixed set (Asterisk words, or a SIP code from
/// Kamailio's `sip_code`), and whether the call was answered. A value
/// outside the set becomes `other`, so the summary never copies free text.
pub fn disposition(v: Option<&str>) -> (&'static str, bool) {
    let v = v.map(str::trim).unwrap_or("");
    match v.to_ascii_uppercase().as_str() {
        "" => return ("unknown", false),
        "ANSWERED" => return ("answered", true),
        "NO ANSWER" => return ("no_answer", false),
        "BUSY" => return ("busy", false),
        "FAILED" => return ("failed", false),
        "CONGESTION" => return ("congestion", false),
        _ => {}
    }
    match v.parse::<u16>() {
        Ok(200..=299) => ("answered", true),
        Ok(486 | 600 | 603) => ("busy", false),
        Ok(487) => ("cancelled", false),
        Ok(408 | 480) => ("no_answer", false),
        Ok(100..=699) => ("failed", false),
        _ => ("other", false),
    }
}

fn billsec(v: Option<&str>) -> i64 {
    v.and_then(|v| v.trim().split('.').next()?.parse::<i64>().ok())
        .unwrap_or(0)
        .max(0)
}

fn fold(aggs: &mut Aggs, day: String, disp: Option<&str>, bill: Option<&str>) {
    let (d, answered) = disposition(disp);
    let a = aggs.entry((day, d)).or_default();
    a.calls += 1;
    a.answered += i64::from(answered);
    a.billsec += billsec(bill);
}

/// Run a sanitize of every table of the schema.
pub fn sanitize(
    source: &SourceSpec,
    schema: &Schema,
    opts: &SanitizeOptions,
) -> Result<Outcome, CdrError> {
    let mut store = Store::open(source, opts.apply, opts.busy_timeout_ms)?;
    let mut tables = Vec::new();
    for (table, required) in schema.tables() {
        let cols = match store.columns(&table) {
            Ok(c) => c,
            Err(CdrError::NoTable(_)) if !required => continue,
            Err(e) => return Err(e),
        };
        let roles = schema.resolve(&table, &cols)?;
        let t = if !opts.apply {
            dry_run(&mut store, &table, &cols, roles, opts)?
        } else {
            match &mut store {
                Store::Sqlite { conn, path } => {
                    sqlite_apply(conn, path, &table, &cols, roles, opts)?
                }
                Store::Postgres(client) => pg_apply(client, &table, &cols, roles, opts)?,
                Store::Csv(path) => csv_apply(&path.clone(), roles, opts)?,
            }
        };
        tables.push(t);
    }
    Ok(Outcome {
        kind: source.kind(),
        keep_days: opts.keep_days,
        applied: opts.apply,
        tables,
    })
}

fn dry_run(
    store: &mut Store,
    table: &str,
    cols: &[String],
    roles: Roles,
    opts: &SanitizeOptions,
) -> Result<TableOutcome, CdrError> {
    let cut = cutoff(opts.now, opts.keep_days);
    let mut out = TableOutcome {
        table: table.to_owned(),
        ..TableOutcome::default()
    };
    let mut aggs = Aggs::new();
    let get = |row: &[Option<String>], i: Option<usize>| {
        i.and_then(|i| row.get(i)).and_then(|v| v.clone())
    };
    store.scan(table, cols, |row| {
        out.rows += 1;
        match get(row, roles.time).as_deref().and_then(time::parse) {
            Some(t) if t < cut => {
                out.old += 1;
                fold(
                    &mut aggs,
                    time::day_of(t),
                    get(row, roles.disposition).as_deref(),
                    get(row, roles.billsec).as_deref(),
                );
            }
            Some(_) => {}
            None => out.undated += 1,
        }
    })?;
    out.summary_rows = aggs.len();
    Ok(out)
}

const SQLITE_SUMMARY: &str = "CREATE TABLE IF NOT EXISTS cdr_daily_summary (
    day TEXT NOT NULL,
    disposition TEXT NOT NULL,
    calls INTEGER NOT NULL,
    answered INTEGER NOT NULL,
    billsec_total INTEGER NOT NULL,
    billsec_mean REAL NOT NULL,
    PRIMARY KEY (day, disposition))";

const SQLITE_UPSERT: &str = "INSERT INTO cdr_daily_summary
    (day, disposition, calls, answered, billsec_total, billsec_mean)
    VALUES (?1, ?2, ?3, ?4, ?5, CAST(?5 AS REAL) / ?3)
    ON CONFLICT (day, disposition) DO UPDATE SET
      calls = cdr_daily_summary.calls + excluded.calls,
      answered = cdr_daily_summary.answered + excluded.answered,
      billsec_total = cdr_daily_summary.billsec_total + excluded.billsec_total,
      billsec_mean = CAST(cdr_daily_summary.billsec_total + excluded.billsec_total AS REAL)
                     / (cdr_daily_summary.calls + excluded.calls)";

fn sqlite_apply(
    conn: &mut rusqlite::Connection,
    path: &Path,
    table: &str,
    cols: &[String],
    roles: Roles,
    opts: &SanitizeOptions,
) -> Result<TableOutcome, CdrError> {
    let e = |err| sqlite_err(path, err);
    let cut = cutoff(opts.now, opts.keep_days);
    let col = |i: Option<usize>| i.map_or("NULL".to_owned(), |i| quote(&cols[i]));
    let select = format!(
        "SELECT rowid, {}, {}, {} FROM {} WHERE rowid > ?1 ORDER BY rowid LIMIT ?2",
        col(roles.time),
        col(roles.disposition),
        col(roles.billsec),
        quote(table)
    );
    let delete = format!("DELETE FROM {} WHERE rowid = ?1", quote(table));
    conn.execute_batch(SQLITE_SUMMARY).map_err(e)?;
    let rows: i64 = conn
        .query_row(&format!("SELECT count(*) FROM {}", quote(table)), [], |r| {
            r.get(0)
        })
        .map_err(e)?;
    let mut out = TableOutcome {
        table: table.to_owned(),
        rows: rows as u64,
        ..TableOutcome::default()
    };
    let mut days = std::collections::BTreeSet::new();
    let mut last = i64::MIN;
    loop {
        // IMMEDIATE: take the write lock before reading the batch, so no
        // writer changes it between our read and our delete.
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(e)?;
        let mut aggs = Aggs::new();
        let mut doomed = Vec::new();
        let mut seen = 0usize;
        {
            let mut stmt = tx.prepare_cached(&select).map_err(e)?;
            let mut rs = stmt
                .query(rusqlite::params![last, opts.batch as i64])
                .map_err(e)?;
            while let Some(r) = rs.next().map_err(e)? {
                seen += 1;
                let id: i64 = r.get(0).map_err(e)?;
                last = id;
                let text = |i| -> Result<Option<String>, CdrError> {
                    Ok(super::store::sqlite_value(r.get_ref(i).map_err(e)?))
                };
                match text(1)?.as_deref().and_then(time::parse) {
                    Some(t) if t < cut => {
                        fold(
                            &mut aggs,
                            time::day_of(t),
                            text(2)?.as_deref(),
                            text(3)?.as_deref(),
                        );
                        doomed.push(id);
                    }
                    Some(_) => {}
                    None => out.undated += 1,
                }
            }
        }
        if seen == 0 {
            break;
        }
        {
            let mut up = tx.prepare_cached(SQLITE_UPSERT).map_err(e)?;
            for ((day, disp), a) in &aggs {
                up.execute(rusqlite::params![day, disp, a.calls, a.answered, a.billsec])
                    .map_err(e)?;
                days.insert((day.clone(), *disp));
            }
            let mut del = tx.prepare_cached(&delete).map_err(e)?;
            for id in &doomed {
                del.execute([id]).map_err(e)?;
            }
        }
        tx.commit().map_err(e)?;
        out.old += doomed.len() as u64;
    }
    out.summary_rows = days.len();
    Ok(out)
}

const PG_SUMMARY: &str = "CREATE TABLE IF NOT EXISTS cdr_daily_summary (
    day TEXT NOT NULL,
    disposition TEXT NOT NULL,
    calls BIGINT NOT NULL,
    answered BIGINT NOT NULL,
    billsec_total BIGINT NOT NULL,
    billsec_mean DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (day, disposition))";

const PG_UPSERT: &str = "INSERT INTO cdr_daily_summary
    (day, disposition, calls, answered, billsec_total, billsec_mean)
    VALUES ($1::text, $2::text, $3::bigint, $4::bigint, $5::bigint, $5::bigint::float8 / $3::bigint)
    ON CONFLICT (day, disposition) DO UPDATE SET
      calls = cdr_daily_summary.calls + EXCLUDED.calls,
      answered = cdr_daily_summary.answered + EXCLUDED.answered,
      billsec_total = cdr_daily_summary.billsec_total + EXCLUDED.billsec_total,
      billsec_mean = (cdr_daily_summary.billsec_total + EXCLUDED.billsec_total)::float8
                     / (cdr_daily_summary.calls + EXCLUDED.calls)";

fn pg_apply(
    client: &mut postgres::Client,
    table: &str,
    cols: &[String],
    roles: Roles,
    opts: &SanitizeOptions,
) -> Result<TableOutcome, CdrError> {
    let time_col = quote(&cols[roles.time.expect("resolve() requires a time column")]);
    let col =
        |i: Option<usize>| i.map_or("NULL".to_owned(), |i| format!("{}::text", quote(&cols[i])));
    // The server compares and buckets the times (UTC, set at connect), so
    // only rows it can read as a time are touched; FOR UPDATE locks the
    // batch against a concurrent writer until the commit.
    let select = format!(
        "SELECT ctid::text, to_char({t}::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD'), {d}, {b} \
         FROM {tab} WHERE {t}::timestamptz < to_timestamp($1::float8) LIMIT $2 FOR UPDATE",
        t = time_col,
        d = col(roles.disposition),
        b = col(roles.billsec),
        tab = quote(table)
    );
    let delete = format!(
        "DELETE FROM {} WHERE ctid = ANY($1::text[]::tid[])",
        quote(table)
    );
    client.batch_execute(PG_SUMMARY).map_err(pg_err)?;
    let rows: i64 = client
        .query_one(&format!("SELECT count(*) FROM {}", quote(table)), &[])
        .map_err(pg_err)?
        .get(0);
    let undated: i64 = client
        .query_one(
            &format!(
                "SELECT count(*) FROM {} WHERE {} IS NULL",
                quote(table),
                time_col
            ),
            &[],
        )
        .map_err(pg_err)?
        .get(0);
    let mut out = TableOutcome {
        table: table.to_owned(),
        rows: rows as u64,
        undated: undated as u64,
        ..TableOutcome::default()
    };
    let mut days = std::collections::BTreeSet::new();
    let cut = cutoff(opts.now, opts.keep_days) as f64;
    loop {
        let mut tx = client.transaction().map_err(pg_err)?;
        let batch = tx
            .query(&select, &[&cut, &(opts.batch as i64)])
            .map_err(pg_err)?;
        if batch.is_empty() {
            break;
        }
        let mut aggs = Aggs::new();
        let mut doomed = Vec::with_capacity(batch.len());
        for r in &batch {
            doomed.push(r.get::<_, String>(0));
            let day: String = r.get(1);
            fold(
                &mut aggs,
                day,
                r.get::<_, Option<String>>(2).as_deref(),
                r.get::<_, Option<String>>(3).as_deref(),
            );
        }
        let up = tx.prepare(PG_UPSERT).map_err(pg_err)?;
        for ((day, disp), a) in &aggs {
            tx.execute(&up, &[day, disp, &a.calls, &a.answered, &a.billsec])
                .map_err(pg_err)?;
            days.insert((day.clone(), *disp));
        }
        tx.execute(&delete, &[&doomed]).map_err(pg_err)?;
        tx.commit().map_err(pg_err)?;
        out.old += doomed.len() as u64;
    }
    out.summary_rows = days.len();
    Ok(out)
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> CdrError + '_ {
    move |source| CdrError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// `<file>.sanitize-new`: the rewritten CSV before it replaces the file.
fn new_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".sanitize-new");
    PathBuf::from(s)
}

fn summary_path(path: &Path) -> PathBuf {
    path.with_file_name(SUMMARY_CSV)
}

fn dir_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

fn fsync_dir(path: &Path) -> Result<(), CdrError> {
    let d = dir_of(path);
    std::fs::File::open(&d)
        .and_then(|f| f.sync_all())
        .map_err(io(&d))
}

/// FNV-1a 64: identifies the temp file's content in the pending marker
/// (integrity against a torn write, not a security check).
fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The summary CSV: aggregates and an optional pending marker
/// `(original length, new length, hash)`.
struct Summary {
    aggs: BTreeMap<(String, String), Agg>,
    pending: Option<(u64, u64, u64)>,
}

fn read_summary(path: &Path) -> Result<Summary, CdrError> {
    let mut s = Summary {
        aggs: BTreeMap::new(),
        pending: None,
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(s),
        Err(e) => return Err(io(path)(e)),
    };
    let bad = || CdrError::Csv {
        path: path.display().to_string(),
        message: "not a sipsentinel daily summary".into(),
    };
    for line in text.lines() {
        if let Some(p) = line.strip_prefix("# pending ") {
            let v: Vec<u64> = p
                .split(' ')
                .filter_map(|x| u64::from_str_radix(x, 16).ok())
                .collect();
            if v.len() == 3 {
                s.pending = Some((v[0], v[1], v[2]));
            }
            continue;
        }
        if line.starts_with("day,") || line.is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').collect();
        if f.len() != 6 {
            return Err(bad());
        }
        let n = |i: usize| f[i].parse::<i64>().map_err(|_| bad());
        let a = s
            .aggs
            .entry((f[0].to_owned(), f[1].to_owned()))
            .or_default();
        a.calls += n(2)?;
        a.answered += n(3)?;
        a.billsec += n(4)?;
    }
    Ok(s)
}

/// Write the summary atomically (temp, fsync, rename, fsync dir).
fn write_summary(path: &Path, s: &Summary) -> Result<(), CdrError> {
    let mut out = String::new();
    if let Some((a, b, c)) = s.pending {
        out.push_str(&format!("# pending {a:x} {b:x} {c:x}\n"));
    }
    out.push_str("day,disposition,calls,answered,billsec_total,billsec_mean\n");
    for ((day, disp), a) in &s.aggs {
        let mean = if a.calls > 0 {
            a.billsec as f64 / a.calls as f64
        } else {
            0.0
        };
        out.push_str(&format!(
            "{day},{disp},{},{},{},{mean:.2}\n",
            a.calls, a.answered, a.billsec
        ));
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(out.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))?;
    fsync_dir(path)
}

/// Append the bytes of `old` past `from` to the file at `to`; returns the
/// new copied offset.
fn append_tail(
    old: &mut std::fs::File,
    path: &Path,
    from: u64,
    to: &Path,
) -> Result<u64, CdrError> {
    let len = old.metadata().map_err(io(path))?.len();
    if len <= from {
        return Ok(from);
    }
    let mut buf = Vec::new();
    old.seek(std::io::SeekFrom::Start(from)).map_err(io(path))?;
    old.read_to_end(&mut buf).map_err(io(path))?;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(to)
        .map_err(io(to))?;
    f.write_all(&buf)
        .and_then(|()| f.sync_all())
        .map_err(io(to))?;
    Ok(from + buf.len() as u64)
}

/// Rename `new` over `path`, first copying what a writer appended to
/// `path` beyond `orig_len`, and again after the rename from the old inode
/// (still open here) for what was appended in between: Asterisk opens
/// Master.csv per record, so a row lands either in the old inode (copied)
/// or in the new file.
fn replace_keeping_tail(path: &Path, new: &Path, orig_len: u64) -> Result<(), CdrError> {
    let mut old = std::fs::File::open(path).map_err(io(path))?;
    let copied = append_tail(&mut old, path, orig_len, new)?;
    std::fs::rename(new, path).map_err(io(path))?;
    fsync_dir(path)?;
    append_tail(&mut old, path, copied, path)?;
    Ok(())
}

/// Finish or undo an interrupted CSV rewrite: roll forward when the
/// summary's pending marker names the temp file's exact content (the
/// aggregates of its deleted rows are already committed), else remove the
/// temp file (the summary was not committed).
fn csv_recover(path: &Path) -> Result<(), CdrError> {
    let new = new_path(path);
    let spath = summary_path(path);
    let mut summary = read_summary(&spath)?;
    if new.exists() {
        let data = std::fs::read(&new).map_err(io(&new))?;
        match summary.pending {
            Some((orig, len, hash)) if len == data.len() as u64 && hash == fnv(&data) => {
                replace_keeping_tail(path, &new, orig)?;
            }
            _ => std::fs::remove_file(&new).map_err(io(&new))?,
        }
    }
    if summary.pending.take().is_some() {
        write_summary(&spath, &summary)?;
    }
    Ok(())
}

/// An exclusive, non-blocking flock on the CSV's directory (released when
/// dropped): a second sanitize run fails at once instead of interleaving
/// its rewrite with ours. A directory lock needs no extra file beside the
/// PBX's.
fn lock_dir(path: &Path) -> Result<std::fs::File, CdrError> {
    let d = dir_of(path);
    let f = std::fs::File::open(&d).map_err(io(&d))?;
    match rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(f),
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => Err(CdrError::Invalid {
            key: "source",
            message: format!(
                "another cdr sanitize is running on {} (directory locked)",
                d.display()
            ),
        }),
        Err(e) => Err(io(&d)(e.into())),
    }
}

fn csv_apply(path: &Path, roles: Roles, opts: &SanitizeOptions) -> Result<TableOutcome, CdrError> {
    let _lock = lock_dir(path)?;
    csv_recover(path)?;
    let cut = cutoff(opts.now, opts.keep_days);
    let mut f = std::fs::File::open(path).map_err(io(path))?;
    let meta = f.metadata().map_err(io(path))?;
    let mut data = Vec::new();
    f.read_to_end(&mut data).map_err(io(path))?;
    let orig_len = data.len() as u64;
    // Only whole lines are parsed; a line Asterisk is still writing (after
    // the last newline) is carried over byte for byte.
    let whole = data.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let (body, partial) = data.split_at(whole);
    let (_, header) = super::store::csv_columns(path)?;
    let mut rd = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(body);
    let mut out = TableOutcome {
        table: path
            .file_name()
            .map_or("csv".into(), |n| n.to_string_lossy().into_owned()),
        ..TableOutcome::default()
    };
    let mut aggs = Aggs::new();
    let mut rec = csv::ByteRecord::new();
    let mut first = true;
    let get = |rec: &csv::ByteRecord, i: Option<usize>| {
        i.and_then(|i| rec.get(i))
            .map(|v| String::from_utf8_lossy(v).into_owned())
    };
    // (start offset, keep) of each record: kept rows are copied byte for
    // byte from the original, so their quoting and spacing do not change.
    let mut spans: Vec<(usize, bool)> = Vec::new();
    while rd
        .read_byte_record(&mut rec)
        .map_err(|e| csv_err(path, e))?
    {
        let start = if spans.is_empty() {
            0
        } else {
            rec.position().map_or(0, |p| p.byte() as usize)
        };
        if std::mem::take(&mut first) && header {
            spans.push((start, true));
            continue;
        }
        out.rows += 1;
        match get(&rec, roles.time).as_deref().and_then(time::parse) {
            Some(t) if t < cut => {
                out.old += 1;
                fold(
                    &mut aggs,
                    time::day_of(t),
                    get(&rec, roles.disposition).as_deref(),
                    get(&rec, roles.billsec).as_deref(),
                );
                spans.push((start, false));
                continue;
            }
            Some(_) => {}
            None => out.undated += 1,
        }
        spans.push((start, true));
    }
    out.summary_rows = aggs.len();
    if out.old == 0 {
        return Ok(out);
    }
    let mut kept = Vec::with_capacity(data.len());
    for (i, (start, keep)) in spans.iter().enumerate() {
        let end = spans.get(i + 1).map_or(body.len(), |n| n.0);
        if *keep {
            kept.extend_from_slice(&body[*start..end]);
        }
    }
    kept.extend_from_slice(partial);
    // 1. The new file, complete and durable, with the old owner and mode
    //    (removed again if any of that fails: nothing changed).
    let new = new_path(path);
    let written = (|| -> Result<(), CdrError> {
        let mut nf = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&new)
            .map_err(io(&new))?;
        use std::os::unix::fs::MetadataExt as _;
        std::os::unix::fs::fchown(&nf, Some(meta.uid()), Some(meta.gid())).map_err(io(&new))?;
        nf.set_permissions(meta.permissions()).map_err(io(&new))?;
        nf.write_all(&kept)
            .and_then(|()| nf.sync_all())
            .map_err(io(&new))
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&new);
        return Err(e);
    }
    // 2. Commit point: the summary with these aggregates and a marker
    //    naming the new file.
    let spath = summary_path(path);
    let mut summary = read_summary(&spath)?;
    for ((day, disp), a) in aggs {
        let s = summary.aggs.entry((day, disp.to_owned())).or_default();
        s.calls += a.calls;
        s.answered += a.answered;
        s.billsec += a.billsec;
    }
    summary.pending = Some((orig_len, kept.len() as u64, fnv(&kept)));
    write_summary(&spath, &summary)?;
    // 3. Replace the file (keeping rows appended meanwhile), then clear
    //    the marker.
    replace_keeping_tail(path, &new, orig_len)?;
    summary.pending = None;
    write_summary(&spath, &summary)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispositions_are_a_fixed_set() {
        assert_eq!(disposition(Some("ANSWERED")), ("answered", true));
        assert_eq!(disposition(Some("NO ANSWER")), ("no_answer", false));
        assert_eq!(disposition(Some("200")), ("answered", true));
        assert_eq!(disposition(Some("487")), ("cancelled", false));
        assert_eq!(disposition(Some("+4915112345678")), ("other", false));
        assert_eq!(disposition(None), ("unknown", false));
    }

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ss-cdr-rec-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// Killed after the summary commit, before the rename: the next run
    /// rolls forward, keeping a row the writer appended meanwhile.
    #[test]
    fn interrupted_rewrite_rolls_forward() {
        let d = dir("fwd");
        let p = d.join("Master.csv");
        std::fs::write(&p, "old\nnew\n").unwrap();
        let kept = b"new\n".to_vec();
        std::fs::write(new_path(&p), &kept).unwrap();
        let mut s = Summary {
            aggs: BTreeMap::new(),
            pending: Some((8, kept.len() as u64, fnv(&kept))),
        };
        s.aggs.insert(
            ("2020-01-01".into(), "answered".into()),
            Agg {
                calls: 1,
                answered: 1,
                billsec: 3,
            },
        );
        write_summary(&summary_path(&p), &s).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .unwrap()
            .write_all(b"appended\n")
            .unwrap();
        csv_recover(&p).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "new\nappended\n");
        assert!(!new_path(&p).exists());
        let r = read_summary(&summary_path(&p)).unwrap();
        assert_eq!(r.pending, None);
        assert_eq!(r.aggs.values().map(|a| a.calls).sum::<i64>(), 1);
    }

    /// Killed before the summary commit: the temp file is dropped and the
    /// original stays as it was.
    #[test]
    fn uncommitted_rewrite_rolls_back() {
        let d = dir("back");
        let p = d.join("Master.csv");
        std::fs::write(&p, "old\nnew\n").unwrap();
        std::fs::write(new_path(&p), b"new\n").unwrap();
        csv_recover(&p).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "old\nnew\n");
        assert!(!new_path(&p).exists());
        // A torn temp file (marker does not match its content) too.
        std::fs::write(new_path(&p), b"ne").unwrap();
        let s = Summary {
            aggs: BTreeMap::new(),
            pending: Some((8, 4, fnv(b"new\n"))),
        };
        write_summary(&summary_path(&p), &s).unwrap();
        csv_recover(&p).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "old\nnew\n");
        assert_eq!(read_summary(&summary_path(&p)).unwrap().pending, None);
    }
}
