//! The HTML page (`audit --format html`, the live `/`), issue #16 items 2-3.
//!
//! * Injection: a capture whose SIP headers carry `<script>`, event-handler
//!   attributes and quote-breaking strings is audited to HTML; the page must
//!   be inert: only the page's own tags and attributes, no `<script>`, no
//!   `on*=`, every hostile `<`, `>` and `"` escaped (the escaped text is
//!   there), and the Content-Security-Policy forbids scripts anyway.
//! * Browser: headless Chromium (Debian's `chromium`, installed by
//!   `tests/run.sh`) loads the audit page of the recorded baresip calls and
//!   the live `/` of `sipsentinel run --read`, saves screenshots under
//!   `target/screenshots/`, and the rendered DOM (`--dump-dom`) must have
//!   the verdict, the severity sections and the SVG charts; Chromium's log
//!   (`--enable-logging=stderr`) must show no console message at all (the
//!   page has no script; a CSP violation or an error would be one).
//!
//! Chromium runs with `--no-sandbox` when root (its sandbox refuses root).

mod common;

use common::sensor::{http_get, Sensor};
use common::{bin, is_root, repo_root, sipsentinel};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn fixture(name: &str) -> PathBuf {
    repo_root().join("tests/fixtures/recorded").join(name)
}

/// `target/screenshots/` (beside the binary's profile directory).
fn screenshot_dir() -> PathBuf {
    let target = Path::new(bin())
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf();
    let d = target.join("screenshots");
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn audit_html(files: &[PathBuf]) -> String {
    let out = sipsentinel()
        .args(["audit", "--format", "html"])
        .args(files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "audit --format html: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("the page is UTF-8")
}

// ------------------------------------------------------------- injection

/// Values an attacker on the wire chooses, planted in SIP headers.
const HOSTILE: [&str; 5] = [
    "<script>alert(1)</script>",
    "\"><img src=x onerror=alert(2)>",
    "'><svg onload=alert(3)>",
    "</td></tr></table><script src=//evil.example/x.js></script>",
    "\" style=\"background:url(javascript:alert(4))",
];

fn hostile_capture(path: &Path) {
    let mut w = common::PcapWriter::create(path, 1);
    let (a, b) = ([192, 0, 2, 10], [198, 51, 100, 20]);
    let sdp = "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
               m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    let msg = format!(
        "INVITE sip:bob@example.invalid SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1\r\n\
         From: \"{h1}\" <sip:alice@example.invalid>;tag=1\r\n\
         To: <sip:bob@example.invalid>\r\n\
         Call-ID: inject-1@example.invalid\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:alice@192.0.2.10:5060>\r\n\
         User-Agent: Evil/1.0 {h0}\r\n\
         P-Asserted-Identity: \"{h1}\" <sip:+15550100001@example.invalid>\r\n\
         X-Note: {h2}\r\n\
         X-Other: {h3}\r\n\
         X-Style: {h4}\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {len}\r\n\r\n{sdp}",
        h0 = HOSTILE[0],
        h1 = HOSTILE[1],
        h2 = HOSTILE[2],
        h3 = HOSTILE[3],
        h4 = HOSTILE[4],
        len = sdp.len()
    );
    w.write(
        Duration::from_secs(1_700_000_000),
        &common::frames::udp4(a, b, 5060, 5060, msg.as_bytes()),
    );
    let ok = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1\r\n\
              From: <sip:alice@example.invalid>;tag=1\r\nTo: <sip:bob@example.invalid>;tag=2\r\n\
              Call-ID: inject-1@example.invalid\r\nCSeq: 1 INVITE\r\n\
              Server: <script>alert(5)</script>\r\nContent-Length: 0\r\n\r\n";
    w.write(
        Duration::from_millis(1_700_000_000_100),
        &common::frames::udp4(b, a, 5060, 5060, ok.as_bytes()),
    );
    w.finish();
}

const TAGS: &[&str] = &[
    "!DOCTYPE", "html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3", "p",
    "code", "nav", "a", "section", "ul", "li", "strong", "svg", "text", "g", "rect", "table",
    "thead", "tbody", "tr", "th", "td", "span", "footer",
];
const ATTRS: &[&str] = &[
    "lang",
    "charset",
    "name",
    "content",
    "http-equiv",
    "href",
    "id",
    "class",
    "role",
    "xmlns",
    "width",
    "height",
    "viewBox",
    "aria-label",
    "x",
    "y",
    "text-anchor",
    "fill",
    "style",
    "html",
];

/// Every tag of `page` and its attribute names, in order (a small scanner:
/// the page is the sensor's own output, well-formed unless an injection
/// broke it, which is what this looks for). Quoted values are skipped, so
/// what an escaped value holds never counts as markup.
fn tags(page: &str) -> Vec<(String, Vec<String>)> {
    let b = page.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'<' {
            i += 1;
            continue;
        }
        i += 1;
        if b.get(i) == Some(&b'/') {
            i += 1;
        }
        let start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'>' && b[i] != b'/' {
            i += 1;
        }
        let name = page[start..i].to_string();
        let mut attrs = Vec::new();
        loop {
            while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'/') {
                i += 1;
            }
            if i >= b.len() || b[i] == b'>' {
                break;
            }
            let s = i;
            while i < b.len() && !b"= >\t\n".contains(&b[i]) {
                i += 1;
            }
            attrs.push(page[s..i].to_string());
            if b.get(i) == Some(&b'=') {
                i += 1;
                if b.get(i) == Some(&b'"') {
                    i += 1;
                    while i < b.len() && b[i] != b'"' {
                        i += 1;
                    }
                    i += 1;
                } else {
                    while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'>' {
                        i += 1;
                    }
                }
            }
        }
        i += 1;
        // A style element's text is CSS, not markup: skip to its end tag.
        if name == "style" {
            if let Some(end) = page[i..].find("</style>") {
                i += end;
            }
        }
        out.push((name, attrs));
    }
    out
}

