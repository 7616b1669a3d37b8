//! The Kraken private order stream (PROTOCOLS-ORDERS C.5) on the shared private-stream thread
//! (`crate::private_stream`): a token from REST `GetWebSocketsToken` (C.3), then
//! `{"method":"subscribe","params":{"channel":"executions","token":…,"snap_orders":true,
//! "snap_trades":false}}` on `wss://ws-auth.kraken.com/v2`, then every `executions` report as an
//! [`ExecutionUpdate`]. The snapshot of open orders after each subscription and the OMS's poll
//! on [`UserEvent::Subscribed`] cover what a dead connection missed. Keep-alive:
//! `{"method":"ping"}`.
//!
//! Reports: `exec_type` `trade` is a fill (`last_qty`, `last_price`, `trade_id`, and the fee
//! with its real asset from `fees[{asset,qty}]` — `TradesHistory` names none); `order_status`
//! gives the state and `cum_qty` the cumulative quantity. Amounts are JSON numbers
//! (`crate::private_stream::number_text`). Updates may be sparse: a report without
//! `cl_ord_id` is matched to its order by `order_id`, one without `cum_qty` keeps the quantity
//! the OMS holds. Fills are keyed by the pair's `trade_id`, the key the REST fills carry too.
//!
//! Tokens: the first is fetched in [`start`], on the caller's thread — Kraken nonces must
//! rise per key, and the OMS's start-up calls on that same thread then cannot interleave with
//! it. A token is reused on reconnect while younger than [`TOKEN_REUSE`] (Kraken: valid 15
//! minutes before first use); after that, or when the venue calls the session invalid, the
//! stream thread fetches a new one with its own client (a nonce race with the OMS's calls is
//! then possible once per 14 minutes of outage; a key nonce window removes it).

use std::{sync::Arc, time::Duration};

use lyra_shm::{clock::Clock, msg::OrderState};
use rustls::ClientConfig;
use serde::Deserialize;

use super::{KrakenConfig, KrakenCredentials, KrakenRest};
use crate::{
    binance::{
        user_stream_event::{DecText, ExecType, ExecutionUpdate, IdText, NameText, UserEvent},
        UserStream, UserStreamConfig, UserStreamError,
    },
    private_stream::{self, emit_reports, number_text, parse_url, Dialect, PrivateUrl, Step},
    venue::{self, trade_key, VenueError},
};

/// A token is reused on reconnect while younger than this (Kraken: 15 minutes before use).
pub const TOKEN_REUSE: Duration = Duration::from_secs(14 * 60);

