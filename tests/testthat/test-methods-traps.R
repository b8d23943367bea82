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

f <- quick_fit(chains = 2, iter = 1000)
m <- as.matrix(f)

test_that("predict() refuses groups the fit does not have unless allow_new_levels", {
  # a misspelt label used to become a new group's prediction without a word
  err <- expect_hm_error(predict(f, data.frame(school = c(1, 999, 1000))), "newdata",
                         "\"999\", \"1000\".*allow_new_levels = TRUE")
  expect_match(conditionMessage(err), "2 group\\(s\\) of `school`")
  expect_hm_error(posterior_predict(f, data.frame(school = 999)), "newdata", "999")
  expect_hm_error(predict(f, data.frame(school = 1), allow_new_levels = NA),
                  "allow_new_levels")
  p <- predict(f, data.frame(school = c(1, 999)), allow_new_levels = TRUE)
  expect_identical(p$group, c("1", "999"))
  # nested: a new school in a fitted region, named by its path
  n <- quick_fit(score ~ region / school, hiermod::regions)
  expect_hm_error(predict(n, data.frame(region = "E", school = 99)), "newdata",
                  "group\\(s\\) of `school`.*\"E/99\"")
  expect_hm_error(predict(n, data.frame(region = "Z", school = 1)), "newdata",
                  "of `region`.*\"Z\"")
  expect_identical(predict(n, data.frame(region = "E", school = 99),
                           allow_new_levels = TRUE)$group, "E/99")
})

test_that("rows of one new group share its draws", {
  set.seed(3)
  pp <- posterior_predict(f, data.frame(school = c(999, 999, 1000)), allow_new_levels = TRUE)
  # the new group's mean is drawn once: two rows of it correlate through it
  # (sd_b^2 / (sd_b^2 + sd_w^2) is about 0.2 here), two new groups do not
  expect_gt(stats::cor(pp[, 1], pp[, 2]), 0.1)
  expect_lt(abs(stats::cor(pp[, 1], pp[, 3])), 0.1)
})

test_that("unknown arguments are errors naming them, not silently dropped", {
  expect_hm_error(predict(f, interval = "confidence"), "interval",
                  "not an argument of predict\\(\\)")
  expect_hm_error(predict(f, foo = 1, bar = 2), "foo", "nor `bar`")
  expect_hm_error(predict(f, allow.new.levels = TRUE), "allow.new.levels",
                  "did you mean `allow_new_levels`")
  expect_hm_error(predict(f, NULL, "mean", 0.9, FALSE, NULL, NULL, 7), "...", "1 unnamed")
  expect_hm_error(posterior_predict(f, nsamples = 10), "nsamples", "`draws`")
  expect_hm_error(fitted(f, foo = 1), "foo", "fitted\\(\\)")
  expect_hm_error(residuals(f, type = "pearson"), "type", "residuals\\(\\)")
})

test_that("re.form = NA (or re_formula) predicts at the population level", {
  mu <- m[, "mu"]
  p <- predict(f, data.frame(school = c(1, 2)), re.form = NA)
  expect_identical(p$group, c("(all)", "(all)"))
  expect_equal(p$estimate, rep(mean(mu), 2))
  expect_equal(p$lower[1], quantile(mu, 0.025, names = FALSE), tolerance = 1e-12)
  # no grouping variable needed; ~0 and re_formula are the same
  expect_identical(predict(f, data.frame(x = 1:3), re_formula = ~0),
                   predict(f, data.frame(x = 1:3), re.form = NA))
  set.seed(1)
  pp <- posterior_predict(f, data.frame(x = 1), re.form = NA)
  # y* ~ N(mu, sd_w^2): no between-group spread
  expect_equal(stats::sd(pp[, 1]), sqrt(mean(m[, "sd_w"]^2) + stats::var(mu)),
               tolerance = 4 / sqrt(2 * nrow(m)))
  # nested: keep the top level only
  n <- quick_fit(score ~ region / school, hiermod::regions)
  r <- predict(n, data.frame(region = c("A", "B"), school = c(1, 999)), re.form = ~ (1 | region))
  expect_identical(r$group, c("A", "B"))
  regions <- as.matrix(n)[, c("theta_region[A]", "theta_region[B]")]
  expect_equal(r$estimate, unname(colMeans(regions)))
  expect_hm_error(predict(n, re.form = ~ (1 | school)), "re.form", "lowest levels")
  expect_hm_error(predict(n, re.form = ~ (1 | district)), "re.form", "`district`")
  expect_hm_error(predict(n, re.form = "region"), "re.form", "one-sided formula")
  expect_hm_error(predict(n, re.form = NA, re_formula = NA), "re.form", "one")
})

test_that("predict() and posterior_predict() validate every argument", {
  # level = NA used to fail in `if` with an unclassed error
  for (bad in list(NA, NA_real_, 0, 1, 2, c(0.5, 0.9), "0.9")) {
    expect_hm_error(predict(f, level = bad), "level", "between 0 and 1")
  }
  expect_hm_error(predict(f, type = "response"), "type")
  expect_hm_error(predict(f, newdata = list(school = 1)), "newdata", "data frame")
  expect_hm_error(predict(f, data.frame(school = NA)), "newdata", "every row")
  expect_hm_error(predict(f, data.frame(other = 1)), "newdata", "`school`")
  expect_hm_error(posterior_predict(f, draws = 0), "draws")
  expect_hm_error(posterior_predict(f, draws = 1.5), "draws")
  expect_hm_error(posterior_predict(f, draws = 1e6), "draws", "between 1 and 1000")
})

test_that("predict() summarises per group, never draws x rows", {
  set.seed(2)
  d <- data.frame(g = rep(1:40, each = 5000))
  d$y <- stats::rnorm(40)[d$g] + stats::rnorm(nrow(d))
  big <- quick_fit(y ~ g, d, iter = 1000)
  # draws x rows would be 1000 x 200,000 doubles: 1.6 GB
  peak <- function(expr) {
    gc(reset = TRUE)
    force(expr)
    sum(gc()[, 6L]) # MB, max used since the reset
  }
  base <- peak(NULL)
  for (type in c("mean", "observation")) {
    used <- peak(p <- predict(big, type = type))
    expect_lt(used - base, 200)
    expect_identical(nrow(p), 200000L)
  }
  expect_equal(p$estimate[d$g == 3][1:2], rep(p$estimate[d$g == 3][1], 2))
  means <- predict(big, type = "mean")
  expect_equal(means$estimate, unname(coef(big)[d$g]))
})

test_that("posterior_predict() takes a number of draws and refuses what memory cannot hold", {
  set.seed(4)
  pp <- posterior_predict(f, draws = 50)
  expect_identical(dim(pp), c(50L, 1993L))
  withr_memory <- function(limit, expr) {
    old <- options(hiermod.memory_limit = limit)
    on.exit(options(old))
    expr
  }
  # 1000 draws x 1993 rows x 8 bytes = 16 MB; 50 draws 0.8 MB
  expect_hm_error(withr_memory(4e6, posterior_predict(f)), "draws",
                  "15.9 MB matrix.*set `draws` to at most 125")
  expect_identical(dim(withr_memory(4e6, posterior_predict(f, draws = 50))), c(50L, 1993L))
})

test_that("summary() and print() validate their arguments", {
  expect_hm_error(summary(f, prob = 0.9), "prob", "summary\\(\\)")
  expect_hm_error(summary(f, probs = c(0.1, NA)), "probs")
  expect_hm_error(summary(f, pars = 1), "pars")
  expect_hm_error(print(f, digits = 0), "digits")
  expect_hm_error(print(summary(f), digits = NA), "digits")
})
