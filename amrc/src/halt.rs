//! The AMRC handle: trips with audit, and the two-operator resume.

use std::{collections::BTreeSet, sync::Arc};

use lyra_shm::{
    control::{
        ControlError, ControlSegment, Counter, HaltReason, HaltState, Note, Source, TripOutcome,
    },
    msg::VenueId,
};

use crate::{
    approval::{Approval, Challenge},
    audit::{AuditEvent, AuditLog},
    keys::OperatorKeys,
    AmrcError, ResumeRefused, APPROVALS_NEEDED,
};

/// Halt policy over one control segment, auditing every transition.
#[derive(Debug, Clone)]
pub struct Amrc {
    seg: Arc<ControlSegment>,
    audit: AuditLog,
}

impl Amrc {
    /// A handle over `seg` that audits to `audit`.
    pub fn new(seg: Arc<ControlSegment>, audit: AuditLog) -> Self {
        Self { seg, audit }
    }

    /// The segment.
    pub fn segment(&self) -> &ControlSegment {
        &self.seg
    }

    /// The audit log.
    pub fn audit_log(&self) -> &AuditLog {
        &self.audit
    }

    /// Whether the global halt is set (one Acquire load).
    #[inline]
    pub fn is_halted(&self) -> bool {
        self.seg.is_halted()
    }

    /// What an approval must be for right now.
    pub fn challenge(&self) -> Challenge {
        Challenge {
            segment_id: self.seg.segment_id(),
            epoch: self.seg.halt_state().epoch(),
        }
    }

    /// Trips the global halt from an automatic source, stamped now.
    ///
    /// # Errors
    /// [`AmrcError::Audit`] if the audit write failed (the halt is in force regardless).
    pub fn trip(&self, reason: HaltReason, source: Source) -> Result<TripOutcome, AmrcError> {
        self.trip_with(reason, &Note::auto(source))
    }

    /// Trips the global halt with a full note, then audits it (`trip`, or `retrip` when it was
    /// already halted: the word keeps its first cause).
    ///
    /// # Errors
    /// [`AmrcError::Audit`] if the audit write failed (the halt is in force regardless).
    pub fn trip_with(&self, reason: HaltReason, note: &Note<'_>) -> Result<TripOutcome, AmrcError> {
        let before = self.seg.halt_state();
        let out = self.seg.trip_with(reason, note);
        let event = match out {
            TripOutcome::Tripped(_) => "trip",
            TripOutcome::AlreadyHalted(_) => "retrip",
        };
        self.audit(event, reason, None, before, out.state(), note)?;
        Ok(out)
    }

    /// Halts one venue, then audits it (`venue_trip`, or `venue_retrip`).
    ///
    /// # Errors
    /// [`AmrcError::Control`] for a venue id out of range, [`AmrcError::Audit`].
    pub fn trip_venue(
        &self,
        venue: VenueId,
        reason: HaltReason,
        note: &Note<'_>,
    ) -> Result<TripOutcome, AmrcError> {
        let before = self.seg.halt_state();
        let out = self.seg.trip_venue(venue, reason, note)?;
        let event = match out {
            TripOutcome::Tripped(_) => "venue_trip",
            TripOutcome::AlreadyHalted(_) => "venue_retrip",
        };
        self.audit(event, reason, Some(venue), before, out.state(), note)?;
        Ok(out)
    }

    fn audit(
        &self,
        event: &str,
        reason: HaltReason,
        venue: Option<VenueId>,
        before: HaltState,
        after: HaltState,
        note: &Note<'_>,
    ) -> Result<(), AmrcError> {
        let e = AuditEvent {
            event: event.to_owned(),
            wall_ns: note.wall_ns,
            source: note.source.name().to_owned(),
            operator: (!note.operator.is_empty()).then(|| note.operator.to_owned()),
            reason: Some(reason.name().to_owned()),
            text: (!note.text.is_empty()).then(|| note.text.to_owned()),
            venue: venue.map(|v| v.0),
            epoch_before: before.epoch(),
            epoch_after: after.epoch(),
            segment_id: self.seg.segment_id(),
            pid: std::process::id(),
            ..AuditEvent::default()
        };
        self.audit.append(&e).map_err(|source| AmrcError::Audit {
            epoch: after.epoch(),
            source,
        })?;
        Ok(())
    }

