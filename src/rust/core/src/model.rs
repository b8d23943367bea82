//! The two-level model: its data, prior, and the lecture's full conditionals.

use rand::{Rng, RngExt};
use rand_distr::{Distribution, StandardNormal};

use crate::prior::PrecisionConditional;
use crate::slice::slice_step;
use crate::{Error, GammaRate, GroupStats, HierPrior};

/// One point of the two-level model's parameter space.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    pub mu: f64,
    pub tau_b: f64,
    pub tau_w: f64,
    pub theta: Vec<f64>,
}

impl State {
    /// Number of reported values: mu, sd_b, sd_w, then one theta per group
    /// if `keep_groups`.
    pub fn n_reported(n_groups: usize, keep_groups: bool) -> usize {
        if keep_groups { 3 + n_groups } else { 3 }
    }

    /// Writes mu, sd_b, sd_w and, if `out` has room, theta_1..theta_K.
    pub fn report(&self, out: &mut [f64]) {
        out[0] = self.mu;
        out[1] = 1.0 / self.tau_b.sqrt();
        out[2] = 1.0 / self.tau_w.sqrt();
        if out.len() > 3 {
            out[3..].copy_from_slice(&self.theta);
        }
    }
}

/// The data (as sufficient statistics) and prior of the two-level model,
/// with the constants every sweep reuses.
#[derive(Debug, Clone)]
pub struct Model {
    stats: GroupStats,
    prior: HierPrior,
    /// tau_b given theta and mu (K deviations).
    tau_b_conditional: PrecisionConditional,
    /// tau_w given theta (N deviations).
    tau_w_conditional: PrecisionConditional,
    /// `G(a + (K-1)/2, .)` and the prior's rate `b`: the proposal of the
    /// interweaving sampler's joint (mu, tau_b) step, when the prior on
    /// tau_b is Gamma.
    tau_b_joint: Option<(GammaRate, f64)>,
    total_ss: f64,
    n_total: f64,
    /// `sum_k log n_k`.
    sum_count_log_n: f64,
    /// `sum_k n_k ybar_k`, the sum of all observations.
    sum_y: f64,
    size_classes: Vec<SizeClass>,
    log_blocks: Vec<LogBlock>,
    /// Index into `size_classes` of each group.
    class_of: Vec<usize>,
    /// The mean of the group means; the size classes store means centred on
    /// it, so that the collapsed density's `s2 - s1^2/W` does not cancel.
    centre: f64,
}

/// Groups of one size `n`: how many, and the sum and sum of squares of their
/// centred means. The collapsed density needs only these, so it costs O(J)
/// for J distinct sizes rather than O(K).
#[derive(Debug, Clone)]
struct SizeClass {
    n: f64,
    count: f64,
    sum: f64,
    sum_sq: f64,
    /// The bits of `count` (1, 2, 4, 8), when it is below 16.
    count_bits: [bool; 4],
}

/// How `sum_k log(tau_b + n_k tau_w)` is taken over the size classes (in
/// order of size) without one logarithm per class: as `K log t_1 + sum_j
/// count_j log r_j` with `r_j = t_j / t_1 <= n_j / n_1`, the factors
/// `r_j^count_j` of a run of classes are multiplied together, at most 2^1000
/// whatever the precisions, and one logarithm taken of the product. A class
/// whose factor alone could exceed that takes its own logarithm (MATHS.md
/// section 9.2).
#[derive(Debug, Clone)]
enum LogBlock {
    Product(std::ops::Range<usize>),
    Own(usize),
}

/// Working memory a chain reuses from sweep to sweep, so that a sweep
/// allocates nothing.
#[derive(Debug, Clone, Default)]
pub struct Workspace {
    theta_coef: Vec<ThetaCoef>,
}

/// `theta_k | . = weight * ybar_k + offset + sd * z` for groups of one size.
#[derive(Debug, Clone, Copy)]
struct ThetaCoef {
    weight: f64,
    offset: f64,
    sd: f64,
}

/// mu given the precisions, with theta integrated out: its precision `W`
/// and its mean, centred on the mean of the group means.
#[derive(Debug, Clone, Copy)]
pub struct MuMarginal {
    precision: f64,
    centred_mean: f64,
}

pub(crate) fn std_normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    StandardNormal.sample(rng)
}