fn assert_inert(what: &str, page: &str) {
    for (name, attrs) in tags(page) {
        assert!(
            TAGS.contains(&name.as_str()),
            "{what}: unexpected tag <{name}> (injection?)\n{page}"
        );
        for a in attrs {
            assert!(
                ATTRS.contains(&a.as_str()) || a.starts_with("data-"),
                "{what}: unexpected attribute {a} on <{name}> (injection?)\n{page}"
            );
        }
    }
    let lower = page.to_ascii_lowercase();
    for bad in [
        "<script",
        "<img",
        "<svg onload",
        "javascript:",
        "onerror=",
        "onload=",
    ] {
        assert!(!lower.contains(bad), "{what}: {bad} in the page\n{page}");
    }
    assert!(
        page.contains("http-equiv=\"Content-Security-Policy\"")
            && page.contains("default-src 'none'"),
        "{what}: no CSP"
    );
}

#[test]
fn hostile_headers_leave_the_page_inert() {
    let dir = common::temp_dir("html-inject");
    let pcap = dir.join("inject.pcap");
    hostile_capture(&pcap);
    let page = audit_html(std::slice::from_ref(&pcap));
    std::fs::write(dir.join("inject.html"), &page).unwrap();
    assert_inert("audit --format html", &page);
    // The hostile punctuation reached the page, as text.
    let evidence: Vec<&str> = page
        .split("<td class=\"evidence\">")
        .skip(1)
        .map(|s| s.split("</td>").next().unwrap_or(""))
        .collect();
    assert!(
        evidence
            .iter()
            .any(|e| e.contains("&lt;") && e.contains("&gt;")),
        "no escaped <...> in the evidence: {evidence:#?}"
    );
    assert!(
        evidence.iter().any(|e| e.contains("&quot;")),
        "no escaped quote in the evidence: {evidence:#?}"
    );
    // And no identifier of the capture: pseudonyms only.
    for id in [
        "alice",
        "15550100001",
        "192.0.2.10",
        "198.51.100.20",
        "example.invalid",
    ] {
        assert!(!page.contains(id), "{id} in the page");
    }
    // The file name is the operator's, not traffic: escaped as well.
    let odd = dir.join("a\"b<i>.pcap");
    std::fs::copy(&pcap, &odd).unwrap();
    let page = audit_html(&[odd]);
    assert_inert("audit of a file with markup in its name", &page);

    // The scanner finds what it must.
    let bad = "<p class=\"x\" onclick=\"y\">t</p>";
    assert_eq!(tags(bad)[0].1, vec!["class", "onclick"]);
    assert_eq!(tags("<style>a<b{}</style><p>").len(), 3);
}

// --------------------------------------------------------------- browser

fn chromium(args: &[&str], url: &str) -> (String, String) {
    let mut cmd = Command::new("chromium");
    cmd.args([
        "--headless",
        "--disable-gpu",
        "--no-first-run",
        "--hide-scrollbars",
        "--enable-logging=stderr",
        "--v=0",
    ]);
    if is_root() {
        cmd.arg("--no-sandbox");
    }
    // Chromium's own profile, not the user's.
    let profile = common::temp_dir("chromium");
    cmd.arg(format!("--user-data-dir={}", profile.display()));
    cmd.args(args).arg(url);
    let out = common::run_bounded(&mut cmd, Duration::from_secs(60));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "chromium {args:?} {url}: {}\n{stderr}",
        out.status
    );
    (stdout, stderr)
}

