//! Every model of the family as one tree of normal levels (MATHS.md
//! section 2): a node's children act as its data, its parent as its prior.
//!
//! Level 0 is the root, `mu`, whose prior is `N(mu0, 1/tau0)`; level `l`
//! (1..=L) holds the group effects of the l-th grouping factor, each normal
//! about its parent with precision `tau_l`. The data attach to the nodes of
//! the last level (to the root when L = 0, the one-sample model), through
//! each node's sufficient statistics and a data precision that is
//! `n_j tau_w` (one common within-group precision), `n_j / sigma_j^2`
//! (group-specific variances) or known (meta-analysis, `sum 1/se^2`).
//!
//! Two kernels move the chain: the centred Gibbs sweep, node by node from
//! the conditionals of MATHS.md section 3, and the collapsed sampler
//! (sections 4.2, 5 and 6.2), which draws each `log tau_l` by a slice step
//! with every location (mu and all effects) integrated out, then all
//! locations jointly and exactly by one pass up the tree and one down
//! (Gaussian belief propagation on a tree), then the within-group
//! precisions.

use rand::RngExt;
use rand_distr::{Distribution, Gamma};
use rand_pcg::Pcg64;

use crate::chains::Posterior;
use crate::model::std_normal;
use crate::prior::{PrecisionConditional, SdPrior};
use crate::slice::TunedSlices;
use crate::{Error, GroupStats, Quantity, SamplerKind};

/// How the data precision of a last-level node is modelled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Within {
    /// One precision `tau_w` shared by every node, with this prior on its
    /// sd.
    Common { prior: SdPrior },
    /// Known precisions: the statistics' weights are the precisions
    /// `sum_i 1/se_i^2` and there is nothing to sample.
    Known,
    /// `1/sigma_j^2 ~ G(nu0/2, nu0 sigma0^2/2)`, `sigma0^2 ~ G(a0, b0)` and
    /// `p(nu0) ∝ exp(-lambda nu0)` on `1..=nu_max` (Hoff 2009, 8.5).
    Group {
        a0: f64,
        b0: f64,
        lambda: f64,
        nu_max: usize,
    },
}

/// Priors of the tree: `mu ~ N(mu0, 1/tau0)`, `levels[l-1]` on the sd of
/// level `l` (top to bottom), and the within-group model.
#[derive(Debug, Clone, PartialEq)]
pub struct TreePrior {
    pub mu0: f64,
    pub tau0: f64,
    pub levels: Vec<SdPrior>,
    pub within: Within,
}

impl TreePrior {
    fn validate(&self) -> Result<(), Error> {
        let positive = |name: &str, value: f64| {
            if value.is_finite() && value > 0.0 {
                Ok(())
            } else {
                Err(Error::InvalidPrior(format!(
                    "{name} must be finite and positive, not {value}"
                )))
            }
        };
        if !self.mu0.is_finite() {
            return Err(Error::InvalidPrior(format!(
                "mu0 must be finite, not {}",
                self.mu0
            )));
        }
        positive("tau0", self.tau0)?;
        for (l, level) in self.levels.iter().enumerate() {
            level.validate(&format!("the sd of level {}", l + 1))?;
        }
        match self.within {
            Within::Common { prior } => prior.validate("sd_w"),
            Within::Known => Ok(()),
            Within::Group {
                a0,
                b0,
                lambda,
                nu_max,
            } => {
                positive("a0", a0)?;
                positive("b0", b0)?;
                positive("lambda", lambda)?;
                if nu_max == 0 {
                    return Err(Error::InvalidPrior("nu_max must be at least 1".into()));
                }
                Ok(())
            }
        }
    }
}

/// Children of each node of one level, as index ranges into `order`.
#[derive(Debug, Clone)]
struct Children {
    start: Vec<usize>,
    order: Vec<usize>,
}

impl Children {
    fn of(&self, parent: usize) -> &[usize] {
        &self.order[self.start[parent]..self.start[parent + 1]]
    }
}

/// The data and prior of a tree model, with what every sweep reuses.
#[derive(Debug, Clone)]
pub struct Tree {
    prior: TreePrior,
    /// `parents[l][i]`: the parent (in level l) of node i of level l + 1.
    parents: Vec<Vec<usize>>,
    /// `children[l]`: the children (in level l + 1) of the nodes of level l.
    children: Vec<Children>,
    /// Statistics of the last level's nodes; `n` is the weight (the known
    /// precision in `Within::Known`).
    stats: GroupStats,
    /// Subtracted from the data and mu0 so that no sum of squares cancels.
    centre: f64,
    total_ss: f64,
    n_total: f64,
    /// Each level's precision given its effects.
    level_conditionals: Vec<PrecisionConditional>,
    /// tau_w given the last level's effects (common within variance).
    tau_w_conditional: Option<PrecisionConditional>,
    /// `lgamma(nu/2)` for nu = 0..=nu_max (entry 0 unused).
    half_lgamma: Vec<f64>,
}