impl Model {
    pub fn new(stats: GroupStats, prior: HierPrior) -> Result<Self, Error> {
        prior.validate()?;
        let k = stats.n_groups() as f64;
        let tau_b_conditional = PrecisionConditional::new(prior.between, k)?;
        let tau_w_conditional = PrecisionConditional::new(prior.within, stats.n_total())?;
        let tau_b_joint = match prior.between.conjugate() {
            Some((a, b)) => Some((GammaRate::new(a + (k - 1.0) / 2.0)?, b)),
            None => None,
        };
        let total_ss = stats.ss().iter().sum();
        let n_total = stats.n_total();
        let sum_count_log_n = stats.n().iter().map(|n| n.ln()).sum();
        let sum_y = stats.n().iter().zip(stats.ybar()).map(|(n, y)| n * y).sum();
        let centre = stats.ybar().iter().sum::<f64>() / k;
        let mut sizes: Vec<f64> = stats.n().to_vec();
        sizes.sort_by(f64::total_cmp);
        sizes.dedup();
        let mut size_classes: Vec<SizeClass> = sizes
            .into_iter()
            .map(|n| SizeClass {
                n,
                count: 0.0,
                sum: 0.0,
                sum_sq: 0.0,
                count_bits: [false; 4],
            })
            .collect();
        let mut class_of = Vec::with_capacity(stats.n_groups());
        for (&n, &ybar) in stats.n().iter().zip(stats.ybar()) {
            let j = size_classes
                .binary_search_by(|c| c.n.total_cmp(&n))
                .map_err(|_| Error::Internal("group size not classified".into()))?;
            class_of.push(j);
            let d = ybar - centre;
            let class = &mut size_classes[j];
            class.count += 1.0;
            class.sum += d;
            class.sum_sq += d * d;
        }
        let log_blocks = log_blocks(&mut size_classes);
        Ok(Self {
            stats,
            prior,
            tau_b_conditional,
            tau_w_conditional,
            tau_b_joint,
            total_ss,
            n_total,
            sum_count_log_n,
            sum_y,
            size_classes,
            log_blocks,
            class_of,
            centre,
        })
    }

    pub fn stats(&self) -> &GroupStats {
        &self.stats
    }

    pub fn prior(&self) -> &HierPrior {
        &self.prior
    }

    /// A starting point dispersed around the data's own estimates, so that
    /// chains start apart and R-hat can see a chain that has not converged.
    pub fn initial_state<R: Rng + ?Sized>(&self, rng: &mut R) -> State {
        let s = &self.stats;
        let k = s.n_groups() as f64;
        let mean_ybar = s.ybar().iter().sum::<f64>() / k;
        let var_ybar = s
            .ybar()
            .iter()
            .map(|y| (y - mean_ybar).powi(2))
            .sum::<f64>()
            / (k - 1.0);
        let within_df = s.n_total() - k;
        let pooled = if within_df > 0.0 {
            self.total_ss / within_df
        } else {
            0.0
        };
        // Degenerate data (all means equal, or one observation per group)
        // fall back on the prior's scale rather than a zero variance.
        let var_b = if var_ybar > 0.0 {
            var_ybar
        } else {
            1.0 / self.prior.tau0
        };
        let var_w = if pooled > 0.0 { pooled } else { var_b };
        let spread = |rng: &mut R| (2.0 * rng.random::<f64>() - 1.0_f64).exp();
        let tau_b = self.prior.between.in_support(spread(rng) / var_b);
        let tau_w = self.prior.within.in_support(spread(rng) / var_w);
        let mu = mean_ybar + std_normal(rng) * (var_b / k).sqrt();
        let theta = s
            .ybar()
            .iter()
            .zip(s.n())
            .map(|(&y, &n)| y + std_normal(rng) * (var_w / n).sqrt())
            .collect();
        State {
            mu,
            tau_b,
            tau_w,
            theta,
        }
    }

    /// Number of distinct group sizes, J.
    pub fn n_sizes(&self) -> usize {
        self.size_classes.len()
    }

