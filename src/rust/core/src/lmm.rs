//! The hierarchical linear model with one grouping factor (MATHS.md
//! section 15): `y_j = X_j beta + Z_j b_j + e_j`, `e_j ~ N(0, sigma^2 I)`,
//! `b_j ~ N(0, Sigma)`, `Sigma = D R D`, a normal prior on each fixed effect.
//! With no group coefficients (q = 0) it is the pooled regression.
//!
//! Given the variance parameters every location (beta and every b_j) is
//! jointly Gaussian, so the sampler moves the variance parameters on the
//! density with all of them integrated out, then draws beta and the b_j
//! exactly. After one pass over the rows nothing grows with N: each group
//! keeps `Z_j'Z_j` and `Z_j'[X_j y_j]`; groups with equal `Z_j'Z_j` share
//! one class, whose summed cross-products make an evaluation of the density
//! cost O(classes q^2 p^2 + p^3), whatever the number of groups in a class.

use std::collections::HashMap;

use rand_pcg::Pcg64;

use crate::chains::Posterior;
use crate::engine::std_normal;
use crate::prior::SdPrior;
use crate::slice::TunedSlices;
use crate::{Error, Quantity, SamplerKind};

/// Variance parameters the sampler moves jointly: sigma, q sds and, when
/// correlated, q (q - 1) / 2 correlations.
pub const MAX_VARIANCE_DIM: usize = 8;

/// `beta_k ~ N(mean, sd^2)`; an infinite `sd` is the flat prior.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EffectPrior {
    pub mean: f64,
    pub sd: f64,
}

/// The priors of the model, in the data's units. The intercept's prior (the
/// effect of the all-ones column of X, if it has one) is on the mean
/// response at the predictors' means, as rstanarm and brms put it.
#[derive(Debug, Clone, PartialEq)]
pub struct LmmPrior {
    pub effects: Vec<EffectPrior>,
    pub sds: Vec<SdPrior>,
    pub sigma: SdPrior,
    /// LKJ(eta) on the correlation matrix; `None` for independent
    /// coefficients (`(x || g)`).
    pub lkj: Option<f64>,
}

/// The rows of the model: `x` (n x p) and `z` (n x q) column-major, each
/// row's 0-based group.
#[derive(Debug, Clone, Copy)]
pub struct LmmRows<'a> {
    pub y: &'a [f64],
    pub x: &'a [f64],
    pub z: &'a [f64],
    pub group: &'a [usize],
    pub n_groups: usize,
}

/// The affine change from the units the sampler works in to the data's
/// (MATHS.md 15.4): `y = y_centre + y_scale y~`; each column of X centred
/// (when X has an intercept) and scaled, each column of Z scaled.
#[derive(Debug, Clone, PartialEq)]
struct Scales {
    y_centre: f64,
    y_scale: f64,
    x_centre: Vec<f64>,
    x_scale: Vec<f64>,
    z_scale: Vec<f64>,
    intercept: Option<usize>,
}

/// Groups whose `Z_j'Z_j` are equal: their count, that matrix (q x q), and
/// the sums over them of `B~_j[a,]' B~_j[b,]` for a <= b (`B~_j =
/// Z_j'[X_j y_j]`, q x (p + 1)), each (p + 1) x (p + 1), the blocks with a <
/// b already added to their transposes.
#[derive(Debug, Clone)]
struct Class {
    count: f64,
    zz: Vec<f64>,
    cross: Vec<f64>,
}

#[derive(Debug, Clone)]
pub struct Lmm {
    p: usize,
    q: usize,
    n_groups: usize,
    n_rows: f64,
    scales: Scales,
    /// Standardised: precisions and means of the effects' priors.
    effect_precision: Vec<f64>,
    effect_mean: Vec<f64>,
    sds: Vec<SdPrior>,
    sigma: SdPrior,
    lkj: Option<f64>,
    /// X'X (p x p), X'y, y'y.
    xx: Vec<f64>,
    xy: Vec<f64>,
    yy: f64,
    classes: Vec<Class>,
    class_of: Vec<usize>,
    /// `B~_j` of every group, q x (p + 1) row-major, group after group.
    zxy: Vec<f64>,
}

/// Working memory of one density evaluation.
#[derive(Debug, Clone)]
struct Work {
    corr: Vec<f64>,
    lambda: Vec<f64>,
    factor: Vec<f64>,
    inverse: Vec<f64>,
    prec: Vec<f64>,
    kmat: Vec<f64>,
    qmat: Vec<f64>,
    h: Vec<f64>,
    /// The Cholesky factor of each class's `P`, kept for the draws.
    class_factors: Vec<f64>,
}

impl Work {
    fn new(p: usize, q: usize, n_classes: usize) -> Self {
        Self {
            corr: vec![0.0; q * q],
            lambda: vec![0.0; q * q],
            factor: vec![0.0; q * q],
            inverse: vec![0.0; q * q],
            prec: vec![0.0; q * q],
            kmat: vec![0.0; (p + 1) * (p + 1)],
            qmat: vec![0.0; p * p],
            h: vec![0.0; p],
            class_factors: vec![0.0; q * q * n_classes],
        }
    }
}

