//! Posterior summaries of many parameters at once: means and quantiles of
//! columns split over chains, fast enough for tens of thousands of groups.

/// For each column, its mean and its type-7 quantiles (those of R's
/// `quantile()`) at `probs`, pooling the chains. `chains[c]` is a
/// column-major matrix of `n_rows` rows; `columns` are 0-based column
/// indices. Returns, per column, the mean followed by the quantiles.
pub fn column_summaries(
    chains: &[&[f64]],
    n_rows: usize,
    columns: &[usize],
    probs: &[f64],
) -> Vec<Vec<f64>> {
    let n = n_rows * chains.len();
    let mut pooled = vec![0.0; n];
    columns
        .iter()
        .map(|&j| {
            for (c, chain) in chains.iter().enumerate() {
                pooled[c * n_rows..(c + 1) * n_rows]
                    .copy_from_slice(&chain[j * n_rows..(j + 1) * n_rows]);
            }
            let mean = pooled.iter().sum::<f64>() / n as f64;
            std::iter::once(mean)
                .chain(quantiles_type7(&mut pooled, probs))
                .collect()
        })
        .collect()
}

/// Type-7 quantiles of `values` (reordered in place) by selection, not a
/// full sort. `probs` must lie in [0, 1]; NaN values sort last. The
/// arithmetic is R's own (`quantile.default`: the 1-based index
/// `1 + (n - 1) p`, then `(1 - h) x_lo + h x_hi`), so that the results are
/// R's to the last bit.
fn quantiles_type7(values: &mut [f64], probs: &[f64]) -> Vec<f64> {
    let n = values.len();
    if n == 0 {
        return vec![f64::NAN; probs.len()];
    }
    probs
        .iter()
        .map(|&p| {
            let index = 1.0 + (n - 1) as f64 * p;
            let lo = index.floor();
            let h = index - lo;
            let (_, lo_value, above) =
                values.select_nth_unstable_by(lo as usize - 1, f64::total_cmp);
            let lo_value = *lo_value;
            if h == 0.0 || above.is_empty() {
                return lo_value;
            }
            let hi_value = above.iter().copied().fold(f64::INFINITY, f64::min);
            if hi_value == lo_value {
                return lo_value;
            }
            (1.0 - h) * lo_value + h * hi_value
        })
        .collect()
}

/// Convergence diagnostics of one parameter, as the posterior package
/// defines them (Vehtari, Gelman, Simpson, Carpenter and Bürkner 2021):
/// `NaN` where posterior gives `NA`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Diagnostics {
    pub sd: f64,
    /// ESS of the draws themselves (for the MCSE of the mean).
    pub ess_mean: f64,
    pub ess_bulk: f64,
    pub ess_tail: f64,
    /// Rank-normalised split R-hat, the larger of the bulk and folded ones.
    pub rhat: f64,
}

/// The diagnostics of column `j` of every chain (`chains[c]`: a
/// column-major matrix of `n` rows). `normal_scores[i - 1]` must be
/// `qnorm(((i + 1)/2 - 3/8) / (S + 1/4))` for `i = 1..=2S - 1`, `S` the
/// number of split draws: the score of average rank `(i + 1)/2`.
///
/// As posterior: each chain is split in halves (the middle draw dropped
/// when `n` is odd), the ranks pooled over the split chains, the tail
/// quantiles and the median of the folded draws taken over all draws.
pub fn diagnostics(chains: &[&[f64]], n: usize, j: usize, normal_scores: &[f64]) -> Diagnostics {
    let m = chains.len();
    let all: Vec<f64> = chains
        .iter()
        .flat_map(|c| c[j * n..(j + 1) * n].iter().copied())
        .collect();
    let (h, k) = if n > 1 { (n / 2, 2 * m) } else { (1, m) };
    // k chains of h draws each, stacked
    let split: Vec<f64> = chains
        .iter()
        .flat_map(|c| {
            let col = &c[j * n..(j + 1) * n];
            if n > 1 {
                col[..h]
                    .iter()
                    .chain(&col[n - h..])
                    .copied()
                    .collect::<Vec<_>>()
            } else {
                col.to_vec()
            }
        })
        .collect();
    let mut sorted_all = all.clone();
    sorted_all.sort_by(f64::total_cmp);
    let finite = sorted_all.first().is_some_and(|v| v.is_finite())
        && sorted_all.last().is_some_and(|v| v.is_finite());
    let usable_all = finite && varies(&sorted_all);
    let sd = variance(&all).sqrt();
    let ess_mean = {
        let mut sorted = split.clone();
        sorted.sort_by(f64::total_cmp);
        let ok = sorted[0].is_finite() && sorted[sorted.len() - 1].is_finite() && varies(&sorted);
        if ok { ess(&split, h, k) } else { f64::NAN }
    };
    let bulk = rank_scores(&split, normal_scores).filter(|_| finite);
    let median = type7(&sorted_all, 0.5);
    let folded: Vec<f64> = split.iter().map(|x| (x - median).abs()).collect();
    let folded = rank_scores(&folded, normal_scores).filter(|_| finite);
    let ess_bulk = bulk.as_ref().map_or(f64::NAN, |z| ess(z, h, k));
    let rhat = match (&bulk, &folded) {
        (Some(z), Some(f)) => nan_max(rhat(z, h, k), rhat(f, h, k)),
        _ => f64::NAN,
    };
    let ess_tail = if usable_all {
        let (q05, q95) = (type7(&sorted_all, 0.05), type7(&sorted_all, 0.95));
        let below: Vec<f64> = split
            .iter()
            .map(|&x| f64::from(u8::from(x <= q05)))
            .collect();
        let above: Vec<f64> = split
            .iter()
            .map(|&x| f64::from(u8::from(x > q95)))
            .collect();
        nan_min(indicator_ess(&below, h, k), indicator_ess(&above, h, k))
    } else {
        f64::NAN
    };
    Diagnostics {
        sd,
        ess_mean,
        ess_bulk,
        ess_tail,
        rhat,
    }
}

