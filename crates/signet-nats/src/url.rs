//! `nats://[user:password@]host[:port]` parsed into a [`NatsUrl`].
//!
//! Only plain `nats://` is accepted: this client speaks no TLS, and says so rather
//! than connecting in clear text to a URL that asked for `tls://`.

use std::fmt;

use crate::error::NatsError;

/// The default NATS client port.
pub const DEFAULT_PORT: u16 = 4222;

/// A password: its `Debug` and `Display` print `[redacted]`; cleared (best effort) on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// The secret itself, for the CONNECT message only.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Drop for Password {
    fn drop(&mut self) {
        // Best effort without unsafe or an extra crate: overwrite in place and keep the
        // write observable so it is not optimised away.
        let mut bytes = std::mem::take(&mut self.0).into_bytes();
        bytes.iter_mut().for_each(|b| *b = 0);
        std::hint::black_box(&bytes);
    }
}

/// User name and password from the URL's userinfo.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub password: Password,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials").field("user", &self.user).field("password", &self.password).finish()
    }
}

/// A validated NATS server address. `Display` and `Debug` never show the password.
#[derive(Clone, PartialEq, Eq)]
pub struct NatsUrl {
    host: String,
    port: u16,
    credentials: Option<Credentials>,
}

impl NatsUrl {
    /// Parses `nats://[user:password@]host[:port][/]`. Userinfo may be percent-encoded.
    pub fn parse(input: &str) -> Result<Self, NatsError> {
        let invalid = |reason| NatsError::InvalidUrl { url: redact_raw(input), reason };
        let rest = strip_prefix_ignore_case(input, "nats://").ok_or_else(|| {
            if strip_prefix_ignore_case(input, "tls://").is_some() {
                invalid("tls is not supported by this client")
            } else {
                invalid("scheme must be `nats://`")
            }
        })?;
        if rest.contains(['?', '#']) {
            return Err(invalid("query and fragment are not allowed"));
        }
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('/') {
            return Err(invalid("a path is not allowed"));
        }
        let (userinfo, hostport) = match rest.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, rest),
        };
        let credentials = match userinfo {
            None => None,
            Some(info) => {
                let (user, pass) = info.split_once(':').ok_or_else(|| invalid("userinfo must be `user:password`"))?;
                let user = percent_decode(user).ok_or_else(|| invalid("bad percent-encoding in user"))?;
                let password = percent_decode(pass).ok_or_else(|| invalid("bad percent-encoding in password"))?;
                if user.is_empty() {
                    return Err(invalid("user is empty"));
                }
                Some(Credentials { user, password: Password(password) })
            }
        };
        let (host, port) = split_host_port(hostport).map_err(invalid)?;
        Ok(Self { host, port, credentials })
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn credentials(&self) -> Option<&Credentials> {
        self.credentials.as_ref()
    }

    /// `host:port` for `TcpStream::connect` (IPv6 hosts keep their brackets).
    pub(crate) fn socket_addr(&self) -> String {
        if self.host.contains(':') { format!("[{}]:{}", self.host, self.port) } else { format!("{}:{}", self.host, self.port) }
    }
}

impl fmt::Display for NatsUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("nats://")?;
        if let Some(c) = &self.credentials {
            write!(f, "{}:[redacted]@", c.user)?;
        }
        f.write_str(&self.socket_addr())
    }
}

impl fmt::Debug for NatsUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NatsUrl({self})")
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &s[prefix.len()..])
}

fn split_host_port(hostport: &str) -> Result<(String, u16), &'static str> {
    let (host, port) = if let Some(after) = hostport.strip_prefix('[') {
        let (host, tail) = after.split_once(']').ok_or("unclosed `[` in ipv6 host")?;
        if host.is_empty() || !host.chars().all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.') {
            return Err("invalid ipv6 host");
        }
        let port = match tail {
            "" => None,
            t => Some(t.strip_prefix(':').ok_or("unexpected text after `]`")?),
        };
        (host, port)
    } else {
        let (host, port) = match hostport.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        };
        if host.is_empty() {
            return Err("host is empty");
        }
        if !host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')) {
            return Err("host contains characters other than letters, digits, `.`, `-`, `_`");
        }
        (host, port)
    };
    let port = match port {
        None => DEFAULT_PORT,
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => match p.parse::<u16>() {
            Ok(0) | Err(_) => return Err("port must be 1..=65535"),
            Ok(n) => n,
        },
        Some(_) => return Err("port must be a number"),
    };
    Ok((host.to_owned(), port))
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Redacts the password of a URL that failed to parse, for error messages.
fn redact_raw(input: &str) -> String {
    let (scheme, rest) = match input.find("://") {
        Some(i) => (&input[..i + 3], &input[i + 3..]),
        None => ("", input),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let userinfo = &rest[..at];
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            format!("{scheme}{user}:[redacted]{}", &rest[at..])
        }
        None => input.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_defaults_port() {
        let u = NatsUrl::parse("nats://127.0.0.1").unwrap();
        assert_eq!((u.host(), u.port()), ("127.0.0.1", 4222));
        assert!(u.credentials().is_none());
        let u = NatsUrl::parse("NATS://nats.example.org:4333/").unwrap();
        assert_eq!(u.socket_addr(), "nats.example.org:4333");
        let u = NatsUrl::parse("nats://[::1]:5000").unwrap();
        assert_eq!(u.socket_addr(), "[::1]:5000");
    }

    #[test]
    fn parses_credentials_and_redacts_them() {
        let u = NatsUrl::parse("nats://signet:s%40cr%3At@localhost:4222").unwrap();
        let c = u.credentials().unwrap();
        assert_eq!(c.user, "signet");
        assert_eq!(c.password.expose(), "s@cr:t");
        for shown in [format!("{u}"), format!("{u:?}"), format!("{c:?}")] {
            assert!(!shown.contains("s@cr"), "{shown}");
            assert!(shown.contains("[redacted]"), "{shown}");
        }
        assert_eq!(u.to_string(), "nats://signet:[redacted]@localhost:4222");
    }

    #[test]
    fn rejects_bad_urls_with_reason_and_without_password() {
        let cases = [
            ("http://h:1", "scheme"),
            ("tls://h:1", "tls"),
            ("nats://", "host is empty"),
            ("nats://h:0", "port"),
            ("nats://h:99999", "port"),
            ("nats://h:x", "port must be a number"),
            ("nats://h/path", "path"),
            ("nats://h?x=1", "query"),
            ("nats://ho st", "host contains"),
            ("nats://useronly@h", "user:password"),
            ("nats://u:p%zz@h", "percent"),
            ("nats://[::1", "unclosed"),
        ];
        for (input, want) in cases {
            let err = NatsUrl::parse(input).unwrap_err().to_string();
            assert!(err.contains(want), "{input}: {err}");
        }
        let err = NatsUrl::parse("nats://u:topsecret@h:bad").unwrap_err().to_string();
        assert!(!err.contains("topsecret"), "{err}");
        assert!(err.contains("u:[redacted]@h:bad"), "{err}");
    }
}
