# One case of the databases benchmark, in its own process so that its memory
# is its own: Rscript bench/databases-case.R <source> <N> <K> <location>
# where source is r, sqlite, postgresql or csv and location the SQLite file,
# the PostgreSQL socket directory or the CSV file. Prints "<summary seconds>
# <R heap MB before> <peak R heap MB during the summary> <peak resident MB>
# <fit seconds>".
suppressPackageStartupMessages(library(hiermod))
source("bench/common.R")
args <- commandArgs(trailingOnly = TRUE)
source_name <- args[1]
n <- as.numeric(args[2])
k <- as.numeric(args[3])
location <- args[4]
data <- switch(source_name,
  r = bench_rows(n, k),
  sqlite = {
    con <- DBI::dbConnect(RSQLite::SQLite(), location)
    dplyr::tbl(con, "scores")
  },
  postgresql = {
    con <- DBI::dbConnect(RPostgreSQL::PostgreSQL(), host = location,
                          user = "postgres", dbname = "postgres")
    suppressWarnings(dplyr::tbl(con, "scores"))
  },
  csv = location
)
invisible(gc(reset = TRUE))
heap_before <- sum(gc()[, 2L]) # Mb in use, Ncells and Vcells
started <- proc.time()[["elapsed"]]
s <- group_summaries(y ~ g, data)
summary_seconds <- proc.time()[["elapsed"]] - started
heap_peak <- sum(gc()[, 6L]) # Mb, maximum used since the reset
started <- proc.time()[["elapsed"]]
f <- fit(s, chains = 4L, iter = 2000L, seed = 1, keep = "global")
fit_seconds <- proc.time()[["elapsed"]] - started
stopifnot(sum(s$n) == n)
if (exists("con")) DBI::dbDisconnect(con)
cat(summary_seconds, heap_before, max(heap_peak, heap_before), peak_rss_mb(),
    fit_seconds, "\n")
