# The regression models: covariates, group slopes, the pooled regression.

sleep <- function() {
  testthat::skip_if_not_installed("lme4")
  env <- new.env()
  utils::data("sleepstudy", package = "lme4", envir = env)
  env$sleepstudy
}

# The core's collapsed log density of a formula's model (in the data's
# units) at variance parameters `sigma`, `sds` (matrix) and `cors`
# (matrix) of its one level of groups, or `levels` (a list of list(sds,
# correlations)), with the given prior.
core_log_density <- function(formula, data, prior, sigma, sds = NULL, cors = NULL,
                             with_prior = FALSE,
                             levels = list(list(sds = sds, correlations = cors))) {
  model <- hiermod:::lmm_model(hiermod:::lmm_terms(formula), data, formula)
  spec <- hiermod:::lmm_spec(model)
  p <- hiermod:::resolve_lmm_prior(prior, model, spec)
  hiermod:::lmm_log_density(model, p, sigma, levels, with_prior)
}

# The maximum of the restricted likelihood, found on the collapsed density
# with flat priors on the fixed effects: log sds and atanh of correlations;
# `q` and `n_cor` per level. Returns sigma, then each level's sds and
# correlations.
reml_by_core <- function(formula, data, q, n_cor, start) {
  flat <- hier_prior(Intercept = flat(), b = flat())
  at <- cumsum(c(1L, (q + n_cor)[-length(q)]))
  objective <- function(par) {
    levels <- lapply(seq_along(q), function(l) {
      own <- par[1L + at[l] + seq_len(q[l] + n_cor[l]) - 1L]
      list(sds = matrix(exp(own[seq_len(q[l])]), 1L),
           correlations = matrix(tanh(own[-seq_len(q[l])]), 1L, n_cor[l]))
    })
    -core_log_density(formula, data, flat, exp(par[1L]), levels = levels)
  }
  opt <- stats::optim(start, objective, method = "BFGS",
                      control = list(reltol = 1e-14, maxit = 1000L))
  out <- exp(opt$par[1L])
  for (l in seq_along(q)) {
    own <- opt$par[1L + at[l] + seq_len(q[l] + n_cor[l]) - 1L]
    out <- c(out, exp(own[seq_len(q[l])]), tanh(own[-seq_len(q[l])]))
  }
  out
}

# lmer's REML estimates in the order of reml_by_core(): sigma, then per
# level (top first: `groups`) its sds and correlations.
reml_by_lmer <- function(m, groups = NULL) {
  vc <- as.data.frame(lme4::VarCorr(m))
  if (is.null(groups)) groups <- setdiff(unique(vc$grp), "Residual")
  out <- vc$sdcor[vc$grp == "Residual"]
  for (g in groups) {
    out <- c(out, vc$sdcor[vc$grp == g & is.na(vc$var2)],
             vc$sdcor[vc$grp == g & !is.na(vc$var2)])
  }
  out
}

nested_data <- function() {
  set.seed(4)
  s <- rep(1:30, rep_len(c(3L, 5L, 8L, 4L, 6L), 30L))
  r <- rep(1:6, each = 5L)[s]
  x1 <- stats::rnorm(length(s))
  xs <- stats::rnorm(30L)[s]
  xr <- stats::rnorm(6L)[r]
  y <- 10 + x1 + 0.5 * xs - xr + stats::rnorm(6L, 0, 2)[r] +
    stats::rnorm(6L, 0, 0.7)[r] * x1 + stats::rnorm(30L, 0, 1)[s] + stats::rnorm(length(s))
  data.frame(y = y, x1 = x1, xs = xs, xr = xr, r = factor(r), s = s)
}

