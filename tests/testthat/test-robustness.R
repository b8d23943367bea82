# The prior list the glue reads: the lecture's Gamma priors, all 1.
glue_prior <- function() {
  gamma <- list(family = "gamma_precision", shape = 1, rate = 1)
  list(mu0 = 0, tau0 = 1, levels = list(gamma), within = "common",
       within_prior = gamma)
}

test_that("the Rust entry points refuse malformed arguments without crashing", {
  call_glue <- function(...) {
    args <- list(parents = list(c(1L, 1L)), n = c(2, 2), ybar = c(1.5, 3.5),
                 ss = c(0.5, 0.5),
                 prior = glue_prior(),
                 sampler = "gibbs", chains = 1L,
                 iter = 10L, warmup = 5L, thin = 1L, seed = 1, threads = 1L,
                 keep_groups = TRUE,
                 column_names = c("mu", "sd_b", "sd_w", "theta[1]", "theta[2]"),
                 progress = NULL)
    args[names(list(...))] <- list(...)
    tryCatch(do.call(hiermod:::hm_sample, args),
             error = function(e) list(error = conditionMessage(e)))
  }
  expect_null(call_glue()$error)
  prior <- function(...) {
    p <- glue_prior()
    p[names(list(...))] <- list(...)
    p
  }
  gamma <- function(shape, rate) list(family = "gamma_precision", shape = shape, rate = rate)
  bad <- list(
    list(n = "a"), list(n = 1:2), list(ybar = c(1, NA)), list(ss = c(-1, 1)),
    list(n = c(0, 2)), list(n = c(2, 2, 2)), list(parents = list(c(1L, 2L))),
    list(parents = list(c(0L, 1L))), list(parents = list(c(NA, 1L))),
    list(parents = list(c(1, 1))), list(parents = list(c(1L, 1L, 1L))),
    list(prior = prior(levels = list(gamma(1, 1), gamma(1, 1)))),
    list(prior = prior(levels = list(gamma(0, 1)))),
    list(prior = prior(levels = list(list(family = "lognormal", scale = 1)))),
    list(prior = prior(levels = list(list(family = "half_normal")))),
    list(prior = prior(levels = gamma(1, 1))), list(prior = prior(tau0 = -1)),
    list(prior = prior(mu0 = NaN)), list(prior = prior(within = "x")),
    list(prior = prior(within_prior = NULL)), list(prior = list()),
    list(prior = prior(within = "group", a0 = 1, b0 = 1, lambda = 1, nu_max = 0.5)),
    list(sampler = "nuts"), list(sampler = 1), list(chains = 0L),
    list(chains = -3L), list(iter = 5L), list(thin = 0L), list(seed = -1),
    list(seed = 0.5), list(seed = NaN), list(threads = -1L), list(iter = "x"),
    list(keep_groups = NA), list(column_names = 1:3), list(column_names = "mu"),
    list(sampler = "asis", prior = prior(within = "known"),
         column_names = c("mu", "sd_b", "theta[1]", "theta[2]"))
  )
  for (b in bad) {
    out <- do.call(call_glue, b)
    expect_true(is.character(out$error) && nzchar(out$error),
                label = paste("rejects", deparse(b)))
    expect_false(grepl("panicked", out$error))
  }
  stats <- function(...) {
    args <- list(y = c(1, 2, 3), group = c(1L, 1L, 2L), n_groups = 2L,
                 weights = NULL)
    args[names(list(...))] <- list(...)
    tryCatch(do.call(hiermod:::hm_group_stats, args),
             error = function(e) list(error = conditionMessage(e)))
  }
  expect_null(stats()$error)
  for (b in list(list(y = "a"), list(group = c(1, 1, 2)), list(group = 1:2),
                 list(group = c(1L, 1L, 3L)), list(n_groups = 3L),
                 list(y = c(1, NA, 3)), list(weights = c(1, 1)),
                 list(weights = c(1, 0, 1)), list(weights = "a"))) {
    out <- do.call(stats, b)
    expect_true(is.character(out$error) && nzchar(out$error),
                label = paste("rejects", deparse(b)))
  }
})

