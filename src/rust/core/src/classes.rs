//! The last level's groups by size, per parent (MATHS.md section 9).
//!
//! When a last-level group's data precision is its weight times one common
//! factor (`n_j tau_w`, or the known `sum 1/se^2` times 1), everything the
//! collapsed density and the exact draws need from the groups depends on a
//! group's size only through a handful of numbers per distinct size: the
//! weight `w = n c tau / (n c + tau)` of a group seen from its parent, its
//! shrinkage and its conditional sd. Each parent's groups are therefore
//! kept as (size, count, sum and sum of squares of their means about the
//! parent's centre), and a density evaluation costs O(J) divisions and
//! logarithms for J distinct sizes plus three products per (parent, size)
//! pair, instead of a division and a logarithm per group.

use std::ops::Range;

/// Groups of one size within one parent.
#[derive(Debug, Clone, Copy)]
struct Pair {
    /// Index of the size in `SizeClasses::sizes`.
    class: usize,
    count: f64,
    sum: f64,
    sum_sq: f64,
}

/// How `sum_j count_j log(tau + n_j c)` over the distinct sizes (in order of
/// size) is taken without one logarithm per size: as `K log t_1 + sum_j
/// count_j log r_j` with `r_j = t_j / t_1 <= n_j / n_1`, the factors
/// `r_j^count_j` of a run of sizes are multiplied together, at most 2^1000
/// whatever the precisions, and one logarithm taken of the product. A size
/// whose factor alone could exceed that takes its own logarithm (MATHS.md
/// section 9.2).
#[derive(Debug, Clone)]
enum LogBlock {
    Product(Range<usize>),
    Own(usize),
}

/// One distinct size over all parents: its weight `n`, how many groups
/// have it, the bits of that count (1, 2, 4, 8) when it is below 16, and
/// (with one parent) the sum and sum of squares of their means about the
/// parent's centre.
#[derive(Debug, Clone, Copy)]
struct Size {
    n: f64,
    count: f64,
    count_bits: [bool; 4],
    sum: f64,
    sum_sq: f64,
}

/// The draw of a group of one size given its parent's value `x` at given
/// `tau` and `c`: `N(x + shrink (ybar - x), sd^2)`, with
/// `shrink = n c / (n c + tau)` and `sd^2 = 1 / (n c + tau)`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SizeTerms {
    pub shrink: f64,
    pub sd: f64,
}

/// The last level's groups by size, per parent.
#[derive(Debug, Clone)]
pub(crate) struct SizeClasses {
    /// The distinct sizes, ascending.
    sizes: Vec<Size>,
    log_blocks: Vec<LogBlock>,
    /// `sum_j log n_j` over the groups.
    sum_log_n: f64,
    /// Index into `sizes` of each group.
    class_of: Vec<u32>,
    pairs: Vec<Pair>,
    /// `pairs[pair_start[r]..pair_start[r + 1]]` are parent r's.
    pair_start: Vec<usize>,
    /// The mean of each parent's groups' means: their sums are taken about
    /// it, so that `sum_sq - sum^2 / W` does not cancel.
    shift: Vec<f64>,
    n_groups: f64,
}

