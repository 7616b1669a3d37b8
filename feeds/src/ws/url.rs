//! The few parts of a `ws://` / `wss://` URL the transport needs: scheme, host, port, path.

/// A parsed WebSocket URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsUrl {
    /// `true` for `wss://` (TLS), `false` for `ws://`.
    pub tls: bool,
    /// Host name or IP literal (IPv6 without brackets), used for DNS, SNI and certificate checks.
    pub host: String,
    /// TCP port (default 443 for `wss`, 80 for `ws`).
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
    /// The URL as given, handed to tungstenite for the HTTP upgrade request.
    pub full: String,
}

/// Why a URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad WebSocket URL {url:?}: {reason}")]
pub struct UrlError {
    /// The URL as given.
    pub url: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl WsUrl {
    /// Parses `ws[s]://host[:port][/path][?query]`.
    ///
    /// # Errors
    /// [`UrlError`] for another scheme, an empty host, a bad port or user-info in the URL.
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let bad = |reason| UrlError {
            url: url.to_string(),
            reason,
        };
        let (tls, rest) = if let Some(r) = url.strip_prefix("wss://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("ws://") {
            (false, r)
        } else {
            return Err(bad("scheme must be ws:// or wss://"));
        };
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split);
        if authority.contains('@') {
            return Err(bad("user-info is not supported"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let end = v6.find(']').ok_or_else(|| bad("unclosed IPv6 bracket"))?;
            let port = v6[end + 1..].strip_prefix(':');
            (&v6[..end], port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(bad("empty host"));
        }
        let port = match port {
            Some(p) => p.parse::<u16>().map_err(|_| bad("bad port"))?,
            None if tls => 443,
            None => 80,
        };
        let path = match path {
            "" => "/".to_string(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_string(),
        };
        Ok(WsUrl {
            tls,
            host: host.to_string(),
            port,
            path,
            full: url.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_venue_urls() {
        let u = WsUrl::parse("wss://stream.binance.com:9443/stream?streams=btcusdt@depth").unwrap();
        assert!(u.tls);
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("stream.binance.com", 9443, "/stream?streams=btcusdt@depth")
        );
        let u = WsUrl::parse("wss://ws.okx.com/ws/v5/public").unwrap();
        assert_eq!((u.port, u.path.as_str()), (443, "/ws/v5/public"));
        let u = WsUrl::parse("ws://127.0.0.1:8080").unwrap();
        assert_eq!((u.tls, u.port, u.path.as_str()), (false, 8080, "/"));
        let u = WsUrl::parse("ws://[::1]:9?x=1").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("::1", 9, "/?x=1")
        );
    }

    #[test]
    fn refuses_bad_urls() {
        for bad in [
            "http://x/",
            "wss://",
            "wss://h:99999/",
            "wss://u:p@h/",
            "wss://[::1/",
        ] {
            assert!(WsUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
