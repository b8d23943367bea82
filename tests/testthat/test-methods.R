f <- quick_fit(chains = 2, iter = 1000)
m <- as.matrix(f)
theta <- m[, grep("^theta", colnames(m))]

test_that("extractors are the posterior means, in lme4's vocabulary", {
  expect_equal(fixef(f), c(mu = mean(m[, "mu"])))
  expect_equal(unname(coef(f)), unname(colMeans(theta)))
  expect_identical(names(coef(f)), as.character(1:100))
  # ranef() has lme4's shape: a data frame per level, column (Intercept)
  expect_equal(ranef(f)$school[["(Intercept)"]] + fixef(f), unname(coef(f)))
  expect_identical(rownames(ranef(f)$school), names(coef(f)))
  vc <- VarCorr(f)
  expect_equal(vc$sd, unname(colMeans(m[, c("sd_b", "sd_w")])))
  expect_equal(vc$variance, unname(colMeans(m[, c("sd_b", "sd_w")]^2)))
  expect_identical(vc$group, c("school", "Residual"))
  expect_identical(ngrps(f), c(school = 100L))
  expect_identical(nobs(f), 1993L)
})

test_that("fitted values and residuals are per row", {
  expect_length(fitted(f), 1993L)
  in_5 <- schools$school == 5
  expect_equal(fitted(f)[in_5], rep(unname(coef(f)["5"]), sum(in_5)))
  expect_equal(residuals(f), schools$mathscore - fitted(f))
})

test_that("predict gives group means and new observations with intervals", {
  p <- predict(f, data.frame(school = c(1, 999)), allow_new_levels = TRUE)
  expect_identical(p$group, c("1", "999"))
  expect_equal(p$estimate[1], unname(coef(f)["1"]))
  expect_equal(p[1, c("lower", "upper")],
               data.frame(lower = quantile(theta[, 1], 0.025, names = FALSE),
                          upper = quantile(theta[, 1], 0.975, names = FALSE)),
               ignore_attr = TRUE, tolerance = 1e-12)
  # a new group is centred on mu with the between-group spread
  expect_equal(p$estimate[2], mean(m[, "mu"]), tolerance = 0.02)
  expect_gt(p$upper[2] - p$lower[2], 3 * (p$upper[1] - p$lower[1]))
  obs <- predict(f, data.frame(school = 1), type = "observation")
  expect_gt(obs$upper - obs$lower, 3.5 * mean(m[, "sd_w"]))
  expect_length(predict(f)$estimate, 1993L)
  expect_error(predict(f, level = 2), class = "hiermod_error")
})

test_that("posterior_predict has one column per row and the right moments", {
  set.seed(1)
  pp <- posterior_predict(f, newdata = data.frame(school = c(1, 1, 999)),
                         allow_new_levels = TRUE)
  expect_identical(dim(pp), c(nrow(m), 3L))
  expect_equal(mean(pp[, 1]), mean(theta[, 1]), tolerance = 0.02)
  # An sd from n draws has a relative standard error of about 1/sqrt(2n):
  # allow four (9% here; leaving out sd_b would be 12% off).
  sd_tolerance <- 4 / sqrt(2 * nrow(m))
  expect_equal(stats::sd(pp[, 1]), sqrt(mean(m[, "sd_w"]^2) + stats::var(theta[, 1])),
               tolerance = sd_tolerance)
  expect_equal(stats::sd(pp[, 3]),
               sqrt(mean(m[, "sd_w"]^2) + mean(m[, "sd_b"]^2) + stats::var(m[, "mu"])),
               tolerance = sd_tolerance)
})

test_that("draws convert to data frames and arrays with honest labels", {
  df <- as.data.frame(f)
  expect_identical(dim(df), c(1000L, 105L))
  expect_identical(df$.iteration[1:2], c(501, 502))
  expect_identical(df$.chain, rep(1:2, each = 500))
  expect_identical(df$mu, unname(m[, "mu"]))
  long <- as.data.frame(f, long = TRUE)
  expect_identical(dim(long), c(1000L * 103L, 5L))
  expect_identical(names(long), c(".chain", ".iteration", ".draw", "parameter", "value"))
  at <- long$parameter == "theta[7]"
  expect_identical(long$value[at], unname(m[, "theta[7]"]))
  expect_identical(long$.draw[at], 1:1000)
  expect_identical(long$.iteration[at], df$.iteration)
  expect_hm_error(as.data.frame(f, long = NA), "long")
  a <- as.array(f)
  expect_identical(dim(a), c(500L, 2L, 103L))
  expect_identical(a[, 2, "sd_w"], unname(unclass(f[[2]])[, "sd_w"]))
})

