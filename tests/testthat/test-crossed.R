# Crossed grouping factors: (1 | a) + (1 | b), sampled by "factors".

penicillin <- function() {
  testthat::skip_if_not_installed("lme4")
  env <- new.env()
  utils::data("Penicillin", package = "lme4", envir = env)
  env$Penicillin
}

test_that("Penicillin's posterior means agree with quadrature over its three sds", {
  d <- penicillin()
  prior <- hier_prior(Intercept = normal(20, 10), sd = normal(0, 5), sigma = exponential(1))
  fits <- lapply(c(collapsed = "collapsed", factors = "factors"), function(sampler) {
    fit(diameter ~ (1 | plate) + (1 | sample), d, prior = prior, chains = 4,
        iter = 3000, seed = 3, sampler = sampler)
  })
  # the default: a pass over 144 rows costs less than a dense factor of 31
  # locations; 20,000 rows on 10 x 5 groups, the other way round
  sampler_of <- function(f, data) {
    attr(fit(f, data, chains = 1, iter = 20, seed = 1), "hiermod")$sampler
  }
  expect_identical(sampler_of(diameter ~ (1 | plate) + (1 | sample), d), "factors")
  many_rows <- data.frame(y = stats::rnorm(2e4), a = rep_len(1:10, 2e4), b = rep(1:5, each = 4e3))
  expect_identical(sampler_of(y ~ (1 | a) + (1 | b), many_rows), "collapsed")
  # y ~ N(m0, sigma^2 I + U D U'), U = [plates, samples, 1], D their prior
  # variances (the intercept's 10^2 last): Woodbury's identity with the
  # 31 x 31 matrix M = sigma^2 D^-1 + U'U at each point of a grid over
  # (log sigma, log sd_plate, log sd_sample). E(beta | sds, y) =
  # m0 + 10^2 1' V^-1 (y - m0).
  u <- cbind(stats::model.matrix(~ 0 + plate, d), stats::model.matrix(~ 0 + sample, d), 1)
  r <- d$diameter - 20
  utu <- crossprod(u)
  utr <- drop(crossprod(u, r))
  rtr <- sum(r^2)
  n <- nrow(d)
  one <- function(sigma, s1, s2) {
    prior_var <- c(rep(s1^2, 24L), rep(s2^2, 6L), 100)
    m <- diag(sigma^2 / prior_var) + utu
    ch <- chol(m)
    w <- backsolve(ch, forwardsolve(t(ch), utr))
    quad <- (rtr - sum(utr * w)) / sigma^2
    log_det <- 2 * n * log(sigma) + sum(log(prior_var)) + 2 * sum(log(diag(ch))) -
      2 * ncol(u) * log(sigma)
    # 1' V^-1 r, the column of ones being U's last
    ones_v_r <- (sum(r) - sum(utu[ncol(u), ] * w)) / sigma^2
    c(-0.5 * (log_det + quad), 20 + 100 * ones_v_r)
  }
  # log densities of the sds' priors, with the Jacobian of the log
  h_normal <- function(s) stats::dnorm(s, 0, 5, log = TRUE) + log(s)
  grid <- expand.grid(a = seq(log(0.38), log(0.85), length.out = 30),
                      b = seq(log(0.35), log(2.6), length.out = 40),
                      c = seq(log(0.3), log(16), length.out = 60))
  values <- t(mapply(function(a, b, c) one(exp(a), exp(b), exp(c)), grid$a, grid$b, grid$c))
  lp <- values[, 1L] + stats::dexp(exp(grid$a), 1, log = TRUE) + grid$a +
    h_normal(exp(grid$b)) + h_normal(exp(grid$c))
  w <- exp(lp - max(lp))
  w <- w / sum(w)
  edge <- grid$a %in% range(grid$a) | grid$b %in% range(grid$b) | grid$c %in% range(grid$c)
  expect_lt(sum(w[edge]), 1e-4)
  exact <- c(b_Intercept = sum(w * values[, 2L]),
             sd_plate__Intercept = sum(w * exp(grid$b)),
             sd_sample__Intercept = sum(w * exp(grid$c)), sigma = sum(w * exp(grid$a)))
  for (sampler in names(fits)) {
    tab <- summary(fits[[sampler]], pars = names(exact))$table
    z <- (tab$mean - exact) / tab$mcse_mean
    expect_true(all(abs(z) < 4),
                label = paste(sampler, names(exact), signif(z, 3), collapse = ", "))
  }
})

crossed_rows <- function() {
  set.seed(2)
  d <- expand.grid(a = letters[1:7], b = LETTERS[1:5], stringsAsFactors = FALSE)
  d <- d[rep(seq_len(nrow(d)), rep_len(1:3, nrow(d))), ]
  d$x <- stats::rnorm(nrow(d))
  d$y <- 2 + 0.5 * d$x + stats::rnorm(7L)[match(d$a, letters)] +
    stats::rnorm(5L, 0, 0.5)[match(d$b, LETTERS)] + stats::rnorm(nrow(d), 0, 0.3)
  d
}

