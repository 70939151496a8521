//! `pbx-logging`: what a PBX's logging configuration keeps at rest.
//!
//! Owner: `pbxlog`. Reads Asterisk `logger.conf` (`[logfiles]` channels
//! and their levels, `[general] queue_log`) and Kamailio `kamailio.cfg`
//! (`debug=`/`log_level=`, `siptrace` loaded, `xlog` lines that print
//! identities), and says which channels keep SIP messages, verbose call
//! traces (dialplan lines carry numbers) or DTMF (digits typed: PINs, card
//! numbers), and whether a minimal configuration holds (console
//! notice/warning/error only; no `full` or `messages` file).
//!
//! Invariant: only configuration is read; what is printed is channel names
//! and levels from the configuration, never log content.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum PbxLogError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: neither an Asterisk logger.conf ([logfiles]) nor a kamailio.cfg")]
    Unknown { path: String },
}

/// What one log destination keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keeps {
    pub sip_messages: bool,
    pub call_traces: bool,
    pub dtmf: bool,
    /// Security events: failed authentications with accounts and addresses.
    pub security: bool,
}

impl Keeps {
    fn any(&self) -> bool {
        self.sip_messages || self.call_traces || self.dtmf || self.security
    }
    fn list(&self) -> String {
        let mut v = Vec::new();
        if self.sip_messages {
            v.push("SIP messages");
        }
        if self.call_traces {
            v.push("call traces");
        }
        if self.dtmf {
            v.push("DTMF");
        }
        if self.security {
            v.push("security events");
        }
        if v.is_empty() {
            "nothing beyond notices, warnings and errors".into()
        } else {
            v.join(", ")
        }
    }
}

/// One channel (Asterisk) or the daemon log (Kamailio).
#[derive(Debug, Clone)]
pub struct Channel {
    pub name: String,
    /// `console`, `syslog` or `file`.
    pub kind: &'static str,
    pub levels: Vec<String>,
    pub keeps: Keeps,
}

#[derive(Debug, Clone)]
pub struct FileReport {
    pub path: PathBuf,
    pub product: &'static str,
    pub channels: Vec<Channel>,
    /// Other stores found (Asterisk queue_log, Kamailio siptrace).
    pub notes: Vec<String>,
    /// Why the minimal configuration does not hold; empty when it does.
    pub violations: Vec<String>,
}

/// The levels a minimal configuration may log.
const MINIMAL: [&str; 3] = ["notice", "warning", "error"];

fn strip_comment(line: &str) -> &str {
    // `;` starts a comment in Asterisk configs (`\;` is a literal).
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        if c == ';' && prev != '\\' {
            return &line[..i];
        }
        prev = c;
    }
    line
}

/// Parse Asterisk logger.conf text.
pub fn asterisk(path: &Path, text: &str) -> FileReport {
    let mut section = String::new();
    let mut channels = Vec::new();
    let mut notes = Vec::new();
    let mut queue_log = true; // Asterisk's default
    for raw in text.lines() {
        let line = strip_comment(raw).trim();
        if line.is_empty() {
            continue;
        }
        if line.starts_with('[') && line.ends_with(']') {
            section = line[1..line.len() - 1].trim().to_ascii_lowercase();
            continue;
        }
        let (key, value) = match line.split_once("=>").or_else(|| line.split_once('=')) {
            Some((k, v)) => (k.trim(), v.trim()),
            None => continue,
        };
        match section.as_str() {
            "general" if key.eq_ignore_ascii_case("queue_log") => {
                queue_log = matches!(
                    value.to_ascii_lowercase().as_str(),
                    "yes" | "true" | "on" | "1"
                );
            }
            "logfiles" => {
                // `[json]debug,verbose`: a format prefix, then levels.
                let value = match value.strip_prefix('[') {
                    Some(r) => r.split_once(']').map_or(r, |(_, l)| l),
                    None => value,
                };
                let levels: Vec<String> = value
                    .split(',')
                    .map(|l| l.trim().to_ascii_lowercase())
                    .filter(|l| !l.is_empty())
                    .collect();
                let has = |p: &str| levels.iter().any(|l| l == "*" || l.starts_with(p));
                let keeps = Keeps {
                    // PJSIP/chan_sip message logging and dialplan execution
                    // lines are verbose output; debug adds more of both.
                    sip_messages: has("verbose") || has("debug"),
                    call_traces: has("verbose") || has("debug"),
                    dtmf: has("dtmf"),
                    security: has("security"),
                };
                let kind = if key.eq_ignore_ascii_case("console") {
                    "console"
                } else if key.to_ascii_lowercase().starts_with("syslog") {
                    "syslog"
                } else {
                    "file"
                };
                channels.push(Channel {
                    name: key.to_owned(),
                    kind,
                    levels,
                    keeps,
                });
            }
            _ => {}
        }
    }
    if queue_log {
        notes.push(
            "queue_log is on (the default): queue events with caller IDs are written to the queue_log file".into(),
        );
    }
    let mut violations = Vec::new();
    for c in &channels {
        let base = Path::new(&c.name)
            .file_name()
            .map_or(c.name.clone(), |n| n.to_string_lossy().into_owned());
        if c.kind == "file" && (base == "full" || base == "messages") {
            violations.push(format!("file channel {} exists", c.name));
        } else if c.kind != "console" {
            violations.push(format!(
                "{} channel {} (only the console is minimal)",
                c.kind, c.name
            ));
        }
        let extra: Vec<&str> = c
            .levels
            .iter()
            .map(String::as_str)
            .filter(|l| !MINIMAL.contains(l))
            .collect();
        if !extra.is_empty() {
            violations.push(format!("channel {} logs {}", c.name, extra.join(",")));
        }
    }
    FileReport {
        path: path.to_owned(),
        product: "asterisk",
        channels,
        notes,
        violations,
    }
}

