//! `signet log …`: read, export and verify the tamper-evident log. `verify`
//! and `verify-receipt` run offline and trust nothing but the key file.

use crate::client::{Client, ClientError, path_segment, query};
use crate::output::{self, Format};
use serde_json::Value;
use signet_log::export::{CHECKPOINTS_DIR, ENTRIES_FILE, LEAF_HASHES_FILE};
use signet_log::{Verifier, from_hex, leaf_hash, open_checkpoint, verify_export, verify_inclusion, write_export};
use std::path::{Path, PathBuf};

#[derive(clap::Subcommand, Debug)]
pub enum LogCmd {
    /// Show the newest signed checkpoint.
    Checkpoint,
    /// List log entries (events), oldest first.
    Show {
        /// Start after this index.
        #[arg(long)]
        after: Option<i64>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Search the log.
    Search {
        #[arg(long)]
        subject: Option<String>,
        #[arg(long)]
        credential: Option<String>,
        /// `token:tok_…` or `system`.
        #[arg(long)]
        actor: Option<String>,
        /// e.g. `credential.issued`, `request.denied`.
        #[arg(long = "type")]
        event_type: Option<String>,
        /// RFC 3339 time or unix seconds (inclusive).
        #[arg(long)]
        since: Option<String>,
        /// RFC 3339 time or unix seconds (exclusive).
        #[arg(long)]
        until: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// An inclusion proof for an entry index.
    Proof {
        #[arg(long)]
        index: u64,
        /// Tree size (default: the newest checkpoint).
        #[arg(long)]
        size: Option<u64>,
    },
    /// A consistency proof between two tree sizes.
    Consistency {
        #[arg(long)]
        first: u64,
        #[arg(long)]
        second: Option<u64>,
    },
    /// A credential's receipt: its entry, inclusion proof and signed checkpoint (JSON).
    Receipt {
        /// Credential id or serial.
        credential: String,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Check a receipt offline against the log's key.
    VerifyReceipt {
        file: PathBuf,
        /// The log's verifier key file (DATA/log.pub, or `GET /log/key`).
        #[arg(long)]
        key: PathBuf,
    },
    /// Write the whole log (entries, stored leaf hashes, signed checkpoints) to a new directory.
    Export { dir: PathBuf },
    /// Verify an export offline: recompute the tree, check every checkpoint's signature and consistency.
    Verify {
        dir: PathBuf,
        /// The log's verifier key file (DATA/log.pub, or `GET /log/key`). Required: nothing else is trusted.
        #[arg(long)]
        key: PathBuf,
    },
}

fn usage(e: impl std::fmt::Display) -> ClientError {
    ClientError::Usage(e.to_string())
}

fn read_key(path: &Path) -> Result<Verifier, ClientError> {
    let text = std::fs::read_to_string(path).map_err(|e| usage(format!("--key: cannot read `{}`: {e}", path.display())))?;
    Verifier::parse(text.trim()).map_err(|e| usage(format!("--key: `{}` is not a log verifier key: {e}", path.display())))
}

pub async fn run(cmd: LogCmd, g: &crate::Global) -> Result<(), ClientError> {
    match cmd {
        LogCmd::VerifyReceipt { file, key } => verify_receipt(&file, &read_key(&key)?),
        LogCmd::Verify { dir, key } => {
            let verifier = read_key(&key)?;
            let report = tokio::task::spawn_blocking(move || verify_export(&dir, &verifier)).await.map_err(usage)?.map_err(usage)?;
            println!(
                "OK: {} entries, {} checkpoints verified; newest checkpoint: size {} root {}",
                report.entries,
                report.checkpoints,
                report.latest.size(),
                signet_log::to_hex(report.latest.root())
            );
            if report.uncovered > 0 {
                println!("note: {} entries after the newest checkpoint are not yet covered by a signature", report.uncovered);
            }
            for w in report.warnings {
                println!("warning: {w}");
            }
            Ok(())
        }
        other => {
            let client = Client::new(g)?;
            online(other, &client, g.output).await
        }
    }
}

async fn online(cmd: LogCmd, client: &Client, format: Format) -> Result<(), ClientError> {
    match cmd {
        LogCmd::Checkpoint => print!("{}", client.get_text("/log/checkpoint").await?),
        LogCmd::Show { after, limit } => {
            let q = query(&[("after", after.map(|a| a.to_string())), ("limit", Some(limit.to_string()))]);
            output::events(format, &client.get(&format!("/v1/events{q}")).await?);
        }
        LogCmd::Search { subject, credential, actor, event_type, since, until, limit } => {
            let q = query(&[
                ("subject", subject),
                ("credential", credential),
                ("actor", actor),
                ("type", event_type),
                ("since", since),
                ("until", until),
                ("limit", Some(limit.to_string())),
            ]);
            output::events(format, &client.get(&format!("/log/v1/search{q}")).await?);
        }
        LogCmd::Proof { index, size } => {
            let q = query(&[("index", Some(index.to_string())), ("size", size.map(|s| s.to_string()))]);
            output::json(&client.get(&format!("/log/v1/proof/inclusion{q}")).await?);
        }
        LogCmd::Consistency { first, second } => {
            let q = query(&[("first", Some(first.to_string())), ("second", second.map(|s| s.to_string()))]);
            output::json(&client.get(&format!("/log/v1/proof/consistency{q}")).await?);
        }
        LogCmd::Receipt { credential, out } => {
            let v = client.get(&format!("/log/v1/receipt/{}", path_segment(&credential))).await?;
            let text = serde_json::to_string_pretty(&v).map_err(usage)?;
            match out {
                Some(path) => std::fs::write(&path, format!("{text}\n"))
                    .map_err(|e| usage(format!("--out: cannot write `{}`: {e}", path.display())))?,
                None => println!("{text}"),
            }
        }
        LogCmd::Export { dir } => export(client, &dir).await?,
        LogCmd::VerifyReceipt { .. } | LogCmd::Verify { .. } => {}
    }
    Ok(())
}

const PAGE: u32 = 10_000;

/// Export the log into `dir`, streaming: pages go to the files as they
/// arrive, so memory does not grow with the log. The checkpoints are read
/// first, so each one covers entries that are read after it. On any failure
/// the files written so far are removed: an export is whole or absent.
async fn export(client: &Client, dir: &Path) -> Result<(), ClientError> {
    if let Some(f) = [ENTRIES_FILE, LEAF_HASHES_FILE, CHECKPOINTS_DIR].iter().find(|f| dir.join(f).exists()) {
        return Err(usage(format!("`{}` already holds an export (`{f}`)", dir.display())));
    }
    let mut checkpoints: Vec<String> = Vec::new();
    let mut after = 0u64;
    loop {
        let v = client.get(&format!("/log/v1/checkpoints?after={after}&limit={PAGE}")).await?;
        let items = v["items"].as_array().cloned().unwrap_or_default();
        for c in &items {
            checkpoints.push(c["note"].as_str().unwrap_or_default().to_string());
            after = c["tree_size"].as_u64().unwrap_or(after);
        }
        if items.len() < PAGE as usize {
            break;
        }
    }

    // The writer runs on a blocking thread and reads pages from two
    // channels in turn (entries, then stored leaf hashes); two pages in
    // flight keep the network and the disk both busy.
    let (entries_tx, mut entries_rx) = tokio::sync::mpsc::channel::<Vec<Vec<u8>>>(2);
    let (leaves_tx, mut leaves_rx) = tokio::sync::mpsc::channel::<Vec<[u8; 32]>>(2);
    let c = checkpoints.len();
    let dir_owned = dir.to_path_buf();
    let writer = tokio::task::spawn_blocking(move || {
        let entries = std::iter::from_fn(move || entries_rx.blocking_recv()).flatten();
        let leaves = std::iter::from_fn(move || leaves_rx.blocking_recv()).flatten();
        write_export(&dir_owned, entries, leaves, &checkpoints)
    });
    let fetched = async {
        let mut n = 0usize;
        loop {
            let v = client.get(&format!("/log/v1/entries?start={n}&limit={PAGE}")).await?;
            let items = v["items"].as_array().cloned().unwrap_or_default();
            n += items.len();
            let page = items.iter().map(|e| e["entry"].as_str().unwrap_or_default().as_bytes().to_vec()).collect();
            // A failed send: the writer stopped (its error is reported below).
            if entries_tx.send(page).await.is_err() {
                return Ok((n, 0));
            }
            if items.len() < PAGE as usize {
                break;
            }
        }
        drop(entries_tx);
        let mut l = 0usize;
        loop {
            let v = client.get(&format!("/log/v1/leaves?start={l}&limit={PAGE}")).await?;
            let items = v["items"].as_array().cloned().unwrap_or_default();
            l += items.len();
            let page = items
                .iter()
                .map(|h| from_hex(h.as_str().unwrap_or_default().as_bytes()).ok_or_else(|| usage("the server sent a malformed leaf hash")))
                .collect::<Result<Vec<_>, _>>()?;
            if leaves_tx.send(page).await.is_err() || items.len() < PAGE as usize {
                break;
            }
        }
        drop(leaves_tx);
        Ok::<_, ClientError>((n, l))
    }
    .await;
    let written = writer.await.map_err(usage)?;
    let outcome = match (fetched, written) {
        (Ok(counts), Ok(())) => Ok(counts),
        (Err(e), _) => Err(e),
        (Ok(_), Err(e)) => Err(usage(format!("cannot write the export to `{}`: {e}", dir.display()))),
    };
    match outcome {
        Ok((n, l)) => {
            println!("exported {n} entries, {l} stored leaf hashes and {c} checkpoints to {}", dir.display());
            Ok(())
        }
        Err(e) => {
            remove_partial_export(dir);
            Err(e)
        }
    }
}

/// What a failed export wrote: the files it creates (none of them existed:
/// it refuses to start where one does).
fn remove_partial_export(dir: &Path) {
    for f in [ENTRIES_FILE, LEAF_HASHES_FILE] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    let _ = std::fs::remove_dir_all(dir.join(CHECKPOINTS_DIR));
}

fn verify_receipt(file: &Path, verifier: &Verifier) -> Result<(), ClientError> {
    let text = std::fs::read_to_string(file).map_err(|e| usage(format!("cannot read `{}`: {e}", file.display())))?;
    let r: Value = serde_json::from_str(&text).map_err(|e| usage(format!("`{}` is not a receipt: {e}", file.display())))?;
    let field = |k: &str| r.get(k).ok_or_else(|| usage(format!("the receipt has no `{k}`")));
    let checkpoint =
        open_checkpoint(field("checkpoint")?.as_str().unwrap_or_default(), verifier).map_err(|e| usage(format!("checkpoint: {e}")))?;
    let entry = field("entry")?.as_str().unwrap_or_default();
    let index = field("index")?.as_u64().ok_or_else(|| usage("receipt: `index` is not a number"))?;
    let proof: Vec<[u8; 32]> = field("proof")?
        .as_array()
        .ok_or_else(|| usage("receipt: `proof` is not a list"))?
        .iter()
        .map(|h| from_hex(h.as_str().unwrap_or_default().as_bytes()).ok_or_else(|| usage("receipt: a proof hash is malformed")))
        .collect::<Result<_, _>>()?;
    verify_inclusion(&leaf_hash(entry.as_bytes()), index, checkpoint.size(), &proof, checkpoint.root())
        .map_err(|e| usage(format!("entry {index} is not in the log the checkpoint signs: {e}")))?;
    println!(
        "OK: entry {index} is in the log `{}` of size {} (root {})",
        checkpoint.origin(),
        checkpoint.size(),
        signet_log::to_hex(checkpoint.root())
    );
    Ok(())
}
