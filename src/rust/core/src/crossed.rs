//! Crossed grouping factors (MATHS.md section 16): `y = X beta + sum_k
//! Z_k b_k[group of the row in factor k] + e`, each factor's coefficients
//! `N(0, Sigma_k)` as the levels of lmm.rs: one level, or a path of
//! nested ones (`(1 | a/b) + (1 | c)`: the factor a, a:b, crossed with c).
//!
//! Given the other factors' coefficients, the rest of the model is the
//! nested model of lmm.rs with the partial residual
//! `r = y - sum_(j != k) Z_j b_j` as its response. So a sweep takes the
//! factors in turn: summarise r by factor k's groups (O(N)), step sigma
//! and factor k's variance parameters on their density with beta and b_k
//! integrated out, then draw beta and b_k exactly. Each update leaves the
//! posterior invariant (a blocked, partially collapsed Gibbs sweep), and
//! only the passes over the rows (a few per factor) grow with N.
//!
//! With few locations (beta and every factor's coefficients) the
//! collapsed scheme integrates all of them out at once instead, through a
//! dense Cholesky factor of their precision, and nothing grows with N.

use rand_pcg::Pcg64;

use crate::chains::Posterior;
use crate::cross::CrossStats;
use crate::engine::std_normal;
use crate::lmm::{
    LN_2PI, Lmm, LmmChain, LmmData, LmmLevel, LmmPrior, MAX_VARIANCE_DIM, VarianceStep, cholesky,
    log_det, solve_lower, solve_upper, variance_step,
};
use crate::{Error, Quantity, SamplerKind};

/// The most locations (fixed effects and every factor's coefficients) the
/// collapsed scheme factors densely, O(m^3 / 3) per density evaluation.
pub const MAX_COLLAPSED_LOCATIONS: usize = 400;

/// One crossed factor: its levels, top first, each nested in the one
/// above (each level's coefficients' variables, `None` the constant 1, and
/// each of its groups' parent in the level above, 0 at the top), and each
/// row's 0-based group of the last level, of `n_groups`.
#[derive(Debug, Clone)]
pub struct CrossedFactor<'a> {
    pub levels: Vec<LmmLevel<'a>>,
    pub group: &'a [usize],
    pub n_groups: usize,
}

/// The rows: the model's variables (one value per row each, variable 0
/// the response), the variable of each column of X (`None`: the
/// intercept) and the factors.
#[derive(Debug, Clone)]
pub struct CrossedData<'a> {
    pub columns: &'a [&'a [f64]],
    pub x: &'a [Option<usize>],
    pub factors: Vec<CrossedFactor<'a>>,
}

#[derive(Debug, Clone)]
struct Factor {
    /// Per level, top first: its coefficients' variables and each group's
    /// parent.
    z: Vec<Vec<Option<usize>>>,
    parent: Vec<Vec<usize>>,
    /// Each row's group of the last level, and per level the group above
    /// each of those.
    group: Vec<usize>,
    node_of_leaf: Vec<Vec<usize>>,
    /// The model given the other factors at the start, with its
    /// statistics: each chain summarises its own residuals into copies.
    model: Lmm,
    stats: CrossStats,
}

impl Factor {
    fn data<'a>(&'a self, stats: &'a CrossStats, x: &'a [Option<usize>]) -> LmmData<'a> {
        LmmData {
            stats,
            x,
            levels: self
                .z
                .iter()
                .zip(&self.parent)
                .map(|(z, parent)| LmmLevel { z, parent })
                .collect(),
        }
    }

    /// Its coefficients: per level, q x groups.
    fn n_coefficients(&self) -> usize {
        self.z
            .iter()
            .zip(&self.parent)
            .map(|(z, parent)| z.len() * parent.len())
            .sum()
    }
}

/// The collapsed scheme's products of the rows' coordinates in the
/// sampler's units (MATHS.md 16.4): `U = [X, Z_1 by groups, ...]`, its
/// `U'U` (m x m), `U'y` and `y'y`.
#[derive(Debug, Clone)]
struct Dense {
    m: usize,
    utu: Vec<f64>,
    uty: Vec<f64>,
    yty: f64,
    /// Where each factor's levels' coefficients start among the
    /// locations (after beta), and its variance parameters in psi (after
    /// log tau).
    location_at: Vec<Vec<usize>>,
    psi_at: Vec<usize>,
    dim: usize,
    /// The most coefficients of one factor's groups.
    q_max: usize,
}

#[derive(Debug, Clone)]
pub struct Crossed {
    columns: Vec<Vec<f64>>,
    x: Vec<Option<usize>>,
    factors: Vec<Factor>,
    p: usize,
    dense: Option<Dense>,
}

/// One chain: per factor its model (summarised with the latest partial
/// residual), statistics and chain; each factor's part of every row's
/// mean, and their sum.
pub struct CrossedChain {
    models: Vec<Lmm>,
    stats: Vec<CrossStats>,
    chains: Vec<LmmChain>,
    effects: Vec<Vec<f64>>,
    total: Vec<f64>,
    residual: Vec<f64>,
    coefficients: Vec<f64>,
    /// The factor updated last, whose chain holds the current sigma and
    /// beta.
    last: usize,
    collapsed: Option<CollapsedState>,
}

/// The collapsed scheme's chain: every variance parameter, the step's
/// state and the working memory of a density evaluation.
struct CollapsedState {
    psi: Vec<f64>,
    log_f: Option<f64>,
    step: Box<dyn VarianceStep>,
    work: DenseWork,
}

