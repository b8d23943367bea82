# posteriordb's eight_schools-eight_schools_noncentered: mu ~ N(0, 5),
# tau ~ half-Cauchy(0, 5), known standard errors. The reference posterior
# means and their Monte Carlo standard errors are copied from
# stan-dev/posteriordb (commit 12e66d8,
# reference_posteriors/summary_statistics/mean_value/mean_value/
# eight_schools-eight_schools_noncentered.json; 10 chains of Stan's NUTS,
# 10,000 draws) into posteriordb-eight-schools.csv.

test_that("eight schools (noncentered) agrees with posteriordb's reference", {
  skip_on_cran()
  reference <- utils::read.csv(test_path("posteriordb-eight-schools.csv"))
  d <- data.frame(school = as.character(1:8), y = c(28, 8, -3, 7, -1, 1, 18, 12),
                  sigma = c(15, 10, 16, 11, 9, 11, 10, 18))
  prior <- hier_prior(mu = normal(0, 5), sd_b = cauchy(0, 5))
  for (sampler in c("collapsed", "gibbs")) {
    f <- fit(y ~ school, d, se = sigma, prior = prior, sampler = sampler,
             chains = 4, iter = 15000, seed = 8, progress = FALSE)
    draws <- as.matrix(f)
    colnames(draws) <- sub("sd_b", "tau", colnames(draws), fixed = TRUE)
    ours <- colMeans(draws)[reference$parameter]
    ess <- coda::effectiveSize(f)
    names(ess) <- sub("sd_b", "tau", names(ess), fixed = TRUE)
    mcse <- apply(draws[, reference$parameter], 2L, stats::sd) /
      sqrt(ess[reference$parameter])
    z <- (ours - reference$mean) / sqrt(mcse^2 + reference$mcse_mean^2)
    expect_true(all(abs(z) < 4), info = paste(sampler, paste(
      reference$parameter, round(ours, 3), round(z, 2), collapse = "; ")))
  }
})