/// One point of a tree model's parameter space.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeState {
    /// `values[0] = [mu]`; `values[l]` are the effects of level l.
    pub values: Vec<Vec<f64>>,
    /// `tau[l]` for l = 1..=L; `tau[0]` is the prior's fixed tau0.
    pub tau: Vec<f64>,
    pub tau_w: f64,
    /// Group-specific within precisions `1/sigma_j^2`.
    pub group_precision: Vec<f64>,
    pub sigma0_sq: f64,
    pub nu0: usize,
}

/// Messages passed up the tree: for each node, the mean and precision of
/// what the data below it say about its value. Reused between sweeps.
#[derive(Debug, Clone, Default)]
struct Messages {
    mean: Vec<Vec<f64>>,
    precision: Vec<Vec<f64>>,
    /// Data precisions of the last level at the current state.
    data_precision: Vec<f64>,
}

/// A chain of a tree model: its state, slice steps and working memory.
#[derive(Debug, Clone)]
pub struct TreeChain {
    state: TreeState,
    kind: SamplerKind,
    slices: Vec<TunedSlices<1>>,
    messages: Messages,
    nu_weights: Vec<f64>,
}

/// `sum log x_i` with few logarithms: factors within a safe range are
/// multiplied and the product's logarithm taken when it nears the edge of
/// the floating-point range.
#[derive(Debug, Clone, Copy)]
struct LogProduct {
    log_sum: f64,
    product: f64,
}

impl LogProduct {
    fn new() -> Self {
        Self {
            log_sum: 0.0,
            product: 1.0,
        }
    }

    fn push(&mut self, x: f64) {
        if !(1e-18..=1e18).contains(&x) {
            self.log_sum += x.ln();
            return;
        }
        self.product *= x;
        if !(1e-150..=1e150).contains(&self.product) {
            self.log_sum += self.product.ln();
            self.product = 1.0;
        }
    }

    fn value(self) -> f64 {
        self.log_sum + self.product.ln()
    }
}

impl Tree {
    /// `parents[l]` gives, for each node of level l + 1, its parent's index
    /// in level l (level 0 is the root, so `parents[0]` is all zeros);
    /// `stats` describes the last level's nodes (one node if there are no
    /// levels). Every node must have at least one child.
    pub fn new(
        parents: Vec<Vec<usize>>,
        stats: GroupStats,
        prior: TreePrior,
    ) -> Result<Self, Error> {
        prior.validate()?;
        let depth = parents.len();
        if prior.levels.len() != depth {
            return Err(Error::InvalidPrior(format!(
                "{} level priors for {} levels",
                prior.levels.len(),
                depth
            )));
        }
        let last_size = parents.last().map_or(1, Vec::len);
        if stats.n_groups() != last_size {
            return Err(Error::InvalidData(format!(
                "{} groups of statistics for {} nodes in the last level",
                stats.n_groups(),
                last_size
            )));
        }
        if matches!(prior.within, Within::Group { .. }) && depth == 0 {
            return Err(Error::InvalidData(
                "group-specific variances need at least one grouping level".into(),
            ));
        }
        if let Within::Group { a0, .. } = prior.within {
            check_group_variances_proper(&stats, a0)?;
        }
        let mut children = Vec::with_capacity(depth);
        let mut size = 1;
        for (l, level) in parents.iter().enumerate() {
            let mut start = vec![0usize; size + 1];
            for &p in level {
                if p >= size {
                    return Err(Error::InvalidData(format!(
                        "level {}: parent index {} out of range",
                        l + 1,
                        p
                    )));
                }
                start[p + 1] += 1;
            }
            if let Some(p) = (0..size).find(|&p| start[p + 1] == 0) {
                return Err(Error::InvalidData(format!(
                    "level {l}: node {} has no children",
                    p + 1
                )));
            }
            for p in 0..size {
                start[p + 1] += start[p];
            }
            let mut next = start.clone();
            let mut order = vec![0; level.len()];
            for (i, &p) in level.iter().enumerate() {
                order[next[p]] = i;
                next[p] += 1;
            }
            children.push(Children { start, order });
            size = level.len();
        }
        let level_conditionals = parents
            .iter()
            .zip(&prior.levels)
            .map(|(level, &p)| PrecisionConditional::new(p, level.len() as f64))
            .collect::<Result<_, _>>()?;
        let n_total: f64 = stats.n().iter().sum();
        let tau_w_conditional = match prior.within {
            Within::Common { prior } => Some(PrecisionConditional::new(prior, n_total)?),
            _ => None,
        };
        let half_lgamma = match prior.within {
            Within::Group { nu_max, .. } => half_integer_lgamma(nu_max),
            _ => Vec::new(),
        };
        let centre = stats.ybar().iter().sum::<f64>() / stats.n_groups() as f64;
        let total_ss = stats.ss().iter().sum();
        Ok(Self {
            prior,
            parents,
            children,
            stats,
            centre,
            total_ss,
            n_total,
            level_conditionals,
            tau_w_conditional,
            half_lgamma,
        })
    }

    /// Number of grouping levels, L.
    pub fn depth(&self) -> usize {
        self.parents.len()
    }

    fn level_size(&self, l: usize) -> usize {
        if l == 0 { 1 } else { self.parents[l - 1].len() }
    }