/// The locations' precision (then its Cholesky factor), `h` (then
/// `L^-1 h`), a draw, and one factor's `Lambda` with its scratch.
struct DenseWork {
    precision: Vec<f64>,
    h: Vec<f64>,
    theta: Vec<f64>,
    lambda: Vec<f64>,
    scratch: Vec<f64>,
}

impl DenseWork {
    fn new(d: &Dense) -> Self {
        Self {
            precision: vec![0.0; d.m * d.m],
            h: vec![0.0; d.m],
            theta: vec![0.0; d.m],
            lambda: vec![0.0; d.q_max * d.q_max],
            scratch: vec![0.0; 4 * d.q_max * d.q_max],
        }
    }
}

impl Dense {
    /// The products of the rows' coordinates, when the locations are few
    /// enough to factor densely and the variance parameters few enough
    /// for one slice step.
    fn of(
        factors: &[Factor],
        columns: &[&[f64]],
        x: &[Option<usize>],
        n_rows: usize,
    ) -> Option<Self> {
        let p = x.len();
        let mut location_at = Vec::with_capacity(factors.len());
        let mut psi_at = Vec::with_capacity(factors.len());
        let (mut m, mut dim) = (p, 1);
        for f in factors {
            let mut at = Vec::with_capacity(f.z.len());
            for (z, parent) in f.z.iter().zip(&f.parent) {
                at.push(m);
                m += z.len() * parent.len();
            }
            location_at.push(at);
            psi_at.push(dim);
            dim += f.model.variance_dim() - 1;
        }
        if m > MAX_COLLAPSED_LOCATIONS || dim > MAX_VARIANCE_DIM {
            return None;
        }
        let first = &factors[0].model;
        let (y, xs, _) = first.unit_coordinates(x, 0, &[]);
        let zs: Vec<Vec<_>> = factors
            .iter()
            .map(|f| {
                f.z.iter()
                    .enumerate()
                    .map(|(l, z)| f.model.unit_coordinates(x, l, z).2)
                    .collect()
            })
            .collect();
        let (mut utu, mut uty, mut yty) = (vec![0.0; m * m], vec![0.0; m], 0.0);
        // each row's nonzero coordinates of U: (index, value)
        let mut row: Vec<(usize, f64)> = Vec::with_capacity(m.min(64));
        for i in 0..n_rows {
            row.clear();
            row.extend(
                xs.iter()
                    .enumerate()
                    .map(|(k, c)| (k, c.of_row(columns, i))),
            );
            for (f, factor) in factors.iter().enumerate() {
                let leaf = factor.group[i];
                for (l, parent) in factor.parent.iter().enumerate() {
                    let (n_groups, g) = (parent.len(), factor.node_of_leaf[l][leaf]);
                    for (a, c) in zs[f][l].iter().enumerate() {
                        row.push((location_at[f][l] + a * n_groups + g, c.of_row(columns, i)));
                    }
                }
            }
            let yi = y.of_row(columns, i);
            yty += yi * yi;
            for &(r, u) in &row {
                uty[r] += u * yi;
                for &(c, v) in &row {
                    utu[r * m + c] += u * v;
                }
            }
        }
        Some(Self {
            m,
            utu,
            uty,
            yty,
            location_at,
            psi_at,
            dim,
            q_max: factors
                .iter()
                .flat_map(|f| f.z.iter().map(Vec::len))
                .max()
                .unwrap_or(1),
        })
    }
}

impl Crossed {
    pub fn new(data: CrossedData<'_>, prior: LmmPrior) -> Result<Self, Error> {
        if data.factors.len() < 2 {
            return Err(Error::InvalidData(
                "a crossed model needs at least two grouping factors".into(),
            ));
        }
        let n_levels: usize = data.factors.iter().map(|f| f.levels.len()).sum();
        if prior.levels.len() != n_levels || data.factors.iter().any(|f| f.levels.is_empty()) {
            return Err(Error::InvalidData(
                "every factor needs a level, and the prior one level per level".into(),
            ));
        }
        let n_rows = data.columns.first().map_or(0, |c| c.len());
        if n_rows == 0 {
            return Err(Error::InvalidData("there are no rows".into()));
        }
        if let Some(v) = data.columns.iter().position(|c| c.len() != n_rows) {
            return Err(Error::InvalidData(format!(
                "variable {} has {} values for {n_rows} rows",
                v + 1,
                data.columns[v].len()
            )));
        }
        let mut factors: Vec<Factor> = Vec::with_capacity(data.factors.len());
        let mut level_priors = prior.levels.iter();
        for (k, factor) in data.factors.iter().enumerate() {
            if factor.group.len() != n_rows {
                return Err(Error::InvalidData(format!(
                    "factor {} has {} groups for {n_rows} rows",
                    k + 1,
                    factor.group.len()
                )));
            }
            let stats = CrossStats::from_columns(data.columns, factor.group, factor.n_groups)?;
            let lmm_data = LmmData {
                stats: &stats,
                x: data.x,
                levels: factor.levels.clone(),
            };
            let own_prior = LmmPrior {
                effects: prior.effects.clone(),
                levels: level_priors
                    .by_ref()
                    .take(factor.levels.len())
                    .cloned()
                    .collect(),
                sigma: prior.sigma,
            };
            // one response, one set of units: the first factor's
            let model = match factors.first() {
                None => Lmm::new(lmm_data, own_prior)?,
                Some(first) => Lmm::in_scales(lmm_data, own_prior, first.model.scales().clone())?,
            };
            // the model checked the parents: each in range of the level above
            let mut node_of_leaf = vec![(0..factor.n_groups).collect::<Vec<usize>>()];
            for level in factor.levels[1..].iter().rev() {
                let below = &node_of_leaf[0];
                let above = below.iter().map(|&g| level.parent[g]).collect();
                node_of_leaf.insert(0, above);
            }
            factors.push(Factor {
                z: factor.levels.iter().map(|l| l.z.to_vec()).collect(),
                parent: factor.levels.iter().map(|l| l.parent.to_vec()).collect(),
                group: factor.group.to_vec(),
                node_of_leaf,
                model,
                stats,
            });
        }
        let dense = Dense::of(&factors, data.columns, data.x, n_rows);
        Ok(Self {
            columns: data.columns.iter().map(|c| c.to_vec()).collect(),
            x: data.x.to_vec(),
            p: data.x.len(),
            factors,
            dense,
        })
    }

