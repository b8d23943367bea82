#' Priors of the hierarchical normal models
#'
#' The lecture's conjugate priors, in its own names and parameterisation
#' (precisions, Gamma shape and rate):
#' \deqn{\mu \sim N(\mu_0, 1/\tau_0), \quad \tau_b \sim G(a, b), \quad
#'   \tau_w \sim G(\alpha, \beta),}
#' where \eqn{\tau_b = 1/sd_b^2} is the between-group precision,
#' \eqn{\tau_w = 1/sd_w^2} the within-group precision, and \eqn{G(a, b)} has
#' density proportional to \eqn{x^{a-1} e^{-b x}} (mean \eqn{a/b}).
#'
#' The other models of [fit()] use the same names:
#' * one normal sample (`y ~ 1`): \eqn{\mu \sim N(\mu_0, 1/\tau_0)} and the
#'   precision \eqn{1/sd^2 \sim G(a, b)};
#' * nested groups (`y ~ region/school`): one between-group precision per
#'   level, \eqn{\tau_l \sim G(a_l, b_l)}; `a` and `b` take one value per
#'   level, top level first (a single value is used for every level);
#' * known standard errors (`se =`): no \eqn{\tau_w}, so `alpha` and `beta`
#'   are not used;
#' * group-specific variances (`within = "group"`, Hoff 2009, 8.5):
#'   \eqn{1/\sigma_k^2 \sim G(\nu_0/2, \nu_0\sigma_0^2/2)},
#'   \eqn{\sigma_0^2 \sim G(a_0, b_0)} and
#'   \eqn{p(\nu_0) \propto e^{-\lambda\nu_0}} on \eqn{1, \ldots, \nu_{max}};
#'   `alpha` and `beta` are not used.
#'
#' Any value left `NULL` is set from the data by [fit()], which gives a
#' proper, weakly informative prior worth one observation (Hoff 2009, ch. 8),
#' scaled to the response `y`:
#' `mu0 = mean(y)`, `tau0 = 1/var(y)`, `b = beta = var(y)/2` (with the
#' default `a = alpha = 1/2`) and `b0 = 1/var(y)` (with `a0 = 1`, so that
#' \eqn{\sigma_0^2} has prior mean `var(y)`). Because it moves with the data,
#' an affine change of units of `y` changes the posterior by the same affine
#' map. From group summaries, `mean(y)` and `var(y)` are computed from the
#' summaries, with the same result.
#'
#' @param mu0 Prior mean of the population mean \eqn{\mu}.
#' @param tau0 Prior precision of \eqn{\mu} (positive).
#' @param a,b Shape and rate of the Gamma prior on the between-group
#'   precision \eqn{\tau_b} (positive), one value per level of nesting or
#'   one for all; for `y ~ 1`, of the precision \eqn{1/sd^2}.
#' @param alpha,beta Shape and rate of the Gamma prior on the within-group
#'   precision \eqn{\tau_w} (positive).
#' @param a0,b0 Shape and rate of the Gamma prior on \eqn{\sigma_0^2}
#'   (`within = "group"`).
#' @param lambda Rate of the prior \eqn{p(\nu_0) \propto e^{-\lambda\nu_0}}
#'   (`within = "group"`).
#' @param nu_max Largest value of \eqn{\nu_0} (`within = "group"`).
#' @return An object of class `hier_prior`: a list of the values, `NULL`
#'   where they are to be set from the data.
#' @references Hoff, P. D. (2009). *A First Course in Bayesian Statistical
#'   Methods*. Springer. Chapter 8.
#' @examples
#' hier_prior()
#' # Hoff's prior for the schools data (section 8.4)
#' hier_prior(mu0 = 50, tau0 = 1/25, a = 1/2, b = 50, alpha = 1/2, beta = 50)
#' # Schools in regions: a tighter prior on the regions' spread
#' hier_prior(a = c(2, 1/2), b = c(20, 50))
#' @export
hier_prior <- function(mu0 = NULL, tau0 = NULL, a = 1 / 2, b = NULL,
                       alpha = 1 / 2, beta = NULL, a0 = 1, b0 = NULL,
                       lambda = 1, nu_max = 1000) {
  values <- list(mu0 = mu0, tau0 = tau0, a = a, b = b, alpha = alpha,
                 beta = beta, a0 = a0, b0 = b0, lambda = lambda,
                 nu_max = nu_max)
  for (name in names(values)) {
    value <- values[[name]]
    if (is.null(value)) next
    per_level <- name %in% c("a", "b")
    if (!is.numeric(value) || !(length(value) == 1L || (per_level && length(value) > 1L)) ||
        any(!is.finite(value))) {
      hm_abort(name, "must be NULL or ",
               if (per_level) "finite numbers (one per level)" else "a single finite number",
               ", not ", describe(value), ".")
    }
    if (name != "mu0" && any(value <= 0)) {
      hm_abort(name, "must be positive, not ", format(value[value <= 0][1L]), ".")
    }
  }
  if (!(nu_max == round(nu_max) && nu_max <= 1e6)) {
    hm_abort("nu_max", "must be a whole number from 1 to 1e6, not ",
             format(nu_max), ".")
  }
  structure(lapply(values, function(v) if (is.null(v)) NULL else as.double(v)),
            class = "hier_prior")
}