    /// Values reported per draw that do not grow with the groups: mu, one
    /// sd per level, then sd_w (common), or sd_w0 and nu0 (group-specific).
    fn n_global(&self) -> usize {
        1 + self.depth()
            + match self.prior.within {
                Within::Common { .. } => 1,
                Within::Known => 0,
                Within::Group { .. } => 2,
            }
    }

    /// One `sd_w[group]` per last-level group with group-specific variances.
    fn n_group_sds(&self) -> usize {
        match self.prior.within {
            Within::Group { .. } => self.stats.n_groups(),
            _ => 0,
        }
    }

    fn data_precisions(&self, st: &TreeState, out: &mut Vec<f64>) {
        out.clear();
        let n = self.stats.n();
        match self.prior.within {
            Within::Common { .. } => out.extend(n.iter().map(|n| n * st.tau_w)),
            Within::Known => out.extend_from_slice(n),
            Within::Group { .. } => {
                out.extend(n.iter().zip(&st.group_precision).map(|(n, p)| n * p))
            }
        }
    }

    /// Messages of level `l - 1` from those of level `l`, with link
    /// precision `tau` between them. Returns the log marginal density
    /// contributed by combining them (up to a constant).
    fn combine(&self, msg: &mut Messages, l: usize, tau: f64) -> f64 {
        let (upper_mean, lower_mean) = msg.mean.split_at_mut(l);
        let (upper_prec, lower_prec) = msg.precision.split_at_mut(l);
        let (child_mean, child_prec) = (&lower_mean[0], &lower_prec[0]);
        let (mean, precision) = (&mut upper_mean[l - 1], &mut upper_prec[l - 1]);
        let mut log_w = LogProduct::new();
        let mut log_p = LogProduct::new();
        let mut q = 0.0;
        for (r, (m_r, p_r)) in mean.iter_mut().zip(precision.iter_mut()).enumerate() {
            let kids = self.children[l - 1].of(r);
            // Deviations from the first child's mean: one pass, and no
            // cancellation, since they are of the size of the children's
            // spread about their own mean.
            let shift = child_mean[kids[0]];
            let (mut w_sum, mut wd_sum, mut wdd_sum) = (0.0, 0.0, 0.0);
            for &c in kids {
                // child's message seen from its parent: variance 1/P_c + 1/tau
                let w = child_prec[c] * tau / (child_prec[c] + tau);
                let d = child_mean[c] - shift;
                log_w.push(w);
                w_sum += w;
                wd_sum += w * d;
                wdd_sum += w * d * d;
            }
            let offset = wd_sum / w_sum;
            q += (wdd_sum - wd_sum * offset).max(0.0);
            log_p.push(w_sum);
            *m_r = shift + offset;
            *p_r = w_sum;
        }
        0.5 * log_w.value() - 0.5 * log_p.value() - 0.5 * q
    }

    /// The root's message against its prior `N(mu0, 1/tau0)`.
    fn root_term(&self, msg: &Messages) -> f64 {
        let (m, p) = (msg.mean[0][0], msg.precision[0][0]);
        let tau0 = self.prior.tau0;
        let w = p * tau0 / (p + tau0);
        let d = m - (self.prior.mu0 - self.centre);
        0.5 * w.ln() - 0.5 * w * d * d
    }

    /// Fills the last level's messages from the data, then every level's.
    fn pass_up(&self, st: &TreeState, msg: &mut Messages) {
        let depth = self.depth();
        msg.mean.resize(depth + 1, Vec::new());
        msg.precision.resize(depth + 1, Vec::new());
        for l in 0..depth {
            let size = self.level_size(l);
            msg.mean[l].resize(size, 0.0);
            msg.precision[l].resize(size, 0.0);
        }
        let mut data_precision = std::mem::take(&mut msg.data_precision);
        self.data_precisions(st, &mut data_precision);
        msg.mean[depth].clear();
        msg.mean[depth].extend(self.stats.ybar().iter().map(|y| y - self.centre));
        msg.precision[depth].clone_from(&data_precision);
        msg.data_precision = data_precision;
        for l in (1..=depth).rev() {
            self.combine(msg, l, st.tau[l]);
        }
    }

    /// Log density of `v = log tau_l` given everything but the locations,
    /// which are integrated out; `msg` must hold level l's messages, and
    /// receives those of the levels above for `tau_l = e^v`.
    fn log_density_log_tau(&self, v: f64, l: usize, st: &TreeState, msg: &mut Messages) -> f64 {
        let tau = v.exp();
        if !(tau.is_finite() && tau > 0.0) {
            return f64::NEG_INFINITY;
        }
        let mut log_density =
            self.prior.levels[l - 1].log_density_log_precision(v, tau) + self.combine(msg, l, tau);
        for upper in (1..l).rev() {
            log_density += self.combine(msg, upper, st.tau[upper]);
        }
        log_density + self.root_term(msg)
    }

