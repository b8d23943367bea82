//! The transition kernels. All leave the same posterior invariant and share
//! the model's conditionals; they differ in how fast they mix
//! (samplers.md in the design notes).

use rand::{Rng, RngExt};
use rand_distr::{Distribution, Exp1};

use crate::model::Workspace;
use crate::{Error, Model, State};

/// Which transition kernel moves the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SamplerKind {
    /// The lecture's centred Gibbs sweep (model.md 3a): mu, tau_b, theta, tau_w.
    Gibbs,
    /// tau_b, then tau_w, each by a slice step with mu and theta integrated
    /// out, then mu and theta exactly (samplers.md, variants E and E2).
    Collapsed,
    /// Ancillarity-sufficiency interweaving (Yu and Meng 2011; samplers.md,
    /// variant C): theta, (mu, tau_b) given theta, (mu, tau_b) given the
    /// standardised effects, tau_w.
    Asis,
}

impl SamplerKind {
    /// The sampler's name as the R interface spells it.
    pub fn name(self) -> &'static str {
        match self {
            SamplerKind::Gibbs => "gibbs",
            SamplerKind::Collapsed => "collapsed",
            SamplerKind::Asis => "asis",
        }
    }

    /// Parses the R interface's name.
    pub fn from_name(name: &str) -> Result<Self, Error> {
        [
            SamplerKind::Gibbs,
            SamplerKind::Collapsed,
            SamplerKind::Asis,
        ]
        .into_iter()
        .find(|k| k.name() == name)
        .ok_or_else(|| Error::InvalidSettings(format!("unknown sampler {name:?}")))
    }
}

/// Steps out at most this many widths on each side (Neal 2003).
const MAX_STEPS_OUT: usize = 200;
/// Warm-up draws seen before the step follows their spread.
const MIN_TUNING_DRAWS: f64 = 20.0;
/// The pseudo-target's scale in warm-up sds. A Student-t with 2 df at this
/// scale has tails heavier than a normal's, so that the density on (0, 1)
/// stays bounded, and about 2.3 evaluations find a point in the slice (1.0
/// gives 2.2 on a normal target but lag-1 correlations of 0.1 on skewed ones).
const PSEUDO_SCALE: f64 = 1.2;

/// A Student-t with 2 df: the pseudo-target of the quantile slice step. Its
/// CDF and quantile function have closed forms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pseudo {
    pub centre: f64,
    pub scale: f64,
}

impl Pseudo {
    fn cdf(&self, x: f64) -> f64 {
        let z = (x - self.centre) / self.scale;
        0.5 + z / (2.0 * (2.0 + z * z).sqrt())
    }

    /// Infinite at u = 0.
    fn quantile(&self, u: f64) -> f64 {
        self.centre + self.scale * (2.0 * u - 1.0) / (2.0 * u * (1.0 - u)).sqrt()
    }

    /// Up to a constant.
    fn log_density(&self, x: f64) -> f64 {
        let z = (x - self.centre) / self.scale;
        -1.5 * (0.5 * z * z).ln_1p()
    }
}

/// A slice step on one variable (a log precision) that tunes itself to the
/// draws during warm-up and is frozen after it, since a step that keeps
/// changing would break exactness.
///
/// Until it has seen enough warm-up draws: stepping out (width 1). Then
/// quantile slice sampling: the variable is mapped by the CDF of a Student-t
/// with 2 df centred on the warm-up mean, and the slice is sought on (0, 1)
/// without stepping out. About 1.3 proposals per step instead of about 5
/// evaluations, and nearly independent draws when the pseudo-target fits.
#[derive(Debug, Clone, Default)]
pub struct TunedSlice {
    tuning: RunningMoments,
    pseudo: Option<Pseudo>,
}

