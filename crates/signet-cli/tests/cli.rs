//! The `signet` binary as a user runs it: `signet serve` with no
//! configuration in an empty directory, then the client commands against it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod common;

use common::{BIN, Server, fails, free_port, have, json, ok, openssl_csr, openssl_verifies, serve, signet, wait_for_checkpoint};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

#[test]
fn first_start_needs_nothing_and_the_cli_issues_a_certificate() {
    if !have("openssl", "version") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let server = serve(cwd, &[], &[], None);

    // What the first start made.
    let data = cwd.join("signet-data");
    let token = std::fs::read_to_string(data.join("admin-token")).unwrap().trim().to_string();
    assert!(token.starts_with("signet_"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(data.join("admin-token")).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(&data).unwrap().permissions().mode() & 0o777, 0o700);
    }
    assert!(std::fs::read_to_string(data.join("ca.pem")).unwrap().matches("BEGIN CERTIFICATE").count() == 2);

    // curl-free check that the server's own certificate chains to ca.pem: the CLI trusts only ca.pem.
    let out = ok(&signet(
        cwd,
        &server,
        Some(&token),
        &["subject", "create", "--name", "web", "--kind", "workload", "--owner", "team-web", "--purpose", "shop", "--output", "json"],
    ));
    let subject: serde_json::Value = serde_json::from_str(&out).unwrap();
    let id = subject["id"].as_str().unwrap();
    let listed = ok(&signet(cwd, &server, Some(&token), &["subject", "list"]));
    assert!(listed.contains("web") && listed.contains("NAME"), "{listed}");
    ok(&signet(cwd, &server, Some(&token), &["subject", "show", id]));

    // A profile from a TOML file.
    std::fs::write(
        cwd.join("web.toml"),
        "name = \"web-short\"\nmax_ttl = \"2h\"\nrequire_names = true\next_key_usages = [\"server_auth\"]\n[names]\ndns = [\"{subject}.internal\"]\n",
    )
    .unwrap();
    let applied = ok(&signet(cwd, &server, Some(&token), &["profile", "apply", "-f", "web.toml"]));
    assert!(applied.contains("web-short"), "{applied}");
    assert!(ok(&signet(cwd, &server, Some(&token), &["profile", "list"])).contains("tls-server"));

    // Issue to stdout and to a file; openssl accepts the chain.
    let csr = openssl_csr(cwd, "web", "DNS:web.internal");
    let chain = ok(&signet(
        cwd,
        &server,
        Some(&token),
        &["issue", "x509", "--subject", id, "--profile", "web-short", "--csr", &csr, "--ttl", "1h"],
    ));
    assert_eq!(chain.matches("BEGIN CERTIFICATE").count(), 3, "{chain}");
    ok(&signet(
        cwd,
        &server,
        Some(&token),
        &["issue", "x509", "--subject", id, "--profile", "tls-server", "--csr", &csr, "--out", "chain.pem"],
    ));
    let chain = std::fs::read_to_string(cwd.join("chain.pem")).unwrap();
    let parts: Vec<&str> = chain.split_inclusive("-----END CERTIFICATE-----\n").collect();
    std::fs::write(cwd.join("leaf.pem"), parts[0]).unwrap();
    std::fs::write(cwd.join("issuing.pem"), parts[1]).unwrap();
    let v = Command::new("openssl")
        .current_dir(cwd)
        .args(["verify", "-CAfile", "signet-data/ca.pem", "-untrusted", "issuing.pem", "leaf.pem"])
        .output()
        .unwrap();
    assert!(v.status.success(), "{}{}", String::from_utf8_lossy(&v.stdout), String::from_utf8_lossy(&v.stderr));

    // Listing and showing certificates.
    let list: serde_json::Value =
        serde_json::from_str(&ok(&signet(cwd, &server, Some(&token), &["cert", "list", "--output", "json"]))).unwrap();
    let items = list["items"].as_array().unwrap();
    // Ours, and the server's own HTTPS certificate (a credential like any other).
    assert_eq!(items.len(), 3);
    assert_eq!(items.iter().filter(|i| i["profile"] == "signet-server").count(), 1);
    // Both were issued within one second, so their order in the list is not
    // defined: find the one written to chain.pem by its serial.
    let mut found = None;
    for item in items {
        let serial = item["serial"].as_str().unwrap();
        let pem = ok(&signet(cwd, &server, Some(&token), &["cert", "show", serial, "--pem"]));
        if pem == parts[0] {
            found = Some(item);
        }
    }
    let item = found.expect("`cert show --pem` prints the issued certificate");
    let shown = ok(&signet(cwd, &server, Some(&token), &["cert", "show", item["id"].as_str().unwrap()]));
    assert!(shown.contains(item["serial"].as_str().unwrap()) && shown.contains("DNS:web.internal"), "{shown}");
    let reqs = ok(&signet(cwd, &server, Some(&token), &["request", "list", "--state", "issued"]));
    // A header, ours and the server's own certificate's.
    assert_eq!(reqs.lines().count(), 4, "{reqs}");
    assert_eq!(reqs.lines().filter(|l| l.contains("signet-server")).count(), 1, "{reqs}");
}

