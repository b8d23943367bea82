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
#'   `alpha` and `beta` are not used; `sd_w0 =` gives \eqn{\sigma_0} a prior
#'   of another family instead of the Gamma on \eqn{\sigma_0^2}.
#'
#' Each standard deviation can instead be given a prior of its own, by the
#' name of its parameter: `mu = normal(0, 5)`, `sd_b = cauchy(0, 5)`,
#' `sd_w = exponential(1)`, and with nested groups `sd_<level> =` (e.g.
#' `sd_region = student_t(3, 0, 2)`); see [prior_distributions].
#'
#' @section Regression models: The models with covariates or group
#'   coefficients (`y ~ x + (1 + x | g)`) name their priors as brms does:
#'   `Intercept =` (a [normal()] or [flat()] prior on the mean response at
#'   the predictors' means, as rstanarm and brms put it), `b =` (every other
#'   fixed effect) or `b_<coef> =` (one of them, e.g. `b_Days`), `sd =`
#'   (every group coefficient's sd) or `sd_<group>__<coef> =`
#'   (`sd_Subject__Days`), `sigma =`, and `cor = lkj(eta)` on the
#'   correlations of correlated coefficients. Defaults, scaled to the data
#'   as rstanarm's autoscale does: Intercept \eqn{N(mean(y), (2.5 sd(y))^2)},
#'   each other effect \eqn{N(0, (2.5 sd(y)/sd(x))^2)}, each sd half-Cauchy
#'   with scale `sd(y)` (divided by `sd(z)` for a slope on `z`), sigma
#'   half-Cauchy with scale `sd(y)`, and `lkj(1)` (uniform over correlation
#'   matrices).
#'
#' @section The default prior: Without `a` or `b`, each level's standard
#'   deviation gets a half-Cauchy prior whose scale is the response's
#'   standard deviation, `sd(y)`; without `alpha` or `beta`, so does `sd_w`
#'   (and the sd of `y ~ 1`). `mu ~ N(mean(y), var(y))`, and with
#'   `within = "group"` `b0 = 1/var(y)` (with `a0 = 1`, so that
#'   \eqn{\sigma_0^2} has prior mean `var(y)`).
#'
#'   Why: the half-Cauchy (Gelman 2006) is proper, its density is positive
#'   and finite at 0, so that a component the data say is small can be small,
#'   and its tail is heavy, so that a large one is not held back; scaled by
#'   `sd(y)` it follows an affine change of units of `y`, which maps the
#'   posterior by the same map. The lecture's Gamma on the precision with the
#'   data's scale (`b = var(y)/2`, worth one observation) has a density that
#'   vanishes at sd = 0 and puts 95% of its mass above `0.51 sd(y)`. On 12 of
#'   R's grouped data sets (lme4, nlme, the schools, coagulation;
#'   `bench/PRIORS.md` in the sources) the half-Cauchy's 90% intervals hold
#'   lme4's REML estimate of every one of the 24 sds where REML is positive
#'   (the lecture's Gamma: 19), its medians are 0.96 to 1.39 times REML, and
#'   where REML is 0 (Dyestuff2, Gun) the 5% quantile is 2% of `sd(y)` (the
#'   Gamma's: 35%). The half-Cauchy agrees with brms's default
#'   (`student_t(3, 0, 2.5 mad(y))`, which does not follow units) to a few
#'   percent, and does not hold back large between-group sds as rstanarm's
#'   does (Rail: sd_b 25.6 against REML 24.8; rstanarm 20.0).
#'
#'   The lecture's prior is one call away: giving `a` or `b` puts the Gamma
#'   on the levels' precisions, `alpha` or `beta` on the within-group one, as
#'   in `hier_prior(a = 1/2, alpha = 1/2)` (the Gamma scaled to the data,
#'   `b = beta = var(y)/2`) or Hoff's
#'   `hier_prior(mu0 = 50, tau0 = 1/25, a = 1/2, b = 50, alpha = 1/2, beta = 50)`.
#'   From group summaries, `mean(y)` and `var(y)` are computed from the
#'   summaries, with the same result.
#'
#' @param mu0 Prior mean of the population mean \eqn{\mu}.
#' @param tau0 Prior precision of \eqn{\mu} (positive).
#' @param a,b Shape and rate of the Gamma prior on the between-group
#'   precision \eqn{\tau_b} (positive), one value per level of nesting or
#'   one for all; for `y ~ 1`, of the precision \eqn{1/sd^2}. A
#'   distribution given as `b` (`b = normal(0, 5)`) is instead the prior of a
#'   regression's fixed effects, as brms names it.
#' @param alpha,beta Shape and rate of the Gamma prior on the within-group
#'   precision \eqn{\tau_w} (positive).
#' @param a0,b0 Shape and rate of the Gamma prior on \eqn{\sigma_0^2}
#'   (`within = "group"`).
#' @param lambda Rate of the prior \eqn{p(\nu_0) \propto e^{-\lambda\nu_0}}
#'   (`within = "group"`).
#' @param nu_max Largest value of \eqn{\nu_0} (`within = "group"`).
#' @param mu A [normal()] prior on \eqn{\mu}, instead of `mu0` and `tau0`.
#' @param sd_b,sd_w,... Priors ([prior_distributions]) on the between-group
#'   sd (one level of groups), the within-group sd, and by name on each
#'   level's sd with nested groups (`sd_region =`), the sd of `y ~ 1`
#'   (`sd =`) or the centre of group-specific sds (`sd_w0 =`, `within =
#'   "group"`), instead of the Gamma on the matching precision (on
#'   \eqn{\sigma_0^2} for `sd_w0`).
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
                       lambda = 1, nu_max = 1000, ..., mu = NULL, sd_b = NULL,
                       sd_w = NULL) {
  given <- names(match.call())[-1L]
  # `b = normal(0, 5)` is brms's name for the fixed effects' prior, not the
  # lecture's Gamma rate
  fixed <- if (inherits(b, "hiermod_dist")) b
  if (!is.null(fixed)) b <- NULL
  given <- setdiff(given, if (!is.null(fixed)) "b")
  dists <- prior_dists(c(list(mu = mu, sd_b = sd_b, sd_w = sd_w, b = fixed),
                         list(...)), given)
  values <- list(mu0 = mu0, tau0 = tau0, a = a, b = b, alpha = alpha,
                 beta = beta, a0 = a0, b0 = b0, lambda = lambda,
                 nu_max = nu_max)
  check_prior_values(values)
  if (!(nu_max == round(nu_max) && nu_max <= 1e6)) {
    hm_abort("nu_max", "must be a whole number from 1 to 1e6, not ",
             format(nu_max), ".")
  }
  if (!is.null(dists$mu) && dists$mu$family != "normal") {
    hm_abort("mu", "must have a normal() prior, not ", dists$mu$family, "().")
  }
  out <- lapply(values, function(v) if (is.null(v)) NULL else as.double(v))
  out$dists <- dists
  # The lecture's Gamma on the levels' precisions where `a` or `b` is given,
  # on the within-group one where `alpha` or `beta` is; else the default.
  out$lecture <- c(levels = any(c("a", "b") %in% given),
                   within = any(c("alpha", "beta") %in% given))
  structure(out, class = "hier_prior")
}

