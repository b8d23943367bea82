//! Per-group multivariate sufficient statistics: for each group its count,
//! the means of d variables and their centred cross-products
//! `S = sum_i (v_i - vbar)(v_i - vbar)'`. A regression needs nothing else
//! from its rows (MATHS.md 15.6). Accumulated by Welford's update (rows)
//! or Chan's formula (summaries of parts), so that a large common offset
//! does not cancel, and the same whatever the order of the parts' groups.

use crate::Error;

#[derive(Debug, Clone, PartialEq)]
pub struct CrossStats {
    d: usize,
    n: Vec<f64>,
    /// d per group, group after group.
    mean: Vec<f64>,
    /// d x d per group (symmetric, row-major), group after group.
    cross: Vec<f64>,
}

impl CrossStats {
    /// `n_groups` groups of `d` variables with no observation yet.
    pub fn new(n_groups: usize, d: usize) -> Self {
        Self {
            d,
            n: vec![0.0; n_groups],
            mean: vec![0.0; n_groups * d],
            cross: vec![0.0; n_groups * d * d],
        }
    }

    /// Adds a group with no observation yet; returns its index.
    pub fn add_group(&mut self) -> usize {
        self.n.push(0.0);
        self.mean.extend(std::iter::repeat_n(0.0, self.d));
        self.cross.extend(std::iter::repeat_n(0.0, self.d * self.d));
        self.n.len() - 1
    }

    /// Reduces rows given as `columns` (d columns of one value per row),
    /// each row in group `group[i]` of `0..n_groups`. Fails on a value
    /// that is not finite, a group out of range or a group with no row.
    pub fn from_columns(
        columns: &[&[f64]],
        group: &[usize],
        n_groups: usize,
    ) -> Result<Self, Error> {
        let d = columns.len();
        if let Some(c) = columns.iter().position(|c| c.len() != group.len()) {
            return Err(Error::InvalidData(format!(
                "variable {} has {} values for {} rows",
                c + 1,
                columns[c].len(),
                group.len()
            )));
        }
        let mut stats = Self::new(n_groups, d);
        let mut v = vec![0.0; d];
        for (i, &k) in group.iter().enumerate() {
            if k >= n_groups {
                return Err(Error::InvalidData(format!(
                    "row {}: group index out of range",
                    i + 1
                )));
            }
            for (value, column) in v.iter_mut().zip(columns) {
                *value = column[i];
            }
            if let Some(c) = v.iter().position(|x| !x.is_finite()) {
                return Err(Error::InvalidData(format!(
                    "row {}: variable {} is not finite",
                    i + 1,
                    c + 1
                )));
            }
            stats.observe(k, &v);
        }
        stats.finish()
    }

    /// Statistics given directly: counts, means (d per group) and
    /// cross-products (d x d per group). Checked as [`Self::finish`] checks.
    pub fn from_parts(
        d: usize,
        n: Vec<f64>,
        mean: Vec<f64>,
        cross: Vec<f64>,
    ) -> Result<Self, Error> {
        if mean.len() != n.len() * d || cross.len() != n.len() * d * d {
            return Err(Error::InvalidData(format!(
                "statistics of {} groups of {d} variables need {} means and {} cross-products",
                n.len(),
                n.len() * d,
                n.len() * d * d
            )));
        }
        Self { d, n, mean, cross }.finish()
    }

    /// Pools parts: part `i` (a group of `parts`) is added to group
    /// `code[i]` of `0..n_groups`, as if their rows had been reduced at once.
    pub fn pool(parts: &Self, code: &[usize], n_groups: usize) -> Result<Self, Error> {
        if code.len() != parts.n_groups() {
            return Err(Error::InvalidData(
                "every part needs the group it is pooled into".into(),
            ));
        }
        let mut out = Self::new(n_groups, parts.d);
        for (i, &k) in code.iter().enumerate() {
            if k >= n_groups {
                return Err(Error::InvalidData(format!(
                    "part {}: group index out of range",
                    i + 1
                )));
            }
            out.combine(k, parts.n[i], parts.mean_of(i), parts.cross_of(i));
        }
        out.finish()
    }

