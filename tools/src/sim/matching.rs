//! The matching engine of one venue: per instrument a book of generated liquidity plus resting
//! client orders (price-time priority; at one price the generated quantity is ahead of client
//! orders, which arrived later), taker matching with partial fills, passive fills when the
//! generated market trades through a resting order, maker/taker fees, balances that move with
//! fills, insufficient-balance rejects and self-trade prevention. Dialect-neutral: it returns
//! [`Effects`] that the venue's dialect turns into wire frames.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use super::config::{mul, Instrument};

/// Order side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Buy.
    Buy,
    /// Sell.
    Sell,
}

/// Order type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrdType {
    /// Limit.
    Limit,
    /// Post-only limit.
    LimitMaker,
    /// Market.
    Market,
}

/// Time in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tif {
    /// Good till cancelled.
    Gtc,
    /// Immediate or cancel.
    Ioc,
    /// Fill or kill.
    Fok,
}

/// Self-trade prevention mode (the taker's mode rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stp {
    /// Self trades allowed.
    None,
    /// The taker expires (Binance default).
    ExpireTaker,
    /// The resting maker expires.
    ExpireMaker,
    /// Both expire.
    ExpireBoth,
}

/// Order status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Resting, nothing filled.
    New,
    /// Resting, partly filled.
    PartiallyFilled,
    /// Done.
    Filled,
    /// Cancelled by the client.
    Canceled,
    /// IOC/FOK/market remainder expired.
    Expired,
    /// Expired by self-trade prevention.
    ExpiredInMatch,
}

impl Status {
    /// Whether the order can still trade.
    pub fn is_open(self) -> bool {
        matches!(self, Status::New | Status::PartiallyFilled)
    }
}

/// One fill of a client order.
#[derive(Debug, Clone)]
pub struct Fill {
    /// Price.
    pub px: i64,
    /// Quantity.
    pub qty: i64,
    /// Commission.
    pub commission: i64,
    /// Commission asset.
    pub commission_asset: String,
    /// Venue trade id.
    pub trade_id: u64,
    /// Whether this side was the maker.
    pub maker: bool,
    /// Time, ms.
    pub time_ms: u64,
}

/// A client order.
#[derive(Debug, Clone)]
pub struct Order {
    /// Venue order id.
    pub id: u64,
    /// Client order id.
    pub client_id: String,
    /// Owner.
    pub account: usize,
    /// Instrument index.
    pub inst: usize,
    /// Side.
    pub side: Side,
    /// Type.
    pub ord_type: OrdType,
    /// Time in force.
    pub tif: Tif,
    /// Limit price (0 for market).
    pub px: i64,
    /// Original quantity.
    pub qty: i64,
    /// Executed quantity.
    pub executed: i64,
    /// Cumulative quote.
    pub cum_quote: i64,
    /// Status.
    pub status: Status,
    /// STP mode.
    pub stp: Stp,
    /// Created, ms.
    pub time_ms: u64,
    /// Last update, ms.
    pub update_ms: u64,
    /// Funds still locked for this order (quote for buys, base for sells).
    pub locked: i64,
    /// Fills in order.
    pub fills: Vec<Fill>,
}

impl Order {
    /// Quantity still open.
    pub fn remaining(&self) -> i64 {
        self.qty - self.executed
    }
}

/// What happened to an order, for execution reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecType {
    /// Accepted.
    New,
    /// Filled (partly).
    Trade,
    /// Cancelled.
    Canceled,
    /// Expired.
    Expired,
    /// Expired by STP.
    TradePrevention,
}

/// One execution report's worth.
#[derive(Debug, Clone)]
pub struct Exec {
    /// Kind.
    pub exec: ExecType,
    /// The order after this execution.
    pub order: Order,
    /// The fill, for `Trade`.
    pub fill: Option<Fill>,
    /// For `Canceled`: the cancel request's own client id.
    pub cancel_id: Option<String>,
}

/// A public trade (generated flow or a client fill).
#[derive(Debug, Clone)]
pub struct PublicTrade {
    /// Instrument.
    pub inst: usize,
    /// Trade id.
    pub id: u64,
    /// Price.
    pub px: i64,
    /// Quantity.
    pub qty: i64,
    /// Buyer was the maker.
    pub buyer_maker: bool,
    /// Time, ms.
    pub time_ms: u64,
}

