//! `signet bench log`: the log's throughput on a real SQLite store, with the
//! machine's SHA-256 rate from the same run as the reference figure.

use signet_core::log::{LogKey, consistency_proof, grow_tree, inclusion_proof};
use signet_core::ports::{KeyStore, Store};
use signet_model::event::{EventType, NewEvent};
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct LogBench {
    /// Entries to append.
    #[arg(long, default_value_t = 1_000_000)]
    entries: u64,
    /// Entries per append transaction.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Where to put the throwaway store (default: a temporary directory).
    #[arg(long)]
    dir: Option<std::path::PathBuf>,
    /// Skip the export and offline verification (for very large runs).
    #[arg(long)]
    no_export: bool,
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

pub async fn run(b: LogBench) -> Result<(), String> {
    if b.entries == 0 || b.batch == 0 {
        return Err("--entries and --batch must be positive".into());
    }
    let tmp = tempfile::tempdir().map_err(err)?;
    let dir = b.dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir).map_err(err)?;
    let store = signet_store::SqliteStore::open(&dir.join("bench.db")).await.map_err(err)?;
    let keys = signet_keys::SoftwareKeyStore::new(dir.join("keys")).map_err(err)?;
    let key = LogKey::new(keys.generate("log", signet_model::profile::KeyAlgorithm::Ed25519).map_err(err)?, "signet/bench").map_err(err)?;
    let now = signet_core::ports::Clock::now(&signet_core::clock::SystemClock);

    // 1. Append: events in batches, each batch one transaction (one fsync).
    let event = |i: u64| NewEvent {
        event_type: EventType::RequestDenied,
        actor: "token:tok_0190000000000000000000000000000a".into(),
        subject_id: None,
        request_id: None,
        credential_id: None,
        reason: Some("names.dns[0]: DNS name `x.example.com` is not allowed by the profile".into()),
        details: serde_json::json!({ "profile": "tls-server", "profile_version": 1, "field": "names.dns[0]", "n": i }),
        trace_id: Some(format!("r{i:016x}")),
        time: now,
    };
    eprintln!("appending {} entries in batches of {}…", b.entries, b.batch);
    let t = Instant::now();
    let mut i = 0u64;
    while i < b.entries {
        let n = (b.batch as u64).min(b.entries - i);
        let events: Vec<NewEvent> = (i..i + n).map(event).collect();
        store.insert_authorities(&[], &events).await.map_err(err)?;
        i += n;
    }
    let append = t.elapsed().as_secs_f64();

    // 2. Grow the tree and sign checkpoints until it covers everything.
    let t = Instant::now();
    let mut checkpoints = 0;
    while grow_tree(&store, &key, now).await.map_err(err)?.is_some() {
        checkpoints += 1;
    }
    let grow = t.elapsed().as_secs_f64();
    let (size, _) = store.log_tree().await.map_err(err)?;

    // 3. Proofs against the store, at the full size.
    let samples = 1000u64;
    let t = Instant::now();
    for k in 0..samples {
        let index = (k * 7_919_993) % size;
        inclusion_proof(&store, index, size).await.map_err(err)?;
    }
    let inclusion = t.elapsed().as_secs_f64() / samples as f64;
    let t = Instant::now();
    for k in 1..=samples {
        let m = ((k * 7_919_993) % (size - 1)).max(1);
        consistency_proof(&store, m, size).await.map_err(err)?;
    }
    let consistency = t.elapsed().as_secs_f64() / samples as f64;

    println!("signet bench log: {} entries, SQLite at {}", size, dir.display());
    println!("  append                {:.0} entries/s  (batches of {}, one transaction each)", b.entries as f64 / append, b.batch);
    println!("  grow tree + sign      {:.0} entries/s  ({checkpoints} checkpoints)", size as f64 / grow);
    println!("  inclusion proof       {:.3} ms  (mean of {samples}, from the store)", inclusion * 1000.0);
    println!("  consistency proof     {:.3} ms  (mean of {samples}, from the store)", consistency * 1000.0);
    if !b.no_export {
        export_and_verify(&store, &key, &dir).await?;
    }

    // Reference: SHA-256 of 200-byte messages, one core.
    let msg = [0x5au8; 200];
    let t = Instant::now();
    let mut hashes = 0u64;
    while t.elapsed().as_secs_f64() < 1.0 {
        std::hint::black_box(signet_log::leaf_hash(&msg));
        hashes += 1;
    }
    let sha = hashes as f64 / t.elapsed().as_secs_f64();
    println!("  raw SHA-256/s         {sha:.0}  (200-byte messages, one core, same run)");
    Ok(())
}

async fn export_and_verify(store: &signet_store::SqliteStore, key: &LogKey, dir: &std::path::Path) -> Result<(), String> {
    let size = store.log_tree().await.map_err(err)?.0;
    let export_dir = dir.join("export");
    let t = Instant::now();
    let mut entries = Vec::with_capacity(size as usize);
    let mut start = 0i64;
    loop {
        let page = store.log_entries(start, 50_000).await.map_err(err)?;
        if page.is_empty() {
            break;
        }
        start += page.len() as i64;
        entries.extend(page.into_iter().map(|e| e.entry));
    }
    let mut leaves = Vec::with_capacity(size as usize);
    loop {
        let page = store.log_tree_leaves(leaves.len() as u64, 50_000).await.map_err(err)?;
        if page.is_empty() {
            break;
        }
        leaves.extend(page);
    }
    let notes: Vec<String> = store.list_checkpoints(0, 100_000).await.map_err(err)?.into_iter().map(|c| c.note).collect();
    let written = notes.len();
    signet_log::write_export(&export_dir, entries, leaves, &notes).map_err(err)?;
    let export = t.elapsed().as_secs_f64();
    let verifier = key.verifier().clone();
    let t = Instant::now();
    let report = tokio::task::spawn_blocking(move || signet_log::verify_export(&export_dir, &verifier)).await.map_err(err)?.map_err(err)?;
    let verify = t.elapsed().as_secs_f64();
    println!("  export                {:.2} s  ({written} checkpoints)", export);
    println!("  verify export         {:.2} s  ({} entries, {} checkpoints verified)", verify, report.entries, report.checkpoints);
    Ok(())
}
