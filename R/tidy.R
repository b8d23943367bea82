# broom's tidy() and glance() for fits, in the vocabulary of broom.mixed's
# tidiers of brms and rstanarm fits, and the intraclass correlation.

#' Tidy and glance at a fit
#'
#' `tidy()` gives one row per parameter in the columns of broom.mixed's
#' tidiers of brms and rstanarm fits: `effect`, `group`, `term`, `estimate`
#' (the posterior mean, as [print()][print.hiermod_fit] and
#' [summary()][summary.hiermod_fit] show it), `std.error` (the posterior
#' sd) and, with `conf.int = TRUE`, `conf.low` and `conf.high` (the central
#' posterior interval of probability `conf.level`, type-7 quantiles as
#' [stats::quantile()]). `glance()` gives one row that describes the fit.
#' Both are methods of the generics of the generics package that broom and
#' broom.mixed use, so `broom.mixed::tidy(f)` gives the same table.
#'
#' The `effects`:
#' \describe{
#'   \item{`"fixed"`}{the population mean \eqn{\mu}, term `(Intercept)`.}
#'   \item{`"ran_pars"`}{each level's between-group sd (`group`: its
#'     grouping variable, term `sd__(Intercept)`) and the within-group sd
#'     (`group` `Residual`, term `sd__Observation`; for `y ~ 1` the one
#'     `sd`). With group-specific variances (`within = "group"`) the
#'     `Residual` rows are `sd_w0` (the centre of the groups' sds) and
#'     `nu0` (their degrees of freedom), by those names; each group's own
#'     sd `sd_w[<group>]` is among the draws ([as.matrix()]). With known
#'     standard errors there is no `Residual` row.}
#'   \item{`"ran_vals"`}{each group's deviation from its parent's mean
#'     (\eqn{\theta_k - \mu} for the top level; with nested groups a
#'     school's from its region's), computed draw by draw and then
#'     summarised: `group` is the level's grouping variable, `level` the
#'     group's label (its path, `"A/1"`, below the top) and the term
#'     `(Intercept)`. Their estimates are [ranef()]'s.}
#'   \item{`"ran_coefs"`}{each group's mean \eqn{\theta}, in the same
#'     layout; their estimates on the last level are [coef()]'s.}
#' }
#' `ran_vals` and `ran_coefs` need a model with groups; for a fit made with
#' `keep = "global"`, which does not store the group means, they are drawn
#' again exactly from their law given each stored draw of \eqn{\mu} and the
#' sds (group-specific variances need `keep = "all"`).
#'
#' @param x A `hiermod_fit`.
#' @param effects Which parameters: one or more of `"fixed"`, `"ran_pars"`,
#'   `"ran_vals"` and `"ran_coefs"`, in the order of the rows.
#' @param conf.int Add the columns `conf.low` and `conf.high`?
#' @param conf.level The probability of the central interval.
#' @param ... Not used: an argument given here is an error.
#' @return A tibble (a data frame when the tibble package is not
#'   installed). `tidy()`: one row per parameter, the columns above; `group`
#'   is `NA` for the fixed effect, and the column `level` (`NA` but for the
#'   groups' rows) is there when `effects` has `"ran_vals"` or
#'   `"ran_coefs"`. `glance()`: one row with `nobs`; `ngroups`, the number
#'   of groups the observations are in (0 for `y ~ 1`), and with nested
#'   groups `ngroups_<level>` for every level; `sigma` (as [sigma()]: the
#'   posterior mean of the within-group sd, `NA` with known standard
#'   errors); `chains`; `draws` (kept, all chains); `sampler`; `max_rhat`
#'   and `min_ess_bulk` over the global parameters (those
#'   [summary()][summary.hiermod_fit] shows, with its definitions); and
#'   `elapsed`, the sampling time in seconds.
#' @seealso [extractors] for `fixef()`, `ranef()`, `coef()` and `VarCorr()`;
#'   [icc()].
#' @examples
#' f <- fit(mathscore ~ school, schools, chains = 2, iter = 1000, seed = 1)
#' tidy(f)
#' tidy(f, effects = "ran_vals", conf.int = TRUE)
#' glance(f)
#' n <- fit(score ~ region/school, regions, chains = 2, iter = 1000, seed = 1)
#' tidy(n, effects = c("ran_pars", "ran_coefs"))
#' @importFrom generics tidy
#' @method tidy hiermod_fit
#' @export
tidy.hiermod_fit <- function(x, effects = c("fixed", "ran_pars"),
                             conf.int = FALSE, # nolint: object_name_linter.
                             conf.level = 0.95, ...) { # nolint: object_name_linter.
  # conf.int and conf.level: broom's names, whatever the style
  check_fit(x)
  check_dots(list(...), "tidy()")
  effects <- check_effects(effects)
  check_flag(conf.int, "conf.int")
  check_probability(conf.level, "conf.level")
  spec <- fit_spec(x)
  blocks <- lapply(effects, function(e) tidy_block(x, spec, e))
  rows <- do.call(rbind, lapply(blocks, `[[`, "rows"))
  draws <- do.call(cbind, lapply(blocks, `[[`, "draws"))
  out <- cbind(rows, draw_summaries(draws, if (conf.int) conf.level))
  if (!any(c("ran_vals", "ran_coefs") %in% effects)) out$level <- NULL
  as_tidy_table(out)
}

