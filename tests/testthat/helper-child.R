# Runs `code` (a character vector of R lines) in a fresh Rscript that has
# hiermod attached, killed after `seconds`. Returns its exit status (124 if
# it was killed) and its output, so that a test of a hang cannot hang.
run_in_child <- function(code, seconds) {
  script <- tempfile(fileext = ".R")
  out <- tempfile()
  on.exit(unlink(c(script, out)))
  writeLines(c("suppressMessages(library(hiermod))", code), script)
  rscript <- file.path(R.home("bin"), "Rscript")
  libs <- paste(.libPaths(), collapse = .Platform$path.sep)
  status <- system(sprintf("R_LIBS=%s timeout -s KILL %d %s --vanilla %s > %s 2>&1",
                           shQuote(libs), as.integer(seconds), shQuote(rscript),
                           shQuote(script), shQuote(out)))
  list(status = if (status == 137L) 124L else status,
       output = readLines(out, warn = FALSE))
}

# The class of the condition `expr` raises, or "ok" with the share of
# non-finite draws when it returns a fit.
fit_outcome <- function(expr) {
  tryCatch({
    x <- as.matrix(expr)
    if (all(is.finite(x))) "ok" else "non-finite draws"
  }, hiermod_error = function(e) "hiermod_error",
  error = function(e) paste("unclassed error:", conditionMessage(e)))
}
