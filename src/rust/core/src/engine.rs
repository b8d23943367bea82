//! The one engine: every model of the family as a tree of normal levels
//! (MATHS.md section 2), a node's children acting as its data, its parent
//! as its prior.
//!
//! Level 0 is the root, `mu`, whose prior is `N(mu0, 1/tau0)`; level `l`
//! (1..=L) holds the group effects of the l-th grouping factor, each normal
//! about its parent with precision `tau_l`. The data attach to the nodes of
//! the last level (to the root when L = 0, the one-sample model), through
//! each node's sufficient statistics and a data precision that is
//! `n_j tau_w` (one common within-group precision), `n_j / sigma_j^2`
//! (group-specific variances) or known (meta-analysis, `sum 1/se^2`).
//!
//! This file holds what every kernel shares: the tree, its state, the
//! collapsed density (every location integrated out, by one pass of
//! Gaussian messages up the tree), the exact joint draw of the locations
//! (one pass down), and the conditionals of the variance parameters given
//! the locations. The kernels (`kernels/`) combine them.

use std::ops::Range;

use rand::RngExt;
use rand_distr::{Distribution, Gamma, StandardNormal};
use rand_pcg::Pcg64;

use crate::chains::Posterior;
use crate::classes::{SizeClasses, SizeTerms};
use crate::kernels::{self, Kernel};
use crate::prior::{PrecisionConditional, SdPrior};
use crate::slice::slice_step;
use crate::spec::{Layout, TreePrior, Within};
use crate::{Error, GroupStats, Quantity, SamplerKind, chain_rng};

#[inline]
pub(crate) fn std_normal(rng: &mut Pcg64) -> f64 {
    StandardNormal.sample(rng)
}

/// Mixed into the seed of redrawn effects (`Tree::redraw_effects`), whose
/// streams are numbered from 0 as the chains' are: without it the first
/// nodes' streams would be the fit's own chains'.
const REDRAW_SALT: u64 = 0x9E37_79B9_7F4A_7C15;

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

/// The data and prior of a model, with what every sweep reuses.
#[derive(Debug, Clone)]
pub struct Tree {
    prior: TreePrior,
    layout: Layout,
    /// `parents[l][i]`: the parent (in level l) of node i of level l + 1.
    parents: Vec<Vec<usize>>,
    /// `children[l]`: the children (in level l + 1) of the nodes of level l.
    children: Vec<Children>,
    /// `runs[l]`: the nodes of level l + 1 as runs of consecutive nodes
    /// with one parent, `(parent, range)`, so that loops over a level read
    /// each parent's value once per run rather than an index per node.
    runs: Vec<Vec<(usize, Range<usize>)>>,
    /// Statistics of the last level's nodes; `n` is the weight (the known
    /// precision in `Within::Known`).
    stats: GroupStats,
    /// The last level's means less `centre`, the mean of the means, which
    /// is subtracted from the data and mu0 so that no sum of squares
    /// cancels. All locations in a state are centred so.
    data_mean: Vec<f64>,
    centre: f64,
    total_ss: f64,
    n_total: f64,
    /// The last level by size per parent, when its data precisions are its
    /// weights times one common factor (common or known variances).
    classes: Option<SizeClasses>,
    /// Each level's precision given its effects.
    level_conditionals: Vec<PrecisionConditional>,
    /// tau_w given the last level's effects (common within variance).
    tau_w_conditional: Option<PrecisionConditional>,
    /// `lgamma(nu/2)` for nu = 0..=nu_max (entry 0 unused).
    half_lgamma: Vec<f64>,
}

/// One point of a model's parameter space.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeState {
    /// `values[0] = [mu]`; `values[l]` are the effects of level l; centred.
    pub values: Vec<Vec<f64>>,
    /// `tau[l]` for l = 1..=L; `tau[0]` is the prior's fixed tau0.
    pub tau: Vec<f64>,
    pub tau_w: f64,
    /// Group-specific within precisions `1/sigma_j^2`.
    pub group_precision: Vec<f64>,
    pub sigma0_sq: f64,
    pub nu0: usize,
}

/// A chain: its state and its kernel (with the kernel's working memory).
#[derive(Debug)]
pub struct TreeChain {
    pub(crate) state: TreeState,
    pub(crate) kernel: Box<dyn Kernel>,
}

/// Messages passed up the tree: for each node, the mean and precision of
/// what the data below it say about its value, and the terms of the
/// collapsed log density they contributed. Reused between sweeps.
#[derive(Debug, Clone, Default)]
pub struct Messages {
    pub mean: Vec<Vec<f64>>,
    pub precision: Vec<Vec<f64>>,
    /// `terms[l]`: the log density contributed by combining level l's
    /// messages into level l - 1's (l = 1..=L); `terms[0]`, the root's
    /// against its prior.
    terms: Vec<f64>,
    /// The last level's weight per size (`SizeClasses::messages`).
    weights: Vec<f64>,
    /// Its draws' terms per size.
    sizes: Vec<SizeTerms>,
    /// Its draws' standard normals.
    normals: Vec<f64>,
    /// The last level's data precisions (group-specific variances), or
    /// scratch space.
    pub data_precision: Vec<f64>,
}

/// `sum log x_i` with few logarithms: factors within a safe range are
/// multiplied and the product's logarithm taken when it nears the edge of
/// the floating-point range.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LogProduct {
    log_sum: f64,
    product: f64,
}

impl LogProduct {
    pub(crate) fn new() -> Self {
        Self {
            log_sum: 0.0,
            product: 1.0,
        }
    }

