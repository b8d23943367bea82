test_that("a fit is a coda mcmc.list with honest labels", {
  f <- quick_fit(iter = 50, warmup = 20, thin = 3)
  expect_s3_class(f, c("hiermod_fit", "mcmc.list"), exact = TRUE)
  expect_length(f, 2)
  expect_true(all(vapply(f, coda::is.mcmc, TRUE)))
  expect_identical(coda::varnames(f)[1:4],
                   c("mu", "sd_b", "sd_w", "theta[1]"))
  expect_identical(coda::nvar(f), 103L)
  # iterations 21, 24, ..., 48 are kept: 10 draws
  expect_identical(coda::mcpar(f[[1]]), c(21, 48, 3))
  expect_identical(coda::niter(f), 10L)
  expect_identical(nobs(f), 1993L)
  expect_identical(deparse(formula(f)), "mathscore ~ school")
  info <- fit_info(f)
  expect_identical(info$seed, 42)
  expect_identical(info$sampler, "collapsed")
  expect_identical(dim(info$inits), c(2L, 103L))
  expect_s3_class(info$prior, "hier_prior")
  stats <- group_stats(f)
  expect_identical(stats$n, as.vector(table(schools$school)))
  expect_equal(stats$mean, as.vector(tapply(schools$mathscore, schools$school, mean)))
  expect_equal(stats$ss, as.vector(tapply(schools$mathscore, schools$school,
                                          function(v) sum((v - mean(v))^2))))
  expect_true(all(as.matrix(f)[, c("sd_b", "sd_w")] > 0))
})

for (sampler in c("collapsed", "asis", "gibbs")) {
  test_that(paste0("Hoff's prior on schools: exact posterior means (", sampler, ")"), {
    f <- fit(mathscore ~ school, schools, prior = hoff_prior(), chains = 4,
             iter = 6000, warmup = 1000, seed = 20261124, cores = 2,
             sampler = sampler)
    expect_identical(fit_info(f)$sampler, sampler)
    expect_identical(coda::niter(f) * coda::nchain(f), 20000L)
    pars <- c("mu", "sd_b", "sd_w")
    m <- as.matrix(f[, pars])
    mcse <- apply(m, 2, stats::sd) / sqrt(coda::effectiveSize(f[, pars]))
    exact_mean <- c(mu = 48.128, sd_b = 4.966, sd_w = 9.208)
    exact_sd <- c(mu = 0.541, sd_b = 0.433, sd_w = 0.150)
    expect_true(all(abs(colMeans(m) - exact_mean) < 4 * mcse))
    expect_equal(apply(m, 2, stats::sd), exact_sd, tolerance = 0.05)
    expect_true(all(coda::gelman.diag(f[, pars])$psrf[, 1] < 1.01))
  })
}

test_that("the default sampler is the collapsed one and mixes well", {
  f <- quick_fit(iter = 2000, chains = 2)
  expect_identical(fit_info(f)$sampler, "collapsed")
  ess <- coda::effectiveSize(f[, c("mu", "sd_b", "sd_w")]) / 2000
  expect_true(all(ess > 0.6))
})

test_that("keep = 'global' stores mu, sd_b, sd_w only, with the same draws", {
  all <- quick_fit()
  global <- quick_fit(keep = "global")
  expect_identical(coda::varnames(global), c("mu", "sd_b", "sd_w"))
  expect_identical(values_of(global), values_of(all[, 1:3]))
  expect_output(print(global), "not stored")
  expect_identical(dim(fit_info(global)$inits), c(2L, 103L))
})

test_that("the same seed gives identical draws; set.seed() fixes seed = NULL", {
  a <- quick_fit(seed = 7)
  b <- quick_fit(seed = 7)
  expect_identical(draws_of(a), draws_of(b))
  expect_false(identical(draws_of(a), draws_of(quick_fit(seed = 8))))
  expect_false(identical(unclass(a[[1]]), unclass(a[[2]])))

  set.seed(1)
  c1 <- quick_fit(seed = NULL)
  set.seed(1)
  c2 <- quick_fit(seed = NULL)
  expect_identical(draws_of(c1), draws_of(c2))
  expect_identical(fit_info(c1)$seed, fit_info(c2)$seed)
  # the stored seed reproduces the fit
  expect_identical(draws_of(quick_fit(seed = fit_info(c1)$seed)), draws_of(c1))
  # large seeds are exact
  big <- 2^53 - 1
  expect_identical(fit_info(quick_fit(seed = big))$seed, big)
})

test_that("draws do not depend on the number of threads", {
  one <- quick_fit(chains = 3, cores = 1)
  two <- quick_fit(chains = 3, cores = 2)
  expect_identical(draws_of(one), draws_of(two))
  expect_identical(fit_info(one)$inits, fit_info(two)$inits)
})