#[test]
fn cli_errors_are_one_line_and_change_nothing() {
    if !have("openssl", "version") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let server = serve(cwd, &[], &[], None);
    let token = std::fs::read_to_string(cwd.join("signet-data/admin-token")).unwrap().trim().to_string();
    let t = Some(token.as_str());
    let out = ok(&signet(
        cwd,
        &server,
        t,
        &["subject", "create", "--name", "web", "--kind", "workload", "--owner", "o", "--purpose", "p", "--output", "json"],
    ));
    let id = serde_json::from_str::<serde_json::Value>(&out).unwrap()["id"].as_str().unwrap().to_string();
    let csr = openssl_csr(cwd, "web", "DNS:web.internal");

    let e = fails(&signet(
        cwd,
        &server,
        t,
        &["issue", "x509", "--subject", &id, "--profile", "tls-server", "--csr", &csr, "--dns", "www.example.com"],
    ));
    assert!(e.contains("names.dns[0]") && e.contains("HTTP 422"), "{e}");
    let e = fails(&signet(cwd, &server, t, &["issue", "x509", "--subject", &id, "--profile", "tls-server", "--csr", &csr, "--ttl", "90d"]));
    assert!(e.contains("ttl"), "{e}");
    let e = fails(&signet(cwd, &server, t, &["issue", "x509", "--subject", &id, "--profile", "nope", "--csr", &csr]));
    assert!(e.contains("profile") && e.contains("HTTP 400"), "{e}");
    let e = fails(&signet(cwd, &server, t, &["issue", "x509", "--subject", &id, "--profile", "tls-server", "--csr", "missing.csr"]));
    assert!(e.contains("missing.csr"), "{e}");
    std::fs::write(cwd.join("junk.csr"), "hello").unwrap();
    let e = fails(&signet(cwd, &server, t, &["issue", "x509", "--subject", &id, "--profile", "tls-server", "--csr", "junk.csr"]));
    assert!(e.contains("csr"), "{e}");
    let e =
        fails(&signet(cwd, &server, t, &["subject", "create", "--name", "web", "--kind", "workload", "--owner", "o", "--purpose", "p"]));
    assert!(e.contains("HTTP 409"), "{e}");
    let e = fails(&signet(cwd, &server, t, &["subject", "create", "--name", "x", "--kind", "workload"]));
    assert!(e.contains("owner"), "{e}");
    std::fs::write(cwd.join("bad.toml"), "name = \"p\"\nmax_ttl = \"1h\"\nkey_algorithms = [\"dsa\"]\n").unwrap();
    let e = fails(&signet(cwd, &server, t, &["profile", "apply", "-f", "bad.toml"]));
    assert!(e.contains("key_algorithms[0]"), "{e}");
    std::fs::write(cwd.join("broken.toml"), "name = ").unwrap();
    let e = fails(&signet(cwd, &server, t, &["profile", "apply", "-f", "broken.toml"]));
    assert!(e.contains("broken.toml"), "{e}");
    let e = fails(&signet(cwd, &server, None, &["subject", "list"]));
    assert!(e.contains("token"), "{e}");
    let e = fails(&signet(cwd, &server, Some("signet_forged"), &["subject", "list"]));
    assert!(e.contains("HTTP 401"), "{e}");
    let e = fails(&signet(cwd, &server, t, &["--server", "ftp://x", "subject", "list"]));
    assert!(e.contains("--server"), "{e}");

    // None of that wrote a certificate or a subject: there are only the
    // server's own certificate and subject, and the one made above.
    let list: serde_json::Value = serde_json::from_str(&ok(&signet(cwd, &server, t, &["cert", "list", "--output", "json"]))).unwrap();
    let profiles: Vec<&str> = list["items"].as_array().unwrap().iter().map(|i| i["profile"].as_str().unwrap()).collect();
    assert_eq!(profiles, ["signet-server"]);
    let subjects: serde_json::Value =
        serde_json::from_str(&ok(&signet(cwd, &server, t, &["subject", "list", "--output", "json"]))).unwrap();
    assert_eq!(subjects["items"].as_array().unwrap().len(), 2);
}

