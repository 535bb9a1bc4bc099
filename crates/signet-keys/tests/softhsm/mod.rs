//! SoftHSM2 for tests: each scenario runs in a child process of its own with
//! its own token directory.
//!
//! Why a child process: SoftHSM reads `SOFTHSM2_CONF` when the module is
//! initialised, a module is initialised once per process, and a PKCS#11
//! login is per process. Setting the variable in-process needs `unsafe`
//! (forbidden here), so the test re-runs its own binary, filtered to the one
//! test, with the variable set; the child sees `SIGNET_SOFTHSM_CHILD` and runs
//! the body.
//!
//! Also used by signet-x509's and signet-server's tests (via `#[path]`).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use signet_keys::pkcs11::{Pkcs11Config, Pkcs11Pin, TokenSelector};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const PIN: &str = "4711-signet";
pub const SO_PIN: &str = "so-4711-signet";
const CHILD: &str = "SIGNET_SOFTHSM_CHILD";
const DIR: &str = "SIGNET_SOFTHSM_DIR";

/// Where Debian and friends put the SoftHSM2 module.
pub fn module_path() -> Option<PathBuf> {
    let candidates = [
        "/usr/lib/softhsm/libsofthsm2.so",
        "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
        "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
        "/usr/lib64/softhsm/libsofthsm2.so",
        "/usr/local/lib/softhsm/libsofthsm2.so",
        "/usr/lib/x86_64-linux-gnu/libsofthsm2.so",
        "/usr/lib/aarch64-linux-gnu/libsofthsm2.so",
    ];
    candidates.iter().map(PathBuf::from).find(|p| p.exists())
}

/// Whether `tool` can be started (pkcs11-tool has no flag that exits 0 without a token).
fn tool_runs(tool: &str, arg: &str) -> bool {
    Command::new(tool).arg(arg).output().is_ok()
}

/// SoftHSM2 (module and `softhsm2-util`) and `pkcs11-tool` must be here: a
/// missing one fails the test. scripts/test installs them, and where it
/// cannot, leaves every `pkcs11_` test out by name and reports them skipped.
pub fn have_softhsm() -> bool {
    let ok = module_path().is_some() && tool_runs("softhsm2-util", "--version") && tool_runs("pkcs11-tool", "--help");
    assert!(ok, "SoftHSM2 and pkcs11-tool are needed by the PKCS#11 tests: run scripts/test, which installs softhsm2 and opensc");
    ok
}

/// One SoftHSM2 token directory, with its config file.
pub struct SoftHsm {
    pub module: PathBuf,
    pub dir: PathBuf,
}

impl SoftHsm {
    pub fn conf(&self) -> PathBuf {
        self.dir.join("softhsm2.conf")
    }

    /// A token directory in `dir` with the given tokens (user PIN [`PIN`]), for
    /// tests that hand `SOFTHSM2_CONF` to a process of their own.
    pub fn create(dir: &Path, tokens: &[&str]) -> Self {
        std::fs::create_dir_all(dir.join("tokens")).unwrap();
        std::fs::write(
            dir.join("softhsm2.conf"),
            format!("directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n", dir.join("tokens").display()),
        )
        .unwrap();
        let hsm = SoftHsm { module: module_path().unwrap(), dir: dir.to_path_buf() };
        for label in tokens {
            hsm.util(&["--init-token", "--free", "--label", label, "--pin", PIN, "--so-pin", SO_PIN]);
        }
        hsm
    }

    /// Run `softhsm2-util` on this token directory; panics on failure.
    pub fn util(&self, args: &[&str]) -> String {
        let out = Command::new("softhsm2-util").args(args).env("SOFTHSM2_CONF", self.conf()).output().unwrap();
        assert!(out.status.success(), "softhsm2-util {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Run `pkcs11-tool` (OpenSC, an independent PKCS#11 client) on this token directory.
    pub fn pkcs11_tool(&self, args: &[&str]) -> Output {
        Command::new("pkcs11-tool").arg("--module").arg(&self.module).args(args).env("SOFTHSM2_CONF", self.conf()).output().unwrap()
    }

    pub fn config(&self, token: &str, pin: &str) -> Pkcs11Config {
        Pkcs11Config { module: self.module.clone(), token: TokenSelector::Label(token.into()), pin: Pkcs11Pin::new(pin.into()).unwrap() }
    }
}

/// Run `body` for the test `name` in a child process whose SoftHSM2 has the
/// given tokens (each with user PIN [`PIN`]). Returns in the parent once the
/// child passed; fails when SoftHSM2 is missing.
pub fn run_isolated(name: &str, tokens: &[&str], body: impl FnOnce(&SoftHsm)) {
    if std::env::var(CHILD).as_deref() == Ok(name) {
        let dir = PathBuf::from(std::env::var(DIR).unwrap());
        body(&SoftHsm { module: module_path().unwrap(), dir });
        return;
    }
    if !have_softhsm() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let hsm = SoftHsm::create(dir.path(), tokens);
    let out = Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--include-ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD, name)
        .env(DIR, dir.path())
        .env("SOFTHSM2_CONF", hsm.conf())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the SoftHSM2 child for `{name}` failed:\n{stdout}\n{stderr}");
    // The filter must have matched exactly this test, or nothing was checked.
    assert!(stdout.contains("1 passed"), "the SoftHSM2 child for `{name}` ran no test:\n{stdout}\n{stderr}");
    // What the child printed (shown with --nocapture, as for any test).
    eprint!("{stderr}");
}
