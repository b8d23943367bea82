# Varying intercepts and slopes: hiermod against lmer (REML), JAGS and rstan
# on the same data and the same priors, in one run. Writes bench/LMM.md.
#
# Models: sleepstudy, Reaction ~ Days + (Days | Subject) (lme4's example,
# 18 subjects); radon, log_radon ~ floor + (floor | county) (Gelman and
# Hill's varying intercept and slope, 919 homes in 85 counties). Priors:
# hiermod's defaults, written out for the peers (the intercept's normal on
# the mean response at the predictors' means, half-Cauchy sds, LKJ(1) on the
# 2 x 2 correlation, which is uniform on rho). Each sampler: 4 chains of
# 2000 iterations, 1000 of them warm-up; minimum bulk ESS (posterior's
# definition) over every parameter, group coefficients included.

source(file.path("bench", "common.R"))
suppressPackageStartupMessages({
  library(hiermod)
})

cases <- local({
  env <- new.env()
  utils::data("sleepstudy", package = "lme4", envir = env)
  radon <- utils::read.csv(system.file("extdata", "radon_mn.csv", package = "hiermod"))
  list(
    sleepstudy = list(data = env$sleepstudy, y = "Reaction", x = "Days", g = "Subject",
                      formula = Reaction ~ Days + (Days | Subject)),
    radon = list(data = radon, y = "log_radon", x = "floor", g = "county",
                 formula = log_radon ~ floor + (floor | county))
  )
})

# The default priors of a hiermod fit, as numbers the peers read.
prior_numbers <- function(f) {
  p <- fit_meta_prior(f)
  sds <- p$levels[[1]]$sds
  list(m_int = p$effects[[1]]$mean, s_int = p$effects[[1]]$sd,
       s_slope = p$effects[[2]]$sd, scale_sd1 = sds[[1]]$scale,
       scale_sd2 = sds[[2]]$scale, scale_sigma = p$sigma$scale)
}
fit_meta_prior <- function(f) attr(f, "hiermod")$prior

jags_lmm <- "
model {
  for (j in 1:J) { b[j, 1:2] ~ dmnorm(zero, omega) }
  for (i in 1:N) {
    y[i] ~ dnorm(beta0 + beta1 * x[i] + b[g[i], 1] + b[g[i], 2] * x[i], 1 / sigma^2)
  }
  centred ~ dnorm(m_int, 1 / s_int^2)
  beta1 ~ dnorm(0, 1 / s_slope^2)
  beta0 <- centred - xbar * beta1
  sd1 ~ dt(0, 1 / scale_sd1^2, 1) T(0,)
  sd2 ~ dt(0, 1 / scale_sd2^2, 1) T(0,)
  sigma ~ dt(0, 1 / scale_sigma^2, 1) T(0,)
  rho ~ dunif(-1, 1)
  cov[1, 1] <- sd1^2
  cov[2, 2] <- sd2^2
  cov[1, 2] <- rho * sd1 * sd2
  cov[2, 1] <- cov[1, 2]
  omega <- inverse(cov)
}"