/// Everything one action changed, in order.
#[derive(Debug, Default)]
pub struct Effects {
    /// Execution reports.
    pub execs: Vec<Exec>,
    /// (account, asset) pairs whose balance moved.
    pub touched: BTreeSet<(usize, String)>,
    /// Public trades.
    pub trades: Vec<PublicTrade>,
    /// (instrument, side, price) levels whose published quantity changed.
    pub levels: BTreeSet<(usize, bool, i64)>,
}

/// A balance.
#[derive(Debug, Clone, Copy, Default)]
pub struct Balance {
    /// Free.
    pub free: i64,
    /// Locked by open orders.
    pub locked: i64,
}

/// A test account on one venue.
#[derive(Debug, Clone)]
pub struct Account {
    /// API key.
    pub api_key: String,
    /// HMAC secret.
    pub secret: String,
    /// OKX passphrase.
    pub passphrase: String,
    /// Balances by asset.
    pub balances: BTreeMap<String, Balance>,
    /// The key may withdraw funds (see `AccountCfg::withdraw`).
    pub withdraw: bool,
}

/// One instrument's book: generated levels + resting client orders.
#[derive(Debug, Default)]
pub struct Book {
    /// Generated bids: price -> qty.
    pub gen_bids: BTreeMap<i64, i64>,
    /// Generated asks.
    pub gen_asks: BTreeMap<i64, i64>,
    /// Resting client bids: price -> FIFO of order ids.
    pub client_bids: BTreeMap<i64, VecDeque<u64>>,
    /// Resting client asks.
    pub client_asks: BTreeMap<i64, VecDeque<u64>>,
}

/// Why an order was refused by the matching engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not enough free balance.
    InsufficientBalance,
    /// LIMIT_MAKER would take.
    WouldTake,
    /// Client order id already used by an open order.
    Duplicate,
}

/// The matching state of one venue.
#[derive(Debug)]
pub struct Matcher {
    /// Instruments (shared definitions).
    pub instruments: Vec<Instrument>,
    /// Books by instrument.
    pub books: Vec<Book>,
    /// Accounts.
    pub accounts: Vec<Account>,
    /// Every order ever placed, by id.
    pub orders: HashMap<u64, Order>,
    /// Open orders by (account, client id).
    pub open_by_client: HashMap<(usize, String), u64>,
    /// Latest order by (account, client id), open or not (queries by client id).
    pub last_by_client: HashMap<(usize, String), u64>,
    /// Next venue order id.
    pub next_order_id: u64,
    /// Next trade id per instrument.
    pub next_trade_id: Vec<u64>,
    /// Maker fee, bps.
    pub maker_fee_bps: i64,
    /// Taker fee, bps.
    pub taker_fee_bps: i64,
}

/// Ceil of `a * b / ONE`.
fn mul_ceil(a: i64, b: i64) -> i64 {
    let p = a as i128 * b as i128;
    let one = super::config::ONE as i128;
    ((p + one - 1) / one) as i64
}

impl Matcher {
    /// An empty matcher.
    pub fn new(
        instruments: Vec<Instrument>,
        accounts: Vec<Account>,
        maker: i64,
        taker: i64,
    ) -> Self {
        let n = instruments.len();
        Self {
            instruments,
            books: (0..n).map(|_| Book::default()).collect(),
            accounts,
            orders: HashMap::new(),
            open_by_client: HashMap::new(),
            last_by_client: HashMap::new(),
            next_order_id: 1,
            next_trade_id: vec![1; n],
            maker_fee_bps: maker,
            taker_fee_bps: taker,
        }
    }

    /// Published quantity at a level: generated plus resting client quantity.
    pub fn level_qty(&self, inst: usize, bid: bool, px: i64) -> i64 {
        let b = &self.books[inst];
        let (gen, cl) = if bid {
            (&b.gen_bids, &b.client_bids)
        } else {
            (&b.gen_asks, &b.client_asks)
        };
        let g = gen.get(&px).copied().unwrap_or(0);
        let c: i64 = cl
            .get(&px)
            .map(|q| q.iter().map(|id| self.orders[id].remaining()).sum())
            .unwrap_or(0);
        g + c
    }

