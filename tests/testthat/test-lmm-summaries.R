# Group summaries of a regression: the statistics, and fits from them.

summaries_rows <- function() {
  set.seed(11)
  s <- rep(1:12, rep_len(c(2L, 5L, 3L, 7L), 12L))
  r <- rep(c("a", "b", "c"), each = 4L)[s]
  x <- 1e6 + stats::rnorm(length(s))
  f <- factor(sample(c("lo", "mid", "hi"), length(s), TRUE))
  y <- 1e9 + 2 * (x - 1e6) + stats::rnorm(3L)[match(r, c("a", "b", "c"))] +
    stats::rnorm(12L, 0, 0.5)[s] + stats::rnorm(length(s))
  data.frame(y = y, x = x, f = f, r = r, s = s)
}

fit_args <- list(chains = 2L, iter = 400L, seed = 5L)

test_that("the statistics are each group's means and centred cross-products", {
  d <- summaries_rows()
  s <- group_summaries(y ~ x + f + (1 + x | s), d)
  expect_s3_class(s, "hiermod_summaries")
  expect_identical(s$s, 1:12)
  expect_identical(s$n, as.integer(table(d$s)))
  vars <- c("y", "x", "flo", "fmid")
  expect_identical(names(s), c("s", "n", paste0("mean[", vars, "]"),
                               paste0("cp[", c("y,y", "y,x", "y,flo", "y,fmid", "x,x",
                                               "x,flo", "x,fmid", "flo,flo", "flo,fmid",
                                               "fmid,fmid"), "]")))
  w <- cbind(y = d$y, x = d$x, flo = as.double(d$f == "lo"), fmid = as.double(d$f == "mid"))
  for (j in 1:12) {
    rows <- w[d$s == j, , drop = FALSE]
    m <- colMeans(rows)
    cp <- crossprod(sweep(rows, 2L, m))
    expect_equal(unlist(s[j, paste0("mean[", vars, "]")]), m, tolerance = 1e-14,
                 ignore_attr = TRUE)
    got <- unlist(s[j, grep("^cp", names(s))])
    # both carry the rounding of y at 1e9 (~1e-7 per value); the textbook
    # sum(y^2) - n ybar^2 would be off by ~1e2
    expect_equal(got, cp[upper.tri(cp, diag = TRUE)][c(1, 2, 4, 7, 3, 5, 8, 6, 9, 10)],
                 tolerance = 1e-7, ignore_attr = TRUE)
  }
  # the offsets of 1e9 and 1e6 do not cancel: the within variance of y is
  # near its true 1 + 4 var(x)
  expect_lt(abs(sum(s$`cp[y,y]`) / sum(s$n - 1) - 5), 2)
})

test_that("a fit from the summaries is the fit from the rows, draw for draw", {
  d <- summaries_rows()
  for (formula in list(y ~ x + f + (1 + x | s), y ~ x + (x || r) + (1 | r:s),
                       y ~ x + f, y ~ 0 + f + (1 | r / s))) {
    environment(formula) <- globalenv()
    s <- group_summaries(formula, d)
    from_rows <- do.call(fit, c(list(formula, d), fit_args))
    from_summaries <- do.call(fit, c(list(s), fit_args))
    expect_identical(as.matrix(from_summaries), as.matrix(from_rows))
    expect_identical(prior_summary(from_summaries), prior_summary(from_rows))
    expect_identical(nobs(from_summaries), nrow(d))
    expect_identical(predict(from_summaries, newdata = d[1:5, ]),
                     predict(from_rows, newdata = d[1:5, ]))
    expect_identical(as.matrix(do.call(fit, c(list(formula, s), fit_args))),
                     as.matrix(from_rows))
  }
  # the groups in another order, and a subset of them, are groups of the
  # same model
  s <- group_summaries(y ~ x + (1 | s), d)
  shuffled <- s[c(12:1), ]
  expect_identical(as.matrix(do.call(fit, c(list(shuffled), fit_args))),
                   as.matrix(do.call(fit, c(list(y ~ x + (1 | s), d), fit_args))))
  kept <- s[s$s <= 6, ]
  expect_identical(as.matrix(do.call(fit, c(list(kept), fit_args))),
                   as.matrix(do.call(fit, c(list(y ~ x + (1 | s), d[d$s <= 6, ]), fit_args))))
})

test_that("summaries are checked, and what needs rows says so", {
  d <- summaries_rows()
  s <- group_summaries(y ~ x + (1 | s), d)
  f <- fit(s, chains = 1, iter = 200, seed = 1)
  expect_error(fitted(f), class = "hiermod_error", regexp = "summaries")
  expect_error(residuals(f), class = "hiermod_error", regexp = "residuals")
  expect_error(log_lik(f), class = "hiermod_error", regexp = "newdata")
  expect_error(plot(f, type = "shrinkage"), class = "hiermod_error", regexp = "rows")
  expect_error(fit(y ~ x + (1 | r), s), class = "hiermod_error", regexp = "own")
  expect_error(fit(y ~ s, s), class = "hiermod_error")
  bad <- s
  bad$`cp[y,y]`[2] <- -1
  expect_error(fit(bad), class = "hiermod_error", regexp = "at least 0")
  bad <- s
  bad$`mean[x]`[1] <- NA
  expect_error(fit(bad), class = "hiermod_error", regexp = "mean\\[x\\]")
  expect_error(fit(s[c(1, 1:12), ]), class = "hiermod_error", regexp = "more than one row")
  bad <- s
  names(bad)[3] <- "mean[z]"
  expect_error(fit(bad), class = "hiermod_error", regexp = "columns")
  expect_error(fit(s[1, ]), class = "hiermod_error", regexp = "at least 2 groups")
  lecture <- group_summaries(y ~ s, d)
  expect_error(fit(y ~ x + (1 | s), lecture), class = "hiermod_error",
               regexp = "without covariates")
  path <- tempfile(fileext = ".csv")
  utils::write.csv(d, path, row.names = FALSE)
  expect_error(group_summaries(y ~ x + (1 | s), path), class = "hiermod_error",
               regexp = "CSV")
})