/// The variance step, whatever the number of variance parameters.
trait VarianceStep: Send {
    fn step(
        &mut self,
        psi: &mut [f64],
        log_f: Option<f64>,
        f: &mut dyn FnMut(&[f64]) -> f64,
        rng: &mut Pcg64,
        warmup: bool,
    ) -> Result<f64, Error>;
}

impl<const D: usize> VarianceStep for TunedSlices<D> {
    fn step(
        &mut self,
        psi: &mut [f64],
        log_f: Option<f64>,
        f: &mut dyn FnMut(&[f64]) -> f64,
        rng: &mut Pcg64,
        warmup: bool,
    ) -> Result<f64, Error> {
        let mut x0 = [0.0; D];
        x0.copy_from_slice(psi);
        let (x, value) = TunedSlices::step(self, x0, log_f, |x: &[f64; D]| f(x), rng, warmup)?;
        psi.copy_from_slice(&x);
        Ok(value)
    }
}

fn variance_step(dim: usize) -> Box<dyn VarianceStep> {
    match dim {
        1 => Box::new(TunedSlices::<1>::default()),
        2 => Box::new(TunedSlices::<2>::default()),
        3 => Box::new(TunedSlices::<3>::default()),
        4 => Box::new(TunedSlices::<4>::default()),
        5 => Box::new(TunedSlices::<5>::default()),
        6 => Box::new(TunedSlices::<6>::default()),
        7 => Box::new(TunedSlices::<7>::default()),
        _ => Box::new(TunedSlices::<8>::default()),
    }
}

/// One chain: the variance parameters `psi` (log tau_w, log of each
/// coefficient's precision 1/s_k^2, atanh of each canonical partial
/// correlation), the locations, and the step's state.
pub struct LmmChain {
    psi: Vec<f64>,
    log_f: Option<f64>,
    beta: Vec<f64>,
    b: Vec<f64>,
    step: Box<dyn VarianceStep>,
    work: Work,
}

impl Lmm {
    pub fn new(rows: LmmRows<'_>, prior: LmmPrior) -> Result<Self, Error> {
        let n = rows.y.len();
        let (p, q) = dims(&rows)?;
        check_rows(&rows, q)?;
        check_prior(&prior, p, q)?;
        let dim = 1
            + q
            + if prior.lkj.is_some() {
                q * (q - 1) / 2
            } else {
                0
            };
        if dim > MAX_VARIANCE_DIM {
            return Err(Error::InvalidData(format!(
                "the model has {dim} variance parameters; at most {MAX_VARIANCE_DIM} are supported"
            )));
        }
        let scales = Scales::of(&rows, p, q);
        let s = &scales;
        // Standardised columns, one row at a time.
        let x_at = |i: usize, k: usize| (rows.x[k * n + i] - s.x_centre[k]) / s.x_scale[k];
        let z_at = |i: usize, k: usize| rows.z[k * n + i] / s.z_scale[k];
        let y_at = |i: usize| (rows.y[i] - s.y_centre) / s.y_scale;

        let width = p + 1;
        let mut xx = vec![0.0; p * p];
        let mut xy = vec![0.0; p];
        let mut yy = 0.0;
        let mut zz = vec![0.0; rows.n_groups * q * q];
        let mut zxy = vec![0.0; rows.n_groups * q * width];
        let mut rows_in = vec![0usize; rows.n_groups];
        let mut xi = vec![0.0; width];
        let mut zi = vec![0.0; q];
        for i in 0..n {
            for (k, v) in xi[..p].iter_mut().enumerate() {
                *v = x_at(i, k);
            }
            xi[p] = y_at(i);
            for (k, v) in zi.iter_mut().enumerate() {
                *v = z_at(i, k);
            }
            for a in 0..p {
                for c in 0..p {
                    xx[a * p + c] += xi[a] * xi[c];
                }
                xy[a] += xi[a] * xi[p];
            }
            yy += xi[p] * xi[p];
            let j = rows.group[i];
            rows_in[j] += 1;
            let zz_j = &mut zz[j * q * q..(j + 1) * q * q];
            let zxy_j = &mut zxy[j * q * width..(j + 1) * q * width];
            for a in 0..q {
                for c in 0..q {
                    zz_j[a * q + c] += zi[a] * zi[c];
                }
                for r in 0..width {
                    zxy_j[a * width + r] += zi[a] * xi[r];
                }
            }
        }
        if q > 0 {
            if let Some(empty) = rows_in.iter().position(|&m| m == 0) {
                return Err(Error::InvalidData(format!(
                    "group {} has no rows",
                    empty + 1
                )));
            }
        }
        let (classes, class_of) = if q > 0 {
            classes_of(&zz, &zxy, rows.n_groups, q, width)
        } else {
            (Vec::new(), Vec::new())
        };
        let (effect_precision, effect_mean) = prior
            .effects
            .iter()
            .enumerate()
            .map(|(k, e)| {
                // beta~_k = beta_k x_scale_k / y_scale; the intercept's is
                // the mean response at the predictors' means, less y_centre.
                let factor = s.x_scale[k] / s.y_scale;
                let shift = if Some(k) == s.intercept {
                    s.y_centre
                } else {
                    0.0
                };
                let sd = e.sd * factor;
                let precision = if sd.is_finite() { 1.0 / (sd * sd) } else { 0.0 };
                (precision, (e.mean - shift) * factor)
            })
            .unzip();
        let sds = prior
            .sds
            .iter()
            .enumerate()
            .map(|(k, sd)| sd.standardised(s.y_scale / s.z_scale[k]))
            .collect();
        let model = Self {
            p,
            q,
            n_groups: if q > 0 { rows.n_groups } else { 0 },
            n_rows: n as f64,
            sigma: prior.sigma.standardised(s.y_scale),
            sds,
            lkj: prior.lkj,
            effect_precision,
            effect_mean,
            scales,
            xx,
            xy,
            yy,
            classes,
            class_of,
            zxy: if q > 0 { zxy } else { Vec::new() },
        };
        model.check_identified()?;
        Ok(model)
    }

