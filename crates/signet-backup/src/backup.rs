//! `signet backup`: one consistent snapshot of the store and the keystore
//! files, encrypted, while the server runs.

use crate::container::{BackupInfo, Sealer};
use crate::datadir;
use crate::error::BackupError;
use crate::passphrase::Passphrase;
use crate::payload::{PAYLOAD_FORMAT, PayloadWriter};
use signet_core::ports::{Clock, Rng};
use signet_store::snapshot::{DatabaseSnapshot, ForEachError, Location, SnapshotReader, TableData, Value};
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use time::format_description::well_known::Rfc3339;

/// The tables that hold the log: what its verification reads.
const LOG_TABLES: [&str; 3] = ["events", "log_nodes", "log_checkpoints"];

/// The KeyStore name of the log's signing key (as `signet serve` names it).
const LOG_KEY_REF: &str = "log";

pub struct BackupOptions {
    pub data_dir: PathBuf,
    /// The database URL or path; default: the embedded store in the data directory.
    pub database: Option<String>,
    pub out: PathBuf,
    pub include_local_unseal_key: bool,
    pub iterations: u32,
}

#[derive(Debug)]
pub struct BackupSummary {
    pub info: BackupInfo,
    pub tables: u64,
    pub rows: u64,
    pub files: u64,
    pub bytes: u64,
}

/// The database a command addresses: `--database`, or `DATA/signet.db`.
pub fn location(data_dir: &Path, database: Option<&str>) -> Result<Location, BackupError> {
    match database {
        Some(d) => Ok(Location::parse(d)?),
        None => Ok(Location::Sqlite(data_dir.join(datadir::DATABASE_FILE))),
    }
}

/// Take a backup into `opts.out` (which must not exist). The file appears
/// only when complete: it is written as `OUT.partial` and linked into place.
pub async fn create_backup(
    opts: &BackupOptions,
    passphrase: &Passphrase,
    clock: &dyn Clock,
    rng: &dyn Rng,
) -> Result<BackupSummary, BackupError> {
    passphrase.check_strength()?;
    if opts.out.exists() {
        return Err(BackupError::Usage(format!("--out: `{}` already exists", opts.out.display())));
    }
    if !opts.data_dir.join(datadir::SEAL_CONFIG).is_file() {
        return Err(BackupError::DataDir {
            dir: opts.data_dir.clone(),
            reason: "has no `seal.json`: is it a Signet data directory?".into(),
        });
    }
    let location = location(&opts.data_dir, opts.database.as_deref())?;
    let mut partial = opts.out.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let file = datadir::write_new(&partial, &[], 0o600)?;
    let result = write(opts, &location, file, passphrase, clock, rng).await;
    let result = result.and_then(|summary| {
        std::fs::hard_link(&partial, &opts.out).map_err(|source| BackupError::Write { path: opts.out.clone(), source })?;
        Ok(summary)
    });
    let _ = std::fs::remove_file(&partial);
    result
}

async fn write(
    opts: &BackupOptions,
    location: &Location,
    file: std::fs::File,
    passphrase: &Passphrase,
    clock: &dyn Clock,
    rng: &dyn Rng,
) -> Result<BackupSummary, BackupError> {
    // The database first, in one read transaction; then the key files, which
    // are only ever added: every key the snapshot refers to is on disk by then.
    let mut reader = SnapshotReader::open(location).await?;
    let migrations = reader.migrations().await?;
    let schema_version = migrations.last().map(|m| m.version).unwrap_or(0);
    let tables = reader.tables().await?;
    let newest = reader.newest_checkpoint().await?.ok_or_else(|| {
        BackupError::Log("the log has no signed checkpoint yet: start the server (it signs one within a second) and try again".into())
    })?;
    let info = BackupInfo {
        format: PAYLOAD_FORMAT,
        created_at: clock.now().format(&Rfc3339).map_err(|e| BackupError::Malformed(e.to_string()))?,
        backend: reader.backend(),
        schema_version,
        log_tree_size: newest.tree_size,
        log_root_hash: hex(&newest.root_hash),
        includes_local_unseal_key: opts.include_local_unseal_key,
    };
    let sealer = Sealer::new(BufWriter::with_capacity(1 << 20, file), passphrase, info.clone(), rng, opts.iterations)?;
    let mut payload = PayloadWriter::new(sealer, reader.backend(), &migrations)?;
    let mut key_refs = vec![LOG_KEY_REF.to_string()];
    // The log's tables, kept to verify the log before the backup is kept.
    let mut log = DatabaseSnapshot { backend: reader.backend(), migrations: Vec::new(), tables: Vec::new() };
    for table in &tables {
        let n = reader.count(table).await?;
        payload.table(table, n)?;
        let key_ref_column = if table.name == "authorities" { table.columns.iter().position(|c| c.name == "key_ref") } else { None };
        let mut log_rows = LOG_TABLES.contains(&table.name.as_str()).then(|| TableData { info: table.clone(), rows: Vec::new() });
        reader
            .for_each_row(table, |row: Vec<Value>| {
                if let Some(Value::Text(r)) = key_ref_column.and_then(|i| row.get(i)) {
                    key_refs.push(r.clone());
                }
                payload.row(&table.columns, &row)?;
                if let Some(t) = &mut log_rows {
                    t.rows.push(row);
                }
                Ok(())
            })
            .await
            .map_err(|e| match e {
                ForEachError::Snapshot(e) => BackupError::Store(e),
                ForEachError::Sink(e) => e,
            })?;
        log.tables.extend(log_rows);
    }
    reader.close().await?;

    let files = datadir::collect(&opts.data_dir, opts.include_local_unseal_key)?;
    // A store whose log does not verify is not backed up: the restore would
    // refuse it, and the backup would carry the tampering on. The same
    // verification as the restore's (`signet log verify`'s), with the data
    // directory's log key.
    let log_pub = files.iter().find(|f| f.path == datadir::LOG_PUB).map(|f| f.data.as_slice()).unwrap_or_default();
    crate::restore::verify_log(&crate::restore::log_from_snapshot(&log)?, &crate::restore::verifier(log_pub)?, &info)?;
    for r in &key_refs {
        let name = format!("{}/{r}.sealed", datadir::KEYS_DIR);
        if !files.iter().any(|f| f.path == name) {
            return Err(BackupError::DataDir {
                dir: opts.data_dir.clone(),
                reason: format!("has no `{name}`, which the store refers to: is it the data directory of this database?"),
            });
        }
    }
    for f in &files {
        payload.file(f)?;
    }
    let (sealer, tables, rows, files) = payload.end()?;
    let out = sealer.finish().map_err(|source| BackupError::Write { path: opts.out.clone(), source })?;
    let file = out.into_inner().map_err(|e| BackupError::Write { path: opts.out.clone(), source: e.into_error() })?;
    file.sync_all().map_err(|source| BackupError::Write { path: opts.out.clone(), source })?;
    let bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
    Ok(BackupSummary { info, tables, rows, files, bytes })
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
