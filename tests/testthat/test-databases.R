# Group summaries computed where the data live: SQLite (embedded), a
# PostgreSQL server (started by dev/check.sh) and CSV files in chunks.

# nolint start: object_usage_linter. Helpers calling testthat's expectations.
summaries_equal <- function(a, b) {
  expect_s3_class(a, "hiermod_summaries")
  expect_identical(names(a), names(b))
  for (col in setdiff(names(b), c("n", "mean", "ss"))) {
    expect_identical(as.character(a[[col]]), as.character(b[[col]]))
  }
  expect_identical(a$n, b$n)
  expect_equal(a$mean, b$mean, tolerance = 1e-12)
  expect_equal(a$ss, b$ss, tolerance = 1e-10)
  expect_identical(deparse1(attr(a, "formula")), deparse1(attr(b, "formula")))
}

# Every source must give the data frame's summaries, refuse bad tables with
# a hiermod_error, and leave the connection usable.
check_backend <- function(con) {
  write <- function(name, value) {
    DBI::dbWriteTable(con, name, value, row.names = FALSE, overwrite = TRUE)
  }
  write("hm_schools", hiermod::schools)
  write("hm_regions", hiermod::regions)
  on.exit(for (t in c("hm_schools", "hm_regions", "hm_text", "hm_nulls",
                      "hm_group_nulls", "hm_empty", "hm_inf", "hm_names",
                      "hm_utf8")) {
    if (DBI::dbExistsTable(con, t)) DBI::dbRemoveTable(con, t)
  })
  schools_tbl <- dplyr::tbl(con, "hm_schools")
  summaries_equal(group_summaries(mathscore ~ school, schools_tbl),
                  group_summaries(mathscore ~ school, hiermod::schools))
  summaries_equal(group_summaries(score ~ region / school, con, table = "hm_regions"),
                  group_summaries(score ~ region / school, hiermod::regions))
  summaries_equal(group_summaries(mathscore ~ 1, schools_tbl),
                  group_summaries(mathscore ~ 1, hiermod::schools))
  summaries_equal(group_summaries(log(mathscore) ~ school, schools_tbl),
                  group_summaries(log(mathscore) ~ school, hiermod::schools))
  # fit() takes the table itself, and the posterior is the data frame's
  f <- fit(mathscore ~ school, schools_tbl, chains = 2, iter = 2000, seed = 3)
  g <- fit(mathscore ~ school, hiermod::schools, chains = 2, iter = 2000, seed = 3)
  s <- summary(f)$table
  z <- (s$mean - summary(g)$table$mean) / (sqrt(2) * s$mcse_mean)
  expect_true(all(abs(z) < 4))

  write("hm_text", data.frame(g = c(1, 1, 2, 2), y = c("a", "b", "c", "d")))
  write("hm_nulls", data.frame(g = c(1, 1, 2, 2), y = c(1, NA, 3, 4)))
  write("hm_group_nulls", data.frame(g = c(1, NA, 2, 2), y = c(1, 2, 3, 4)))
  write("hm_empty", data.frame(g = integer(), y = numeric()))
  expect_hm_error(group_summaries(y ~ g, con, table = "hm_text"), "formula",
                  "must be numeric, not character")
  expect_hm_error(group_summaries(y ~ h, con, table = "hm_text"), "formula",
                  "`h`, not a column")
  # a NULL response drops its row, saying so, as R's modelling functions do
  dropped <- expect_message(s <- group_summaries(y ~ g, con, table = "hm_nulls"),
                            "Dropped 1 of 4 row\\(s\\) with a missing response `y` \\(NULL\\)",
                            class = "hiermod_dropped_rows")
  summaries_equal(s, group_summaries(y ~ g, data.frame(g = c(1, 2, 2), y = c(1, 3, 4))))
  expect_hm_error(group_summaries(y ~ g, con, table = "hm_group_nulls"), "formula",
                  "group `g` has 1 missing")
  expect_hm_error(group_summaries(y ~ g, con, table = "hm_empty"), "data", "no rows")
  expect_hm_error(group_summaries(y ~ g, con, table = "hm_none"), "table", "not a table")
  expect_hm_error(group_summaries(y ~ g, con), "table", "must name")
  expect_hm_error(group_summaries(y ~ factor(g), con, table = "hm_text"), "formula",
                  "must be a column")
  expect_hm_error(group_summaries(y ~ g, con, table = ""), "table", "empty string")
  # a table that is gone is the data's fault, not the formula's
  write("hm_gone", data.frame(g = 1:2, y = 1:2))
  gone <- dplyr::tbl(con, "hm_gone")
  DBI::dbRemoveTable(con, "hm_gone")
  expect_hm_error(group_summaries(y ~ g, gone), "data", "could not be queried")
  # an infinite response is refused with the count of its rows, not
  # summarised as a mean of Inf
  write("hm_inf", data.frame(g = c(1, 1, 2, 2, 2), y = c(20, Inf, 3, 5, -Inf)))
  expect_hm_error(group_summaries(y ~ g, con, table = "hm_inf"), "formula",
                  "not finite \\(NaN or Infinity\\) in 2 of 5 row")
  # The groups are those of the formula, not of a grouped table
  grouped <- dplyr::group_by(schools_tbl, school)
  expect_hm_error(group_summaries(mathscore ~ school, grouped), "data",
                  "grouped \\(by school\\)")
  # Any column name: a group named like the query's own columns is a
  # group; one named like a statistic of the summaries is refused
  names_df <- data.frame(.hm_y = rep(c("a", "b"), each = 2), n = c(1, 1, 2, 2),
                         mean = 1:4, y = c(1, 2, 4, 7))
  write("hm_names", names_df)
  summaries_equal(group_summaries(y ~ .hm_y, con, table = "hm_names"),
                  group_summaries(y ~ .hm_y, names_df))
  summaries_equal(group_summaries(mean ~ .hm_y, con, table = "hm_names"),
                  group_summaries(mean ~ .hm_y, names_df))
  for (g in c("n", "mean")) {
    expect_hm_error(group_summaries(stats::as.formula(paste("y ~", g)), con,
                                    table = "hm_names"),
                    "formula", paste0("group `", g, "`.*dplyr::rename"))
  }
  # Labels that are not ASCII come back in UTF-8, ordered byte by byte
  utf8_df <- data.frame(g = enc2utf8(c("Z\u00fcrich", "Z\u00fcrich", "Bern", "Bern")),
                        y = c(1, 2, 3, 5))
  write("hm_utf8", utf8_df)
  s <- group_summaries(y ~ g, con, table = "hm_utf8")
  expect_identical(s$g, enc2utf8(c("Bern", "Z\u00fcrich")))
  expect_identical(s$n, c(2L, 2L))
  expect_identical(ngrps(fit(s, chains = 1, iter = 20, seed = 1)), c(g = 2L))
  check_regression_backend(con)
  # the user's connection is still open and works
  expect_identical(nrow(DBI::dbGetQuery(con, "SELECT 1 AS one")), 1L)
}

