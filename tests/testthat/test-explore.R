test_that("explore_app builds an app from a fit or a formula", {
  skip_if_not_installed("shiny")
  f <- quick_fit()
  expect_s3_class(explore_app(f), "shiny.appobj")
  expect_s3_class(explore_app(mathscore ~ school, schools), "shiny.appobj")
  src <- hiermod:::explore_source(f, NULL, "schools")
  expect_identical(levels(src$rows$group), group_stats(f)$group)
  # the app refits the two-level model; other fits are refused, saying why
  expect_hm_error(explore_app(quick_fit(score ~ region / school, regions)), "x",
                  "three levels")
  expect_hm_error(explore_app(quick_fit(within = "group")), "x", "group-specific")
  expect_hm_error(explore_app(quick_fit(data = group_summaries(mathscore ~ school,
                                                               schools))), "x",
                  "group summaries")
  expect_hm_error(explore_app(score ~ region / school, regions), "x", "one grouping")
})

test_that("the code box reproduces the app's fit", {
  skip_if_not_installed("shiny")
  f <- fit(mathscore ~ school, schools, chains = 2, iter = 400, seed = 5)
  src <- hiermod:::explore_source(f, NULL, "schools")
  input <- list(mu0 = 48, mu_sd = 10, sd_b = 2, log_nu_b = log10(3), sd_w = 9,
                log_nu_w = 0,
                per_group = 5, draws = 200, sampler = "asis", seed = 3)
  code <- hiermod:::explore_code(src, input, hiermod:::explore_prior(input))
  env <- new.env()
  eval(parse(text = code), env)
  expect_identical(fit_info(env$f)$sampler, "asis")
  expect_true(all(group_stats(env$f)$n <= 5))
  p <- fit_info(env$f)$prior
  expect_equal(p$b, 3 * 2^2 / 2, tolerance = 1e-6)
  expect_equal(p$tau0, 1 / 100, tolerance = 1e-6)
})

# The app's server on `src`, for shiny::testServer(); the test code sees
# what explore_server() returns as `app`. `...` goes to explore_server().
server_of <- function(src, ...) {
  args <- list(...)
  function(input, output, session) {
    # read by the test code, which testServer() runs in this function's frame
    app <- do.call(hiermod:::explore_server, # nolint: object_usage_linter.
                   c(list(input, output, session, src), args))
  }
}

# Lets the app's clock run until no refit is under way.
settle <- function(session, app, seconds = 60) {
  deadline <- Sys.time() + seconds
  while (app$running() && Sys.time() < deadline) {
    Sys.sleep(0.01)
    session$elapse(50)
  }
  !app$running()
}

outputs <- c("shrinkage", "theta", "trace", "focus_plot", "summary", "code")

# The message every output shows, or NULL if one of them renders.
shown_error <- function(output) {
  messages <- vapply(outputs, function(o) {
    tryCatch({
      output[[o]]
      NA_character_
    }, error = function(e) conditionMessage(e))
  }, "")
  if (anyNA(messages) || length(unique(messages)) != 1L) return(NULL)
  messages[[1L]]
}

test_that("every output works for a transformed response and non-syntactic names", {
  skip_if_not_installed("shiny")
  skip_on_os("windows") # refits are forked
  scores <- schools
  names(scores) <- c("school id", "math score")
  cases <- list(
    list(src = hiermod:::explore_source(quick_fit(log(mathscore) ~ school), NULL, "x"),
         data = schools, formula = "log(mathscore) ~ school"),
    list(src = hiermod:::explore_source(`math score` ~ `school id`, scores, "scores"),
         data = scores, formula = "`math score` ~ `school id`"),
    list(src = hiermod:::explore_source(mathscore ~ factor(school), schools, "schools"),
         data = schools, formula = "mathscore ~ factor(school)")
  )
  for (case in cases) {
    src <- case$src
    src$data_name <- "d"
    shiny::testServer(server_of(src), {
      do.call(session$setInputs, hiermod:::explore_inputs(src))
      expect_true(settle(session, app))
      for (o in outputs) expect_no_error(output[[o]])
      expect_match(output$timing, "refit in")
      expect_match(output$code, case$formula, fixed = TRUE)
      # the code box, run on the data, refits the same model on the same rows
      session$setInputs(per_group = 5, draws = 200)
      expect_true(settle(session, app))
      env <- new.env()
      env$d <- case$data
      eval(parse(text = output$code), env)
      shown <- group_stats(app$view()$fit)
      expect_identical(group_stats(env$f)$n, shown$n)
      expect_equal(group_stats(env$f)$mean, shown$mean)
    })
  }
})

