//! Real-time metrics in the Prometheus text exposition format (version 0.0.4),
//! served at `/metrics`. A small registry of our own: a handful of counters
//! and one histogram do not justify another dependency tree.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `signet_issuance_total` | counter | `profile`, `type`, `outcome` (`issued`, `denied`, `invalid`, `error`) |
//! | `signet_denials_total` | counter | `reason` (the refused field, indices removed: `names.dns`) |
//! | `signet_http_request_duration_seconds` | histogram | `method`, `route`, `status` |
//! | `signet_pending_approvals` | gauge | |
//! | `signet_log_size` | gauge | entries in the signed log tree |
//! | `signet_log_checkpoint_age_seconds` | gauge | age of the newest checkpoint |
//! | `signet_log_integrity_ok` | gauge | 1 while the log verifies, 0 once it failed |
//! | `signet_log_integrity_failures_total` | counter | verification failures found |

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// Histogram bucket upper bounds, seconds.
const BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Debug, Default)]
struct Inner {
    issuance: BTreeMap<(String, String, String), u64>,
    denials: BTreeMap<String, u64>,
    latency: BTreeMap<(String, String, String), Histogram>,
}

/// The registry. Cheap to update from any task; rendered on scrape.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

/// Values read from elsewhere at scrape time.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gauges {
    pub pending_approvals: u64,
    pub log_size: u64,
    /// `None` before the first checkpoint.
    pub checkpoint_age_seconds: Option<i64>,
    /// The log verified so far (`signet_core::integrity`).
    pub log_integrity_ok: bool,
    /// Times a verification failure of the log was found.
    pub log_integrity_failures: u64,
}

impl Metrics {
    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        match self.inner.lock() {
            Ok(mut g) => f(&mut g),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    /// One issuance request ended with `outcome`.
    pub fn issuance(&self, profile: &str, credential_type: &str, outcome: &str) {
        self.with(|m| *m.issuance.entry((profile.into(), credential_type.into(), outcome.into())).or_default() += 1);
    }

    /// A policy refusal of `field` (`names.dns[2]` is counted as `names.dns`).
    pub fn denial(&self, field: &str) {
        let reason: String = strip_indices(field);
        self.with(|m| *m.denials.entry(reason).or_default() += 1);
    }

    /// One HTTP request took `seconds`. `route` is the matched route template,
    /// never the raw path (bounded label values).
    pub fn request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.with(|m| {
            let h = m.latency.entry((method.into(), route.into(), status.to_string())).or_default();
            for (i, le) in BUCKETS.iter().enumerate() {
                if seconds <= *le {
                    h.counts[i] += 1;
                }
            }
            h.count += 1;
            h.sum += seconds;
        });
    }

    /// The exposition text.
    pub fn render(&self, g: Gauges) -> String {
        let mut out = String::with_capacity(4096);
        self.with(|m| {
            out.push_str("# HELP signet_issuance_total Issuance requests by profile, credential type and outcome.\n");
            out.push_str("# TYPE signet_issuance_total counter\n");
            for ((profile, ty, outcome), n) in &m.issuance {
                let _ = writeln!(
                    out,
                    "signet_issuance_total{{profile=\"{}\",type=\"{}\",outcome=\"{}\"}} {n}",
                    esc(profile),
                    esc(ty),
                    esc(outcome)
                );
            }
            out.push_str("# HELP signet_denials_total Policy refusals by the refused field.\n");
            out.push_str("# TYPE signet_denials_total counter\n");
            for (reason, n) in &m.denials {
                let _ = writeln!(out, "signet_denials_total{{reason=\"{}\"}} {n}", esc(reason));
            }
            out.push_str("# HELP signet_http_request_duration_seconds HTTP request latency.\n");
            out.push_str("# TYPE signet_http_request_duration_seconds histogram\n");
            for ((method, route, status), h) in &m.latency {
                let labels = format!("method=\"{}\",route=\"{}\",status=\"{}\"", esc(method), esc(route), esc(status));
                for (i, le) in BUCKETS.iter().enumerate() {
                    let _ = writeln!(out, "signet_http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {}", h.counts[i]);
                }
                let _ = writeln!(out, "signet_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}", h.count);
                let _ = writeln!(out, "signet_http_request_duration_seconds_sum{{{labels}}} {}", h.sum);
                let _ = writeln!(out, "signet_http_request_duration_seconds_count{{{labels}}} {}", h.count);
            }
        });
        out.push_str("# HELP signet_pending_approvals Requests waiting for approvals.\n# TYPE signet_pending_approvals gauge\n");
        let _ = writeln!(out, "signet_pending_approvals {}", g.pending_approvals);
        out.push_str("# HELP signet_log_size Entries covered by the signed log tree.\n# TYPE signet_log_size gauge\n");
        let _ = writeln!(out, "signet_log_size {}", g.log_size);
        out.push_str("# HELP signet_log_integrity_ok 1 while the log verifies, 0 once it failed (nothing is issued then).\n# TYPE signet_log_integrity_ok gauge\n");
        let _ = writeln!(out, "signet_log_integrity_ok {}", u8::from(g.log_integrity_ok));
        out.push_str("# HELP signet_log_integrity_failures_total Verification failures of the log found (reads, sequencer, audit).\n# TYPE signet_log_integrity_failures_total counter\n");
        let _ = writeln!(out, "signet_log_integrity_failures_total {}", g.log_integrity_failures);
        if let Some(age) = g.checkpoint_age_seconds {
            out.push_str("# HELP signet_log_checkpoint_age_seconds Age of the newest signed checkpoint.\n# TYPE signet_log_checkpoint_age_seconds gauge\n");
            let _ = writeln!(out, "signet_log_checkpoint_age_seconds {age}");
        }
        out
    }
}

fn strip_indices(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut depth = 0;
    for c in field.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// Escape a label value: backslash, double quote and newline.
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histograms_and_gauges() {
        let m = Metrics::default();
        m.issuance("tls-server", "x509", "issued");
        m.issuance("tls-server", "x509", "issued");
        m.denial("names.dns[3]");
        m.request("POST", "/v1/requests", 201, 0.003);
        let text = m.render(Gauges { pending_approvals: 0, log_size: 7, checkpoint_age_seconds: Some(1), ..Default::default() });
        assert!(text.contains("signet_issuance_total{profile=\"tls-server\",type=\"x509\",outcome=\"issued\"} 2"));
        assert!(text.contains("signet_denials_total{reason=\"names.dns\"} 1"));
        assert!(text.contains("le=\"0.0025\"} 0"));
        assert!(text.contains("le=\"0.005\"} 1"));
        assert!(text.contains("le=\"+Inf\"} 1"));
        assert!(text.contains("signet_log_size 7"));
        assert_eq!(esc("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
