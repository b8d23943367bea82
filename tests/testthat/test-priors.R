# Prior families on the standard deviations: constructors, hier_prior()'s
# vocabulary, what the fit used, and agreement with quadrature.

test_that("the constructors check their arguments, naming them", {
  expect_hm_error(normal(0, -1), "scale", "positive")
  expect_hm_error(cauchy(0, "a"), "scale", "single finite number")
  expect_hm_error(student_t(0, 0, 1), "df", "positive")
  expect_hm_error(exponential(-2), "rate", "positive")
  expect_hm_error(uniform(0), "upper", "must be given")
  expect_hm_error(gamma_precision(), "shape", "must be given")
  expect_s3_class(cauchy(0, 5), "hiermod_dist")
  expect_output(print(cauchy(0, 5)), "cauchy\\(location = 0, scale = 5\\)")
})

test_that("hier_prior() takes a prior per sd and refuses what cannot be meant", {
  expect_hm_error(hier_prior(sd_b = cauchy(0, 5), b = 3), "sd_b", "`b`")
  expect_hm_error(hier_prior(mu = normal(0, 5), mu0 = 3), "mu", "`mu0`")
  expect_hm_error(hier_prior(mu = cauchy(0, 5)), "mu", "normal")
  expect_hm_error(hier_prior(sd_b = "cauchy"), "sd_b", "prior distribution")
  expect_hm_error(hier_prior(cauchy(0, 5), 1, 1, 1, 1, 1, 1, 1, 1, 1, 1), "...",
                  "by the name")
  expect_hm_error(fit(mathscore ~ school, schools, prior = hier_prior(sd_c = normal())),
                  "prior", "`sd_c`.*`sd_b`, `sd_w`")
  expect_hm_error(fit(mathscore ~ school, schools,
                      prior = hier_prior(sd_b = normal(3, 1))), "sd_b", "location")
  expect_hm_error(fit(mathscore ~ school, schools,
                      prior = hier_prior(sd_b = uniform(1, 5))), "sd_b", "start")
  # rstanarm's objects are understood
  rstanarm_cauchy <- list(dist = "cauchy", df = NA, location = 0, scale = 5)
  expect_identical(hier_prior(sd_b = rstanarm_cauchy)$dists$sd_b, cauchy(0, 5))
})

test_that("prior_summary() and the prior print show each sd's prior on the sd scale", {
  f <- fit(y ~ school, eight_schools, se = se, chains = 1, iter = 100, seed = 1,
           prior = hier_prior(mu = normal(0, 5), sd_b = cauchy(0, 5)))
  s <- prior_summary(f)
  expect_identical(s$parameter, c("mu", "sd_b"))
  expect_identical(s$prior, c("normal(0, 5)", "half-Cauchy(0, 5)"))
  # the half-Cauchy's median is its scale; its 95% quantile 5 tan(0.475 pi)
  expect_equal(s$median[2], 5)
  expect_equal(s$q95[2], 5 * tan(0.475 * pi))
  expect_output(print(fit_info(f)$prior), "half-Cauchy\\(0, 5\\).*median 5")
  expect_output(print(f), "sd_b ~ half-Cauchy\\(0, 5\\) \\(sd: median 5, 90% \\[0.394, 63.5\\]\\)")
  # nested: one line per level, named by the level
  g <- fit(score ~ region / school, regions, chains = 1, iter = 100, seed = 1,
           prior = hier_prior(sd_region = exponential(0.5)))
  s <- prior_summary(g)
  expect_identical(s$parameter, c("mu", "sd_region", "sd_school", "sd_w"))
  expect_identical(s$prior[2], "exponential(0.5)")
  expect_equal(s$median[2], log(2) / 0.5)
})

