# lme4's and rstanarm's extractors, on the posterior draws.

# The names of the group means of level `level` (default: the last), whether
# or not they were stored.
effect_names <- function(x, level = NULL) {
  spec <- fit_spec(x)
  if (!has_groups(spec)) {
    hm_abort("object", "is a one-sample model (`y ~ 1`): it has no groups.")
  }
  spec_effects(spec, if (is.null(level)) spec$depth else level)
}

effect_columns <- function(x, level = NULL) {
  intersect(effect_names(x, level), coda::varnames(x))
}

# A level's group means, or a clear error when keep = "global" dropped them.
stored_effect_columns <- function(x, level = NULL) {
  cols <- effect_columns(x, level)
  if (length(cols) == 0L) {
    hm_abort("object", "has no group means stored: refit with keep = \"all\".")
  }
  cols
}

# Draws (`sel`, default all) x groups (`index`, default all) of the means
# of level `l`: the stored draws or, when keep = "global" left them out,
# drawn again by the core from their exact law given each stored draw of
# mu and the sds (src/rust/core/MATHS.md section 5), the same values at
# every call. Group-specific variances keep their group sds only with
# keep = "all".
group_mean_draws <- function(x, l, index = NULL, sel = NULL) {
  spec <- fit_spec(x)
  if (is.null(index)) index <- seq_len(nrow(spec$nodes[[l]]))
  if (is.null(sel)) sel <- seq_len(total_draws(x))
  cols <- effect_columns(x, l)
  if (length(cols) == nrow(spec$nodes[[l]])) {
    return(stacked_draws(x, cols[index])[sel, , drop = FALSE])
  }
  check_group_sds_stored(spec)
  out <- do.call(hm_redraw_effects, c(glue_model(x), list(
    stacked_draws(x, spec_globals(spec))[sel, , drop = FALSE],
    as.double(sel - 1L), as.integer(l), as.integer(index), fit_meta(x)$seed
  )))
  stop_if_interrupted(out, "drawing the group means")
  glue_result(out, "object", "drawn")$effects
}

# The model of a fit as the glue's calls take it: each level's parents,
# the last level's statistics and the prior, in the data's units.
glue_model <- function(x) {
  spec <- fit_spec(x)
  st <- spec$stats
  list(lapply(spec$nodes, function(level) level$parent),
       as.double(st$n), as.double(st$mean), as.double(st$ss),
       prior_for_sampler(fit_meta(x)$prior, spec$within))
}

# A keep = "global" fit with group-specific variances cannot give its group
# means: it stores no draws of the groups' sds.
check_group_sds_stored <- function(spec) {
  if (spec$within == "group") {
    hm_abort("object", "was fitted with keep = \"global\" and group-specific ",
             "variances, whose draws of the groups' sds it does not store; ",
             "refit with keep = \"all\".")
  }
}

# The posterior means of level `l`'s group means: from the stored draws,
# or, when keep = "global" left them out, each stored draw's exact
# conditional mean given mu and the sds averaged over the draws
# (Rao-Blackwellised, by the core, without drawing them).
effect_means <- function(x, l) {
  spec <- fit_spec(x)
  cols <- effect_columns(x, l)
  if (length(cols) == nrow(spec$nodes[[l]])) {
    return(column_summaries(x, numeric(), cols)[, 1L])
  }
  check_group_sds_stored(spec)
  out <- do.call(hm_effect_means, c(glue_model(x), list(
    stacked_draws(x, spec_globals(spec)), as.integer(l)
  )))
  stop_if_interrupted(out, "averaging the group means")
  stats::setNames(glue_result(out, "object", "averaged")$means, spec_effects(spec, l))
}

# The draws of columns `cols`, chains stacked: straight from the chains, as
# coda's `[` rebuilds every chain first.
stacked_draws <- function(x, cols) {
  do.call(rbind, lapply(x, function(chain) unclass(chain)[, cols, drop = FALSE]))
}

# The draws of every group mean of a level (chains stacked), columns named
# by group.
effect_draws <- function(x, level = NULL) {
  m <- stacked_draws(x, stored_effect_columns(x, level))
  spec <- fit_spec(x)
  colnames(m) <- spec_labels(spec, if (is.null(level)) spec$depth else level)
  m
}

# Posterior summaries of every theta (mean, then quantiles), rows named by
# group, without stacking the draws.
theta_summaries <- function(x, probs = numeric()) {
  s <- column_summaries(x, probs, stored_effect_columns(x))
  rownames(s) <- fit_spec(x)$stats$group
  s
}

