# The model spec that every method reads (R/spec.R).
spec_of <- function(x) hiermod:::fit_spec(x)

test_that("the spec names every column of the draws, in their order", {
  fits <- list(
    two = quick_fit(iter = 40),
    one = quick_fit(mathscore ~ 1, iter = 40),
    nested = quick_fit(score ~ region / school, regions, iter = 40),
    known = quick_fit(y ~ school, eight_schools, se = se, iter = 40),
    group = quick_fit(within = "group", iter = 40)
  )
  for (name in names(fits)) {
    f <- fits[[name]]
    spec <- spec_of(f)
    expect_s3_class(spec, "hiermod_spec")
    expect_identical(spec$columns$name, coda::varnames(f), info = name)
    expect_identical(colnames(fit_info(f)$inits), spec$columns$name, info = name)
    expect_identical(hiermod:::spec_globals(spec), fit_info(f)$globals, info = name)
    expect_true(fit_info(f)$sampler %in% spec$samplers, info = name)
  }
  nested <- spec_of(fits$nested)
  expect_identical(nested$depth, 2L)
  expect_identical(hiermod:::spec_level_sd(nested), c("sd_region", "sd_school"))
  expect_identical(hiermod:::spec_effects(nested, 1L),
                   paste0("theta_region[", nested$nodes[[1]]$label, "]"))
  expect_identical(hiermod:::spec_level(nested, "region"), 1L)
  expect_identical(hiermod:::spec_level(nested, NULL), 2L)
  expect_hm_error(hiermod:::spec_level(nested, "state"), "by", "region")
  expect_identical(hiermod:::spec_within_sd(spec_of(fits$two)), "sd_w")
  expect_identical(hiermod:::spec_within_sd(spec_of(fits$one)), "sd")
  expect_identical(hiermod:::spec_within_sd(spec_of(fits$group)), "sd_w0")
  expect_null(hiermod:::spec_within_sd(spec_of(fits$known)))
  expect_identical(hiermod:::spec_group_sd(spec_of(fits$group), 2L),
                   paste0("sd_w[", group_stats(fits$group)$group[2], "]"))
  expect_identical(hiermod:::spec_title(nested), "three levels")
  expect_identical(hiermod:::spec_title(spec_of(fits$known)),
                   "two levels, known within-group variances")
})

test_that("fit_info() keeps its fields beside the spec", {
  info <- fit_info(quick_fit(iter = 40))
  expect_identical(names(info), c("call", "formula", "response", "group", "levels",
                                  "within", "se", "nodes", "globals", "prior", "seed",
                                  "sampler", "settings", "inits", "elapsed"))
  expect_identical(info$levels, "school")
  expect_identical(info$within, "common")
  expect_identical(info$globals, c("mu", "sd_b", "sd_w"))
})