test_that("update refits with changed arguments", {
  small <- fit(mathscore ~ school, schools, chains = 2, iter = 100, seed = 1)
  g <- update(small, iter = 200, seed = 3)
  expect_identical(fit_info(g)$settings$iter, 200L)
  expect_identical(fit_info(g)$seed, 3)
})

test_that("summary has the header, diagnostics and selected parameters", {
  s <- summary(f)
  expect_s3_class(s, "summary.hiermod_fit")
  expect_identical(rownames(s$table), c("mu", "sd_b", "sd_w"))
  expect_equal(s$table$mean, unname(colMeans(m[, 1:3])))
  expect_identical(names(s$table), c("mean", "sd", "2.5%", "50%", "97.5%",
                                     "mcse_mean", "ess_bulk", "ess_tail", "rhat"))
  out <- capture.output(print(s))
  expect_match(out, "total post-warmup draws = 1000", all = FALSE)
  expect_match(out, "Sampler: collapsed; seed = 42", all = FALSE)
  expect_match(out, "posterior package", all = FALSE)
  expect_identical(rownames(summary(f, pars = "theta")$table),
                   paste0("theta[", 1:100, "]"))
  expect_identical(rownames(summary(f, pars = c("mu", "theta\\[1[0-2]\\]"))$table),
                   c("mu", "theta[10]", "theta[11]", "theta[12]"))
  expect_error(summary(f, pars = "nothing"), class = "hiermod_error")
  short <- quick_fit(iter = 40, sampler = "gibbs")
  expect_output(print(summary(short)), "effective sample size below 400")
  expect_output(print(short), "Warning: effective sample size below 400")
})

test_that("compare gives pairwise probabilities, ranks and best/worst", {
  cmp <- compare(f)
  p <- cmp$prob_greater
  expect_identical(dim(p), c(100L, 100L))
  expect_equal(p["46", "82"], mean(theta[, "theta[46]"] > theta[, "theta[82]"]))
  expect_equal(p["1", "2"] + p["2", "1"], 1)
  expect_equal(sum(cmp$ranks$p_best), 1)
  expect_equal(sum(cmp$ranks$p_worst), 1)
  expect_equal(sum(cmp$ranks$mean_rank), sum(1:100))
  expect_true(all(diff(cmp$ranks$mean_rank) >= 0))
  two <- compare(f, groups = c("46", "82"))
  expect_identical(dim(two$prob_greater), c(2L, 2L))
  expect_error(compare(f, groups = "nope"), class = "hiermod_error")
  expect_output(print(cmp), "rank 1 = highest mean")
})

test_that("posterior and bayesplot take the fit unchanged", {
  skip_if_not_installed("posterior")
  d <- posterior::as_draws_array(f)
  expect_identical(posterior::nchains(d), 2L)
  expect_identical(posterior::ndraws(d), 1000L)
  expect_equal(mean(posterior::extract_variable(d, "mu")), mean(m[, "mu"]))
  skip_if_not_installed("bayesplot")
  expect_s3_class(bayesplot::mcmc_trace(f, pars = c("mu", "sd_b")), "ggplot")
  expect_s3_class(bayesplot::mcmc_intervals(f, regex_pars = "theta\\[1[0-9]\\]"), "ggplot")
})

test_that("a fit without stored group means averages them, or says what it needs", {
  g <- quick_fit(keep = "global", iter = 2000)
  all <- quick_fit(iter = 2000)
  # the same global draws (same seed): the Rao-Blackwellised means agree
  # with the stored draws' means within their Monte Carlo error
  sd_theta <- apply(as.matrix(all)[, paste0("theta[", 1:100, "]")], 2, sd)
  expect_identical(names(coef(g)), names(coef(all)))
  expect_lt(max(abs(coef(g) - coef(all)) / sd_theta), 0.15)
  expect_equal(ranef(g)$school[[1]], unname(coef(g) - fixef(g)))
  expect_error(plot(g, type = "theta"), "keep", class = "hiermod_error")
  expect_equal(fixef(g), fixef(all))
  group <- quick_fit(keep = "global", within = "group")
  expect_error(coef(group), "keep = \"all\"", class = "hiermod_error")
})