tidy_effect_kinds <- c("fixed", "ran_pars", "ran_vals", "ran_coefs")

check_effects <- function(effects) {
  if (!is.character(effects) || length(effects) == 0L || anyNA(effects) ||
      !all(effects %in% tidy_effect_kinds)) {
    hm_abort("effects", "must be one or more of ",
             paste0("\"", tidy_effect_kinds, "\"", collapse = ", "), ", not ",
             describe(effects), ".")
  }
  unique(effects)
}

# The rows of one kind of effect: their labels (`rows`: effect, group,
# level, term) and their draws (`draws`: one column per row, chains
# stacked).
tidy_block <- function(x, spec, effect) {
  switch(effect,
         fixed = tidy_rows(effect, NA_character_, NA_character_, "(Intercept)",
                           stacked_draws(x, spec_role(spec, "mean"))),
         ran_pars = tidy_ran_pars(x, spec),
         tidy_groups(x, spec, effect))
}

tidy_rows <- function(effect, group, level, term, draws) {
  list(rows = data.frame(effect = effect, group = group, level = level,
                         term = term),
       draws = draws)
}

# The sd of each level, then the within-group model's: broom.mixed's
# sd__Observation for a common within sd, the parameters' own names for
# the centre and degrees of freedom of group-specific ones, none with
# known standard errors.
tidy_ran_pars <- function(x, spec) {
  within <- switch(spec$within,
                   common = stats::setNames(spec_within_sd(spec), "sd__Observation"),
                   group = c(spec_within_sd(spec), spec_role(spec, "within_df")),
                   known = character())
  if (is.null(names(within))) names(within) <- within
  columns <- c(spec_level_sd(spec), within)
  tidy_rows("ran_pars", c(spec$levels, rep("Residual", length(within))),
            NA_character_,
            c(rep("sd__(Intercept)", spec$depth), names(within)),
            stacked_draws(x, columns))
}

# Every level's group means (ran_coefs) or their deviations from their
# parents' means (ran_vals), top level first.
tidy_groups <- function(x, spec, effect) {
  if (!has_groups(spec)) {
    hm_abort("effects", "asks for \"", effect, "\", but a one-sample model ",
             "(`y ~ 1`) has no groups.")
  }
  parent <- stacked_draws(x, spec_role(spec, "mean"))
  blocks <- vector("list", spec$depth)
  for (l in seq_len(spec$depth)) {
    theta <- group_mean_draws(x, l)
    draws <- if (effect == "ran_coefs") {
      theta
    } else {
      theta - parent[, spec$nodes[[l]]$parent, drop = FALSE]
    }
    blocks[[l]] <- tidy_rows(effect, spec$levels[l], spec_labels(spec, l),
                             "(Intercept)", draws)
    parent <- theta
  }
  list(rows = do.call(rbind, lapply(blocks, `[[`, "rows")),
       draws = do.call(cbind, lapply(blocks, `[[`, "draws")))
}

# The posterior mean and sd of each column of draws and, with a `level`,
# its central interval (type-7 quantiles).
draw_summaries <- function(draws, level = NULL) {
  columns <- seq_len(ncol(draws))
  out <- data.frame(estimate = unname(colMeans(draws)),
                    std.error = vapply(columns, function(j) stats::sd(draws[, j]), 1))
  if (!is.null(level)) {
    q <- column_quantiles(draws, c((1 - level) / 2, (1 + level) / 2))
    out$conf.low <- q[, 1L]
    out$conf.high <- q[, 2L]
  }
  out
}

# Type-7 quantiles (stats::quantile's) of each column of draws, by the
# core's selection rather than a sort per column: one row per column, one
# column per probability.
column_quantiles <- function(draws, probs) {
  column_summaries(list(draws), probs)[, -1L, drop = FALSE]
}

# broom's tidiers return tibbles; without tibble installed, a data frame.
as_tidy_table <- function(out) {
  rownames(out) <- NULL
  if (requireNamespace("tibble", quietly = TRUE)) tibble::as_tibble(out) else out
}

