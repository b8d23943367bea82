# Summaries where the data live: for N = 10^6 and 10^7 rows in K = 10^3 and
# 10^5 groups, the time and peak R memory of group_summaries() on a data
# frame in R, an SQLite file, a PostgreSQL table and a CSV file (read in
# chunks of 10^6 rows), then the time of fit() from the summaries (4 chains
# x 2000 iterations, keep = "global"). Each case runs in a fresh R process.
# Writes bench/DATABASES.md. Run from the package root: make bench-databases
suppressPackageStartupMessages(library(hiermod))
source("bench/common.R")
results <- "bench/DATABASES.md"
sizes <- if (nzchar(Sys.getenv("HIERMOD_BENCH_QUICK"))) 1e5 else c(1e6, 1e7)
groups <- c(1e3, 1e5)
work <- tempfile("hiermod-bench-")
dir.create(work)
# The server runs as another user, who cannot enter R's private tempdir.
pg_dir <- tempfile("hiermod-pg-", tmpdir = "/tmp")
have_pg <- system2("bash", c("dev/postgres.sh", "start", pg_dir)) == 0L
on.exit_stop <- function() {
  if (have_pg) system2("bash", c("dev/postgres.sh", "stop", pg_dir))
  unlink(pg_dir, recursive = TRUE)
  unlink(work, recursive = TRUE)
}
rscript <- file.path(R.home("bin"), "Rscript")
rows <- list()
for (n in sizes) {
  for (k in groups) {
    d <- bench_rows(n, k)
    sqlite_file <- file.path(work, "scores.sqlite")
    csv_file <- file.path(work, "scores.csv")
    started <- proc.time()[["elapsed"]]
    con <- DBI::dbConnect(RSQLite::SQLite(), sqlite_file)
    DBI::dbWriteTable(con, "scores", d, overwrite = TRUE)
    DBI::dbDisconnect(con)
    sqlite_write <- proc.time()[["elapsed"]] - started
    if (have_pg) {
      con <- DBI::dbConnect(RPostgreSQL::PostgreSQL(), host = pg_dir,
                            user = "postgres", dbname = "postgres")
      if (DBI::dbExistsTable(con, "scores")) DBI::dbRemoveTable(con, "scores")
      DBI::dbWriteTable(con, "scores", d, row.names = FALSE)
      DBI::dbDisconnect(con)
    }
    data.table::fwrite(d, csv_file)
    rm(d)
    invisible(gc())
    locations <- c(r = "-", sqlite = sqlite_file, postgresql = pg_dir, csv = csv_file)
    for (source_name in names(locations)) {
      if (source_name == "postgresql" && !have_pg) next
      out <- system2(rscript, c("bench/databases-case.R", source_name,
                                format(n, scientific = FALSE),
                                format(k, scientific = FALSE), locations[[source_name]]),
                     stdout = TRUE)
      v <- as.numeric(strsplit(trimws(utils::tail(out, 1L)), " +")[[1]])
      rows[[length(rows) + 1L]] <- data.frame(
        N = n, K = k, source = source_name, summary_s = round(v[1], 2),
        R_heap_before_MB = round(v[2]), R_heap_peak_MB = round(v[3]),
        peak_RSS_MB = round(v[4]), fit_s = round(v[5], 3))
      cat(sprintf(paste("N = %g, K = %g, %-10s summary %7.2f s, R heap %6.0f MB",
                        "(peak %6.0f), RSS %6.0f MB, fit %.3f s\n"),
                  n, k, source_name, v[1], v[2], v[3], v[4], v[5]))
    }
    cat(sprintf("  (writing the SQLite table took %.1f s)\n", sqlite_write))
  }
}
on.exit_stop()
table <- do.call(rbind, rows)
table$N <- format(table$N, big.mark = ",", scientific = FALSE)
table$K <- format(table$K, big.mark = ",", scientific = FALSE)
cpu <- sub(".*: ", "", grep("^model name", readLines("/proc/cpuinfo"), value = TRUE)[1])
out <- c(
  "# Summaries where the data live",
  "",
  paste0("Machine: ", cpu, ", ", parallel::detectCores(), " cores; ",
         R.version.string, "; hiermod ", utils::packageVersion("hiermod"),
         "; SQLite through RSQLite ", utils::packageVersion("RSQLite"),
         if (have_pg) "; PostgreSQL 15 on a local socket" else "; PostgreSQL not available",
         ". Date: ", format(Sys.time(), "%Y-%m-%d %H:%M %Z"), "."),
  "",
  paste0("`group_summaries(y ~ g, data)` on N rows in K groups, each case in a ",
         "fresh R process: `r` is a data frame already in R (its peak R heap ",
         "includes the data), `sqlite` a file database and `postgresql` a ",
         "server table (both queried through dbplyr: only K rows come back), ",
         "`csv` a file read in chunks of 10^6 rows. `R_heap_before_MB`: R's ",
         "heap in use before the summary (packages, and for `r` the data); ",
         "`R_heap_peak_MB`: its maximum during the summary (gc); ",
         "`peak_RSS_MB`: the process's peak resident memory, R itself ",
         "included. `fit_s`: ",
         "`fit()` from the summaries, 4 chains x 2000 iterations, 2 threads, ",
         "keep = \"global\"."),
  "",
  md_table(table)
)
writeLines(out, results)
cat("written to", results, "\n")