impl SizeClasses {
    /// `weights[j]` and `means[j]` of each group, `parent[j]` its parent's
    /// index (out of `n_parents`); every parent must have a group.
    pub fn new(weights: &[f64], means: &[f64], parent: &[usize], n_parents: usize) -> Self {
        let mut distinct = weights.to_vec();
        distinct.sort_by(f64::total_cmp);
        distinct.dedup();
        let class_of: Vec<usize> = weights
            .iter()
            .map(|n| {
                distinct
                    .binary_search_by(|s| s.total_cmp(n))
                    .unwrap_or_default()
            })
            .collect();
        let mut sizes: Vec<Size> = distinct
            .iter()
            .map(|&n| Size {
                n,
                count: 0.0,
                count_bits: [false; 4],
                sum: 0.0,
                sum_sq: 0.0,
            })
            .collect();
        for &j in &class_of {
            sizes[j].count += 1.0;
        }
        let mut shift = vec![0.0; n_parents];
        let mut children = vec![0.0; n_parents];
        for (&p, &m) in parent.iter().zip(means) {
            shift[p] += m;
            children[p] += 1.0;
        }
        for (s, n) in shift.iter_mut().zip(&children) {
            *s /= n;
        }
        // Groups ordered by (parent, size), then one pair per run.
        let mut order: Vec<usize> = (0..weights.len()).collect();
        order.sort_by_key(|&g| (parent[g], class_of[g]));
        let mut pairs: Vec<Pair> = Vec::new();
        let mut pair_start = vec![0; n_parents + 1];
        let mut last = None;
        for g in order {
            let (p, class) = (parent[g], class_of[g]);
            let d = means[g] - shift[p];
            if last != Some((p, class)) {
                pairs.push(Pair {
                    class,
                    count: 0.0,
                    sum: 0.0,
                    sum_sq: 0.0,
                });
                last = Some((p, class));
            }
            let pair = pairs.last_mut().expect("pushed above");
            pair.count += 1.0;
            pair.sum += d;
            pair.sum_sq += d * d;
            pair_start[p + 1] = pairs.len();
        }
        for r in 1..=n_parents {
            pair_start[r] = pair_start[r].max(pair_start[r - 1]);
        }
        if n_parents == 1 {
            for pair in &pairs {
                let size = &mut sizes[pair.class];
                (size.sum, size.sum_sq) = (pair.sum, pair.sum_sq);
            }
        }
        let log_blocks = log_blocks(&mut sizes);
        Self {
            sum_log_n: class_of.iter().map(|&j| sizes[j].n.ln()).sum(),
            sizes,
            log_blocks,
            // fewer bytes per group for the draws' pass over them
            class_of: class_of.iter().map(|&j| j as u32).collect(),
            pairs,
            pair_start,
            shift,
            n_groups: weights.len() as f64,
        }
    }
    /// Each size's draw terms (`SizeTerms`) at link precision `tau` and
    /// data factor `c`, into `out`.
    pub fn terms(&self, tau: f64, c: f64, out: &mut Vec<SizeTerms>) {
        out.clear();
        out.extend(self.sizes.iter().map(|size| {
            let variance = 1.0 / (size.n * c + tau);
            SizeTerms {
                shrink: size.n * c * variance,
                sd: variance.sqrt(),
            }
        }));
    }

    /// Every parent's message (`message`) into `out`, `(mean, precision)`,
    /// and `(sum_groups log w, sum_parents q)` at `tau = e^log_tau` and
    /// `c = e^log_c`. With one parent (two levels) its message is summed in
    /// the same pass over the sizes as the weights.
    pub fn messages(
        &self,
        tau: [f64; 2],
        c: [f64; 2],
        weights: &mut Vec<f64>,
        mut out: impl FnMut(usize, f64, f64),
    ) -> (f64, f64) {
        if self.shift.len() == 1 {
            let (mean, precision, sum_log, q) = self.single_message(tau, c);
            out(0, mean, precision);
            return (sum_log, q);
        }
        weights.resize(self.sizes.len(), 0.0);
        let sum_log = self.weights(tau, c, |j, w, _| weights[j] = w);
        let mut q = 0.0;
        for r in 0..self.shift.len() {
            let (mean, precision, q_r) = self.message(r, weights);
            out(r, mean, precision);
            q += q_r;
        }
        (sum_log, q)
    }

    /// `messages` for one parent (two levels): `(mean, precision, sum_groups
    /// log w, q)`, summed in the same pass over the sizes as the weights.
    fn single_message(&self, tau: [f64; 2], c: [f64; 2]) -> (f64, f64, f64, f64) {
        let (mut w_sum, mut s1, mut s2) = (0.0, 0.0, 0.0);
        // one parent: pair j is size j
        let sum_log = self.weights(tau, c, |_, w, size| {
            w_sum += size.count * w;
            s1 += w * size.sum;
            s2 += w * size.sum_sq;
        });
        let offset = s1 / w_sum;
        (
            self.shift[0] + offset,
            w_sum,
            sum_log,
            (s2 - s1 * offset).max(0.0),
        )
    }

