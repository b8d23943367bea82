//! Slice sampling of log precisions: Neal's stepping-out step, the quantile
//! slice step, and `TunedSlices`, which tunes the latter to the warm-up
//! draws and then freezes it (MATHS.md section 8).

use rand::{Rng, RngExt};
use rand_distr::{Distribution, Exp1};

use crate::Error;

/// Steps out at most this many widths on each side (Neal 2003).
const MAX_STEPS_OUT: usize = 200;
/// Shrinkage halves the interval about every other proposal, so that it
/// reaches the resolution of a double within about 120; this bound is
/// reached only by arithmetic gone wrong, which it turns into an error.
const MAX_SHRINKS: usize = 2000;
/// Warm-up draws seen before the step follows them.
const MIN_TUNING_DRAWS: usize = 20;
/// Warm-up draws kept for the frozen step; beyond it every other one is
/// dropped, so that memory stays bounded however long the warm-up.
const MAX_KEPT_DRAWS: usize = 4096;
/// The pseudo-target is a Student-t with 2 df at this many sds of the
/// draws: tails heavier than a normal's keep the density on (0, 1) bounded,
/// and about 1.3 proposals find a point in the slice, with lag-1
/// correlations of 0.02 on a normal target and 0.05 on skewed ones.
const STUDENT_SCALE: f64 = 1.2;
/// On a plateau-shaped target (kurtosis 2.1 against a normal's 3) that
/// scale leaves lag-1 correlations of about 0.12; 2.5 to 3 sds leave 0.01 to
/// 0.03, for 2.0 to 2.3 proposals instead of 1.5. The frozen step widens it
/// by `PLATEAU_WIDENING` per unit of kurtosis below `PLATEAU_KURTOSIS`, up
/// to `MAX_STUDENT_SCALE`; the margin below 3 keeps the noise of a kurtosis
/// from 500 draws (sd 0.2) from widening it on normal targets. (The
/// weak-signal regime of the benchmark, kurtosis 2.06: ESS per draw of
/// sd_b 0.73 at 1.2 sds, 0.92 at 3.1.)
const PLATEAU_KURTOSIS: f64 = 2.6;
const PLATEAU_WIDENING: f64 = 3.6;
const MAX_STUDENT_SCALE: f64 = 3.5;

/// Student-t with 2 df, standard: CDF, quantile function (infinite at 0 and
/// 1) and log density.
fn t2_cdf(z: f64) -> f64 {
    0.5 + z / (2.0 * (2.0 + z * z).sqrt())
}

fn t2_quantile(p: f64) -> f64 {
    (2.0 * p - 1.0) / (2.0 * p * (1.0 - p)).sqrt()
}

/// Up to a constant.
fn t2_log_density(z: f64) -> f64 {
    -1.5 * (0.5 * z * z).ln_1p()
}

/// The pseudo-target of a quantile slice step, a Student-t with 2 df: its
/// CDF maps the variable to (0, 1), where the target's density is `f / q`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pseudo {
    pub centre: f64,
    pub scale: f64,
}

impl Pseudo {
    fn cdf(&self, x: f64) -> f64 {
        t2_cdf((x - self.centre) / self.scale)
    }

    /// Infinite at u = 0.
    fn quantile(&self, u: f64) -> f64 {
        self.centre + self.scale * t2_quantile(u)
    }

    /// Up to a constant.
    fn log_density(&self, x: f64) -> f64 {
        t2_log_density((x - self.centre) / self.scale)
    }
}

/// One univariate slice-sampling update of `x0`, where the log density is
/// `log_f_x0` (Neal 2003: stepping out, then shrinkage), for the log density
/// `log_f`. Leaves `exp(log_f)` invariant for any fixed `width`. Returns the
/// new point and its log density, or an error if the point or its density
/// is not a number the step can move from.
pub fn slice_step<F, R>(
    x0: f64,
    log_f_x0: f64,
    mut log_f: F,
    width: f64,
    rng: &mut R,
) -> Result<(f64, f64), Error>
where
    F: FnMut(f64) -> f64,
    R: Rng + ?Sized,
{
    check_start(x0, log_f_x0)?;
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
    for _ in 0..MAX_SHRINKS {
        let x1 = lo + rng.random::<f64>() * (hi - lo);
        let log_f_x1 = log_f(x1);
        if log_f_x1 > level {
            return Ok((x1, log_f_x1));
        }
        if x1 < x0 {
            lo = x1;
        } else {
            hi = x1;
        }
        // Shrunk to x0's resolution (possible only when log_f is barely
        // above the level next to x0): stay put.
        if hi - lo <= f64::EPSILON * (1.0 + x0.abs()) {
            return Ok((x0, log_f_x0));
        }
    }
    Err(stuck(x0))
}

