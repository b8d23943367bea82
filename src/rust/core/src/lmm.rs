//! The hierarchical linear model (MATHS.md section 15): fixed effects
//! `beta` and, for each of L nested levels of groups, coefficients of its
//! own design Z_l, `b ~ N(0, Sigma_l)`, `Sigma_l = D_l R_l D_l`:
//!
//! `y = X beta + sum_l Z_l b_l[group of the row at level l] + e`,
//! `e ~ N(0, sigma^2 I)`, with a normal prior on each fixed effect. L = 0
//! is the pooled regression, L = 1 one grouping factor.
//!
//! Given the variance parameters every location is jointly Gaussian, so
//! the sampler moves the variance parameters on the density with all of
//! them integrated out (one pass up the tree, eliminating each node's
//! coefficients from a Gaussian in its ancestors' and beta), then draws
//! beta and every group's coefficients exactly (one pass down). After one
//! pass over the rows nothing grows with N; last-level groups of one
//! parent whose `Z_L'Z_L` are equal share one class, whose summed
//! cross-products are eliminated at once.

use std::collections::HashMap;

use rand_pcg::Pcg64;

use crate::chains::Posterior;
use crate::cross::CrossStats;
use crate::engine::{LogProduct, std_normal};
use crate::prior::SdPrior;
use crate::slice::TunedSlices;
use crate::{Error, Quantity, SamplerKind};

/// Variance parameters the sampler moves jointly: sigma, every level's sds
/// and, where correlated, correlations.
pub const MAX_VARIANCE_DIM: usize = 8;

/// `beta_k ~ N(mean, sd^2)`; an infinite `sd` is the flat prior.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EffectPrior {
    pub mean: f64,
    pub sd: f64,
}

/// The priors of one level's coefficients: one per sd, and LKJ(eta) on
/// their correlations (`None`: independent, `(x || g)`).
#[derive(Debug, Clone, PartialEq)]
pub struct LevelPrior {
    pub sds: Vec<SdPrior>,
    pub lkj: Option<f64>,
}

/// The priors of the model, in the data's units. The intercept's prior (the
/// effect of the all-ones column of X, if it has one) is on the mean
/// response at the predictors' means, as rstanarm and brms put it.
#[derive(Debug, Clone, PartialEq)]
pub struct LmmPrior {
    pub effects: Vec<EffectPrior>,
    pub levels: Vec<LevelPrior>,
    pub sigma: SdPrior,
}

/// One level of groups: the variable of the statistics that is each
/// column of its coefficients' design (`None`: the constant 1) and each
/// group's 0-based parent in the level above (0 for the top level, whose
/// parent is the root).
#[derive(Debug, Clone, Copy)]
pub struct LmmLevel<'a> {
    pub z: &'a [Option<usize>],
    pub parent: &'a [usize],
}

/// The data, reduced: per group of the last level (the one group of all
/// rows without levels) the statistics of the model's variables, variable
/// 0 the response; the variable that is each column of X (`None`: the
/// intercept, the constant 1); the levels, top first.
#[derive(Debug, Clone)]
pub struct LmmData<'a> {
    pub stats: &'a CrossStats,
    pub x: &'a [Option<usize>],
    pub levels: Vec<LmmLevel<'a>>,
}

/// A coordinate of a row in the sampler's units: `(v - centre) / scale`
/// for variable `var` (`None`: the constant 1).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Coordinate {
    var: Option<usize>,
    centre: f64,
    scale: f64,
}

impl Coordinate {
    /// Row `i`'s value, from the model's variables' rows.
    pub(crate) fn of_row(&self, columns: &[&[f64]], i: usize) -> f64 {
        (self.var.map_or(1.0, |v| columns[v][i]) - self.centre) / self.scale
    }
}

/// A level as the sampler keeps it: sizes, parents, standardised priors,
/// the scale of each column of its design, and where its coordinates lie.
#[derive(Debug, Clone)]
struct Level {
    q: usize,
    n_nodes: usize,
    parent: Vec<usize>,
    sds: Vec<SdPrior>,
    lkj: Option<f64>,
    z_scale: Vec<f64>,
    /// Its first variance parameter in psi.
    psi_at: usize,
}

impl Level {
    /// `Lambda = Sigma^-1` (q x q) at the level's variance parameters
    /// `own` (log precisions, then atanh partial correlations), with
    /// `log |Lambda|` and the log prior density of `own`. Scratch: q x q
    /// each, the last 2 q^2.
    fn precision(&self, own: &[f64], scratch: [&mut [f64]; 3], lambda: &mut [f64]) -> (f64, f64) {
        let q = self.q;
        let [corr, factor, inverse] = scratch;
        let mut log_prior = correlation_factor(q, self.lkj, &own[q..], corr);
        // L_Sigma = diag(s) L_R; Lambda = L_Sigma^-T L_Sigma^-1.
        let mut log_det_sigma = 0.0;
        for k in 0..q {
            let tau_k = own[k].exp();
            log_prior += self.sds[k].log_density_log_precision(own[k], tau_k);
            let s_k = tau_k.sqrt().recip();
            for c in 0..=k {
                factor[k * q + c] = s_k * corr[k * q + c];
            }
            for c in k + 1..q {
                factor[k * q + c] = 0.0;
            }
            log_det_sigma += 2.0 * factor[k * q + k].ln();
        }
        lower_inverse(&factor[..q * q], q, &mut inverse[..q * q]);
        gram(&inverse[..q * q], q, lambda);
        (-log_det_sigma, log_prior)
    }

    fn n_correlations(&self) -> usize {
        if self.lkj.is_some() {
            self.q * (self.q - 1) / 2
        } else {
            0
        }
    }
}

/// The affine change from the units the sampler works in to the data's
/// (MATHS.md 15.4): `y = y_centre + y_scale y~`; each column of X centred
/// (when X has an intercept column) and scaled.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Scales {
    y_centre: f64,
    y_scale: f64,
    x_centre: Vec<f64>,
    x_scale: Vec<f64>,
    intercept: Option<usize>,
    /// Each variable's root mean square, the scale of the group
    /// coefficients' designs.
    rms: Vec<f64>,
}

/// Last-level groups of one parent whose `Z_L'Z_L` are equal: their
/// parent, count, that matrix (q x q), and the sums over them of
/// `C_j[a,]' C_j[b,]` for a <= b (`C_j = Z_L'[y X Z_1 .. Z_(L-1)]` over
/// the group's rows, q x lead), each lead x lead, the blocks with a < b
/// already added to their transposes.
#[derive(Debug, Clone)]
struct Class {
    parent: usize,
    count: f64,
    zz: Vec<f64>,
    cross: Vec<f64>,
}

#[derive(Debug, Clone)]
pub struct Lmm {
    p: usize,
    n_rows: f64,
    scales: Scales,
    /// Standardised: precisions and means of the effects' priors.
    effect_precision: Vec<f64>,
    effect_mean: Vec<f64>,
    sigma: SdPrior,
    levels: Vec<Level>,
    /// `[y X Z_1 .. Z_(L-1)]'[y X Z_1 .. Z_(L-1)]` over the rows of each
    /// parent of the last level's groups (the root without levels).
    rows_cross: Vec<f64>,
    classes: Vec<Class>,
    class_of: Vec<usize>,
    /// `C_j` of every last-level group, q x lead, group after group.
    leaf_cross: Vec<f64>,
}

