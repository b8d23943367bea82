# Tables of group summaries: one row per group, whatever the groups' names.

test_that("a group given twice is refused as such, not as too few groups", {
  expect_hm_error(hiermod_summaries(group = c("a", "a"), n = c(2, 3), mean = c(1, 2),
                                    sd = c(1, 1)),
                  "group", "more than once")
  nested <- data.frame(region = c("A", "A", "B"), school = c("1", "1", "2"))
  expect_hm_error(hiermod_summaries(group = nested, n = c(2, 3, 4), mean = 1:3,
                                    sd = c(1, 1, 1)),
                  "group", "more than once")
  s <- hiermod_summaries(group = c("a", "b"), n = c(2, 3), mean = c(1, 2), sd = c(1, 1))
  expect_hm_error(fit(rbind(s, s[1, ])), "data", "more than one row for a group")
  t <- group_summaries(score ~ region / school, hiermod::regions)
  expect_hm_error(fit(rbind(t, t[3, ])), "data", "more than one row for a group")
  # values that print alike but differ are different groups
  ids <- hiermod_summaries(group = c(1e15, 1e15 + 1), n = c(2, 3), mean = c(1, 2),
                           sd = c(1, 1))
  expect_identical(nrow(ids), 2L)
})

test_that("a group named like a statistic of the summaries is refused clearly", {
  d <- data.frame(n = rep(c("a", "b"), each = 3), mean = rep(1:2, 3), y = c(1:3, 5:7))
  # before: the statistics overwrote the group column
  for (g in c("n", "mean")) {
    expect_hm_error(group_summaries(stats::as.formula(paste("y ~", g)), d), "formula",
                    paste0("names a group `", g, "`, which is also the name"))
  }
  expect_hm_error(hiermod_summaries(group = data.frame(ss = c("a", "b")), n = c(2, 3),
                                    mean = c(1, 2), sd = c(1, 1)),
                  "group", "names a group `ss`")
  # fit() on the rows needs no summaries table, and I(n) names the group
  # differently
  expect_identical(ngrps(fit(y ~ n, d, chains = 1, iter = 20, seed = 1)), c(n = 2L))
  s <- group_summaries(y ~ I(n), d)
  expect_identical(as.character(s[["I(n)"]]), c("a", "b"))
  expect_identical(s$n, c(3L, 3L))
  expect_identical(values_of(fit(s, chains = 1, iter = 20, seed = 1)),
                   values_of(fit(y ~ I(n), d, chains = 1, iter = 20, seed = 1)))
})
