//! The venue trait `oms::venue::OrderEntry`, implemented by the Binance, OKX and Kraken clients,
//! driven through `&mut dyn OrderEntry` against `lyra sim` with one venue-neutral script per
//! venue: a resting order (placed, queried, listed, cancelled), a marketable IOC (filled, its
//! fills where the simulator serves them) and balances that moved by exactly that fill.

#[allow(unused_imports)]
use lyra_tools::sim;

use std::{sync::Arc, time::Duration};

use lyra_oms::{
    binance::{BinanceConfig, BinanceRest, Filters, SymbolSpec},
    clordid::ClOrdId,
    http::tls_config,
    kraken::{KrakenConfig, KrakenCredentials, KrakenRest},
    okx::{OkxConfig, OkxCredentials, OkxRest},
    sign::Credentials,
    venue::{ErrorClass, OrderEntry, Refusal},
};
use lyra_shm::{
    clock::LiveClock,
    msg::{InstrumentIdx, OrdType, OrderIntent, OrderState, Side, Tif},
};
use rust_decimal::Decimal;
use sim::{config::SimConfig, Sim, SimHandle};

fn spec(symbol: &str) -> SymbolSpec {
    SymbolSpec {
        instrument: InstrumentIdx(0),
        symbol: symbol.into(),
        base_asset: "BTC".into(),
        quote_asset: "USDT".into(),
        px_scale: 2,
        qty_scale: 5,
        filters: Filters::default(),
        trading: true,
    }
}

fn clients(sim: &SimHandle) -> Vec<(Box<dyn OrderEntry>, SymbolSpec)> {
    let c = sim.credentials()[0].clone();
    let tls = tls_config(Some(sim.ca_path())).expect("tls");
    let url = |v: &str| sim.endpoint(v).expect("venue").rest.clone();
    let timeout = Duration::from_secs(10);
    let binance = BinanceRest::new(
        &BinanceConfig {
            rest_url: url("binance"),
            recv_window_ms: 5000,
            timeout,
        },
        tls.clone(),
        Credentials::new(&c.api_key, c.secret.as_bytes()),
        Arc::new(LiveClock),
    )
    .expect("binance");
    let okx = OkxRest::new(
        &OkxConfig {
            rest_url: url("okx"),
            timeout,
            simulated_trading: false,
        },
        tls.clone(),
        OkxCredentials::new(&c.api_key, &c.secret, &c.passphrase),
        Arc::new(LiveClock),
    )
    .expect("okx");
    let kraken = KrakenRest::new(
        &KrakenConfig {
            rest_url: url("kraken"),
            timeout,
        },
        tls,
        KrakenCredentials::new(&c.api_key, &c.secret).expect("kraken secret"),
        Arc::new(LiveClock),
    )
    .expect("kraken");
    vec![
        (Box::new(binance), spec("BTCUSDT")),
        (Box::new(okx), spec("BTC-USDT")),
        (Box::new(kraken), spec("BTC/USDT")),
    ]
}

fn btc(v: &mut dyn OrderEntry) -> Decimal {
    let b = v.balances().expect("balances");
    b.iter()
        .find(|b| b.asset == "BTC")
        .map_or(Decimal::ZERO, |b| b.free + b.locked)
}

#[test]
fn one_script_trades_on_all_three_venues_through_the_trait() {
    let sim = Sim::start(
        SimConfig {
            seed: 51,
            step_ms: 0,
            oracle_frames: false,
            ..SimConfig::default()
        },
        None,
    )
    .expect("start");
    let qty = 100; // 0.001 BTC
    for (i, (mut v, spec)) in clients(&sim).into_iter().enumerate() {
        let name = v.venue_name();
        v.warm().expect("warm");
        let before = btc(v.as_mut());

        // A buy 10,000 USDT under a 60,000 market rests.
        let rest_id = ClOrdId::new("ent", 10 * i as u64 + 1).expect("id");
        let gtc = OrderIntent {
            side: Side::Buy,
            ..Default::default()
        };
        let placed = v
            .place(&spec, &gtc, 5_000_000, qty, &rest_id)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let q = v
            .query(&spec, rest_id.as_str(), Some(&placed.order_id))
            .expect("query");
        assert_eq!(
            (
                q.order_id,
                q.client_id.as_str(),
                q.state,
                q.px,
                q.qty,
                q.executed
            ),
            (
                placed.order_id,
                rest_id.as_str(),
                OrderState::Acked,
                5_000_000,
                qty,
                0
            ),
            "{name}"
        );
        let open = v.open_orders(&spec).expect("open");
        assert_eq!(open.len(), 1, "{name}");
        assert_eq!(open[0].client_id.as_str(), rest_id.as_str(), "{name}");
        v.cancel(&spec, rest_id.as_str()).expect("cancel");
        let q = v
            .query(&spec, rest_id.as_str(), Some(&placed.order_id))
            .expect("query");
        assert_eq!(q.state, OrderState::Canceled, "{name}");
        let e = v.cancel(&spec, rest_id.as_str()).unwrap_err();
        assert_eq!(
            (e.refusal(), e.class()),
            (Some(Refusal::NotFound), ErrorClass::Reject),
            "{name}: {e}"
        );

        // A buy IOC 10,000 USDT over the market fills completely at the best ask.
        let ioc_id = ClOrdId::new("ent", 10 * i as u64 + 2).expect("id");
        let ioc = OrderIntent {
            side: Side::Buy,
            ord_type: OrdType::Limit,
            tif: Tif::Ioc,
            ..Default::default()
        };
        let placed = v.place(&spec, &ioc, 7_000_000, qty, &ioc_id).expect("ioc");
        let q = v
            .query(&spec, ioc_id.as_str(), Some(&placed.order_id))
            .expect("query");
        assert_eq!((q.state, q.executed), (OrderState::Filled, qty), "{name}");
        assert!(
            q.avg_px > 5_000_000 && q.avg_px < 7_000_000,
            "{name}: {q:?}"
        );
        // Taker fees of the default simulator: Binance and OKX 10 bps, Kraken 26, in BTC.
        let bps = if name == "kraken" { 26 } else { 10 };
        let fee_btc = Decimal::new(qty, 5) * Decimal::new(bps, 4);
        if name != "kraken" {
            // The simulator serves no Kraken TradesHistory.
            let fills = v.fills(&spec, &placed.order_id).expect("fills");
            assert_eq!(fills.iter().map(|f| f.qty).sum::<i64>(), qty, "{name}");
            assert!(fills.iter().all(|f| f.side == Side::Buy && !f.maker));
            let fees: Decimal = fills
                .iter()
                .map(|f| f.fee.parse::<Decimal>().expect("fee"))
                .sum();
            assert_eq!(fees, fee_btc, "{name}: the taker fee in BTC");
        }
        assert_eq!(
            btc(v.as_mut()),
            before + Decimal::new(qty, 5) - fee_btc,
            "{name}"
        );
    }
}