    /// With theta and mu integrated out: ybar_k ~ N(mu, 1/w_k) with
    /// `w_k = 1/(1/tau_b + 1/(n_k tau_w))`, and mu ~ N(mu0, 1/tau0).
    /// Returns log p(ybar | tau_b, tau_w) up to a constant, and mu given
    /// (tau_b, tau_w, y). Takes the precisions' logarithms too, which the
    /// slice steps have already.
    fn marginal(
        &self,
        [tau_b, tau_w]: [f64; 2],
        [log_tau_b, log_tau_w]: [f64; 2],
    ) -> (f64, MuMarginal) {
        let p = &self.prior;
        let mu0 = p.mu0 - self.centre;
        let k_total = self.class_of.len() as f64;
        let (mut precision, mut s1, mut s2) = (p.tau0, p.tau0 * mu0, p.tau0 * mu0 * mu0);
        // sum_k log(tau_b + n_k tau_w) in the same pass; see `LogBlock`.
        let t1 = tau_b + self.size_classes[0].n * tau_w;
        let inv_t1 = 1.0 / t1;
        let mut sum_count_log = k_total * t1.ln();
        let mut add_class = |c: &SizeClass| {
            let data_precision = c.n * tau_w;
            let t = tau_b + data_precision;
            let w = tau_b * data_precision / t;
            precision += c.count * w;
            s1 += w * c.sum;
            s2 += w * c.sum_sq;
            t * inv_t1
        };
        for block in &self.log_blocks {
            sum_count_log += match block {
                LogBlock::Product(range) => {
                    let mut product = 1.0;
                    for c in &self.size_classes[range.clone()] {
                        let r = add_class(c);
                        let r2 = r * r;
                        let r4 = r2 * r2;
                        let r8 = r4 * r4;
                        let pick = |bit: bool, x: f64| if bit { x } else { 1.0 };
                        let [b1, b2, b4, b8] = c.count_bits;
                        product *= (pick(b1, r) * pick(b2, r2)) * (pick(b4, r4) * pick(b8, r8));
                    }
                    product.ln()
                }
                &LogBlock::Own(j) => {
                    let c = &self.size_classes[j];
                    c.count * add_class(c).ln()
                }
            };
        }
        // t_1 overflows only for absurd precisions: then each class takes
        // its own logarithm.
        if !t1.is_finite() {
            sum_count_log = self
                .size_classes
                .iter()
                .map(|c| c.count * (tau_b + c.n * tau_w).ln())
                .sum();
        }
        // sum_k log w_k, with log w_k = log tau_b + log(n_k tau_w) - log(tau_b + n_k tau_w).
        let log_w = k_total * (log_tau_b + log_tau_w) + self.sum_count_log_n - sum_count_log;
        let centred_mean = s1 / precision;
        let q = (s2 - s1 * centred_mean).max(0.0);
        let log_density = 0.5 * log_w - 0.5 * precision.ln() - 0.5 * q;
        (
            log_density,
            MuMarginal {
                precision,
                centred_mean,
            },
        )
    }

    /// Log density of `x = (log tau_b, log tau_w)` with mu and theta
    /// integrated out (MATHS.md section 4.1), up to a constant,
    /// and mu's distribution given these precisions.
    pub fn collapsed_log_density(&self, x: [f64; 2]) -> (f64, MuMarginal) {
        let [tau_b, tau_w] = x.map(f64::exp);
        if !(tau_b.is_finite() && tau_b > 0.0 && tau_w.is_finite() && tau_w > 0.0) {
            let nowhere = MuMarginal {
                precision: f64::NAN,
                centred_mean: f64::NAN,
            };
            return (f64::NEG_INFINITY, nowhere);
        }
        let (log_density, mu) = self.marginal([tau_b, tau_w], x);
        let p = &self.prior;
        // Each group's own spread: tau_w^((n_k - 1)/2) exp(-tau_w S_k / 2).
        let within =
            0.5 * (self.n_total - self.class_of.len() as f64) * x[1] - 0.5 * tau_w * self.total_ss;
        let priors = p.between.log_density_log_precision(x[0], tau_b)
            + p.within.log_density_log_precision(x[1], tau_w);
        (priors + within + log_density, mu)
    }

    /// `mu | tau_b, tau_w, y` with theta integrated out (MATHS.md section 5).
    pub fn draw_mu_marginal<R: Rng + ?Sized>(&self, st: &mut State, rng: &mut R) {
        let (_, mu) = self.marginal([st.tau_b, st.tau_w], [st.tau_b.ln(), st.tau_w.ln()]);
        self.draw_mu_from(mu, st, rng);
    }

    /// Draws mu from `mu`, which must be its distribution given the state's
    /// tau_b and tau_w.
    pub fn draw_mu_from<R: Rng + ?Sized>(&self, mu: MuMarginal, st: &mut State, rng: &mut R) {
        st.mu = self.centre + mu.centred_mean + std_normal(rng) / mu.precision.sqrt();
    }

