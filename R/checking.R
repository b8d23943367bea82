# Checking a fit against its data: the pointwise log-likelihood (by row, or
# by group with the group's mean integrated out), loo and waic through the
# loo package, the expected values behind posterior_predict(), and
# bayesplot's posterior predictive checks.

# The draws to use: all of them, or `draws` of them at random (R's random
# number generator) in their stored order.
checking_draws <- function(object, draws) {
  total <- total_draws(object)
  if (is.null(draws)) return(seq_len(total))
  draws <- check_count(draws, "draws", 1L, total)
  if (draws == total) seq_len(total) else sort(sample.int(total, draws))
}

total_draws <- function(object) coda::niter(object) * coda::nchain(object)

# The response of the fitted rows (a fit from group summaries has none).
fitted_response <- function(object, arg = "object") {
  rows <- fit_meta(object)$rows
  if (is.null(rows)) {
    hm_abort(arg, "was fitted from group summaries, which hold no rows; ",
             "refit from the rows to check the fit against them.")
  }
  rows$y
}

# Refuses a draws x `n_cols` (`what`) matrix larger than half the memory
# available, saying how many draws fit and, after that, `advice`; `all`:
# the draws are all the fit's.
check_matrix_memory <- function(n_draws, n_cols, what, all = FALSE, advice = "") {
  bytes <- 8 * as.double(n_draws) * n_cols
  memory <- available_memory()
  if (!is.na(memory) && bytes > memory / 2) {
    hm_abort("draws", "= ", n_draws, if (all) " (all)", " for ", n_cols, " ", what,
             " makes a ", format_bytes(bytes),
             " matrix, more than half the memory available (", format_bytes(memory),
             "); set `draws` to at most ", max(1, floor(memory / 2 / 8 / max(1, n_cols))),
             advice, ".")
  }
}

#' Pointwise log-likelihood
#'
#' The log density of each observation given each posterior draw, as the
#' loo package expects it (draws x observations): \eqn{\log N(y_i;
#' \theta_{k(i)}, \sigma^2)} with the row's group mean and within-group sd
#' (its known standard error with `se =`, its group's own sd with
#' `within = "group"`). With `by = "group"`, one column per group of the
#' last level: the log density of all the group's rows together with the
#' group's mean integrated out exactly, given its parent's mean (\eqn{\mu}
#' with two levels) and the level's sd, so that [loo.hiermod_fit()] on it is
#' leave-one-group-out cross-validation:
#' \deqn{y_k \sim N(m\,1, \sigma^2 I + s^2 1 1^T).}
#'
#' @param object A `hiermod_fit`. With `keep = "global"` the group means
#'   are drawn again, exactly, from their law given each stored draw of
#'   \eqn{\mu} and the sds (the same values at every call); group-specific
#'   variances need `keep = "all"`.
#' @param by `"row"` (each observation) or `"group"` (each last-level group,
#'   its mean integrated out).
#' @param draws Number of posterior draws to use, a random subset (R's
#'   random number generator); `NULL` for all.
#' @param ... Not used: an argument given here is an error.
#' @return A draws x observations (or groups) matrix.
#' @examples
#' f <- fit(mathscore ~ school, schools, chains = 2, iter = 1000, seed = 1)
#' dim(log_lik(f, draws = 200))
#' dim(log_lik(f, by = "group"))
#' @importFrom rstantools log_lik
#' @method log_lik hiermod_fit
#' @export
log_lik.hiermod_fit <- function(object, by = c("row", "group"), draws = NULL, ...) {
  check_fit(object, "object")
  check_dots(list(...), "log_lik()")
  by <- check_choice(by, "by", c("row", "group"))
  sel <- checking_draws(object, draws)
  if (by == "group") return(group_log_lik(object, sel))
  y <- fitted_response(object)
  spec <- fit_spec(object)
  check_matrix_memory(length(sel), length(y), "observations",
                      length(sel) == total_draws(object))
  where <- prediction_rows(object, NULL, spec$depth, FALSE, se = TRUE)
  cells <- prediction_cells(object, where, observation = FALSE)
  out <- matrix(NA_real_, length(sel), where$n)
  for (rows in chunks(where$n, chunk_width(length(sel)))) {
    j <- unique(cells$of_row[rows])
    at <- match(cells$of_row[rows], j)
    means <- cell_draws(object, cells, j, sel, NULL, spec$depth, observation = FALSE)
    sd <- if (spec$within == "known") {
      matrix(where$se[rows], length(sel), length(rows), byrow = TRUE)
    } else {
      s <- within_sd_draws(object, cells, j, sel, NULL, spec$depth)
      if (is.matrix(s)) s[, at, drop = FALSE] else s
    }
    value <- matrix(y[rows], length(sel), length(rows), byrow = TRUE)
    out[, rows] <- stats::dnorm(value, means[, at, drop = FALSE], sd, log = TRUE)
  }
  out
}