# The lecture's values of hier_prior(), each NULL or positive finite
# numbers (`mu0` any finite number; `a` and `b` one per level).
check_prior_values <- function(values) {
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
}

# The priors given by parameter name (`mu`, `sd_b`, `sd_w`, `sd_<level>`),
# as distributions; `given` names the arguments of the call, so that a
# prior given twice (`sd_b` and `b`) is refused.
prior_dists <- function(dists, given) {
  dists <- dists[!vapply(dists, is.null, TRUE)]
  if (length(dists) && (is.null(names(dists)) || any(!nzchar(names(dists))))) {
    hm_abort("...", "takes priors by the name of their parameter, as ",
             "`sd_region = cauchy(0, 5)`.")
  }
  clash <- list(mu = c("mu0", "tau0"), sd_b = c("a", "b"),
                sd_w = c("alpha", "beta"), sd_w0 = c("a0", "b0"))
  for (d in intersect(names(dists), names(clash))) {
    both <- intersect(clash[[d]], given)
    if (length(both)) {
      hm_abort(d, "and `", both[1L], "` both give the prior of ", d,
               "; give one of them.")
    }
  }
  Map(as_dist, dists, names(dists))
}

# Fills the values left NULL from the data's scale (list(mean, var)), as
# documented in hier_prior(), gives `a` and `b` one value per level, and
# resolves the prior of each sd: `levels`, one per level (named by
# `sd_names`, top first), and `within_prior` (sd_w, or the sd of `y ~ 1`).
resolve_prior <- function(prior, scale, depth = 1L, within = "common",
                          sd_names = sd_parameter_names(depth)) {
  if (!inherits(prior, "hier_prior")) {
    hm_abort("prior", "must be made by hier_prior(), not ", describe(prior), ".")
  }
  dists <- prior$dists
  if (!is.null(dists$mu)) {
    # a normal() prior on mu is the lecture's (mu0, tau0), its scale NULL
    # for the data's
    prior$mu0 <- dists$mu$location
    if (!is.null(dists$mu$scale)) prior$tau0 <- 1 / dists$mu$scale^2
  }
  within_name <- if (depth == 0L) {
    c("sd", "sd_w")
  } else {
    switch(within, common = "sd_w", group = "sd_w0", known = character())
  }
  unknown <- setdiff(names(dists), c("mu", sd_names, within_name))
  if (length(unknown)) {
    hm_abort("prior", "gives `", unknown[1L], "`, which is not a parameter ",
             "of this model; its standard deviations are ",
             paste0("`", c(sd_names, within_name), "`", collapse = ", "), ".")
  }
  lecture <- if (is.null(prior$lecture)) c(levels = TRUE, within = TRUE) else prior$lecture
  prior <- fill_from_data(prior, scale, depth, within, sd_names, lecture)
  levels <- max(depth, 1L)
  for (n in c("a", "b")) {
    if (!length(prior[[n]]) %in% c(1L, levels)) {
      hm_abort("prior", "`", n, "` has ", length(prior[[n]]), " values but ",
               "the model has ", levels, " level(s) of groups.")
    }
    prior[[n]] <- rep_len(prior[[n]], levels)
  }
  prior <- resolve_sd_priors(prior, sqrt(scale$var), depth, within, sd_names,
                             within_name, lecture)
  attr(prior, "model") <- list(depth = depth, within = within,
                               sd_names = sd_names)
  prior
}

