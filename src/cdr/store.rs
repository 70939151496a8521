//! The three CDR backends behind one reader: SQLite (rusqlite, bundled),
//! PostgreSQL (postgres, sync) and Asterisk's `Master.csv` (csv).
//!
//! Owner: `cdr::store`. Invariants: an audit opens the store read-only
//! (SQLite `SQLITE_OPEN_READ_ONLY`, PostgreSQL read-only transactions, CSV
//! opened for reading), so auditing never changes a byte; every value is
//! handed to the caller as text and nothing here formats a value into an
//! error. Identifiers (table and column names, from the schema or the
//! config) are always double-quoted.

use super::{Accumulator, AuditOptions, CdrError, Schema, SourceSpec, TableReport};
use crate::findings::Pseudonymizer;
use std::path::{Path, PathBuf};

/// Asterisk cdr_csv's fixed column order (Master.csv has no header line).
pub const ASTERISK_CSV_COLUMNS: [&str; 18] = [
    "accountcode",
    "src",
    "dst",
    "dcontext",
    "clid",
    "channel",
    "dstchannel",
    "lastapp",
    "lastdata",
    "start",
    "answer",
    "end",
    "duration",
    "billsec",
    "disposition",
    "amaflags",
    "uniqueid",
    "userfield",
];

/// An open CDR store.
pub enum Store {
    Sqlite {
        conn: rusqlite::Connection,
        path: PathBuf,
    },
    Postgres(Box<postgres::Client>),
    Csv(PathBuf),
}

/// `"name"` with inner quotes doubled (SQL identifier quoting).
pub fn quote(id: &str) -> String {
    format!("\"{}\"", id.replace('"', "\"\""))
}

pub(crate) fn sqlite_err(path: &Path, e: rusqlite::Error) -> CdrError {
    // rusqlite's messages are SQLite's own ("file is not a database",
    // "database is locked", "no such table: cdr"): no row values.
    let message = match &e {
        rusqlite::Error::SqliteFailure(f, Some(m)) => format!("{m} ({:?})", f.code),
        rusqlite::Error::SqliteFailure(f, None) => format!("{f}"),
        other => other.to_string(),
    };
    CdrError::Sqlite {
        path: path.display().to_string(),
        message,
    }
}

pub(crate) fn pg_err(e: postgres::Error) -> CdrError {
    // The server's message and SQLSTATE (e.g. "password authentication
    // failed for user ..."); the URL, which may hold a password, is never
    // part of it.
    match e.as_db_error() {
        // Data exceptions (22xxx: "invalid input syntax for type ...: <value>")
        // and integrity violations (23xxx: "Key (col)=(<value>)") quote row
        // values: only their SQLSTATE is shown.
        Some(d) if matches!(&d.code().code()[..2], "22" | "23") => CdrError::Postgres(format!(
            "the server rejected a value (SQLSTATE {})",
            d.code().code()
        )),
        Some(d) => CdrError::Postgres(format!("{} (SQLSTATE {})", d.message(), d.code().code())),
        None => CdrError::Postgres(e.to_string()),
    }
}

pub(crate) fn sqlite_value(v: rusqlite::types::ValueRef<'_>) -> Option<String> {
    use rusqlite::types::ValueRef;
    match v {
        ValueRef::Null => None,
        ValueRef::Integer(i) => Some(i.to_string()),
        ValueRef::Real(f) => Some(f.to_string()),
        ValueRef::Text(t) | ValueRef::Blob(t) => Some(String::from_utf8_lossy(t).into_owned()),
    }
}