/// Working memory of one density evaluation, kept for the draws that
/// follow it.
#[derive(Debug, Clone)]
struct Work {
    /// Per level: the precision of its coefficients and its log determinant.
    lambda: Vec<Vec<f64>>,
    log_det_lambda: Vec<f64>,
    corr: Vec<f64>,
    factor: Vec<f64>,
    inverse: Vec<f64>,
    /// Per level l < L (0: the root), every node's Gaussian in
    /// `[-1, beta, b_1, .., b_l]`, dim(l) x dim(l).
    messages: Vec<Vec<f64>>,
    /// Per level l < L, every node's Cholesky factor of its own block
    /// and `T = L^-1 M_(own, rest)`.
    factors: Vec<Vec<f64>>,
    projections: Vec<Vec<f64>>,
    /// The Cholesky factor of each class's precision.
    class_factors: Vec<f64>,
    /// The point of the last evaluation that ran to the end, whose
    /// factors the draws can use as they are.
    evaluated: Option<Vec<f64>>,
}

/// The variance step, whatever the number of variance parameters.
pub(crate) trait VarianceStep: Send {
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

pub(crate) fn variance_step(dim: usize) -> Box<dyn VarianceStep> {
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

/// One chain: the variance parameters `psi` (log tau_w, then per level the
/// log of each coefficient's precision 1/s_k^2 and the atanh of each
/// canonical partial correlation), the locations, and the step's state.
pub struct LmmChain {
    psi: Vec<f64>,
    log_f: Option<f64>,
    beta: Vec<f64>,
    /// Per level, q x nodes, coefficient after coefficient.
    b: Vec<Vec<f64>>,
    step: Box<dyn VarianceStep>,
    work: Work,
}

impl LmmChain {
    /// Sigma's log precision in the sampler's units.
    pub(crate) fn log_tau_w(&self) -> f64 {
        self.psi[0]
    }

    /// The state of a chain set from outside (crossed.rs's collapsed
    /// scheme): its variance parameters, beta and every level's
    /// coefficients, level after level.
    pub(crate) fn set(&mut self, psi: &[f64], beta: &[f64], b: &[f64]) {
        self.psi.copy_from_slice(psi);
        self.beta.copy_from_slice(beta);
        let mut at = 0;
        for level in &mut self.b {
            let n = level.len();
            level.copy_from_slice(&b[at..at + n]);
            at += n;
        }
        self.log_f = None;
        self.work.evaluated = None;
    }

    pub(crate) fn psi(&self) -> &[f64] {
        &self.psi
    }
}

impl Lmm {
    pub fn new(data: LmmData<'_>, prior: LmmPrior) -> Result<Self, Error> {
        let scales = Scales::of(&data);
        Self::in_scales(data, prior, scales)
    }

    /// The model in the sampler's units `scales`, which several models
    /// of one response share (crossed factors, crossed.rs).
    pub(crate) fn in_scales(
        data: LmmData<'_>,
        prior: LmmPrior,
        scales: Scales,
    ) -> Result<Self, Error> {
        let p = check_data(&data)?;
        check_prior(&prior, p, &data)?;
        let mut psi_at = 1;
        let mut levels = Vec::with_capacity(data.levels.len());
        for (l, (level, level_prior)) in data.levels.iter().zip(&prior.levels).enumerate() {
            let q = level.z.len();
            let z_scale: Vec<f64> = level
                .z
                .iter()
                .map(|&var| var.map_or(1.0, |v| scales.rms[v]))
                .collect();
            let sds = level_prior
                .sds
                .iter()
                .zip(&z_scale)
                .map(|(sd, zs)| sd.standardised(scales.y_scale / zs))
                .collect();
            let lkj = if q > 1 { level_prior.lkj } else { None };
            levels.push(Level {
                q,
                n_nodes: level.parent.len(),
                parent: level.parent.to_vec(),
                sds,
                lkj,
                z_scale,
                psi_at,
            });
            psi_at += q + levels[l].n_correlations();
        }
        if psi_at > MAX_VARIANCE_DIM {
            return Err(Error::InvalidData(format!(
                "the model has {psi_at} variance parameters; at most {MAX_VARIANCE_DIM} are supported"
            )));
        }
        let (effect_precision, effect_mean) = prior
            .effects
            .iter()
            .enumerate()
            .map(|(k, e)| {
                // beta~_k = beta_k x_scale_k / y_scale; the intercept's is
                // the mean response at the predictors' means, less y_centre.
                let s = &scales;
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
        let mut model = Self {
            p,
            n_rows: data.stats.n().iter().sum(),
            sigma: prior.sigma.standardised(scales.y_scale),
            scales,
            effect_precision,
            effect_mean,
            levels,
            rows_cross: Vec::new(),
            classes: Vec::new(),
            class_of: Vec::new(),
            leaf_cross: Vec::new(),
        };
        model.summarise(&data);
        model.check_identified()?;
        Ok(model)
    }

    /// Coordinates of a node's Gaussian at buffer level l (0 the root):
    /// `[-1, beta, b_1, .., b_l]`.
    fn dim(&self, l: usize) -> usize {
        1 + self.p + self.levels[..l].iter().map(|level| level.q).sum::<usize>()
    }

    /// The buffer level that holds the last level's parents, and its
    /// number of nodes.
    fn leaf_parents(&self) -> (usize, usize) {
        match self.levels.len() {
            0 | 1 => (0, 1),
            big_l => (big_l - 1, self.levels[big_l - 2].n_nodes),
        }
    }

    /// The data's coordinates in the sampler's units: `[y, X, Z_1 ..
    /// Z_(L-1)]` (the lead of every node's Gaussian) and `Z_L`.
    fn coordinates(&self, data: &LmmData<'_>) -> (Vec<Coordinate>, Vec<Coordinate>) {
        let s = &self.scales;
        let mut lead = vec![Coordinate {
            var: Some(0),
            centre: s.y_centre,
            scale: s.y_scale,
        }];
        lead.extend(data.x.iter().enumerate().map(|(k, &var)| Coordinate {
            var,
            centre: s.x_centre[k],
            scale: s.x_scale[k],
        }));
        let level_coordinates = |l: usize| {
            data.levels[l]
                .z
                .iter()
                .zip(&self.levels[l].z_scale)
                .map(|(&var, &scale)| Coordinate {
                    var,
                    centre: 0.0,
                    scale,
                })
        };
        let big_l = self.levels.len();
        for l in 0..big_l.saturating_sub(1) {
            lead.extend(level_coordinates(l));
        }
        let leaf = if big_l == 0 {
            Vec::new()
        } else {
            level_coordinates(big_l - 1).collect()
        };
        (lead, leaf)
    }

    /// From each last-level group's statistics: the cross-products of the
    /// rows of each last-level parent and of each last-level group, in the
    /// sampler's units, and the classes. Over a group's rows,
    /// `sum u v' = n ubar vbar' + S_uv` for coordinates u, v (MATHS.md 15.6).
    pub(crate) fn summarise(&mut self, data: &LmmData<'_>) {
        let stats = data.stats;
        let d = stats.n_variables();
        let big_l = self.levels.len();
        let (top, n_parents) = self.leaf_parents();
        let lead = self.dim(top);
        let (lead_coordinates, leaf_coordinates) = self.coordinates(data);
        let q_leaf = leaf_coordinates.len();
        let n_leaves = self.levels.last().map_or(0, |l| l.n_nodes);
        let mut rows_cross = vec![0.0; n_parents * lead * lead];
        let mut zz = vec![0.0; n_leaves * q_leaf * q_leaf];
        let mut leaf_cross = vec![0.0; n_leaves * q_leaf * lead];
        let mut r = vec![0.0; lead];
        let mut z = vec![0.0; q_leaf];
        for j in 0..stats.n_groups() {
            let (n, m, s) = (stats.n()[j], stats.mean_of(j), stats.cross_of(j));
            let mean = |c: &Coordinate| (c.var.map_or(1.0, |v| m[v]) - c.centre) / c.scale;
            let within = |a: &Coordinate, b: &Coordinate| match (a.var, b.var) {
                (Some(u), Some(v)) => s[u * d + v] / (a.scale * b.scale),
                _ => 0.0,
            };
            for (value, c) in r.iter_mut().zip(&lead_coordinates) {
                *value = mean(c);
            }
            for (value, c) in z.iter_mut().zip(&leaf_coordinates) {
                *value = mean(c);
            }
            let parent = if big_l == 0 {
                0
            } else {
                self.levels[big_l - 1].parent[j]
            };
            let cross = &mut rows_cross[parent * lead * lead..(parent + 1) * lead * lead];
            for (a, ca) in lead_coordinates.iter().enumerate() {
                for (c, cc) in lead_coordinates.iter().enumerate() {
                    cross[a * lead + c] += n * r[a] * r[c] + within(ca, cc);
                }
            }
            let q = q_leaf;
            let zz_j = &mut zz[j * q * q..(j + 1) * q * q];
            let cross_j = &mut leaf_cross[j * q * lead..(j + 1) * q * lead];
            for (a, ca) in leaf_coordinates.iter().enumerate() {
                for (c, cc) in leaf_coordinates.iter().enumerate() {
                    zz_j[a * q + c] = n * z[a] * z[c] + within(ca, cc);
                }
                for (c, cc) in lead_coordinates.iter().enumerate() {
                    cross_j[a * lead + c] = n * z[a] * r[c] + within(ca, cc);
                }
            }
        }
        if let Some(level) = self.levels.last() {
            let (classes, class_of) = classes_of(&zz, &leaf_cross, &level.parent, level.q, lead);
            self.classes = classes;
            self.class_of = class_of;
        }
        self.rows_cross = rows_cross;
        self.leaf_cross = leaf_cross;
    }

    /// Number of variance parameters.
    pub fn variance_dim(&self) -> usize {
        1 + self
            .levels
            .iter()
            .map(|l| l.q + l.n_correlations())
            .sum::<usize>()
    }

    pub(crate) fn n_global(&self) -> usize {
        self.p + self.variance_dim()
    }

    pub(crate) fn scales(&self) -> &Scales {
        &self.scales
    }

    /// A row's coordinates in the sampler's units: the response, each
    /// column of X (`x`) and of level `l`'s Z (`z`).
    pub(crate) fn unit_coordinates(
        &self,
        x: &[Option<usize>],
        l: usize,
        z: &[Option<usize>],
    ) -> (Coordinate, Vec<Coordinate>, Vec<Coordinate>) {
        let s = &self.scales;
        let y = Coordinate {
            var: Some(0),
            centre: s.y_centre,
            scale: s.y_scale,
        };
        let xs = x
            .iter()
            .enumerate()
            .map(|(k, &var)| Coordinate {
                var,
                centre: s.x_centre[k],
                scale: s.x_scale[k],
            })
            .collect();
        let zs = z
            .iter()
            .zip(&self.levels[l].z_scale)
            .map(|(&var, &scale)| Coordinate {
                var,
                centre: 0.0,
                scale,
            })
            .collect();
        (y, xs, zs)
    }

    /// Level `l`'s precision, its log determinant and the log prior of its
    /// variance parameters (see `Level::precision`), from `own`, every
    /// variance parameter but sigma's.
    pub(crate) fn level_precision(
        &self,
        l: usize,
        own: &[f64],
        scratch: [&mut [f64]; 3],
        lambda: &mut [f64],
    ) -> (f64, f64) {
        let level = &self.levels[l];
        let at = level.psi_at - 1;
        level.precision(
            &own[at..at + level.q + level.n_correlations()],
            scratch,
            lambda,
        )
    }

    /// The log prior density of sigma's log precision `x`.
    pub(crate) fn sigma_log_prior(&self, x: f64) -> f64 {
        self.sigma.log_density_log_precision(x, x.exp())
    }

    /// The fixed effects' prior precisions and means, in the sampler's units.
    pub(crate) fn effect_prior(&self) -> (&[f64], &[f64]) {
        (&self.effect_precision, &self.effect_mean)
    }

    /// Every level's coefficients in the data's units, level after level,
    /// each q x groups, coefficient after coefficient.
    pub(crate) fn coefficients_in_units(&self, chain: &LmmChain, out: &mut [f64]) {
        let mut at = 0;
        for (level, b) in self.levels.iter().zip(&chain.b) {
            let n = level.n_nodes;
            for (a, zs) in level.z_scale.iter().enumerate() {
                let factor = self.scales.y_scale / zs;
                for (v, b) in out[at..at + n].iter_mut().zip(&b[a * n..(a + 1) * n]) {
                    *v = b * factor;
                }
                at += n;
            }
        }
    }

    /// One update of sigma, every level's variance parameters, beta and
    /// every coefficient from their conditional law given the response the
    /// model was last summarised with, sigma's log precision entering at
    /// `log_tau_w` and leaving in `chain.psi[0]`: a slice step on the
    /// density with the locations integrated out, then the locations
    /// drawn exactly (also in warm-up: the caller's next step needs them).
    pub(crate) fn conditional_update(
        &self,
        chain: &mut LmmChain,
        log_tau_w: f64,
        rng: &mut Pcg64,
        warmup: bool,
    ) -> Result<(), Error> {
        chain.psi[0] = log_tau_w;
        // the response changed since the last step: its density too
        chain.log_f = None;
        chain.work.evaluated = None;
        self.step_variances(chain, rng, warmup)?;
        let LmmChain {
            psi, work, beta, b, ..
        } = chain;
        self.draw_locations(psi, work, beta, b, rng);
        Ok(())
    }

    fn step_variances(
        &self,
        chain: &mut LmmChain,
        rng: &mut Pcg64,
        warmup: bool,
    ) -> Result<(), Error> {
        let LmmChain {
            psi,
            log_f,
            step,
            work,
            ..
        } = chain;
        let mut density = |x: &[f64]| self.log_density(x, work, true);
        let value = step.step(psi, *log_f, &mut density, rng, warmup)?;
        *log_f = Some(value);
        if !value.is_finite() {
            return Err(Error::Numerical(
                "the collapsed density of the variance parameters is not finite".into(),
            ));
        }
        Ok(())
    }

    pub(crate) fn n_group_values(&self) -> usize {
        self.levels.iter().map(|l| l.q * l.n_nodes).sum()
    }

    /// With a flat prior on some effect, the effects are identified only if
    /// X'X is positive definite where the prior is flat.
    fn check_identified(&self) -> Result<(), Error> {
        let p = self.p;
        let (top, n_parents) = self.leaf_parents();
        let lead = self.dim(top);
        let mut m = vec![0.0; p * p];
        for parent in 0..n_parents {
            let cross = &self.rows_cross[parent * lead * lead..];
            for a in 0..p {
                for c in 0..p {
                    m[a * p + c] += cross[(1 + a) * lead + 1 + c];
                }
            }
        }
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

    fn work(&self) -> Work {
        let big_l = self.levels.len();
        let q_max = self.levels.iter().map(|l| l.q).max().unwrap_or(0);
        let nodes = |l: usize| {
            if l == 0 {
                1
            } else {
                self.levels[l - 1].n_nodes
            }
        };
        let own = |l: usize| if l == 0 { self.p } else { self.levels[l - 1].q };
        let buffers = big_l.max(1);
        Work {
            lambda: self.levels.iter().map(|l| vec![0.0; l.q * l.q]).collect(),
            log_det_lambda: vec![0.0; big_l],
            corr: vec![0.0; q_max * q_max],
            factor: vec![0.0; q_max * q_max],
            inverse: vec![0.0; 2 * q_max * q_max],
            messages: (0..buffers)
                .map(|l| vec![0.0; nodes(l) * self.dim(l).pow(2)])
                .collect(),
            factors: (0..buffers)
                .map(|l| vec![0.0; nodes(l) * own(l).pow(2)])
                .collect(),
            projections: (0..buffers)
                .map(|l| vec![0.0; nodes(l) * own(l) * (self.dim(l) - own(l))])
                .collect(),
            class_factors: vec![0.0; self.classes.len() * q_max * q_max],
            evaluated: None,
        }
    }

    /// The log density of `psi` with every location integrated out, with
    /// the priors of `psi` if `with_prior` (else the likelihood alone), in
    /// the standardised units; -infinity outside the support. Leaves in `w`
    /// the factors the draws need.
    fn log_density(&self, psi: &[f64], w: &mut Work, with_prior: bool) -> f64 {
        let p = self.p;
        let big_l = self.levels.len();
        let mut evaluated = w.evaluated.take().unwrap_or_default();
        let tau = psi[0].exp();
        let mut value = if with_prior {
            self.sigma.log_density_log_precision(psi[0], tau)
        } else {
            0.0
        };
        for (l, level) in self.levels.iter().enumerate() {
            let own = &psi[level.psi_at..level.psi_at + level.q + level.n_correlations()];
            let (log_det_lambda, log_prior) = level.precision(
                own,
                [&mut w.corr, &mut w.factor, &mut w.inverse],
                &mut w.lambda[l],
            );
            if with_prior {
                value += log_prior;
            }
            w.log_det_lambda[l] = log_det_lambda;
        }
        if !value.is_finite() {
            return f64::NEG_INFINITY;
        }
        let mut total = 0.5 * self.n_rows * (psi[0] - LN_2PI);
        // The last level's groups, class by class, into their parents.
        let (top, _) = self.leaf_parents();
        let lead = self.dim(top);
        for m in &mut w.messages[..top] {
            m.fill(0.0);
        }
        for (m, c) in w.messages[top].iter_mut().zip(&self.rows_cross) {
            *m = tau * c;
        }
        if let Some(leaf) = self.levels.last() {
            let q = leaf.q;
            total += 0.5 * leaf.n_nodes as f64 * w.log_det_lambda[big_l - 1];
            let tau2 = tau * tau;
            let mut log_det_p = LogProduct::new();
            for class in &self.classes {
                let precision = &mut w.corr[..q * q];
                for ((v, l), a) in precision
                    .iter_mut()
                    .zip(&w.lambda[big_l - 1])
                    .zip(&class.zz)
                {
                    *v = l + tau * a;
                }
                let Some(det) = inverse_spd(precision, q, &mut w.inverse, &mut w.factor) else {
                    return f64::NEG_INFINITY;
                };
                // one logarithm for many classes: most hold one group
                if class.count == 1.0 {
                    log_det_p.push(det);
                } else {
                    log_det_p.add_log(class.count * det.ln());
                }
                let message = &mut w.messages[top]
                    [class.parent * lead * lead..(class.parent + 1) * lead * lead];
                let mut block = 0;
                for a in 0..q {
                    for b in a..q {
                        let weight = tau2 * w.factor[a * q + b];
                        let cross = &class.cross[block * lead * lead..(block + 1) * lead * lead];
                        for (m, g) in message.iter_mut().zip(cross) {
                            *m -= weight * g;
                        }
                        block += 1;
                    }
                }
            }
            total -= 0.5 * log_det_p.value();
        }
        // Every level above, bottom up: add the node's prior, eliminate its
        // coefficients, pass the rest to its parent.
        for l in (1..big_l).rev() {
            let level = &self.levels[l - 1];
            let (q, d) = (level.q, self.dim(l));
            let rest = d - q;
            let (above, here) = w.messages.split_at_mut(l);
            for r in 0..level.n_nodes {
                let m = &mut here[0][r * d * d..(r + 1) * d * d];
                let Some(log_det_own) = eliminate(
                    m,
                    d,
                    q,
                    Some(&w.lambda[l - 1]),
                    &mut w.factors[l][r * q * q..(r + 1) * q * q],
                    &mut w.projections[l][r * q * rest..(r + 1) * q * rest],
                ) else {
                    return f64::NEG_INFINITY;
                };
                total += 0.5 * w.log_det_lambda[l - 1] - 0.5 * log_det_own;
                let parent = level.parent[r];
                let out = &mut above[l - 1][parent * rest * rest..(parent + 1) * rest * rest];
                for i in 0..rest {
                    for j in 0..rest {
                        out[i * rest + j] += m[i * d + j];
                    }
                }
            }
        }
        // The root: the effects' prior, then the effects eliminated.
        let d = 1 + p;
        let m = &mut w.messages[0][..d * d];
        for k in 0..p {
            let (precision, mean) = (self.effect_precision[k], self.effect_mean[k]);
            m[0] += precision * mean * mean;
            m[1 + k] += precision * mean;
            m[(1 + k) * d] += precision * mean;
            m[(1 + k) * d + 1 + k] += precision;
            total += if precision > 0.0 {
                0.5 * precision.ln()
            } else {
                0.5 * LN_2PI
            };
        }
        let Some(log_det_q) = eliminate(m, d, p, None, &mut w.factors[0], &mut w.projections[0])
        else {
            return f64::NEG_INFINITY;
        };
        // m[0], the quadratic form left, is a sum of squares: below zero,
        // rounding has swamped it (a precision far past any the data
        // support, which a slice step may probe)
        let result = value + total - 0.5 * log_det_q - 0.5 * m[0];
        if result.is_nan() || m[0] < 0.0 {
            return f64::NEG_INFINITY;
        }
        evaluated.clear();
        evaluated.extend_from_slice(psi);
        w.evaluated = Some(evaluated);
        result
    }

    /// `[-1, beta, b_1, .., b_(l)]` of the ancestors of `node` of level
    /// `l + 1` (0-based `l`: its ancestors are the nodes above it).
    fn context(&self, l: usize, node: usize, beta: &[f64], b: &[Vec<f64>], out: &mut Vec<f64>) {
        out.clear();
        out.push(-1.0);
        out.extend_from_slice(beta);
        let start = out.len();
        out.resize(self.dim(l), 0.0);
        let mut at = self.dim(l);
        let mut current = node;
        for k in (0..l).rev() {
            current = self.levels[k + 1].parent[current];
            let level = &self.levels[k];
            at -= level.q;
            for a in 0..level.q {
                out[at + a] = b[k][a * level.n_nodes + current];
            }
        }
        debug_assert_eq!(at, start);
    }

    /// beta and every group's coefficients, drawn exactly given `psi`: one
    /// pass down the tree.
    fn draw_locations(
        &self,
        psi: &[f64],
        w: &mut Work,
        beta: &mut [f64],
        b: &mut [Vec<f64>],
        rng: &mut Pcg64,
    ) {
        let p = self.p;
        // The step's last evaluation is usually at the point it returns.
        if w.evaluated.as_deref() != Some(psi) {
            let _ = self.log_density(psi, w, false);
        }
        // u | w ~ N(-L^-T T w, (L L')^-1); at the root w = [-1].
        for (k, v) in beta.iter_mut().enumerate() {
            *v = w.projections[0][k] + std_normal(rng);
        }
        solve_upper(&w.factors[0], p, beta);
        let big_l = self.levels.len();
        let mut context = Vec::new();
        let mut draw = Vec::new();
        for l in 1..big_l {
            let level = &self.levels[l - 1];
            let (q, rest) = (level.q, self.dim(l) - level.q);
            for r in 0..level.n_nodes {
                self.context(l - 1, r, beta, b, &mut context);
                let t = &w.projections[l][r * q * rest..(r + 1) * q * rest];
                draw.clear();
                draw.extend((0..q).map(|a| {
                    -t[a * rest..(a + 1) * rest]
                        .iter()
                        .zip(&context)
                        .map(|(x, y)| x * y)
                        .sum::<f64>()
                        + std_normal(rng)
                }));
                solve_upper(&w.factors[l][r * q * q..(r + 1) * q * q], q, &mut draw);
                for a in 0..q {
                    b[l - 1][a * level.n_nodes + r] = draw[a];
                }
            }
        }
        if let Some(leaf) = self.levels.last() {
            let tau = psi[0].exp();
            let q = leaf.q;
            let lead = self.dim(big_l - 1);
            // The classes' Cholesky factors: the density needed only their
            // inverses.
            for (c, class) in self.classes.iter().enumerate() {
                let factor = &mut w.class_factors[c * q * q..(c + 1) * q * q];
                for ((v, l), a) in factor.iter_mut().zip(&w.lambda[big_l - 1]).zip(&class.zz) {
                    *v = l + tau * a;
                }
                // positive definite: the density just evaluated there was finite
                cholesky(factor, q);
            }
            for j in 0..leaf.n_nodes {
                self.context(big_l - 1, j, beta, b, &mut context);
                let cross = &self.leaf_cross[j * q * lead..(j + 1) * q * lead];
                draw.clear();
                draw.extend((0..q).map(|a| {
                    -tau * cross[a * lead..(a + 1) * lead]
                        .iter()
                        .zip(&context)
                        .map(|(x, y)| x * y)
                        .sum::<f64>()
                }));
                let c = self.class_of[j];
                let factor = &w.class_factors[c * q * q..(c + 1) * q * q];
                // b = P^-1 r + L^-T e = L^-T (L^-1 r + e)
                solve_lower(factor, q, &mut draw);
                for v in draw.iter_mut() {
                    *v += std_normal(rng);
                }
                solve_upper(factor, q, &mut draw);
                for a in 0..q {
                    b[big_l - 1][a * leaf.n_nodes + j] = draw[a];
                }
            }
        }
    }

    /// The standardised `psi` of variance parameters in the data's units:
    /// sigma, then each level's sds and correlations (row-wise, (0,1),
    /// (0,2), (1,2), ...). None unless they form a valid point.
    pub(crate) fn psi_of(&self, sigma: f64, levels: &[(Vec<f64>, Vec<f64>)]) -> Option<Vec<f64>> {
        let s = &self.scales;
        if levels.len() != self.levels.len() {
            return None;
        }
        let mut psi = vec![-2.0 * (sigma / s.y_scale).ln()];
        for (level, (sds, correlations)) in self.levels.iter().zip(levels) {
            let q = level.q;
            if sds.len() != q || correlations.len() != level.n_correlations() {
                return None;
            }
            psi.extend(
                sds.iter()
                    .zip(&level.z_scale)
                    .map(|(sd, zs)| -2.0 * (sd * zs / s.y_scale).ln()),
            );
            if level.n_correlations() > 0 {
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
                        psi.push((r[i * q + j] / left.sqrt()).atanh());
                        left -= r[i * q + j] * r[i * q + j];
                    }
                }
            }
        }
        psi.iter().all(|v| v.is_finite()).then_some(psi)
    }

    /// The log density of the data given the variance parameters in the
    /// data's units (sigma, then each level's sds and correlations), every
    /// location integrated out: with flat priors on the effects, the
    /// restricted (REML) likelihood up to a constant. Adds the priors of
    /// the variance parameters if `with_prior` (their density in the
    /// sampler's coordinates). None for an invalid point.
    pub fn log_density_at(
        &self,
        sigma: f64,
        levels: &[(Vec<f64>, Vec<f64>)],
        with_prior: bool,
    ) -> Option<f64> {
        let psi = self.psi_of(sigma, levels)?;
        let mut w = self.work();
        Some(self.in_data_units(self.log_density(&psi, &mut w, with_prior)))
    }

    /// A log density of the standardised response as one of the data's:
    /// y = centre + scale y~, so the density of y is that of y~ / scale^N.
    pub(crate) fn in_data_units(&self, log_density: f64) -> f64 {
        log_density - self.n_rows * self.scales.y_scale.ln()
    }

    pub(crate) fn report_values(&self, chain: &LmmChain, out: &mut [f64]) {
        let (p, s) = (self.p, &self.scales);
        for ((v, beta), x_scale) in out.iter_mut().zip(&chain.beta).zip(&s.x_scale) {
            *v = beta * s.y_scale / x_scale;
        }
        if let Some(i) = s.intercept {
            let shift: f64 = (0..p)
                .filter(|&k| k != i)
                .map(|k| s.x_centre[k] * out[k])
                .sum();
            out[i] = s.y_centre + chain.beta[i] * s.y_scale - shift;
        }
        let mut at = p;
        // q <= 3 where there are correlations (MAX_VARIANCE_DIM): on the stack,
        // as this runs for every stored draw
        let mut l_factor = [0.0; MAX_VARIANCE_DIM * MAX_VARIANCE_DIM];
        for level in &self.levels {
            let q = level.q;
            for k in 0..q {
                out[at + k] =
                    (-0.5 * chain.psi[level.psi_at + k]).exp() * s.y_scale / level.z_scale[k];
            }
            at += q;
            if level.n_correlations() > 0 {
                let z = &chain.psi[level.psi_at + q..level.psi_at + q + level.n_correlations()];
                correlation_factor(q, level.lkj, z, &mut l_factor);
                for i in 1..q {
                    for j in 0..i {
                        out[at] = (0..=j)
                            .map(|k| l_factor[i * q + k] * l_factor[j * q + k])
                            .sum();
                        at += 1;
                    }
                }
            }
        }
        out[at] = (-0.5 * chain.psi[0]).exp() * s.y_scale;
        at += 1;
        if out.len() > at {
            for (level, b) in self.levels.iter().zip(&chain.b) {
                for a in 0..level.q {
                    let factor = s.y_scale / level.z_scale[a];
                    for j in 0..level.n_nodes {
                        out[at] = b[a * level.n_nodes + j] * factor;
                        at += 1;
                    }
                }
            }
        }
    }
}

/// Eliminates the trailing `own` coordinates of the Gaussian `m` (d x d,
/// in `[-1, rest..., own...]`), after adding `prior` to their block: their
/// Cholesky factor into `factor`, `T = L^-1 M_(own, rest)` into
/// `projection` (own x rest), and the Schur complement into `m`'s leading
/// rest x rest block. Returns the log determinant of the own block, or
/// None unless it is positive definite.
fn eliminate(
    m: &mut [f64],
    d: usize,
    own: usize,
    prior: Option<&[f64]>,
    factor: &mut [f64],
    projection: &mut [f64],
) -> Option<f64> {
    let rest = d - own;
    for a in 0..own {
        for c in 0..own {
            factor[a * own + c] =
                m[(rest + a) * d + rest + c] + prior.map_or(0.0, |l| l[a * own + c]);
        }
    }
    if !cholesky(factor, own) {
        return None;
    }
    // T = L^-1 M_(own, rest), column by column, by forward substitution in
    // place: no buffer on this path, which runs at every node of every
    // evaluation.
    for c in 0..rest {
        for i in 0..own {
            let partial: f64 = (0..i)
                .map(|k| factor[i * own + k] * projection[k * rest + c])
                .sum();
            projection[i * rest + c] = (m[(rest + i) * d + c] - partial) / factor[i * own + i];
        }
    }
    for i in 0..rest {
        for j in 0..rest {
            let t: f64 = (0..own)
                .map(|a| projection[a * rest + i] * projection[a * rest + j])
                .sum();
            m[i * d + j] -= t;
        }
    }
    Some(log_det(factor, own))
}

/// The lower Cholesky factor of a q x q correlation matrix into `out`, from
/// the atanh `z` of its canonical partial correlations (in the order (0,1),
/// (0,2), (1,2), (0,3), ...); returns their LKJ log density with the
/// Jacobian of atanh (MATHS.md 15.3). Without LKJ: the identity, density 0.
fn correlation_factor(q: usize, lkj: Option<f64>, z: &[f64], out: &mut [f64]) -> f64 {
    out[..q * q].fill(0.0);
    let Some(eta) = lkj else {
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

pub(crate) const LN_2PI: f64 = 1.837_877_066_409_345_5;

/// Checks the data's shapes; returns p.
fn check_data(data: &LmmData<'_>) -> Result<usize, Error> {
    let d = data.stats.n_variables();
    let known = |vars: &[Option<usize>]| vars.iter().flatten().all(|&v| v < d);
    if d == 0 || !known(data.x) || !data.levels.iter().all(|l| known(l.z)) {
        return Err(Error::InvalidData(format!(
            "the designs name variables beyond the statistics' {d}"
        )));
    }
    let mut above = 1;
    for (l, level) in data.levels.iter().enumerate() {
        if level.z.is_empty() {
            return Err(Error::InvalidData(format!(
                "the design of level {} must have at least one column",
                l + 1
            )));
        }
        if level.parent.len() < 2 {
            return Err(Error::InvalidData(format!(
                "level {} must have at least 2 groups",
                l + 1
            )));
        }
        if level.parent.iter().any(|&g| g >= above) {
            return Err(Error::InvalidData(format!(
                "a group of level {} has a parent out of range",
                l + 1
            )));
        }
        above = level.parent.len();
    }
    let leaves = if data.levels.is_empty() { 1 } else { above };
    if data.stats.n_groups() != leaves {
        return Err(Error::InvalidData(format!(
            "the statistics have {} groups, not one per group of the last level ({leaves})",
            data.stats.n_groups()
        )));
    }
    Ok(data.x.len())
}

fn check_prior(prior: &LmmPrior, p: usize, data: &LmmData<'_>) -> Result<(), Error> {
    if prior.effects.len() != p || prior.levels.len() != data.levels.len() {
        return Err(Error::InvalidPrior(format!(
            "there must be one prior per fixed effect ({p}) and per level of groups ({})",
            data.levels.len()
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
    for (l, (level, data)) in prior.levels.iter().zip(&data.levels).enumerate() {
        if level.sds.len() != data.z.len() {
            return Err(Error::InvalidPrior(format!(
                "level {} needs one sd prior per coefficient",
                l + 1
            )));
        }
        for (k, sd) in level.sds.iter().enumerate() {
            sd.validate(&format!(
                "the sd of coefficient {} of level {}",
                k + 1,
                l + 1
            ))?;
        }
        if let Some(eta) = level.lkj {
            if !(eta.is_finite() && eta > 0.0) {
                return Err(Error::InvalidPrior(format!(
                    "the LKJ shape must be finite and positive, not {eta}"
                )));
            }
        }
    }
    prior.sigma.validate("sigma")
}

impl Scales {
    /// Each variable's mean and sd about it over all rows (with the divisor
    /// N, and 1 for a variable without spread); the response and X centred
    /// when X has an intercept, else scaled by their root mean squares.
    fn of(data: &LmmData<'_>) -> Self {
        let stats = data.stats;
        let n: f64 = stats.n().iter().sum();
        let positive = |s: f64| if s > 0.0 && s.is_finite() { s } else { 1.0 };
        let spread: Vec<(f64, f64)> = (0..stats.n_variables())
            .map(|a| {
                let (mean, ss) = stats.pooled(a);
                (mean, (ss / n).sqrt())
            })
            .collect();
        let intercept = data.x.iter().position(Option::is_none);
        let centre_and_scale = |v: usize| {
            let (mean, sd) = spread[v];
            if intercept.is_some() {
                (mean, positive(sd))
            } else {
                (0.0, positive(sd.hypot(mean)))
            }
        };
        let (x_centre, x_scale) = data
            .x
            .iter()
            .map(|&var| var.map_or((0.0, 1.0), centre_and_scale))
            .unzip();
        let (y_centre, y_scale) = centre_and_scale(0);
        Self {
            y_centre,
            y_scale,
            x_centre,
            x_scale,
            intercept,
            rms: spread
                .iter()
                .map(|&(mean, sd)| positive(sd.hypot(mean)))
                .collect(),
        }
    }
}

/// Last-level groups of one parent with bit-identical `Z_L'Z_L` share a
/// class.
fn classes_of(
    zz: &[f64],
    leaf_cross: &[f64],
    parent: &[usize],
    q: usize,
    lead: usize,
) -> (Vec<Class>, Vec<usize>) {
    let mut index: HashMap<Vec<u64>, usize> = HashMap::new();
    let mut classes: Vec<Class> = Vec::new();
    let mut class_of = Vec::with_capacity(parent.len());
    let n_blocks = q * (q + 1) / 2;
    for (j, &up) in parent.iter().enumerate() {
        let a = &zz[j * q * q..(j + 1) * q * q];
        let mut key = vec![up as u64];
        key.extend(a.iter().map(|v| v.to_bits()));
        let c = *index.entry(key).or_insert_with(|| {
            classes.push(Class {
                parent: up,
                count: 0.0,
                zz: a.to_vec(),
                cross: vec![0.0; n_blocks * lead * lead],
            });
            classes.len() - 1
        });
        class_of.push(c);
        let class = &mut classes[c];
        class.count += 1.0;
        let cj = &leaf_cross[j * q * lead..(j + 1) * q * lead];
        let mut block = 0;
        for a in 0..q {
            for b in a..q {
                let out = &mut class.cross[block * lead * lead..(block + 1) * lead * lead];
                for r in 0..lead {
                    for s in 0..lead {
                        let mut v = cj[a * lead + r] * cj[b * lead + s];
                        if a != b {
                            v += cj[b * lead + r] * cj[a * lead + s];
                        }
                        out[r * lead + s] += v;
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
pub(crate) fn cholesky(a: &mut [f64], n: usize) -> bool {
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

/// The inverse of the symmetric `q x q` matrix `a` into `inverse`, and its
/// determinant; None unless positive definite. Closed forms for q = 1
/// and 2 (random intercepts, one slope), where a Cholesky factor, its
/// inverse and their product cost several times more; `scratch` holds
/// 2 q^2 values for the general case.
fn inverse_spd(a: &[f64], q: usize, scratch: &mut [f64], inverse: &mut [f64]) -> Option<f64> {
    let positive = |v: f64| v.is_finite() && v > 0.0;
    match q {
        1 => {
            if !positive(a[0]) {
                return None;
            }
            inverse[0] = a[0].recip();
            Some(a[0])
        }
        2 => {
            let det = a[0] * a[3] - a[2] * a[2];
            if !(positive(a[0]) && positive(det)) {
                return None;
            }
            let scale = det.recip();
            inverse[0] = a[3] * scale;
            inverse[1] = -a[2] * scale;
            inverse[2] = -a[2] * scale;
            inverse[3] = a[0] * scale;
            Some(det)
        }
        _ => {
            let (factor, inverse_factor) = scratch.split_at_mut(q * q);
            factor.copy_from_slice(&a[..q * q]);
            if !cholesky(factor, q) {
                return None;
            }
            lower_inverse(factor, q, &mut inverse_factor[..q * q]);
            gram(&inverse_factor[..q * q], q, &mut inverse[..q * q]);
            let det = log_det(factor, q).exp();
            positive(det).then_some(det)
        }
    }
}

pub(crate) fn log_det(l: &[f64], n: usize) -> f64 {
    2.0 * (0..n).map(|i| l[i * n + i].ln()).sum::<f64>()
}

/// `b <- L^-1 b`.
pub(crate) fn solve_lower(l: &[f64], n: usize, b: &mut [f64]) {
    for i in 0..n {
        let partial: f64 = (0..i).map(|k| l[i * n + k] * b[k]).sum();
        b[i] = (b[i] - partial) / l[i * n + i];
    }
}

/// `b <- L^-T b`.
pub(crate) fn solve_upper(l: &[f64], n: usize, b: &mut [f64]) {
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
                self.n_group_values()
            } else {
                0
            }
    }

    fn quantities(&self) -> Vec<Quantity> {
        let mut out = vec![Quantity::Location; self.p];
        for level in &self.levels {
            out.extend(std::iter::repeat_n(Quantity::Spread, level.q));
            out.extend(std::iter::repeat_n(
                Quantity::Number,
                level.n_correlations(),
            ));
        }
        out.push(Quantity::Spread);
        out.extend(std::iter::repeat_n(
            Quantity::Location,
            self.n_group_values(),
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
        for level in &self.levels {
            for (k, sd) in level.sds.iter().enumerate() {
                let at = level.psi_at + k;
                psi[at] = sd.in_support(psi[at].exp()).ln();
            }
        }
        let mut chain = LmmChain {
            psi,
            log_f: None,
            beta: vec![0.0; self.p],
            b: self
                .levels
                .iter()
                .map(|l| vec![0.0; l.q * l.n_nodes])
                .collect(),
            step: variance_step(dim),
            work: self.work(),
        };
        let LmmChain {
            psi, work, beta, b, ..
        } = &mut chain;
        self.draw_locations(psi, work, beta, b, rng);
        chain
    }

    fn sweep(&self, chain: &mut LmmChain, rng: &mut Pcg64, warmup: bool) -> Result<(), Error> {
        self.step_variances(chain, rng, warmup)?;
        if !warmup {
            let LmmChain {
                psi, work, beta, b, ..
            } = chain;
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

    /// Rows in unbalanced schools of 3 regions: an intercept, a covariate
    /// with a large offset, a school-level covariate.
    struct Data {
        y: Vec<f64>,
        x: Vec<f64>,
        /// [1, x1, x2] column-major
        z: Vec<f64>,
        school: Vec<usize>,
        region_of_school: Vec<usize>,
    }

    fn data() -> Data {
        let mut rng = crate::chain_rng(7, 0);
        let sizes = [1usize, 2, 3, 3, 5, 2, 3];
        let region_of_school = vec![0, 0, 1, 1, 1, 2, 2];
        let mut school = Vec::new();
        for (j, &m) in sizes.iter().enumerate() {
            school.extend(std::iter::repeat_n(j, m));
        }
        let n = school.len();
        let x1: Vec<f64> = (0..n).map(|_| 100.0 + 3.0 * rng.random::<f64>()).collect();
        let x2: Vec<f64> = school.iter().map(|&j| (j as f64).sin()).collect();
        let y: Vec<f64> = (0..n)
            .map(|i| 1e3 + 2.0 * x1[i] - x2[i] + 5.0 * std_normal(&mut rng))
            .collect();
        let mut x = vec![1.0; n];
        x.extend(&x1);
        x.extend(&x2);
        Data {
            y,
            z: x.clone(),
            x,
            school,
            region_of_school,
        }
    }

    /// The columns of X (and of Z) as the statistics' variables: the
    /// intercept, x1, x2 (variable 0 is y).
    const VARIABLES: [Option<usize>; 3] = [None, Some(1), Some(2)];

    impl Data {
        /// The statistics of (y, x1, x2) per school, or of all rows.
        fn stats(&self, per_school: bool) -> CrossStats {
            let n = self.y.len();
            let columns = [&self.y[..], &self.x[n..2 * n], &self.x[2 * n..]];
            if per_school {
                CrossStats::from_columns(&columns, &self.school, 7).unwrap()
            } else {
                CrossStats::from_columns(&columns, &vec![0; n], 1).unwrap()
            }
        }
    }

    fn effects() -> Vec<EffectPrior> {
        vec![
            EffectPrior {
                mean: 900.0,
                sd: 300.0,
            },
            EffectPrior { mean: 1.0, sd: 2.0 },
            EffectPrior { mean: 0.0, sd: 4.0 },
        ]
    }

    /// One level's part of the rows' covariance: its design's first `q`
    /// columns, `Sigma` from sds and correlations (row-wise pairs).
    struct LevelCase {
        q: usize,
        lkj: Option<f64>,
        sds: Vec<f64>,
        corr: Vec<f64>,
    }

    fn covariance_of(case: &LevelCase) -> Vec<f64> {
        let q = case.q;
        let mut r = vec![0.0; q * q];
        let mut pair = 0;
        for i in 0..q {
            r[i * q + i] = 1.0;
            for j in 0..i {
                let v = if case.lkj.is_some() {
                    case.corr[pair]
                } else {
                    0.0
                };
                pair += 1;
                r[i * q + j] = v;
                r[j * q + i] = v;
            }
        }
        (0..q * q)
            .map(|k| case.sds[k / q] * r[k] * case.sds[k % q])
            .collect()
    }

    /// The collapsed density equals the dense normal law of y with every
    /// location integrated out: y ~ N(X m0, sigma^2 I + sum_l (Z_l Sigma_l
    /// Z_l') o [same group at l] + X S0 X'), for no groups, one level and
    /// two nested levels, correlated or not.
    #[test]
    fn collapsed_density_is_the_dense_marginal_law() {
        let d = data();
        let n = d.y.len();
        let case = |q: usize, lkj: Option<f64>| LevelCase {
            q,
            lkj,
            sds: vec![2.0, 0.3, 1.5][..q].to_vec(),
            corr: if lkj.is_some() {
                vec![0.3, -0.2, 0.5][..q * (q - 1) / 2].to_vec()
            } else {
                vec![]
            },
        };
        // (levels: school only, or region then school)
        let designs: Vec<Vec<LevelCase>> = vec![
            vec![],
            vec![case(1, None)],
            vec![case(2, Some(2.0))],
            vec![case(2, None)],
            vec![case(3, Some(1.5))],
            vec![case(2, Some(1.0)), case(1, None)],
            vec![case(1, None), case(2, Some(3.0))],
        ];
        for cases in designs {
            let big_l = cases.len();
            let regions: Vec<usize> = vec![0; 3];
            let parents: Vec<&[usize]> = match big_l {
                1 => vec![&d.region_of_school[..0]],
                _ => vec![&regions, &d.region_of_school],
            };
            let school_parent = vec![0; 7];
            let stats = d.stats(big_l > 0);
            let rows = LmmData {
                stats: &stats,
                x: &VARIABLES,
                levels: cases
                    .iter()
                    .enumerate()
                    .map(|(l, c)| LmmLevel {
                        z: &VARIABLES[..c.q],
                        parent: if big_l == 1 {
                            &school_parent
                        } else {
                            parents[l]
                        },
                    })
                    .collect(),
            };
            let prior = LmmPrior {
                effects: effects(),
                levels: cases
                    .iter()
                    .map(|c| LevelPrior {
                        sds: vec![SdPrior::HalfNormal { scale: 3.0 }; c.q],
                        lkj: c.lkj,
                    })
                    .collect(),
                sigma: SdPrior::Exponential { rate: 0.2 },
            };
            let model = Lmm::new(rows, prior.clone()).unwrap();
            let sigma = 4.0;
            // The intercept's prior is on the mean response at the
            // predictors' means: beta = T gamma, gamma = (c, beta_1, beta_2).
            let xbar: Vec<f64> = (0..3)
                .map(|k| d.x[k * n..(k + 1) * n].iter().sum::<f64>() / n as f64)
                .collect();
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
            let group_at = |l: usize, i: usize| {
                if l + 1 == big_l {
                    d.school[i]
                } else {
                    d.region_of_school[d.school[i]]
                }
            };
            let sigmas: Vec<Vec<f64>> = cases.iter().map(covariance_of).collect();
            let mut cov = vec![0.0; n * n];
            let mut mean = vec![0.0; n];
            for i in 0..n {
                mean[i] = (0..3).map(|m| xt[i][m] * prior.effects[m].mean).sum();
                for j in 0..n {
                    let mut v: f64 = (0..3)
                        .map(|m| xt[i][m] * xt[j][m] * prior.effects[m].sd.powi(2))
                        .sum();
                    for (l, c) in cases.iter().enumerate() {
                        if group_at(l, i) == group_at(l, j) {
                            for a in 0..c.q {
                                for b in 0..c.q {
                                    v += d.z[a * n + i] * sigmas[l][a * c.q + b] * d.z[b * n + j];
                                }
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
            let point: Vec<(Vec<f64>, Vec<f64>)> = cases
                .iter()
                .map(|c| (c.sds.clone(), c.corr.clone()))
                .collect();
            let got = model.log_density_at(sigma, &point, false).unwrap();
            assert!(
                (got - expected).abs() < 1e-8 * expected.abs(),
                "levels {:?}: {got} against {expected}",
                cases.iter().map(|c| (c.q, c.lkj)).collect::<Vec<_>>()
            );
        }
    }

    /// A chain reuses one Work for every evaluation: each must be that of
    /// fresh memory.
    #[test]
    fn reused_work_gives_the_same_density() {
        let d = data();
        let regions = vec![0; 3];
        let stats = d.stats(true);
        let rows = LmmData {
            stats: &stats,
            x: &VARIABLES,
            levels: vec![
                LmmLevel {
                    z: &VARIABLES[..2],
                    parent: &regions,
                },
                LmmLevel {
                    z: &VARIABLES[..1],
                    parent: &d.region_of_school,
                },
            ],
        };
        let prior = LmmPrior {
            effects: effects(),
            levels: vec![
                LevelPrior {
                    sds: vec![SdPrior::HalfNormal { scale: 3.0 }; 2],
                    lkj: Some(2.0),
                },
                LevelPrior {
                    sds: vec![SdPrior::HalfNormal { scale: 3.0 }],
                    lkj: None,
                },
            ],
            sigma: SdPrior::Exponential { rate: 0.2 },
        };
        let model = Lmm::new(rows, prior).unwrap();
        let points = [[1.0, -0.5, 0.3, 0.2, 2.0], [-2.0, 1.0, -1.0, -0.7, 0.1]];
        let mut reused = model.work();
        for _ in 0..2 {
            for psi in &points {
                let again = model.log_density(psi, &mut reused, true);
                let fresh = model.log_density(psi, &mut model.work(), true);
                assert_eq!(again, fresh);
            }
        }
    }

    /// LKJ(eta) on a 3 x 3 correlation matrix: each correlation is
    /// marginally 2 Beta(a, a) - 1, a = eta - 1 + q/2, variance 1/(2a + 1).
    #[test]
    fn correlation_prior_is_lkj() {
        let eta = 2.0;
        let (m, width) = (120, 12.0);
        let step = width / m as f64;
        let mut l = vec![0.0; 9];
        let (mut total, mut second) = (0.0, [0.0; 3]);
        for a in 0..m {
            for b in 0..m {
                for c in 0..m {
                    let z = [a, b, c].map(|i| -width / 2.0 + (i as f64 + 0.5) * step);
                    let weight = correlation_factor(3, Some(eta), &z, &mut l).exp();
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