test_that("with flat priors the collapsed density's mode is lmer's REML fit", {
  s <- sleep()
  cases <- list(
    list(f = Reaction ~ Days + (Days | Subject), q = 2L, n_cor = 1L),
    list(f = Reaction ~ Days + (1 | Subject), q = 1L, n_cor = 0L),
    list(f = Reaction ~ Days + (Days || Subject), q = 2L, n_cor = 0L)
  )
  for (case in cases) {
    m <- lme4::lmer(case$f, s, REML = TRUE,
                    control = lme4::lmerControl(optimizer = "bobyqa"))
    ours <- reml_by_core(case$f, s, case$q, case$n_cor,
                         c(log(30), rep(log(10), case$q), rep(0, case$n_cor)))
    expect_equal(unname(ours), unname(reml_by_lmer(m)), tolerance = 1e-5,
                 label = deparse1(case$f))
  }
  # nested groups with a covariate at each level
  d <- nested_data()
  cases <- list(
    list(f = y ~ x1 + xs + xr + (1 | r / s), q = c(1L, 1L), n_cor = c(0L, 0L),
         groups = c("r", "s:r")),
    list(f = y ~ x1 + xs + xr + (x1 | r) + (1 | r:s), q = c(2L, 1L), n_cor = c(1L, 0L),
         groups = c("r", "r:s"))
  )
  for (case in cases) {
    m <- lme4::lmer(case$f, d, REML = TRUE,
                    control = lme4::lmerControl(optimizer = "bobyqa"))
    ours <- reml_by_core(case$f, d, case$q, case$n_cor,
                         c(0, rep(0, sum(case$q + case$n_cor))))
    expect_equal(unname(ours), unname(reml_by_lmer(m, case$groups)), tolerance = 1e-5,
                 label = deparse1(case$f))
  }
  # crossed factors (the dense collapsed density): Penicillin, and an
  # unbalanced design with correlated slopes on one factor and their cells
  env <- new.env()
  utils::data("Penicillin", package = "lme4", envir = env)
  set.seed(7)
  crossed <- data.frame(a = sample(12L, 150L, replace = TRUE), b = sample(6L, 150L, replace = TRUE),
                        x = stats::rnorm(150L))
  crossed$y <- 1 + 0.5 * crossed$x + stats::rnorm(12L)[crossed$a] +
    stats::rnorm(12L, 0, 0.6)[crossed$a] * crossed$x + stats::rnorm(6L, 0, 0.8)[crossed$b] +
    stats::rnorm(72L, 0, 0.5)[(crossed$a - 1L) * 6L + crossed$b] + stats::rnorm(150L, 0, 0.7)
  in_regions <- transform(crossed, r = (b - 1L) %/% 2L)
  in_regions$y <- in_regions$y + c(-1.5, 0.5, 1)[in_regions$r + 1L]
  cases <- list(
    list(f = diameter ~ (1 | plate) + (1 | sample), data = env$Penicillin, q = c(1L, 1L),
         n_cor = c(0L, 0L), groups = c("plate", "sample")),
    list(f = y ~ x + (x | a) + (1 | b) + (1 | a:b), data = crossed, q = c(2L, 1L, 1L),
         n_cor = c(1L, 0L, 0L), groups = c("a", "a:b", "b")),
    # b's six groups in three regions: a factor of two levels, crossed with a
    list(f = y ~ x + (1 | r / b) + (1 | a), data = in_regions,
         q = c(1L, 1L, 1L), n_cor = c(0L, 0L, 0L), groups = c("r", "b:r", "a"))
  )
  for (case in cases) {
    m <- lme4::lmer(case$f, case$data, REML = TRUE,
                    control = lme4::lmerControl(optimizer = "bobyqa"))
    ours <- reml_by_core(case$f, case$data, case$q, case$n_cor,
                         rep(0, 1L + sum(case$q + case$n_cor)))
    expect_equal(unname(ours), unname(reml_by_lmer(m, case$groups)), tolerance = 1e-5,
                 label = deparse1(case$f))
  }
})

