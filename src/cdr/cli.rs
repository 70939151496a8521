//! The `cdr` subcommands and the sensor's background CDR check: settings
//! from flags and `[cdr]`, then audit/sanitize, then text for stdout.
//!
//! Owner: `cdr::cli`. Invariant: flags override `[cdr]` keys; every
//! setting is validated before the store is opened; nothing here prints a
//! source URL (it may hold a password) or a record value.

use super::render;
use super::sanitize::{self, SanitizeOptions};
use super::{AuditOptions, CdrError, Class, Preset, Schema, SourceSpec};
use crate::config::{self, CdrAuditArgs, CdrCommon, CdrSanitizeArgs, FileCdr, ReportFormat};
use crate::findings::{Pseudonymizer, KEY_LEN};
use crate::metrics::CdrMetrics;
use anyhow::Context as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub const DEFAULT_KEEP_DAYS: u32 = 30;
pub const DEFAULT_CHECK_EVERY_SECS: u64 = 3600;

/// Validated CDR settings.
#[derive(Debug, Clone)]
pub struct CdrSettings {
    pub source: SourceSpec,
    pub schema: Schema,
    pub keep_days: u32,
    pub check_every: Duration,
}

fn invalid(key: &'static str, message: impl Into<String>) -> CdrError {
    CdrError::Invalid {
        key,
        message: message.into(),
    }
}

/// Settings from `[cdr]`, with flags (when given) taking precedence.
pub fn settings(file: &FileCdr, flags: Option<&CdrCommon>) -> Result<CdrSettings, CdrError> {
    let source = flags
        .and_then(|f| f.source.clone())
        .or_else(|| file.source.clone())
        .filter(|s| !s.is_empty())
        .ok_or(CdrError::NoSource)?;
    let preset_name = flags
        .and_then(|f| f.schema.clone())
        .or_else(|| file.schema.clone());
    let preset = match preset_name {
        None => Preset::default(),
        Some(p) => Preset::parse(&p)
            .ok_or_else(|| invalid("schema", format!("{p:?}: use asterisk or kamailio-acc")))?,
    };
    let keep_days = flags
        .and_then(|f| f.keep_days)
        .or(file.keep_days)
        .unwrap_or(DEFAULT_KEEP_DAYS);
    if !(1..=36_500).contains(&keep_days) {
        return Err(invalid(
            "keep_days",
            format!("{keep_days} is not between 1 and 36500"),
        ));
    }
    let every = file.check_every_secs.unwrap_or(DEFAULT_CHECK_EVERY_SECS);
    if !(10..=7 * 86_400).contains(&every) {
        return Err(invalid(
            "cdr.check_every_secs",
            format!("{every} is not between 10 and 604800"),
        ));
    }
    for role in file.columns.keys() {
        if !super::Role::ALL.iter().any(|r| r.key() == role) {
            return Err(invalid(
                "cdr.columns",
                format!("{role:?}: use time, caller, callee, disposition or billsec"),
            ));
        }
    }
    let mut classes = std::collections::BTreeMap::new();
    for (col, class) in &file.classes {
        let c = Class::parse(class).ok_or_else(|| {
            invalid(
                "cdr.classes",
                format!("{class:?}: use identity, network, timing, content, linkage or other"),
            )
        })?;
        classes.insert(col.clone(), c);
    }
    let table = flags
        .and_then(|f| f.table.clone())
        .or_else(|| file.table.clone());
    Ok(CdrSettings {
        source: SourceSpec::parse(&source),
        schema: Schema {
            preset,
            table,
            columns: file.columns.clone(),
            classes,
        },
        keep_days,
        check_every: Duration::from_secs(every),
    })
}

/// The findings key (`[findings] key_file`) or a random one, as for the
/// sensor's findings table.
fn pseudonymizer(key_file: Option<&Path>) -> anyhow::Result<Pseudonymizer> {
    let key = match key_file {
        Some(p) => {
            let k =
                std::fs::read(p).with_context(|| format!("pseudonym key file {}", p.display()))?;
            if k.len() < KEY_LEN {
                anyhow::bail!(
                    "pseudonym key file {}: {} bytes, need at least {KEY_LEN}",
                    p.display(),
                    k.len()
                );
            }
            k
        }
        None => {
            let mut k = vec![0u8; KEY_LEN];
            getrandom::getrandom(&mut k)
                .map_err(|e| anyhow::anyhow!("no randomness for the pseudonym key: {e}"))?;
            k
        }
    };
    Ok(Pseudonymizer::new(&key))
}

/// `cdr audit`: the report text for stdout.
pub fn audit(a: &CdrAuditArgs) -> anyhow::Result<String> {
    let (file, key_file) = config::cdr_file(a.common.config.as_deref())?;
    let s = settings(&file, Some(&a.common))?;
    let pseudo = if a.samples > 0 {
        Some(pseudonymizer(key_file.as_deref())?)
    } else {
        None
    };
    let opts = AuditOptions {
        keep_days: s.keep_days,
        samples: a.samples,
        now: super::now(),
        busy_timeout_ms: a.common.busy_timeout_ms,
    };
    let r = super::audit(&s.source, &s.schema, &opts, pseudo.as_ref())?;
    Ok(match a.format {
        ReportFormat::Text => render::text(&r),
        ReportFormat::Json => render::json(&r),
        ReportFormat::Prometheus => render::prometheus(&r),
    })
}

/// `cdr sanitize`: the outcome text for stdout.
pub fn sanitize(a: &CdrSanitizeArgs) -> anyhow::Result<String> {
    let (file, _) = config::cdr_file(a.common.config.as_deref())?;
    let s = settings(&file, Some(&a.common))?;
    if a.batch == 0 {
        return Err(invalid("batch", "must be at least 1").into());
    }
    let opts = SanitizeOptions {
        keep_days: s.keep_days,
        now: super::now(),
        apply: a.apply,
        batch: a.batch,
        busy_timeout_ms: a.common.busy_timeout_ms,
    };
    let out = sanitize::sanitize(&s.source, &s.schema, &opts)?;
    Ok(out.text())
}

/// The sensor's `[cdr]` check: audit every `check_every` on a thread of its
/// own and set the `sipsentinel_cdr_*` gauges; a failed check sets
/// `cdr_last_check_success` to 0 and logs the error (which names no value).
pub fn spawn_watch(
    s: CdrSettings,
    m: CdrMetrics,
    shutdown: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("cdr-check".into())
        .spawn(move || {
            let opts = |now| AuditOptions {
                keep_days: s.keep_days,
                samples: 0,
                now,
                busy_timeout_ms: 5000,
            };
            loop {
                match super::audit(&s.source, &s.schema, &opts(super::now()), None) {
                    Ok(r) => {
                        render::apply(&m, &r);
                        tracing::debug!(records = r.rows(), "CDR store checked");
                    }
                    Err(e) => {
                        m.check_success.set(0);
                        tracing::warn!(error = %e, "CDR store check failed");
                    }
                }
                let until = std::time::Instant::now() + s.check_every;
                while std::time::Instant::now() < until {
                    if shutdown.load(Ordering::Relaxed) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        })
}
