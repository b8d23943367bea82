//! The transition kernels. All leave the same posterior invariant and share
//! the model's conditionals; they differ in how fast they mix (MATHS.md
//! sections 3.1, 6.1 and 7).

use rand::Rng;

use crate::model::Workspace;
use crate::slice::{TunedSlices, slice_step};
use crate::{Error, Model, State};

/// Which transition kernel moves the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SamplerKind {
    /// The lecture's centred Gibbs sweep (MATHS.md section 3.1): mu, tau_b,
    /// theta, tau_w.
    Gibbs,
    /// tau_b, then tau_w, each by a slice step with mu and theta integrated
    /// out, then mu and theta exactly (MATHS.md section 6.1).
    Collapsed,
    /// Ancillarity-sufficiency interweaving (Yu and Meng 2011; MATHS.md
    /// section 7): theta, (mu, tau_b) given theta, (mu, tau_b) given the
    /// standardised effects, tau_w.
    Asis,
}

impl SamplerKind {
    /// The sampler's name as the R interface spells it.
    pub fn name(self) -> &'static str {
        match self {
            SamplerKind::Gibbs => "gibbs",
            SamplerKind::Collapsed => "collapsed",
            SamplerKind::Asis => "asis",
        }
    }

    /// Parses the R interface's name.
    pub fn from_name(name: &str) -> Result<Self, Error> {
        [
            SamplerKind::Gibbs,
            SamplerKind::Collapsed,
            SamplerKind::Asis,
        ]
        .into_iter()
        .find(|k| k.name() == name)
        .ok_or_else(|| Error::InvalidSettings(format!("unknown sampler {name:?}")))
    }
}

/// One chain's kernel: the sampler and what it tunes during warm-up.
#[derive(Debug, Clone)]
pub struct Kernel {
    kind: SamplerKind,
    /// The slice steps on (log tau_b, log tau_w) (collapsed sampler).
    slices: TunedSlices<2>,
    /// The collapsed sampler's last point and its log density, which the
    /// next step starts from (nothing else changes the precisions).
    last_point: Option<([f64; 2], f64)>,
    workspace: Workspace,
}

impl Kernel {
    pub fn new(kind: SamplerKind) -> Self {
        Self {
            kind,
            slices: TunedSlices::default(),
            last_point: None,
            workspace: Workspace::default(),
        }
    }

    /// One sweep; `warmup` lets the kernel tune itself.
    pub fn sweep<R: Rng + ?Sized>(
        &mut self,
        model: &Model,
        st: &mut State,
        rng: &mut R,
        warmup: bool,
    ) -> Result<(), Error> {
        match self.kind {
            SamplerKind::Gibbs => {
                model.draw_mu_given_theta(st, rng);
                model.draw_tau_b_given_theta(st, rng)?;
                model.draw_theta(st, &mut self.workspace, rng);
                model.draw_tau_w(st, rng)?;
            }
            SamplerKind::Collapsed => {
                let (x0, log_f_x0) = match self.last_point {
                    Some((x, log_f_x)) if x.map(f64::exp) == [st.tau_b, st.tau_w] => {
                        (x, Some(log_f_x))
                    }
                    _ => ([st.tau_b.ln(), st.tau_w.ln()], None),
                };
                // log tau_b and log tau_w from their density with mu and
                // theta integrated out. The last evaluation's marginal of mu
                // serves the mu step when it is the accepted point.
                let mut last = None;
                let (x, log_f_x) = self.slices.step(
                    x0,
                    log_f_x0,
                    |x| {
                        let (log_density, marginal) = model.collapsed_log_density(*x);
                        last = Some((*x, marginal));
                        log_density
                    },
                    rng,
                    warmup,
                )?;
                self.last_point = Some((x, log_f_x));
                [st.tau_b, st.tau_w] = x.map(f64::exp);
                // The precisions move as a chain of their own, so mu and
                // theta are drawn only for the draws that are kept (what
                // the slice steps integrated out is redrawn straight after
                // them: partially collapsed Gibbs).
                if warmup {
                    return Ok(());
                }
                match last {
                    Some((last_x, marginal)) if last_x == x => {
                        model.draw_mu_from(marginal, st, rng)
                    }
                    _ => model.draw_mu_marginal(st, rng),
                }
                model.draw_theta(st, &mut self.workspace, rng);
            }
            SamplerKind::Asis => {
                model.draw_theta(st, &mut self.workspace, rng);
                model.draw_mu_tau_b_given_theta(st, rng)?;
                ancillary_step(model, st, rng)?;
                model.draw_tau_w(st, rng)?;
            }
        }
        Ok(())
    }
}

/// The interweaving sampler's ancillary step (MATHS.md section 7.2): with
/// the standardised effects `eta_k = (theta_k - mu)/s` held fixed, draw
/// `s = sd_b` (mu integrated out) by a slice step on `log s`, then mu, and
/// map back to theta.
fn ancillary_step<R: Rng + ?Sized>(
    model: &Model,
    st: &mut State,
    rng: &mut R,
) -> Result<(), Error> {
    let prior = model.prior();
    let s0 = 1.0 / st.tau_b.sqrt();
    let (p_sum, c) = model.pooled_precision_and_mean(st.tau_w);
    let (mut e1, mut pee, mut b) = (0.0, 0.0, 0.0);
    let sqrt_tau_b = st.tau_b.sqrt();
    for ((p, ybar), theta) in model.group_precisions(st.tau_w).zip(&st.theta) {
        let eta = (theta - st.mu) * sqrt_tau_b;
        e1 += p * eta;
        pee += p * eta * eta;
        b += p * (ybar - c) * eta;
    }
    let a = (pee - e1 * e1 / p_sum).max(0.0);
    // The prior on log s = -log(tau_b) / 2 is that on log tau_b at -2u.
    let log_density = |u: f64| {
        let s = u.exp();
        prior
            .between
            .log_density_log_precision(-2.0 * u, 1.0 / (s * s))
            - 0.5 * a * s * s
            + b * s
    };
    let width = if b > 0.0 {
        (2.5 * a.sqrt() / b).clamp(1e-4, 3.0)
    } else {
        3.0
    };
    let u0 = s0.ln();
    let s = slice_step(u0, log_density(u0), log_density, width, rng)?
        .0
        .exp();
    let eta_scale = s / s0;
    let mu = c - s * e1 / p_sum + crate::model::std_normal(rng) / p_sum.sqrt();
    let old_mu = st.mu;
    for theta in st.theta.iter_mut() {
        *theta = mu + (*theta - old_mu) * eta_scale;
    }
    st.mu = mu;
    st.tau_b = 1.0 / (s * s);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampler_names_round_trip() {
        for kind in [
            SamplerKind::Gibbs,
            SamplerKind::Collapsed,
            SamplerKind::Asis,
        ] {
            assert_eq!(SamplerKind::from_name(kind.name()).unwrap(), kind);
        }
        assert!(SamplerKind::from_name("nuts").is_err());
    }
}