    /// Number of variance parameters.
    pub fn variance_dim(&self) -> usize {
        1 + self.q + self.n_correlations()
    }

    fn n_correlations(&self) -> usize {
        if self.lkj.is_some() {
            self.q * (self.q - 1) / 2
        } else {
            0
        }
    }

    fn n_global(&self) -> usize {
        self.p + self.q + self.n_correlations() + 1
    }

    /// With a flat prior on some effect, the effects are identified only if
    /// X'X is positive definite where the prior is flat.
    fn check_identified(&self) -> Result<(), Error> {
        let p = self.p;
        let mut m: Vec<f64> = self.xx.clone();
        for k in 0..p {
            m[k * p + k] += self.effect_precision[k];
        }
        let largest = (0..p).map(|k| m[k * p + k]).fold(0.0, f64::max);
        let ok =
            cholesky(&mut m, p) && (0..p).all(|k| m[k * p + k] * m[k * p + k] > 1e-10 * largest);
        if ok {
            Ok(())
        } else {
            Err(Error::InvalidData(
                "the columns of the fixed effects are collinear, and their prior is flat".into(),
            ))
        }
    }

    /// The log density of `psi` with every location integrated out, with
    /// the priors of `psi` if `with_prior` (else the likelihood alone), in
    /// the standardised units. -infinity outside the support.
    fn log_density(&self, psi: &[f64], w: &mut Work, with_prior: bool) -> f64 {
        let (p, q) = (self.p, self.q);
        let tau = psi[0].exp();
        let mut value = if with_prior {
            self.sigma.log_density_log_precision(psi[0], tau)
        } else {
            0.0
        };
        let mut log_det_sigma = 0.0;
        if q > 0 {
            let corr_prior = self.correlation_factor(&psi[1 + q..], &mut w.corr);
            if with_prior {
                value += corr_prior;
            }
            // L_Sigma = diag(s) L_R; Lambda = L_Sigma^-T L_Sigma^-1.
            for k in 0..q {
                let tau_k = psi[1 + k].exp();
                if with_prior {
                    value += self.sds[k].log_density_log_precision(psi[1 + k], tau_k);
                }
                let s_k = tau_k.sqrt().recip();
                for c in 0..=k {
                    w.factor[k * q + c] = s_k * w.corr[k * q + c];
                }
                log_det_sigma += 2.0 * w.factor[k * q + k].ln();
            }
            lower_inverse(&w.factor, q, &mut w.inverse);
            gram(&w.inverse, q, &mut w.lambda);
        }
        if !value.is_finite() {
            return f64::NEG_INFINITY;
        }
        let width = p + 1;
        w.kmat.fill(0.0);
        let mut log_det_p = 0.0;
        for (c, class) in self.classes.iter().enumerate() {
            for (v, (l, a)) in w.prec.iter_mut().zip(w.lambda.iter().zip(&class.zz)) {
                *v = l + tau * a;
            }
            if !cholesky(&mut w.prec, q) {
                return f64::NEG_INFINITY;
            }
            w.class_factors[c * q * q..(c + 1) * q * q].copy_from_slice(&w.prec);
            log_det_p += class.count * log_det(&w.prec, q);
            lower_inverse(&w.prec, q, &mut w.inverse);
            gram(&w.inverse, q, &mut w.factor);
            let mut block = 0;
            for a in 0..q {
                for b in a..q {
                    let weight = w.factor[a * q + b];
                    let cross = &class.cross[block * width * width..(block + 1) * width * width];
                    for (k, g) in w.kmat.iter_mut().zip(cross) {
                        *k += weight * g;
                    }
                    block += 1;
                }
            }
        }
        let tau2 = tau * tau;
        for a in 0..p {
            for c in 0..p {
                w.qmat[a * p + c] = tau * self.xx[a * p + c] - tau2 * w.kmat[a * width + c];
            }
            w.qmat[a * p + a] += self.effect_precision[a];
            w.h[a] = tau * self.xy[a] - tau2 * w.kmat[a * width + p]
                + self.effect_precision[a] * self.effect_mean[a];
        }
        let mut constant = 0.5 * self.n_rows * (psi[0] - LN_2PI)
            - 0.5 * self.n_groups as f64 * log_det_sigma
            - 0.5 * log_det_p
            - 0.5 * tau * self.yy
            + 0.5 * tau2 * w.kmat[p * width + p];
        for (&precision, &mean) in self.effect_precision.iter().zip(&self.effect_mean) {
            constant += if precision > 0.0 {
                0.5 * precision.ln() - 0.5 * precision * mean * mean
            } else {
                0.5 * LN_2PI
            };
        }
        if !cholesky(&mut w.qmat, p) {
            return f64::NEG_INFINITY;
        }
        solve_lower(&w.qmat, p, &mut w.h);
        let quadratic: f64 = w.h.iter().map(|v| v * v).sum();
        let total = value + constant - 0.5 * log_det(&w.qmat, p) + 0.5 * quadratic;
        if total.is_nan() {
            f64::NEG_INFINITY
        } else {
            total
        }
    }

