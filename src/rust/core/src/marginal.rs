//! The marginal likelihood `p(y)` of a model (MATHS.md section 14): every
//! location integrated out exactly by the collapsed density (its constants
//! restored), the variance parameters by quadrature when there are at most
//! four of them, by bridge sampling from the posterior draws beyond.

use rand_pcg::Pcg64;

use crate::engine::{Messages, Tree, TreeState, std_normal};
use crate::prior::SdPrior;
use crate::slice::{cholesky_into, unwhiten_into, whiten_into};
use crate::spec::{TreePrior, Within};
use crate::{Error, GroupStats, Units, chain_rng};

/// Quadrature up to this many variance parameters; bridge sampling beyond.
pub const MAX_QUADRATURE_DIM: usize = 4;
/// First grid step in the whitened coordinates (posterior sds of about 1),
/// halved while the error exceeds `QUADRATURE_TOLERANCE` (draws that
/// describe the posterior poorly place a grid too coarse for it).
const FIRST_STEP: f64 = 0.75;
const QUADRATURE_TOLERANCE: f64 = 1e-6;
const MAX_REFINEMENTS: usize = 3;
/// The grid starts at +-8 posterior sds and grows a face while the face
/// holds more than e^-30 of the integral.
const START_HALF_WIDTH: f64 = 8.0;
const FACE_TOLERANCE: f64 = -30.0;
const MAX_GROWTH_ROUNDS: usize = 12;
const MAX_GRID_POINTS: usize = 4_000_000;
const MAX_BRIDGE_ITERATIONS: usize = 1000;
/// Evaluations between polls for an interrupt.
const POLL_EVERY: usize = 4096;

/// How the variance parameters were integrated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvidenceMethod {
    /// Nothing left to integrate (the one-sample model with known errors).
    Exact,
    Quadrature,
    BridgeSampling,
}

impl EvidenceMethod {
    pub fn name(self) -> &'static str {
        match self {
            EvidenceMethod::Exact => "exact",
            EvidenceMethod::Quadrature => "quadrature",
            EvidenceMethod::BridgeSampling => "bridge sampling",
        }
    }
}

/// `log p(y)` with an estimate of its error (on the log scale).
#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    pub log_value: f64,
    pub error: f64,
    pub method: EvidenceMethod,
    pub evaluations: usize,
}

/// The integrand over the model's free coordinates: each level's sd, then
/// the within-group sd (common variance) or sigma0 and every group's own
/// sd (group-specific variances), each as a coordinate on the whole real
/// line (`to_log_precision`).
pub struct Integrand<'a> {
    tree: &'a Tree,
    /// The priors of the coordinates that have one of their own: the
    /// levels', then sd_w or sd_w0.
    priors: Vec<SdPrior>,
    priors_constant: Vec<f64>,
    constant: f64,
    state: TreeState,
    messages: Messages,
    /// `-log sum_nu exp(-lambda nu)`, the prior's constant on nu0.
    nu_log_normaliser: f64,
}

/// A coordinate `z` as `x = log tau`, with `log |dx/dz|`: `z = x` for every
/// family but the uniform on `(0, upper)`, whose bounded support would
/// stop the quadrature's fast convergence; it takes `z = logit(sd/upper)`.
fn to_log_precision(prior: &SdPrior, z: f64) -> (f64, f64) {
    match *prior {
        SdPrior::Uniform { upper } => (
            -2.0 * upper.ln() + 2.0 * softplus(-z),
            std::f64::consts::LN_2 - softplus(z),
        ),
        _ => (z, 0.0),
    }
}

/// The coordinate of a standard deviation (inverse of `to_log_precision`).
fn coordinate_of_sd(prior: &SdPrior, sd: f64) -> f64 {
    match *prior {
        SdPrior::Uniform { upper } => (sd / (upper - sd)).ln(),
        _ => -2.0 * sd.ln(),
    }
}

