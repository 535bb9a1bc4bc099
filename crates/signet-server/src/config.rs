//! Server configuration: defaults, overridden by a TOML file (`--config`),
//! overridden by environment variables and flags (`SIGNET_*`, `--…`).

use serde::Deserialize;
use signet_model::FieldError;
use signet_model::profile::KeyAlgorithm;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Every option, all optional: the shape of the TOML file and of the
/// environment/flag overrides alike.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Where the embedded store, keys, `admin-token` and `ca.pem` live. Default `./signet-data`.
    pub data_dir: Option<PathBuf>,
    /// `ADDR:PORT` to listen on. Default `127.0.0.1:8443`.
    pub listen: Option<String>,
    /// `postgres://…` to use PostgreSQL; default: SQLite at `DATA/signet.db`.
    pub database: Option<String>,
    /// Serve plain HTTP (loopback addresses only). Default false.
    pub insecure_http: Option<bool>,
    /// The URL clients reach this server at; used in certificates' AIA and
    /// CRL distribution point extensions. Default `https://LISTEN`.
    pub public_url: Option<String>,
    /// Algorithm for the CA keys created at first start: `ecdsa-p256`
    /// (default), `ecdsa-p384`, `ed25519` or `rsa-3072`.
    pub ca_key_algorithm: Option<String>,
    /// `text` (default) or `json` log lines.
    pub log_format: Option<String>,
    /// Most issuance writes committed in one transaction. Default 512.
    pub commit_batch: Option<usize>,
    /// Forward every log entry to NATS JetStream at this `nats://` URL.
    pub events: Option<String>,
    /// The NATS subject log entries are published on. Default `signet.log`.
    pub events_subject: Option<String>,
    /// The JetStream stream that captures them (created if missing). Default `SIGNET_LOG`.
    pub events_stream: Option<String>,
}

