# The marginal likelihood against computations that share nothing with the
# core: the dense multivariate normal law of all the rows given the sds
# (mu and every group mean integrated out as Gaussians), the priors'
# densities from R's own d* functions, and R's integrate() over log sds.

evidence_fit <- function(formula, data, iter = 2500, ...) {
  fit(formula, data, chains = 4, iter = iter, seed = 11, progress = FALSE, ...)
}

# log density of an sd under a resolved prior (list(family, parameters))
sd_log_density <- function(d, sd) {
  switch(d$family,
    gamma_precision = stats::dgamma(1 / sd^2, d$shape, d$rate, log = TRUE) +
      log(2) - 3 * log(sd),
    gamma_variance = stats::dgamma(sd^2, d$shape, d$rate, log = TRUE) +
      log(2) + log(sd),
    half_normal = log(2) + stats::dnorm(sd, 0, d$scale, log = TRUE),
    half_student_t = log(2) + stats::dt(sd / d$scale, d$df, log = TRUE) -
      log(d$scale),
    exponential = stats::dexp(sd, d$rate, log = TRUE),
    uniform = stats::dunif(sd, 0, d$upper, log = TRUE)
  )
}

# log N(y; mu0 1, diag(row_var) + 11'/tau0 + sum_l sd_l^2 Z_l Z_l')
dense_log_lik <- function(y, memberships, mu0, tau0, level_sd, row_var) {
  sigma <- diag(row_var, length(y)) + 1 / tau0
  for (l in seq_along(memberships)) {
    sigma <- sigma + level_sd[l]^2 * outer(memberships[[l]], memberships[[l]], "==")
  }
  # where a tiny within sd leaves sigma singular in double precision, the
  # density is negligible
  r <- tryCatch(chol(sigma), error = function(e) NULL)
  if (is.null(r)) return(-Inf)
  z <- backsolve(r, y - mu0, transpose = TRUE)
  -length(y) / 2 * log(2 * pi) - sum(log(diag(r))) - sum(z^2) / 2
}

# The log joint density of the data and t = log sd of each variance
# parameter (each level's sd, then sd_w unless the standard errors are
# known), and the upper end of each t's support.
dense_log_joint <- function(y, memberships, prior, se = NULL) {
  priors <- c(unname(prior$levels), if (is.null(se)) list(prior$within_prior))
  log_joint <- function(t) {
    sd <- exp(t)
    level_sd <- sd[seq_along(memberships)]
    row_var <- if (is.null(se)) sd[length(sd)]^2 else se^2
    dense_log_lik(y, memberships, prior$mu0, prior$tau0, level_sd, row_var) +
      sum(mapply(sd_log_density, priors, sd)) + sum(t)
  }
  upper <- vapply(priors, function(p) if (p$family == "uniform") log(p$upper) else Inf, 0)
  list(log_joint = log_joint, upper = upper)
}

# log p(y) by nested integrate() over the log sds (one or two of them).
dense_log_evidence <- function(y, memberships, prior, se = NULL) {
  joint <- dense_log_joint(y, memberships, prior, se)
  log_joint <- joint$log_joint
  d <- length(joint$upper)
  start <- pmin(rep(log(stats::sd(y)) - 1, d), joint$upper - 1)
  mode <- stats::optim(start, log_joint, control = list(fnscale = -1, reltol = 1e-12),
                       method = if (d == 1L) "BFGS" else "Nelder-Mead")
  top <- mode$value
  integrate_from <- function(fixed) {
    i <- length(fixed) + 1L
    f <- function(t) {
      vapply(t, function(ti) {
        if (i == d) exp(log_joint(c(fixed, ti)) - top) else integrate_from(c(fixed, ti))
      }, 0)
    }
    stats::integrate(f, mode$par[i] - 25, min(mode$par[i] + 12, joint$upper[i]),
                     rel.tol = 1e-9, subdivisions = 500L)$value
  }
  top + log(integrate_from(numeric()))
}

