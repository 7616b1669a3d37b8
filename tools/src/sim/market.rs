//! The market generator: one latent mid per instrument (a seeded random walk with volatility
//! bursts) and, per venue, a generated book around that venue's view of the mid — its own spread,
//! depth, publication latency and occasional dislocations (a jump off the mid, or a lag during
//! which it stops updating), so that fee-inclusive cross-venue arbitrage appears now and then.
//! Everything is driven by [`Rng`] from the seed: same seed, same steps.

use std::collections::VecDeque;

use super::{
    config::{Instrument, VenueCfg},
    matching::{Effects, Matcher, PublicTrade},
};

/// SplitMix64: tiny, fast, good enough statistically for a market simulation, and ours, so the
/// sequence cannot change under a dependency upgrade.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed` (and a stream number, so venues draw independent sequences).
    pub fn new(seed: u64, stream: u64) -> Self {
        let mut r = Rng(seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        r.next_u64();
        r
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Approximately standard normal (Irwin–Hall with 12 terms: no libm, so bit-identical
    /// everywhere).
    pub fn normal(&mut self) -> f64 {
        (0..12).map(|_| self.unit()).sum::<f64>() - 6.0
    }

    /// Uniform integer in [0, n).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
}

/// The latent (true) mids, shared by all venues.
#[derive(Debug)]
pub struct Latent {
    rng: Rng,
    mids: Vec<f64>,
    vol_bps: Vec<f64>,
    burst: Vec<bool>,
    /// Recent mids per instrument, newest at the back (publication latency reads into it).
    history: Vec<VecDeque<f64>>,
    keep: usize,
}

impl Latent {
    /// Latent mids starting at each instrument's configured mid.
    pub fn new(seed: u64, instruments: &[Instrument], keep: usize) -> Self {
        let mids: Vec<f64> = instruments
            .iter()
            .map(|i| i.mid as f64 / super::config::ONE as f64)
            .collect();
        Self {
            rng: Rng::new(seed, 0),
            history: mids.iter().map(|&m| VecDeque::from([m])).collect(),
            vol_bps: instruments.iter().map(|i| i.vol_bps).collect(),
            burst: vec![false; mids.len()],
            mids,
            keep: keep.max(1),
        }
    }

    /// Advances every mid by one step.
    pub fn step(&mut self) {
        for i in 0..self.mids.len() {
            // Volatility bursts: rare to enter, a few hundred steps long on average.
            let flip = self.rng.unit();
            if self.burst[i] {
                self.burst[i] = flip >= 0.005;
            } else {
                self.burst[i] = flip < 0.001;
            }
            let sigma = self.vol_bps[i] / 1e4 * if self.burst[i] { 5.0 } else { 1.0 };
            self.mids[i] *= 1.0 + sigma * self.rng.normal();
            let h = &mut self.history[i];
            h.push_back(self.mids[i]);
            if h.len() > self.keep {
                h.pop_front();
            }
        }
    }

    /// The mid of instrument `i` as it was `lag` steps ago.
    pub fn mid(&self, i: usize, lag: usize) -> f64 {
        let h = &self.history[i];
        h[h.len().saturating_sub(1 + lag)]
    }
}

/// A venue's generator state for one instrument.
#[derive(Debug, Default, Clone)]
struct Quote {
    offset_bps: f64,
    lag_left: u32,
}

/// The generator of one venue.
#[derive(Debug)]
pub struct VenueGen {
    rng: Rng,
    cfg: VenueCfg,
    quotes: Vec<Quote>,
}

impl VenueGen {
    /// A generator for venue number `index`.
    pub fn new(seed: u64, index: usize, cfg: VenueCfg, n_instruments: usize) -> Self {
        Self {
            rng: Rng::new(seed, 1 + index as u64),
            cfg,
            quotes: vec![Quote::default(); n_instruments],
        }
    }

    /// Moves the generated book of every instrument one step and fills resting client orders the
    /// market traded through. Changed levels and trades land in `fx`.
    pub fn step(&mut self, latent: &Latent, m: &mut Matcher, now_ms: u64, fx: &mut Effects) {
        for inst in 0..m.instruments.len() {
            self.step_one(latent, m, inst, now_ms, fx);
        }
    }

    fn step_one(
        &mut self,
        latent: &Latent,
        m: &mut Matcher,
        inst: usize,
        now_ms: u64,
        fx: &mut Effects,
    ) {
        let cfg = &self.cfg;
        let q = &mut self.quotes[inst];
        let rng = &mut self.rng;
        // Draw the same number of values whatever happens, so one venue's lag does not shift
        // the rest of its random sequence.
        let (u_lag, u_jump, u_sign, u_trade) = (rng.unit(), rng.unit(), rng.unit(), rng.unit());
        if q.lag_left > 0 {
            q.lag_left -= 1;
            return;
        }
        if u_lag < cfg.lag_prob {
            q.lag_left = cfg.lag_steps;
        }
        if u_jump < cfg.jump_prob {
            q.offset_bps += if u_sign < 0.5 {
                -cfg.jump_bps
            } else {
                cfg.jump_bps
            };
        }
        q.offset_bps *= 0.9;
        let ins = &m.instruments[inst];
        let (tick, step, level_qty) = (ins.tick, ins.step, ins.level_qty);
        let mid = latent.mid(inst, cfg.latency_steps) * (1.0 + q.offset_bps / 1e4);
        let one = super::config::ONE as f64;
        let half = (mid * cfg.spread_bps / 2e4 * one).max(tick as f64 / 2.0);
        let mid_m = mid * one;
        let best_bid = ((mid_m - half) / tick as f64).floor() as i64 * tick;
        let mut best_ask = ((mid_m + half) / tick as f64).ceil() as i64 * tick;
        if best_ask <= best_bid {
            best_ask = best_bid + tick;
        }
        let levels = cfg.levels.max(1) as i64;
        let book = &mut m.books[inst];
        // Pull generated levels that the new quote has moved through, and those beyond the window.
        let stale_bids: Vec<i64> = book
            .gen_bids
            .keys()
            .copied()
            .filter(|&p| p > best_bid || p <= best_bid - levels * tick)
            .collect();
        for p in stale_bids {
            book.gen_bids.remove(&p);
            fx.levels.insert((inst, true, p));
        }
        let stale_asks: Vec<i64> = book
            .gen_asks
            .keys()
            .copied()
            .filter(|&p| p < best_ask || p >= best_ask + levels * tick)
            .collect();
        for p in stale_asks {
            book.gen_asks.remove(&p);
            fx.levels.insert((inst, false, p));
        }
        let size = |rng: &mut Rng| {
            let f = 0.2 + 1.6 * rng.unit();
            (((level_qty as f64 * f) as i64 / step).max(1)) * step
        };
        for i in 0..levels {
            for (bid, px) in [(true, best_bid - i * tick), (false, best_ask + i * tick)] {
                let side = if bid {
                    &mut book.gen_bids
                } else {
                    &mut book.gen_asks
                };
                if let std::collections::btree_map::Entry::Vacant(v) = side.entry(px) {
                    v.insert(size(rng));
                    fx.levels.insert((inst, bid, px));
                }
            }
        }
        // Churn: other participants adding and cancelling inside the window.
        for _ in 0..1 + rng.below(3) {
            let bid = rng.unit() < 0.5;
            let i = rng.below(levels as u64) as i64;
            let px = if bid {
                best_bid - i * tick
            } else {
                best_ask + i * tick
            };
            let s = size(rng);
            let side = if bid {
                &mut book.gen_bids
            } else {
                &mut book.gen_asks
            };
            side.insert(px, s);
            fx.levels.insert((inst, bid, px));
        }
        // A public trade by others at the touch: it consumes part of the best generated level.
        if u_trade < cfg.trade_prob {
            let buy = rng.unit() < 0.5;
            let side = if buy {
                &mut book.gen_asks
            } else {
                &mut book.gen_bids
            };
            let best = if buy {
                side.iter().next().map(|(&p, &q)| (p, q))
            } else {
                side.iter().next_back().map(|(&p, &q)| (p, q))
            };
            if let Some((px, lq)) = best {
                let t = ((lq / step / 4).max(1) * step).min(lq);
                if t == lq {
                    side.remove(&px);
                } else {
                    side.insert(px, lq - t);
                }
                fx.levels.insert((inst, !buy, px));
                let id = m.next_trade_id[inst];
                m.next_trade_id[inst] += 1;
                fx.trades.push(PublicTrade {
                    inst,
                    id,
                    px,
                    qty: t,
                    buyer_maker: !buy,
                    time_ms: now_ms,
                });
            }
        }
        m.passive_fills(inst, now_ms, fx);
    }
}
