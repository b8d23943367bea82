#' Prior distributions for the mean and the standard deviations
#'
#' Distributions to give [hier_prior()] for \eqn{\mu} (`mu =`) and for each
#' standard deviation (`sd_b =`, `sd_w =`, `sd_<level> =`), named as
#' rstanarm and brms users know them. On a standard deviation, which is
#' positive, `normal()`, `student_t()` and `cauchy()` are their halves
#' (location 0) and `uniform()` runs from 0. `gamma_precision()` is the
#' lecture's prior: Gamma on the precision \eqn{1/sd^2}.
#'
#' \itemize{
#'   \item `normal(0, s)`: half-normal on an sd (\eqn{p(sd) \propto
#'     e^{-sd^2/2s^2}}), or \eqn{\mu \sim N(location, s^2)}.
#'   \item `student_t(df, 0, s)`: half-Student-t, density proportional to
#'     \eqn{(1 + (sd/s)^2/df)^{-(df+1)/2}}; `cauchy(0, s)` is `df = 1`, the
#'     half-Cauchy of Gelman (2006).
#'   \item `exponential(rate)`: \eqn{p(sd) = rate\, e^{-rate\, sd}}, the
#'     penalised-complexity prior of a standard deviation.
#'   \item `uniform(0, upper)`: flat on the sd up to `upper`.
#'   \item `gamma_precision(shape, rate)`: \eqn{1/sd^2 \sim G(shape, rate)}
#'     (conjugate: sampled exactly by every kernel).
#'   \item `flat()`: the improper flat prior, for a regression's fixed
#'     effects only.
#'   \item `lkj(eta)`: the LKJ prior (Lewandowski, Kurowicka and Joe 2009)
#'     on the correlation matrix of correlated group coefficients, density
#'     proportional to \eqn{det(R)^{eta - 1}}.
#' }
#' All but the Gamma have positive density at \eqn{sd = 0}, so that the data
#' can make a component small. A scale or rate left `NULL` is set from the
#' data: `scale = sd(y)`, `rate = 1/sd(y)` (exponential),
#' `rate = shape * var(y)` (Gamma: a prior guess of `sd(y)`), so that the
#' prior, and the posterior, follow an affine change of units.
#'
#' @param location Location: 0 on a standard deviation.
#' @param scale Scale (positive), in the units of the response.
#' @param df Degrees of freedom (positive).
#' @param rate Rate (positive): of the exponential, per unit of the response;
#'   of the Gamma, on the precision.
#' @param lower,upper Bounds of the uniform: `lower` must be 0.
#' @param shape Shape of the Gamma on the precision (positive).
#' @return An object of class `hiermod_dist`.
#' @references Gelman, A. (2006). Prior distributions for variance parameters
#'   in hierarchical models. *Bayesian Analysis* 1(3), 515-534.
#' @seealso [hier_prior()], [prior_summary()]
#' @examples
#' # posteriordb's eight schools: mu ~ N(0, 5), tau ~ half-Cauchy(0, 5)
#' hier_prior(mu = normal(0, 5), sd_b = cauchy(0, 5))
#' @name prior_distributions
NULL

#' @rdname prior_distributions
#' @export
normal <- function(location = 0, scale = NULL) {
  dist("normal", location = location, scale = scale)
}

#' @rdname prior_distributions
#' @export
student_t <- function(df = 3, location = 0, scale = NULL) {
  dist("student_t", df = df, location = location, scale = scale)
}

#' @rdname prior_distributions
#' @export
cauchy <- function(location = 0, scale = NULL) {
  dist("cauchy", location = location, scale = scale)
}

#' @rdname prior_distributions
#' @export
exponential <- function(rate = NULL) dist("exponential", rate = rate)

#' @rdname prior_distributions
#' @export
uniform <- function(lower = 0, upper) {
  if (missing(upper)) hm_abort("upper", "must be given.")
  dist("uniform", lower = lower, upper = upper)
}