    pub(crate) fn push(&mut self, x: f64) {
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

    /// Adds a logarithm already taken.
    pub(crate) fn add_log(&mut self, log_x: f64) {
        self.log_sum += log_x;
    }

    pub(crate) fn value(self) -> f64 {
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
        if let Within::Group { centre, .. } = prior.within {
            check_group_variances_proper(&stats, centre.variance_power_at_zero())?;
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
        let data_mean: Vec<f64> = stats.ybar().iter().map(|y| y - centre).collect();
        let classes = match prior.within {
            Within::Group { .. } => None,
            _ => {
                let root = vec![0; stats.n_groups()];
                let parent = parents.last().unwrap_or(&root);
                let n_parents = if depth > 1 {
                    parents[depth - 2].len()
                } else {
                    1
                };
                Some(SizeClasses::new(stats.n(), &data_mean, parent, n_parents))
            }
        };
        let level_sizes: Vec<usize> = parents.iter().map(Vec::len).collect();
        let runs = parents.iter().map(|level| runs_of(level)).collect();
        Ok(Self {
            runs,
            layout: Layout::new(&level_sizes, prior.within.kind()),
            total_ss: stats.ss().iter().sum(),
            prior,
            parents,
            children,
            stats,
            data_mean,
            centre,
            n_total,
            classes,
            level_conditionals,
            tau_w_conditional,
            half_lgamma,
        })
    }

    /// Number of grouping levels, L.
    pub fn depth(&self) -> usize {
        self.parents.len()
    }

    /// The columns the draws report, in storage order.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    pub(crate) fn prior(&self) -> &TreePrior {
        &self.prior
    }

    pub(crate) fn stats(&self) -> &GroupStats {
        &self.stats
    }

    /// The last level's means, centred as the state's locations are.
    pub(crate) fn data_mean(&self) -> &[f64] {
        &self.data_mean
    }

    /// mu0, centred as the state's locations are.
    pub(crate) fn centred_mu0(&self) -> f64 {
        self.prior.mu0 - self.centre
    }

    pub(crate) fn n_total(&self) -> f64 {
        self.n_total
    }

    /// `lgamma(nu/2)` for nu = 0..=nu_max (group-specific variances).
    pub(crate) fn half_lgamma(&self) -> &[f64] {
        &self.half_lgamma
    }

    fn level_size(&self, l: usize) -> usize {
        if l == 0 { 1 } else { self.parents[l - 1].len() }
    }

    /// The common factor of the last level's data precisions at `tau_w`
    /// (1 with known variances), when there is one.
    fn data_factor(&self, tau_w: f64) -> f64 {
        match self.prior.within {
            Within::Common { .. } => tau_w,
            _ => 1.0,
        }
    }

    /// The within-group sums of squares' part of the collapsed density at
    /// `x = log tau_w`, with its prior: each group's own spread,
    /// `tau_w^((n_j - 1)/2) exp(-tau_w S_j / 2)`.
    #[inline]
    pub(crate) fn within_log_density(&self, x: f64, tau_w: f64) -> f64 {
        match self.prior.within {
            Within::Common { prior } => {
                let groups = self.stats.n_groups() as f64;
                prior.log_density_log_precision(x, tau_w) + 0.5 * (self.n_total - groups) * x
                    - 0.5 * tau_w * self.total_ss
            }
            _ => 0.0,
        }
    }

    /// Level l's messages into level l - 1's, with link precision `tau`
    /// (`log_tau` its logarithm) and, for the last level, the data factor
    /// `c` (`log_c`); stores and returns the log density this contributes.
    pub(crate) fn combine(
        &self,
        msg: &mut Messages,
        l: usize,
        [tau, log_tau]: [f64; 2],
        [c, log_c]: [f64; 2],
    ) -> f64 {
        let term = match (&self.classes, l == self.depth()) {
            (Some(classes), true) => {
                let mut log_p = LogProduct::new();
                let (mean, precision) = (&mut msg.mean[l - 1], &mut msg.precision[l - 1]);
                let (sum_log_weights, q) =
                    classes.messages([tau, log_tau], [c, log_c], &mut msg.weights, |r, m, p| {
                        mean[r] = m;
                        precision[r] = p;
                        if l > 1 {
                            log_p.push(p);
                        }
                    });
                let log_p = if l > 1 { log_p.value() } else { 0.0 };
                0.5 * sum_log_weights - 0.5 * log_p - 0.5 * q
            }
            _ => self.combine_nodes(msg, l, tau),
        };
        msg.terms[l] = term;
        term
    }

    /// `combine` node by node, from the messages of level l.
    fn combine_nodes(&self, msg: &mut Messages, l: usize, tau: f64) -> f64 {
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
            if l > 1 {
                log_p.push(w_sum);
            }
            *m_r = shift + offset;
            *p_r = w_sum;
        }
        let log_p = if l > 1 { log_p.value() } else { 0.0 };
        0.5 * log_w.value() - 0.5 * log_p - 0.5 * q
    }

    /// The root's message `N(m, 1/P)` against its prior `N(mu0, 1/tau0)`:
    /// `log N(m; mu0, 1/P + 1/tau0)`, less `-log(P)/2` when the message
    /// came from level 1 (whose `combine` leaves that term out, saving a
    /// logarithm); stores and returns it.
    #[inline]
    pub(crate) fn root_term(&self, msg: &mut Messages) -> f64 {
        let (m, p) = (msg.mean[0][0], msg.precision[0][0]);
        let tau0 = self.prior.tau0;
        let w = p * tau0 / (p + tau0);
        let d = m - self.centred_mu0();
        let log_w = if self.depth() == 0 {
            w.ln()
        } else {
            (tau0 / (p + tau0)).ln()
        };
        msg.terms[0] = 0.5 * log_w - 0.5 * w * d * d;
        msg.terms[0]
    }

