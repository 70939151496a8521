//! The web config (`--web-config`) end to end: a real Prometheus scrapes
//! the sensor over TLS with a client certificate and basic auth.
//!
//! A CA, a server certificate (for 127.0.0.1 and localhost) and a client
//! certificate are made with `openssl` in a temp dir, the password hash
//! with the `bcrypt` crate; the web config uses paths relative to its own
//! directory. The sensor replays a recorded capture and keeps serving.
//!
//! Asserted:
//! - Prometheus (Debian `prometheus`) with `scheme: https`, `tls_config`
//!   and `basic_auth` sees the target up (`up == 1`) and stores a
//!   sipsentinel metric; a second job with a wrong password is down with
//!   a 401;
//! - a TLS client with the client certificate but no credentials gets
//!   401 with `WWW-Authenticate: Basic realm="sipsentinel"`, with them 200;
//! - a TLS client without a client certificate gets no HTTP answer (the
//!   handshake is refused);
//! - a plain-HTTP request gets no HTTP answer;
//! - a stalled TLS handshake (nothing sent, or half a ClientHello) is
//!   closed by the server after its 3 s limit.
//!
//! Needs prometheus and openssl (tests/run.sh installs both); no root.
mod common;

use common::prometheus::Prometheus;
use common::sensor::{free_port, spawn_replay_with_web_config};
use common::{require_tool, stop, temp_dir};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const USER: &str = "prometheus";
const PASSWORD: &str = "correct horse battery staple";

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// CA, server and client certificates in `dir`.
fn make_pki(dir: &Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut a = vec!["req", "-x509"];
    a.extend(ec);
    a.extend([
        "-days",
        "2",
        "-subj",
        "/CN=sipsentinel test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(dir, &a);
    for (name, ext) in [
        (
            "server",
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
        ),
        (
            "client",
            "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n",
        ),
    ] {
        let mut a = vec!["req"];
        a.extend(ec);
        let subj = format!("/CN={name}");
        let key = format!("{name}.key");
        let csr = format!("{name}.csr");
        a.extend(["-subj", &subj, "-keyout", &key, "-out", &csr]);
        openssl(dir, &a);
        let extfile = format!("{name}.ext");
        std::fs::write(dir.join(&extfile), ext).unwrap();
        let crt = format!("{name}.crt");
        openssl(
            dir,
            &[
                "x509", "-req", "-in", &csr, "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-extfile", &extfile, "-out", &crt,
            ],
        );
    }
}

struct Server(Option<Child>);

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            stop(&mut c, Duration::from_secs(10));
        }
    }
}

fn pem_certs(p: &Path) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_file_iter(p)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// A rustls client trusting `ca.crt`, with the client certificate or not.
fn client_config(dir: &Path, with_cert: bool) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in pem_certs(&dir.join("ca.crt")) {
        roots.add(c).unwrap();
    }
    let b = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let cfg = if with_cert {
        let key = rustls::pki_types::PrivateKeyDer::from_pem_file(dir.join("client.key")).unwrap();
        b.with_client_auth_cert(pem_certs(&dir.join("client.crt")), key)
            .unwrap()
    } else {
        b.with_no_client_auth()
    };
    Arc::new(cfg)
}

