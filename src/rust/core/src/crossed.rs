//! Crossed grouping factors (MATHS.md section 16): `y = X beta + sum_k
//! Z_k b_k[group of the row in factor k] + e`, each factor's coefficients
//! `N(0, Sigma_k)` as one level of lmm.rs, no factor nested in another.
//!
//! Given the other factors' coefficients, the rest of the model is the
//! one-level model of lmm.rs with the partial residual
//! `r = y - sum_(j != k) Z_j b_j` as its response. So a sweep takes the
//! factors in turn: summarise r by factor k's groups (O(N)), step sigma
//! and factor k's variance parameters on their density with beta and b_k
//! integrated out, then draw beta and b_k exactly. Each update leaves the
//! posterior invariant (a blocked, partially collapsed Gibbs sweep), and
//! nothing but the one pass over the rows grows with N.

use rand_pcg::Pcg64;

use crate::chains::Posterior;
use crate::cross::CrossStats;
use crate::lmm::{LevelPrior, Lmm, LmmChain, LmmData, LmmLevel, LmmPrior};
use crate::{Error, Quantity, SamplerKind};

/// One crossed factor: the variable of the statistics that is each
/// column of its coefficients' design (`None`: the constant 1) and each
/// row's 0-based group of `n_groups`.
#[derive(Debug, Clone, Copy)]
pub struct CrossedFactor<'a> {
    pub z: &'a [Option<usize>],
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
    z: Vec<Option<usize>>,
    group: Vec<usize>,
    /// Every group's parent, the root.
    root: Vec<usize>,
    /// The model given the other factors at the start, with its
    /// statistics: each chain summarises its own residuals into copies.
    model: Lmm,
    stats: CrossStats,
}

#[derive(Debug, Clone)]
pub struct Crossed {
    columns: Vec<Vec<f64>>,
    x: Vec<Option<usize>>,
    factors: Vec<Factor>,
    p: usize,
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
}

impl Crossed {
    pub fn new(data: CrossedData<'_>, prior: LmmPrior) -> Result<Self, Error> {
        if data.factors.len() < 2 {
            return Err(Error::InvalidData(
                "a crossed model needs at least two grouping factors".into(),
            ));
        }
        if prior.levels.len() != data.factors.len() {
            return Err(Error::InvalidData(
                "the prior must have one level per grouping factor".into(),
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
        for (k, (factor, level_prior)) in data.factors.iter().zip(&prior.levels).enumerate() {
            if factor.group.len() != n_rows {
                return Err(Error::InvalidData(format!(
                    "factor {} has {} groups for {n_rows} rows",
                    k + 1,
                    factor.group.len()
                )));
            }
            let stats = CrossStats::from_columns(data.columns, factor.group, factor.n_groups)?;
            let root = vec![0; factor.n_groups];
            let lmm_data = LmmData {
                stats: &stats,
                x: data.x,
                levels: vec![LmmLevel {
                    z: factor.z,
                    parent: &root,
                }],
            };
            let one_level = LmmPrior {
                effects: prior.effects.clone(),
                levels: vec![LevelPrior::clone(level_prior)],
                sigma: prior.sigma,
            };
            // one response, one set of units: the first factor's
            let model = match factors.first() {
                None => Lmm::new(lmm_data, one_level)?,
                Some(first) => Lmm::in_scales(lmm_data, one_level, first.model.scales().clone())?,
            };
            factors.push(Factor {
                z: factor.z.to_vec(),
                group: factor.group.to_vec(),
                root,
                model,
                stats,
            });
        }
        Ok(Self {
            columns: data.columns.iter().map(|c| c.to_vec()).collect(),
            x: data.x.to_vec(),
            p: data.x.len(),
            factors,
        })
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
        chain.models[k].summarise(&LmmData {
            stats: &chain.stats[k],
            x: &self.x,
            levels: vec![LmmLevel {
                z: &factor.z,
                parent: &factor.root,
            }],
        });
        Ok(())
    }

    /// Factor `k`'s part of every row's mean from its chain's
    /// coefficients; the rows' total follows.
    fn refresh_effects(&self, k: usize, chain: &mut CrossedChain) {
        let factor = &self.factors[k];
        let n_groups = factor.root.len();
        let coefficients = &mut chain.coefficients;
        coefficients.resize(factor.z.len() * n_groups, 0.0);
        chain.models[k].coefficients_in_units(&chain.chains[k], coefficients);
        let effects = &mut chain.effects[k];
        for (i, (e, &g)) in effects.iter_mut().zip(&factor.group).enumerate() {
            let new: f64 = factor
                .z
                .iter()
                .enumerate()
                .map(|(a, var)| {
                    let z = var.map_or(1.0, |v| self.columns[v][i]);
                    z * coefficients[a * n_groups + g]
                })
                .sum();
            chain.total[i] += new - *e;
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
    }

    fn start(&self, _sampler: SamplerKind, rng: &mut Pcg64) -> CrossedChain {
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
        chain
    }

    fn sweep(&self, chain: &mut CrossedChain, rng: &mut Pcg64, warmup: bool) -> Result<(), Error> {
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
    use crate::{EffectPrior, SdPrior, Settings, chain_rng, run_chains};

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

    fn model(d: &Design) -> Crossed {
        let columns: Vec<&[f64]> = d.columns.iter().map(Vec::as_slice).collect();
        let intercept = [None];
        let data = CrossedData {
            columns: &columns,
            x: &[None, Some(1)],
            factors: vec![
                CrossedFactor {
                    z: &intercept,
                    group: &d.a,
                    n_groups: 30,
                },
                CrossedFactor {
                    z: &intercept,
                    group: &d.b,
                    n_groups: 20,
                },
            ],
        };
        let half_normal = |scale| LevelPrior {
            sds: vec![SdPrior::HalfNormal { scale }],
            lkj: None,
        };
        let prior = LmmPrior {
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
            levels: vec![half_normal(5.0), half_normal(5.0)],
            sigma: SdPrior::HalfNormal { scale: 5.0 },
        };
        Crossed::new(data, prior).unwrap()
    }

    fn run(model: &Crossed, threads: usize) -> (Settings, Vec<Vec<f64>>) {
        let settings = Settings {
            sampler: SamplerKind::Factors,
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

    #[test]
    fn other_samplers_and_bad_designs_are_refused() {
        let d = design();
        let m = model(&d);
        assert!(!m.supports(SamplerKind::Collapsed));
        let columns: Vec<&[f64]> = d.columns.iter().map(Vec::as_slice).collect();
        let one = CrossedData {
            columns: &columns,
            x: &[None],
            factors: vec![CrossedFactor {
                z: &[None],
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
