//! Human tables by default, JSON for scripts.

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

pub fn json(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

fn s(v: &Value, k: &str) -> String {
    match v.get(k) {
        Some(Value::String(x)) => x.clone(),
        Some(Value::Null) | None => "-".into(),
        Some(other) => other.to_string(),
    }
}

fn names(v: &Value) -> String {
    let mut out = Vec::new();
    if let Some(obj) = v.as_object() {
        for (kind, list) in obj {
            for n in list.as_array().into_iter().flatten() {
                out.push(format!("{}:{}", kind.to_uppercase(), n.as_str().unwrap_or_default()));
            }
        }
    }
    if out.is_empty() { "-".into() } else { out.join(",") }
}

/// Print rows with aligned columns.
fn table(headers: &[&str], rows: Vec<Vec<String>>) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let parts: Vec<String> = cells.iter().enumerate().map(|(i, c)| format!("{c:<w$}", w = widths[i])).collect();
        println!("{}", parts.join("  ").trim_end());
    };
    line(headers.iter().map(|h| h.to_string()).collect());
    for r in rows {
        line(r);
    }
}

fn fields(pairs: &[(&str, String)]) {
    let w = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in pairs {
        println!("{k:<w$}  {v}");
    }
}

/// A JSON array of strings as `a, b`, or `-` when empty.
fn list(v: &Value, k: &str) -> String {
    let parts: Vec<&str> = v.get(k).and_then(|x| x.as_array()).map(|a| a.iter().filter_map(|e| e.as_str()).collect()).unwrap_or_default();
    if parts.is_empty() { "-".into() } else { parts.join(", ") }
}

fn items(v: &Value) -> Vec<Value> {
    v.get("items").and_then(|i| i.as_array()).cloned().unwrap_or_default()
}

/// A page of a listing as a table, and where the next page starts (on stderr,
/// so the table alone can be piped on).
fn page_table(headers: &[&str], v: &Value, row: impl Fn(&Value) -> Vec<String>) {
    table(headers, items(v).iter().map(row).collect());
    if let Some(next) = v.get("next_cursor").and_then(Value::as_str) {
        eprintln!("more: repeat with --cursor {next}");
    }
}

pub fn subject(f: Format, v: &Value) {
    if f == Format::Json {
        return json(v);
    }
    fields(&[
        ("id", s(v, "id")),
        ("name", s(v, "name")),
        ("kind", s(v, "kind")),
        ("owner", s(v, "owner")),
        ("purpose", s(v, "purpose")),
        ("assurance", s(v, "assurance")),
        ("status", s(v, "status")),
        ("created", s(v, "created_at")),
    ]);
}

pub fn subjects(f: Format, v: &Value) {
    if f == Format::Json {
        return json(v);
    }
    page_table(&["ID", "NAME", "KIND", "OWNER", "STATUS"], v, |x| {
        vec![s(x, "id"), s(x, "name"), s(x, "kind"), s(x, "owner"), s(x, "status")]
    });
}

pub fn profile(f: Format, v: &Value) {
    if f == Format::Json {
        return json(v);
    }
    let ttl = |k: &str| v.get(k).and_then(|x| x.as_i64()).map(signet_model::profile::format_duration_secs).unwrap_or_else(|| "-".into());
    let list = |k: &str| {
        v.get(k).and_then(|x| x.as_array()).map(|a| a.iter().filter_map(|e| e.as_str()).collect::<Vec<_>>().join(", ")).unwrap_or_default()
    };
    fields(&[
        ("name", s(v, "name")),
        ("version", s(v, "version")),
        ("type", s(v, "credential_type")),
        ("description", s(v, "description")),
        ("key algorithms", list("key_algorithms")),
        ("default ttl", ttl("default_ttl_seconds")),
        ("max ttl", ttl("max_ttl_seconds")),
        ("names", v.get("names").map(|n| n.to_string()).unwrap_or_default()),
        ("EKUs", list("ext_key_usages")),
        ("CA", s(v, "is_ca")),
        ("assurance", s(v, "required_assurance")),
    ]);
}

pub fn profiles(f: Format, v: &Value) {
    if f == Format::Json {
        return json(v);
    }
    let ttl =
        |x: &Value| x.get("max_ttl_seconds").and_then(|t| t.as_i64()).map(signet_model::profile::format_duration_secs).unwrap_or_default();
    table(
        &["NAME", "VERSION", "TYPE", "MAX TTL", "DESCRIPTION"],
        items(v).iter().map(|x| vec![s(x, "name"), s(x, "version"), s(x, "credential_type"), ttl(x), s(x, "description")]).collect(),
    );
}

