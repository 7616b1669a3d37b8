//! The OMS life cycle on Kraken (`Oms::open_entry` over `KrakenRest`) against `lyra sim`'s
//! Kraken dialect: seeded fault runs (responses dropped after acceptance, 503
//! `EService:Unavailable` and `EGeneral:Internal error` with and without the order placed,
//! false "unknown order" windows, deaths between journal write and send and between send and
//! ack — a lost AddOrder answer leaves no txid, so the order is found by `cl_ord_id` among open
//! then closed orders) with the oracle checks, and the deterministic cases of
//! [`oms_life::cases`]. Runs: `LYRA_OMS_LIFE_SEEDS` (default 1,000, as the acceptance
//! asks), one seed: `LYRA_OMS_LIFE_SEED`.

mod oms_life;

use oms_life::{cases, seeded_runs, Kind};

#[test]
fn kraken_seeded_fault_runs_end_terminal_unique_and_balanced() {
    seeded_runs(Kind::Kraken, 1_000);
}

#[test]
fn kraken_rules_are_read_from_the_venue() {
    cases::rules_are_read_from_the_venue(Kind::Kraken);
}

#[test]
fn kraken_safe_mode_sends_no_order() {
    cases::safe_mode_sends_no_order(Kind::Kraken);
}

#[test]
fn kraken_halt_blocks_sends_and_cancels() {
    cases::halt_blocks_sends_and_cancels(Kind::Kraken);
}

#[test]
fn kraken_rate_limit_backs_off() {
    cases::rate_limit_backs_off(Kind::Kraken);
}

#[test]
fn kraken_death_between_send_and_ack_is_reconciled() {
    cases::death_between_send_and_ack_is_reconciled(Kind::Kraken);
}

#[test]
fn kraken_unresolvable_intent_halts_the_venue() {
    cases::unresolvable_intent_halts_the_venue(Kind::Kraken);
}