#' Group means, population mean and variance components
#'
#' Posterior means, in the vocabulary of lme4 and rstanarm:
#' `coef()` gives each group's mean \eqn{\theta_k}; `fixef()` the population
#' mean \eqn{\mu}; `ranef()` each group's deviation \eqn{\theta_k - \mu};
#' `VarCorr()` the between-group and within-group standard deviations
#' (`sd_b`, `sd_w`) and variances; `sigma()` the within-group sd;
#' `ngrps()` the number of groups. `coef = fixef + ranef` holds exactly.
#'
#' `ranef()` has lme4's shape: a list with one data frame per level of
#' groups, named by the grouping variable, whose rows are the groups
#' (row names: their labels) and whose one column `(Intercept)` is the
#' posterior mean of the deviation, so that `ranef(f)$school` works as with
#' lme4. With nested groups (`y ~ region/school`) each group's deviation is
#' from its parent's mean, and the rows of the lower levels are named by
#' path (`"A/1"`).
#'
#' A fit made with `keep = "global"` stores no group means; `coef()` and
#' `ranef()` then average, over the stored draws of \eqn{\mu} and the sds,
#' each draw's exact conditional mean of the groups (Rao-Blackwellised
#' means, which need no draws of them; not with group-specific variances).
#'
#' With nested groups `coef()` gives the last level's group means (named by
#' path), `VarCorr()` one row per level (`sd_region`, `sd_school`, ...) and
#' `ngrps()` the number of groups of each level. With `within = "group"`,
#' the `Residual` row is `sd_w0`; with known standard errors there is none.
#' For `y ~ 1`, `VarCorr()` has the one `sd`.
#'
#' `sigma()` is the posterior mean of `sd_w` (`sd` for `y ~ 1`). With
#' group-specific variances (`within = "group"`) it is that of `sd_w0`, the
#' centre of the groups' sds (each group's own are `sd_w[<group>]`); with
#' known standard errors there is no within-group sd to estimate and it is
#' `NA`.
#'
#' @section Living beside lme4: lme4 has its own `ngrps()` generic. hiermod's
#'   `ngrps()` passes objects that are not hiermod fits on to lme4's, and its
#'   method is registered on lme4's generic whenever lme4 is loaded, so that
#'   `ngrps()` works on both kinds of fit whichever package is attached
#'   last. `fixef()`, `ranef()` and `VarCorr()` are nlme's generics, which
#'   lme4 uses too, and `sigma()` is stats'.
#'
#' @param object A `hiermod_fit`.
#' @param x A `hiermod_fit` (for `VarCorr()`).
#' @param ... Not used: an argument given here is an error.
#' @return `coef()`: a named numeric vector, one value per group. `ranef()`:
#'   a named list of data frames, one per level, with the column
#'   `(Intercept)`. `fixef()`: a named number. `sigma()`: a number.
#'   `VarCorr()`: a data frame with one row per level (`group`, `Residual`)
#'   and columns `term`, `sd` and `variance` (posterior means). `ngrps()`:
#'   integers named by the grouping variables.
#' @examples
#' f <- fit(mathscore ~ school, schools, chains = 2, iter = 1000, seed = 1)
#' fixef(f)
#' head(coef(f))
#' head(ranef(f)$school)
#' VarCorr(f)
#' sigma(f)
#' ngrps(f)
#' n <- fit(score ~ region/school, regions, chains = 2, iter = 1000, seed = 1)
#' ranef(n)$region
#' VarCorr(n)
#' @name extractors
NULL

#' @rdname extractors
#' @export
coef.hiermod_fit <- function(object, ...) {
  check_fit(object, "object")
  check_dots(list(...), "coef()")
  spec <- fit_spec(object)
  effect_names(object) # a one-sample model has no groups: an error
  stats::setNames(unname(effect_means(object, spec$depth)), spec$stats$group)
}

#' @rdname extractors
#' @importFrom nlme fixef
#' @method fixef hiermod_fit
#' @export
fixef.hiermod_fit <- function(object, ...) {
  check_fit(object, "object")
  check_dots(list(...), "fixef()")
  c(mu = mean(draws_of_column(object, "mu")))
}

#' @rdname extractors
#' @importFrom stats sigma
#' @export
sigma.hiermod_fit <- function(object, ...) {
  check_fit(object, "object")
  check_dots(list(...), "sigma()")
  column <- spec_within_sd(fit_spec(object))
  if (is.null(column)) return(NA_real_)
  mean(draws_of_column(object, column))
}

#' @rdname extractors
#' @importFrom nlme ranef
#' @method ranef hiermod_fit
#' @export
ranef.hiermod_fit <- function(object, ...) {
  check_fit(object, "object")
  check_dots(list(...), "ranef()")
  spec <- fit_spec(object)
  effect_names(object) # a one-sample model has no groups: an error
  levels <- seq_len(spec$depth)
  means <- lapply(levels, function(l) effect_means(object, l))
  parents <- c(list(fixef(object)), means[-spec$depth])
  out <- lapply(levels, function(l) {
    deviation <- unname(means[[l]] - parents[[l]][spec$nodes[[l]]$parent])
    data.frame(`(Intercept)` = deviation, row.names = spec_labels(spec, l),
               check.names = FALSE)
  })
  stats::setNames(out, spec$levels)
}

