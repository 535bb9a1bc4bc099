//! The HTTP client behind the CLI commands: TLS trust, the token, and
//! problem+json turned into one-line errors.

use crate::Global;
use serde_json::Value;
use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub enum ClientError {
    /// Bad flags, unreadable files, unreachable server: a one-line message.
    Usage(String),
    /// The server answered with a problem.
    Problem { status: u16, field: Option<String>, detail: String, request_id: Option<String> },
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Usage(m) => f.write_str(m),
            ClientError::Problem { status, field, detail, request_id } => {
                // `detail` already starts with the field for field errors.
                let _ = field;
                write!(f, "{detail} (HTTP {status}")?;
                if let Some(r) = request_id {
                    write!(f, ", request {r}")?;
                }
                f.write_str(")")
            }
        }
    }
}

pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    /// Without `--ca-file`, trusts the CA chain and the unseal TLS CA (the
    /// certificate a sealed server presents) found in `./signet-data`. Who
    /// holds the unseal TLS CA key can read that directory, admin token
    /// included, so trusting it adds no exposure.
    pub fn new(g: &Global) -> Result<Self, ClientError> {
        let ca_files: Vec<PathBuf> = match &g.ca_file {
            Some(f) => vec![f.clone()],
            None => ["signet-data/ca.pem", "signet-data/unseal-ca.pem"].iter().map(PathBuf::from).filter(|p| p.exists()).collect(),
        };
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("signet-cli/", env!("CARGO_PKG_VERSION")))
            .timeout(std::time::Duration::from_secs(60));
        for path in ca_files {
            let pem = std::fs::read(&path).map_err(|e| ClientError::Usage(format!("--ca-file: cannot read `{}`: {e}", path.display())))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| ClientError::Usage(format!("--ca-file: `{}` is not PEM certificates: {e}", path.display())))?;
            if certs.is_empty() {
                return Err(ClientError::Usage(format!("--ca-file: `{}` holds no certificate", path.display())));
            }
            for c in certs {
                builder = builder.add_root_certificate(c);
            }
        }
        let http = builder.build().map_err(|e| ClientError::Usage(format!("cannot build the HTTP client: {e}")))?;
        let base = g.server.trim_end_matches('/').to_string();
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(ClientError::Usage(format!("--server: `{base}` is not an http(s) URL")));
        }
        let token = g.token.as_ref().map(|t| t.trim().to_string());
        Ok(Self { http, base, token })
    }

    fn req(&self, method: reqwest::Method, path: &str) -> Result<reqwest::RequestBuilder, ClientError> {
        let token = self.token.as_ref().ok_or_else(|| {
            ClientError::Usage("no token: pass --token or set SIGNET_TOKEN (the bootstrap token is in signet-data/admin-token)".into())
        })?;
        Ok(self.http.request(method, format!("{}{path}", self.base)).bearer_auth(token))
    }

    /// A request that needs no token (`/v1/sys/seal-status`, `/v1/sys/unseal`).
    pub async fn get_public(&self, path: &str) -> Result<Value, ClientError> {
        self.send(self.http.get(format!("{}{path}", self.base))).await
    }

    pub async fn post_public(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        self.send(self.http.post(format!("{}{path}", self.base)).json(body)).await
    }

    pub async fn get(&self, path: &str) -> Result<Value, ClientError> {
        self.send(self.req(reqwest::Method::GET, path)?).await
    }

    /// A text answer (`/log/checkpoint`).
    pub async fn get_text(&self, path: &str) -> Result<String, ClientError> {
        let resp = self
            .req(reqwest::Method::GET, path)?
            .send()
            .await
            .map_err(|e| ClientError::Usage(format!("cannot reach {}: {}", self.base, error_chain(&e))))?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| ClientError::Usage(format!("reading the answer from {}: {e}", self.base)))?;
        if status.is_success() {
            return Ok(text);
        }
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        Err(ClientError::Problem {
            status: status.as_u16(),
            field: None,
            detail: v.get("detail").and_then(|d| d.as_str()).map(str::to_string).unwrap_or_else(|| format!("the server answered {status}")),
            request_id: v.get("request_id").and_then(|d| d.as_str()).map(str::to_string),
        })
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        self.send(self.req(reqwest::Method::POST, path)?.json(body)).await
    }

    /// A POST whose success status matters (`201` issued, `202` pending approval).
    pub async fn post_with_status(&self, path: &str, body: &Value) -> Result<(u16, Value), ClientError> {
        self.send_with_status(self.req(reqwest::Method::POST, path)?.json(body)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        self.send(self.req(reqwest::Method::PUT, path)?.json(body)).await
    }

    /// A DELETE; the answer (usually `204`, no body) is `null`.
    pub async fn delete(&self, path: &str) -> Result<Value, ClientError> {
        self.send(self.req(reqwest::Method::DELETE, path)?).await
    }

    async fn send(&self, rb: reqwest::RequestBuilder) -> Result<Value, ClientError> {
        self.send_with_status(rb).await.map(|(_, v)| v)
    }

    async fn send_with_status(&self, rb: reqwest::RequestBuilder) -> Result<(u16, Value), ClientError> {
        let resp = rb.send().await.map_err(|e| ClientError::Usage(format!("cannot reach {}: {}", self.base, error_chain(&e))))?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| ClientError::Usage(format!("reading the answer from {}: {e}", self.base)))?;
        let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok((status.as_u16(), v));
        }
        let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
        Err(ClientError::Problem {
            status: status.as_u16(),
            field: s("field"),
            detail: s("detail").unwrap_or_else(|| format!("the server answered {status}")),
            request_id: s("request_id"),
        })
    }
}

/// The innermost cause is usually the useful one (a certificate error, a refused connection).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        msg = format!("{msg}: {s}");
        cur = s.source();
    }
    msg
}

/// Build `?k=v&…` from the present values, percent-encoded.
pub fn query(pairs: &[(&str, Option<String>)]) -> String {
    let parts: Vec<String> = pairs.iter().filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", path_segment(v)))).collect();
    if parts.is_empty() { String::new() } else { format!("?{}", parts.join("&")) }
}

/// Percent-encode everything but unreserved characters.
pub fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Read a file, or standard input for `-`.
pub fn read_input(path: &Path) -> Result<String, ClientError> {
    if path == Path::new("-") {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .map_err(|e| ClientError::Usage(format!("cannot read standard input: {e}")))?;
        return Ok(s);
    }
    let bytes = std::fs::read(path).map_err(|e| ClientError::Usage(format!("cannot read `{}`: {e}", path.display())))?;
    match String::from_utf8(bytes) {
        Ok(s) => Ok(s),
        // A DER CSR: send it as PEM.
        Err(e) => Ok(signet_x509::pem::pem_encode("CERTIFICATE REQUEST", e.as_bytes())),
    }
}

/// A profile file: TOML (or JSON when it ends in `.json`), as JSON for the API.
pub fn read_profile_file(path: &Path) -> Result<Value, ClientError> {
    let text = read_input(path)?;
    if path.extension().is_some_and(|e| e == "json") {
        return serde_json::from_str(&text).map_err(|e| ClientError::Usage(format!("{}: not valid JSON: {e}", path.display())));
    }
    let v: toml::Value =
        toml::from_str(&text).map_err(|e| ClientError::Usage(format!("{}: not valid TOML: {}", path.display(), e.message())))?;
    serde_json::to_value(v).map_err(|e| ClientError::Usage(format!("{}: {e}", path.display())))
}
