# The defects of the adversarial run (issue "Hard to break"), each as it was
# reproduced, and a randomised search over scales, priors, models, kernels.

test_that("sweeps that never ended now end with a hiermod_error, in a child", {
  skip_on_cran()
  skip_on_os("windows")
  code <- c(
    "d <- data.frame(y = rep(c(1, 3), 6), g = rep(1:3, each = 4))",
    "big <- data.frame(y = rep(c(1.7e308, -1.7e308), each = 20), g = rep(1:4, each = 10))",
    "cases <- list(",
    "  function() fit(y ~ g, d, prior = hier_prior(tau0 = 1e-310), seed = 1),",
    "  function() fit(mathscore ~ school, schools, sampler = 'asis',",
    "                 prior = hier_prior(mu0 = 1e200), seed = 1),",
    "  function() fit(y ~ g, big, seed = 1,",
    "                 prior = hier_prior(mu0 = 0, tau0 = 1, b = 1, beta = 1)))",
    "for (f in cases) {",
    "  r <- tryCatch(f(), hiermod_error = function(e) e)",
    "  cat('class', class(r)[1], '\\n')",
    "}"
  )
  res <- run_in_child(code, 60)
  expect_identical(res$status, 0L)
  expect_identical(sum(res$output == "class hiermod_error "), 3L,
                   info = paste(res$output, collapse = "\n"))
})

test_that("priors whose arithmetic overflows are refused up front, naming the value", {
  d <- data.frame(y = rep(c(1, 3), 6), g = rep(1:3, each = 4))
  expect_hm_error(fit(y ~ g, d, prior = hier_prior(tau0 = 1e-310)), "prior",
                  "tau0")
  expect_hm_error(fit(mathscore ~ school, schools, sampler = "gibbs",
                      prior = hier_prior(mu0 = 1e308)), "prior", "mu0")
  expect_hm_error(fit(mathscore ~ school, schools,
                      prior = hier_prior(b = 1e300)), "prior",
                  "rate of the prior on the sd of level 1 = 1e300")
  # what is merely vague or tight on the data's scale still runs
  f <- fit(mathscore ~ school, schools, chains = 1, iter = 200, seed = 1,
           prior = hier_prior(tau0 = 1e-12, b = 1e-6, beta = 1e-6))
  expect_true(all(is.finite(as.matrix(f))))
})

test_that("zero spread within every group is an improper posterior with group variances", {
  d <- data.frame(y = rep(c(1, 2, 4), each = 64), g = rep(1:3, each = 64))
  expect_hm_error(fit(y ~ g, d, within = "group", seed = 1), "data",
                  "improper")
  # the common-variance model is proper on the same data, and finite
  f <- fit(y ~ g, d, seed = 1, chains = 2, iter = 400,
           prior = hier_prior(beta = 1))
  expect_true(all(is.finite(as.matrix(f))))
})

test_that("every model maps exactly under units from 1e-80 to 1e100", {
  models <- list(
    list(f = mathscore ~ school, d = schools, args = list()),
    list(f = mathscore ~ school, d = schools, args = list(within = "group")),
    list(f = score ~ region / school, d = regions, args = list()),
    list(f = y ~ school, d = eight_schools, args = list(se = quote(se))),
    list(f = mathscore ~ 1, d = schools, args = list())
  )
  for (m in models) {
    response <- all.vars(m$f)[1L]
    base <- do.call(fit, c(list(m$f, m$d, chains = 1, iter = 300, seed = 3),
                           m$args))
    mb <- as.matrix(base)
    for (scale in c(1e-80, 1e100)) {
      d <- m$d
      d[[response]] <- d[[response]] * scale
      if (!is.null(d$se)) d$se <- d$se * scale
      f <- do.call(fit, c(list(m$f, d, chains = 1, iter = 300, seed = 3),
                          m$args))
      mf <- as.matrix(f)
      expect_true(all(is.finite(mf)))
      unitless <- colnames(mf) == "nu0"
      expect_equal(mf[, !unitless] / scale, mb[, !unitless], tolerance = 1e-8,
                   info = paste(deparse1(m$f), scale))
      expect_identical(mf[, unitless], mb[, unitless])
    }
  }
})

