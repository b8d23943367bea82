# loo on a hiermod fit against loo on a JAGS fit of the same model and
# priors (the lecture's, on the lecture's data): the two samplers' draws
# differ, so the estimates may differ by their Monte Carlo error, not more.

test_that("loo's elpd for the schools model agrees with loo on a JAGS fit", {
  skip_if_not_installed("loo")
  skip_if_not_installed("rjags")
  prior <- hier_prior(mu0 = 50, tau0 = 1 / 25, a = 1, b = 10, alpha = 1, beta = 100)
  f <- fit(mathscore ~ school, schools, prior = prior, chains = 4, iter = 2000,
           seed = 8, progress = FALSE)
  # a few schools of few students give Pareto k slightly above 0.5 (loo's
  # warning); both fits have them, and the mcse below allows for them
  ours <- suppressWarnings(loo::loo(f))
  code <- "model {
    for (i in 1:N) { y[i] ~ dnorm(theta[g[i]], tau_w) }
    for (k in 1:K) { theta[k] ~ dnorm(mu, tau_b) }
    mu ~ dnorm(mu0, tau0)
    tau_b ~ dgamma(a, b)
    tau_w ~ dgamma(alpha, beta)
  }"
  data <- list(y = schools$mathscore, g = schools$school, N = nrow(schools),
               K = 100L, mu0 = 50, tau0 = 1 / 25, a = 1, b = 10, alpha = 1, beta = 100)
  inits <- lapply(1:4, function(c) list(.RNG.name = "base::Mersenne-Twister", .RNG.seed = c))
  model <- rjags::jags.model(textConnection(code), data = data, inits = inits,
                             n.chains = 4, quiet = TRUE)
  stats::update(model, 1000, progress.bar = "none")
  draws <- rjags::coda.samples(model, c("theta", "tau_w"), 1000, progress.bar = "none")
  m <- as.matrix(draws)
  theta <- m[, paste0("theta[", schools$school, "]")]
  ll <- stats::dnorm(matrix(schools$mathscore, nrow(m), nrow(schools), byrow = TRUE),
                     theta, 1 / sqrt(m[, "tau_w"]), log = TRUE)
  r_eff <- loo::relative_eff(exp(ll), chain_id = rep(1:4, each = 1000))
  theirs <- suppressWarnings(loo::loo(ll, r_eff = r_eff))
  est <- function(x, what) x$estimates[what, "Estimate"]
  # the elpd's standard error over the data, as loo reports it
  expect_lt(abs(est(ours, "elpd_loo") - est(theirs, "elpd_loo")),
            ours$estimates["elpd_loo", "SE"])
  # and within the two runs' Monte Carlo error
  mc <- sqrt(loo::mcse_loo(ours)^2 + loo::mcse_loo(theirs)^2)
  expect_lt(abs(est(ours, "elpd_loo") - est(theirs, "elpd_loo")), 4 * mc)
  expect_lt(abs(est(ours, "p_loo") - est(theirs, "p_loo")), 4 * mc + 1)
})