    /// Joint `(mu, tau_b) | theta` (MATHS.md section 7.1, the SA step):
    /// tau_b from its density with mu integrated out, by rejection from
    /// `G(a + (K-1)/2, b + SS/2)`, then mu given tau_b. After 20 rejected
    /// proposals falls back on one Gibbs pass over tau_b and mu; this keeps
    /// the step exact because the chance of falling back depends on theta
    /// alone.
    /// With another prior on sd_b, tau_b moves by a slice step on that
    /// density instead (MATHS.md section 7.1).
    pub fn draw_mu_tau_b_given_theta<R: Rng + ?Sized>(
        &self,
        st: &mut State,
        rng: &mut R,
    ) -> Result<(), Error> {
        let k = st.theta.len() as f64;
        let thetabar = st.theta.iter().sum::<f64>() / k;
        let ss: f64 = st.theta.iter().map(|t| (t - thetabar).powi(2)).sum();
        let p = &self.prior;
        let d = thetabar - p.mu0;
        let Some((proposal, prior_rate)) = &self.tau_b_joint else {
            // log tau_b | theta: the prior, tau_b^((K-1)/2) exp(-tau_b SS/2)
            // and mu's integral, sqrt(r) exp(-d^2 tau0 r / 2).
            let log_f = |x: f64| {
                let t = x.exp();
                let r = k * t / (k * t + p.tau0);
                p.between.log_density_log_precision(x, t) + 0.5 * (k - 1.0) * x - 0.5 * ss * t
                    + 0.5 * r.ln()
                    - 0.5 * d * d * p.tau0 * r
            };
            let x0 = st.tau_b.ln();
            st.tau_b = slice_step(x0, log_f(x0), log_f, 1.0, rng)?.0.exp();
            self.draw_mu_given_theta(st, rng);
            return Ok(());
        };
        let rate = prior_rate + ss / 2.0;
        for _ in 0..20 {
            let t = proposal.sample(rng, rate);
            let r = k * t / (k * t + p.tau0);
            let accept = r.sqrt() * (-d * d * p.tau0 * r / 2.0).exp();
            if rng.random::<f64>() < accept {
                st.tau_b = t;
                self.draw_mu_given_theta(st, rng);
                return Ok(());
            }
        }
        self.draw_tau_b_given_theta(st, rng)?;
        self.draw_mu_given_theta(st, rng);
        Ok(())
    }

    /// `P = sum_k p_k + tau0` and `(sum_k p_k ybar_k + tau0 mu0) / P` with
    /// `p_k = n_k tau_w`, in O(1): the interweaving step's pooled estimate.
    pub fn pooled_precision_and_mean(&self, tau_w: f64) -> (f64, f64) {
        let p = &self.prior;
        let precision = p.tau0 + tau_w * self.n_total;
        let mean = (p.tau0 * p.mu0 + tau_w * self.sum_y) / precision;
        (precision, mean)
    }

    /// Data precisions `p_k = n_k tau_w` and the group means, for the
    /// interweaving sampler's ancillary step.
    pub fn group_precisions(&self, tau_w: f64) -> impl Iterator<Item = (f64, f64)> + '_ {
        self.stats
            .n()
            .iter()
            .zip(self.stats.ybar())
            .map(move |(&n, &ybar)| (n * tau_w, ybar))
    }

    /// `mu | theta, tau_b ~ N((K tau_b thetabar + tau0 mu0)/(K tau_b + tau0), 1/(K tau_b + tau0))`.
    pub fn draw_mu_given_theta<R: Rng + ?Sized>(&self, st: &mut State, rng: &mut R) {
        let k = st.theta.len() as f64;
        let thetabar = st.theta.iter().sum::<f64>() / k;
        let p = &self.prior;
        let precision = k * st.tau_b + p.tau0;
        let mean = (k * st.tau_b * thetabar + p.tau0 * p.mu0) / precision;
        st.mu = mean + std_normal(rng) / precision.sqrt();
    }

    /// `tau_b | theta, mu ~ G(a + K/2, b + sum_k (theta_k - mu)^2 / 2)`.
    pub fn draw_tau_b_given_theta<R: Rng + ?Sized>(
        &self,
        st: &mut State,
        rng: &mut R,
    ) -> Result<(), Error> {
        let ss: f64 = st.theta.iter().map(|t| (t - st.mu).powi(2)).sum();
        st.tau_b = self.tau_b_conditional.draw(st.tau_b, ss, rng)?;
        Ok(())
    }

    /// `theta_k | . ~ N((n_k tau_w ybar_k + tau_b mu)/(n_k tau_w + tau_b), 1/(n_k tau_w + tau_b))`.
    ///
    /// Groups of one size share the weights, so the divisions and square
    /// roots are done once per size class (J), not once per group (K).
    pub fn draw_theta<R: Rng + ?Sized>(&self, st: &mut State, ws: &mut Workspace, rng: &mut R) {
        let (mu, tau_b, tau_w) = (st.mu, st.tau_b, st.tau_w);
        ws.theta_coef.clear();
        ws.theta_coef.extend(self.size_classes.iter().map(|c| {
            let data_precision = c.n * tau_w;
            let variance = 1.0 / (data_precision + tau_b);
            ThetaCoef {
                weight: data_precision * variance,
                offset: tau_b * mu * variance,
                sd: variance.sqrt(),
            }
        }));
        let groups = st
            .theta
            .iter_mut()
            .zip(self.stats.ybar())
            .zip(&self.class_of);
        for ((theta, &ybar), &class) in groups {
            let c = &ws.theta_coef[class];
            *theta = c.weight * ybar + c.offset + c.sd * std_normal(rng);
        }
    }

    /// `tau_w | theta ~ G(alpha + N/2, beta + sum_k [S_k + n_k (ybar_k - theta_k)^2] / 2)`.
    pub fn draw_tau_w<R: Rng + ?Sized>(&self, st: &mut State, rng: &mut R) -> Result<(), Error> {
        let s = &self.stats;
        let between: f64 = st
            .theta
            .iter()
            .zip(s.n())
            .zip(s.ybar())
            .map(|((t, n), y)| n * (y - t).powi(2))
            .sum();
        st.tau_w = self
            .tau_w_conditional
            .draw(st.tau_w, self.total_ss + between, rng)?;
        Ok(())
    }
}