#' @rdname tidy.hiermod_fit
#' @importFrom generics glance
#' @method glance hiermod_fit
#' @export
glance.hiermod_fit <- function(x, ...) {
  check_fit(x)
  check_dots(list(...), "glance()")
  meta <- fit_meta(x)
  spec <- meta$spec
  counts <- spec_group_counts(spec)
  out <- data.frame(nobs = nobs_of(meta),
                    ngroups = if (has_groups(spec)) counts[[spec$depth]] else 0L)
  if (spec$depth > 1L) {
    out[paste0("ngroups_", spec$levels)] <- as.list(unname(counts))
  }
  diag <- convergence(x, spec_globals(spec))
  out$sigma <- sigma(x)
  out$chains <- coda::nchain(x)
  out$draws <- coda::nchain(x) * coda::niter(x)
  out$sampler <- meta$sampler
  # NA where a diagnostic is undefined (posterior's NA); NA if all are
  out$max_rhat <- extreme(diag$rhat, max)
  out$min_ess_bulk <- extreme(diag$ess_bulk, min)
  out$elapsed <- meta$elapsed
  as_tidy_table(out)
}

extreme <- function(v, f) if (all(is.na(v))) NA_real_ else f(v, na.rm = TRUE)

#' @importFrom generics tidy glance
#' @export
generics::tidy
#' @export
generics::glance

#' Intraclass correlation
#'
#' The share of the variance of an observation about \eqn{\mu} that lies
#' between the groups of each level: for level \eqn{l},
#' \deqn{\rho_l = \sigma_l^2 / (\sum_m \sigma_m^2 + \sigma_w^2),}
#' with \eqn{\sigma_l} the level's between-group sd (`sd_b`, or
#' `sd_<level>` with nested groups) and \eqn{\sigma_w} the within-group sd
#' (`sd_w`), computed draw by draw: its posterior. In the two-level model
#' this is the correlation of two observations of one group. With
#' group-specific variances (`within = "group"`) the groups have no common
#' \eqn{\sigma_w^2}, and hiermod uses \eqn{\sigma_0^2} (`sd_w0^2`), the
#' reciprocal of the mean of the groups' within precisions under their
#' prior. With known standard errors there is no within-group variance
#' and `icc()` is an error, as it is for `y ~ 1`, which has no groups.
#'
#' hiermod's `icc()` is its own function, not a method of the performance
#' package's `icc()`; with both attached, call it as `hiermod::icc()`.
#'
#' @param x A `hiermod_fit` with groups and a within-group variance.
#' @param draws Return the draws instead of their summary?
#' @param probs The quantiles of the summary.
#' @return By default a data frame with one row per level (`level`, its
#'   grouping variable, top first) and the posterior `mean`, `sd` and
#'   quantiles (columns named like `2.5%`) of \eqn{\rho_l}. With
#'   `draws = TRUE`, a matrix of the draws (chains stacked) with one
#'   column per level, named by grouping variable.
#' @examples
#' f <- fit(mathscore ~ school, schools, chains = 2, iter = 1000, seed = 1)
#' icc(f)
#' n <- fit(score ~ region/school, regions, chains = 2, iter = 1000, seed = 1)
#' icc(n)
#' # the posterior probability that the groups hold over a fifth of the variance
#' mean(rowSums(icc(n, draws = TRUE)) > 0.2)
#' @export
icc <- function(x, draws = FALSE, probs = c(0.025, 0.5, 0.975)) {
  check_fit(x)
  check_flag(draws, "draws")
  check_probs(probs)
  spec <- fit_spec(x)
  if (!has_groups(spec)) {
    hm_abort("x", "is a one-sample model (`y ~ 1`): it has no groups, so no ",
             "intraclass correlation.")
  }
  within <- spec_within_sd(spec)
  if (is.null(within)) {
    hm_abort("x", "has known standard errors (`se =`): there is no ",
             "within-group variance to compare the groups' with, so no ",
             "intraclass correlation.")
  }
  variances <- stacked_draws(x, c(spec_level_sd(spec), within))^2
  share <- variances[, seq_len(spec$depth), drop = FALSE] / rowSums(variances)
  dimnames(share) <- list(NULL, spec$levels)
  if (draws) return(share)
  s <- draw_summaries(share)
  q <- column_quantiles(share, probs)
  colnames(q) <- paste0(100 * probs, "%", recycle0 = TRUE)
  data.frame(level = spec$levels, mean = s$estimate, sd = s$std.error, q,
             check.names = FALSE, row.names = NULL)
}

check_probs <- function(probs, arg = "probs") {
  if (!is.numeric(probs) || anyNA(probs) || any(probs < 0 | probs > 1)) {
    hm_abort(arg, "must be probabilities between 0 and 1, not ",
             describe(probs), ".")
  }
}