    /// The statistics of products of the variables of `parts`, pooled: on
    /// part `i`, variable `c` of the result is `coding[c * m + i]` (m parts)
    /// times variable `source[c]` of the part (None: the constant 1), and
    /// the part goes into group `into[i]` of `0..n_groups` (None: left out).
    /// A part is constant in whatever a variable's coding depends on (a
    /// factor's level, say), so its means and cross-products scale:
    /// `a_c mbar_s(c)` and `a_c a_e S_s(c)s(e)` (MATHS.md 15.6).
    pub fn products(
        parts: &Self,
        source: &[Option<usize>],
        coding: &[f64],
        into: &[Option<usize>],
        n_groups: usize,
    ) -> Result<Self, Error> {
        let (m, d) = (parts.n_groups(), source.len());
        if coding.len() != m * d || into.len() != m {
            return Err(Error::InvalidData(format!(
                "products of {m} parts need {} codings and {m} groups to pool into",
                m * d
            )));
        }
        if source.iter().flatten().any(|&s| s >= parts.d) {
            return Err(Error::InvalidData(
                "a product names a variable that does not exist".into(),
            ));
        }
        let mut out = Self::new(n_groups, d);
        let (mut mean, mut cross) = (vec![0.0; d], vec![0.0; d * d]);
        for (i, &k) in into.iter().enumerate() {
            let Some(k) = k else { continue };
            if k >= n_groups || parts.n[i] <= 0.0 {
                return Err(Error::InvalidData(format!(
                    "part {} is pooled into no group or has no observations",
                    i + 1
                )));
            }
            let (pm, pc) = (parts.mean_of(i), parts.cross_of(i));
            let a = |c: usize| coding[c * m + i];
            for c in 0..d {
                mean[c] = a(c) * source[c].map_or(1.0, |s| pm[s]);
                for e in c..d {
                    cross[c * d + e] = match (source[c], source[e]) {
                        (Some(s), Some(t)) => a(c) * a(e) * pc[s.min(t) * parts.d + s.max(t)],
                        _ => 0.0,
                    };
                }
            }
            out.combine(k, parts.n[i], &mean, &cross);
        }
        out.finish()
    }

    /// Replaces variable `a` of every group by `values` (one per row, row
    /// `i` in group `group[i]`, as the statistics were reduced), the other
    /// variables' rows in `columns` (`columns[a]` unused): the groups'
    /// means of the new values, then their centred products, two passes
    /// that do not cancel. Fails if a new value is not finite.
    pub fn replace_variable(
        &mut self,
        a: usize,
        values: &[f64],
        columns: &[&[f64]],
        group: &[usize],
    ) -> Result<(), Error> {
        let d = self.d;
        for k in 0..self.n.len() {
            self.mean[k * d + a] = 0.0;
            for b in 0..d {
                self.cross[k * d * d + a * d + b] = 0.0;
            }
        }
        for (&k, &v) in group.iter().zip(values) {
            self.mean[k * d + a] += v;
        }
        for k in 0..self.n.len() {
            self.mean[k * d + a] /= self.n[k];
        }
        for (i, (&k, &v)) in group.iter().zip(values).enumerate() {
            let mean = &self.mean[k * d..(k + 1) * d];
            let e = v - mean[a];
            let cross = &mut self.cross[k * d * d + a * d..k * d * d + (a + 1) * d];
            for (b, column) in columns.iter().enumerate() {
                cross[b] += e * if b == a { e } else { column[i] - mean[b] };
            }
        }
        for k in 0..self.n.len() {
            for b in 0..d {
                self.cross[k * d * d + b * d + a] = self.cross[k * d * d + a * d + b];
            }
            if !self.mean[k * d + a].is_finite() || !self.cross[k * d * d + a * d + a].is_finite() {
                return Err(Error::Numerical(format!(
                    "the statistics of group {} are not finite",
                    k + 1
                )));
            }
        }
        Ok(())
    }