# The values of the lecture's priors left NULL, from the data's scale; the
# attribute `from_data` lists those used, and the sds that take the default.
fill_from_data <- function(prior, scale, depth, within, sd_names, lecture) {
  dists <- prior$dists
  # b and beta are filled even where the default replaces the lecture's
  # Gamma (explore() starts from them); only what is used is reported
  defaults <- c("mu0", "tau0", "b", if (within == "common" && depth > 0L) "beta",
                if (within == "group") "b0")
  needed <- defaults[vapply(defaults, function(n) is.null(prior[[n]]), TRUE)]
  defaulted <- defaulted_sds(names(dists), depth, within, sd_names, lecture)
  if (length(needed) > 0L || length(defaulted) > 0L) {
    v <- scale$var
    if (!(is.finite(v) && v > 0)) {
      hm_abort("prior", "cannot be scaled to the data: the response has no ",
               "variance. Give ", paste(c(needed, defaulted), collapse = ", "),
               " in hier_prior().")
    }
    scaled <- list(mu0 = scale$mean, tau0 = 1 / v, b = v / 2, beta = v / 2,
                   b0 = 1 / v)
    for (n in needed) prior[[n]] <- scaled[[n]]
    # what the sds' own priors or the default replace is not used
    own <- names(dists)
    replaced <- c(if (!lecture[["levels"]] || all(c(sd_names, if (depth == 0L) "sd") %in% own) ||
                        (depth == 0L && "sd_w" %in% own)) "b",
                  if (!lecture[["within"]] || "sd_w" %in% own) "beta",
                  if ("sd_w0" %in% own) "b0")
    attr(prior, "from_data") <- c(setdiff(needed, replaced), defaulted)
  }
  prior
}

# The sds with neither their own prior (`own`: the names given) nor the
# lecture's: they take the default, a half-Cauchy scaled by sd(y).
defaulted_sds <- function(own, depth, within, sd_names, lecture) {
  if (depth == 0L) {
    return(if (!lecture[["levels"]] && within != "known" &&
                 !any(c("sd", "sd_w") %in% own)) "sd")
  }
  c(if (!lecture[["levels"]]) setdiff(sd_names, own),
    if (!lecture[["within"]] && within == "common" && !"sd_w" %in% own) "sd_w")
}

