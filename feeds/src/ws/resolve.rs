//! Host-name resolution kept off the feed thread: `getaddrinfo` blocks (for seconds when DNS is
//! slow), and a feed thread may serve several venues, so lookups run on a short-lived helper thread
//! and the client polls for the answer. IP literals never leave the feed thread.

use std::{
    net::{IpAddr, SocketAddr, ToSocketAddrs},
    thread,
};

use crossbeam::channel::{self, Receiver, TryRecvError};
use lyra_shm::clock::Nanos;

/// The answer to [`Resolver::lookup`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// Connect to this address.
    Ready(SocketAddr),
    /// A lookup is running; ask again shortly.
    Pending,
    /// The name did not resolve (or the helper could not start).
    Failed,
}

/// Cached addresses of one host, refreshed in the background after a time-to-live.
#[derive(Debug)]
pub struct Resolver {
    host: String,
    port: u16,
    fixed: Option<SocketAddr>,
    addrs: Vec<SocketAddr>,
    resolved_ns: Nanos,
    ttl_ns: Nanos,
    pending: Option<Receiver<Vec<SocketAddr>>>,
}

impl Resolver {
    /// A resolver for `host:port` whose answers are reused for `ttl_ms`.
    pub fn new(host: &str, port: u16, ttl_ms: u64) -> Self {
        let fixed = host
            .parse::<IpAddr>()
            .ok()
            .map(|ip| SocketAddr::new(ip, port));
        Self {
            host: host.to_string(),
            port,
            fixed,
            addrs: Vec::new(),
            resolved_ns: 0,
            ttl_ns: ttl_ms.saturating_mul(1_000_000),
            pending: None,
        }
    }

    /// The address for connection attempt `seq` (attempts rotate through the addresses, so one
    /// dead address of a multi-homed venue cannot pin every retry). Starts a background lookup
    /// when nothing is cached (answer `Pending`) or the cache expired (the old addresses are used
    /// meanwhile).
    pub fn lookup(&mut self, now_ns: Nanos, seq: usize) -> Lookup {
        if let Some(addr) = self.fixed {
            return Lookup::Ready(addr);
        }
        if let Some(rx) = &self.pending {
            match rx.try_recv() {
                Ok(addrs) => {
                    self.pending = None;
                    if !addrs.is_empty() {
                        self.addrs = addrs;
                        self.resolved_ns = now_ns;
                    } else if self.addrs.is_empty() {
                        return Lookup::Failed;
                    }
                }
                Err(TryRecvError::Empty) if self.addrs.is_empty() => return Lookup::Pending,
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::Disconnected) => {
                    self.pending = None;
                    if self.addrs.is_empty() {
                        return Lookup::Failed;
                    }
                }
            }
        } else if self.addrs.is_empty() || now_ns.saturating_sub(self.resolved_ns) >= self.ttl_ns {
            if !self.spawn() {
                return if self.addrs.is_empty() {
                    Lookup::Failed
                } else {
                    self.pick(seq)
                };
            }
            if self.addrs.is_empty() {
                return Lookup::Pending;
            }
        }
        self.pick(seq)
    }

    fn pick(&self, seq: usize) -> Lookup {
        Lookup::Ready(self.addrs[seq % self.addrs.len()])
    }

    /// Starts the helper thread; `false` if it could not be spawned.
    fn spawn(&mut self) -> bool {
        let (tx, rx) = channel::bounded(1);
        let (host, port) = (self.host.clone(), self.port);
        let started = thread::Builder::new()
            .name("ws-resolve".into())
            .spawn(move || {
                let addrs: Vec<SocketAddr> = (host.as_str(), port)
                    .to_socket_addrs()
                    .map(|a| a.collect())
                    .unwrap_or_default();
                let _ = tx.send(addrs); // the client may be gone; nothing to do then
            });
        if started.is_ok() {
            self.pending = Some(rx);
        }
        started.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn ip_literals_need_no_lookup() {
        let mut r = Resolver::new("127.0.0.1", 9443, 1_000);
        assert_eq!(
            r.lookup(0, 0),
            Lookup::Ready("127.0.0.1:9443".parse().unwrap())
        );
        let mut r = Resolver::new("::1", 1, 1_000);
        assert_eq!(r.lookup(0, 5), Lookup::Ready("[::1]:1".parse().unwrap()));
    }

    #[test]
    fn host_names_resolve_in_the_background_and_rotate() {
        let mut r = Resolver::new("localhost", 8080, 60_000);
        assert_eq!(r.lookup(0, 0), Lookup::Pending);
        let mut answer = Lookup::Pending;
        for _ in 0..500 {
            answer = r.lookup(1, 0);
            if answer != Lookup::Pending {
                break;
            }
            thread::sleep(Duration::from_millis(10));
        }
        let Lookup::Ready(addr) = answer else {
            panic!("localhost did not resolve: {answer:?}")
        };
        assert!(addr.ip().is_loopback() && addr.port() == 8080);
        let all: Vec<Lookup> = (0..r.addrs.len()).map(|seq| r.lookup(2, seq)).collect();
        assert!(
            all.iter().all(|l| matches!(l, Lookup::Ready(_))),
            "cached: no new lookup"
        );
        assert!(r.pending.is_none());
        // Past the TTL the cache still answers while a refresh runs.
        assert!(matches!(r.lookup(60_000_000_001, 0), Lookup::Ready(_)));
        assert!(r.pending.is_some());
    }
}
