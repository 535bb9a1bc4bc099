//! PEM (RFC 7468): encoding for responses, and a strict decoder for input.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Encode `der` as one PEM block: 64-column base64, LF line endings.
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 2 * label.len() + 40);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    for line in b64.as_bytes().chunks(64) {
        // INVARIANT: base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

/// A certificate chain as concatenated `CERTIFICATE` blocks, in the given order.
pub fn chain_pem(ders: &[Vec<u8>]) -> String {
    ders.iter().map(|d| pem_encode("CERTIFICATE", d)).collect()
}

/// Decode exactly one PEM block whose label is one of `labels`. Only
/// whitespace may surround the block; the body must be valid base64.
/// Returns `None` for anything else.
pub(crate) fn pem_decode_one(input: &str, labels: &[&str]) -> Option<Vec<u8>> {
    let text = input.trim();
    let after_begin = text.strip_prefix("-----BEGIN ")?;
    let (label, rest) = after_begin.split_once("-----")?;
    if !labels.contains(&label) {
        return None;
    }
    let end_marker = format!("-----END {label}-----");
    let body = rest.strip_suffix(end_marker.as_str())?;
    if body.contains('-') || body.contains(':') {
        // A second block, or RFC 1421 headers: not accepted.
        return None;
    }
    let b64: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let der = STANDARD.decode(b64.as_bytes()).ok()?;
    if der.is_empty() { None } else { Some(der) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_round_trip() {
        let der: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let pem = pem_encode("CERTIFICATE REQUEST", &der);
        assert!(pem.starts_with("-----BEGIN CERTIFICATE REQUEST-----\n"));
        assert!(pem.ends_with("-----END CERTIFICATE REQUEST-----\n"));
        assert!(pem.lines().all(|l| l.len() <= 64 || l.starts_with("-----")));
        assert_eq!(pem_decode_one(&pem, &["CERTIFICATE REQUEST"]).unwrap(), der);
        assert!(pem_decode_one(&pem, &["CERTIFICATE"]).is_none());
        let two = format!("{pem}{pem}");
        assert!(pem_decode_one(&two, &["CERTIFICATE REQUEST"]).is_none());
        let garbage = format!("{pem}x");
        assert!(pem_decode_one(&garbage, &["CERTIFICATE REQUEST"]).is_none());
        let mismatched = pem.replace("END CERTIFICATE REQUEST", "END CERTIFICATE");
        assert!(pem_decode_one(&mismatched, &["CERTIFICATE REQUEST"]).is_none());
    }

    #[test]
    fn chain_is_concatenated_in_order() {
        let chain = chain_pem(&[vec![1], vec![2]]);
        assert_eq!(chain.matches("-----BEGIN CERTIFICATE-----").count(), 2);
        assert!(chain.find("AQ==").unwrap() < chain.find("Ag==").unwrap());
    }
}
