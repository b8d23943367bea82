//! Sampling in the data's own units: every model is sampled on the
//! response standardised by a centre and a scale taken from the data, and
//! its draws are mapped back as they are reported (MATHS.md section 11).
//!
//! The family is invariant under an affine change of units `y -> c + s y`:
//! locations map by the same map, standard deviations by `s`, precisions by
//! `1/s^2`, and the priors with them. Sampling on the standardised scale
//! therefore gives the same posterior, while every quantity the sweeps form
//! (precisions, their products with counts, squared deviations) stays near
//! 1 whatever the units. Without it, data measured in units of 1e-80 or
//! 1e100 overflow or underflow in the products `n_k tau_w tau_b`.
//!
//! A prior that is extreme on the standardised scale (a prior mean 1e200
//! data standard deviations away, a precision of 1e-310) would overflow the
//! same arithmetic; such values are refused here, before any sampling.

use crate::chains::Posterior;
use crate::prior::SdPrior;
use crate::spec::{TreePrior, Within};
use crate::{Error, GroupStats, SamplerKind};
use rand_pcg::Pcg64;

/// Standardised prior values must lie within these bounds: far beyond any
/// prior that says something about the data, and far enough inside the
/// range of doubles that squares and products of them stay finite.
const MAX_STANDARDISED: f64 = 1e50;
const MIN_STANDARDISED: f64 = 1e-50;

/// The change of units `y = centre + scale * z` from the standardised
/// response `z` back to the data's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Units {
    pub centre: f64,
    pub scale: f64,
}

/// What a reported value measures, which fixes how it changes with units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantity {
    /// A mean (mu, a group effect): maps as `centre + scale * value`.
    Location,
    /// A standard deviation: maps as `scale * value`.
    Spread,
    /// A count or other pure number (`nu0`): unchanged.
    Number,
}

impl Units {
    /// The data's mean and standard deviation, from the group statistics:
    /// the pooled mean and the total variance about it (counts as weights;
    /// with known precisions, the weights are those precisions and the
    /// scale is the typical standard error, `sqrt(K / sum_k w_k)`).
    pub fn of(stats: &GroupStats, within: &Within) -> Result<Self, Error> {
        let (n, ybar, ss) = (stats.n(), stats.ybar(), stats.ss());
        let total = stats.n_total();
        let centre = n.iter().zip(ybar).map(|(w, y)| w / total * y).sum::<f64>();
        let scale = match within {
            Within::Known => (n.len() as f64 / total).sqrt(),
            _ => {
                // Deviations first divided by the largest of them (and of
                // the root sums of squares), so that data whose spread is
                // representable never square past the range of doubles.
                let largest = ybar
                    .iter()
                    .map(|y| (y - centre).abs())
                    .chain(ss.iter().map(|s| s.sqrt()))
                    .fold(0.0, f64::max)
                    .max(f64::MIN_POSITIVE);
                let between: f64 = n
                    .iter()
                    .zip(ybar)
                    .map(|(w, y)| w * ((y - centre) / largest).powi(2))
                    .sum();
                let within_ss: f64 = ss.iter().map(|s| s / largest / largest).sum();
                let df = (total - 1.0).max(1.0);
                largest * ((between + within_ss) / df).sqrt()
            }
        };
        if !centre.is_finite() {
            return Err(Error::InvalidData(
                "the response's mean is not a finite double; rescale the response".into(),
            ));
        }
        if !scale.is_finite() {
            return Err(Error::InvalidData(
                "the response's spread overflows double precision; rescale the response".into(),
            ));
        }
        // All values equal: any scale serves; one near the values' size
        // keeps the prior's own scale in view.
        let scale = if scale >= f64::MIN_POSITIVE {
            scale
        } else if centre != 0.0 {
            centre.abs()
        } else {
            1.0
        };
        Ok(Self { centre, scale })
    }

    /// The statistics of the standardised response.
    pub fn standardise_stats(
        &self,
        stats: &GroupStats,
        within: &Within,
    ) -> Result<GroupStats, Error> {
        let (n, ss): (Vec<f64>, Vec<f64>) = match within {
            // Precisions 1/se^2 grow by s^2; their weighted sums of squares
            // are pure numbers.
            Within::Known => (
                stats
                    .n()
                    .iter()
                    .map(|w| w * self.scale * self.scale)
                    .collect(),
                stats.ss().to_vec(),
            ),
            _ => (
                stats.n().to_vec(),
                stats
                    .ss()
                    .iter()
                    .map(|s| s / self.scale / self.scale)
                    .collect(),
            ),
        };
        let ybar = stats
            .ybar()
            .iter()
            .map(|y| (y - self.centre) / self.scale)
            .collect();
        GroupStats::from_summaries(n, ybar, ss).map_err(|_| {
            Error::InvalidData(
                "the response's spread is too small or too large for double precision; \
                 rescale the response"
                    .into(),
            )
        })
    }