pub fn credential(f: Format, v: &Value) {
    if f == Format::Json {
        return json(v);
    }
    fields(&[
        ("id", s(v, "id")),
        ("serial", s(v, "serial")),
        ("type", s(v, "credential_type")),
        ("subject", s(v, "subject_id")),
        ("profile", s(v, "profile")),
        ("request", s(v, "request_id")),
        ("names", v.get("names").map(names).unwrap_or_default()),
        ("key", format!("{} sha256:{}", s(v, "key_algorithm"), s(v, "key_fingerprint"))),
        ("not before", s(v, "not_before")),
        ("not after", s(v, "not_after")),
        ("status", s(v, "status")),
    ]);
}

pub fn credentials(f: Format, v: &Value) {
    if f == Format::Json {
        return json(v);
    }
    page_table(&["ID", "SERIAL", "PROFILE", "NAMES", "NOT AFTER", "STATUS"], v, |x| {
        vec![s(x, "id"), s(x, "serial"), s(x, "profile"), x.get("names").map(names).unwrap_or_default(), s(x, "not_after"), s(x, "status")]
    });
}

pub fn request(f: Format, v: &Value) {
    if f == Format::Json {
        return json(v);
    }
    fields(&[
        ("id", s(v, "id")),
        ("state", s(v, "state")),
        ("subject", s(v, "subject_id")),
        ("profile", format!("{} v{}", s(v, "profile"), s(v, "profile_version"))),
        ("names", v.get("requested_names").map(names).unwrap_or_default()),
        ("scopes", list(v, "requested_scopes")),
        ("requested by", s(v, "requested_by")),
        ("break-glass", s(v, "break_glass")),
        ("expires", s(v, "expires_at")),
        ("reason", s(v, "reason")),
        ("credential", s(v, "credential_id")),
        ("created", s(v, "created_at")),
    ]);
}

pub fn requests(f: Format, v: &Value) {
    if f == Format::Json {
        return json(v);
    }
    page_table(&["ID", "STATE", "PROFILE", "SUBJECT", "REQUESTED BY", "CREATED", "REASON"], v, |x| {
        vec![s(x, "id"), s(x, "state"), s(x, "profile"), s(x, "subject_id"), s(x, "requested_by"), s(x, "created_at"), s(x, "reason")]
    });
}

pub fn issued(f: Format, v: &Value) {
    if f == Format::Json {
        return json(v);
    }
    if let Some(c) = v.get("credential") {
        credential(f, c);
    }
}

pub fn events(f: Format, v: &Value) {
    if f == Format::Json {
        return json(v);
    }
    table(
        &["INDEX", "TIME", "TYPE", "ACTOR", "SUBJECT", "CREDENTIAL", "REASON"],
        items(v)
            .iter()
            .map(|x| {
                vec![
                    s(x, "index"),
                    s(x, "time"),
                    s(x, "event_type"),
                    s(x, "actor"),
                    s(x, "subject_id"),
                    s(x, "credential_id"),
                    s(x, "reason"),
                ]
            })
            .collect(),
    );
}

// ------------------------------------------------------------ approvals

/// The verdicts recorded on a request (after the request's fields).
pub fn approvals(items: &Value) {
    let rows: Vec<Vec<String>> = items
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| vec![s(a, "verdict"), s(a, "approver"), s(a, "created_at"), s(a, "reason")])
        .collect();
    println!();
    if rows.is_empty() {
        println!("no approvals or denials recorded");
    } else {
        table(&["VERDICT", "BY", "AT", "REASON"], rows);
    }
}

/// `1 of 2 approvals`, from a `VerdictResponse`.
pub fn approval_count(v: &Value) -> String {
    format!("{} of {} approvals", s(v, "approvals"), s(v, "approvals_required"))
}

/// The answer to an approval that did not issue, or to a denial.
pub fn verdict(f: Format, v: &Value, what: &str) {
    if f == Format::Json {
        return json(v);
    }
    let request = v.get("request").unwrap_or(&Value::Null);
    let id = s(request, "id");
    if what == "denied" {
        println!("request `{id}` is {}: {}", s(request, "state"), s(request, "reason"));
        return;
    }
    let have = v.get("approvals").and_then(|x| x.as_u64()).unwrap_or(0);
    let need = v.get("approvals_required").and_then(|x| x.as_u64()).unwrap_or(0);
    println!("request `{id}` approved ({}): waiting for {} more", approval_count(v), need.saturating_sub(have));
}

