//! A TCP relay between an OMS and the simulator that a test can cut, refuse or freeze: how the
//! user-stream and private-stream tests drop and stall a live connection.
#![allow(dead_code)] // each test binary uses a different part

use std::{
    io::{self, Read, Write},
    net::{Shutdown, SocketAddr, TcpListener, TcpStream},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    thread,
    time::Duration,
};

/// A TCP relay the test can cut: every connection through it is shut down at once, and while
/// `refuse` is set new ones are closed as soon as they are accepted.
pub struct Relay {
    /// Where clients connect.
    pub addr: SocketAddr,
    /// While set, new connections are closed as soon as they are accepted.
    pub refuse: Arc<AtomicBool>,
    /// While set, nothing is relayed either way, yet every connection stays open (a stall).
    pub freeze: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
}

impl Relay {
    /// Relays every connection to `target`.
    pub fn start(target: SocketAddr) -> Self {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let r = Self {
            addr: l.local_addr().unwrap(),
            refuse: Arc::new(AtomicBool::new(false)),
            freeze: Arc::new(AtomicBool::new(false)),
            stop: Arc::new(AtomicBool::new(false)),
            conns: Arc::new(Mutex::new(Vec::new())),
        };
        let (refuse, stop, conns) = (r.refuse.clone(), r.stop.clone(), r.conns.clone());
        let freeze = r.freeze.clone();
        thread::spawn(move || {
            while !stop.load(Ordering::Acquire) {
                let Ok((a, _)) = l.accept() else {
                    thread::sleep(Duration::from_millis(5));
                    continue;
                };
                if refuse.load(Ordering::Acquire) {
                    let _ = a.shutdown(Shutdown::Both);
                    continue;
                }
                let _ = a.set_nonblocking(false);
                let Ok(b) = TcpStream::connect(target) else {
                    continue;
                };
                let mut g = conns.lock().unwrap();
                g.push(a.try_clone().unwrap());
                g.push(b.try_clone().unwrap());
                drop(g);
                for (mut from, mut to) in [(a.try_clone().unwrap(), b.try_clone().unwrap()), (b, a)]
                {
                    let freeze = freeze.clone();
                    thread::spawn(move || {
                        let _ = from.set_read_timeout(Some(Duration::from_millis(20)));
                        let mut buf = [0u8; 16 * 1024];
                        loop {
                            if freeze.load(Ordering::Acquire) {
                                thread::sleep(Duration::from_millis(5));
                                continue;
                            }
                            match from.read(&mut buf) {
                                Ok(0) => break,
                                Ok(n) => {
                                    if to.write_all(&buf[..n]).is_err() {
                                        break;
                                    }
                                }
                                Err(e)
                                    if matches!(
                                        e.kind(),
                                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                                    ) => {}
                                Err(_) => break,
                            }
                        }
                        let _ = to.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        r
    }

    /// Shuts every relayed connection down (both sides see the connection drop).
    pub fn cut(&self) {
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.freeze.store(false, Ordering::Release);
        self.cut();
    }
}
