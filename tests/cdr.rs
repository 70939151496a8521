//! `cdr audit` and `cdr sanitize` against generated stores with rows at
//! known day offsets from now (Asterisk Master.csv, Asterisk and Kamailio
//! SQLite, and a real PostgreSQL server with Asterisk's cdr_pgsql schema):
//! exact counts, the error contract on bad input (one line, exit 1,
//! nothing changed), crash safety of `sanitize --apply` under SIGKILL, and a
//! privacy canary: values planted in the records appear in no output.

mod common;

use common::sensor::{free_port, http_get, sum_text, unlabelled};
use common::{sipsentinel, temp_dir};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) of a Unix time.
fn fmt_time(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let rem = t.rem_euclid(86_400);
    // Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Values planted in the records: none may appear in any output.
const CANARIES: [&str; 9] = [
    "4915199887766",
    "99887766",
    "5550001234",
    "Quibblesworth",
    "203.0.113.77",
    "198.51.100.23",
    "Xylophone",
    "1700000000.4242",
    "WombatAcct",
];

/// Day offsets of the generated rows (hours past midnight-ish are avoided
/// by adding one hour to "N days ago", so no row sits on the cutoff).
/// With keep_days 30: 0,1,5,29 are newer (4 offsets), 31,45,90,400 older.
const OFFSETS: [i64; 8] = [0, 1, 5, 29, 31, 45, 90, 400];
/// Rows per offset.
const PER: usize = 5;
const TOTAL: u64 = (OFFSETS.len() * PER) as u64;
const OLD: u64 = (4 * PER) as u64;

/// One Asterisk CDR row: (time, src, dst, clid, channel, dstchannel,
/// lastdata, disposition, billsec, uniqueid, accountcode, userfield).
struct Row {
    t: i64,
    src: String,
    dst: String,
    disposition: &'static str,
    billsec: i64,
}

fn rows(now: i64) -> Vec<Row> {
    let mut v = Vec::new();
    let mut i = 0;
    for off in OFFSETS {
        for _ in 0..PER {
            // 7 distinct callers, 11 distinct callees over 40 rows; one
            // caller is the canary number.
            let src = if i % 7 == 0 {
                "+4915199887766".to_owned()
            } else {
                format!("+4930{:07}", 1_000_000 + i % 7)
            };
            let dst = if i % 11 == 0 {
                "5550001234".to_owned()
            } else {
                format!("6{:07}", 2_000_000 + i % 11)
            };
            v.push(Row {
                t: now - off * 86_400 - 3600,
                src,
                dst,
                disposition: if i % 3 == 0 { "NO ANSWER" } else { "ANSWERED" },
                billsec: if i % 3 == 0 { 0 } else { 10 + i as i64 },
            });
            i += 1;
        }
    }
    v
}

fn clid(r: &Row) -> String {
    format!("\"Zebulon Quibblesworth\" <{}>", r.src)
}
const CHANNEL: &str = "SIP/203.0.113.77-0000001a";
const DSTCHANNEL: &str = "PJSIP/trunk-198.51.100.23-00000002";
const LASTDATA: &str = "PJSIP/5550001234@trunk,30";
const USERFIELD: &str = "Xylophone";
const UNIQUEID: &str = "1700000000.4242";
const ACCOUNT: &str = "WombatAcct";

/// Asterisk Master.csv (cdr_csv's documented column order, no header).
fn write_csv(path: &Path, now: i64) {
    let mut s = String::new();
    for r in rows(now) {
        let start = fmt_time(r.t);
        s.push_str(&format!(
            "\"{ACCOUNT}\",\"{}\",\"{}\",\"from-internal\",\"{}\",\"{CHANNEL}\",\"{DSTCHANNEL}\",\"Dial\",\"{LASTDATA}\",\"{start}\",\"{start}\",\"{start}\",{},{},\"{}\",\"DOCUMENTATION\",\"{UNIQUEID}\",\"{USERFIELD}\"\n",
            r.src,
            r.dst,
            clid(&r).replace('"', "\"\""),
            r.billsec + 5,
            r.billsec,
            r.disposition
        ));
    }
    std::fs::write(path, s).unwrap();
}

/// Asterisk cdr_sqlite3_custom's sample table.
const SQLITE_CDR: &str = "CREATE TABLE cdr (AcctId INTEGER PRIMARY KEY, calldate CHAR, clid VARCHAR(80), src VARCHAR(80), dst VARCHAR(80), dcontext VARCHAR(80), channel VARCHAR(80), dstchannel VARCHAR(80), lastapp VARCHAR(80), lastdata VARCHAR(80), duration INTEGER, billsec INTEGER, disposition VARCHAR(45), amaflags INTEGER, accountcode VARCHAR(20), uniqueid VARCHAR(32), userfield VARCHAR(255))";

fn write_sqlite(path: &Path, now: i64, copies: usize) {
    let mut c = rusqlite::Connection::open(path).unwrap();
    c.execute_batch(SQLITE_CDR).unwrap();
    let tx = c.transaction().unwrap();
    {
        let mut st = tx
            .prepare("INSERT INTO cdr (calldate, clid, src, dst, dcontext, channel, dstchannel, lastapp, lastdata, duration, billsec, disposition, amaflags, accountcode, uniqueid, userfield) VALUES (?1, ?2, ?3, ?4, 'from-internal', ?5, ?6, 'Dial', ?7, ?8, ?9, ?10, 3, ?11, ?12, ?13)")
            .unwrap();
        for _ in 0..copies {
            for r in rows(now) {
                st.execute(rusqlite::params![
                    fmt_time(r.t),
                    clid(&r),
                    r.src,
                    r.dst,
                    CHANNEL,
                    DSTCHANNEL,
                    LASTDATA,
                    r.billsec + 5,
                    r.billsec,
                    r.disposition,
                    ACCOUNT,
                    UNIQUEID,
                    USERFIELD
                ])
                .unwrap();
            }
        }
    }
    tx.commit().unwrap();
}

fn run(args: &[&str]) -> Output {
    sipsentinel().args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn assert_no_canary(what: &str, text: &str) {
    for c in CANARIES {
        assert!(!text.contains(c), "{what}: canary {c:?} printed:\n{text}");
    }
}

/// The error contract ([`common::assert_clean_error`]), and no canary in
/// the error line.
fn assert_clean_error(o: &Output, needle: &str) {
    let err = common::assert_clean_error(o, needle);
    assert_no_canary("stderr", &err);
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_str(&stdout(o)).unwrap()
}

/// Audit in every format (and with samples): exact counts, no canary.
fn check_audit(source: &str, extra: &[&str]) {
    let mut a = vec!["cdr", "audit", source];
    a.extend_from_slice(extra);
    let text = stdout(&run(&a));
    assert_no_canary("text", &text);
    assert!(text.contains(&format!("records: {TOTAL}")), "{text}");
    assert!(
        text.contains(&format!("records beyond retention (30 days): {OLD}")),
        "{text}"
    );
    assert!(text.contains("RETENTION EXCEEDED"), "{text}");

    let j = json(&run(&[&a[..], &["--format", "json"]].concat()));
    assert_eq!(j["records"], TOTAL);
    assert_eq!(j["records_beyond_retention"], OLD);
    let t = &j["tables"][0];
    assert_eq!(t["distinct_callers"], 7);
    assert_eq!(t["distinct_callees"], 11);
    let age = j["oldest_record_age_seconds"].as_i64().unwrap();
    assert!((age - (400 * 86_400 + 3600)).abs() < 120, "{age}");
    assert_eq!(
        t["newest_record_age_seconds"].as_i64().unwrap() / 60,
        3600 / 60
    );
    let classes = &j["columns_by_class"];
    assert!(classes["identity"].as_u64().unwrap() >= 4, "{classes}");
    assert!(classes["network"].as_u64().unwrap() >= 2, "{classes}");
    assert!(classes["content"].as_u64().unwrap() >= 1, "{classes}");
    assert!(classes["linkage"].as_u64().unwrap() >= 1, "{classes}");
    assert_no_canary("json", &j.to_string());

    let prom = stdout(&run(&[&a[..], &["--format", "prometheus"]].concat()));
    assert_no_canary("prometheus", &prom);
    assert_eq!(unlabelled(&prom, "sipsentinel_cdr_records"), TOTAL as f64);
    assert_eq!(
        unlabelled(&prom, "sipsentinel_cdr_records_beyond_retention"),
        OLD as f64
    );
    assert!(unlabelled(&prom, "sipsentinel_cdr_oldest_record_age_seconds") > 400.0 * 86_400.0);
    assert!(sum_text(&prom, "sipsentinel_cdr_columns", &[("class", "identity")]) >= 4.0);

    let samples = stdout(&run(&[&a[..], &["--samples", "5"]].concat()));
    assert!(samples.contains("samples (pseudonymised)"), "{samples}");
    assert!(samples.contains("user-"), "{samples}");
    assert_no_canary("samples", &samples);
    let sj = stdout(&run(
        &[&a[..], &["--samples", "3", "--format", "json"]].concat()
    ));
    assert_no_canary("samples json", &sj);
}

#[test]
fn csv_audit_counts_and_hides_values() {
    let d = temp_dir("csv-audit");
    let p = d.join("Master.csv");
    write_csv(&p, now());
    let before = std::fs::read(&p).unwrap();
    check_audit(p.to_str().unwrap(), &[]);
    // keep-days moves the cutoff: 90 days keeps 0..45 → only 90 and 400 are old.
    let j = json(&run(&[
        "cdr",
        "audit",
        p.to_str().unwrap(),
        "--keep-days",
        "60",
        "--format",
        "json",
    ]));
    assert_eq!(j["records_beyond_retention"], 2 * PER as u64);
    assert_eq!(std::fs::read(&p).unwrap(), before, "audit changed the file");
}

#[test]
fn sqlite_audit_counts_and_hides_values() {
    let d = temp_dir("sqlite-audit");
    let p = d.join("master.db");
    write_sqlite(&p, now(), 1);
    let before = std::fs::read(&p).unwrap();
    check_audit(p.to_str().unwrap(), &["--schema", "asterisk"]);
    assert_eq!(std::fs::read(&p).unwrap(), before, "audit changed the file");
}

/// Kamailio acc (db_sqlite) with the acc and missed_calls tables, and a
/// column mapping from the config file for a custom schema.
#[test]
fn kamailio_acc_and_config_mapping() {
    let d = temp_dir("kamailio");
    let p = d.join("kamailio.db");
    let n = now();
    {
        let c = rusqlite::Connection::open(&p).unwrap();
        for t in ["acc", "missed_calls"] {
            c.execute_batch(&format!(
                "CREATE TABLE {t} (id INTEGER PRIMARY KEY, method VARCHAR(16), from_tag VARCHAR(128), to_tag VARCHAR(128), callid VARCHAR(255), sip_code VARCHAR(3), sip_reason VARCHAR(128), time DATETIME, src_user VARCHAR(64), src_domain VARCHAR(128), src_ip VARCHAR(64), dst_ouser VARCHAR(64), dst_user VARCHAR(64), dst_domain VARCHAR(128))"
            ))
            .unwrap();
        }
        for (i, off) in [0i64, 2, 40, 100].iter().enumerate() {
            c.execute(
                "INSERT INTO acc (method, from_tag, to_tag, callid, sip_code, sip_reason, time, src_user, src_domain, src_ip, dst_ouser, dst_user, dst_domain) VALUES ('INVITE', 'Xylophone', 'tt', ?1, '200', 'OK', ?2, '4915199887766', 'pbx.example', '203.0.113.77', ?3, ?3, 'example')",
                rusqlite::params![format!("{UNIQUEID}-{i}"), fmt_time(n - off * 86_400 - 3600), format!("555000123{i}")],
            )
            .unwrap();
        }
        c.execute(
            "INSERT INTO missed_calls (method, callid, sip_code, sip_reason, time, src_user, src_ip, dst_user) VALUES ('INVITE', 'c', '486', 'Busy', ?1, 'Quibblesworth', '198.51.100.23', '5550001234')",
            [fmt_time(n - 50 * 86_400)],
        )
        .unwrap();
    }
    let src = p.to_str().unwrap();
    let j = json(&run(&[
        "cdr",
        "audit",
        src,
        "--schema",
        "kamailio-acc",
        "--format",
        "json",
    ]));
    assert_eq!(j["records"], 5);
    assert_eq!(j["records_beyond_retention"], 3);
    assert_eq!(j["tables"][0]["table"], "acc");
    assert_eq!(j["tables"][0]["distinct_callers"], 1);
    assert_eq!(j["tables"][0]["distinct_callees"], 4);
    assert_eq!(j["tables"][1]["table"], "missed_calls");
    assert_no_canary("kamailio json", &j.to_string());
    let s = stdout(&run(&[
        "cdr",
        "audit",
        src,
        "--schema",
        "kamailio-acc",
        "--samples",
        "9",
    ]));
    assert_no_canary("kamailio samples", &s);

    // The same store through a config file: table and time column mapped.
    let cfg = d.join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            "[cdr]\nsource = {src:?}\ntable = \"missed_calls\"\nkeep_days = 60\n[cdr.columns]\ntime = \"time\"\ncaller = \"src_user\"\n[cdr.classes]\nsip_reason = \"content\"\n"
        ),
    )
    .unwrap();
    let j = json(&run(&[
        "cdr",
        "audit",
        "-c",
        cfg.to_str().unwrap(),
        "--format",
        "json",
    ]));
    assert_eq!(j["records"], 1);
    assert_eq!(j["records_beyond_retention"], 0);
    assert_eq!(j["tables"][0]["distinct_callers"], 1);
    // sanitize over the Kamailio preset: SIP codes become dispositions.
    let o = stdout(&run(&[
        "cdr",
        "sanitize",
        src,
        "--schema",
        "kamailio-acc",
        "--apply",
    ]));
    assert_no_canary("kamailio sanitize", &o);
    let c = rusqlite::Connection::open(&p).unwrap();
    let left: i64 = c
        .query_row("SELECT count(*) FROM acc", [], |r| r.get(0))
        .unwrap();
    assert_eq!(left, 2);
    let busy: i64 = c
        .query_row(
            "SELECT calls FROM cdr_daily_summary WHERE disposition = 'busy'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(busy, 1);
}

/// (calls, answered, billsec) in the SQLite summary.
fn sqlite_summary(c: &rusqlite::Connection) -> (i64, i64, i64) {
    c.query_row(
        "SELECT coalesce(sum(calls),0), coalesce(sum(answered),0), coalesce(sum(billsec_total),0) FROM cdr_daily_summary",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .unwrap_or((0, 0, 0))
}

/// Expected (calls, answered, billsec) of the old rows.
fn old_totals(now: i64, copies: i64) -> (i64, i64, i64) {
    let cut = now - 30 * 86_400;
    let old: Vec<Row> = rows(now).into_iter().filter(|r| r.t < cut).collect();
    (
        old.len() as i64 * copies,
        old.iter().filter(|r| r.disposition == "ANSWERED").count() as i64 * copies,
        old.iter().map(|r| r.billsec).sum::<i64>() * copies,
    )
}

#[test]
fn sqlite_sanitize_dry_run_apply_idempotent() {
    let d = temp_dir("sqlite-sanitize");
    let p = d.join("master.db");
    let n = now();
    write_sqlite(&p, n, 1);
    let src = p.to_str().unwrap();
    let before = std::fs::read(&p).unwrap();
    let o = stdout(&run(&["cdr", "sanitize", src, "--keep-days", "30"]));
    assert!(
        o.contains(&format!(
            "{TOTAL} records, {OLD} older than 30 days would be"
        )),
        "{o}"
    );
    assert!(o.contains("dry run"), "{o}");
    assert_eq!(
        std::fs::read(&p).unwrap(),
        before,
        "dry run changed the file"
    );
    let o = stdout(&run(&[
        "cdr",
        "sanitize",
        src,
        "--keep-days",
        "30",
        "--apply",
        "--batch",
        "7",
    ]));
    assert!(
        o.contains(&format!("{OLD} older than 30 days folded")),
        "{o}"
    );
    assert_no_canary("sanitize", &o);
    let c = rusqlite::Connection::open(&p).unwrap();
    let left: i64 = c
        .query_row("SELECT count(*) FROM cdr", [], |r| r.get(0))
        .unwrap();
    assert_eq!(left as u64, TOTAL - OLD);
    assert_eq!(sqlite_summary(&c), old_totals(n, 1));
    let days: i64 = c
        .query_row(
            "SELECT count(DISTINCT day) FROM cdr_daily_summary",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(days, 4);
    // The summary holds no identity: only days, fixed dispositions, sums.
    let dump: Vec<String> = c
        .prepare("SELECT day || ',' || disposition FROM cdr_daily_summary")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for l in &dump {
        assert!(l.ends_with(",answered") || l.ends_with(",no_answer"), "{l}");
    }
    // Again: nothing old left, summary unchanged.
    let o = stdout(&run(&["cdr", "sanitize", src, "--apply"]));
    assert!(o.contains(" 0 older than 30 days"), "{o}");
    assert_eq!(sqlite_summary(&c), old_totals(n, 1));
    let j = json(&run(&["cdr", "audit", src, "--format", "json"]));
    assert_eq!(j["records_beyond_retention"], 0);
}

#[test]
fn csv_sanitize_atomic_rewrite() {
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
    let d = temp_dir("csv-sanitize");
    let p = d.join("Master.csv");
    let n = now();
    write_csv(&p, n);
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::chown(&p, Some(12345), Some(23456)).unwrap();
    let original = std::fs::read_to_string(&p).unwrap();
    let src = p.to_str().unwrap();
    let o = stdout(&run(&["cdr", "sanitize", src]));
    assert!(o.contains("dry run"), "{o}");
    assert_eq!(std::fs::read_to_string(&p).unwrap(), original);
    let o = stdout(&run(&["cdr", "sanitize", src, "--apply"]));
    assert!(
        o.contains(&format!("{OLD} older than 30 days folded")),
        "{o}"
    );
    let after = std::fs::read_to_string(&p).unwrap();
    // Exactly the newer lines, byte for byte, in order.
    let cut = n - 30 * 86_400;
    let want: Vec<&str> = original
        .lines()
        .zip(rows(n))
        .filter(|(_, r)| r.t >= cut)
        .map(|(l, _)| l)
        .collect();
    assert_eq!(after.lines().collect::<Vec<_>>(), want);
    let m = std::fs::metadata(&p).unwrap();
    assert_eq!(m.mode() & 0o777, 0o640);
    assert_eq!((m.uid(), m.gid()), (12345, 23456));
    let summary = std::fs::read_to_string(d.join("cdr_daily_summary.csv")).unwrap();
    assert_no_canary("summary", &summary);
    assert!(!summary.contains("# pending"), "{summary}");
    let calls: i64 = summary
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(2).unwrap().parse::<i64>().unwrap())
        .sum();
    assert_eq!(calls as u64, OLD);
    assert!(!d.join("Master.csv.sanitize-new").exists());
    // A second run while one holds the directory lock fails cleanly.
    {
        let dirf = std::fs::File::open(&d).unwrap();
        rustix::fs::flock(&dirf, rustix::fs::FlockOperation::LockExclusive).unwrap();
        let o = run(&["cdr", "sanitize", src, "--apply"]);
        assert_clean_error(&o, "another cdr sanitize is running");
    }
    // Idempotent.
    let o = stdout(&run(&["cdr", "sanitize", src, "--apply"]));
    assert!(o.contains(" 0 older"), "{o}");
    assert_eq!(std::fs::read_to_string(&p).unwrap(), after);
    assert_eq!(
        std::fs::read_to_string(d.join("cdr_daily_summary.csv")).unwrap(),
        summary
    );
}

fn sigkill_after(mut cmd: Command, after: Duration) -> bool {
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(after);
    let finished = child.try_wait().unwrap().is_some();
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();
    !finished
}

/// SIGKILL mid-run on a large database: after every kill no newer row is
/// lost and the summary matches the deleted rows exactly; a final run
/// completes the job.
#[test]
fn sqlite_sanitize_survives_sigkill() {
    let d = temp_dir("sqlite-kill");
    let p = d.join("big.db");
    let n = now();
    let copies = 2500; // 100,000 rows, half of them old
    write_sqlite(&p, n, copies);
    let src = p.to_str().unwrap().to_owned();
    let newer = (TOTAL - OLD) as i64 * copies as i64;
    let (calls, answered, bill) = old_totals(n, copies as i64);
    let mut killed = 0;
    for ms in [150u64, 400, 700, 1000] {
        let mut cmd = sipsentinel();
        cmd.args(["cdr", "sanitize", &src, "--apply", "--batch", "500"]);
        if sigkill_after(cmd, Duration::from_millis(ms)) {
            killed += 1;
        }
        let c = rusqlite::Connection::open(&p).unwrap();
        let cut = fmt_time(n - 30 * 86_400);
        let kept: i64 = c
            .query_row(
                "SELECT count(*) FROM cdr WHERE calldate >= ?1",
                [&cut],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(kept, newer, "a newer row was lost (kill after {ms} ms)");
        let (old_left, old_answered, old_bill): (i64, i64, i64) = c
            .query_row(
                "SELECT count(*), coalesce(sum(disposition = 'ANSWERED'),0), coalesce(sum(billsec),0) FROM cdr WHERE calldate < ?1",
                [&cut],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        let s = sqlite_summary(&c);
        assert_eq!(
            (s.0 + old_left, s.1 + old_answered, s.2 + old_bill),
            (calls, answered, bill),
            "summary does not match the deleted rows (kill after {ms} ms)"
        );
    }
    assert!(
        killed > 0,
        "no run was killed mid-way: make the database larger"
    );
    let o = stdout(&run(&["cdr", "sanitize", &src, "--apply"]));
    assert!(o.contains("folded"), "{o}");
    let c = rusqlite::Connection::open(&p).unwrap();
    let left: i64 = c
        .query_row("SELECT count(*) FROM cdr", [], |r| r.get(0))
        .unwrap();
    assert_eq!(left, newer);
    assert_eq!(sqlite_summary(&c), (calls, answered, bill));
}

/// SIGKILL during CSV rewrites of a large file: the file always holds every
/// newer line, and summary + remaining old lines always add up.
#[test]
fn csv_sanitize_survives_sigkill() {
    let d = temp_dir("csv-kill");
    let p = d.join("Master.csv");
    let n = now();
    write_csv(&p, n);
    let one = std::fs::read_to_string(&p).unwrap();
    let copies = 2000; // 80,000 lines
    std::fs::write(&p, one.repeat(copies)).unwrap();
    let cut = n - 30 * 86_400;
    let newer_lines: Vec<&str> = one
        .lines()
        .zip(rows(n))
        .filter(|(_, r)| r.t >= cut)
        .map(|(l, _)| l)
        .collect();
    let src = p.to_str().unwrap().to_owned();
    let check = |ms: u64| {
        let text = std::fs::read_to_string(&p).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for nl in &newer_lines {
            assert_eq!(
                lines.iter().filter(|l| *l == nl).count(),
                copies,
                "a newer row was lost (kill after {ms} ms)"
            );
        }
        let old_left = (lines.len() - newer_lines.len() * copies) as u64;
        let calls: u64 = std::fs::read_to_string(d.join("cdr_daily_summary.csv"))
            .map(|s| {
                s.lines()
                    .filter(|l| !l.starts_with('#') && !l.starts_with("day,"))
                    .map(|l| l.split(',').nth(2).unwrap().parse::<u64>().unwrap())
                    .sum()
            })
            .unwrap_or(0);
        // A pending rewrite is settled by the next run; until then the
        // summary may already count the old rows of the new file.
        let pending = d.join("Master.csv.sanitize-new").exists();
        eprintln!(
            "kill after {ms} ms: {old_left} old lines left, {calls} summarised, temp file left: {pending}"
        );
        if !pending {
            assert_eq!(calls + old_left, OLD * copies as u64, "kill after {ms} ms");
        }
    };
    let original = one.repeat(copies);
    let reset = || {
        std::fs::write(&p, &original).unwrap();
        let _ = std::fs::remove_file(d.join("cdr_daily_summary.csv"));
        let _ = std::fs::remove_file(d.join("Master.csv.sanitize-new"));
    };
    let complete = |ms: u64| {
        let o = stdout(&run(&["cdr", "sanitize", &src, "--apply"]));
        assert_no_canary("csv sanitize", &o);
        check(ms);
        assert!(!d.join("Master.csv.sanitize-new").exists());
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(
            text.lines().count(),
            newer_lines.len() * copies,
            "after recovery from the kill at {ms} ms"
        );
    };
    // Time one full run, then kill fresh copies at fractions of it, so the
    // kills land while reading, while writing the new file, and around the
    // summary commit and the rename, whatever the machine's speed; after
    // each kill the invariants hold and the next run completes the job.
    reset();
    let t0 = std::time::Instant::now();
    complete(0);
    let full = t0.elapsed();
    for f in [0.5, 0.8, 0.9, 0.95, 0.98] {
        reset();
        let after = full.mul_f64(f);
        let ms = after.as_millis() as u64;
        let mut cmd = sipsentinel();
        cmd.args(["cdr", "sanitize", &src, "--apply"]);
        sigkill_after(cmd, after);
        check(ms);
        complete(ms);
    }
}

#[test]
fn bad_input_is_one_line_and_changes_nothing() {
    let d = temp_dir("bad");
    // Not a database.
    let junk = d.join("junk.db");
    std::fs::write(
        &junk,
        b"this is not a database, just some text\n".repeat(100),
    )
    .unwrap();
    let o = run(&["cdr", "audit", junk.to_str().unwrap()]);
    assert_clean_error(&o, "not a database");
    let o = run(&["cdr", "sanitize", junk.to_str().unwrap(), "--apply"]);
    assert_clean_error(&o, "not a database");
    // Missing file.
    let o = run(&["cdr", "audit", d.join("none.db").to_str().unwrap()]);
    assert_clean_error(&o, "none.db");
    // Missing table.
    let empty = d.join("empty.db");
    rusqlite::Connection::open(&empty)
        .unwrap()
        .execute_batch("CREATE TABLE other (x INTEGER)")
        .unwrap();
    let before = std::fs::read(&empty).unwrap();
    let o = run(&["cdr", "sanitize", empty.to_str().unwrap(), "--apply"]);
    assert_clean_error(&o, "table cdr not found");
    assert_eq!(std::fs::read(&empty).unwrap(), before);
    // Unknown columns: a mapping naming a column the table lacks, and a
    // table with no time column.
    let db = d.join("cdr.db");
    write_sqlite(&db, now(), 1);
    let before = std::fs::read(&db).unwrap();
    let cfg = d.join("c.toml");
    std::fs::write(&cfg, "[cdr]\n[cdr.columns]\ncaller = \"no_such_col\"\n").unwrap();
    let o = run(&[
        "cdr",
        "sanitize",
        db.to_str().unwrap(),
        "-c",
        cfg.to_str().unwrap(),
        "--apply",
    ]);
    assert_clean_error(&o, "column no_such_col (caller) is not in table cdr");
    std::fs::write(&cfg, "[cdr]\n[cdr.columns]\nwho = \"src\"\n").unwrap();
    let o = run(&[
        "cdr",
        "audit",
        db.to_str().unwrap(),
        "-c",
        cfg.to_str().unwrap(),
    ]);
    assert_clean_error(&o, "cdr.columns");
    let o = run(&[
        "cdr",
        "audit",
        db.to_str().unwrap(),
        "--schema",
        "kamailio-acc",
    ]);
    assert_clean_error(&o, "table acc not found");
    let o = run(&[
        "cdr",
        "audit",
        db.to_str().unwrap(),
        "--table",
        "cdr",
        "--schema",
        "kamailio-acc",
    ]);
    assert_clean_error(&o, "no time column");
    assert_eq!(std::fs::read(&db).unwrap(), before);
    // A locked database: another connection holds the write lock.
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch("BEGIN EXCLUSIVE").unwrap();
        let o = run(&[
            "cdr",
            "sanitize",
            db.to_str().unwrap(),
            "--apply",
            "--busy-timeout-ms",
            "200",
        ]);
        assert_clean_error(&o, "database is locked");
        c.execute_batch("ROLLBACK").unwrap();
    }
    assert_eq!(std::fs::read(&db).unwrap(), before);
    // A lock held for a moment is waited for (busy timeout), not an error.
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch("BEGIN EXCLUSIVE").unwrap();
        let child = sipsentinel()
            .args(["cdr", "audit", db.to_str().unwrap(), "--format", "json"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(400));
        c.execute_batch("ROLLBACK").unwrap();
        let o = child.wait_with_output().unwrap();
        assert_eq!(json(&o)["records"], TOTAL);
    }
    // The sensor refuses a bad [cdr] section at start, in one line.
    let pcap = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sv_sip-tcp.pcap");
    for (toml, needle) in [
        ("[cdr]\nsource = \"x.db\"\nkeep_days = 0\n", "keep_days"),
        ("[cdr]\nsource = \"x.db\"\nkeepdays = 3\n", "keepdays"),
        (
            "[cdr]\nsource = \"x.db\"\ncheck_every_secs = 1\n",
            "check_every_secs",
        ),
    ] {
        std::fs::write(&cfg, toml).unwrap();
        let o = sipsentinel()
            .args(["run", "--exit-when-done", "-l", "127.0.0.1:0", "--read"])
            .arg(&pcap)
            .arg("-c")
            .arg(&cfg)
            .output()
            .unwrap();
        assert_clean_error(&o, needle);
    }
    // A read-only file (for an unprivileged user: root writes anyway).
    if common::is_root() && Path::new("/usr/bin/setpriv").exists() {
        let o = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_sipsentinel"))
            .args(["cdr", "sanitize", db.to_str().unwrap(), "--apply"])
            .output()
            .unwrap();
        assert_clean_error(&o, "readonly");
        let csv = d.join("Master.csv");
        write_csv(&csv, now());
        let cb = std::fs::read(&csv).unwrap();
        let o = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_sipsentinel"))
            .args(["cdr", "sanitize", csv.to_str().unwrap(), "--apply"])
            .output()
            .unwrap();
        assert_clean_error(&o, "ermission denied");
        assert_eq!(std::fs::read(&csv).unwrap(), cb);
        assert!(!d.join("Master.csv.sanitize-new").exists());
    } else {
        eprintln!("note: read-only case skipped (needs root and setpriv)");
    }
    assert_eq!(std::fs::read(&db).unwrap(), before);
    // Bad schema name and bad keep-days.
    let o = run(&[
        "cdr",
        "audit",
        db.to_str().unwrap(),
        "--schema",
        "freeswitch",
    ]);
    assert_clean_error(&o, "schema");
    let o = run(&["cdr", "audit", db.to_str().unwrap(), "--keep-days", "0"]);
    assert_clean_error(&o, "keep_days");
    let o = run(&["cdr", "audit"]);
    assert_clean_error(&o, "no CDR source");
}

/// A PostgreSQL server of our own: initdb in a temp dir as the `postgres`
/// user (initdb refuses root), password auth (scram), TCP on a free
/// loopback port, unix socket in the temp dir; stopped on drop.
struct Pg {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
}

const PG_PASSWORD: &str = "pw-Tr0mbone-7";

impl Pg {
    fn start() -> Option<Pg> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .find(|b| b.join("initdb").exists())?;
        let root = common::is_root();
        let dir = temp_dir("pg");
        std::fs::write(dir.join("pw"), PG_PASSWORD).unwrap();
        let as_pg = |prog: &str| {
            let mut c = if root {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(bin.join(prog));
                c
            } else {
                Command::new(bin.join(prog))
            };
            c.stdout(std::process::Stdio::null());
            c
        };
        if root {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir)
                .status()
                .unwrap()
                .success();
            assert!(ok, "chown for the postgres user");
        }
        let st = as_pg("initdb")
            .arg("-D")
            .arg(dir.join("data"))
            .args([
                "-U",
                "postgres",
                "--auth=scram-sha-256",
                "--no-sync",
                "-E",
                "UTF8",
            ])
            .arg(format!("--pwfile={}", dir.join("pw").display()))
            .status()
            .unwrap();
        assert!(st.success(), "initdb failed");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let st = as_pg("pg_ctl")
            .arg("-D")
            .arg(dir.join("data"))
            .arg("-l")
            .arg(dir.join("log"))
            .args(["-w", "-t", "60", "-o"])
            .arg(format!(
                "-c listen_addresses=127.0.0.1 -p {port} -k {} -c fsync=off",
                dir.display()
            ))
            .arg("start")
            .status()
            .unwrap();
        assert!(
            st.success(),
            "pg_ctl start failed: see {}/log",
            dir.display()
        );
        Some(Pg { dir, bin, port })
    }

    fn url(&self, password: &str) -> String {
        format!(
            "postgres://postgres:{password}@127.0.0.1:{}/postgres",
            self.port
        )
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        let mut c = if common::is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"])
                .arg(self.bin.join("pg_ctl"));
            c
        } else {
            Command::new(self.bin.join("pg_ctl"))
        };
        let _ = c
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "fast", "-w", "stop"])
            .stdout(std::process::Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Asterisk cdr_pgsql's table.
const PG_CDR: &str = "CREATE TABLE cdr (
  calldate timestamp with time zone NOT NULL default now(),
  clid varchar(80) NOT NULL default '',
  src varchar(80) NOT NULL default '',
  dst varchar(80) NOT NULL default '',
  dcontext varchar(80) NOT NULL default '',
  channel varchar(80) NOT NULL default '',
  dstchannel varchar(80) NOT NULL default '',
  lastapp varchar(80) NOT NULL default '',
  lastdata varchar(80) NOT NULL default '',
  duration bigint NOT NULL default '0',
  billsec bigint NOT NULL default '0',
  disposition varchar(45) NOT NULL default '',
  amaflags bigint NOT NULL default '0',
  accountcode varchar(20) NOT NULL default '',
  uniqueid varchar(150) NOT NULL default '',
  userfield varchar(255) NOT NULL default '',
  peeraccount varchar(20) NOT NULL default '',
  linkedid varchar(150) NOT NULL default '',
  sequence int NOT NULL default '0'
)";

