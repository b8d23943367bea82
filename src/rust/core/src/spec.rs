//! What a model is, apart from its data: the priors of the tree of levels
//! and the columns its draws report, in the order they are stored. Every
//! caller names the columns from [`Layout`], so that no second list of
//! names can fall out of step with the draws.

use crate::prior::SdPrior;
use crate::{Error, Quantity};

/// How the data precision of a last-level node is modelled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Within {
    /// One precision `tau_w` shared by every node, with this prior on its
    /// sd.
    Common { prior: SdPrior },
    /// Known precisions: the statistics' weights are the precisions
    /// `sum_i 1/se_i^2` and there is nothing to sample.
    Known,
    /// `1/sigma_j^2 ~ G(nu0/2, nu0 sigma0^2/2)`, `centre` the prior on
    /// sigma0 (Hoff 2009, 8.5: `sigma0^2 ~ G(a0, b0)`, `SdPrior::GammaVariance`)
    /// and `p(nu0) ∝ exp(-lambda nu0)` on `1..=nu_max`.
    Group {
        centre: SdPrior,
        lambda: f64,
        nu_max: usize,
    },
}

/// Which within-group model, without its priors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WithinKind {
    Common,
    Known,
    Group,
}

impl WithinKind {
    /// The kind as the R interface spells it.
    pub fn from_name(name: &str) -> Result<Self, Error> {
        match name {
            "common" => Ok(WithinKind::Common),
            "known" => Ok(WithinKind::Known),
            "group" => Ok(WithinKind::Group),
            _ => Err(Error::InvalidPrior(format!(
                "within must be \"common\", \"known\" or \"group\", not {name:?}"
            ))),
        }
    }
}

impl Within {
    pub fn kind(&self) -> WithinKind {
        match self {
            Within::Common { .. } => WithinKind::Common,
            Within::Known => WithinKind::Known,
            Within::Group { .. } => WithinKind::Group,
        }
    }
}

/// Priors of the tree: `mu ~ N(mu0, 1/tau0)`, `levels[l-1]` on the sd of
/// level `l` (top to bottom), and the within-group model.
#[derive(Debug, Clone, PartialEq)]
pub struct TreePrior {
    pub mu0: f64,
    pub tau0: f64,
    pub levels: Vec<SdPrior>,
    pub within: Within,
}

impl TreePrior {
    pub(crate) fn validate(&self) -> Result<(), Error> {
        let positive = |name: &str, value: f64| {
            if value.is_finite() && value > 0.0 {
                Ok(())
            } else {
                Err(Error::InvalidPrior(format!(
                    "{name} must be finite and positive, not {value}"
                )))
            }
        };
        if !self.mu0.is_finite() {
            return Err(Error::InvalidPrior(format!(
                "mu0 must be finite, not {}",
                self.mu0
            )));
        }
        positive("tau0", self.tau0)?;
        for (l, level) in self.levels.iter().enumerate() {
            level.validate(&format!("the sd of level {}", l + 1))?;
        }
        match self.within {
            Within::Common { prior } => prior.validate("sd_w"),
            Within::Known => Ok(()),
            Within::Group {
                centre,
                lambda,
                nu_max,
            } => {
                centre.validate("sd_w0")?;
                positive("lambda", lambda)?;
                if nu_max == 0 {
                    return Err(Error::InvalidPrior("nu_max must be at least 1".into()));
                }
                Ok(())
            }
        }
    }
}

/// What a reported column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// mu, the mean at the root.
    Mean,
    /// The sd of the effects of one level about their parents.
    LevelSd,
    /// The common within-group sd (the one-sample model's sd).
    WithinSd,
    /// sigma0, the centre of the group-specific within-group sds.
    WithinSdCentre,
    /// nu0, their degrees of freedom.
    WithinDf,
    /// The mean of one group of one level.
    Effect,
    /// The within-group sd of one last-level group.
    GroupSd,
}

impl Role {
    /// The role as the R interface spells it.
    pub fn name(self) -> &'static str {
        match self {
            Role::Mean => "mean",
            Role::LevelSd => "level_sd",
            Role::WithinSd => "within_sd",
            Role::WithinSdCentre => "within_sd_centre",
            Role::WithinDf => "within_df",
            Role::Effect => "effect",
            Role::GroupSd => "group_sd",
        }
    }

    /// How the column changes with the data's units.
    pub fn quantity(self) -> Quantity {
        match self {
            Role::Mean | Role::Effect => Quantity::Location,
            Role::WithinDf => Quantity::Number,
            Role::LevelSd | Role::WithinSd | Role::WithinSdCentre | Role::GroupSd => {
                Quantity::Spread
            }
        }
    }
}

/// One reported column: its role, the level it belongs to (1 to L for level
/// sds, effects and group sds; 0 for the root and the within-group model),
/// and the 0-based index of its group within that level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub role: Role,
    pub level: usize,
    pub node: usize,
}

/// The reported columns in storage order: first those whose number does
/// not grow with the groups (kept by `keep_groups = false`), then every
/// level's effects, top level first, then the group-specific sds.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    columns: Vec<Column>,
    n_global: usize,
}

impl Layout {
    /// `level_sizes[l - 1]` groups in level l.
    pub fn new(level_sizes: &[usize], within: WithinKind) -> Self {
        let global = |role, level| Column {
            role,
            level,
            node: 0,
        };
        let mut columns = vec![global(Role::Mean, 0)];
        columns.extend((1..=level_sizes.len()).map(|l| global(Role::LevelSd, l)));
        match within {
            WithinKind::Common => columns.push(global(Role::WithinSd, 0)),
            WithinKind::Known => {}
            WithinKind::Group => {
                columns.extend([global(Role::WithinSdCentre, 0), global(Role::WithinDf, 0)])
            }
        }
        let n_global = columns.len();
        for (l, &size) in level_sizes.iter().enumerate() {
            columns.extend((0..size).map(|node| Column {
                role: Role::Effect,
                level: l + 1,
                node,
            }));
        }
        if let (WithinKind::Group, Some(&size)) = (within, level_sizes.last()) {
            columns.extend((0..size).map(|node| Column {
                role: Role::GroupSd,
                level: level_sizes.len(),
                node,
            }));
        }
        Self { columns, n_global }
    }

    /// Every column, in storage order.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// Columns stored per draw: all, or only the global ones.
    pub fn width(&self, keep_groups: bool) -> usize {
        if keep_groups {
            self.columns.len()
        } else {
            self.n_global
        }
    }

    pub fn quantities(&self) -> Vec<Quantity> {
        self.columns.iter().map(|c| c.role.quantity()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_puts_the_global_columns_first() {
        let layout = Layout::new(&[2, 3], WithinKind::Group);
        let roles: Vec<Role> = layout.columns().iter().map(|c| c.role).collect();
        use Role::*;
        assert_eq!(
            roles,
            [
                Mean,
                LevelSd,
                LevelSd,
                WithinSdCentre,
                WithinDf,
                Effect,
                Effect,
                Effect,
                Effect,
                Effect,
                GroupSd,
                GroupSd,
                GroupSd
            ]
        );
        assert_eq!(layout.width(false), 5);
        assert_eq!(layout.columns()[7].level, 2);
        assert_eq!(layout.columns()[7].node, 0);
        let one_sample = Layout::new(&[], WithinKind::Known);
        assert_eq!(one_sample.width(true), 1);
    }
}
