# Crossed grouping factors: hiermod (its default sampler; in part 4 both
# exact schemes) against lmer (REML) and brms (NUTS, through rstan), in one
# run. Writes bench/CROSSED.md.
#
# 1. lme4's InstEval, y ~ service + (1 | s) + (1 | d) + (1 | dept:service)
#    (73,421 ratings; 2,972 students, 1,128 lecturers, 28 dept:service
#    cells): the wall time of the shortest hiermod fit (4 chains on 2
#    cores, 500 warm-up sweeps, kept draws doubled until then) whose minimum
#    bulk ESS over the fixed effects, sds and sigma reaches 400, against
#    lmer's REML fit.
# 2. A random subsample of InstEval's ratings, the same model: hiermod and
#    brms with the same priors (hiermod's defaults for the subsample,
#    written out for brms), ESS per second.
# 3. Simulated unbalanced crossed designs, y ~ x + (1 | a) + (1 | b), N
#    from 10^4 to 10^6 rows (10^4 x 10^3 levels at the largest): seconds
#    per 1,000 effective draws (the minimum bulk ESS over the fixed
#    effects, sds and sigma) as N grows, and lmer's fit time beside.
#
# 4. Small designs where both exact schemes apply: the collapsed one and
#    the sweep over factors, seconds per 1,000 effective draws each, and
#    which one fit() picks.
# 5. A factor of nested levels crossed with another, y ~ x + (1 | r/s) +
#    (1 | area), 10^5 rows: the path drawn as one block, against the same
#    model written as three crossed factors (each school's own label, so
#    the formula does not say it is nested), and lmer.
#
# `Rscript bench/crossed.R` (`make bench-crossed`); BENCH_BRMS_ROWS sets
# the subsample (default 5000), BENCH_CROSSED_MAX_N the largest simulated
# N (default 1e6).

source(file.path("bench", "common.R"))
suppressPackageStartupMessages({
  library(hiermod)
})

chains <- 4L
warmup <- 500L

# Global columns' mixing (fits keep only those: keep = "global").
global_mixing <- function(f) {
  m <- mixing(f)
  list(ess = m$ess_bulk, by = m$ess_bulk_by, rhat = m$rhat, mean = m$mean)
}

# The shortest fit, kept draws per chain doubled from `start`, whose minimum
# bulk ESS over the global parameters reaches `target`; its wall time (the
# whole fit() call) and mixing, and every run tried.
time_to_ess <- function(formula, data, target = 400, start = 500L, prior = hier_prior()) {
  kept <- start
  tried <- list()
  repeat {
    gc()
    started <- Sys.time()
    f <- fit(formula, data, prior = prior, chains = chains, iter = warmup + kept,
             warmup = warmup, seed = 1, cores = 2, keep = "global")
    seconds <- as.numeric(Sys.time() - started, units = "secs")
    m <- global_mixing(f)
    tried[[length(tried) + 1L]] <- data.frame(kept_per_chain = kept, seconds = seconds,
                                              min_ess_bulk = m$ess, max_rhat = m$rhat)
    if (m$ess >= target || kept >= 64L * start) break
    kept <- 2L * kept
  }
  list(fit = f, seconds = seconds, mixing = m, tried = do.call(rbind, tried),
       sweep_ms = 1000 * attr(f, "hiermod")$elapsed / (chains / 2 * (warmup + kept)))
}

lmer_estimates <- function(m) {
  vc <- as.data.frame(lme4::VarCorr(m))
  sds <- stats::setNames(vc$sdcor, ifelse(vc$grp == "Residual", "sigma",
                                           paste0("sd_", vc$grp, "__Intercept")))
  c(stats::setNames(lme4::fixef(m), paste0("b_", sub("\\(Intercept\\)", "Intercept",
                                                     names(lme4::fixef(m))))), sds)
}

timed_lmer <- function(formula, data, times) {
  timed(function() lme4::lmer(formula, data, REML = TRUE), times = times)
}

# --- 1. InstEval ----------------------------------------------------------
env <- new.env()
utils::data("InstEval", package = "lme4", envir = env)
inst <- env$InstEval
inst_formula <- y ~ service + (1 | s) + (1 | d) + (1 | dept:service)
message("InstEval: lmer")
inst_lmer <- timed_lmer(inst_formula, inst, times = 3L)
message("InstEval: hiermod")
inst_ours <- time_to_ess(inst_formula, inst)
lmer_est <- lmer_estimates(inst_lmer$value)
inst_means <- data.frame(parameter = names(lmer_est), lmer_reml = unname(lmer_est),
                         hiermod_mean = unname(inst_ours$mixing$mean[names(lmer_est)]),
                         hiermod_ess_bulk = unname(inst_ours$mixing$by[names(lmer_est)]))

