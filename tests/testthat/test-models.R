# The models beyond the two-level one: one normal sample, nested groups,
# known standard errors, group-specific variances, fits from summaries.

within_mcse <- function(f, exact, pars = rownames(exact), k = 4) {
  s <- summary(f, pars = pars)$table
  z <- (s$mean - exact[pars, "mean"]) / s$mcse_mean
  testthat::expect_true(all(abs(z) < k), label = paste(
    "means within", k, "MCSE:", paste(pars, signif(z, 2), collapse = ", ")))
  testthat::expect_true(all(abs(s$sd / exact[pars, "sd"] - 1) < 0.05),
              label = paste("sds within 5%:", paste(pars, signif(s$sd, 3), collapse = ", ")))
}

test_that("one normal sample: mu and sd, exact by quadrature", {
  y <- hiermod::schools$mathscore[1:40]
  prior <- hier_prior(mu0 = 40, tau0 = 0.01, a = 2, b = 50)
  exact <- quadrature_one_sample(y, prior)
  for (sampler in c("collapsed", "gibbs")) {
    f <- fit(y ~ 1, data.frame(y = y), prior = prior, chains = 4, iter = 6000,
             seed = 3, sampler = sampler)
    expect_identical(coda::varnames(f), c("mu", "sd"))
    within_mcse(f, exact)
  }
  f <- quick_fit(mathscore ~ 1)
  expect_output(print(f), "one normal sample")
  expect_identical(nobs(f), nrow(hiermod::schools))
  expect_identical(VarCorr(f)$term, "sd")
  expect_equal(fitted(f), rep(unname(fixef(f)), nrow(hiermod::schools)))
  expect_hm_error(quick_fit(mathscore ~ 1, within = "group"), "within", "needs groups")
  expect_hm_error(quick_fit(mathscore ~ 1, sampler = "asis"), "sampler", "two-level")
})

test_that("known standard errors: the eight schools, exact by quadrature", {
  es <- hiermod::eight_schools
  prior <- hier_prior(mu0 = 0, tau0 = 1e-4, a = 1, b = 25)
  exact <- quadrature_known_se(es$y, es$se, prior)
  rownames(exact) <- sub("\\[(\\d)\\]", "", rownames(exact))
  rownames(exact)[-(1:2)] <- paste0("theta[", es$school, "]")
  for (sampler in c("collapsed", "gibbs")) {
    f <- fit(y ~ school, es, se = se, prior = prior, chains = 4,
             iter = if (sampler == "gibbs") 40000 else 6000, seed = 5,
             sampler = sampler, keep = "all")
    expect_identical(coda::varnames(f)[1:3], c("mu", "sd_b", "theta[A]"))
    within_mcse(f, exact)
  }
  # se may be a vector, and gives the same fit as the column
  f <- quick_fit(y ~ school, es, se = se)
  expect_identical(values_of(quick_fit(y ~ school, es, se = es$se)), values_of(f))
  other <- list(errors = es$se)
  expect_identical(values_of(quick_fit(y ~ school, es, se = other$errors)), values_of(f))
  expect_false("sd_w" %in% coda::varnames(f))
  expect_output(print(f), "known within-group variances")
  expect_hm_error(quick_fit(y ~ school, es, se = -es$se), "se", "positive")
  expect_hm_error(quick_fit(y ~ school, es, se = es$se[1:3]), "se", "one per row")
  expect_message(quick_fit(y ~ school, es, se = c(NA, es$se[-1])),
                 "Dropped 1 of 8 .*standard error", class = "hiermod_dropped_rows")
  expect_hm_error(quick_fit(y ~ school, es, se = nope), "se", "not found")
  expect_hm_error(quick_fit(y ~ school, es, se = se, sampler = "asis"), "sampler")
  expect_hm_error(quick_fit(y ~ school, es, se = se, within = "group"), "within", "`se`")
  # y ~ 1 with known standard errors: the precision-weighted pooled mean
  pooled <- fit(y ~ 1, es, se = se, chains = 4, iter = 4000, seed = 2,
                prior = hier_prior(mu0 = 0, tau0 = 1e-8, a = 1, b = 1))
  expect_identical(coda::varnames(pooled), "mu")
  w <- 1 / es$se^2
  s <- summary(pooled)$table
  expect_lt(abs(s$mean - sum(w * es$y) / sum(w)), 4 * s$mcse_mean)
  expect_equal(s$sd, 1 / sqrt(sum(w)), tolerance = 0.05)
  expect_identical(nrow(VarCorr(pooled)), 0L)
  expect_output(print(pooled), "known se")
  p <- predict(f, data.frame(school = c("A", "new"), se = c(15, 10)),
               type = "observation", allow_new_levels = TRUE)
  expect_identical(p$group, c("A", "new"))
  expect_hm_error(predict(f, data.frame(school = "A"), type = "observation"),
                  "newdata", "`se`, not found")
})

