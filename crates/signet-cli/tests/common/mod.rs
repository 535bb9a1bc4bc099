//! Helpers shared by the `signet` CLI integration tests: a `signet serve`
//! child process on a free port, the client commands run against it, the
//! checks on their output, openssl, and throwaway PostgreSQL databases.
//!
//! Each test binary compiles its own copy of this module (`mod common;`) and
//! uses only some of it.
#![allow(dead_code)]

use std::io::BufRead;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_signet");

/// A `signet serve` child process, killed on drop.
pub struct Server {
    child: Child,
    pub url: String,
    /// Held open: the server still writes to it, and a closed pipe would kill
    /// it. Positioned just after the "Signet is serving URL" line.
    pub stdout: std::io::BufReader<ChildStdout>,
}

impl Server {
    /// Send SIGTERM (what `systemctl stop`, `kill` and container runtimes
    /// send) and wait up to 20 s for the process to exit; its exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success(), "kill -TERM {pid}");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(std::time::Instant::now() < deadline, "signet serve did not stop within 20 s of SIGTERM");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Start `signet serve` in `cwd` with `args` and the extra environment `env`
/// on a free loopback port (given as `SIGNET_LISTEN`, so neither `args` nor
/// `env` may say where to listen), writing its log to `log_file` if given.
pub fn serve(cwd: &Path, args: &[&str], env: &[(&str, &str)], log_file: Option<&Path>) -> Server {
    serve_with(|| {
        let mut cmd = Command::new(BIN);
        cmd.current_dir(cwd).arg("serve").args(args);
        match log_file {
            Some(path) => cmd.stderr(std::fs::File::create(path).unwrap()),
            None => cmd.stderr(Stdio::null()),
        };
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    })
}

/// Start the `signet serve` command that `command` builds (its standard error
/// is up to `command`) on a free loopback port, given as `SIGNET_LISTEN`.
/// Ready when it prints "Signet is serving URL"; the URL comes from that line.
/// A port taken between `free_port` and the child's bind makes the child
/// exit: then try again on another port.
pub fn serve_with(command: impl Fn() -> Command) -> Server {
    for _ in 0..5 {
        let listen = format!("127.0.0.1:{}", free_port());
        let mut child = command().env("SIGNET_LISTEN", &listen).stdout(Stdio::piped()).spawn().unwrap();
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        let url = loop {
            line.clear();
            match stdout.read_line(&mut line) {
                Ok(0) | Err(_) => break None,
                Ok(_) => {
                    if let Some(url) = line.trim_end().strip_prefix("Signet is serving ") {
                        break Some(url.to_string());
                    }
                }
            }
        };
        match url {
            Some(url) => return Server { child, url, stdout },
            None => {
                let _ = child.wait();
            }
        }
    }
    panic!("signet serve did not start");
}

/// Run a client command in `cwd` (which holds `signet-data/`) against
/// `server`, with `token` as `SIGNET_TOKEN` (none at all when `None`).
pub fn signet(cwd: &Path, server: &Server, token: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(cwd).env("SIGNET_SERVER", &server.url).env_remove("SIGNET_TOKEN").args(args);
    if let Some(t) = token {
        cmd.env("SIGNET_TOKEN", t);
    }
    cmd.output().unwrap()
}

/// A success; its standard output.
pub fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// A success; its standard output as JSON.
pub fn json(o: &Output) -> serde_json::Value {
    serde_json::from_str(&ok(o)).unwrap()
}

/// A failure is one line on standard error and a non-zero exit.
pub fn fails(o: &Output) -> String {
    assert!(!o.status.success(), "expected failure, got: {}", String::from_utf8_lossy(&o.stdout));
    let err = String::from_utf8(o.stderr.clone()).unwrap();
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("error: "), "{err}");
    err
}