/// Why the Kraken stream could not start.
#[derive(Debug, thiserror::Error)]
pub enum KrakenStreamError {
    /// URL or thread.
    #[error(transparent)]
    Stream(#[from] UserStreamError),
    /// The REST client for tokens could not be built.
    #[error("kraken private stream {url}: REST client: {reason}")]
    Rest {
        /// The REST base.
        url: String,
        /// Why.
        reason: String,
    },
    /// The first `GetWebSocketsToken` failed.
    #[error("kraken private stream: token: {0}")]
    Token(#[from] VenueError),
}

/// The private WebSocket URL of a Kraken REST base: `https://api.kraken.com` ->
/// `wss://ws-auth.kraken.com/v2`; any other host (the simulator) serves `/v2` on the REST
/// host and port.
///
/// # Errors
/// A REST URL that is not `https://host[:port]`.
pub fn private_ws_url_for(rest_url: &str) -> Result<String, UserStreamError> {
    let ep = crate::http::Endpoint::parse(rest_url).map_err(|e| UserStreamError::Url {
        url: rest_url.to_owned(),
        reason: e.to_string(),
    })?;
    Ok(match ep.host.as_str() {
        "api.kraken.com" => "wss://ws-auth.kraken.com/v2".into(),
        h => format!("wss://{h}:{}/v2", ep.port),
    })
}

/// Checks a configured private URL (`wss://host[:port]/v2`) without connecting.
///
/// # Errors
/// [`UserStreamError::Url`] saying what is wrong.
pub fn check_private_ws_url(url: &str) -> Result<(), UserStreamError> {
    checked(url).map(|_| ())
}

fn checked(url: &str) -> Result<PrivateUrl, UserStreamError> {
    parse_url(url, "/v2")
}

/// Starts the Kraken private stream on `cfg.ws_api_url` (`wss://…/v2`): fetches the first token
/// now (REST `rest` with `creds`, TLS `tls`), then runs the side thread.
///
/// # Errors
/// [`KrakenStreamError`]: bad URL, REST client, the first token, the thread.
pub fn start(
    cfg: UserStreamConfig,
    rest: &KrakenConfig,
    tls: Arc<ClientConfig>,
    creds: KrakenCredentials,
    clock: Arc<dyn Clock>,
) -> Result<UserStream, KrakenStreamError> {
    let url = checked(&cfg.ws_api_url)?;
    let mut client = KrakenRest::new(rest, tls.clone(), creds, clock.clone()).map_err(|e| {
        KrakenStreamError::Rest {
            url: rest.rest_url.clone(),
            reason: e.to_string(),
        }
    })?;
    let token = client.ws_token()?;
    let d = KrakenPrivate {
        rest: client,
        token: Some((token, clock.mono_ns())),
        clock: clock.clone(),
        req_id: 0,
    };
    Ok(private_stream::start(d, url, cfg, tls, clock, 0)?)
}

/// The Kraken dialect.
struct KrakenPrivate {
    rest: KrakenRest,
    /// The token and when it was fetched (mono ns).
    token: Option<(String, u64)>,
    clock: Arc<dyn Clock>,
    req_id: u64,
}

impl KrakenPrivate {
    fn next_id(&mut self) -> u64 {
        self.req_id += 1;
        self.req_id
    }
}

/// A `/v2` frame: a method answer (`subscribe`, `pong`) or channel data.
#[derive(Debug, Deserialize)]
struct Frame<'a> {
    #[serde(default, borrow)]
    method: Option<&'a str>,
    #[serde(default)]
    success: Option<bool>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default, borrow)]
    result: Option<SubResult<'a>>,
    #[serde(default, borrow)]
    channel: Option<&'a str>,
    #[serde(default, borrow)]
    data: Option<Vec<Report<'a>>>,
}

#[derive(Debug, Deserialize)]
struct SubResult<'a> {
    #[serde(default, borrow)]
    channel: &'a str,
}

/// One fee of a trade.
#[derive(Debug, Deserialize)]
struct Fee<'a> {
    #[serde(borrow)]
    asset: &'a str,
    qty: f64,
}

/// The fields of an `executions` report the OMS uses (C.5).
#[derive(Debug, Default, Deserialize)]
struct Report<'a> {
    #[serde(default, borrow)]
    order_id: &'a str,
    #[serde(default, borrow)]
    cl_ord_id: Option<&'a str>,
    #[serde(default, borrow)]
    symbol: Option<&'a str>,
    #[serde(default, borrow)]
    exec_type: &'a str,
    #[serde(default, borrow)]
    order_status: Option<&'a str>,
    #[serde(default)]
    trade_id: Option<u64>,
    #[serde(default)]
    last_qty: Option<f64>,
    #[serde(default)]
    last_price: Option<f64>,
    #[serde(default)]
    cum_qty: Option<f64>,
    #[serde(default, borrow)]
    fees: Option<Vec<Fee<'a>>>,
}

/// `order_status` (or, in a sparse update without it, `exec_type`) -> life cycle.
fn state_of(status: Option<&str>, exec_type: &str) -> Option<OrderState> {
    Some(match status.unwrap_or(exec_type) {
        "new" => OrderState::Acked,
        "partially_filled" => OrderState::Partial,
        "filled" => OrderState::Filled,
        "canceled" => OrderState::Canceled,
        "expired" => OrderState::Expired,
        // `pending_new`, `amended`, `restated`, a bare `trade`: no state news.
        _ => return None,
    })
}