test_that("eight schools mix well with the default sampler (ESS/iteration >= 0.5)", {
  skip_if_not_installed("posterior")
  f <- fit(y ~ school, hiermod::eight_schools, se = se, chains = 4,
           iter = 10000, seed = 1)
  ess <- posterior::summarise_draws(posterior::as_draws_array(f), "ess_bulk")
  per_iteration <- stats::setNames(as.numeric(ess$ess_bulk) / (4 * 5000), ess$variable)
  expect_true(all(per_iteration >= 0.5),
              label = paste("bulk ESS per iteration", paste(names(per_iteration),
                            round(per_iteration, 2), collapse = ", ")))
})

test_that("nested groups: labels unique by path, one column per level", {
  d <- hiermod::regions
  f <- quick_fit(score ~ region / school, d)
  g <- quick_fit(score ~ (1 | region / school), d)
  expect_identical(values_of(f), values_of(g))
  expect_identical(ngrps(f), c(region = 8L, school = nrow(unique(d[c("region", "school")]))))
  expect_identical(coda::varnames(f)[1:4], c("mu", "sd_region", "sd_school", "sd_w"))
  expect_true(all(c("theta_school[A/1]", "theta_school[B/1]", "theta_region[A]") %in%
                    coda::varnames(f)))
  st <- group_stats(f)
  a1 <- d$score[d$region == "A" & d$school == 1]
  expect_equal(st$mean[st$group == "A/1"], mean(a1))
  expect_identical(st$n[st$group == "A/1"], length(a1))
  re <- ranef(f)
  expect_named(re, c("region", "school"))
  expect_identical(nrow(re$school), sum(ngrps(f)) - 8L)
  # coef = the school means; ranef of a school is its deviation from its region
  expect_equal(unname(coef(f)["A/1"]),
               unname(fixef(f) + re$region["A", "(Intercept)"] +
                        re$school["A/1", "(Intercept)"]))
  expect_identical(VarCorr(f)$term, c("sd_region", "sd_school", "sd_w"))
  expect_output(print(f), "three levels")
  # a new school in a fitted region is centred near that region, not mu
  set.seed(1)
  p <- predict(quick_fit(score ~ region / school, d, iter = 2000),
               data.frame(region = c("E", "E"), school = c(1, 99)),
               allow_new_levels = TRUE)
  expect_identical(p$group, c("E/1", "E/99"))
  expect_lt(abs(p$estimate[2] - (fixef(f) + re$region["E", "(Intercept)"])), 3)
  expect_hm_error(quick_fit(score ~ region / school, d, sampler = "asis"), "sampler")
  expect_hm_error(quick_fit(score ~ region / school, d, prior = hier_prior(a = c(1, 2, 3))),
                  "prior", "3 values")
  # deeper nesting runs through the same engine
  d$district <- ifelse(d$school %% 2 == 0, "even", "odd")
  h <- quick_fit(score ~ region / district / school, d)
  expect_identical(coda::varnames(h)[1:5],
                   c("mu", "sd_region", "sd_district", "sd_school", "sd_w"))
  expect_output(print(h), "four levels")
})

test_that("the collapsed and Gibbs samplers agree on every model", {
  check <- function(...) {
    a <- fit(..., chains = 4, iter = 4000, seed = 1, sampler = "collapsed")
    b <- fit(..., chains = 4, iter = 20000, seed = 2, sampler = "gibbs", keep = "global")
    sa <- summary(a)$table
    sb <- summary(b)$table
    z <- (sa$mean - sb$mean) / sqrt(sa$mcse_mean^2 + sb$mcse_mean^2)
    expect_true(all(abs(z) < 4), label = paste(rownames(sa), signif(z, 2), collapse = ", "))
  }
  check(score ~ region / school, hiermod::regions)
  check(mathscore ~ school, hiermod::schools[hiermod::schools$school <= 30, ],
        within = "group")
})