test_that("a response whose spread overflows doubles is refused", {
  big <- data.frame(y = c(1.7e308, -1.7e308, 1.7e308, -1.7e308), g = c(1, 1, 2, 2))
  expect_hm_error(fit(y ~ g, big, prior = hier_prior(mu0 = 0, tau0 = 1, b = 1,
                                                       beta = 1)),
                  "data", "overflows")
})

test_that("randomised: finite draws or a hiermod_error, in bounded time", {
  skip_on_cran()
  # Each case of fuzz-fits.R in one child process, killed after 300 s.
  code <- readLines(test_path("fuzz-fits.R"))
  res <- run_in_child(code, 300)
  expect_identical(res$status, 0L, info = paste(res$output, collapse = "\n"))
  outcomes <- grep("^outcome ", res$output, value = TRUE)
  kinds <- sub("^outcome (.*) [0-9]+ $", "\\1", outcomes)
  expect_true(all(kinds %in% c("ok", "hiermod_error")),
              info = paste(res$output, collapse = "\n"))
  counts <- as.integer(sub(".* ([0-9]+) $", "\\1", outcomes))
  expect_identical(sum(counts), 400L)
  # the search must exercise both: fits that run and inputs refused
  expect_setequal(kinds, c("ok", "hiermod_error"))
})

test_that("an interrupt while a progress function runs stops the fit", {
  skip_on_cran()
  skip_on_covr()
  skip_on_os("windows")
  child <- start_child(c(
    "library(hiermod)",
    "cat('started\\n')",
    "r <- tryCatch(fit(mathscore ~ school, schools, chains = 2, iter = 2e9,",
    "  warmup = 2e9 - 1, seed = 1, progress = function(p) Sys.sleep(0.1)),",
    "  interrupt = function(e) e)",
    "cat('caught', class(r)[1], '\\n')"
  ))
  pid <- child$pid
  on.exit(tools::pskill(pid, tools::SIGKILL))
  wait_for <- child$wait_for
  expect_true(wait_for("started", 30))
  Sys.sleep(1)
  tools::pskill(pid, tools::SIGINT)
  sent <- Sys.time()
  expect_true(wait_for("caught hiermod_interrupt", 10))
  expect_lt(as.numeric(Sys.time() - sent, units = "secs"), 2)
})

test_that("a request for more memory than the machine has is refused up front", {
  skip_if_not(file.exists("/proc/meminfo"))
  err <- expect_hm_error(
    fit(mathscore ~ school, schools, iter = 4e8, warmup = 1, keep = "global"),
    "iter", "memory available"
  )
  expect_s3_class(err, "hiermod_memory_error")
  expect_match(conditionMessage(err), "thin")
})

test_that("unclassed or misleading errors are hiermod_errors naming the argument", {
  expect_hm_error(fit(mathscore ~ school, schools, prior = hier_prior),
                  "prior", "not a function")
  expect_lt(nchar(tryCatch(fit(mathscore ~ school, schools, prior = hier_prior),
                           error = conditionMessage)), 100)
  expect_hm_error(fit(y ~ offset(x), data.frame(y = 1:10, x = rnorm(10))),
                  "formula", "offset")
  # a huge thin keeps the first post-warm-up draw, as documented
  f <- fit(mathscore ~ school, schools, thin = .Machine$integer.max,
           chains = 1, iter = 20, seed = 1)
  expect_identical(coda::niter(f), 1L)
})

test_that("a numeric variable alone on the right is not quietly a grouping", {
  expect_hm_error(fit(mpg ~ wt, mtcars), "formula", "\\(1 \\| wt\\)")
  f <- fit(mpg ~ (1 | wt), mtcars, chains = 1, iter = 50, seed = 1)
  expect_identical(ngrps(f)[[1L]], length(unique(mtcars$wt)))
  # whole numbers are IDs, as the lecture's school numbers
  f <- fit(mpg ~ cyl, mtcars, chains = 1, iter = 50, seed = 1)
  expect_identical(unname(ngrps(f)[[1L]]), 3L)
})