    /// The lower Cholesky factor of the correlation matrix into `out`
    /// (q x q), from the atanh of its canonical partial correlations (in
    /// the order (0,1), (0,2), (1,2), (0,3), ...); returns their LKJ log
    /// density with the Jacobian of atanh (MATHS.md 15.3). Independent
    /// coefficients: the identity, density 0.
    fn correlation_factor(&self, z: &[f64], out: &mut [f64]) -> f64 {
        let q = self.q;
        out.fill(0.0);
        let Some(eta) = self.lkj else {
            for k in 0..q {
                out[k * q + k] = 1.0;
            }
            return 0.0;
        };
        let mut log_density = 0.0;
        let mut pair = 0;
        out[0] = 1.0;
        for i in 1..q {
            let mut left: f64 = 1.0;
            for j in 0..i {
                let c = z[pair].tanh();
                pair += 1;
                let one_minus = 1.0 - c * c;
                // (1 - c^2)^(eta - 1 + (q - j - 2)/2) from LKJ in canonical
                // partial correlations, times (1 - c^2) from d tanh.
                log_density += (eta + 0.5 * (q - j - 2) as f64) * one_minus.ln();
                out[i * q + j] = c * left.sqrt();
                left *= one_minus;
            }
            out[i * q + i] = left.sqrt();
        }
        if log_density.is_nan() {
            f64::NEG_INFINITY
        } else {
            log_density
        }
    }

    /// beta and every b_j, drawn exactly given `psi`, whose density was the
    /// last one evaluated with `w` (its factors are reused).
    fn draw_locations(
        &self,
        psi: &[f64],
        w: &mut Work,
        beta: &mut [f64],
        b: &mut [f64],
        rng: &mut Pcg64,
    ) {
        let (p, q) = (self.p, self.q);
        let _ = self.log_density(psi, w, false);
        let tau = psi[0].exp();
        // beta = Q^-1 h + L^-T e, with w.h = L^-1 h already.
        for (v, h) in beta.iter_mut().zip(&w.h) {
            *v = h + std_normal(rng);
        }
        solve_upper(&w.qmat, p, beta);
        let width = p + 1;
        let mut r = vec![0.0; q];
        for j in 0..self.n_groups {
            let zxy = &self.zxy[j * q * width..(j + 1) * q * width];
            for (a, ra) in r.iter_mut().enumerate() {
                let row = &zxy[a * width..(a + 1) * width];
                *ra = tau
                    * (row[p]
                        - row[..p]
                            .iter()
                            .zip(beta.iter())
                            .map(|(x, y)| x * y)
                            .sum::<f64>());
            }
            let c = self.class_of[j];
            let factor = &w.class_factors[c * q * q..(c + 1) * q * q];
            // b = P^-1 r + L^-T e = L^-T (L^-1 r + e)
            solve_lower(factor, q, &mut r);
            for v in r.iter_mut() {
                *v += std_normal(rng);
            }
            solve_upper(factor, q, &mut r);
            for (a, &v) in r.iter().enumerate() {
                b[a * self.n_groups + j] = v;
            }
        }
    }

    /// The standardised `psi` of variance parameters in the data's units:
    /// sigma, each coefficient's sd, the correlations (row-wise, (0,1),
    /// (0,2), (1,2), ...). None unless they form a valid point.
    fn psi_of(&self, sigma: f64, sds: &[f64], correlations: &[f64]) -> Option<Vec<f64>> {
        let (q, s) = (self.q, &self.scales);
        if sds.len() != q || correlations.len() != self.n_correlations() {
            return None;
        }
        let mut psi = vec![-2.0 * (sigma / s.y_scale).ln()];
        psi.extend(
            sds.iter()
                .enumerate()
                .map(|(k, sd)| -2.0 * (sd * s.z_scale[k] / s.y_scale).ln()),
        );
        if self.lkj.is_some() && q > 1 {
            let mut r = vec![0.0; q * q];
            let mut pair = 0;
            for i in 0..q {
                r[i * q + i] = 1.0;
                for j in 0..i {
                    r[i * q + j] = correlations[pair];
                    pair += 1;
                }
            }
            if !cholesky(&mut r, q) {
                return None;
            }
            for i in 1..q {
                let mut left: f64 = 1.0;
                for j in 0..i {
                    let c = r[i * q + j] / left.sqrt();
                    psi.push(c.atanh());
                    left -= r[i * q + j] * r[i * q + j];
                }
            }
        }
        psi.iter().all(|v| v.is_finite()).then_some(psi)
    }

