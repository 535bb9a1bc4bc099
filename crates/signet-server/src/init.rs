//! `signet init`: the production path. Creates the keystore's master key,
//! splits it into Shamir shares ([`signet_keys::sealed::init`]) and writes
//! the public seal configuration (`DATA/seal.json`). No local unseal key
//! file is written: the server then starts sealed and waits for
//! `signet unseal`. The master key itself is never written anywhere.

use signet_keys::sealed::{self, Share};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Why `signet init` refused or failed. Nothing was left behind.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InitError(pub String);

/// What `signet init` made.
#[derive(Debug)]
pub struct Initialized {
    pub seal_id: String,
    pub total: u8,
    pub threshold: u8,
    pub seal_path: PathBuf,
    /// The shares, to print once when no `--out-dir` was given.
    pub shares: Vec<Share>,
    /// One file per share when `--out-dir` was given.
    pub share_files: Vec<PathBuf>,
}

/// The file name of share `index` in `--out-dir`.
pub fn share_file_name(index: u8) -> String {
    format!("share-{index}.txt")
}

/// Initialise `data_dir` for a share-sealed keystore: `total` shares, any
/// `threshold` of which unseal. Refuses a data directory that already has a
/// seal, keys or a store, and share files that already exist. Either
/// everything is written or nothing is.
pub fn init(data_dir: &Path, total: u8, threshold: u8, out_dir: Option<&Path>) -> Result<Initialized, InitError> {
    let seal_path = data_dir.join("seal.json");
    for (name, what) in
        [("seal.json", "a keystore seal"), ("unseal-key", "a local unseal key"), ("keys", "a keystore"), ("signet.db", "a store")]
    {
        if fs::symlink_metadata(data_dir.join(name)).is_ok() {
            return Err(InitError(format!(
                "`{}` already has {what} (`{name}`): `signet init` only initialises a new data directory; nothing was changed",
                data_dir.display()
            )));
        }
    }
    let (config, shares) = sealed::init(total, threshold).map_err(|e| InitError(e.to_string()))?;

    let mut share_files = Vec::new();
    if let Some(dir) = out_dir {
        fs::create_dir_all(dir).map_err(|e| InitError(format!("--out-dir: cannot create `{}`: {e}", dir.display())))?;
        let paths: Vec<PathBuf> = shares.iter().map(|s| dir.join(share_file_name(s.index()))).collect();
        if let Some(taken) = paths.iter().find(|p| fs::symlink_metadata(p).is_ok()) {
            return Err(InitError(format!("--out-dir: `{}` already exists; refusing to overwrite a share file", taken.display())));
        }
        for (share, path) in shares.iter().zip(&paths) {
            let text = zeroize::Zeroizing::new(format!("{}\n", share.reveal()));
            if let Err(e) = write_new_private(path, text.as_bytes()) {
                remove_all(&share_files);
                return Err(InitError(format!("--out-dir: cannot write `{}`: {e}", path.display())));
            }
            share_files.push(path.clone());
        }
    }

    let written = create_private_dir(data_dir).and_then(|()| write_new_private(&seal_path, config.to_json().as_bytes()));
    if let Err(e) = written {
        remove_all(&share_files);
        return Err(InitError(format!("cannot write `{}`: {e}", seal_path.display())));
    }
    let (total, threshold) = config.share_scheme().unwrap_or((total, threshold));
    Ok(Initialized { seal_id: config.seal_id_hex(), total, threshold, seal_path, shares, share_files })
}

fn remove_all(paths: &[PathBuf]) {
    for p in paths {
        let _ = fs::remove_file(p);
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
}

/// Create `path` with mode 0600; fails if it exists. A failed write removes it.
fn write_new_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    let result = f.write_all(bytes).and_then(|()| f.sync_all());
    if result.is_err() {
        drop(f);
        let _ = fs::remove_file(path);
    }
    result
}