/// `log(1 + e^z)` without overflow.
fn softplus(z: f64) -> f64 {
    if z > 0.0 {
        z + (-z).exp().ln_1p()
    } else {
        z.exp().ln_1p()
    }
}

fn log_sum_exp(values: impl Iterator<Item = f64> + Clone) -> f64 {
    let max = values.clone().fold(f64::NEG_INFINITY, f64::max);
    if !max.is_finite() {
        return max;
    }
    max + values.map(|v| (v - max).exp()).sum::<f64>().ln()
}

impl<'a> Integrand<'a> {
    /// `row_weights`: with known variances, each row's precision `1/se^2`
    /// (their constants are part of `p(y)`); `None` treats each group's
    /// statistics as one row.
    pub fn new(tree: &'a Tree, row_weights: Option<&[f64]>) -> Self {
        let prior = tree.prior();
        let stats = tree.stats();
        let log_2pi = (2.0 * std::f64::consts::PI).ln();
        let sum_log_n: f64 = stats.n().iter().map(|n| n.ln()).sum();
        let constant = match (prior.within, row_weights) {
            (Within::Known, Some(w)) => {
                -0.5 * w.len() as f64 * log_2pi + 0.5 * w.iter().map(|w| w.ln()).sum::<f64>()
                    - 0.5 * sum_log_n
                    - 0.5 * stats.ss().iter().sum::<f64>()
            }
            (Within::Known, None) => -0.5 * stats.n_groups() as f64 * log_2pi,
            _ => -0.5 * tree.n_total() * log_2pi - 0.5 * sum_log_n,
        };
        let mut priors = prior.levels.clone();
        let mut nu_log_normaliser = 0.0;
        match prior.within {
            Within::Common { prior } => priors.push(prior),
            Within::Known => {}
            Within::Group {
                centre,
                lambda,
                nu_max,
            } => {
                priors.push(centre);
                nu_log_normaliser = -log_sum_exp((1..=nu_max).map(|nu| -lambda * nu as f64));
            }
        }
        let depth = tree.depth();
        let state = TreeState {
            values: Vec::new(),
            tau: vec![prior.tau0; depth + 1],
            tau_w: 1.0,
            group_precision: match prior.within {
                Within::Group { .. } => vec![1.0; stats.n_groups()],
                _ => Vec::new(),
            },
            sigma0_sq: 1.0,
            nu0: 1,
        };
        Self {
            tree,
            priors_constant: priors.iter().map(SdPrior::log_normaliser).collect(),
            priors,
            constant,
            state,
            messages: Messages::default(),
            nu_log_normaliser,
        }
    }

    /// Number of coordinates.
    pub fn dim(&self) -> usize {
        self.priors.len() + self.state.group_precision.len()
    }

    /// The coordinates of one draw of the sds, in the integrand's order.
    pub fn coordinates(&self, sds: &[f64]) -> Vec<f64> {
        sds.iter()
            .enumerate()
            .map(|(i, &sd)| {
                self.priors
                    .get(i)
                    .map_or(-2.0 * sd.ln(), |prior| coordinate_of_sd(prior, sd))
            })
            .collect()
    }