    /// The log density of the data given the variance parameters (in the
    /// data's units), every location integrated out: with flat priors on the
    /// effects, the restricted (REML) likelihood up to a constant. Adds the
    /// priors of the variance parameters if `with_prior` (their density in
    /// the sampler's coordinates). None for an invalid point.
    pub fn log_density_at(
        &self,
        sigma: f64,
        sds: &[f64],
        correlations: &[f64],
        with_prior: bool,
    ) -> Option<f64> {
        let psi = self.psi_of(sigma, sds, correlations)?;
        let mut w = Work::new(self.p, self.q, self.classes.len());
        // y = centre + scale y~: the density of y is that of y~ / scale^N.
        Some(self.log_density(&psi, &mut w, with_prior) - self.n_rows * self.scales.y_scale.ln())
    }

    fn report_values(&self, chain: &LmmChain, out: &mut [f64]) {
        let (p, q, s) = (self.p, self.q, &self.scales);
        let mut at = 0;
        for k in 0..p {
            out[at + k] = chain.beta[k] * s.y_scale / s.x_scale[k];
        }
        if let Some(i) = s.intercept {
            let shift: f64 = (0..p)
                .filter(|&k| k != i)
                .map(|k| s.x_centre[k] * out[k])
                .sum();
            out[i] = s.y_centre + chain.beta[i] * s.y_scale - shift;
        }
        at += p;
        for k in 0..q {
            out[at + k] = (-0.5 * chain.psi[1 + k]).exp() * s.y_scale / s.z_scale[k];
        }
        at += q;
        if self.n_correlations() > 0 {
            let mut l = vec![0.0; q * q];
            self.correlation_factor(&chain.psi[1 + q..], &mut l);
            for i in 1..q {
                for j in 0..i {
                    out[at] = (0..=j).map(|k| l[i * q + k] * l[j * q + k]).sum();
                    at += 1;
                }
            }
        }
        out[at] = (-0.5 * chain.psi[0]).exp() * s.y_scale;
        at += 1;
        if out.len() > at {
            let groups = self.n_groups;
            for a in 0..q {
                let factor = s.y_scale / s.z_scale[a];
                for j in 0..groups {
                    out[at + a * groups + j] = chain.b[a * groups + j] * factor;
                }
            }
        }
    }
}

const LN_2PI: f64 = 1.837_877_066_409_345_5;

/// (p, q) from the lengths of the rows' columns.
fn dims(rows: &LmmRows<'_>) -> Result<(usize, usize), Error> {
    let n = rows.y.len();
    if n == 0 {
        return Err(Error::InvalidData("there are no rows".into()));
    }
    if rows.x.len() % n != 0 || rows.z.len() % n != 0 || rows.group.len() != n {
        return Err(Error::InvalidData(
            "the columns of X and Z and the groups must have one value per row".into(),
        ));
    }
    Ok((rows.x.len() / n, rows.z.len() / n))
}

fn check_rows(rows: &LmmRows<'_>, q: usize) -> Result<(), Error> {
    let finite = |values: &[f64], what: &str| {
        values
            .iter()
            .position(|v| !v.is_finite())
            .map_or(Ok(()), |i| {
                Err(Error::InvalidData(format!(
                    "{what} has a value that is not finite (row {})",
                    i % rows.y.len() + 1
                )))
            })
    };
    finite(rows.y, "the response")?;
    finite(rows.x, "the fixed effects' design")?;
    finite(rows.z, "the group coefficients' design")?;
    if q > 0 {
        if rows.n_groups < 2 {
            return Err(Error::InvalidData("there must be at least 2 groups".into()));
        }
        if let Some(i) = rows.group.iter().position(|&g| g >= rows.n_groups) {
            return Err(Error::InvalidData(format!(
                "row {} has a group out of range",
                i + 1
            )));
        }
    }
    Ok(())
}

fn check_prior(prior: &LmmPrior, p: usize, q: usize) -> Result<(), Error> {
    if prior.effects.len() != p || prior.sds.len() != q {
        return Err(Error::InvalidPrior(format!(
            "there must be one prior per fixed effect ({p}) and per coefficient's sd ({q})"
        )));
    }
    for (k, e) in prior.effects.iter().enumerate() {
        if !e.mean.is_finite() || e.sd.is_nan() || e.sd <= 0.0 {
            return Err(Error::InvalidPrior(format!(
                "the prior of fixed effect {} needs a finite mean and a positive sd",
                k + 1
            )));
        }
    }
    for (k, sd) in prior.sds.iter().enumerate() {
        sd.validate(&format!("the sd of coefficient {}", k + 1))?;
    }
    prior.sigma.validate("sigma")?;
    if let Some(eta) = prior.lkj {
        if !(eta.is_finite() && eta > 0.0) {
            return Err(Error::InvalidPrior(format!(
                "the LKJ shape must be finite and positive, not {eta}"
            )));
        }
    }
    Ok(())
}

