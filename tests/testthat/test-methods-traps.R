# The traps of issue 19 ("Hard to break") in the methods: each test
# reproduces one.

# posterior's diagnostics of the columns `pars` of a fit, as summary() used
# to compute them (one variable at a time).
posterior_diagnostics <- function(f, pars) {
  s <- suppressWarnings(posterior::summarise_draws(
    posterior::as_draws_array(f[, pars, drop = FALSE]),
    "mcse_mean", "ess_bulk", "ess_tail", "rhat"
  ))
  data.frame(mcse_mean = as.numeric(s$mcse_mean), ess_bulk = as.numeric(s$ess_bulk),
             ess_tail = as.numeric(s$ess_tail), rhat = as.numeric(s$rhat))
}

test_that("summary's diagnostics are posterior's, for every shape of fit", {
  skip_if_not_installed("posterior")
  check <- function(f, pars = coda::varnames(f)) {
    s <- summary(f, pars = pars)$table
    expect_equal(s[c("mcse_mean", "ess_bulk", "ess_tail", "rhat")],
                 posterior_diagnostics(f, pars), ignore_attr = TRUE, tolerance = 1e-10)
    expect_equal(s$sd, unname(apply(as.matrix(f[, pars, drop = FALSE]), 2L, stats::sd)),
                 tolerance = 1e-12)
  }
  check(quick_fit(chains = 4, iter = 1000))
  # odd chain lengths drop the middle draw when splitting; one chain
  check(quick_fit(chains = 3, iter = 41, sampler = "gibbs"))
  check(quick_fit(chains = 1, iter = 301, sampler = "gibbs"))
  # very short chains: no lag pairs (n = 5, 7) or no ESS at all (n = 2, 1)
  for (iter in c(10, 14, 4, 2)) check(quick_fit(iter = iter))
  # nu0 is whole: ties in the ranks; a slowly mixing chain sums many lags
  check(quick_fit(within = "group", iter = 600))
  d <- data.frame(g = rep(1:30, each = 2))
  d$y <- stats::rnorm(60)
  check(quick_fit(y ~ g, d, chains = 4, iter = 4000, sampler = "gibbs"))
  # constant and tied columns, and one whose range is below machine epsilon
  g <- quick_fit(iter = 200)
  for (c in 1:2) {
    g[[c]][, "theta[1]"] <- 3
    g[[c]][, "theta[2]"] <- round(g[[c]][, "theta[2]"])
    g[[c]][, "theta[4]"] <- c
  }
  g[[1]][, "theta[3]"] <- 1e-20 * seq_len(100)
  check(g)
})

test_that("summary of thousands of group means takes seconds", {
  skip_on_cran()
  # posterior's loop over variables took 41 s for 5,000 groups; 2,000
  # groups and 4 x 1,000 draws took 16 s of CPU that way, now under 3.
  # CPU time, not elapsed: a loaded machine must not fail the test
  set.seed(8)
  d <- data.frame(g = rep(1:2000, each = 3))
  d$y <- stats::rnorm(2000, 0, 2)[d$g] + stats::rnorm(nrow(d))
  f <- quick_fit(y ~ g, d, chains = 4, iter = 2000)
  cpu <- sum(system.time(s <- summary(f, pars = "theta"))[c("user.self", "sys.self")])
  expect_identical(nrow(s$table), 2000L)
  expect_lt(cpu, 8)
})