# --- 2. a subsample, against brms -----------------------------------------
brms_rows <- as.integer(Sys.getenv("BENCH_BRMS_ROWS", "5000"))
set.seed(1)
sub <- inst[sort(sample.int(nrow(inst), brms_rows)), ]
sub[] <- lapply(sub, function(v) if (is.factor(v)) droplevels(v) else v)
brms_table <- NULL
if (nzchar(system.file(package = "brms"))) {
  message("subsample: hiermod")
  iter <- 2000L
  gc()
  started <- Sys.time()
  f_sub <- fit(inst_formula, sub, chains = chains, iter = iter, seed = 1, cores = 2,
               keep = "global")
  ours_seconds <- as.numeric(Sys.time() - started, units = "secs")
  p <- attr(f_sub, "hiermod")$prior
  num <- function(x) format(x, digits = 6)
  priors <- c(
    brms::set_prior(paste0("normal(", num(p$effects[[1]]$mean), ", ", num(p$effects[[1]]$sd),
                           ")"), class = "Intercept"),
    brms::set_prior(paste0("normal(0, ", num(p$effects[[2]]$sd), ")"), class = "b"),
    brms::set_prior(paste0("cauchy(0, ", num(p$levels[[1]]$sds[[1]]$scale), ")"),
                    class = "sd"),
    brms::set_prior(paste0("cauchy(0, ", num(p$sigma$scale), ")"), class = "sigma")
  )
  message("subsample: brms (compiling)")
  # Debian's r-cran-bh leaves Boost's headers in /usr/include (see run_stan()).
  boost <- if (!dir.exists(rstan::rstan_options("boost_lib")) &&
                 dir.exists("/usr/include/boost")) "/usr/include"
  compile <- system.time(
    b0 <- brms::brm(inst_formula, sub, prior = priors, chains = 0, silent = 2, refresh = 0,
                    stan_model_args = list(boost_lib = boost))
  )[["elapsed"]]
  message("subsample: brms (sampling)")
  gc()
  started <- Sys.time()
  b <- stats::update(b0, recompile = FALSE, chains = chains, iter = iter, cores = 2,
                     seed = 1, silent = 2, refresh = 0)
  brms_seconds <- as.numeric(Sys.time() - started, units = "secs")
  globals <- coda::varnames(f_sub)
  brms_array <- posterior::subset_draws(posterior::as_draws_array(b), variable = globals)
  brms_draws <- coda::as.mcmc.list(lapply(seq_len(posterior::nchains(brms_array)), function(c) {
    coda::mcmc(unclass(posterior::as_draws_matrix(posterior::subset_draws(brms_array,
                                                                          chain = c))))
  }))
  rows <- list(list(method = "hiermod (factors, exact)", seconds = ours_seconds,
                    compile = NA, m = mixing(f_sub)),
               list(method = "brms (NUTS, rstan)", seconds = brms_seconds, compile = compile,
                    m = mixing(brms_draws)))
  brms_table <- do.call(rbind, lapply(rows, function(r) {
    data.frame(method = r$method, seconds = r$seconds, compile_s = r$compile,
               min_ess_bulk = r$m$ess_bulk, max_rhat = r$m$rhat,
               ess_per_s = r$m$ess_bulk / r$seconds)
  }))
  brms_table$hiermod_speedup <- brms_table$ess_per_s[1] / brms_table$ess_per_s
  brms_means <- data.frame(parameter = globals,
                           hiermod = unname(rows[[1]]$m$mean[globals]),
                           brms = unname(rows[[2]]$m$mean[globals]))
}