    /// The prior of the standardised parameters: the same prior, in units
    /// of the data's scale. Refuses values whose arithmetic would overflow.
    pub fn standardise_prior(&self, prior: &TreePrior) -> Result<TreePrior, Error> {
        let sd = self.scale;
        let mu0 = (prior.mu0 - self.centre) / sd;
        if !(mu0.is_finite() && mu0.abs() <= MAX_STANDARDISED) {
            return Err(Error::InvalidPrior(format!(
                "mu0 = {:e} lies {:.1e} data standard deviations (sd {sd:.3e}) from the \
                 data's mean {:.3e}; more than {MAX_STANDARDISED:e} overflows the arithmetic: \
                 choose a mu0 nearer the data",
                prior.mu0,
                mu0.abs(),
                self.centre
            )));
        }
        // A precision tau (or a Gamma rate on one) in the data's units is
        // tau * sd^2 (a rate b / sd^2) in the standardised ones.
        let bounded = |name: &str, value: f64, standardised: f64| {
            if (MIN_STANDARDISED..=MAX_STANDARDISED).contains(&standardised) {
                Ok(standardised)
            } else {
                Err(Error::InvalidPrior(format!(
                    "{name} = {value:e} is {standardised:.1e} in units of the data's standard \
                     deviation ({sd:.3e}); outside [{MIN_STANDARDISED:e}, {MAX_STANDARDISED:e}] \
                     the arithmetic overflows, and a value at either bound is already as vague \
                     or as tight as a prior can usefully be"
                )))
            }
        };
        let shape = |name: &str, value: f64| bounded(name, value, value);
        // Every parameter of a prior on an sd, on the standardised scale.
        let sd_prior = |name: &str, p: &SdPrior| {
            let standardised = p.standardised(sd);
            for ((parameter, value), (_, scaled)) in
                p.parameters().into_iter().zip(standardised.parameters())
            {
                bounded(
                    &format!("the {parameter} of the prior on {name}"),
                    value,
                    scaled,
                )?;
            }
            Ok::<_, Error>(standardised)
        };
        let levels = prior
            .levels
            .iter()
            .enumerate()
            .map(|(l, p)| sd_prior(&format!("the sd of level {}", l + 1), p))
            .collect::<Result<Vec<_>, Error>>()?;
        let within = match prior.within {
            Within::Common { prior } => Within::Common {
                prior: sd_prior("sd_w", &prior)?,
            },
            Within::Known => Within::Known,
            Within::Group {
                centre,
                lambda,
                nu_max,
            } => Within::Group {
                centre: sd_prior("sd_w0", &centre)?,
                lambda: shape("lambda", lambda)?,
                nu_max,
            },
        };
        Ok(TreePrior {
            mu0,
            tau0: bounded("tau0", prior.tau0, prior.tau0 * sd * sd)?,
            levels,
            within,
        })
    }

    /// `(shift, factor)` of the map back to the data's units.
    fn map(&self, quantity: Quantity) -> (f64, f64) {
        match quantity {
            Quantity::Location => (self.centre, self.scale),
            Quantity::Spread => (0.0, self.scale),
            Quantity::Number => (0.0, 1.0),
        }
    }
}

/// A model sampled on the standardised response whose draws the chains
/// store in the data's units (`Posterior::report_map`).
#[derive(Debug, Clone)]
pub struct InUnits<P> {
    inner: P,
    maps: Vec<(f64, f64)>,
}

impl<P: Posterior> InUnits<P> {
    pub fn new(inner: P, units: Units) -> Self {
        let maps = inner
            .quantities()
            .into_iter()
            .map(|q| units.map(q))
            .collect();
        Self { inner, maps }
    }

    pub fn inner(&self) -> &P {
        &self.inner
    }
}

impl<P: Posterior> Posterior for InUnits<P> {
    type Chain = P::Chain;

    fn n_reported(&self, keep_groups: bool) -> usize {
        self.inner.n_reported(keep_groups)
    }