/// A step can start only from a finite point whose log density is a number
/// below +infinity (-infinity, outside the support, moves to the first point
/// inside it).
fn check_start(x0: f64, log_f_x0: f64) -> Result<(), Error> {
    if x0.is_finite() && !log_f_x0.is_nan() && log_f_x0 < f64::INFINITY {
        Ok(())
    } else {
        Err(Error::Numerical(format!(
            "a slice step started from log precision {x0} with log density {log_f_x0}"
        )))
    }
}

fn stuck(x0: f64) -> Error {
    Error::Numerical(format!(
        "a slice step from log precision {x0} found no point after {MAX_SHRINKS} proposals"
    ))
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
) -> Result<(f64, f64), Error>
where
    F: FnMut(f64) -> f64,
    R: Rng + ?Sized,
{
    check_start(x0, log_f_x0)?;
    let u0 = pseudo.cdf(x0);
    let exp1: f64 = Exp1.sample(rng);
    let level = log_f_x0 - pseudo.log_density(x0) - exp1;
    let (mut lo, mut hi) = (0.0, 1.0);
    for _ in 0..MAX_SHRINKS {
        let u = lo + rng.random::<f64>() * (hi - lo);
        let x1 = pseudo.quantile(u);
        // u = 0 maps to -infinity, outside every slice.
        if x1.is_finite() {
            let log_f_x1 = log_f(x1);
            if log_f_x1 - pseudo.log_density(x1) > level {
                return Ok((x1, log_f_x1));
            }
        }
        if u < u0 {
            lo = u;
        } else {
            hi = u;
        }
        // Shrunk to x0's resolution on (0, 1): stay put.
        if hi - lo <= f64::EPSILON {
            return Ok((x0, log_f_x0));
        }
    }
    Err(stuck(x0))
}

/// Slice steps on `D` log precisions, one variable after another, that tune
/// themselves during warm-up and are frozen after it (a step that kept
/// changing would break exactness).
///
/// During warm-up each precision gets a stepping-out step (width 1) until
/// `MIN_TUNING_DRAWS` draws, then a quantile slice step whose pseudo-target
/// is a Student-t at the draws' mean and spread. At the first step after
/// warm-up, the second half of the warm-up draws fixes the frozen step:
/// the variables are decorrelated (`y = L^-1 (x - mean)`, `L` the Cholesky
/// factor of their covariance), and each `y_i` gets a quantile slice step
/// whose Student-t is centred on the median of the warm-up draws of `y_i`
/// and widened if they are plateau-shaped. Nearly independent draws at
/// about 1.3 proposals per variable when the warm-up was long enough to see
/// the marginals.
#[derive(Debug, Clone)]
pub struct TunedSlices<const D: usize> {
    moments: [RunningMoments; D],
    kept: Vec<[f64; D]>,
    /// Keeps every `stride`-th warm-up draw.
    stride: usize,
    frozen: Option<Frozen<D>>,
}

#[derive(Debug, Clone)]
struct Frozen<const D: usize> {
    mean: [f64; D],
    /// Lower-triangular Cholesky factor of the warm-up covariance.
    chol: [[f64; D]; D],
    pseudo: [Pseudo; D],
    /// The last point returned, in both coordinates, so that the next step
    /// starts from exactly it.
    last: Option<([f64; D], [f64; D])>,
}

impl<const D: usize> Default for TunedSlices<D> {
    fn default() -> Self {
        Self {
            moments: [RunningMoments::default(); D],
            kept: Vec::new(),
            stride: 1,
            frozen: None,
        }
    }
}