test_that("a crossed fit has lme4's extractors, brms's names and predictions", {
  d <- crossed_rows()
  f <- fit(y ~ x + (1 | a) + (1 | b) + (1 | a:b), d, chains = 2, iter = 400, seed = 1)
  expect_s3_class(f, "hiermod_lmm")
  # a:b is nested in a: one factor with it, its levels drawn jointly
  expect_identical(coda::varnames(f)[1:6],
                   c("b_Intercept", "b_x", "sd_a__Intercept", "sd_a:b__Intercept",
                     "sd_b__Intercept", "sigma"))
  expect_true(all(c("r_a[g,Intercept]", "r_b[E,Intercept]", "r_a:b[c:D,Intercept]") %in%
                    coda::varnames(f)))
  expect_identical(ngrps(f), c(a = 7L, "a:b" = 35L, b = 5L))
  re <- ranef(f)
  expect_named(re, c("a", "a:b", "b"))
  expect_identical(rownames(re$b), LETTERS[1:5])
  expect_output(print(f), "sampler factors")
  # a row's mean is the fixed part plus one coefficient of each factor
  draws <- as.matrix(f)
  i <- 10L
  expected <- draws[, "b_Intercept"] + draws[, "b_x"] * d$x[i] +
    draws[, paste0("r_a[", d$a[i], ",Intercept]")] +
    draws[, paste0("r_b[", d$b[i], ",Intercept]")] +
    draws[, paste0("r_a:b[", d$a[i], ":", d$b[i], ",Intercept]")]
  expect_equal(posterior_linpred(f)[, i], unname(expected))
  expect_equal(posterior_linpred(f, newdata = d[i, ])[, 1L], unname(expected))
  # one factor kept, or a new group of one factor drawn from its sd
  only_a <- posterior_linpred(f, newdata = d[i, ], re.form = ~ (1 | a))[, 1L]
  expect_equal(only_a, unname(draws[, "b_Intercept"] + draws[, "b_x"] * d$x[i] +
                                draws[, paste0("r_a[", d$a[i], ",Intercept]")]))
  new <- d[i, ]
  new$b <- "Z"
  expect_hm_error(posterior_linpred(f, newdata = new), "newdata", "`a:b`.*\"f:Z\"")
  expect_length(posterior_linpred(f, newdata = new, allow_new_levels = TRUE), nrow(draws))
  # the same seed, the same draws, whatever the threads
  again <- fit(y ~ x + (1 | a) + (1 | b) + (1 | a:b), d, chains = 2, iter = 400, seed = 1,
               cores = 1)
  expect_identical(as.matrix(again), draws)
})

test_that("a factor of nested levels, crossed with another, is one block of the sweep", {
  d <- crossed_rows()
  d$r <- ifelse(d$b %in% c("A", "B"), "north", "south")
  f <- fit(y ~ x + (1 | r / b) + (1 | a), d, chains = 2, iter = 400, seed = 2)
  expect_identical(coda::varnames(f)[1:6],
                   c("b_Intercept", "b_x", "sd_r__Intercept", "sd_r:b__Intercept",
                     "sd_a__Intercept", "sigma"))
  expect_identical(ngrps(f), c(r = 2L, "r:b" = 5L, a = 7L))
  expect_identical(hiermod:::lmm_glue_data(attr(f, "hiermod")$model)$parents,
                   list(integer(), c(1L, 1L, 2L, 2L, 2L), integer()))
  draws <- as.matrix(f)
  i <- 4L
  expected <- draws[, "b_Intercept"] + draws[, "b_x"] * d$x[i] +
    draws[, paste0("r_r[", d$r[i], ",Intercept]")] +
    draws[, paste0("r_r:b[", d$r[i], ":", d$b[i], ",Intercept]")] +
    draws[, paste0("r_a[", d$a[i], ",Intercept]")]
  expect_equal(posterior_linpred(f)[, i], unname(expected))
})

test_that("crossed factors: what does not apply is refused, naming it", {
  d <- crossed_rows()
  many <- data.frame(y = stats::rnorm(900), a = rep(1:300, 3), b = rep(1:150, 6))
  expect_hm_error(fit(y ~ (1 | a) + (1 | b), many, sampler = "collapsed"), "sampler",
                  "at most 400 locations and 8 variance parameters; use \"factors\"")
  expect_hm_error(fit(y ~ (1 | a) + (1 | b), d, sampler = "asis"), "sampler",
                  "two-level model")
  expect_hm_error(fit(y ~ x + (1 | a), d, sampler = "factors"), "sampler",
                  "crossed grouping factors; use \"collapsed\"")
  expect_hm_error(group_summaries(y ~ (1 | a) + (1 | b), d), "formula",
                  "crossed grouping factors \\(`a`, `b`\\)")
  one_b <- d[d$b == "A", ]
  expect_hm_error(fit(y ~ (1 | a) + (1 | b), one_b), "formula", "`b` must have at least 2")
  bad <- d
  bad$x[3] <- Inf
  expect_hm_error(fit(y ~ x + (1 | a) + (1 | b), bad), "formula", "not finite")
  # nothing the user passed is modified
  before <- d
  fit(y ~ x + (1 | a) + (1 | b), d, chains = 1, iter = 20, seed = 1)
  expect_identical(d, before)
})
