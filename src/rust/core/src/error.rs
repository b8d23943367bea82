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
    /// The arithmetic of a sweep broke down (a density or a state that is
    /// not a finite number): the data or prior are too extreme to sample.
    Numerical(String),
    /// Chain `chain` (0-based) reported a value that is not finite, in
    /// column `column` (0-based, the report's order) at iteration
    /// `iteration` (1-based, warm-up included).
    NonFinite {
        chain: usize,
        iteration: usize,
        column: usize,
    },
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
            Error::Numerical(msg) => write!(f, "numerical failure: {msg}"),
            Error::NonFinite {
                chain,
                iteration,
                column,
            } => write!(
                f,
                "chain {} reported a non-finite value in column {} at iteration {iteration}",
                chain + 1,
                column + 1
            ),
            Error::Interrupted => write!(f, "sampling interrupted"),
            Error::Internal(msg) => write!(f, "internal error: {msg}"),
        }
    }
}

impl std::error::Error for Error {}
