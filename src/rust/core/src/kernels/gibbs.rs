//! The centred Gibbs sweep (MATHS.md section 3): the lecture's sampler,
//! generalised to any depth.

use rand_pcg::Pcg64;

use super::Kernel;
use crate::Error;
use crate::engine::{Messages, Tree, TreeState};

#[derive(Debug, Default)]
pub(crate) struct Gibbs {
    /// What each node's children say about it: their mean and precision.
    evidence_mean: Vec<f64>,
    evidence_precision: Vec<f64>,
    msg: Messages,
    nu_weights: Vec<f64>,
}

impl Kernel for Gibbs {
    fn sweep(
        &mut self,
        tree: &Tree,
        st: &mut TreeState,
        rng: &mut Pcg64,
        _warmup: bool,
    ) -> Result<(), Error> {
        let (mean, precision) = (&mut self.evidence_mean, &mut self.evidence_precision);
        for l in 0..tree.depth() {
            // each node given its parent and its children, then the
            // precision of the level below given the new values
            tree.children_evidence(st, l, mean, precision);
            tree.draw_level(st, l, mean, precision, rng);
            tree.draw_level_precision(st, l + 1, rng)?;
        }
        tree.draw_last_level(st, &mut self.msg, rng);
        tree.draw_within(st, &mut self.nu_weights, rng)
    }
}
