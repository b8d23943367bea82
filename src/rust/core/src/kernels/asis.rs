//! Ancillarity-sufficiency interweaving (Yu and Meng 2011; MATHS.md
//! section 7) for two levels with a common within-group variance: theta,
//! then (mu, tau_b) given theta (the sufficient step), then (mu, tau_b)
//! given the standardised effects (the ancillary step), then tau_w.

use rand::RngExt;
use rand_pcg::Pcg64;

use super::Kernel;
use crate::Error;
use crate::engine::{Messages, Tree, TreeState, std_normal};
use crate::random::GammaRate;
use crate::slice::slice_step;

#[derive(Debug)]
pub(crate) struct Asis {
    /// `G(a + (K-1)/2, .)` and the prior's rate `b`: the proposal of the
    /// sufficient step, when the prior on tau_b is Gamma.
    tau_b_joint: Option<(GammaRate, f64)>,
    /// `sum_k n_k ybar_k` of the centred means.
    sum_y: f64,
    evidence_mean: Vec<f64>,
    evidence_precision: Vec<f64>,
    msg: Messages,
    nu_weights: Vec<f64>,
}

impl Asis {
    pub fn new(tree: &Tree) -> Self {
        let k = tree.stats().n_groups() as f64;
        let tau_b_joint = tree.prior().levels[0]
            .conjugate()
            .and_then(|(a, b)| Some((GammaRate::new(a + (k - 1.0) / 2.0).ok()?, b)));
        let n = tree.stats().n();
        Self {
            tau_b_joint,
            sum_y: n.iter().zip(tree.data_mean()).map(|(n, y)| n * y).sum(),
            evidence_mean: Vec::new(),
            evidence_precision: Vec::new(),
            msg: Messages::default(),
            nu_weights: Vec::new(),
        }
    }

    /// mu given theta and tau_b.
    fn draw_mu(&mut self, tree: &Tree, st: &mut TreeState, rng: &mut Pcg64) {
        let (mean, precision) = (&mut self.evidence_mean, &mut self.evidence_precision);
        tree.children_evidence(st, 0, mean, precision);
        tree.draw_level(st, 0, mean, precision, rng);
    }

    /// Joint `(mu, tau_b) | theta` (MATHS.md section 7.1, the SA step):
    /// tau_b from its density with mu integrated out, by rejection from
    /// `G(a + (K-1)/2, b + SS/2)`, then mu given tau_b. After 20 rejected
    /// proposals falls back on one Gibbs pass over tau_b and mu; this keeps
    /// the step exact because the chance of falling back depends on theta
    /// alone. With another prior on sd_b, tau_b moves by a slice step on
    /// that density instead.
    fn sufficient_step(
        &mut self,
        tree: &Tree,
        st: &mut TreeState,
        rng: &mut Pcg64,
    ) -> Result<(), Error> {
        let theta = &st.values[1];
        let k = theta.len() as f64;
        let thetabar = theta.iter().sum::<f64>() / k;
        let ss: f64 = theta.iter().map(|t| (t - thetabar).powi(2)).sum();
        let tau0 = tree.prior().tau0;
        let d = thetabar - tree.centred_mu0();
        let Some((proposal, prior_rate)) = &self.tau_b_joint else {
            // log tau_b | theta: the prior, tau_b^((K-1)/2) exp(-tau_b SS/2)
            // and mu's integral, sqrt(r) exp(-d^2 tau0 r / 2).
            let log_f = |x: f64| {
                let t = x.exp();
                let r = k * t / (k * t + tau0);
                tree.level_log_prior(1, x, t) + 0.5 * (k - 1.0) * x - 0.5 * ss * t + 0.5 * r.ln()
                    - 0.5 * d * d * tau0 * r
            };
            let x0 = st.tau[1].ln();
            st.tau[1] = slice_step(x0, log_f(x0), log_f, 1.0, rng)?.0.exp();
            self.draw_mu(tree, st, rng);
            return Ok(());
        };
        let rate = prior_rate + ss / 2.0;
        for _ in 0..20 {
            let t = proposal.sample(rng, rate);
            let r = k * t / (k * t + tau0);
            let accept = r.sqrt() * (-d * d * tau0 * r / 2.0).exp();
            if rng.random::<f64>() < accept {
                st.tau[1] = t;
                self.draw_mu(tree, st, rng);
                return Ok(());
            }
        }
        tree.draw_level_precision(st, 1, rng)?;
        self.draw_mu(tree, st, rng);
        Ok(())
    }

    /// The ancillary step (MATHS.md section 7.2): with the standardised
    /// effects `eta_k = (theta_k - mu)/s` held fixed, draw `s = sd_b` (mu
    /// integrated out) by a slice step on `log s`, then mu, and map back to
    /// theta.
    fn ancillary_step(
        &self,
        tree: &Tree,
        st: &mut TreeState,
        rng: &mut Pcg64,
    ) -> Result<(), Error> {
        let (tau_b, tau_w, mu) = (st.tau[1], st.tau_w, st.values[0][0]);
        let s0 = 1.0 / tau_b.sqrt();
        // The pooled estimate: P = sum_k p_k + tau0 with p_k = n_k tau_w, and
        // c = (sum_k p_k ybar_k + tau0 mu0) / P.
        let tau0 = tree.prior().tau0;
        let p_sum = tau0 + tau_w * tree.n_total();
        let c = (tau0 * tree.centred_mu0() + tau_w * self.sum_y) / p_sum;
        let (mut e1, mut pee, mut b) = (0.0, 0.0, 0.0);
        let sqrt_tau_b = tau_b.sqrt();
        let groups = tree
            .stats()
            .n()
            .iter()
            .zip(tree.data_mean())
            .zip(&st.values[1]);
        for ((n, ybar), theta) in groups {
            let p = n * tau_w;
            let eta = (theta - mu) * sqrt_tau_b;
            e1 += p * eta;
            pee += p * eta * eta;
            b += p * (ybar - c) * eta;
        }
        let a = (pee - e1 * e1 / p_sum).max(0.0);
        // The prior on log s = -log(tau_b) / 2 is that on log tau_b at -2u.
        let log_density = |u: f64| {
            let s = u.exp();
            tree.level_log_prior(1, -2.0 * u, 1.0 / (s * s)) - 0.5 * a * s * s + b * s
        };
        let width = if b > 0.0 {
            (2.5 * a.sqrt() / b).clamp(1e-4, 3.0)
        } else {
            3.0
        };
        let u0 = s0.ln();
        let s = slice_step(u0, log_density(u0), log_density, width, rng)?
            .0
            .exp();
        let eta_scale = s / s0;
        let new_mu = c - s * e1 / p_sum + std_normal(rng) / p_sum.sqrt();
        for theta in st.values[1].iter_mut() {
            *theta = new_mu + (*theta - mu) * eta_scale;
        }
        st.values[0][0] = new_mu;
        st.tau[1] = 1.0 / (s * s);
        Ok(())
    }
}

impl Kernel for Asis {
    fn sweep(
        &mut self,
        tree: &Tree,
        st: &mut TreeState,
        rng: &mut Pcg64,
        _warmup: bool,
    ) -> Result<(), Error> {
        tree.draw_last_level(st, &mut self.msg, rng);
        self.sufficient_step(tree, st, rng)?;
        self.ancillary_step(tree, st, rng)?;
        tree.draw_within(st, &mut self.nu_weights, rng)
    }
}