/// A request now waiting for approvals (`PendingResponse`, the 202 answer).
pub fn pending(f: Format, v: &Value) {
    if f == Format::Json {
        return json(v);
    }
    let request = v.get("request").unwrap_or(&Value::Null);
    let id = s(request, "id");
    let kind = if request.get("break_glass").and_then(|b| b.as_bool()).unwrap_or(false) { "break-glass request" } else { "request" };
    println!("{kind} `{id}` is pending approval: it needs {} approval(s)", s(v, "approvals_required"));
    fields(&[("request", id.clone()), ("state", s(request, "state")), ("expires", s(request, "expires_at"))]);
    println!("approvers: `signet request approve {id} --reason …`; see it with `signet request show {id}`");
}

// ------------------------------------------------------------ policy

pub fn policy(f: Format, v: &Value) {
    if f == Format::Json {
        return json(v);
    }
    let mut rows = vec![("version", s(v, "version")), ("sha256", s(v, "sha256")), ("created by", s(v, "created_by"))];
    rows.push(("created", s(v, "created_at")));
    if v.get("comment").is_some() {
        rows.push(("comment", s(v, "comment")));
    }
    if let Some(p) = v.get("policies").and_then(|p| p.as_array()) {
        rows.push(("policies", p.len().to_string()));
    }
    fields(&rows);
    println!();
    print!("{}", v.get("text").and_then(|t| t.as_str()).unwrap_or_default());
}

pub fn policy_applied(f: Format, v: &Value) {
    if f == Format::Json {
        return json(v);
    }
    println!("policy version {} is active (sha256 {})", s(v, "version"), s(v, "sha256"));
    let diff = v.get("diff").unwrap_or(&Value::Null);
    fields(&[("added", list(diff, "added")), ("removed", list(diff, "removed")), ("changed", list(diff, "changed"))]);
    let lines: Vec<&str> =
        diff.get("lines").and_then(|l| l.as_array()).map(|a| a.iter().filter_map(|x| x.as_str()).collect()).unwrap_or_default();
    if !lines.is_empty() {
        println!();
        for l in lines {
            println!("{l}");
        }
    }
    if diff.get("truncated").and_then(|t| t.as_bool()).unwrap_or(false) {
        println!("(diff truncated)");
    }
}

pub fn policy_versions(f: Format, v: &Value) {
    if f == Format::Json {
        return json(v);
    }
    let rows: Vec<Vec<String>> = items(v)
        .iter()
        .map(|x| {
            let sha = s(x, "sha256");
            vec![s(x, "version"), s(x, "created_at"), s(x, "created_by"), sha.chars().take(16).collect(), s(x, "comment")]
        })
        .collect();
    if rows.is_empty() {
        println!("no policy version was applied: the built-in default set (version 0) is active");
        return;
    }
    table(&["VERSION", "CREATED", "BY", "SHA256", "COMMENT"], rows);
}

/// `policy explain`: the outcome, the policies that determined it with their reasons, the approvals needed.
pub fn explain(f: Format, v: &Value) {
    if f == Format::Json {
        return json(v);
    }
    let approvals = match v.get("approval_group").and_then(|g| g.as_str()) {
        Some(group) => format!("{} (group `{group}`)", s(v, "approvals_required")),
        None => s(v, "approvals_required"),
    };
    let mut rows = vec![
        ("outcome", s(v, "outcome")),
        ("summary", s(v, "summary")),
        ("policy version", s(v, "policy_version")),
        ("allowed by policy", s(v, "allowed_by_policy")),
        ("approvals required", approvals),
    ];
    if let Some(r) = v.get("refusal").filter(|r| !r.is_null()) {
        rows.push(("refusal", s(r, "detail")));
    }
    fields(&rows);
    let policies = v.get("determining_policies").and_then(|p| p.as_array()).cloned().unwrap_or_default();
    println!();
    if policies.is_empty() {
        println!("determining policies: none (default deny)");
    } else {
        println!("determining policies:");
        table(
            &["  EFFECT", "ID", "REASON"],
            policies.iter().map(|p| vec![format!("  {}", s(p, "effect")), s(p, "id"), s(p, "reason")]).collect(),
        );
    }
    for (label, key) in [("reasons", "reasons"), ("errors", "errors")] {
        let l = list(v, key);
        if l != "-" {
            println!("{label}: {l}");
        }
    }
}