    fn quantities(&self) -> Vec<Quantity> {
        self.inner.quantities()
    }

    fn supports(&self, sampler: SamplerKind) -> bool {
        self.inner.supports(sampler)
    }

    fn start(&self, sampler: SamplerKind, rng: &mut Pcg64) -> Self::Chain {
        self.inner.start(sampler, rng)
    }

    fn sweep(&self, chain: &mut Self::Chain, rng: &mut Pcg64, warmup: bool) -> Result<(), Error> {
        self.inner.sweep(chain, rng, warmup)
    }

    /// The standardised values; `report_map` maps them to the data's units.
    fn report(&self, chain: &Self::Chain, out: &mut [f64]) {
        self.inner.report(chain, out);
    }

    fn report_map(&self) -> Option<&[(f64, f64)]> {
        Some(&self.maps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats() -> GroupStats {
        let obs = (0..30).map(|i| (i % 3, (i % 5) as f64 + 2.0 * (i % 3) as f64));
        GroupStats::from_observations(3, obs).unwrap()
    }

    fn prior() -> TreePrior {
        TreePrior {
            mu0: 1.0,
            tau0: 0.5,
            levels: vec![SdPrior::GammaPrecision {
                shape: 1.0,
                rate: 2.0,
            }],
            within: Within::Common {
                prior: SdPrior::GammaPrecision {
                    shape: 1.0,
                    rate: 2.0,
                },
            },
        }
    }

    #[test]
    fn standardised_statistics_have_mean_zero_and_unit_spread() {
        let within = prior().within;
        let units = Units::of(&stats(), &within).unwrap();
        let z = units.standardise_stats(&stats(), &within).unwrap();
        let again = Units::of(&z, &within).unwrap();
        assert!(again.centre.abs() < 1e-12, "{again:?}");
        assert!((again.scale - 1.0).abs() < 1e-12, "{again:?}");
    }

    #[test]
    fn a_change_of_units_changes_only_the_units() {
        let within = prior().within;
        let base = Units::of(&stats(), &within).unwrap();
        for (c, s) in [(5e-80, 1e-80), (-3e100, 1e100), (0.0, 1e-150), (1e6, 1e3)] {
            let scaled = GroupStats::from_summaries(
                stats().n().to_vec(),
                stats().ybar().iter().map(|y| c + s * y).collect(),
                stats().ss().iter().map(|v| v * s * s).collect(),
            )
            .unwrap();
            let units = Units::of(&scaled, &within).unwrap();
            let z = units.standardise_stats(&scaled, &within).unwrap();
            let z0 = base.standardise_stats(&stats(), &within).unwrap();
            for (a, b) in z.ybar().iter().zip(z0.ybar()) {
                assert!((a - b).abs() < 1e-9, "{a} vs {b} at scale {s}");
            }
            for (a, b) in z.ss().iter().zip(z0.ss()) {
                assert!((a - b).abs() < 1e-9 * b.max(1.0), "{a} vs {b} at scale {s}");
            }
        }
    }

    #[test]
    fn a_spread_that_overflows_is_refused() {
        let huge =
            GroupStats::from_summaries(vec![1.0, 1.0], vec![1.7e308, -1.7e308], vec![0.0, 0.0])
                .unwrap();
        let err = Units::of(&huge, &prior().within).unwrap_err();
        assert!(err.to_string().contains("overflows"), "{err}");
    }

    #[test]
    fn extreme_priors_are_refused_with_their_name() {
        let within = prior().within;
        let units = Units::of(&stats(), &within).unwrap();
        assert!(units.standardise_prior(&prior()).is_ok());
        let cases = [
            (
                "mu0",
                TreePrior {
                    mu0: 1e200,
                    ..prior()
                },
            ),
            (
                "tau0",
                TreePrior {
                    tau0: 1e-310,
                    ..prior()
                },
            ),
            (
                "rate",
                TreePrior {
                    levels: vec![SdPrior::GammaPrecision {
                        shape: 1.0,
                        rate: 1e300,
                    }],
                    ..prior()
                },
            ),
            (
                "shape",
                TreePrior {
                    levels: vec![SdPrior::GammaPrecision {
                        shape: 1e-60,
                        rate: 1.0,
                    }],
                    ..prior()
                },
            ),
        ];
        for (name, p) in cases {
            let err = units.standardise_prior(&p).unwrap_err().to_string();
            assert!(err.contains(name), "{err}");
        }
    }
}
