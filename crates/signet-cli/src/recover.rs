//! `signet recover`: break-glass for the authority itself, on the host
//! (signet_server::recover does the work; docs/RECOVERY.md).

use crate::client::ClientError;
use crate::output::{self, Format};
use clap::Args;
use signet_server::recover::{RecoverRequest, run, shares_needed};
use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use zeroize::Zeroizing;

#[derive(Args, Debug)]
pub struct RecoverArgs {
    /// Why (required; recorded in every event of the recovery).
    #[arg(long)]
    reason: String,
    /// Activate the built-in default policy set as a new version.
    #[arg(long)]
    reset_policy: bool,
    /// Create an admin operator of this name (admin, every site) and write its token to --token-file.
    #[arg(long, value_name = "NAME")]
    new_admin: Option<String>,
    /// Where the new admin's token is written (mode 0600; must not exist). Default DATA/recovery-admin-token.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// An unseal share file (repeat it; `-` reads the shares from standard input, one a line).
    /// Without it the shares are prompted for (hidden), or read from standard input.
    #[arg(long)]
    share_file: Vec<PathBuf>,
    /// TOML configuration file of the server (its data directory, database and keystore).
    #[arg(long, env = "SIGNET_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory. Default ./signet-data.
    #[arg(long = "data", env = "SIGNET_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// PostgreSQL URL (`postgres://…`); default: the SQLite store in the data directory.
    #[arg(long, env = "SIGNET_DATABASE", hide_env_values = true)]
    database: Option<String>,
}

/// The shares, as many as the seal needs: from the files given, else a hidden prompt each, else standard input.
fn read_shares(files: &[PathBuf], needed: Option<u8>) -> Result<Vec<Zeroizing<String>>, ClientError> {
    let mut shares = Vec::new();
    for path in files {
        if path.as_os_str() == "-" {
            for line in std::io::stdin().lock().lines() {
                let line = Zeroizing::new(line.map_err(|e| ClientError::Usage(format!("cannot read standard input: {e}")))?);
                if !line.trim().is_empty() {
                    shares.push(Zeroizing::new(line.trim().to_string()));
                }
            }
        } else {
            let text = Zeroizing::new(
                std::fs::read_to_string(path)
                    .map_err(|e| ClientError::Usage(format!("--share-file: cannot read `{}`: {e}", path.display())))?,
            );
            shares.push(Zeroizing::new(text.trim().to_string()));
        }
    }
    let Some(needed) = needed else { return Ok(shares) };
    if !files.is_empty() {
        return Ok(shares);
    }
    for i in 1..=needed {
        let share = if std::io::stdin().is_terminal() {
            Zeroizing::new(
                dialoguer::Password::new()
                    .with_prompt(format!("Unseal share {i} of {needed}"))
                    .interact()
                    .map_err(|e| ClientError::Usage(format!("cannot read the share: {e}")))?,
            )
        } else {
            let mut line = Zeroizing::new(String::new());
            std::io::stdin().lock().read_line(&mut line).map_err(|e| ClientError::Usage(format!("cannot read standard input: {e}")))?;
            line
        };
        shares.push(Zeroizing::new(share.trim().to_string()));
    }
    Ok(shares)
}

pub async fn recover(a: RecoverArgs, format: Format) -> Result<(), ClientError> {
    use signet_server::config::{ConfigFile, ServerConfig};
    let file = match &a.config {
        Some(p) => ConfigFile::load(p).map_err(|e| ClientError::Usage(e.to_string()))?,
        None => ConfigFile::default(),
    };
    let overrides = ConfigFile { data_dir: a.data_dir, database: a.database, ..Default::default() };
    let config = ServerConfig::resolve(overrides.or(file)).map_err(|e| ClientError::Usage(e.to_string()))?;
    let needed = shares_needed(&config).map_err(|e| ClientError::Usage(e.to_string()))?;
    let shares = read_shares(&a.share_file, needed)?;
    let request = RecoverRequest {
        reason: a.reason,
        reset_policy: a.reset_policy,
        new_admin: a.new_admin,
        token_file: a.token_file.unwrap_or_else(|| config.data_dir.join("recovery-admin-token")),
        shares,
    };
    let done = run(&config, request).await.map_err(|e| ClientError::Usage(e.to_string()))?;
    if format == Format::Json {
        output::json(&serde_json::json!({
            "policy_version": done.policy_version, "admin_id": done.admin_id,
            "token_file": done.token_file.as_ref().map(|p| p.display().to_string()),
            "checkpoint_size": done.checkpoint_size, "proof": done.proof,
        }));
        return Ok(());
    }
    println!("Recovered (unsealed with {}); every step is in the log as `authority.recovered`, high severity.", done.proof);
    if let Some(v) = done.policy_version {
        println!("  policy:    the built-in default set is active as version {v}");
    }
    if let (Some(id), Some(path)) = (&done.admin_id, &done.token_file) {
        println!("  admin:     {id}, its token in {} (mode 0600; keep it secret)", path.display());
    }
    if let Some(size) = done.checkpoint_size {
        println!("  log:       checkpoint signed at {size} entries");
    }
    Ok(())
}