    /// Adds one row `v` to group `k` (Welford). The upper triangle only;
    /// [`Self::finish`] mirrors it.
    pub fn observe(&mut self, k: usize, v: &[f64]) {
        let d = self.d;
        self.n[k] += 1.0;
        let n = self.n[k];
        let mean = &mut self.mean[k * d..(k + 1) * d];
        let cross = &mut self.cross[k * d * d..(k + 1) * d * d];
        // S += (n - 1) / n e e', e = v - the old mean; then the mean moves.
        let w = (n - 1.0) / n;
        for a in 0..d {
            let ea = (v[a] - mean[a]) * w;
            for b in a..d {
                cross[a * d + b] += ea * (v[b] - mean[b]);
            }
        }
        for a in 0..d {
            mean[a] += (v[a] - mean[a]) / n;
        }
    }

    /// Adds the summary `(n, mean, cross)` of some of group `k`'s rows
    /// (Chan, Golub and LeVeque): `S = S_a + S_b + n_a n_b / n e e'` with
    /// `e` the difference of the means. The upper triangle only.
    pub fn combine(&mut self, k: usize, n: f64, mean: &[f64], cross: &[f64]) {
        let d = self.d;
        let na = self.n[k];
        let total = na + n;
        self.n[k] = total;
        let m = &mut self.mean[k * d..(k + 1) * d];
        let out = &mut self.cross[k * d * d..(k + 1) * d * d];
        let w = na * n / total;
        for a in 0..d {
            let ea = mean[a] - m[a];
            for b in a..d {
                out[a * d + b] += cross[a * d + b] + w * ea * (mean[b] - m[b]);
            }
        }
        for a in 0..d {
            m[a] += (mean[a] - m[a]) * (n / total);
        }
    }

    /// The statistics, checked: every group has a row, every value is
    /// finite, sums of squares are not negative; the lower triangles
    /// mirrored from the upper.
    pub fn finish(mut self) -> Result<Self, Error> {
        let d = self.d;
        if self.n.is_empty() {
            return Err(Error::InvalidData("there are no groups".into()));
        }
        for k in 0..self.n.len() {
            if !(self.n[k].is_finite() && self.n[k] > 0.0) {
                return Err(Error::InvalidData(format!(
                    "group {} has no observations",
                    k + 1
                )));
            }
            let cross = &mut self.cross[k * d * d..(k + 1) * d * d];
            for a in 0..d {
                cross[a * d + a] = cross[a * d + a].max(0.0);
                for b in 0..a {
                    cross[a * d + b] = cross[b * d + a];
                }
            }
            let finite = self.mean[k * d..(k + 1) * d]
                .iter()
                .chain(cross.iter())
                .all(|v| v.is_finite());
            if !finite {
                return Err(Error::InvalidData(format!(
                    "the statistics of group {} are not finite (their spread overflows \
                     double precision); rescale the variables",
                    k + 1
                )));
            }
        }
        Ok(self)
    }

    pub fn n_groups(&self) -> usize {
        self.n.len()
    }

    /// Number of variables, d.
    pub fn n_variables(&self) -> usize {
        self.d
    }

    pub fn n(&self) -> &[f64] {
        &self.n
    }

    /// Group `k`'s means.
    pub fn mean_of(&self, k: usize) -> &[f64] {
        &self.mean[k * self.d..(k + 1) * self.d]
    }

    /// Group `k`'s cross-products about its means, d x d.
    pub fn cross_of(&self, k: usize) -> &[f64] {
        &self.cross[k * self.d * self.d..(k + 1) * self.d * self.d]
    }

    pub fn means(&self) -> &[f64] {
        &self.mean
    }

    pub fn crosses(&self) -> &[f64] {
        &self.cross
    }