# Fills the values left NULL from the data's scale (list(mean, var)), as
# documented in hier_prior(), and gives `a` and `b` one value per level.
resolve_prior <- function(prior, scale, depth = 1L, within = "common") {
  if (!inherits(prior, "hier_prior")) {
    hm_abort("prior", "must be made by hier_prior(), not ", describe(prior), ".")
  }
  defaults <- c("mu0", "tau0", "b", if (within == "common" && depth > 0L) "beta",
                if (within == "group") "b0")
  needed <- defaults[vapply(defaults, function(n) is.null(prior[[n]]), TRUE)]
  if (length(needed) > 0L) {
    v <- scale$var
    if (!(is.finite(v) && v > 0)) {
      hm_abort("prior", "cannot be scaled to the data: the response has no ",
               "variance. Give ", paste(needed, collapse = ", "),
               " in hier_prior().")
    }
    scaled <- list(mu0 = scale$mean, tau0 = 1 / v, b = v / 2, beta = v / 2,
                   b0 = 1 / v)
    for (n in needed) prior[[n]] <- scaled[[n]]
    attr(prior, "from_data") <- needed
  }
  levels <- max(depth, 1L)
  for (n in c("a", "b")) {
    if (!length(prior[[n]]) %in% c(1L, levels)) {
      hm_abort("prior", "`", n, "` has ", length(prior[[n]]), " values but ",
               "the model has ", levels, " level(s) of groups.")
    }
    prior[[n]] <- rep_len(prior[[n]], levels)
  }
  attr(prior, "model") <- list(depth = depth, within = within)
  prior
}

# The list the Rust sampler reads: one sd prior per level (top first) and
# the within-group sd's; for `y ~ 1` the precision's prior is (a, b) and
# there are no levels.
prior_for_sampler <- function(prior, within, depth) {
  gamma <- function(shape, rate) {
    list(family = "gamma_precision", shape = shape, rate = rate)
  }
  out <- unclass(prior)[c("mu0", "tau0", "a0", "b0", "lambda", "nu_max")]
  out$within <- within
  if (depth == 0L) {
    out$levels <- list()
    out$within_prior <- gamma(prior$a[1L], prior$b[1L])
  } else {
    out$levels <- Map(gamma, prior$a, prior$b)
    out$within_prior <- if (within == "common") gamma(prior$alpha, prior$beta)
  }
  out
}

#' @export
print.hier_prior <- function(x, digits = 4, ...) {
  show <- function(name) {
    if (is.null(x[[name]])) {
      "(from data)"
    } else {
      paste(format(x[[name]], digits = digits), collapse = ", ")
    }
  }
  model <- attr(x, "model")
  depth <- if (is.null(model)) 1L else model$depth
  within <- if (is.null(model)) c("common", "group") else model$within
  cat("Hierarchical normal prior (precisions; Gamma shape, rate)\n")
  cat("  mu    ~ N(mu0 = ", show("mu0"), ", 1/tau0), tau0 = ", show("tau0"),
      "\n", sep = "")
  if (depth == 0L) {
    cat("  1/sd^2 ~ G(a = ", show("a"), ", b = ", show("b"), ")\n", sep = "")
  } else {
    cat("  tau_b ~ G(a = ", show("a"), ", b = ", show("b"), ")",
        if (depth > 1L) " per level, top first", "\n", sep = "")
  }
  if (depth > 0L && "common" %in% within) {
    cat("  tau_w ~ G(alpha = ", show("alpha"), ", beta = ", show("beta"), ")\n",
        sep = "")
  }
  if ("group" %in% within) {
    cat(if (is.null(model)) "  within = \"group\": ",
        "  1/sd_w[k]^2 ~ G(nu0/2, nu0 sd_w0^2/2), sd_w0^2 ~ G(a0 = ", show("a0"),
        ", b0 = ", show("b0"), "),\n    p(nu0) ~ exp(-lambda nu0), lambda = ",
        show("lambda"), ", nu0 = 1..", show("nu_max"), "\n", sep = "")
  }
  if (identical(within, "known")) cat("  within-group variances known (se)\n")
  from_data <- attr(x, "from_data")
  if (length(from_data) > 0L) {
    cat("  (", paste(from_data, collapse = ", "),
        " scaled to the data: see ?hier_prior)\n", sep = "")
  }
  invisible(x)
}