    /// Calls `each(j, w_j, size)` with each size's weight
    /// `w = n c tau / (n c + tau)`, and returns `sum_groups log w` at
    /// `tau = e^log_tau`, `c = e^log_c`, in one pass over the sizes.
    fn weights(
        &self,
        [tau, log_tau]: [f64; 2],
        [c, log_c]: [f64; 2],
        mut each: impl FnMut(usize, f64, &Size),
    ) -> f64 {
        let t1 = tau + self.sizes[0].n * c;
        let inv_t1 = 1.0 / t1;
        let tau_c = tau * c;
        let mut sum_count_log = self.n_groups * t1.ln();
        for block in &self.log_blocks {
            sum_count_log += match block {
                LogBlock::Product(range) => {
                    let mut product = 1.0;
                    for (j, size) in self.sizes[range.clone()].iter().enumerate() {
                        let t = tau + size.n * c;
                        each(range.start + j, tau_c * size.n / t, size);
                        let r = t * inv_t1;
                        let r2 = r * r;
                        let r4 = r2 * r2;
                        let r8 = r4 * r4;
                        let pick = |bit: bool, x: f64| if bit { x } else { 1.0 };
                        let [b1, b2, b4, b8] = size.count_bits;
                        product *= (pick(b1, r) * pick(b2, r2)) * (pick(b4, r4) * pick(b8, r8));
                    }
                    product.ln()
                }
                &LogBlock::Own(j) => {
                    let size = &self.sizes[j];
                    let t = tau + size.n * c;
                    each(j, tau_c * size.n / t, size);
                    size.count * (t * inv_t1).ln()
                }
            };
        }
        // t_1 overflows only for absurd precisions: then each size takes
        // its own logarithm.
        if !t1.is_finite() {
            sum_count_log = self
                .sizes
                .iter()
                .map(|size| size.count * (tau + size.n * c).ln())
                .sum();
        }
        // log w = log tau + log(n c) - log(tau + n c)
        self.n_groups * (log_tau + log_c) + self.sum_log_n - sum_count_log
    }

    /// Parent r's message, `(mean, precision)` of what its groups say about
    /// its value, and `sum w d^2 - (sum w d)^2 / W` about that mean.
    fn message(&self, r: usize, weights: &[f64]) -> (f64, f64, f64) {
        let (mut w_sum, mut s1, mut s2) = (0.0, 0.0, 0.0);
        for pair in &self.pairs[self.pair_start[r]..self.pair_start[r + 1]] {
            let w = weights[pair.class];
            w_sum += pair.count * w;
            s1 += w * pair.sum;
            s2 += w * pair.sum_sq;
        }
        let offset = s1 / w_sum;
        (self.shift[r] + offset, w_sum, (s2 - s1 * offset).max(0.0))
    }

    /// Index of group j's size.
    pub fn class_of(&self) -> &[u32] {
        &self.class_of
    }
}

