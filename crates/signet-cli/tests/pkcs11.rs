#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point
//! `signet serve` configured for a PKCS#11 token by environment variables
//! alone (SIGNET_KEYSTORE, SIGNET_PKCS11_MODULE, SIGNET_PKCS11_TOKEN,
//! SIGNET_PKCS11_PIN), against SoftHSM2; and a wrong PIN refused in one line.

#[path = "../../signet-keys/tests/softhsm/mod.rs"]
mod softhsm;

mod common;

use common::{BIN, Server, have, ok, openssl_csr, serve_with, signet};
use softhsm::{PIN, SoftHsm, have_softhsm};
use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};

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

/// Start `signet serve` with the keys in the token; its start banner names the token.
fn serve(cwd: &Path, hsm: &SoftHsm) -> Server {
    let mut server = serve_with(|| {
        let mut cmd = serve_cmd(cwd, hsm, PIN);
        cmd.stderr(Stdio::null());
        cmd
    });
    let mut line = String::new();
    let mut printed = String::new();
    for _ in 0..6 {
        line.clear();
        server.stdout.read_line(&mut line).unwrap();
        printed.push_str(&line);
        if line.contains("keys:") {
            break;
        }
    }
    assert!(printed.contains("keys:      in PKCS#11 token `signet-cli`"), "{printed}");
    server
}

#[test]
fn pkcs11_serve_with_the_keys_in_a_token_configured_by_environment() {
    if !have_softhsm() || !have("openssl", "version") {
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
    let subject: serde_json::Value = serde_json::from_str(&ok(&signet(
        cwd,
        &server,
        Some(&token),
        &["subject", "create", "--name", "web", "--kind", "workload", "--owner", "team-web", "--purpose", "shop", "--output", "json"],
    )))
    .unwrap();
    let csr = openssl_csr(cwd, "web", "DNS:web.internal");
    let id = subject["id"].as_str().unwrap();
    ok(&signet(
        cwd,
        &server,
        Some(&token),
        &["issue", "x509", "--subject", id, "--profile", "tls-server", "--csr", &csr, "--out", "chain.pem"],
    ));
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
