# Shared pieces of the benchmark scripts: peers, metrics, simulated data.

hoff_prior <- function() {
  hiermod::hier_prior(mu0 = 50, tau0 = 1 / 25, a = 1 / 2, b = 50,
                      alpha = 1 / 2, beta = 50)
}

# Simulated grouped data: K groups of `size` rows, between sd and within sd.
simulate_groups <- function(k, size, sd_b, sd_w, mu = 50, seed = 1) {
  set.seed(seed)
  sizes <- if (length(size) == 1L) rep(size, k) else size
  theta <- stats::rnorm(k, mu, sd_b)
  group <- rep(seq_len(k), sizes)
  data.frame(y = stats::rnorm(length(group), theta[group], sd_w), group = group)
}

# The lecture's sweep written in plain vectorised R on the sufficient
# statistics: the baseline a student would write.
plain_r_gibbs <- function(y, group, prior, chains, iter, warmup, seed) {
  set.seed(seed)
  n <- as.vector(table(group))
  ybar <- as.vector(tapply(y, group, mean))
  ss <- sum((y - ybar[group])^2)
  k <- length(n)
  big_n <- sum(n)
  p <- prior
  draws <- lapply(seq_len(chains), function(chain) {
    theta <- ybar
    tau_b <- 1 / stats::var(ybar)
    tau_w <- (big_n - k) / ss
    out <- matrix(NA_real_, iter - warmup, k + 3L)
    for (it in seq_len(iter)) {
      prec <- k * tau_b + p$tau0
      mu <- stats::rnorm(1L, (k * tau_b * mean(theta) + p$tau0 * p$mu0) / prec,
                         1 / sqrt(prec))
      tau_b <- stats::rgamma(1L, p$a + k / 2, p$b + sum((theta - mu)^2) / 2)
      prec_k <- n * tau_w + tau_b
      theta <- stats::rnorm(k, (n * tau_w * ybar + tau_b * mu) / prec_k,
                            1 / sqrt(prec_k))
      tau_w <- stats::rgamma(1L, p$alpha + big_n / 2,
                             p$beta + (ss + sum(n * (ybar - theta)^2)) / 2)
      if (it > warmup) {
        out[it - warmup, ] <- c(mu, 1 / sqrt(tau_b), 1 / sqrt(tau_w), theta)
      }
    }
    colnames(out) <- c("mu", "sd_b", "sd_w", paste0("theta[", seq_len(k), "]"))
    coda::mcmc(out, start = warmup + 1)
  })
  coda::mcmc.list(draws)
}

jags_model <- "
model {
  for (i in 1:N) { y[i] ~ dnorm(theta[g[i]], tau_w) }
  for (k in 1:K) { theta[k] ~ dnorm(mu, tau_b) }
  mu ~ dnorm(mu0, tau0)
  tau_b ~ dgamma(a, b)
  tau_w ~ dgamma(alpha, beta)
  sd_b <- 1 / sqrt(tau_b)
  sd_w <- 1 / sqrt(tau_w)
}"

# JAGS on the same model (dnorm takes a precision, dgamma a rate, as the
# lecture). Returns the draws, named like hiermod's, and the seconds spent.
run_jags <- function(y, group, prior, chains, iter, warmup, seed) {
  k <- length(unique(group))
  data <- c(list(y = y, g = as.integer(group), N = length(y), K = k),
            unclass(prior)[c("mu0", "tau0", "a", "b", "alpha", "beta")])
  order <- c("mu", "sd_b", "sd_w", paste0("theta[", seq_len(k), "]"))
  jags_draws(jags_model, data, c("mu", "sd_b", "sd_w", "theta"), order,
             chains, iter, warmup, seed)
}