/// Groups the sizes (in order) into `LogBlock`s and sets the count bits
/// of those whose factors join a product.
fn log_blocks(sizes: &mut [Size]) -> Vec<LogBlock> {
    // log2 of the largest product; f64 overflows at 2^1024.
    const MAX_PRODUCT_BITS: f64 = 1000.0;
    let n1 = sizes[0].n;
    let mut blocks = Vec::new();
    let (mut start, mut bits) = (0, 0.0);
    for (j, size) in sizes.iter_mut().enumerate() {
        let factor_bits = size.count * (size.n / n1).log2();
        if size.count >= 16.0 || factor_bits > MAX_PRODUCT_BITS {
            if start < j {
                blocks.push(LogBlock::Product(start..j));
            }
            blocks.push(LogBlock::Own(j));
            (start, bits) = (j + 1, 0.0);
            continue;
        }
        if bits + factor_bits > MAX_PRODUCT_BITS {
            blocks.push(LogBlock::Product(start..j));
            (start, bits) = (j, 0.0);
        }
        bits += factor_bits;
        let count = size.count as usize;
        size.count_bits = [1, 2, 4, 8].map(|bit| count & bit != 0);
    }
    if start < sizes.len() {
        blocks.push(LogBlock::Product(start..sizes.len()));
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sizes far apart (from summaries): products that must be cut into
    /// several runs, and a factor that takes its own logarithm; against the
    /// sum of one logarithm per group.
    #[test]
    fn sum_of_log_weights_matches_the_direct_sum() {
        let weights: Vec<f64> = [1.0, 2e6, 4e6, 8e6, 1.6e7, 1e40, 2.0]
            .into_iter()
            .flat_map(|n| std::iter::repeat_n(n, 12))
            .chain(std::iter::repeat_n(3.0, 40))
            .collect();
        let means = vec![0.0; weights.len()];
        let parent = vec![0; weights.len()];
        let classes = SizeClasses::new(&weights, &means, &parent, 1);
        assert!(
            classes
                .log_blocks
                .iter()
                .filter(|b| matches!(b, LogBlock::Product(_)))
                .count()
                >= 2
        );
        for log_tau in [-300.0, -4.0, 0.0, 3.0, 300.0] {
            for log_c in [-3.0, 0.0, 2.0] {
                let (tau, c) = (f64::exp(log_tau), f64::exp(log_c));
                let direct: f64 = weights
                    .iter()
                    .map(|n| (tau * n * c / (tau + n * c)).ln())
                    .sum();
                let mut w = vec![0.0; classes.sizes.len()];
                let fast = classes.weights([tau, log_tau], [c, log_c], |j, x, _| w[j] = x);
                for (j, size) in classes.sizes.iter().enumerate() {
                    let n = size.n;
                    let exact = tau * n * c / (tau + n * c);
                    assert!((w[j] / exact - 1.0).abs() < 1e-14 || !exact.is_normal());
                }
                assert!(
                    (fast - direct).abs() < 1e-9 * (1.0 + direct.abs()),
                    "{log_tau} {log_c}: {fast} vs {direct}"
                );
            }
        }
    }

    #[test]
    fn messages_match_the_groups_one_by_one() {
        let weights = [3.0, 5.0, 5.0, 1.0, 8.0, 3.0, 5.0];
        let means = [1.0, -2.0, 0.5, 4.0, 2.0, 1.5, -1.0];
        // parents interleaved, as rows may come
        let parent = [0, 1, 0, 1, 2, 2, 1];
        let classes = SizeClasses::new(&weights, &means, &parent, 3);
        let (tau, c) = (0.7, 1.3);
        let mut buffer = Vec::new();
        let mut got = [(0.0, 0.0); 3];
        let (_, q_total) =
            classes.messages([tau, tau.ln()], [c, c.ln()], &mut buffer, |r, m, p| {
                got[r] = (m, p)
            });
        let mut q_sum = 0.0;
        for (r, &(m, p)) in got.iter().enumerate() {
            let kids: Vec<usize> = (0..7).filter(|&g| parent[g] == r).collect();
            let w: Vec<f64> = kids
                .iter()
                .map(|&g| tau * weights[g] * c / (tau + weights[g] * c))
                .collect();
            let big_w: f64 = w.iter().sum();
            let mean = kids.iter().zip(&w).map(|(&g, w)| w * means[g]).sum::<f64>() / big_w;
            let q: f64 = kids
                .iter()
                .zip(&w)
                .map(|(&g, w)| w * (means[g] - mean).powi(2))
                .sum();
            assert!((m - mean).abs() < 1e-12 && (p - big_w).abs() < 1e-12);
            q_sum += q;
        }
        assert!((q_total - q_sum).abs() < 1e-12, "{q_total} vs {q_sum}");
    }
}