impl TunedSlice {
    /// One step from `x0`, where the log density is `log_f_x0`, for the log
    /// density `log_f`. Returns the new point and its log density; the point
    /// is the last one `log_f` was called with, unless it is `x0`. During
    /// `warmup` the draw also tunes the step.
    pub fn step<F, R>(
        &mut self,
        x0: f64,
        log_f_x0: f64,
        log_f: F,
        rng: &mut R,
        warmup: bool,
    ) -> (f64, f64)
    where
        F: FnMut(f64) -> f64,
        R: Rng + ?Sized,
    {
        let (x, log_f_x) = match &self.pseudo {
            Some(pseudo) => quantile_slice_step(x0, log_f_x0, log_f, pseudo, rng),
            None => slice_step(x0, log_f_x0, log_f, 1.0, rng),
        };
        if warmup {
            self.tuning.push(x);
            if self.tuning.count >= MIN_TUNING_DRAWS {
                self.pseudo = Some(Pseudo {
                    centre: self.tuning.mean,
                    scale: (PSEUDO_SCALE * self.tuning.sd()).clamp(1e-3, 10.0),
                });
            }
        }
        (x, log_f_x)
    }
}

/// One chain's kernel: the sampler and what it tunes during warm-up.
#[derive(Debug, Clone)]
pub struct Kernel {
    kind: SamplerKind,
    /// The slice steps on log tau_b and log tau_w (collapsed sampler).
    slices: [TunedSlice; 2],
    /// The collapsed sampler's last point and its log density, which the
    /// next step starts from (nothing else changes the precisions).
    last_point: Option<([f64; 2], f64)>,
    workspace: Workspace,
}

impl Kernel {
    pub fn new(kind: SamplerKind) -> Self {
        Self {
            kind,
            slices: Default::default(),
            last_point: None,
            workspace: Workspace::default(),
        }
    }

    /// One sweep; `warmup` lets the kernel tune itself.
    pub fn sweep<R: Rng + ?Sized>(
        &mut self,
        model: &Model,
        st: &mut State,
        rng: &mut R,
        warmup: bool,
    ) {
        match self.kind {
            SamplerKind::Gibbs => {
                model.draw_mu_given_theta(st, rng);
                model.draw_tau_b_given_theta(st, rng);
                model.draw_theta(st, &mut self.workspace, rng);
                model.draw_tau_w(st, rng);
            }
            SamplerKind::Collapsed => {
                let state_point = [st.tau_b.ln(), st.tau_w.ln()];
                let (mut x, mut log_f_x) = match self.last_point {
                    Some((x, log_f_x)) if x.map(f64::exp) == [st.tau_b, st.tau_w] => (x, log_f_x),
                    _ => (state_point, model.collapsed_log_density(state_point).0),
                };
                // log tau_b given tau_w, then log tau_w given tau_b, from
                // the density with mu and theta integrated out. The last
                // evaluation's marginal of mu serves the mu step when it is
                // the accepted point.
                let mut last = None;
                for (i, slice) in self.slices.iter_mut().enumerate() {
                    let mut point = x;
                    (x[i], log_f_x) = slice.step(
                        x[i],
                        log_f_x,
                        |xi| {
                            point[i] = xi;
                            let (log_density, marginal) = model.collapsed_log_density(point);
                            last = Some((point, marginal));
                            log_density
                        },
                        rng,
                        warmup,
                    );
                }
                self.last_point = Some((x, log_f_x));
                [st.tau_b, st.tau_w] = x.map(f64::exp);
                // The precisions move as a chain of their own, so mu and
                // theta are drawn only for the draws that are kept (what
                // the slice steps integrated out is redrawn straight after
                // them: partially collapsed Gibbs).
                if warmup {
                    return;
                }
                match last {
                    Some((last_x, marginal)) if last_x == x => {
                        model.draw_mu_from(marginal, st, rng)
                    }
                    _ => model.draw_mu_marginal(st, rng),
                }
                model.draw_theta(st, &mut self.workspace, rng);
            }
            SamplerKind::Asis => {
                model.draw_theta(st, &mut self.workspace, rng);
                model.draw_mu_tau_b_given_theta(st, rng);
                ancillary_step(model, st, rng);
                model.draw_tau_w(st, rng);
            }
        }
    }
}

