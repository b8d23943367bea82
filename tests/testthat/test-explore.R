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
