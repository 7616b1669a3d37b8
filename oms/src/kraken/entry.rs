//! [`OrderEntry`] for [`KrakenRest`]: the venue-neutral face of the Kraken client.

use lyra_shm::msg::OrderIntent;

use super::{response::VENUE, KrakenRest, OrderRef};
use crate::{
    binance::SymbolSpec,
    clordid::ClOrdId,
    manager::Balance,
    venue::{IdText, OrderEntry, OrderReport, Placed, VenueError, VenueFill},
};

impl OrderEntry for KrakenRest {
    fn venue_name(&self) -> &'static str {
        VENUE
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

    /// QueryOrders by txid when known; otherwise the open orders by client id. An order that
    /// is not open and whose txid was never learned cannot be looked up by client id on
    /// Kraken's REST API: that is an unknown outcome, never "not found" (which could make the
    /// OMS resend an order that filled).
    fn query(
        &mut self,
        spec: &SymbolSpec,
        clordid: &str,
        order_id: Option<&IdText>,
    ) -> Result<OrderReport, VenueError> {
        if let Some(txid) = order_id.filter(|t| !t.is_empty()) {
            return KrakenRest::query(self, spec, txid.as_str());
        }
        match self.find_open(spec, clordid)? {
            Some(o) => Ok(o),
            None => Err(VenueError::Unknown {
                venue: VENUE,
                op: "query",
                reason: format!("{clordid} is not open and closed orders are found only by txid"),
            }),
        }
    }

    fn cancel(&mut self, _spec: &SymbolSpec, clordid: &str) -> Result<(), VenueError> {
        KrakenRest::cancel(self, OrderRef::Client(clordid)).map(|_| ())
    }

    fn open_orders(&mut self, spec: &SymbolSpec) -> Result<Vec<OrderReport>, VenueError> {
        KrakenRest::open_orders(self, spec)
    }

    /// From `TradesHistory` (the newest 50 trades), kept for `order_id`.
    fn fills(
        &mut self,
        spec: &SymbolSpec,
        order_id: &IdText,
    ) -> Result<Vec<VenueFill>, VenueError> {
        let mut f = self.trades(spec)?;
        f.retain(|f| f.order_id == *order_id);
        Ok(f)
    }

    fn balances(&mut self) -> Result<Vec<Balance>, VenueError> {
        KrakenRest::balances(self)
    }
}
