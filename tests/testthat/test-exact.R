# Agreement with the posterior computed by quadrature (helper-quadrature.R)
# on small real data: within 4 Monte Carlo standard errors for the means,
# 5% for the standard deviations.
coagulation <- utils::read.csv(system.file("extdata", "coagulation.csv",
                                           package = "hiermod"))

for (sampler in c("collapsed", "asis", "gibbs")) {
  test_that(paste("posterior matches quadrature on coagulation:", sampler), {
    f <- fit(coag ~ diet, coagulation, chains = 4, iter = 11000, warmup = 1000,
             seed = 3, sampler = sampler, cores = 2)
    q <- two_level_against_quadrature(f)
    expect_true(all(abs(q$z) < 4), label = paste(names(q$z), round(q$z, 2), collapse = " "))
    expect_equal(q$sd, q$exact_sd, tolerance = 0.05)
  })
}

test_that("the quadrature itself is right where the answer is known", {
  # With a huge tau0, mu is pinned at mu0; with tight Gamma priors the
  # precisions are pinned too: theta_k is then normal with known moments.
  n <- c(3, 5)
  ybar <- c(1, 4)
  prior <- hier_prior(mu0 = 2, tau0 = 1e8, a = 1e6, b = 1e6, alpha = 4e6,
                      beta = 1e6)
  q <- quadrature_posterior(n, ybar, c(1, 2), prior)
  expect_equal(q["mu", "mean"], 2, tolerance = 1e-6)
  expect_equal(q["sd_b", "mean"], 1, tolerance = 1e-3)
  expect_equal(q["sd_w", "mean"], 0.5, tolerance = 1e-3)
  prec <- n * 4 + 1
  expect_equal(unname(q[4:5, "mean"]), (n * 4 * ybar + 2) / prec, tolerance = 1e-4)
  expect_equal(unname(q[4:5, "sd"]), 1 / sqrt(prec), tolerance = 1e-3)
})