    /// The number of locations, fixed effects and every factor's
    /// coefficients.
    pub fn n_locations(&self) -> usize {
        self.p
            + self
                .factors
                .iter()
                .map(Factor::n_coefficients)
                .sum::<usize>()
    }

    /// The log density of the data given the variance parameters in the
    /// data's units (sigma, then each level's sds and correlations), every
    /// location integrated out, as `Lmm::log_density_at`: with flat priors
    /// on the fixed effects, the restricted (REML) likelihood up to a
    /// constant. None for an invalid point, or where the locations are too
    /// many to factor densely.
    pub fn log_density_at(
        &self,
        sigma: f64,
        levels: &[(Vec<f64>, Vec<f64>)],
        with_prior: bool,
    ) -> Option<f64> {
        let d = self.dense.as_ref()?;
        let n_levels: usize = self.factors.iter().map(|f| f.z.len()).sum();
        if levels.len() != n_levels {
            return None;
        }
        let mut psi = Vec::with_capacity(d.dim);
        let mut at = 0;
        for factor in &self.factors {
            let own = factor
                .model
                .psi_of(sigma, &levels[at..at + factor.z.len()])?;
            at += factor.z.len();
            if psi.is_empty() {
                psi.push(own[0]);
            }
            psi.extend_from_slice(&own[1..]);
        }
        let mut work = DenseWork::new(d);
        let value = self.collapsed_log_density(&psi, &mut work, with_prior);
        Some(self.factors[0].model.in_data_units(value))
    }

    /// The log density of every variance parameter `psi` with every
    /// location integrated out (MATHS.md 16.4), with the variance
    /// parameters' priors if `with_prior`, leaving in `work` the Cholesky
    /// factor of the locations' precision and `L^-1 h`.
    fn collapsed_log_density(&self, psi: &[f64], work: &mut DenseWork, with_prior: bool) -> f64 {
        let Some(d) = &self.dense else {
            return f64::NEG_INFINITY;
        };
        let m = d.m;
        let first = &self.factors[0].model;
        let tau = psi[0].exp();
        let mut value = if with_prior {
            first.sigma_log_prior(psi[0])
        } else {
            0.0
        };
        let DenseWork {
            precision,
            h,
            lambda,
            scratch,
            ..
        } = work;
        for (p, u) in precision.iter_mut().zip(&d.utu) {
            *p = tau * u;
        }
        for (h, u) in h.iter_mut().zip(&d.uty) {
            *h = tau * u;
        }
        let (effect_precision, effect_mean) = first.effect_prior();
        for (k, (&v, &mean)) in effect_precision.iter().zip(effect_mean).enumerate() {
            precision[k * m + k] += v;
            h[k] += v * mean;
            value += if v > 0.0 { 0.5 * v.ln() } else { 0.5 * LN_2PI } - 0.5 * v * mean * mean;
        }
        for (f, factor) in self.factors.iter().enumerate() {
            let own = &psi[d.psi_at[f]..d.psi_at[f] + factor.model.variance_dim() - 1];
            for (l, (z, parent)) in factor.z.iter().zip(&factor.parent).enumerate() {
                let (q, n_groups) = (z.len(), parent.len());
                let (corr, rest) = scratch.split_at_mut(q * q);
                let (inverse_factor, inverse) = rest.split_at_mut(q * q);
                let (log_det_lambda, log_prior) = factor.model.level_precision(
                    l,
                    own,
                    [corr, inverse_factor, inverse],
                    &mut lambda[..q * q],
                );
                value += 0.5 * n_groups as f64 * log_det_lambda;
                if with_prior {
                    value += log_prior;
                }
                let at = d.location_at[f][l];
                for j in 0..n_groups {
                    for a in 0..q {
                        for b in 0..q {
                            let (r, c) = (at + a * n_groups + j, at + b * n_groups + j);
                            precision[r * m + c] += lambda[a * q + b];
                        }
                    }
                }
            }
        }
        if !value.is_finite() || !cholesky(precision, m) {
            return f64::NEG_INFINITY;
        }
        solve_lower(precision, m, h);
        let explained: f64 = h.iter().map(|v| v * v).sum();
        let quadratic = tau * d.yty - explained
            + effect_precision
                .iter()
                .zip(effect_mean)
                .map(|(v, mean)| v * mean * mean)
                .sum::<f64>();
        // a sum of squares: below zero only where rounding swamps it
        if quadratic.is_nan() || quadratic < 0.0 {
            return f64::NEG_INFINITY;
        }
        let n_rows = self.n_rows() as f64;
        value + 0.5 * n_rows * (psi[0] - LN_2PI) - 0.5 * tau * d.yty - 0.5 * log_det(precision, m)
            + 0.5 * explained
    }