test_that("an input or refit the model refuses shows its message, and the app goes on", {
  skip_if_not_installed("shiny")
  skip_on_os("windows")
  src <- hiermod:::explore_source(quick_fit(), NULL, "schools")
  refuse <- function(src, settings, progress) {
    if (settings$seed == 7) hm_abort("prior", "is refused by the sampler (a mock).")
    hiermod:::explore_refit(src, settings, progress)
  }
  shiny::testServer(server_of(src, refit = refuse), {
    do.call(session$setInputs, hiermod:::explore_inputs(src))
    expect_true(settle(session, app))
    expect_null(shown_error(output))
    # hier_prior() refuses a mean that is not a number (an emptied box), in
    # the refit
    session$setInputs(mu0 = NA)
    expect_true(settle(session, app))
    expect_match(shown_error(output), "`mu0` must be", fixed = TRUE)
    # so does fit() a seed that is not whole
    session$setInputs(mu0 = 50, seed = 1.5)
    expect_true(settle(session, app))
    expect_match(shown_error(output), "`seed` must be", fixed = TRUE)
    # any hiermod_error of a refit
    session$setInputs(seed = 7)
    expect_true(settle(session, app))
    expect_match(shown_error(output), "`prior` is refused", fixed = TRUE)
    # the app checks what it maps to other arguments itself
    session$setInputs(mu_sd = 0)
    expect_match(shown_error(output), "prior sd of mu must be a positive")
    session$setInputs(mu_sd = 10, draws = 1e6)
    expect_match(shown_error(output), "from 100 to 20000")
    # and works again once the inputs are
    session$setInputs(draws = 300, seed = 2)
    expect_true(settle(session, app))
    expect_null(shown_error(output))
    expect_match(output$timing, "refit in")
  })
})

test_that("a refit runs apart from the app: replaced by a newer input, stopped when stuck", {
  skip_if_not_installed("shiny")
  skip_on_os("windows")
  src <- hiermod:::explore_source(quick_fit(), NULL, "schools")
  stuck <- function(src, settings, progress) {
    if (settings$seed == 1) Sys.sleep(120)
    hiermod:::explore_refit(src, settings, progress)
  }
  alive <- function(pid) tools::pskill(pid, 0L)
  shiny::testServer(server_of(src, refit = stuck, timeout = 2), {
    do.call(session$setInputs, hiermod:::explore_inputs(src))
    session$elapse(100)
    expect_true(app$running())
    first <- app$pid()
    expect_true(alive(first))
    expect_match(output$timing, "sampling")
    # the app takes the next input at once and kills the refit it replaces
    answered <- system.time(session$setInputs(seed = 2))[["elapsed"]]
    expect_lt(answered, 5)
    expect_false(alive(first))
    expect_true(settle(session, app))
    expect_null(shown_error(output))
    # a refit that runs past the time limit is stopped, with a message
    session$setInputs(seed = 1)
    stuck_pid <- app$pid()
    expect_true(settle(session, app, 30))
    expect_match(shown_error(output), "more than 2 s and was stopped")
    expect_false(alive(stuck_pid))
  })
})

test_that("a prior the sampler cannot handle leaves the app answering", {
  skip_if_not_installed("shiny")
  skip_on_os("windows")
  src <- hiermod:::explore_source(quick_fit(), NULL, "schools")
  shiny::testServer(server_of(src, timeout = 5), {
    inputs <- hiermod:::explore_inputs(src)
    inputs[c("mu0", "sampler")] <- list(1e200, "asis")
    do.call(session$setInputs, inputs)
    expect_true(settle(session, app, 30))
    # refused up front (a hiermod_error naming the prior), or stopped
    expect_match(shown_error(output), "mu0|prior|stopped")
  })
})

