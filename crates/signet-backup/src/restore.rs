//! `signet restore`: check everything, then write everything or nothing.
//!
//! ```text
//!  target empty? (data directory, database) ─▶ decrypt + authenticate every chunk ─▶ parse, check counts
//!    ─▶ verify the log in the backup (entries, stored leaf hashes, signed checkpoints, log.pub)
//!    ─▶ stage the files in DATA/.restoring ─▶ one database transaction: schema, rows,
//!       read the log back and verify it again, move the staged files into place ─▶ commit
//!  any failure: roll back, remove what was staged or moved (and the data directory if we made it)
//! ```

use crate::backup::location;
use crate::container::{self, BackupInfo, Header};
use crate::datadir::{self, Staged};
use crate::error::BackupError;
use crate::passphrase::Passphrase;
use crate::payload::{self, Contents};
use signet_log::{Verifier, verify_export, write_export};
use signet_store::snapshot::{self, DatabaseSnapshot, LogReadBack, Value};
use std::path::{Path, PathBuf};

pub struct RestoreOptions {
    pub input: PathBuf,
    pub data_dir: PathBuf,
    pub database: Option<String>,
}

/// What the verified log says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSummary {
    pub entries: u64,
    pub checkpoints: usize,
    pub tree_size: u64,
    pub root_hash: String,
    /// Entries after the newest checkpoint (the restored server signs them).
    pub uncovered: u64,
}

#[derive(Debug)]
pub struct RestoreSummary {
    pub header: Header,
    pub tables: usize,
    pub rows: u64,
    pub files: Vec<String>,
    pub log: LogSummary,
}

/// Open, authenticate and parse a backup, and verify the log it holds.
/// Writes nothing.
pub fn open_and_verify(input: &Path, passphrase: &Passphrase) -> Result<(Header, Contents, LogSummary), BackupError> {
    let mut file = std::fs::File::open(input).map_err(|source| BackupError::Read { path: input.to_path_buf(), source })?;
    let (header, plain) = container::open(&mut std::io::BufReader::with_capacity(1 << 20, &mut file), input, passphrase)?;
    let contents = payload::parse(&plain)?;
    drop(plain);
    if contents.database.backend != header.info.backend {
        return Err(BackupError::Malformed("its header and its contents name different databases".into()));
    }
    for f in &contents.files {
        datadir::check_path(&f.path)?;
    }
    let log_pub =
        contents.files.iter().find(|f| f.path == datadir::LOG_PUB).ok_or_else(|| BackupError::Malformed("it holds no `log.pub`".into()))?;
    let verifier = verifier(&log_pub.data)?;
    let log = verify_log(&log_from_snapshot(&contents.database)?, &verifier, &header.info)?;
    Ok((header, contents, log))
}

pub(crate) fn verifier(log_pub: &[u8]) -> Result<Verifier, BackupError> {
    let text = std::str::from_utf8(log_pub).map_err(|_| BackupError::Log("`log.pub` is not text".into()))?;
    Verifier::parse(text.trim()).map_err(|e| BackupError::Log(format!("`log.pub` is not a log verifier key: {e}")))
}

/// Verify a log with the offline verifier of `signet log verify`, and check
/// that its newest checkpoint is the one the (authenticated) header names.
/// `signet backup` runs the same check on the store it backs up.
pub(crate) fn verify_log(log: &LogReadBack, verifier: &Verifier, info: &BackupInfo) -> Result<LogSummary, BackupError> {
    let dir = tempfile::tempdir().map_err(|e| BackupError::Log(format!("cannot make a scratch directory: {e}")))?;
    let export = dir.path().join("log");
    write_export(&export, log.entries.iter().cloned(), log.leaf_hashes.iter().copied(), &log.checkpoints)
        .map_err(|e| BackupError::Log(format!("cannot write the log for verification: {e}")))?;
    let report = verify_export(&export, verifier).map_err(|e| BackupError::Log(e.to_string()))?;
    let root_hash = signet_log::to_hex(report.latest.root());
    if report.latest.size() != info.log_tree_size || root_hash != info.log_root_hash {
        return Err(BackupError::Log(format!(
            "its newest checkpoint (size {}, root {root_hash}) is not the one the header names (size {}, root {})",
            report.latest.size(),
            info.log_tree_size,
            info.log_root_hash
        )));
    }
    Ok(LogSummary {
        entries: report.entries,
        checkpoints: report.checkpoints,
        tree_size: report.latest.size(),
        root_hash,
        uncovered: report.uncovered,
    })
}

