# Simulation-based calibration (Talts et al. 2018): draw the parameters from
# the prior, data from the model, fit, and record the rank of each true
# value among the posterior draws. For a correct sampler every rank is
# uniform on 0..L. Used by the test suite (few replications) and by
# dev/calibrate.R (the full report).

# A design: a tree of groups (`parents[[l]]`: each group of level l's parent
# in level l - 1, in order), the last level's group sizes, the within-group
# model (with known standard errors `se` for "known"), the prior (every
# value given: a prior scaled to the simulated data would not be the prior
# the data were drawn from), and how to thin each chain to L nearly
# independent draws. With no `parents` the model is one normal sample.
sbc_design <- function(name, sizes, prior, parents = list(rep(1L, length(sizes))),
                       within = "common", se = NULL, draws = 99L, thin = 5L,
                       warmup = 200L) {
  list(name = name, sizes = sizes, prior = prior, parents = parents,
       within = within, se = se, draws = draws, thin = thin, warmup = warmup)
}

# The spec of a design's model (model_spec()): levels g1, g2, ..., each
# group labelled by its index (paths below the top level), as the fit of
# the simulated data labels them.
sbc_spec <- function(design) {
  depth <- length(design$parents)
  nodes <- lapply(seq_len(depth), function(l) {
    data.frame(label = as.character(seq_along(design$parents[[l]])),
               parent = design$parents[[l]])
  })
  for (l in seq_len(depth)[-1L]) {
    nodes[[l]]$label <- paste(nodes[[l - 1L]]$label[nodes[[l]]$parent],
                              nodes[[l]]$label, sep = "/")
  }
  levels <- if (depth) paste0("g", seq_len(depth)) else character()
  model_spec(list(levels = levels, nodes = nodes,
                  stats = data.frame(group = if (depth) nodes[[depth]]$label else "(all)")),
             design$within)
}

# The samplers that apply to a design's model.
sbc_samplers <- function(design) sbc_spec(design)$samplers

# Parameters from the prior and data from the model: the data frame, the
# formula and the true values in the order of the fit's columns.
sbc_simulate <- function(design) {
  spec <- sbc_spec(design)
  depth <- spec$depth
  p <- resolve_prior(design$prior, list(mean = 0, var = 1), depth,
                     spec$within, spec_level_sd(spec))
  node <- rep(seq_along(design$sizes), design$sizes)
  sim <- prior_simulation(p, design$parents, node, spec$within, design$se[node])
  sd_rows <- sim$sd_rows
  data <- data.frame(y = sim$y)
  # Each level's label is the group's index: unique by path, and in the
  # order the fit sorts the groups.
  index <- node
  for (l in rev(seq_len(depth))) {
    data[[spec$levels[l]]] <- index
    index <- design$parents[[l]][index]
  }
  if (design$within == "known") data$se <- sd_rows
  rhs <- if (depth) spec$group else "1"
  list(data = data, formula = stats::as.formula(paste("y ~", rhs)),
       truth = sim$truth)
}

# One draw of every parameter from the resolved prior `p` and of the rows'
# responses given them: `parents` per level (top first), the last-level
# node of each row, the within-group model and (known) the rows' standard
# errors. Returns the responses, each row's sd and the parameters in the
# order of the fit's columns.
prior_simulation <- function(p, parents, node, within, se = NULL) {
  depth <- length(parents)
  mu <- stats::rnorm(1L, p$mu0, 1 / sqrt(p$tau0))
  sds <- vapply(p$levels, sd_draw, 1)
  values <- list(mu)
  for (l in seq_len(depth)) {
    parent <- parents[[l]]
    values[[l + 1L]] <- stats::rnorm(length(parent), values[[l]][parent], sds[l])
  }
  last <- values[[depth + 1L]]
  within_globals <- NULL
  group_sds <- NULL
  sd_rows <- switch(within,
    common = {
      within_globals <- sd_draw(p$within_prior)
      rep(within_globals, length(node))
    },
    known = se,
    group = {
      # sd_w0's own prior, or Hoff's Gamma on sd_w0^2
      s0 <- if (is.null(p$within_prior)) {
        stats::rgamma(1L, p$a0, rate = p$b0)
      } else {
        sd_draw(p$within_prior)^2
      }
      nu <- seq_len(p$nu_max)
      nu0 <- sample(nu, 1L, prob = exp(-p$lambda * nu))
      precision <- stats::rgamma(length(last), nu0 / 2, rate = nu0 * s0 / 2)
      within_globals <- c(sqrt(s0), nu0)
      group_sds <- 1 / sqrt(precision)
      group_sds[node]
    }
  )
  list(y = stats::rnorm(length(node), last[node], sd_rows), sd_rows = sd_rows,
       truth = c(mu, sds, within_globals, unlist(values[-1L]), group_sds))
}