# Each sd's own prior where one is given, else the lecture's Gamma: the
# levels' (`levels`, top first) and sd_w's (`within_prior`), resolved with
# the data's sd `s`.
resolve_sd_priors <- function(prior, s, depth, within, sd_names, within_name,
                              lecture) {
  dists <- prior$dists
  sd_prior <- function(name, shape, rate, gamma) {
    d <- dists[intersect(name, names(dists))]
    if (length(d)) return(resolve_sd_dist(d[[1L]], s, names(d)[1L]))
    if (gamma) return(list(family = "gamma_precision", shape = shape, rate = rate))
    default_sd_prior(s)
  }
  if (depth == 0L) {
    prior$levels <- list()
    prior$within_prior <- if (within != "known") {
      sd_prior(within_name, prior$a[1L], prior$b[1L], lecture[["levels"]])
    }
  } else {
    prior$levels <- Map(sd_prior, sd_names, prior$a, prior$b, lecture[["levels"]])
    # sd_w0 keeps Hoff's G(a0, b0) on sd_w0^2 unless given a prior of its own
    prior$within_prior <- switch(within,
      common = sd_prior("sd_w", prior$alpha, prior$beta, lecture[["within"]]),
      group = if ("sd_w0" %in% names(dists)) {
        resolve_sd_dist(dists$sd_w0, s, "sd_w0")
      }
    )
  }
  prior
}

# The default prior of every standard deviation: half-Cauchy with the
# response's sd `s` as its scale (median s; 90% of its mass between 0.08 s
# and 12.7 s). See ?hier_prior for why.
default_sd_prior <- function(s) list(family = "half_student_t", df = 1, scale = s)

# The names of the levels' standard deviations: `sd_b` with one level of
# groups, `sd_<level>` with nested ones.
sd_parameter_names <- function(depth, levels = paste0("level", seq_len(depth))) {
  if (depth == 0L) character() else if (depth == 1L) "sd_b" else paste0("sd_", levels)
}

# The list the Rust sampler reads: one sd prior per level (top first) and
# the within-group sd's; for `y ~ 1` the precision's prior is (a, b) and
# there are no levels.
prior_for_sampler <- function(prior, within) {
  out <- unclass(prior)[c("mu0", "tau0", "a0", "b0", "lambda", "nu_max",
                          "within_prior")]
  out$levels <- unname(prior$levels)
  out$within <- within
  out
}

#' @export
print.hier_prior <- function(x, digits = 4, ...) {
  if (!is.null(x$levels) || !is.null(x$within_prior)) {
    cat("Hierarchical normal prior\n")
    print_resolved_prior(x, digits)
    return(invisible(x))
  }
  show <- function(name) {
    if (is.null(x[[name]])) {
      "(from data)"
    } else {
      paste(format(x[[name]], digits = digits), collapse = ", ")
    }
  }
  cat("Hierarchical normal prior (precisions; Gamma shape, rate)\n")
  cat("  mu    ~ N(mu0 = ", show("mu0"), ", 1/tau0), tau0 = ", show("tau0"),
      "\n", sep = "")
  given <- names(x$dists)
  lecture <- if (is.null(x$lecture)) c(levels = TRUE, within = TRUE) else x$lecture
  default <- "half-Cauchy(0, sd(y)) (the default; see ?hier_prior)"
  if (!"sd_b" %in% given) {
    cat(if (lecture[["levels"]]) {
      paste0("  tau_b ~ G(a = ", show("a"), ", b = ", show("b"), ")")
    } else {
      paste("  each level's sd ~", default)
    }, "\n", sep = "")
  }
  if (!"sd_w" %in% given) {
    cat(if (lecture[["within"]]) {
      paste0("  tau_w ~ G(alpha = ", show("alpha"), ", beta = ", show("beta"), ")")
    } else {
      paste("  sd_w ~", default)
    }, "\n", sep = "")
  }
  for (name in setdiff(given, "mu")) {
    cat("  ", name, " ~ ", format_dist(x$dists[[name]]), "\n", sep = "")
  }
  # sd_w0's own prior is among the given ones above
  centre <- if ("sd_w0" %in% given) {
    "sd_w0 as given"
  } else {
    paste0("sd_w0^2 ~ G(a0 = ", show("a0"), ", b0 = ", show("b0"), ")")
  }
  cat("  within = \"group\": 1/sd_w[k]^2 ~ G(nu0/2, nu0 sd_w0^2/2), ", centre,
      ",\n    p(nu0) ~ ",
      "exp(-lambda nu0), lambda = ", show("lambda"), ", nu0 = 1..",
      show("nu_max"), "\n", sep = "")
  invisible(x)
}