/// One report as an update; `None` when a field does not fit (counted as malformed).
fn update(r: &Report<'_>) -> Option<ExecutionUpdate> {
    let venue_id = venue::IdText::new(r.order_id)?;
    let exec_type = match r.exec_type {
        "trade" => ExecType::Trade,
        "new" => ExecType::New,
        "canceled" => ExecType::Canceled,
        "expired" => ExecType::Expired,
        _ => ExecType::Other,
    };
    let fill = exec_type == ExecType::Trade;
    let num = |x: Option<f64>| x.map(number_text).unwrap_or_default();
    let fee = r.fees.as_deref().and_then(<[Fee<'_>]>::first);
    let trade_id = match (fill, r.trade_id) {
        (true, Some(t)) => Some(trade_key(&venue::IdText::new(&t.to_string())?)),
        _ => None,
    };
    Some(ExecutionUpdate {
        event_ms: 0,
        symbol: NameText::new(r.symbol.unwrap_or(""))?,
        client_id: IdText::new(r.cl_ord_id.unwrap_or(""))?,
        orig_client_id: IdText::default(),
        exec_type,
        status: state_of(r.order_status, r.exec_type),
        order_id: trade_key(&venue_id),
        venue_id,
        last_qty: DecText::new(&num(r.last_qty))?,
        last_px: DecText::new(&num(r.last_price))?,
        cum_qty: DecText::new(&num(r.cum_qty))?,
        commission: DecText::new(&fee.map_or_else(|| "0".into(), |f| number_text(f.qty)))?,
        commission_asset: NameText::new(fee.map_or("", |f| f.asset))?,
        trade_id,
    })
}

impl Dialect for KrakenPrivate {
    fn venue(&self) -> &'static str {
        "kraken"
    }

    fn prepare(&mut self) -> Result<(), &'static str> {
        let now = self.clock.mono_ns();
        let fresh = self
            .token
            .as_ref()
            .is_some_and(|(_, at)| now.saturating_sub(*at) < TOKEN_REUSE.as_nanos() as u64);
        if fresh {
            return Ok(());
        }
        self.token = None;
        match self.rest.ws_token() {
            Ok(t) => {
                self.token = Some((t, now));
                Ok(())
            }
            Err(e) => {
                tracing::warn!(error = %e, "kraken private stream: GetWebSocketsToken failed");
                Err("token refused")
            }
        }
    }

    fn open(&mut self, _server_ms: u64) -> String {
        let id = self.next_id();
        let token = self.token.as_ref().map_or("", |(t, _)| t.as_str());
        format!(
            r#"{{"method":"subscribe","params":{{"channel":"executions","token":{},"snap_orders":true,"snap_trades":false}},"req_id":{id}}}"#,
            serde_json::to_string(token).unwrap_or_else(|_| "\"\"".into())
        )
    }

    fn on_text(&mut self, text: &str, emit: &mut dyn FnMut(UserEvent) -> bool) -> Step {
        let Ok(f) = serde_json::from_str::<Frame<'_>>(text) else {
            return Step::Malformed;
        };
        match f.method {
            Some("subscribe") => {
                let ours = f.result.as_ref().is_some_and(|r| r.channel == "executions");
                return match f.success {
                    Some(true) if ours => Step::Subscribed,
                    Some(true) => Step::Idle,
                    _ => {
                        if f.error.as_deref().is_some_and(|e| e.contains("Session")) {
                            // Expired or unknown token: fetch a new one before reconnecting.
                            self.token = None;
                        }
                        Step::Refused(0, "subscribe refused")
                    }
                };
            }
            Some(_) => return Step::Idle, // pong, unsubscribe
            None => {}
        }
        if f.channel != Some("executions") {
            return Step::Idle; // heartbeat, status
        }
        let Some(data) = &f.data else {
            return Step::Idle;
        };
        emit_reports(data, update, emit)
    }

    fn ping(&mut self) -> String {
        let id = self.next_id();
        format!(r#"{{"method":"ping","req_id":{id}}}"#)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A trade report as the simulator (and C.5) writes it.
    const TRADE: &str = r#"{"channel":"executions","type":"update","data":[{"order_id":"OAAAAA-AAAAA-000007","cl_ord_id":"lyra1x00000000001a","symbol":"BTC/USDT","side":"buy","order_type":"limit","order_qty":0.01,"limit_price":26500.1,"time_in_force":"GTC","post_only":false,"exec_type":"trade","order_status":"partially_filled","exec_id":"ESIMUL-EXEC0-000002","trade_id":42,"last_qty":0.003,"last_price":26500.1,"liquidity_ind":"m","cost":79.5003,"fees":[{"asset":"BTC","qty":0.000003}],"cum_qty":0.003,"cum_cost":79.5003,"avg_price":26500.1,"timestamp":"2023-11-14T22:13:20.123000Z"}],"sequence":3}"#;

    fn parse(text: &str) -> (Step, Vec<UserEvent>) {
        let f: Frame<'_> = serde_json::from_str(text).unwrap();
        let mut out = Vec::new();
        let mut bad = false;
        for r in f.data.as_deref().unwrap_or(&[]) {
            match update(r) {
                Some(u) => out.push(UserEvent::Execution(u)),
                None => bad = true,
            }
        }
        (if bad { Step::Malformed } else { Step::Idle }, out)
    }

    #[test]
    fn a_trade_report_keeps_its_fee_asset_and_trade_id() {
        let (s, ev) = parse(TRADE);
        assert_eq!(s, Step::Idle);
        let UserEvent::Execution(u) = ev[0] else {
            panic!("{ev:?}")
        };
        assert_eq!(u.exec_type, ExecType::Trade);
        assert_eq!(u.status, Some(OrderState::Partial));
        assert_eq!(u.venue_id.as_str(), "OAAAAA-AAAAA-000007");
        assert_eq!(u.client_id.as_str(), "lyra1x00000000001a");
        assert_eq!(u.trade_id, Some(42), "the pair's trade id, as REST keys it");
        assert_eq!(
            (u.last_qty.as_str(), u.last_px.as_str(), u.cum_qty.as_str()),
            ("0.003", "26500.1", "0.003")
        );
        assert_eq!(
            (u.commission.as_str(), u.commission_asset.as_str()),
            ("0.000003", "BTC")
        );
    }

    #[test]
    fn a_sparse_update_keeps_what_it_has() {
        let (_, ev) = parse(
            r#"{"channel":"executions","type":"update","data":[{"order_id":"OAAAAA-AAAAA-000007","exec_type":"canceled","timestamp":"2023-11-14T22:13:20Z"}],"sequence":4}"#,
        );
        let UserEvent::Execution(u) = ev[0] else {
            panic!("{ev:?}")
        };
        assert!(u.client_id.is_empty() && u.cum_qty.is_empty() && u.symbol.is_empty());
        assert_eq!(u.status, Some(OrderState::Canceled));
        assert_eq!(u.trade_id, None);
    }

    #[test]
    fn urls() {
        assert_eq!(
            private_ws_url_for("https://api.kraken.com").unwrap(),
            "wss://ws-auth.kraken.com/v2"
        );
        assert_eq!(
            private_ws_url_for("https://127.0.0.1:4443").unwrap(),
            "wss://127.0.0.1:4443/v2"
        );
        assert!(check_private_ws_url("wss://127.0.0.1:4443/v2").is_ok());
        assert!(check_private_ws_url("wss://127.0.0.1:4443/ws/v5/private").is_err());
    }
}