    /// The last level's data precisions at the state.
    pub(crate) fn data_precisions(&self, st: &TreeState, out: &mut Vec<f64>) {
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

    /// What the children of level l's nodes (l < L) say about each at the
    /// state: precision `tau_(l+1) m` for m children, at their mean.
    pub(crate) fn children_evidence(
        &self,
        st: &TreeState,
        l: usize,
        mean: &mut Vec<f64>,
        precision: &mut Vec<f64>,
    ) {
        let below = &st.values[l + 1];
        let size = self.level_size(l);
        mean.clear();
        mean.resize(size, 0.0);
        for (p, range) in &self.runs[l] {
            mean[*p] += below[range.clone()].iter().sum::<f64>();
        }
        precision.clear();
        let tau = st.tau[l + 1];
        for (r, m) in mean.iter_mut().enumerate() {
            let count = self.children[l].of(r).len() as f64;
            *m /= count;
            precision.push(tau * count);
        }
    }

    /// The collapsed log density's terms (`combined_terms`) after level l's
    /// link precision `tau` or, for the last level (and for the root when
    /// L = 0), the data factor `c` changed, each with its logarithm: levels
    /// l..1 and the root are combined again; `msg` must hold the messages
    /// of level l (of the data for the last level).
    #[inline]
    pub(crate) fn recombine(
        &self,
        st: &TreeState,
        msg: &mut Messages,
        l: usize,
        tau: [f64; 2],
        c: [f64; 2],
    ) -> f64 {
        if self.depth() == 0 {
            msg.precision[0][0] = self.stats.n()[0] * c[0];
        } else {
            self.combine(msg, l, tau, c);
            for upper in (1..l).rev() {
                let t = st.tau[upper];
                self.combine(msg, upper, [t, t.ln()], [1.0, 0.0]);
            }
        }
        self.root_term(msg);
        self.combined_terms(msg)
    }

    /// Sizes the messages, fills the last level's from the data (its data
    /// precisions at the state) and every level's above; returns the
    /// collapsed log density of the state's variance parameters without
    /// their priors (`combined_terms`).
    pub(crate) fn pass_up(&self, st: &TreeState, msg: &mut Messages) -> f64 {
        let depth = self.depth();
        msg.mean.resize(depth + 1, Vec::new());
        msg.precision.resize(depth + 1, Vec::new());
        msg.terms.resize(depth + 1, 0.0);
        for l in 0..=depth {
            let size = self.level_size(l);
            msg.mean[l].resize(size, 0.0);
            msg.precision[l].resize(size, 0.0);
        }
        self.data_precisions(st, &mut msg.data_precision);
        msg.mean[depth].copy_from_slice(&self.data_mean);
        msg.precision[depth].copy_from_slice(&msg.data_precision);
        let c = self.data_factor(st.tau_w);
        for l in (1..=depth).rev() {
            self.combine(msg, l, [st.tau[l], st.tau[l].ln()], [c, c.ln()]);
        }
        self.root_term(msg);
        msg.terms.iter().sum()
    }

    /// The terms of the collapsed density stored in `msg`, every level's
    /// and the root's.
    #[inline]
    pub(crate) fn combined_terms(&self, msg: &Messages) -> f64 {
        msg.terms.iter().sum()
    }

    /// The log prior density of `log tau_l` at level l.
    #[inline]
    pub(crate) fn level_log_prior(&self, l: usize, log_tau: f64, tau: f64) -> f64 {
        self.prior.levels[l - 1].log_density_log_precision(log_tau, tau)
    }

    /// Each node of level `l` given its parent's value and evidence about
    /// it from below, `N(m_i, 1/P_i)` (`mean`, `precision`):
    /// `N((tau_l x + P_i m_i) / (tau_l + P_i), 1 / (tau_l + P_i))`. Level 0
    /// has the prior `N(mu0, 1/tau0)` as its parent.
    pub(crate) fn draw_level(
        &self,
        st: &mut TreeState,
        l: usize,
        mean: &[f64],
        precision: &[f64],
        rng: &mut Pcg64,
    ) {
        let tau = st.tau[l];
        let (upper, lower) = st.values.split_at_mut(l);
        let draw = |value: &mut f64, parent: f64, i: usize, rng: &mut Pcg64| {
            let p = precision[i];
            let total = tau + p;
            *value = (tau * parent + p * mean[i]) / total + std_normal(rng) / total.sqrt();
        };
        if l == 0 {
            draw(&mut lower[0][0], self.centred_mu0(), 0, rng);
            return;
        }
        for (parent, range) in &self.runs[l - 1] {
            let parent = upper[l - 1][*parent];
            for i in range.clone() {
                draw(&mut lower[0][i], parent, i, rng);
            }
        }
    }

    /// The last level's nodes given their parents and the data, at the
    /// state's precisions; by size when the sizes are classed (a division
    /// and a square root per size, not per group).
    pub(crate) fn draw_last_level(&self, st: &mut TreeState, msg: &mut Messages, rng: &mut Pcg64) {
        let depth = self.depth();
        let Some(classes) = &self.classes else {
            let mut data_precision = std::mem::take(&mut msg.data_precision);
            self.data_precisions(st, &mut data_precision);
            self.draw_level(st, depth, &self.data_mean, &data_precision, rng);
            msg.data_precision = data_precision;
            return;
        };
        if depth == 0 {
            let precision = [self.stats.n()[0] * self.data_factor(st.tau_w)];
            self.draw_level(st, 0, &self.data_mean, &precision, rng);
            return;
        }
        classes.terms(st.tau[depth], self.data_factor(st.tau_w), &mut msg.sizes);
        // The normals first, in a loop of their own (beside the arithmetic
        // the generator's state and tables leave too few registers), from
        // a local copy of the generator, which can stay in registers.
        msg.normals.clear();
        let mut local = rng.clone();
        msg.normals
            .extend((0..self.data_mean.len()).map(|_| std_normal(&mut local)));
        *rng = local;
        let (upper, lower) = st.values.split_at_mut(depth);
        for (parent, range) in &self.runs[depth - 1] {
            let parent = upper[depth - 1][*parent];
            let groups = lower[0][range.clone()]
                .iter_mut()
                .zip(&self.data_mean[range.clone()])
                .zip(&classes.class_of()[range.clone()])
                .zip(&msg.normals[range.clone()]);
            for (((value, &ybar), &class), &z) in groups {
                let t = &msg.sizes[class as usize];
                *value = parent + t.shrink * (ybar - parent) + t.sd * z;
            }
        }
    }

    /// The precisions of one stored draw whose global columns (layout
    /// order: mu, each level's sd, sd_w) are `global`; refuses
    /// group-specific variances, which are not among them, and a level
    /// outside 1..=L.
    fn state_of_global(&self, global: &[f64], level: usize) -> Result<TreeState, Error> {
        let depth = self.depth();
        if matches!(self.prior.within, Within::Group { .. }) {
            return Err(Error::InvalidData(
                "group-specific variances are not among the global draws".into(),
            ));
        }
        if !(1..=depth).contains(&level) || global.len() != self.layout.width(false) {
            return Err(Error::InvalidData(format!(
                "level must be 1 to {depth} and a draw {} values",
                self.layout.width(false)
            )));
        }
        let precision = |sd: f64| 1.0 / (sd * sd);
        let st = TreeState {
            values: Vec::new(),
            tau: std::iter::once(self.prior.tau0)
                .chain(global[1..=depth].iter().map(|&sd| precision(sd)))
                .collect(),
            tau_w: match self.prior.within {
                Within::Common { .. } => precision(global[depth + 1]),
                _ => 1.0,
            },
            group_precision: Vec::new(),
            sigma0_sq: 1.0,
            nu0: 1,
        };
        if st
            .tau
            .iter()
            .chain([&st.tau_w])
            .any(|t| !(t.is_finite() && *t > 0.0))
        {
            return Err(Error::InvalidData(
                "a draw's sd is not finite and positive".into(),
            ));
        }
        Ok(st)
    }

    /// Effects `nodes` of level `level` (1..=L) for one stored draw whose
    /// global columns are `global` (`state_of_global`), drawn from their
    /// law given mu, the precisions and the data (section 5, each node
    /// given its parent, down from mu); into `out`, in the data's units.
    /// Each node's normal comes from a stream of its own, `(seed, draw,
    /// level, node)`, so that any subset of the nodes, asked for in any
    /// order, is part of one joint draw.
    #[allow(clippy::too_many_arguments)]
    pub fn redraw_effects(
        &self,
        global: &[f64],
        level: usize,
        nodes: &[usize],
        [seed, draw]: [u64; 2],
        msg: &mut Messages,
        out: &mut [f64],
    ) -> Result<(), Error> {
        let depth = self.depth();
        let st = self.state_of_global(global, level)?;
        self.pass_up(&st, msg);
        // the nodes of every level before `l`, for one stream index per node
        let before: Vec<u64> = (0..=depth)
            .scan(0u64, |total, l| {
                let here = *total;
                *total += self.level_size(l) as u64;
                Some(here)
            })
            .collect();
        let streams = before[depth] + self.level_size(depth) as u64;
        let mu = global[0] - self.centre;
        let mut path = vec![0usize; level + 1];
        for (value, &node) in out.iter_mut().zip(nodes) {
            if node >= self.level_size(level) {
                return Err(Error::InvalidData(format!(
                    "level {level} has no node {}",
                    node + 1
                )));
            }
            path[level] = node;
            for l in (1..level).rev() {
                path[l] = self.parents[l][path[l + 1]];
            }
            let mut x = mu;
            for (l, &i) in path.iter().enumerate().skip(1) {
                let stream = draw
                    .wrapping_mul(streams)
                    .wrapping_add(before[l] + i as u64);
                let z = std_normal(&mut chain_rng(seed ^ REDRAW_SALT, stream as usize));
                let (tau, p) = (st.tau[l], msg.precision[l][i]);
                let total = tau + p;
                x = (tau * x + p * msg.mean[l][i]) / total + z / total.sqrt();
            }
            *value = x + self.centre;
        }
        Ok(())
    }

    /// The posterior means of every effect of level `level` (1..=L) from
    /// stored draws of the global columns (`state_of_global`), each draw's
    /// exact conditional mean given mu and the precisions averaged over
    /// the draws (Rao-Blackwellised): down the tree, each node's mean is
    /// `(tau_l m_parent + P_i m_i) / (tau_l + P_i)` (section 5 without its
    /// noise). `interrupted` is polled between draws.
    pub fn effect_means<'a>(
        &self,
        draws: impl Iterator<Item = &'a [f64]>,
        level: usize,
        interrupted: &mut dyn FnMut() -> bool,
    ) -> Result<Vec<f64>, Error> {
        let mut msg = Messages::default();
        let mut sums = vec![0.0; self.level_size(level)];
        let mut means: Vec<Vec<f64>> = (0..=level).map(|l| vec![0.0; self.level_size(l)]).collect();
        let mut count = 0usize;
        for global in draws {
            if count % 256 == 0 && interrupted() {
                return Err(Error::Interrupted);
            }
            let st = self.state_of_global(global, level)?;
            self.pass_up(&st, &mut msg);
            means[0][0] = global[0] - self.centre;
            for l in 1..=level {
                let (upper, lower) = means.split_at_mut(l);
                let tau = st.tau[l];
                for (i, m) in lower[0].iter_mut().enumerate() {
                    let p = msg.precision[l][i];
                    let parent = upper[l - 1][self.parents[l - 1][i]];
                    *m = (tau * parent + p * msg.mean[l][i]) / (tau + p);
                }
            }
            for (s, m) in sums.iter_mut().zip(&means[level]) {
                *s += m;
            }
            count += 1;
        }
        if count == 0 {
            return Err(Error::InvalidData("there are no draws".into()));
        }
        Ok(sums
            .iter()
            .map(|s| s / count as f64 + self.centre)
            .collect())
    }

