//! Everything a test binary logs, captured for the secret (canary) checks: one global `tracing`
//! subscriber per test binary at TRACE, with the cap `lyra-engine` puts on tungstenite's frame
//! dumps (`user_stream::LOG_DIRECTIVE`).

use std::{
    io::{self, Write},
    sync::{Arc, Mutex, Once},
};

/// The shared capture buffer, installing the subscriber on first use.
pub fn captured() -> Arc<Mutex<Vec<u8>>> {
    static INIT: Once = Once::new();
    static BUF: Mutex<Option<Arc<Mutex<Vec<u8>>>>> = Mutex::new(None);
    INIT.call_once(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        *BUF.lock().unwrap() = Some(buf.clone());
        let filter = tracing_subscriber::EnvFilter::new("trace").add_directive(
            lyra_oms::binance::user_stream::LOG_DIRECTIVE
                .parse()
                .unwrap(),
        );
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .with_writer(move || Capture(buf.clone()))
            .try_init();
    });
    BUF.lock().unwrap().clone().expect("capture buffer")
}

/// A `tracing` writer appending to the shared buffer.
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
