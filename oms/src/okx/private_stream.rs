//! The OKX private order stream (PROTOCOLS-ORDERS B.5) on the shared private-stream thread
//! (`crate::private_stream`): `login` on `/ws/v5/private` (sign = Base64(HMAC-SHA256(secret,
//! ts + "GET" + "/users/self/verify")), ts in Unix seconds of venue time), then
//! `{"op":"subscribe","args":[{"channel":"orders","instType":"SPOT"}]}`, then every `orders` push
//! item as an [`ExecutionUpdate`]: its fill fields (`fillSz`, `fillPx`, `tradeId`, `fillFee`,
//! `fillFeeCcy`) describe that update only; `accFillSz` is the cumulative quantity. OKX sends no
//! snapshot, so the OMS polls once after every subscription. Keep-alive: the text `ping` (OKX
//! closes a connection idle for 30 s).
//!
//! Duplicates are possible (B.5): the OMS dedupes fills by `tradeId` ([`trade_key`], the key
//! of the REST fills too) and ignores states it already holds.

use std::sync::Arc;

use lyra_shm::{clock::Clock, msg::OrderState};
use rustls::ClientConfig;
use serde::Deserialize;

use super::OkxCredentials;
use crate::{
    binance::{
        user_stream_event::{DecText, ExecType, ExecutionUpdate, IdText, NameText, UserEvent},
        UserStream, UserStreamConfig, UserStreamError,
    },
    private_stream::{self, emit_reports, negated, parse_url, Dialect, PrivateUrl, Step},
    venue::{self, trade_key},
};

/// The path OKX signs for a WebSocket login (B.5).
const VERIFY_PATH: &[u8] = b"/users/self/verify";
/// The subscription: every spot order of the account.
const SUBSCRIBE: &str = r#"{"op":"subscribe","args":[{"channel":"orders","instType":"SPOT"}]}"#;

/// The private WebSocket URL of an OKX REST base: OKX's own hosts
/// (`openapi.okx.com`, `www.okx.com`, `okx.com`) -> `wss://ws.okx.com:8443/ws/v5/private`; any
/// other host (the simulator) serves it on the REST host and port.
///
/// # Errors
/// A REST URL that is not `https://host[:port]`.
pub fn private_ws_url_for(rest_url: &str) -> Result<String, UserStreamError> {
    let ep = crate::http::Endpoint::parse(rest_url).map_err(|e| UserStreamError::Url {
        url: rest_url.to_owned(),
        reason: e.to_string(),
    })?;
    Ok(match ep.host.as_str() {
        "openapi.okx.com" | "www.okx.com" | "okx.com" => {
            "wss://ws.okx.com:8443/ws/v5/private".into()
        }
        h => format!("wss://{h}:{}/ws/v5/private", ep.port),
    })
}

/// Checks a configured private URL (`wss://host[:port]/ws/v5/private`) without connecting.
///
/// # Errors
/// [`UserStreamError::Url`] saying what is wrong.
pub fn check_private_ws_url(url: &str) -> Result<(), UserStreamError> {
    checked(url).map(|_| ())
}

fn checked(url: &str) -> Result<PrivateUrl, UserStreamError> {
    let u = parse_url(url, "/ws/v5/")?;
    if !u.uri.ends_with("/private") {
        return Err(UserStreamError::Url {
            url: url.to_owned(),
            reason: "path must be /ws/v5/private".into(),
        });
    }
    Ok(u)
}

/// Starts the OKX private stream on `cfg.ws_api_url` (`wss://…/ws/v5/private`); `offset_ms` is
/// the REST client's server-minus-local offset (the login timestamp is venue time).
///
/// # Errors
/// [`UserStreamError`] for a bad URL or a thread that cannot start.
pub fn start(
    cfg: UserStreamConfig,
    tls: Arc<ClientConfig>,
    creds: OkxCredentials,
    clock: Arc<dyn Clock>,
    offset_ms: i64,
) -> Result<UserStream, UserStreamError> {
    let url = checked(&cfg.ws_api_url)?;
    private_stream::start(OkxPrivate { creds }, url, cfg, tls, clock, offset_ms)
}

/// The OKX dialect.
struct OkxPrivate {
    creds: OkxCredentials,
}

impl OkxPrivate {
    /// The `login` request at venue time `server_ms` (holds the key, passphrase, signature).
    fn login(&self, server_ms: u64) -> String {
        let ts = (server_ms / 1000).to_string();
        let sig = self.creds.sign(ts.as_bytes(), b"GET", VERIFY_PATH, b"");
        let sig = std::str::from_utf8(&sig).unwrap_or("");
        format!(
            r#"{{"op":"login","args":[{{"apiKey":{},"passphrase":{},"timestamp":"{ts}","sign":"{sig}"}}]}}"#,
            json_str(self.creds.api_key()),
            json_str(self.creds.passphrase())
        )
    }
}

