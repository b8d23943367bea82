# lme4's and rstanarm's extractors, on the posterior draws.

# The names of the group means of level `level` (default: the last), whether
# or not they were stored.
effect_names <- function(x, level = NULL) {
  meta <- fit_meta(x)
  depth <- length(meta$levels)
  if (depth == 0L) {
    hm_abort("object", "is a one-sample model (`y ~ 1`): it has no groups.")
  }
  if (is.null(level)) level <- depth
  prefix <- if (depth == 1L) "theta" else paste0("theta_", meta$levels[level])
  paste0(prefix, "[", meta$nodes[[level]]$label, "]")
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

# The draws of columns `cols`, chains stacked: straight from the chains, as
# coda's `[` rebuilds every chain first.
stacked_draws <- function(x, cols) {
  do.call(rbind, lapply(x, function(chain) unclass(chain)[, cols, drop = FALSE]))
}

# The draws of every group mean of a level (chains stacked), columns named
# by group.
effect_draws <- function(x, level = NULL) {
  m <- stacked_draws(x, stored_effect_columns(x, level))
  meta <- fit_meta(x)
  colnames(m) <- meta$nodes[[if (is.null(level)) length(meta$levels) else level]]$label
  m
}

# Names of the sd columns of the levels, top to bottom.
level_sd_names <- function(meta) {
  depth <- length(meta$levels)
  if (depth == 1L) "sd_b" else paste0("sd_", meta$levels)
}

# Posterior summaries of every theta (mean, then quantiles), rows named by
# group, without stacking the draws.
theta_summaries <- function(x, probs = numeric()) {
  s <- column_summaries(x, probs, stored_effect_columns(x))
  rownames(s) <- fit_meta(x)$stats$group
  s
}

#' Group means, population mean and variance components
#'
#' Posterior means, in the vocabulary of lme4 and rstanarm:
#' `coef()` gives each group's mean \eqn{\theta_k}; `fixef()` the population
#' mean \eqn{\mu}; `ranef()` each group's deviation \eqn{\theta_k - \mu};
#' `VarCorr()` the between-group and within-group standard deviations
#' (`sd_b`, `sd_w`) and variances; `ngrps()` the number of groups.
#' `coef = fixef + ranef` holds exactly.
#'
#' With nested groups (`y ~ region/school`), `coef()` gives the last
#' level's group means (named by path, `"A/1"`), `ranef()` a list with one
#' vector per level of each group's deviation from its parent's mean (as
#' lme4's), `VarCorr()` one row per level (`sd_region`, `sd_school`, ...)
#' and `ngrps()` the number of groups of each level. With `within =
#' "group"`, the `Residual` row is `sd_w0`; with known standard errors there
#' is none. For `y ~ 1`, `VarCorr()` has the one `sd`.
#'
#' @param object A `hiermod_fit`.
#' @param x A `hiermod_fit` (for `VarCorr()`).
#' @param ... Not used.
#' @return `coef()`, `ranef()`: named numeric vectors, one value per group
#'   (`ranef()`: a list of them, one per level, for nested groups).
#'   `fixef()`: a named number. `VarCorr()`: a data frame with one row per
#'   level (`group`, `Residual`) and columns `term`, `sd` and `variance`
#'   (posterior means). `ngrps()`: integers named by the grouping variables.
#' @examples
#' f <- fit(mathscore ~ school, schools, chains = 2, iter = 1000, seed = 1)
#' fixef(f)
#' head(coef(f))
#' head(ranef(f))
#' VarCorr(f)
#' ngrps(f)
#' n <- fit(score ~ region/school, regions, chains = 2, iter = 1000, seed = 1)
#' ranef(n)$region
#' VarCorr(n)
#' @name extractors
NULL

#' @rdname extractors
#' @export
coef.hiermod_fit <- function(object, ...) theta_summaries(object)[, "mean"]

#' @rdname extractors
#' @importFrom nlme fixef
#' @method fixef hiermod_fit
#' @export
fixef.hiermod_fit <- function(object, ...) {
  c(mu = mean(as.matrix(object[, "mu"])))
}

#' @rdname extractors
#' @importFrom nlme ranef
#' @method ranef hiermod_fit
#' @export
ranef.hiermod_fit <- function(object, ...) {
  meta <- fit_meta(object)
  depth <- length(meta$levels)
  if (depth <= 1L) return(stats::coef(object) - fixef(object))
  means <- lapply(seq_len(depth), function(l) {
    s <- column_summaries(object, numeric(), effect_columns(object, l))
    stats::setNames(s[, 1L], meta$nodes[[l]]$label)
  })
  parents <- c(list(fixef(object)), means[-depth])
  out <- lapply(seq_len(depth), function(l) {
    means[[l]] - unname(parents[[l]][meta$nodes[[l]]$parent])
  })
  stats::setNames(out, meta$levels)
}

#' @rdname extractors
#' @importFrom nlme VarCorr
#' @method VarCorr hiermod_fit
#' @export
VarCorr.hiermod_fit <- function(x, ...) {
  meta <- fit_meta(x)
  depth <- length(meta$levels)
  terms <- if (depth == 0L) {
    if (meta$within == "known") character() else "sd"
  } else {
    c(level_sd_names(meta), switch(meta$within, common = "sd_w",
                                   group = "sd_w0", known = character()))
  }
  groups <- c(if (depth == 1L) meta$group else meta$levels,
              if (length(terms) > depth) "Residual")
  m <- stacked_draws(x, terms)
  data.frame(group = groups, term = terms, sd = colMeans(m),
             variance = colMeans(m^2), row.names = NULL)
}

#' @rdname extractors
#' @export
ngrps <- function(object, ...) UseMethod("ngrps")

#' @rdname extractors
#' @export
ngrps.hiermod_fit <- function(object, ...) {
  meta <- fit_meta(object)
  if (length(meta$levels) == 0L) return(stats::setNames(integer(), character()))
  stats::setNames(vapply(meta$nodes, nrow, 1L), meta$levels)
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
#' `.iteration` (the honest iteration number) and one per parameter.
#' `as.array()` gives an iterations x chains x parameters array, the layout
#' of rstan and bayesplot. `as.matrix()` (from coda) stacks the chains.
#'
#' @param x A `hiermod_fit`.
#' @param row.names,optional Not used.
#' @param ... Not used.
#' @return A data frame or a 3-d array.
#' @examples
#' f <- fit(mathscore ~ school, schools, chains = 2, iter = 100, seed = 1)
#' head(as.data.frame(f)[, 1:6])
#' dim(as.array(f))
#' @export
as.data.frame.hiermod_fit <- function(x, row.names = NULL, # nolint: object_name_linter.
                                      optional = FALSE, ...) {
  # row.names and optional are the generic's names; neither is used
  iterations <- as.vector(stats::time(x[[1L]]))
  chains <- lapply(seq_along(x), function(c) {
    draws <- unclass(x[[c]])
    attr(draws, "mcpar") <- NULL
    data.frame(.chain = c, .iteration = iterations, draws, check.names = FALSE)
  })
  out <- do.call(rbind, chains)
  rownames(out) <- NULL
  out
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
