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
                      "hm_group_nulls", "hm_empty")) {
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
  expect_hm_error(group_summaries(y ~ g, con, table = "hm_nulls"), "formula",
                  "1 missing \\(NULL\\)")
  expect_hm_error(group_summaries(y ~ g, con, table = "hm_group_nulls"), "formula",
                  "group `g` has 1 missing")
  expect_hm_error(group_summaries(y ~ g, con, table = "hm_empty"), "data", "no rows")
  expect_hm_error(group_summaries(y ~ g, con, table = "hm_none"), "table", "not a table")
  expect_hm_error(group_summaries(y ~ g, con), "table", "must name")
  expect_hm_error(group_summaries(y ~ factor(g), con, table = "hm_text"), "formula",
                  "must be a column")
  # the user's connection is still open and works
  expect_identical(nrow(DBI::dbGetQuery(con, "SELECT 1 AS one")), 1L)
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
  writeLines(c("g,y", "1,2.5", "1,3", "2,NA", "2,4"), bad)
  expect_hm_error(group_summaries(y ~ g, bad, chunk_size = 2), "formula", "row 3")
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
