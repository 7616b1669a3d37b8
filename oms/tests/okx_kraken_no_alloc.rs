//! OKX and Kraken: intent -> signed request bytes, and reading a successful place answer,
//! allocate nothing after warm-up. One test: the allocation count is per process.

use std::{sync::Arc, time::Duration};

use lyra_oms::{
    binance::{Filters, SymbolSpec},
    clordid::ClOrdId,
    http::tls_config,
    kraken::{
        response::{AddOrderResult, Reply},
        KrakenConfig, KrakenCredentials, KrakenRest,
    },
    okx::{response::AckReply, OkxConfig, OkxCredentials, OkxRest},
};
use lyra_shm::{
    alloc_count::CountingAlloc,
    clock::LiveClock,
    msg::{InstrumentIdx, OrdType, OrderIntent, Side, Tif},
};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

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

#[test]
fn okx_and_kraken_orders_allocate_nothing_after_warm_up() {
    let tls = tls_config(None).unwrap();
    let mut okx = OkxRest::new(
        &OkxConfig {
            rest_url: "https://127.0.0.1:9".into(),
            timeout: Duration::from_secs(1),
            simulated_trading: false,
        },
        tls.clone(),
        OkxCredentials::new("KEY", "SECRET", "PASS"),
        Arc::new(LiveClock),
    )
    .unwrap();
    let mut kraken = KrakenRest::new(
        &KrakenConfig {
            rest_url: "https://127.0.0.1:9".into(),
            timeout: Duration::from_secs(1),
        },
        tls,
        KrakenCredentials::new("KEY", "U0VDUkVUU0VDUkVU").unwrap(),
        Arc::new(LiveClock),
    )
    .unwrap();
    let (okx_spec, kraken_spec) = (spec("BTC-USDT"), spec("BTC/USDT"));
    let okx_ack = br#"{"code":"0","data":[{"clOrdId":"4bench10000000001","ordId":"312269865356374016","sCode":"0","sMsg":"Order placed","tag":"","ts":"1695190491421"}],"inTime":"1695190491421339","msg":"","outTime":"1695190491423240"}"#;
    let kraken_ack = br#"{"error":[],"result":{"descr":{"order":"buy 0.00123 BTC/USDT @ limit 60000.01"},"txid":["OU22CG-KLAF2-FWUDD7"]}}"#;
    let kinds = [
        (OrdType::Limit, Tif::Gtc),
        (OrdType::Limit, Tif::Ioc),
        (OrdType::LimitMaker, Tif::Gtc),
        (OrdType::Market, Tif::Ioc),
    ];
    let mut total = 0usize;
    for warm in [true, false] {
        let before = ALLOC.allocations();
        for seq in 1..=2_000u64 {
            let (ord_type, tif) = kinds[seq as usize % kinds.len()];
            let it = OrderIntent {
                intent_seq: seq,
                side: if seq % 2 == 0 { Side::Buy } else { Side::Sell },
                ord_type,
                tif,
                ..Default::default()
            };
            let id = ClOrdId::new("bench1", seq).unwrap();
            total += okx
                .prepare_order(&okx_spec, &it, 6_000_001, 123, &id, 1_700_000_000_000 + seq)
                .len();
            total += kraken
                .prepare_order(&kraken_spec, &it, 6_000_001, 123, &id)
                .unwrap()
                .len();
            let a: AckReply<'_> = serde_json::from_slice(okx_ack).unwrap();
            total += a.data.0.map_or(0, |d| d.ord_id.len());
            let k: Reply<'_, AddOrderResult<'_>> = serde_json::from_slice(kraken_ack).unwrap();
            total += k.result.and_then(|r| r.txid.0).map_or(0, str::len);
        }
        if !warm {
            assert_eq!(ALLOC.allocations() - before, 0, "allocations after warm-up");
        }
    }
    assert!(total > 0);
}
