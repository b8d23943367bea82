# Awkward but legal data must give finite, sensible posteriors with every
# sampler.
samplers <- c("collapsed", "asis", "gibbs")

fits_sanely <- function(data, ..., iter = 600) {
  for (s in samplers) {
    f <- fit(y ~ g, data, ..., chains = 2, iter = iter, seed = 1, sampler = s,
             cores = 1)
    m <- as.matrix(f)
    testthat::expect_true(all(is.finite(m)), label = paste(s, "draws are finite"))
    testthat::expect_true(all(m[, c("sd_b", "sd_w")] > 0))
  }
  invisible(f)
}

test_that("groups of size one everywhere", {
  set.seed(1)
  d <- data.frame(y = rnorm(30, 10, 2), g = 1:30)
  f <- fits_sanely(d)
  expect_identical(group_stats(f)$ss, rep(0, 30))
})

test_that("a single observation in all but one group", {
  set.seed(2)
  d <- data.frame(y = c(rnorm(20, 5), rnorm(9, 5, 3)), g = c(rep(1, 20), 2:10))
  fits_sanely(d)
})

test_that("zero within-group variance in one group", {
  set.seed(3)
  d <- data.frame(y = c(rep(4.2, 6), rnorm(18, 5)), g = rep(1:4, each = 6))
  f <- fits_sanely(d)
  expect_identical(group_stats(f)$ss[1], 0)
})

test_that("all groups alike: the between-group sd is below the noise", {
  set.seed(5)
  d <- data.frame(y = rnorm(400, 50, 1), g = rep(1:40, each = 10))
  d$y <- d$y - ave(d$y, d$g) + 50 # every group mean is exactly 50
  f <- fits_sanely(d, iter = 2000)
  m <- as.matrix(f)
  # below the standard error of a group mean, sd_w / sqrt(10)
  expect_lt(stats::median(m[, "sd_b"]), stats::median(m[, "sd_w"]) / sqrt(10))
  expect_equal(mean(m[, "mu"]), 50, tolerance = 1e-3)
  theta_means <- colMeans(m[, grep("^theta", colnames(m))])
  expect_lt(max(abs(theta_means - 50)), 0.05)
})

test_that("two groups", {
  d <- data.frame(y = c(1, 2, 3, 7, 8, 9), g = rep(c("a", "b"), each = 3))
  f <- fits_sanely(d)
  expect_identical(coda::varnames(f), c("mu", "sd_b", "sd_w", "theta[a]", "theta[b]"))
})

test_that("a large offset (1e9 + noise)", {
  set.seed(6)
  d <- data.frame(y = 1e9 + rnorm(60), g = rep(1:6, each = 10))
  f <- fits_sanely(d)
  expect_equal(mean(as.matrix(f)[, "mu"]), 1e9, tolerance = 1e-9)
  expect_equal(mean(as.matrix(f)[, "sd_w"]), 1, tolerance = 0.3)
})

test_that("K = 100,000 groups", {
  set.seed(7)
  k <- 1e5
  d <- data.frame(g = rep(seq_len(k), 3))
  d$y <- rnorm(k, 0, 2)[d$g] + rnorm(3 * k)
  f <- fit(y ~ g, d, chains = 2, iter = 200, seed = 1, keep = "global")
  m <- as.matrix(f)
  expect_identical(dim(m), c(200L, 3L))
  expect_equal(mean(m[, "sd_b"]), 2, tolerance = 0.05)
  expect_equal(mean(m[, "sd_w"]), 1, tolerance = 0.05)
})