    /// Best published bid and ask prices.
    pub fn top(&self, inst: usize) -> (Option<i64>, Option<i64>) {
        let b = &self.books[inst];
        let bid = [
            b.gen_bids.keys().next_back(),
            b.client_bids.keys().next_back(),
        ]
        .into_iter()
        .flatten()
        .max()
        .copied();
        let ask = [b.gen_asks.keys().next(), b.client_asks.keys().next()]
            .into_iter()
            .flatten()
            .min()
            .copied();
        (bid, ask)
    }

    /// The top `limit` published levels of one side, best first.
    pub fn depth(&self, inst: usize, bid: bool, limit: usize) -> Vec<(i64, i64)> {
        let mut out = Vec::new();
        self.depth_into(inst, bid, limit, &mut out);
        out
    }

    /// [`Matcher::depth`] into a reused vector (cleared first): the generated and client levels
    /// are merged in price order without a temporary set, since the OKX checksum and the Kraken
    /// window read the top of the book on every published update.
    pub fn depth_into(&self, inst: usize, bid: bool, limit: usize, out: &mut Vec<(i64, i64)>) {
        out.clear();
        let b = &self.books[inst];
        if bid {
            self.merge(
                b.gen_bids.iter().rev(),
                b.client_bids.iter().rev(),
                |a, c| a > c,
                limit,
                out,
            );
        } else {
            self.merge(
                b.gen_asks.iter(),
                b.client_asks.iter(),
                |a, c| a < c,
                limit,
                out,
            );
        }
    }

