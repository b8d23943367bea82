# The log density of v = log tau (tau = 1/sd^2) under a prior on sd, written
# here apart from the package: `d` is list(family, parameters) as in a fit's
# resolved prior, or NULL with `shape`, `rate` of the lecture's Gamma.
log_prior_log_precision <- function(v, d = NULL, shape = NULL, rate = NULL) {
  if (is.null(d)) d <- list(family = "gamma_precision", shape = shape, rate = rate)
  sd <- exp(-v / 2)
  log_sd_density <- switch(d$family,
    gamma_precision = return(d$shape * v - d$rate * exp(v)),
    half_normal = stats::dnorm(sd, 0, d$scale, log = TRUE),
    half_student_t = stats::dt(sd / d$scale, d$df, log = TRUE),
    exponential = stats::dexp(sd, d$rate, log = TRUE),
    uniform = stats::dunif(sd, 0, d$upper, log = TRUE)
  )
  # |d sd / d v| = sd / 2
  log_sd_density + log(sd)
}

# The priors of the between and within sds of a two-level fit's prior.
between_prior <- function(p) if (!is.null(p$levels)) p$levels[[1L]]
within_prior <- function(p) p$within_prior

# The posterior of the two-level model by deterministic quadrature, for
# small data: mu and theta are integrated analytically, leaving a 2-d grid
# over (v, x) = (log tau_b, log tau_w). Independent of the package's
# samplers: it uses only the group statistics and the prior.
quadrature_posterior <- function(n, ybar, ss, prior, points = 300L) {
  k <- length(n)
  big_n <- sum(n)
  total_ss <- sum(ss)
  p <- prior
  log_post <- function(v, x) {
    tau_b <- exp(v)
    tau_w <- exp(x)
    w <- 1 / (1 / tau_b + 1 / outer(tau_w, n))
    big_w <- rowSums(w) + p$tau0
    m <- (drop(w %*% ybar) + p$tau0 * p$mu0) / big_w
    q <- rowSums(w * (matrix(ybar, nrow(w), k, byrow = TRUE) - m)^2) +
      p$tau0 * (m - p$mu0)^2
    log_prior_log_precision(v, between_prior(p), p$a, p$b) +
      log_prior_log_precision(x, within_prior(p), p$alpha, p$beta) +
      (big_n - k) / 2 * x - tau_w * total_ss / 2 +
      0.5 * rowSums(log(w)) - 0.5 * log(big_w) - q / 2
  }
  grid <- function(v_range, x_range, size) {
    g <- expand.grid(v = seq(v_range[1], v_range[2], length.out = size),
                     x = seq(x_range[1], x_range[2], length.out = size))
    g$lp <- log_post(g$v, g$x)
    g
  }
  # A wide first look, then a fine grid where the posterior has its mass.
  coarse <- grid(c(-25, 15), c(-25, 15), 200L)
  keep <- coarse[coarse$lp > max(coarse$lp) - 30, ]
  pad <- function(r) r + c(-1, 1) * 0.1 * diff(r) + c(-0.5, 0.5)
  g <- grid(pad(range(keep$v)), pad(range(keep$x)), points)
  wt <- exp(g$lp - max(g$lp))
  wt <- wt / sum(wt)
  tau_b <- exp(g$v)
  tau_w <- exp(g$x)
  w <- 1 / (1 / tau_b + 1 / outer(tau_w, n))
  big_w <- rowSums(w) + p$tau0
  m <- (drop(w %*% ybar) + p$tau0 * p$mu0) / big_w
  moments <- function(mean_given, var_given) {
    mean <- sum(wt * mean_given)
    c(mean = mean, sd = sqrt(sum(wt * (var_given + mean_given^2)) - mean^2))
  }
  out <- rbind(
    mu = moments(m, 1 / big_w),
    sd_b = moments(exp(-g$v / 2), 0),
    sd_w = moments(exp(-g$x / 2), 0)
  )
  theta <- t(vapply(seq_len(k), function(j) {
    prec <- n[j] * tau_w + tau_b
    shrink <- tau_b / prec
    moments((n[j] * tau_w * ybar[j] + tau_b * m) / prec,
            1 / prec + shrink^2 / big_w)
  }, numeric(2L)))
  rownames(theta) <- paste0("theta[", seq_len(k), "]")
  rbind(out, theta)
}