    /// `log p(y, variance parameters)` at the coordinates `z`, their
    /// Jacobian included; `-inf` outside the support.
    pub fn log_density(&mut self, z: &[f64]) -> f64 {
        let depth = self.tree.depth();
        let mut total = self.constant;
        // a coordinate with a prior of its own: its precision into the
        // state, its normalised log prior and Jacobian into the total
        let own = |i: usize, state: &mut TreeState| -> f64 {
            let prior = &self.priors[i];
            let (x, log_jacobian) = to_log_precision(prior, z[i]);
            let tau = x.exp();
            if i < depth {
                state.tau[i + 1] = tau;
            } else {
                state.tau_w = tau;
                state.sigma0_sq = 1.0 / tau;
            }
            prior.log_density_log_precision(x, tau) + self.priors_constant[i] + log_jacobian
        };
        for l in 0..depth {
            total += own(l, &mut self.state);
        }
        let stats = self.tree.stats();
        match self.tree.prior().within {
            Within::Known => {}
            Within::Common { .. } => {
                total += own(depth, &mut self.state);
                let x = self.state.tau_w.ln();
                let groups = stats.n_groups() as f64;
                let ss: f64 = stats.ss().iter().sum();
                total += 0.5 * (self.tree.n_total() - groups) * x - 0.5 * self.state.tau_w * ss;
            }
            Within::Group { lambda, nu_max, .. } => {
                total += own(depth, &mut self.state);
                let s0 = self.state.sigma0_sq;
                let xs = &z[depth + 1..];
                let (mut sum_x, mut sum_tau) = (0.0, 0.0);
                for (j, &x) in xs.iter().enumerate() {
                    let tau = x.exp();
                    self.state.group_precision[j] = tau;
                    sum_x += x;
                    sum_tau += tau;
                    total += 0.5 * (stats.n()[j] - 1.0) * x - 0.5 * tau * stats.ss()[j];
                }
                // 1/sigma_j^2 ~ G(nu/2, nu s0/2), on log precision, nu0
                // summed out against its prior
                let k = xs.len() as f64;
                let half_lgamma = self.tree.half_lgamma();
                total += self.nu_log_normaliser
                    + log_sum_exp((1..=nu_max).map(|nu| {
                        let half = nu as f64 / 2.0;
                        -lambda * nu as f64
                            + k * (half * (half * s0).ln() - half_lgamma[nu])
                            + half * sum_x
                            - half * s0 * sum_tau
                    }));
            }
        }
        total += self.tree.pass_up(&self.state, &mut self.messages);
        if total.is_nan() {
            f64::NEG_INFINITY
        } else {
            total
        }
    }
}

/// `log p(y)`, integrating over the coordinates whose posterior draws (one
/// row of `dim` sds per draw, in the integrand's order) are `draws`: by
/// quadrature on a grid whitened by their mean and covariance when
/// `bridge` is false and the dimension allows, by bridge sampling
/// otherwise (with `seed` for the proposal's draws). `interrupted` is
/// polled between batches of evaluations.
pub fn log_marginal_likelihood(
    integrand: &mut Integrand,
    draws: &[Vec<f64>],
    bridge: bool,
    seed: u64,
    interrupted: &mut dyn FnMut() -> bool,
) -> Result<Evidence, Error> {
    let d = integrand.dim();
    if d == 0 {
        let log_value = integrand.log_density(&[]);
        return Ok(Evidence {
            log_value,
            error: 0.0,
            method: EvidenceMethod::Exact,
            evaluations: 1,
        });
    }
    let z: Vec<Vec<f64>> = draws.iter().map(|s| integrand.coordinates(s)).collect();
    if z.iter()
        .any(|row| row.len() != d || row.iter().any(|v| !v.is_finite()))
    {
        return Err(Error::InvalidData(format!(
            "each draw needs {d} finite, positive sds inside their priors' support"
        )));
    }
    if bridge || d > MAX_QUADRATURE_DIM {
        bridge_sampling(integrand, &z, seed, interrupted)
    } else {
        let mut step = FIRST_STEP;
        let mut evaluations = 0;
        for refinement in 0.. {
            let mut evidence = quadrature(integrand, &z, step, interrupted)?;
            evaluations += evidence.evaluations;
            if evidence.error < QUADRATURE_TOLERANCE || refinement == MAX_REFINEMENTS {
                evidence.evaluations = evaluations;
                return Ok(evidence);
            }
            step /= 2.0;
        }
        unreachable!()
    }
}

