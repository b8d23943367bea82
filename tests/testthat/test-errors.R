# Each bad input must give a hiermod_error naming the argument at fault.

d <- data.frame(y = c(1, 2, 3, 4, 5, 7), g = rep(c("a", "b"), each = 3))

test_that("bad responses are refused", {
  expect_hm_error(fit(g ~ y, d), "formula", "must be numeric")
  expect_hm_error(fit(nope ~ g, d), "formula", "`nope`.*not found")
  expect_hm_error(fit(~ g, d), "formula", "two-sided")
  expect_hm_error(fit("y ~ g", d), "formula", "two-sided")
  for (bad in list(Inf, -Inf)) {
    dd <- d
    dd$y[4] <- bad
    expect_hm_error(fit(y ~ g, dd), "formula", "row 4")
  }
  # missing responses are dropped, as R's modelling functions do
  for (bad in list(NA, NaN)) {
    dd <- d
    dd$y[4] <- bad
    expect_message(f <- fit(y ~ g, dd, chains = 1, iter = 50),
                   "Dropped 1 of 6 .*first row 4", class = "hiermod_dropped_rows")
    expect_identical(nobs(f), 5L)
  }
  dd <- d
  dd$y <- dd$y > 3
  expect_hm_error(fit(y ~ g, dd), "formula", "numeric")
  expect_hm_error(fit(y ~ g, d[0, ]), "data", "no rows")
  expect_hm_error(fit(y ~ g, "not data"), "data")
})

test_that("bad groups are refused", {
  dd <- d
  dd$g[2] <- NA
  expect_message(fit(y ~ g, dd, chains = 1, iter = 50), "first row 2",
                 class = "hiermod_dropped_rows")
  dd$g <- c(1, 1, 2, 2, NaN, 2)
  expect_message(fit(y ~ g, dd, chains = 1, iter = 50), "first row 5",
                 class = "hiermod_dropped_rows")
  dd$g <- c(1, 1, 2, 2, Inf, 2)
  expect_hm_error(fit(y ~ g, dd), "formula", "row 5")
  expect_hm_error(fit(y ~ g, transform(d, g = "one")), "formula", "at least 2 groups")
  dd <- d
  dd$g <- factor(dd$g, levels = c("a", "unused", "b"))
  expect_message(f <- fit(y ~ g, dd, iter = 20, chains = 1, seed = 1),
                 "Dropped 1 unused level.*unused", class = "hiermod_dropped_levels")
  expect_identical(group_stats(f)$group, c("a", "b"))
  expect_identical(levels(dd$g), c("a", "unused", "b"))
  # values outside the factor's levels are NA: dropped, leaving one group
  dd$g <- factor(dd$g, levels = "a")
  expect_message(expect_hm_error(fit(y ~ g, dd), "formula", "at least 2 groups"),
                 "Dropped 3 of 6", class = "hiermod_dropped_rows")
  dd$g <- as.Date("2020-01-01") + 1:6
  expect_hm_error(fit(y ~ g, dd), "formula", "must be a factor")
  # covariates and slopes read as a regression: its variables must exist
  expect_hm_error(fit(y ~ g + x, d), "formula", "`x`, not found")
  expect_hm_error(fit(y ~ g:x, d), "formula", "`x`, not found")
  expect_hm_error(fit(y ~ (1 | a / g), d), "formula", "`a`, not found")
  expect_hm_error(fit(y ~ (x | g), d), "formula", "`x`, not found")
  expect_hm_error(fit(y ~ 2, d), "formula", "`1` or grouping")
})

test_that("bad priors are refused", {
  expect_hm_error(hier_prior(tau0 = 0), "tau0", "positive")
  expect_hm_error(hier_prior(a = -1), "a", "positive")
  expect_hm_error(hier_prior(b = NA), "b")
  expect_hm_error(hier_prior(alpha = Inf), "alpha")
  expect_hm_error(hier_prior(beta = "1"), "beta")
  expect_hm_error(hier_prior(mu0 = c(1, 2)), "mu0")
  expect_hm_error(fit(y ~ g, d, prior = list(mu0 = 1)), "prior", "hier_prior")
  flat <- transform(d, y = 5)
  expect_hm_error(fit(y ~ g, flat), "prior", "no variance")
  # with every data-scaled value given, constant data are fine
  given <- hier_prior(mu0 = 0, tau0 = 1, b = 1, beta = 1)
  expect_s3_class(fit(y ~ g, flat, prior = given, iter = 20, seed = 1,
                      chains = 1), "hiermod_fit")
})

test_that("bad run settings are refused", {
  expect_hm_error(fit(y ~ g, d, chains = 0), "chains")
  expect_hm_error(fit(y ~ g, d, chains = 1.5), "chains", "whole")
  expect_hm_error(fit(y ~ g, d, chains = NA), "chains")
  expect_hm_error(fit(y ~ g, d, iter = 0), "iter")
  expect_hm_error(fit(y ~ g, d, iter = "10"), "iter")
  expect_hm_error(fit(y ~ g, d, iter = 100, warmup = 100), "warmup", "smaller")
  expect_hm_error(fit(y ~ g, d, warmup = -1), "warmup")
  expect_hm_error(fit(y ~ g, d, thin = 0), "thin")
  expect_hm_error(fit(y ~ g, d, thin = 2.5), "thin")
  expect_hm_error(fit(y ~ g, d, cores = 0), "cores")
  expect_hm_error(fit(y ~ g, d, seed = -1), "seed")
  expect_hm_error(fit(y ~ g, d, seed = 1.5), "seed")
  expect_hm_error(fit(y ~ g, d, seed = 2^53), "seed")
  expect_hm_error(fit(y ~ g, d, seed = c(1, 2)), "seed")
  expect_hm_error(fit(y ~ g, d, sampler = "nuts"), "sampler", "collapsed")
  expect_hm_error(fit(y ~ g, d, sampler = "gib"), "sampler")
  expect_hm_error(fit(y ~ g, d, keep = "some"), "keep")
  expect_hm_error(fit(y ~ g, d, iter = 2e9, warmup = 0), "iter", "thin")
})

test_that("accessors refuse what is not a fit", {
  expect_hm_error(fit_info(list()), "x")
  expect_hm_error(group_stats(coda::mcmc.list(coda::mcmc(1:3))), "x")
})
