use rand::Rng;

use crate::Error;
use crate::random::GammaRate;
use crate::slice::slice_step;

/// A prior on a standard deviation `sd` (of a level of groups, or of the
/// observations within groups), written for the precision `tau = 1/sd^2`
/// that the samplers move. The lecture's Gamma on the precision is
/// conjugate; the others (Gelman 2006; the exponential is the PC prior) are
/// sampled by slice steps on `log tau` (MATHS.md section 12).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SdPrior {
    /// `tau ~ G(shape, rate)`.
    GammaPrecision { shape: f64, rate: f64 },
    /// `sd ~ N+(0, scale)`.
    HalfNormal { scale: f64 },
    /// `sd ~ t+(df, 0, scale)`; the half-Cauchy is `df = 1`.
    HalfStudentT { df: f64, scale: f64 },
    /// `sd ~ Exp(rate)`.
    Exponential { rate: f64 },
    /// `sd ~ U(0, upper)`.
    Uniform { upper: f64 },
    /// `sd^2 ~ G(shape, rate)`: Hoff's prior on the centre of group-specific
    /// variances, `sigma0^2 ~ G(a0, b0)`.
    GammaVariance { shape: f64, rate: f64 },
}

impl SdPrior {
    /// The Gamma prior `(shape, rate)` on the precision, if that is the
    /// family: then the precision's conditionals are Gamma too.
    pub fn conjugate(&self) -> Option<(f64, f64)> {
        match *self {
            SdPrior::GammaPrecision { shape, rate } => Some((shape, rate)),
            _ => None,
        }
    }

    /// The Gamma prior `(shape, rate)` on the variance, if that is the
    /// family.
    pub fn conjugate_variance(&self) -> Option<(f64, f64)> {
        match *self {
            SdPrior::GammaVariance { shape, rate } => Some((shape, rate)),
            _ => None,
        }
    }

    /// The power `a` of the prior density of the variance `v = sd^2` near
    /// 0, `p(v) ~ v^(a - 1)`: the Gamma's shape on the variance; `1/2` for a
    /// density of the sd that is positive and finite at 0; unbounded for the
    /// Gamma on the precision, whose density vanishes faster than any power.
    pub fn variance_power_at_zero(&self) -> f64 {
        match *self {
            SdPrior::GammaVariance { shape, .. } => shape,
            SdPrior::GammaPrecision { .. } => f64::INFINITY,
            _ => 0.5,
        }
    }

    /// Log density of `x = log tau`, up to a constant, given also
    /// `tau = e^x` (which the callers have). With `sd = e^(-x/2)` and
    /// `|d sd / d x| = sd / 2`, `log p(x) = log p_sd(sd) + log sd`.
    pub fn log_density_log_precision(&self, x: f64, tau: f64) -> f64 {
        match *self {
            SdPrior::GammaPrecision { shape, rate } => shape * x - rate * tau,
            SdPrior::HalfNormal { scale } => -0.5 / (tau * scale * scale) - 0.5 * x,
            SdPrior::HalfStudentT { df, scale } => {
                -0.5 * (df + 1.0) * (1.0 / (tau * df * scale * scale)).ln_1p() - 0.5 * x
            }
            SdPrior::Exponential { rate } => -rate / tau.sqrt() - 0.5 * x,
            SdPrior::Uniform { upper } => {
                if tau * upper * upper >= 1.0 {
                    -0.5 * x
                } else {
                    f64::NEG_INFINITY
                }
            }
            // v = 1/tau = e^(-x), |dv/dx| = v: v^shape exp(-rate v)
            SdPrior::GammaVariance { shape, rate } => -shape * x - rate / tau,
        }
    }

    /// The constant that makes `log_density_log_precision` a normalised
    /// log density of `x = log tau` (MATHS.md section 14.1); with
    /// `log |d sd / d x| = log sd - log 2`, each family's density of the sd
    /// supplies the rest.
    pub fn log_normaliser(&self) -> f64 {
        let ln2 = std::f64::consts::LN_2;
        let ln_pi = std::f64::consts::PI.ln();
        match *self {
            SdPrior::GammaPrecision { shape, rate } | SdPrior::GammaVariance { shape, rate } => {
                shape * rate.ln() - ln_gamma(shape)
            }
            // 2 / (scale sqrt(2 pi)), halved by the Jacobian
            SdPrior::HalfNormal { scale } => -scale.ln() - 0.5 * (ln2 + ln_pi),
            SdPrior::HalfStudentT { df, scale } => {
                ln_gamma(0.5 * (df + 1.0))
                    - ln_gamma(0.5 * df)
                    - 0.5 * (df.ln() + ln_pi)
                    - scale.ln()
            }
            SdPrior::Exponential { rate } => rate.ln() - ln2,
            SdPrior::Uniform { upper } => -upper.ln() - ln2,
        }
    }