# Posterior means and sds by quadrature over one log precision `v`, given
# `log_post(v)` and, for each parameter, its mean and variance given `v`
# (a function of the grid returning list(mean = <grid x parameters>, var =)).
quadrature_1d <- function(log_post, given) {
  coarse <- seq(-30, 20, length.out = 2000L)
  lp <- log_post(coarse)
  keep <- range(coarse[lp > max(lp) - 40])
  v <- seq(keep[1] - 1, keep[2] + 1, length.out = 4000L)
  lp <- log_post(v)
  wt <- exp(lp - max(lp))
  wt <- wt / sum(wt)
  g <- given(v)
  mean <- colSums(wt * g$mean)
  sd <- sqrt(colSums(wt * (g$var + g$mean^2)) - mean^2)
  cbind(mean = mean, sd = sd)
}

# Known standard errors (src/rust/core/MATHS.md sections 2.4 and 4.1): mu and
# theta integrated analytically.
quadrature_known_se <- function(y, se, prior) {
  p <- prior
  parts <- function(v) {
    tau_b <- exp(v)
    w <- 1 / (outer(1 / tau_b, rep(1, length(y))) +
                matrix(se^2, length(v), length(y), byrow = TRUE))
    big_w <- rowSums(w) + p$tau0
    m <- (drop(w %*% y) + p$tau0 * p$mu0) / big_w
    list(tau_b = tau_b, w = w, big_w = big_w, m = m)
  }
  log_post <- function(v) {
    z <- parts(v)
    q <- rowSums(z$w * (matrix(y, length(v), length(y), byrow = TRUE) - z$m)^2) +
      p$tau0 * (z$m - p$mu0)^2
    log_prior_log_precision(v, between_prior(p), p$a, p$b) +
      0.5 * rowSums(log(z$w)) - 0.5 * log(z$big_w) - q / 2
  }
  given <- function(v) {
    z <- parts(v)
    prec <- outer(z$tau_b, 1 / se^2, "+")
    shrink <- z$tau_b / prec
    theta_mean <- (matrix(y / se^2, length(v), length(y), byrow = TRUE) + z$tau_b * z$m) / prec
    theta_var <- 1 / prec + shrink^2 / z$big_w
    list(mean = cbind(mu = z$m, sd_b = exp(-v / 2), theta_mean),
         var = cbind(1 / z$big_w, 0, theta_var))
  }
  out <- quadrature_1d(log_post, given)
  rownames(out) <- c("mu", "sd_b", paste0("theta[", seq_along(y), "]"))
  out
}

# One normal sample (src/rust/core/MATHS.md section 2.1): mu integrated
# analytically.
quadrature_one_sample <- function(y, prior) {
  p <- prior
  n <- length(y)
  ybar <- mean(y)
  s <- sum((y - ybar)^2)
  log_post <- function(x) {
    tau <- exp(x)
    prec <- n * tau + p$tau0
    log_prior_log_precision(x, within_prior(p), p$a, p$b) +
      n / 2 * x - tau * s / 2 - 0.5 * log(prec) -
      0.5 * n * tau * p$tau0 / prec * (ybar - p$mu0)^2
  }
  given <- function(x) {
    tau <- exp(x)
    prec <- n * tau + p$tau0
    list(mean = cbind(mu = (n * tau * ybar + p$tau0 * p$mu0) / prec, sd = exp(-x / 2)),
         var = cbind(1 / prec, 0))
  }
  quadrature_1d(log_post, given)
}

# A two-level fit against quadrature with its own prior: each parameter's
# posterior mean as a z-score in Monte Carlo standard errors, and the
# posterior sds of the fit and of the quadrature.
two_level_against_quadrature <- function(f) {
  st <- group_stats(f)
  exact <- quadrature_posterior(st$n, st$mean, st$ss, fit_info(f)$prior)
  rownames(exact)[-(1:3)] <- paste0("theta[", st$group, "]")
  m <- as.matrix(f)[, rownames(exact)]
  mcse <- apply(m, 2, stats::sd) / sqrt(coda::effectiveSize(f[, rownames(exact)]))
  list(z = (colMeans(m) - exact[, "mean"]) / mcse, sd = apply(m, 2, stats::sd),
       exact_sd = exact[, "sd"])
}
