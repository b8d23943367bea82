test_that("an interrupt stops a long run quickly and R survives", {
  skip_on_cran()
  skip_on_covr() # a killed child leaves a partial coverage file
  skip_on_os("windows")
  child <- start_child(c(
    "library(hiermod)",
    "threads <- function() length(list.files('/proc/self/task'))",
    "before <- threads()",
    "cat('started\\n')",
    "r <- tryCatch(fit(mathscore ~ school, schools, chains = 2,",
    "  iter = 2e9, warmup = 2e9 - 1, seed = 1), interrupt = function(e) e)",
    "cat('caught', class(r)[1], '\\n')",
    "cat('threads', before, threads(), '\\n')",
    "cat('alive', 1 + 1, '\\n')"
  ))
  pid <- child$pid
  out <- child$out
  wait_for <- child$wait_for
  expect_true(wait_for("started", 30))
  Sys.sleep(1) # let the chains run
  tools::pskill(pid, tools::SIGINT)
  sent <- Sys.time()
  expect_true(wait_for("alive 2", 10))
  expect_lt(as.numeric(Sys.time() - sent, units = "secs"), 2)
  lines <- readLines(out)
  expect_true(any(grepl("caught hiermod_interrupt", lines)))
  # the worker threads are gone: as many threads as before the fit
  thread_line <- grep("^threads", lines, value = TRUE)
  counts <- as.integer(strsplit(sub("threads ", "", thread_line), " ")[[1]])
  expect_identical(counts[1], counts[2])
  tools::pskill(pid, tools::SIGKILL)
})