# A regression's summaries in the database: each group's means and centred
# cross-products, as from the rows in R, with a large offset that a
# one-pass sum of squares would cancel.
check_regression_backend <- function(con) {
  set.seed(3)
  n <- 60L
  rows <- data.frame(region = rep(c("east", "west"), each = 30L),
                     school = rep(1:6, each = 10L), x = round(1e6 + stats::rnorm(n), 6),
                     z = rep(0:4, 12L))
  # 14 significant digits: RPostgreSQL writes a double as text with 15
  rows$y <- round(1e8 + stats::rnorm(n) + 2 * rows$x, 5)
  DBI::dbWriteTable(con, "hm_reg", rows, row.names = FALSE, overwrite = TRUE)
  on.exit(DBI::dbRemoveTable(con, "hm_reg"))
  tbl <- dplyr::tbl(con, "hm_reg")
  for (formula in list(y ~ x + I(z^2) + x:z + (1 + z | region / school),
                       y ~ 0 + x + (x || school), y / 1000 ~ 1 + x)) {
    environment(formula) <- globalenv()
    a <- group_summaries(formula, tbl)
    b <- group_summaries(formula, rows)
    expect_identical(names(a), names(b))
    groups <- setdiff(names(b), c("n", grep("^(mean|cp)\\[", names(b), value = TRUE)))
    for (g in groups) expect_identical(as.character(a[[g]]), as.character(b[[g]]))
    expect_identical(a$n, b$n)
    # y at 1e8 carries ~1e-8 of rounding per value, summed in another
    # order; a one-pass sum of squares would be off by ~1
    for (col in setdiff(names(b), c(groups, "n"))) {
      expect_equal(a[[col]], b[[col]], tolerance = 1e-8, info = col)
    }
  }
  f <- fit(y ~ x + (1 | school), tbl, chains = 1, iter = 100, seed = 1)
  expect_s3_class(f, "hiermod_lmm")
  expect_identical(nobs(f), n)
  expect_identical(ngrps(f), c(school = 6L))
  DBI::dbWriteTable(con, "hm_reg", transform(rows, w = c(NA, rows$x[-1])), overwrite = TRUE,
                    row.names = FALSE)
  expect_message(s <- group_summaries(y ~ w + (1 | school), dplyr::tbl(con, "hm_reg")),
                 "Dropped 1 of 60", class = "hiermod_dropped_rows")
  expect_identical(sum(s$n), 59L)
  expect_hm_error(group_summaries(y ~ region + (1 | school), dplyr::tbl(con, "hm_reg")),
                  "formula", "`region`, which is character in the database")
}
# nolint end

