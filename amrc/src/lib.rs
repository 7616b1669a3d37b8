//! The AMRC: Lyra's automatic market-risk controller.
//!
//! It owns the halt policy: who may trip the halt word in the control segment, how a resume is
//! approved (two distinct operators, HMAC approvals), and the audit trail of every transition.
#![forbid(unsafe_code)]
