# tidy(), glance() and icc(): every number is checked against the draws
# themselves (as.matrix()), not against the code that computes it.

two_level <- quick_fit()
nested <- quick_fit(score ~ region / school, hiermod::regions)
one_sample <- quick_fit(mathscore ~ 1)
known_se <- quick_fit(y ~ school, hiermod::eight_schools, se = se)
group_var <- quick_fit(within = "group")

# Posterior means, sds and central intervals of the columns of `m`.
means_of <- function(m) unname(colMeans(m))
sds_of <- function(m) unname(apply(m, 2L, sd))
bounds_of <- function(m, level) {
  p <- c((1 - level) / 2, (1 + level) / 2)
  unname(t(apply(m, 2L, quantile, probs = p, names = FALSE)))
}

test_that("tidy() gives broom.mixed's columns with posterior means and sds", {
  m <- as.matrix(two_level)
  out <- tidy(two_level)
  expect_named(out, c("effect", "group", "term", "estimate", "std.error"))
  expect_identical(out$effect, c("fixed", "ran_pars", "ran_pars"))
  expect_identical(out$group, c(NA, "school", "Residual"))
  expect_identical(out$term, c("(Intercept)", "sd__(Intercept)", "sd__Observation"))
  cols <- c("mu", "sd_b", "sd_w")
  expect_identical(out$estimate, means_of(m[, cols]))
  expect_identical(out$std.error, sds_of(m[, cols]))
  # the means print() and fixef() show, not broom.mixed's medians
  expect_equal(out$estimate[1L], unname(fixef(two_level)))
  expect_equal(out$estimate[3L], sigma(two_level))
})

test_that("tidy(conf.int = TRUE) gives the central posterior interval", {
  m <- as.matrix(two_level)[, c("mu", "sd_b", "sd_w")]
  out <- tidy(two_level, conf.int = TRUE)
  expect_named(out, c("effect", "group", "term", "estimate", "std.error",
                      "conf.low", "conf.high"))
  expect_identical(cbind(out$conf.low, out$conf.high), bounds_of(m, 0.95))
  narrow <- tidy(two_level, conf.int = TRUE, conf.level = 0.5)
  expect_identical(cbind(narrow$conf.low, narrow$conf.high), bounds_of(m, 0.5))
})

test_that("tidy(effects = 'ran_vals') gives each group's deviation from mu", {
  m <- as.matrix(two_level)
  theta <- m[, grep("^theta\\[", colnames(m))]
  out <- tidy(two_level, effects = "ran_vals", conf.int = TRUE)
  expect_named(out, c("effect", "group", "level", "term", "estimate",
                      "std.error", "conf.low", "conf.high"))
  expect_identical(out$group, rep("school", ncol(theta)))
  expect_identical(out$level, sub("^theta\\[(.*)\\]$", "\\1", colnames(theta)))
  expect_identical(out$term, rep("(Intercept)", ncol(theta)))
  deviation <- theta - m[, "mu"]
  expect_identical(out$estimate, means_of(deviation))
  expect_identical(out$std.error, sds_of(deviation))
  expect_identical(cbind(out$conf.low, out$conf.high), bounds_of(deviation, 0.95))
  expect_equal(out$estimate, ranef(two_level)$school[["(Intercept)"]])
})

test_that("tidy(effects = 'ran_coefs') gives each group's mean", {
  m <- as.matrix(two_level)
  theta <- m[, grep("^theta\\[", colnames(m))]
  out <- tidy(two_level, effects = "ran_coefs")
  expect_identical(out$effect, rep("ran_coefs", ncol(theta)))
  expect_identical(out$estimate, means_of(theta))
  expect_equal(out$estimate, unname(coef(two_level)))
})

test_that("tidy() keeps the order of `effects` and has `level` only for groups", {
  out <- tidy(two_level, effects = c("ran_pars", "fixed", "ran_coefs"))
  expect_identical(unique(out$effect), c("ran_pars", "fixed", "ran_coefs"))
  expect_true(all(is.na(out$level[out$effect != "ran_coefs"])))
  expect_false("level" %in% names(tidy(two_level, effects = "ran_pars")))
  all <- tidy(two_level, effects = c("fixed", "ran_pars", "ran_vals", "ran_coefs"))
  expect_identical(nrow(all), 3L + 2L * nrow(group_stats(two_level)))
})