impl ConfigFile {
    pub fn load(path: &Path) -> Result<Self, FieldError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| FieldError::new("config", format!("cannot read `{}`: {e}", path.display())))?;
        toml::from_str(&text)
            .map_err(|e| FieldError::new("config", format!("`{}` is not a valid config file: {}", path.display(), e.message())))
    }

    /// `self` wins over `other` field by field.
    pub fn or(self, other: ConfigFile) -> ConfigFile {
        ConfigFile {
            data_dir: self.data_dir.or(other.data_dir),
            listen: self.listen.or(other.listen),
            database: self.database.or(other.database),
            insecure_http: self.insecure_http.or(other.insecure_http),
            public_url: self.public_url.or(other.public_url),
            ca_key_algorithm: self.ca_key_algorithm.or(other.ca_key_algorithm),
            log_format: self.log_format.or(other.log_format),
            commit_batch: self.commit_batch.or(other.commit_batch),
            events: self.events.or(other.events),
            events_subject: self.events_subject.or(other.events_subject),
            events_stream: self.events_stream.or(other.events_stream),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The resolved, checked configuration.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub database: Option<String>,
    pub insecure_http: bool,
    pub public_url: String,
    pub ca_key_algorithm: KeyAlgorithm,
    pub log_format: LogFormat,
    pub commit_batch: usize,
    /// NATS JetStream forwarding of the log: URL and subject.
    pub events: Option<EventsConfig>,
}

#[derive(Debug, Clone)]
pub struct EventsConfig {
    pub url: String,
    pub subject: String,
    pub stream: String,
}

impl ServerConfig {
    pub fn resolve(c: ConfigFile) -> Result<Self, FieldError> {
        let listen_text = c.listen.unwrap_or_else(|| "127.0.0.1:8443".into());
        let listen: SocketAddr = listen_text.parse().map_err(|_| {
            FieldError::new(
                "listen",
                format!("`{}` is not an `ADDR:PORT` such as `127.0.0.1:8443`", signet_model::names::shorten(&listen_text)),
            )
        })?;
        let insecure_http = c.insecure_http.unwrap_or(false);
        if insecure_http && !listen.ip().is_loopback() {
            return Err(FieldError::new(
                "insecure_http",
                format!("plain HTTP is refused on the non-loopback address `{listen}`; serve HTTPS or listen on 127.0.0.1"),
            ));
        }
        let scheme = if insecure_http { "http" } else { "https" };
        let public_url = match c.public_url {
            Some(u) => {
                let u = u.trim_end_matches('/').to_string();
                if !(u.starts_with("https://") || u.starts_with("http://")) || u.contains(char::is_whitespace) {
                    return Err(FieldError::new("public_url", format!("`{}` is not an http(s) URL", signet_model::names::shorten(&u))));
                }
                u
            }
            None if listen.ip().is_unspecified() => format!("{scheme}://localhost:{}", listen.port()),
            None => format!("{scheme}://{listen}"),
        };
        let ca_key_algorithm = match c.ca_key_algorithm.as_deref() {
            None => KeyAlgorithm::EcdsaP256,
            Some(s) => match KeyAlgorithm::parse("ca_key_algorithm", s)? {
                a @ (KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384 | KeyAlgorithm::Ed25519 | KeyAlgorithm::Rsa3072) => a,
                other => {
                    return Err(FieldError::new(
                        "ca_key_algorithm",
                        format!("`{other}` is not offered for CA keys; use ecdsa-p256, ecdsa-p384, ed25519 or rsa-3072"),
                    ));
                }
            },
        };
        let log_format = match c.log_format.as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(FieldError::new("log_format", format!("`{}` is not `text` or `json`", signet_model::names::shorten(other))));
            }
        };
        let commit_batch = c.commit_batch.unwrap_or(512);
        if commit_batch == 0 || commit_batch > 10_000 {
            return Err(FieldError::new("commit_batch", "must be between 1 and 10000"));
        }
        if let Some(db) = &c.database
            && !(db.starts_with("postgres://") || db.starts_with("postgresql://") || db.starts_with("sqlite://"))
        {
            return Err(FieldError::new("database", "must be a `postgres://…` or `sqlite://…` URL"));
        }
        let events = match c.events {
            None => {
                if c.events_subject.is_some() || c.events_stream.is_some() {
                    return Err(FieldError::new("events", "`events_subject`/`events_stream` are set but `events` (the NATS URL) is not"));
                }
                None
            }
            Some(url) => {
                signet_nats::NatsUrl::parse(&url).map_err(|e| FieldError::new("events", e.to_string()))?;
                let subject = c.events_subject.unwrap_or_else(|| "signet.log".into());
                signet_nats::Subject::parse(&subject).map_err(|e| FieldError::new("events_subject", e.to_string()))?;
                let stream = c.events_stream.unwrap_or_else(|| "SIGNET_LOG".into());
                signet_nats::StreamName::parse(&stream).map_err(|e| FieldError::new("events_stream", e.to_string()))?;
                Some(EventsConfig { url, subject, stream })
            }
        };
        Ok(Self {
            events,
            data_dir: c.data_dir.unwrap_or_else(|| PathBuf::from("signet-data")),
            listen,
            database: c.database,
            insecure_http,
            public_url,
            ca_key_algorithm,
            log_format,
            commit_batch,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_need_nothing() {
        let c = ServerConfig::resolve(ConfigFile::default()).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8443");
        assert_eq!(c.public_url, "https://127.0.0.1:8443");
        assert_eq!(c.data_dir, PathBuf::from("signet-data"));
        assert_eq!(c.ca_key_algorithm, KeyAlgorithm::EcdsaP256);
    }

    #[test]
    fn plain_http_only_on_loopback() {
        let c = ConfigFile { insecure_http: Some(true), listen: Some("0.0.0.0:8080".into()), ..Default::default() };
        assert_eq!(ServerConfig::resolve(c).unwrap_err().field, "insecure_http");
        let c = ConfigFile { insecure_http: Some(true), listen: Some("127.0.0.1:8080".into()), ..Default::default() };
        assert_eq!(ServerConfig::resolve(c).unwrap().public_url, "http://127.0.0.1:8080");
    }

    #[test]
    fn overrides_win_and_bad_values_are_named() {
        let file: ConfigFile = toml::from_str("listen = \"127.0.0.1:9000\"\nca_key_algorithm = \"ed25519\"").unwrap();
        let env = ConfigFile { listen: Some("127.0.0.1:9001".into()), ..Default::default() };
        let c = ServerConfig::resolve(env.or(file)).unwrap();
        assert_eq!(c.listen.port(), 9001);
        assert_eq!(c.ca_key_algorithm, KeyAlgorithm::Ed25519);
        let bad = ConfigFile { ca_key_algorithm: Some("rsa-2048".into()), ..Default::default() };
        assert_eq!(ServerConfig::resolve(bad).unwrap_err().field, "ca_key_algorithm");
        let bad = ConfigFile { listen: Some("nowhere".into()), ..Default::default() };
        assert_eq!(ServerConfig::resolve(bad).unwrap_err().field, "listen");
        assert!(toml::from_str::<ConfigFile>("lisen = \"x\"").is_err());
    }
}