/// GET over TLS; Ok(raw response) or Err(what failed).
fn tls_get(
    addr: SocketAddr,
    cfg: Arc<rustls::ClientConfig>,
    path: &str,
    auth: Option<(&str, &str)>,
) -> Result<String, String> {
    use base64::Engine as _;
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(cfg, name).map_err(|e| e.to_string())?;
    let sock =
        TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut tls = rustls::StreamOwned::new(conn, sock);
    let auth = auth
        .map(|(u, p)| {
            format!(
                "Authorization: Basic {}\r\n",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )
        })
        .unwrap_or_default();
    write!(
        tls,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Connection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    match tls.read_to_end(&mut out) {
        Ok(_) => {}
        // Some servers close without close_notify; what was read counts.
        Err(e) if !out.is_empty() && e.kind() == std::io::ErrorKind::UnexpectedEof => {}
        Err(e) => return Err(e.to_string()),
    }
    if out.is_empty() {
        return Err("no answer".into());
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[test]
fn prometheus_scrapes_over_tls_with_client_cert_and_basic_auth() {
    require_tool("openssl");
    require_tool("prometheus");
    let dir = temp_dir("web-tls");
    let pki = dir.join("pki");
    std::fs::create_dir_all(&pki).unwrap();
    make_pki(&pki);
    let hash = bcrypt::hash(PASSWORD, 10).unwrap();
    // Relative to the web config's directory (pki/).
    let web = pki.join("web.yml");
    std::fs::write(
        &web,
        format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_ca_file: ca.crt\nbasic_auth_users:\n  {USER}: {hash}\n"
        ),
    )
    .unwrap();

    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let stderr_path = dir.join("sensor.stderr");
    // Started from another directory: relative paths follow the YAML file.
    let child = spawn_replay_with_web_config(addr, &web, &stderr_path, &dir);
    let mut server = Server(Some(child));
    let stderr = || std::fs::read_to_string(&stderr_path).unwrap_or_default();

    let with_cert = client_config(&pki, true);
    // Ready when an authenticated /healthz answers 200 (≤ 20 s).
    let t = Instant::now();
    loop {
        if let Ok(r) = tls_get(addr, with_cert.clone(), "/healthz", Some((USER, PASSWORD))) {
            if r.starts_with("HTTP/1.1 200") {
                break;
            }
        }
        if let Some(st) = server.0.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
            panic!("sensor exited ({st}): {}", stderr());
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "not ready: {}",
            stderr()
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // No credentials: 401 with the challenge; wrong ones: 401; right: 200.
    let r = tls_get(addr, with_cert.clone(), "/metrics", None).unwrap();
    assert!(r.starts_with("HTTP/1.1 401"), "{r}");
    assert!(
        r.to_ascii_lowercase()
            .contains("www-authenticate: basic realm=\"sipsentinel\""),
        "{r}"
    );
    let r = tls_get(
        addr,
        with_cert.clone(),
        "/api/exposures",
        Some((USER, "nope")),
    )
    .unwrap();
    assert!(r.starts_with("HTTP/1.1 401"), "{r}");
    let r = tls_get(addr, with_cert.clone(), "/metrics", Some((USER, PASSWORD))).unwrap();
    assert!(
        r.starts_with("HTTP/1.1 200") && r.contains("sipsentinel_build_info"),
        "{r}"
    );

    // No client certificate: the handshake is refused, no HTTP answer.
    let r = tls_get(
        addr,
        client_config(&pki, false),
        "/metrics",
        Some((USER, PASSWORD)),
    );
    assert!(r.is_err(), "answered without a client certificate: {r:?}");
    // Plain HTTP on the TLS port: no HTTP answer either.
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut b = Vec::new();
    let _ = s.read_to_end(&mut b);
    assert!(
        !b.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&b)
    );

    // Slow-loris TLS: a client that connects and sends nothing, or half a
    // ClientHello, is closed after the 3 s handshake limit (≤ 6 s here).
    for first in [&b""[..], &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01][..]] {
        let t = Instant::now();
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(first).unwrap();
        let mut b = [0u8; 64];
        let closed = matches!(s.read(&mut b), Ok(0) | Err(_));
        let took = t.elapsed();
        assert!(
            closed && took >= Duration::from_secs(2) && took <= Duration::from_secs(6),
            "stalled handshake closed={closed} after {took:?}"
        );
    }

    // A real Prometheus: one job right, one with a wrong password.
    let tls = |p: &str| pki.join(p).display().to_string();
    let job = |name: &str, password: &str| {
        format!(
            "  - job_name: {name}\n    scheme: https\n    tls_config:\n      ca_file: {}\n      cert_file: {}\n      key_file: {}\n      server_name: localhost\n    basic_auth:\n      username: {USER}\n      password: \"{password}\"\n    static_configs:\n      - targets: [\"{addr}\"]\n",
            tls("ca.crt"),
            tls("client.crt"),
            tls("client.key"),
        )
    };
    let scrape = format!(
        "{}{}",
        job("sipsentinel", PASSWORD),
        job("wrongpass", "guess")
    );
    let prom = Prometheus::start_with_scrape_configs(&scrape, &[]);
    let ok = prom.wait_until(Duration::from_secs(30), |p| {
        p.query_sum("up{job=\"sipsentinel\"}") == 1.0
            && p.query_sum("sipsentinel_build_info{job=\"sipsentinel\"}") == 1.0
            && p.query_sum("sipsentinel_capture_packets_total{job=\"sipsentinel\"}") > 0.0
    });
    assert!(
        ok,
        "target not up over TLS: {:?}\nprometheus log:\n{}\nsensor:\n{}",
        prom.targets(),
        prom.log_text(),
        stderr()
    );
    let down = prom.wait_until(Duration::from_secs(15), |p| {
        p.targets()
            .iter()
            .any(|(_, h, e)| h == "down" && e.contains("401"))
    });
    assert!(down, "wrong password not refused: {:?}", prom.targets());
    let log = stderr();
    assert!(!log.contains(PASSWORD) && !log.contains(&hash), "{log}");
    assert!(!log.contains("panicked"), "{log}");
    drop(prom);
    drop(server);
}