# One replication: simulated truth, data, fit, ranks (0..L per parameter).
# Ties (the discrete nu0) are broken at random, which keeps the ranks
# uniform. `fit_prior` other than the design's prior shows what a wrong
# posterior looks like (the test suite checks that calibration notices).
sbc_replicate <- function(design, sampler, seed, fit_prior = design$prior) {
  sim <- sbc_simulate(design)
  args <- list(sim$formula, sim$data, prior = fit_prior, chains = 1L,
               warmup = design$warmup,
               iter = design$warmup + design$draws * design$thin,
               thin = design$thin, seed = seed, cores = 1L, sampler = sampler,
               within = if (design$within == "group") "group" else "common")
  if (design$within == "known") args$se <- sim$data$se
  draws <- as.matrix(do.call(fit, args))
  below <- colSums(sweep(draws, 2L, sim$truth, "<"))
  ties <- colSums(sweep(draws, 2L, sim$truth, "=="))
  below + vapply(ties, function(t) sample.int(t + 1L, 1L) - 1L, 1L)
}

# Ranks of `reps` replications: a reps x parameters integer matrix.
sbc_ranks <- function(design, sampler, reps, seed, fit_prior = design$prior) {
  ranks <- with_seed(seed, {
    fit_seeds <- sample.int(2^30, reps)
    t(vapply(fit_seeds, function(s) sbc_replicate(design, sampler, s, fit_prior),
             numeric(sbc_n_parameters(design))))
  })
  storage.mode(ranks) <- "integer"
  colnames(ranks) <- sbc_parameter_names(design)
  ranks
}

sbc_n_parameters <- function(design) length(sbc_parameter_names(design))

sbc_parameter_names <- function(design) sbc_spec(design)$columns$name

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

# The designs of the calibration report and of the test suite: the
# two-level model in five regimes, then each other model.
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
                          beta = 2)),
    sbc_design("one sample", 10L, unit, parents = list()),
    sbc_design("three levels", rep(4L, 10L),
               hier_prior(mu0 = 0, tau0 = 1, a = c(2, 3), b = c(2, 1.5),
                          alpha = 2, beta = 2),
               parents = list(rep(1L, 4L), c(1L, 1L, 2L, 2L, 2L, 3L, 3L, 4L, 4L, 4L))),
    sbc_design("four levels", rep(3L, 8L),
               hier_prior(mu0 = 0, tau0 = 1, a = c(3, 2, 3), b = c(2, 2, 1),
                          alpha = 2, beta = 2),
               parents = list(c(1L, 1L), c(1L, 1L, 2L, 2L),
                              c(1L, 1L, 2L, 2L, 3L, 3L, 4L, 4L))),
    sbc_design("known se", rep(1L, 8L), unit, within = "known",
               se = c(15, 10, 16, 11, 9, 11, 10, 18) / 10),
    sbc_design("group variances", rep(5L, 8L),
               hier_prior(mu0 = 0, tau0 = 1, a = 2, b = 2, a0 = 2, b0 = 2,
                          lambda = 0.3, nu_max = 30),
               within = "group"),
    # every other family of prior on an sd, in each kind of model
    sbc_design("half-Cauchy, exponential", c(2L, 3L, 5L, 5L, 8L, 4L),
               hier_prior(mu0 = 0, tau0 = 1, sd_b = cauchy(0, 1),
                          sd_w = exponential(1))),
    sbc_design("half-normal, half-t, uniform (three levels)", rep(4L, 10L),
               hier_prior(mu0 = 0, tau0 = 1, sd_g1 = normal(0, 1),
                          sd_g2 = student_t(3, 0, 1), sd_w = uniform(0, 3)),
               parents = list(rep(1L, 4L), c(1L, 1L, 2L, 2L, 2L, 3L, 3L, 4L, 4L, 4L))),
    sbc_design("one sample, half-normal", 10L,
               hier_prior(mu = normal(0, 1), sd = normal(0, 2)), parents = list()),
    sbc_design("group variances, half-Cauchy sd_w0", rep(5L, 8L),
               hier_prior(mu0 = 0, tau0 = 1, sd_b = normal(0, 1), sd_w0 = cauchy(0, 1),
                          lambda = 0.3, nu_max = 30),
               within = "group"),
    sbc_design("known se, uniform", rep(1L, 8L),
               hier_prior(mu = normal(0, 1), sd_b = uniform(0, 2)), within = "known",
               se = c(15, 10, 16, 11, 9, 11, 10, 18) / 10)
  )
}