impl<const D: usize> TunedSlices<D> {
    /// One step from `x0` for the log density `log_f`, whose value at `x0`
    /// is `log_f_x0` if known. Returns the new point and its log density.
    /// During `warmup` the draw also tunes the step; the first step after
    /// warm-up freezes it.
    pub fn step<F, R>(
        &mut self,
        x0: [f64; D],
        log_f_x0: Option<f64>,
        mut log_f: F,
        rng: &mut R,
        warmup: bool,
    ) -> Result<([f64; D], f64), Error>
    where
        F: FnMut(&[f64; D]) -> f64,
        R: Rng + ?Sized,
    {
        let tuned = self.seen() >= MIN_TUNING_DRAWS;
        if !warmup && self.frozen.is_none() && tuned {
            self.frozen = Some(Frozen::fit(&self.kept[self.kept.len() / 2..]));
            self.kept = Vec::new();
        }
        if let Some(frozen) = &mut self.frozen {
            return frozen.step(x0, log_f_x0, log_f, rng);
        }
        let (mut x, mut log_f_x) = (x0, log_f_x0.unwrap_or_else(|| log_f(&x0)));
        for i in 0..D {
            let log_f_i = |xi: f64| {
                let mut y = x;
                y[i] = xi;
                log_f(&y)
            };
            (x[i], log_f_x) = if tuned {
                let pseudo = Pseudo {
                    centre: self.moments[i].mean,
                    scale: (STUDENT_SCALE * self.moments[i].sd()).clamp(1e-3, 10.0),
                };
                quantile_slice_step(x[i], log_f_x, log_f_i, &pseudo, rng)?
            } else {
                slice_step(x[i], log_f_x, log_f_i, 1.0, rng)?
            };
        }
        if warmup {
            self.record(x);
        }
        Ok((x, log_f_x))
    }

    /// Warm-up draws seen so far.
    fn seen(&self) -> usize {
        self.moments[0].count as usize
    }

    fn record(&mut self, x: [f64; D]) {
        if self.seen() % self.stride == 0 {
            self.kept.push(x);
            if self.kept.len() == MAX_KEPT_DRAWS {
                let halved: Vec<[f64; D]> = self.kept.iter().step_by(2).copied().collect();
                self.kept = halved;
                self.stride *= 2;
            }
        }
        for (m, &xi) in self.moments.iter_mut().zip(&x) {
            m.push(xi);
        }
    }
}

impl<const D: usize> Frozen<D> {
    /// From at least two draws.
    fn fit(draws: &[[f64; D]]) -> Self {
        let n = draws.len() as f64;
        let mean: [f64; D] = std::array::from_fn(|i| draws.iter().map(|x| x[i]).sum::<f64>() / n);
        let cov: [[f64; D]; D] = std::array::from_fn(|i| {
            std::array::from_fn(|j| {
                draws
                    .iter()
                    .map(|x| (x[i] - mean[i]) * (x[j] - mean[j]))
                    .sum::<f64>()
                    / (n - 1.0)
            })
        });
        // Draws that did not move, or moved in step, leave no covariance to
        // factor: then each variable is scaled on its own.
        let chol = cholesky(cov).unwrap_or_else(|| {
            std::array::from_fn(|i| {
                std::array::from_fn(|j| {
                    if i == j {
                        cov[i][i].sqrt().clamp(1e-3, 10.0)
                    } else {
                        0.0
                    }
                })
            })
        });
        let ys: Vec<[f64; D]> = draws.iter().map(|x| whiten(&chol, &mean, x)).collect();
        // Each y_i has mean 0 and variance 1 over the draws. Centred on the
        // median, the Student-t fits skewed marginals better (lag-1
        // correlation 0.03 instead of 0.05 on the log of a G(3) variable).
        let pseudo = std::array::from_fn(|i| {
            let mut yi: Vec<f64> = ys.iter().map(|y| y[i]).collect();
            yi.sort_by(f64::total_cmp);
            let kurtosis = yi.iter().map(|y| y.powi(4)).sum::<f64>() / n;
            let widening = PLATEAU_WIDENING * (PLATEAU_KURTOSIS - kurtosis).max(0.0);
            Pseudo {
                centre: yi[yi.len() / 2],
                scale: (STUDENT_SCALE + widening).min(MAX_STUDENT_SCALE),
            }
        });
        Self {
            mean,
            chol,
            pseudo,
            last: None,
        }
    }