    /// Every location (mu and all effects) jointly given the precisions,
    /// from messages of the current state: down the tree from the root.
    pub(crate) fn draw_locations(&self, st: &mut TreeState, msg: &mut Messages, rng: &mut Pcg64) {
        let depth = self.depth();
        let (mean, precision) = (
            std::mem::take(&mut msg.mean),
            std::mem::take(&mut msg.precision),
        );
        for l in 0..depth {
            self.draw_level(st, l, &mean[l], &precision[l], rng);
        }
        (msg.mean, msg.precision) = (mean, precision);
        self.draw_last_level(st, msg, rng);
    }

    /// `sum_i (effect_i - parent_i)^2` over level l.
    pub(crate) fn level_ss(&self, st: &TreeState, l: usize) -> f64 {
        let (upper, lower) = (&st.values[l - 1], &st.values[l]);
        self.runs[l - 1]
            .iter()
            .map(|(p, range)| {
                let parent = upper[*p];
                lower[range.clone()]
                    .iter()
                    .map(|v| (v - parent).powi(2))
                    .sum::<f64>()
            })
            .sum()
    }

    /// `tau_l` given its level's deviations from their parents:
    /// `G(a_l + n_l/2, b_l + ss/2)` with the lecture's prior.
    pub(crate) fn draw_level_precision(
        &self,
        st: &mut TreeState,
        l: usize,
        rng: &mut Pcg64,
    ) -> Result<(), Error> {
        let ss = self.level_ss(st, l);
        st.tau[l] = self.level_conditionals[l - 1].draw(st.tau[l], ss, rng)?;
        Ok(())
    }