test_that("a prior scaled to the data follows a change of units", {
  prior <- hier_prior(sd_b = cauchy(), sd_w = exponential())
  a <- fit(mathscore ~ school, schools, prior = prior, chains = 1, iter = 300,
           seed = 5)
  d <- transform(schools, mathscore = 100 * mathscore - 7)
  b <- fit(mathscore ~ school, d, prior = prior, chains = 1, iter = 300, seed = 5)
  ma <- as.matrix(a)
  mb <- as.matrix(b)
  expect_equal((mb[, "mu"] + 7) / 100, ma[, "mu"], tolerance = 1e-8)
  expect_equal(mb[, c("sd_b", "sd_w")] / 100, ma[, c("sd_b", "sd_w")],
               tolerance = 1e-8)
})

coagulation <- utils::read.csv(system.file("extdata", "coagulation.csv",
                                           package = "hiermod"))
families <- list(
  half_cauchy = hier_prior(sd_b = cauchy(0, 3), sd_w = normal(0, 5)),
  exponential = hier_prior(sd_b = exponential(0.2), sd_w = uniform(0, 20)),
  half_t = hier_prior(sd_b = student_t(3, 0, 2), sd_w = gamma_precision(2, 10))
)
for (name in names(families)) {
  for (sampler in c("collapsed", "asis", "gibbs")) {
    test_that(paste("posterior matches quadrature:", name, sampler), {
      f <- fit(coag ~ diet, coagulation, prior = families[[name]], chains = 4,
               iter = 6000, warmup = 1000, seed = 3, sampler = sampler)
      q <- two_level_against_quadrature(f)
      expect_true(all(abs(q$z) < 4), label = paste(names(q$z), round(q$z, 2), collapse = " "))
    })
  }
}

test_that("known standard errors and one sample match quadrature with other families", {
  es <- eight_schools
  f <- fit(y ~ school, es, se = se, chains = 4, iter = 6000, seed = 2,
           prior = hier_prior(mu = normal(0, 5), sd_b = exponential(0.3)))
  exact <- quadrature_known_se(es$y, es$se, fit_info(f)$prior)
  m <- as.matrix(f)[, c("mu", "sd_b")]
  z <- (colMeans(m) - exact[c("mu", "sd_b"), "mean"]) /
    (apply(m, 2, stats::sd) / sqrt(coda::effectiveSize(f[, c("mu", "sd_b")])))
  expect_true(all(abs(z) < 4), label = paste(round(z, 2), collapse = " "))
  y <- coagulation$coag[1:8]
  g <- fit(y ~ 1, data.frame(y = y), chains = 4, iter = 6000, seed = 2,
           prior = hier_prior(sd = student_t(4, 0, 3)))
  exact <- quadrature_one_sample(y, fit_info(g)$prior)
  m <- as.matrix(g)
  z <- (colMeans(m) - exact[, "mean"]) /
    (apply(m, 2, stats::sd) / sqrt(coda::effectiveSize(g)))
  expect_true(all(abs(z) < 4), label = paste(round(z, 2), collapse = " "))
})

test_that("sd_w0 takes a prior family of its own with group-specific variances", {
  skip_on_cran()
  set.seed(11)
  g <- rep(1:6, each = 8)
  d <- data.frame(g = g, y = rnorm(48, g, sqrt(rep(c(0.5, 1, 2), 16))))
  p <- hier_prior(mu = normal(3, 10), sd_b = cauchy(0, 2), sd_w0 = cauchy(0, 1),
                  lambda = 0.5, nu_max = 30)
  f <- fit(y ~ g, d, within = "group", prior = p, chains = 2, iter = 6000, seed = 4)
  tab <- prior_summary(f)
  expect_equal(tab$parameter, c("mu", "sd_b", "sd_w0", "nu0"))
  expect_match(tab$prior[3], "half-Cauchy\\(0, 1\\)")
  # the draws of sd_w0 are calibrated in the SBC design "group variances,
  # half-Cauchy sd_w0" (test-calibration.R, make calibrate)
  expect_true(all(is.finite(as.matrix(f)[, "sd_w0"])))
  expect_hm_error(fit(y ~ g, d, within = "group",
                      prior = hier_prior(sd_w0 = cauchy(0, 1), b0 = 2)), "sd_w0")
  expect_hm_error(fit(y ~ g, d, prior = hier_prior(sd_w0 = cauchy(0, 1))), "prior",
                  "sd_w0")
})
