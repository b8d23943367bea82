use std::fmt;

/// Everything that can go wrong in the core. The R layer validates its
/// arguments first, so these are a second line of defence, never a panic.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// The observations or group indices are unusable.
    InvalidData(String),
    /// A prior hyperparameter is out of its range.
    InvalidPrior(String),
    /// A run setting (chains, iterations, thinning, output size) is unusable.
    InvalidSettings(String),
    /// The caller asked the chains to stop before they finished.
    Interrupted,
    /// A worker thread failed; this is a bug in hiermod.
    Internal(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidData(msg) => write!(f, "invalid data: {msg}"),
            Error::InvalidPrior(msg) => write!(f, "invalid prior: {msg}"),
            Error::InvalidSettings(msg) => write!(f, "invalid settings: {msg}"),
            Error::Interrupted => write!(f, "sampling interrupted"),
            Error::Internal(msg) => write!(f, "internal error: {msg}"),
        }
    }
}

impl std::error::Error for Error {}