impl Scales {
    fn of(rows: &LmmRows<'_>, p: usize, q: usize) -> Self {
        let n = rows.y.len();
        let column = |m: &[f64], k: usize| -> Vec<f64> { m[k * n..(k + 1) * n].to_vec() };
        let intercept = (0..p).find(|&k| rows.x[k * n..(k + 1) * n].iter().all(|&v| v == 1.0));
        let centred = intercept.is_some();
        let (x_centre, x_scale): (Vec<f64>, Vec<f64>) = (0..p)
            .map(|k| {
                if Some(k) == intercept {
                    (0.0, 1.0)
                } else {
                    spread(&column(rows.x, k), centred)
                }
            })
            .unzip();
        let z_scale = (0..q)
            .map(|k| spread(&column(rows.z, k), false).1)
            .collect();
        let (y_centre, y_scale) = spread(rows.y, centred);
        Self {
            y_centre,
            y_scale,
            x_centre,
            x_scale,
            z_scale,
            intercept,
        }
    }
}

/// `(centre, scale)` of a column: its mean and sd about it if `centred`,
/// else 0 and its root mean square; a scale of 0 becomes 1.
fn spread(values: &[f64], centred: bool) -> (f64, f64) {
    let n = values.len() as f64;
    let centre = if centred {
        values.iter().sum::<f64>() / n
    } else {
        0.0
    };
    let largest = values
        .iter()
        .map(|v| (v - centre).abs())
        .fold(0.0, f64::max);
    if largest == 0.0 || !largest.is_finite() {
        return (centre, 1.0);
    }
    let ms = values
        .iter()
        .map(|v| ((v - centre) / largest).powi(2))
        .sum::<f64>()
        / n;
    (centre, largest * ms.sqrt())
}

/// Groups with bit-identical `Z_j'Z_j` share a class.
fn classes_of(
    zz: &[f64],
    zxy: &[f64],
    n_groups: usize,
    q: usize,
    width: usize,
) -> (Vec<Class>, Vec<usize>) {
    let mut index: HashMap<Vec<u64>, usize> = HashMap::new();
    let mut classes: Vec<Class> = Vec::new();
    let mut class_of = Vec::with_capacity(n_groups);
    let n_blocks = q * (q + 1) / 2;
    for j in 0..n_groups {
        let a = &zz[j * q * q..(j + 1) * q * q];
        let key: Vec<u64> = a.iter().map(|v| v.to_bits()).collect();
        let c = *index.entry(key).or_insert_with(|| {
            classes.push(Class {
                count: 0.0,
                zz: a.to_vec(),
                cross: vec![0.0; n_blocks * width * width],
            });
            classes.len() - 1
        });
        class_of.push(c);
        let class = &mut classes[c];
        class.count += 1.0;
        let bt = &zxy[j * q * width..(j + 1) * q * width];
        let mut block = 0;
        for a in 0..q {
            for b in a..q {
                let out = &mut class.cross[block * width * width..(block + 1) * width * width];
                for r in 0..width {
                    for s in 0..width {
                        let mut v = bt[a * width + r] * bt[b * width + s];
                        if a != b {
                            v += bt[b * width + r] * bt[a * width + s];
                        }
                        out[r * width + s] += v;
                    }
                }
                block += 1;
            }
        }
    }
    (classes, class_of)
}

/// In place: the lower Cholesky factor of the symmetric `n x n` matrix `a`
/// (row-major; the lower triangle is read, the upper zeroed). False unless
/// `a` is positive definite.
fn cholesky(a: &mut [f64], n: usize) -> bool {
    for i in 0..n {
        for j in 0..=i {
            let partial: f64 = (0..j).map(|k| a[i * n + k] * a[j * n + k]).sum();
            let value = a[i * n + j] - partial;
            if i == j {
                if !(value.is_finite() && value > 0.0) {
                    return false;
                }
                a[i * n + i] = value.sqrt();
            } else {
                a[i * n + j] = value / a[j * n + j];
            }
        }
        for j in i + 1..n {
            a[i * n + j] = 0.0;
        }
    }
    true
}

fn log_det(l: &[f64], n: usize) -> f64 {
    2.0 * (0..n).map(|i| l[i * n + i].ln()).sum::<f64>()
}

/// `b <- L^-1 b`.
fn solve_lower(l: &[f64], n: usize, b: &mut [f64]) {
    for i in 0..n {
        let partial: f64 = (0..i).map(|k| l[i * n + k] * b[k]).sum();
        b[i] = (b[i] - partial) / l[i * n + i];
    }
}

/// `b <- L^-T b`.
fn solve_upper(l: &[f64], n: usize, b: &mut [f64]) {
    for i in (0..n).rev() {
        let partial: f64 = (i + 1..n).map(|k| l[k * n + i] * b[k]).sum();
        b[i] = (b[i] - partial) / l[i * n + i];
    }
}

/// `out = L^-1`, lower triangular.
fn lower_inverse(l: &[f64], n: usize, out: &mut [f64]) {
    out.fill(0.0);
    for c in 0..n {
        for i in c..n {
            let partial: f64 = (c..i).map(|k| l[i * n + k] * out[k * n + c]).sum();
            let rhs = if i == c { 1.0 } else { 0.0 };
            out[i * n + c] = (rhs - partial) / l[i * n + i];
        }
    }
}