test_that("SQLite: summaries in the database equal those in R", {
  skip_if_not_installed("RSQLite")
  skip_if_not_installed("dbplyr")
  con <- DBI::dbConnect(RSQLite::SQLite(), ":memory:")
  on.exit(DBI::dbDisconnect(con))
  check_backend(con)
  expect_true(DBI::dbIsValid(con))
})

test_that("SQLite: text in a numeric column is refused, not counted as 0", {
  skip_if_not_installed("RSQLite")
  skip_if_not_installed("dbplyr")
  con <- DBI::dbConnect(RSQLite::SQLite(), ":memory:")
  on.exit(DBI::dbDisconnect(con))
  # a column without a type, as `.import` makes: each value keeps its own
  DBI::dbExecute(con, "CREATE TABLE scores (g, y)")
  DBI::dbExecute(con, paste("INSERT INTO scores VALUES (1, 20), (1, ''), (1, 'NA'),",
                            "(1, 22), (2, 3), (2, 5)"))
  for (f in list(y ~ g, y * 2 ~ g)) {
    expect_hm_error(group_summaries(f, con, table = "scores"), "formula",
                    "must be numeric, not character: in 2 of 6 row")
  }
  # and text first, as the column's type would suggest
  DBI::dbExecute(con, "CREATE TABLE first_text (g, y)")
  DBI::dbExecute(con, "INSERT INTO first_text VALUES (1, ''), (1, 3), (2, 4), (2, 5)")
  expect_hm_error(group_summaries(y ~ g, con, table = "first_text"), "formula",
                  "must be numeric, not character: in 1 of 4 row")
  # 0 * Inf is NaN, which SQLite makes NULL: undefined, not missing
  DBI::dbExecute(con, "CREATE TABLE inf (g, y)")
  DBI::dbExecute(con, "INSERT INTO inf VALUES (1, 9e999), (1, 3), (2, 4), (2, 5)")
  expect_hm_error(group_summaries(y * 0 ~ g, con, table = "inf"), "formula",
                  "undefined \\(NULL\\) in 1 of 4 row")
  # a closed connection, and a table of one
  scores <- dplyr::tbl(con, "scores")
  closed <- DBI::dbConnect(RSQLite::SQLite(), ":memory:")
  DBI::dbWriteTable(closed, "t", data.frame(g = 1:2, y = 1:2))
  closed_tbl <- dplyr::tbl(closed, "t")
  DBI::dbDisconnect(closed)
  expect_hm_error(group_summaries(y ~ g, closed, table = "t"), "data", "closed")
  expect_hm_error(group_summaries(y ~ g, closed_tbl), "data", "closed")
  expect_s3_class(scores, "tbl_lazy")
})

