//! `RiskApproved<T>`: the proof that `T` passed every pre-trade check. Its fields are private to
//! this crate, so code elsewhere (the OMS above all) cannot make one: an order that skipped risk
//! does not compile (STYLE §7).
//!
//! ```
//! // What other crates can do: look at an approval they were given.
//! fn send(a: &lyra_risk::RiskApproved<lyra_shm::msg::OrderIntent>) -> u64 {
//!     a.intent().intent_seq
//! }
//! ```
//!
//! ```compile_fail
//! // What they cannot do: make one without `risk::check`.
//! let forged = lyra_risk::RiskApproved {
//!     inner: lyra_shm::msg::OrderIntent::default(),
//!     grant_id: 1,
//!     live: false,
//! };
//! ```
//!
//! ```compile_fail
//! // Nor through a constructor: there is none outside this crate.
//! let forged = lyra_risk::RiskApproved::new(lyra_shm::msg::OrderIntent::default());
//! ```

/// `T` after every pre-trade check passed, with the grant that allowed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RiskApproved<T> {
    inner: T,
    grant_id: u64,
    live: bool,
}

impl<T> RiskApproved<T> {
    /// Only `risk::check` calls this.
    pub(crate) fn new(inner: T, grant_id: u64, live: bool) -> Self {
        Self {
            inner,
            grant_id,
            live,
        }
    }

    /// The approved value.
    pub fn intent(&self) -> &T {
        &self.inner
    }

    /// The grant that permitted it.
    pub fn grant_id(&self) -> u64 {
        self.grant_id
    }

    /// Whether it may go to the venue's live endpoint (a LIVE grant); otherwise SAFE/test only.
    pub fn is_live(&self) -> bool {
        self.live
    }
}