/// `log p(y)` of the model `(parents, stats, prior)` in the data's units,
/// computed on the standardised response `z = (y - centre) / scale`
/// (section 11, where products of precisions stay in range whatever the
/// data's units) and mapped back by the change of units' Jacobian:
/// `log p(y) = log p(z) - N log scale` for N observations. `sd_draws` and
/// `row_weights` are in the data's units; the rest as in
/// `log_marginal_likelihood`.
#[allow(clippy::too_many_arguments)]
pub fn log_marginal_likelihood_in_units(
    parents: Vec<Vec<usize>>,
    stats: &GroupStats,
    prior: &TreePrior,
    row_weights: Option<&[f64]>,
    sd_draws: &[Vec<f64>],
    bridge: bool,
    seed: u64,
    interrupted: &mut dyn FnMut() -> bool,
) -> Result<Evidence, Error> {
    let units = Units::of(stats, &prior.within)?;
    let s = units.scale;
    let tree = Tree::new(
        parents,
        units.standardise_stats(stats, &prior.within)?,
        units.standardise_prior(prior)?,
    )?;
    let weights: Option<Vec<f64>> = row_weights.map(|w| w.iter().map(|w| w * s * s).collect());
    let observations = match (prior.within, &weights) {
        (Within::Known, Some(w)) => w.len() as f64,
        (Within::Known, None) => stats.n_groups() as f64,
        _ => stats.n_total(),
    };
    let draws: Vec<Vec<f64>> = sd_draws
        .iter()
        .map(|row| row.iter().map(|sd| sd / s).collect())
        .collect();
    let mut integrand = Integrand::new(&tree, weights.as_deref());
    if draws
        .first()
        .is_some_and(|row| row.len() != integrand.dim())
    {
        return Err(Error::InvalidData(format!(
            "each draw needs the {} sds the integral runs over",
            integrand.dim()
        )));
    }
    let mut evidence = log_marginal_likelihood(&mut integrand, &draws, bridge, seed, interrupted)?;
    evidence.log_value -= observations * s.ln();
    Ok(evidence)
}

/// Mean and lower Cholesky factor of the covariance of `rows`.
fn moments(rows: &[Vec<f64>]) -> Result<(Vec<f64>, Vec<Vec<f64>>), Error> {
    let d = rows[0].len();
    let n = rows.len() as f64;
    let mut mean = vec![0.0; d];
    for row in rows {
        for (m, v) in mean.iter_mut().zip(row) {
            *m += v / n;
        }
    }
    let mut cov = vec![vec![0.0; d]; d];
    for row in rows {
        for i in 0..d {
            for j in 0..=i {
                cov[i][j] += (row[i] - mean[i]) * (row[j] - mean[j]) / (n - 1.0);
            }
        }
    }
    let mut chol = vec![vec![0.0; d]; d];
    if !cholesky_into(&cov, &mut chol) {
        return Err(Error::InvalidData(
            "the draws of the variance parameters do not vary; \
             the marginal likelihood needs a fit with more draws"
                .into(),
        ));
    }
    Ok((mean, chol))
}