# Calibration of the regression models. A design: its formula, the
# covariates and groups of its rows (fixed across replications: the
# calibration is conditional on them) and a prior with every value given.
sbc_lmm_design <- function(name, formula, rows, prior, draws = 99L, thin = 2L,
                           warmup = 200L, sampler = NULL) {
  list(name = name, formula = formula, rows = rows, prior = prior,
       draws = draws, thin = thin, warmup = warmup, sampler = sampler)
}

# The model of a design's rows (a response of zeros: the design matrices do
# not depend on it) and its resolved prior (every value given, so none is
# scaled to that response).
sbc_lmm_model <- function(design) {
  rows <- design$rows
  rows$y <- 0
  model <- lmm_model(lmm_terms(design$formula), rows, design$formula)
  spec <- lmm_spec(model)
  list(model = model, spec = spec,
       prior = resolve_lmm_prior(design$prior, model, spec))
}

# One draw of every parameter from the prior and of the responses given
# them, in the order of the fit's columns.
sbc_lmm_simulate <- function(design, m = sbc_lmm_model(design)) {
  model <- m$model
  p <- m$prior
  x <- model$x
  effects <- vapply(p$effects, function(e) stats::rnorm(1L, e$mean, e$sd), 1)
  intercept <- which(model$x_names == "(Intercept)")
  if (length(intercept)) {
    # the intercept's prior is on the mean response at the predictors' means
    others <- setdiff(seq_along(effects), intercept)
    effects[intercept] <- effects[intercept] -
      sum(colMeans(x)[others] * effects[others])
  }
  mean <- drop(x %*% effects)
  variances <- list()
  coefficients <- list()
  groups <- lmm_row_nodes(model)
  for (l in seq_along(model$levels)) {
    level <- model$levels[[l]]
    prior <- p$levels[[l]]
    sds <- vapply(prior$sds, sd_draw, 1)
    q <- length(sds)
    r <- diag(q)
    correlations <- numeric()
    if (!is.null(prior$lkj)) {
      if (q != 2L) stop("calibration draws LKJ correlations for q = 2 only")
      correlations <- 2 * stats::rbeta(1L, prior$lkj, prior$lkj) - 1
      r[1L, 2L] <- r[2L, 1L] <- correlations
    }
    k <- length(level$labels)
    b <- matrix(stats::rnorm(k * q), k, q) %*% chol(diag(sds, q) %*% r %*% diag(sds, q))
    mean <- mean + rowSums(level$z * b[groups[[l]], , drop = FALSE])
    variances[[l]] <- c(sds, correlations)
    coefficients[[l]] <- as.vector(b)
  }
  sigma <- sd_draw(p$sigma)
  data <- design$rows
  data$y <- stats::rnorm(length(mean), mean, sigma)
  list(data = data, truth = c(effects, unlist(variances), sigma, unlist(coefficients)))
}

sbc_lmm_ranks <- function(design, reps, seed, fit_prior = design$prior) {
  m <- sbc_lmm_model(design)
  ranks <- with_seed(seed, {
    fit_seeds <- sample.int(2^30, reps)
    t(vapply(fit_seeds, function(s) {
      sim <- sbc_lmm_simulate(design, m)
      args <- list(design$formula, sim$data, prior = fit_prior, chains = 1L,
                   warmup = design$warmup, iter = design$warmup + design$draws * design$thin,
                   thin = design$thin, seed = s, cores = 1L)
      # a design's own sampler, if it names one; else the model's
      if (!is.null(design$sampler)) args$sampler <- design$sampler
      draws <- as.matrix(do.call(fit, args))
      colSums(sweep(draws, 2L, sim$truth, "<"))
    }, numeric(nrow(m$spec$columns))))
  })
  storage.mode(ranks) <- "integer"
  colnames(ranks) <- m$spec$columns$name
  ranks
}