# The same model in Stan. Integer arrays are declared `int g[N];` up to Stan
# 2.25 (Debian 12's rstan is 2.21) and `array[N] int g;` from 2.26, the only
# form Stan 2.33 and later accept; 2.26 to 2.32 take both.
stan_code <- function(version = rstan::stan_version()) {
  g <- if (utils::compareVersion(version, "2.26") >= 0) "array[N] int g;" else "int g[N];"
  paste0("
  data { int N; int K; ", g, " vector[N] y;
         real mu0; real tau0; real a; real b; real alpha; real beta; }
  parameters { real mu; real<lower=0> tau_b; real<lower=0> tau_w; vector[K] theta; }
  model { mu ~ normal(mu0, 1 / sqrt(tau0)); tau_b ~ gamma(a, b); tau_w ~ gamma(alpha, beta);
          theta ~ normal(mu, 1 / sqrt(tau_b)); y ~ normal(theta[g], 1 / sqrt(tau_w)); }
  generated quantities { real sd_b = 1 / sqrt(tau_b); real sd_w = 1 / sqrt(tau_w); }")
}

# rstan (NUTS) on the same model: the draws, named like hiermod's, the
# seconds spent sampling and, apart, the seconds spent compiling.
run_stan <- function(y, group, prior, chains, iter, warmup, seed) {
  # Debian's r-cran-bh leaves Boost's headers in /usr/include (libboost-dev),
  # not in the BH package, where rstan looks for them.
  boost <- if (!dir.exists(rstan::rstan_options("boost_lib")) &&
               dir.exists("/usr/include/boost")) "/usr/include"
  compile <- system.time(
    sm <- rstan::stan_model(model_code = stan_code(), boost_lib = boost)
  )[["elapsed"]]
  k <- length(unique(group))
  data <- c(list(N = length(y), K = k, g = as.integer(group), y = y),
            unclass(prior)[c("mu0", "tau0", "a", "b", "alpha", "beta")])
  gc()
  started <- proc.time()[["elapsed"]]
  sf <- rstan::sampling(sm, data = data, chains = chains, iter = iter,
                        warmup = warmup, seed = seed, refresh = 0, cores = 2)
  seconds <- proc.time()[["elapsed"]] - started
  draws <- rstan::As.mcmc.list(sf, pars = c("mu", "sd_b", "sd_w", "theta"))
  list(draws = draws, seconds = seconds, compile = compile)
}

# Runs a JAGS model from its text; returns the draws of `monitor` (columns
# in the order `order`) and the seconds spent.
jags_draws <- function(code, data, monitor, order, chains, iter, warmup, seed) {
  inits <- lapply(seq_len(chains), function(c) {
    list(.RNG.name = "base::Mersenne-Twister", .RNG.seed = seed + c)
  })
  gc()
  started <- proc.time()[["elapsed"]]
  model <- rjags::jags.model(textConnection(code), data = data,
                             inits = inits, n.chains = chains, quiet = TRUE,
                             n.adapt = 0)
  stats::update(model, warmup, progress.bar = "none")
  draws <- rjags::coda.samples(model, monitor, iter - warmup,
                               progress.bar = "none")
  seconds <- proc.time()[["elapsed"]] - started
  list(draws = draws[, order], seconds = seconds)
}

# Minimum effective sample sizes (coda's spectral ESS and the rank-normalised
# bulk ESS of the posterior package), maximum R-hat and posterior means.
mixing <- function(draws) {
  arr <- posterior::as_draws_array(draws)
  s <- posterior::summarise_draws(arr, mean = mean, "ess_bulk", "rhat")
  list(
    ess_coda = min(coda::effectiveSize(draws)),
    ess_bulk = min(as.numeric(s$ess_bulk)),
    ess_bulk_by = stats::setNames(as.numeric(s$ess_bulk), s$variable),
    rhat = max(as.numeric(s$rhat)),
    mean = stats::setNames(as.numeric(s$mean), s$variable)
  )
}

# The median of `times` evaluations' elapsed seconds, and the last value.
timed <- function(expr_fn, times = 5L) {
  expr_fn() # once untimed: first-call costs are not the sampler's
  seconds <- numeric(times)
  for (i in seq_len(times)) {
    # Earlier runs' garbage is collected before the clock starts, as for the
    # peers (jags_draws()), so that no run pays for another's.
    gc()
    # Sys.time() counts microseconds; proc.time() only milliseconds, too
    # coarse for a fit of about 12 ms.
    started <- Sys.time()
    value <- expr_fn()
    seconds[i] <- as.numeric(Sys.time() - started, units = "secs")
  }
  list(value = value, seconds = stats::median(seconds))
}

md_table <- function(df) {
  fmt <- vapply(df, function(col) {
    if (is.numeric(col)) format(col, digits = 3, big.mark = ",") else as.character(col)
  }, character(nrow(df)))
  if (is.null(dim(fmt))) fmt <- matrix(fmt, nrow = 1L)
  c(paste0("| ", paste(names(df), collapse = " | "), " |"),
    paste0("|", paste(rep("---", ncol(df)), collapse = "|"), "|"),
    apply(fmt, 1L, function(r) paste0("| ", paste(r, collapse = " | "), " |")))
}

peak_rss_mb <- function() {
  status <- readLines("/proc/self/status")
  kb <- as.numeric(gsub("[^0-9]", "", grep("^VmHWM", status, value = TRUE)))
  kb / 1024
}

# The databases benchmark's table: N rows in K groups (group sizes vary),
# group means sd 5 around 50, within sd 9. Columns g (integer) and y.
bench_rows <- function(n, k, seed = 1) {
  set.seed(seed)
  g <- sample.int(k, n, replace = TRUE)
  data.frame(g = g, y = 50 + 5 * stats::rnorm(k)[g] + 9 * stats::rnorm(n))
}
