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
})

# Rows with text, factor and numeric covariates, missing values and a
# grouping column used as a covariate, written to a CSV file. Without the
# offsets (the first test's), so that the two reductions' rounding is far
# below the tolerance.
csv_rows <- function() {
  d <- summaries_rows()
  d$y <- d$y - 1e9
  d$x <- d$x - 1e6
  set.seed(3)
  d$z <- round(stats::runif(nrow(d), 1, 5), 3)
  d$h <- sample(c("p", "q"), nrow(d), TRUE)
  d$u <- (d$s %% 4) / 3
  d$x[4] <- NA
  d$h[9] <- NA
  d$y[13] <- NA
  d
}

rows_to_csv <- function(d, compress = FALSE) {
  path <- tempfile(fileext = if (compress) ".csv.gz" else ".csv")
  con <- if (compress) gzfile(path, "w") else file(path, "w")
  utils::write.csv(d, con, row.names = FALSE)
  close(con)
  path
}

# The summaries of a file and of read.csv() of it: the same groups, the
# same statistics to rounding, the same designs.
# nolint start: object_usage_linter. A helper calling testthat's expectations.
expect_csv_summaries <- function(formula, path, chunk_size) {
  environment(formula) <- globalenv()
  rows <- suppressMessages(group_summaries(formula, utils::read.csv(path)))
  file <- suppressMessages(group_summaries(formula, path, chunk_size = chunk_size))
  expect_identical(names(file), names(rows))
  levels <- setdiff(names(rows), grep("^(n|mean\\[|cp\\[)", names(rows), value = TRUE))
  expect_identical(unclass(file)[levels], unclass(rows)[levels])
  expect_identical(file$n, rows$n)
  for (col in grep("^(mean|cp)\\[", names(rows), value = TRUE)) {
    scale <- max(1, abs(rows[[col]]))
    expect_lt(max(abs(file[[col]] - rows[[col]])) / scale, 1e-10)
  }
  design <- attr(file, "design")
  expected <- attr(rows, "design")
  for (part in c("x_names", "x_vars", "variables", "x_levels", "contrasts")) {
    expect_identical(design[[part]], expected[[part]], label = paste(deparse1(formula), part))
  }
  for (l in seq_along(expected$levels)) {
    expect_identical(design$levels[[l]][c("name", "z_names", "z_vars", "correlated", "xlevels")],
                     expected$levels[[l]][c("name", "z_names", "z_vars", "correlated",
                                            "xlevels")])
  }
  invisible(file)
}
# nolint end

test_that("a CSV file read in chunks gives the regression's summaries", {
  d <- csv_rows()
  path <- rows_to_csv(d)
  formulas <- list(y ~ x + (1 | s), y ~ x * f + I(x^2) + (1 + x | s),
                   y ~ h + u + (x || r) + (1 | r:s), y ~ 0 + f:h + log(z) + (1 | r / s),
                   y ~ x + z, y ~ x:z + s + (1 | s), (y - 3) / 2 ~ x + f + (z | r))
  for (formula in formulas) {
    whole <- expect_csv_summaries(formula, path, 1e6)
    # one pass over the file whatever the chunks: the same to the last bit
    for (chunk_size in c(1, 7)) {
      expect_identical(expect_csv_summaries(formula, path, chunk_size), whole)
    }
  }
  expect_csv_summaries(y ~ f + (1 + x | s), rows_to_csv(d, compress = TRUE), 10)
  expect_message(group_summaries(y ~ x + h + (1 | s), path),
                 "Dropped 3 of 51 row\\(s\\) .*first on line 5\\.",
                 class = "hiermod_dropped_rows")
})

test_that("CSV: a column is text if any record says so, however late", {
  d <- csv_rows()
  d$k <- as.character(d$s %% 3)
  d$k[45] <- "other"
  path <- rows_to_csv(d)
  s <- expect_csv_summaries(y ~ x + k + (1 | s), path, 8)
  expect_identical(attr(s, "design")$x_names, c("(Intercept)", "x", "k1", "k2", "kother"))
  # the fit from the file is the fit from its rows, to the rounding of the
  # statistics
  formula <- y ~ x + k + (1 + x | s)
  from_rows <- suppressMessages(do.call(fit, c(list(formula, utils::read.csv(path)), fit_args)))
  from_file <- suppressMessages(do.call(fit, c(list(formula, path), fit_args)))
  expect_lt(max(abs(as.matrix(from_file) - as.matrix(from_rows))), 1e-6)
  expect_equal(predict(from_file, newdata = d[1:3, ]), predict(from_rows, newdata = d[1:3, ]),
               tolerance = 1e-8)
})

test_that("CSV: numbers the core does not read as plain decimals are R's to read", {
  d <- csv_rows()
  path <- rows_to_csv(d)
  lines <- readLines(path)
  # a field with spaces, one in hexadecimal, one with an exponent
  fields <- strsplit(lines[2:4], ",", fixed = TRUE)
  x_at <- match("\"x\"", strsplit(lines[1], ",", fixed = TRUE)[[1]])
  fields[[1]][x_at] <- " 2.5 "
  fields[[2]][x_at] <- "0x1A"
  fields[[3]][x_at] <- "1.5e-1"
  lines[2:4] <- vapply(fields, paste, "", collapse = ",")
  writeLines(lines, path)
  for (chunk_size in c(1, 2, 1e6)) {
    s <- expect_csv_summaries(y ~ x + (1 | s), path, chunk_size)
  }
  expect_identical(utils::read.csv(path)$x[1:3], c(2.5, 26, 0.15))
})

test_that("CSV: what cannot be read in chunks is a classed error", {
  connections <- nrow(showConnections())
  d <- csv_rows()
  path <- rows_to_csv(d)
  expect_hm_error(group_summaries(y ~ scale(x) + (1 | s), path), "formula",
                  "not computed row by row")
  expect_hm_error(group_summaries(y ~ I(x * (h == "p")) + (1 | s), path), "formula",
                  "combines numeric columns")
  expect_hm_error(group_summaries(y ~ x + w + (1 | s), path), "formula", "`w`, not found")
  d$z[20] <- Inf
  expect_hm_error(suppressMessages(group_summaries(y ~ z + (1 | s), rows_to_csv(d))), "formula",
                  "not finite: `z` is Inf on line 21")
  d$y[30] <- "high"
  expect_hm_error(suppressMessages(group_summaries(y ~ x + (1 | s), rows_to_csv(d))), "formula",
                  "must be numeric")
  expect_hm_error(group_summaries(y ~ x + (1 | s), path, chunk_size = 0), "chunk_size")
  expect_hm_error(fit(y ~ x + (1 | s), tempfile()), "data", "does not exist")
  # every file opened is closed again, errors and second readings included
  expect_identical(nrow(showConnections()), connections)
})
