//! The tamper-evident log over HTTP: signed checkpoints, receipts that
//! verify offline with only the log's public key, proofs between checkpoints.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod common;

use common::{Backend, TestServer};
use serde_json::json;
use signet_log::{Verifier, from_hex, leaf_hash, open_checkpoint, verify_consistency, verify_inclusion};

fn csr(name: &str) -> String {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    rcgen::CertificateParams::new(vec![name.to_string()]).unwrap().serialize_request(&key).unwrap().pem().unwrap()
}

fn h(v: &serde_json::Value) -> [u8; 32] {
    from_hex(v.as_str().unwrap().as_bytes()).unwrap()
}

/// Wait until a checkpoint covers `size` entries; returns the note.
async fn checkpoint_covering(srv: &TestServer, size: u64) -> String {
    for _ in 0..100 {
        let r = srv.http.get(srv.url("/log/checkpoint")).send().await.unwrap();
        if r.status() == 200 {
            let note = r.text().await.unwrap();
            let n: u64 = note.lines().nth(1).unwrap().parse().unwrap();
            if n >= size {
                return note;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no checkpoint covering {size} entries");
}

both_backends!(a_receipt_verifies_offline_with_only_the_log_key, |srv| {
    // The verifier key is written to DATA/log.pub and served at /log/key.
    let vkey = std::fs::read_to_string(srv.config.data_dir.join("log.pub")).unwrap();
    assert_eq!(srv.get_text("/log/key").await, vkey);
    let verifier = Verifier::parse(vkey.trim()).unwrap();

    let subject = srv.create_subject("web").await;
    let (s, issued) = srv.post("/v1/requests", &json!({ "subject": subject, "profile": "tls-server", "csr": csr("web.internal") })).await;
    assert_eq!(s, 201);
    let index = issued["log"]["index"].as_u64().unwrap();
    checkpoint_covering(&srv, index + 1).await;

    let (s, receipt) = srv.get(&format!("/log/v1/receipt/{}", issued["credential"]["id"].as_str().unwrap())).await;
    assert_eq!(s, 200, "{receipt}");
    // Offline: only the receipt and the verifier key.
    let checkpoint = open_checkpoint(receipt["checkpoint"].as_str().unwrap(), &verifier).unwrap();
    let entry = receipt["entry"].as_str().unwrap();
    let leaf = leaf_hash(entry.as_bytes());
    assert_eq!(leaf, h(&receipt["leaf_hash"]));
    let proof: Vec<[u8; 32]> = receipt["proof"].as_array().unwrap().iter().map(h).collect();
    assert_eq!(receipt["index"].as_u64().unwrap(), index);
    assert_eq!(receipt["tree_size"].as_u64().unwrap(), checkpoint.size());
    verify_inclusion(&leaf, index, checkpoint.size(), &proof, checkpoint.root()).unwrap();
    // The entry says what was issued.
    let e: serde_json::Value = serde_json::from_str(entry).unwrap();
    assert_eq!(e["type"], "credential.issued");
    assert_eq!(e["index"].as_u64().unwrap(), index);
    assert_eq!(e["details"]["serial"], issued["credential"]["serial"]);
    assert_eq!(e["details"]["key_fingerprint"], issued["credential"]["key_fingerprint"]);

    // Forged: a changed entry, another index, another key.
    let forged = entry.replace("web.internal", "evil.internal");
    assert!(verify_inclusion(&leaf_hash(forged.as_bytes()), index, checkpoint.size(), &proof, checkpoint.root()).is_err());
    if checkpoint.size() > 1 {
        assert!(verify_inclusion(&leaf, (index + 1) % checkpoint.size(), checkpoint.size(), &proof, checkpoint.root()).is_err());
    }
    let other = signet_log::NoteSigner::generate().unwrap().verifier(checkpoint.origin()).unwrap();
    assert!(open_checkpoint(receipt["checkpoint"].as_str().unwrap(), &other).is_err());

    // The receipt is also addressable by serial.
    let (s, by_serial) = srv.get(&format!("/log/v1/receipt/{}", issued["credential"]["serial"].as_str().unwrap())).await;
    assert_eq!(s, 200);
    assert_eq!(by_serial["index"], receipt["index"]);
});

both_backends!(checkpoints_are_consistent_and_proofs_are_checked, |srv| {
    let vkey = srv.get_text("/log/key").await;
    let verifier = Verifier::parse(vkey.trim()).unwrap();
    let first = open_checkpoint(&checkpoint_covering(&srv, 1).await, &verifier).unwrap();

    let subject = srv.create_subject("many").await;
    for i in 0..5 {
        let (s, _) =
            srv.post("/v1/requests", &json!({ "subject": subject, "profile": "tls-server", "csr": csr(&format!("n{i}.internal")) })).await;
        assert_eq!(s, 201);
    }
    let (_, entries) = srv.get("/log/v1/entries").await;
    let entries = entries["items"].as_array().unwrap().clone();
    // Gap-free, chained, hashed.
    let mut prev = [0u8; 32];
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e["index"].as_u64().unwrap(), i as u64);
        let body: serde_json::Value = serde_json::from_str(e["entry"].as_str().unwrap()).unwrap();
        assert_eq!(body["prev"].as_str().unwrap(), signet_log::to_hex(&prev));
        prev = leaf_hash(e["entry"].as_str().unwrap().as_bytes());
        assert_eq!(prev, h(&e["leaf_hash"]));
    }
    let second = open_checkpoint(&checkpoint_covering(&srv, entries.len() as u64).await, &verifier).unwrap();
    assert!(second.size() > first.size());

    let (s, c) = srv.get(&format!("/log/v1/proof/consistency?first={}&second={}", first.size(), second.size())).await;
    assert_eq!(s, 200, "{c}");
    let proof: Vec<[u8; 32]> = c["proof"].as_array().unwrap().iter().map(h).collect();
    verify_consistency(first.size(), second.size(), first.root(), second.root(), &proof).unwrap();
    assert!(verify_consistency(first.size(), second.size(), second.root(), first.root(), &proof).is_err());

    for index in [0, second.size() / 2, second.size() - 1] {
        let (s, p) = srv.get(&format!("/log/v1/proof/inclusion?index={index}&size={}", second.size())).await;
        assert_eq!(s, 200);
        let proof: Vec<[u8; 32]> = p["proof"].as_array().unwrap().iter().map(h).collect();
        verify_inclusion(&h(&entries[index as usize]["leaf_hash"]), index, second.size(), &proof, second.root()).unwrap();
    }

    // Out-of-range and malformed proof requests name the field.
    let size = second.size();
    for (q, field) in [
        (format!("index={size}&size={size}"), "index"),
        (format!("index=0&size={}", size + 1000), "size"),
        ("index=0&size=0".to_string(), "size"),
        ("index=x".to_string(), "query"),
    ] {
        let (s, p) = srv.get(&format!("/log/v1/proof/inclusion?{q}")).await;
        assert_eq!((s, p["field"].as_str()), (400, Some(field)), "{q}: {p}");
    }
    let (s, p) = srv.get(&format!("/log/v1/proof/consistency?first=0&second={size}")).await;
    assert_eq!((s, p["field"].as_str()), (400, Some("first")));
    let (s, _) = srv.get("/log/v1/receipt/crd_00000000000000000000000000000000").await;
    assert_eq!(s, 404);

    // Entries and receipts are for operators; checkpoints, keys and proofs are public.
    assert_eq!(srv.http.get(srv.url("/log/v1/entries")).send().await.unwrap().status(), 401);
    assert_eq!(srv.http.get(srv.url("/log/v1/search")).send().await.unwrap().status(), 401);
    assert_eq!(srv.http.get(srv.url("/log/v1/proof/inclusion?index=0")).send().await.unwrap().status(), 200);

    // Search by subject, type and credential.
    let (_, found) = srv.get(&format!("/log/v1/search?subject={subject}&type=credential.issued")).await;
    assert_eq!(found["items"].as_array().unwrap().len(), 5);
    let (s, p) = srv.get("/log/v1/search?type=nonsense").await;
    assert_eq!((s, p["field"].as_str()), (400, Some("type")));
    let (s, p) = srv.get("/log/v1/search?since=yesterday").await;
    assert_eq!((s, p["field"].as_str()), (400, Some("since")));
});
