//! Approvals, roles, the policy set and break-glass, driven through the
//! `signet` CLI only, against a real `signet serve`: an admin creates an
//! approver and its token, a profile requires one approval from team `sec`,
//! the bootstrap admin (a registration officer) submits, separation of
//! duties stops it approving its own request, the approver's approval mints
//! a certificate that openssl verifies.
//!
//! The process helpers are in `tests/common/mod.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod common;

use common::{Server, fails, have, json, ok, openssl_csr, openssl_verifies, serve, signet};
use std::path::Path;

/// The value of a `key  value` line of a table-format answer.
fn field(out: &str, key: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(key).filter(|rest| rest.starts_with("  ")).map(|rest| rest.trim().to_string()))
        .unwrap_or_else(|| panic!("no `{key}` in:\n{out}"))
}

/// An operator as it comes to be, through the CLI only: its holder makes an
/// enrolment code, the admin creates the operator with the verifier alone,
/// the holder redeems its secret (no token) for its first token. Returns
/// (operator id, token secret).
fn operator_with_token(cwd: &Path, server: &Server, admin: &str, args: &[&str]) -> (String, String) {
    let code = json(&signet(cwd, server, None, &["operator", "enrol-code", "--output", "json"]));
    let (enrol_secret, verifier) = (code["secret"].as_str().unwrap(), code["verifier"].as_str().unwrap());
    let mut create = vec!["operator", "create"];
    create.extend_from_slice(args);
    create.extend_from_slice(&["--enrolment-verifier", verifier, "--output", "json"]);
    let op = json(&signet(cwd, server, Some(admin), &create));
    assert!(!op.to_string().contains(enrol_secret), "the admin never sees the secret");
    let id = op["id"].as_str().unwrap().to_string();
    let secret_file = cwd.join(format!("{id}.enrol"));
    std::fs::write(&secret_file, enrol_secret).unwrap();
    let secret_file = secret_file.to_str().unwrap();
    let created = signet(cwd, server, None, &["operator", "enrol", &id, "--secret-file", secret_file, "--name", "laptop", "--ttl", "30d"]);
    let out = ok(&created);
    let secret = field(&out, "secret");
    assert!(secret.starts_with("signet_"), "{out}");
    assert!(String::from_utf8_lossy(&created.stderr).contains("shown this once"));
    (id, secret)
}

