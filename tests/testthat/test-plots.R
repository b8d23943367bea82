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

test_that("each plate of the model graph has its label to itself, at any size", {
  fits <- list(f, quick_fit(mathscore ~ 1), quick_fit(score ~ region / school, regions),
               quick_fit(y ~ school, eight_schools, se = se), quick_fit(within = "group"))
  inside <- function(box, x0, y0, x1, y1) {
    box[["x0"]] >= x0 && box[["x1"]] <= x1 && box[["y0"]] >= y0 && box[["y1"]] <= y1
  }
  apart <- function(box, x0, y0, x1, y1) {
    box[["x1"]] <= x0 || box[["x0"]] >= x1 || box[["y1"]] <= y0 || box[["y0"]] >= y1
  }
  for (size in list(c(4, 3.3), c(9, 7))) {
    for (x in fits) {
      grDevices::pdf(NULL, width = size[1], height = size[2])
      g <- plot(x, type = "graph")
      grDevices::dev.off()
      n <- g$nodes
      for (j in seq_along(g$plates)) {
        p <- g$plates[[j]]
        b <- p$label_box
        expect_true(inside(b, p$x0, p$y0, p$x1, p$y1))
        # clear of the plates inside it and of every node
        for (q in g$plates[-seq_len(j)]) expect_true(b[["y1"]] <= q$y0)
        for (i in seq_len(nrow(n))) {
          expect_true(apart(b, n$x[i] - n$half_width[i], n$y[i] - n$half_height[i],
                            n$x[i] + n$half_width[i], n$y[i] + n$half_height[i]))
        }
      }
    }
  }
})

test_that("the shrinkage legend shows each group size once", {
  expect_identical(hiermod:::shrinkage_key(c(4, 32, 10), "common")$label,
                   c("n = 4", "n = 32"))
  # every group the same size: one entry, not the same one twice
  expect_identical(hiermod:::shrinkage_key(rep(10, 5), "common")$label, "n = 10")
  # known standard errors: `n` is a precision, shown as the standard error
  expect_identical(hiermod:::shrinkage_key(1 / c(9, 18)^2, "known")$label,
                   c("se = 18", "se = 9"))
})

test_that("group_data() forms the groups as fit() does, nested ones by path", {
  nested <- quick_fit(score ~ region / school, regions)
  d <- group_data(score ~ region / school, regions)
  expect_identical(d$labels, group_stats(nested)$group)
  expect_identical(nrow(d$stats), 55L)
  expect_equal(d$stats$n, group_stats(nested)$n)
  expect_equal(d$stats$mean, group_stats(nested)$mean)
  expect_identical(d$group_name, "region/school")
  expect_equal(d$y[d$group == 1L], regions$score[regions$region == "A" & regions$school == 1])
  expect_hm_error(group_data(mathscore ~ 1, schools), "formula", "groups")
  gd <- draw(function() plot(d))
  expect_identical(nrow(gd), 55L)
})

test_that("the data figure labels its groups, every few when there are many", {
  expect_identical(hiermod:::thin_labels(8L, 25.5), 1:8)
  shown <- hiermod:::thin_labels(100L, 25.5)
  expect_identical(shown[1], 1L)
  expect_lte(length(shown), 25L)
  expect_gte(length(shown), 20L)
})

test_that("figures match their snapshots", {
  skip_if_not_installed("vdiffr")
  vdiffr::expect_doppelganger("global parameters", function() plot(f))
  vdiffr::expect_doppelganger("theta caterpillar", function() plot(f, type = "theta"))
  vdiffr::expect_doppelganger("shrinkage", function() plot(f, type = "shrinkage"))
  vdiffr::expect_doppelganger("model graph", function() plot(f, type = "graph"))
  vdiffr::expect_doppelganger("schools data",
                              function() plot(group_data(mathscore ~ school, schools)))
  vdiffr::expect_doppelganger("nested data",
                              function() plot(group_data(score ~ region / school, regions)))
  one <- quick_fit(mathscore ~ 1, iter = 1000)
  vdiffr::expect_doppelganger("one sample conditionals",
                              function() plot(one, type = "conditional"))
  vdiffr::expect_doppelganger("one sample graph", function() plot(one, type = "graph"))
  nested <- quick_fit(score ~ region / school, regions)
  vdiffr::expect_doppelganger("nested graph", function() plot(nested, type = "graph"))
  known <- quick_fit(y ~ school, eight_schools, se = se)
  vdiffr::expect_doppelganger("known se graph", function() plot(known, type = "graph"))
  vdiffr::expect_doppelganger("known se shrinkage",
                              function() plot(known, type = "shrinkage"))
  group <- quick_fit(within = "group")
  vdiffr::expect_doppelganger("group variances graph", function() plot(group, type = "graph"))
})

test_that("each model's figures apply where they make sense", {
  one <- quick_fit(mathscore ~ 1)
  cond <- draw(function() plot(one, type = "conditional"))
  expect_identical(cond$quantile, c(0.1, 0.5, 0.9))
  expect_true(all(diff(cond$tau) > 0) && all(cond$mu_sd > 0))
  expect_identical(coda::varnames(draw(function() plot(one))), c("mu", "sd"))
  expect_error(plot(one, type = "theta"), class = "hiermod_error")
  expect_error(plot(f, type = "conditional"), class = "hiermod_error")
  nested <- quick_fit(score ~ region / school, regions)
  expect_identical(coda::varnames(draw(function() plot(nested))),
                   c("mu", "sd_w", "sd_region", "sd_school"))
  th <- draw(function() plot(nested, type = "theta"))
  expect_identical(nrow(th), 55L)
  gr <- draw(function() plot(nested, type = "graph"))
  expect_true(all(c("theta_region", "theta_school", "tau_region") %in% gr$nodes$name))
  group <- quick_fit(within = "group")
  expect_identical(coda::varnames(draw(function() plot(group))),
                   c("mu", "sd_w0", "nu0", "sd_b"))
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
