//! The collapsed sampler (MATHS.md sections 4 to 6): the variance
//! parameters move on their density with every location integrated out,
//! then the locations are drawn jointly and exactly given them.
//!
//! Levels are stepped from the bottom up; each step needs only the
//! messages of its own level, which precisions further up do not change.
//! With a common within-group variance, `log tau_w` moves jointly with the
//! last level's `log tau_L` (the two are strongly correlated when groups
//! are small), in coordinates decorrelated during warm-up. When every
//! variance parameter moves collapsed (common or known within-group
//! variances) the precisions form a chain of their own, so the locations
//! are drawn only for the draws that are kept: what the slice steps
//! integrated out is redrawn straight after them (partially collapsed
//! Gibbs).

use rand_pcg::Pcg64;

use super::Kernel;
use crate::Error;
use crate::engine::{Messages, Tree, TreeState};
use crate::slice::TunedSlices;
use crate::spec::Within;

#[derive(Debug)]
pub(crate) struct Collapsed {
    /// Slice steps on `log tau_l`, l = 1..=L (index l - 1); the last
    /// level's is unused when it moves jointly with tau_w.
    levels: Vec<TunedSlices<1>>,
    /// `(log tau_L, log tau_w)`, with a common within-group variance.
    joint: TunedSlices<2>,
    /// `log tau_w` of the one-sample model.
    within: TunedSlices<1>,
    msg: Messages,
    nu_weights: Vec<f64>,
    /// The collapsed log density at the state, with every prior, while
    /// the messages are those of the state.
    current: Option<f64>,
    /// The points the steps returned, `log tau_l` (index l) and `log
    /// tau_w`, with the precisions they set: the next steps start from
    /// exactly them (the logarithm of their exponential may differ in the
    /// last bit, which a frozen step would take for a point set from
    /// outside).
    log_tau: Vec<[f64; 2]>,
    log_tau_w: [f64; 2],
}

impl Collapsed {
    pub fn new(tree: &Tree) -> Self {
        Self {
            levels: vec![TunedSlices::default(); tree.depth()],
            joint: TunedSlices::default(),
            within: TunedSlices::default(),
            msg: Messages::default(),
            nu_weights: Vec::new(),
            current: None,
            log_tau: vec![[f64::NAN; 2]; tree.depth() + 1],
            log_tau_w: [f64::NAN; 2],
        }
    }
}

/// `(tau, log tau)` of a point on the log scale.
fn both(log_tau: f64) -> [f64; 2] {
    [log_tau.exp(), log_tau]
}

/// One tuned slice step from `x0`, whose full collapsed log density is
/// `current`, on `log_f`, which also leaves the messages of the point it
/// evaluates: the accepted point is usually the last one evaluated, and is
/// evaluated once more when it is not (a step that returns where it
/// started), so that the messages are always the accepted point's.
fn collapsed_step<const D: usize>(
    slices: &mut TunedSlices<D>,
    x0: [f64; D],
    current: f64,
    mut log_f: impl FnMut(&[f64; D]) -> f64,
    rng: &mut Pcg64,
    warmup: bool,
) -> Result<([f64; D], f64), Error> {
    let mut last = [f64::NAN; D];
    let (x, f) = slices.step(
        x0,
        Some(current),
        |x| {
            last = *x;
            log_f(x)
        },
        rng,
        warmup,
    )?;
    if last != x {
        log_f(&x);
    }
    Ok((x, f))
}

/// `log tau`, from the step's own last point `[tau, log tau]` when that is
/// where `tau` is.
fn log_of(tau: f64, [last_tau, last_log]: [f64; 2]) -> f64 {
    if last_tau == tau { last_log } else { tau.ln() }
}

/// A precision a step may move to: positive and finite.
fn valid(tau: f64) -> bool {
    tau.is_finite() && tau > 0.0
}