    /// Every location (mu and all effects) jointly given the precisions,
    /// from messages of the current state: down the tree from the root.
    fn draw_locations(&self, st: &mut TreeState, msg: &Messages, rng: &mut Pcg64) {
        let tau0 = self.prior.tau0;
        let (m, p) = (msg.mean[0][0], msg.precision[0][0]);
        let precision = p + tau0;
        let mean = (p * m + tau0 * (self.prior.mu0 - self.centre)) / precision;
        st.values[0][0] = mean + std_normal(rng) / precision.sqrt();
        for l in 1..=self.depth() {
            let tau = st.tau[l];
            let (upper, lower) = st.values.split_at_mut(l);
            let parent_values = &upper[l - 1];
            for (i, value) in lower[0].iter_mut().enumerate() {
                let parent = parent_values[self.parents[l - 1][i]];
                let p = msg.precision[l][i];
                let precision = tau + p;
                let mean = (tau * parent + p * msg.mean[l][i]) / precision;
                *value = mean + std_normal(rng) / precision.sqrt();
            }
        }
    }

    /// The lecture's centred sweep generalised to any depth: each level's
    /// nodes given their parent and children, then that level's precision.
    fn gibbs_sweep(
        &self,
        st: &mut TreeState,
        msg: &mut Messages,
        rng: &mut Pcg64,
    ) -> Result<(), Error> {
        let mut data_precision = std::mem::take(&mut msg.data_precision);
        self.data_precisions(st, &mut data_precision);
        for l in 0..=self.depth() {
            self.draw_level_given_neighbours(st, l, &data_precision, rng);
            if l < self.depth() {
                self.draw_level_precision(st, l + 1, rng)?;
            }
        }
        msg.data_precision = data_precision;
        Ok(())
    }

    /// Each node of level `l` given its parent and its children (MATHS.md
    /// section 3.2); the last level's children are the data.
    fn draw_level_given_neighbours(
        &self,
        st: &mut TreeState,
        l: usize,
        data_precision: &[f64],
        rng: &mut Pcg64,
    ) {
        let depth = self.depth();
        let mu0 = self.prior.mu0 - self.centre;
        let tau = st.tau[l];
        let (upper, lower) = st.values.split_at_mut(l);
        let (current, below) = lower.split_first_mut().expect("level exists");
        for (i, value) in current.iter_mut().enumerate() {
            let parent = if l == 0 {
                mu0
            } else {
                upper[l - 1][self.parents[l - 1][i]]
            };
            let (child_precision, child_sum) = if l == depth {
                let p = data_precision[i];
                (p, p * (self.stats.ybar()[i] - self.centre))
            } else {
                let kids = self.children[l].of(i);
                let t = st.tau[l + 1];
                let sum: f64 = kids.iter().map(|&c| below[0][c]).sum();
                (t * kids.len() as f64, t * sum)
            };
            let precision = tau + child_precision;
            let mean = (tau * parent + child_sum) / precision;
            *value = mean + std_normal(rng) / precision.sqrt();
        }
    }

    /// `tau_l` given its level's deviations from their parents,
    /// `sum_i (effect_i - parent_i)^2`: `G(a_l + n_l/2, b_l + ss/2)` with the
    /// lecture's prior.
    fn draw_level_precision(
        &self,
        st: &mut TreeState,
        l: usize,
        rng: &mut Pcg64,
    ) -> Result<(), Error> {
        let parents = &self.parents[l - 1];
        let ss: f64 = st.values[l]
            .iter()
            .zip(parents)
            .map(|(v, &p)| (v - st.values[l - 1][p]).powi(2))
            .sum();
        st.tau[l] = self.level_conditionals[l - 1].draw(st.tau[l], ss, rng)?;
        Ok(())
    }

    /// The within-group precision(s) given the last level's effects.
    fn draw_within(
        &self,
        st: &mut TreeState,
        nu_weights: &mut Vec<f64>,
        rng: &mut Pcg64,
    ) -> Result<(), Error> {
        let depth = self.depth();
        let s = &self.stats;
        let centred_effects = &st.values[depth];
        let residual = |j: usize| {
            let d = s.ybar()[j] - self.centre - centred_effects[j];
            s.ss()[j] + s.n()[j] * d * d
        };
        match self.prior.within {
            Within::Known => {}
            Within::Common { .. } => {
                if let Some(conditional) = &self.tau_w_conditional {
                    let ss = (0..s.n_groups()).map(residual).sum::<f64>();
                    st.tau_w = conditional.draw(st.tau_w, ss, rng)?;
                }
            }
            Within::Group { a0, b0, lambda, .. } => {
                let nu0 = st.nu0 as f64;
                for j in 0..s.n_groups() {
                    let shape = (nu0 + s.n()[j]) / 2.0;
                    let rate = (nu0 * st.sigma0_sq + residual(j)) / 2.0;
                    st.group_precision[j] = gamma_rate(shape, rate, rng);
                }
                let k = s.n_groups() as f64;
                let sum_precision: f64 = st.group_precision.iter().sum();
                st.sigma0_sq = gamma_rate(a0 + k * nu0 / 2.0, b0 + nu0 / 2.0 * sum_precision, rng);
                let sum_log_precision: f64 = st.group_precision.iter().map(|p| p.ln()).sum();
                st.nu0 = self.draw_nu0(
                    st.sigma0_sq,
                    k,
                    sum_precision,
                    sum_log_precision,
                    lambda,
                    nu_weights,
                    rng,
                );
            }
        }
        Ok(())
    }

