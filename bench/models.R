# Every model of hiermod against JAGS on a fixed data set: posterior means
# of every parameter, z = difference / combined Monte Carlo standard error.
# Writes bench/MODELS.md. Run from the package root: make bench-models
suppressPackageStartupMessages(library(hiermod))
source("bench/common.R")
if (!requireNamespace("rjags", quietly = TRUE)) {
  stop("rjags is not installed: run `bash dev/install-deps.sh bench`")
}
results <- "bench/MODELS.md"
out <- character()
say <- function(...) {
  line <- paste0(...)
  cat(line, "\n", sep = "")
  out <<- c(out, line)
}
chains <- 4L
warmup <- 1000L
iter <- warmup + 10000L

# z-scores of hiermod's posterior means against JAGS's, for every column.
agreement <- function(model, data_name, f, jags, jags_seconds) {
  summarise <- function(x) {
    s <- posterior::summarise_draws(posterior::as_draws_array(x), "mean",
                                    "mcse_mean", "ess_bulk")
    # plain numbers, not the posterior package's formatted columns
    data.frame(variable = s$variable, mean = as.numeric(s$mean),
               mcse_mean = as.numeric(s$mcse_mean), ess_bulk = as.numeric(s$ess_bulk))
  }
  h <- summarise(f)
  j <- summarise(jags)
  z <- (h$mean - j$mean) / sqrt(h$mcse_mean^2 + j$mcse_mean^2)
  worst <- which.max(abs(z))
  data.frame(model = model, data = data_name, parameters = nrow(h),
             max_abs_z = round(max(abs(z)), 2), worst = h$variable[worst],
             within_4_mcse = if (all(abs(z) < 4)) "yes" else "NO",
             hiermod_s = signif(fit_info(f)$elapsed, 3), jags_s = signif(jags_seconds, 3),
             min_ess_per_s_ratio = round(
               (min(h$ess_bulk) / fit_info(f)$elapsed) /
                 (min(j$ess_bulk) / jags_seconds)),
             stringsAsFactors = FALSE)
}

rows <- list()

## y ~ 1 on the schools' scores
y <- schools$mathscore
p1 <- hier_prior(mu0 = 50, tau0 = 1 / 25, a = 1 / 2, b = 50)
f <- fit(mathscore ~ 1, schools, prior = p1, chains = chains, iter = iter,
         warmup = warmup, seed = 1)
j <- jags_draws("model {
  for (i in 1:N) { y[i] ~ dnorm(mu, tau) }
  mu ~ dnorm(mu0, tau0)
  tau ~ dgamma(a, b)
  sd <- 1 / sqrt(tau)
}", list(y = y, N = length(y), mu0 = 50, tau0 = 1 / 25, a = 1 / 2, b = 50),
  c("mu", "sd"), c("mu", "sd"), chains, iter, warmup, 1)
rows[[1]] <- agreement("one normal sample", "schools", f, j$draws, j$seconds)

## students in schools in regions
d <- regions
p3 <- hier_prior(mu0 = 50, tau0 = 1 / 100, a = c(1, 1), b = c(10, 10),
                 alpha = 1, beta = 50)
f <- fit(score ~ region/school, d, prior = p3, chains = chains, iter = iter,
         warmup = warmup, seed = 1)
st <- group_stats(f)
school <- match(paste(d$region, d$school, sep = "/"), st$group)
region_of_school <- fit_info(f)$nodes[[2]]$parent
j <- jags_draws("model {
  for (i in 1:N) { y[i] ~ dnorm(theta_school[s[i]], tau_w) }
  for (k in 1:J) { theta_school[k] ~ dnorm(theta_region[r[k]], tau_school) }
  for (m in 1:R) { theta_region[m] ~ dnorm(mu, tau_region) }
  mu ~ dnorm(mu0, tau0)
  tau_region ~ dgamma(a1, b1)
  tau_school ~ dgamma(a2, b2)
  tau_w ~ dgamma(alpha, beta)
  sd_region <- 1 / sqrt(tau_region)
  sd_school <- 1 / sqrt(tau_school)
  sd_w <- 1 / sqrt(tau_w)
}", list(y = d$score, s = school, r = region_of_school, N = nrow(d),
         J = nrow(st), R = 8L, mu0 = 50, tau0 = 1 / 100, a1 = 1, b1 = 10, a2 = 1,
         b2 = 10, alpha = 1, beta = 50),
  c("mu", "sd_region", "sd_school", "sd_w", "theta_region", "theta_school"),
  c("mu", "sd_region", "sd_school", "sd_w", paste0("theta_region[", 1:8, "]"),
    paste0("theta_school[", seq_len(nrow(st)), "]")), chains, iter, warmup, 1)