/// R's pmin() and pmax(): NaN when either is (f64::min and max drop it).
fn nan_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

fn nan_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// Not constant: a range of at least machine epsilon (posterior's test).
fn varies(sorted: &[f64]) -> bool {
    sorted[sorted.len() - 1] - sorted[0] >= f64::EPSILON
}

/// The sample variance (n - 1 denominator), 0 for one value.
fn variance(x: &[f64]) -> f64 {
    if x.len() < 2 {
        return 0.0;
    }
    let mean = x.iter().sum::<f64>() / x.len() as f64;
    x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (x.len() - 1) as f64
}

/// Type-7 quantile of sorted values, by R's arithmetic.
fn type7(sorted: &[f64], p: f64) -> f64 {
    let s = sorted.len();
    let index = (s - 1) as f64 * p;
    let lo = index.floor() as usize;
    let q = sorted[lo];
    if index > lo as f64 {
        let hi = sorted[(lo + 1).min(s - 1)];
        if hi != q {
            let frac = index - lo as f64;
            return (1.0 - frac) * q + frac * hi;
        }
    }
    q
}

/// The normal scores of the average ranks of `x`, or `None` if every value
/// ties (or there is one).
fn rank_scores(x: &[f64], normal_scores: &[f64]) -> Option<Vec<f64>> {
    let s = x.len();
    if s < 2 || normal_scores.len() != 2 * s - 1 {
        return None;
    }
    let mut order: Vec<usize> = (0..s).collect();
    order.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut scores = vec![0.0; s];
    let mut start = 0;
    while start < s {
        let mut end = start + 1;
        while end < s && x[order[end]] == x[order[start]] {
            end += 1;
        }
        if start == 0 && end == s {
            return None;
        }
        // positions start+1..=end (1-based) share their average rank r:
        // the score of r is normal_scores[2r - 2]
        let twice_rank = start + 1 + end;
        for &i in &order[start..end] {
            scores[i] = normal_scores[twice_rank - 2];
        }
        start = end;
    }
    Some(scores)
}

/// Chain means and variances (h - 1 denominator) of `k` chains of `h`.
fn chain_moments(y: &[f64], h: usize, k: usize) -> (Vec<f64>, Vec<f64>) {
    (0..k)
        .map(|c| {
            let chain = &y[c * h..(c + 1) * h];
            let mean = chain.iter().sum::<f64>() / h as f64;
            let var = if h > 1 {
                chain.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (h - 1) as f64
            } else {
                0.0
            };
            (mean, var)
        })
        .unzip()
}

/// Split R-hat of `k` chains of `h` draws.
fn rhat(y: &[f64], h: usize, k: usize) -> f64 {
    if h < 2 || k < 2 {
        return f64::NAN;
    }
    let (means, vars) = chain_moments(y, h, k);
    let within = vars.iter().sum::<f64>() / k as f64;
    let hf = h as f64;
    ((hf * variance(&means) / within + hf - 1.0) / hf).sqrt()
}

/// The ESS of an indicator series: `NaN` unless it is neither always 0
/// nor always 1.
fn indicator_ess(y: &[f64], h: usize, k: usize) -> f64 {
    let count: f64 = y.iter().sum();
    if count > 0.0 && count < y.len() as f64 {
        ess(y, h, k)
    } else {
        f64::NAN
    }
}

