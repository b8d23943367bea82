small_fit <- function(formula, data, ...) {
  fit(formula, data, chains = 2, iter = 600, seed = 3, progress = FALSE, ...)
}

test_that("log_lik() is each row's normal log density at its group's draws", {
  f <- small_fit(mathscore ~ school, schools)
  ll <- log_lik(f)
  expect_equal(dim(ll), c(600, nrow(schools)))
  m <- as.matrix(f)
  rows <- c(1, 500, 1993)
  for (i in rows) {
    theta <- m[, paste0("theta[", schools$school[i], "]")]
    expect_equal(ll[, i], dnorm(schools$mathscore[i], theta, m[, "sd_w"], log = TRUE))
  }
  expect_equal(dim(log_lik(f, draws = 50)), c(50, nrow(schools)))
  expect_hm_error(log_lik(f, by = "school"), "by")
  expect_hm_error(log_lik(f, extra = 1), "extra")
})

test_that("log_lik() uses the known se, the groups' own sds and y ~ 1's sd", {
  e <- small_fit(y ~ school, eight_schools, se = se)
  m <- as.matrix(e)
  expect_equal(log_lik(e)[, 2], dnorm(eight_schools$y[2], m[, "theta[B]"],
                                      eight_schools$se[2], log = TRUE))
  g <- small_fit(mathscore ~ school, schools, within = "group")
  m <- as.matrix(g)
  i <- 7
  k <- schools$school[i]
  expect_equal(log_lik(g)[, i], dnorm(schools$mathscore[i], m[, paste0("theta[", k, "]")],
                                      m[, paste0("sd_w[", k, "]")], log = TRUE))
  one <- small_fit(mathscore ~ 1, schools)
  m <- as.matrix(one)
  expect_equal(log_lik(one)[, 3], dnorm(schools$mathscore[3], m[, "mu"], m[, "sd"],
                                        log = TRUE))
  expect_hm_error(log_lik(one, by = "group"), "by", "groups")
})

# log N(y; m 1, D + s^2 1 1') by a dense Cholesky factor
dense_group_log_density <- function(y, m, d, s2) {
  sigma <- diag(d, length(y)) + s2
  r <- chol(sigma)
  z <- backsolve(r, y - m, transpose = TRUE)
  -length(y) / 2 * log(2 * pi) - sum(log(diag(r))) - sum(z^2) / 2
}

test_that("log_lik(by = 'group') integrates each group's mean out exactly", {
  f <- small_fit(mathscore ~ school, schools)
  ll <- log_lik(f, by = "group")
  expect_equal(dim(ll), c(600, 100))
  m <- as.matrix(f)
  for (k in c(1, 37)) {
    y <- schools$mathscore[schools$school == k]
    for (draw in c(1, 321)) {
      expect_equal(unname(ll[draw, k]), dense_group_log_density(
        y, m[draw, "mu"], m[draw, "sd_w"]^2, m[draw, "sd_b"]^2))
    }
  }
  # known standard errors: each row its own variance
  e <- small_fit(y ~ school, eight_schools, se = se)
  m <- as.matrix(e)
  expect_equal(unname(log_lik(e, by = "group")[5, 3]), dense_group_log_density(
    eight_schools$y[3], m[5, "mu"], eight_schools$se[3]^2, m[5, "sd_b"]^2))
  # nested: about the parent region's mean
  r <- small_fit(score ~ region / school, regions)
  m <- as.matrix(r)
  labels <- hiermod:::spec_labels(hiermod:::fit_spec(r), 2L)
  k <- labels[4]
  rows <- paste(regions$region, regions$school, sep = "/") == k
  region <- sub("/.*", "", k)
  expect_equal(unname(log_lik(r, by = "group")[9, k]), dense_group_log_density(
    regions$score[rows], m[9, paste0("theta_region[", region, "]")], m[9, "sd_w"]^2,
    m[9, "sd_school"]^2))
})

test_that("loo(), waic() and loo_compare() run on fits", {
  skip_if_not_installed("loo")
  f <- small_fit(mathscore ~ school, schools)
  pooled <- small_fit(mathscore ~ 1, schools)
  lf <- loo::loo(f)
  expect_s3_class(lf, "psis_loo")
  expect_equal(nrow(lf$pointwise), nrow(schools))
  # loo advises loo over waic for the few rows with p_waic above 0.4
  w <- suppressWarnings(loo::waic(f))
  expect_s3_class(w, "waic")
  # the elpd from loo and from waic agree closely for this well-behaved model
  expect_lt(abs(lf$estimates["elpd_loo", "Estimate"] - w$estimates["elpd_waic", "Estimate"]), 2)
  cmp <- loo::loo_compare(lf, loo::loo(pooled))
  # the hierarchical model predicts the lecture's data better than one mean
  expect_equal(rownames(cmp)[1], "model1")
  expect_lt(cmp[2, "elpd_diff"], -50)
  logo <- loo::loo(f, by = "group")
  expect_equal(nrow(logo$pointwise), 100)
})