/// `out = M' M` for lower-triangular `M`.
fn gram(m: &[f64], n: usize, out: &mut [f64]) {
    for a in 0..n {
        for b in 0..n {
            out[a * n + b] = (a.max(b)..n).map(|k| m[k * n + a] * m[k * n + b]).sum();
        }
    }
}

impl Posterior for Lmm {
    type Chain = LmmChain;

    fn n_reported(&self, keep_groups: bool) -> usize {
        self.n_global()
            + if keep_groups {
                self.n_groups * self.q
            } else {
                0
            }
    }

    fn quantities(&self) -> Vec<Quantity> {
        let mut out = vec![Quantity::Location; self.p];
        out.extend(std::iter::repeat_n(Quantity::Spread, self.q));
        out.extend(std::iter::repeat_n(Quantity::Number, self.n_correlations()));
        out.push(Quantity::Spread);
        out.extend(std::iter::repeat_n(
            Quantity::Location,
            self.n_groups * self.q,
        ));
        out
    }

    fn supports(&self, sampler: SamplerKind) -> bool {
        sampler == SamplerKind::Collapsed
    }

    fn start(&self, _sampler: SamplerKind, rng: &mut Pcg64) -> LmmChain {
        let dim = self.variance_dim();
        let mut psi: Vec<f64> = (0..dim).map(|_| 0.5 * std_normal(rng)).collect();
        // Inside a uniform prior's support, where a slice step can move.
        psi[0] = self.sigma.in_support(psi[0].exp()).ln();
        for k in 0..self.q {
            psi[1 + k] = self.sds[k].in_support(psi[1 + k].exp()).ln();
        }
        let mut chain = LmmChain {
            psi,
            log_f: None,
            beta: vec![0.0; self.p],
            b: vec![0.0; self.n_groups * self.q],
            step: variance_step(dim),
            work: Work::new(self.p, self.q, self.classes.len()),
        };
        let LmmChain {
            psi, work, beta, b, ..
        } = &mut chain;
        self.draw_locations(psi, work, beta, b, rng);
        chain
    }

    fn sweep(&self, chain: &mut LmmChain, rng: &mut Pcg64, warmup: bool) -> Result<(), Error> {
        let LmmChain {
            psi,
            log_f,
            beta,
            b,
            step,
            work,
        } = chain;
        let mut density = |x: &[f64]| self.log_density(x, work, true);
        let value = step.step(psi, *log_f, &mut density, rng, warmup)?;
        *log_f = Some(value);
        if !value.is_finite() {
            return Err(Error::Numerical(
                "the collapsed density of the variance parameters is not finite".into(),
            ));
        }
        if !warmup {
            self.draw_locations(psi, work, beta, b, rng);
        }
        Ok(())
    }