test_that("nested groups: names, extractors and predictions by level", {
  d <- nested_data()
  f <- fit(y ~ x1 + xs + xr + (x1 | r) + (1 | r:s), d, chains = 2, iter = 1000, seed = 5)
  expect_identical(coda::varnames(f)[1:9],
                   c("b_Intercept", "b_x1", "b_xs", "b_xr", "sd_r__Intercept", "sd_r__x1",
                     "cor_r__Intercept__x1", "sd_r:s__Intercept", "sigma"))
  expect_identical(coda::varnames(f)[10], "r_r[1,Intercept]")
  expect_identical(coda::varnames(f)[22], "r_r:s[1/1,Intercept]")
  expect_identical(ngrps(f), c(r = 6L, `r:s` = 30L))
  re <- ranef(f)
  expect_identical(names(re), c("r", "r:s"))
  expect_identical(dim(re$r), c(6L, 2L))
  expect_identical(dim(re$`r:s`), c(30L, 1L))
  expect_identical(VarCorr(f)$grp, c("r", "r", "r", "r:s", "Residual"))
  nd <- data.frame(x1 = c(0.5, 1), xs = 0, xr = 0, r = c("2", "2"), s = c(6, 99))
  expect_hm_error(predict(f, nd), "newdata", "\"2/99\"")
  b <- fixef(f)
  region <- re$r["2", ]
  top <- predict(f, nd, re.form = ~ (x1 | r))
  expect_equal(top$estimate, unname(b[1] + region[[1]] + (b[2] + region[[2]]) * nd$x1),
               tolerance = 1e-10)
  both <- predict(f, nd[1, ])
  expect_equal(both$estimate, top$estimate[1] + re$`r:s`["2/6", 1], tolerance = 1e-10)
  set.seed(2)
  new <- predict(f, nd, allow_new_levels = TRUE)
  expect_lt(abs(new$estimate[2] - top$estimate[2]), 0.2)
  expect_gt(new$upper[2] - new$lower[2], top$upper[2] - top$lower[2])
  expect_equal(fitted(f) + residuals(f), d$y)
})

# Every location integrated out by hand: y ~ N(X T m, V + X T S T' X'),
# V = sigma^2 I + Z Sigma Z' (block diagonal), T mapping the centred
# intercept's prior to the intercept's.
dense_log_density <- function(y, x, z, group, prior_mean, prior_sd, sigma,
                              sigma_b) {
  n <- length(y)
  centre <- diag(ncol(x))
  centre[1L, -1L] <- -colMeans(x)[-1L]
  xt <- x %*% centre
  v <- diag(sigma^2, n)
  same <- outer(group, group, "==")
  v <- v + (z %*% sigma_b %*% t(z)) * same
  cov <- v + xt %*% diag(prior_sd^2, length(prior_sd)) %*% t(xt)
  r <- y - drop(xt %*% prior_mean)
  l <- chol(cov)
  -0.5 * (n * log(2 * pi) + 2 * sum(log(diag(l))) +
            sum(backsolve(l, r, transpose = TRUE)^2))
}

test_that("the collapsed density is the dense normal law of the data", {
  s <- sleep()[c(1:10, 21:27, 41:60), ]
  s$Subject <- droplevels(s$Subject)
  s$Days2 <- s$Days^2 + 100
  prior <- hier_prior(Intercept = normal(250, 40), b = normal(1, 10),
                      sd = cauchy(0, 10), sigma = exponential(0.1))
  f <- Reaction ~ Days + Days2 + (Days | Subject)
  x <- cbind(1, s$Days, s$Days2)
  z <- cbind(1, s$Days)
  for (point in list(c(20, 15, 4, 0.3), c(5, 60, 0.5, -0.9))) {
    sigma_b <- diag(point[2:3]) %*% matrix(c(1, point[4], point[4], 1), 2) %*%
      diag(point[2:3])
    expected <- dense_log_density(s$Reaction, x, z, as.integer(s$Subject),
                                  c(250, 1, 1), c(40, 10, 10), point[1], sigma_b)
    got <- core_log_density(f, s, prior, point[1], matrix(point[2:3], 1),
                            matrix(point[4], 1))
    expect_equal(got, expected, tolerance = 1e-10)
  }
})

