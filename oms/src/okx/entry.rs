//! [`OrderEntry`] for [`OkxRest`]: the venue-neutral face of the OKX client.

use lyra_shm::msg::OrderIntent;

use super::OkxRest;
use crate::{
    binance::SymbolSpec,
    clordid::ClOrdId,
    manager::Balance,
    venue::{IdText, OrderEntry, OrderReport, Placed, SymbolRules, VenueError, VenueFill},
};

impl OrderEntry for OkxRest {
    fn venue_name(&self) -> &'static str {
        super::response::VENUE
    }

    /// OKX refuses a request whose timestamp is more than 30 s from its clock (`50102`); we send
    /// no `expTime`, so that is the bound.
    fn request_life_ms(&self) -> u64 {
        30_000
    }

    fn warm(&mut self) -> Result<i64, VenueError> {
        OkxRest::warm(self)
    }

    fn place(
        &mut self,
        spec: &SymbolSpec,
        intent: &OrderIntent,
        px: i64,
        qty: i64,
        clordid: &ClOrdId,
    ) -> Result<Placed, VenueError> {
        OkxRest::place(self, spec, intent, px, qty, clordid).map(|order_id| Placed {
            order_id,
            report: None,
        })
    }

    fn query(
        &mut self,
        spec: &SymbolSpec,
        clordid: &str,
        _order_id: Option<&IdText>,
    ) -> Result<OrderReport, VenueError> {
        OkxRest::query(self, spec, clordid)
    }

    fn cancel(&mut self, spec: &SymbolSpec, clordid: &str) -> Result<(), VenueError> {
        OkxRest::cancel(self, spec, clordid).map(|_| ())
    }

    fn open_orders(&mut self, spec: &SymbolSpec) -> Result<Vec<OrderReport>, VenueError> {
        OkxRest::open_orders(self, spec)
    }

    /// From `GET /api/v5/trade/fills` of the symbol narrowed to `order_id`.
    fn fills(
        &mut self,
        spec: &SymbolSpec,
        order_id: &IdText,
    ) -> Result<Vec<VenueFill>, VenueError> {
        OkxRest::order_fills(self, spec, order_id)
    }

    fn balances(&mut self) -> Result<Vec<Balance>, VenueError> {
        OkxRest::balances(self)
    }

    /// OKX has no test-order endpoint; its demo environment (`x-simulated-trading: 1` with
    /// demo keys, B.1) is another account, chosen in [`super::OkxConfig`]. A SAFE order is
    /// built and signed exactly as it would be sent ([`OkxRest::last_request`]) and not sent.
    fn check_order(
        &mut self,
        spec: &SymbolSpec,
        intent: &OrderIntent,
        px: i64,
        qty: i64,
        clordid: &ClOrdId,
    ) -> Result<bool, VenueError> {
        let ts = self.server_ms();
        self.prepare_order(spec, intent, px, qty, clordid, ts);
        Ok(false)
    }

    fn symbol_rules(&mut self, spec: &SymbolSpec) -> Result<SymbolRules, VenueError> {
        self.instrument_rules(spec)
    }

    fn sync_time(&mut self) -> Result<i64, VenueError> {
        OkxRest::sync_time(self)
    }
}