    /// The mean and the sum of squares about it of variable `a` over all
    /// groups (Chan's formula, group after group).
    pub fn pooled(&self, a: usize) -> (f64, f64) {
        let (mut n, mut mean, mut ss) = (0.0, 0.0, 0.0);
        for k in 0..self.n.len() {
            let (nk, mk) = (self.n[k], self.mean_of(k)[a]);
            let total = n + nk;
            let e = mk - mean;
            ss += self.cross_of(k)[a * self.d + a] + e * e * (n * nk / total);
            mean += e * (nk / total);
            n = total;
        }
        (mean, ss)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns() -> (Vec<Vec<f64>>, Vec<usize>) {
        let n = 40;
        let group: Vec<usize> = (0..n).map(|i| (i * 7) % 3).collect();
        let x: Vec<f64> = (0..n).map(|i| 1e8 + (i as f64 * 0.37).sin()).collect();
        let y: Vec<f64> = (0..n).map(|i| 2.0 * x[i] + (i as f64).cos()).collect();
        let z: Vec<f64> = (0..n).map(|i| (i % 5) as f64).collect();
        (vec![y, x, z], group)
    }

    #[test]
    fn products_of_parts_are_the_products_reduced() {
        // two parts (a factor's levels, say) of rows (u, v), pooled into one
        // group: the result's variables u, a * v, a (a = 0 on part 0, 1 on 1)
        let (cols, group) = columns();
        let parts = CrossStats::from_columns(&[&cols[1], &cols[0]], &group, 3).unwrap();
        let a = |k: usize| [0.0, 1.0, 1.0][k];
        let product: Vec<f64> = group.iter().zip(&cols[0]).map(|(&k, v)| a(k) * v).collect();
        let level: Vec<f64> = group.iter().map(|&k| a(k)).collect();
        let into_of = [0usize, 0, 1];
        let into: Vec<usize> = group.iter().map(|&k| into_of[k]).collect();
        let direct = CrossStats::from_columns(&[&cols[1], &product, &level], &into, 2).unwrap();
        let coding = [[1.0, 1.0, 1.0], [0.0, 1.0, 1.0], [0.0, 1.0, 1.0]].concat();
        let source = [Some(0), Some(1), None];
        let into_parts = [Some(0), Some(0), Some(1)];
        let pooled = CrossStats::products(&parts, &source, &coding, &into_parts, 2).unwrap();
        assert_eq!(pooled.n(), direct.n());
        for (p, q) in pooled.means().iter().zip(direct.means()) {
            assert!((p - q).abs() <= 1e-12 * q.abs().max(1.0), "{p} {q}");
        }
        for (p, q) in pooled.crosses().iter().zip(direct.crosses()) {
            assert!((p - q).abs() <= 1e-6 * q.abs().max(1.0), "{p} {q}");
        }
        // a part left out, and misuse
        let fewer =
            CrossStats::products(&parts, &source, &coding, &[None, Some(0), Some(1)], 2).unwrap();
        assert_eq!(fewer.n()[0], parts.n()[1]);
        assert!(CrossStats::products(&parts, &[Some(2)], &[1.0; 3], &into_parts, 2).is_err());
        assert!(CrossStats::products(&parts, &source, &coding[1..], &into_parts, 2).is_err());
        assert!(CrossStats::products(&parts, &source, &coding, &into_parts, 1).is_err());
    }

    /// Means and centred cross-products by two passes, per group.
    fn two_pass(columns: &[Vec<f64>], group: &[usize], k: usize) -> (Vec<f64>, Vec<f64>) {
        let d = columns.len();
        let rows: Vec<usize> = (0..group.len()).filter(|&i| group[i] == k).collect();
        let mean: Vec<f64> = columns
            .iter()
            .map(|c| rows.iter().map(|&i| c[i]).sum::<f64>() / rows.len() as f64)
            .collect();
        let mut cross = vec![0.0; d * d];
        for &i in &rows {
            for a in 0..d {
                for b in 0..d {
                    cross[a * d + b] += (columns[a][i] - mean[a]) * (columns[b][i] - mean[b]);
                }
            }
        }
        (mean, cross)
    }

    /// Both sides carry the rounding of values at 1e8 (~1e-8 each); the
    /// textbook `sum(v^2) - n vbar^2` would be off by ~1, not 1e-6.
    fn close(a: f64, b: f64, scale: f64) -> bool {
        (a - b).abs() <= 1e-6 * scale.max(1.0)
    }

    #[test]
    fn welford_matches_two_passes_with_a_large_offset() {
        let (cols, group) = columns();
        let refs: Vec<&[f64]> = cols.iter().map(Vec::as_slice).collect();
        let s = CrossStats::from_columns(&refs, &group, 3).unwrap();
        for k in 0..3 {
            let (mean, cross) = two_pass(&cols, &group, k);
            for a in 0..3 {
                assert!((s.mean_of(k)[a] - mean[a]).abs() <= 1e-12 * mean[a].abs());
                for b in 0..3 {
                    let v = cross[a * 3 + b];
                    assert!(
                        close(s.cross_of(k)[a * 3 + b], v, v.abs()),
                        "{k} {a} {b}: {} vs {v}",
                        s.cross_of(k)[a * 3 + b]
                    );
                }
            }
        }
    }

    #[test]
    fn replacing_a_variable_equals_reducing_anew() {
        let (mut cols, group) = columns();
        let refs: Vec<&[f64]> = cols.iter().map(Vec::as_slice).collect();
        let mut s = CrossStats::from_columns(&refs, &group, 3).unwrap();
        let y: Vec<f64> = (0..group.len()).map(|i| 5e7 + (i as f64).tan()).collect();
        {
            let refs: Vec<&[f64]> = cols.iter().map(Vec::as_slice).collect();
            s.replace_variable(0, &y, &refs, &group).unwrap();
        }
        cols[0] = y;
        let refs: Vec<&[f64]> = cols.iter().map(Vec::as_slice).collect();
        let anew = CrossStats::from_columns(&refs, &group, 3).unwrap();
        for (a, b) in s.means().iter().zip(anew.means()) {
            assert!((a - b).abs() <= 1e-12 * b.abs(), "{a} vs {b}");
        }
        for (a, b) in s.crosses().iter().zip(anew.crosses()) {
            assert!(close(*a, *b, b.abs()), "{a} vs {b}");
        }
        let bad = vec![f64::NAN; group.len()];
        assert!(s.replace_variable(0, &bad, &refs, &group).is_err());
    }

    #[test]
    fn pooling_parts_equals_reducing_at_once() {
        let (cols, group) = columns();
        let refs: Vec<&[f64]> = cols.iter().map(Vec::as_slice).collect();
        let whole = CrossStats::from_columns(&refs, &group, 3).unwrap();
        // parts: each group split by the parity of the row
        let part: Vec<usize> = (0..group.len()).map(|i| 2 * group[i] + i % 2).collect();
        let parts = CrossStats::from_columns(&refs, &part, 6).unwrap();
        let pooled = CrossStats::pool(&parts, &[0, 0, 1, 1, 2, 2], 3).unwrap();
        assert_eq!(pooled.n(), whole.n());
        for (a, b) in pooled.crosses().iter().zip(whole.crosses()) {
            assert!(close(*a, *b, b.abs()), "{a} vs {b}");
        }
        for (a, b) in pooled.means().iter().zip(whole.means()) {
            assert!((a - b).abs() <= 1e-12 * b.abs());
        }
        let all = CrossStats::pool(&whole, &[0, 0, 0], 1).unwrap();
        for a in 0..3 {
            let (m, ss) = whole.pooled(a);
            assert!((m - all.mean_of(0)[a]).abs() <= 1e-12 * m.abs());
            assert!(close(ss, all.cross_of(0)[a * 3 + a], ss));
        }
    }

    #[test]
    fn bad_input_is_an_error() {
        let y = [1.0, f64::NAN];
        assert!(CrossStats::from_columns(&[&y], &[0, 0], 1).is_err());
        assert!(CrossStats::from_columns(&[&[1.0, 2.0]], &[0, 2], 2).is_err());
        assert!(CrossStats::from_columns(&[&[1.0, 2.0]], &[0, 0], 2).is_err());
        assert!(CrossStats::from_columns(&[&[1.0]], &[0, 0], 1).is_err());
        assert!(CrossStats::from_parts(1, vec![2.0], vec![1.0], vec![]).is_err());
        assert!(CrossStats::from_parts(1, vec![0.0], vec![1.0], vec![0.0]).is_err());
        assert!(CrossStats::from_parts(1, vec![2.0], vec![f64::INFINITY], vec![0.0]).is_err());
        assert!(CrossStats::from_parts(1, vec![], vec![], vec![]).is_err());
        let one = CrossStats::from_parts(1, vec![2.0], vec![1.0], vec![0.5]).unwrap();
        assert!(CrossStats::pool(&one, &[1], 1).is_err());
        assert!(CrossStats::pool(&one, &[], 1).is_err());
    }
}