test_that("posterior means agree with quadrature over the variance parameters", {
  s <- sleep()
  f <- Reaction ~ Days + (1 | Subject)
  prior <- hier_prior(Intercept = normal(250, 100), b = normal(0, 20),
                      sd = cauchy(0, 50), sigma = cauchy(0, 50))
  fitted <- fit(f, s, prior = prior, chains = 4, iter = 3000, seed = 7)
  # The posterior of (log sigma, log sd_b) on a grid, from the dense normal
  # law written in R and the half-Cauchy densities with their Jacobians;
  # E(beta | psi, y) by generalised least squares.
  x <- cbind(1, s$Days)
  xbar <- mean(s$Days)
  centre <- matrix(c(1, 0, -xbar, 1), 2)
  xt <- x %*% centre
  m0 <- c(250, 0)
  s0 <- diag(c(100, 20)^2)
  group <- as.integer(s$Subject)
  grid <- expand.grid(u = seq(log(20), log(45), length.out = 61),
                      v = seq(log(10), log(150), length.out = 81))
  h <- function(sd, scale) log(2 / (pi * scale * (1 + (sd / scale)^2))) + log(sd)
  one <- function(u, v) {
    sigma <- exp(u)
    sd_b <- exp(v)
    vinv <- matrix(0, nrow(s), nrow(s))
    log_det_v <- 0
    for (j in unique(group)) {
      at <- which(group == j)
      n_j <- length(at)
      vinv[at, at] <- (diag(n_j) - sd_b^2 / (sigma^2 + n_j * sd_b^2)) / sigma^2
      log_det_v <- log_det_v + (n_j - 1) * log(sigma^2) + log(sigma^2 + n_j * sd_b^2)
    }
    q <- solve(s0) + t(xt) %*% vinv %*% xt
    rhs <- solve(s0, m0) + t(xt) %*% vinv %*% s$Reaction
    gamma <- solve(q, rhs)
    log_lik <- -0.5 * (nrow(s) * log(2 * pi) + log_det_v + determinant(s0)$modulus +
                         determinant(q)$modulus + sum(s$Reaction * (vinv %*% s$Reaction)) +
                         sum(m0 * solve(s0, m0)) - sum(rhs * gamma))
    c(log_post = log_lik + h(sigma, 50) + h(sd_b, 50), drop(centre %*% gamma))
  }
  values <- t(mapply(one, grid$u, grid$v))
  w <- exp(values[, 1L] - max(values[, 1L]))
  w <- w / sum(w)
  # the grid holds all the mass
  edge <- grid$u %in% range(grid$u) | grid$v %in% range(grid$v)
  expect_lt(sum(w[edge]), 1e-6)
  exact <- c(b_Intercept = sum(w * values[, 2L]), b_Days = sum(w * values[, 3L]),
             sd_Subject__Intercept = sum(w * exp(grid$v)), sigma = sum(w * exp(grid$u)))
  tab <- summary(fitted, pars = names(exact))$table
  z <- (tab$mean - exact) / tab$mcse_mean
  expect_true(all(abs(z) < 4), label = paste(names(exact), signif(z, 3), collapse = ", "))
})

test_that("simulation-based calibration of the regression models", {
  for (design in hiermod:::sbc_lmm_designs()) {
    ranks <- hiermod:::sbc_lmm_ranks(design, reps = 300L, seed = 13L)
    expect_true(all(ranks >= 0L & ranks <= design$draws))
    u <- hiermod:::sbc_uniformity(ranks, design$draws)
    expect_true(hiermod:::sbc_passes(u),
                label = paste(design$name, "smallest p", signif(min(u), 3)))
  }
})