#[test]
fn serve_configuration_is_checked_and_env_overrides_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    // Plain HTTP off loopback is refused, naming the option.
    let o = Command::new(BIN).current_dir(cwd).args(["serve", "--insecure-http", "--listen", "0.0.0.0:0"]).output().unwrap();
    let e = fails(&o);
    assert!(e.contains("insecure_http"), "{e}");
    // An unknown key in the config file is refused, naming it.
    std::fs::write(cwd.join("bad.toml"), "lisen = \"127.0.0.1:1\"\n").unwrap();
    let e = fails(&Command::new(BIN).current_dir(cwd).args(["serve", "--config", "bad.toml"]).output().unwrap());
    assert!(e.contains("lisen"), "{e}");
    // The environment overrides the file: the file names an unusable address.
    let data = cwd.join("elsewhere");
    std::fs::write(cwd.join("signet.toml"), format!("listen = \"nowhere\"\ndata_dir = \"{}\"\ninsecure_http = true\n", data.display()))
        .unwrap();
    let server = serve(cwd, &["--config", "signet.toml"], &[], None);
    assert!(data.join("admin-token").exists(), "data_dir came from the file");
    assert!(server.url.starts_with("http://127.0.0.1:"), "insecure_http came from the file: {}", server.url);
    let token = std::fs::read_to_string(data.join("admin-token")).unwrap().trim().to_string();
    ok(&signet(cwd, &server, Some(&token), &["profile", "list"]));
}

