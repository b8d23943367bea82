//! Random streams and the Gamma draw in the lecture's (shape, rate) form.

use rand::Rng;
use rand_distr::{Distribution, Gamma};
use rand_pcg::Pcg64;

use crate::Error;

/// SplitMix64 finaliser: spreads nearby seeds (0, 1, 2, ...) over the whole
/// state space so that seeds differing in one bit give unrelated streams.
fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The random stream of chain `chain` (0-based) for a run with `seed`.
///
/// Both the PCG state and the PCG stream (increment) depend on the chain, so
/// chains are independent streams rather than one stream at different
/// offsets, and a chain's draws depend only on `(seed, chain)`.
pub fn chain_rng(seed: u64, chain: usize) -> Pcg64 {
    let chain = chain as u64;
    let hi = splitmix64(seed ^ splitmix64(chain));
    let lo = splitmix64(hi ^ chain.rotate_left(32));
    let state = (u128::from(hi) << 64) | u128::from(lo);
    Pcg64::new(state, u128::from(chain))
}

/// `G(shape, rate)` with a fixed shape and a rate given at each draw.
///
/// `rand_distr::Gamma::new` takes a *scale*; the lecture's conditionals give a
/// *rate*. Drawing `G(shape, 1)` and dividing by the rate keeps the
/// conversion in one place (and the shape's set-up out of the sweep).
#[derive(Debug, Clone)]
pub struct GammaRate {
    unit: Gamma<f64>,
}

impl GammaRate {
    /// A Gamma family with this shape; fails unless `shape` is finite and > 0.
    pub fn new(shape: f64) -> Result<Self, Error> {
        if !(shape.is_finite() && shape > 0.0) {
            return Err(Error::InvalidPrior(format!(
                "Gamma shape must be finite and positive, not {shape}"
            )));
        }
        let unit = Gamma::new(shape, 1.0)
            .map_err(|e| Error::InvalidPrior(format!("Gamma shape {shape}: {e}")))?;
        Ok(Self { unit })
    }

    /// One draw from `G(shape, rate)`; `rate` must be positive.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R, rate: f64) -> f64 {
        self.unit.sample(rng) / rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngExt;

    #[test]
    fn gamma_rate_is_a_rate_not_a_scale() {
        // G(3, rate 4) has mean 3/4 and variance 3/16; used as a scale it
        // would have mean 12.
        let g = GammaRate::new(3.0).unwrap();
        let mut rng = chain_rng(11, 0);
        let n = 200_000;
        let draws: Vec<f64> = (0..n).map(|_| g.sample(&mut rng, 4.0)).collect();
        let mean = draws.iter().sum::<f64>() / n as f64;
        let var = draws.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let se = (3.0f64 / 16.0 / n as f64).sqrt();
        assert!((mean - 0.75).abs() < 5.0 * se, "mean {mean}");
        assert!((var - 3.0 / 16.0).abs() < 0.01, "var {var}");
    }

    #[test]
    fn gamma_rejects_bad_shapes() {
        for shape in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(GammaRate::new(shape).is_err());
        }
    }

    #[test]
    fn chains_get_different_streams_and_seeds_reproduce() {
        let first = |seed, chain| {
            let mut rng = chain_rng(seed, chain);
            (0..8).map(|_| rng.random::<u64>()).collect::<Vec<_>>()
        };
        assert_eq!(first(42, 0), first(42, 0));
        assert_ne!(first(42, 0), first(42, 1));
        assert_ne!(first(42, 1), first(42, 2));
        assert_ne!(first(42, 0), first(43, 0));
        // One chain's stream is not another's shifted by a few steps.
        let a = first(7, 0);
        let mut rng = chain_rng(7, 1);
        let b: Vec<u64> = (0..1000).map(|_| rng.random::<u64>()).collect();
        assert!(a.iter().all(|x| !b.contains(x)));
    }
}
