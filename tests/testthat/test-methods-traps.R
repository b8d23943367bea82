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
  # groups and 4 x 1,000 draws took 16 s of CPU that way, about 1 s now
  # (the diagnostics in Rust). CPU time, not elapsed: a loaded machine
  # must not fail the test
  set.seed(8)
  d <- data.frame(g = rep(1:2000, each = 3))
  d$y <- stats::rnorm(2000, 0, 2)[d$g] + stats::rnorm(nrow(d))
  f <- quick_fit(y ~ g, d, chains = 4, iter = 2000)
  cpu <- sum(system.time(s <- summary(f, pars = "theta"))[c("user.self", "sys.self")])
  expect_identical(nrow(s$table), 2000L)
  expect_lt(cpu, 3)
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
  expect_hm_error(summary(f, quantiles = 0.9), "quantiles", "summary\\(\\)")
  expect_hm_error(summary(f, probs = c(0.1, NA)), "probs")
  expect_hm_error(summary(f, pars = 1), "pars")
  expect_hm_error(print(f, digits = 0), "digits")
  expect_hm_error(print(summary(f), digits = NA), "digits")
})

test_that("sigma() is the posterior mean of the within-group sd", {
  # it returned numeric(0)
  expect_equal(sigma(f), mean(m[, "sd_w"]))
  one <- quick_fit(mathscore ~ 1)
  expect_equal(sigma(one), mean(as.matrix(one)[, "sd"]))
  grouped <- quick_fit(within = "group")
  expect_equal(sigma(grouped), mean(as.matrix(grouped)[, "sd_w0"]))
  expect_identical(sigma(quick_fit(y ~ school, hiermod::eight_schools, se = se)), NA_real_)
  expect_equal(sigma(quick_fit(keep = "global")), sigma(quick_fit()))
  expect_hm_error(sigma(f, 1), "...", "sigma\\(\\)")
})

test_that("ranef() has lme4's shape: one data frame per level", {
  # ranef(f)$school failed: ranef() was a bare vector
  re <- ranef(f)
  expect_named(re, "school")
  expect_s3_class(re$school, "data.frame")
  expect_named(re$school, "(Intercept)")
  expect_identical(rownames(re$school), as.character(1:100))
  expect_equal(re$school[["(Intercept)"]] + fixef(f), unname(coef(f)))
  n <- quick_fit(score ~ region / school, hiermod::regions)
  rn <- ranef(n)
  expect_named(rn, c("region", "school"))
  expect_identical(nrow(rn$region), 8L)
  expect_identical(nrow(rn$school), ngrps(n)[["school"]])
  nm <- colMeans(as.matrix(n))
  expect_equal(rn$school["A/1", "(Intercept)"],
               unname(nm["theta_school[A/1]"] - nm["theta_region[A]"]))
  expect_equal(rn$region["A", "(Intercept)"], unname(nm["theta_region[A]"] - nm["mu"]))
  expect_hm_error(ranef(quick_fit(mathscore ~ 1)), "object", "no groups")
  expect_identical(dim(ranef(quick_fit(keep = "global"))$school), c(100L, 1L))
  expect_hm_error(ranef(quick_fit(keep = "global", within = "group")), "object", "keep")
  expect_hm_error(ranef(f, condVar = TRUE), "condVar", "ranef\\(\\)")
  expect_hm_error(VarCorr(f, 1), "...")
  expect_hm_error(coef(f, complete = TRUE), "complete")
})

# The lines that attach `other` in a child of run_in_child(), which starts
# with hiermod attached: `other` after it, or (`hiermod_last`) before it.
attach_lines <- function(other, hiermod_last) {
  library_line <- sprintf("suppressMessages(library(%s))", other)
  if (!hiermod_last) return(library_line)
  # unload hiermod to load and attach it after `other`
  c("unloadNamespace('hiermod')", library_line, "suppressMessages(library(hiermod))")
}

test_that("ngrps() works on hiermod's and lme4's fits whichever is attached last", {
  skip_on_cran()
  skip_if_not_installed("lme4")
  code <- c("f <- fit(mathscore ~ school, schools, chains = 1, iter = 100, seed = 1)",
            "m <- lmer(Reaction ~ (1 | Subject), sleepstudy)",
            "cat('ngrps', ngrps(f), ngrps(m), lme4::ngrps(f), hiermod::ngrps(m), '\\n')")
  for (hiermod_last in c(TRUE, FALSE)) {
    child <- run_in_child(c(attach_lines("lme4", hiermod_last), "cat(search()[2:3], '\\n')",
                            code), 120)
    expect_identical(child$status, 0L)
    out <- child$output
    expect_match(out[1L], if (hiermod_last) "package:hiermod package:lme4" else "package:lme4")
    expect_true("ngrps 100 18 100 18 " %in% out, label = paste(out, collapse = "\n"))
  }
  expect_hm_error(ngrps(1), "object", "hiermod::fit\\(\\)")
})