test_that("distinct numeric groups keep distinct labels", {
  d <- data.frame(y = c(1, 2, 2, 3, 5, 6),
                  g = c(1e15, 1e15, 1e15 + 1, 1e15 + 1, 7, 7))
  f <- fit(y ~ g, d, chains = 1, iter = 50, seed = 1)
  theta <- grep("^theta", colnames(as.matrix(f)), value = TRUE)
  expect_identical(anyDuplicated(theta), 0L)
  expect_length(theta, 3L)
  expect_true("theta[1000000000000001]" %in% theta)
  expect_no_error(summary(f))
})

test_that("nested paths that would collide are refused", {
  d <- data.frame(y = 1:8, a = c("a/b", "a/b", "a", "a", "x", "x", "x", "x"),
                  b = c("c", "c", "b/c", "b/c", "1", "1", "2", "2"))
  expect_hm_error(fit(y ~ a / b, d), "formula", "a/b/c")
})

test_that("non-ASCII labels work", {
  path <- tempfile(fileext = ".csv")
  writeLines(enc2utf8(c("y,g", "1,Z\u00fcrich", "2,Z\u00fcrich", "3,Bern",
                        "4,Bern", "5,Gen\u00e8ve", "6,Gen\u00e8ve")),
             path, useBytes = TRUE)
  d <- utils::read.csv(path, encoding = "unknown")
  f <- fit(y ~ g, d, chains = 1, iter = 50, seed = 1)
  expect_true(enc2utf8("theta[Z\u00fcrich]") %in% colnames(as.matrix(f)))
})

test_that("rows with a missing response or group are dropped, with a message", {
  d <- schools
  d$mathscore[c(3, 10)] <- NA
  d$school[5] <- NA
  expect_message(f <- fit(mathscore ~ school, d, chains = 1, iter = 50,
                          seed = 1),
                 "Dropped 3 of 1993", class = "hiermod_dropped_rows")
  expect_identical(nobs(f), 1990L)
  expect_hm_error(fit(y ~ g, data.frame(y = c(1, Inf, 3, 4), g = c(1, 1, 2, 2))),
                  "formula", "infinite")
})

test_that("every model and kernel stops within a second of an interrupt", {
  skip_on_cran()
  skip_on_covr()
  skip_on_os("windows")
  cases <- c(
    "fit(mathscore ~ school, schools, sampler = 'collapsed', ITER)",
    "fit(mathscore ~ school, schools, sampler = 'asis', ITER)",
    "fit(mathscore ~ school, schools, sampler = 'gibbs', ITER)",
    "fit(mathscore ~ school, schools, within = 'group', ITER)",
    "fit(mathscore ~ school, schools, within = 'group', sampler = 'gibbs', ITER)",
    "fit(score ~ region / school, regions, ITER)",
    "fit(score ~ region / school, regions, sampler = 'gibbs', ITER)",
    "fit(y ~ school, eight_schools, se = se, ITER)",
    "fit(mathscore ~ 1, schools, ITER)"
  )
  long <- "chains = 2, iter = 2e9, warmup = 2e9 - 1, seed = 1, progress = FALSE"
  child <- start_child(c(
    "library(hiermod)",
    sprintf(paste0("cat('start %d\\n'); r <- tryCatch(%s, interrupt = function(e) e); ",
                   "cat('caught %d', class(r)[1], '\\n')"),
            seq_along(cases), sub("ITER", long, cases, fixed = TRUE), seq_along(cases))
  ))
  pid <- child$pid
  out <- child$out
  on.exit(tools::pskill(pid, tools::SIGKILL))
  wait_for <- child$wait_for
  for (i in seq_along(cases)) {
    expect_true(wait_for(sprintf("^start %d$", i), 30), info = cases[i])
    Sys.sleep(0.5) # inside the sampling loop
    tools::pskill(pid, tools::SIGINT)
    sent <- Sys.time()
    expect_true(wait_for(sprintf("^caught %d hiermod_interrupt", i), 10),
                info = paste(readLines(out), collapse = "\n"))
    expect_lt(as.numeric(Sys.time() - sent, units = "secs"), 1, label = cases[i])
  }
})