test_that("tibbles work like data frames", {
  skip_if_not_installed("tibble")
  tb <- tibble::as_tibble(schools)
  expect_identical(values_of(quick_fit(data = tb)), values_of(quick_fit()))
})

test_that("data.tables work like data frames", {
  skip_if_not_installed("data.table")
  dt <- data.table::as.data.table(schools)
  expect_identical(values_of(quick_fit(data = dt)), values_of(quick_fit()))
})

test_that("a chain does not depend on how many chains run beside it", {
  four <- quick_fit(chains = 4, cores = 2)
  two <- quick_fit(chains = 2, cores = 1)
  expect_identical(unclass(four[[1]]), unclass(two[[1]]))
  expect_identical(unclass(four[[2]]), unclass(two[[2]]))
})

test_that("a fit's memory is a small multiple of its draws and data", {
  skip_on_cran()
  skip_on_covr() # the child's memory would include the instrumentation
  skip_if_not(file.exists("/proc/self/status"))
  script <- tempfile(fileext = ".R")
  writeLines(c(
    "peak <- function() as.numeric(gsub('[^0-9]', '',",
    "  grep('^VmHWM', readLines('/proc/self/status'), value = TRUE))) * 1024",
    "library(hiermod)",
    "set.seed(1)",
    "k <- 1e5",
    "d <- data.frame(g = rep(seq_len(k), 10))",
    "d$y <- rnorm(k)[d$g] + rnorm(10 * k)",
    "invisible(gc())",
    "before <- peak()",
    "f <- fit(y ~ g, d, chains = 4, iter = 1000, keep = 'global', seed = 1)",
    "cat(before, peak(), object.size(d), object.size(f), '\\n')"
  ), script)
  out <- system2(file.path(R.home("bin"), "Rscript"), c("--vanilla", script),
                 stdout = TRUE,
                 env = paste0("R_LIBS=", paste(.libPaths(), collapse = ":")))
  v <- as.numeric(strsplit(trimws(tail(out, 1L)), " ")[[1]])
  growth <- v[2] - v[1]
  # The fit may hold a few copies of the N-row data (checks, codes) and
  # O(K) per chain; it must not scale with draws times groups.
  expect_lt(growth, 4 * v[3] + 10 * v[4] + 50e6)
})

test_that("a progress bar reports long fits and suppressMessages() silences it", {
  withr_options <- options(cli.progress_show_after = 0, cli.dynamic = FALSE)
  on.exit(options(withr_options))
  long <- function() {
    fit(mathscore ~ school, schools, chains = 2, iter = 60000, seed = 1,
        keep = "global", progress = TRUE)
  }
  out <- capture.output(msgs <- capture_messages(long()), type = "message")
  expect_true(any(grepl("Sampling", c(msgs, out))))
  expect_silent(suppressMessages(long()))
  expect_silent(fit(mathscore ~ school, schools, iter = 60000, seed = 1,
                    keep = "global", progress = FALSE))
  # a failing progress function stops the reports, not the fit
  f <- hiermod:::hm_sample(
    list(c(1L, 1L)), c(2, 2), c(1.5, 3.5), c(0.5, 0.5),
    glue_prior(), "gibbs", 1L, 3000000L, 5L, 1000L, 1, 1L, FALSE,
    c("mu", "sd_b", "sd_w", "t1", "t2"), function(done) stop("no")
  )
  expect_null(f$error)
  expect_error(fit(mathscore ~ school, schools, progress = NA), class = "hiermod_error")
  # a function hears the fraction done
  seen <- numeric()
  fit(mathscore ~ school, schools, chains = 2, iter = 60000, seed = 1,
      keep = "global", progress = function(done) seen <<- c(seen, done))
  expect_gt(length(seen), 0L)
  expect_true(all(seen > 0 & seen <= 1) && !is.unsorted(seen))
})
