use crate::Error;

/// Per-group sufficient statistics of a grouped normal sample: for group `k`,
/// the count `n_k`, the mean `ybar_k` and the within sum of squares
/// `S_k = sum_i (y_ik - ybar_k)^2`.
///
/// Computed in one pass by Welford's update, which stays accurate when the
/// values share a large offset (e.g. `1e9 + noise`), where
/// `sum(y^2) - n ybar^2` would cancel to noise.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupStats {
    n: Vec<f64>,
    ybar: Vec<f64>,
    ss: Vec<f64>,
}

impl GroupStats {
    /// Reduces `(group, y)` pairs, with groups numbered `0..n_groups`.
    /// Fails on a non-finite `y`, a group index out of range, or a group
    /// with no observation.
    pub fn from_observations<I>(n_groups: usize, observations: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = (usize, f64)>,
    {
        Self::accumulate(n_groups, observations.into_iter().map(|(k, y)| (k, y, 1.0)))
    }

    fn accumulate<I>(n_groups: usize, observations: I) -> Result<Self, Error>
    where
        I: Iterator<Item = (usize, f64, f64)>,
    {
        if n_groups == 0 {
            return Err(Error::InvalidData("there are no groups".into()));
        }
        let mut running = RunningStats::new(n_groups);
        for (row, (k, y, w)) in observations.enumerate() {
            if k >= n_groups {
                return Err(Error::InvalidData(format!(
                    "row {}: group index out of range",
                    row + 1
                )));
            }
            if !y.is_finite() {
                return Err(Error::InvalidData(format!(
                    "row {}: response is not finite",
                    row + 1
                )));
            }
            running.observe(k, y, w);
        }
        running.finish()
    }

    /// Reduces `(group, y, weight)` triples to weighted statistics: `n_k` is
    /// the sum of the weights, `ybar_k` the weighted mean and `S_k` the
    /// weighted sum of squares about it (West 1979). With precisions
    /// `1/se^2` as weights, `(ybar_k, n_k)` are a group's pooled estimate
    /// and its precision. Weights must be finite and positive.
    pub fn from_weighted_observations<I>(n_groups: usize, observations: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = (usize, f64, f64)>,
    {
        let mut bad_weight = None;
        let checked = observations
            .into_iter()
            .enumerate()
            .map(|(row, (k, y, w))| {
                if !(w.is_finite() && w > 0.0) && bad_weight.is_none() {
                    bad_weight = Some(row + 1);
                }
                (k, y, w)
            });
        let stats = Self::accumulate(n_groups, checked)?;
        match bad_weight {
            Some(row) => Err(Error::InvalidData(format!(
                "row {row}: weight is not finite and positive"
            ))),
            None => Ok(stats),
        }
    }

    /// Statistics given directly (from a table of group summaries). Counts
    /// must be positive, means finite and sums of squares finite and not
    /// negative.
    pub fn from_summaries(n: Vec<f64>, ybar: Vec<f64>, ss: Vec<f64>) -> Result<Self, Error> {
        if n.is_empty() {
            return Err(Error::InvalidData("there are no groups".into()));
        }
        if n.len() != ybar.len() || n.len() != ss.len() {
            return Err(Error::InvalidData(
                "counts, means and sums of squares differ in length".into(),
            ));
        }
        for k in 0..n.len() {
            if !(n[k].is_finite() && n[k] > 0.0) {
                return Err(Error::InvalidData(format!("group {}: bad count", k + 1)));
            }
            if !(ybar[k].is_finite() && ss[k].is_finite() && ss[k] >= 0.0) {
                return Err(Error::InvalidData(format!(
                    "group {}: bad mean or sum of squares",
                    k + 1
                )));
            }
        }
        Ok(Self { n, ybar, ss })
    }

    /// Pools summaries of parts of the groups' data (Chan, Golub and
    /// LeVeque 1979), as if all their observations had been reduced at once:
    /// each part `(k, n, ybar, S)` is added to group `k` of `0..n_groups`
    /// (see [`RunningStats::combine`]). Fails on a bad part or a group that
    /// gets none.
    pub fn pool<I>(n_groups: usize, parts: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = (usize, f64, f64, f64)>,
    {
        if n_groups == 0 {
            return Err(Error::InvalidData("there are no groups".into()));
        }
        let mut running = RunningStats::new(n_groups);
        for (part, (k, n, ybar, ss)) in parts.into_iter().enumerate() {
            if k >= n_groups {
                return Err(Error::InvalidData(format!(
                    "part {}: group index out of range",
                    part + 1
                )));
            }
            if !(n.is_finite() && n > 0.0 && ybar.is_finite() && ss.is_finite() && ss >= 0.0) {
                return Err(Error::InvalidData(format!(
                    "part {}: bad count, mean or sum of squares",
                    part + 1
                )));
            }
            running.combine(k, n, ybar, ss);
        }
        running.finish()
    }

    /// Number of groups, K.
    pub fn n_groups(&self) -> usize {
        self.n.len()
    }

    /// Number of observations, N.
    pub fn n_total(&self) -> f64 {
        self.n.iter().sum()
    }

    /// Group sizes `n_k`.
    pub fn n(&self) -> &[f64] {
        &self.n
    }

    /// Group means `ybar_k`.
    pub fn ybar(&self) -> &[f64] {
        &self.ybar
    }

    /// Within-group sums of squares `S_k`.
    pub fn ss(&self) -> &[f64] {
        &self.ss
    }
}

/// Group statistics being accumulated: observations (Welford's update) or
/// summaries of parts (Chan's formula) added one at a time, in any order
/// of groups; groups may be added as they are met. [`GroupStats`] is built
/// from it, and a CSV file is read into one a chunk at a time, so that its
/// statistics are the same whatever the chunks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunningStats {
    n: Vec<f64>,
    ybar: Vec<f64>,
    ss: Vec<f64>,
}

impl RunningStats {
    /// `n_groups` groups with no observation yet.
    pub fn new(n_groups: usize) -> Self {
        Self {
            n: vec![0.0; n_groups],
            ybar: vec![0.0; n_groups],
            ss: vec![0.0; n_groups],
        }
    }

    /// Adds a group with no observation yet; returns its index.
    pub fn add_group(&mut self) -> usize {
        self.n.push(0.0);
        self.ybar.push(0.0);
        self.ss.push(0.0);
        self.n.len() - 1
    }

    /// Adds observation `y` of weight `w` to group `k` (Welford; West 1979
    /// for weights). The caller checks that `k` exists and `y` is finite.
    pub fn observe(&mut self, k: usize, y: f64, w: f64) {
        self.n[k] += w;
        let delta = y - self.ybar[k];
        self.ybar[k] += delta * w / self.n[k];
        self.ss[k] += w * delta * (y - self.ybar[k]);
    }

    /// Adds the summary `(n, ybar, ss)` of some of group `k`'s observations:
    /// `n = n_a + n_b`, the means weighted by count, and
    /// `S = S_a + S_b + d^2 n_a n_b / n` with `d` the difference of the
    /// means. Stable where `sum(y^2) - n ybar^2` would cancel.
    pub fn combine(&mut self, k: usize, n: f64, ybar: f64, ss: f64) {
        let na = self.n[k];
        let total = na + n;
        let d = ybar - self.ybar[k];
        self.n[k] = total;
        self.ybar[k] += d * (n / total);
        self.ss[k] += ss + d * d * (na * n / total);
    }

    /// Counts (sums of weights) so far.
    pub fn n(&self) -> &[f64] {
        &self.n
    }

    /// Means so far.
    pub fn ybar(&self) -> &[f64] {
        &self.ybar
    }

    /// Sums of squares about the means so far.
    pub fn ss(&self) -> &[f64] {
        &self.ss
    }

    /// The statistics, if every group has an observation.
    pub fn finish(mut self) -> Result<GroupStats, Error> {
        if let Some(k) = self.n.iter().position(|&nk| nk == 0.0) {
            return Err(Error::InvalidData(format!(
                "group {} has no observations",
                k + 1
            )));
        }
        // With weights, `delta * w / n` may round past y and leave a sum
        // of squares of -1e-17 where it is 0.
        for s in self.ss.iter_mut() {
            *s = s.max(0.0);
        }
        if let Some(k) =
            (0..self.n.len()).find(|&k| !(self.ybar[k].is_finite() && self.ss[k].is_finite()))
        {
            return Err(Error::InvalidData(format!(
                "the spread of the responses in group {} overflows double precision; \
                 rescale the response",
                k + 1
            )));
        }
        Ok(GroupStats {
            n: self.n,
            ybar: self.ybar,
            ss: self.ss,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(y: &[f64]) -> (f64, f64) {
        let m = y.iter().sum::<f64>() / y.len() as f64;
        (m, y.iter().map(|v| (v - m).powi(2)).sum())
    }

    #[test]
    fn matches_two_pass_on_small_data() {
        let y = [1.0, 2.0, 4.0, 10.0, 12.0];
        let g = [0, 0, 0, 1, 1];
        let s = GroupStats::from_observations(2, g.into_iter().zip(y)).unwrap();
        assert_eq!(s.n(), &[3.0, 2.0]);
        let (m0, s0) = naive(&y[..3]);
        let (m1, s1) = naive(&y[3..]);
        assert!((s.ybar()[0] - m0).abs() < 1e-12 && (s.ss()[0] - s0).abs() < 1e-12);
        assert!((s.ybar()[1] - m1).abs() < 1e-12 && (s.ss()[1] - s1).abs() < 1e-12);
        assert_eq!(s.n_total(), 5.0);
    }

    #[test]
    fn stable_with_a_large_offset() {
        // Deviations with known mean 0 and sum of squares; shifted by 1e9 the
        // textbook formula sum(y^2) - n ybar^2 loses every digit.
        let dev = [-1.5, 0.25, 0.75, 0.5, -0.25, 0.25];
        let exact_ss: f64 = dev.iter().map(|d| d * d).sum();
        let y: Vec<f64> = dev.iter().map(|d| 1e9 + d).collect();
        let s = GroupStats::from_observations(1, y.iter().map(|&v| (0, v))).unwrap();
        assert!((s.ybar()[0] - 1e9).abs() < 1e-6);
        assert!(
            (s.ss()[0] - exact_ss).abs() < 1e-6 * exact_ss,
            "{}",
            s.ss()[0]
        );
        let textbook = y.iter().map(|v| v * v).sum::<f64>() - 6.0 * (1e9f64).powi(2);
        assert!(
            (textbook - exact_ss).abs() > 1.0,
            "the test data must defeat the naive formula"
        );
    }

    #[test]
    fn weighted_statistics_pool_estimates_by_precision() {
        // Two estimates 10 (se 1) and 20 (se 2): pooled mean 12, precision 1.25.
        let s =
            GroupStats::from_weighted_observations(1, [(0, 10.0, 1.0), (0, 20.0, 0.25)]).unwrap();
        assert!((s.ybar()[0] - 12.0).abs() < 1e-12);
        assert!((s.n()[0] - 1.25).abs() < 1e-12);
        // sum w (y - 12)^2 = 4 + 16
        assert!((s.ss()[0] - 20.0).abs() < 1e-12);
        assert!(GroupStats::from_weighted_observations(1, [(0, 1.0, 0.0)]).is_err());
        for (y, w) in [(0.1, 0.3), (-2.7, 1.0 / 0.81), (1e-3, 7.0)] {
            let one = GroupStats::from_weighted_observations(1, [(0, y, w)]).unwrap();
            assert!(one.ss()[0] >= 0.0);
        }
        assert!(GroupStats::from_weighted_observations(1, [(0, 1.0, f64::NAN)]).is_err());
    }

    #[test]
    fn pooling_parts_equals_reducing_all_at_once() {
        // Two chunks of three groups with a large common offset.
        let all: Vec<(usize, f64)> = (0..60)
            .map(|i| (i % 3, 1e8 + (i as f64 * 0.37).sin() * (1 + i % 3) as f64))
            .collect();
        let whole = GroupStats::from_observations(3, all.iter().copied()).unwrap();
        let a = GroupStats::from_observations(3, all[..25].iter().copied()).unwrap();
        let b = GroupStats::from_observations(3, all[25..].iter().copied()).unwrap();
        let parts = |s: &GroupStats| {
            (0..3)
                .map(|k| (k, s.n()[k], s.ybar()[k], s.ss()[k]))
                .collect::<Vec<_>>()
        };
        let merged = GroupStats::pool(3, parts(&a).into_iter().chain(parts(&b))).unwrap();
        for k in 0..3 {
            assert_eq!(merged.n()[k], whole.n()[k]);
            assert!((merged.ybar()[k] - whole.ybar()[k]).abs() < 1e-6);
            // both carry the rounding of y at 1e8 (~1e-8 each)
            assert!((merged.ss()[k] / whole.ss()[k] - 1.0).abs() < 1e-6);
        }
        // a group given no part, a part out of range, a bad part
        assert!(GroupStats::pool(4, parts(&a)).is_err());
        assert!(GroupStats::pool(2, parts(&a)).is_err());
        assert!(GroupStats::pool(1, [(0, 0.0, 1.0, 0.0)]).is_err());
        assert!(GroupStats::pool(1, [(0, 2.0, f64::NAN, 0.0)]).is_err());
        assert!(GroupStats::pool(0, []).is_err());
    }

    #[test]
    fn running_statistics_grow_with_their_groups() {
        let mut r = RunningStats::default();
        let g = r.add_group();
        let h = r.add_group();
        for (k, y) in [(g, 1.0), (h, 10.0), (g, 2.0), (g, 4.0), (h, 12.0)] {
            r.observe(k, y, 1.0);
        }
        let once =
            GroupStats::from_observations(2, [(0, 1.0), (1, 10.0), (0, 2.0), (0, 4.0), (1, 12.0)])
                .unwrap();
        assert_eq!(r.clone().finish().unwrap(), once);
        r.add_group();
        assert!(r.finish().unwrap_err().to_string().contains("group 3"));
    }

    #[test]
    fn summaries_are_checked() {
        let ok = GroupStats::from_summaries(vec![2.0], vec![1.0], vec![0.5]);
        assert!(ok.is_ok());
        assert!(GroupStats::from_summaries(vec![0.0], vec![1.0], vec![0.5]).is_err());
        assert!(GroupStats::from_summaries(vec![2.0], vec![f64::NAN], vec![0.5]).is_err());
        assert!(GroupStats::from_summaries(vec![2.0], vec![1.0], vec![-0.5]).is_err());
        assert!(GroupStats::from_summaries(vec![2.0, 1.0], vec![1.0], vec![0.5]).is_err());
        assert!(GroupStats::from_summaries(Vec::new(), Vec::new(), Vec::new()).is_err());
    }

    #[test]
    fn rejects_bad_input() {
        let empty_group = GroupStats::from_observations(3, [(0, 1.0), (2, 1.0)]);
        assert!(empty_group.unwrap_err().to_string().contains("group 2"));
        assert!(GroupStats::from_observations(1, [(1, 1.0)]).is_err());
        assert!(GroupStats::from_observations(1, [(0, f64::NAN)]).is_err());
        assert!(GroupStats::from_observations(1, [(0, f64::INFINITY)]).is_err());
        assert!(GroupStats::from_observations(0, std::iter::empty()).is_err());
    }
}