    /// nu0 from its discrete conditional on 1..=nu_max (MATHS.md section
    /// 10.2), by inverse CDF.
    #[allow(clippy::too_many_arguments)]
    fn draw_nu0(
        &self,
        sigma0_sq: f64,
        k: f64,
        sum_precision: f64,
        sum_log_precision: f64,
        lambda: f64,
        weights: &mut Vec<f64>,
        rng: &mut Pcg64,
    ) -> usize {
        let nu_max = self.half_lgamma.len() - 1;
        let log_s = sigma0_sq.ln();
        weights.clear();
        weights.extend((1..=nu_max).map(|nu| {
            let half = nu as f64 / 2.0;
            k * (half * (half.ln() + log_s) - self.half_lgamma[nu])
                + (half - 1.0) * sum_log_precision
                - half * sigma0_sq * sum_precision
                - lambda * nu as f64
        }));
        let top = weights.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut total = 0.0;
        for w in weights.iter_mut() {
            total += (*w - top).exp();
            *w = total;
        }
        let u = rng.random::<f64>() * total;
        weights.iter().position(|&c| c > u).unwrap_or(nu_max - 1) + 1
    }

    /// A starting point dispersed around the data's own estimates.
    fn initial_state(&self, rng: &mut Pcg64) -> TreeState {
        let depth = self.depth();
        let s = &self.stats;
        let spread = |rng: &mut Pcg64| (2.0 * rng.random::<f64>() - 1.0_f64).exp();
        let within_df = self.n_total - s.n_groups() as f64;
        let pooled = if within_df > 0.0 && self.total_ss > 0.0 {
            self.total_ss / within_df
        } else {
            1.0 / self.prior.tau0
        };
        // Level by level from the bottom: each node starts at the mean of
        // its children's starting values.
        let mut values: Vec<Vec<f64>> = vec![Vec::new(); depth + 1];
        values[depth] = s.ybar().iter().map(|y| y - self.centre).collect();
        let mut tau = vec![self.prior.tau0; depth + 1];
        for l in (1..=depth).rev() {
            let parents = &self.parents[l - 1];
            let size = self.level_size(l - 1);
            let mut sum = vec![0.0; size];
            for (v, &p) in values[l].iter().zip(parents) {
                sum[p] += v;
            }
            let upper: Vec<f64> = (0..size)
                .map(|p| sum[p] / self.children[l - 1].of(p).len() as f64)
                .collect();
            let spread_sq: f64 = values[l]
                .iter()
                .zip(parents)
                .map(|(v, &p)| (v - upper[p]).powi(2))
                .sum::<f64>()
                / values[l].len() as f64;
            let var = if spread_sq > 0.0 { spread_sq } else { pooled };
            tau[l] = self.prior.levels[l - 1].in_support(spread(rng) / var);
            values[l - 1] = upper;
        }
        for l in 0..=depth {
            let sd = if l == 0 {
                (pooled / self.n_total).sqrt()
            } else {
                1.0 / tau[l].sqrt()
            };
            for v in values[l].iter_mut() {
                *v += std_normal(rng) * sd * 0.5;
            }
        }
        let tau_w = match self.prior.within {
            Within::Common { prior } => prior.in_support(spread(rng) / pooled),
            _ => spread(rng) / pooled,
        };
        let (group_precision, sigma0_sq, nu0) = match self.prior.within {
            Within::Group { nu_max, .. } => {
                let g = (0..s.n_groups()).map(|_| spread(rng) / pooled).collect();
                let nu0 = 1 + rng.random_range(0..nu_max.min(10));
                (g, pooled * spread(rng), nu0)
            }
            _ => (Vec::new(), 1.0, 1),
        };
        TreeState {
            values,
            tau,
            tau_w,
            group_precision,
            sigma0_sq,
            nu0,
        }
    }

    fn collapsed_sweep(
        &self,
        chain: &mut TreeChain,
        rng: &mut Pcg64,
        warmup: bool,
    ) -> Result<(), Error> {
        let st = &mut chain.state;
        let msg = &mut chain.messages;
        self.pass_up(st, msg);
        // Bottom level first: each slice needs only the messages of its
        // level, which precisions further up do not change.
        for l in (1..=self.depth()).rev() {
            let ([v], _) = chain.slices[l - 1].step(
                [st.tau[l].ln()],
                None,
                |x| self.log_density_log_tau(x[0], l, st, msg),
                rng,
                warmup,
            )?;
            st.tau[l] = v.exp();
            // The messages of the level above must be those of the accepted
            // value; the next slice (or, after the top level, the draw of
            // the locations) starts from them.
            self.combine(msg, l, st.tau[l]);
        }
        self.draw_locations(st, msg, rng);
        self.draw_within(st, &mut chain.nu_weights, rng)
    }
}