/// Tensor-product trapezoid rule on `mean + chol u`, `u` on a grid of step
/// `step`, grown face by face until every face is negligible; its error
/// from a second grid shifted by half a step in every coordinate (each
/// rule's error is of the size of their difference; the two are
/// averaged). For smooth integrands decaying like a Gaussian the rule
/// converges geometrically (MATHS.md section 14.3).
fn quadrature(
    integrand: &mut Integrand,
    z: &[Vec<f64>],
    step: f64,
    interrupted: &mut dyn FnMut() -> bool,
) -> Result<Evidence, Error> {
    let d = integrand.dim();
    let (mean, chol) = moments(z)?;
    let log_det: f64 = (0..d).map(|i| chol[i][i].ln()).sum();
    let start = (START_HALF_WIDTH / step).ceil() as i64;
    let (mut lo, mut hi) = (vec![-start; d], vec![start; d]);
    let grow = (4.0 / step).ceil() as i64;
    let mut point = vec![0.0; d];
    let mut u = vec![0.0; d];
    let mut evaluate = |integrand: &mut Integrand,
                        lo: &[i64],
                        hi: &[i64],
                        shift: f64,
                        interrupted: &mut dyn FnMut() -> bool|
     -> Result<Vec<f64>, Error> {
        let counts: Vec<usize> = lo
            .iter()
            .zip(hi)
            .map(|(l, h)| (h - l + 1) as usize)
            .collect();
        let total: usize = counts.iter().product();
        if total > MAX_GRID_POINTS {
            return Err(Error::InvalidData(format!(
                "the quadrature grid would need {total} points; the posterior of the \
                 variance parameters is too far from its draws' normal approximation"
            )));
        }
        let mut values = Vec::with_capacity(total);
        let mut index = vec![0usize; d];
        for n in 0..total {
            if n % POLL_EVERY == 0 && interrupted() {
                return Err(Error::Interrupted);
            }
            for i in 0..d {
                u[i] = step * ((lo[i] + index[i] as i64) as f64 + shift);
            }
            unwhiten_into(&chol, &mean, &u, &mut point);
            values.push(integrand.log_density(&point));
            for i in (0..d).rev() {
                index[i] += 1;
                if index[i] < counts[i] {
                    break;
                }
                index[i] = 0;
            }
        }
        Ok(values)
    };
    let mut rounds = 0;
    let (values, faces) = loop {
        let values = evaluate(integrand, &lo, &hi, 0.0, interrupted)?;
        let all = log_sum_exp(values.iter().copied());
        if !all.is_finite() {
            return Err(Error::InvalidData(
                "the integrand is zero or not finite on the quadrature grid".into(),
            ));
        }
        let counts: Vec<usize> = lo
            .iter()
            .zip(&hi)
            .map(|(l, h)| (h - l + 1) as usize)
            .collect();
        // each face's share of the integral, as log sums over its points
        let mut faces = vec![[f64::NEG_INFINITY; 2]; d];
        let mut stride = 1;
        for i in (0..d).rev() {
            let count = counts[i];
            for (share, at) in faces[i].iter_mut().zip([0, count - 1]) {
                let face = values
                    .iter()
                    .enumerate()
                    .filter(|(n, _)| (n / stride) % count == at)
                    .map(|(_, v)| *v);
                *share = log_sum_exp(face) - all;
            }
            stride *= count;
        }
        let mut grown = false;
        for i in 0..d {
            if faces[i][0] > FACE_TOLERANCE {
                lo[i] -= grow;
                grown = true;
            }
            if faces[i][1] > FACE_TOLERANCE {
                hi[i] += grow;
                grown = true;
            }
        }
        rounds += 1;
        if !grown || rounds == MAX_GROWTH_ROUNDS {
            break (values, faces);
        }
    };
    let shifted = evaluate(integrand, &lo, &hi, 0.5, interrupted)?;
    let scale = d as f64 * step.ln() + log_det;
    let first = log_sum_exp(values.iter().copied()) + scale;
    let second = log_sum_exp(shifted.iter().copied()) + scale;
    let log_value = log_sum_exp([first, second].into_iter()) - std::f64::consts::LN_2;
    // what lies beyond the grid is at most of the size of its faces' share
    let truncation: f64 = faces.iter().flatten().map(|f| f.exp()).sum();
    // each evaluation is a sum of terms of about the size of the result:
    // its rounding error bounds how well any grid can agree
    let rounding = 64.0 * f64::EPSILON * (log_value.abs() + 1.0);
    Ok(Evidence {
        log_value,
        error: (first - second).abs() + truncation + rounding,
        method: EvidenceMethod::Quadrature,
        evaluations: values.len() + shifted.len(),
    })
}

