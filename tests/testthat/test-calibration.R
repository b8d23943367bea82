# Simulation-based calibration, short version: every model, design and
# sampler that applies, 400 replications of 99 thinned draws. The full
# version: `make calibrate`.
for (sampler in c("collapsed", "asis", "gibbs")) {
  test_that(paste("simulation-based calibration:", sampler), {
    for (design in hiermod:::sbc_designs()) {
      if (!sampler %in% hiermod:::sbc_samplers(design)) next
      ranks <- hiermod:::sbc_ranks(design, sampler, reps = 400L, seed = 11L)
      expect_identical(dim(ranks), c(400L, hiermod:::sbc_n_parameters(design)))
      expect_true(all(ranks >= 0L & ranks <= design$draws))
      u <- hiermod:::sbc_uniformity(ranks, design$draws)
      expect_true(hiermod:::sbc_passes(u),
                  label = paste(design$name, "smallest p", signif(min(u), 3)))
    }
  })
}

test_that("calibration notices a wrong posterior (a prior rate 4 times too big)", {
  design <- hiermod:::sbc_designs()[[1]]
  p <- design$prior
  wrong <- hier_prior(mu0 = p$mu0, tau0 = p$tau0, a = p$a, b = 4 * p$b,
                      alpha = p$alpha, beta = p$beta)
  ranks <- hiermod:::sbc_ranks(design, "collapsed", reps = 400L, seed = 11L,
                               fit_prior = wrong)
  u <- hiermod:::sbc_uniformity(ranks, design$draws)
  expect_false(hiermod:::sbc_passes(u))
  expect_lt(u["sd_b", "chisq"], 1e-6)
})
