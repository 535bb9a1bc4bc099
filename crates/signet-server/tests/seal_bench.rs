//! How long unsealing a running server takes: from sending the m-th share
//! to the answer "unsealed" (recombine, key check, decrypt and load the keys,
//! assemble the authority, issue the server's TLS certificate, swap routers),
//! over HTTPS on loopback, SQLite store. Reference in the same run: a
//! `/v1/sys/seal-status` round trip on the same client.
//! Run: `cargo test -p signet-server --test seal_bench -- --ignored --nocapture`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod common;

use common::GatedServer;
use serde_json::json;
use std::time::{Duration, Instant};

const ROUNDS: usize = 20;

fn summary(mut v: Vec<Duration>) -> (Duration, Duration, Duration) {
    v.sort();
    (v[0], v[v.len() / 2], v[v.len() - 1])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark"]
async fn unseal_time() {
    let dir = tempfile::tempdir().unwrap();
    let done = signet_server::init::init(&dir.path().join("data"), 5, 3, None).unwrap();
    let shares: Vec<String> = done.shares.iter().map(|s| s.reveal().to_string()).collect();
    let srv = GatedServer::start_in(dir, None).await;

    // The first unseal also creates the CAs, the log key and the admin token.
    for s in &shares[..2] {
        assert_eq!(srv.unseal(s).await.0, 200);
    }
    let started = Instant::now();
    let (status, v) = srv.unseal(&shares[2]).await;
    let first = started.elapsed();
    assert_eq!((status, &v["sealed"]), (200, &json!(false)), "{v}");
    let token = srv.admin_token();

    let mut unseal = Vec::new();
    let mut reference = Vec::new();
    for round in 0..ROUNDS {
        let (status, _) = srv.post("/v1/sys/seal", Some(&token), &json!({})).await;
        assert_eq!(status, 200);
        let client = srv.client();
        let set = [&shares[round % 5], &shares[(round + 1) % 5], &shares[(round + 2) % 5]];
        for s in &set[..2] {
            let r = client.post(srv.url("/v1/sys/unseal")).json(&json!({ "share": s })).send().await.unwrap();
            assert_eq!(r.status(), 200);
        }
        let t = Instant::now();
        let r = client.get(srv.url("/v1/sys/seal-status")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        reference.push(t.elapsed());
        let t = Instant::now();
        let r = client.post(srv.url("/v1/sys/unseal")).json(&json!({ "share": set[2] })).send().await.unwrap();
        let v: serde_json::Value = r.json().await.unwrap();
        unseal.push(t.elapsed());
        assert_eq!(v["sealed"], false, "{v}");
    }
    let (u_min, u_med, u_max) = summary(unseal);
    let (r_min, r_med, _) = summary(reference);
    println!("first unseal (creates the authority): {first:?}");
    println!("unseal, m-th share to unsealed, {ROUNDS} rounds: min {u_min:?}, median {u_med:?}, max {u_max:?}");
    println!("reference, seal-status round trip, same client: min {r_min:?}, median {r_med:?}");
    assert!(u_max < Duration::from_secs(1), "unseal took {u_max:?}");
    srv.stop().await;
}