/// Kamailio log levels by name (`L_DBG` … `L_ALERT`).
fn kamailio_level(name: &str) -> Option<i64> {
    Some(match name {
        "L_ALERT" => -5,
        "L_BUG" => -4,
        "L_CRIT" | "L_CRIT2" => -3,
        "L_ERR" => -1,
        "L_WARN" => 0,
        "L_NOTICE" => 1,
        "L_INFO" => 2,
        "L_DBG" => 3,
        _ => return None,
    })
}

/// Pseudo-variables that print an identity or an address.
const IDENTITY_PVS: [&str; 14] = [
    "$fu", "$fU", "$tu", "$tU", "$ru", "$rU", "$ou", "$oU", "$si", "$ci", "$fn", "$tn", "$ai",
    "$au",
];

/// Parse kamailio.cfg text.
pub fn kamailio(path: &Path, text: &str) -> FileReport {
    let mut level: i64 = 2; // Kamailio's default debug level (L_INFO)
    let mut siptrace = false;
    let mut stderr = false;
    let mut facility = "LOG_DAEMON".to_owned();
    let mut xlog_identity = Vec::new();
    for raw in text.lines() {
        let line = raw.trim();
        if line.starts_with('#') && !line.starts_with("#!") || line.starts_with("//") {
            continue;
        }
        let compact: String = line.chars().filter(|c| !c.is_whitespace()).collect();
        for key in ["debug=", "log_level=", "loglevel="] {
            if let Some(v) = compact.strip_prefix(key) {
                let v = v.trim_end_matches(';');
                if let Ok(n) = v.parse::<i64>() {
                    level = n;
                }
            }
        }
        if let Some(v) = compact.strip_prefix("log_stderror=") {
            stderr = v.starts_with("yes") || v.starts_with('1');
        }
        if let Some(v) = compact.strip_prefix("log_facility=") {
            facility = v.trim_end_matches(';').to_owned();
        }
        if compact.starts_with("loadmodule") && compact.contains("siptrace") {
            siptrace = true;
        }
        if let Some(i) = compact.find("xlog(") {
            let args = &compact[i + 5..];
            let lvl = args
                .strip_prefix('"')
                .and_then(|a| a.split_once('"'))
                .and_then(|(l, _)| kamailio_level(l))
                .unwrap_or(-1); // xlog without a level logs at L_ERR
            if IDENTITY_PVS.iter().any(|pv| args.contains(pv)) {
                xlog_identity.push(lvl);
            }
        }
    }
    let traced = xlog_identity.iter().any(|l| *l <= level);
    let keeps = Keeps {
        // At L_DBG Kamailio's core logs message parsing with URIs and
        // headers.
        sip_messages: level >= 3,
        call_traces: level >= 3 || traced,
        dtmf: false,
        security: false,
    };
    let mut levels = vec![format!("debug={level}")];
    if traced {
        levels.push("xlog with identities".into());
    }
    let channels = vec![Channel {
        name: if stderr {
            "stderr".into()
        } else {
            format!("syslog {facility}")
        },
        kind: if stderr { "console" } else { "syslog" },
        levels,
        keeps,
    }];
    let mut notes = Vec::new();
    let mut violations = Vec::new();
    if siptrace {
        notes.push("siptrace is loaded: SIP messages can be stored (database or HEP)".into());
        violations.push("siptrace module loaded".into());
    }
    if level > 1 {
        violations.push(format!("debug={level} (minimal: 1, notice, or lower)"));
    }
    if traced {
        violations.push("xlog lines print identities or addresses at a logged level".into());
    }
    FileReport {
        path: path.to_owned(),
        product: "kamailio",
        channels,
        notes,
        violations,
    }
}

