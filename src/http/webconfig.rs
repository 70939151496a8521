//! The web configuration file (`--web-config`, `web_config`): TLS and
//! basic auth for every HTTP endpoint, in the YAML format of the
//! Prometheus exporter-toolkit, so one file and one habit serve every
//! exporter on a host:
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.crt
//!   key_file: server.key
//!   client_ca_file: ca.crt          # optional: client certificates
//!   client_auth_type: RequireAndVerifyClientCert   # optional
//!   min_version: TLS12              # optional: TLS12 or TLS13
//!   max_version: TLS13              # optional
//! basic_auth_users:
//!   prometheus: $2y$10$...          # bcrypt hash
//! ```
//!
//! Owner: `http`. Invariants: everything is read and checked once, at
//! startup; any problem is one error naming the file and the key; unknown
//! keys are errors (a typo must not silently leave an endpoint open).
//! Relative paths are relative to the YAML file's directory, as in the
//! exporter-toolkit. Password hashes never appear in an error, a log line
//! or a `Debug` output.

use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, SupportedProtocolVersion};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Largest web config file read: a real one is a few hundred bytes; the
/// bound keeps a wrong path (a log, a device) from being slurped.
const MAX_FILE_BYTES: u64 = 1 << 20;
/// Basic-auth users: each costs a bcrypt hash in memory, and more than a
/// handful of scrapers per sensor is a configuration mistake.
const MAX_USERS: usize = 64;
/// Highest bcrypt cost accepted. One check at cost 10 takes about 60 ms;
/// each step doubles it, so cost 16 is about 4 s: the most one first
/// login (later ones hit the cache) can take inside a 10 s scrape
/// timeout and the 15 s connection lifetime.
pub const MAX_BCRYPT_COST: u32 = 16;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    tls_server_config: Option<TlsDoc>,
    basic_auth_users: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsDoc {
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    client_ca_file: Option<PathBuf>,
    client_auth_type: Option<String>,
    min_version: Option<String>,
    max_version: Option<String>,
}

/// A problem with the web config: `web config FILE: KEY: what`.
#[derive(Debug, thiserror::Error)]
#[error("web config {}: {key}{}{message}", path.display(), if key.is_empty() { "" } else { ": " })]
pub struct WebConfigError {
    pub path: PathBuf,
    /// Dotted key (`tls_server_config.cert_file`), empty for the whole file.
    pub key: String,
    pub message: String,
}

/// Who may log in: user name → bcrypt hash.
pub struct Users(pub(crate) BTreeMap<String, String>);

impl std::fmt::Debug for Users {
    // Names only: a hash is an offline-crackable secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

/// The loaded configuration.
#[derive(Clone, Default)]
pub struct WebConfig {
    /// TLS server settings (certificates loaded) when `tls_server_config`
    /// is given.
    pub tls: Option<Arc<ServerConfig>>,
    /// Whether clients must present a certificate signed by the client CA.
    pub client_cert_required: bool,
    /// Basic-auth users when `basic_auth_users` is given and not empty.
    pub users: Option<Arc<Users>>,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("tls", &self.tls.is_some())
            .field("client_cert_required", &self.client_cert_required)
            .field("users", &self.users)
            .finish()
    }
}

impl WebConfig {
    /// Read and check `path`, loading certificates and keys.
    pub fn load(path: &Path) -> Result<WebConfig, WebConfigError> {
        let err = |key: &str, message: String| WebConfigError {
            path: path.to_owned(),
            key: key.to_owned(),
            message,
        };
        let text = read_bounded(path).map_err(|e| err("", e))?;
        let doc: FileDoc = if text.trim().is_empty() {
            FileDoc::default()
        } else {
            serde_norway::from_str(&text).map_err(|e| err("", one_line(&e.to_string())))?
        };
        let base = path.parent().unwrap_or(Path::new("."));
        let users = match doc.basic_auth_users {
            None => None,
            Some(u) if u.is_empty() => None,
            Some(u) => Some(Arc::new(
                check_users(u).map_err(|m| err("basic_auth_users", m))?,
            )),
        };
        let (tls, client_cert_required) = match doc.tls_server_config {
            None => (None, false),
            Some(t) => {
                let (cfg, required) = build_tls(&t, base)
                    .map_err(|(k, m)| err(&format!("tls_server_config.{k}"), m))?;
                (Some(Arc::new(cfg)), required)
            }
        };
        Ok(WebConfig {
            tls,
            client_cert_required,
            users,
        })
    }
}