    /// The within-group precision(s) given the last level's effects.
    pub(crate) fn draw_within(
        &self,
        st: &mut TreeState,
        nu_weights: &mut Vec<f64>,
        rng: &mut Pcg64,
    ) -> Result<(), Error> {
        let depth = self.depth();
        let s = &self.stats;
        let effects = &st.values[depth];
        let residual = |j: usize| {
            let d = self.data_mean[j] - effects[j];
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
            Within::Group { centre, lambda, .. } => {
                let nu0 = st.nu0 as f64;
                for j in 0..s.n_groups() {
                    let shape = (nu0 + s.n()[j]) / 2.0;
                    let rate = (nu0 * st.sigma0_sq + residual(j)) / 2.0;
                    st.group_precision[j] = gamma_rate(shape, rate, rng);
                }
                let k = s.n_groups() as f64;
                let sum_precision: f64 = st.group_precision.iter().sum();
                st.sigma0_sq = draw_sigma0_sq(
                    &centre,
                    st.sigma0_sq,
                    [k * nu0 / 2.0, nu0 / 2.0 * sum_precision],
                    rng,
                )?;
                let sum_log_precision: f64 = st.group_precision.iter().map(|p| p.ln()).sum();
                st.nu0 = self.draw_nu0(
                    st.sigma0_sq,
                    [k, sum_precision, sum_log_precision, lambda],
                    nu_weights,
                    rng,
                );
            }
        }
        Ok(())
    }

    /// nu0 from its discrete conditional on 1..=nu_max (MATHS.md section
    /// 10.2), by inverse CDF, given the number of groups, the sums of their
    /// precisions and of their logarithms, and the prior's rate.
    fn draw_nu0(
        &self,
        sigma0_sq: f64,
        [k, sum_precision, sum_log_precision, lambda]: [f64; 4],
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

    /// A starting point dispersed around the data's own estimates, so that
    /// chains start apart and R-hat can see a chain that has not converged.
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
        values[depth].clone_from(&self.data_mean);
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
            Within::Group { nu_max, centre, .. } => {
                let g = (0..s.n_groups()).map(|_| spread(rng) / pooled).collect();
                let nu0 = 1 + rng.random_range(0..nu_max.min(10));
                let sigma0_sq = 1.0 / centre.in_support(1.0 / (pooled * spread(rng)));
                (g, sigma0_sq, nu0)
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
}

/// Runs of consecutive equal parents: `(parent, range of nodes)`.
fn runs_of(parents: &[usize]) -> Vec<(usize, Range<usize>)> {
    let mut runs: Vec<(usize, Range<usize>)> = Vec::new();
    for (i, &p) in parents.iter().enumerate() {
        match runs.last_mut() {
            Some((q, range)) if *q == p => range.end = i + 1,
            _ => runs.push((p, i..i + 1)),
        }
    }
    runs
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
/// `(sigma0^2)^(a0 - 1)` (`a0` the Gamma's shape on the variance, 1/2 for a
/// prior on sigma0 with a finite positive density at 0). The posterior is
/// integrable at 0 only if `a0 + K_spread nu0 / 2 > sum_zero (n_j - 1) / 2`,
/// and `nu0 = 1` is allowed (MATHS.md section 10.3).
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
             to 0; use a common within-group variance, or a Gamma prior on sd_w0^2 with \
             a larger shape a0 (above {})",
            stats.ss().iter().filter(|&&ss| ss == 0.0).count(),
            pull - with_spread / 2.0
        )))
    }
}