    fn report(&self, chain: &LmmChain, out: &mut [f64]) {
        self.report_values(chain, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngExt;

    /// The log density of N(mean, cov) at y, by a dense Cholesky factor.
    fn dense_normal_log_density(y: &[f64], mean: &[f64], cov: &[f64]) -> f64 {
        let n = y.len();
        let mut l = cov.to_vec();
        assert!(cholesky(&mut l, n));
        let mut r: Vec<f64> = y.iter().zip(mean).map(|(a, b)| a - b).collect();
        solve_lower(&l, n, &mut r);
        -0.5 * (n as f64 * LN_2PI + log_det(&l, n) + r.iter().map(|v| v * v).sum::<f64>())
    }

    struct Data {
        y: Vec<f64>,
        x: Vec<f64>,
        z: Vec<f64>,
        group: Vec<usize>,
        n_groups: usize,
    }

    /// Unbalanced groups, an intercept, a covariate with a large offset,
    /// a group-level covariate; Z = [1, x1, x2] of the first `q` columns.
    fn data(q: usize) -> Data {
        let mut rng = crate::chain_rng(7, 0);
        let sizes = [1usize, 2, 3, 3, 5, 2, 3];
        let mut group = Vec::new();
        for (j, &m) in sizes.iter().enumerate() {
            group.extend(std::iter::repeat_n(j, m));
        }
        let n = group.len();
        let x1: Vec<f64> = (0..n).map(|_| 100.0 + 3.0 * rng.random::<f64>()).collect();
        let x2: Vec<f64> = group.iter().map(|&j| (j as f64).sin()).collect();
        let y: Vec<f64> = (0..n)
            .map(|i| 1e3 + 2.0 * x1[i] - x2[i] + 5.0 * std_normal(&mut rng))
            .collect();
        let mut x = vec![1.0; n];
        x.extend(&x1);
        x.extend(&x2);
        let mut z = vec![1.0; n];
        z.extend(&x1);
        z.extend(&x2);
        z.truncate(q * n);
        Data {
            y,
            x,
            z,
            group,
            n_groups: sizes.len(),
        }
    }

    fn prior(q: usize, lkj: Option<f64>) -> LmmPrior {
        LmmPrior {
            effects: vec![
                EffectPrior {
                    mean: 900.0,
                    sd: 300.0,
                },
                EffectPrior { mean: 1.0, sd: 2.0 },
                EffectPrior { mean: 0.0, sd: 4.0 },
            ],
            sds: vec![SdPrior::HalfNormal { scale: 3.0 }; q],
            sigma: SdPrior::Exponential { rate: 0.2 },
            lkj,
        }
    }

    /// The collapsed density equals the dense normal law of y with every
    /// location integrated out: y ~ N(X m0, sigma^2 I + Z Sigma Z' + X S0 X').
    #[test]
    fn collapsed_density_is_the_dense_marginal_law() {
        for (q, lkj) in [
            (0, None),
            (1, None),
            (2, Some(2.0)),
            (2, None),
            (3, Some(1.5)),
        ] {
            let d = data(q);
            let n = d.y.len();
            let rows = LmmRows {
                y: &d.y,
                x: &d.x,
                z: &d.z,
                group: &d.group,
                n_groups: d.n_groups,
            };
            let pr = prior(q, lkj);
            let model = Lmm::new(rows, pr.clone()).unwrap();
            let sigma = 4.0;
            let sds = [2.0, 0.3, 1.5];
            let corr = if lkj.is_some() {
                vec![0.3, -0.2, 0.5]
            } else {
                vec![]
            };
            let corr = &corr[..model.n_correlations()];
            // Sigma = D R D
            let mut r = vec![0.0; q * q];
            let mut pair = 0;
            for i in 0..q {
                r[i * q + i] = 1.0;
                for j in 0..i {
                    let v = if lkj.is_some() { corr[pair] } else { 0.0 };
                    pair += 1;
                    r[i * q + j] = v;
                    r[j * q + i] = v;
                }
            }
            let mut cov = vec![0.0; n * n];
            let mut mean = vec![0.0; n];
            // The intercept's prior is on the mean response at the
            // predictors' means: beta_0 = c - sum_k xbar_k beta_k.
            let xbar: Vec<f64> = (0..3)
                .map(|k| d.x[k * n..(k + 1) * n].iter().sum::<f64>() / n as f64)
                .collect();
            // beta = T gamma, gamma = (c, beta_1, beta_2) independent normal
            let t = |k: usize, m: usize| -> f64 {
                if k == 0 {
                    [1.0, -xbar[1], -xbar[2]][m]
                } else if k == m {
                    1.0
                } else {
                    0.0
                }
            };
            let xt: Vec<Vec<f64>> = (0..n)
                .map(|i| {
                    (0..3)
                        .map(|m| (0..3).map(|k| d.x[k * n + i] * t(k, m)).sum())
                        .collect()
                })
                .collect();
            for i in 0..n {
                mean[i] = (0..3).map(|m| xt[i][m] * pr.effects[m].mean).sum();
                for j in 0..n {
                    let mut v: f64 = (0..3)
                        .map(|m| xt[i][m] * xt[j][m] * pr.effects[m].sd.powi(2))
                        .sum();
                    if d.group[i] == d.group[j] {
                        for a in 0..q {
                            for b in 0..q {
                                v += d.z[a * n + i]
                                    * sds[a]
                                    * r[a * q + b]
                                    * sds[b]
                                    * d.z[b * n + j];
                            }
                        }
                    }
                    if i == j {
                        v += sigma * sigma;
                    }
                    cov[i * n + j] = v;
                }
            }
            let expected = dense_normal_log_density(&d.y, &mean, &cov);
            let got = model.log_density_at(sigma, &sds[..q], corr, false).unwrap();
            assert!(
                (got - expected).abs() < 1e-8 * expected.abs(),
                "q = {q}, lkj = {lkj:?}: {got} against {expected}"
            );
        }
    }

    /// LKJ(eta) on a 3 x 3 correlation matrix: each correlation is
    /// marginally 2 Beta(a, a) - 1, a = eta - 1 + q/2, variance 1/(2a + 1).
    #[test]
    fn correlation_prior_is_lkj() {
        let d = data(3);
        let rows = LmmRows {
            y: &d.y,
            x: &d.x,
            z: &d.z,
            group: &d.group,
            n_groups: d.n_groups,
        };
        let eta = 2.0;
        let model = Lmm::new(rows, prior(3, Some(eta))).unwrap();
        let (m, width) = (120, 12.0);
        let step = width / m as f64;
        let mut l = vec![0.0; 9];
        let (mut total, mut second) = (0.0, [0.0; 3]);
        for a in 0..m {
            for b in 0..m {
                for c in 0..m {
                    let z = [a, b, c].map(|i| -width / 2.0 + (i as f64 + 0.5) * step);
                    let weight = model.correlation_factor(&z, &mut l).exp();
                    let rho = [l[3], l[6], l[6] * l[3] + l[7] * l[4]];
                    total += weight;
                    for k in 0..3 {
                        second[k] += weight * rho[k] * rho[k];
                    }
                }
            }
        }
        let alpha = eta - 1.0 + 1.5;
        for s in second {
            assert!(
                (s / total - 1.0 / (2.0 * alpha + 1.0)).abs() < 2e-3,
                "{}",
                s / total
            );
        }
    }
}