# log p(y) and its standard error by importance sampling from a
# multivariate t (6 degrees of freedom) fitted to posterior draws `t_draws`
# of the coordinates, with `log_joint` the log joint density at them.
importance_log_evidence <- function(t_draws, log_joint, n = 20000L, df = 6) {
  d <- ncol(t_draws)
  centre <- colMeans(t_draws)
  chol_cov <- chol(stats::cov(t_draws) * 1.5)
  set.seed(21)
  z <- matrix(stats::rnorm(n * d), n) / sqrt(stats::rchisq(n, df) / df)
  t <- sweep(z %*% chol_cov, 2, centre, "+")
  log_t_density <- function(t) {
    u <- backsolve(chol_cov, t - centre, transpose = TRUE)
    lgamma((df + d) / 2) - lgamma(df / 2) - d / 2 * log(df * pi) -
      sum(log(diag(chol_cov))) - (df + d) / 2 * log1p(sum(u^2) / df)
  }
  log_w <- apply(t, 1, function(ti) log_joint(ti) - log_t_density(ti))
  top <- max(log_w)
  w <- exp(log_w - top)
  list(log = top + log(mean(w)), error = stats::sd(w) / sqrt(n) / mean(w))
}

tiny_groups <- local({
  set.seed(4)
  g <- rep(c("a", "b", "c", "d"), c(3, 4, 2, 5))
  data.frame(g = g, y = round(rnorm(14, 10 + c(a = -2, b = 1, c = 0, d = 2)[g], 1.5), 2))
})

test_that("the two-level marginal likelihood is the dense Gaussian integral", {
  priors <- list(
    hier_prior(),
    hier_prior(mu0 = 10, tau0 = 0.01, a = 1, b = 2, alpha = 2, beta = 3),
    hier_prior(sd_b = uniform(0, 20), sd_w = exponential(0.5), mu0 = 8, tau0 = 0.05)
  )
  for (prior in priors) {
    f <- evidence_fit(y ~ g, tiny_groups, prior = prior)
    m <- marginal_likelihood(f)
    expect_s3_class(m, "hiermod_evidence")
    expect_identical(m$method, "quadrature")
    expect_lt(m$error, 1e-6)
    exact <- dense_log_evidence(tiny_groups$y, list(tiny_groups$g),
                                fit_info(f)$prior)
    expect_lt(abs(m$log - exact), 1e-7)
  }
})

test_that("y ~ 1, known standard errors and nested groups integrate exactly too", {
  one <- evidence_fit(y ~ 1, tiny_groups)
  expect_lt(abs(marginal_likelihood(one)$log -
                  dense_log_evidence(tiny_groups$y, list(), fit_info(one)$prior)), 1e-7)
  # posteriordb's eight schools prior: mu ~ N(0, 5), tau ~ half-Cauchy(0, 5)
  e <- evidence_fit(y ~ school, eight_schools, se = se,
                    prior = hier_prior(mu0 = 0, tau0 = 1 / 25, sd_b = cauchy(0, 5)))
  expect_lt(abs(marginal_likelihood(e)$log -
                  dense_log_evidence(eight_schools$y, list(eight_schools$school),
                                     fit_info(e)$prior, se = eight_schools$se)), 1e-7)
  nested <- data.frame(region = rep(c("r1", "r2"), c(6, 6)),
                       school = rep(c("s1", "s2", "s3", "s4"), each = 3))
  set.seed(9)
  nested$y <- round(rnorm(12, 5 + c(r1 = -1, r2 = 1)[nested$region], 1), 2)
  n <- evidence_fit(y ~ region / school, nested)
  m <- marginal_likelihood(n)
  expect_identical(m$parameters, 3L)
  joint <- dense_log_joint(nested$y, list(nested$region,
                                          paste(nested$region, nested$school)),
                           fit_info(n)$prior)
  is <- importance_log_evidence(log(as.matrix(n)[, c("sd_region", "sd_school", "sd_w")]),
                                joint$log_joint)
  expect_lt(is$error, 0.01)
  expect_lt(abs(m$log - is$log), 4 * is$error + m$error)
})

