//! Command failures and their exit codes (documented in `main.rs` and `lyra --help`).

use lyra_amrc::{AmrcError, KeyError};
use lyra_shm::control::ControlError;

/// A failed command: the error to print and the class that picks the exit code.
#[derive(Debug)]
pub enum Fail {
    /// Exit 1: the request was understood and refused.
    Refused(anyhow::Error),
    /// Exit 3: the control segment cannot be opened.
    Segment(anyhow::Error),
    /// Exit 4: I/O or anything else.
    Other(anyhow::Error),
}

impl Fail {
    /// The process exit code.
    pub fn code(&self) -> u8 {
        match self {
            Fail::Refused(_) => 1,
            Fail::Segment(_) => 3,
            Fail::Other(_) => 4,
        }
    }

    /// The error to print.
    pub fn error(&self) -> &anyhow::Error {
        match self {
            Fail::Refused(e) | Fail::Segment(e) | Fail::Other(e) => e,
        }
    }

    /// A refusal with a message.
    pub fn refused(msg: impl std::fmt::Display) -> Fail {
        Fail::Refused(anyhow::anyhow!("{msg}"))
    }
}

impl From<anyhow::Error> for Fail {
    fn from(e: anyhow::Error) -> Self {
        Fail::Other(e)
    }
}

impl From<KeyError> for Fail {
    fn from(e: KeyError) -> Self {
        match e {
            // A key we cannot read or write is an I/O failure; anything else is a refusal to
            // use an unsafe or malformed key.
            KeyError::Io { .. } | KeyError::Random => Fail::Other(e.into()),
            _ => Fail::Refused(e.into()),
        }
    }
}

impl From<AmrcError> for Fail {
    fn from(e: AmrcError) -> Self {
        match e {
            AmrcError::Refused(_) => Fail::Refused(e.into()),
            AmrcError::Key(k) => k.into(),
            AmrcError::Control(ControlError::VenueOutOfRange { .. }) => Fail::Refused(e.into()),
            _ => Fail::Other(e.into()),
        }
    }
}

/// The result of a command.
pub type CmdResult = Result<(), Fail>;
