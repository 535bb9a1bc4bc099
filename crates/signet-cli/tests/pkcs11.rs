#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point
//! `signet serve` configured for a PKCS#11 token by environment variables
//! alone (SIGNET_KEYSTORE, SIGNET_PKCS11_MODULE, SIGNET_PKCS11_TOKEN,
//! SIGNET_PKCS11_PIN), against SoftHSM2; and a wrong PIN refused in one line.

#[path = "../../signet-keys/tests/softhsm/mod.rs"]
mod softhsm;

use softhsm::{PIN, SoftHsm, have_softhsm};
use std::io::BufRead;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_signet");

fn have_openssl() -> bool {
    let ok = Command::new("openssl").arg("version").output().map(|o| o.status.success()).unwrap_or(false);
    if !ok {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "openssl is required under CI");
        eprintln!("openssl not found: skipping");
    }
    ok
}

struct Server(Child, String, #[allow(dead_code)] std::io::BufReader<std::process::ChildStdout>);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve_cmd(cwd: &Path, hsm: &SoftHsm, pin: &str) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(cwd)
        .arg("serve")
        .env("SOFTHSM2_CONF", hsm.conf())
        .env("SIGNET_KEYSTORE", "pkcs11")
        .env("SIGNET_PKCS11_MODULE", &hsm.module)
        .env("SIGNET_PKCS11_TOKEN", "signet-cli")
        .env("SIGNET_PKCS11_PIN", pin)
        .env_remove("SIGNET_PKCS11_PIN_FILE");
    cmd
}

/// Start `signet serve` on a free port; retried when the port was taken meanwhile.
fn serve(cwd: &Path, hsm: &SoftHsm) -> Server {
    for _ in 0..5 {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut child = serve_cmd(cwd, hsm, PIN)
            .env("SIGNET_LISTEN", format!("127.0.0.1:{port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        let mut printed = String::new();
        loop {
            line.clear();
            if stdout.read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            printed.push_str(&line);
            if let Some(url) = line.trim_end().strip_prefix("Signet is serving ") {
                let url = url.to_string();
                // The start banner names the token.
                for _ in 0..6 {
                    line.clear();
                    stdout.read_line(&mut line).unwrap();
                    printed.push_str(&line);
                    if line.contains("keys:") {
                        break;
                    }
                }
                assert!(printed.contains("keys:      in PKCS#11 token `signet-cli`"), "{printed}");
                return Server(child, url, stdout);
            }
        }
        let _ = child.wait();
    }
    panic!("signet serve did not start");
}

fn signet(cwd: &Path, server: &Server, token: &str, args: &[&str]) -> String {
    let o = Command::new(BIN).current_dir(cwd).env("SIGNET_SERVER", &server.1).env("SIGNET_TOKEN", token).args(args).output().unwrap();
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn serve_with_the_keys_in_a_token_configured_by_environment() {
    if !have_softhsm() || !have_openssl() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let hsm = SoftHsm::create(&cwd.join("hsm"), &["signet-cli"]);

    // A wrong PIN: one line naming the token, a non-zero exit, no store, no key.
    let o = serve_cmd(cwd, &hsm, "0000-wrong").env("SIGNET_LISTEN", "127.0.0.1:0").output().unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(err.ends_with("keystore: the PIN for token `signet-cli` is incorrect\n"), "{err}");
    assert!(!err.contains("0000-wrong"), "{err}");
    assert!(!cwd.join("signet-data/signet.db").exists());

    let server = serve(cwd, &hsm);
    let token = std::fs::read_to_string(cwd.join("signet-data/admin-token")).unwrap().trim().to_string();
    let subject: serde_json::Value = serde_json::from_str(&signet(
        cwd,
        &server,
        &token,
        &["subject", "create", "--name", "web", "--kind", "workload", "--owner", "team-web", "--purpose", "shop", "--output", "json"],
    ))
    .unwrap();
    let o = Command::new("openssl")
        .current_dir(cwd)
        .args(["req", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-keyout", "web.key", "-out", "web.csr"])
        .args(["-subj", "/CN=web", "-addext", "subjectAltName=DNS:web.internal"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let id = subject["id"].as_str().unwrap();
    signet(cwd, &server, &token, &["issue", "x509", "--subject", id, "--profile", "tls-server", "--csr", "web.csr", "--out", "chain.pem"]);
    let chain = std::fs::read_to_string(cwd.join("chain.pem")).unwrap();
    let parts: Vec<&str> = chain.split_inclusive("-----END CERTIFICATE-----\n").collect();
    std::fs::write(cwd.join("leaf.pem"), parts[0]).unwrap();
    std::fs::write(cwd.join("issuing.pem"), parts[1]).unwrap();
    let v = Command::new("openssl")
        .current_dir(cwd)
        .args(["verify", "-x509_strict", "-CAfile", "signet-data/ca.pem", "-untrusted", "issuing.pem", "leaf.pem"])
        .output()
        .unwrap();
    assert!(v.status.success(), "{}{}", String::from_utf8_lossy(&v.stdout), String::from_utf8_lossy(&v.stderr));

    // The CA keys are in the token, as OpenSC's pkcs11-tool sees it.
    let o = hsm.pkcs11_tool(&["--token-label", "signet-cli", "--login", "--pin", PIN, "--list-objects", "--type", "privkey"]);
    let listing = String::from_utf8_lossy(&o.stdout);
    assert_eq!(listing.matches("never extractable").count(), 3, "{listing}");
    assert!(!cwd.join("signet-data/keys").exists());
}
