//! The transition kernels. Each leaves the same posterior invariant and
//! is built from the engine's shared pieces (the collapsed density, the
//! exact draws of the locations, the conditionals of the variance
//! parameters); they differ in how fast they mix (MATHS.md sections 3, 6
//! and 7).

mod asis;
mod collapsed;
mod gibbs;

use rand_pcg::Pcg64;

use crate::Error;
use crate::engine::{Tree, TreeState};
use crate::spec::WithinKind;

/// Which transition kernel moves the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SamplerKind {
    /// The lecture's centred Gibbs sweep, level by level from the root
    /// (MATHS.md section 3): each level's effects given their neighbours,
    /// then that level's precision; the within-group variances last.
    Gibbs,
    /// Every precision by a slice step on its density with every location
    /// integrated out (the last level's jointly with tau_w), then all
    /// locations jointly and exactly (MATHS.md sections 4 to 6).
    Collapsed,
    /// Ancillarity-sufficiency interweaving (Yu and Meng 2011; MATHS.md
    /// section 7), for two levels with a common within-group variance:
    /// theta, (mu, tau_b) given theta, (mu, tau_b) given the standardised
    /// effects, tau_w.
    Asis,
    /// For crossed grouping factors (MATHS.md section 16): factor after
    /// factor, sigma and that factor's variance parameters by a slice step
    /// with beta and its coefficients integrated out, given the other
    /// factors' coefficients; then beta and its coefficients exactly.
    Factors,
}

impl SamplerKind {
    /// The sampler's name as the R interface spells it.
    pub fn name(self) -> &'static str {
        match self {
            SamplerKind::Gibbs => "gibbs",
            SamplerKind::Collapsed => "collapsed",
            SamplerKind::Asis => "asis",
            SamplerKind::Factors => "factors",
        }
    }

    /// Parses the R interface's name.
    pub fn from_name(name: &str) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| Error::InvalidSettings(format!("unknown sampler {name:?}")))
    }

    pub const ALL: [SamplerKind; 4] = [
        SamplerKind::Collapsed,
        SamplerKind::Asis,
        SamplerKind::Gibbs,
        SamplerKind::Factors,
    ];
}

/// One chain's kernel, with the working memory it reuses between sweeps.
pub(crate) trait Kernel: std::fmt::Debug {
    /// One sweep; `warmup` lets the kernel tune itself.
    fn sweep(
        &mut self,
        tree: &Tree,
        st: &mut TreeState,
        rng: &mut Pcg64,
        warmup: bool,
    ) -> Result<(), Error>;
}

impl SamplerKind {
    /// Whether this kernel can move a model with `depth` grouping levels
    /// and this within-group model: interweaving needs exactly one level
    /// and a common within-group variance.
    pub fn applies(self, depth: usize, within: WithinKind) -> bool {
        match self {
            SamplerKind::Gibbs | SamplerKind::Collapsed => true,
            SamplerKind::Asis => depth == 1 && within == WithinKind::Common,
            // a tree's groups are nested, never crossed
            SamplerKind::Factors => false,
        }
    }
}

/// Whether `kind` can move `tree`'s model.
pub(crate) fn supports(tree: &Tree, kind: SamplerKind) -> bool {
    kind.applies(tree.depth(), tree.prior().within.kind())
}

/// A fresh kernel of `kind` for `tree` (which `supports` it).
pub(crate) fn new(tree: &Tree, kind: SamplerKind) -> Box<dyn Kernel> {
    match kind {
        SamplerKind::Gibbs => Box::new(gibbs::Gibbs::default()),
        SamplerKind::Collapsed => Box::new(collapsed::Collapsed::new(tree)),
        SamplerKind::Asis => Box::new(asis::Asis::new(tree)),
        // supports() refuses it for a tree before any chain starts; the
        // centred sweep stands in rather than a panic
        SamplerKind::Factors => Box::new(gibbs::Gibbs::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampler_names_round_trip() {
        for kind in SamplerKind::ALL {
            assert_eq!(SamplerKind::from_name(kind.name()).unwrap(), kind);
        }
        assert!(SamplerKind::from_name("nuts").is_err());
    }
}