    /// A starting precision inside the prior's support: `tau` itself unless
    /// its sd lies beyond a uniform's upper bound, then one whose sd is in
    /// the middle of the support (a slice step cannot leave a point of
    /// density 0).
    pub fn in_support(&self, tau: f64) -> f64 {
        match *self {
            SdPrior::Uniform { upper } => {
                let inside = tau * upper * upper > 1.0;
                if inside { tau } else { 4.0 / (upper * upper) }
            }
            _ => tau,
        }
    }

    /// The same prior for `sd / scale`, the standard deviation of the
    /// standardised response.
    pub fn standardised(&self, scale: f64) -> Self {
        match *self {
            SdPrior::GammaPrecision { shape, rate } => SdPrior::GammaPrecision {
                shape,
                rate: rate / scale / scale,
            },
            SdPrior::HalfNormal { scale: s } => SdPrior::HalfNormal { scale: s / scale },
            SdPrior::HalfStudentT { df, scale: s } => SdPrior::HalfStudentT {
                df,
                scale: s / scale,
            },
            SdPrior::Exponential { rate } => SdPrior::Exponential { rate: rate * scale },
            SdPrior::Uniform { upper } => SdPrior::Uniform {
                upper: upper / scale,
            },
            SdPrior::GammaVariance { shape, rate } => SdPrior::GammaVariance {
                shape,
                rate: rate * scale * scale,
            },
        }
    }

    /// Its parameters by name, for checks and messages.
    pub fn parameters(&self) -> Vec<(&'static str, f64)> {
        match *self {
            SdPrior::GammaPrecision { shape, rate } => vec![("shape", shape), ("rate", rate)],
            SdPrior::HalfNormal { scale } => vec![("scale", scale)],
            SdPrior::HalfStudentT { df, scale } => vec![("df", df), ("scale", scale)],
            SdPrior::Exponential { rate } => vec![("rate", rate)],
            SdPrior::Uniform { upper } => vec![("upper", upper)],
            SdPrior::GammaVariance { shape, rate } => vec![("shape", shape), ("rate", rate)],
        }
    }

    /// Every parameter finite and positive; `name` is the sd's.
    pub fn validate(&self, name: &str) -> Result<(), Error> {
        for (parameter, value) in self.parameters() {
            if !(value.is_finite() && value > 0.0) {
                return Err(Error::InvalidPrior(format!(
                    "the {parameter} of the prior on {name} must be finite and positive, not {value}"
                )));
            }
        }
        Ok(())
    }
}

/// `log Gamma(x)` for `x > 0`, by Lanczos's series (g = 7, nine terms;
/// relative error below 1e-14), with the reflection `Gamma(x) Gamma(1 - x)
/// = pi / sin(pi x)` below 1/2.
pub(crate) fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const COEFFICIENTS: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    let pi = std::f64::consts::PI;
    if x < 0.5 {
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + G + 0.5;
    let series = COEFFICIENTS[1..]
        .iter()
        .enumerate()
        .fold(COEFFICIENTS[0], |acc, (i, c)| {
            acc + c / (x + i as f64 + 1.0)
        });
    0.5 * (2.0 * pi).ln() + (x + 0.5) * t.ln() - t + series.ln()
}

/// The conditional of a precision given `count` normal deviations with sum
/// of squares `ss`: `tau^(count/2) exp(-tau ss/2) p(tau)`. A Gamma draw
/// when the prior is conjugate (its shape fixed here), a slice step on
/// `log tau` from the current value otherwise.
#[derive(Debug, Clone)]
pub struct PrecisionConditional {
    prior: SdPrior,
    half_count: f64,
    gamma: Option<(GammaRate, f64)>,
}

impl PrecisionConditional {
    pub fn new(prior: SdPrior, count: f64) -> Result<Self, Error> {
        let gamma = match prior.conjugate() {
            Some((shape, rate)) => Some((GammaRate::new(shape + count / 2.0)?, rate)),
            None => None,
        };
        Ok(Self {
            prior,
            half_count: count / 2.0,
            gamma,
        })
    }