test_that("the formula and grouping variable may take several forms", {
  ref <- quick_fit()
  expect_identical(draws_of(quick_fit(mathscore ~ (1 | school))), draws_of(ref))
  d <- transform(schools, f = factor(school), d = as.double(school))
  expect_identical(draws_of(quick_fit(mathscore ~ f, d)), draws_of(ref))
  expect_identical(draws_of(quick_fit(mathscore ~ d, d)), draws_of(ref))
  # character labels keep their text; sorted so that s001 < s002 < ...
  d$s <- sprintf("s%03d", d$school)
  fs <- quick_fit(mathscore ~ s, d)
  expect_identical(values_of(fs), values_of(ref))
  expect_identical(coda::varnames(fs)[4], "theta[s001]")
  # factor levels keep the user's order
  d$rev <- factor(d$school, levels = 100:1)
  fr <- quick_fit(mathscore ~ rev, d)
  expect_identical(coda::varnames(fr)[4], "theta[100]")
  expect_identical(group_stats(fr)$group[1], "100")
  # variables may come from the formula's environment
  score <- schools$mathscore
  grp <- schools$school
  expect_identical(draws_of(quick_fit(score ~ grp, data = NULL)), draws_of(ref))
})

test_that("labels with % and non-ASCII text work", {
  labels <- c("50% group", "\u00e9cole \u00e0 Z\u00fcrich", "%s %d %n")
  d <- data.frame(y = c(1, 2, 3, 5, 6, 8, 9, 9.5, 11),
                  g = rep(labels, each = 3))
  f <- quick_fit(y ~ g, d)
  expect_setequal(coda::varnames(f)[-(1:3)], paste0("theta[", labels, "]"))
  expect_output(print(f), "K = 3 groups")
  d$g <- factor(d$g, levels = c(labels, "100% empty"))
  expect_message(quick_fit(y ~ g, d), "100% empty")
  d$g[1] <- NA
  expect_message(quick_fit(y ~ g, d), "first row 1", class = "hiermod_dropped_rows")
})

test_that("coda functions accept a fit as it is", {
  f <- quick_fit(chains = 3)
  # summary() is hiermod's own (brms-like); coda's is still there
  expect_s3_class(summary(f), "summary.hiermod_fit")
  expect_s3_class(coda:::summary.mcmc.list(f), "summary.mcmc")
  expect_length(coda::effectiveSize(f), 103)
  expect_s3_class(coda::gelman.diag(f[, 1:3]), "gelman.diag")
  expect_length(coda::HPDinterval(f), 3)
  w <- window(f, start = 200)
  expect_identical(stats::start(w), 200)
  expect_identical(dim(as.matrix(f)), c(450L, 103L))
  sub <- f[, "mu"]
  expect_s3_class(sub, "mcmc.list")
  grDevices::pdf(NULL)
  on.exit(grDevices::dev.off())
  expect_silent(coda::traceplot(f[, "mu"]))
})

test_that("an affine change of units maps the posterior (default prior)", {
  d <- transform(schools, y2 = 2.5 * mathscore - 100)
  a <- quick_fit(mathscore ~ school, d)
  b <- quick_fit(y2 ~ school, d)
  ma <- as.matrix(a)
  mb <- as.matrix(b)
  expect_equal(mb[, "mu"], 2.5 * ma[, "mu"] - 100, tolerance = 1e-9)
  expect_equal(mb[, c("sd_b", "sd_w")], 2.5 * ma[, c("sd_b", "sd_w")],
               tolerance = 1e-9)
  expect_equal(mb[, -(1:3)], 2.5 * ma[, -(1:3)] - 100, tolerance = 1e-9)
})

test_that("the user's data are not modified", {
  d <- schools
  d$school <- factor(d$school)
  before <- d
  quick_fit(mathscore ~ school, d)
  expect_identical(d, before)
})

test_that("large offsets do not break the sufficient statistics", {
  d <- transform(schools, big = 1e9 + mathscore)
  f <- quick_fit(big ~ school, d)
  expect_equal(group_stats(f)$ss,
               group_stats(quick_fit())$ss, tolerance = 1e-6)
  expect_equal(mean(as.matrix(f)[, "mu"]) - 1e9,
               mean(as.matrix(quick_fit())[, "mu"]), tolerance = 1e-4)
})

test_that("print and plot show the lecture's quantities", {
  f <- quick_fit()
  out <- capture.output(print(f))
  expect_match(out, "N = 1993 observations in K = 100 groups", all = FALSE)
  expect_match(out, "2 chains x 150 kept", all = FALSE)
  expect_match(out, "seed 42", all = FALSE)
  expect_match(out, "^mu ", all = FALSE)
  expect_match(out, "^sd_w ", all = FALSE)
  expect_output(print(hier_prior()), "from data")
  expect_output(print(fit_info(f)$prior), "mu +~ normal\\(48.07, 10.24\\)")
  grDevices::pdf(NULL)
  on.exit(grDevices::dev.off())
  drawn <- plot(f)
  expect_identical(coda::varnames(drawn), c("mu", "sd_w", "sd_b"))
  expect_error(plot(f, pars = "nope"), "nope", class = "hiermod_error")
})
