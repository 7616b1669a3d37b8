//! The REST faults of `lyra sim` in the OKX and Kraken dialects, observed from a raw HTTPS
//! client, each in the venue's own error shape: accept-then-drop-response, 5xx and timeout with
//! the order placed or not (OKX HTTP 503 `50001` / `50004`; Kraken HTTP 503
//! `EService:Unavailable` / `EGeneral:Internal error`), rate limit (OKX 429 `50011`, Kraken
//! `EAPI:Rate limit exceeded`), clock skew, maintenance — scripted with `inject` and once from a
//! fault file, as `sim_faults.rs` does for Binance.

#[allow(unused_imports)]
use lyra_tools::sim;
mod sim_support;

use std::time::Duration;

use serde_json::Value;
use sim::{
    config::{fmt8, Dialect, SimConfig, VenueCfg},
    faults::{FaultFile, FaultKind},
    kraken::rest::api_sign,
    Credentials, Sim, SimHandle,
};
use sim_support::{now_ms, Http, Resp};

fn sim_of(name: &str, dialect: Dialect, faults: Option<FaultFile>) -> SimHandle {
    let cfg = SimConfig {
        seed: 41,
        step_ms: 0,
        oracle_frames: false,
        venues: vec![VenueCfg {
            name: name.into(),
            dialect,
            ..VenueCfg::default()
        }],
        ..SimConfig::default()
    };
    Sim::start(cfg, faults).expect("start")
}

fn dec(v: &Value) -> i64 {
    lyra_shm::decimal::parse_mantissa(v.as_str().expect("decimal").as_bytes(), 8).expect("decimal")
}

// ---- OKX ----

/// A resting (non-crossing) OKX buy at the best bid; `Err` if the connection dropped.
fn okx_order(http: &mut Http, c: &Credentials, id: &str) -> std::io::Result<Resp> {
    let book = http.get("/api/v5/market/books?instId=BTC-USDT&sz=1").json;
    let px = dec(&book["data"][0]["bids"][0][0]);
    let body = format!(
        r#"{{"instId":"BTC-USDT","tdMode":"cash","clOrdId":"{id}","side":"buy","ordType":"limit","px":"{}","sz":"0.001"}}"#,
        fmt8(px)
    );
    let ts = sim::okx::sign::iso_ms(now_ms());
    let sig = sim::okx::sign::sign(&c.secret, &ts, "POST", "/api/v5/trade/order", &body);
    let h = [
        ("OK-ACCESS-KEY".to_string(), c.api_key.clone()),
        ("OK-ACCESS-SIGN".to_string(), sig),
        ("OK-ACCESS-TIMESTAMP".to_string(), ts),
        ("OK-ACCESS-PASSPHRASE".to_string(), c.passphrase.clone()),
    ];
    http.request_with("POST", "/api/v5/trade/order", &h, &body)
}

fn okx_state(sim: &SimHandle, c: &Credentials, id: &str) -> Value {
    Http::new(sim)
        .okx(
            "GET",
            &format!("/api/v5/trade/order?instId=BTC-USDT&clOrdId={id}"),
            c,
            "",
        )
        .json
}

#[test]
fn okx_outcome_unknown_faults() {
    let sim = sim_of("okx", Dialect::Okx, None);
    let c = sim.credentials()[0].clone();
    let mut http = Http::new(&sim);
    sim.inject("okx", FaultKind::RestDropResponse, 1, 0, 0)
        .expect("inject");
    assert!(
        okx_order(&mut http, &c, "drop1").is_err(),
        "accepted, then the connection drops before the answer"
    );
    assert_eq!(okx_state(&sim, &c, "drop1")["data"][0]["state"], "live");
    let mut http = Http::new(&sim);
    for (k, id, code, placed) in [
        (FaultKind::Rest5xxPlaced, "p5", "50001", true),
        (FaultKind::Rest5xxNotPlaced, "n5", "50001", false),
        (FaultKind::Rest1007Placed, "p7", "50004", true),
        (FaultKind::Rest1007NotPlaced, "n7", "50004", false),
    ] {
        sim.inject("okx", k, 1, 0, 0).expect("inject");
        let r = okx_order(&mut http, &c, id).expect("answer");
        assert_eq!(
            (r.status, r.json["code"].as_str()),
            (503, Some(code)),
            "{k:?}"
        );
        let q = okx_state(&sim, &c, id);
        if placed {
            assert_eq!(q["data"][0]["state"], "live", "{k:?}: the order exists");
        } else {
            assert_eq!(q["code"], "51603", "{k:?}: the order does not exist");
        }
    }
}

