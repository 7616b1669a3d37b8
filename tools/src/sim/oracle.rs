//! The oracle: a JSONL log of every frame published and every order request received (time,
//! venue, endpoint, client order id, the book sequence at receipt), plus counters readable at the
//! end, so tests check the engine from the exchange's side.

use std::{
    collections::BTreeMap,
    fs::File,
    io::{BufWriter, Write},
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex,
    },
};

use anyhow::{Context, Result};
use serde_json::{json, Value};

/// Counts of what the simulator received and sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OracleCounts {
    /// New-order requests (Binance `POST /api/v3/order` and WS `order.place`, OKX
    /// `/api/v5/trade/order`, Kraken `AddOrder`).
    pub orders: u64,
    /// Test orders (Binance `POST /api/v3/order/test`, Kraken `AddOrder` with `validate=true`).
    pub test_orders: u64,
    /// Cancels (Binance `DELETE /api/v3/order`, OKX `cancel-order`, Kraken `CancelOrder`).
    pub cancels: u64,
    /// Other REST requests.
    pub other_requests: u64,
    /// Market-data frames published (per venue fan-out counted once).
    pub frames: u64,
    /// Faults injected.
    pub faults: u64,
}

/// The oracle log (cheap to share behind an `Arc`).
#[derive(Debug)]
pub struct Oracle {
    path: PathBuf,
    out: Mutex<BufWriter<File>>,
    log_frames: bool,
    orders: AtomicU64,
    test_orders: AtomicU64,
    cancels: AtomicU64,
    other: AtomicU64,
    frames: AtomicU64,
    faults: AtomicU64,
    /// Order requests per venue (orders, test orders, cancels).
    by_venue: Mutex<BTreeMap<String, [u64; 3]>>,
}

impl Oracle {
    /// Creates (truncates) the log at `path`; `log_frames` also logs every published frame.
    ///
    /// # Errors
    /// The file cannot be created.
    pub fn create(path: &Path, log_frames: bool) -> Result<Self> {
        let f = File::create(path).with_context(|| format!("create oracle {}", path.display()))?;
        Ok(Self {
            path: path.to_path_buf(),
            out: Mutex::new(BufWriter::new(f)),
            log_frames,
            orders: AtomicU64::new(0),
            test_orders: AtomicU64::new(0),
            cancels: AtomicU64::new(0),
            other: AtomicU64::new(0),
            frames: AtomicU64::new(0),
            faults: AtomicU64::new(0),
            by_venue: Mutex::new(BTreeMap::new()),
        })
    }

    /// The log file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write(&self, v: &Value) {
        if let Ok(mut w) = self.out.lock() {
            let _ = serde_json::to_writer(&mut *w, v);
            let _ = w.write_all(b"\n");
        }
    }

    /// Records a published frame.
    pub fn frame(&self, t_ns: u64, venue: &str, stream: &str, seq: u64, data: &str) {
        self.frames.fetch_add(1, Ordering::Relaxed);
        if self.log_frames {
            self.write(&json!({"t_ns": t_ns, "venue": venue, "kind": "frame", "stream": stream, "seq": seq, "data": data}));
        }
    }

    /// Records a request (order entry and account calls). `book_seq` is the instrument's update
    /// id when the request arrived.
    #[allow(clippy::too_many_arguments)]
    pub fn request(
        &self,
        t_ns: u64,
        venue: &str,
        method: &str,
        endpoint: &str,
        client_order_id: Option<&str>,
        symbol: Option<&str>,
        book_seq: Option<u64>,
        status: u16,
        code: Option<i64>,
    ) {
        // Every dialect's order entry: Binance REST and WebSocket API, OKX v5, Kraken (whose
        // `validate=true` AddOrder, checked but never placed, is its test order).
        // Slot 0 new orders, 1 test orders, 2 cancels.
        let slot = match (method, endpoint) {
            ("POST", "/api/v3/order")
            | ("WS", "order.place")
            | ("POST", "/api/v5/trade/order")
            | ("POST", "POST /0/private/AddOrder") => Some(0),
            ("POST", "/api/v3/order/test") | ("POST", "POST /0/private/AddOrder validate") => {
                Some(1)
            }
            ("DELETE", "/api/v3/order")
            | ("POST", "/api/v5/trade/cancel-order")
            | ("POST", "POST /0/private/CancelOrder") => Some(2),
            _ => None,
        };
        let counter = match slot {
            Some(0) => &self.orders,
            Some(1) => &self.test_orders,
            Some(_) => &self.cancels,
            None => &self.other,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if let (Some(k), Ok(mut m)) = (slot, self.by_venue.lock()) {
            m.entry(venue.to_owned()).or_default()[k] += 1;
        }
        self.write(
            &json!({"t_ns": t_ns, "venue": venue, "kind": "request", "method": method,
            "endpoint": endpoint, "client_order_id": client_order_id, "symbol": symbol,
            "book_seq": book_seq, "status": status, "code": code}),
        );
    }

    /// Records an injected fault.
    pub fn fault(&self, t_ns: u64, venue: &str, fault: &str, detail: &str) {
        self.faults.fetch_add(1, Ordering::Relaxed);
        self.write(&json!({"t_ns": t_ns, "venue": venue, "kind": "fault", "fault": fault, "detail": detail}));
    }

    /// Flushes the file.
    pub fn flush(&self) {
        if let Ok(mut w) = self.out.lock() {
            let _ = w.flush();
        }
    }

    /// Order requests per venue so far: venue -> `[orders, test orders, cancels]` (venues that
    /// received none are absent).
    pub fn orders_by_venue(&self) -> BTreeMap<String, [u64; 3]> {
        self.by_venue.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// The counters so far.
    pub fn counts(&self) -> OracleCounts {
        OracleCounts {
            orders: self.orders.load(Ordering::Relaxed),
            test_orders: self.test_orders.load(Ordering::Relaxed),
            cancels: self.cancels.load(Ordering::Relaxed),
            other_requests: self.other.load(Ordering::Relaxed),
            frames: self.frames.load(Ordering::Relaxed),
            faults: self.faults.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dialects_order_entry_is_counted_per_venue() {
        let dir = std::env::temp_dir().join(format!("lyra-oracle-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let o = Oracle::create(&dir.join("oracle.jsonl"), false).unwrap();
        let req = |venue: &str, method: &str, endpoint: &str| {
            o.request(0, venue, method, endpoint, None, None, None, 200, None);
        };
        req("a", "POST", "/api/v3/order");
        req("a", "POST", "/api/v3/order/test");
        req("a", "DELETE", "/api/v3/order");
        req("b", "POST", "/api/v5/trade/order");
        req("b", "POST", "/api/v5/trade/cancel-order");
        req("c", "POST", "POST /0/private/AddOrder");
        req("c", "POST", "POST /0/private/AddOrder validate");
        req("c", "POST", "POST /0/private/CancelOrder");
        req("c", "POST", "POST /0/private/other");
        let c = o.counts();
        assert_eq!(
            (c.orders, c.test_orders, c.cancels, c.other_requests),
            (3, 2, 3, 1)
        );
        let by = o.orders_by_venue();
        assert_eq!(by["a"], [1, 1, 1]);
        assert_eq!(by["b"], [1, 0, 1]);
        assert_eq!(by["c"], [1, 1, 1]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
