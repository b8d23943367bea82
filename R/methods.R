# Everything about a fit that is not a draw lives in one attribute, so that
# the object stays a plain coda mcmc.list.
fit_meta <- function(x) attr(x, "hiermod", exact = TRUE)

#' What a fit was run with
#'
#' `fit_info()` returns the settings of a [fit()]: the call, the prior
#' actually used (with the values scaled to the data filled in), the seed,
#' the sampler, chains, iterations, warm-up, thinning, threads, each chain's
#' starting values and the elapsed time. `group_stats()` returns the data's
#' per-group sufficient statistics, which are all the sampler sees.
#'
#' @param x A `hiermod_fit`.
#' @return `fit_info()`: a list. `group_stats()`: a data frame with columns
#'   `group` (label), `n`, `mean` and `ss` (within sum of squares about the
#'   mean), one row per group in the order of the `theta` columns.
#' @examples
#' f <- fit(mathscore ~ school, schools, chains = 2, iter = 400, seed = 3)
#' fit_info(f)$seed
#' head(group_stats(f))
#' @export
fit_info <- function(x) {
  check_fit(x)
  meta <- fit_meta(x)
  meta[setdiff(names(meta), c("stats", "rows"))]
}

#' @rdname fit_info
#' @export
group_stats <- function(x) {
  check_fit(x)
  fit_meta(x)$stats
}

check_fit <- function(x, arg = "x") {
  if (!inherits(x, "hiermod_fit") || is.null(fit_meta(x))) {
    hm_abort(arg, "must be a fit made by hiermod::fit(), not ", describe(x), ".")
  }
}

#' @importFrom stats nobs
#' @export
nobs.hiermod_fit <- function(object, ...) sum(fit_meta(object)$stats$n)

#' @importFrom stats formula
#' @export
formula.hiermod_fit <- function(x, ...) fit_meta(x)$formula

global_pars <- c("mu", "sd_b", "sd_w")

#' Print a fitted hierarchical model
#'
#' Shows the model, the data's size, the prior actually used, the draws kept
#' and posterior summaries (mean, sd, 2.5%, 50%, 97.5%) of `mu`, `sd_b` and
#' `sd_w`, with a line on the group means `theta`. Warns when an R-hat
#' exceeds 1.01 or an effective sample size is below 400 (see
#' [summary.hiermod_fit()]).
#'
#' @param x A `hiermod_fit`.
#' @param digits Significant digits.
#' @param ... Not used.
#' @return `x`, invisibly.
#' @examples
#' f <- fit(mathscore ~ school, schools, chains = 2, iter = 1000, seed = 1)
#' print(f, digits = 4)
#' @export
print.hiermod_fit <- function(x, digits = 3, ...) {
  meta <- fit_meta(x)
  s <- meta$settings
  st <- meta$stats
  n_kept <- coda::niter(x)
  cat("Bayesian hierarchical normal model (two levels)\n")
  cat(" Formula: ", deparse1(meta$formula), "\n", sep = "")
  cat(" Data:    N = ", sum(st$n), " observations in K = ", nrow(st),
      " groups (", meta$group, "); group sizes ", min(st$n), " to ",
      max(st$n), "\n", sep = "")
  p <- lapply(meta$prior, signif, digits = 4)
  cat(" Prior:   mu ~ N(", p$mu0, ", 1/", p$tau0, "); tau_b ~ G(", p$a, ", ",
      p$b, "); tau_w ~ G(", p$alpha, ", ", p$beta, ")\n", sep = "")
  cat(" Draws:   ", s$chains, " chains x ", n_kept, " kept (iterations ",
      stats::start(x), ":", stats::end(x), ", warmup ", s$warmup, ", thin ",
      s$thin, "); sampler \"", meta$sampler, "\"; seed ",
      format(meta$seed, scientific = FALSE), "\n\n", sep = "")
  table <- summary(x, pars = global_pars)$table
  print(as.matrix(table[c("mean", "sd", "2.5%", "50%", "97.5%")]), digits = digits)
  for (w in convergence_warnings(table)) cat(w, "\n", sep = "")
  if (coda::nvar(x) > length(global_pars)) {
    theta_mean <- column_summaries(x, numeric(), theta_columns(x))[, 1L]
    cat("\ntheta: ", length(theta_mean), " group means; posterior means from ",
        format(min(theta_mean), digits = digits), " to ",
        format(max(theta_mean), digits = digits),
        " (columns \"theta[<group>]\"; see summary(), as.matrix())\n", sep = "")
  } else {
    cat("\ntheta: not stored (keep = \"global\")\n")
  }
  invisible(x)
}
