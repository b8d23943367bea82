use crate::Error;

/// The lecture's priors of the two-level model:
/// `mu ~ N(mu0, 1/tau0)`, `tau_b ~ G(a, b)`, `tau_w ~ G(alpha, beta)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HierPrior {
    pub mu0: f64,
    pub tau0: f64,
    pub a: f64,
    pub b: f64,
    pub alpha: f64,
    pub beta: f64,
}

impl HierPrior {
    /// Checks that `mu0` is finite and every other value finite and positive.
    pub fn validate(&self) -> Result<(), Error> {
        if !self.mu0.is_finite() {
            return Err(Error::InvalidPrior(format!(
                "mu0 must be finite, not {}",
                self.mu0
            )));
        }
        let positive = [
            ("tau0", self.tau0),
            ("a", self.a),
            ("b", self.b),
            ("alpha", self.alpha),
            ("beta", self.beta),
        ];
        for (name, value) in positive {
            if !(value.is_finite() && value > 0.0) {
                return Err(Error::InvalidPrior(format!(
                    "{name} must be finite and positive, not {value}"
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_names_the_bad_value() {
        let ok = HierPrior {
            mu0: 0.0,
            tau0: 1.0,
            a: 1.0,
            b: 1.0,
            alpha: 1.0,
            beta: 1.0,
        };
        assert!(ok.validate().is_ok());
        let bad = HierPrior { beta: 0.0, ..ok };
        assert!(bad.validate().unwrap_err().to_string().contains("beta"));
        let bad = HierPrior {
            mu0: f64::NAN,
            ..ok
        };
        assert!(bad.validate().unwrap_err().to_string().contains("mu0"));
    }
}