    /// Merges one side's generated levels and client levels (both best first; `better(a, b)`:
    /// price `a` comes before `b`) into `out`, summing a price present in both, as
    /// [`Matcher::level_qty`] does.
    fn merge<'a>(
        &self,
        gen: impl Iterator<Item = (&'a i64, &'a i64)>,
        client: impl Iterator<Item = (&'a i64, &'a VecDeque<u64>)>,
        better: impl Fn(i64, i64) -> bool,
        limit: usize,
        out: &mut Vec<(i64, i64)>,
    ) {
        let resting =
            |ids: &VecDeque<u64>| -> i64 { ids.iter().map(|id| self.orders[id].remaining()).sum() };
        let (mut gen, mut client) = (gen.peekable(), client.peekable());
        while out.len() < limit {
            let level = match (gen.peek(), client.peek()) {
                (None, None) => break,
                (Some(&(&g, &q)), None) => {
                    gen.next();
                    (g, q)
                }
                (None, Some(&(&c, ids))) => {
                    client.next();
                    (c, resting(ids))
                }
                (Some(&(&g, &q)), Some(&(&c, ids))) => {
                    if g == c {
                        let sum = q + resting(ids);
                        gen.next();
                        client.next();
                        (g, sum)
                    } else if better(g, c) {
                        gen.next();
                        (g, q)
                    } else {
                        client.next();
                        (c, resting(ids))
                    }
                }
            };
            out.push(level);
        }
    }

    fn bal(&mut self, acct: usize, asset: &str) -> &mut Balance {
        self.accounts[acct]
            .balances
            .entry(asset.to_string())
            .or_default()
    }

    fn fee(&self, amount: i64, maker: bool) -> i64 {
        let bps = if maker {
            self.maker_fee_bps
        } else {
            self.taker_fee_bps
        };
        (amount as i128 * bps as i128 / 10_000) as i64
    }

    /// Applies one fill to the client order `id` (balances, order state, effects).
    #[allow(clippy::too_many_arguments)] // one fill's facts; a struct would only be unpacked here
    fn fill_order(
        &mut self,
        id: u64,
        px: i64,
        qty: i64,
        maker: bool,
        trade_id: u64,
        now: u64,
        fx: &mut Effects,
    ) {
        let (acct, inst, side) = {
            let o = &self.orders[&id];
            (o.account, o.inst, o.side)
        };
        let base = self.instruments[inst].base.clone();
        let quote = self.instruments[inst].quote.clone();
        let cost = mul(px, qty);
        let (fee, fee_asset) = match side {
            Side::Buy => (self.fee(qty, maker), base.clone()),
            Side::Sell => (self.fee(cost, maker), quote.clone()),
        };
        match side {
            Side::Buy => {
                let q = self.bal(acct, &quote);
                q.locked -= cost;
                self.bal(acct, &base).free += qty - fee;
            }
            Side::Sell => {
                self.bal(acct, &base).locked -= qty;
                self.bal(acct, &quote).free += cost - fee;
            }
        }
        fx.touched.insert((acct, base));
        fx.touched.insert((acct, quote));
        let fill = Fill {
            px,
            qty,
            commission: fee,
            commission_asset: fee_asset,
            trade_id,
            maker,
            time_ms: now,
        };
        let o = self.orders.get_mut(&id).expect("order exists");
        o.locked -= if side == Side::Buy { cost } else { qty };
        o.executed += qty;
        o.cum_quote += cost;
        o.update_ms = now;
        o.status = if o.executed == o.qty {
            Status::Filled
        } else {
            Status::PartiallyFilled
        };
        o.fills.push(fill.clone());
        let snapshot = o.clone();
        if !snapshot.status.is_open() {
            self.finish(id);
        }
        fx.execs.push(Exec {
            exec: ExecType::Trade,
            order: self.orders[&id].clone(),
            fill: Some(fill),
            cancel_id: None,
        });
    }

    /// Releases what a finished order still locks and forgets it as open.
    fn finish(&mut self, id: u64) {
        let o = self.orders.get_mut(&id).expect("order exists");
        let left = std::mem::take(&mut o.locked);
        let (acct, inst, side, client) = (o.account, o.inst, o.side, o.client_id.clone());
        let asset = match side {
            Side::Buy => self.instruments[inst].quote.clone(),
            Side::Sell => self.instruments[inst].base.clone(),
        };
        let b = self.bal(acct, &asset);
        b.locked -= left;
        b.free += left;
        self.open_by_client.remove(&(acct, client));
    }

    /// Removes a resting order from its price queue.
    fn unrest(&mut self, id: u64) {
        let o = &self.orders[&id];
        let (inst, side, px) = (o.inst, o.side, o.px);
        let book = &mut self.books[inst];
        let q = if side == Side::Buy {
            &mut book.client_bids
        } else {
            &mut book.client_asks
        };
        if let Some(fifo) = q.get_mut(&px) {
            fifo.retain(|&x| x != id);
            if fifo.is_empty() {
                q.remove(&px);
            }
        }
    }

    /// Cost of taking `qty` on the opposite side up to `limit` (None = market), from the
    /// published book: (fillable qty, quote cost).
    fn sweep(&self, inst: usize, side: Side, qty: i64, limit: Option<i64>) -> (i64, i64) {
        let levels = self.depth(inst, side == Side::Sell, usize::MAX);
        let mut left = qty;
        let mut cost = 0;
        for (px, q) in levels {
            let ok = match (side, limit) {
                (_, None) => true,
                (Side::Buy, Some(l)) => px <= l,
                (Side::Sell, Some(l)) => px >= l,
            };
            if !ok || left == 0 {
                break;
            }
            let t = q.min(left);
            left -= t;
            cost += mul(px, t);
        }
        (qty - left, cost)
    }

    /// Places an order and matches it; on success returns the order id.
    ///
    /// # Errors
    /// A [`Refusal`] when the venue refuses it (nothing changed).
    #[allow(clippy::too_many_arguments)]
    pub fn place(
        &mut self,
        account: usize,
        inst: usize,
        client_id: String,
        side: Side,
        ord_type: OrdType,
        tif: Tif,
        px: i64,
        qty: i64,
        stp: Stp,
        now: u64,
        fx: &mut Effects,
    ) -> Result<u64, Refusal> {
        if self
            .open_by_client
            .contains_key(&(account, client_id.clone()))
        {
            return Err(Refusal::Duplicate);
        }
        let limit = (ord_type != OrdType::Market).then_some(px);
        let (top_bid, top_ask) = self.top(inst);
        let crosses = match side {
            Side::Buy => top_ask.is_some_and(|a| a <= px),
            Side::Sell => top_bid.is_some_and(|b| b >= px),
        };
        if ord_type == OrdType::LimitMaker && crosses {
            return Err(Refusal::WouldTake);
        }
        // Funds to lock: limit orders lock the full limit value; market buys the sweep cost.
        let (asset, need) = match (side, ord_type) {
            (Side::Buy, OrdType::Market) => {
                let (_, cost) = self.sweep(inst, side, qty, None);
                (self.instruments[inst].quote.clone(), cost)
            }
            (Side::Buy, _) => (self.instruments[inst].quote.clone(), mul_ceil(px, qty)),
            (Side::Sell, _) => (self.instruments[inst].base.clone(), qty),
        };
        if self.bal(account, &asset).free < need {
            return Err(Refusal::InsufficientBalance);
        }
        let id = self.next_order_id;
        self.next_order_id += 1;
        {
            let b = self.bal(account, &asset);
            b.free -= need;
            b.locked += need;
        }
        fx.touched.insert((account, asset));
        let order = Order {
            id,
            client_id: client_id.clone(),
            account,
            inst,
            side,
            ord_type,
            tif,
            px: limit.unwrap_or(0),
            qty,
            executed: 0,
            cum_quote: 0,
            status: Status::New,
            stp,
            time_ms: now,
            update_ms: now,
            locked: need,
            fills: Vec::new(),
        };
        self.orders.insert(id, order);
        self.open_by_client.insert((account, client_id.clone()), id);
        self.last_by_client.insert((account, client_id), id);
        fx.execs.push(Exec {
            exec: ExecType::New,
            order: self.orders[&id].clone(),
            fill: None,
            cancel_id: None,
        });
        if tif == Tif::Fok && self.sweep(inst, side, qty, limit).0 < qty {
            self.expire(id, Status::Expired, now, fx);
            return Ok(id);
        }
        let prevented = self.take(id, limit, now, fx);
        let o = &self.orders[&id];
        if !o.status.is_open() {
            return Ok(id);
        }
        if prevented {
            self.expire(id, Status::ExpiredInMatch, now, fx);
        } else if ord_type == OrdType::Market || tif != Tif::Gtc {
            self.expire(id, Status::Expired, now, fx);
        } else {
            let book = &mut self.books[inst];
            let q = if side == Side::Buy {
                &mut book.client_bids
            } else {
                &mut book.client_asks
            };
            q.entry(px).or_default().push_back(id);
            fx.levels.insert((inst, side == Side::Buy, px));
        }
        Ok(id)
    }

    /// Ends an open order with `status` (expiry or STP), releasing its funds.
    fn expire(&mut self, id: u64, status: Status, now: u64, fx: &mut Effects) {
        let o = self.orders.get_mut(&id).expect("order exists");
        o.status = status;
        o.update_ms = now;
        self.finish(id);
        fx.execs.push(Exec {
            exec: if status == Status::ExpiredInMatch {
                ExecType::TradePrevention
            } else {
                ExecType::Expired
            },
            order: self.orders[&id].clone(),
            fill: None,
            cancel_id: None,
        });
    }

    /// Matches taker order `id` against the opposite side; returns true if STP stopped it.
    fn take(&mut self, id: u64, limit: Option<i64>, now: u64, fx: &mut Effects) -> bool {
        let (acct, inst, side, stp) = {
            let o = &self.orders[&id];
            (o.account, o.inst, o.side, o.stp)
        };
        loop {
            let left = self.orders[&id].remaining();
            if left == 0 {
                return false;
            }
            let book = &self.books[inst];
            let (gen_best, cl_best) = if side == Side::Buy {
                (
                    book.gen_asks.keys().next().copied(),
                    book.client_asks.keys().next().copied(),
                )
            } else {
                (
                    book.gen_bids.keys().next_back().copied(),
                    book.client_bids.keys().next_back().copied(),
                )
            };
            let best = match (side, gen_best, cl_best) {
                (_, None, None) => return false,
                (Side::Buy, a, b) => a.into_iter().chain(b).min(),
                (Side::Sell, a, b) => a.into_iter().chain(b).max(),
            }
            .expect("one side present");
            let ok = match (side, limit) {
                (_, None) => true,
                (Side::Buy, Some(l)) => best <= l,
                (Side::Sell, Some(l)) => best >= l,
            };
            if !ok {
                return false;
            }
            fx.levels.insert((inst, side == Side::Sell, best));
            // Generated quantity first (it was there before any client order at this price).
            let gen = if side == Side::Buy {
                &mut self.books[inst].gen_asks
            } else {
                &mut self.books[inst].gen_bids
            };
            if let Some(q) = gen.get_mut(&best) {
                let t = (*q).min(left);
                *q -= t;
                if *q == 0 {
                    gen.remove(&best);
                }
                let tid = self.next_trade_id[inst];
                self.next_trade_id[inst] += 1;
                self.fill_order(id, best, t, false, tid, now, fx);
                fx.trades.push(PublicTrade {
                    inst,
                    id: tid,
                    px: best,
                    qty: t,
                    buyer_maker: side == Side::Sell,
                    time_ms: now,
                });
                continue;
            }
            let maker_id = {
                let q = if side == Side::Buy {
                    &self.books[inst].client_asks
                } else {
                    &self.books[inst].client_bids
                };
                q.get(&best).and_then(|f| f.front().copied())
            };
            let Some(maker_id) = maker_id else {
                return false;
            };
            if self.orders[&maker_id].account == acct && stp != Stp::None {
                match stp {
                    Stp::ExpireTaker => return true,
                    Stp::ExpireMaker | Stp::ExpireBoth => {
                        self.unrest(maker_id);
                        self.expire(maker_id, Status::ExpiredInMatch, now, fx);
                        if stp == Stp::ExpireBoth {
                            return true;
                        }
                        continue;
                    }
                    Stp::None => {}
                }
            }
            let t = self.orders[&maker_id].remaining().min(left);
            let tid = self.next_trade_id[inst];
            self.next_trade_id[inst] += 1;
            self.fill_order(maker_id, best, t, true, tid, now, fx);
            if !self.orders[&maker_id].status.is_open() {
                self.unrest(maker_id);
            }
            self.fill_order(id, best, t, false, tid, now, fx);
            fx.trades.push(PublicTrade {
                inst,
                id: tid,
                px: best,
                qty: t,
                buyer_maker: side == Side::Sell,
                time_ms: now,
            });
        }
    }

    /// Cancels an open order; `None` if it is unknown or no longer open.
    pub fn cancel(&mut self, id: u64, now: u64, fx: &mut Effects) -> Option<Order> {
        let o = self.orders.get(&id)?;
        if !o.status.is_open() {
            return None;
        }
        let (inst, side, px) = (o.inst, o.side, o.px);
        self.unrest(id);
        fx.levels.insert((inst, side == Side::Buy, px));
        let o = self.orders.get_mut(&id).expect("order exists");
        o.status = Status::Canceled;
        o.update_ms = now;
        self.finish(id);
        let o = self.orders[&id].clone();
        fx.execs.push(Exec {
            exec: ExecType::Canceled,
            order: o.clone(),
            fill: None,
            cancel_id: None,
        });
        Some(o)
    }

    /// Fills what is left of open order `id` at its own price as a maker (another participant
    /// took it), e.g. just before a cancel arrives.
    pub fn force_fill(&mut self, id: u64, now: u64, fx: &mut Effects) {
        let Some(o) = self.orders.get(&id) else {
            return;
        };
        if !o.status.is_open() {
            return;
        }
        let (inst, px, qty, side) = (o.inst, o.px, o.remaining(), o.side);
        let tid = self.next_trade_id[inst];
        self.next_trade_id[inst] += 1;
        self.fill_order(id, px, qty, true, tid, now, fx);
        self.unrest(id);
        fx.levels.insert((inst, side == Side::Buy, px));
        fx.trades.push(PublicTrade {
            inst,
            id: tid,
            px,
            qty,
            buyer_maker: side == Side::Buy,
            time_ms: now,
        });
    }

    /// Fills resting client orders the generated market has traded through (passive fills at
    /// the client's price, consuming the crossing generated liquidity).
    pub fn passive_fills(&mut self, inst: usize, now: u64, fx: &mut Effects) {
        for bid_side in [true, false] {
            loop {
                let book = &self.books[inst];
                let (cl, gen) = if bid_side {
                    (
                        book.client_bids.iter().next_back(),
                        book.gen_asks.iter().next(),
                    )
                } else {
                    (
                        book.client_asks.iter().next(),
                        book.gen_bids.iter().next_back(),
                    )
                };
                let (Some((&cpx, fifo)), Some((&gpx, &gq))) = (cl, gen) else {
                    break;
                };
                let crossed = if bid_side { gpx <= cpx } else { gpx >= cpx };
                if !crossed {
                    break;
                }
                let id = *fifo.front().expect("non-empty fifo");
                let t = self.orders[&id].remaining().min(gq);
                let gen = if bid_side {
                    &mut self.books[inst].gen_asks
                } else {
                    &mut self.books[inst].gen_bids
                };
                if gq == t {
                    gen.remove(&gpx);
                } else {
                    gen.insert(gpx, gq - t);
                }
                fx.levels.insert((inst, !bid_side, gpx));
                fx.levels.insert((inst, bid_side, cpx));
                let tid = self.next_trade_id[inst];
                self.next_trade_id[inst] += 1;
                self.fill_order(id, cpx, t, true, tid, now, fx);
                if !self.orders[&id].status.is_open() {
                    self.unrest(id);
                }
                fx.trades.push(PublicTrade {
                    inst,
                    id: tid,
                    px: cpx,
                    qty: t,
                    buyer_maker: bid_side,
                    time_ms: now,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The published depth by definition: every generated or client price, best first, with
    /// [`Matcher::level_qty`] (the reference `depth_into` must reproduce).
    fn reference(m: &Matcher, inst: usize, bid: bool, limit: usize) -> Vec<(i64, i64)> {
        let b = &m.books[inst];
        let pxs: BTreeSet<i64> = if bid {
            b.gen_bids
                .keys()
                .chain(b.client_bids.keys())
                .copied()
                .collect()
        } else {
            b.gen_asks
                .keys()
                .chain(b.client_asks.keys())
                .copied()
                .collect()
        };
        let ordered: Vec<i64> = if bid {
            pxs.iter().rev().copied().collect()
        } else {
            pxs.iter().copied().collect()
        };
        ordered
            .into_iter()
            .take(limit)
            .map(|p| (p, m.level_qty(inst, bid, p)))
            .collect()
    }

    /// Merging generated and client levels gives the reference depth: client orders at
    /// generated prices (summed), between them, beyond them, and a side with no generated
    /// levels at all; at several limits.
    #[test]
    fn depth_into_merges_generated_and_client_levels() {
        let instruments = super::super::config::SimConfig::default()
            .parsed_instruments()
            .expect("default instruments");
        let ins = instruments[0].clone();
        let (tick, step) = (ins.tick, ins.step);
        let mut balances = BTreeMap::new();
        for asset in [&ins.base, &ins.quote] {
            balances.insert(
                asset.clone(),
                Balance {
                    free: i64::MAX / 4,
                    locked: 0,
                },
            );
        }
        let account = Account {
            api_key: String::new(),
            secret: String::new(),
            passphrase: String::new(),
            balances,
            withdraw: false,
        };
        let mut m = Matcher::new(instruments, vec![account], 0, 0);
        let mid = ins.mid / tick * tick;
        for i in 0..5 {
            m.books[0]
                .gen_bids
                .insert(mid - (2 + 2 * i) * tick, 7 * step);
            m.books[0]
                .gen_asks
                .insert(mid + (2 + 2 * i) * tick, 9 * step);
        }
        let mut fx = Effects::default();
        // Bids: at a generated price, between two, below all, and above all (still passive).
        for (k, px) in [mid - 4 * tick, mid - 5 * tick, mid - 30 * tick, mid - tick]
            .into_iter()
            .enumerate()
        {
            m.place(
                0,
                0,
                format!("b{k}"),
                Side::Buy,
                OrdType::LimitMaker,
                Tif::Gtc,
                px,
                (1 + k as i64) * step,
                Stp::None,
                0,
                &mut fx,
            )
            .expect("bid rests");
        }
        // Asks: two orders at one generated price, one between, one beyond.
        for (k, px) in [
            mid + 4 * tick,
            mid + 4 * tick,
            mid + 7 * tick,
            mid + 40 * tick,
        ]
        .into_iter()
        .enumerate()
        {
            m.place(
                0,
                0,
                format!("a{k}"),
                Side::Sell,
                OrdType::LimitMaker,
                Tif::Gtc,
                px,
                (1 + k as i64) * step,
                Stp::None,
                0,
                &mut fx,
            )
            .expect("ask rests");
        }
        let mut out = vec![(1, 1)]; // stale content is cleared
        for bid in [true, false] {
            for limit in [0, 1, 3, 6, 9, 25, usize::MAX] {
                m.depth_into(0, bid, limit, &mut out);
                assert_eq!(out, reference(&m, 0, bid, limit), "bid {bid} limit {limit}");
                assert_eq!(m.depth(0, bid, limit), out);
            }
        }
        // Client levels only (no generated side).
        m.books[0].gen_asks.clear();
        m.depth_into(0, false, 25, &mut out);
        assert_eq!(out, reference(&m, 0, false, 25));
        assert_eq!(out.len(), 3);
    }
}