test_that("calibration notices a wrong posterior in a regression", {
  design <- hiermod:::sbc_lmm_designs()[[3L]]
  wrong <- design$prior
  wrong$dists$sigma <- exponential(4)
  ranks <- hiermod:::sbc_lmm_ranks(design, reps = 300L, seed = 13L,
                                   fit_prior = wrong)
  u <- hiermod:::sbc_uniformity(ranks, design$draws)
  expect_false(hiermod:::sbc_passes(u))
})

test_that("the same seed gives the same draws, whatever the threads", {
  s <- sleep()
  f1 <- fit(Reaction ~ Days + (Days | Subject), s, chains = 3, iter = 300,
            seed = 42, cores = 1)
  f2 <- fit(Reaction ~ Days + (Days | Subject), s, chains = 3, iter = 300,
            seed = 42, cores = 3)
  expect_identical(as.matrix(f1), as.matrix(f2))
  kept <- fit(Reaction ~ Days + (Days | Subject), s, chains = 3, iter = 300,
              seed = 42, keep = "global")
  expect_identical(coda::varnames(kept), coda::varnames(f1)[1:6])
  expect_identical(as.matrix(kept), as.matrix(f1)[, 1:6])
})

test_that("names, extractors and shapes follow brms and lme4", {
  s <- sleep()
  f <- fit(Reaction ~ Days + (Days | Subject), s, chains = 2, iter = 600, seed = 1)
  expect_identical(coda::varnames(f)[1:6],
                   c("b_Intercept", "b_Days", "sd_Subject__Intercept",
                     "sd_Subject__Days", "cor_Subject__Intercept__Days", "sigma"))
  expect_identical(coda::varnames(f)[7], "r_Subject[308,Intercept]")
  expect_length(coda::varnames(f), 6 + 2 * 18)
  expect_identical(names(fixef(f)), c("(Intercept)", "Days"))
  re <- ranef(f)
  expect_identical(names(re), "Subject")
  expect_identical(dim(re$Subject), c(18L, 2L))
  expect_identical(rownames(re$Subject), levels(s$Subject))
  cf <- coef(f)$Subject
  expect_equal(cf$Days, fixef(f)[["Days"]] + re$Subject$Days)
  vc <- VarCorr(f)
  expect_identical(names(vc), names(as.data.frame(lme4::VarCorr(
    lme4::lmer(Reaction ~ Days + (Days | Subject), s)))))
  expect_identical(vc$grp, c("Subject", "Subject", "Subject", "Residual"))
  expect_equal(sigma(f), vc$sdcor[4])
  expect_identical(nobs(f), 180L)
  expect_identical(ngrps(f), c(Subject = 18L))
  expect_output(print(f), "Read as: fixed effects: \\(Intercept\\), Days; by `Subject`")
  expect_identical(prior_summary(f)$parameter,
                   c("b_Intercept", "b_Days", "sd_Subject__Intercept",
                     "sd_Subject__Days", "cor_Subject", "sigma"))
  # a pooled regression: lm()'s coefficients, with a vague prior
  m <- fit(mpg ~ wt + hp, mtcars, chains = 2, iter = 2000, seed = 1)
  expect_identical(names(fixef(m)), c("(Intercept)", "wt", "hp"))
  expect_equal(fixef(m), coef(lm(mpg ~ wt + hp, mtcars)), tolerance = 0.02)
  expect_identical(ngrps(m), stats::setNames(integer(), character()))
  expect_hm_error(ranef(m), "object", "no group")
})