/// `lgamma(nu/2)` for nu = 0..=nu_max by `Gamma(x + 1) = x Gamma(x)`
/// from `Gamma(1/2) = sqrt(pi)` and `Gamma(1) = 1` (entry 0 unused).
fn half_integer_lgamma(nu_max: usize) -> Vec<f64> {
    let mut table = vec![0.0; nu_max.max(2) + 1];
    table[1] = 0.5 * std::f64::consts::PI.ln();
    table[2] = 0.0;
    for nu in 3..table.len() {
        table[nu] = table[nu - 2] + ((nu - 2) as f64 / 2.0).ln();
    }
    table.truncate(nu_max + 1);
    table
}

/// With group-specific variances, theta and the group precisions
/// integrated out, a group of `n_j` equal values contributes a factor
/// `(sigma0^2)^(-(n_j - 1)/2)` to the posterior of `sigma0^2` near 0, a group
/// with spread at most `(sigma0^2)^(nu0/2)`, and the prior
/// `(sigma0^2)^(a0 - 1)`. The posterior is integrable at 0 only if
/// `a0 + K_spread nu0 / 2 > sum_zero (n_j - 1) / 2`, and `nu0 = 1` is allowed
/// (MATHS.md section 10.3).
fn check_group_variances_proper(stats: &GroupStats, a0: f64) -> Result<(), Error> {
    let (mut with_spread, mut pull) = (0.0, 0.0);
    for (&n, &ss) in stats.n().iter().zip(stats.ss()) {
        if ss > 0.0 {
            with_spread += 1.0;
        } else {
            pull += (n - 1.0) / 2.0;
        }
    }
    if a0 + with_spread / 2.0 > pull {
        Ok(())
    } else {
        Err(Error::InvalidData(format!(
            "with group-specific variances the posterior is improper: {} group(s) have \
             no spread within them (all their values equal), which drives the variances \
             to 0; use a common within-group variance, or a larger a0 (above {})",
            stats.ss().iter().filter(|&&ss| ss == 0.0).count(),
            pull - with_spread / 2.0
        )))
    }
}

/// One `G(shape, rate)` draw with a shape that changes from draw to draw.
fn gamma_rate(shape: f64, rate: f64, rng: &mut Pcg64) -> f64 {
    match Gamma::new(shape, 1.0) {
        Ok(g) => g.sample(rng) / rate,
        // Unreachable for validated priors (shapes are positive and finite).
        Err(_) => f64::NAN,
    }
}

impl Posterior for Tree {
    type Chain = TreeChain;

    fn n_reported(&self, keep_groups: bool) -> usize {
        if !keep_groups {
            return self.n_global();
        }
        let effects: usize = (1..=self.depth()).map(|l| self.level_size(l)).sum();
        self.n_global() + effects + self.n_group_sds()
    }

    fn supports(&self, sampler: SamplerKind) -> bool {
        matches!(sampler, SamplerKind::Gibbs | SamplerKind::Collapsed)
    }

    fn start(&self, sampler: SamplerKind, rng: &mut Pcg64) -> TreeChain {
        TreeChain {
            state: self.initial_state(rng),
            kind: sampler,
            slices: vec![TunedSlices::default(); self.depth()],
            messages: Messages::default(),
            nu_weights: Vec::new(),
        }
    }

    fn quantities(&self) -> Vec<Quantity> {
        let mut q = vec![Quantity::Location];
        q.resize(1 + self.depth(), Quantity::Spread);
        match self.prior.within {
            Within::Common { .. } => q.push(Quantity::Spread),
            Within::Known => {}
            Within::Group { .. } => q.extend([Quantity::Spread, Quantity::Number]),
        }
        let effects = self.n_reported(true) - q.len() - self.n_group_sds();
        q.extend(std::iter::repeat_n(Quantity::Location, effects));
        q.extend(std::iter::repeat_n(Quantity::Spread, self.n_group_sds()));
        q
    }

    fn sweep(&self, chain: &mut TreeChain, rng: &mut Pcg64, warmup: bool) -> Result<(), Error> {
        match chain.kind {
            SamplerKind::Collapsed => self.collapsed_sweep(chain, rng, warmup),
            _ => {
                self.gibbs_sweep(&mut chain.state, &mut chain.messages, rng)?;
                self.draw_within(&mut chain.state, &mut chain.nu_weights, rng)
            }
        }
    }

