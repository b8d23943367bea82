# An error of class hiermod_error that names `arg` (and matches `pattern`).
expect_hm_error <- function(expr, arg, pattern = NULL) {
  err <- testthat::expect_error(expr, class = "hiermod_error")
  testthat::expect_identical(err$arg, arg)
  testthat::expect_match(conditionMessage(err), paste0("`", arg, "`"), fixed = TRUE)
  if (!is.null(pattern)) testthat::expect_match(conditionMessage(err), pattern)
  invisible(err)
}