# The regression designs: random intercept with covariates (one per row,
# one per group), correlated and independent slopes, a factor, nested
# groups, crossed factors (balanced, unbalanced with slopes, with their
# cells), the pooled regression; between them every family of prior on an sd.
sbc_lmm_designs <- function() {
  rows <- with_seed(5L, {
    g <- rep(1:8, c(1L, 2L, 3L, 5L, 8L, 3L, 4L, 2L))
    data.frame(g = g, x1 = stats::rnorm(length(g)),
               x2 = stats::rnorm(8L)[g] + 3,
               f = factor(rep_len(c("a", "b", "c"), length(g))))
  })
  slopes <- with_seed(6L, {
    g <- rep(1:10, rep_len(3:6, 10L))
    data.frame(g = g, x = stats::runif(length(g), 0, 4))
  })
  nested <- with_seed(7L, {
    s <- rep(1:12, rep_len(c(2L, 3L, 4L, 1L), 12L))
    r <- rep(1:4, each = 3L)[s]
    data.frame(r = r, s = s, x1 = stats::rnorm(length(s)),
               xs = stats::rnorm(12L)[s], xr = stats::rnorm(4L)[r])
  })
  # crossed factors: every pair of a and b twice; then pairs missing or
  # repeated, unequal counts per level; then a within b's cells
  balanced <- with_seed(8L, {
    cells <- expand.grid(a = 1:8, b = 1:5)
    cells <- cells[rep(seq_len(nrow(cells)), 2L), ]
    data.frame(cells, x = stats::rnorm(nrow(cells)))
  })
  unbalanced <- with_seed(9L, {
    a <- c(1:10, sample.int(10L, 50L, replace = TRUE, prob = 1:10))
    b <- c(rep_len(1:6, 10L), sample.int(6L, 50L, replace = TRUE))
    data.frame(a = a, b = b, x = stats::runif(60L, -1, 2))
  })
  with_cells <- with_seed(10L, {
    cells <- expand.grid(a = 1:6, b = 1:4)
    cells <- cells[rep(seq_len(nrow(cells)), rep_len(1:3, nrow(cells))), ]
    data.frame(cells, x = stats::rnorm(nrow(cells)))
  })
  unit <- function(...) {
    hier_prior(Intercept = normal(1, 2), b = normal(0, 1), sigma = exponential(1), ...)
  }
  crossed <- function(sampler) {
    list(
      sbc_lmm_design(paste0("crossed, balanced (", sampler, ")"), y ~ x + (1 | a) + (1 | b),
                     balanced,
                     unit(sd_a__Intercept = normal(0, 1), sd_b__Intercept = cauchy(0, 1)),
                     thin = 3L, sampler = sampler),
      sbc_lmm_design(paste0("crossed, unbalanced, correlated slopes on one factor (",
                            sampler, ")"),
                     y ~ x + (x | a) + (1 | b), unbalanced,
                     unit(sd = normal(0, 1), cor = lkj(2)), thin = 3L, sampler = sampler),
      sbc_lmm_design(paste0("crossed with their cells, a:b (", sampler, ")"),
                     y ~ x + (1 | a) + (1 | b) + (1 | a:b), with_cells,
                     unit(sd = exponential(2)), thin = 3L, sampler = sampler)
    )
  }
  c(list(
    sbc_lmm_design("intercept, covariates", y ~ x1 + x2 + (1 | g), rows,
                   unit(sd = normal(0, 1))),
    sbc_lmm_design("intercept, factor", y ~ f + (1 | g), rows,
                   unit(sd = gamma_precision(2, 2))),
    sbc_lmm_design("correlated slopes", y ~ x + (x | g), slopes,
                   unit(sd_g__Intercept = cauchy(0, 1),
                        sd_g__x = student_t(3, 0, 0.5), cor = lkj(2))),
    sbc_lmm_design("independent slopes", y ~ x + (x || g), slopes,
                   unit(sd_g__Intercept = uniform(0, 3), sd_g__x = normal(0, 0.5))),
    sbc_lmm_design("nested, a covariate at each level", y ~ x1 + xs + xr + (1 | r / s),
                   nested, unit(sd_r__Intercept = normal(0, 1), sd = exponential(1))),
    sbc_lmm_design("nested, correlated slopes at the top", y ~ x1 + (x1 | r) + (1 | r:s),
                   nested, unit(sd = normal(0, 1), cor = lkj(1.5))),
    sbc_lmm_design("pooled regression", y ~ x1 + x2, rows,
                   hier_prior(Intercept = normal(1, 2), b = normal(0, 1),
                              sigma = cauchy(0, 1)))
  ), crossed("factors"), crossed("collapsed"))
}