jd <- j$draws
for (c in seq_along(jd)) colnames(jd[[c]]) <- coda::varnames(f)
rows[[2]] <- agreement("three levels", "regions", f, jd, j$seconds)

## eight schools, known standard errors
es <- eight_schools
p8 <- hier_prior(mu0 = 0, tau0 = 1e-4, a = 1, b = 25)
f <- fit(y ~ school, es, se = se, prior = p8, chains = chains, iter = iter,
         warmup = warmup, seed = 1)
j <- jags_draws("model {
  for (k in 1:K) {
    y[k] ~ dnorm(theta[k], 1 / se[k]^2)
    theta[k] ~ dnorm(mu, tau_b)
  }
  mu ~ dnorm(mu0, tau0)
  tau_b ~ dgamma(a, b)
  sd_b <- 1 / sqrt(tau_b)
}", list(y = es$y, se = es$se, K = 8L, mu0 = 0, tau0 = 1e-4, a = 1, b = 25),
  c("mu", "sd_b", "theta"), c("mu", "sd_b", paste0("theta[", 1:8, "]")),
  chains, iter, warmup, 1)
jd <- j$draws
for (c in seq_along(jd)) colnames(jd[[c]]) <- coda::varnames(f)
rows[[3]] <- agreement("known se", "eight schools", f, jd, j$seconds)

## group-specific variances (Hoff 8.5); nu0's support shortened for JAGS
pg <- hier_prior(mu0 = 50, tau0 = 1 / 25, a = 1 / 2, b = 50, a0 = 1,
                 b0 = 1 / 100, lambda = 1, nu_max = 100)
f <- fit(mathscore ~ school, schools, within = "group", prior = pg,
         chains = chains, iter = iter, warmup = warmup, seed = 1)
j <- jags_draws("model {
  for (i in 1:N) { y[i] ~ dnorm(theta[g[i]], prec[g[i]]) }
  for (k in 1:K) {
    theta[k] ~ dnorm(mu, tau_b)
    prec[k] ~ dgamma(nu0 / 2, nu0 * s2 / 2)
    sd_w[k] <- 1 / sqrt(prec[k])
  }
  mu ~ dnorm(mu0, tau0)
  tau_b ~ dgamma(a, b)
  s2 ~ dgamma(a0, b0)
  for (v in 1:nu_max) { w[v] <- exp(-lambda * v) }
  nu0 ~ dcat(w[])
  sd_b <- 1 / sqrt(tau_b)
  sd_w0 <- sqrt(s2)
}", list(y = y, g = schools$school, N = length(y), K = 100L, mu0 = 50,
         tau0 = 1 / 25, a = 1 / 2, b = 50, a0 = 1, b0 = 1 / 100, lambda = 1,
         nu_max = 100),
  c("mu", "sd_b", "sd_w0", "nu0", "theta", "sd_w"),
  c("mu", "sd_b", "sd_w0", "nu0", paste0("theta[", 1:100, "]"),
    paste0("sd_w[", 1:100, "]")), chains, iter, warmup, 1)
rows[[4]] <- agreement("group variances", "schools", f, j$draws, j$seconds)

table <- do.call(rbind, rows)
cpu <- sub(".*: ", "", grep("^model name", readLines("/proc/cpuinfo"), value = TRUE)[1])
say("# hiermod's models against JAGS")
say("")
say("Machine: ", cpu, "; ", R.version.string, "; hiermod ",
    utils::packageVersion("hiermod"), "; JAGS ", rjags::jags.version(), ". Date: ",
    format(Sys.time(), "%Y-%m-%d %H:%M %Z"), ".")
say("")
say("Each model fitted by hiermod (default sampler, 2 threads) and by JAGS, ",
    "both ", chains, " chains x (", warmup, " warm-up + ", iter - warmup,
    " draws), same data and prior. For every parameter (globals and every ",
    "group's), z = (hiermod mean - JAGS mean) / sqrt(mcse_h^2 + mcse_j^2); ",
    "`max_abs_z` is the largest over all parameters. The last column is ",
    "hiermod's minimum bulk ESS per second over JAGS's.")
say("")
print(table, row.names = FALSE)
out <- c(out, md_table(table))
writeLines(out, results)
cat("\nwritten to", results, "\n")
if (any(table$within_4_mcse != "yes")) quit(status = 1L)