/// Meng and Wong's (1996) iterative bridge sampling with a normal proposal
/// fitted to the first half of the draws; the second half and as many
/// proposal draws form the bridge. Error: the relative mean squared error
/// of Fruhwirth-Schnatter (2004), the posterior half's autocorrelation
/// allowed for by batch means (MATHS.md section 14.4).
fn bridge_sampling(
    integrand: &mut Integrand,
    z: &[Vec<f64>],
    seed: u64,
    interrupted: &mut dyn FnMut() -> bool,
) -> Result<Evidence, Error> {
    let d = integrand.dim();
    let needed = (4 * d).max(200);
    if z.len() < needed {
        return Err(Error::InvalidData(format!(
            "bridge sampling over {d} variance parameters needs at least {needed} draws, \
             not {}",
            z.len()
        )));
    }
    let half = z.len() / 2;
    let (mean, chol) = moments(&z[..half])?;
    let log_det: f64 = (0..d).map(|i| chol[i][i].ln()).sum();
    let log_2pi = (2.0 * std::f64::consts::PI).ln();
    // log density of the proposal at a point, from its whitened u
    let log_proposal = |u: &[f64]| -> f64 {
        -0.5 * d as f64 * log_2pi - log_det - 0.5 * u.iter().map(|v| v * v).sum::<f64>()
    };
    let posterior = &z[half..];
    let n1 = posterior.len();
    let n2 = n1;
    let (mut u, mut x) = (vec![0.0; d], vec![0.0; d]);
    let mut l1 = Vec::with_capacity(n1);
    for (n, x) in posterior.iter().enumerate() {
        if n % POLL_EVERY == 0 && interrupted() {
            return Err(Error::Interrupted);
        }
        whiten_into(&chol, &mean, x, &mut u);
        l1.push(integrand.log_density(x) - log_proposal(&u));
    }
    let mut rng: Pcg64 = chain_rng(seed, 0);
    let mut l2 = Vec::with_capacity(n2);
    for n in 0..n2 {
        if n % POLL_EVERY == 0 && interrupted() {
            return Err(Error::Interrupted);
        }
        for v in u.iter_mut() {
            *v = std_normal(&mut rng);
        }
        unwhiten_into(&chol, &mean, &u, &mut x);
        l2.push(integrand.log_density(&x) - log_proposal(&u));
    }
    // Shift by a constant so that the ratios stay in range.
    let shift = {
        let mut sorted: Vec<f64> = l1.iter().copied().filter(|v| v.is_finite()).collect();
        sorted.sort_by(f64::total_cmp);
        sorted.get(sorted.len() / 2).copied().unwrap_or(0.0)
    };
    let (s1, s2) = (n1 as f64 / (n1 + n2) as f64, n2 as f64 / (n1 + n2) as f64);
    let e1: Vec<f64> = l1.iter().map(|v| (v - shift).exp()).collect();
    let e2: Vec<f64> = l2.iter().map(|v| (v - shift).exp()).collect();
    let mut r = 1.0;
    for iteration in 0.. {
        let numerator = e2.iter().map(|q| q / (s1 * q + s2 * r)).sum::<f64>() / n2 as f64;
        let denominator = e1.iter().map(|q| 1.0 / (s1 * q + s2 * r)).sum::<f64>() / n1 as f64;
        let next = numerator / denominator;
        if !next.is_finite() || next <= 0.0 {
            return Err(Error::InvalidData(
                "bridge sampling failed: the proposal and the posterior do not overlap".into(),
            ));
        }
        let change = (next.ln() - r.ln()).abs();
        r = next;
        if change < 1e-10 {
            break;
        }
        if iteration == MAX_BRIDGE_ITERATIONS {
            return Err(Error::InvalidData(
                "bridge sampling did not converge in 1000 iterations".into(),
            ));
        }
    }
    let f1: Vec<f64> = e2.iter().map(|q| q / (s1 * q + s2 * r)).collect();
    let f2: Vec<f64> = e1.iter().map(|q| 1.0 / (s1 * q + s2 * r)).collect();
    let relative_variance = |f: &[f64]| {
        let m = f.iter().sum::<f64>() / f.len() as f64;
        f.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (f.len() - 1) as f64 / (m * m)
    };
    let re2 = relative_variance(&f1) / n2 as f64
        + batch_means_factor(&f2) * relative_variance(&f2) / n1 as f64;
    Ok(Evidence {
        log_value: r.ln() + shift,
        error: re2.sqrt(),
        method: EvidenceMethod::BridgeSampling,
        evaluations: n1 + n2,
    })
}

