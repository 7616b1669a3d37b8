//! One result line per implementation: `{"suite","impl","n","p50_ns","p99_ns","p999_ns","max_ns","per_s"}`.

use hdrhistogram::Histogram;
use serde::Serialize;

/// The measured figures of one implementation in one suite.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Suite name.
    pub suite: String,
    /// Implementation name (`lyra`, a baseline's crate name, or a floor such as `atomic-pingpong`).
    #[serde(rename = "impl")]
    pub impl_: String,
    /// Samples (latency) or items (throughput) measured.
    pub n: u64,
    /// Median latency, ns.
    pub p50_ns: u64,
    /// 99th percentile, ns.
    pub p99_ns: u64,
    /// 99.9th percentile, ns.
    pub p999_ns: u64,
    /// Worst sample, ns.
    pub max_ns: u64,
    /// Throughput: items per second (0 where the suite measures latency only).
    pub per_s: f64,
}

impl Report {
    /// A report from a latency histogram and a throughput figure.
    pub fn from_hist(suite: &str, impl_: &str, hist: &Histogram<u64>, per_s: f64) -> Self {
        Self {
            suite: suite.to_owned(),
            impl_: impl_.to_owned(),
            n: hist.len(),
            p50_ns: hist.value_at_quantile(0.50),
            p99_ns: hist.value_at_quantile(0.99),
            p999_ns: hist.value_at_quantile(0.999),
            max_ns: hist.max(),
            per_s,
        }
    }

    /// A throughput-only report (percentiles zero).
    pub fn throughput(suite: &str, impl_: &str, n: u64, per_s: f64) -> Self {
        Self {
            suite: suite.to_owned(),
            impl_: impl_.to_owned(),
            n,
            p50_ns: 0,
            p99_ns: 0,
            p999_ns: 0,
            max_ns: 0,
            per_s,
        }
    }

    /// The JSON line.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A human-readable line.
    pub fn to_text(&self) -> String {
        format!(
            "{:<14} {:<18} n={:<10} p50={:>8}ns p99={:>8}ns p99.9={:>8}ns max={:>10}ns {:>14.0}/s",
            self.suite,
            self.impl_,
            self.n,
            self.p50_ns,
            self.p99_ns,
            self.p999_ns,
            self.max_ns,
            self.per_s
        )
    }
}

/// A histogram for latencies from 1 ns to 60 s with 3 significant figures.
pub fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("static histogram bounds are valid")
}
