//! `signet backup` and `signet restore`: thin adapters over `signet_backup`.

use crate::client::ClientError;
use signet_backup::container::DEFAULT_ITERATIONS;
use signet_backup::{BackupOptions, Passphrase, RestoreOptions, RestoreSummary};
use signet_core::clock::{SystemClock, SystemRng};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct BackupArgs {
    /// Data directory of the server (keys, seal.json, log.pub, ca.pem; the embedded store).
    #[arg(long = "data", env = "SIGNET_DATA_DIR", default_value = "signet-data")]
    data_dir: PathBuf,
    /// PostgreSQL URL (`postgres://…`); default: the embedded SQLite store in the data directory.
    #[arg(long, env = "SIGNET_DATABASE", hide_env_values = true)]
    database: Option<String>,
    /// The backup file to create (refused if it exists).
    #[arg(long)]
    out: PathBuf,
    /// File holding the passphrase (one trailing newline is ignored); default: $SIGNET_BACKUP_PASSPHRASE.
    #[arg(long)]
    passphrase_file: Option<PathBuf>,
    /// Also put the local unseal key (DATA/unseal-key, the master key of the quick start) in the backup.
    /// Anyone with the backup and its passphrase can then use the authority's keys.
    #[arg(long)]
    include_local_unseal_key: bool,
}

#[derive(clap::Args, Debug)]
pub struct RestoreArgs {
    /// The backup file.
    #[arg(long = "in")]
    input: PathBuf,
    /// Data directory to restore into: it must not exist or be empty.
    #[arg(long = "data", env = "SIGNET_DATA_DIR", default_value = "signet-data")]
    data_dir: PathBuf,
    /// PostgreSQL URL of an empty database; default: the embedded SQLite store in the data directory.
    #[arg(long, env = "SIGNET_DATABASE", hide_env_values = true)]
    database: Option<String>,
    /// File holding the passphrase (one trailing newline is ignored); default: $SIGNET_BACKUP_PASSPHRASE.
    #[arg(long)]
    passphrase_file: Option<PathBuf>,
    /// Only decrypt, authenticate and verify the backup, and show what it holds; write nothing.
    #[arg(long)]
    verify_only: bool,
}

fn usage(e: impl std::fmt::Display) -> ClientError {
    ClientError::Usage(e.to_string())
}

pub async fn backup(a: BackupArgs) -> Result<(), ClientError> {
    let passphrase = Passphrase::from_file_or_env(a.passphrase_file.as_deref()).map_err(usage)?;
    let opts = BackupOptions {
        data_dir: a.data_dir,
        database: a.database,
        out: a.out,
        include_local_unseal_key: a.include_local_unseal_key,
        iterations: DEFAULT_ITERATIONS,
    };
    let s = signet_backup::create_backup(&opts, &passphrase, &SystemClock, &SystemRng).await.map_err(usage)?;
    println!("backup written to {}: {} tables, {} rows, {} files, {} bytes", opts.out.display(), s.tables, s.rows, s.files, s.bytes);
    println!("  log: size {} root {}", s.info.log_tree_size, s.info.log_root_hash);
    if opts.include_local_unseal_key {
        println!("  the local unseal key is inside: the backup and its passphrase together open the authority's keys");
    } else {
        println!(
            "  not included: {} (keep it apart from the backup: the restored keys need it), admin-token",
            opts.data_dir.join("unseal-key").display()
        );
    }
    Ok(())
}

pub async fn restore(a: RestoreArgs) -> Result<(), ClientError> {
    let passphrase = Passphrase::from_file_or_env(a.passphrase_file.as_deref()).map_err(usage)?;
    if a.verify_only {
        let input = a.input.clone();
        let s =
            tokio::task::spawn_blocking(move || signet_backup::verify_only(&input, &passphrase)).await.map_err(usage)?.map_err(usage)?;
        print_summary("OK: the backup authenticates and its log verifies", &s);
        return Ok(());
    }
    let opts = RestoreOptions { input: a.input, data_dir: a.data_dir, database: a.database };
    let s = signet_backup::restore(&opts, &passphrase).await.map_err(usage)?;
    print_summary(&format!("restored into {}", opts.data_dir.display()), &s);
    if !s.files.iter().any(|f| f == "unseal-key") {
        println!("  next: put the local unseal key at {} (mode 0600) before `signet serve`", opts.data_dir.join("unseal-key").display());
    }
    Ok(())
}

fn print_summary(title: &str, s: &RestoreSummary) {
    let i = &s.header.info;
    println!("{title}");
    println!("  taken:    {} from {} (schema version {})", i.created_at, i.backend, i.schema_version);
    println!("  contents: {} tables, {} rows, {} files ({})", s.tables, s.rows, s.files.len(), s.files.join(", "));
    println!(
        "  log:      {} entries, {} checkpoints verified; newest checkpoint: size {} root {}",
        s.log.entries, s.log.checkpoints, s.log.tree_size, s.log.root_hash
    );
    if s.log.uncovered > 0 {
        println!("  note: {} entries after the newest checkpoint; the server signs them at its next start", s.log.uncovered);
    }
}