#' @importFrom rstantools log_lik
#' @export
rstantools::log_lik

# log p(y_k | parent mean m, level sd s, within) for each last-level group k
# with its mean integrated out: with weights w_i (1/sd_w^2, 1/sd_w[k]^2 or
# 1/se_i^2), W = sum w_i, the weighted mean ybar and Q = sum w_i (y_i -
# ybar)^2,
#   -n/2 log(2 pi) + 1/2 sum log w_i - 1/2 log(1 + s^2 W)
#   - Q/2 - W (ybar - m)^2 / (2 (1 + s^2 W)).
group_log_lik <- function(object, sel) {
  spec <- fit_spec(object)
  if (!has_groups(spec)) {
    hm_abort("by", "= \"group\" needs groups; `y ~ 1` has none.")
  }
  depth <- spec$depth
  st <- spec$stats
  parent <- if (depth == 1L) {
    matrix(draws_of_column(object, "mu")[sel], length(sel), nrow(st))
  } else {
    up <- spec$nodes[[depth]]$parent
    level_draws(object, depth - 1L, spec_labels(spec, depth - 1L)[up], sel, NULL)
  }
  s2 <- draws_of_column(object, spec_level_sd(spec, depth))[sel]^2
  by_group <- function(v) matrix(v, length(sel), nrow(st), byrow = TRUE)
  if (spec$within == "known") {
    rows <- fit_meta(object)$rows
    if (is.null(rows)) {
      hm_abort("object", "was fitted from group summaries: leave-one-group-out ",
               "with known standard errors needs the rows' standard errors.")
    }
    counts <- tabulate(rows$group, nrow(st))
    sum_log_w <- by_group(rowsum(-2 * log(rows$se), rows$group, reorder = TRUE)[, 1L])
    big_w <- by_group(st$n)
    q <- by_group(st$ss)
  } else {
    sd <- if (spec$within == "common") {
      draws_of_column(object, spec_within_sd(spec))[sel]
    } else {
      cols <- spec_group_sd(spec, seq_len(nrow(st)))
      if (!all(cols %in% coda::varnames(object))) {
        hm_abort("object", "has no group sds stored: refit with keep = \"all\".")
      }
      stacked_draws(object, cols)[sel, , drop = FALSE]
    }
    v <- if (is.matrix(sd)) sd^2 else matrix(sd^2, length(sel), nrow(st))
    counts <- st$n
    sum_log_w <- -by_group(st$n) * log(v)
    big_w <- by_group(st$n) / v
    q <- by_group(st$ss) / v
  }
  shrink <- 1 + s2 * big_w
  d <- by_group(st$mean) - parent
  out <- -by_group(counts) / 2 * log(2 * pi) + sum_log_w / 2 - log(shrink) / 2 -
    q / 2 - big_w * d^2 / (2 * shrink)
  colnames(out) <- st$group
  out
}

#' Leave-one-out cross-validation and WAIC
#'
#' [loo::loo()] and [loo::waic()] on the fit's pointwise log-likelihood
#' ([log_lik.hiermod_fit()]), with the relative efficiencies of the draws
#' from their chains (`loo::relative_eff()`), so that [loo::loo_compare()]
#' compares hiermod fits with each other and with other packages' fits of
#' the same rows. `by = "group"` leaves out one group at a time.
#'
#' @param x A `hiermod_fit` (with `keep = "global"`, see
#'   [log_lik.hiermod_fit()]).
#' @param by,draws As in [log_lik.hiermod_fit()]; with a subset of `draws`
#'   the relative efficiencies are taken as 1.
#' @param ... Passed to [loo::loo()] or [loo::waic()].
#' @return A `loo` (or `waic`) object of the loo package.
#' @examples
#' if (requireNamespace("loo", quietly = TRUE)) {
#'   f <- fit(mathscore ~ school, schools, chains = 2, iter = 1000, seed = 1)
#'   pooled <- fit(mathscore ~ 1, schools, chains = 2, iter = 1000, seed = 1)
#'   loo::loo_compare(loo::loo(f), loo::loo(pooled))
#' }
#' @name loo.hiermod_fit
#' @exportS3Method loo::loo
loo.hiermod_fit <- function(x, by = c("row", "group"), # nolint: object_name_linter.
                            draws = NULL, ...) {
  check_fit(x, "x")
  require_suggested("loo", "loo()")
  ll <- log_lik.hiermod_fit(x, by = by, draws = draws)
  loo::loo(ll, r_eff = chain_relative_eff(x, ll, draws), ...)
}