    fn report(&self, chain: &TreeChain, out: &mut [f64]) {
        let st = &chain.state;
        let mut values = Vec::with_capacity(out.len());
        values.push(st.values[0][0] + self.centre);
        values.extend(st.tau[1..].iter().map(|t| 1.0 / t.sqrt()));
        match self.prior.within {
            Within::Common { .. } => values.push(1.0 / st.tau_w.sqrt()),
            Within::Known => {}
            Within::Group { .. } => {
                values.push(st.sigma0_sq.sqrt());
                values.push(st.nu0 as f64);
            }
        }
        if out.len() > values.len() {
            for level in &st.values[1..] {
                values.extend(level.iter().map(|v| v + self.centre));
            }
            values.extend(st.group_precision.iter().map(|p| 1.0 / p.sqrt()));
        }
        out.copy_from_slice(&values[..out.len()]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{HierPrior, Model, chain_rng};

    /// Three regions with 2, 1 and 3 schools, 2 to 4 students each.
    fn nested_data() -> (Vec<Vec<usize>>, GroupStats) {
        let school_region = vec![0, 0, 1, 2, 2, 2];
        let obs = [
            (0, 10.0),
            (0, 12.0),
            (1, 15.0),
            (1, 11.0),
            (1, 13.0),
            (2, 20.0),
            (2, 24.0),
            (3, 6.0),
            (3, 9.0),
            (3, 7.0),
            (3, 8.0),
            (4, 12.0),
            (4, 10.0),
            (5, 9.0),
            (5, 14.0),
        ];
        let stats = GroupStats::from_observations(6, obs).unwrap();
        (vec![vec![0, 0, 0], school_region], stats)
    }

    fn prior(levels: usize, within: Within) -> TreePrior {
        TreePrior {
            mu0: 11.0,
            tau0: 0.02,
            levels: vec![
                SdPrior::GammaPrecision {
                    shape: 1.5,
                    rate: 4.0
                };
                levels
            ],
            within,
        }
    }

    fn run(tree: &Tree, kind: SamplerKind, seed: u64, sweeps: usize) -> Vec<Vec<f64>> {
        let mut rng = chain_rng(seed, 0);
        let mut chain = tree.start(kind, &mut rng);
        let mut row = vec![0.0; tree.n_reported(true)];
        (0..sweeps)
            .map(|it| {
                tree.sweep(&mut chain, &mut rng, it < sweeps / 10).unwrap();
                tree.report(&chain, &mut row);
                row.clone()
            })
            .collect()
    }

    fn column_means(draws: &[Vec<f64>]) -> Vec<f64> {
        let n = draws.len() as f64;
        (0..draws[0].len())
            .map(|j| draws.iter().map(|d| d[j]).sum::<f64>() / n)
            .collect()
    }

    #[test]
    fn bad_trees_are_errors() {
        let (parents, stats) = nested_data();
        let common = Within::Common {
            prior: SdPrior::GammaPrecision {
                shape: 1.0,
                rate: 1.0,
            },
        };
        let childless = vec![vec![0, 0, 0], vec![0, 0, 2, 2, 2, 2]];
        assert!(Tree::new(childless, stats.clone(), prior(2, common)).is_err());
        let out_of_range = vec![vec![0, 0, 0], vec![0, 0, 1, 2, 2, 3]];
        assert!(Tree::new(out_of_range, stats.clone(), prior(2, common)).is_err());
        assert!(Tree::new(parents.clone(), stats.clone(), prior(1, common)).is_err());
        let bad_prior = TreePrior {
            levels: vec![
                SdPrior::GammaPrecision {
                    shape: 1.0,
                    rate: 0.0,
                },
                SdPrior::GammaPrecision {
                    shape: 1.0,
                    rate: 1.0,
                },
            ],
            ..prior(2, common)
        };
        assert!(Tree::new(parents, stats.clone(), bad_prior).is_err());
        let group = Within::Group {
            a0: 1.0,
            b0: 1.0,
            lambda: 1.0,
            nu_max: 50,
        };
        let one = GroupStats::from_observations(1, [(0, 1.0), (0, 2.0)]).unwrap();
        assert!(Tree::new(Vec::new(), one, prior(0, group)).is_err());
    }

    #[test]
    fn half_integer_lgamma_is_exact() {
        let t = half_integer_lgamma(12);
        // Gamma(5/2) = 3 sqrt(pi) / 4, Gamma(6) = 120
        let expected = (3.0 * std::f64::consts::PI.sqrt() / 4.0).ln();
        assert!((t[5] - expected).abs() < 1e-14);
        assert!((t[12] - 120f64.ln()).abs() < 1e-13);
    }

    /// The collapsed density of a two-level tree, against the two-level
    /// model's own (which groups by size): equal up to a constant.
    #[test]
    fn collapsed_density_matches_the_two_level_model() {
        let (parents, stats) = nested_data();
        let hp = HierPrior::lecture(11.0, 0.02, [1.5, 4.0], [2.0, 3.0]);
        let model = Model::new(stats.clone(), hp).unwrap();
        let within = Within::Common {
            prior: SdPrior::GammaPrecision {
                shape: 2.0,
                rate: 3.0,
            },
        };
        let tree = Tree::new(
            vec![parents[1].iter().map(|_| 0).collect()],
            stats,
            prior(1, within),
        )
        .unwrap();
        let mut rng = chain_rng(1, 0);
        let mut st = tree.initial_state(&mut rng);
        st.tau_w = 0.3;
        let mut msg = Messages::default();
        tree.pass_up(&st, &mut msg);
        let diff = |v: f64, msg: &mut Messages| {
            tree.log_density_log_tau(v, 1, &st, msg)
                - model.collapsed_log_density([v, 0.3f64.ln()]).0
        };
        let d0 = diff(-2.0, &mut msg);
        for v in [-5.0, -1.0, 0.0, 2.0, 6.0] {
            assert!((diff(v, &mut msg) - d0).abs() < 1e-9, "v = {v}");
        }
    }

    /// With the precisions held fixed, the collapsed kernel's joint draw of
    /// (mu, effects) and the Gibbs sweep's node-by-node draws must agree.
    #[test]
    fn location_draws_agree_between_kernels_given_precisions() {
        let (parents, stats) = nested_data();
        let tree = Tree::new(parents, stats, prior(2, Within::Known)).unwrap();
        let mut rng = chain_rng(3, 0);
        let mut st = tree.initial_state(&mut rng);
        st.tau = vec![0.02, 0.05, 0.2];
        let mut msg = Messages::default();
        let n = 200_000;
        let (mut joint, mut gibbs) = (Vec::with_capacity(n), Vec::with_capacity(n));
        let mut gibbs_state = st.clone();
        for _ in 0..n {
            tree.pass_up(&st, &mut msg);
            tree.draw_locations(&mut st, &msg, &mut rng);
            joint.push([st.values[0][0], st.values[1][2], st.values[2][3]]);
            let data_precision = tree.stats.n().to_vec();
            for l in 0..=2 {
                tree.draw_level_given_neighbours(&mut gibbs_state, l, &data_precision, &mut rng);
            }
            gibbs.push([
                gibbs_state.values[0][0],
                gibbs_state.values[1][2],
                gibbs_state.values[2][3],
            ]);
        }
        for j in 0..3 {
            let column = |d: &[[f64; 3]]| d.iter().map(|x| x[j]).collect::<Vec<f64>>();
            let (joint, gibbs) = (column(&joint), column(&gibbs));
            let (mj, sj, se_j) = mean_sd_and_batch_se(&joint);
            let (mg, sg, se_g) = mean_sd_and_batch_se(&gibbs);
            let se = (se_j * se_j + se_g * se_g).sqrt();
            assert!(
                (mj - mg).abs() < 5.0 * se,
                "value {j}: {mj} vs {mg} (se {se})"
            );
            assert!((sj / sg - 1.0).abs() < 0.05, "value {j}: sd {sj} vs {sg}");
        }
    }

    /// Mean, sd and the mean's standard error by batch means (the Gibbs
    /// draws are autocorrelated).
    fn mean_sd_and_batch_se(x: &[f64]) -> (f64, f64, f64) {
        let n = x.len() as f64;
        let mean = x.iter().sum::<f64>() / n;
        let sd = (x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
        let batches: Vec<f64> = x
            .chunks(x.len() / 50)
            .map(|b| b.iter().sum::<f64>() / b.len() as f64)
            .collect();
        let nb = batches.len() as f64;
        let var_b = batches.iter().map(|b| (b - mean).powi(2)).sum::<f64>() / (nb - 1.0);
        (mean, sd, (var_b / nb).sqrt())
    }

    #[test]
    fn kernels_agree_on_every_within_model() {
        let (parents, stats) = nested_data();
        for within in [
            Within::Common {
                prior: SdPrior::GammaPrecision {
                    shape: 2.0,
                    rate: 20.0,
                },
            },
            Within::Known,
            Within::Group {
                a0: 2.0,
                b0: 0.2,
                lambda: 0.5,
                nu_max: 30,
            },
        ] {
            let tree = Tree::new(parents.clone(), stats.clone(), prior(2, within)).unwrap();
            let sweeps = 200_000;
            let a = column_means(&run(&tree, SamplerKind::Collapsed, 1, sweeps));
            let b = column_means(&run(&tree, SamplerKind::Gibbs, 2, sweeps));
            for (j, (x, y)) in a.iter().zip(&b).enumerate() {
                let tolerance = 0.04 * (x.abs() + 1.0);
                assert!(
                    (x - y).abs() < tolerance,
                    "{within:?} value {j}: {x} vs {y}"
                );
            }
        }
    }

    #[test]
    fn one_sample_model_matches_its_conjugate_limit() {
        // With a flat-ish prior on mu, mu's posterior mean is ybar and
        // tau's is close to (alpha + n/2 - 1/2)/(beta + S/2).
        let y = [4.0, 7.0, 5.5, 6.0, 8.5, 5.0, 6.5, 7.5];
        let stats = GroupStats::from_observations(1, y.iter().map(|&v| (0, v))).unwrap();
        let tree = Tree::new(
            Vec::new(),
            stats.clone(),
            TreePrior {
                mu0: 0.0,
                tau0: 1e-8,
                levels: Vec::new(),
                within: Within::Common {
                    prior: SdPrior::GammaPrecision {
                        shape: 1.0,
                        rate: 1.0,
                    },
                },
            },
        )
        .unwrap();
        assert_eq!(tree.n_reported(true), 2);
        let draws = run(&tree, SamplerKind::Collapsed, 9, 200_000);
        let means = column_means(&draws);
        assert!((means[0] - stats.ybar()[0]).abs() < 0.01, "mu {}", means[0]);
        let tau_mean = draws.iter().map(|d| 1.0 / (d[1] * d[1])).sum::<f64>() / draws.len() as f64;
        let expected = (1.0 + 8.0 / 2.0 - 0.5) / (1.0 + stats.ss()[0] / 2.0);
        assert!(
            (tau_mean / expected - 1.0).abs() < 0.01,
            "{tau_mean} vs {expected}"
        );
    }
}
