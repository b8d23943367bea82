# The marginal likelihood of a fit and Bayes factors between fits. The core
# integrates every location out exactly (the collapsed density) and the
# variance parameters by quadrature or bridge sampling
# (src/rust/core/MATHS.md section 14); R picks the draws and the data.

#' Marginal likelihood of a fit
#'
#' The marginal likelihood \eqn{p(y)}, the density of the data under the
#' model and its prior with every parameter integrated out, which Bayes
#' factors ([bayes_factor()]) compare. Every location (\eqn{\mu} and the
#' group means of every level) is integrated out exactly: given the
#' variance parameters the model is Gaussian. What is left is an integral
#' over the variance parameters only:
#' * with at most four of them (each level's sd and the within-group sd:
#'   every model but group-specific variances, up to three levels of
#'   groups), by a tensor-product trapezoid rule on a grid whitened by the
#'   posterior draws' mean and covariance, grown until its edges hold a
#'   negligible share and refined until two shifted grids agree; the
#'   `error` is the difference between them plus the share of the edges,
#'   typically below \eqn{10^{-6}};
#' * beyond (group-specific variances: one sd per group, with \eqn{\nu_0}
#'   summed out exactly), by bridge sampling (Meng and Wong 1996) between
#'   the posterior draws and a normal fitted to half of them; the `error`
#'   is the estimated standard error of the log marginal likelihood
#'   (Fruhwirth-Schnatter 2004), which needs `keep = "all"` draws.
#'
#' The value is a density of the data in their units (so it changes with
#' them); it is defined because every prior of [hier_prior()] is proper.
#' With known standard errors (`se =`) it is the density of the rows given
#' their standard errors.
#'
#' @param x A `hiermod_fit`.
#' @param method `"auto"` (quadrature where it applies, bridge sampling
#'   beyond), `"quadrature"` or `"bridge"`.
#' @param seed Seed of the bridge sampler's proposal draws; by default the
#'   fit's.
#' @param ... Not used: an argument given here is an error.
#' @return A `hiermod_evidence` object: a list with `log` (the log marginal
#'   likelihood), `error` (its error on the log scale), `method`,
#'   `parameters` (how many variance parameters were integrated over) and
#'   `evaluations` (of the integrand).
#' @references
#' Meng, X.-L. and Wong, W. H. (1996). Simulating ratios of normalizing
#' constants via a simple identity. *Statistica Sinica* 6, 831-860.
#'
#' Fruhwirth-Schnatter, S. (2004). Estimating marginal likelihoods for
#' mixture and Markov switching models using bridge sampling techniques.
#' *The Econometrics Journal* 7, 143-167.
#' @seealso [bayes_factor()]
#' @examples
#' f <- fit(mathscore ~ school, schools, chains = 2, iter = 1000, seed = 1)
#' marginal_likelihood(f)
#' @export
marginal_likelihood <- function(x, method = c("auto", "quadrature", "bridge"),
                                seed = NULL, ...) {
  check_fit(x, "x")
  check_dots(list(...), "marginal_likelihood()")
  method <- check_choice(method, "method", c("auto", "quadrature", "bridge"))
  meta <- fit_meta(x)
  spec <- meta$spec
  seed <- if (is.null(seed)) meta$seed else resolve_seed(seed)
  columns <- evidence_columns(spec)
  if (!all(columns %in% colnames(x[[1L]]))) {
    hm_abort("x", "was fitted with keep = \"global\", which stores no draws of ",
             "the groups' own sds; the marginal likelihood of a model with ",
             "group-specific variances needs them: refit with keep = \"all\".")
  }
  if (method == "quadrature" && length(columns) > max_quadrature_dim) {
    hm_abort("method", "= \"quadrature\" integrates over at most ",
             max_quadrature_dim, " variance parameters, and this model has ",
             length(columns), "; use \"bridge\" or \"auto\".")
  }
  rows <- meta$rows
  out <- do.call(hm_marginal_likelihood, c(glue_model(x), list(
    if (spec$within == "known" && !is.null(rows$se)) 1 / rows$se^2,
    unname(stacked_draws(x, columns)), method == "bridge", seed
  )))
  stop_if_interrupted(out, "the marginal likelihood")
  out <- glue_result(out, "x", "integrated")
  structure(list(log = out$log_value, error = out$log_error, method = out$method,
                 parameters = length(columns), evaluations = out$evaluations),
            class = "hiermod_evidence")
}

# The most variance parameters the core integrates by quadrature
# (hiermod_core::MAX_QUADRATURE_DIM).
max_quadrature_dim <- 4L

