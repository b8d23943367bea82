# One method of the schools table, in its own process:
#   Rscript bench/schools-case.R <collapsed|asis|gibbs|jags|plain> <threads> <file.rds>
# Saves list(draws, seconds): for hiermod the median of 31 timed runs, for
# the peers one run (their chains run one after another).
suppressPackageStartupMessages(library(hiermod))
source("bench/common.R")
args <- commandArgs(trailingOnly = TRUE)
method <- args[1]
cores <- as.integer(args[2])
chains <- 4L
warmup <- 1000L
iter <- warmup + 5000L
prior <- hoff_prior()
y <- schools$mathscore
g <- schools$school
result <- switch(method,
  jags = run_jags(y, g, prior, chains, iter, warmup, seed = 1),
  plain = {
    t <- timed(function() plain_r_gibbs(y, g, prior, chains, iter, warmup, seed = 1),
               times = 1L)
    list(draws = t$value, seconds = t$seconds)
  },
  {
    t <- timed(times = 31L, function() fit(mathscore ~ school, schools, prior = prior,
                                           chains = chains, iter = iter, warmup = warmup,
                                           seed = 1, sampler = method, cores = cores))
    list(draws = t$value, seconds = t$seconds)
  }
)
saveRDS(result, args[3])