    fn unwhiten(&self, y: &[f64; D]) -> [f64; D] {
        let mut x = [0.0; D];
        unwhiten_into(&self.chol, &self.mean, y, &mut x);
        x
    }

    fn step<F, R>(
        &mut self,
        x0: [f64; D],
        log_f_x0: Option<f64>,
        mut log_f: F,
        rng: &mut R,
    ) -> Result<([f64; D], f64), Error>
    where
        F: FnMut(&[f64; D]) -> f64,
        R: Rng + ?Sized,
    {
        // The chain moves in y; x0 is its image, unless it came from
        // elsewhere (the first step, or a precision set from outside).
        let (mut y, mut log_f_x) = match (self.last, log_f_x0) {
            (Some((x_last, y_last)), Some(value)) if x_last == x0 => (y_last, value),
            _ => {
                let y = whiten(&self.chol, &self.mean, &x0);
                (y, log_f(&self.unwhiten(&y)))
            }
        };
        for i in 0..D {
            let log_f_i = |yi: f64| {
                let mut z = y;
                z[i] = yi;
                log_f(&self.unwhiten(&z))
            };
            (y[i], log_f_x) = quantile_slice_step(y[i], log_f_x, log_f_i, &self.pseudo[i], rng)?;
        }
        let x = self.unwhiten(&y);
        self.last = Some((x, y));
        Ok((x, log_f_x))
    }
}

/// `L^-1 (x - mean)` for lower-triangular `L`.
fn whiten<const D: usize>(chol: &[[f64; D]; D], mean: &[f64; D], x: &[f64; D]) -> [f64; D] {
    let mut y = [0.0; D];
    whiten_into(chol, mean, x, &mut y);
    y
}

/// The lower-triangular `L` with `L L' = cov`, or `None` unless `cov` is
/// positive definite.
fn cholesky<const D: usize>(cov: [[f64; D]; D]) -> Option<[[f64; D]; D]> {
    let mut l = [[0.0; D]; D];
    cholesky_into(&cov, &mut l).then_some(l)
}

/// `y = L^-1 (x - mean)` for lower-triangular `L` (rows of any length at
/// least their index + 1: fixed-size arrays or vectors).
pub(crate) fn whiten_into<R: AsRef<[f64]>>(chol: &[R], mean: &[f64], x: &[f64], y: &mut [f64]) {
    for i in 0..y.len() {
        let row = chol[i].as_ref();
        let partial: f64 = (0..i).map(|j| row[j] * y[j]).sum();
        y[i] = (x[i] - mean[i] - partial) / row[i];
    }
}

/// `x = mean + L y` for lower-triangular `L`.
pub(crate) fn unwhiten_into<R: AsRef<[f64]>>(chol: &[R], mean: &[f64], y: &[f64], x: &mut [f64]) {
    for (i, xi) in x.iter_mut().enumerate() {
        let row = chol[i].as_ref();
        *xi = mean[i] + (0..=i).map(|j| row[j] * y[j]).sum::<f64>();
    }
}

