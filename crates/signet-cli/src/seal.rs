//! `signet init`, `signet unseal`, `signet seal`, `signet seal-status`.

use crate::Global;
use crate::client::{Client, ClientError};
use crate::output::{self, Format};
use clap::Args;
use serde_json::{Value, json};
use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use zeroize::Zeroizing;

#[derive(Args, Debug)]
pub struct InitArgs {
    /// Data directory to initialise (must not hold a seal, keys or a store yet). Default ./signet-data.
    #[arg(long = "data", env = "SIGNET_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// How many shares to create (n).
    #[arg(long, default_value_t = signet_keys::sealed::DEFAULT_SHARES)]
    shares: u8,
    /// How many shares unseal (m).
    #[arg(long, default_value_t = signet_keys::sealed::DEFAULT_THRESHOLD)]
    threshold: u8,
    /// Write one file per share here (share-N.txt, mode 0600) instead of printing them.
    #[arg(long)]
    out_dir: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct UnsealArgs {
    /// Read the share from this file (`-` for standard input) instead of prompting.
    #[arg(long)]
    share_file: Option<PathBuf>,
    /// Discard the shares submitted so far instead of submitting one (needs --progress-token).
    #[arg(long, conflicts_with = "share_file")]
    reset: bool,
    /// With --reset: the progress token printed when a share of this unseal was accepted.
    #[arg(long, env = "SIGNET_UNSEAL_PROGRESS_TOKEN", requires = "reset", hide_env_values = true)]
    progress_token: Option<String>,
}

pub fn init(a: InitArgs, format: Format) -> Result<(), ClientError> {
    let data_dir = a.data_dir.unwrap_or_else(|| PathBuf::from("signet-data"));
    let done =
        signet_server::init::init(&data_dir, a.shares, a.threshold, a.out_dir.as_deref()).map_err(|e| ClientError::Usage(e.to_string()))?;
    if format == Format::Json {
        let shares: Vec<Value> = if done.share_files.is_empty() {
            done.shares.iter().map(|s| json!({ "index": s.index(), "share": s.reveal() })).collect()
        } else {
            done.share_files.iter().map(|p| json!({ "file": p.display().to_string() })).collect()
        };
        output::json(&json!({
            "seal_id": done.seal_id, "shares": done.total, "threshold": done.threshold,
            "seal_config": done.seal_path.display().to_string(), "share_list": shares,
        }));
        return Ok(());
    }
    println!("Initialised {} (seal {}): {} shares, any {} of which unseal.", data_dir.display(), done.seal_id, done.total, done.threshold);
    if done.share_files.is_empty() {
        println!("Hand each share to a different custodian. They are shown this once and stored nowhere:");
        for s in &done.shares {
            println!("  {}", s.reveal());
        }
    } else {
        println!("One file per share (mode 0600); hand each to a different custodian, then delete it here:");
        for p in &done.share_files {
            println!("  {}", p.display());
        }
    }
    println!("Next: `signet serve` starts sealed; give {} shares with `signet unseal`.", done.threshold);
    Ok(())
}

/// The share text, from `--share-file`, a hidden prompt, or a line of standard input.
fn read_share(file: Option<PathBuf>) -> Result<Zeroizing<String>, ClientError> {
    let text = match file {
        Some(path) if path.as_os_str() == "-" => read_line_stdin()?,
        Some(path) => Zeroizing::new(
            std::fs::read_to_string(&path)
                .map_err(|e| ClientError::Usage(format!("--share-file: cannot read `{}`: {e}", path.display())))?,
        ),
        None if std::io::stdin().is_terminal() => Zeroizing::new(
            dialoguer::Password::new()
                .with_prompt("Unseal share")
                .interact()
                .map_err(|e| ClientError::Usage(format!("cannot read the share: {e}")))?,
        ),
        None => read_line_stdin()?,
    };
    let trimmed = Zeroizing::new(text.trim().to_string());
    if trimmed.is_empty() {
        return Err(ClientError::Usage("no share given".into()));
    }
    Ok(trimmed)
}

fn read_line_stdin() -> Result<Zeroizing<String>, ClientError> {
    let mut line = Zeroizing::new(String::new());
    std::io::stdin().lock().read_line(&mut line).map_err(|e| ClientError::Usage(format!("cannot read standard input: {e}")))?;
    Ok(line)
}

fn print_status(format: Format, v: &Value) {
    if format == Format::Json {
        output::json(v);
        return;
    }
    let sealed = v.get("sealed").and_then(Value::as_bool).unwrap_or(true);
    let seal_id = v.get("seal_id").and_then(Value::as_str).unwrap_or("?");
    if !sealed {
        println!("unsealed (seal {seal_id})");
        return;
    }
    match (v.get("progress").and_then(Value::as_u64), v.get("threshold").and_then(Value::as_u64)) {
        (Some(have), Some(need)) => println!("sealed (seal {seal_id}): {have} of {need} shares given"),
        _ => println!("sealed (seal {seal_id})"),
    }
    if let Some(token) = v.get("progress_token").and_then(Value::as_str) {
        println!("progress token: {token}");
        println!("  (only share-holders get it; to discard this unseal's shares: `signet unseal --reset --progress-token {token}`)");
    }
}

/// The hint for a TLS failure: a sealed server presents a certificate from the unseal TLS CA.
fn with_tls_hint(e: ClientError) -> ClientError {
    match e {
        ClientError::Usage(m) if m.contains("certificate") => {
            ClientError::Usage(format!("{m} (a sealed server presents a certificate from DATA/unseal-ca.pem: pass it with --ca-file)"))
        }
        other => other,
    }
}

pub async fn unseal(a: UnsealArgs, g: &Global) -> Result<(), ClientError> {
    let client = Client::new(g)?;
    let v = if a.reset {
        let mut body = json!({ "reset": true });
        if let Some(token) = &a.progress_token {
            body["progress_token"] = json!(token.trim());
        }
        client.post_public("/v1/sys/unseal", &body).await
    } else {
        let share = read_share(a.share_file)?;
        client.post_public("/v1/sys/unseal", &json!({ "share": share.as_str() })).await
    }
    .map_err(with_tls_hint)?;
    print_status(g.output, &v);
    Ok(())
}

pub async fn status(g: &Global) -> Result<(), ClientError> {
    let client = Client::new(g)?;
    let v = client.get_public("/v1/sys/seal-status").await.map_err(with_tls_hint)?;
    print_status(g.output, &v);
    Ok(())
}

pub async fn seal(g: &Global) -> Result<(), ClientError> {
    let client = Client::new(g)?;
    let v = client.post("/v1/sys/seal", &json!({})).await.map_err(with_tls_hint)?;
    print_status(g.output, &v);
    Ok(())
}