# --- 3. simulated designs --------------------------------------------------
# N rows on ka x kb levels: a's levels drawn with weights 1/sqrt(rank) (a
# few levels with many rows, many with few), b's uniformly; every level has
# a row. Effects sd 0.8 and 0.5, sigma 1, slope 0.5.
simulate_crossed <- function(n, ka, kb, seed = 1) {
  set.seed(seed)
  a <- c(seq_len(ka), sample.int(ka, n - ka, replace = TRUE, prob = 1 / sqrt(seq_len(ka))))
  b <- c(rep_len(seq_len(kb), ka), sample.int(kb, n - ka, replace = TRUE))
  x <- stats::rnorm(n)
  y <- 1 + 0.5 * x + stats::rnorm(ka, 0, 0.8)[a] + stats::rnorm(kb, 0, 0.5)[b] +
    stats::rnorm(n)
  data.frame(y = y, x = x, a = a, b = b)
}
max_n <- as.numeric(Sys.getenv("BENCH_CROSSED_MAX_N", "1e6"))
designs <- data.frame(n = c(1e4, 1e5, 1e6), ka = c(1000, 3000, 1e4), kb = c(100, 300, 1e3))
designs <- designs[designs$n <= max_n, ]
sim_formula <- y ~ x + (1 | a) + (1 | b)
scaling <- do.call(rbind, lapply(seq_len(nrow(designs)), function(i) {
  d <- designs[i, ]
  message("simulated: N = ", format(d$n, scientific = FALSE))
  rows <- simulate_crossed(d$n, d$ka, d$kb)
  kept <- 1000L
  gc()
  started <- Sys.time()
  f <- fit(sim_formula, rows, chains = chains, iter = warmup + kept, warmup = warmup,
           seed = 1, cores = 2, keep = "global")
  seconds <- as.numeric(Sys.time() - started, units = "secs")
  m <- global_mixing(f)
  lmer_s <- timed_lmer(sim_formula, rows, times = 1L)$seconds
  data.frame(rows = d$n, levels = paste(d$ka, "x", d$kb), seconds = seconds,
             sweep_ms = 1000 * attr(f, "hiermod")$elapsed / (chains / 2 * (warmup + kept)),
             min_ess_bulk = m$ess, max_rhat = m$rhat,
             s_per_1000_ess = 1000 * seconds / m$ess, lmer_s = lmer_s)
}))

# --- 4. the two exact schemes where both apply ------------------------------
# Small designs (m = 2 + ka + kb locations) at growing N: seconds per 1,000
# effective draws of each, 2 chains x 2000 sweeps; the default is the one
# the cost rule of R/lmm.R (crossed_samplers()) picks.
small <- data.frame(n = c(1e3, 1e4, 1e5, 1e3, 1e4, 1e5, 1e3, 1e4),
                    ka = c(20, 20, 20, 100, 100, 100, 250, 250),
                    kb = c(10, 10, 10, 50, 50, 50, 120, 120))
schemes <- do.call(rbind, lapply(seq_len(nrow(small)), function(i) {
  d <- small[i, ]
  message("both schemes: N = ", format(d$n, scientific = FALSE), ", ", d$ka, " x ", d$kb)
  rows <- simulate_crossed(d$n, d$ka, d$kb)
  default <- attr(fit(sim_formula, rows, chains = 1L, iter = 2L, seed = 1), "hiermod")$sampler
  do.call(rbind, lapply(c("collapsed", "factors"), function(sampler) {
    gc()
    started <- Sys.time()
    f <- fit(sim_formula, rows, chains = 2L, iter = 2000L, seed = 1, cores = 2,
             keep = "global", sampler = sampler)
    seconds <- as.numeric(Sys.time() - started, units = "secs")
    m <- global_mixing(f)
    data.frame(rows = d$n, levels = paste(d$ka, "x", d$kb), locations = 2 + d$ka + d$kb,
               sampler = sampler, default = sampler == default,
               sweep_ms = 1000 * attr(f, "hiermod")$elapsed / 2000,
               min_ess_bulk = m$ess, s_per_1000_ess = 1000 * seconds / m$ess)
  }))
}))

# --- 5. a factor of nested levels --------------------------------------------
# 10^5 pupils: 100 regions of 10 schools each (sds 0.6 and 0.4), crossed
# with 300 areas (sd 0.5); schools drawn with weights 1/sqrt(rank).
set.seed(5)
n_nested <- 1e5
school <- c(seq_len(1000), sample.int(1000, n_nested - 1000, replace = TRUE,
                                      prob = 1 / sqrt(seq_len(1000))))
pupils <- data.frame(r = (school - 1L) %/% 10L + 1L, s = (school - 1L) %% 10L + 1L,
                     school = school, area = sample.int(300, n_nested, replace = TRUE),
                     x = stats::rnorm(n_nested))
pupils$y <- 1 + 0.5 * pupils$x + stats::rnorm(100, 0, 0.6)[pupils$r] +
  stats::rnorm(1000, 0, 0.4)[school] + stats::rnorm(300, 0, 0.5)[pupils$area] +
  stats::rnorm(n_nested)