/// The interweaving sampler's ancillary step: with the standardised
/// effects `eta_k = (theta_k - mu)/s` held fixed, draw `s = sd_b` (mu
/// integrated out) by a slice step on `log s`, then mu, and map back to theta.
fn ancillary_step<R: Rng + ?Sized>(model: &Model, st: &mut State, rng: &mut R) {
    let prior = model.prior();
    let s0 = 1.0 / st.tau_b.sqrt();
    let (p_sum, c) = model.pooled_precision_and_mean(st.tau_w);
    let (mut e1, mut pee, mut b) = (0.0, 0.0, 0.0);
    let sqrt_tau_b = st.tau_b.sqrt();
    for ((p, ybar), theta) in model.group_precisions(st.tau_w).zip(&st.theta) {
        let eta = (theta - st.mu) * sqrt_tau_b;
        e1 += p * eta;
        pee += p * eta * eta;
        b += p * (ybar - c) * eta;
    }
    let a = (pee - e1 * e1 / p_sum).max(0.0);
    let (shape, rate) = (prior.a, prior.b);
    let log_density = |u: f64| {
        let s = u.exp();
        -2.0 * shape * u - rate / (s * s) - 0.5 * a * s * s + b * s
    };
    let width = if b > 0.0 {
        (2.5 * a.sqrt() / b).clamp(1e-4, 3.0)
    } else {
        3.0
    };
    let u0 = s0.ln();
    let s = slice_step(u0, log_density(u0), log_density, width, rng)
        .0
        .exp();
    let eta_scale = s / s0;
    let mu = c - s * e1 / p_sum + crate::model::std_normal(rng) / p_sum.sqrt();
    let old_mu = st.mu;
    for theta in st.theta.iter_mut() {
        *theta = mu + (*theta - old_mu) * eta_scale;
    }
    st.mu = mu;
    st.tau_b = 1.0 / (s * s);
}

/// One univariate slice-sampling update of `x0`, where the log density is
/// `log_f_x0` (Neal 2003: stepping out, then shrinkage), for the log density
/// `log_f`. Leaves `exp(log_f)` invariant for any fixed `width`. Returns the
/// new point and its log density.
pub fn slice_step<F, R>(x0: f64, log_f_x0: f64, mut log_f: F, width: f64, rng: &mut R) -> (f64, f64)
where
    F: FnMut(f64) -> f64,
    R: Rng + ?Sized,
{
    let exp1: f64 = Exp1.sample(rng);
    let level = log_f_x0 - exp1;
    let mut lo = x0 - width * rng.random::<f64>();
    let mut hi = lo + width;
    let mut steps_left = (MAX_STEPS_OUT as f64 * rng.random::<f64>()) as usize;
    let mut steps_right = MAX_STEPS_OUT - 1 - steps_left;
    while steps_left > 0 && log_f(lo) > level {
        lo -= width;
        steps_left -= 1;
    }
    while steps_right > 0 && log_f(hi) > level {
        hi += width;
        steps_right -= 1;
    }
    loop {
        let x1 = lo + rng.random::<f64>() * (hi - lo);
        let log_f_x1 = log_f(x1);
        if log_f_x1 > level {
            return (x1, log_f_x1);
        }
        if x1 < x0 {
            lo = x1;
        } else {
            hi = x1;
        }
        // Only reachable if log_f is not finite at x0: stay put.
        if hi - lo <= f64::EPSILON * (1.0 + x0.abs()) {
            return (x0, log_f_x0);
        }
    }
}

/// One quantile slice-sampling update of `x0`, where the log density is
/// `log_f_x0` (Heiner, Johnson, Christensen and Dahl 2024,
/// arXiv:2407.12608), for the log density `log_f`. With `u = F(x)`, `F`
/// the CDF of the pseudo-target `q`, the target's density in u is
/// `f(x) / q(x)`; it is sampled by shrinkage from the whole of (0, 1).
/// Leaves `exp(log_f)` invariant for any fixed pseudo-target. Returns the
/// new point and its log density; the point is the last one `log_f` was
/// called with, unless it is `x0`.
pub fn quantile_slice_step<F, R>(
    x0: f64,
    log_f_x0: f64,
    mut log_f: F,
    pseudo: &Pseudo,
    rng: &mut R,
) -> (f64, f64)
where
    F: FnMut(f64) -> f64,
    R: Rng + ?Sized,
{
    let u0 = pseudo.cdf(x0);
    let exp1: f64 = Exp1.sample(rng);
    let level = log_f_x0 - pseudo.log_density(x0) - exp1;
    let (mut lo, mut hi) = (0.0, 1.0);
    loop {
        let u = lo + rng.random::<f64>() * (hi - lo);
        let x1 = pseudo.quantile(u);
        // u = 0 maps to -infinity, outside every slice.
        if x1.is_finite() {
            let log_f_x1 = log_f(x1);
            if log_f_x1 - pseudo.log_density(x1) > level {
                return (x1, log_f_x1);
            }
        }
        if u < u0 {
            lo = u;
        } else {
            hi = u;
        }
        // Only reachable if log_f is not finite at x0: stay put.
        if hi - lo <= f64::EPSILON {
            return (x0, log_f_x0);
        }
    }
}