test_that("formulas are read as stated in ?fit, never silently as groups", {
  d <- data.frame(y = c(1, 3, 2, 5, 4, 6), x = c(0.5, 1.5, 1, 2.5, 2, 3.1),
                  w = c(1, 2, 3, 1, 2, 3), g = rep(c("a", "b"), each = 3))
  # a fractional numeric variable alone on the right is a covariate, refused
  # as groups with the way to write it
  expect_hm_error(fit(y ~ x, d), "formula", "~ 1 \\+ x")
  options(hiermod.numeric_groups_noted = NULL)
  on.exit(options(hiermod.numeric_groups_noted = NULL))
  expect_message(fit(y ~ w, d, chains = 1, iter = 20, seed = 1),
                 "Read the numeric variable `w` as groups",
                 class = "hiermod_numeric_groups")
  expect_no_message(fit(y ~ w, d, chains = 1, iter = 20, seed = 1))
  expect_s3_class(fit(y ~ 1 + x, d, chains = 1, iter = 20, seed = 1), "hiermod_lmm")
  expect_s3_class(fit(y ~ g, d, chains = 1, iter = 20, seed = 1), "hiermod_fit")
  expect_s3_class(fit(y ~ (1 | g), d, chains = 1, iter = 20, seed = 1), "hiermod_fit")
  expect_hm_error(fit(y ~ x + I(2 * x), d), "formula", "collinear.*I\\(2 \\* x\\)")
  expect_hm_error(fit(y ~ x + (1 | g) + (0 + x | g), d), "formula",
                  "two terms group by `g`.*\\(1 \\+ x \\|\\| g\\)")
  crossed <- fit(y ~ x + (1 | g) + (1 | w), d, chains = 1, iter = 20, seed = 1)
  expect_identical(attr(crossed, "hiermod")$sampler, "factors")
  expect_s3_class(fit(y ~ x + (1 | g / w), d, chains = 1, iter = 20, seed = 1), "hiermod_lmm")
  expect_hm_error(fit(y ~ x, d, prior = hier_prior(sd_b = cauchy(0, 1))),
                  "formula", "~ 1 \\+ x")
  expect_hm_error(fit(y ~ 1 + x, d, prior = hier_prior(sd_b = cauchy(0, 1))),
                  "prior", "`sd_b`, which is not a parameter")
  expect_hm_error(fit(y ~ 1 + x, d, prior = hier_prior(b = student_t(3, 0, 1))),
                  "b_x", "normal\\(\\) or flat\\(\\)")
  expect_hm_error(fit(y ~ 1 + x, d, prior = hier_prior(a = 1)), "prior", "lecture")
  expect_hm_error(fit(y ~ 1 + x, d, se = w), "se")
  expect_hm_error(fit(y ~ 1 + x, d, within = "group"), "within")
  expect_hm_error(fit(y ~ 1 + x, d, sampler = "gibbs"), "sampler")
  inf <- d
  inf$x[3] <- Inf
  expect_hm_error(fit(y ~ 1 + x, inf), "formula", "`x` in row 3")
  flat_y <- transform(d, y = 5)
  expect_hm_error(fit(y ~ 1 + x, flat_y), "prior", "no variance")
  given <- hier_prior(Intercept = normal(0, 1), b = normal(0, 1), sigma = exponential(1))
  expect_s3_class(fit(y ~ 1 + x, flat_y, prior = given, chains = 1, iter = 20, seed = 1),
                  "hiermod_lmm")
  expect_hm_error(fit(y ~ 1 + x + (1 + x + I(x^2) + I(x^3) | g), d), "formula",
                  "at most 8")
  expect_hm_error(fit(y ~ 1 + x + (1 | g), d, prior = hier_prior(sd = flat())),
                  "sd_g__Intercept", "improper")
  expect_hm_error(fit(y ~ 1 + x + (x | g), d, prior = hier_prior(cor = normal(0, 1))),
                  "cor", "lkj")
  expect_s3_class(fit(y ~ 0 + (1 | g), d, chains = 1, iter = 20, seed = 1), "hiermod_lmm")
  # an interaction as the one grouping: its combinations are the groups
  both <- fit(y ~ 1 + x + (1 | g:w), d, chains = 1, iter = 20, seed = 1)
  expect_identical(ngrps(both), c(`g:w` = 6L))
  expect_identical(rownames(ranef(both)$`g:w`)[1:2], c("a:1", "a:2"))
  dd <- d
  dd$x[2] <- NA
  expect_message(f <- fit(y ~ 1 + x, dd, chains = 1, iter = 20, seed = 1),
                 "Dropped 1 of 6", class = "hiermod_dropped_rows")
  expect_identical(nobs(f), 5L)
  expect_identical(dd$x[2], NA_real_)
})