test_that("compare() works for testthat and for hiermod whichever is attached last", {
  skip_on_cran()
  code <- c("f <- fit(mathscore ~ school, schools, chains = 1, iter = 100, seed = 1)",
            "cat('testthat', compare(1, 1)$equal, compare(1, 2)$equal, '\\n')",
            "cat('hiermod', class(compare(f)), nrow(compare(f, groups = 1:3)$ranks), '\\n')")
  for (hiermod_last in c(TRUE, FALSE)) {
    child <- run_in_child(c(attach_lines("testthat", hiermod_last),
                            "cat(search()[2:3], '\\n')", code), 120)
    expect_identical(child$status, 0L)
    out <- child$output
    expect_match(out[1L], if (hiermod_last) "package:hiermod package:testthat" else
      "package:testthat package:hiermod")
    expect_true("testthat TRUE FALSE " %in% out, label = paste(out, collapse = "\n"))
    expect_true("hiermod hiermod_comparison 3 " %in% out, label = paste(out, collapse = "\n"))
  }
})

test_that("compare() ranks the groups of the level of nesting asked for", {
  n <- quick_fit(score ~ region / school, hiermod::regions, iter = 1000)
  lowest <- compare(n)
  expect_identical(lowest$by, "school")
  expect_identical(nrow(lowest$ranks), ngrps(n)[["school"]])
  expect_output(print(lowest), "groups of `school` \\(the lowest level of nesting; `by`")
  regions <- compare(n, by = "region")
  expect_identical(regions$by, "region")
  expect_setequal(regions$ranks$group, LETTERS[1:8])
  expect_equal(regions$ranks$theta[regions$ranks$group == "A"],
               mean(as.matrix(n)[, "theta_region[A]"]))
  expect_output(print(regions), "8 groups of `region`\n")
  expect_identical(compare(n, by = 1), regions)
  expect_identical(dim(compare(n, by = "region", groups = c("A", "C"))$prob_greater), c(2L, 2L))
  expect_hm_error(compare(n, by = "district"), "by", "\"region\", \"school\"")
  expect_hm_error(compare(n, by = 3), "by")
  expect_hm_error(compare(n, by = "region", groups = c("A", "A/1")), "groups", "of `region`")
  expect_hm_error(compare(quick_fit(mathscore ~ 1)), "x", "no groups")
})

test_that("compare() validates level, groups, pairs and its print's arguments", {
  # level = 2 gave an unclassed error
  for (bad in list(2, 0, NA_real_, c(0.5, 0.9), "0.9")) {
    expect_hm_error(compare(f, level = bad), "level", "between 0 and 1")
  }
  expect_hm_error(compare(f, groups = "1"), "groups", "at least 2")
  expect_hm_error(compare(f, groups = c("1", "1")), "groups", "more than once")
  expect_hm_error(compare(f, groups = c("1", NA)), "groups")
  expect_hm_error(compare(f, pairs = NA), "pairs")
  expect_hm_error(compare(f, levels = 0.9), "levels", "compare\\(\\)")
  expect_hm_error(print(compare(f), n = 0), "n")
  expect_hm_error(compare(quick_fit(keep = "global")), "object", "keep")
})

test_that("compare() ranks as before, without a K x K matrix unless asked", {
  theta <- m[, grep("^theta", colnames(m))]
  cmp <- compare(f)
  ranks <- t(apply(-theta, 1L, rank))
  r <- cmp$ranks[match(as.character(1:100), cmp$ranks$group), ]
  expect_equal(r$mean_rank, unname(colMeans(ranks)))
  expect_equal(r$rank_lower, unname(apply(ranks, 2L, quantile, 0.025)))
  expect_equal(r$p_best, unname(colMeans(ranks == 1)))
  expect_equal(r$p_worst, unname(colMeans(ranks == 100)))
  # 3,000 groups: the pairwise matrix would be 72 MB (18.6 GB at 50,000)
  set.seed(5)
  d <- data.frame(g = rep(1:3000, each = 2))
  d$y <- stats::rnorm(3000)[d$g] + stats::rnorm(nrow(d))
  big <- compare(quick_fit(y ~ g, d, iter = 600))
  expect_lt(as.numeric(utils::object.size(big)), 2e6)
  expect_identical(nrow(big$ranks), 3000L)
  expect_equal(sum(big$ranks$p_best), 1)
  expect_hm_error(big$prob_greater, "prob_greater", "compare\\(groups = \\)")
  expect_hm_error(big[["prob_greater"]], "prob_greater")
  expect_output(print(big), "not computed for 3000 groups")
  expect_hm_error(compare(quick_fit(y ~ g, d, iter = 20), pairs = TRUE), "pairs", "at most 1000")
  expect_null(.subset2(compare(f, pairs = FALSE), "prob_greater"))
})