#[test]
fn okx_rate_limit_skew_and_maintenance() {
    let sim = sim_of("okx", Dialect::Okx, None);
    let c = sim.credentials()[0].clone();
    let mut http = Http::new(&sim);
    sim.inject("okx", FaultKind::RateLimit, 2, 0, 0)
        .expect("inject");
    for _ in 0..2 {
        let r = http.get("/api/v5/public/time");
        assert_eq!((r.status, r.json["code"].as_str()), (429, Some("50011")));
        assert!(r.header("retry-after").is_some());
    }
    assert_eq!(
        http.get("/api/v5/public/time").status,
        200,
        "two refusals armed, two seen"
    );

    sim.inject("okx", FaultKind::ClockSkew, 1, 60_000, 45_000)
        .expect("inject");
    let t: u64 = http.get("/api/v5/public/time").json["data"][0]["ts"]
        .as_str()
        .expect("ts")
        .parse()
        .expect("ms");
    assert!(t >= now_ms() + 40_000, "server clock 45 s ahead");
    let r = http.okx("GET", "/api/v5/account/balance", &c, "");
    assert_eq!(
        (r.status, r.json["code"].as_str()),
        (401, Some("50102")),
        "a request stamped with the client's clock is now expired"
    );

    let sim = sim_of("okx", Dialect::Okx, None);
    let c = sim.credentials()[0].clone();
    let mut http = Http::new(&sim);
    sim.inject("okx", FaultKind::Maintenance, 1, 60_000, 0)
        .expect("inject");
    let info = http.get("/api/v5/public/instruments?instType=SPOT").json;
    assert_eq!(info["data"][0]["state"], "suspend");
    let r = okx_order(&mut http, &c, "m1").expect("answer").json;
    assert_eq!(
        (r["code"].as_str(), r["data"][0]["sCode"].as_str()),
        (Some("1"), Some("51001")),
        "{r}"
    );
}

// ---- Kraken ----

struct Kr {
    http: Http,
    c: Credentials,
    nonce: u64,
}

impl Kr {
    fn new(sim: &SimHandle) -> Self {
        Self {
            http: Http::new(sim),
            c: sim.credentials()[0].clone(),
            nonce: now_ms() * 1000,
        }
    }

    /// A signed private call; `Err` if the connection dropped.
    fn call(&mut self, method: &str, params: &str) -> std::io::Result<Resp> {
        self.nonce += 1;
        let body = format!("nonce={}&{params}", self.nonce);
        let path = format!("/0/private/{method}");
        let sig = api_sign(&self.c.secret, &path, &self.nonce.to_string(), &body).expect("sign");
        let h = [
            ("API-Key".to_string(), self.c.api_key.clone()),
            ("API-Sign".to_string(), sig),
        ];
        self.http.request_with("POST", &path, &h, &body)
    }

    /// A resting buy at the best bid.
    fn order(&mut self, id: &str) -> std::io::Result<Resp> {
        let d = self.http.get("/0/public/Depth?pair=BTC/USDT&count=1").json;
        let px = dec(&d["result"]["BTC/USDT"]["bids"][0][0]);
        self.call(
            "AddOrder",
            &format!(
                "pair=BTC/USDT&type=buy&ordertype=limit&price={}&volume=0.001&cl_ord_id={id}",
                fmt8(px)
            ),
        )
    }