#[test]
fn postgres_cdr_pgsql() {
    let Some(pg) = Pg::start() else {
        eprintln!("note: PostgreSQL not installed (/usr/lib/postgresql/*/bin): test skipped");
        return;
    };
    let url = pg.url(PG_PASSWORD);
    let n = now();
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    c.batch_execute(PG_CDR).unwrap();
    for r in rows(n) {
        c.execute(
            "INSERT INTO cdr (calldate, clid, src, dst, dcontext, channel, dstchannel, lastapp, lastdata, duration, billsec, disposition, amaflags, accountcode, uniqueid, userfield, linkedid) \
             VALUES (to_timestamp($1::float8), $2, $3, $4, 'from-internal', $5, $6, 'Dial', $7, $8, $9, $10, 3, $11, $12, $13, $12)",
            &[&(r.t as f64), &clid(&r), &r.src, &r.dst, &CHANNEL, &DSTCHANNEL, &LASTDATA, &(r.billsec + 5), &r.billsec, &r.disposition, &ACCOUNT, &UNIQUEID, &USERFIELD],
        )
        .unwrap();
    }
    check_audit(&url, &[]);
    let j = json(&run(&["cdr", "audit", &url, "--format", "json"]));
    assert_no_canary("pg json", &j.to_string());
    assert!(!j.to_string().contains(PG_PASSWORD));

    let o = stdout(&run(&["cdr", "sanitize", &url]));
    assert!(
        o.contains(&format!(
            "{TOTAL} records, {OLD} older than 30 days would be"
        )),
        "{o}"
    );
    let count = |c: &mut postgres::Client| -> i64 {
        c.query_one("SELECT count(*) FROM cdr", &[]).unwrap().get(0)
    };
    assert_eq!(count(&mut c) as u64, TOTAL);
    let o = stdout(&run(&["cdr", "sanitize", &url, "--apply", "--batch", "7"]));
    assert!(
        o.contains(&format!("{OLD} older than 30 days folded")),
        "{o}"
    );
    assert_no_canary("pg sanitize", &o);
    assert!(!o.contains(PG_PASSWORD));
    assert_eq!(count(&mut c) as u64, TOTAL - OLD);
    let sums = |c: &mut postgres::Client| -> (i64, i64, i64) {
        let r = c
            .query_one(
                "SELECT sum(calls)::bigint, sum(answered)::bigint, sum(billsec_total)::bigint FROM cdr_daily_summary",
                &[],
            )
            .unwrap();
        (r.get(0), r.get(1), r.get(2))
    };
    assert_eq!(sums(&mut c), old_totals(n, 1));
    let o = stdout(&run(&["cdr", "sanitize", &url, "--apply"]));
    assert!(o.contains(" 0 older"), "{o}");
    assert_eq!(sums(&mut c), old_totals(n, 1));
    let newest_age: f64 = c
        .query_one(
            "SELECT extract(epoch FROM now() - max(calldate))::float8 FROM cdr",
            &[],
        )
        .unwrap()
        .get(0);
    assert!((newest_age - 3600.0).abs() < 120.0, "{newest_age}");

    // Wrong password, missing table: one line, nothing changed, no secret.
    let o = run(&["cdr", "audit", &pg.url("wrong-password")]);
    assert_clean_error(&o, "password authentication failed");
    assert!(!String::from_utf8_lossy(&o.stderr).contains("wrong-password"));
    let o = run(&["cdr", "sanitize", &url, "--table", "nosuch", "--apply"]);
    assert_clean_error(&o, "table nosuch not found");
    assert!(!String::from_utf8_lossy(&o.stderr).contains(PG_PASSWORD));
    assert_eq!(count(&mut c) as u64, TOTAL - OLD);
}

