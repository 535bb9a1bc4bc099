//! `signet backup` and `signet restore` as an operator runs them: a backup
//! of a running server (while it issues), restored into a new data directory
//! and database, served again; and every kind of bad input refused with
//! nothing written.
//!
//! The process helpers are in `tests/common/mod.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod common;

use common::{BIN, PgDb, fails, have, ok, openssl_csr, pg_database, serve, signet, wait_for_checkpoint};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const PASSPHRASE: &str = "correct horse battery staple";

/// `signet backup` / `signet restore`, offline, with the passphrase in the environment.
fn offline(cwd: &Path, passphrase: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .current_dir(cwd)
        .env("SIGNET_BACKUP_PASSPHRASE", passphrase)
        .env_remove("SIGNET_DATABASE")
        .args(args)
        .output()
        .unwrap()
}

fn pg_tables(db: &PgDb) -> String {
    let o = Command::new("psql")
        .args([&db.url, "-tAc", "SELECT string_agg(table_name, ',') FROM information_schema.tables WHERE table_schema = current_schema()"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

/// `size N root R` from the restore or verify-only report.
fn newest_checkpoint(report: &str) -> (u64, String) {
    let line = report.lines().find(|l| l.contains("newest checkpoint: size")).unwrap_or_else(|| panic!("{report}"));
    let rest = line.split("newest checkpoint: size ").nth(1).unwrap();
    let (size, root) = rest.split_once(" root ").unwrap();
    (size.parse().unwrap(), root.trim().to_string())
}

fn as_strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn json_items(out: &str) -> Vec<serde_json::Value> {
    serde_json::from_str::<serde_json::Value>(out).unwrap()["items"].as_array().unwrap().clone()
}

/// `good` re-encrypted with [`PASSPHRASE`] after `edit` changed its contents: what
/// someone holding the passphrase, or an older or newer Signet, could produce.
fn reseal(good: &[u8], edit: impl FnOnce(&mut signet_backup::payload::Contents)) -> Vec<u8> {
    let pass = signet_backup::Passphrase::new(PASSPHRASE.as_bytes().to_vec()).unwrap();
    let (mut head, plain) = signet_backup::container::open(&mut &good[..], Path::new("good.backup"), &pass).unwrap();
    let mut contents = signet_backup::payload::parse(&plain).unwrap();
    edit(&mut contents);
    head.info.schema_version = contents.database.migrations.last().map_or(0, |m| m.version);
    let mut out = Vec::new();
    let sealer = signet_backup::container::Sealer::new(
        &mut out,
        &pass,
        head.info.clone(),
        &signet_core::clock::SystemRng,
        signet_backup::container::MIN_ITERATIONS,
    )
    .unwrap();
    let mut w = signet_backup::payload::PayloadWriter::new(sealer, contents.database.backend, &contents.database.migrations).unwrap();
    for t in &contents.database.tables {
        w.table(&t.info, t.rows.len() as u64).unwrap();
        for r in &t.rows {
            w.row(&t.info.columns, r).unwrap();
        }
    }
    for f in &contents.files {
        w.file(f).unwrap();
    }
    w.end().unwrap().0.finish().unwrap();
    out
}

/// Back up a running server while it takes writes, restore into a new data
/// directory (and a new database), serve it, and check it is the same authority.
fn round_trip(pg: bool) {
    if !have("openssl", "version") {
        return;
    }
    let (src_db, dst_db) = if pg {
        let (Some(a), Some(b)) = (pg_database(), pg_database()) else { return };
        (Some(a), Some(b))
    } else {
        (None, None)
    };
    let db_args = |db: &Option<PgDb>| db.as_ref().map(|d| vec!["--database".to_string(), d.url.clone()]).unwrap_or_default();
    let src_args = db_args(&src_db);
    let dst_args = db_args(&dst_db);

    let old = tempfile::tempdir().unwrap();
    let cwd = old.path();
    let server = serve(cwd, &as_strs(&src_args), &[], None);
    let token = std::fs::read_to_string(cwd.join("signet-data/admin-token")).unwrap().trim().to_string();
    let out = ok(&signet(
        cwd,
        &server,
        Some(&token),
        &["subject", "create", "--name", "web", "--kind", "workload", "--owner", "team-web", "--purpose", "shop", "--output", "json"],
    ));
    let subject = serde_json::from_str::<serde_json::Value>(&out).unwrap()["id"].as_str().unwrap().to_string();
    let csr = openssl_csr(cwd, "web", "DNS:web.internal");
    ok(&signet(
        cwd,
        &server,
        Some(&token),
        &["issue", "x509", "--subject", &subject, "--profile", "tls-server", "--csr", &csr, "--out", "old.pem"],
    ));
    let old_serial = json_items(&ok(&signet(cwd, &server, Some(&token), &["cert", "list", "--output", "json"])))[0]["serial"]
        .as_str()
        .unwrap()
        .to_string();
    wait_for_checkpoint(cwd, &server, &token);

    // Writes keep coming while the backup runs: certificates and subjects, in a loop.
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (stop, cwd, url, token, subject, csr) =
            (stop.clone(), cwd.to_path_buf(), server.url.clone(), token.clone(), subject.clone(), csr.clone());
        std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let run = |args: &[&str]| {
                    Command::new(BIN).current_dir(&cwd).env("SIGNET_SERVER", &url).env("SIGNET_TOKEN", &token).args(args).output().unwrap()
                };
                ok(&run(&["subject", "create", "--name", &format!("load-{i}"), "--kind", "person"]));
                ok(&run(&["issue", "x509", "--subject", &subject, "--profile", "tls-server", "--csr", &csr, "--out", "/dev/null"]));
                i += 1;
            }
            i
        })
    };
    std::thread::sleep(Duration::from_millis(400));
    let mut backup_args = vec!["backup", "--data", "signet-data", "--out", "signet.backup"];
    backup_args.extend(as_strs(&src_args));
    if !pg {
        // The SQLite variant carries the local unseal key; the PostgreSQL one copies it by hand.
        backup_args.push("--include-local-unseal-key");
    }
    let report = ok(&offline(cwd, PASSPHRASE, &backup_args));
    assert!(report.contains("backup written to signet.backup"), "{report}");
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let written = load.join().unwrap();
    assert!(written > 0, "the load loop wrote while the backup ran");
    drop(server);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(cwd.join("signet.backup")).unwrap().permissions().mode() & 0o777, 0o600);
    }

    // Verify-only shows what the backup holds and writes nothing.
    let backup = cwd.join("signet.backup");
    let shown = ok(&offline(cwd, PASSPHRASE, &["restore", "--verify-only", "--in", backup.to_str().unwrap()]));
    assert!(shown.contains("keys/log.sealed") && shown.contains("ca.pem"), "{shown}");
    assert_eq!(shown.contains("unseal-key"), !pg, "{shown}");
    assert!(!shown.contains("admin-token"), "{shown}");

    // Restore into a new place.
    let new = tempfile::tempdir().unwrap();
    let cwd2 = new.path();
    let mut restore_args = vec!["restore", "--in", backup.to_str().unwrap(), "--data", "signet-data"];
    restore_args.extend(as_strs(&dst_args));
    // A failed restore leaves the empty database empty and makes no data directory.
    let e = fails(&offline(cwd2, "not the passphrase", &restore_args));
    assert!(e.contains("wrong passphrase"), "{e}");
    assert!(!cwd2.join("signet-data").exists());
    if let Some(dst) = &dst_db {
        assert_eq!(pg_tables(dst), "", "nothing written to the database");
    }
    let restored = ok(&offline(cwd2, PASSPHRASE, &restore_args));
    assert_eq!(newest_checkpoint(&restored), newest_checkpoint(&shown), "{restored}");
    let data2 = cwd2.join("signet-data");
    assert_eq!(std::fs::read(data2.join("ca.pem")).unwrap(), std::fs::read(cwd.join("signet-data/ca.pem")).unwrap(), "the same CA chain");
    assert!(!data2.join("admin-token").exists(), "the admin token is never in a backup");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: PathBuf| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(data2.clone()), 0o700);
        assert_eq!(mode(data2.join("seal.json")), 0o600);
        for key in std::fs::read_dir(data2.join("keys")).unwrap() {
            assert_eq!(mode(key.unwrap().path()), 0o600);
        }
    }
    if pg {
        assert!(restored.contains("put the local unseal key"), "{restored}");
        std::fs::copy(cwd.join("signet-data/unseal-key"), data2.join("unseal-key")).unwrap();
    }

    // A second restore into the now non-empty database is refused, and writes nothing.
    if let Some(dst) = &dst_db {
        let e =
            fails(&offline(cwd2, PASSPHRASE, &["restore", "--in", backup.to_str().unwrap(), "--data", "again", "--database", &dst.url]));
        assert!(e.contains("not empty") && e.contains("tables"), "{e}");
        assert!(!cwd2.join("again").exists());
    }

    // The restored authority serves, with the old admin token.
    let server2 = serve(cwd2, &as_strs(&dst_args), &[], None);
    let (size, root) = newest_checkpoint(&restored);
    ok(&signet(cwd2, &server2, Some(&token), &["log", "export", "exported"]));
    let verified = ok(&signet(cwd2, &server2, Some(&token), &["log", "verify", "exported", "--key", "signet-data/log.pub"]));
    assert!(verified.starts_with("OK: "), "{verified}");
    let note = std::fs::read_to_string(cwd2.join(format!("exported/checkpoints/{size:020}.note"))).unwrap();
    let root_b64 = note.lines().nth(2).unwrap();
    use base64::Engine;
    let root_hex: String = base64::engine::general_purpose::STANDARD.decode(root_b64).unwrap().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(root_hex, root, "the restored log holds the backup's checkpoint");

    // One snapshot: every subject the log says was created is there, and no other.
    let created = json_items(&ok(&signet(
        cwd2,
        &server2,
        Some(&token),
        &["log", "search", "--type", "subject.created", "--limit", "1000", "--output", "json"],
    )));
    let subjects = json_items(&ok(&signet(cwd2, &server2, Some(&token), &["subject", "list", "--limit", "1000", "--output", "json"])));
    assert_eq!(created.len(), subjects.len(), "subjects and their log entries come from the same moment");
    let issued = json_items(&ok(&signet(
        cwd2,
        &server2,
        Some(&token),
        &["log", "search", "--type", "credential.issued", "--limit", "1000", "--output", "json"],
    )));
    let certs = json_items(&ok(&signet(cwd2, &server2, Some(&token), &["cert", "list", "--limit", "1000", "--output", "json"])));
    assert_eq!(issued.len(), certs.len(), "credentials and their log entries come from the same moment");
    assert!(certs.iter().any(|c| c["serial"] == old_serial.as_str()), "the old credential is listed");

    // A new certificate issues under the same chain: openssl accepts it against the OLD ca.pem.
    std::fs::copy(cwd.join(&csr), cwd2.join(&csr)).unwrap();
    ok(&signet(
        cwd2,
        &server2,
        Some(&token),
        &["issue", "x509", "--subject", &subject, "--profile", "tls-server", "--csr", &csr, "--out", "new.pem"],
    ));
    let chain = std::fs::read_to_string(cwd2.join("new.pem")).unwrap();
    let parts: Vec<&str> = chain.split_inclusive("-----END CERTIFICATE-----\n").collect();
    std::fs::write(cwd2.join("leaf.pem"), parts[0]).unwrap();
    std::fs::write(cwd2.join("issuing.pem"), parts[1]).unwrap();
    let old_ca = cwd.join("signet-data/ca.pem");
    let v = Command::new("openssl")
        .current_dir(cwd2)
        .args(["verify", "-CAfile", old_ca.to_str().unwrap(), "-untrusted", "issuing.pem", "leaf.pem"])
        .output()
        .unwrap();
    assert!(v.status.success(), "{}{}", String::from_utf8_lossy(&v.stdout), String::from_utf8_lossy(&v.stderr));
}