test_that("PostgreSQL: summaries in the database equal those in R", {
  skip_if_not_installed("RPostgreSQL")
  skip_if_not_installed("dbplyr")
  host <- Sys.getenv("HIERMOD_PG_HOST")
  skip_if(host == "", paste("no PostgreSQL server: `make test` starts one",
                            "(dev/postgres.sh); set HIERMOD_PG_HOST to its socket directory"))
  driver <- RPostgreSQL::PostgreSQL()
  before <- length(DBI::dbListConnections(driver))
  con <- DBI::dbConnect(driver, host = host, user = "postgres", dbname = "postgres")
  on.exit(DBI::dbDisconnect(con))
  # dbplyr says once that RPostgreSQL uses its older interface
  suppressWarnings(dplyr::tbl(con, dplyr::sql("SELECT 1 AS one")))
  check_backend(con)
  # NaN and Infinity, in floating-point and numeric columns
  DBI::dbExecute(con, "CREATE TABLE hm_nan (g integer, y float8, z numeric)")
  on.exit(DBI::dbExecute(con, "DROP TABLE IF EXISTS hm_nan"), add = TRUE, after = FALSE)
  DBI::dbExecute(con, paste("INSERT INTO hm_nan VALUES (1, 20, 20), (1, 'NaN', 'NaN'),",
                            "(1, 22, 22), (2, 3, 3), (2, 'Infinity', 5), (2, 5, 5)"))
  expect_hm_error(group_summaries(y ~ g, con, table = "hm_nan"), "formula",
                  "not finite \\(NaN or Infinity\\) in 2 of 6 row")
  expect_hm_error(group_summaries(z ~ g, con, table = "hm_nan"), "formula",
                  "not finite \\(NaN or Infinity\\) in 1 of 6 row")
  expect_identical(length(DBI::dbListConnections(driver)), before + 1L)
})

test_that("CSV files are summarised in chunks, with bounded memory", {
  path <- tempfile(fileext = ".csv")
  on.exit(unlink(path))
  utils::write.csv(hiermod::regions, path, row.names = FALSE)
  connections <- nrow(showConnections())
  for (chunk in c(1e6, 100, 7)) {
    summaries_equal(group_summaries(score ~ region / school, path, chunk_size = chunk),
                    group_summaries(score ~ region / school, hiermod::regions))
    # one pass over the file whatever the chunks: the same to the last bit
    expect_identical(unclass(group_summaries(score ~ region / school, path,
                                             chunk_size = chunk)),
                     unclass(group_summaries(score ~ region / school, path)))
  }
  summaries_equal(group_summaries(score ~ 1, path, chunk_size = 50),
                  group_summaries(score ~ 1, hiermod::regions))
  # In one chunk the file's summaries are the data frame's to the last bit,
  # and so are the draws
  one_chunk <- group_summaries(score ~ region / school, path)
  from_rows <- group_summaries(score ~ region / school, hiermod::regions)
  expect_identical(unclass(one_chunk), unclass(from_rows))
  expect_identical(values_of(quick_fit(score ~ region / school, one_chunk)),
                   values_of(quick_fit(score ~ region / school, hiermod::regions)))
  f <- fit(score ~ region / school, path, chains = 1, iter = 50, seed = 1)
  expect_identical(ngrps(f), c(region = 8L, school = 55L))
  bad <- tempfile(fileext = ".csv")
  on.exit(unlink(bad), add = TRUE)
  # NA or empty: a missing response, whose row is dropped, saying so
  writeLines(c("g,y", "1,2.5", "1,3", "2,NA", "2,4", "2,"), bad)
  expect_message(s <- group_summaries(y ~ g, bad, chunk_size = 2),
                 paste("Dropped 2 of 5 row\\(s\\) with a missing response `y`",
                       "\\(NA or empty\\), first on line 4"),
                 class = "hiermod_dropped_rows")
  summaries_equal(s, group_summaries(y ~ g, data.frame(g = c(1, 1, 2), y = c(2.5, 3, 4))))
  writeLines(c("g,y", "1,NA", "2,"), bad)
  expect_hm_error(group_summaries(y ~ g, bad), "data", "no complete rows")
  writeLines(c("g,y", "1,a", "2,b"), bad)
  expect_hm_error(group_summaries(y ~ g, bad), "formula", "numeric")
  expect_hm_error(group_summaries(y ~ h, path), "formula", "`y`, not found")
  writeLines("g,y", bad)
  expect_hm_error(group_summaries(y ~ g, bad), "data", "no rows")
  writeLines(character(), bad)
  expect_hm_error(group_summaries(y ~ g, bad), "data", "empty")
  expect_hm_error(group_summaries(y ~ g, file.path(tempdir(), "none.csv")), "data",
                  "does not exist")
  expect_hm_error(group_summaries(y ~ g, path, chunk_size = 0), "chunk_size")
  # every file hiermod opened is closed again, errors included
  expect_identical(nrow(showConnections()), connections)
})