fn sqlite(db: &Path, sql: &str) {
    let out = Command::new("sqlite3").arg(db).arg(sql).output().expect("sqlite3 (Debian package sqlite3)");
    assert!(out.status.success(), "sqlite3: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn log_export_verifies_and_every_kind_of_tampering_is_named() {
    if !have("sqlite3", "-version") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let server = serve(cwd, &[], &[], None);
    let token = std::fs::read_to_string(cwd.join("signet-data/admin-token")).unwrap().trim().to_string();
    let t = Some(token.as_str());
    for name in ["a", "b", "c"] {
        ok(&signet(cwd, &server, t, &["subject", "create", "--name", name, "--kind", "person"]));
    }
    let n = wait_for_checkpoint(cwd, &server, &token);
    assert!(n >= 7, "{n}");

    // An honest export verifies with the key from DATA/log.pub.
    ok(&signet(cwd, &server, t, &["log", "export", "good"]));
    let out = ok(&signet(cwd, &server, t, &["log", "verify", "good", "--key", "signet-data/log.pub"]));
    assert!(out.starts_with(&format!("OK: {n} entries")), "{out}");
    // An export is never written over; a place it cannot write is reported, not hung on.
    let e = fails(&signet(cwd, &server, t, &["log", "export", "good"]));
    assert!(e.contains("already holds an export"), "{e}");
    std::fs::write(cwd.join("a-file"), "not a directory").unwrap();
    let e = fails(&signet(cwd, &server, t, &["log", "export", "a-file/export"]));
    assert!(e.contains("cannot write the export to `a-file/export`"), "{e}");
    // The key is required, and only the right one works.
    let o = Command::new(BIN).current_dir(cwd).args(["log", "verify", "good"]).output().unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--key <KEY>"), "clap's usage error names the missing flag");
    std::fs::write(cwd.join("other.pub"), "signet/other+01020304+AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=\n").unwrap();
    fails(&signet(cwd, &server, t, &["log", "verify", "good", "--key", "other.pub"]));

    // Tampered exports: reorder two entries, truncate the tail.
    let entries = std::fs::read_to_string(cwd.join("good/entries.jsonl")).unwrap();
    let lines: Vec<&str> = entries.lines().collect();
    let copy = |name: &str, body: String| {
        let d = cwd.join(name);
        std::fs::create_dir_all(d.join("checkpoints")).unwrap();
        for f in std::fs::read_dir(cwd.join("good/checkpoints")).unwrap() {
            let f = f.unwrap();
            std::fs::copy(f.path(), d.join("checkpoints").join(f.file_name())).unwrap();
        }
        std::fs::copy(cwd.join("good/leaf-hashes.txt"), d.join("leaf-hashes.txt")).unwrap();
        std::fs::write(d.join("entries.jsonl"), body).unwrap();
    };
    let mut swapped = lines.clone();
    swapped.swap(3, 4);
    copy("swapped", swapped.iter().map(|l| format!("{l}\n")).collect());
    let e = fails(&signet(cwd, &server, t, &["log", "verify", "swapped", "--key", "signet-data/log.pub"]));
    assert!(e.contains("entry 3"), "{e}");
    copy("truncated", lines[..lines.len() - 2].iter().map(|l| format!("{l}\n")).collect());
    let e = fails(&signet(cwd, &server, t, &["log", "verify", "truncated", "--key", "signet-data/log.pub"]));
    assert!(e.contains(&(lines.len() - 2).to_string()), "{e}");

    // Tampered database: someone with write access drops the append-only
    // triggers, changes a name in subject `b`'s entry and deletes entry 2.
    let created: serde_json::Value =
        serde_json::from_str(&ok(&signet(cwd, &server, t, &["log", "search", "--type", "subject.created", "--output", "json"]))).unwrap();
    let b = created["items"].as_array().unwrap().iter().find(|e| e["details"]["name"] == "b").unwrap()["index"].as_i64().unwrap();
    let db = cwd.join("signet-data/signet.db");
    sqlite(
        &db,
        &format!(
            "DROP TRIGGER events_no_update; UPDATE events SET entry = CAST(replace(CAST(entry AS TEXT), '\"name\":\"b\"', '\"name\":\"x\"') AS BLOB) WHERE event_index = {b};"
        ),
    );
    let changed =
        Command::new("sqlite3").arg(&db).arg(format!("SELECT CAST(entry AS TEXT) FROM events WHERE event_index = {b}")).output().unwrap();
    assert!(String::from_utf8_lossy(&changed.stdout).contains("\"name\":\"x\""), "the tampering took effect");
    ok(&signet(cwd, &server, t, &["log", "export", "edited"]));
    let e = fails(&signet(cwd, &server, t, &["log", "verify", "edited", "--key", "signet-data/log.pub"]));
    assert!(e.contains(&format!("entry {b}")), "{e}");
    sqlite(&db, "DROP TRIGGER events_no_delete; DELETE FROM events WHERE event_index = 2;");
    ok(&signet(cwd, &server, t, &["log", "export", "deleted"]));
    let e = fails(&signet(cwd, &server, t, &["log", "verify", "deleted", "--key", "signet-data/log.pub"]));
    assert!(e.contains("entry 2"), "{e}");
}

#[test]
fn json_logs_carry_the_request_id_that_the_log_entry_records() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let server = serve(cwd, &["--log-format", "json"], &[("SIGNET_LOG", "info,signet_server=debug")], Some(&cwd.join("server.log")));
    let token = std::fs::read_to_string(cwd.join("signet-data/admin-token")).unwrap().trim().to_string();
    ok(&signet(cwd, &server, Some(&token), &["subject", "create", "--name", "traced", "--kind", "person"]));
    let events: serde_json::Value =
        serde_json::from_str(&ok(&signet(cwd, &server, Some(&token), &["log", "search", "--type", "subject.created", "--output", "json"])))
            .unwrap();
    let traced = events["items"].as_array().unwrap().iter().find(|e| e["details"]["name"] == "traced").unwrap();
    let trace_id = traced["trace_id"].as_str().unwrap().to_string();
    std::thread::sleep(Duration::from_millis(200));
    let log = std::fs::read_to_string(cwd.join("server.log")).unwrap();
    let line = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["span"]["request_id"] == trace_id.as_str() && v["span"]["path"] == "/v1/subjects")
        .unwrap_or_else(|| panic!("no JSON log line for request {trace_id} in:\n{log}"));
    assert_eq!(line["span"]["method"], "POST");
    assert_eq!(line["fields"]["status"], 201);
}