/// Groups the size classes (in order of size) into `LogBlock`s and sets
/// the count bits of those whose factors join a product.
fn log_blocks(classes: &mut [SizeClass]) -> Vec<LogBlock> {
    // log2 of the largest product; f64 overflows at 2^1024.
    const MAX_PRODUCT_BITS: f64 = 1000.0;
    let n1 = classes[0].n;
    let mut blocks = Vec::new();
    let (mut start, mut bits) = (0, 0.0);
    for (j, c) in classes.iter_mut().enumerate() {
        let factor_bits = c.count * (c.n / n1).log2();
        if c.count >= 16.0 || factor_bits > MAX_PRODUCT_BITS {
            if start < j {
                blocks.push(LogBlock::Product(start..j));
            }
            blocks.push(LogBlock::Own(j));
            (start, bits) = (j + 1, 0.0);
            continue;
        }
        if bits + factor_bits > MAX_PRODUCT_BITS {
            blocks.push(LogBlock::Product(start..j));
            (start, bits) = (j, 0.0);
        }
        bits += factor_bits;
        let count = c.count as usize;
        c.count_bits = [1, 2, 4, 8].map(|bit| count & bit != 0);
    }
    if start < classes.len() {
        blocks.push(LogBlock::Product(start..classes.len()));
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain_rng;

    fn toy_model() -> Model {
        // Three groups, sizes 2, 3, 4, with a large offset to catch any
        // formula that only works for data near zero.
        let obs = [
            (0, 101.0),
            (0, 103.0),
            (1, 96.0),
            (1, 99.0),
            (1, 97.0),
            (2, 108.0),
            (2, 104.0),
            (2, 106.0),
            (2, 110.0),
        ];
        let stats = GroupStats::from_observations(3, obs).unwrap();
        let prior = HierPrior::lecture(90.0, 0.01, [2.0, 8.0], [3.0, 12.0]);
        Model::new(stats, prior).unwrap()
    }

    fn fixed_state() -> State {
        State {
            mu: 100.0,
            tau_b: 0.2,
            tau_w: 0.5,
            theta: vec![102.0, 97.0, 107.0],
        }
    }

    /// Mean and variance of `n` draws of `f`; checks them against the exact
    /// values within `z` standard errors (the variance's from the 4th moment
    /// of a normal or Gamma, bounded here by `var_se_factor`).
    fn check_moments(
        draws: &[f64],
        exact_mean: f64,
        exact_var: f64,
        var_se_factor: f64,
        what: &str,
    ) {
        let n = draws.len() as f64;
        let mean = draws.iter().sum::<f64>() / n;
        let var = draws.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
        let mean_se = (exact_var / n).sqrt();
        let var_se = var_se_factor * exact_var * (2.0 / (n - 1.0)).sqrt();
        assert!(
            (mean - exact_mean).abs() < 5.0 * mean_se,
            "{what}: mean {mean} vs exact {exact_mean}"
        );
        assert!(
            (var - exact_var).abs() < 5.0 * var_se,
            "{what}: variance {var} vs exact {exact_var}"
        );
    }

    const DRAWS: usize = 100_000;

    /// Straight from the definitions, group by group: `w_k = 1/(1/tau_b +
    /// 1/(n_k tau_w))`, `W = sum_k w_k + tau0` and the mean of mu given the
    /// precisions, `(sum_k w_k ybar_k + tau0 mu0) / W`.
    fn direct_mu_marginal(
        s: &GroupStats,
        p: &HierPrior,
        tau_b: f64,
        tau_w: f64,
    ) -> (Vec<f64>, f64, f64) {
        let w: Vec<f64> = s
            .n()
            .iter()
            .map(|n| 1.0 / (1.0 / tau_b + 1.0 / (n * tau_w)))
            .collect();
        let big_w = w.iter().sum::<f64>() + p.tau0;
        let mean =
            (w.iter().zip(s.ybar()).map(|(w, y)| w * y).sum::<f64>() + p.tau0 * p.mu0) / big_w;
        (w, big_w, mean)
    }

    /// `DRAWS` draws of one conditional, each from the same fixed state.
    fn draws_from_fixed_state(
        seed: u64,
        step: impl Fn(&Model, &mut State, &mut rand_pcg::Pcg64),
        read: impl Fn(&State) -> f64,
    ) -> Vec<f64> {
        let m = toy_model();
        let mut rng = chain_rng(seed, 0);
        (0..DRAWS)
            .map(|_| {
                let mut st = fixed_state();
                step(&m, &mut st, &mut rng);
                read(&st)
            })
            .collect()
    }

    /// The collapsed density of `(log tau_b, log tau_w)` against the
    /// direct sum over groups, for `log tau_b` from -300 to 300 (where the
    /// size classes' factors take their own logarithms).
    fn check_collapsed_density(stats: &GroupStats, prior: HierPrior) {
        let model = Model::new(stats.clone(), prior).unwrap();
        let n_total: f64 = stats.n().iter().sum();
        let within_ss: f64 = stats.ss().iter().sum();
        let k = stats.n_groups() as f64;
        let direct = |v: f64, log_tau_w: f64| {
            // ybar_k ~ N(mu, 1/w_k), mu ~ N(mu0, 1/tau0), mu integrated out;
            // the spread within groups, tau_w^((N-K)/2) exp(-tau_w S / 2).
            let (tau_b, tau_w) = (v.exp(), log_tau_w.exp());
            let (w, big_w, m) = direct_mu_marginal(stats, &prior, tau_b, tau_w);
            let q = w
                .iter()
                .zip(stats.ybar())
                .map(|(w, y)| w * (y - m).powi(2))
                .sum::<f64>()
                + prior.tau0 * (m - prior.mu0).powi(2);
            prior.between.log_density_log_precision(v, tau_b)
                + prior.within.log_density_log_precision(log_tau_w, tau_w)
                + 0.5 * (n_total - k) * log_tau_w
                - 0.5 * tau_w * within_ss
                + 0.5 * w.iter().map(|w| w.ln()).sum::<f64>()
                - 0.5 * big_w.ln()
                - 0.5 * q
        };
        let collapsed = |v: f64, log_tau_w: f64| model.collapsed_log_density([v, log_tau_w]).0;
        let base = collapsed(0.0, 0.0) - direct(0.0, 0.0);
        for log_tau_w in [-3.0, -0.4, 0.0, 2.0] {
            for v in [-300.0, -40.0, -4.0, -1.0, 0.5, 2.0, 5.0, 40.0, 300.0] {
                let diff = collapsed(v, log_tau_w) - direct(v, log_tau_w) - base;
                let scale = 1.0 + direct(v, log_tau_w).abs();
                assert!(
                    diff.abs() < 1e-9 * scale,
                    "log tau_b = {v}, log tau_w = {log_tau_w}: differs by {diff}"
                );
            }
        }
        for bad in [[f64::INFINITY, 0.0], [0.0, -f64::INFINITY], [f64::NAN, 0.0]] {
            assert_eq!(collapsed(bad[0], bad[1]), f64::NEG_INFINITY);
        }
    }

    /// Observations `offset + small integers`, `sizes[k]` of them in group k.
    fn stats_of_sizes(sizes: &[usize], offset: f64) -> GroupStats {
        let obs: Vec<(usize, f64)> = sizes
            .iter()
            .enumerate()
            .flat_map(|(k, &n)| (0..n).map(move |i| (k, offset + (k * 7 + i * 3 % 5) as f64)))
            .collect();
        GroupStats::from_observations(sizes.len(), obs).unwrap()
    }

    #[test]
    fn collapsed_density_by_size_class_matches_the_direct_sum() {
        let prior = HierPrior::lecture(1e6 + 2.0, 0.3, [1.5, 2.0], [1.0, 1.0]);
        // Unequal sizes, two groups sharing a size, and a large offset.
        let stats = stats_of_sizes(&[3, 5, 5, 1, 8], 1e6);
        assert_eq!(Model::new(stats.clone(), prior).unwrap().n_sizes(), 4);
        check_collapsed_density(&stats, prior);
        // 40 groups of size 2 (a class whose factor takes its own
        // logarithm) and six other sizes.
        let sizes: Vec<usize> = (0..70)
            .map(|k| if k < 40 { 2 } else { 3 + k % 6 })
            .collect();
        let stats = stats_of_sizes(&sizes, 1e6);
        assert_eq!(Model::new(stats.clone(), prior).unwrap().n_sizes(), 7);
        check_collapsed_density(&stats, prior);
        // Sizes far apart (from summaries): products of factors that must be
        // cut into several runs, and a factor that takes its own logarithm.
        let sizes: Vec<f64> = [1.0, 2e6, 4e6, 8e6, 1.6e7, 1e40, 2.0]
            .into_iter()
            .flat_map(|n| std::iter::repeat_n(n, 12))
            .collect();
        let ybar: Vec<f64> = (0..sizes.len()).map(|k| 1e6 + (k % 7) as f64).collect();
        let ss: Vec<f64> = sizes.iter().map(|n| 3.0 * (n - 1.0)).collect();
        let stats = GroupStats::from_summaries(sizes, ybar, ss).unwrap();
        let model = Model::new(stats.clone(), prior).unwrap();
        assert!(
            matches!(
                model.log_blocks[..],
                [LogBlock::Product(_), LogBlock::Product(_), LogBlock::Own(_)]
            ),
            "{:?}",
            model.log_blocks
        );
        check_collapsed_density(&stats, prior);
    }

    /// With the precisions fixed, (mu, theta) is jointly Gaussian: its mean
    /// and covariance in closed form (from mu | precisions, then theta | mu).
    fn exact_mu_theta_moments(m: &Model, st: &State) -> (Vec<f64>, Vec<Vec<f64>>) {
        let (tau_b, tau_w) = (st.tau_b, st.tau_w);
        let s = m.stats();
        let (_, big_w, mu) = direct_mu_marginal(s, m.prior(), tau_b, tau_w);
        let prec: Vec<f64> = s.n().iter().map(|n| n * tau_w + tau_b).collect();
        let shrink: Vec<f64> = prec.iter().map(|p| tau_b / p).collect();
        let mut mean = vec![mu];
        mean.extend(
            s.ybar()
                .iter()
                .zip(&prec)
                .map(|(y, p)| ((p - tau_b) * y + tau_b * mu) / p),
        );
        // loadings on mu: 1 for mu itself, shrink_k for theta_k
        let load: Vec<f64> = std::iter::once(1.0).chain(shrink.iter().copied()).collect();
        let cov = (0..load.len())
            .map(|i| {
                (0..load.len())
                    .map(|j| {
                        let own = if i == j && i > 0 {
                            1.0 / prec[i - 1]
                        } else {
                            0.0
                        };
                        own + load[i] * load[j] / big_w
                    })
                    .collect()
            })
            .collect();
        (mean, cov)
    }

    fn check_joint_moments(draws: &[Vec<f64>], mean: &[f64], cov: &[Vec<f64>], what: &str) {
        let n = draws.len() as f64;
        let d = mean.len();
        let emp_mean: Vec<f64> = (0..d)
            .map(|i| draws.iter().map(|x| x[i]).sum::<f64>() / n)
            .collect();
        for i in 0..d {
            let se = (cov[i][i] / n).sqrt();
            assert!((emp_mean[i] - mean[i]).abs() < 5.0 * se, "{what}: mean {i}");
            for j in 0..d {
                let emp = draws
                    .iter()
                    .map(|x| (x[i] - emp_mean[i]) * (x[j] - emp_mean[j]))
                    .sum::<f64>()
                    / (n - 1.0);
                // se of a covariance of normals: sqrt((s_ii s_jj + s_ij^2) / n)
                let se = ((cov[i][i] * cov[j][j] + cov[i][j].powi(2)) / n).sqrt();
                assert!(
                    (emp - cov[i][j]).abs() < 5.0 * se,
                    "{what}: cov {i},{j}: {emp} vs {}",
                    cov[i][j]
                );
            }
        }
    }

    #[test]
    fn mu_and_theta_are_jointly_gaussian_given_the_precisions() {
        let m = toy_model();
        let start = fixed_state();
        let (mean, cov) = exact_mu_theta_moments(&m, &start);
        let mut ws = Workspace::default();
        let snapshot = |st: &State| {
            std::iter::once(st.mu)
                .chain(st.theta.iter().copied())
                .collect::<Vec<f64>>()
        };

        // The blocked draw (mu with theta integrated out, then theta) is exact.
        let mut rng = chain_rng(8, 0);
        let mut st = start.clone();
        let blocked: Vec<Vec<f64>> = (0..DRAWS)
            .map(|_| {
                m.draw_mu_marginal(&mut st, &mut rng);
                m.draw_theta(&mut st, &mut ws, &mut rng);
                snapshot(&st)
            })
            .collect();
        check_joint_moments(&blocked, &mean, &cov, "blocked");

        // The lecture's alternation converges to the same law; thinned so the
        // kept draws are nearly independent.
        let mut rng = chain_rng(9, 0);
        let mut st = start.clone();
        let mut centred = Vec::with_capacity(DRAWS / 2);
        for i in 0..(DRAWS / 2) * 10 {
            m.draw_mu_given_theta(&mut st, &mut rng);
            m.draw_theta(&mut st, &mut ws, &mut rng);
            if i % 10 == 9 {
                centred.push(snapshot(&st));
            }
        }
        check_joint_moments(&centred, &mean, &cov, "centred");
        // The precisions were left alone.
        assert_eq!((st.tau_b, st.tau_w), (start.tau_b, start.tau_w));
    }

    #[test]
    fn marginal_mu_matches_closed_form() {
        let draws = draws_from_fixed_state(6, |m, st, rng| m.draw_mu_marginal(st, rng), |st| st.mu);
        let m = toy_model();
        let st = fixed_state();
        let (_, precision, mean) = direct_mu_marginal(m.stats(), m.prior(), st.tau_b, st.tau_w);
        check_moments(&draws, mean, 1.0 / precision, 1.0, "marginal mu");
    }

    #[test]
    fn mu_conditional_matches_closed_form() {
        let draws =
            draws_from_fixed_state(1, |m, st, rng| m.draw_mu_given_theta(st, rng), |st| st.mu);
        let precision = 3.0 * 0.2 + 0.01;
        let mean = (3.0 * 0.2 * 102.0 + 0.01 * 90.0) / precision;
        check_moments(&draws, mean, 1.0 / precision, 1.0, "mu");
    }

    #[test]
    fn tau_b_conditional_matches_closed_form() {
        let draws = draws_from_fixed_state(
            2,
            |m, st, rng| m.draw_tau_b_given_theta(st, rng).unwrap(),
            |st| st.tau_b,
        );
        let shape: f64 = 2.0 + 1.5;
        let rate = 8.0 + (4.0 + 9.0 + 49.0) / 2.0;
        // Gamma's excess kurtosis 6/shape widens the variance's error.
        let factor = (1.0 + 3.0 / shape).sqrt();
        check_moments(&draws, shape / rate, shape / rate / rate, factor, "tau_b");
    }

    #[test]
    fn theta_conditional_matches_closed_form() {
        let m = toy_model();
        let mut rng = chain_rng(3, 0);
        let mut per_group: Vec<Vec<f64>> = vec![Vec::new(); 3];
        let mut ws = Workspace::default();
        for _ in 0..DRAWS {
            let mut st = fixed_state();
            m.draw_theta(&mut st, &mut ws, &mut rng);
            for (k, t) in st.theta.iter().enumerate() {
                per_group[k].push(*t);
            }
        }
        let ybar = [102.0, 97.0 + 1.0 / 3.0, 107.0];
        for (k, n) in [2.0, 3.0, 4.0].into_iter().enumerate() {
            let precision = n * 0.5 + 0.2;
            let mean = (n * 0.5 * ybar[k] + 0.2 * 100.0) / precision;
            check_moments(&per_group[k], mean, 1.0 / precision, 1.0, "theta");
        }
    }

    #[test]
    fn tau_w_conditional_matches_closed_form() {
        let draws = draws_from_fixed_state(
            4,
            |m, st, rng| m.draw_tau_w(st, rng).unwrap(),
            |st| st.tau_w,
        );
        // Sum of squares about each theta, straight from the raw data.
        let rss = (101.0f64 - 102.0).powi(2)
            + (103.0f64 - 102.0).powi(2)
            + (96.0f64 - 97.0).powi(2)
            + (99.0f64 - 97.0).powi(2)
            + (97.0f64 - 97.0).powi(2)
            + [108.0f64, 104.0, 106.0, 110.0]
                .iter()
                .map(|y| (y - 107.0).powi(2))
                .sum::<f64>();
        let shape: f64 = 3.0 + 9.0 / 2.0;
        let rate = 12.0 + rss / 2.0;
        let factor = (1.0 + 3.0 / shape).sqrt();
        check_moments(&draws, shape / rate, shape / rate / rate, factor, "tau_w");
    }
}