stan_lmm <- function(version = rstan::stan_version()) {
  new <- utils::compareVersion(version, "2.26") >= 0
  g <- if (new) "array[N] int g;" else "int g[N];"
  paste0("
  data { int N; int J; ", g, " vector[N] x; vector[N] y; real xbar;
         real m_int; real s_int; real s_slope; real scale_sd1; real scale_sd2;
         real scale_sigma; }
  parameters { real centred; real beta1; vector<lower=0>[2] sds; real<lower=0> sigma;
               cholesky_factor_corr[2] L; matrix[2, J] z; }
  transformed parameters {
    matrix[J, 2] b = (diag_pre_multiply(sds, L) * z)';
    real beta0 = centred - xbar * beta1;
  }
  model {
    centred ~ normal(m_int, s_int); beta1 ~ normal(0, s_slope);
    sds[1] ~ cauchy(0, scale_sd1); sds[2] ~ cauchy(0, scale_sd2);
    sigma ~ cauchy(0, scale_sigma); L ~ lkj_corr_cholesky(1);
    to_vector(z) ~ std_normal();
    y ~ normal(beta0 + beta1 * x + b[g, 1] + b[g, 2] .* x, sigma);
  }
  generated quantities { real rho = L[2, 1]; }")
}

peer_data <- function(case, prior) {
  d <- case$data
  g <- as.integer(factor(d[[case$g]]))
  x <- as.double(d[[case$x]])
  c(list(N = nrow(d), J = max(g), g = g, x = x, y = as.double(d[[case$y]]),
         xbar = mean(x)), prior)
}

# The peers' draws renamed as hiermod names them, in its column order.
rename_peer <- function(draws, case, j) {
  g <- case$g
  map <- c(beta0 = "b_Intercept", beta1 = paste0("b_", case$x),
           `sds[1]` = paste0("sd_", g, "__Intercept"), sd1 = paste0("sd_", g, "__Intercept"),
           `sds[2]` = paste0("sd_", g, "__", case$x), sd2 = paste0("sd_", g, "__", case$x),
           rho = paste0("cor_", g, "__Intercept__", case$x), sigma = "sigma")
  labels <- levels(factor(case$data[[g]]))
  for (k in 1:2) {
    coef <- c("Intercept", case$x)[k]
    map[paste0("b[", seq_len(j), ",", k, "]")] <- paste0("r_", g, "[", labels, ",", coef, "]")
  }
  coda::as.mcmc.list(lapply(draws, function(chain) {
    m <- as.matrix(chain)
    keep <- colnames(m) %in% names(map)
    m <- m[, keep, drop = FALSE]
    colnames(m) <- map[colnames(m)]
    coda::mcmc(m)
  }))
}

run_case <- function(name, case) {
  message("case ", name)
  chains <- 4L
  iter <- 2000L
  warmup <- 1000L
  ours <- timed(function() {
    fit(case$formula, case$data, chains = chains, iter = iter, warmup = warmup,
        seed = 1, cores = 2)
  }, times = 11L)
  f <- ours$value
  prior <- prior_numbers(f)
  lmer <- timed(function() lme4::lmer(case$formula, case$data), times = 11L)
  data <- peer_data(case, prior)
  jags_data <- c(data[c("N", "J", "g", "x", "y", "xbar", "m_int", "s_int", "s_slope",
                         "scale_sd1", "scale_sd2", "scale_sigma")], list(zero = c(0, 0)))
  jags <- jags_draws(jags_lmm, jags_data, c("beta0", "beta1", "sd1", "sd2", "rho", "sigma", "b"),
                     TRUE, chains, iter, warmup, seed = 1)
  jags$draws <- rename_peer(jags$draws, case, data$J)
  rows <- list(
    list(method = "hiermod (collapsed, exact)", seconds = ours$seconds, compile = NA,
         m = mixing(f)),
    list(method = "JAGS (Gibbs)", seconds = jags$seconds, compile = NA, m = mixing(jags$draws))
  )
  if (nzchar(system.file(package = "rstan"))) {
    boost <- if (!dir.exists(rstan::rstan_options("boost_lib")) &&
                   dir.exists("/usr/include/boost")) "/usr/include"
    compile <- system.time(
      sm <- rstan::stan_model(model_code = stan_lmm(), boost_lib = boost)
    )[["elapsed"]]
    gc()
    started <- proc.time()[["elapsed"]]
    sf <- rstan::sampling(sm, data = data, chains = chains, iter = iter, warmup = warmup,
                          seed = 1, refresh = 0, cores = 2)
    seconds <- proc.time()[["elapsed"]] - started
    draws <- rename_peer(rstan::As.mcmc.list(sf, pars = c("beta0", "beta1", "sds", "rho",
                                                          "sigma", "b")), case, data$J)
    rows[[3]] <- list(method = "rstan (NUTS)", seconds = seconds, compile = compile,
                      m = mixing(draws))
  }
  table <- do.call(rbind, lapply(rows, function(r) {
    data.frame(method = r$method, seconds = r$seconds, compile_s = r$compile,
               min_ess_bulk = r$m$ess_bulk, max_rhat = r$m$rhat,
               ess_per_s = r$m$ess_bulk / r$seconds)
  }))
  ref <- table$ess_per_s[1]
  table$hiermod_speedup <- ref / table$ess_per_s
  means <- do.call(cbind, lapply(rows, function(r) {
    r$m$mean[names(rows[[1]]$m$mean)][1:6]
  }))
  colnames(means) <- vapply(rows, function(r) r$method, "")
  list(name = name, table = table, means = means, lmer_seconds = lmer$seconds,
       hiermod_seconds = ours$seconds)
}

results <- lapply(names(cases), function(n) run_case(n, cases[[n]]))

lines <- c("# Varying intercepts and slopes: hiermod against lmer, JAGS and rstan", "",
           paste0("Generated by `Rscript bench/lmm.R` on ", format(Sys.Date()), ", ",
                  R.version$platform, ", ", parallel::detectCores(), " cores. ",
                  "4 chains x 2000 iterations (1000 warm-up) for every sampler; ",
                  "hiermod's time is the median of 11 fits, lmer's of 11 REML fits. ",
                  "`min_ess_bulk`: the smallest bulk ESS (posterior package) over every ",
                  "parameter, group coefficients included; `seconds`: sampling ",
                  "(warm-up included), rstan's compilation apart. Same priors for all ",
                  "(hiermod's defaults, written out for the peers)."), "")
for (r in results) {
  lines <- c(lines, paste0("## ", r$name), "", md_table(r$table), "",
             paste0("lmer (REML) fit: ", format(r$lmer_seconds, digits = 3),
                    " s; hiermod's default fit: ", format(r$hiermod_seconds, digits = 3),
                    " s (", format(r$hiermod_seconds / r$lmer_seconds, digits = 3),
                    " x lmer's)."), "",
             "Posterior means (first six parameters):", "",
             md_table(cbind(data.frame(parameter = rownames(r$means)),
                            as.data.frame(r$means, optional = TRUE))), "")
}
writeLines(lines, file.path("bench", "LMM.md"))
cat(lines, sep = "\n")