    /// The collapsed scheme's sweep: every variance parameter by one slice
    /// step, then (after warm-up) every location jointly and exactly.
    fn collapsed_sweep(
        &self,
        chain: &mut CrossedChain,
        rng: &mut Pcg64,
        warmup: bool,
    ) -> Result<(), Error> {
        let Some(state) = chain.collapsed.as_mut() else {
            return Err(Error::InvalidSettings(
                "the chain was not started for the collapsed scheme".into(),
            ));
        };
        let CollapsedState {
            psi,
            log_f,
            step,
            work,
        } = state;
        let value = step.step(
            psi,
            *log_f,
            &mut |x: &[f64]| self.collapsed_log_density(x, work, true),
            rng,
            warmup,
        )?;
        *log_f = Some(value);
        if !value.is_finite() {
            return Err(Error::Numerical(
                "the collapsed density of the variance parameters is not finite".into(),
            ));
        }
        if !warmup {
            self.draw_collapsed_locations(chain, rng);
        }
        Ok(())
    }

    /// Every location from its Gaussian given psi, into the factors'
    /// chains, which report them.
    fn draw_collapsed_locations(&self, chain: &mut CrossedChain, rng: &mut Pcg64) {
        let (Some(d), Some(state)) = (&self.dense, chain.collapsed.as_mut()) else {
            return;
        };
        let CollapsedState { psi, work, .. } = state;
        // the step's last evaluation may have been elsewhere
        self.collapsed_log_density(psi, work, true);
        for (t, h) in work.theta.iter_mut().zip(&work.h) {
            *t = h + std_normal(rng);
        }
        solve_upper(&work.precision, d.m, &mut work.theta);
        let beta = &work.theta[..self.p];
        let mut own = Vec::with_capacity(MAX_VARIANCE_DIM);
        for (f, factor) in self.factors.iter().enumerate() {
            own.clear();
            own.push(psi[0]);
            own.extend_from_slice(&psi[d.psi_at[f]..d.psi_at[f] + factor.model.variance_dim() - 1]);
            let at = d.location_at[f][0];
            let b = &work.theta[at..at + factor.n_coefficients()];
            chain.chains[f].set(&own, beta, b);
        }
    }

    fn n_rows(&self) -> usize {
        self.columns[0].len()
    }

    /// Summarises the rows' partial residual for factor `k` into the
    /// chain's copy of its model.
    fn summarise(&self, k: usize, chain: &mut CrossedChain) -> Result<(), Error> {
        let factor = &self.factors[k];
        let y = &self.columns[0];
        for (((r, &y), &total), &own) in chain
            .residual
            .iter_mut()
            .zip(y)
            .zip(&chain.total)
            .zip(&chain.effects[k])
        {
            *r = y - (total - own);
        }
        let mut columns: Vec<&[f64]> = self.columns.iter().map(Vec::as_slice).collect();
        columns[0] = &chain.residual;
        chain.stats[k].replace_variable(0, &chain.residual, &columns, &factor.group)?;
        chain.models[k].summarise(&factor.data(&chain.stats[k], &self.x));
        Ok(())
    }

    /// Factor `k`'s part of every row's mean from its chain's
    /// coefficients; the rows' total follows.
    fn refresh_effects(&self, k: usize, chain: &mut CrossedChain) {
        let factor = &self.factors[k];
        let coefficients = &mut chain.coefficients;
        coefficients.resize(factor.n_coefficients(), 0.0);
        chain.models[k].coefficients_in_units(&chain.chains[k], coefficients);
        // level by level, coefficient by coefficient, into the residual's
        // memory (summarise() rewrites it before it is read): tight passes
        // over the rows, as this runs for every row of every sweep
        let new_effects = &mut chain.residual;
        new_effects.fill(0.0);
        let last = factor.z.len() - 1;
        let mut at = 0;
        for (l, z) in factor.z.iter().enumerate() {
            let n_groups = factor.parent[l].len();
            let node = &factor.node_of_leaf[l];
            for (a, var) in z.iter().enumerate() {
                let coefficient = &coefficients[at + a * n_groups..at + (a + 1) * n_groups];
                let rows = new_effects.iter_mut().zip(&factor.group);
                match (var, l == last) {
                    (None, true) => rows.for_each(|(v, &g)| *v += coefficient[g]),
                    (None, false) => rows.for_each(|(v, &g)| *v += coefficient[node[g]]),
                    (Some(c), true) => rows
                        .zip(&self.columns[*c])
                        .for_each(|((v, &g), z)| *v += z * coefficient[g]),
                    (Some(c), false) => rows
                        .zip(&self.columns[*c])
                        .for_each(|((v, &g), z)| *v += z * coefficient[node[g]]),
                }
            }
            at += z.len() * n_groups;
        }
        for ((e, total), &new) in chain.effects[k]
            .iter_mut()
            .zip(&mut chain.total)
            .zip(new_effects.iter())
        {
            *total += new - *e;
            *e = new;
        }
    }
}

impl Posterior for Crossed {
    type Chain = CrossedChain;

    fn n_reported(&self, keep_groups: bool) -> usize {
        let per_factor: usize = self
            .factors
            .iter()
            .map(|f| f.model.n_reported(keep_groups) - self.p - 1)
            .sum();
        self.p + per_factor + 1
    }