#' @rdname loo.hiermod_fit
#' @exportS3Method loo::waic
waic.hiermod_fit <- function(x, by = c("row", "group"), # nolint: object_name_linter.
                             draws = NULL, ...) {
  check_fit(x, "x")
  require_suggested("loo", "waic()")
  loo::waic(log_lik.hiermod_fit(x, by = by, draws = draws), ...)
}

# loo's relative efficiency of exp(log_lik) per column, from the chains;
# 1 for a subset of the draws, which has no chain structure left.
chain_relative_eff <- function(x, ll, draws) {
  if (!is.null(draws) && draws < nrow(ll)) return(1)
  chain_id <- rep(seq_len(coda::nchain(x)), each = coda::niter(x))
  loo::relative_eff(exp(ll), chain_id = chain_id)
}

# An error naming the package a function needs when it is not installed.
require_suggested <- function(pkg, what) {
  if (!requireNamespace(pkg, quietly = TRUE)) {
    stop(structure(class = c("hiermod_error", "error", "condition"), list(
      message = paste0(what, " needs the ", pkg, " package: install.packages(\"",
                       pkg, "\")."), call = NULL)))
  }
}

#' Expected values of the response
#'
#' `posterior_epred()` gives, for each row of `newdata` (or of the fitted
#' data) and each posterior draw, the expected value of a new observation:
#' its group's mean \eqn{\theta_k} (\eqn{\mu} with `re.form = NA`), with
#' the same handling of new groups, `re.form` and `draws` as
#' [posterior_predict.hiermod_fit()]. The model has the identity link, so
#' `posterior_linpred()` is the same.
#'
#' @inheritParams posterior_predict.hiermod_fit
#' @param transform Ignored: the link is the identity.
#' @return A draws x rows matrix.
#' @examples
#' f <- fit(mathscore ~ school, schools, chains = 2, iter = 1000, seed = 1)
#' dim(posterior_epred(f, newdata = data.frame(school = 1:3)))
#' @importFrom rstantools posterior_epred
#' @method posterior_epred hiermod_fit
#' @export
posterior_epred.hiermod_fit <- function(object, newdata = NULL, draws = NULL,
                                        allow_new_levels = FALSE,
                                        re.form = NULL, # nolint: object_name_linter.
                                        re_formula = NULL, ...) {
  check_fit(object, "object")
  check_dots(list(...), "posterior_epred()")
  check_flag(allow_new_levels, "allow_new_levels")
  sel <- checking_draws(object, draws)
  kept <- prediction_kept(object, re.form, re_formula)
  where <- prediction_rows(object, newdata, kept, allow_new_levels)
  check_matrix_memory(length(sel), where$n, "rows", length(sel) == total_draws(object))
  news <- new_group_draws(object, where, sel)
  cells <- prediction_cells(object, where, observation = FALSE)
  means <- cell_draws(object, cells, seq_along(cells$group), sel, news, kept,
                      observation = FALSE)
  means[, cells$of_row, drop = FALSE]
}

#' @rdname posterior_epred.hiermod_fit
#' @importFrom rstantools posterior_linpred
#' @method posterior_linpred hiermod_fit
#' @export
posterior_linpred.hiermod_fit <- function(object, transform = FALSE, newdata = NULL,
                                          draws = NULL, allow_new_levels = FALSE,
                                          re.form = NULL, # nolint: object_name_linter.
                                          re_formula = NULL, ...) {
  posterior_epred.hiermod_fit(object, newdata = newdata, draws = draws,
                              allow_new_levels = allow_new_levels, re.form = re.form,
                              re_formula = re_formula, ...)
}

#' @importFrom rstantools posterior_epred
#' @export
rstantools::posterior_epred

#' @importFrom rstantools posterior_linpred
#' @export
rstantools::posterior_linpred