/// The sensor with `[cdr]`: the store is checked on a background thread and
/// the gauges appear on /metrics with the audit's numbers; no planted value
/// appears anywhere in the exposition or the log.
#[test]
fn sensor_exports_cdr_gauges() {
    let d = temp_dir("sensor");
    let csv = d.join("Master.csv");
    write_csv(&csv, now());
    let cfg = d.join("s.toml");
    std::fs::write(
        &cfg,
        format!(
            "[cdr]\nsource = {:?}\nkeep_days = 30\ncheck_every_secs = 60\n",
            csv.to_str().unwrap()
        ),
    )
    .unwrap();
    let port = free_port();
    let pcap = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sv_sip-tcp.pcap");
    let mut child = sipsentinel()
        .args(["run", "--read"])
        .arg(&pcap)
        .args(["-l", &format!("127.0.0.1:{port}"), "-c"])
        .arg(&cfg)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(d.join("log")).unwrap())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut text = String::new();
    while std::time::Instant::now() < deadline {
        // The body of /metrics (de-chunked), for the strict text parser.
        if let Ok((_, t)) = http_get(([127, 0, 0, 1], port).into(), "/metrics") {
            if t.contains("sipsentinel_cdr_records ") {
                text = t;
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(!text.is_empty(), "no CDR gauges on /metrics within 30 s");
    assert_eq!(unlabelled(&text, "sipsentinel_cdr_records"), TOTAL as f64);
    assert_eq!(
        unlabelled(&text, "sipsentinel_cdr_records_beyond_retention"),
        OLD as f64
    );
    assert_eq!(
        unlabelled(&text, "sipsentinel_cdr_retention_seconds"),
        30.0 * 86_400.0
    );
    assert_eq!(unlabelled(&text, "sipsentinel_cdr_last_check_success"), 1.0);
    assert!(unlabelled(&text, "sipsentinel_cdr_oldest_record_age_seconds") > 400.0 * 86_400.0);
    assert!(sum_text(&text, "sipsentinel_cdr_columns", &[("class", "identity")]) >= 4.0);
    assert_no_canary("/metrics", &text);
    assert_no_canary(
        "sensor log",
        &std::fs::read_to_string(d.join("log")).unwrap(),
    );
}

/// The timer and service pair passes `systemd-analyze verify` (the binary
/// path replaced by /bin/true, which verify requires to exist).
#[test]
fn sanitize_timer_and_service_verify() {
    if std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("note: systemd-analyze missing (package systemd): skipped");
        return;
    }
    let d = temp_dir("systemd");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd");
    let svc = std::fs::read_to_string(root.join("sipsentinel-cdr-sanitize.service")).unwrap();
    assert!(svc.contains("cdr sanitize --apply"));
    std::fs::write(
        d.join("sipsentinel-cdr-sanitize.service"),
        svc.replace(
            "ExecStart=/usr/local/bin/sipsentinel ",
            "ExecStart=/bin/true ",
        )
        .replace("User=asterisk\nGroup=asterisk\n", ""),
    )
    .unwrap();
    std::fs::copy(
        root.join("sipsentinel-cdr-sanitize.timer"),
        d.join("sipsentinel-cdr-sanitize.timer"),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(d.join("sipsentinel-cdr-sanitize.timer"))
        .arg(d.join("sipsentinel-cdr-sanitize.service"))
        .current_dir(&d)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let ours: Vec<&str> = err.lines().filter(|l| l.contains("sipsentinel")).collect();
    assert!(
        out.status.success() && ours.is_empty(),
        "systemd-analyze verify:\n{err}"
    );
}

/// `pbx-logging` on Asterisk's shipped-style logger.conf and a Kamailio
/// config: which channels keep SIP messages, traces, DTMF; a minimal
/// configuration passes; an unreadable file is one error line.
#[test]
fn pbx_logging_reports_channels() {
    let d = temp_dir("pbxlog");
    let logger = d.join("logger.conf");
    std::fs::write(
        &logger,
        "[general]\n[logfiles]\nconsole => notice,warning,error\nmessages => notice,warning,error\nfull => notice,warning,error,debug,verbose,dtmf\n",
    )
    .unwrap();
    let kam = d.join("kamailio.cfg");
    std::fs::write(&kam, "#!KAMAILIO\ndebug=3\nloadmodule \"siptrace.so\"\n").unwrap();
    let out = stdout(&run(&[
        "pbx-logging",
        logger.to_str().unwrap(),
        kam.to_str().unwrap(),
    ]));
    assert!(out.contains("file full [notice,warning,error,debug,verbose,dtmf]: keeps SIP messages, call traces, DTMF"), "{out}");
    assert!(out.contains("file messages"), "{out}");
    assert!(out.contains("siptrace"), "{out}");
    assert!(out.contains("verdict: NOT MINIMAL"), "{out}");
    let minimal = d.join("min.conf");
    std::fs::write(
        &minimal,
        "[general]\nqueue_log=no\n[logfiles]\nconsole => notice,warning,error\n",
    )
    .unwrap();
    let out = stdout(&run(&["pbx-logging", minimal.to_str().unwrap()]));
    assert!(out.contains("verdict: OK"), "{out}");
    let o = run(&["pbx-logging", d.join("missing.conf").to_str().unwrap()]);
    assert_clean_error(&o, "missing.conf");
}