/// The log as the snapshot's `events`, `log_nodes` and `log_checkpoints` rows hold it.
pub(crate) fn log_from_snapshot(db: &DatabaseSnapshot) -> Result<LogReadBack, BackupError> {
    let table = |name: &str| {
        db.tables.iter().find(|t| t.info.name == name).ok_or_else(|| BackupError::Malformed(format!("it has no table `{name}`")))
    };
    let column = |t: &snapshot::TableData, name: &str| {
        t.info
            .columns
            .iter()
            .position(|c| c.name == name)
            .ok_or_else(|| BackupError::Malformed(format!("table `{}` has no column `{name}`", t.info.name)))
    };
    let int = |row: &[Value], i: usize| match row.get(i) {
        Some(Value::Int(v)) => Ok(*v),
        _ => Err(BackupError::Malformed("a log row has no integer where one belongs".into())),
    };
    let bytes = |row: &[Value], i: usize| match row.get(i) {
        Some(Value::Blob(v)) => Ok(v.clone()),
        Some(Value::Text(v)) => Ok(v.as_bytes().to_vec()),
        _ => Err(BackupError::Malformed("a log row has no bytes where they belong".into())),
    };

    let events = table("events")?;
    let (ix, entry) = (column(events, "event_index")?, column(events, "entry")?);
    let mut entries = events.rows.iter().map(|r| Ok((int(r, ix)?, bytes(r, entry)?))).collect::<Result<Vec<_>, BackupError>>()?;
    entries.sort_by_key(|(i, _)| *i);

    let nodes = table("log_nodes")?;
    let (level, nix, hash) = (column(nodes, "level")?, column(nodes, "node_index")?, column(nodes, "hash")?);
    let mut leaves = Vec::new();
    for r in &nodes.rows {
        if int(r, level)? == 0 {
            let h = <[u8; 32]>::try_from(bytes(r, hash)?.as_slice())
                .map_err(|_| BackupError::Malformed("a stored leaf hash is not 32 bytes".into()))?;
            leaves.push((int(r, nix)?, h));
        }
    }
    leaves.sort_by_key(|(i, _)| *i);

    let cps = table("log_checkpoints")?;
    let (size, note) = (column(cps, "tree_size")?, column(cps, "note")?);
    let mut checkpoints = cps
        .rows
        .iter()
        .map(|r| {
            Ok((int(r, size)?, String::from_utf8(bytes(r, note)?).map_err(|_| BackupError::Malformed("a checkpoint is not text".into()))?))
        })
        .collect::<Result<Vec<_>, BackupError>>()?;
    checkpoints.sort_by_key(|(s, _)| *s);

    Ok(LogReadBack {
        entries: entries.into_iter().map(|(_, e)| e).collect(),
        leaf_hashes: leaves.into_iter().map(|(_, h)| h).collect(),
        checkpoints: checkpoints.into_iter().map(|(_, n)| n).collect(),
    })
}

/// Restore into an empty data directory and an empty database.
pub async fn restore(opts: &RestoreOptions, passphrase: &Passphrase) -> Result<RestoreSummary, BackupError> {
    let location = location(&opts.data_dir, opts.database.as_deref())?;
    // Refuse a non-empty target before the (slow) key derivation, and again
    // inside the writing transaction.
    datadir::check_empty(&opts.data_dir)?;
    snapshot::check_empty(&location).await.map_err(not_empty)?;
    let (header, contents, _) = open_and_verify(&opts.input, passphrase)?;
    let verifier = verifier(&contents.files.iter().find(|f| f.path == datadir::LOG_PUB).map(|f| f.data.to_vec()).unwrap_or_default())?;

    let created_dir = !opts.data_dir.exists();
    datadir::private_dir(&opts.data_dir)?;
    let result = write(opts, &location, &header, &contents, &verifier).await;
    match result {
        Ok((rows, log)) => Ok(RestoreSummary {
            tables: contents.database.tables.len(),
            rows,
            files: contents.files.iter().map(|f| f.path.clone()).collect(),
            header,
            log,
        }),
        Err(e) => {
            if created_dir {
                let _ = std::fs::remove_dir_all(&opts.data_dir);
            }
            Err(e)
        }
    }
}

fn not_empty(e: snapshot::SnapshotError) -> BackupError {
    match e {
        snapshot::SnapshotError::NotEmpty(what) => BackupError::NotEmpty(format!("the database: {what}")),
        other => BackupError::Store(other),
    }
}

async fn write(
    opts: &RestoreOptions,
    location: &snapshot::Location,
    header: &Header,
    contents: &Contents,
    verifier: &Verifier,
) -> Result<(u64, LogSummary), BackupError> {
    let mut staged = Staged::write(&opts.data_dir, &contents.files)?;
    let mut log = None;
    let mut moved_error = None;
    let result = snapshot::restore(location, &contents.database, |read_back| {
        // The log as the database now holds it, before anything is committed.
        let summary = verify_log(&read_back, verifier, &header.info).map_err(|e| format!("the restored log does not verify: {e}"))?;
        log = Some(summary);
        staged.commit().map_err(|e| {
            let text = e.to_string();
            moved_error = Some(e);
            text
        })
    })
    .await;
    match (result, log) {
        (Ok(rows), Some(log)) => Ok((rows, log)),
        (result, _) => {
            staged.undo();
            match (result, moved_error) {
                (_, Some(e)) => Err(e),
                (Err(e), None) => Err(not_empty(e)),
                (Ok(_), None) => Err(BackupError::Log("the restored log was not verified".into())),
            }
        }
    }
}

/// For `--verify-only`: the header, what the backup holds, and its log's verification.
pub fn verify_only(input: &Path, passphrase: &Passphrase) -> Result<RestoreSummary, BackupError> {
    let (header, contents, log) = open_and_verify(input, passphrase)?;
    Ok(RestoreSummary {
        tables: contents.database.tables.len(),
        rows: contents.database.tables.iter().map(|t| t.rows.len() as u64).sum(),
        files: contents.files.iter().map(|f| f.path.clone()).collect(),
        header,
        log,
    })
}