/// `tool arg` must run (e.g. `openssl version`): a missing tool fails the
/// test (scripts/test installs them), so it is never counted as passed.
pub fn have(tool: &str, arg: &str) -> bool {
    let ok = Command::new(tool).arg(arg).output().map(|o| o.status.success()).unwrap_or(false);
    assert!(ok, "{tool} is needed by this test: run scripts/test, which installs the test peers");
    ok
}

/// A P-256 key `NAME.key` and a CSR `NAME.csr` for `/CN=NAME` with the
/// subjectAltName `san`, made by openssl in `dir`; returns the CSR's file name.
pub fn openssl_csr(dir: &Path, name: &str, san: &str) -> String {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(["req", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"])
        .args(["-keyout", &format!("{name}.key"), "-out", &format!("{name}.csr"), "-subj", &format!("/CN={name}")])
        .args(["-addext", &format!("subjectAltName={san}")])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    format!("{name}.csr")
}

/// openssl verifies a chain PEM (leaf, issuing CA, root) against the server's CA file.
pub fn openssl_verifies(cwd: &Path, chain: &str, name: &str) {
    let parts: Vec<&str> = chain.split_inclusive("-----END CERTIFICATE-----\n").collect();
    assert_eq!(parts.len(), 3, "{chain}");
    std::fs::write(cwd.join(format!("{name}-leaf.pem")), parts[0]).unwrap();
    std::fs::write(cwd.join(format!("{name}-issuing.pem")), parts[1]).unwrap();
    let v = Command::new("openssl")
        .current_dir(cwd)
        .args(["verify", "-CAfile", "signet-data/ca.pem", "-untrusted", &format!("{name}-issuing.pem"), &format!("{name}-leaf.pem")])
        .output()
        .unwrap();
    assert!(v.status.success(), "{}{}", String::from_utf8_lossy(&v.stdout), String::from_utf8_lossy(&v.stderr));
}

/// Wait until the server has signed a checkpoint covering every entry (the
/// count is taken afresh each time, so writes may still be arriving);
/// returns the number of entries it covers.
pub fn wait_for_checkpoint(cwd: &Path, server: &Server, token: &str) -> u64 {
    for _ in 0..100 {
        let entries = json(&signet(cwd, server, Some(token), &["log", "show", "--limit", "1000", "--output", "json"]));
        let n = entries["items"].as_array().unwrap().len() as u64;
        let o = signet(cwd, server, Some(token), &["log", "checkpoint"]);
        if o.status.success() && String::from_utf8_lossy(&o.stdout).lines().nth(1).and_then(|l| l.parse::<u64>().ok()) == Some(n) {
            return n;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no checkpoint covering every entry");
}

/// A throwaway PostgreSQL database (made and dropped with psql), or `None`
/// when PostgreSQL is not configured (a failure under CI).
pub struct PgDb {
    admin: String,
    name: String,
    pub url: String,
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let _ = Command::new("psql").args([&self.admin, "-qc", &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)]).output();
    }
}

pub fn pg_database() -> Option<PgDb> {
    let Ok(admin) = std::env::var("SIGNET_TEST_DATABASE_URL") else {
        assert!(
            std::env::var("SIGNET_TEST_NO_POSTGRES").as_deref() == Ok("1") && std::env::var("CI").as_deref() != Ok("true"),
            "SIGNET_TEST_DATABASE_URL is not set: run scripts/test, which points the tests at PostgreSQL on 127.0.0.1:5432"
        );
        eprintln!("SIGNET_TEST_NO_POSTGRES=1: the PostgreSQL variant is left out");
        return None;
    };
    assert!(have("psql", "--version"), "psql (Debian package postgresql-client) is needed for the PostgreSQL variant");
    let mut rnd = [0u8; 8];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom").unwrap(), &mut rnd).unwrap();
    let name = format!("signet_cli_{}", rnd.iter().map(|b| format!("{b:02x}")).collect::<String>());
    let o = Command::new("psql").args([&admin, "-qc", &format!("CREATE DATABASE {name}")]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
    Some(PgDb { admin, name, url })
}