/// The effective sample size of `k` chains of `h` draws: autocorrelations
/// pooled over chains, summed by Geyer's initial monotone sequence as
/// posterior's `.ess()` sums them (lag by lag, until a pair of lags stops
/// being positive).
fn ess(y: &[f64], h: usize, k: usize) -> f64 {
    if h < 3 {
        return f64::NAN;
    }
    let (means, vars) = chain_moments(y, h, k);
    let mean_var = vars.iter().sum::<f64>() / k as f64;
    let hf = h as f64;
    let var_plus = mean_var * (hf - 1.0) / hf + variance(&means);
    let centred: Vec<f64> = y
        .iter()
        .enumerate()
        .map(|(i, v)| v - means[i / h])
        .collect();
    let acov = |lag: usize| {
        (0..k)
            .map(|c| {
                let chain = &centred[c * h..(c + 1) * h];
                chain[..h - lag]
                    .iter()
                    .zip(&chain[lag..])
                    .map(|(a, b)| a * b)
                    .sum::<f64>()
                    / hf
            })
            .sum::<f64>()
            / k as f64
    };
    let rho = |lag: usize| {
        if lag >= h {
            return 0.0;
        }
        1.0 - (mean_var - acov(lag)) / var_plus
    };
    let mut pair = 1.0 + rho(1);
    let mut running_min = pair;
    let (mut total, mut last) = (0.0, 1.0);
    if !(h > 5 && pair > 0.0) {
        total = 1.0;
    } else {
        let mut j = 0;
        loop {
            total += running_min;
            j += 1;
            let even = rho(2 * j);
            pair = even + rho(2 * j + 1);
            if !(2 * j + 5 < h && pair > 0.0) {
                last = if pair >= 0.0 { even } else { even.max(0.0) };
                break;
            }
            running_min = running_min.min(pair);
        }
    }
    let draws = (k * h) as f64;
    draws / (-1.0 + 2.0 * total + last).max(1.0 / draws.log10())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_sorting_and_r_type7() {
        // R: quantile(c(3, 1, 4, 1, 5, 9, 2, 6), c(0, .1, .25, .5, .975, 1))
        // gives 1.00 1.00 1.75 3.50 8.475 9.00
        let chain_a = [3.0, 1.0, 4.0, 1.0];
        let chain_b = [5.0, 9.0, 2.0, 6.0];
        let out = column_summaries(
            &[&chain_a, &chain_b],
            4,
            &[0],
            &[0.0, 0.1, 0.25, 0.5, 0.975, 1.0],
        );
        let expected = [31.0 / 8.0, 1.0, 1.0, 1.75, 3.5, 8.475, 9.0];
        for (a, b) in out[0].iter().zip(expected) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
    }

    /// Scores of every average rank of `s` split draws: uniform ones, not
    /// R's normal quantiles (tests/testthat compares those with posterior);
    /// these checks need only scores that grow with the rank.
    fn scores(s: usize) -> Vec<f64> {
        (1..2 * s)
            .map(|i| ((i as f64 + 1.0) / 2.0 - 0.375) / (s as f64 + 0.25) - 0.5)
            .collect()
    }

    #[test]
    fn diagnostics_of_independent_draws_and_of_constants() {
        let mut rng = crate::chain_rng(4, 0);
        let (n, m) = (1000, 4);
        let chains: Vec<Vec<f64>> = (0..m)
            .map(|_| {
                (0..n)
                    .map(|_| crate::engine::std_normal(&mut rng))
                    .collect()
            })
            .collect();
        let slices: Vec<&[f64]> = chains.iter().map(Vec::as_slice).collect();
        let d = diagnostics(&slices, n, 0, &scores(n * m));
        assert!((d.sd - 1.0).abs() < 0.05, "{d:?}");
        for ess in [d.ess_mean, d.ess_bulk, d.ess_tail] {
            assert!(
                ess > 0.7 * (n * m) as f64 && ess < 1.3 * (n * m) as f64,
                "{d:?}"
            );
        }
        assert!((d.rhat - 1.0).abs() < 0.01, "{d:?}");
        let constant = vec![3.0; n];
        let d = diagnostics(&[&constant, &constant], n, 0, &scores(2 * n));
        assert_eq!(d.sd, 0.0);
        assert!(d.ess_mean.is_nan() && d.ess_bulk.is_nan() && d.ess_tail.is_nan());
        assert!(d.rhat.is_nan());
    }

    #[test]
    fn columns_are_taken_from_every_chain() {
        // two chains, 2 rows, 2 columns (column-major)
        let a = [1.0, 2.0, 10.0, 20.0];
        let b = [3.0, 4.0, 30.0, 40.0];
        let out = column_summaries(&[&a, &b], 2, &[1, 0], &[0.5]);
        assert_eq!(out[0], vec![25.0, 25.0]);
        assert_eq!(out[1], vec![2.5, 2.5]);
    }
}