test_that("posterior_epred() gives the groups' mean draws, linpred the same", {
  f <- small_fit(mathscore ~ school, schools)
  m <- as.matrix(f)
  ep <- posterior_epred(f, newdata = data.frame(school = c(3, 3, 10)))
  expect_equal(ep[, 1], unname(m[, "theta[3]"]))
  expect_equal(ep[, 2], ep[, 1])
  expect_equal(ep[, 3], unname(m[, "theta[10]"]))
  expect_equal(posterior_linpred(f, newdata = data.frame(school = 10))[, 1], ep[, 3])
  pop <- posterior_epred(f, newdata = data.frame(school = 1), re.form = NA)
  expect_equal(pop[, 1], unname(m[, "mu"]))
  expect_equal(dim(posterior_epred(f)), c(600, nrow(schools)))
  expect_hm_error(posterior_epred(f, newdata = data.frame(school = 999)), "newdata")
})

test_that("pp_check() draws bayesplot's checks, grouped too", {
  skip_if_not_installed("bayesplot")
  f <- small_fit(mathscore ~ school, schools)
  expect_s3_class(bayesplot::pp_check(f, ndraws = 10), "ggplot")
  expect_s3_class(bayesplot::pp_check(f, type = "stat", stat = "sd"), "ggplot")
  g <- bayesplot::pp_check(f, type = "stat_grouped", stat = "mean",
                           group = "school", ndraws = 20)
  expect_s3_class(g, "ggplot")
  r <- small_fit(score ~ region / school, regions)
  expect_s3_class(bayesplot::pp_check(r, type = "stat_grouped", group = "region",
                                      stat = "mean", ndraws = 20), "ggplot")
  expect_hm_error(bayesplot::pp_check(f, type = "no_such_check"), "type")
  expect_hm_error(bayesplot::pp_check(f, type = "stat_grouped", group = 1:3), "group")
})

test_that("prior_predict() simulates rows from the fit's prior", {
  p <- hier_prior(mu = normal(50, 1), sd_b = normal(0, 0.1), sd_w = normal(0, 0.1))
  f <- small_fit(mathscore ~ school, schools, prior = p)
  set.seed(1)
  yrep <- prior_predict(f, draws = 400)
  expect_equal(dim(yrep), c(400, nrow(schools)))
  # y = mu + b + e: mean 50, sd sqrt(1 + E sd_b^2 + E sd_w^2) = sqrt(1.02)
  row_means <- rowMeans(yrep)
  expect_lt(abs(mean(yrep) - 50), 4 * 1 / sqrt(400))
  expect_lt(abs(sd(row_means) - 1), 0.15)
  e <- small_fit(y ~ school, eight_schools, se = se,
                 prior = hier_prior(mu = normal(0, 0.01), sd_b = normal(0, 0.01)))
  # with mu and the groups pinned near 0, each row's spread is its se
  sds <- apply(prior_predict(e, draws = 2000), 2, sd)
  expect_lt(max(abs(sds / eight_schools$se - 1)), 0.1)
  expect_hm_error(prior_predict(f, draws = 0), "draws")
})

test_that("keep = 'global' fits draw their group means again for checking", {
  global <- small_fit(mathscore ~ school, schools, keep = "global")
  all <- small_fit(mathscore ~ school, schools)
  ll <- log_lik(global)
  expect_identical(dim(ll), dim(log_lik(all)))
  expect_identical(log_lik(global), ll)
  expect_true(all(is.finite(ll)))
  # each draw's group means redrawn given its mu and sds: the elpd of
  # both fits agree within their Monte Carlo error
  skip_if_not_installed("loo")
  l1 <- suppressWarnings(loo::loo(global))
  l2 <- suppressWarnings(loo::loo(all))
  expect_lt(abs(l1$estimates["elpd_loo", 1] - l2$estimates["elpd_loo", 1]),
            4 * sqrt(loo::mcse_loo(l1)^2 + loo::mcse_loo(l2)^2) + 0.5)
  e <- posterior_epred(global, draws = 10)
  expect_identical(dim(e), c(10L, nrow(schools)))
  nested <- small_fit(score ~ region / school, regions, keep = "global")
  expect_identical(dim(log_lik(nested, draws = 5)), c(5L, nrow(regions)))
  group <- small_fit(mathscore ~ school, schools, within = "group", keep = "global")
  expect_hm_error(log_lik(group), "object", "keep = \"all\"")
})
