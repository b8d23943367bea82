test_that("tiny and huge units map every draw (default prior)", {
  for (scale in c(1e-8, 1e8)) {
    d <- transform(schools, y2 = scale * mathscore + 3 * scale)
    a <- quick_fit(mathscore ~ school, d)
    b <- quick_fit(y2 ~ school, d)
    ma <- as.matrix(a)
    mb <- as.matrix(b)
    expect_equal(mb[, "mu"] / scale - 3, ma[, "mu"], tolerance = 1e-8)
    expect_equal(mb[, -1] / scale - cbind(0, 0, matrix(3, nrow(ma), 100)),
                 ma[, -1], tolerance = 1e-8)
  }
})

test_that("reordering rows changes nothing but rounding", {
  set.seed(4)
  shuffled <- schools[sample(nrow(schools)), ]
  a <- quick_fit()
  b <- quick_fit(data = shuffled)
  expect_equal(group_stats(b), group_stats(a), tolerance = 1e-10)
  expect_equal(as.matrix(b), as.matrix(a), tolerance = 1e-8)
})

test_that("relabelling groups permutes theta and leaves the posterior", {
  relabel <- 101 - schools$school
  d <- transform(schools, r = relabel)
  a <- quick_fit(chains = 4, iter = 4000)
  b <- quick_fit(mathscore ~ r, d, chains = 4, iter = 4000, seed = 9)
  theta_b <- as.matrix(b)[, paste0("theta[", 101 - 1:100, "]")]
  ma <- as.matrix(a)
  expect_equal(group_stats(b)$mean[100:1], group_stats(a)$mean)
  se <- sqrt(apply(ma, 2, stats::var) / coda::effectiveSize(a) +
               apply(cbind(as.matrix(b)[, 1:3], theta_b), 2, stats::var) /
               c(coda::effectiveSize(b)[1:3], coda::effectiveSize(b)[colnames(theta_b)]))
  z <- (colMeans(ma) - colMeans(cbind(as.matrix(b)[, 1:3], theta_b))) / se
  # 103 comparisons: allow the usual few beyond 3 sd, none beyond 4.5.
  expect_lt(max(abs(z)), 4.5)
  expect_lt(sum(abs(z) > 3), 3)
})