#[test]
fn round_trip_on_sqlite_while_the_server_issues() {
    round_trip(false);
}

#[test]
fn round_trip_on_postgres_while_the_server_issues() {
    round_trip(true);
}

/// Wrong passphrase, a flipped byte, a cut file, something else entirely,
/// a non-empty target: one line naming the problem, and nothing written.
#[test]
fn bad_backups_and_non_empty_targets_are_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let server = serve(cwd, &[], &[], None);
    let token = std::fs::read_to_string(cwd.join("signet-data/admin-token")).unwrap().trim().to_string();
    ok(&signet(cwd, &server, Some(&token), &["subject", "create", "--name", "alice", "--kind", "person"]));
    wait_for_checkpoint(cwd, &server, &token);

    // The backup side: a short passphrase, no passphrase, an existing output file.
    let e = fails(&offline(cwd, "short", &["backup", "--out", "x.backup"]));
    assert!(e.contains("too short"), "{e}");
    let o =
        Command::new(BIN).current_dir(cwd).env_remove("SIGNET_BACKUP_PASSPHRASE").args(["backup", "--out", "x.backup"]).output().unwrap();
    assert!(fails(&o).contains("SIGNET_BACKUP_PASSPHRASE"));
    assert!(!cwd.join("x.backup").exists() && !cwd.join("x.backup.partial").exists());
    ok(&offline(cwd, PASSPHRASE, &["backup", "--out", "good.backup"]));
    let e = fails(&offline(cwd, PASSPHRASE, &["backup", "--out", "good.backup"]));
    assert!(e.contains("already exists"), "{e}");
    let e = fails(&offline(cwd, PASSPHRASE, &["backup", "--data", "nowhere", "--out", "y.backup"]));
    assert!(e.contains("nowhere") && e.contains("seal.json"), "{e}");
    // A passphrase file works the same as the environment.
    std::fs::write(cwd.join("pass.txt"), format!("{PASSPHRASE}\n")).unwrap();
    let o = Command::new(BIN)
        .current_dir(cwd)
        .env_remove("SIGNET_BACKUP_PASSPHRASE")
        .args(["restore", "--verify-only", "--in", "good.backup", "--passphrase-file", "pass.txt"])
        .output()
        .unwrap();
    ok(&o);
    drop(server);

    let good = std::fs::read(cwd.join("good.backup")).unwrap();
    let restore = |file: &str, pass: &str, target: &str| offline(cwd, pass, &["restore", "--in", file, "--data", target]);
    let target = cwd.join("target");

    let e = fails(&restore("good.backup", "not the passphrase", "target"));
    assert!(e.contains("wrong passphrase"), "{e}");
    assert!(!target.exists());

    let mut flipped = good.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x01;
    std::fs::write(cwd.join("flipped.backup"), &flipped).unwrap();
    let e = fails(&restore("flipped.backup", PASSPHRASE, "target"));
    assert!(e.contains("altered"), "{e}");
    assert!(!target.exists());

    // The header is authenticated too: claim another log size.
    let key = b"\"log_tree_size\":";
    let at = good.windows(key.len()).position(|w| w == key).unwrap() + key.len();
    let mut header = good.clone();
    header[at] = if header[at] == b'9' { b'8' } else { b'9' };
    std::fs::write(cwd.join("header.backup"), &header).unwrap();
    let e = fails(&restore("header.backup", PASSPHRASE, "target"));
    assert!(e.contains("altered"), "{e}");
    assert!(!target.exists());

    std::fs::write(cwd.join("cut.backup"), &good[..good.len() - 100]).unwrap();
    let e = fails(&restore("cut.backup", PASSPHRASE, "target"));
    assert!(e.contains("truncated"), "{e}");
    let header_len = 13 + u32::from_be_bytes(good[9..13].try_into().unwrap()) as usize;
    std::fs::write(cwd.join("headonly.backup"), &good[..header_len]).unwrap();
    let e = fails(&restore("headonly.backup", PASSPHRASE, "target"));
    assert!(e.contains("truncated"), "{e}");
    assert!(!target.exists());

    std::fs::write(cwd.join("other.backup"), b"-----BEGIN CERTIFICATE-----\n").unwrap();
    let e = fails(&restore("other.backup", PASSPHRASE, "target"));
    assert!(e.contains("not a Signet backup"), "{e}");
    let e = fails(&restore("missing.backup", PASSPHRASE, "target"));
    assert!(e.contains("missing.backup"), "{e}");
    assert!(!target.exists());

    // Non-empty targets: a data directory holding anything, an existing database file.
    std::fs::create_dir(cwd.join("busy")).unwrap();
    std::fs::write(cwd.join("busy/notes.txt"), "mine").unwrap();
    let e = fails(&restore("good.backup", PASSPHRASE, "busy"));
    assert!(e.contains("not empty") && e.contains("notes.txt"), "{e}");
    assert_eq!(std::fs::read_dir(cwd.join("busy")).unwrap().count(), 1);
    let e =
        fails(&offline(cwd, PASSPHRASE, &["restore", "--in", "good.backup", "--data", "target", "--database", "signet-data/signet.db"]));
    assert!(e.contains("not empty") && e.contains("signet.db"), "{e}");
    assert!(!target.exists());

    // A backup whose log was changed (re-encrypted with the right passphrase,
    // so only the log verification can tell): refused, nothing written.
    let forged = reseal(&good, |contents| {
        let events = contents.database.tables.iter_mut().find(|t| t.info.name == "events").unwrap();
        let entry = events.info.columns.iter().position(|c| c.name == "entry").unwrap();
        let row = events
            .rows
            .iter_mut()
            .find(|r| matches!(&r[entry], signet_store::snapshot::Value::Blob(b) if b.windows(7).any(|w| w == b"\"alice\"")))
            .unwrap();
        let signet_store::snapshot::Value::Blob(b) = &mut row[entry] else { unreachable!() };
        let at = b.windows(7).position(|w| w == b"\"alice\"").unwrap();
        b[at + 1] = b'm';
    });
    std::fs::write(cwd.join("forged.backup"), &forged).unwrap();
    let e = fails(&restore("forged.backup", PASSPHRASE, "target"));
    assert!(e.contains("log does not verify") && e.contains("entry"), "{e}");
    assert!(!target.exists());

    // A backup from a newer Signet (a migration this one lacks): refused.
    let newer = reseal(&good, |contents| {
        contents.database.migrations.push(signet_store::snapshot::AppliedMigration { version: 9999, checksum: "00".into() });
    });
    std::fs::write(cwd.join("newer.backup"), &newer).unwrap();
    let e = fails(&restore("newer.backup", PASSPHRASE, "target"));
    assert!(e.contains("schema does not match") && e.contains("9999") && e.contains("at least as new"), "{e}");
    assert!(!target.exists());

    // A backup an older Signet took (before the newest migration) restores
    // with its own schema, then is upgraded like a database on start.
    let older = reseal(&good, |contents| {
        contents.database.migrations.pop();
        // …and without what that migration (0006, credential types) added.
        let db = &mut contents.database;
        for (table, column) in [("requests", "params"), ("issuance_intents", "tbs_sha256")] {
            let t = db.tables.iter_mut().find(|t| t.info.name == table).unwrap();
            let i = t.info.columns.iter().position(|c| c.name == column).unwrap();
            t.info.columns.remove(i);
            for row in &mut t.rows {
                row.remove(i);
            }
        }
    });
    std::fs::write(cwd.join("older.backup"), &older).unwrap();
    ok(&restore("older.backup", PASSPHRASE, "upgraded"));
    let shipped = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../signet-store/migrations/sqlite")).unwrap().count();
    let o = Command::new("sqlite3")
        .arg(cwd.join("upgraded/signet.db"))
        .arg("SELECT count(*) || ' ' || max(version) FROM _sqlx_migrations WHERE success")
        .output()
        .unwrap();
    assert!(o.status.success(), "sqlite3 is needed by this test: run scripts/test, which installs the test peers");
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), format!("{shipped} {shipped}"));

    // And the good one restores.
    let report = ok(&restore("good.backup", PASSPHRASE, "target"));
    assert!(report.contains("restored into target"), "{report}");
    assert!(target.join("signet.db").exists() && !target.join(".restoring").exists() && !target.join("signet.db.restoring").exists());
}