test_that("group-specific variances (Hoff 8.5): sd_w per group, sd_w0, nu0", {
  f <- quick_fit(within = "group", iter = 1000)
  expect_identical(coda::varnames(f)[1:4], c("mu", "sd_b", "sd_w0", "nu0"))
  expect_true(all(paste0("sd_w[", 1:100, "]") %in% coda::varnames(f)))
  nu0 <- as.vector(as.matrix(f[, "nu0"]))
  expect_true(all(nu0 == round(nu0) & nu0 >= 1 & nu0 <= 1000))
  # each school's sd follows its sample sd, pulled towards the others
  st <- group_stats(f)
  sd_w <- colMeans(as.matrix(f[, paste0("sd_w[", st$group, "]")]))
  own <- sqrt(st$ss / (st$n - 1))
  expect_gt(stats::cor(sd_w, own), 0.8)
  expect_lt(stats::sd(sd_w), stats::sd(own))
  expect_identical(VarCorr(f)$term, c("sd_b", "sd_w0"))
  p <- predict(f, data.frame(school = c(1, 999)), type = "observation",
               allow_new_levels = TRUE)
  expect_true(all(p$upper - p$lower > 20))
  g <- quick_fit(within = "group", keep = "global")
  expect_identical(coda::varnames(g), c("mu", "sd_b", "sd_w0", "nu0"))
  expect_hm_error(hier_prior(nu_max = 2.5), "nu_max")
  expect_hm_error(hier_prior(lambda = 0), "lambda")
  expect_output(print(hier_prior()), "within = \"group\"")
})

test_that("fits from group summaries give the same draws as from the rows", {
  s <- group_summaries(mathscore ~ school, hiermod::schools)
  expect_s3_class(s, "hiermod_summaries")
  expect_identical(names(s), c("school", "n", "mean", "ss"))
  expect_identical(nrow(s), 100L)
  expect_identical(values_of(quick_fit(data = s)), values_of(quick_fit()))
  expect_identical(values_of(fit(s, chains = 2, iter = 300, seed = 42, cores = 1)),
                   values_of(quick_fit()))
  for (within in c("common", "group")) {
    expect_identical(values_of(quick_fit(data = s, within = within)),
                     values_of(quick_fit(within = within)))
  }
  n <- group_summaries(score ~ region / school, hiermod::regions)
  expect_identical(names(n), c("region", "school", "n", "mean", "ss"))
  expect_identical(values_of(quick_fit(score ~ region / school, n)),
                   values_of(quick_fit(score ~ region / school, hiermod::regions)))
  one <- group_summaries(mathscore ~ 1, hiermod::schools)
  expect_identical(nrow(one), 1L)
  expect_identical(values_of(quick_fit(mathscore ~ 1, one)),
                   values_of(quick_fit(mathscore ~ 1)))
  # rows in any order give the same fit
  shuffled <- n[rev(seq_len(nrow(n))), ]
  expect_identical(values_of(quick_fit(score ~ region / school, shuffled)),
                   values_of(quick_fit(score ~ region / school, n)))
  # from a published table of n, mean and sd
  sd <- sqrt(s$ss / (s$n - 1))
  h <- hiermod_summaries(data.frame(school = s$school), s$n, s$mean, sd,
                         response = "mathscore")
  expect_equal(h$ss, s$ss)
  v <- hiermod_summaries(s$school, s$n, s$mean, sd, response = "mathscore")
  expect_identical(deparse1(attr(v, "formula")), "mathscore ~ group")
  expect_identical(coda::varnames(fit(v, chains = 1, iter = 20, seed = 1))[4], "theta[1]")
  expect_equal(summary(quick_fit(data = h))$table$mean, summary(quick_fit())$table$mean,
               tolerance = 1e-6)
  expect_output(print(s), "100 group")
  f <- quick_fit(data = s)
  expect_hm_error(fitted(f), "object", "group summaries")
  expect_hm_error(predict(f), "newdata", "group summaries")
  expect_identical(nrow(predict(f, data.frame(school = 1:3))), 3L)
  expect_hm_error(quick_fit(mathscore ~ region, s), "formula", "summaries' groups")
  expect_hm_error(quick_fit(data = s, se = 1), "se", "summaries")
  expect_hm_error(quick_fit(data = rbind(s, s[1, ])), "data", "more than one row")
  expect_hm_error(hiermod_summaries("a", 0, 1, 1), "n")
  expect_hm_error(hiermod_summaries(c("a", "b"), c(2, 3), c(1, NA), c(1, 1)), "mean")
  expect_hm_error(hiermod_summaries(c("a", "b"), c(2, 3), c(1, 2), c(-1, 1)), "sd")
  expect_identical(hiermod_summaries(c("a", "b"), c(1, 3), c(1, 2), c(NA, 1))$ss, c(0, 2))
})
