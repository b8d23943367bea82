# Run by test-hardening.R in a child process: random fits over every model
# and kernel, data scales from 1e-300 to 1e300 and priors from vague to
# absurd. Prints one line per outcome with its count.
set.seed(as.integer(Sys.getenv("HIERMOD_FUZZ_SEED", "20261201")))
cases <- as.integer(Sys.getenv("HIERMOD_FUZZ_CASES", "400"))
outcome <- function(expr) {
  tryCatch({
    x <- as.matrix(expr)
    if (all(is.finite(x))) "ok" else "nonfinite"
  }, hiermod_error = function(e) "hiermod_error",
  error = function(e) paste("unclassed:", conditionMessage(e)))
}
all_kernels <- c("collapsed", "asis", "gibbs")
models <- list(
  list(f = mathscore ~ school, d = schools, kernels = all_kernels),
  list(f = mathscore ~ school, d = schools, kernels = all_kernels[-2],
       args = list(within = "group")),
  list(f = score ~ region / school, d = regions, kernels = all_kernels[-2]),
  list(f = y ~ school, d = eight_schools, kernels = all_kernels[-2],
       args = list(se = quote(se))),
  list(f = mathscore ~ 1, d = schools, kernels = all_kernels[-2])
)
counts <- list()
for (i in seq_len(cases)) {
  m <- models[[sample.int(length(models), 1L)]]
  kernel <- sample(m$kernels, 1L)
  scale <- 10^(stats::runif(1L, -1, 1) * sample(c(300, 100, 10), 1L))
  d <- m$d
  r <- all.vars(m$f)[1L]
  d[[r]] <- d[[r]] * scale + sample(c(0, scale * 1e3, -1e300), 1L)
  if (!is.null(d$se)) d$se <- d$se * scale
  p <- list()
  # each prior value left to the default, plausible on the data's scale,
  # or anywhere in the range of doubles
  pick <- function(plausible, extreme) {
    switch(sample.int(3L, 1L), NULL, plausible, extreme)
  }
  p$mu0 <- pick(mean(d[[r]]) + scale * stats::rnorm(1L, 0, 10),
                sample(c(1e200, -1e308, 0), 1L))
  p$tau0 <- pick(10^stats::runif(1L, -4, 2) / scale^2,
                 10^stats::runif(1L, -320, 300))
  p$b <- pick(10^stats::runif(1L, -4, 2) * scale^2,
              10^stats::runif(1L, -320, 300))
  p$a <- pick(10^stats::runif(1L, -2, 2), 10^stats::runif(1L, -60, 60))
  if (is.null(m$args)) {
    p$beta <- pick(10^stats::runif(1L, -4, 2) * scale^2,
                   10^stats::runif(1L, -320, 300))
  }
  o <- outcome(do.call(fit, c(list(m$f, d, prior = do.call(hier_prior, p),
                                   chains = 2, iter = 300, seed = i,
                                   sampler = kernel), m$args)))
  counts[[o]] <- (if (is.null(counts[[o]])) 0 else counts[[o]]) + 1
}
for (o in names(counts)) cat("outcome", o, counts[[o]], "\n")