fn read_bounded(path: &Path) -> Result<String, String> {
    use std::io::Read as _;
    let f = std::fs::File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    let mut text = String::new();
    f.take(MAX_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read: {e}"))?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(format!("larger than {MAX_FILE_BYTES} bytes"));
    }
    Ok(text)
}

/// YAML errors can span lines (a snippet of the file): keep the first.
fn one_line(s: &str) -> String {
    s.lines().next().unwrap_or("").to_owned()
}

fn check_users(u: BTreeMap<String, String>) -> Result<Users, String> {
    if u.len() > MAX_USERS {
        return Err(format!("{} users, at most {MAX_USERS}", u.len()));
    }
    for (name, hash) in &u {
        // Basic auth sends `user:password`: a colon cannot be in a name.
        if name.is_empty() || name.contains(':') || name.chars().any(char::is_control) {
            return Err("a user name is empty or has a colon or control character".into());
        }
        // The message names the user, never the hash.
        let parts: bcrypt::HashParts = hash
            .parse()
            .map_err(|_| format!("{name}: not a bcrypt hash ($2a$, $2b$ or $2y$)"))?;
        if parts.get_cost() > MAX_BCRYPT_COST {
            return Err(format!(
                "{name}: bcrypt cost {} is above {MAX_BCRYPT_COST} (each check would take seconds)",
                parts.get_cost()
            ));
        }
    }
    Ok(Users(u))
}

fn version(s: &str) -> Result<&'static SupportedProtocolVersion, String> {
    match s {
        "TLS12" => Ok(&rustls::version::TLS12),
        "TLS13" => Ok(&rustls::version::TLS13),
        "TLS10" | "TLS11" => Err(format!(
            "{s} is not supported (obsolete); use TLS12 or TLS13"
        )),
        _ => Err("must be TLS12 or TLS13".into()),
    }
}