// ------------------------------------------------------------ operators

pub fn operator(f: Format, v: &Value) {
    if f == Format::Json {
        return json(v);
    }
    let sites = if v.get("all_sites").and_then(|a| a.as_bool()).unwrap_or(false) { "all".to_string() } else { list(v, "sites") };
    fields(&[
        ("id", s(v, "id")),
        ("name", s(v, "name")),
        ("roles", list(v, "roles")),
        ("sites", sites),
        ("teams", list(v, "teams")),
        ("subject", s(v, "subject_id")),
        ("disabled", s(v, "disabled")),
        ("created", s(v, "created_at")),
        ("updated", s(v, "updated_at")),
    ]);
}

pub fn operators(f: Format, v: &Value) {
    if f == Format::Json {
        return json(v);
    }
    table(
        &["ID", "NAME", "ROLES", "SITES", "TEAMS", "DISABLED"],
        items(v)
            .iter()
            .map(|x| {
                let sites = if x.get("all_sites").and_then(|a| a.as_bool()).unwrap_or(false) { "all".into() } else { list(x, "sites") };
                vec![s(x, "id"), s(x, "name"), list(x, "roles"), sites, list(x, "teams"), s(x, "disabled")]
            })
            .collect(),
    );
}

/// A new token: its record, then its secret, which is shown this once.
pub fn token_created(token: &Value, secret: &str) {
    fields(&[
        ("id", s(token, "id")),
        ("operator", s(token, "operator_id")),
        ("name", s(token, "name")),
        ("expires", s(token, "expires_at")),
        ("secret", secret.to_string()),
    ]);
    eprintln!("the secret is shown this once: only its hash is kept; send it as `Authorization: Bearer …` or SIGNET_TOKEN");
}

pub fn tokens(f: Format, v: &Value) {
    if f == Format::Json {
        return json(v);
    }
    table(
        &["ID", "NAME", "CREATED", "EXPIRES", "REVOKED"],
        items(v).iter().map(|x| vec![s(x, "id"), s(x, "name"), s(x, "created_at"), s(x, "expires_at"), s(x, "revoked")]).collect(),
    );
}

/// The roles a grant adds (`after` less `before`).
fn granted_roles(v: &Value) -> String {
    let roles = |side: &str| -> Vec<String> {
        v.get(side)
            .and_then(|a| a.get("roles"))
            .and_then(|r| r.as_array())
            .map_or_else(Vec::new, |r| r.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
    };
    let before = roles("before");
    let added: Vec<String> = roles("after").into_iter().filter(|r| !before.contains(r)).collect();
    if added.is_empty() { "-".into() } else { added.join(", ") }
}

pub fn grants(f: Format, v: &Value) {
    if f == Format::Json {
        return json(v);
    }
    table(
        &["ID", "OPERATOR", "ADDS ROLES", "ENROLMENT", "REQUESTED BY", "STATE", "EXPIRES"],
        items(v)
            .iter()
            .map(|x| {
                let enrolment = if x.get("enrolment").is_some_and(|e| !e.is_null()) { "yes" } else { "no" };
                vec![
                    s(x, "id"),
                    s(x, "operator_id"),
                    granted_roles(x),
                    enrolment.into(),
                    s(x, "requested_by"),
                    s(x, "state"),
                    s(x, "expires_at"),
                ]
            })
            .collect(),
    );
}

pub fn grant(f: Format, v: &Value) {
    if f == Format::Json {
        return json(v);
    }
    fields(&[
        ("id", s(v, "id")),
        ("operator", s(v, "operator_id")),
        ("adds roles", granted_roles(v)),
        ("requested by", s(v, "requested_by")),
        ("state", s(v, "state")),
        ("decided by", s(v, "decided_by")),
    ]);
}

pub fn whoami(f: Format, v: &Value) {
    if f == Format::Json {
        return json(v);
    }
    let sites = if v.get("all_sites").and_then(|a| a.as_bool()).unwrap_or(false) { "all".to_string() } else { list(v, "sites") };
    fields(&[
        ("actor", s(v, "actor")),
        ("roles", list(v, "roles")),
        ("sites", sites),
        ("teams", list(v, "teams")),
        ("token", s(v, "token_id")),
    ]);
}