/// The lower-triangular `L` with `L L' = cov` into `l` (zeroed above the
/// diagonal by the caller); false unless `cov` is positive definite.
pub(crate) fn cholesky_into<R: AsRef<[f64]>, W: AsRef<[f64]> + AsMut<[f64]>>(
    cov: &[R],
    l: &mut [W],
) -> bool {
    for i in 0..l.len() {
        for j in 0..=i {
            let partial: f64 = (0..j).map(|k| l[i].as_ref()[k] * l[j].as_ref()[k]).sum();
            let c = cov[i].as_ref()[j];
            if i == j {
                let d = c - partial;
                if !(d.is_finite() && d > 0.0) {
                    return false;
                }
                l[i].as_mut()[i] = d.sqrt();
            } else {
                let value = (c - partial) / l[j].as_ref()[j];
                l[i].as_mut()[j] = value;
            }
        }
    }
    true
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

    /// `x = log g`, `g ~ G(3, rate 2)`: log g has mean 0.23 and sd 0.63.
    fn log_gamma(x: f64) -> f64 {
        3.0 * x - 2.0 * x.exp()
    }

    /// Runs `step` 200,000 times on `log_gamma` and checks the mean and
    /// variance of g.
    fn check_log_gamma_draws(mut step: impl FnMut(f64, f64, &mut Pcg64) -> (f64, f64)) {
        let mut rng = chain_rng(5, 0);
        let (mut x, mut log_f_x) = (0.0, log_gamma(0.0));
        let n = 200_000;
        let (mut sum, mut sum_sq) = (0.0, 0.0);
        for _ in 0..n {
            (x, log_f_x) = step(x, log_f_x, &mut rng);
            assert_eq!(log_f_x, log_gamma(x));
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
        check_log_gamma_draws(|x, f, rng| slice_step(x, f, log_gamma, 1.0, rng).unwrap());
    }

    #[test]
    fn quantile_slice_step_is_exact_whatever_its_pseudo_target() {
        // A fitting pseudo-target, one far off and too narrow, one far too
        // wide.
        let pseudos = [
            Pseudo {
                centre: 0.23,
                scale: 0.75,
            },
            Pseudo {
                centre: -4.0,
                scale: 0.05,
            },
            Pseudo {
                centre: 3.0,
                scale: 40.0,
            },
        ];
        for pseudo in &pseudos {
            check_log_gamma_draws(|x, f, rng| {
                quantile_slice_step(x, f, log_gamma, pseudo, rng).unwrap()
            });
        }
    }

    #[test]
    fn tuned_slices_sample_a_correlated_skewed_pair_and_freeze() {
        // x0 = log g (as above), x1 = x0 + normal noise: correlated, skewed.
        let log_f = |x: &[f64; 2]| log_gamma(x[0]) - 0.5 * ((x[1] - x[0]) / 0.3).powi(2);
        let mut rng = chain_rng(9, 0);
        let mut slices = TunedSlices::<2>::default();
        let (mut x, mut log_f_x) = ([0.0, 0.0], None);
        for _ in 0..1000 {
            let (y, value) = slices.step(x, log_f_x, log_f, &mut rng, true).unwrap();
            (x, log_f_x) = (y, Some(value));
        }
        let n = 100_000;
        let (mut sum, mut sum_sq, mut lag) = ([0.0; 2], [0.0; 2], 0.0);
        let mut previous = x;
        for i in 0..n {
            let (y, value) = slices.step(x, log_f_x, log_f, &mut rng, false).unwrap();
            assert_eq!(value, log_f(&y));
            (x, log_f_x) = (y, Some(value));
            if i == 0 {
                assert!(slices.frozen.is_some());
            }
            for j in 0..2 {
                sum[j] += x[j] / n as f64;
                sum_sq[j] += x[j] * x[j] / n as f64;
            }
            lag += (x[0] - 0.23) * (previous[0] - 0.23) / n as f64;
            previous = x;
        }
        let frozen = slices.frozen.as_ref().unwrap();
        assert_eq!(frozen.pseudo.len(), 2);
        // E log g = digamma(3) - log 2; var log g = trigamma(3).
        let (mean, var) = (0.922_784_3 - std::f64::consts::LN_2, 0.394_934);
        let se = (var / (n as f64 / 2.0)).sqrt();
        assert!((sum[0] - mean).abs() < 5.0 * se, "mean {}", sum[0]);
        assert!((sum[1] - mean).abs() < 5.0 * se, "mean {}", sum[1]);
        assert!(
            (sum_sq[0] - sum[0] * sum[0] - var).abs() < 0.02,
            "var {}",
            sum_sq[0]
        );
        assert!(
            (sum_sq[1] - sum[1] * sum[1] - var - 0.09).abs() < 0.02,
            "var {}",
            sum_sq[1]
        );
        // Nearly independent draws once frozen.
        let lag1 = lag / var;
        assert!(lag1.abs() < 0.1, "lag-1 correlation {lag1}");
    }
}
