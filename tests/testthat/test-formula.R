# The formula front end: lme4's notation and the lecture's shorthand name the
# same models; what is not supported yet is refused, saying what it is.

test_that("lme4's notation and the shorthand read the same levels", {
  same <- list(
    list(mathscore ~ school, mathscore ~ (1 | school), mathscore ~ 1 + (1 | school),
         mathscore ~ (1 | school) + 1),
    list(score ~ region / school, score ~ (1 | region / school),
         score ~ (1 | region) + (1 | region:school),
         score ~ 1 + (1 | region:school) + (1 | region)),
    list(y ~ a / b / c, y ~ (1 | a) + (1 | a:b) + (1 | a:b:c))
  )
  for (forms in same) {
    reference <- parse_hier_formula(forms[[1L]])
    for (f in forms[-1L]) {
      terms <- parse_hier_formula(f)
      expect_identical(terms$levels, reference$levels, info = deparse1(f))
      expect_true(terms$bars, info = deparse1(f))
    }
    expect_false(reference$bars)
  }
  expect_identical(parse_hier_formula(y ~ 1)$levels, list())
  expect_null(parse_hier_formula(y ~ 1)$group)
})

test_that("a fit in lme4's expanded nesting equals the shorthand's", {
  a <- fit(score ~ region / school, regions, chains = 1, iter = 100, seed = 4)
  b <- fit(score ~ (1 | region) + (1 | region:school), regions, chains = 1,
           iter = 100, seed = 4)
  expect_identical(unclass(as.matrix(a)), unclass(as.matrix(b)))
})

test_that("what is not supported yet is refused, naming it", {
  expect_hm_error(parse_hier_formula(y ~ x + (1 | g)), "formula", "covariates")
  expect_hm_error(parse_hier_formula(y ~ 0 + (1 | g)), "formula", "intercept")
  expect_hm_error(parse_hier_formula(y ~ (x | g)), "formula", "slopes")
  expect_hm_error(parse_hier_formula(y ~ (1 + x | g)), "formula", "slopes")
  expect_hm_error(parse_hier_formula(y ~ (1 || g)), "formula", "slopes")
  expect_hm_error(parse_hier_formula(y ~ (1 | a) + (1 | b)), "formula", "crossed")
  expect_hm_error(parse_hier_formula(y ~ (1 | a) + (1 | b:c)), "formula",
                  "crossed")
  expect_hm_error(parse_hier_formula(y ~ a + b), "formula", "nested with `/`")
  expect_hm_error(parse_hier_formula(y ~ (1 | a:b)), "formula", "nested with `/`")
  expect_hm_error(parse_hier_formula(y ~ 2), "formula", "needs `1`")
  expect_hm_error(parse_hier_formula(~ g), "formula", "two-sided")
})

test_that("the response on its own right-hand side is refused, in every model", {
  d <- data.frame(y = stats::rnorm(60), x = stats::rnorm(60), a = rep(1:6, 10),
                  b = rep(1:5, each = 12))
  says <- "response's variable `y` on its right-hand side"
  expect_hm_error(fit(y ~ y, d), "formula", says)
  expect_hm_error(fit(y ~ (1 | y), d), "formula", says)
  expect_hm_error(fit(y ~ x + y + (1 | a), d), "formula", says)
  expect_hm_error(fit(log(y + 10) ~ x + (y | a), d), "formula", says)
  expect_hm_error(fit(y ~ x + (1 | a) + (I(y > 0) | b), d), "formula", says)
  expect_hm_error(group_summaries(y ~ x + (1 | y), d), "formula", says)
})