fn pending_ids(cwd: &Path, server: &Server, token: &str) -> Vec<String> {
    let v = json(&signet(cwd, server, Some(token), &["request", "list", "--pending", "--output", "json"]));
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["state"], "pending_approval");
            r["id"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn an_approval_flow_through_the_cli_only() {
    if !have("openssl", "version") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let server = serve(cwd, &[], &[], None);
    let admin = std::fs::read_to_string(cwd.join("signet-data/admin-token")).unwrap().trim().to_string();

    // The bootstrap admin is also a registration officer, at every site.
    let me = ok(&signet(cwd, &server, Some(&admin), &["whoami"]));
    assert_eq!(field(&me, "roles"), "admin, registration_officer", "{me}");
    assert_eq!(field(&me, "sites"), "all", "{me}");

    let subject = json(&signet(
        cwd,
        &server,
        Some(&admin),
        &["subject", "create", "--name", "web", "--kind", "workload", "--owner", "team-web", "--purpose", "shop", "--output", "json"],
    ));
    let subject = subject["id"].as_str().unwrap().to_string();

    // An approver in team `sec`, with its own token.
    let (alice_id, alice) = operator_with_token(cwd, &server, &admin, &["alice", "--role", "approver", "--all-sites", "--team", "sec"]);
    let listed = ok(&signet(cwd, &server, Some(&admin), &["operator", "list"]));
    assert!(listed.contains("alice") && listed.contains("approver") && listed.contains("sec"), "{listed}");
    let tokens = ok(&signet(cwd, &server, Some(&admin), &["operator", "token", "list", &alice_id]));
    assert!(tokens.contains("laptop") && !tokens.contains(&alice), "{tokens}");
    let who = ok(&signet(cwd, &server, Some(&alice), &["whoami"]));
    assert_eq!(field(&who, "actor"), alice_id);
    assert_eq!(field(&who, "roles"), "approver");
    assert_eq!(field(&who, "teams"), "sec");

    // A profile that needs one approval from `sec`, and allows one scope.
    std::fs::write(
        cwd.join("guarded.toml"),
        "name = \"guarded\"\nmax_ttl = \"2h\"\next_key_usages = [\"server_auth\"]\nallowed_scopes = [\"deploy\"]\n\
         [names]\ndns = [\"{subject}.internal\"]\n[approvals]\nrequired = 1\ngroup = \"sec\"\nfresh_approver_window = \"0\"\n",
    )
    .unwrap();
    ok(&signet(cwd, &server, Some(&admin), &["profile", "apply", "-f", "guarded.toml"]));
    let csr = openssl_csr(cwd, "web", "DNS:web.internal");
    let ask = ["--subject", subject.as_str(), "--profile", "guarded", "--csr", csr.as_str(), "--ttl", "1h"];

    // Explain first: it would wait for one approval, and says which policy holds it back.
    let mut explain = vec!["policy", "explain"];
    explain.extend_from_slice(&ask);
    explain.extend_from_slice(&["--scope", "deploy"]);
    let out = ok(&signet(cwd, &server, Some(&admin), &explain));
    assert_eq!(field(&out, "outcome"), "pending_approval", "{out}");
    assert_eq!(field(&out, "approvals required"), "1 (group `sec`)", "{out}");
    assert!(out.contains("issue.forbid.awaiting-approval"), "{out}");
    assert!(out.contains("the profile requires more approvals than the request has"), "{out}");
    // A scope outside the profile: denied, and the determining policy is named.
    let mut explain_bad = vec!["policy", "explain", "--output", "json"];
    explain_bad.extend_from_slice(&ask);
    explain_bad.extend_from_slice(&["--scope", "root"]);
    let v = json(&signet(cwd, &server, Some(&admin), &explain_bad));
    assert_eq!(v["outcome"], "deny", "{v}");
    let ids: Vec<&str> = v["determining_policies"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&"issue.forbid.scopes-outside-profile"), "{v}");
    // Explaining wrote nothing.
    assert!(pending_ids(cwd, &server, &admin).is_empty());

    // The registration officer submits: pending, exit 0, nothing written to --out.
    let mut issue = vec!["issue", "x509"];
    issue.extend_from_slice(&ask);
    issue.extend_from_slice(&["--scope", "deploy", "--out", "never.pem"]);
    let out = ok(&signet(cwd, &server, Some(&admin), &issue));
    assert!(out.contains("is pending approval: it needs 1 approval(s)"), "{out}");
    let request = field(&out, "request");
    assert!(request.starts_with("req_"), "{out}");
    assert!(!cwd.join("never.pem").exists());
    assert_eq!(pending_ids(cwd, &server, &admin), vec![request.clone()]);
    let shown = ok(&signet(cwd, &server, Some(&admin), &["request", "show", &request]));
    assert_eq!(field(&shown, "state"), "pending_approval");
    assert_eq!(field(&shown, "scopes"), "deploy");
    assert!(shown.contains("no approvals or denials recorded"), "{shown}");

    // Separation of duties: the submitter cannot approve, whatever its roles.
    let err = fails(&signet(cwd, &server, Some(&admin), &["request", "approve", &request, "--reason", "looks fine"]));
    assert!(err.contains("HTTP 403") && err.contains("nobody approves a request they submitted"), "{err}");
    // A reason is required.
    let err = fails(&signet(cwd, &server, Some(&alice), &["request", "approve", &request, "--reason", " "]));
    assert!(err.contains("reason"), "{err}");
    assert_eq!(pending_ids(cwd, &server, &admin), vec![request.clone()]);

    // The approver approves: the quorum is met, the certificate is minted, its chain printed.
    let approved = signet(cwd, &server, Some(&alice), &["request", "approve", &request, "--reason", "change ticket 42"]);
    let chain = ok(&approved);
    assert!(String::from_utf8_lossy(&approved.stderr).contains("1 of 1 approvals"));
    openssl_verifies(cwd, &chain, "approved");
    assert!(pending_ids(cwd, &server, &admin).is_empty());
    let v = json(&signet(cwd, &server, Some(&admin), &["request", "show", &request, "--output", "json"]));
    assert_eq!(v["state"], "issued", "{v}");
    assert_eq!(v["approvals"][0]["approver"], alice_id.as_str(), "{v}");
    assert_eq!(v["approvals"][0]["reason"], "change ticket 42", "{v}");
    let shown = ok(&signet(cwd, &server, Some(&admin), &["request", "show", &request]));
    assert!(shown.contains("approve") && shown.contains("change ticket 42"), "{shown}");
    // Each approver counts once, and an issued request takes no more verdicts.
    let err = fails(&signet(cwd, &server, Some(&alice), &["request", "approve", &request, "--reason", "again"]));
    assert!(err.contains("HTTP 409") && err.contains("not pending approval"), "{err}");

    // A denial ends the request.
    let mut issue = vec!["issue", "x509", "--output", "json"];
    issue.extend_from_slice(&ask);
    let second = json(&signet(cwd, &server, Some(&admin), &issue));
    assert_eq!(second["approvals_required"], 1);
    let second = second["request"]["id"].as_str().unwrap().to_string();
    let out = ok(&signet(cwd, &server, Some(&alice), &["request", "deny", &second, "--reason", "no ticket"]));
    assert!(out.contains("is denied: denied by `") && out.contains("no ticket"), "{out}");
    let v = json(&signet(cwd, &server, Some(&admin), &["request", "show", &second, "--output", "json"]));
    assert_eq!(v["state"], "denied", "{v}");
    assert_eq!(v["approvals"][0]["verdict"], "deny", "{v}");
    let err = fails(&signet(cwd, &server, Some(&alice), &["request", "approve", &second, "--reason", "changed my mind"]));
    assert!(err.contains("HTTP 409"), "{err}");

    // A revoked token stops working.
    let tok = json(&signet(cwd, &server, Some(&admin), &["operator", "token", "list", &alice_id, "--output", "json"]));
    let tok = tok["items"][0]["id"].as_str().unwrap().to_string();
    assert!(ok(&signet(cwd, &server, Some(&admin), &["token", "revoke", &tok])).contains("revoked"));
    let err = fails(&signet(cwd, &server, Some(&alice), &["whoami"]));
    assert!(err.contains("HTTP 401"), "{err}");
}

