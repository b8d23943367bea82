# Small, fast fits shared by the tests.
quick_fit <- function(formula = mathscore ~ school, data = hiermod::schools,
                      ..., chains = 2, iter = 300, seed = 42, cores = 1) {
  fit(formula, data, ..., chains = chains, iter = iter, seed = seed,
      cores = cores)
}

hoff_prior <- function() {
  hier_prior(mu0 = 50, tau0 = 1 / 25, a = 1 / 2, b = 50, alpha = 1 / 2,
             beta = 50)
}

draws_of <- function(x) lapply(x, unclass)
values_of <- function(x) lapply(x, function(m) unname(unclass(m)))
# The note on numeric variables read as groups (once per session) is
# tested in test-lmm.R; elsewhere it would only clutter the output.
options(hiermod.numeric_groups_noted = TRUE)