test_that("without fork the app refits in its own process", {
  skip_if_not_installed("shiny")
  src <- hiermod:::explore_source(quick_fit(), NULL, "schools")
  shiny::testServer(server_of(src, fork = FALSE), {
    do.call(session$setInputs, hiermod:::explore_inputs(src))
    expect_true(settle(session, app))
    for (o in outputs) expect_no_error(output[[o]])
    session$setInputs(mu0 = NA)
    expect_match(shown_error(output), "`mu0` must be", fixed = TRUE)
  })
})

test_that("draws per chain are capped by the number of groups", {
  skip_if_not_installed("shiny")
  expect_identical(hiermod:::explore_source(quick_fit(), NULL, "schools")$max_draws, 20000L)
  d <- data.frame(g = rep(seq_len(5000), 2), y = stats::rnorm(10000))
  src <- hiermod:::explore_source(y ~ g, d, "d")
  expect_identical(src$max_draws, as.integer(2e7 %/% (4 * 5003)))
  big <- hiermod:::explore_source(quick_fit(iter = 60000, warmup = 100, chains = 1), NULL, "x")
  expect_identical(big$start$draws, 20000L)
})

test_that("the app refits in a browser when an input changes", {
  skip_on_cran()
  skip_on_covr() # a killed child leaves a partial coverage file
  skip_if_not_installed("shiny")
  browser_dir <- Sys.getenv("HIERMOD_BROWSER_DIR")
  playwright <- file.path(browser_dir, "node_modules", "playwright-core")
  skip_if(!nzchar(browser_dir) || !dir.exists(playwright),
          "playwright-core not installed (make deps installs it; set HIERMOD_BROWSER_DIR)")
  skip_if(!file.exists(Sys.getenv("HIERMOD_CHROMIUM", "/usr/bin/chromium")),
          "Chromium not installed (Debian: apt install chromium)")
  skip_if(!nzchar(Sys.which("node")), "node not installed")
  skip_if_not_installed("jsonlite")

  port <- 20000L + Sys.getpid() %% 10000L
  log <- tempfile()
  rscript <- file.path(R.home("bin"), "Rscript")
  libs <- paste(.libPaths(), collapse = .Platform$path.sep)
  code <- sprintf(paste0("hiermod::explore(hiermod::fit(mathscore ~ school, ",
                         "hiermod::schools, seed = 1), port = %d, launch.browser = FALSE)"),
                  port)
  pid <- as.integer(system(sprintf("R_LIBS=%s %s -e %s > %s 2>&1 & echo $!",
                                   shQuote(libs), shQuote(rscript), shQuote(code),
                                   shQuote(log)), intern = TRUE))
  on.exit(tools::pskill(pid, tools::SIGKILL), add = TRUE)
  url <- sprintf("http://127.0.0.1:%d", port)
  up <- FALSE
  for (i in 1:150) {
    up <- tryCatch({
      suppressWarnings(readLines(url, n = 1L))
      TRUE
    }, error = function(e) FALSE)
    if (up) break
    Sys.sleep(0.2)
  }
  expect_true(up, label = paste("app started:", paste(readLines(log), collapse = "\n")))

  shot_dir <- Sys.getenv("HIERMOD_SCREENSHOT_DIR", tempdir())
  shot <- file.path(shot_dir, "explore.png")
  out <- system2("node", c(test_path("explore-browser.js"), url, shot),
                 stdout = TRUE, stderr = TRUE)
  json <- grep("^\\{", out, value = TRUE)
  expect_length(json, 1L)
  if (length(json) != 1L) return(cat(out, sep = "\n"))
  result <- jsonlite::fromJSON(json)
  expect_length(result$errors, 0L)
  expect_false(identical(result$before$table, result$after$table))
  expect_false(identical(result$before$image, result$after$image))
  expect_true(file.exists(shot))
  # the between-group sd shrinks with its prior guess, and the code says so
  sd_b <- function(table) {
    line <- grep("^sd_b", strsplit(table, "\n")[[1]], value = TRUE)
    as.numeric(strsplit(line, "\t")[[1]][2])
  }
  expect_lt(sd_b(result$after$table), sd_b(result$before$table))
  expect_false(identical(result$before$code, result$after$code))
})