    /// Clears the halt and all venue bits, given approvals from [`APPROVALS_NEEDED`] distinct
    /// operators for this segment's current epoch, each verified in constant time against
    /// `operators`. Resumes and refusals are both audited.
    ///
    /// # Errors
    /// [`AmrcError::Refused`] with the first cause found (see [`ResumeRefused`]);
    /// [`AmrcError::Audit`] when the resume happened but could not be audited.
    pub fn resume(
        &self,
        approvals: &[Approval],
        operators: &OperatorKeys,
        wall_ns: u64,
    ) -> Result<HaltState, AmrcError> {
        let state = self.seg.halt_state();
        let names: Vec<String> = approvals.iter().map(|a| a.operator.clone()).collect();
        let joined = names.join(",");
        let mut event = AuditEvent {
            wall_ns,
            source: Source::Operator.name().to_owned(),
            operator: (!joined.is_empty()).then(|| joined.clone()),
            reason: Some(state.reason().name().to_owned()),
            epoch_before: state.epoch(),
            epoch_after: state.epoch(),
            segment_id: self.seg.segment_id(),
            approvals: names,
            pid: std::process::id(),
            ..AuditEvent::default()
        };
        let checked = self.check(state, approvals, operators).and_then(|()| {
            let note = Note {
                source: Source::Operator,
                operator: &joined,
                text: "resume",
                wall_ns,
            };
            self.seg.resume_if(state, &note).map_err(|e| match e {
                ControlError::EpochMoved { expected, found } => {
                    ResumeRefused::Raced { expected, found }
                }
                _ => ResumeRefused::NotHalted,
            })
        });
        match checked {
            Ok(after) => {
                event.event = "resume".to_owned();
                event.epoch_after = after.epoch();
                self.audit
                    .append(&event)
                    .map_err(|source| AmrcError::Audit {
                        epoch: after.epoch(),
                        source,
                    })?;
                Ok(after)
            }
            Err(refused) => {
                self.seg.add(Counter::ResumesRefused, 1);
                event.event = "resume_refused".to_owned();
                event.refusal = Some(refused.to_string());
                // A refusal stays a refusal even if its audit fails; report the refusal.
                let _ = self.audit.append(&event);
                Err(refused.into())
            }
        }
    }

    /// The resume checks, in order: something halted, enough approvals, each approval for this
    /// segment and epoch from a known operator with a valid MAC, enough distinct operators.
    fn check(
        &self,
        state: HaltState,
        approvals: &[Approval],
        operators: &OperatorKeys,
    ) -> Result<(), ResumeRefused> {
        if !state.halted() && self.seg.venue_mask() == 0 {
            return Err(ResumeRefused::NotHalted);
        }
        if approvals.len() < APPROVALS_NEEDED {
            return Err(ResumeRefused::TooFewApprovals {
                got: approvals.len(),
            });
        }
        let segment_id = self.seg.segment_id();
        let mut seen = BTreeSet::new();
        for a in approvals {
            if a.segment_id != segment_id {
                return Err(ResumeRefused::WrongSegment {
                    operator: a.operator.clone(),
                    approval: a.segment_id,
                    current: segment_id,
                });
            }
            if a.epoch != state.epoch() {
                return Err(ResumeRefused::StaleEpoch {
                    operator: a.operator.clone(),
                    approval: a.epoch,
                    current: state.epoch(),
                });
            }
            let key = operators
                .get(&a.operator)
                .ok_or_else(|| ResumeRefused::UnknownOperator {
                    operator: a.operator.clone(),
                })?;
            if !a.mac_valid(key) {
                return Err(ResumeRefused::BadMac {
                    operator: a.operator.clone(),
                });
            }
            if !seen.insert(a.operator.as_str()) {
                return Err(ResumeRefused::DuplicateOperator {
                    operator: a.operator.clone(),
                });
            }
        }
        Ok(())
    }
}
