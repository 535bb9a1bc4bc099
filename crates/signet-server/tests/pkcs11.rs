#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point
//! The server with `[keystore] kind = "pkcs11"`: its root, issuing CA and log
//! keys are made in a SoftHSM2 token at first start and loaded from it at the
//! next; what it issues verifies with openssl; a wrong PIN or a missing module
//! stops the start before anything is written.

mod common;
#[path = "../../signet-keys/tests/softhsm/mod.rs"]
mod softhsm;

use common::*;
use serde_json::json;
use signet_log::{Verifier, open_checkpoint};
use signet_server::config::{ConfigFile, KeystoreFile};
use softhsm::{PIN, SoftHsm, run_isolated};
use std::path::Path;

fn pkcs11(hsm: &SoftHsm, token: &str, pin_file: &Path) -> ConfigFile {
    ConfigFile {
        keystore: Some(KeystoreFile {
            kind: Some("pkcs11".into()),
            module: Some(hsm.module.clone()),
            token: Some(token.into()),
            pin_file: Some(pin_file.to_path_buf()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// The labels of the private keys in `token`, as OpenSC's pkcs11-tool lists them.
fn private_key_labels(hsm: &SoftHsm, token: &str) -> Vec<String> {
    let out = hsm.pkcs11_tool(&["--token-label", token, "--login", "--pin", PIN, "--list-objects", "--type", "privkey"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut labels: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("label:").map(|s| s.trim().to_string()))
        .collect();
    labels.sort();
    labels
}

async fn issue_and_verify(srv: &TestServer, name: &str) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let subject = srv.create_subject(name).await;
    let (_, csr) = openssl_csr(tmp.path(), name, "ec", &format!("DNS:{name}.internal"), &[]);
    let (status, v) = srv.post("/v1/requests", &json!({ "subject": subject, "profile": "tls-server", "csr": csr, "ttl": "1h" })).await;
    assert_eq!(status, 201, "{v}");
    let chain = v["chain_pem"].as_str().unwrap();
    let (ok, out) = openssl_verify(tmp.path(), chain, &srv.config.data_dir.join("ca.pem"));
    assert!(ok, "openssl verify: {out}");
    chain.to_string()
}

#[test]
fn pkcs11_the_server_keeps_its_ca_and_log_keys_in_the_token() {
    run_isolated("pkcs11_the_server_keeps_its_ca_and_log_keys_in_the_token", &["signet-server"], |hsm| {
        if !have_openssl() {
            return;
        }
        runtime().block_on(async {
            let pin_file = hsm.dir.join("pin");
            std::fs::write(&pin_file, format!("{PIN}\n")).unwrap();
            let dir = tempfile::tempdir().unwrap();
            let srv = TestServer::start_configured(dir, None, pkcs11(hsm, "signet-server", &pin_file)).await.unwrap();
            let first_chain = issue_and_verify(&srv, "web").await;

            // The keys are in the token (and only there: no key files in the data directory).
            let labels = private_key_labels(hsm, "signet-server");
            assert_eq!(labels.len(), 3, "{labels:?}");
            assert!(labels.iter().any(|l| l.starts_with("root-")), "{labels:?}");
            assert!(labels.iter().any(|l| l.starts_with("issuing-")), "{labels:?}");
            assert!(labels.iter().any(|l| l == "log"), "{labels:?}");
            assert!(!srv.config.data_dir.join("keys").exists());
            assert!(!srv.config.data_dir.join("unseal-key").exists());

            // Checkpoints are signed by the log key in the token.
            let verifier = Verifier::parse(std::fs::read_to_string(srv.config.data_dir.join("log.pub")).unwrap().trim()).unwrap();
            let mut note = None;
            for _ in 0..100 {
                let r = srv.http.get(srv.url("/log/checkpoint")).send().await.unwrap();
                if r.status() == 200 {
                    note = Some(r.text().await.unwrap());
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            open_checkpoint(&note.expect("a checkpoint"), &verifier).unwrap();

            // A restart loads the same keys from the token: same CA, nothing new in the token.
            let (dir, _) = srv.stop().await;
            let srv = TestServer::start_configured(dir, None, pkcs11(hsm, "signet-server", &pin_file)).await.unwrap();
            let second_chain = issue_and_verify(&srv, "api").await;
            let ca = |chain: &str| chain.split_inclusive("-----END CERTIFICATE-----\n").skip(1).collect::<String>();
            assert_eq!(ca(&first_chain), ca(&second_chain));
            assert_eq!(private_key_labels(hsm, "signet-server"), labels);
            srv.stop().await;
        });
    });
}

#[test]
fn pkcs11_a_wrong_pin_or_a_missing_module_stops_the_start_and_writes_nothing() {
    run_isolated("pkcs11_a_wrong_pin_or_a_missing_module_stops_the_start_and_writes_nothing", &["signet-refuse"], |hsm| {
        runtime().block_on(async {
            let pin_file = hsm.dir.join("wrong-pin");
            std::fs::write(&pin_file, "0000-wrong\n").unwrap();
            let dir = tempfile::tempdir().unwrap();
            let data = dir.path().join("data");
            let err = TestServer::start_configured(dir, None, pkcs11(hsm, "signet-refuse", &pin_file)).await.err().unwrap();
            assert_eq!(err, "keystore: the PIN for token `signet-refuse` is incorrect");
            assert!(!err.contains("0000-wrong"));
            assert!(!data.join("signet.db").exists(), "the store was written");
            assert!(private_key_labels(hsm, "signet-refuse").is_empty(), "keys were created");

            let dir = tempfile::tempdir().unwrap();
            let mut config = pkcs11(hsm, "signet-refuse", &pin_file);
            config.keystore.as_mut().unwrap().module = Some("/opt/missing/libvendor-pkcs11.so".into());
            let data = dir.path().join("data");
            let err = TestServer::start_configured(dir, None, config).await.err().unwrap();
            assert_eq!(err, "keystore: PKCS#11 module `/opt/missing/libvendor-pkcs11.so` does not exist");
            assert!(!data.join("signet.db").exists(), "the store was written");

            let dir = tempfile::tempdir().unwrap();
            let err = TestServer::start_configured(dir, None, pkcs11(hsm, "no-such-token", &pin_file)).await.err().unwrap();
            assert!(err.starts_with("keystore: no PKCS#11 token labelled `no-such-token`"), "{err}");
            assert!(err.contains("`signet-refuse`"), "{err}");

            let dir = tempfile::tempdir().unwrap();
            let err =
                TestServer::start_configured(dir, None, pkcs11(hsm, "signet-refuse", &hsm.dir.join("no-pin-file"))).await.err().unwrap();
            assert!(err.starts_with("keystore: cannot read the PKCS#11 PIN: cannot read the PIN file `"), "{err}");
        });
    });
}
