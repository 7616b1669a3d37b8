//! Binance HMAC-SHA256 signatures (PROTOCOLS a.3, PROTOCOLS-ORDERS A.7/D): REST signs the exact
//! query string concatenated with the body; the WebSocket API signs its params sorted by name.

use ring::hmac;

/// Lower-case hex HMAC-SHA256 of `payload` under `secret`.
pub fn hmac_hex(secret: &str, payload: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let tag = hmac::sign(&key, payload);
    tag.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `sig` (hex, either letter case) is the HMAC of `payload`; constant time via ring.
pub fn verify(secret: &str, payload: &[u8], sig: &str) -> bool {
    if sig.len() != 64 {
        return false;
    }
    let mut raw = [0u8; 32];
    for (i, chunk) in sig.as_bytes().chunks(2).enumerate() {
        let Ok(s) = std::str::from_utf8(chunk) else {
            return false;
        };
        let Ok(b) = u8::from_str_radix(s, 16) else {
            return false;
        };
        raw[i] = b;
    }
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    hmac::verify(&key, payload, &raw).is_ok()
}

/// The REST payload: the raw query and body as sent, with the `signature` parameter removed,
/// concatenated (Binance's "totalParams").
pub fn rest_payload(query: &str, body: &str) -> (String, Option<String>) {
    let mut sig = None;
    let mut strip = |s: &str| -> String {
        s.split('&')
            .filter(|kv| {
                if let Some(v) = kv.strip_prefix("signature=") {
                    sig = Some(v.to_string());
                    false
                } else {
                    true
                }
            })
            .collect::<Vec<_>>()
            .join("&")
    };
    let q = strip(query);
    let b = strip(body);
    (format!("{q}{b}"), sig)
}

/// The WebSocket API payload: every param except `signature`, sorted by name, `k=v` joined by `&`.
pub fn ws_payload(params: &[(String, String)]) -> String {
    let mut p: Vec<&(String, String)> = params.iter().filter(|(k, _)| k != "signature").collect();
    p.sort_by(|a, b| a.0.cmp(&b.0));
    p.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

    #[test]
    fn rest_vector_from_the_docs() {
        let q = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
        let want = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71";
        assert_eq!(hmac_hex(SECRET, q.as_bytes()), want);
        assert!(verify(SECRET, q.as_bytes(), &want.to_uppercase()));
        let (payload, sig) = rest_payload(&format!("{q}&signature={want}"), "");
        assert_eq!((payload.as_str(), sig.as_deref()), (q, Some(want)));
    }

    #[test]
    fn ws_api_vector_from_the_docs() {
        let params: Vec<(String, String)> = [
            ("symbol", "BTCUSDT"),
            ("side", "SELL"),
            ("type", "LIMIT"),
            ("timeInForce", "GTC"),
            ("quantity", "0.01000000"),
            ("price", "52000.00"),
            ("recvWindow", "100"),
            ("timestamp", "1645423376532"),
            (
                "apiKey",
                "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A",
            ),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(
            hmac_hex(SECRET, ws_payload(&params).as_bytes()),
            "aa1b5712c094bc4e57c05a1a5c1fd8d88dcd628338ea863fec7b88e59fe2db24"
        );
    }
}
