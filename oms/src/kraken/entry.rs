//! [`OrderEntry`] for [`KrakenRest`]: the venue-neutral face of the Kraken client.

use lyra_shm::msg::OrderIntent;

use super::{response::VENUE, KrakenRest, OrderRef};
use crate::{
    binance::SymbolSpec,
    clordid::ClOrdId,
    manager::Balance,
    venue::{IdText, OrderEntry, OrderReport, Placed, Refusal, SymbolRules, VenueError, VenueFill},
};

impl OrderEntry for KrakenRest {
    fn venue_name(&self) -> &'static str {
        VENUE
    }

    /// Kraken's requests carry no timestamp but a nonce that must rise per key (with the key's
    /// nonce window at its default 0): once Kraken has answered any later private call of ours
    /// — the queries that look for the order are such calls — an earlier AddOrder still in
    /// flight is refused with `EAPI:Invalid nonce`. So no extra wait is needed beyond getting
    /// answers, which the absence rule requires anyway. A key with a nonce window breaks this.
    fn request_life_ms(&self) -> u64 {
        0
    }

    fn warm(&mut self) -> Result<i64, VenueError> {
        KrakenRest::warm(self).map(|()| 0)
    }

    fn place(
        &mut self,
        spec: &SymbolSpec,
        intent: &OrderIntent,
        px: i64,
        qty: i64,
        clordid: &ClOrdId,
    ) -> Result<Placed, VenueError> {
        KrakenRest::place(self, spec, intent, px, qty, clordid).map(|order_id| Placed {
            order_id,
            report: None,
        })
    }

    /// QueryOrders by txid when known; otherwise the open orders, then the closed orders, by
    /// client id (`cl_ord_id` filters both). Neither knowing it is "not found" — one such
    /// answer proves nothing to the OMS, which asks until its window ends.
    fn query(
        &mut self,
        spec: &SymbolSpec,
        clordid: &str,
        order_id: Option<&IdText>,
    ) -> Result<OrderReport, VenueError> {
        if let Some(txid) = order_id.filter(|t| !t.is_empty()) {
            return KrakenRest::query(self, spec, txid.as_str());
        }
        if let Some(o) = self.find_open(spec, clordid)? {
            return Ok(o);
        }
        match self.find_closed(spec, clordid)? {
            Some(o) => Ok(o),
            None => Err(VenueError::Refused {
                venue: VENUE,
                op: "query",
                code: "EOrder:Unknown order".into(),
                kind: Refusal::NotFound,
                reason: format!("{clordid} is neither open nor among the closed orders"),
            }),
        }
    }

    fn cancel(&mut self, _spec: &SymbolSpec, clordid: &str) -> Result<(), VenueError> {
        KrakenRest::cancel(self, OrderRef::Client(clordid)).map(|_| ())
    }

    fn open_orders(&mut self, spec: &SymbolSpec) -> Result<Vec<OrderReport>, VenueError> {
        KrakenRest::open_orders(self, spec)
    }

    /// From `TradesHistory` (the newest 50 trades), those of `order_id`.
    fn fills(
        &mut self,
        spec: &SymbolSpec,
        order_id: &IdText,
    ) -> Result<Vec<VenueFill>, VenueError> {
        self.order_trades(spec, order_id)
    }

    fn balances(&mut self) -> Result<Vec<Balance>, VenueError> {
        KrakenRest::balances(self)
    }

    /// `AddOrder` with `validate=true`: checked by the venue, never placed.
    fn check_order(
        &mut self,
        spec: &SymbolSpec,
        intent: &OrderIntent,
        px: i64,
        qty: i64,
        clordid: &ClOrdId,
    ) -> Result<bool, VenueError> {
        self.validate_order(spec, intent, px, qty, clordid)
            .map(|()| true)
    }

    fn symbol_rules(&mut self, spec: &SymbolSpec) -> Result<SymbolRules, VenueError> {
        self.asset_pair_rules(spec)
    }

    /// Kraken requests carry nonces, not timestamps: nothing to sync.
    fn sync_time(&mut self) -> Result<i64, VenueError> {
        Ok(0)
    }
}