#[test]
fn policy_apply_show_versions_and_a_refused_set() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let server = serve(cwd, &[], &[], None);
    let admin = std::fs::read_to_string(cwd.join("signet-data/admin-token")).unwrap().trim().to_string();

    // The built-in set is version 0.
    let shown = ok(&signet(cwd, &server, Some(&admin), &["policy", "show"]));
    assert_eq!(field(&shown, "version"), "0", "{shown}");
    assert!(shown.contains("@id(\"sod.no-self-approval\")"), "{shown}");
    assert!(ok(&signet(cwd, &server, Some(&admin), &["policy", "versions"])).contains("built-in default set"));
    let default = json(&signet(cwd, &server, Some(&admin), &["policy", "show", "--output", "json"]));
    let default_text = default["text"].as_str().unwrap().to_string();

    // Invalid Cedar: refused with the validator's message; the active set stays.
    std::fs::write(
        cwd.join("bad.cedar"),
        format!("{default_text}\n@id(\"broken\")\npermit (principal, action, resource) when {{ principal.nope == }};\n"),
    )
    .unwrap();
    let err = fails(&signet(cwd, &server, Some(&admin), &["policy", "apply", "-f", "bad.cedar", "--comment", "oops"]));
    assert!(err.contains("HTTP 400") && err.starts_with("error: text: "), "{err}");
    // An unknown attribute: the schema validator names it.
    std::fs::write(
        cwd.join("unknown.cedar"),
        format!("{default_text}\n@id(\"unknown-attr\")\npermit (principal, action, resource) when {{ principal.shoe_size > 3 }};\n"),
    )
    .unwrap();
    let err = fails(&signet(cwd, &server, Some(&admin), &["policy", "apply", "-f", "unknown.cedar"]));
    assert!(err.contains("HTTP 400") && err.contains("shoe_size"), "{err}");
    assert_eq!(field(&ok(&signet(cwd, &server, Some(&admin), &["policy", "show"])), "version"), "0");

    // Not text at all: refused before anything is sent.
    std::fs::write(cwd.join("binary.cedar"), [0xff, 0xfe, 0x00, 0x01]).unwrap();
    let err = fails(&signet(cwd, &server, Some(&admin), &["policy", "apply", "-f", "binary.cedar"]));
    assert!(err.contains("is not UTF-8 text"), "{err}");

    // A valid change: version 1, the diff names the added policy.
    std::fs::write(
        cwd.join("auditors.cedar"),
        format!(
            "{default_text}\n@id(\"auditor.metrics\")\npermit (principal, action == Action::\"metrics.read\", resource)\nwhen {{ principal.roles.contains(Role::\"auditor\") }};\n"
        ),
    )
    .unwrap();
    let out = ok(&signet(cwd, &server, Some(&admin), &["policy", "apply", "-f", "auditors.cedar", "--comment", "auditors read metrics"]));
    assert!(out.starts_with("policy version 1 is active"), "{out}");
    assert_eq!(field(&out, "added"), "auditor.metrics", "{out}");
    assert!(out.contains("+ @id(\"auditor.metrics\")"), "{out}");
    let versions = ok(&signet(cwd, &server, Some(&admin), &["policy", "versions"]));
    assert!(versions.contains("auditors read metrics"), "{versions}");
    assert_eq!(field(&ok(&signet(cwd, &server, Some(&admin), &["policy", "show"])), "version"), "1");
    let old = ok(&signet(cwd, &server, Some(&admin), &["policy", "show", "--version", "1"]));
    assert!(old.contains("auditor.metrics"), "{old}");

    // A refused set after a good one leaves version 1 in force.
    let err = fails(&signet(cwd, &server, Some(&admin), &["policy", "apply", "-f", "bad.cedar"]));
    assert!(err.contains("HTTP 400"), "{err}");
    assert_eq!(field(&ok(&signet(cwd, &server, Some(&admin), &["policy", "show"])), "version"), "1");

    // Someone without policy.apply: 403, with the reason.
    let (_, approver) = operator_with_token(cwd, &server, &admin, &["dora", "--role", "approver", "--site", "default"]);
    let err = fails(&signet(cwd, &server, Some(&approver), &["policy", "apply", "-f", "auditors.cedar"]));
    assert!(err.contains("HTTP 403") && err.contains("policy.apply"), "{err}");
}

