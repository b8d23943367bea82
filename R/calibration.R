# Simulation-based calibration (Talts et al. 2018): draw the parameters from
# the prior, data from the model, fit, and record the rank of each true
# value among the posterior draws. For a correct sampler every rank is
# uniform on 0..L. Used by the test suite (few replications) and by
# dev/calibrate.R (the full report).

# A design: group sizes, the prior (all six values given: a prior scaled to
# the simulated data would not be the prior the data were drawn from), and
# how to thin each chain to L nearly independent draws.
sbc_design <- function(name, sizes, prior, draws = 99L, thin = 5L,
                       warmup = 200L) {
  list(name = name, sizes = sizes, prior = prior, draws = draws,
       thin = thin, warmup = warmup)
}

# One replication: simulated truth, data, fit, ranks (0..L per parameter).
# `fit_prior` other than the design's prior shows what a wrong posterior
# looks like (the test suite checks that calibration notices).
sbc_replicate <- function(design, sampler, seed, fit_prior = design$prior) {
  p <- design$prior
  k <- length(design$sizes)
  mu <- stats::rnorm(1L, p$mu0, 1 / sqrt(p$tau0))
  tau_b <- stats::rgamma(1L, p$a, rate = p$b)
  tau_w <- stats::rgamma(1L, p$alpha, rate = p$beta)
  theta <- stats::rnorm(k, mu, 1 / sqrt(tau_b))
  group <- rep(seq_len(k), design$sizes)
  y <- stats::rnorm(length(group), theta[group], 1 / sqrt(tau_w))
  truth <- c(mu = mu, sd_b = 1 / sqrt(tau_b), sd_w = 1 / sqrt(tau_w), theta)
  f <- fit(y ~ group, data.frame(y = y, group = group), prior = fit_prior,
           chains = 1L, warmup = design$warmup,
           iter = design$warmup + design$draws * design$thin,
           thin = design$thin, seed = seed, cores = 1L, sampler = sampler)
  draws <- as.matrix(f)
  names(truth) <- colnames(draws)
  colSums(sweep(draws, 2L, truth, "<"))
}

# Ranks of `reps` replications: a reps x parameters integer matrix.
sbc_ranks <- function(design, sampler, reps, seed, fit_prior = design$prior) {
  ranks <- with_seed(seed, {
    fit_seeds <- sample.int(2^30, reps)
    t(vapply(fit_seeds, function(s) sbc_replicate(design, sampler, s, fit_prior),
             numeric(3L + length(design$sizes))))
  })
  storage.mode(ranks) <- "integer"
  ranks
}

# Evaluates `code` after set.seed(seed), then puts R's random stream back.
with_seed <- function(seed, code) {
  old <- if (exists(".Random.seed", globalenv())) get(".Random.seed", globalenv())
  on.exit(if (is.null(old)) rm(".Random.seed", envir = globalenv())
          else assign(".Random.seed", old, globalenv()))
  set.seed(seed)
  code
}

# Uniformity of each column of ranks on 0..L: a chi-square test on `bins`
# equal bins and a Kolmogorov-Smirnov test of (rank + U)/(L + 1), U uniform,
# which is exactly uniform on (0, 1) when the ranks are (the jitter is
# seeded so that the verdict is reproducible).
sbc_uniformity <- function(ranks, draws, bins = 10L, seed = 1L) {
  stopifnot((draws + 1L) %% bins == 0L)
  with_seed(seed, t(apply(ranks, 2L, function(r) {
    counts <- tabulate(r %/% ((draws + 1L) %/% bins) + 1L, bins)
    chisq <- stats::chisq.test(counts, p = rep(1 / bins, bins))$p.value
    u <- (r + stats::runif(length(r))) / (draws + 1L)
    ks <- stats::ks.test(u, "punif")$p.value
    c(chisq = chisq, ks = ks)
  })))
}

# The verdict: every p-value above `alpha` after a Bonferroni correction for
# the number of tests (two per parameter).
sbc_passes <- function(uniformity, alpha = 0.01) {
  min(uniformity) >= alpha / length(uniformity)
}

# The designs of the calibration report and of the test suite.
sbc_designs <- function() {
  unit <- hier_prior(mu0 = 0, tau0 = 1, a = 2, b = 2, alpha = 2, beta = 2)
  list(
    sbc_design("balanced", rep(5L, 8L), unit),
    sbc_design("unbalanced", c(1L, 2L, 3L, 5L, 8L, 13L, 21L, 34L), unit),
    sbc_design("tiny groups", rep(2L, 20L), unit),
    sbc_design("tight prior", rep(4L, 6L),
               hier_prior(mu0 = 3, tau0 = 100, a = 50, b = 5, alpha = 20,
                          beta = 40)),
    sbc_design("vague between", rep(10L, 8L),
               hier_prior(mu0 = 0, tau0 = 0.01, a = 1, b = 0.5, alpha = 2,
                          beta = 2))
  )
}
