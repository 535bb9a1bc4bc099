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

fn items(v: &Value) -> Vec<Value> {
    v.get("items").and_then(|i| i.as_array()).cloned().unwrap_or_default()
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
    table(
        &["ID", "NAME", "KIND", "OWNER", "STATUS"],
        items(v).iter().map(|x| vec![s(x, "id"), s(x, "name"), s(x, "kind"), s(x, "owner"), s(x, "status")]).collect(),
    );
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
    table(
        &["ID", "SERIAL", "PROFILE", "NAMES", "NOT AFTER", "STATUS"],
        items(v)
            .iter()
            .map(|x| {
                vec![
                    s(x, "id"),
                    s(x, "serial"),
                    s(x, "profile"),
                    x.get("names").map(names).unwrap_or_default(),
                    s(x, "not_after"),
                    s(x, "status"),
                ]
            })
            .collect(),
    );
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
        ("requested by", s(v, "requested_by")),
        ("reason", s(v, "reason")),
        ("credential", s(v, "credential_id")),
        ("created", s(v, "created_at")),
    ]);
}

pub fn requests(f: Format, v: &Value) {
    if f == Format::Json {
        return json(v);
    }
    table(
        &["ID", "STATE", "PROFILE", "SUBJECT", "REASON"],
        items(v).iter().map(|x| vec![s(x, "id"), s(x, "state"), s(x, "profile"), s(x, "subject_id"), s(x, "reason")]).collect(),
    );
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