#' Posterior predictive checks
#'
#' bayesplot's `pp_check()` for a fit: the observed response against
#' `ndraws` replicated data sets from [posterior_predict.hiermod_fit()],
#' drawn with R's random number generator, plotted by bayesplot's
#' `ppc_<type>()`. The grouped types (`"stat_grouped"`,
#' `"dens_overlay_grouped"`, ...) take `group`: a vector with one value per
#' row, or the name of a grouping variable of the fit (its groups as the fit
#' labels them); by default the last level's groups.
#'
#' @param object A `hiermod_fit` made from rows.
#' @param type The name of a bayesplot `ppc_` function without the prefix:
#'   `"dens_overlay"` (the default), `"hist"`, `"stat"`, `"stat_grouped"`,
#'   `"intervals"`, ...
#' @param ndraws Number of replicated data sets.
#' @param group For the grouped types: a grouping variable's name or one
#'   value per row.
#' @param ... Passed to the bayesplot function (`stat = "sd"`, ...).
#' @return A ggplot object.
#' @examples
#' if (requireNamespace("bayesplot", quietly = TRUE)) {
#'   f <- fit(score ~ region / school, regions, chains = 2, iter = 400, seed = 1)
#'   overlay <- bayesplot::pp_check(f, ndraws = 20)
#'   by_region <- bayesplot::pp_check(f, type = "stat_grouped", stat = "mean",
#'                                    group = "region", ndraws = 50)
#' }
#' @exportS3Method bayesplot::pp_check
pp_check.hiermod_fit <- function(object, # nolint: object_name_linter.
                                 type = "dens_overlay", ndraws = 50, group = NULL, ...) {
  check_fit(object, "object")
  require_suggested("bayesplot", "pp_check()")
  y <- fitted_response(object)
  if (!is.character(type) || length(type) != 1L ||
      !exists(paste0("ppc_", type), envir = asNamespace("bayesplot"))) {
    hm_abort("type", "must name a bayesplot ppc_ function without its prefix ",
             "(\"dens_overlay\", \"stat_grouped\", ...), not ", describe(type), ".")
  }
  yrep <- posterior_predict.hiermod_fit(object, draws = ndraws)
  fun <- get(paste0("ppc_", type), envir = asNamespace("bayesplot"))
  if (!grepl("grouped", type, fixed = TRUE)) return(fun(y, yrep, ...))
  fun(y, yrep, group = checking_group(object, group, length(y)), ...)
}

# One group value per fitted row: a grouping variable's labels by name, or
# the vector given.
checking_group <- function(object, group, n) {
  spec <- fit_spec(object)
  if (is.null(group) || (is.character(group) && length(group) == 1L &&
                           group %in% spec$levels)) {
    if (!has_groups(spec)) {
      hm_abort("group", "is needed for a grouped check: `y ~ 1` has no groups.")
    }
    level <- if (is.null(group)) spec$depth else match(group, spec$levels)
    node <- fit_meta(object)$rows$group
    for (l in rev(seq_len(spec$depth))[seq_len(spec$depth - level)]) {
      node <- spec$nodes[[l]]$parent[node]
    }
    return(factor(spec_labels(spec, level)[node], levels = spec_labels(spec, level)))
  }
  if (length(group) != n) {
    hm_abort("group", "must name a grouping variable of the fit (",
             paste0("\"", spec$levels, "\"", collapse = ", "), ") or give one ",
             "value per row (", n, "), not ", describe(group), ".")
  }
  group
}

#' Draws from the prior predictive distribution
#'
#' What the fit's prior says about data like the fitted rows before seeing
#' them: each draw takes every parameter from the prior the fit used
#' ([prior_summary()]; scaled to the data where [hier_prior()] left values
#' to it), then a response for each fitted row, in its group (and with its
#' known standard error). The equivalent of brms's `sample_prior = "only"`
#' and rstanarm's `prior_PD = TRUE`, without a fit; the result goes to
#' bayesplot's `ppc_*()` functions as `yrep`. Uses R's random number
#' generator.
#'
#' @param object A `hiermod_fit` made from rows.
#' @param draws Number of simulated data sets.
#' @return A draws x rows matrix.
#' @examples
#' f <- fit(mathscore ~ school, schools, chains = 2, iter = 500, seed = 1)
#' yrep <- prior_predict(f, draws = 200)
#' quantile(yrep, c(0.05, 0.5, 0.95))
#' @export
prior_predict <- function(object, draws = 100) {
  check_fit(object, "object")
  draws <- check_count(draws, "draws", 1L)
  y <- fitted_response(object)
  meta <- fit_meta(object)
  spec <- meta$spec
  check_matrix_memory(draws, length(y), "rows")
  parents <- lapply(spec$nodes, `[[`, "parent")
  t(vapply(seq_len(draws), function(i) {
    prior_simulation(meta$prior, parents, meta$rows$group, spec$within,
                     meta$rows$se)$y
  }, numeric(length(y))))
}