# A CSV file gives what read.csv() and group_summaries() of the data frame
# give, to the last bit, whatever the chunk size.
# nolint start: object_usage_linter. A helper calling testthat's expectations.
csv_as_read_csv <- function(lines, formula, exact = TRUE) {
  path <- tempfile(fileext = ".csv")
  on.exit(unlink(path))
  writeLines(lines, path, useBytes = TRUE)
  expected <- group_summaries(formula, utils::read.csv(path))
  for (chunk in c(1, 2, 3, 1e6)) {
    s <- group_summaries(formula, path, chunk_size = chunk)
    if (exact) {
      expect_identical(unclass(s), unclass(expected))
    } else {
      summaries_equal(s, expected)
    }
  }
  invisible(expected)
}
# nolint end

# A file of `lines` in the directory `dir` (which the test deletes).
csv_file <- function(lines, dir) {
  path <- tempfile(fileext = ".csv", tmpdir = dir)
  writeLines(lines, path, useBytes = TRUE)
  path
}

csv_dir <- function() {
  dir <- tempfile("hm-csv")
  dir.create(dir)
  dir
}

test_that("CSV: the columns' types are the whole file's, not the first chunk's", {
  dir <- csv_dir()
  on.exit(unlink(dir, recursive = TRUE))
  # a decimal response and a text group after chunks of whole numbers
  s <- csv_as_read_csv(c("g,y", "1,2", "1,3", "2,4.5", "2,5", "b,6"), y ~ g)
  expect_identical(s$g, c("1", "2", "b"))
  # 16-digit identifiers, which print alike at 15 digits, stay two groups
  s <- csv_as_read_csv(c("g,y", "1000000000000000,2", "1000000000000001,3",
                         "1000000000000000,4.5", "1000000000000001,5"), y ~ g)
  expect_identical(s$g, c(1e15, 1e15 + 1))
  expect_identical(s$n, c(2L, 2L))
  # the same number written three ways is one group
  s <- csv_as_read_csv(c("g,y", "1,2", "01,3", "1.0,4", "2,5", "2,6"), y ~ g,
                       exact = FALSE)
  expect_identical(s$n, c(3L, 2L))
  # an empty field is a group of a text column, and missing in a numeric one
  csv_as_read_csv(c("g,y", "a,1", "a,2", ",3", ",4"), y ~ g)
  path <- csv_file(c("g,y", "1,1", "1,2", ",3", "2,4"), dir)
  expect_hm_error(group_summaries(y ~ g, path), "formula",
                  "group `g` has missing .* first on line 4")
  # quoted fields with commas, quotes and line breaks; CRLF; a blank line
  path <- csv_file(paste(c("g,y,note", "\"a, b\",1,x", "", "\"a, b\",2,\"two",
                           "lines\"", "c,3,\"say \"\"hi\"\"\"", "c,4,"),
                         collapse = "\r\n"), dir)
  expected <- group_summaries(y ~ g, utils::read.csv(path))
  for (chunk in c(1, 2, 1e6)) {
    expect_identical(unclass(group_summaries(y ~ g, path, chunk_size = chunk)),
                     unclass(expected))
  }
  expect_identical(expected$g, c("a, b", "c"))
  # responses computed row by row, and groups computed from the columns
  csv_as_read_csv(c("g,y", "a1,2", "a2,3", "b1,4.5", "b1,5"), log(y) ~ g)
  csv_as_read_csv(c("g,y", "a1,2", "a2,3", "b1,4.5", "b1,5"), y ~ substr(g, 1, 1),
                  exact = FALSE)
})

test_that("CSV: a malformed file is an error naming the line, whatever the chunks", {
  dir <- csv_dir()
  on.exit(unlink(dir, recursive = TRUE))
  cases <- list(
    list(c("g,y", "1,2", "1,3", "\"oops,a", "2,4", "2,5"), "data",
         "line 4: a quoted field is never closed"),
    list(c("g,y", "1,2", "1,3", "2,x"), "formula",
         "must be numeric: column `y` has \"x\" on line 4"),
    list(c("g,y", "1,2", "1,3", "2,Inf", "2,3"), "formula", "is Inf on line 4"),
    list(c("g,y", "1,2", "1,3", "2,NaN", "2,3"), "formula", "is NaN on line 4"),
    list(c("g,y", "1,2", "1,3,4", "2,3"), "data",
         "line 3 has 3 field\\(s\\), but the header has 2"),
    list(c("g,y", "1,2", "a\"b,3", "2,3"), "data", "line 3: a `\"` inside an unquoted"),
    list(c("g,y", "1,2", "NA,3", "2,3"), "formula", "group `g` has missing .* line 3"),
    list(c("g,g,y", "1,1,2"), "data", "two columns named `g`")
  )
  for (case in cases) {
    path <- csv_file(case[[1]], dir)
    for (chunk in c(1, 2, 3, 1e6)) {
      expect_hm_error(group_summaries(y ~ g, path, chunk_size = chunk), case[[2]],
                      case[[3]])
    }
  }
  # a response that depends on other rows would depend on the chunks
  path <- csv_file(c("g,y", "1,2", "1,3", "2,4", "2,6"), dir)
  expect_hm_error(group_summaries(I(y - mean(y)) ~ g, path), "formula",
                  "not computed row by row")
  expect_hm_error(group_summaries(scale(y) ~ g, path), "formula",
                  "not computed row by row")
})

