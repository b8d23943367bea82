# Each figure is compared with its stored SVG snapshot (vdiffr); a figure
# that changes or breaks fails here. Update snapshots on purpose with
# testthat::snapshot_review().
f <- quick_fit(chains = 2, iter = 1000)

draw <- function(fun) {
  grDevices::pdf(NULL)
  on.exit(grDevices::dev.off())
  fun()
}

test_that("each lecture figure draws and returns what it drew", {
  tr <- draw(function() plot(f))
  expect_identical(coda::varnames(tr), c("mu", "sd_w", "sd_b"))
  th <- draw(function() plot(f, type = "theta"))
  expect_identical(nrow(th), 100L)
  expect_true(all(diff(th$mean) >= 0))
  expect_true(all(th[["2.5%"]] <= th[["25%"]] & th[["75%"]] <= th[["97.5%"]]))
  sh <- draw(function() plot(f, type = "shrinkage"))
  expect_equal(sh$theta, unname(coef(f)))
  expect_equal(sh$ybar, group_stats(f)$mean)
  gr <- draw(function() plot(f, type = "graph"))
  expect_setequal(gr$nodes$name, c("mu0, tau0", "a, b", "alpha, beta", "mu",
                                   "tau_b", "tau_w", "theta_k", "y_ik"))
  gd <- draw(function() plot(group_data(mathscore ~ school, schools)))
  expect_equal(gd$mean, group_stats(f)$mean)
  sel <- draw(function() plot(f, pars = "theta\\[1[0-2]\\]"))
  expect_identical(coda::varnames(sel), c("theta[10]", "theta[11]", "theta[12]"))
  expect_error(plot(f, type = "pie"), class = "hiermod_error")
})

test_that("figures match their snapshots", {
  skip_if_not_installed("vdiffr")
  vdiffr::expect_doppelganger("global parameters", function() plot(f))
  vdiffr::expect_doppelganger("theta caterpillar", function() plot(f, type = "theta"))
  vdiffr::expect_doppelganger("shrinkage", function() plot(f, type = "shrinkage"))
  vdiffr::expect_doppelganger("model graph", function() plot(f, type = "graph"))
  vdiffr::expect_doppelganger("schools data",
                              function() plot(group_data(mathscore ~ school, schools)))
})

test_that("the caterpillar stays fast with 10,000 groups", {
  set.seed(1)
  k <- 1e4
  d <- data.frame(g = rep(seq_len(k), 5))
  d$y <- rnorm(k)[d$g] + rnorm(5 * k)
  big <- fit(y ~ g, d, chains = 2, iter = 400, seed = 1)
  out <- draw(function() plot(big, type = "theta"))
  expect_identical(nrow(out), as.integer(k))
})