nested_runs <- list(
  list(label = "one factor of two levels, r/s, crossed with area",
       formula = y ~ x + (1 | r / s) + (1 | area)),
  list(label = "three crossed factors, r, school and area",
       formula = y ~ x + (1 | r) + (1 | school) + (1 | area))
)
nested <- do.call(rbind, lapply(nested_runs, function(run) {
  message("nested: ", run$label)
  gc()
  started <- Sys.time()
  f <- fit(run$formula, pupils, chains = chains, iter = warmup + 1000L, warmup = warmup,
           seed = 1, cores = 2, keep = "global")
  seconds <- as.numeric(Sys.time() - started, units = "secs")
  m <- global_mixing(f)
  by <- m$by[grepl("^sd_", names(m$by))]
  data.frame(model = run$label, seconds = seconds, min_ess_bulk = m$ess,
             ess_bulk_of_sds = paste(round(by), collapse = " / "),
             s_per_1000_ess = 1000 * seconds / m$ess)
}))
nested_lmer <- timed_lmer(y ~ x + (1 | r / s) + (1 | area), pupils, times = 1L)$seconds

# --- report -----------------------------------------------------------------
lines <- c("# Crossed grouping factors: hiermod against lmer and brms", "",
           paste0("Generated by `Rscript bench/crossed.R` on ", format(Sys.Date()), ", ",
                  R.version$platform, ", ", parallel::detectCores(), " cores. ",
                  "hiermod: its default sampler (the sweep over factors in sections ",
                  "1 to 3), ", chains, " chains on 2 cores, ", warmup,
                  " warm-up sweeps, keep = 'global'; times are whole fit() calls. ",
                  "ESS: the smallest bulk ESS (posterior package) over the fixed effects, ",
                  "sds and sigma. lmer: REML, median of 3 fits (InstEval) or one."), "",
           "## InstEval, `y ~ service + (1 | s) + (1 | d) + (1 | dept:service)`", "",
           paste0("lmer (REML): ", format(inst_lmer$seconds, digits = 3), " s. ",
                  "hiermod to a minimum ESS of 400: ", format(inst_ours$seconds, digits = 3),
                  " s (", format(inst_ours$seconds / inst_lmer$seconds, digits = 2),
                  " x lmer's), ", format(inst_ours$sweep_ms, digits = 3),
                  " ms per sweep of a chain."), "",
           "Runs tried (kept draws per chain doubled until the ESS reached 400):", "",
           md_table(inst_ours$tried), "",
           "Estimates: lmer's REML against hiermod's posterior means (default priors):", "",
           md_table(inst_means), "")
if (!is.null(brms_table)) {
  lines <- c(lines,
             paste0("## A subsample of ", brms_rows, " ratings, against brms"), "",
             paste0("Both with hiermod's default priors for the subsample, written out ",
                    "for brms; 4 chains x 2000 iterations (1000 warm-up) each, on 2 cores; ",
                    "brms's compilation apart."), "",
             md_table(brms_table), "", "Posterior means:", "", md_table(brms_means), "")
}
lines <- c(lines, "## Simulated unbalanced designs, `y ~ x + (1 | a) + (1 | b)`", "",
           paste0("4 chains x ", warmup + 1000L, " sweeps (", warmup, " warm-up). ",
                  "`sweep_ms`: the sampler's time per sweep of one chain."), "",
           md_table(scaling), "")
lines <- c(lines, "## The two exact schemes where both apply", "",
           paste0("`y ~ x + (1 | a) + (1 | b)` on small simulated designs: the collapsed ",
                  "scheme (every location integrated out, a dense Cholesky factor of ",
                  "their precision per density evaluation) against the sweep over ",
                  "factors; 2 chains x 2000 sweeps (1000 warm-up) on 2 cores. ",
                  "`default`: the scheme fit() chooses."), "",
           md_table(schemes), "")
lines <- c(lines, "## A factor of nested levels, crossed with another", "",
           paste0("10^5 rows, 100 regions x 10 schools crossed with 300 areas, ",
                  "`y ~ x + (1 | r/s) + (1 | area)`; 4 chains x ", warmup + 1000L,
                  " sweeps (", warmup, " warm-up). The same model written with each ",
                  "school's own label is three crossed factors, each drawn given the ",
                  "others. `ess_bulk_of_sds`: the sds' in the order of the fit's ",
                  "columns. lmer (REML): ", format(nested_lmer, digits = 3), " s."), "",
           md_table(nested), "")
writeLines(lines, file.path("bench", "CROSSED.md"))
cat(lines, sep = "\n")
