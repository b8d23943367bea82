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
  meta[setdiff(names(meta), "stats")]
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
#' `sd_w`, with a line on the group means `theta`.
#'
#' @param x A `hiermod_fit`.
#' @param digits Significant digits.
#' @param ... Not used.
#' @return `x`, invisibly.
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
  print(posterior_table(x, global_pars), digits = digits)
  if (coda::nvar(x) > length(global_pars)) {
    theta_mean <- colMeans(as.matrix(x[, -seq_along(global_pars), drop = FALSE]))
    cat("\ntheta: ", length(theta_mean), " group means; posterior means from ",
        format(min(theta_mean), digits = digits), " to ",
        format(max(theta_mean), digits = digits),
        " (columns \"theta[<group>]\"; see summary(), as.matrix())\n", sep = "")
  } else {
    cat("\ntheta: not stored (keep = \"global\")\n")
  }
  invisible(x)
}

# Posterior mean, sd and quantiles of `pars`, pooled over chains.
posterior_table <- function(x, pars) {
  m <- as.matrix(x[, pars, drop = FALSE])
  q <- t(apply(m, 2L, stats::quantile, probs = c(0.025, 0.5, 0.975),
               names = FALSE))
  out <- cbind(mean = colMeans(m), sd = apply(m, 2L, stats::sd), q)
  colnames(out)[3:5] <- c("2.5%", "50%", "97.5%")
  out
}

#' Trace and density plots of a fit, as in the lecture
#'
#' Draws, for each parameter, its trace (all chains, post-warm-up
#' iterations, one colour per chain) and its density, titled "Trace of mu",
#' "Density of mu" and so on, as in the lecture's slide "Schools data -
#' global parameters". By default the global parameters `mu`, `sd_w` and
#' `sd_b`; the group means are columns `theta[<group>]`.
#'
#' @param x A `hiermod_fit`.
#' @param pars Names of the parameters to plot.
#' @param ask Ask before each new page of plots, as coda does: by default
#'   when the device is interactive.
#' @param ... Passed to [coda::plot.mcmc()] (e.g. `smooth`, `trace`,
#'   `density`).
#' @return The plotted draws (an [coda::mcmc.list]), invisibly.
#' @examples
#' f <- fit(mathscore ~ school, schools, chains = 2, iter = 1000, seed = 1)
#' plot(f)
#' plot(f, pars = c("theta[1]", "theta[2]"))
#' @importFrom graphics plot
#' @importFrom grDevices dev.interactive
#' @export
plot.hiermod_fit <- function(x, pars = c("mu", "sd_w", "sd_b"),
                             ask = dev.interactive(), ...) {
  if (!is.character(pars) || length(pars) == 0L) {
    hm_abort("pars", "must be a character vector of parameter names.")
  }
  unknown <- setdiff(pars, coda::varnames(x))
  if (length(unknown) > 0L) {
    hm_abort("pars", "names unknown parameter(s): ",
             paste(unknown, collapse = ", "), ".")
  }
  draws <- x[, pars, drop = FALSE]
  plot(draws, ask = ask, ...)
  invisible(draws)
}