impl Store {
    /// Open `source`; `write` for `sanitize --apply`, else read-only.
    pub fn open(source: &SourceSpec, write: bool, busy_timeout_ms: u64) -> Result<Store, CdrError> {
        match source {
            SourceSpec::Sqlite(path) => {
                use rusqlite::OpenFlags as F;
                // Never create: a missing file is an error, not an empty DB.
                let flags = if write {
                    F::SQLITE_OPEN_READ_WRITE | F::SQLITE_OPEN_NO_MUTEX
                } else {
                    F::SQLITE_OPEN_READ_ONLY | F::SQLITE_OPEN_NO_MUTEX
                };
                if !path.exists() {
                    return Err(CdrError::Io {
                        path: path.display().to_string(),
                        source: std::io::Error::from(std::io::ErrorKind::NotFound),
                    });
                }
                let conn = rusqlite::Connection::open_with_flags(path, flags)
                    .map_err(|e| sqlite_err(path, e))?;
                // Asterisk and Kamailio write while we read: wait for their
                // lock instead of failing at once.
                conn.busy_timeout(std::time::Duration::from_millis(busy_timeout_ms))
                    .map_err(|e| sqlite_err(path, e))?;
                // Touch the header now, so "not a database" is reported as
                // such before anything else.
                conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))
                    .map_err(|e| sqlite_err(path, e))?;
                Ok(Store::Sqlite {
                    conn,
                    path: path.clone(),
                })
            }
            SourceSpec::Postgres(url) => {
                let mut client = postgres::Client::connect(url, postgres::NoTls).map_err(pg_err)?;
                // Naive timestamps are read as UTC, as in `cdr::time`.
                client
                    .batch_execute("SET TIME ZONE 'UTC'")
                    .map_err(pg_err)?;
                if !write {
                    client
                        .batch_execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
                        .map_err(pg_err)?;
                }
                Ok(Store::Postgres(Box::new(client)))
            }
            SourceSpec::Csv(path) => {
                std::fs::File::open(path).map_err(|source| CdrError::Io {
                    path: path.display().to_string(),
                    source,
                })?;
                Ok(Store::Csv(path.clone()))
            }
        }
    }

    /// Column names of `table` (for CSV: of the file), in order.
    pub fn columns(&mut self, table: &str) -> Result<Vec<String>, CdrError> {
        match self {
            Store::Sqlite { conn, path } => {
                let exists: i64 = conn
                    .query_row(
                        "SELECT count(*) FROM sqlite_master WHERE type IN ('table','view') AND name = ?1",
                        [table],
                        |r| r.get(0),
                    )
                    .map_err(|e| sqlite_err(path, e))?;
                if exists == 0 {
                    return Err(CdrError::NoTable(table.to_owned()));
                }
                let stmt = conn
                    .prepare(&format!("SELECT * FROM {} LIMIT 0", quote(table)))
                    .map_err(|e| sqlite_err(path, e))?;
                Ok(stmt.column_names().into_iter().map(str::to_owned).collect())
            }
            Store::Postgres(client) => {
                let rows = client
                    .query(
                        "SELECT column_name::text FROM information_schema.columns \
                         WHERE table_name = $1 AND table_schema = ANY(current_schemas(false)) \
                         ORDER BY ordinal_position",
                        &[&table],
                    )
                    .map_err(pg_err)?;
                if rows.is_empty() {
                    return Err(CdrError::NoTable(table.to_owned()));
                }
                Ok(rows.iter().map(|r| r.get::<_, String>(0)).collect())
            }
            Store::Csv(path) => csv_columns(path).map(|(c, _)| c),
        }
    }

    /// Call `f` with every row of `table` (values as text, `None` for NULL).
    pub fn scan(
        &mut self,
        table: &str,
        cols: &[String],
        mut f: impl FnMut(&[Option<String>]),
    ) -> Result<(), CdrError> {
        match self {
            Store::Sqlite { conn, path } => {
                let mut stmt = conn
                    .prepare(&format!("SELECT * FROM {}", quote(table)))
                    .map_err(|e| sqlite_err(path, e))?;
                let n = stmt.column_count();
                let mut rows = stmt.query([]).map_err(|e| sqlite_err(path, e))?;
                let mut buf = Vec::with_capacity(n);
                while let Some(r) = rows.next().map_err(|e| sqlite_err(path, e))? {
                    buf.clear();
                    for i in 0..n {
                        buf.push(sqlite_value(r.get_ref(i).map_err(|e| sqlite_err(path, e))?));
                    }
                    f(&buf);
                }
                Ok(())
            }
            Store::Postgres(client) => {
                let list: Vec<String> =
                    cols.iter().map(|c| format!("{}::text", quote(c))).collect();
                let sql = format!("SELECT {} FROM {}", list.join(", "), quote(table));
                let mut tx = client.transaction().map_err(pg_err)?;
                // A portal, so a large table streams in chunks.
                let stmt = tx.prepare(&sql).map_err(pg_err)?;
                let portal = tx.bind(&stmt, &[]).map_err(pg_err)?;
                let mut buf = Vec::with_capacity(cols.len());
                loop {
                    let rows = tx.query_portal(&portal, 5000).map_err(pg_err)?;
                    if rows.is_empty() {
                        break;
                    }
                    for r in &rows {
                        buf.clear();
                        for i in 0..cols.len() {
                            buf.push(r.get::<_, Option<String>>(i));
                        }
                        f(&buf);
                    }
                }
                tx.commit().map_err(pg_err)?;
                Ok(())
            }
            Store::Csv(path) => {
                let (_, header) = csv_columns(path)?;
                let mut rd = csv_reader(path)?;
                let mut rec = csv::ByteRecord::new();
                let mut first = true;
                let mut buf = Vec::new();
                while rd
                    .read_byte_record(&mut rec)
                    .map_err(|e| csv_err(path, e))?
                {
                    if std::mem::take(&mut first) && header {
                        continue;
                    }
                    buf.clear();
                    buf.extend(
                        rec.iter()
                            .map(|v| Some(String::from_utf8_lossy(v).into_owned())),
                    );
                    f(&buf);
                }
                Ok(())
            }
        }
    }

    /// Audit one table.
    pub fn audit_table(
        &mut self,
        table: &str,
        schema: &Schema,
        opts: &AuditOptions,
        pseudo: Option<&Pseudonymizer>,
    ) -> Result<TableReport, CdrError> {
        let cols = self.columns(table)?;
        let roles = schema.resolve(table, &cols)?;
        let mut acc = Accumulator::new(table, &cols, schema, roles, opts, pseudo);
        self.scan(table, &cols, |row| acc.add(row))?;
        Ok(acc.finish())
    }
}

