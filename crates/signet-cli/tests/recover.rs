//! `signet recover`: break-glass for the authority itself. A lockout written
//! into the store around the API (the attacker's aftermath) is undone by
//! someone holding the unseal shares, every step is a high-severity log
//! event, the log still verifies, and wrong shares change nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod common;

use common::{BIN, Server, fails, have, json, ok, pg_database, serve, signet, wait_for_checkpoint};
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

const DEFAULT_POLICIES: &str = include_str!("../../signet-policy/src/default.cedar");

/// The default set and a `forbid` that stops everyone applying policies or changing operators.
fn locking_policy() -> String {
    format!(
        "{DEFAULT_POLICIES}\n@id(\"lock\")\n@reason(\"locked\")\nforbid (principal, action in [Action::\"policy.apply\", Action::\"operator.update\"], resource);\n"
    )
}

fn sqlite(db: &Path, sql: &str) -> String {
    let out = Command::new("sqlite3").arg(db).arg(sql).output().expect("sqlite3 (Debian package sqlite3)");
    assert!(out.status.success(), "sqlite3: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn event_count(cwd: &Path) -> String {
    sqlite(&cwd.join("signet-data/signet.db"), "SELECT count(*) FROM events")
}

/// `signet recover ARGS` in `cwd`, offline (no server).
fn recover(cwd: &Path, args: &[&str]) -> Output {
    Command::new(BIN).current_dir(cwd).env_remove("SIGNET_DATABASE").arg("recover").args(args).output().unwrap()
}

fn token(cwd: &Path, file: &str) -> String {
    std::fs::read_to_string(cwd.join("signet-data").join(file)).unwrap().trim().to_string()
}

/// Locked out: neither a policy nor an operator can be changed through the API.
fn assert_locked_out(cwd: &Path, server: &Server, token: &str) {
    std::fs::write(cwd.join("default.cedar"), DEFAULT_POLICIES).unwrap();
    let e = fails(&signet(cwd, server, Some(token), &["policy", "apply", "-f", "default.cedar"]));
    assert!(e.contains("HTTP 403") && e.contains("lock"), "{e}");
    let e = fails(&signet(cwd, server, Some(token), &["operator", "create", "helper", "--role", "auditor"]));
    assert!(e.contains("HTTP 403"), "{e}");
}

/// Governance works again with the recovery admin's token, and the log shows
/// the recovery as high-severity events that verify offline.
fn assert_recovered(cwd: &Path, server: &Server, rescue: &str, reason: &str) {
    std::fs::write(cwd.join("default.cedar"), DEFAULT_POLICIES).unwrap();
    ok(&signet(cwd, server, Some(rescue), &["policy", "apply", "-f", "default.cedar", "--comment", "after recovery"]));
    ok(&signet(cwd, server, Some(rescue), &["operator", "create", "helper", "--role", "auditor"]));
    let t = Some(rescue);
    let steps = json(&signet(cwd, server, t, &["log", "search", "--type", "authority.recovered", "--output", "json"]));
    let steps = steps["items"].as_array().unwrap();
    assert_eq!(steps.len(), 2, "{steps:?}");
    assert_eq!((steps[0]["details"]["step"].as_str(), steps[1]["details"]["step"].as_str()), (Some("begin"), Some("complete")));
    for e in steps {
        assert_eq!(
            (e["actor"].as_str(), e["reason"].as_str(), e["details"]["severity"].as_str()),
            (Some("recovery:local"), Some(reason), Some("high"))
        );
    }
    let activated = json(&signet(cwd, server, t, &["log", "search", "--type", "policy.activated", "--output", "json"]));
    let by_recovery: Vec<&serde_json::Value> =
        activated["items"].as_array().unwrap().iter().filter(|e| e["actor"] == "recovery:local").collect();
    assert_eq!(by_recovery.len(), 1, "{activated}");
    assert_eq!(
        (by_recovery[0]["details"]["recovery"].as_bool(), by_recovery[0]["details"]["severity"].as_str()),
        (Some(true), Some("high"))
    );
    let created = json(&signet(cwd, server, t, &["log", "search", "--type", "operator.created", "--output", "json"]));
    assert!(created["items"].as_array().unwrap().iter().any(|e| e["actor"] == "recovery:local" && e["details"]["severity"] == "high"));
    // The token secret is in no log entry.
    let all = ok(&signet(cwd, server, t, &["log", "show", "--limit", "1000", "--output", "json"]));
    assert!(!all.contains(rescue), "the recovery token is in the log");
    // The log still verifies offline.
    let n = wait_for_checkpoint(cwd, server, rescue);
    ok(&signet(cwd, server, t, &["log", "export", "export"]));
    let out = ok(&signet(cwd, server, t, &["log", "verify", "export", "--key", "signet-data/log.pub"]));
    assert!(out.starts_with(&format!("OK: {n} entries")), "{out}");
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn recover_undoes_a_lockout_written_into_the_sqlite_store() {
    if !have("sqlite3", "-version") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let mut server = serve(cwd, &[], &[], None);
    let admin = token(cwd, "admin-token");
    assert!(server.terminate().success());
    // The attacker's aftermath: a locking policy version written into the store, around the API.
    let db = cwd.join("signet-data/signet.db");
    sqlite(
        &db,
        &format!(
            "INSERT INTO policies (version, text, sha256, comment, created_by, created_at) VALUES (1, '{}', 'x', 'locked', 'attacker', 0)",
            locking_policy().replace('\'', "''")
        ),
    );
    let mut server = serve(cwd, &[], &[], None);
    assert_locked_out(cwd, &server, &admin);
    assert!(server.terminate().success());

    // Refused, with nothing written: no reason; only a new admin (the lock would still hold it); shares for a keystore that needs none.
    let before = event_count(cwd);
    let o = recover(cwd, &["--data", "signet-data", "--reason", " ", "--new-admin", "rescue"]);
    assert!(fails(&o).contains("reason"));
    let e = fails(&recover(cwd, &["--data", "signet-data", "--reason", "locked out", "--new-admin", "rescue"]));
    assert!(e.contains("still be locked out") && e.contains("reset the policy set too"), "{e}");
    std::fs::write(cwd.join("share.txt"), "signet-share-1:xx").unwrap();
    let e = fails(&recover(cwd, &["--reason", "locked out", "--reset-policy", "--share-file", "share.txt"]));
    assert!(e.contains("no shares are needed"), "{e}");
    assert_eq!(event_count(cwd), before);
    assert!(!cwd.join("signet-data/recovery-admin-token").exists());

    // The holder of the unseal key (here the quick start's local key file) recovers.
    let reason = "policy version 1 was written around the API and locks everyone out";
    let out = ok(&recover(cwd, &["--data", "signet-data", "--reason", reason, "--reset-policy", "--new-admin", "rescue"]));
    assert!(out.contains("unsealed with local-key-file") && out.contains("version 2"), "{out}");
    let token_file = cwd.join("signet-data/recovery-admin-token");
    #[cfg(unix)]
    assert_eq!(mode(&token_file), 0o600);
    let rescue = token(cwd, "recovery-admin-token");
    assert!(rescue.starts_with("signet_") && !out.contains(&rescue), "the token is in the file only: {out}");
    // A second run never overwrites the token file.
    let e = fails(&recover(cwd, &["--reason", "again", "--new-admin", "rescue2"]));
    assert!(e.contains("already exists"), "{e}");

    let server = serve(cwd, &[], &[], None);
    assert_recovered(cwd, &server, &rescue, reason);
    // The bootstrap admin governs again under the default set.
    ok(&signet(cwd, &server, Some(&admin), &["policy", "apply", "-f", "default.cedar"]));
}

#[test]
fn recover_needs_the_unseal_shares_and_wrong_ones_change_nothing() {
    if !have("sqlite3", "-version") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    ok(&Command::new(BIN).current_dir(cwd).args(["init", "--shares", "3", "--threshold", "2", "--out-dir", "shares"]).output().unwrap());
    let mut server = serve(cwd, &[], &[], None);
    for i in [1, 2] {
        ok(&signet(cwd, &server, None, &["unseal", "--share-file", &format!("shares/share-{i}.txt")]));
    }
    // The first unseal finishes the first start (CAs, admin): wait for its admin token.
    for _ in 0..100 {
        if cwd.join("signet-data/admin-token").exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let admin = token(cwd, "admin-token");
    ok(&signet(cwd, &server, Some(&admin), &["subject", "list"]));
    assert!(server.terminate().success());
    // Shares of another authority.
    ok(&Command::new(BIN)
        .current_dir(cwd)
        .args(["init", "--data", "other", "--shares", "3", "--threshold", "2", "--out-dir", "other-shares"])
        .output()
        .unwrap());
    let damaged = std::fs::read_to_string(cwd.join("shares/share-1.txt")).unwrap().replacen(":1:", ":3:", 1);
    std::fs::write(cwd.join("damaged.txt"), damaged).unwrap();

    let before = event_count(cwd);
    let policies = sqlite(&cwd.join("signet-data/signet.db"), "SELECT count(*) FROM policies");
    let plan = ["--reason", "drill", "--reset-policy", "--new-admin", "rescue"];
    for (shares, expected) in [
        (vec!["other-shares/share-1.txt", "other-shares/share-2.txt"], "share 1"),
        (vec!["shares/share-1.txt"], "cannot unseal"),
        (vec!["damaged.txt", "shares/share-2.txt"], "share 1"),
    ] {
        let mut args: Vec<&str> = plan.to_vec();
        for s in &shares {
            args.extend(["--share-file", *s]);
        }
        let e = fails(&recover(cwd, &args));
        assert!(e.contains(expected) && e.contains("nothing was changed"), "{shares:?}: {e}");
        assert_eq!(event_count(cwd), before, "{shares:?}");
        assert_eq!(sqlite(&cwd.join("signet-data/signet.db"), "SELECT count(*) FROM policies"), policies);
        assert!(!cwd.join("signet-data/recovery-admin-token").exists());
    }

    // Two right shares (from standard input, one a line): the recovery runs.
    let mut child = Command::new(BIN)
        .current_dir(cwd)
        .arg("recover")
        .args(plan)
        .args(["--share-file", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let input = format!(
        "{}\n{}\n",
        std::fs::read_to_string(cwd.join("shares/share-3.txt")).unwrap().trim(),
        std::fs::read_to_string(cwd.join("shares/share-1.txt")).unwrap().trim()
    );
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), input.as_bytes()).unwrap();
    let out = ok(&child.wait_with_output().unwrap());
    assert!(out.contains("unsealed with shares"), "{out}");
    let after: u64 = event_count(cwd).parse().unwrap();
    assert_eq!(after, before.parse::<u64>().unwrap() + 5, "begin, policy.activated, operator.created, token.created, complete");
    let rescue = token(cwd, "recovery-admin-token");

    let server = serve(cwd, &[], &[], None);
    for i in [2, 3] {
        ok(&signet(cwd, &server, None, &["unseal", "--share-file", &format!("shares/share-{i}.txt")]));
    }
    assert_recovered(cwd, &server, &rescue, "drill");
}

#[test]
fn recover_works_on_postgresql_while_the_server_runs() {
    let Some(pg) = pg_database() else { return };
    if !have("psql", "--version") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let server = serve(cwd, &[], &[("SIGNET_DATABASE", &pg.url)], None);
    let admin = token(cwd, "admin-token");
    let insert = format!(
        "INSERT INTO policies (version, text, sha256, comment, created_by, created_at) VALUES (1, $pol${}$pol$, 'x', 'locked', 'attacker', 0)",
        locking_policy()
    );
    let o = Command::new("psql").args([&pg.url, "-qc", &insert]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Servers re-read the policy version every 2 s.
    std::thread::sleep(Duration::from_millis(2500));
    assert_locked_out(cwd, &server, &admin);

    let reason = "locked out on the shared database";
    let out = ok(&Command::new(BIN)
        .current_dir(cwd)
        .args(["recover", "--database", &pg.url, "--reason", reason, "--reset-policy", "--new-admin", "rescue"])
        .output()
        .unwrap());
    assert!(out.contains("version 2"), "{out}");
    let rescue = token(cwd, "recovery-admin-token");
    std::thread::sleep(Duration::from_millis(2500));
    assert_recovered(cwd, &server, &rescue, reason);
}
