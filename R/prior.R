#' Priors of the hierarchical normal model
#'
#' The lecture's conjugate priors, in its own names and parameterisation
#' (precisions, Gamma shape and rate):
#' \deqn{\mu \sim N(\mu_0, 1/\tau_0), \quad \tau_b \sim G(a, b), \quad
#'   \tau_w \sim G(\alpha, \beta),}
#' where \eqn{\tau_b = 1/sd_b^2} is the between-group precision,
#' \eqn{\tau_w = 1/sd_w^2} the within-group precision, and \eqn{G(a, b)} has
#' density proportional to \eqn{x^{a-1} e^{-b x}} (mean \eqn{a/b}).
#'
#' Any value left `NULL` is set from the data by [fit()], which gives a
#' proper, weakly informative prior worth one observation (Hoff 2009, ch. 8),
#' scaled to the response `y`:
#' `mu0 = mean(y)`, `tau0 = 1/var(y)`, `b = beta = var(y)/2` (with the
#' default `a = alpha = 1/2`). Because it moves with the data, an affine change
#' of units of `y` changes the posterior by the same affine map.
#'
#' @param mu0 Prior mean of the population mean \eqn{\mu}.
#' @param tau0 Prior precision of \eqn{\mu} (positive).
#' @param a,b Shape and rate of the Gamma prior on the between-group
#'   precision \eqn{\tau_b} (positive).
#' @param alpha,beta Shape and rate of the Gamma prior on the within-group
#'   precision \eqn{\tau_w} (positive).
#' @return An object of class `hier_prior`: a list of the six values, `NULL`
#'   where they are to be set from the data.
#' @references Hoff, P. D. (2009). *A First Course in Bayesian Statistical
#'   Methods*. Springer. Chapter 8.
#' @examples
#' hier_prior()
#' # Hoff's prior for the schools data (section 8.4)
#' hier_prior(mu0 = 50, tau0 = 1/25, a = 1/2, b = 50, alpha = 1/2, beta = 50)
#' @export
hier_prior <- function(mu0 = NULL, tau0 = NULL, a = 1 / 2, b = NULL,
                       alpha = 1 / 2, beta = NULL) {
  values <- list(mu0 = mu0, tau0 = tau0, a = a, b = b, alpha = alpha,
                 beta = beta)
  for (name in names(values)) {
    value <- values[[name]]
    if (is.null(value)) next
    if (!is.numeric(value) || length(value) != 1L || !is.finite(value)) {
      hm_abort(name, "must be NULL or a single finite number, not ",
               describe(value), ".")
    }
    if (name != "mu0" && value <= 0) {
      hm_abort(name, "must be positive, not ", format(value), ".")
    }
  }
  structure(lapply(values, function(v) if (is.null(v)) NULL else as.double(v)),
            class = "hier_prior")
}

# Fills the values left NULL from the response, as documented in hier_prior().
resolve_prior <- function(prior, y) {
  if (!inherits(prior, "hier_prior")) {
    hm_abort("prior", "must be made by hier_prior(), not ", describe(prior), ".")
  }
  defaults <- c("mu0", "tau0", "b", "beta")
  needed <- defaults[vapply(defaults, function(n) is.null(prior[[n]]), TRUE)]
  if (length(needed) > 0L) {
    v <- stats::var(y)
    if (!(is.finite(v) && v > 0)) {
      hm_abort("prior", "cannot be scaled to the data: the response has no ",
               "variance. Give ", paste(needed, collapse = ", "),
               " in hier_prior().")
    }
    scaled <- list(mu0 = mean(y), tau0 = 1 / v, b = v / 2, beta = v / 2)
    for (n in needed) prior[[n]] <- scaled[[n]]
    attr(prior, "from_data") <- needed
  }
  prior
}

#' @export
print.hier_prior <- function(x, digits = 4, ...) {
  show <- function(name) {
    if (is.null(x[[name]])) "(from data)" else format(x[[name]], digits = digits)
  }
  cat("Hierarchical normal prior (precisions; Gamma shape, rate)\n")
  cat("  mu    ~ N(mu0 = ", show("mu0"), ", 1/tau0), tau0 = ", show("tau0"),
      "\n", sep = "")
  cat("  tau_b ~ G(a = ", show("a"), ", b = ", show("b"), ")\n", sep = "")
  cat("  tau_w ~ G(alpha = ", show("alpha"), ", beta = ", show("beta"), ")\n",
      sep = "")
  from_data <- attr(x, "from_data")
  if (length(from_data) > 0L) {
    cat("  (", paste(from_data, collapse = ", "),
        " scaled to the data: see ?hier_prior)\n", sep = "")
  }
  invisible(x)
}
