//! Samplers for Bayesian hierarchical normal models, with no R types.
//!
//! The raw observations are reduced once to per-group sufficient statistics
//! ([`GroupStats`]); every sweep afterwards costs O(K) in the number of groups.
//! Each chain owns one [`rand_pcg::Pcg64`] stream derived from a single
//! 64-bit seed and the chain's index, so the draws do not depend on how many
//! threads run the chains ([`run_chains`]).
//!
//! Notation follows the lecture: `G(shape, rate)` is a Gamma distribution with
//! density proportional to `x^(shape-1) exp(-rate x)`, and `N(m, 1/p)` a normal
//! with mean `m` and precision `p`. Precisions are sampled; standard
//! deviations are reported. MATHS.md, beside this crate's Cargo.toml, sets
//! out the models and the mathematics of every step; comments cite it by
//! section.

mod chains;
mod classes;
mod cross;
mod crossed;
mod csv;
mod engine;
mod error;
mod kernels;
mod lmm;
mod marginal;
mod prior;
mod random;
mod slice;
mod spec;
mod stats;
mod summaries;
mod units;

pub use chains::{ChainOutput, Posterior, Settings, run_chains};
pub use cross::CrossStats;
pub use crossed::{Crossed, CrossedChain, CrossedData, CrossedFactor};
pub use csv::{Chunk, CsvError, CsvReader, Fields, GroupAccumulator};
pub use engine::{Messages, Tree, TreeChain, TreeState};
pub use error::Error;
pub use kernels::SamplerKind;
pub use lmm::{
    EffectPrior, LevelPrior, Lmm, LmmChain, LmmData, LmmLevel, LmmPrior, MAX_VARIANCE_DIM,
};
pub use marginal::{
    Evidence, EvidenceMethod, MAX_QUADRATURE_DIM, log_marginal_likelihood_in_units,
};
pub use prior::SdPrior;
pub use random::{GammaRate, chain_rng};
pub use slice::{Pseudo, TunedSlices, quantile_slice_step, slice_step};
pub use spec::{Column, Layout, Role, TreePrior, Within, WithinKind};
pub use stats::{GroupStats, RunningStats};
pub use summaries::{Diagnostics, column_summaries, diagnostics};
pub use units::{InUnits, Quantity, Units};