#[test]
fn operators_subjects_and_break_glass() {
    if !have("openssl", "version") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let server = serve(cwd, &[], &[], None);
    let admin = std::fs::read_to_string(cwd.join("signet-data/admin-token")).unwrap().trim().to_string();
    let subject = json(&signet(
        cwd,
        &server,
        Some(&admin),
        &["subject", "create", "--name", "db", "--kind", "workload", "--owner", "team-db", "--purpose", "orders", "--output", "json"],
    ));
    let subject = subject["id"].as_str().unwrap().to_string();
    let csr = openssl_csr(cwd, "db", "DNS:db.internal");

    // Operators: update changes only what is given.
    let (bob_id, bob) = operator_with_token(cwd, &server, &admin, &["bob", "--role", "site_operator", "--site", "default"]);
    let (carol_id, carol) = operator_with_token(cwd, &server, &admin, &["carol", "--role", "security_reviewer", "--team", "ir"]);
    let out = ok(&signet(cwd, &server, Some(&admin), &["operator", "update", &carol_id, "--team", "ir", "--team", "sec"]));
    assert_eq!(field(&out, "teams"), "ir, sec", "{out}");
    assert_eq!(field(&out, "roles"), "security_reviewer", "{out}");
    let out = ok(&signet(cwd, &server, Some(&admin), &["operator", "show", &carol_id]));
    assert_eq!(field(&out, "teams"), "ir, sec", "{out}");
    let err = fails(&signet(cwd, &server, Some(&admin), &["operator", "create", "eve", "--role", "root"]));
    assert!(err.contains("roles[0]") && err.contains("`root` is not a role"), "{err}");
    // Nobody changes their own roles.
    let err = fails(&signet(cwd, &server, Some(&carol), &["operator", "update", &carol_id, "--role", "admin"]));
    assert!(err.contains("HTTP 403"), "{err}");

    // Subjects: a suspended subject gets nothing, explain says why; reinstated, it may again.
    let out = ok(&signet(cwd, &server, Some(&admin), &["subject", "suspend", &subject, "--reason", "key leak suspected"]));
    assert_eq!(field(&out, "status"), "suspended", "{out}");
    let v = json(&signet(
        cwd,
        &server,
        Some(&admin),
        &["policy", "explain", "--subject", &subject, "--profile", "tls-server", "--csr", &csr, "--output", "json"],
    ));
    assert_eq!(v["outcome"], "deny", "{v}");
    assert!(v["determining_policies"].as_array().unwrap().iter().any(|p| p["id"] == "issue.forbid.subject-not-active"), "{v}");
    let out = ok(&signet(cwd, &server, Some(&admin), &["subject", "reinstate", &subject, "--reason", "rotated"]));
    assert_eq!(field(&out, "status"), "active", "{out}");

    // Break-glass: a site operator asks; two approvers with break_glass.approve, neither the requester.
    let bg = ["break-glass", "x509", "--subject", &subject, "--profile", "tls-server", "--csr", &csr, "--ttl", "30m"];
    let mut blank = bg.to_vec();
    blank.extend_from_slice(&["--reason", "  "]);
    let err = fails(&signet(cwd, &server, Some(&bob), &blank));
    assert!(err.contains("HTTP 400") && err.contains("reason"), "{err}");
    let mut with_reason = bg.to_vec();
    with_reason.extend_from_slice(&["--reason", "primary CA path down, outage INC-7"]);
    let out = ok(&signet(cwd, &server, Some(&bob), &with_reason));
    assert!(out.starts_with("break-glass request `req_") && out.contains("it needs 2 approval(s)"), "{out}");
    let request = field(&out, "request");
    let err = fails(&signet(cwd, &server, Some(&bob), &["request", "approve", &request, "--reason", "me"]));
    assert!(err.contains("HTTP 403"), "{err}");
    let out = ok(&signet(cwd, &server, Some(&admin), &["request", "approve", &request, "--reason", "confirmed outage"]));
    assert!(out.contains("1 of 2 approvals") && out.contains("waiting for 1 more"), "{out}");
    let out = ok(&signet(cwd, &server, Some(&carol), &["request", "approve", &request, "--reason", "confirmed", "--out", "bg.pem"]));
    assert_eq!(field(&out, "subject"), subject, "{out}");
    let chain = std::fs::read_to_string(cwd.join("bg.pem")).unwrap();
    openssl_verifies(cwd, &chain, "bg");
    let v = json(&signet(cwd, &server, Some(&admin), &["request", "show", &request, "--output", "json"]));
    assert_eq!(v["state"], "issued", "{v}");
    assert_eq!(v["break_glass"], true, "{v}");
    assert_eq!(v["approvals"].as_array().unwrap().len(), 2, "{v}");
    let _ = bob_id;
}
