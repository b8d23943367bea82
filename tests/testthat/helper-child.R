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

# Starts `code` (R lines) in a background Rscript that has the test's
# library path, to be interrupted: returns its pid, the file its output goes
# to, and wait_for(pattern, seconds), TRUE once a line matches.
start_child <- function(code) {
  script <- tempfile(fileext = ".R")
  out <- tempfile()
  writeLines(code, script)
  rscript <- file.path(R.home("bin"), "Rscript")
  libs <- paste(.libPaths(), collapse = .Platform$path.sep)
  pid <- as.integer(system(sprintf(
    "R_LIBS=%s %s --vanilla %s > %s 2>&1 & echo $!",
    shQuote(libs), shQuote(rscript), shQuote(script), shQuote(out)
  ), intern = TRUE))
  wait_for <- function(pattern, seconds) {
    deadline <- Sys.time() + seconds
    while (Sys.time() < deadline) {
      if (any(grepl(pattern, readLines(out, warn = FALSE)))) return(TRUE)
      Sys.sleep(0.02)
    }
    FALSE
  }
  list(pid = pid, out = out, wait_for = wait_for)
}