/// `sigma0^2` given the group precisions: the likelihood
/// `(sigma0^2)^half_count exp(-rate sigma0^2)` (`half_count = K nu0 / 2`,
/// `rate = nu0 / 2 sum_j 1/sigma_j^2`) times the prior on sigma0. A Gamma
/// draw with Hoff's Gamma on the variance, a slice step on `log sigma0^2`
/// (`-log tau` of the prior's precision) otherwise (MATHS.md section 10.1).
fn draw_sigma0_sq(
    prior: &SdPrior,
    current: f64,
    [half_count, rate]: [f64; 2],
    rng: &mut Pcg64,
) -> Result<f64, Error> {
    if let Some((a0, b0)) = prior.conjugate_variance() {
        return Ok(gamma_rate(a0 + half_count, b0 + rate, rng));
    }
    let log_f = |v: f64| {
        let variance = v.exp();
        half_count * v - rate * variance + prior.log_density_log_precision(-v, 1.0 / variance)
    };
    let v0 = current.ln();
    // the conditional of log sigma0^2 has sd about 1/sqrt(half_count)
    let width = (2.0 / half_count.max(0.25).sqrt()).min(10.0);
    Ok(slice_step(v0, log_f(v0), log_f, width, rng)?.0.exp())
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
        self.layout.width(keep_groups)
    }

    fn supports(&self, sampler: SamplerKind) -> bool {
        kernels::supports(self, sampler)
    }

    fn start(&self, sampler: SamplerKind, rng: &mut Pcg64) -> TreeChain {
        TreeChain {
            state: self.initial_state(rng),
            kernel: kernels::new(self, sampler),
        }
    }

    fn quantities(&self) -> Vec<Quantity> {
        self.layout.quantities()
    }

    fn sweep(&self, chain: &mut TreeChain, rng: &mut Pcg64, warmup: bool) -> Result<(), Error> {
        chain.kernel.sweep(self, &mut chain.state, rng, warmup)
    }

    /// Writes the first `out.len()` values in the layout's order.
    fn report(&self, chain: &TreeChain, out: &mut [f64]) {
        let st = &chain.state;
        let all = out.len() > self.layout.width(false);
        let mut slots = out.iter_mut();
        let mut put = |value: f64| {
            if let Some(slot) = slots.next() {
                *slot = value;
            }
        };
        put(st.values[0][0] + self.centre);
        for tau in &st.tau[1..] {
            put(1.0 / tau.sqrt());
        }
        match self.prior.within {
            Within::Common { .. } => put(1.0 / st.tau_w.sqrt()),
            Within::Known => {}
            Within::Group { .. } => {
                put(st.sigma0_sq.sqrt());
                put(st.nu0 as f64);
            }
        }
        if !all {
            return;
        }
        // the effects by slices, which the compiler vectorises
        let mut at = self.layout.width(false);
        for level in &st.values[1..] {
            for (slot, v) in out[at..].iter_mut().zip(level) {
                *slot = v + self.centre;
            }
            at += level.len();
        }
        for (slot, p) in out[at..].iter_mut().zip(&st.group_precision) {
            *slot = 1.0 / p.sqrt();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SdPrior, chain_rng};

    /// Three regions with 2, 1 and 3 schools, 2 to 4 students each; the
    /// schools of regions 1 and 3 interleave (the rows need not come in
    /// order of parent).
    fn nested_data() -> (Vec<Vec<usize>>, GroupStats) {
        let school_region = vec![0, 2, 1, 2, 0, 2];
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

    fn gamma(shape: f64, rate: f64) -> SdPrior {
        SdPrior::GammaPrecision { shape, rate }
    }

    const GROUP: Within = Within::Group {
        centre: SdPrior::GammaVariance {
            shape: 2.0,
            rate: 0.2,
        },
        lambda: 0.5,
        nu_max: 30,
    };

    fn prior(levels: usize, within: Within) -> TreePrior {
        TreePrior {
            mu0: 11.0,
            tau0: 0.02,
            levels: vec![gamma(1.5, 4.0); levels],
            within,
        }
    }

    /// The draws after a warm-up of a tenth of `sweeps` (the collapsed
    /// kernel leaves the locations alone during warm-up).
    fn run(tree: &Tree, kind: SamplerKind, seed: u64, sweeps: usize) -> Vec<Vec<f64>> {
        let mut rng = chain_rng(seed, 0);
        let mut chain = tree.start(kind, &mut rng);
        for _ in 0..sweeps / 10 {
            tree.sweep(&mut chain, &mut rng, true).unwrap();
        }
        let mut row = vec![0.0; tree.n_reported(true)];
        (sweeps / 10..sweeps)
            .map(|_| {
                tree.sweep(&mut chain, &mut rng, false).unwrap();
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
            prior: gamma(1.0, 1.0),
        };
        let childless = vec![vec![0, 0, 0], vec![0, 0, 2, 2, 2, 2]];
        assert!(Tree::new(childless, stats.clone(), prior(2, common)).is_err());
        let out_of_range = vec![vec![0, 0, 0], vec![0, 0, 1, 2, 2, 3]];
        assert!(Tree::new(out_of_range, stats.clone(), prior(2, common)).is_err());
        assert!(Tree::new(parents.clone(), stats.clone(), prior(1, common)).is_err());
        let bad_prior = TreePrior {
            levels: vec![gamma(1.0, 0.0), gamma(1.0, 1.0)],
            ..prior(2, common)
        };
        assert!(Tree::new(parents, stats.clone(), bad_prior).is_err());
        let one = GroupStats::from_observations(1, [(0, 1.0), (0, 2.0)]).unwrap();
        assert!(Tree::new(Vec::new(), one, prior(0, GROUP)).is_err());
    }

    #[test]
    fn half_integer_lgamma_is_exact() {
        let t = half_integer_lgamma(12);
        // Gamma(5/2) = 3 sqrt(pi) / 4, Gamma(6) = 120
        let expected = (3.0 * std::f64::consts::PI.sqrt() / 4.0).ln();
        assert!((t[5] - expected).abs() < 1e-14);
        assert!((t[12] - 120f64.ln()).abs() < 1e-13);
    }

    /// `log N(y; m 1, S)` by a dense Cholesky factorisation.
    fn dense_log_normal(y: &[f64], m: f64, s: &[Vec<f64>]) -> f64 {
        let k = y.len();
        let mut l = vec![vec![0.0; k]; k];
        for i in 0..k {
            for j in 0..=i {
                let dot: f64 = (0..j).map(|r| l[i][r] * l[j][r]).sum();
                l[i][j] = if i == j {
                    (s[i][i] - dot).sqrt()
                } else {
                    (s[i][j] - dot) / l[j][j]
                };
            }
        }
        let mut z = vec![0.0; k];
        for i in 0..k {
            let dot: f64 = (0..i).map(|r| l[i][r] * z[r]).sum();
            z[i] = (y[i] - m - dot) / l[i][i];
        }
        -z.iter().map(|v| v * v).sum::<f64>() / 2.0 - (0..k).map(|i| l[i][i].ln()).sum::<f64>()
    }

    /// The collapsed density (every location integrated out by messages,
    /// by size per parent where the data precisions allow) against the
    /// dense Gaussian law of the group means: `Cov(ybar_i, ybar_j) =
    /// 1/tau0 + sum_l [i and j share their level-l node] / tau_l + [i = j]
    /// / d_i`, equal up to a constant at every point, for every depth and
    /// within-group model.
    #[test]
    fn collapsed_density_matches_the_dense_gaussian() {
        let (nested, stats) = nested_data();
        let designs: Vec<Vec<Vec<usize>>> = vec![vec![vec![0; 6]], nested];
        for parents in designs {
            let depth = parents.len();
            for within in [
                Within::Common {
                    prior: gamma(1.0, 1.0),
                },
                Within::Known,
                GROUP,
            ] {
                let tree = Tree::new(parents.clone(), stats.clone(), prior(depth, within)).unwrap();
                let mut rng = chain_rng(4, 0);
                let mut st = tree.initial_state(&mut rng);
                let mut msg = Messages::default();
                // the level-l node of each last-level node
                let ancestors =
                    |l: usize, i: usize| (l..depth).rev().fold(i, |node, u| parents[u][node]);
                let mut differences = Vec::new();
                for (a, b, w) in [(0.3, 2.0, 0.5), (4.0, 0.1, 1.7), (0.02, 30.0, 0.08)] {
                    st.tau[1..].copy_from_slice(&[a, b][..depth]);
                    st.tau_w = w;
                    st.group_precision = (0..6).map(|j| w * (1.0 + j as f64 / 3.0)).collect();
                    let fast = tree.pass_up(&st, &mut msg);
                    let mut d = Vec::new();
                    tree.data_precisions(&st, &mut d);
                    let cov: Vec<Vec<f64>> = (0..6)
                        .map(|i| {
                            (0..6)
                                .map(|j| {
                                    let shared: f64 = (1..=depth)
                                        .filter(|&l| ancestors(l, i) == ancestors(l, j))
                                        .map(|l| 1.0 / st.tau[l])
                                        .sum();
                                    let own = if i == j { 1.0 / d[i] } else { 0.0 };
                                    1.0 / tree.prior.tau0 + shared + own
                                })
                                .collect()
                        })
                        .collect();
                    let dense = dense_log_normal(tree.data_mean(), tree.centred_mu0(), &cov);
                    differences.push(fast - dense);
                }
                for d in &differences[1..] {
                    assert!(
                        (d - differences[0]).abs() < 1e-9,
                        "depth {depth}, {within:?}: {differences:?}"
                    );
                }
            }
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

    /// With the precisions held fixed, the joint draw of every location
    /// from the messages and the node-by-node draws given the neighbours
    /// must agree.
    #[test]
    fn location_draws_agree_given_precisions() {
        let (parents, stats) = nested_data();
        let common = Within::Common {
            prior: gamma(1.0, 1.0),
        };
        for within in [Within::Known, common] {
            let tree = Tree::new(parents.clone(), stats.clone(), prior(2, within)).unwrap();
            let mut rng = chain_rng(3, 0);
            let mut st = tree.initial_state(&mut rng);
            st.tau = vec![0.02, 0.05, 0.2];
            st.tau_w = 0.3;
            let mut msg = Messages::default();
            let n = 200_000;
            let (mut joint, mut gibbs) = (Vec::with_capacity(n), Vec::with_capacity(n));
            let mut gibbs_state = st.clone();
            let (mut mean, mut precision) = (Vec::new(), Vec::new());
            for _ in 0..n {
                tree.pass_up(&st, &mut msg);
                tree.draw_locations(&mut st, &mut msg, &mut rng);
                joint.push([st.values[0][0], st.values[1][2], st.values[2][3]]);
                for l in 0..2 {
                    tree.children_evidence(&gibbs_state, l, &mut mean, &mut precision);
                    tree.draw_level(&mut gibbs_state, l, &mean, &precision, &mut rng);
                }
                tree.draw_last_level(&mut gibbs_state, &mut msg, &mut rng);
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
    }

    #[test]
    fn redrawn_effects_follow_the_posterior() {
        let (parents, stats) = nested_data();
        let within = Within::Common {
            prior: gamma(2.0, 8.0),
        };
        let tree = Tree::new(parents, stats, prior(2, within)).unwrap();
        let draws = run(&tree, SamplerKind::Collapsed, 4, 40_000);
        let global = tree.layout().width(false);
        let mut msg = Messages::default();
        // level 1 (3 regions), then level 2 (6 schools), after the globals
        let mut redrawn = vec![vec![0.0; 9]; draws.len()];
        for (d, (row, out)) in draws.iter().zip(redrawn.iter_mut()).enumerate() {
            let (regions, schools) = out.split_at_mut(3);
            let key = [9, d as u64];
            tree.redraw_effects(&row[..global], 1, &[0, 1, 2], key, &mut msg, regions)
                .unwrap();
            tree.redraw_effects(
                &row[..global],
                2,
                &[0, 1, 2, 3, 4, 5],
                key,
                &mut msg,
                schools,
            )
            .unwrap();
            // a subset in another order is part of the same joint draw
            let mut two = [0.0; 2];
            tree.redraw_effects(&row[..global], 2, &[4, 1], key, &mut msg, &mut two)
                .unwrap();
            assert_eq!(two, [schools[4], schools[1]]);
        }
        for j in 0..9 {
            let sampled: Vec<f64> = draws.iter().map(|r| r[global + j]).collect();
            let again: Vec<f64> = redrawn.iter().map(|r| r[j]).collect();
            let (m1, _, se1) = mean_sd_and_batch_se(&sampled);
            let (m2, _, se2) = mean_sd_and_batch_se(&again);
            assert!(
                (m1 - m2).abs() < 5.0 * (se1 * se1 + se2 * se2).sqrt(),
                "effect {j}: {m1} vs {m2}"
            );
        }
        // the Rao-Blackwellised means agree with the sampled effects' means
        let mut never = || false;
        let rows = draws.iter().map(|r| &r[..global]);
        let regions = tree.effect_means(rows.clone(), 1, &mut never).unwrap();
        let schools = tree.effect_means(rows, 2, &mut never).unwrap();
        for (j, m) in regions.iter().chain(&schools).enumerate() {
            let sampled: Vec<f64> = draws.iter().map(|r| r[global + j]).collect();
            let (m1, _, se1) = mean_sd_and_batch_se(&sampled);
            assert!((m1 - m).abs() < 5.0 * se1, "effect {j}: {m1} vs {m}");
        }
        let mut one = [0.0];
        let group = Tree::new(nested_data().0, nested_data().1, prior(2, GROUP)).unwrap();
        let row = vec![1.0; group.layout().width(false)];
        assert!(
            group
                .redraw_effects(&row, 2, &[0], [1, 0], &mut msg, &mut one)
                .is_err()
        );
    }

    #[test]
    fn kernels_agree_on_every_model() {
        let (nested, stats) = nested_data();
        let common = Within::Common {
            prior: gamma(2.0, 20.0),
        };
        let two_level = vec![vec![0; 6]];
        for (parents, within) in [
            (nested.clone(), common),
            (nested.clone(), Within::Known),
            (nested.clone(), GROUP),
            (
                nested,
                Within::Group {
                    centre: SdPrior::HalfStudentT {
                        df: 1.0,
                        scale: 2.0,
                    },
                    lambda: 0.5,
                    nu_max: 30,
                },
            ),
            (two_level.clone(), common),
            (
                two_level,
                Within::Common {
                    prior: SdPrior::HalfStudentT {
                        df: 1.0,
                        scale: 3.0,
                    },
                },
            ),
        ] {
            let depth = parents.len();
            let tree = Tree::new(parents, stats.clone(), prior(depth, within)).unwrap();
            let sweeps = 200_000;
            let reference = column_means(&run(&tree, SamplerKind::Collapsed, 1, sweeps));
            for kind in [SamplerKind::Gibbs, SamplerKind::Asis] {
                if !tree.supports(kind) {
                    continue;
                }
                let other = column_means(&run(&tree, kind, 2, sweeps));
                for (j, (x, y)) in reference.iter().zip(&other).enumerate() {
                    let tolerance = 0.04 * (x.abs() + 1.0);
                    assert!(
                        (x - y).abs() < tolerance,
                        "{within:?} {kind:?} value {j}: {x} vs {y}"
                    );
                }
            }
        }
    }

    #[test]
    fn one_sample_model_matches_its_conjugate_limit() {
        // With a flat-ish prior on mu, mu's posterior mean is ybar and
        // tau's is close to (alpha + n/2 - 1/2)/(beta + S/2).
        let y = [4.0, 7.0, 5.5, 6.0, 8.5, 5.0, 6.5, 7.5];
        let stats = GroupStats::from_observations(1, y.iter().map(|&v| (0, v))).unwrap();
        let one_sample = TreePrior {
            mu0: 0.0,
            tau0: 1e-8,
            levels: Vec::new(),
            within: Within::Common {
                prior: gamma(1.0, 1.0),
            },
        };
        let tree = Tree::new(Vec::new(), stats.clone(), one_sample).unwrap();
        assert_eq!(tree.n_reported(true), 2);
        for kind in [SamplerKind::Collapsed, SamplerKind::Gibbs] {
            let draws = run(&tree, kind, 9, 200_000);
            let means = column_means(&draws);
            assert!(
                (means[0] - stats.ybar()[0]).abs() < 0.01,
                "{kind:?} mu {} vs {}",
                means[0],
                stats.ybar()[0]
            );
            let tau_mean =
                draws.iter().map(|d| 1.0 / (d[1] * d[1])).sum::<f64>() / draws.len() as f64;
            let expected = (1.0 + 8.0 / 2.0 - 0.5) / (1.0 + stats.ss()[0] / 2.0);
            assert!(
                (tau_mean / expected - 1.0).abs() < 0.01,
                "{kind:?}: {tau_mean} vs {expected}"
            );
        }
    }

    /// `report` writes the values in the layout's order.
    #[test]
    fn report_follows_the_layout() {
        let (parents, stats) = nested_data();
        let tree = Tree::new(parents, stats, prior(2, GROUP)).unwrap();
        let mut rng = chain_rng(1, 0);
        let mut chain = tree.start(SamplerKind::Gibbs, &mut rng);
        let st = &mut chain.state;
        // every value tells where it belongs
        st.values = vec![
            vec![1.0],
            vec![10.0, 11.0, 12.0],
            (20..26).map(f64::from).collect(),
        ];
        st.tau = vec![1.0, 1.0 / 4.0, 1.0 / 9.0];
        st.sigma0_sq = 49.0;
        st.nu0 = 8;
        st.group_precision = (30..36).map(|v| 1.0 / f64::from(v * v)).collect();
        let mut out = vec![0.0; tree.n_reported(true)];
        tree.report(&chain, &mut out);
        let expected = |c: &crate::Column| -> f64 {
            use crate::Role::*;
            match c.role {
                Mean => 1.0,
                LevelSd => (c.level + 1) as f64,
                WithinSdCentre => 7.0,
                WithinDf => 8.0,
                Effect => (10 * c.level + c.node) as f64,
                GroupSd => (30 + c.node) as f64,
                WithinSd => f64::NAN,
            }
        };
        for (value, column) in out.iter().zip(tree.layout().columns()) {
            let want = expected(column)
                + if column.role.quantity() == Quantity::Location {
                    tree.centre
                } else {
                    0.0
                };
            assert!((value - want).abs() < 1e-9, "{column:?}: {value} vs {want}");
        }
    }
}