test_that("CSV: a record longer than a block, and a compressed file", {
  dir <- csv_dir()
  on.exit(unlink(dir, recursive = TRUE))
  long <- strrep("x", 3e6)
  path <- csv_file(c("g,y,note", paste0("a,1,\"", long, "\""), "a,2,", "b,3,",
                     paste0("b,5,", long)), dir)
  s <- group_summaries(y ~ g, path)
  expect_identical(s$n, c(2L, 2L))
  expect_identical(s$mean, c(1.5, 4))
  gz <- tempfile(fileext = ".csv.gz", tmpdir = dir)
  con <- gzfile(gz, "w")
  utils::write.csv(hiermod::regions, con, row.names = FALSE)
  close(con)
  expect_identical(unclass(group_summaries(score ~ region / school, gz)),
                   unclass(group_summaries(score ~ region / school, hiermod::regions)))
})

test_that("CSV: labels that are not ASCII, and a group named like a statistic", {
  dir <- csv_dir()
  on.exit(unlink(dir, recursive = TRUE))
  path <- csv_file(enc2utf8(c("g,y", "Z\u00fcrich,2", "Z\u00fcrich,3", "Bern,4.5",
                              "Bern,5")), dir)
  s <- group_summaries(y ~ g, path)
  expect_identical(s$g, enc2utf8(c("Bern", "Z\u00fcrich")))
  f <- fit(y ~ g, path, chains = 1, iter = 20, seed = 1)
  expect_identical(colnames(as.matrix(f))[4:5],
                   enc2utf8(c("theta[Bern]", "theta[Z\u00fcrich]")))
  path <- csv_file(c("n,y", "a,2", "a,3", "b,4.5", "b,5"), dir)
  expect_hm_error(group_summaries(y ~ n, path), "formula", "group `n`.*I\\(n\\)")
  expect_hm_error(fit(y ~ n, path), "formula", "group `n`")
  summaries_equal(group_summaries(y ~ I(n), path),
                  group_summaries(y ~ I(n), utils::read.csv(path)))
})

test_that("CSV: only a regular file is read", {
  expect_hm_error(group_summaries(y ~ g, tempdir()), "data", "is a directory")
  expect_hm_error(group_summaries(y ~ g, ""), "data", "empty string")
  skip_on_os("windows")
  if (file.exists("/dev/zero")) {
    expect_hm_error(group_summaries(y ~ g, "/dev/zero"), "data", "not a regular file")
  }
  fifo <- tempfile()
  skip_if(!nzchar(Sys.which("mkfifo")), "no mkfifo")
  skip_if(system2("mkfifo", fifo, stdout = FALSE, stderr = FALSE) != 0, "mkfifo failed")
  on.exit(unlink(fifo))
  expect_hm_error(group_summaries(y ~ g, fifo), "data", "not a regular file")
})

test_that("CSV: the reader's failure goes through glue_result(), kind and all", {
  # A failure the core marks as a bug in hiermod must say so, as every glue
  # call's does; the reader's was once turned into a message by hand, which
  # dropped the kind.
  path <- tempfile(fileext = ".csv")
  writeLines(c("y,g", "1,a", "2,b"), path)
  on.exit(unlink(path), add = TRUE)
  ns <- asNamespace("hiermod")
  original <- get("hm_csv_reader", ns)
  unlockBinding("hm_csv_reader", ns)
  assign("hm_csv_reader", function(path) list(error = "no reader", kind = "internal"), ns)
  on.exit({
    assign("hm_csv_reader", original, ns)
    lockBinding("hm_csv_reader", ns)
  }, add = TRUE)
  expect_hm_error(group_summaries(y ~ g, path), "data",
                  "could not be read \\(.*\\) \\(a bug in hiermod.*no reader")
})