    /// Whether an open order with client id `id` exists.
    fn open(&mut self, id: &str) -> bool {
        let r = self
            .call("OpenOrders", &format!("cl_ord_id={id}"))
            .expect("answer")
            .json;
        r["result"]["open"]
            .as_object()
            .is_some_and(|m| m.len() == 1)
    }
}

#[test]
fn kraken_outcome_unknown_faults() {
    let sim = sim_of("kraken", Dialect::Kraken, None);
    let mut k = Kr::new(&sim);
    sim.inject("kraken", FaultKind::RestDropResponse, 1, 0, 0)
        .expect("inject");
    assert!(k.order("drop1").is_err(), "accepted, then dropped");
    k.http = Http::new(&sim);
    assert!(k.open("drop1"), "the dropped order was placed");
    for (kind, id, status, error, placed) in [
        (
            FaultKind::Rest5xxPlaced,
            "p5",
            503,
            "EService:Unavailable",
            true,
        ),
        (
            FaultKind::Rest5xxNotPlaced,
            "n5",
            503,
            "EService:Unavailable",
            false,
        ),
        (
            FaultKind::Rest1007Placed,
            "p7",
            200,
            "EGeneral:Internal error",
            true,
        ),
        (
            FaultKind::Rest1007NotPlaced,
            "n7",
            200,
            "EGeneral:Internal error",
            false,
        ),
    ] {
        sim.inject("kraken", kind, 1, 0, 0).expect("inject");
        let r = k.order(id).expect("answer");
        assert_eq!(
            (r.status, r.json["error"][0].as_str()),
            (status, Some(error)),
            "{kind:?}"
        );
        assert!(r.json.get("result").is_none());
        assert_eq!(k.open(id), placed, "{kind:?}");
    }
}

#[test]
fn kraken_rate_limit_skew_and_maintenance() {
    let sim = sim_of("kraken", Dialect::Kraken, None);
    let mut k = Kr::new(&sim);
    sim.inject("kraken", FaultKind::RateLimit, 2, 0, 0)
        .expect("inject");
    for _ in 0..2 {
        let r = k.call("Balance", "x=1").expect("answer");
        assert_eq!(r.json["error"][0], "EAPI:Rate limit exceeded");
    }
    assert_eq!(
        k.call("Balance", "x=1").expect("answer").json["error"],
        serde_json::json!([])
    );
    sim.inject("kraken", FaultKind::ClockSkew, 1, 60_000, -20_000)
        .expect("inject");
    let t = k.http.get("/0/public/Time").json["result"]["unixtime"]
        .as_u64()
        .expect("unixtime");
    assert!(t * 1000 <= now_ms() - 18_000, "server clock 20 s behind");
    sim.inject("kraken", FaultKind::Maintenance, 1, 60_000, 0)
        .expect("inject");
    let r = k.order("m1").expect("answer").json;
    assert_eq!(r["error"][0], "EService:Market in cancel_only mode");
    assert!(!k.open("m1"));
}

#[test]
fn scripted_fault_file_reaches_okx_and_kraken() {
    for (name, dialect) in [("okx", Dialect::Okx), ("kraken", Dialect::Kraken)] {
        let script: FaultFile = toml::from_str(&format!(
            r#"
            [[actions]]
            at_ms = 0
            venue = "{name}"
            fault = "rate_limit"
            duration_ms = 60000
            "#
        ))
        .expect("fault file");
        let sim = sim_of(name, dialect, Some(script));
        let mut http = Http::new(&sim);
        let path = if dialect == Dialect::Okx {
            "/api/v5/public/time"
        } else {
            "/0/public/Time"
        };
        let started = lyra_shm::clock::mono_now_ns();
        loop {
            let r = http.get(path);
            let limited = if dialect == Dialect::Okx {
                r.status == 429 && r.json["code"] == "50011"
            } else {
                r.json["error"][0] == "EAPI:Rate limit exceeded"
            };
            if limited {
                break;
            }
            assert!(
                lyra_shm::clock::mono_now_ns() - started < 10_000_000_000,
                "{name}: scripted fault never fired"
            );
            std::thread::park_timeout(Duration::from_millis(20));
        }
    }
}