test_that("tidy() of nested groups: one sd per level, deviations from the parent", {
  m <- as.matrix(nested)
  pars <- tidy(nested)
  expect_identical(pars$group, c(NA, "region", "school", "Residual"))
  expect_identical(pars$estimate, means_of(m[, c("mu", "sd_region", "sd_school", "sd_w")]))
  region <- m[, grep("^theta_region\\[", colnames(m))]
  school <- m[, grep("^theta_school\\[", colnames(m))]
  region_label <- sub("^theta_region\\[(.*)\\]$", "\\1", colnames(region))
  school_label <- sub("^theta_school\\[(.*)\\]$", "\\1", colnames(school))
  # a school's parent is the region its path starts with
  parent <- region[, match(sub("/.*$", "", school_label), region_label)]
  vals <- tidy(nested, effects = "ran_vals")
  expect_identical(vals$group, rep(c("region", "school"), c(ncol(region), ncol(school))))
  expect_identical(vals$level, c(region_label, school_label))
  expect_identical(vals$estimate,
                   c(means_of(region - m[, "mu"]), means_of(school - parent)))
  expect_equal(vals$estimate[vals$group == "school"],
               ranef(nested)$school[["(Intercept)"]])
  coefs <- tidy(nested, effects = "ran_coefs")
  expect_identical(coefs$estimate, c(means_of(region), means_of(school)))
})

test_that("tidy() of y ~ 1: the mean and the one sd; no groups", {
  m <- as.matrix(one_sample)
  out <- tidy(one_sample)
  expect_identical(out$group, c(NA, "Residual"))
  expect_identical(out$term, c("(Intercept)", "sd__Observation"))
  expect_identical(out$estimate, means_of(m[, c("mu", "sd")]))
  expect_hm_error(tidy(one_sample, effects = "ran_vals"), "effects", "no groups")
  expect_hm_error(tidy(one_sample, effects = "ran_coefs"), "effects", "no groups")
})

test_that("tidy() with known standard errors has no residual row", {
  m <- as.matrix(known_se)
  out <- tidy(known_se, effects = c("fixed", "ran_pars", "ran_vals"))
  expect_false("Residual" %in% out$group)
  pars <- out[out$effect != "ran_vals", ]
  expect_identical(pars$estimate, means_of(m[, c("mu", "sd_b")]))
  vals <- out[out$effect == "ran_vals", ]
  expect_identical(vals$level, hiermod::eight_schools$school)
  expect_identical(vals$estimate, means_of(m[, grep("^theta", colnames(m))] - m[, "mu"]))
})

test_that("tidy() with group-specific variances reports sd_w0 and nu0", {
  m <- as.matrix(group_var)
  out <- tidy(group_var, effects = "ran_pars")
  expect_identical(out$group, c("school", "Residual", "Residual"))
  expect_identical(out$term, c("sd__(Intercept)", "sd_w0", "nu0"))
  expect_identical(out$estimate, means_of(m[, c("sd_b", "sd_w0", "nu0")]))
})

test_that("tidy() of a fit with keep = 'global' draws the group effects again", {
  global <- quick_fit(keep = "global", iter = 2000)
  all <- quick_fit(iter = 2000)
  expect_identical(tidy(global)$estimate,
                   means_of(as.matrix(global)[, c("mu", "sd_b", "sd_w")]))
  again <- tidy(global, effects = "ran_coefs")
  stored <- tidy(all, effects = "ran_coefs")
  expect_identical(again$level, stored$level)
  # the same global draws (same seed); the group means drawn anew from their
  # law given them agree with the sampled ones within Monte Carlo error
  expect_lt(max(abs(again$estimate - stored$estimate) / stored$std.error), 0.25)
  expect_identical(tidy(global, effects = "ran_coefs"), again)
  group <- quick_fit(keep = "global", within = "group")
  expect_hm_error(tidy(group, effects = "ran_vals"), "object", "keep = \"all\"")
})

test_that("tidy() refuses bad arguments", {
  expect_hm_error(tidy(two_level, effects = "random"), "effects", "one or more of")
  expect_hm_error(tidy(two_level, effects = character()), "effects")
  expect_hm_error(tidy(two_level, effects = NA_character_), "effects")
  expect_hm_error(tidy(two_level, effects = 1), "effects")
  expect_hm_error(tidy(two_level, effects = c("fixed", "ran_val")), "effects")
  expect_hm_error(tidy(two_level, conf.int = NA), "conf.int")
  expect_hm_error(tidy(two_level, conf.int = TRUE, conf.level = 95), "conf.level")
  expect_hm_error(tidy(two_level, conf.method = "HPDinterval"), "conf.method")
  expect_hm_error(hiermod:::tidy.hiermod_fit(list()), "x")
})

