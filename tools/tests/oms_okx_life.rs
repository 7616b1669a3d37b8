//! The OMS life cycle on OKX (`Oms::open_entry` over `OkxRest`) against `lyra sim`'s OKX
//! dialect: seeded fault runs (responses dropped after acceptance, 5xx and `50004` with and
//! without the order placed, false "does not exist" windows, deaths between journal write and
//! send and between send and ack) with the oracle checks, and the deterministic cases of
//! [`oms_life::cases`]. Runs: `LYRA_OMS_LIFE_SEEDS` (default 1,000, as the acceptance
//! asks), one seed: `LYRA_OMS_LIFE_SEED`.

mod oms_life;

use oms_life::{cases, seeded_runs, Kind};

#[test]
fn okx_seeded_fault_runs_end_terminal_unique_and_balanced() {
    seeded_runs(Kind::Okx, 1_000);
}

#[test]
fn okx_rules_are_read_from_the_venue() {
    cases::rules_are_read_from_the_venue(Kind::Okx);
}

#[test]
fn okx_safe_mode_sends_no_order() {
    cases::safe_mode_sends_no_order(Kind::Okx);
}

#[test]
fn okx_halt_blocks_sends_and_cancels() {
    cases::halt_blocks_sends_and_cancels(Kind::Okx);
}

#[test]
fn okx_rate_limit_backs_off() {
    cases::rate_limit_backs_off(Kind::Okx);
}

#[test]
fn okx_clock_refusal_resyncs_or_halts() {
    cases::clock_refusal_resyncs_or_halts(Kind::Okx);
}

#[test]
fn okx_death_between_send_and_ack_is_reconciled() {
    cases::death_between_send_and_ack_is_reconciled(Kind::Okx);
}

#[test]
fn okx_unresolvable_intent_halts_the_venue() {
    cases::unresolvable_intent_halts_the_venue(Kind::Okx);
}