pub(crate) fn csv_err(path: &Path, e: csv::Error) -> CdrError {
    // csv's messages give positions and field counts; the UTF-8 error kind
    // is avoided by reading byte records.
    CdrError::Csv {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

pub(crate) fn csv_reader(path: &Path) -> Result<csv::Reader<std::fs::File>, CdrError> {
    let f = std::fs::File::open(path).map_err(|source| CdrError::Io {
        path: path.display().to_string(),
        source,
    })?;
    Ok(csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(f))
}

/// Columns of a CSV file: its header line when the first record names
/// known CDR columns (a custom export), else Asterisk's documented order
/// (extra fields become `extraN`). Second: whether line 1 is a header.
pub fn csv_columns(path: &Path) -> Result<(Vec<String>, bool), CdrError> {
    let mut rd = csv_reader(path)?;
    let mut rec = csv::ByteRecord::new();
    let has = rd
        .read_byte_record(&mut rec)
        .map_err(|e| csv_err(path, e))?;
    let mut cols: Vec<String> = ASTERISK_CSV_COLUMNS
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    if !has {
        return Ok((cols, false));
    }
    let names: Vec<String> = rec
        .iter()
        .map(|v| String::from_utf8_lossy(v).trim().to_ascii_lowercase())
        .collect();
    let known = names
        .iter()
        .filter(|n| ASTERISK_CSV_COLUMNS.contains(&n.as_str()) || n.as_str() == "calldate")
        .count();
    if known >= 3 {
        return Ok((names, true));
    }
    for i in cols.len()..names.len() {
        cols.push(format!("extra{}", i - ASTERISK_CSV_COLUMNS.len() + 1));
    }
    Ok((cols, false))
}