/// The ratio of the variance of the mean of a correlated series to that of
/// independent draws, by batch means (`sqrt(n)` batches); at least 1.
fn batch_means_factor(f: &[f64]) -> f64 {
    let n = f.len();
    let size = (n as f64).sqrt().floor() as usize;
    let batches = n / size;
    let mean = f.iter().sum::<f64>() / n as f64;
    let var = f.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let batch_var = f
        .chunks_exact(size)
        .map(|b| (b.iter().sum::<f64>() / size as f64 - mean).powi(2))
        .sum::<f64>()
        / (batches - 1) as f64;
    if var > 0.0 {
        (size as f64 * batch_var / var).max(1.0)
    } else {
        1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Posterior, SamplerKind, Settings, run_chains};

    fn two_level(prior_b: SdPrior, prior_w: SdPrior) -> Tree {
        let stats = GroupStats::from_summaries(
            vec![3.0, 4.0, 2.0, 5.0],
            vec![1.0, 2.5, 0.3, 1.8],
            vec![2.0, 3.5, 0.4, 6.0],
        )
        .unwrap();
        let prior = TreePrior {
            mu0: 1.0,
            tau0: 0.1,
            levels: vec![prior_b],
            within: Within::Common { prior: prior_w },
        };
        Tree::new(vec![vec![0; 4]], stats, prior).unwrap()
    }

    /// Posterior draws of the sds (every global column but mu) of `tree`.
    fn posterior_sds(tree: &Tree, n: usize) -> Vec<Vec<f64>> {
        let settings = Settings {
            sampler: SamplerKind::Collapsed,
            chains: 1,
            iter: n + 500,
            warmup: 500,
            thin: 1,
            seed: 5,
            keep_groups: false,
        };
        let width = tree.n_reported(false);
        let mut out = vec![0.0; n * width];
        run_chains(tree, &settings, 1, vec![&mut out], |_| false).unwrap();
        (0..n)
            .map(|i| (1..width).map(|j| out[j * n + i]).collect())
            .collect()
    }

    #[test]
    fn quadrature_and_bridge_sampling_agree() {
        let tree = two_level(
            SdPrior::HalfStudentT {
                df: 1.0,
                scale: 1.0,
            },
            SdPrior::Uniform { upper: 5.0 },
        );
        let sds = posterior_sds(&tree, 4000);
        let mut integrand = Integrand::new(&tree, None);
        let mut never = || false;
        let q = log_marginal_likelihood(&mut integrand, &sds, false, 1, &mut never).unwrap();
        let b = log_marginal_likelihood(&mut integrand, &sds, true, 1, &mut never).unwrap();
        assert_eq!(q.method, EvidenceMethod::Quadrature);
        assert_eq!(b.method, EvidenceMethod::BridgeSampling);
        assert!(q.error < 1e-6, "{q:?}");
        assert!(b.error > 0.0 && b.error < 0.1, "{b:?}");
        assert!(
            (q.log_value - b.log_value).abs() < 4.0 * b.error,
            "{q:?} {b:?}"
        );
    }

    #[test]
    fn an_interrupt_stops_the_quadrature() {
        let tree = two_level(
            SdPrior::Exponential { rate: 1.0 },
            SdPrior::Exponential { rate: 1.0 },
        );
        let mut integrand = Integrand::new(&tree, None);
        let sds = vec![vec![1.0, 1.0], vec![2.0, 0.7], vec![0.5, 1.5]];
        let mut now = || true;
        let result = log_marginal_likelihood(&mut integrand, &sds, false, 1, &mut now);
        assert_eq!(result, Err(Error::Interrupted));
    }
}