    fn quantities(&self) -> Vec<Quantity> {
        let mut out = vec![Quantity::Location; self.p];
        let mut groups = Vec::new();
        for f in &self.factors {
            let q = f.model.quantities();
            let global = f.model.n_global();
            out.extend_from_slice(&q[self.p..global - 1]);
            groups.extend_from_slice(&q[global..]);
        }
        out.push(Quantity::Spread);
        out.extend(groups);
        out
    }

    fn supports(&self, sampler: SamplerKind) -> bool {
        sampler == SamplerKind::Factors
            || (sampler == SamplerKind::Collapsed && self.dense.is_some())
    }

    fn start(&self, sampler: SamplerKind, rng: &mut Pcg64) -> CrossedChain {
        let n = self.n_rows();
        let mut chain = CrossedChain {
            models: self.factors.iter().map(|f| f.model.clone()).collect(),
            stats: self.factors.iter().map(|f| f.stats.clone()).collect(),
            chains: Vec::with_capacity(self.factors.len()),
            effects: vec![vec![0.0; n]; self.factors.len()],
            total: vec![0.0; n],
            residual: vec![0.0; n],
            coefficients: Vec::new(),
            last: self.factors.len() - 1,
            collapsed: None,
        };
        // Each factor from the residual of the ones started before it, so
        // that the factors do not all explain the same variation at first.
        for k in 0..self.factors.len() {
            if k > 0 && self.summarise(k, &mut chain).is_err() {
                // the first draws were wild: start from the response itself
                chain.models[k] = self.factors[k].model.clone();
                chain.stats[k] = self.factors[k].stats.clone();
            }
            let started = chain.models[k].start(SamplerKind::Collapsed, rng);
            chain.chains.push(started);
            self.refresh_effects(k, &mut chain);
        }
        if let (SamplerKind::Collapsed, Some(d)) = (sampler, &self.dense) {
            // from where the factors' starts left their variance parameters
            let mut psi = vec![chain.chains[chain.last].log_tau_w()];
            for c in &chain.chains {
                psi.extend_from_slice(&c.psi()[1..]);
            }
            chain.collapsed = Some(CollapsedState {
                step: variance_step(d.dim),
                psi,
                log_f: None,
                work: DenseWork::new(d),
            });
        }
        chain
    }

    fn sweep(&self, chain: &mut CrossedChain, rng: &mut Pcg64, warmup: bool) -> Result<(), Error> {
        if chain.collapsed.is_some() {
            return self.collapsed_sweep(chain, rng, warmup);
        }
        for k in 0..self.factors.len() {
            self.summarise(k, chain)?;
            let log_tau_w = chain.chains[chain.last].log_tau_w();
            chain.models[k].conditional_update(&mut chain.chains[k], log_tau_w, rng, warmup)?;
            chain.last = k;
            self.refresh_effects(k, chain);
        }
        Ok(())
    }