#' @rdname prior_distributions
#' @export
gamma_precision <- function(shape, rate = NULL) {
  if (missing(shape)) hm_abort("shape", "must be given.")
  dist("gamma_precision", shape = shape, rate = rate)
}

#' @rdname prior_distributions
#' @export
flat <- function() dist("flat")

#' @rdname prior_distributions
#' @param eta Shape of the LKJ prior on a correlation matrix (positive): 1 is
#'   uniform over correlation matrices, larger values favour weaker
#'   correlations.
#' @export
lkj <- function(eta = 1) dist("lkj", eta = eta)

# Each parameter checked where the user gives it; NULL is left for the data.
dist <- function(family, ...) {
  params <- list(...)
  for (name in names(params)) {
    v <- params[[name]]
    if (is.null(v)) next
    if (!is.numeric(v) || length(v) != 1L || !is.finite(v)) {
      hm_abort(name, "must be a single finite number, not ", describe(v), ".")
    }
    if (!name %in% c("location", "lower") && v <= 0) {
      hm_abort(name, "must be positive, not ", format(v), ".")
    }
  }
  structure(c(list(family = family), lapply(params, function(v) {
    if (is.null(v)) NULL else as.double(v)
  })), class = "hiermod_dist")
}

# A prior given for a parameter: a hiermod_dist, or rstanarm's (a list with
# `dist`, `location`, `scale`, `df`), converted.
as_dist <- function(x, arg) {
  if (inherits(x, "hiermod_dist")) return(x)
  if (is.list(x) && is.character(x$dist) && length(x$dist) == 1L) {
    scale <- if (!is.null(x$scale)) x$scale[1L]
    out <- switch(x$dist,
      normal = normal(x$location[1L], scale),
      t = , student_t = student_t(x$df[1L], x$location[1L], scale),
      cauchy = cauchy(x$location[1L], scale),
      exponential = exponential(x$rate[1L]),
      NULL
    )
    if (!is.null(out)) return(out)
  }
  hm_abort(arg, "must be a prior distribution such as `normal(0, 5)`, ",
           "`cauchy(0, 5)` or `exponential(1)`, not ", describe(x), ".")
}

# A prior on a standard deviation, its scale filled from the data's sd `s`:
# the form the sampler reads, list(family, parameters).
resolve_sd_dist <- function(d, s, arg) {
  d <- as_dist(d, arg)
  if (!is.null(d$location) && d$location != 0) {
    hm_abort(arg, "is a prior on a standard deviation: its location must be ",
             "0 (a half-", d$family, "), not ", format(d$location), ".")
  }
  if (!is.null(d$lower) && d$lower != 0) {
    hm_abort(arg, "is a prior on a standard deviation: uniform() must start ",
             "at 0, not ", format(d$lower), ".")
  }
  or_data <- function(v, from_data) {
    if (!is.null(v)) return(v)
    if (!(is.finite(s) && s > 0)) {
      hm_abort(arg, "cannot be scaled to the data: the response has no ",
               "variance; give its scale or rate.")
    }
    from_data
  }
  switch(d$family,
    normal = list(family = "half_normal", scale = or_data(d$scale, s)),
    student_t = list(family = "half_student_t", df = d$df,
                     scale = or_data(d$scale, s)),
    cauchy = list(family = "half_student_t", df = 1, scale = or_data(d$scale, s)),
    exponential = list(family = "exponential", rate = or_data(d$rate, 1 / s)),
    uniform = list(family = "uniform", upper = d$upper),
    gamma_precision = list(family = "gamma_precision", shape = d$shape,
                           rate = or_data(d$rate, d$shape * s^2))
  )
}