# A prior as resolved for a model: mu's, then each sd's on the sd scale with
# the median and central 90% interval it implies, so that a user sees what
# the prior says about each sd.
print_resolved_prior <- function(x, digits = 3) {
  tab <- prior_table(x)
  f <- function(v) format(signif(v, digits))
  for (i in seq_len(nrow(tab))) {
    cat("  ", formatC(tab$parameter[i], width = -10), " ~ ",
        formatC(tab$prior[i], width = -30),
        if (!is.na(tab$median[i])) {
          paste0(" median ", f(tab$median[i]), ", 90% [", f(tab$q05[i]), ", ",
                 f(tab$q95[i]), "]")
        }, "\n", sep = "")
  }
  from_data <- attr(x, "from_data")
  if (length(from_data) > 0L) {
    cat("  (", paste(from_data, collapse = ", "),
        " scaled to the data: see ?hier_prior)\n", sep = "")
  }
}

# One row per parameter with a prior: its name, the prior as text, and for
# each sd the median and 5% and 95% quantiles of the sd it implies.
prior_table <- function(x) {
  model <- attr(x, "model")
  f <- function(v) format(signif(v, 4))
  rows <- list(data.frame(parameter = "mu",
                          prior = paste0("normal(", f(x$mu0), ", ", f(1 / sqrt(x$tau0)), ")"),
                          median = NA_real_, q05 = NA_real_, q95 = NA_real_))
  within_name <- if (model$depth == 0L) {
    "sd"
  } else if (identical(model$within, "group")) {
    "sd_w0"
  } else {
    "sd_w"
  }
  sds <- c(stats::setNames(x$levels, model$sd_names),
           if (!is.null(x$within_prior)) {
             stats::setNames(list(x$within_prior), within_name)
           })
  for (name in names(sds)) {
    q <- sd_quantiles(sds[[name]], c(0.5, 0.05, 0.95))
    rows[[length(rows) + 1L]] <- data.frame(
      parameter = name, prior = format_sd_dist(sds[[name]]), median = q[1L],
      q05 = q[2L], q95 = q[3L]
    )
  }
  if (identical(model$within, "group")) {
    hoff <- is.null(x$within_prior)
    rows[[length(rows) + 1L]] <- data.frame(
      parameter = c(if (hoff) "sd_w0^2", "nu0"),
      prior = c(if (hoff) paste0("Gamma(", f(x$a0), ", ", f(x$b0), ")"),
                paste0("exp(-", f(x$lambda), " nu0) on nu0 = 1..", x$nu_max)),
      median = NA_real_, q05 = NA_real_, q95 = NA_real_
    )
  }
  out <- do.call(rbind, rows)
  rownames(out) <- NULL
  out
}

#' The priors of a fit
#'
#' The prior of every parameter, as the fit used it (scaled to the data where
#' [hier_prior()] left values to it), with the median and central 90%
#' interval each prior implies for its standard deviation.
#'
#' @param object A [fit()].
#' @param ... Unused.
#' @return A data frame with columns `parameter`, `prior`, `median`, `q05`,
#'   `q95` (printed as a table).
#' @examples
#' f <- fit(y ~ school, eight_schools, se = se, chains = 1, iter = 200,
#'          prior = hier_prior(mu = normal(0, 5), sd_b = cauchy(0, 5)))
#' prior_summary(f)
#' @importFrom rstantools prior_summary
#' @method prior_summary hiermod_fit
#' @export
prior_summary.hiermod_fit <- function(object, ...) {
  check_fit(object, "object")
  prior_table(fit_meta(object)$prior)
}

#' @importFrom rstantools prior_summary
#' @export
rstantools::prior_summary