/// Welford's running mean and variance.
#[derive(Debug, Clone, Copy, Default)]
struct RunningMoments {
    count: f64,
    mean: f64,
    m2: f64,
}

impl RunningMoments {
    fn push(&mut self, x: f64) {
        self.count += 1.0;
        let delta = x - self.mean;
        self.mean += delta / self.count;
        self.m2 += delta * (x - self.mean);
    }

    fn sd(&self) -> f64 {
        (self.m2 / (self.count - 1.0)).sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain_rng;
    use rand_pcg::Pcg64;

    #[test]
    fn sampler_names_round_trip() {
        for kind in [
            SamplerKind::Gibbs,
            SamplerKind::Collapsed,
            SamplerKind::Asis,
        ] {
            assert_eq!(SamplerKind::from_name(kind.name()).unwrap(), kind);
        }
        assert!(SamplerKind::from_name("nuts").is_err());
    }

    /// Runs `step` 200,000 times on `x = log g`, `g ~ G(3, rate 2)` (log
    /// density `3 x - 2 e^x`), and checks the mean and variance of g.
    fn check_log_gamma_draws<S>(mut step: S)
    where
        S: FnMut(f64, &mut dyn FnMut(f64) -> f64, &mut Pcg64) -> f64,
    {
        let mut rng = chain_rng(5, 0);
        let mut x = 0.0;
        let n = 200_000;
        let mut sum = 0.0;
        let mut sum_sq = 0.0;
        for _ in 0..n {
            x = step(x, &mut |x: f64| 3.0 * x - 2.0 * x.exp(), &mut rng);
            let g = x.exp();
            sum += g;
            sum_sq += g * g;
        }
        let mean = sum / n as f64;
        let var = sum_sq / n as f64 - mean * mean;
        // Slice draws are correlated; allow for an ESS of n/4.
        let se = (0.75f64 / (n as f64 / 4.0)).sqrt();
        assert!((mean - 1.5).abs() < 5.0 * se, "mean {mean}");
        assert!((var - 0.75).abs() < 0.03, "var {var}");
    }

    #[test]
    fn slice_step_samples_a_gamma_in_log_space() {
        check_log_gamma_draws(|x, f, rng| {
            let log_f_x = f(x);
            slice_step(x, log_f_x, f, 1.0, rng).0
        });
    }

    #[test]
    fn quantile_slice_step_is_exact_whatever_its_pseudo_target() {
        // log g has mean 0.23 and sd 0.63: a fitting pseudo-target, one far
        // off and too narrow, and one far too wide.
        for (centre, scale) in [(0.23, 0.75), (-4.0, 0.05), (3.0, 40.0)] {
            let pseudo = Pseudo { centre, scale };
            check_log_gamma_draws(|x, f, rng| {
                let log_f_x = f(x);
                let (y, log_f_y) = quantile_slice_step(x, log_f_x, &mut *f, &pseudo, rng);
                assert_eq!(log_f_y, f(y));
                y
            });
        }
    }

    #[test]
    fn tuned_slice_is_frozen_after_warmup() {
        let mut rng = chain_rng(6, 0);
        let mut slice = TunedSlice::default();
        let log_f = |x: f64| 3.0 * x - 2.0 * x.exp();
        let mut x = (0.0, log_f(0.0));
        for _ in 0..100 {
            x = slice.step(x.0, x.1, log_f, &mut rng, true);
        }
        let tuned = slice.pseudo.expect("tuned after 100 warm-up draws");
        assert!((tuned.centre - 0.23).abs() < 0.3, "{tuned:?}");
        for _ in 0..100 {
            x = slice.step(x.0, x.1, log_f, &mut rng, false);
        }
        assert_eq!(slice.pseudo, Some(tuned));
    }
}
