# One case of bench/lmm-scaling.R in a fresh process: Rscript
# bench/lmm-scaling-case.R <hiermod|lmer|write|hiermod-csv> <N> <K> [path].
# Prints a CSV header and one row; "write" writes the rows to the CSV file
# `path` that "hiermod-csv" fits from (so that its process never holds
# them).
source(file.path("bench", "common.R"))
args <- commandArgs(trailingOnly = TRUE)
method <- args[1]
n <- as.numeric(args[2])
k <- as.numeric(args[3])
f <- y ~ x1 + x2 + x3 + x4 + (x1 | g)
report <- function(seconds, ess = NA_real_) {
  cat("method,N,K,seconds,peak_mb,min_ess_bulk\n")
  cat(sprintf("%s,%.0f,%.0f,%.2f,%.0f,%.0f\n", method, n, k, seconds, peak_rss_mb(), ess))
}
if (method == "hiermod-csv") {
  started <- proc.time()[["elapsed"]]
  fitted <- hiermod::fit(f, args[4], seed = 1, cores = 2, keep = "global")
  report(proc.time()[["elapsed"]] - started, min(summary(fitted)$table$ess_bulk))
  quit(save = "no")
}
set.seed(1)
g <- sample.int(k, n, replace = TRUE)
x <- matrix(stats::rnorm(4 * n), n, 4)
b0 <- stats::rnorm(k, 0, 2)
b1 <- stats::rnorm(k, 0, 0.5)
d <- data.frame(y = 1 + x %*% c(0.5, -0.3, 0.2, 0.1) + b0[g] + b1[g] * x[, 1] +
                  stats::rnorm(n), x1 = x[, 1], x2 = x[, 2], x3 = x[, 3], x4 = x[, 4],
                g = g)
rm(x, g)
if (method == "write") {
  data.table::fwrite(d, args[4])
  quit(save = "no")
}
gc()
started <- proc.time()[["elapsed"]]
ess <- NA_real_
if (method == "hiermod") {
  fitted <- hiermod::fit(f, d, seed = 1, cores = 2, keep = "global")
  seconds <- proc.time()[["elapsed"]] - started
  ess <- min(summary(fitted)$table$ess_bulk)
} else {
  fitted <- lme4::lmer(f, d)
  seconds <- proc.time()[["elapsed"]] - started
}
report(seconds, ess)
