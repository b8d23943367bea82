//! The two-level model and its sweeps.

use rand::{Rng, RngExt};
use rand_distr::{Distribution, StandardNormal};

use crate::{Error, GammaRate, GroupStats, HierPrior};

/// Which transition kernel moves the chain. Every kernel leaves the same
/// posterior invariant; they differ in how fast they mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SamplerKind {
    /// The lecture's centred Gibbs sweep (model.md 3a).
    Gibbs,
}

impl SamplerKind {
    /// The sampler's name as the R interface spells it.
    pub fn name(self) -> &'static str {
        match self {
            SamplerKind::Gibbs => "gibbs",
        }
    }

    /// Parses the R interface's name.
    pub fn from_name(name: &str) -> Result<Self, Error> {
        match name {
            "gibbs" => Ok(SamplerKind::Gibbs),
            other => Err(Error::InvalidSettings(format!("unknown sampler {other:?}"))),
        }
    }
}

/// One point of the two-level model's parameter space.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    pub mu: f64,
    pub tau_b: f64,
    pub tau_w: f64,
    pub theta: Vec<f64>,
}

impl State {
    /// Number of reported values: mu, sd_b, sd_w and one theta per group.
    pub fn n_reported(n_groups: usize) -> usize {
        3 + n_groups
    }

    /// Writes mu, sd_b, sd_w, theta_1..theta_K into `out`.
    pub fn report(&self, out: &mut [f64]) {
        out[0] = self.mu;
        out[1] = 1.0 / self.tau_b.sqrt();
        out[2] = 1.0 / self.tau_w.sqrt();
        out[3..].copy_from_slice(&self.theta);
    }
}

/// The data (as sufficient statistics) and prior of the two-level model,
/// with the constants every sweep reuses.
#[derive(Debug, Clone)]
pub struct Model {
    stats: GroupStats,
    prior: HierPrior,
    /// `G(a + K/2, .)`: the full conditional of tau_b has this shape.
    tau_b_shape: GammaRate,
    /// `G(alpha + N/2, .)`: the full conditional of tau_w has this shape.
    tau_w_shape: GammaRate,
    total_ss: f64,
}

fn std_normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    StandardNormal.sample(rng)
}

impl Model {
    pub fn new(stats: GroupStats, prior: HierPrior) -> Result<Self, Error> {
        prior.validate()?;
        let k = stats.n_groups() as f64;
        let tau_b_shape = GammaRate::new(prior.a + k / 2.0)?;
        let tau_w_shape = GammaRate::new(prior.alpha + stats.n_total() / 2.0)?;
        let total_ss = stats.ss().iter().sum();
        Ok(Self {
            stats,
            prior,
            tau_b_shape,
            tau_w_shape,
            total_ss,
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
        let tau_b = spread(rng) / var_b;
        let tau_w = spread(rng) / var_w;
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

    /// One sweep of `kind` from `state`.
    pub fn sweep<R: Rng + ?Sized>(&self, kind: SamplerKind, state: &mut State, rng: &mut R) {
        match kind {
            SamplerKind::Gibbs => self.centred_gibbs_sweep(state, rng),
        }
    }

    /// The lecture's sweep, order mu, tau_b, theta, tau_w (model.md 3a).
    fn centred_gibbs_sweep<R: Rng + ?Sized>(&self, st: &mut State, rng: &mut R) {
        self.draw_mu_given_theta(st, rng);
        self.draw_tau_b_given_theta(st, rng);
        self.draw_theta(st, rng);
        self.draw_tau_w(st, rng);
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
    pub fn draw_tau_b_given_theta<R: Rng + ?Sized>(&self, st: &mut State, rng: &mut R) {
        let ss: f64 = st.theta.iter().map(|t| (t - st.mu).powi(2)).sum();
        st.tau_b = self.tau_b_shape.sample(rng, self.prior.b + ss / 2.0);
    }

    /// `theta_k | . ~ N((n_k tau_w ybar_k + tau_b mu)/(n_k tau_w + tau_b), 1/(n_k tau_w + tau_b))`.
    pub fn draw_theta<R: Rng + ?Sized>(&self, st: &mut State, rng: &mut R) {
        let s = &self.stats;
        let (mu, tau_b, tau_w) = (st.mu, st.tau_b, st.tau_w);
        for ((theta, &n), &ybar) in st.theta.iter_mut().zip(s.n()).zip(s.ybar()) {
            let data_precision = n * tau_w;
            let precision = data_precision + tau_b;
            let mean = (data_precision * ybar + tau_b * mu) / precision;
            *theta = mean + std_normal(rng) / precision.sqrt();
        }
    }

    /// `tau_w | theta ~ G(alpha + N/2, beta + sum_k [S_k + n_k (ybar_k - theta_k)^2] / 2)`.
    pub fn draw_tau_w<R: Rng + ?Sized>(&self, st: &mut State, rng: &mut R) {
        let s = &self.stats;
        let between: f64 = st
            .theta
            .iter()
            .zip(s.n())
            .zip(s.ybar())
            .map(|((t, n), y)| n * (y - t).powi(2))
            .sum();
        let rate = self.prior.beta + (self.total_ss + between) / 2.0;
        st.tau_w = self.tau_w_shape.sample(rng, rate);
    }
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
        let prior = HierPrior {
            mu0: 90.0,
            tau0: 0.01,
            a: 2.0,
            b: 8.0,
            alpha: 3.0,
            beta: 12.0,
        };
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

    #[test]
    fn mu_conditional_matches_closed_form() {
        let m = toy_model();
        let mut rng = chain_rng(1, 0);
        let draws: Vec<f64> = (0..DRAWS)
            .map(|_| {
                let mut st = fixed_state();
                m.draw_mu_given_theta(&mut st, &mut rng);
                st.mu
            })
            .collect();
        let precision = 3.0 * 0.2 + 0.01;
        let mean = (3.0 * 0.2 * 102.0 + 0.01 * 90.0) / precision;
        check_moments(&draws, mean, 1.0 / precision, 1.0, "mu");
    }

    #[test]
    fn tau_b_conditional_matches_closed_form() {
        let m = toy_model();
        let mut rng = chain_rng(2, 0);
        let draws: Vec<f64> = (0..DRAWS)
            .map(|_| {
                let mut st = fixed_state();
                m.draw_tau_b_given_theta(&mut st, &mut rng);
                st.tau_b
            })
            .collect();
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
        for _ in 0..DRAWS {
            let mut st = fixed_state();
            m.draw_theta(&mut st, &mut rng);
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
        let m = toy_model();
        let mut rng = chain_rng(4, 0);
        let draws: Vec<f64> = (0..DRAWS)
            .map(|_| {
                let mut st = fixed_state();
                m.draw_tau_w(&mut st, &mut rng);
                st.tau_w
            })
            .collect();
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

    #[test]
    fn sampler_names_round_trip() {
        assert_eq!(SamplerKind::from_name("gibbs").unwrap(), SamplerKind::Gibbs);
        assert_eq!(SamplerKind::Gibbs.name(), "gibbs");
        assert!(SamplerKind::from_name("nuts").is_err());
    }
}