/// A store whose log was changed around the server (an entry rewritten in
/// the database, as an attacker would after dropping the append-only
/// trigger) is not backed up: one-line refusal, non-zero exit, no file.
fn a_store_whose_log_does_not_verify_is_not_backed_up(pg: bool) {
    let db = if pg {
        let Some(db) = pg_database() else { return };
        Some(db)
    } else {
        None
    };
    let db_args: Vec<String> = db.as_ref().map(|d| vec!["--database".to_string(), d.url.clone()]).unwrap_or_default();
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let server = serve(cwd, &as_strs(&db_args), &[], None);
    let token = std::fs::read_to_string(cwd.join("signet-data/admin-token")).unwrap().trim().to_string();
    ok(&signet(cwd, &server, Some(&token), &["subject", "create", "--name", "alice", "--kind", "person"]));
    wait_for_checkpoint(cwd, &server, &token);
    drop(server);
    let mut args = vec!["backup", "--out", "before.backup"];
    args.extend(as_strs(&db_args));
    ok(&offline(cwd, PASSPHRASE, &args));

    let o = match &db {
        Some(db) => Command::new("psql")
            .args([
                &db.url,
                "-qc",
                "DROP TRIGGER events_no_update_or_delete ON events; \
                 UPDATE events SET entry = convert_to(replace(convert_from(entry, 'UTF8'), 'alice', 'mallory'), 'UTF8') \
                 WHERE convert_from(entry, 'UTF8') LIKE '%\"alice\"%'",
            ])
            .output()
            .unwrap(),
        None => {
            if !have("sqlite3", "--version") {
                return;
            }
            Command::new("sqlite3")
                .arg(cwd.join("signet-data/signet.db"))
                .arg(
                    "DROP TRIGGER events_no_update; \
                     UPDATE events SET entry = CAST(REPLACE(CAST(entry AS TEXT), 'alice', 'mallory') AS BLOB) \
                     WHERE CAST(entry AS TEXT) LIKE '%\"alice\"%'",
                )
                .output()
                .unwrap()
        }
    };
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut args = vec!["backup", "--out", "after.backup"];
    args.extend(as_strs(&db_args));
    let e = fails(&offline(cwd, PASSPHRASE, &args));
    assert!(e.contains("the log does not verify") && e.contains("entry"), "{e}");
    assert!(!cwd.join("after.backup").exists() && !cwd.join("after.backup.partial").exists());
}

#[test]
fn a_store_whose_log_does_not_verify_is_not_backed_up_on_sqlite() {
    a_store_whose_log_does_not_verify_is_not_backed_up(false);
}

#[test]
fn a_store_whose_log_does_not_verify_is_not_backed_up_on_postgres() {
    a_store_whose_log_does_not_verify_is_not_backed_up(true);
}