/// Run `signet ARGS` in `cwd` with `stdin` piped in (not a TTY).
fn signet_stdin(cwd: &Path, server: &Server, args: &[&str], stdin: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .current_dir(cwd)
        .env("SIGNET_SERVER", &server.url)
        .env_remove("SIGNET_TOKEN")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn init_then_serve_starts_sealed_and_the_cli_unseals_and_seals() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let out = ok(&Command::new(BIN)
        .current_dir(cwd)
        .args(["init", "--shares", "3", "--threshold", "2", "--out-dir", "shares"])
        .output()
        .unwrap());
    assert!(out.contains("3 shares, any 2 of which unseal"), "{out}");
    assert!(!out.contains("signet-share-1:"), "shares written to files are not printed: {out}");
    let share = |i: u8| std::fs::read_to_string(cwd.join(format!("shares/share-{i}.txt"))).unwrap();
    // Refused the second time, one line, nothing changed.
    let seal = std::fs::read_to_string(cwd.join("signet-data/seal.json")).unwrap();
    let err = fails(&Command::new(BIN).current_dir(cwd).args(["init"]).output().unwrap());
    assert!(err.contains("already has a keystore seal"), "{err}");
    assert_eq!(std::fs::read_to_string(cwd.join("signet-data/seal.json")).unwrap(), seal);

    let log = cwd.join("server.log");
    let server = serve(cwd, &[], &[], Some(&log));
    assert!(!cwd.join("signet-data/admin-token").exists());
    let status = ok(&signet(cwd, &server, None, &["seal-status"]));
    assert!(status.starts_with("sealed (seal ") && status.contains("0 of 2 shares given"), "{status}");

    let out = ok(&signet(cwd, &server, None, &["unseal", "--share-file", "shares/share-3.txt"]));
    assert!(out.contains("1 of 2 shares given"), "{out}");
    // Only a share-holder resets: with the token printed for an accepted share.
    let progress_token = out.lines().find_map(|l| l.strip_prefix("progress token: ")).expect("the token is printed").trim().to_string();
    let err = fails(&signet(cwd, &server, None, &["unseal", "--reset"]));
    assert!(err.contains("progress_token") && err.contains("HTTP 403"), "{err}");
    let err = fails(&signet(cwd, &server, None, &["unseal", "--reset", "--progress-token", "unseal_00000000000000000000000000000000"]));
    assert!(err.contains("HTTP 403"), "{err}");
    let status = ok(&signet(cwd, &server, None, &["seal-status"]));
    assert!(status.contains("1 of 2 shares given") && !status.contains("progress token"), "a refused reset kept the progress: {status}");
    let out = ok(&signet(cwd, &server, None, &["unseal", "--reset", "--progress-token", &progress_token]));
    assert!(out.contains("0 of 2 shares given"), "{out}");
    let out = ok(&signet(cwd, &server, None, &["unseal", "--share-file", "shares/share-3.txt"]));
    assert!(out.contains("1 of 2 shares given"), "{out}");
    // A damaged copy, from standard input: one line naming the problem, progress kept.
    let damaged = share(1).replacen(":1:", ":2:", 1);
    let err = fails(&signet_stdin(cwd, &server, &["unseal"], &damaged));
    assert!(err.contains("share 2 is corrupt"), "{err}");
    let err = fails(&signet(cwd, &server, None, &["subject", "list", "--token", "signet_x"]));
    assert!(err.contains("sealed") && err.contains("HTTP 503"), "{err}");
    let out = ok(&signet_stdin(cwd, &server, &["unseal"], &share(1)));
    assert!(out.starts_with("unsealed"), "{out}");

    // Unsealed: the CLI works with the admin token, then seals it.
    let token = std::fs::read_to_string(cwd.join("signet-data/admin-token")).unwrap().trim().to_string();
    ok(&signet(cwd, &server, Some(&token), &["subject", "list"]));
    let err = fails(&signet(cwd, &server, None, &["seal"]));
    assert!(err.contains("no token"), "{err}");
    let out = ok(&signet(cwd, &server, Some(&token), &["seal"]));
    assert!(out.starts_with("sealed"), "{out}");
    let err = fails(&signet(cwd, &server, Some(&token), &["subject", "list"]));
    assert!(err.contains("HTTP 503"), "{err}");
    let json: serde_json::Value = serde_json::from_str(&ok(&signet(cwd, &server, None, &["seal-status", "--output", "json"]))).unwrap();
    assert_eq!((json["sealed"].as_bool(), json["progress"].as_u64()), (Some(true), Some(0)));

    // The server's log names attempts, never shares.
    drop(server);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("unseal share refused") && text.contains("unseal share accepted"), "{text}");
    for i in 1..=3 {
        let s = share(i);
        assert!(!text.contains(s.trim()) && !text.contains(s.split(':').nth(3).unwrap()), "share {i} in the log");
    }
}