test_that("bridge sampling agrees with importance sampling for group variances", {
  g <- evidence_fit(y ~ g, tiny_groups, within = "group", iter = 5000)
  m <- marginal_likelihood(g)
  expect_identical(m$method, "bridge sampling")
  expect_identical(m$parameters, 6L)
  expect_gt(m$error, 0)
  expect_lt(m$error, 0.05)
  # The dense law with each row's group variance, nu0 summed out (its
  # prior's terms beyond nu = 80 are below e^-80 of the sum).
  p <- fit_info(g)$prior
  nu <- seq_len(min(p$nu_max, 80))
  log_nu_prior <- -p$lambda * nu - log(sum(exp(-p$lambda * seq_len(p$nu_max))))
  rows_of <- match(tiny_groups$g, c("a", "b", "c", "d"))
  centre_prior <- if (is.null(p$within_prior)) {
    list(family = "gamma_variance", shape = p$a0, rate = p$b0)
  } else {
    p$within_prior
  }
  log_joint <- function(t) {
    sd <- exp(t)
    sd_w <- sd[3:6]
    s0 <- sd[2]^2
    # 1/sd_j^2 ~ G(nu/2, nu s0 / 2), as a density of the sds
    log_group <- colSums(matrix(stats::dgamma(rep(1 / sd_w^2, length(nu)),
                                              rep(nu / 2, each = 4),
                                              rep(nu * s0 / 2, each = 4), log = TRUE),
                                4)) + sum(log(2) - 3 * log(sd_w)) + log_nu_prior
    top <- max(log_group)
    dense_log_lik(tiny_groups$y, list(tiny_groups$g), p$mu0, p$tau0, sd[1],
                  sd_w[rows_of]^2) +
      sd_log_density(p$levels[[1]], sd[1]) + sd_log_density(centre_prior, sd[2]) +
      top + log(sum(exp(log_group - top))) + sum(t)
  }
  cols <- c("sd_b", "sd_w0", paste0("sd_w[", c("a", "b", "c", "d"), "]"))
  is <- importance_log_evidence(log(as.matrix(g)[, cols]), log_joint)
  expect_lt(is$error, 0.02)
  expect_lt(abs(m$log - is$log), 4 * sqrt(m$error^2 + is$error^2))
})

test_that("a Bayes factor is the ratio of two marginal likelihoods", {
  lecture <- evidence_fit(mathscore ~ school, schools, prior = hier_prior(
    mu0 = 50, tau0 = 1 / 25, a = 1, b = 10, alpha = 1, beta = 100))
  default <- evidence_fit(mathscore ~ school, schools)
  bf <- bayes_factor(lecture, default)
  expect_s3_class(bf, "hiermod_bf")
  m1 <- marginal_likelihood(lecture)
  m2 <- marginal_likelihood(default)
  expect_equal(bf$log_bf, m1$log - m2$log)
  expect_equal(bf$bf, exp(m1$log - m2$log))
  # bridge sampling (another method, from the same draws) reproduces it
  b1 <- marginal_likelihood(lecture, method = "bridge")
  b2 <- marginal_likelihood(default, method = "bridge")
  expect_lt(abs(b1$log - b2$log - bf$log_bf), 4 * sqrt(b1$error^2 + b2$error^2))
  expect_output(print(bf), "Bayes factor of lecture against default")
  expect_output(print(m1), "quadrature over 2 variance parameters")
  # the groups differ: the lecture's question
  one <- evidence_fit(mathscore ~ 1, schools)
  expect_gt(bayes_factor(default, one)$log_bf, 50)
})

test_that("the marginal likelihood refuses what it cannot compute", {
  g <- evidence_fit(y ~ g, tiny_groups, within = "group", keep = "global")
  expect_hm_error(marginal_likelihood(g), "x", "keep = \"all\"")
  h <- evidence_fit(y ~ g, tiny_groups, within = "group")
  expect_hm_error(marginal_likelihood(h, method = "quadrature"), "method", "at most 4")
  expect_hm_error(marginal_likelihood(h, method = "exact"), "method")
  expect_hm_error(marginal_likelihood(h, extra = 1), "extra")
  other <- evidence_fit(mathscore ~ school, schools)
  expect_hm_error(bayes_factor(h, other), "x2", "same data")
  expect_hm_error(bayes_factor(h, 1), "x2")
  shifted <- transform(tiny_groups, y = y + 1)
  expect_hm_error(bayes_factor(h, evidence_fit(y ~ g, shifted)), "x2")
})

test_that("the marginal likelihood changes with the data's units by the Jacobian alone", {
  # with the default prior, scaled to the data, p(c y) = p(y) / c^N exactly
  base <- evidence_fit(mathscore ~ school, schools, iter = 1000)
  m0 <- marginal_likelihood(base)$log
  for (c in c(1e-100, 1e100)) {
    scaled <- evidence_fit(mathscore ~ school, transform(schools, mathscore = mathscore * c),
                           iter = 1000)
    expect_lt(abs(marginal_likelihood(scaled)$log + nrow(schools) * log(c) - m0), 1e-6)
  }
  e0 <- evidence_fit(y ~ school, eight_schools, se = se, iter = 1000)
  big <- transform(eight_schools, y = y * 1e80, se = se * 1e80)
  e1 <- evidence_fit(y ~ school, big, se = se, iter = 1000)
  expect_lt(abs(marginal_likelihood(e1)$log + 8 * log(1e80) - marginal_likelihood(e0)$log),
            1e-6)
})