test_that("predictions take covariates, re.form and new groups as lme4 does", {
  s <- sleep()
  f <- fit(Reaction ~ Days + (Days | Subject), s, chains = 2, iter = 1000, seed = 3)
  nd <- data.frame(Days = c(0, 5, 9), Subject = c("308", "309", "999"))
  expect_hm_error(predict(f, nd), "newdata", "\"999\".*allow_new_levels")
  cf <- coef(f)$Subject
  p <- predict(f, nd[1:2, ])
  expect_equal(p$estimate, c(cf["308", "(Intercept)"],
                             cf["309", "(Intercept)"] + 5 * cf["309", "Days"]),
               tolerance = 1e-10)
  population <- predict(f, nd, re.form = NA)
  expect_equal(population$estimate, unname(fixef(f)[1] + fixef(f)[2] * nd$Days),
               tolerance = 1e-10)
  expect_identical(predict(f, nd, re_formula = ~0), population)
  expect_identical(predict(f, nd[1:2, ], re.form = ~ (Days | Subject)), p)
  set.seed(1)
  new <- predict(f, nd, allow_new_levels = TRUE)
  expect_equal(new$estimate[1:2], p$estimate)
  # a new subject: about the population line, with the subjects' spread
  expect_lt(abs(new$estimate[3] - population$estimate[3]), 5)
  expect_gt(new$upper[3] - new$lower[3], 3 * (population$upper[3] - population$lower[3]))
  expect_equal(fitted(f) + residuals(f), s$Reaction)
  expect_null(names(fitted(f)))
  expect_identical(dim(posterior_predict(f, draws = 50)), c(50L, 180L))
  expect_identical(dim(posterior_epred(f, newdata = nd, allow_new_levels = TRUE)),
                   c(1000L, 3L))
  obs <- predict(f, nd[1:2, ], type = "observation")
  expect_true(all(obs$lower < p$lower & obs$upper > p$upper))
  ll <- log_lik(f)
  expect_identical(dim(ll), c(1000L, 180L))
  d1 <- as.matrix(f)[1, ]
  mean_1 <- d1[["b_Intercept"]] + d1[["r_Subject[308,Intercept]"]] +
    (d1[["b_Days"]] + d1[["r_Subject[308,Days]"]]) * s$Days[1]
  expect_equal(ll[1, 1], stats::dnorm(s$Reaction[1], mean_1, d1[["sigma"]], log = TRUE))
  skip_if_not_installed("loo")
  # a few rows of sleepstudy are influential (Pareto k above 0.7)
  expect_s3_class(suppressWarnings(loo::loo(f)), "loo")
  expect_hm_error(predict(f, data.frame(Days = NA, Subject = "308")), "newdata", "NA")
  expect_hm_error(predict(f, data.frame(Subject = "308")), "newdata", "covariates")
  expect_hm_error(predict(f, nd, re.form = ~ (1 | Other)), "re.form")
  g <- fit(Reaction ~ Days + (Days | Subject), s, chains = 2, iter = 200, seed = 3,
           keep = "global")
  expect_hm_error(predict(g, nd[1, ]), "object", "keep = \"global\"")
  expect_identical(nrow(predict(g, nd[1, ], re.form = NA)), 1L)
})