#[test]
fn sigterm_stops_the_server_cleanly_and_reports_the_refusals_left_out() {
    if !have("sqlite3", "-version") || !have("curl", "--version") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let mut server = serve(cwd, &[], &[], None);
    // A burst of forged tokens on one connection, well over the 20 a second
    // logged one by one, then SIGTERM before any later refusal or periodic
    // summary could report the rest.
    let burst = 100;
    let url = format!("{}/v1/subjects", server.url);
    let mut curl = Command::new("curl");
    curl.args(["-s", "-w", "%{http_code}\n", "--cacert", "signet-data/ca.pem", "-H", "Authorization: Bearer signet_forged"]);
    for _ in 0..burst {
        curl.args(["-o", "/dev/null", url.as_str()]);
    }
    curl.current_dir(cwd);
    let out = curl.output().unwrap();
    let codes = String::from_utf8_lossy(&out.stdout);
    assert_eq!(codes.lines().filter(|c| *c == "401").count(), burst, "every forged token is refused: {codes}");

    let status = server.terminate();
    assert!(status.success(), "SIGTERM is a clean stop, not a kill: {status:?}");

    let db = cwd.join("signet-data/signet.db");
    let out = Command::new("sqlite3")
        .arg(&db)
        .arg(
            "SELECT COUNT(*), COALESCE(SUM(json_extract(details, '$.suppressed_before')), 0), \
             COALESCE(SUM(json_extract(details, '$.suppressed')), 0), COUNT(json_extract(details, '$.suppressed')) \
             FROM events WHERE event_type = 'operator.auth_failed'",
        )
        .output()
        .unwrap();
    assert!(out.status.success(), "sqlite3: {}", String::from_utf8_lossy(&out.stderr));
    let row = String::from_utf8_lossy(&out.stdout);
    let n: Vec<u64> = row.trim().split('|').map(|v| v.parse().unwrap()).collect();
    let (events, counted_after, counted_in_summaries, summaries) = (n[0], n[1], n[2], n[3]);
    assert!(summaries >= 1, "the shutdown reported what the rate limit left out: {row}");
    assert_eq!(events - summaries + counted_after + counted_in_summaries, burst as u64, "every refusal is logged or counted: {row}");
}