# Quantiles of the standard deviation under a resolved sd prior.
sd_quantiles <- function(p, probs) {
  switch(p$family,
    gamma_precision = 1 / sqrt(stats::qgamma(1 - probs, p$shape, p$rate)),
    half_normal = p$scale * stats::qnorm((1 + probs) / 2),
    half_student_t = p$scale * stats::qt((1 + probs) / 2, p$df),
    exponential = stats::qexp(probs, p$rate),
    uniform = p$upper * probs
  )
}

# Log density of the standard deviation under a resolved sd prior.
sd_log_density <- function(p, sd) {
  switch(p$family,
    # tau = sd^-2 ~ G(shape, rate), |d tau / d sd| = 2 sd^-3
    gamma_precision = stats::dgamma(sd^-2, p$shape, rate = p$rate, log = TRUE) +
      log(2) - 3 * log(sd),
    half_normal = log(2) + stats::dnorm(sd, 0, p$scale, log = TRUE),
    half_student_t = log(2) + stats::dt(sd / p$scale, p$df, log = TRUE) - log(p$scale),
    exponential = stats::dexp(sd, p$rate, log = TRUE),
    uniform = stats::dunif(sd, 0, p$upper, log = TRUE)
  )
}

# The density of a precision tau = 1/sd^2 given `n` normal deviations with
# sum of squares `ss`, under a resolved sd prior: Gamma under the lecture's
# prior, otherwise normalised by numerical integration.
precision_conditional_density <- function(p, n, ss) {
  if (p$family == "gamma_precision") {
    return(function(tau) stats::dgamma(tau, p$shape + n / 2, rate = p$rate + ss / 2))
  }
  # on log tau, where the density is smooth and unimodal
  log_f <- function(x) {
    n / 2 * x - ss / 2 * exp(x) + sd_log_density(p, exp(-x / 2)) - x / 2
  }
  mode <- stats::optimize(log_f, c(-50, 50), maximum = TRUE)
  top <- mode$objective
  # the conditional of log tau has sd about sqrt(2 / n): integrate over
  # many of them around the mode, where all of its mass is
  width <- 40 * sqrt(2 / max(n, 1))
  total <- stats::integrate(function(x) exp(log_f(x) - top), mode$maximum - width,
                            mode$maximum + width, subdivisions = 1000L)$value
  function(tau) exp(log_f(log(tau)) - top) / (total * tau)
}

# One draw of the standard deviation from a resolved sd prior.
sd_draw <- function(p) {
  switch(p$family,
    gamma_precision = 1 / sqrt(stats::rgamma(1L, p$shape, rate = p$rate)),
    half_normal = abs(stats::rnorm(1L, 0, p$scale)),
    half_student_t = abs(p$scale * stats::rt(1L, p$df)),
    exponential = stats::rexp(1L, p$rate),
    uniform = stats::runif(1L, 0, p$upper)
  )
}

# A resolved sd prior as text, in rstanarm's and brms's terms.
format_sd_dist <- function(p, digits = 3) {
  f <- function(v) format(signif(v, digits))
  switch(p$family,
    gamma_precision = paste0("Gamma(", f(p$shape), ", ", f(p$rate), ") on 1/sd^2"),
    half_normal = paste0("half-normal(0, ", f(p$scale), ")"),
    half_student_t = if (p$df == 1) {
      paste0("half-Cauchy(0, ", f(p$scale), ")")
    } else {
      paste0("half-Student-t(", f(p$df), ", 0, ", f(p$scale), ")")
    },
    exponential = paste0("exponential(", f(p$rate), ")"),
    uniform = paste0("uniform(0, ", f(p$upper), ")")
  )
}

# A distribution as the user gave it, unresolved.
format_dist <- function(x) {
  shown <- vapply(x[-1L], function(v) if (is.null(v)) "(from data)" else format(v), "")
  paste0(x$family, "(", paste(names(shown), shown, sep = " = ", collapse = ", "), ")")
}

#' @export
print.hiermod_dist <- function(x, ...) {
  cat("<prior> ", format_dist(x), "\n", sep = "")
  invisible(x)
}