# The columns of the sds the integral runs over, in the core's order: each
# level's, then sd_w, or sd_w0 and every group's own sd.
evidence_columns <- function(spec) {
  c(spec_level_sd(spec),
    switch(spec$within,
           common = spec_role(spec, "within_sd"),
           group = c(spec_role(spec, "within_sd_centre"),
                     spec_role(spec, "group_sd", spec$depth)),
           known = NULL))
}

#' @export
print.hiermod_evidence <- function(x, digits = 6, ...) {
  cat("Log marginal likelihood: ", format(x$log, digits = digits), "\n", sep = "")
  cat("  by ", x$method,
      if (x$parameters > 0L) paste0(" over ", x$parameters, " variance parameter",
                                    if (x$parameters > 1L) "s"),
      "; error ", format(signif(x$error, 2)), " on the log scale\n", sep = "")
  invisible(x)
}

#' Bayes factor between two fits
#'
#' The Bayes factor of `x1` against `x2`, \eqn{p(y \mid M_1) / p(y \mid
#' M_2)}, from their marginal likelihoods ([marginal_likelihood()]): how
#' much more probable the data are under the first model and its prior than
#' under the second. Both fits must be of the same response values (the
#' same rows, or group summaries of the same data). The lecture's question
#' "are the groups different?" is the Bayes factor of `y ~ group` against
#' `y ~ 1`; two priors on one model compare in the same way.
#'
#' @param x1,x2 Two `hiermod_fit` objects of the same data.
#' @param ... Passed to [marginal_likelihood()] for both fits (`method`,
#'   `seed`).
#' @return A `hiermod_bf` object: a list with `bf`, `log_bf`, `error` (of the
#'   log Bayes factor: the two marginal likelihoods' errors combined) and
#'   `evidence` (the two `hiermod_evidence` objects).
#' @seealso [marginal_likelihood()], [compare()], [icc()]
#' @examples
#' groups <- fit(mathscore ~ school, schools, chains = 2, iter = 1000, seed = 1)
#' one_mean <- fit(mathscore ~ 1, schools, chains = 2, iter = 1000, seed = 1)
#' bayes_factor(groups, one_mean)
#' @export
bayes_factor <- function(x1, x2, ...) UseMethod("bayes_factor")

#' @rdname bayes_factor
#' @export
bayes_factor.hiermod_fit <- function(x1, x2, ...) {
  check_fit(x1, "x1")
  check_fit(x2, "x2")
  check_same_data(x1, x2)
  e1 <- marginal_likelihood(x1, ...)
  e2 <- marginal_likelihood(x2, ...)
  log_bf <- e1$log - e2$log
  structure(list(bf = exp(log_bf), log_bf = log_bf,
                 error = sqrt(e1$error^2 + e2$error^2),
                 evidence = list(e1, e2),
                 names = c(deparse1(substitute(x1)), deparse1(substitute(x2)))),
            class = "hiermod_bf")
}

# Two fits are of the same data when they have the same number of
# observations and the same total and sum of squares of the response
# (from the rows, or from group summaries).
check_same_data <- function(x1, x2) {
  pooled <- function(x) {
    st <- fit_spec(x)$stats
    total <- sum(st$n * st$mean)
    c(sum(st$n), total, sum(st$ss) + sum(st$n * st$mean^2))
  }
  p1 <- pooled(x1)
  p2 <- pooled(x2)
  y1 <- fit_meta(x1)$rows$y
  y2 <- fit_meta(x2)$rows$y
  same_rows <- is.null(y1) || is.null(y2) || isTRUE(all.equal(y1, y2))
  if (!same_rows || !isTRUE(all.equal(p1, p2, tolerance = 1e-10))) {
    hm_abort("x2", "is not a fit of the same data as `x1` (", p1[1L], " and ",
             p2[1L], " observations, or different values): a Bayes factor ",
             "compares two models of one data set.")
  }
}

#' @export
print.hiermod_bf <- function(x, digits = 4, ...) {
  cat("Bayes factor of ", x$names[1L], " against ", x$names[2L], "\n", sep = "")
  cat("  BF = ", format(x$bf, digits = digits), ", log BF = ",
      format(x$log_bf, digits = digits), " (error ",
      format(signif(x$error, 2)), " on the log scale)\n", sep = "")
  methods <- unique(vapply(x$evidence, `[[`, "", "method"))
  cat("  marginal likelihoods by ", paste(methods, collapse = " and "), "\n",
      sep = "")
  invisible(x)
}