    /// The fixed effects; each factor's sds and correlations; sigma; each
    /// factor's coefficients.
    fn report(&self, chain: &CrossedChain, out: &mut [f64]) {
        let p = self.p;
        let keep_groups = out.len() > self.n_reported(false);
        let mut values = Vec::new();
        let mut at = p;
        let mut groups_at = self.n_reported(false);
        for (k, model) in chain.models.iter().enumerate() {
            values.clear();
            values.resize(model.n_reported(keep_groups), 0.0);
            model.report_values(&chain.chains[k], &mut values);
            let global = model.n_global();
            if k == chain.last {
                out[..p].copy_from_slice(&values[..p]);
                out[self.n_reported(false) - 1] = values[global - 1];
            }
            let own = global - 1 - p;
            out[at..at + own].copy_from_slice(&values[p..global - 1]);
            at += own;
            if keep_groups {
                let n_groups = values.len() - global;
                out[groups_at..groups_at + n_groups].copy_from_slice(&values[global..]);
                groups_at += n_groups;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::std_normal;
    use crate::{EffectPrior, LevelPrior, SdPrior, Settings, chain_rng, run_chains};

    /// An unbalanced design of 30 x 20 crossed groups: intercept 10, a
    /// covariate with slope 2, factor sds 2 and 0.5, sigma 1.
    struct Design {
        columns: Vec<Vec<f64>>,
        a: Vec<usize>,
        b: Vec<usize>,
        effects_a: Vec<f64>,
    }

    fn design() -> Design {
        let mut rng = chain_rng(11, 0);
        let effects_a: Vec<f64> = (0..30).map(|_| 2.0 * std_normal(&mut rng)).collect();
        let effects_b: Vec<f64> = (0..20).map(|_| 0.5 * std_normal(&mut rng)).collect();
        let (mut y, mut x, mut a, mut b) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for i in 0..600 {
            // rows of some pairs are missing, others repeated
            let (g, h) = ((i * 7) % 30, (i * 13 + i / 7) % 20);
            let xi = 50.0 + (i as f64).sin();
            y.push(10.0 + 2.0 * xi + effects_a[g] + effects_b[h] + std_normal(&mut rng));
            x.push(xi);
            a.push(g);
            b.push(h);
        }
        Design {
            columns: vec![y, x],
            a,
            b,
            effects_a,
        }
    }

    /// design()'s prior: the intercept N(100, 100^2), the slope N(0, 10^2),
    /// each level's sd half-normal of the given scale, sigma's of scale 5.
    fn design_prior(level_scales: &[f64]) -> LmmPrior {
        LmmPrior {
            effects: vec![
                EffectPrior {
                    mean: 100.0,
                    sd: 100.0,
                },
                EffectPrior {
                    mean: 0.0,
                    sd: 10.0,
                },
            ],
            levels: level_scales
                .iter()
                .map(|&scale| LevelPrior {
                    sds: vec![SdPrior::HalfNormal { scale }],
                    lkj: None,
                })
                .collect(),
            sigma: SdPrior::HalfNormal { scale: 5.0 },
        }
    }

    fn model(d: &Design) -> Crossed {
        let columns: Vec<&[f64]> = d.columns.iter().map(Vec::as_slice).collect();
        let intercept = [None];
        let (root_a, root_b) = ([0; 30], [0; 20]);
        let data = CrossedData {
            columns: &columns,
            x: &[None, Some(1)],
            factors: vec![
                CrossedFactor {
                    levels: vec![LmmLevel {
                        z: &intercept,
                        parent: &root_a,
                    }],
                    group: &d.a,
                    n_groups: 30,
                },
                CrossedFactor {
                    levels: vec![LmmLevel {
                        z: &intercept,
                        parent: &root_b,
                    }],
                    group: &d.b,
                    n_groups: 20,
                },
            ],
        };
        Crossed::new(data, design_prior(&[5.0, 5.0])).unwrap()
    }

    fn run(model: &Crossed, threads: usize) -> (Settings, Vec<Vec<f64>>) {
        run_with(model, threads, SamplerKind::Factors)
    }

    fn run_with(
        model: &Crossed,
        threads: usize,
        sampler: SamplerKind,
    ) -> (Settings, Vec<Vec<f64>>) {
        let settings = Settings {
            sampler,
            chains: 2,
            iter: 1500,
            warmup: 300,
            thin: 1,
            seed: 5,
            keep_groups: true,
        };
        let len = settings.output_len(model).unwrap();
        let mut bufs = vec![vec![0.0; len]; 2];
        run_chains(
            model,
            &settings,
            threads,
            bufs.iter_mut().map(|b| b.as_mut_slice()).collect(),
            |_| false,
        )
        .unwrap();
        (settings, bufs)
    }

    #[test]
    fn the_sweep_recovers_a_simulated_design_whatever_the_threads() {
        let d = design();
        let m = model(&d);
        assert_eq!(m.n_reported(false), 5);
        assert_eq!(m.n_reported(true), 55);
        let (settings, one) = run(&m, 1);
        let (_, two) = run(&m, 2);
        assert_eq!(one, two);
        let kept = settings.iter - settings.warmup;
        let mean_of = |column: usize| {
            one.iter()
                .map(|b| b[column * kept..(column + 1) * kept].iter().sum::<f64>())
                .sum::<f64>()
                / (2 * kept) as f64
        };
        // the slope is known to +-0.05 from 600 rows; sigma to +-0.03; the
        // sds (30 and 20 groups) to about a fifth
        assert!((mean_of(1) - 2.0).abs() < 0.2, "slope {}", mean_of(1));
        assert!((mean_of(4) - 1.0).abs() < 0.1, "sigma {}", mean_of(4));
        assert!((mean_of(2) - 2.0).abs() < 0.8, "sd_a {}", mean_of(2));
        assert!((mean_of(3) - 0.5).abs() < 0.3, "sd_b {}", mean_of(3));
        // the first factor's effects are well determined (20 rows each,
        // sd 2 against sigma 1): their means track the truth, up to the
        // intercept's share of their mean
        let estimated: Vec<f64> = (5..35).map(mean_of).collect();
        let centre = |v: &[f64]| {
            let m = v.iter().sum::<f64>() / v.len() as f64;
            v.iter().map(|x| x - m).collect::<Vec<f64>>()
        };
        let worst = centre(&estimated)
            .iter()
            .zip(centre(&d.effects_a))
            .map(|(e, t)| (e - t).abs())
            .fold(0.0, f64::max);
        assert!(worst < 1.0, "an effect off by {worst}");
    }

    /// Each chain's posterior mean of every reported column.
    fn means(settings: &Settings, bufs: &[Vec<f64>], n_columns: usize) -> Vec<f64> {
        let kept = settings.iter - settings.warmup;
        (0..n_columns)
            .map(|c| {
                bufs.iter()
                    .map(|b| b[c * kept..(c + 1) * kept].iter().sum::<f64>())
                    .sum::<f64>()
                    / (bufs.len() * kept) as f64
            })
            .collect()
    }

    /// The log prior of a random intercept's log precision.
    fn level_log_prior(model: &Lmm, own: &[f64]) -> f64 {
        let mut scratch = [0.0; 4];
        let (corr, rest) = scratch.split_at_mut(1);
        let (factor, inverse) = rest.split_at_mut(1);
        model
            .level_precision(0, own, [corr, factor, inverse], &mut [0.0])
            .1
    }

    #[test]
    fn the_collapsed_density_is_the_dense_normal_law_of_the_rows() {
        // 40 rows, 6 x 4 crossed groups, intercept only: in the sampler's
        // units y ~ N(m 1, I / tau + 11' / v + sum_k Z_k Z_k' / tau_k)
        let d = design();
        let n = 40;
        let columns: Vec<&[f64]> = vec![&d.columns[0][..n]];
        let a: Vec<usize> = (0..n).map(|i| i % 6).collect();
        let b: Vec<usize> = (0..n).map(|i| (i * 5 / 3) % 4).collect();
        let intercept = [None];
        let (root_a, root_b) = ([0; 6], [0; 4]);
        let data = CrossedData {
            columns: &columns,
            x: &[None],
            factors: vec![
                CrossedFactor {
                    levels: vec![LmmLevel {
                        z: &intercept,
                        parent: &root_a,
                    }],
                    group: &a,
                    n_groups: 6,
                },
                CrossedFactor {
                    levels: vec![LmmLevel {
                        z: &intercept,
                        parent: &root_b,
                    }],
                    group: &b,
                    n_groups: 4,
                },
            ],
        };
        let level = LevelPrior {
            sds: vec![SdPrior::HalfStudentT {
                df: 3.0,
                scale: 2.0,
            }],
            lkj: None,
        };
        let prior = LmmPrior {
            effects: vec![EffectPrior {
                mean: 100.0,
                sd: 30.0,
            }],
            levels: vec![level.clone(), level],
            sigma: SdPrior::Exponential { rate: 0.5 },
        };
        let m = Crossed::new(data, prior).unwrap();
        assert!(m.supports(SamplerKind::Collapsed));
        let first = &m.factors[0].model;
        let (y_coordinate, _, _) = first.unit_coordinates(&[None], 0, &[]);
        let y: Vec<f64> = (0..n).map(|i| y_coordinate.of_row(&columns, i)).collect();
        let (precision, mean) = first.effect_prior();
        let (v, mu) = (1.0 / precision[0], mean[0]);
        let mut state = m
            .start(SamplerKind::Collapsed, &mut chain_rng(1, 0))
            .collapsed
            .unwrap();
        for psi in [[0.3, -0.5, 1.2], [2.0, 1.0, -2.0]] {
            let got = m.collapsed_log_density(&psi, &mut state.work, true);
            let (tau, tau_a, tau_b) = (psi[0].exp(), psi[1].exp(), psi[2].exp());
            let mut cov = vec![0.0; n * n];
            for i in 0..n {
                for j in 0..n {
                    cov[i * n + j] = v
                        + if a[i] == a[j] { 1.0 / tau_a } else { 0.0 }
                        + if b[i] == b[j] { 1.0 / tau_b } else { 0.0 }
                        + if i == j { 1.0 / tau } else { 0.0 };
                }
            }
            assert!(cholesky(&mut cov, n));
            let mut r: Vec<f64> = y.iter().map(|y| y - mu).collect();
            solve_lower(&cov, n, &mut r);
            let law = -0.5
                * (n as f64 * LN_2PI + log_det(&cov, n) + r.iter().map(|v| v * v).sum::<f64>());
            let priors = first.sigma_log_prior(psi[0])
                + level_log_prior(&m.factors[0].model, &psi[1..2])
                + level_log_prior(&m.factors[1].model, &psi[2..3]);
            let expected = law + priors;
            assert!(
                (got - expected).abs() < 1e-9 * expected.abs().max(1.0),
                "{got} vs {expected}"
            );
        }
        // in the data's units, without the variance parameters' priors:
        // y ~ N(100, sigma^2 I + 30^2 11' + sum_k sd_k^2 Z_k Z_k')
        let normal_law = |sigma: f64, sd_a: f64, sd_b: f64| {
            let mut cov = vec![0.0; n * n];
            for i in 0..n {
                for j in 0..n {
                    cov[i * n + j] = 900.0
                        + if a[i] == a[j] { sd_a * sd_a } else { 0.0 }
                        + if b[i] == b[j] { sd_b * sd_b } else { 0.0 }
                        + if i == j { sigma * sigma } else { 0.0 };
                }
            }
            assert!(cholesky(&mut cov, n));
            let mut r: Vec<f64> = columns[0].iter().map(|y| y - 100.0).collect();
            solve_lower(&cov, n, &mut r);
            -0.5 * (n as f64 * LN_2PI + log_det(&cov, n) + r.iter().map(|v| v * v).sum::<f64>())
        };
        for (sigma, sd_a, sd_b) in [(1.5, 2.0, 0.7), (0.4, 0.1, 3.0)] {
            let levels = [(vec![sd_a], vec![]), (vec![sd_b], vec![])];
            let got = m.log_density_at(sigma, &levels, false).unwrap();
            let expected = normal_law(sigma, sd_a, sd_b);
            assert!(
                (got - expected).abs() < 1e-9 * expected.abs().max(1.0),
                "{got} vs {expected}"
            );
        }
        assert!(
            m.log_density_at(-1.0, &[(vec![1.0], vec![]), (vec![1.0], vec![])], false)
                .is_none()
        );
        assert!(
            m.log_density_at(1.0, &[(vec![1.0], vec![])], false)
                .is_none()
        );
    }

    #[test]
    fn both_schemes_sample_the_same_posterior() {
        let d = design();
        let m = model(&d);
        let (settings, factors) = run_with(&m, 1, SamplerKind::Factors);
        let (_, collapsed) = run_with(&m, 1, SamplerKind::Collapsed);
        let (_, again) = run_with(&m, 2, SamplerKind::Collapsed);
        assert_eq!(collapsed, again);
        let a = means(&settings, &factors, 35);
        let b = means(&settings, &collapsed, 35);
        // posterior sds: the intercept's about 0.4, the slope's 0.05, the
        // sds' 0.3 and 0.1, sigma's 0.03; 2400 draws of each, nearly
        // independent for the collapsed scheme
        let tolerance = [0.15, 0.01, 0.1, 0.05, 0.01];
        for (c, t) in tolerance.iter().enumerate() {
            assert!((a[c] - b[c]).abs() < *t, "column {c}: {} vs {}", a[c], b[c]);
        }
        for c in 5..35 {
            assert!(
                (a[c] - b[c]).abs() < 0.15,
                "column {c}: {} vs {}",
                a[c],
                b[c]
            );
        }
    }

    /// design()'s factor a nested in 5 regions (group g in region g % 5),
    /// crossed with b: `y ~ x + (1 | r/a) + (1 | b)`.
    fn nested_model(d: &Design) -> Crossed {
        let columns: Vec<&[f64]> = d.columns.iter().map(Vec::as_slice).collect();
        let intercept = [None];
        let region_of: Vec<usize> = (0..30).map(|g| g % 5).collect();
        let data = CrossedData {
            columns: &columns,
            x: &[None, Some(1)],
            factors: vec![
                CrossedFactor {
                    levels: vec![
                        LmmLevel {
                            z: &intercept,
                            parent: &[0; 5],
                        },
                        LmmLevel {
                            z: &intercept,
                            parent: &region_of,
                        },
                    ],
                    group: &d.a,
                    n_groups: 30,
                },
                CrossedFactor {
                    levels: vec![LmmLevel {
                        z: &intercept,
                        parent: &[0; 20],
                    }],
                    group: &d.b,
                    n_groups: 20,
                },
            ],
        };
        Crossed::new(data, design_prior(&[2.0, 5.0, 5.0])).unwrap()
    }

    #[test]
    fn a_nested_factor_has_the_dense_normal_law_and_both_schemes_agree() {
        let d = design();
        let m = nested_model(&d);
        assert_eq!(m.n_reported(false), 6);
        assert_eq!(m.n_reported(true), 6 + 5 + 30 + 20);
        assert_eq!(m.n_locations(), 2 + 5 + 30 + 20);
        // in the data's units y ~ N(100, 100^2 11' + 10^2 x~ x~' + ...): the
        // intercept's prior is at the mean of x (x~ = x - its mean), as brms's
        let n = d.columns[0].len();
        let (x, y) = (&d.columns[1], &d.columns[0]);
        let x_bar = x.iter().sum::<f64>() / n as f64;
        let law = |sigma: f64, sd_r: f64, sd_a: f64, sd_b: f64| {
            let mut cov = vec![0.0; n * n];
            for i in 0..n {
                for j in 0..n {
                    let (ai, aj) = (d.a[i], d.a[j]);
                    cov[i * n + j] = 1e4
                        + 100.0 * (x[i] - x_bar) * (x[j] - x_bar)
                        + if ai % 5 == aj % 5 { sd_r * sd_r } else { 0.0 }
                        + if ai == aj { sd_a * sd_a } else { 0.0 }
                        + if d.b[i] == d.b[j] { sd_b * sd_b } else { 0.0 }
                        + if i == j { sigma * sigma } else { 0.0 };
                }
            }
            assert!(cholesky(&mut cov, n));
            let mut r: Vec<f64> = y.iter().map(|y| y - 100.0).collect();
            solve_lower(&cov, n, &mut r);
            -0.5 * (n as f64 * LN_2PI + log_det(&cov, n) + r.iter().map(|v| v * v).sum::<f64>())
        };
        for (sigma, sd_r, sd_a, sd_b) in [(1.0, 0.8, 2.0, 0.5), (2.5, 3.0, 0.2, 1.5)] {
            let levels = [
                (vec![sd_r], vec![]),
                (vec![sd_a], vec![]),
                (vec![sd_b], vec![]),
            ];
            let got = m.log_density_at(sigma, &levels, false).unwrap();
            let expected = law(sigma, sd_r, sd_a, sd_b);
            assert!(
                (got - expected).abs() < 1e-7 * expected.abs().max(1.0),
                "{got} vs {expected}"
            );
        }
        let (settings, factors) = run_with(&m, 1, SamplerKind::Factors);
        let (_, collapsed) = run_with(&m, 2, SamplerKind::Collapsed);
        let a = means(&settings, &factors, 61);
        let b = means(&settings, &collapsed, 61);
        // the intercept shares the regions' mean (sd about 0.6); sd_r's
        // posterior is wide (5 regions); the rest as in
        // both_schemes_sample_the_same_posterior
        let tolerance = [0.3, 0.01, 0.3, 0.15, 0.05, 0.01];
        for (c, t) in tolerance.iter().enumerate() {
            assert!((a[c] - b[c]).abs() < *t, "column {c}: {} vs {}", a[c], b[c]);
        }
        // each group's region effect plus its own: the row's part of factor a
        for g in 0..30 {
            let (ra, rb) = (a[6 + g % 5] + a[11 + g], b[6 + g % 5] + b[11 + g]);
            assert!((ra - rb).abs() < 0.3, "group {g}: {ra} vs {rb}");
        }
    }

    #[test]
    fn other_samplers_and_bad_designs_are_refused() {
        let d = design();
        let m = model(&d);
        assert!(!m.supports(SamplerKind::Gibbs));
        let columns: Vec<&[f64]> = d.columns.iter().map(Vec::as_slice).collect();
        let one = CrossedData {
            columns: &columns,
            x: &[None],
            factors: vec![CrossedFactor {
                levels: vec![LmmLevel {
                    z: &[None],
                    parent: &[0; 30],
                }],
                group: &d.a,
                n_groups: 30,
            }],
        };
        let prior = LmmPrior {
            effects: vec![EffectPrior { mean: 0.0, sd: 1.0 }],
            levels: vec![],
            sigma: SdPrior::HalfNormal { scale: 1.0 },
        };
        assert!(Crossed::new(one, prior).is_err());
    }
}