/// `s` as a JSON string literal.
fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// A frame of `/ws/v5/private`: an event (`login`, `subscribe`, `error`, `notice`) or a push.
#[derive(Debug, Deserialize)]
struct Frame<'a> {
    #[serde(default, borrow)]
    event: Option<&'a str>,
    #[serde(default, borrow)]
    code: Option<&'a str>,
    #[serde(default, borrow)]
    arg: Option<Arg<'a>>,
    #[serde(default, borrow)]
    data: Option<Vec<OrderPush<'a>>>,
}

#[derive(Debug, Deserialize)]
struct Arg<'a> {
    #[serde(default, borrow)]
    channel: &'a str,
}

/// The fields of an `orders` push item the OMS uses (B.4/B.5).
#[allow(non_snake_case)] // the venue's keys
#[derive(Debug, Default, Deserialize)]
struct OrderPush<'a> {
    #[serde(default, borrow)]
    instId: &'a str,
    #[serde(default, borrow)]
    clOrdId: &'a str,
    #[serde(default, borrow)]
    ordId: &'a str,
    #[serde(default, borrow)]
    state: &'a str,
    #[serde(default, borrow)]
    fillSz: &'a str,
    #[serde(default, borrow)]
    fillPx: &'a str,
    #[serde(default, borrow)]
    tradeId: &'a str,
    #[serde(default, borrow)]
    accFillSz: &'a str,
    #[serde(default, borrow)]
    fillFee: &'a str,
    #[serde(default, borrow)]
    fillFeeCcy: &'a str,
    #[serde(default, borrow)]
    uTime: &'a str,
}

/// OKX `state` -> life cycle (`live` with fills becomes PARTIAL in the OMS).
fn state_of(s: &str) -> Option<OrderState> {
    Some(match s {
        "live" => OrderState::Acked,
        "partially_filled" => OrderState::Partial,
        "filled" => OrderState::Filled,
        "canceled" | "mmp_canceled" => OrderState::Canceled,
        _ => return None,
    })
}

/// Whether decimal text is a positive amount.
fn nonzero(t: &str) -> bool {
    t.bytes().any(|b| (b'1'..=b'9').contains(&b))
}

/// One push item as an update; `None` when a field does not fit (counted as malformed).
fn update(p: &OrderPush<'_>) -> Option<ExecutionUpdate> {
    let venue_id = venue::IdText::new(p.ordId)?;
    let fill = !p.tradeId.is_empty() && nonzero(p.fillSz);
    let exec_type = if fill {
        ExecType::Trade
    } else {
        match p.state {
            "live" => ExecType::New,
            "canceled" | "mmp_canceled" => ExecType::Canceled,
            _ => ExecType::Other,
        }
    };
    let trade_id = if fill {
        Some(trade_key(&venue::IdText::new(p.tradeId)?))
    } else {
        None
    };
    Some(ExecutionUpdate {
        event_ms: p.uTime.parse().unwrap_or(0),
        symbol: NameText::new(p.instId)?,
        client_id: IdText::new(p.clOrdId)?,
        orig_client_id: IdText::default(),
        exec_type,
        status: state_of(p.state),
        order_id: trade_key(&venue_id),
        venue_id,
        last_qty: DecText::new(if fill { p.fillSz } else { "0" })?,
        last_px: DecText::new(if fill { p.fillPx } else { "0" })?,
        cum_qty: DecText::new(p.accFillSz)?,
        commission: DecText::new(&negated(if fill { p.fillFee } else { "0" }))?,
        commission_asset: NameText::new(if fill { p.fillFeeCcy } else { "" })?,
        trade_id,
    })
}