test_that("tidy() does not modify the fit", {
  before <- two_level
  tidy(two_level, effects = c("fixed", "ran_pars", "ran_vals", "ran_coefs"),
       conf.int = TRUE)
  glance(two_level)
  icc(two_level)
  expect_identical(two_level, before)
})

test_that("broom.mixed's tidy() and glance() dispatch to hiermod's methods", {
  skip_if_not_installed("broom.mixed")
  expect_identical(broom.mixed::tidy(two_level, effects = "ran_vals"),
                   tidy(two_level, effects = "ran_vals"))
  expect_identical(broom.mixed::glance(two_level), glance(two_level))
})

test_that("glance() describes the fit in one row", {
  out <- glance(two_level)
  expect_named(out, c("nobs", "ngroups", "sigma", "chains", "draws", "sampler",
                      "max_rhat", "min_ess_bulk", "elapsed"))
  expect_identical(nrow(out), 1L)
  expect_identical(out$nobs, nobs(two_level))
  expect_identical(out$ngroups, nrow(group_stats(two_level)))
  expect_identical(out$sigma, sigma(two_level))
  expect_identical(out$chains, 2L)
  expect_identical(out$draws, nrow(as.matrix(two_level)))
  expect_identical(out$sampler, fit_info(two_level)$sampler)
  table <- summary(two_level)$table
  expect_identical(out$max_rhat, max(table$rhat))
  expect_identical(out$min_ess_bulk, min(table$ess_bulk))
  expect_identical(out$elapsed, fit_info(two_level)$elapsed)
  expect_hm_error(glance(two_level, foo = 1), "foo")
})

test_that("glance() counts each level's groups and has no sigma with known se", {
  out <- glance(nested)
  expect_identical(c(out$ngroups_region, out$ngroups_school),
                   unname(ngrps(nested)))
  expect_identical(out$ngroups, out$ngroups_school)
  expect_identical(glance(one_sample)$ngroups, 0L)
  expect_identical(glance(known_se)$sigma, NA_real_)
  expect_identical(glance(group_var)$sigma, sigma(group_var))
})

test_that("icc() is the posterior of each level's share of the variance", {
  m <- as.matrix(two_level)
  share <- m[, "sd_b"]^2 / (m[, "sd_b"]^2 + m[, "sd_w"]^2)
  d <- icc(two_level, draws = TRUE)
  expect_identical(dimnames(d), list(NULL, "school"))
  expect_identical(d[, "school"], unname(share))
  s <- icc(two_level)
  expect_named(s, c("level", "mean", "sd", "2.5%", "50%", "97.5%"))
  expect_identical(s$level, "school")
  expect_identical(s$mean, mean(share))
  expect_identical(s$sd, sd(share))
  expect_identical(unlist(s[1L, 4:6], use.names = FALSE),
                   quantile(share, c(0.025, 0.5, 0.975), names = FALSE))
  expect_named(icc(two_level, probs = 0.9), c("level", "mean", "sd", "90%"))
  expect_named(icc(two_level, probs = numeric()), c("level", "mean", "sd"))
})

test_that("icc() of nested groups and group-specific variances", {
  m <- as.matrix(nested)
  v <- m[, c("sd_region", "sd_school", "sd_w")]^2
  d <- icc(nested, draws = TRUE)
  expect_identical(colnames(d), c("region", "school"))
  expect_identical(unname(d), unname(v[, 1:2] / rowSums(v)))
  expect_true(all(rowSums(d) < 1))
  g <- as.matrix(group_var)
  expect_identical(icc(group_var, draws = TRUE)[, "school"],
                   unname(g[, "sd_b"]^2 / (g[, "sd_b"]^2 + g[, "sd_w0"]^2)))
})

test_that("icc() refuses fits without groups or a within variance, and bad arguments", {
  expect_hm_error(icc(known_se), "x", "known standard errors")
  expect_hm_error(icc(one_sample), "x", "no groups")
  expect_hm_error(icc(two_level, draws = NA), "draws")
  expect_hm_error(icc(two_level, probs = 2), "probs")
  expect_hm_error(icc(two_level, probs = "a"), "probs")
  expect_hm_error(icc(list()), "x")
})