#[test]
fn status_listen_serves_certificate_status_over_plain_http_and_a_taken_port_is_named() {
    if !have("openssl", "version") || !have("curl", "--version") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let status = format!("127.0.0.1:{}", free_port());
    let mut server = serve(cwd, &["--status-listen", &status], &[], None);
    let mut printed = String::new();
    while !printed.contains("status:") {
        assert!(std::io::BufRead::read_line(&mut server.stdout, &mut printed).unwrap() > 0, "no status line in:\n{printed}");
    }
    assert!(printed.contains(&format!("status:    http://{status} ")), "{printed}");

    let token = std::fs::read_to_string(cwd.join("signet-data/admin-token")).unwrap().trim().to_string();
    let t = Some(token.as_str());
    let created = json(&signet(cwd, &server, t, &["subject", "create", "--name", "web", "--kind", "person", "--output", "json"]));
    let csr = openssl_csr(cwd, "web", "DNS:web.internal");
    let id = created["id"].as_str().unwrap();
    ok(&signet(cwd, &server, t, &["issue", "x509", "--subject", id, "--profile", "tls-server", "--csr", &csr, "--out", "chain.pem"]));
    let chain = std::fs::read_to_string(cwd.join("chain.pem")).unwrap();
    openssl_verifies(cwd, &chain, "web");

    // openssl asks the OCSP URL the certificate names: plain HTTP, this listener.
    let text = Command::new("openssl").current_dir(cwd).args(["x509", "-in", "web-leaf.pem", "-noout", "-ocsp_uri"]).output().unwrap();
    let ocsp_url = String::from_utf8_lossy(&text.stdout).trim().to_string();
    assert_eq!(ocsp_url, format!("http://{status}/ocsp"));
    let out = Command::new("openssl")
        .current_dir(cwd)
        .args(["ocsp", "-issuer", "web-issuing.pem", "-cert", "web-leaf.pem", "-url", &ocsp_url, "-CAfile", "signet-data/ca.pem"])
        .output()
        .unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && said.contains("Response verify OK") && said.contains("web-leaf.pem: good"), "{said}");
    let o = Command::new("curl").args(["-s", "-o", "/dev/null", "-w", "%{http_code}", &format!("http://{status}/v1/subjects")]).output();
    assert_eq!(String::from_utf8_lossy(&o.unwrap().stdout), "404", "the API is not on the status listener");

    // A second server whose status port is taken stops before it creates anything.
    let other = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let o = Command::new(BIN).current_dir(other.path()).args(["serve", "--listen", &listen, "--status-listen", &status]).output().unwrap();
    let e = fails(&o);
    assert!(e.contains("status_listen") && e.contains(&status), "{e}");
    assert!(!other.path().join("signet-data").exists(), "nothing was created");
}