fn assert_no_console_messages(what: &str, log: &str) {
    let console: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Uncaught") || l.contains("Refused to"))
        .collect();
    assert!(console.is_empty(), "{what}: console messages: {console:#?}");
}

/// Screenshot and DOM of `url`; the DOM must carry the page's parts.
fn render(what: &str, url: &str, shot: &Path) -> String {
    let _ = std::fs::remove_file(shot);
    let (_, log) = chromium(
        &[
            "--window-size=1200,2400",
            &format!("--screenshot={}", shot.display()),
        ],
        url,
    );
    assert_no_console_messages(&format!("{what} (screenshot)"), &log);
    let png = std::fs::read(shot).unwrap_or_default();
    assert!(
        png.len() > 10_000 && png.starts_with(b"\x89PNG"),
        "{what}: no screenshot at {}",
        shot.display()
    );
    let (dom, log) = chromium(&["--dump-dom"], url);
    assert_no_console_messages(&format!("{what} (dom)"), &log);
    assert!(dom.contains("id=\"verdict\""), "{what}: no verdict\n{dom}");
    assert!(
        dom.contains("An observer on this path can listen to the audio of calls"),
        "{what}: verdict text\n{dom}"
    );
    for sev in ["critical", "high", "medium", "low"] {
        assert!(
            dom.contains(&format!("id=\"severity-{sev}\"")),
            "{what}: no {sev} section\n{dom}"
        );
    }
    for chart in ["chart-protection", "chart-severity"] {
        assert!(
            dom.contains(&format!("<svg id=\"{chart}\"")),
            "{what}: no {chart}\n{dom}"
        );
    }
    assert!(
        dom.matches("<rect class=\"bar\"").count() >= 11,
        "{what}: chart bars\n{dom}"
    );
    assert!(
        dom.contains("data-label=\"cleartext\" data-value=\"2\"")
            && dom.contains("data-label=\"srtp_sdes\" data-value=\"2\""),
        "{what}: protection chart values\n{dom}"
    );
    assert!(!dom.contains("<script"), "{what}: a script element");
    dom
}

#[test]
fn chromium_renders_the_audit_page_and_the_live_page() {
    common::require_tool("chromium");
    let shots = screenshot_dir();
    let files = [fixture("plain_udp.pcap"), fixture("sdes_udp.pcap")];

    // The audit page, from a file.
    let dir = common::temp_dir("html-browser");
    let page = dir.join("audit.html");
    std::fs::write(&page, audit_html(&files)).unwrap();
    std::fs::copy(&page, shots.join("audit.html")).unwrap();
    let url = format!("file://{}", page.display());
    let dom = render("audit page", &url, &shots.join("audit.png"));
    assert!(dom.contains("Audit of 2 capture file(s)"));

    // The live page of a replay (kept serving after the file ends).
    let args = vec![
        "run".to_string(),
        "--read".to_string(),
        files[0].display().to_string(),
    ];
    let sensor = Sensor::start_with(&args);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (code, body) = http_get(sensor.addr, "/").unwrap_or_default();
        if code == 200 && body.contains("id=\"severity-critical\"") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "live / never showed findings: {body}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let url = format!("http://{}/", sensor.addr);
    let shot = shots.join("live.png");
    let _ = std::fs::remove_file(&shot);
    let (_, log) = chromium(
        &[
            "--window-size=1200,2400",
            &format!("--screenshot={}", shot.display()),
        ],
        &url,
    );
    assert_no_console_messages("live page (screenshot)", &log);
    assert!(std::fs::metadata(&shot)
        .map(|m| m.len() > 10_000)
        .unwrap_or(false));
    let (dom, log) = chromium(&["--dump-dom"], &url);
    assert_no_console_messages("live page (dom)", &log);
    for want in [
        "id=\"verdict\"",
        "An observer on this path can listen to the audio of calls",
        "id=\"severity-critical\"",
        "id=\"severity-high\"",
        "<svg id=\"chart-protection\"",
        "<svg id=\"chart-severity\"",
        "data-label=\"cleartext\" data-value=\"2\"",
        "href=\"/metrics\"",
        "href=\"/api/exposures\"",
        "href=\"/healthz\"",
    ] {
        assert!(dom.contains(want), "live page: no {want}\n{dom}");
    }
    std::fs::write(shots.join("live.html"), &dom).unwrap();
    drop(sensor);
}