    pub fn draw<R: Rng + ?Sized>(&self, current: f64, ss: f64, rng: &mut R) -> Result<f64, Error> {
        if let Some((shape, rate)) = &self.gamma {
            return Ok(shape.sample(rng, rate + ss / 2.0));
        }
        let log_f = |x: f64| {
            let tau = x.exp();
            self.half_count * x - 0.5 * ss * tau + self.prior.log_density_log_precision(x, tau)
        };
        let x0 = current.ln();
        // The conditional of log tau has sd about 1/sqrt(count/2).
        let width = (2.0 / self.half_count.max(0.25).sqrt()).min(10.0);
        Ok(slice_step(x0, log_f(x0), log_f, width, rng)?.0.exp())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain_rng;

    const FAMILIES: [SdPrior; 6] = [
        SdPrior::GammaPrecision {
            shape: 1.5,
            rate: 2.0,
        },
        SdPrior::HalfNormal { scale: 0.7 },
        SdPrior::HalfStudentT {
            df: 1.0,
            scale: 0.5,
        },
        SdPrior::Exponential { rate: 1.3 },
        SdPrior::Uniform { upper: 1.1 },
        SdPrior::GammaVariance {
            shape: 2.0,
            rate: 1.5,
        },
    ];

    /// E[sd] under `tau^(count/2) exp(-tau ss/2) p(tau)`, by quadrature on
    /// log tau.
    fn quadrature_mean_sd(prior: &SdPrior, count: f64, ss: f64) -> f64 {
        let (mut total, mut weighted) = (0.0, 0.0);
        let n = 200_000;
        for i in 0..n {
            let x = -20.0 + 40.0 * (i as f64 + 0.5) / n as f64;
            let tau = x.exp();
            let log_f = 0.5 * count * x - 0.5 * ss * tau + prior.log_density_log_precision(x, tau);
            let f = log_f.exp();
            total += f;
            weighted += f / tau.sqrt();
        }
        weighted / total
    }

    #[test]
    fn every_family_samples_its_precision_conditional() {
        for prior in FAMILIES {
            let (count, ss) = (4.0, 3.0);
            let conditional = PrecisionConditional::new(prior, count).unwrap();
            let mut rng = chain_rng(3, 0);
            let mut tau = 1.0 / 0.9f64.powi(2);
            let n = 200_000;
            let (mut sum, mut sum_sq) = (0.0, 0.0);
            for _ in 0..n {
                tau = conditional.draw(tau, ss, &mut rng).unwrap();
                let sd = 1.0 / tau.sqrt();
                sum += sd;
                sum_sq += sd * sd;
            }
            let mean = sum / n as f64;
            let sd = (sum_sq / n as f64 - mean * mean).sqrt();
            let exact = quadrature_mean_sd(&prior, count, ss);
            // slice draws are correlated: allow an ESS of n/5
            let se = sd / (n as f64 / 5.0).sqrt();
            assert!(
                (mean - exact).abs() < 5.0 * se,
                "{prior:?}: {mean} vs {exact}"
            );
        }
    }

    #[test]
    fn ln_gamma_matches_known_values() {
        let pi = std::f64::consts::PI;
        for (x, exact) in [
            (0.5, 0.5 * pi.ln()),
            (1.0, 0.0),
            (2.0, 0.0),
            (3.5, (15.0 / 8.0 * pi.sqrt()).ln()),
            (10.0, 362_880.0f64.ln()),
            (0.1, 2.252_712_651_734_206),
            (171.5, 709.143_163_030_928_2),
        ] {
            let got = ln_gamma(x);
            assert!(
                (got - exact).abs() < 1e-12 * exact.abs().max(1.0),
                "{x}: {got} vs {exact}"
            );
        }
    }

    #[test]
    fn every_family_is_normalised_on_log_precision() {
        for prior in FAMILIES {
            let n = 400_000;
            let (lo, hi) = (-40.0, 40.0);
            let h = (hi - lo) / n as f64;
            let total: f64 = (0..n)
                .map(|i| {
                    let x = lo + h * (i as f64 + 0.5);
                    (prior.log_density_log_precision(x, x.exp()) + prior.log_normaliser()).exp()
                })
                .sum::<f64>()
                * h;
            // the midpoint rule is exact to O(h) only across the uniform's edge
            let tolerance = match prior {
                SdPrior::Uniform { .. } => h,
                _ => 1e-6,
            };
            assert!((total - 1.0).abs() < tolerance, "{prior:?}: {total}");
        }
    }

    #[test]
    fn standardising_rescales_the_sd() {
        // The density of sd/s under the standardised prior is that of sd.
        for prior in FAMILIES {
            let s = 7.5;
            let z = prior.standardised(s);
            let log_p = |p: &SdPrior, sd: f64| {
                let x = -2.0 * sd.ln();
                p.log_density_log_precision(x, x.exp())
            };
            let base = log_p(&prior, 0.4) - log_p(&z, 0.4 / s);
            for sd in [0.1, 0.3, 0.9] {
                let d = log_p(&prior, sd) - log_p(&z, sd / s);
                assert!((d - base).abs() < 1e-9, "{prior:?} at {sd}: {d} vs {base}");
            }
        }
    }
}
