//! [`Pod`]: the types a mapped ring may carry between processes.

use crate::msg::{
    BookTop, ExecReport, InstrumentIdx, IntentAction, InvalidReason, MdEvent, MdKind, OrdType,
    OrderIntent, OrderState, Px, Qty, Side, Tif, VenueId,
};

/// Plain data that can sit in memory shared with another process built from this workspace.
///
/// # Safety
/// Implement only for `Copy` types with a fixed layout (`#[repr(C)]`, `#[repr(transparent)]`,
/// `#[repr(u8)]` or a primitive) that hold no pointers, references or handles and have no interior
/// mutability: their bytes mean the same value in every process. A mapped ring checks the type's
/// name, size and alignment on open, so a peer only ever writes values of the same type; fields
/// with restricted values (enums, `bool`) rely on that peer writing valid values.
pub unsafe trait Pod: Copy {}

macro_rules! pod {
    ($($t:ty),* $(,)?) => {
        $(
            // SAFETY: a primitive or a `shm::msg` type: `Copy`, fixed layout asserted in `msg`,
            // no pointers, no interior mutability.
            unsafe impl Pod for $t {}
        )*
    };
}

pod!(u8, u16, u32, u64, u128, i8, i16, i32, i64, i128, f32, f64, bool);
pod!(
    Px,
    Qty,
    InstrumentIdx,
    VenueId,
    Side,
    MdKind,
    InvalidReason,
    OrdType,
    Tif,
    IntentAction
);
pod!(OrderState, MdEvent, BookTop, OrderIntent, ExecReport);

// SAFETY: an array of plain data is plain data: same layout rules, no pointers.
unsafe impl<T: Pod, const N: usize> Pod for [T; N] {}
