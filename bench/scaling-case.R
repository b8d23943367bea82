# One case of the scaling table, in its own process so that its peak memory
# is its own: Rscript bench/scaling-case.R <collapsed|asis|gibbs|jags> <K>
# Prints "<seconds> <peak resident MB>".
suppressPackageStartupMessages(library(hiermod))
source("bench/common.R")
args <- commandArgs(trailingOnly = TRUE)
tool <- args[1]
k <- as.integer(args[2])
d <- simulate_groups(k, 20, 5, 9, seed = 3)
prior <- hier_prior(mu0 = 50, tau0 = 1e-4, a = 1, b = 1, alpha = 1, beta = 1)
started <- proc.time()[["elapsed"]]
# Assigned, so that nothing is printed inside the timing.
result <- if (tool == "jags") {
  run_jags(d$y, d$group, prior, chains = 4L, iter = 2000L, warmup = 1000L, seed = 1)
} else {
  fit(y ~ group, d, prior = prior, chains = 4L, iter = 2000L, warmup = 1000L,
      seed = 1, sampler = tool, keep = "global", cores = 2L)
}
seconds <- proc.time()[["elapsed"]] - started
cat(seconds, peak_rss_mb(), "\n")
