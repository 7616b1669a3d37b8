//! Intent -> filters -> client order id -> signed request bytes allocates nothing after warm-up
//! (the path the `oms` benchmark measures). One test: the allocation count is per process.

use std::{sync::Arc, time::Duration};

use lyra_oms::{
    binance::{BinanceConfig, BinanceRest, Filters, SymbolSpec},
    clordid::ClOrdId,
    http::tls_config,
    manager::quantize,
    sign::Credentials,
};
use lyra_shm::{
    alloc_count::CountingAlloc,
    clock::LiveClock,
    msg::{InstrumentIdx, OrderIntent, Px, Qty, Side},
};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

#[test]
fn building_a_signed_order_allocates_nothing_after_warm_up() {
    let cfg = BinanceConfig {
        rest_url: "https://127.0.0.1:9".into(),
        recv_window_ms: 5000,
        timeout: Duration::from_secs(1),
    };
    let mut rest = BinanceRest::new(
        &cfg,
        tls_config(None).unwrap(),
        Credentials::new("KEY", b"SECRET"),
        Arc::new(LiveClock),
    )
    .unwrap();
    let spec = SymbolSpec {
        instrument: InstrumentIdx(0),
        symbol: "BTCUSDT".into(),
        base_asset: "BTC".into(),
        quote_asset: "USDT".into(),
        px_scale: 2,
        qty_scale: 5,
        filters: Filters {
            tick_size: "0.01".parse().unwrap(),
            step_size: "0.00001".parse().unwrap(),
            min_notional: "5".parse().unwrap(),
            ..Default::default()
        },
        trading: true,
    };
    let mut it = OrderIntent {
        px: Px(6_000_001),
        qty: Qty(12_345),
        side: Side::Buy,
        ..Default::default()
    };
    let mut total = 0usize;
    for warm in [true, false] {
        let before = ALLOC.allocations();
        for seq in 1..=10_000u64 {
            it.intent_seq = seq;
            let (px, qty) = quantize(&spec, &it).unwrap();
            let id = ClOrdId::new("bench1", seq).unwrap();
            total += rest
                .prepare_order(&spec, &it, px, qty, &id, false, 1_700_000_000_000 + seq)
                .len();
        }
        if !warm {
            assert_eq!(ALLOC.allocations() - before, 0, "allocations after warm-up");
        }
    }
    assert!(total > 0);
}