impl Dialect for OkxPrivate {
    fn venue(&self) -> &'static str {
        "okx"
    }

    fn prepare(&mut self) -> Result<(), &'static str> {
        Ok(())
    }

    fn open(&mut self, server_ms: u64) -> String {
        self.login(server_ms)
    }

    fn on_text(&mut self, text: &str, emit: &mut dyn FnMut(UserEvent) -> bool) -> Step {
        if text == "pong" {
            return Step::Idle;
        }
        let Ok(f) = serde_json::from_str::<Frame<'_>>(text) else {
            return Step::Malformed;
        };
        let code = || f.code.and_then(|c| c.parse().ok()).unwrap_or(0);
        match f.event {
            Some("login") if f.code == Some("0") => return Step::Send(SUBSCRIBE.into()),
            Some("login") => return Step::Refused(code(), "login refused"),
            Some("subscribe") if f.arg.as_ref().is_some_and(|a| a.channel == "orders") => {
                return Step::Subscribed
            }
            Some("error") => return Step::Refused(code(), "login or subscribe refused"),
            // `64008`: the venue is about to close the connection; go first.
            Some("notice") if f.code == Some("64008") => return Step::Retry("venue notice"),
            Some(_) => return Step::Idle,
            None => {}
        }
        let (Some(arg), Some(data)) = (&f.arg, &f.data) else {
            return Step::Idle;
        };
        if arg.channel != "orders" {
            return Step::Idle;
        }
        emit_reports(data, update, emit)
    }

    fn ping(&mut self) -> String {
        "ping".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fill push as the simulator (and B.5) writes it.
    const FILL: &str = r#"{"arg":{"channel":"orders","instType":"SPOT","uid":"448000000000"},"data":[{"accFillSz":"0.003","avgPx":"26500.1","clOrdId":"lyra1x00000000001a","fee":"-0.0000003","feeCcy":"BTC","fillFee":"-0.0000003","fillFeeCcy":"BTC","fillPx":"26500.1","fillSz":"0.003","instId":"BTC-USDT","ordId":"680800019749904384","state":"partially_filled","tradeId":"123456","uTime":"1700000000123"}]}"#;

    fn run(d: &mut OkxPrivate, text: &str) -> (Step, Vec<UserEvent>) {
        let mut out = Vec::new();
        let s = d.on_text(text, &mut |e| {
            out.push(e);
            true
        });
        (s, out)
    }

    #[test]
    fn login_is_signed_over_the_verify_path_in_seconds() {
        // PROTOCOLS-ORDERS D.4 [CALC]: `1538054050GET/users/self/verify`.
        let d = OkxPrivate {
            creds: OkxCredentials::new("KEY", "22582BD0CFF14C41EDBF1AB98506286D", "PASS"),
        };
        let req = d.login(1_538_054_050_999);
        assert!(req.contains(r#""timestamp":"1538054050""#), "{req}");
        assert!(req.contains(r#""sign":"+LdIr8lkkvhr5hoA3g9TMC0+uQJ849ftAcocA/ouu4M=""#));
        assert!(!req.contains("22582BD0"), "the secret is never sent");
    }

    #[test]
    fn login_then_subscribe_then_fills() {
        let mut d = OkxPrivate {
            creds: OkxCredentials::new("k", "s", "p"),
        };
        let (s, _) = run(
            &mut d,
            r#"{"event":"login","code":"0","msg":"","connId":"a"}"#,
        );
        assert_eq!(s, Step::Send(SUBSCRIBE.into()));
        let (s, _) = run(
            &mut d,
            r#"{"event":"subscribe","arg":{"channel":"orders","instType":"SPOT"},"connId":"a"}"#,
        );
        assert_eq!(s, Step::Subscribed);
        let (s, ev) = run(&mut d, FILL);
        assert_eq!(s, Step::Idle);
        let UserEvent::Execution(u) = ev[0] else {
            panic!("{ev:?}")
        };
        assert_eq!(u.exec_type, ExecType::Trade);
        assert_eq!(u.status, Some(OrderState::Partial));
        assert_eq!(u.venue_id.as_str(), "680800019749904384");
        assert_eq!(u.order_id, 680_800_019_749_904_384);
        assert_eq!(u.trade_id, Some(123_456));
        assert_eq!(
            (u.last_qty.as_str(), u.last_px.as_str(), u.cum_qty.as_str()),
            ("0.003", "26500.1", "0.003")
        );
        assert_eq!(
            (u.commission.as_str(), u.commission_asset.as_str()),
            ("0.0000003", "BTC"),
            "paid fee positive"
        );
        assert_eq!(u.event_ms, 1_700_000_000_123);
        let (s, _) = run(
            &mut d,
            r#"{"event":"error","code":"60009","msg":"Login failed."}"#,
        );
        assert_eq!(s, Step::Refused(60009, "login or subscribe refused"));
        assert_eq!(run(&mut d, "pong").0, Step::Idle);
        assert_eq!(run(&mut d, "{").0, Step::Malformed);
    }

    #[test]
    fn urls() {
        assert_eq!(
            private_ws_url_for("https://openapi.okx.com").unwrap(),
            "wss://ws.okx.com:8443/ws/v5/private"
        );
        assert_eq!(
            private_ws_url_for("https://127.0.0.1:4443").unwrap(),
            "wss://127.0.0.1:4443/ws/v5/private"
        );
        assert!(check_private_ws_url("wss://127.0.0.1:4443/ws/v5/private").is_ok());
        assert!(check_private_ws_url("wss://127.0.0.1:4443/ws/v5/public").is_err());
        assert!(check_private_ws_url("https://x/ws/v5/private").is_err());
    }
}