#' @rdname extractors
#' @importFrom nlme VarCorr
#' @method VarCorr hiermod_fit
#' @export
VarCorr.hiermod_fit <- function(x, ...) {
  check_fit(x)
  check_dots(list(...), "VarCorr()")
  spec <- fit_spec(x)
  residual <- spec_within_sd(spec)
  terms <- c(spec_level_sd(spec), residual)
  # one row per level, named by its grouping variable, then the residual
  groups <- c(spec$levels, if (length(residual)) "Residual")
  m <- stacked_draws(x, terms)
  data.frame(group = groups, term = terms, sd = colMeans(m),
             variance = colMeans(m^2), row.names = NULL)
}

#' @rdname extractors
#' @export
ngrps <- function(object, ...) UseMethod("ngrps")

#' @rdname extractors
#' @export
#' @rawNamespace S3method(lme4::ngrps, hiermod_fit)
ngrps.hiermod_fit <- function(object, ...) {
  check_fit(object, "object")
  check_dots(list(...), "ngrps()")
  spec_group_counts(fit_spec(object))
}

# ngrps() of anything else that lme4 has a method for (by its S3 dispatch
# classes: an S4 lmerMod's include merMod) goes on to lme4's generic, so
# that attaching hiermod after lme4 leaves ngrps(<merMod>) working.
# Registered as the default method under another name: were it called
# ngrps.default, lme4's dispatch from inside this namespace would find it
# again, forever.
#' @rawNamespace S3method(ngrps, default, ngrps_elsewhere)
ngrps_elsewhere <- function(object, ...) {
  if (requireNamespace("lme4", quietly = TRUE) &&
      any(vapply(.class2(object), function(cls) {
        !is.null(utils::getS3method("ngrps", cls, optional = TRUE,
                                    envir = asNamespace("lme4")))
      }, TRUE))) {
    return(lme4::ngrps(object, ...))
  }
  hm_abort("object", "must be a fit made by hiermod::fit() (or, with lme4 ",
           "installed, one of lme4's), not ", describe(object), ".")
}

#' @importFrom stats getCall
#' @export
getCall.hiermod_fit <- function(x, ...) fit_meta(x)$call

#' @importFrom nlme fixef ranef VarCorr
#' @export
nlme::fixef
#' @export
nlme::ranef
#' @export
nlme::VarCorr

#' Draws as a data frame or array
#'
#' `as.data.frame()` gives one row per kept draw, with columns `.chain`,
#' `.iteration` (the honest iteration number) and one per parameter; with
#' `long = TRUE`, one row per draw and parameter, with columns `.chain`,
#' `.iteration`, `.draw` (1, 2, ... over the chains in turn), `parameter`
#' and `value`, the tidy form ggplot2 and dplyr users reach for.
#' `as.array()` gives an iterations x chains x parameters array, the layout
#' of rstan and bayesplot. `as.matrix()` (from coda) stacks the chains.
#'
#' @param x A `hiermod_fit`.
#' @param row.names,optional Not used.
#' @param long One row per draw and parameter instead of one per draw.
#' @param ... Not used.
#' @return A data frame or a 3-d array.
#' @examples
#' f <- fit(mathscore ~ school, schools, chains = 2, iter = 100, seed = 1)
#' head(as.data.frame(f)[, 1:6])
#' dim(as.array(f))
#' @export
as.data.frame.hiermod_fit <- function(x, row.names = NULL, # nolint: object_name_linter.
                                      optional = FALSE, long = FALSE, ...) {
  # row.names and optional are the generic's names; neither is used
  check_flag(long, "long")
  iterations <- as.vector(stats::time(x[[1L]]))
  chains <- lapply(seq_along(x), function(c) {
    draws <- unclass(x[[c]])
    attr(draws, "mcpar") <- NULL
    data.frame(.chain = c, .iteration = iterations, draws, check.names = FALSE)
  })
  out <- do.call(rbind, chains)
  rownames(out) <- NULL
  if (!long) return(out)
  pars <- coda::varnames(x)
  index <- rep(seq_len(nrow(out)), length(pars))
  data.frame(.chain = out$.chain[index], .iteration = out$.iteration[index],
             .draw = index, parameter = rep(pars, each = nrow(out)),
             value = unlist(out[pars], use.names = FALSE))
}

#' @rdname as.data.frame.hiermod_fit
#' @export
as.array.hiermod_fit <- function(x, ...) {
  pars <- coda::varnames(x)
  out <- array(NA_real_, c(coda::niter(x), coda::nchain(x), length(pars)),
               dimnames = list(iteration = NULL,
                               chain = paste0("chain:", seq_along(x)),
                               parameter = pars))
  for (c in seq_along(x)) out[, c, ] <- unclass(x[[c]])
  out
}