test_that("plots of a regression draw what they return", {
  s <- sleep()
  f <- fit(Reaction ~ Days + (Days | Subject), s, chains = 2, iter = 400, seed = 1)
  grDevices::pdf(NULL)
  on.exit(grDevices::dev.off())
  expect_identical(coda::varnames(plot(f, ask = FALSE)), coda::varnames(f)[1:6])
  iv <- plot(f, type = "intervals")
  expect_identical(iv$parameter, coda::varnames(f)[1:6])
  expect_equal(iv$mean, unname(colMeans(as.matrix(f)[, 1:6])))
  cat <- plot(f, type = "caterpillar", coef = "Days")
  expect_identical(nrow(cat), 18L)
  expect_equal(cat$mean, coef(f)$Subject[cat$group, "Days"])
  lines <- plot(f, type = "lines")
  expect_identical(nrow(lines), 8L)
  expect_equal(lines$partial_slope, coef(f)$Subject[lines$group, "Days"])
  one <- s[s$Subject == lines$group[1], ]
  expect_equal(lines$own_slope[1], unname(coef(lm(Reaction ~ Days, one))[2]))
  expect_equal(lines$pooled_slope[1], unname(coef(lm(Reaction ~ Days, s))[2]))
  shrunk <- plot(f, type = "shrinkage", coef = "Days")
  expect_identical(nrow(shrunk), 18L)
  expect_equal(shrunk$partial, coef(f)$Subject$Days)
  # each subject's own slope: least squares on its rows (Z = [1, Days], no
  # other fixed effect)
  one <- s[s$Subject == "308", ]
  expect_equal(shrunk$own[1], unname(coef(lm(Reaction ~ Days, one))[2]))
  # partial pooling pulls the own slopes towards the fixed effect
  expect_lt(stats::var(shrunk$partial), stats::var(shrunk$own))
  expect_hm_error(plot(f, type = "caterpillar", coef = "x"), "coef", "Days")
  expect_hm_error(plot(f, type = "lines", level = "nope"), "level", "Subject")
  m <- fit(mpg ~ wt + hp + (1 | cyl), mtcars, chains = 1, iter = 200, seed = 1)
  expect_hm_error(plot(m, type = "lines"), "type", "one covariate")
  g <- plot(f, type = "graph")
  expect_setequal(g$nodes$name, c("m, s", "S_Subject", "S_sigma", "beta", "Sigma_Subject",
                                  "sigma", "b_Subject", "y_i", "x_i"))
  expect_true(all(c("beta", "b_Subject", "sigma", "x_i") %in% g$edges$from[g$edges$to == "y_i"]))
  expect_length(g$plates, 2L)
  pooled <- plot(fit(mpg ~ 1 + wt, mtcars, chains = 1, iter = 100, seed = 1), type = "graph")
  expect_false(any(startsWith(pooled$nodes$name, "b_")))
})

test_that("tidy() gives broom.mixed's rows and names", {
  s <- sleep()
  f <- fit(Reaction ~ Days + (Days | Subject), s, chains = 2, iter = 600, seed = 2)
  fixed <- tidy(f, effects = "fixed", conf.int = TRUE)
  expect_identical(fixed$term, c("(Intercept)", "Days"))
  expect_equal(fixed$estimate, unname(fixef(f)))
  pars <- tidy(f, effects = "ran_pars")
  expect_identical(pars$term, c("sd__(Intercept)", "sd__Days", "cor__(Intercept).Days",
                                "sd__Observation"))
  expect_identical(pars$group, c("Subject", "Subject", "Subject", "Residual"))
  expect_equal(pars$estimate, VarCorr(f)$sdcor)
  vals <- tidy(f, effects = "ran_vals")
  expect_identical(nrow(vals), 36L)
  expect_equal(vals$estimate[vals$term == "Days"], ranef(f)$Subject$Days)
  coefs <- tidy(f, effects = "ran_coefs")
  expect_equal(coefs$estimate[coefs$term == "Days"], coef(f)$Subject$Days)
  expect_hm_error(tidy(fit(mpg ~ wt + hp, mtcars, chains = 1, iter = 100, seed = 1),
                       effects = "ran_vals"), "effects", "without groups")
})