impl Kernel for Collapsed {
    fn sweep(
        &mut self,
        tree: &Tree,
        st: &mut TreeState,
        rng: &mut Pcg64,
        warmup: bool,
    ) -> Result<(), Error> {
        let depth = tree.depth();
        let within = tree.prior().within;
        let common = matches!(within, Within::Common { .. });
        let msg = &mut self.msg;
        let log_tau = &mut self.log_tau;
        for (last, &tau) in log_tau.iter_mut().zip(&st.tau) {
            *last = [tau, log_of(tau, *last)];
        }
        self.log_tau_w = [st.tau_w, log_of(st.tau_w, self.log_tau_w)];
        let mut current = match self.current {
            Some(f) => f,
            None => {
                let priors: f64 = (1..=depth)
                    .map(|l| tree.level_log_prior(l, log_tau[l][1], st.tau[l]))
                    .sum();
                tree.pass_up(st, msg)
                    + priors
                    + tree.within_log_density(self.log_tau_w[1], st.tau_w)
            }
        };

        // The last level, jointly with tau_w when it is common; the
        // one-sample model's tau_w alone.
        let mut upper_levels = depth;
        if common && depth == 0 {
            let base = current
                - tree.within_log_density(self.log_tau_w[1], st.tau_w)
                - tree.combined_terms(msg);
            let ([x], f) = collapsed_step(
                &mut self.within,
                [self.log_tau_w[1]],
                current,
                |&[x]| {
                    let c = both(x);
                    if !valid(c[0]) {
                        return f64::NEG_INFINITY;
                    }
                    base + tree.within_log_density(x, c[0]) + tree.recombine(st, msg, 0, c, c)
                },
                rng,
                warmup,
            )?;
            st.tau_w = x.exp();
            self.log_tau_w = [st.tau_w, x];
            current = f;
        } else if common {
            let l = depth;
            let base = current
                - tree.level_log_prior(l, log_tau[l][1], st.tau[l])
                - tree.within_log_density(self.log_tau_w[1], st.tau_w)
                - tree.combined_terms(msg);
            let (x, f) = collapsed_step(
                &mut self.joint,
                [log_tau[l][1], self.log_tau_w[1]],
                current,
                |&x| {
                    let (tau, c) = (both(x[0]), both(x[1]));
                    if !(valid(tau[0]) && valid(c[0])) {
                        return f64::NEG_INFINITY;
                    }
                    base + tree.level_log_prior(l, x[0], tau[0])
                        + tree.within_log_density(x[1], c[0])
                        + tree.recombine(st, msg, l, tau, c)
                },
                rng,
                warmup,
            )?;
            [st.tau[l], st.tau_w] = x.map(f64::exp);
            log_tau[l] = [st.tau[l], x[0]];
            self.log_tau_w = [st.tau_w, x[1]];
            current = f;
            upper_levels = depth - 1;
        }
        let c = if common {
            [st.tau_w, self.log_tau_w[1]]
        } else {
            [1.0, 0.0]
        };
        for l in (1..=upper_levels).rev() {
            let base = current
                - tree.level_log_prior(l, log_tau[l][1], st.tau[l])
                - tree.combined_terms(msg);
            let ([x], f) = collapsed_step(
                &mut self.levels[l - 1],
                [log_tau[l][1]],
                current,
                |&[x]| {
                    let tau = both(x);
                    if !valid(tau[0]) {
                        return f64::NEG_INFINITY;
                    }
                    base + tree.level_log_prior(l, x, tau[0]) + tree.recombine(st, msg, l, tau, c)
                },
                rng,
                warmup,
            )?;
            st.tau[l] = x.exp();
            log_tau[l] = [st.tau[l], x];
            current = f;
        }

        let group = matches!(within, Within::Group { .. });
        if warmup && !group {
            self.current = Some(current);
            return Ok(());
        }
        tree.draw_locations(st, msg, rng);
        if group {
            tree.draw_within(st, &mut self.nu_weights, rng)?;
            // the data precisions moved: the messages must be passed again
            self.current = None;
        } else {
            self.current = Some(current);
        }
        Ok(())
    }
}