/// Read and parse one file, telling Asterisk from Kamailio by content.
pub fn check(path: &Path) -> Result<FileReport, PbxLogError> {
    let text = std::fs::read_to_string(path).map_err(|source| PbxLogError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let lower = text.to_ascii_lowercase();
    if lower.contains("[logfiles]") {
        Ok(asterisk(path, &text))
    } else if lower.contains("loadmodule")
        || lower.contains("request_route")
        || path.extension().is_some_and(|e| e == "cfg")
    {
        Ok(kamailio(path, &text))
    } else {
        Err(PbxLogError::Unknown {
            path: path.display().to_string(),
        })
    }
}

pub fn text(reports: &[FileReport]) -> String {
    let mut o = String::new();
    for r in reports {
        let _ = writeln!(o, "{} ({}):", r.path.display(), r.product);
        for c in &r.channels {
            let _ = writeln!(
                o,
                "  {} {} [{}]: keeps {}",
                c.kind,
                c.name,
                c.levels.join(","),
                c.keeps.list()
            );
        }
        for n in &r.notes {
            let _ = writeln!(o, "  note: {n}");
        }
        if r.violations.is_empty() {
            let _ = writeln!(o, "  minimal logging: yes");
        } else {
            let _ = writeln!(o, "  minimal logging: no ({})", r.violations.join("; "));
        }
    }
    let keeping: usize = reports
        .iter()
        .flat_map(|r| &r.channels)
        .filter(|c| c.keeps.any())
        .count();
    let ok = reports.iter().all(|r| r.violations.is_empty());
    let _ = writeln!(
        o,
        "verdict: {}",
        if ok {
            "OK: minimal logging holds (console notice/warning/error, no full/messages files)"
                .to_owned()
        } else {
            format!("NOT MINIMAL: {keeping} log destinations keep call data; see above")
        }
    );
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBIAN_DEFAULT: &str = "[general]\n\
        ;dateformat=%F %T\n\
        [logfiles]\n\
        ;debug.log => error,warning,notice,verbose,debug\n\
        console => notice,warning,error\n\
        messages.log => notice,warning,error\n\
        full => [plain]notice,warning,error,debug,verbose,dtmf\n\
        security => security ; failed logins\n";

    #[test]
    fn asterisk_full_keeps_everything() {
        let r = asterisk(Path::new("logger.conf"), DEBIAN_DEFAULT);
        assert_eq!(r.channels.len(), 4);
        let full = r.channels.iter().find(|c| c.name == "full").unwrap();
        assert_eq!(
            full.keeps,
            Keeps {
                sip_messages: true,
                call_traces: true,
                dtmf: true,
                security: false
            }
        );
        assert!(
            r.channels
                .iter()
                .find(|c| c.name == "security")
                .unwrap()
                .keeps
                .security
        );
        assert!(!r.violations.is_empty());
        assert!(r.violations.iter().any(|v| v.contains("full")));
        assert_eq!(r.notes.len(), 1, "queue_log default");
    }

    #[test]
    fn asterisk_minimal_holds() {
        let r = asterisk(
            Path::new("logger.conf"),
            "[general]\nqueue_log = no\n[logfiles]\nconsole => notice,warning,error\n",
        );
        assert!(r.violations.is_empty(), "{:?}", r.violations);
        assert!(r.notes.is_empty());
        assert!(text(&[r]).contains("verdict: OK"));
    }

    #[test]
    fn kamailio_levels_and_xlog() {
        let cfg = "#!KAMAILIO\ndebug=3\nlog_stderror=no\nloadmodule \"siptrace.so\"\nrequest_route {\n  xlog(\"L_INFO\", \"call from $fU to $rU\\n\");\n}\n";
        let r = kamailio(Path::new("kamailio.cfg"), cfg);
        assert!(r.channels[0].keeps.sip_messages);
        assert!(r.channels[0].keeps.call_traces);
        assert_eq!(r.violations.len(), 3, "{:?}", r.violations);
        let quiet = "debug=1\nrequest_route {\n  xlog(\"L_INFO\", \"from $fU\\n\");\n}\n";
        let r = kamailio(Path::new("kamailio.cfg"), quiet);
        assert!(!r.channels[0].keeps.any(), "{:?}", r.channels);
        assert!(r.violations.is_empty(), "{:?}", r.violations);
        let err = "debug=1\nrequest_route {\n  xlog(\"from $si\\n\");\n}\n";
        let r = kamailio(Path::new("kamailio.cfg"), err);
        assert!(r.channels[0].keeps.call_traces, "xlog defaults to L_ERR");
    }
}