/// Build the rustls server config; an error is `(key, message)`.
fn build_tls(t: &TlsDoc, base: &Path) -> Result<(ServerConfig, bool), (&'static str, String)> {
    let resolve = |p: &Path| {
        if p.is_absolute() {
            p.to_owned()
        } else {
            base.join(p)
        }
    };
    let cert_file = t.cert_file.as_deref().ok_or((
        "cert_file",
        "missing (required with tls_server_config)".to_string(),
    ))?;
    let key_file = t.key_file.as_deref().ok_or((
        "key_file",
        "missing (required with tls_server_config)".to_string(),
    ))?;
    let cert_path = resolve(cert_file);
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| ("cert_file", format!("{}: {e}", cert_path.display())))?;
    if certs.is_empty() {
        return Err((
            "cert_file",
            format!("{}: no CERTIFICATE in it", cert_path.display()),
        ));
    }
    let key_path = resolve(key_file);
    let key = PrivateKeyDer::from_pem_file(&key_path)
        .map_err(|e| ("key_file", format!("{}: {e}", key_path.display())))?;

    let min = t
        .min_version
        .as_deref()
        .map(version)
        .transpose()
        .map_err(|m| ("min_version", m))?;
    let max = t
        .max_version
        .as_deref()
        .map(version)
        .transpose()
        .map_err(|m| ("max_version", m))?;
    // rustls knows two versions; TLS12 < TLS13.
    let rank =
        |v: &SupportedProtocolVersion| u8::from(v.version == rustls::ProtocolVersion::TLSv1_3);
    let versions: Vec<&'static SupportedProtocolVersion> =
        [&rustls::version::TLS12, &rustls::version::TLS13]
            .into_iter()
            .filter(|v| {
                min.is_none_or(|m| rank(v) >= rank(m)) && max.is_none_or(|m| rank(v) <= rank(m))
            })
            .collect();
    if versions.is_empty() {
        return Err(("min_version", "is above max_version".into()));
    }

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| ("min_version", e.to_string()))?;
    // client_auth_type as in the exporter-toolkit; a client CA without a
    // type means "require and verify" (what a CA is given for).
    let auth = match (t.client_auth_type.as_deref(), t.client_ca_file.is_some()) {
        (None, false) | (Some("NoClientCert"), false) => None,
        (None, true) | (Some("RequireAndVerifyClientCert"), true) => Some(true),
        (Some("VerifyClientCertIfGiven"), true) => Some(false),
        (Some("NoClientCert"), true) => {
            return Err((
                "client_auth_type",
                "NoClientCert with a client_ca_file: choose RequireAndVerifyClientCert or VerifyClientCertIfGiven".into(),
            ))
        }
        (Some("RequireAndVerifyClientCert" | "VerifyClientCertIfGiven"), false) => {
            return Err(("client_ca_file", "missing (required by client_auth_type)".into()))
        }
        (Some(_), _) => {
            return Err((
                "client_auth_type",
                "must be NoClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert (RequestClientCert and RequireAnyClientCert accept unverified certificates and are not supported)".into(),
            ))
        }
    };
    let builder = match (auth, t.client_ca_file.as_deref()) {
        (Some(required), Some(ca)) => {
            let ca_path = resolve(ca);
            let mut roots = RootCertStore::empty();
            let cas = CertificateDer::pem_file_iter(&ca_path)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| ("client_ca_file", format!("{}: {e}", ca_path.display())))?;
            let (added, _ignored) = roots.add_parsable_certificates(cas);
            if added == 0 {
                return Err((
                    "client_ca_file",
                    format!("{}: no usable CA certificate in it", ca_path.display()),
                ));
            }
            let mut v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            if !required {
                v = v.allow_unauthenticated();
            }
            let v = v.build().map_err(|e| ("client_ca_file", e.to_string()))?;
            builder.with_client_cert_verifier(v)
        }
        _ => builder.with_no_client_auth(),
    };
    let mut cfg = builder
        .with_single_cert(certs, key)
        .map_err(|e| ("key_file", format!("does not fit cert_file: {e}")))?;
    // Only HTTP/1.1 is served: say so, so a client never tries h2.
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((cfg, auth == Some(true)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A temporary directory with a self-signed certificate made by
    /// `openssl` (installed with the test dependencies); None without it.
    fn dir_with_cert(name: &str) -> Option<PathBuf> {
        let d = std::env::temp_dir().join(format!("ss-webcfg-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let ok = std::process::Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=localhost",
                "-keyout",
                "server.key",
                "-out",
                "server.crt",
            ])
            .current_dir(&d)
            .stderr(std::process::Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            eprintln!("openssl not available: skipping the certificate part");
            return None;
        }
        Some(d)
    }

    /// A real hash at the lowest cost (fast in tests).
    fn hash(pw: &str) -> String {
        bcrypt::hash(pw, 4).unwrap()
    }

    fn write(d: &Path, text: &str) -> PathBuf {
        let p = d.join("web.yml");
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn good_file_loads_with_relative_paths() {
        let Some(d) = dir_with_cert("good") else {
            return;
        };
        let h = hash("secret");
        let p = write(
            &d,
            &format!(
                "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_ca_file: server.crt\n  min_version: TLS12\nbasic_auth_users:\n  prometheus: {h}\n"
            ),
        );
        // Loaded from another working directory: paths follow the file.
        let w = WebConfig::load(&p).unwrap();
        assert!(w.tls.is_some() && w.client_cert_required);
        assert!(w.users.as_ref().unwrap().0.contains_key("prometheus"));
        let dbg = format!("{w:?}");
        assert!(!dbg.contains(&h) && dbg.contains("prometheus"), "{dbg}");
    }

    #[test]
    fn empty_file_means_neither() {
        let d = std::env::temp_dir().join(format!("ss-webcfg-empty-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let w = WebConfig::load(&write(&d, "")).unwrap();
        assert!(w.tls.is_none() && w.users.is_none());
    }

    #[test]
    fn htpasswd_style_2y_hashes_load_and_verify() {
        let d = std::env::temp_dir().join(format!("ss-webcfg-2y-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        // htpasswd -B writes $2y$; the same algorithm as $2b$.
        let h = hash("pw").replacen("$2b$", "$2y$", 1);
        assert!(h.starts_with("$2y$04$"), "{h}");
        let w = WebConfig::load(&write(&d, &format!("basic_auth_users:\n  u: '{h}'\n"))).unwrap();
        let stored = w.users.unwrap().0.get("u").cloned().unwrap();
        assert!(bcrypt::verify("pw", &stored).unwrap());
    }

    #[test]
    fn unknown_key_is_named() {
        let d = std::env::temp_dir().join(format!("ss-webcfg-unk-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let e = WebConfig::load(&write(&d, "basic_auth_user:\n  a: b\n")).unwrap_err();
        let s = e.to_string();
        assert!(
            s.contains("basic_auth_user") && s.contains("web.yml"),
            "{s}"
        );
        assert!(!s.contains('\n'), "{s}");
        let e = WebConfig::load(&write(
            &d,
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suite: [x]\n",
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("cipher_suite"), "{e}");
    }

    #[test]
    fn missing_cert_file_is_named() {
        let d = std::env::temp_dir().join(format!("ss-webcfg-miss-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let e = WebConfig::load(&write(
            &d,
            "tls_server_config:\n  cert_file: nope.crt\n  key_file: nope.key\n",
        ))
        .unwrap_err();
        assert_eq!(e.key, "tls_server_config.cert_file");
        let s = e.to_string();
        assert!(
            s.contains("nope.crt") && s.contains(&d.display().to_string()),
            "{s}"
        );
        let e = WebConfig::load(&write(&d, "tls_server_config:\n  key_file: k\n")).unwrap_err();
        assert_eq!(e.key, "tls_server_config.cert_file");
        // A missing web config file itself.
        let e = WebConfig::load(&d.join("absent.yml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("absent.yml") && e.contains("cannot read"), "{e}");
    }

    #[test]
    fn bad_bcrypt_hash_names_the_user_not_the_hash() {
        let d = std::env::temp_dir().join(format!("ss-webcfg-hash-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let e = WebConfig::load(&write(
            &d,
            "basic_auth_users:\n  alice: plaintext-password\n",
        ))
        .unwrap_err();
        assert_eq!(e.key, "basic_auth_users");
        let s = e.to_string();
        assert!(
            s.contains("alice") && !s.contains("plaintext-password"),
            "{s}"
        );
        // Too costly.
        let h = hash("x").replacen("$04$", "$20$", 1);
        let e = WebConfig::load(&write(&d, &format!("basic_auth_users:\n  bob: {h}\n")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("cost 20"), "{e}");
    }

    #[test]
    fn client_auth_types() {
        let Some(d) = dir_with_cert("cat") else {
            return;
        };
        let base = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n";
        let load = |extra: &str| WebConfig::load(&write(&d, &format!("{base}{extra}")));
        assert!(!load("").unwrap().client_cert_required);
        assert!(
            !load("  client_ca_file: server.crt\n  client_auth_type: VerifyClientCertIfGiven\n")
                .unwrap()
                .client_cert_required
        );
        let e = load("  client_auth_type: RequireAndVerifyClientCert\n").unwrap_err();
        assert_eq!(e.key, "tls_server_config.client_ca_file");
        let e = load("  client_ca_file: server.crt\n  client_auth_type: RequireAnyClientCert\n")
            .unwrap_err();
        assert_eq!(e.key, "tls_server_config.client_auth_type");
        let e = load("  min_version: TLS13\n  max_version: TLS12\n").unwrap_err();
        assert_eq!(e.key, "tls_server_config.min_version");
        // A key that does not parse.
        std::fs::write(
            d.join("bad.key"),
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let e = WebConfig::load(&write(
            &d,
            "tls_server_config:\n  cert_file: server.crt\n  key_file: bad.key\n",
        ))
        .unwrap_err();
        assert_eq!(e.key, "tls_server_config.key_file", "{e}");
    }
}
