# posteriordb's radon models on radon_mn, with the priors of their .stan
# files, fitted by hiermod and, independently, by a long JAGS run of the
# same model written as the .stan files write it. Writes bench/RADON.md:
# per model, the largest |z| over every parameter of the difference of the
# two posterior means in units of their combined Monte Carlo standard
# error, and both methods' time and minimum ESS.
#
# posteriordb's data are log(activity + 0.1) and log(uppm + 0.1) (its
# data-raw/radon script); the rows are the same homes. Its priors put
# normal(0, 10) on the raw intercept; hiermod's intercept prior is on the
# mean response at the predictors' means (as rstanarm and brms put it).
# With a prior sd of 10 against a posterior sd near 0.05 the two differ by
# a prior precision weight of about 3e-5, far below what the runs can
# resolve; the table would show it otherwise.

source(file.path("bench", "common.R"))
suppressPackageStartupMessages(library(hiermod))

radon <- utils::read.csv(system.file("extdata", "radon_mn.csv", package = "hiermod"))
radon$y <- log(radon$activity + 0.1)
radon$log_uppm <- log(radon$uppm + 0.1)
radon$county <- factor(radon$county)
jags_data <- list(N = nrow(radon), J = nlevels(radon$county), y = radon$y,
                  floor = radon$floor, u = radon$log_uppm,
                  county = as.integer(radon$county))

hn <- normal(0, 1)
wide <- normal(0, 10)
# Each model: hiermod's formula and prior; the JAGS code; the JAGS nodes
# monitored and, for each hiermod column compared, the expression of JAGS
# draws that gives it.
models <- list(
  radon_pooled = list(
    formula = y ~ 1 + floor,
    prior = hier_prior(Intercept = wide, b = wide, sigma = hn),
    jags = "model {
      for (n in 1:N) { y[n] ~ dnorm(alpha + beta * floor[n], 1 / sigma_y^2) }
      alpha ~ dnorm(0, 0.01); beta ~ dnorm(0, 0.01); sigma_y ~ dnorm(0, 1) T(0,)
    }",
    map = list(b_Intercept = "alpha", b_floor = "beta", sigma = "sigma_y")
  ),
  radon_county_intercept = list(
    formula = y ~ 0 + county + floor,
    prior = hier_prior(b = wide, sigma = hn),
    jags = "model {
      for (n in 1:N) { y[n] ~ dnorm(alpha[county[n]] + beta * floor[n], 1 / sigma_y^2) }
      for (j in 1:J) { alpha[j] ~ dnorm(0, 0.01) }
      beta ~ dnorm(0, 0.01); sigma_y ~ dnorm(0, 1) T(0,)
    }",
    map = c(list(b_floor = "beta", sigma = "sigma_y"),
            stats::setNames(as.list(paste0("alpha[", 1:85, "]")), paste0("b_county", 1:85)))
  ),
  radon_partially_pooled = list(
    formula = y ~ (1 | county),
    prior = hier_prior(mu = wide, sd_b = hn, sd_w = hn),
    jags = "model {
      for (n in 1:N) { y[n] ~ dnorm(alpha[county[n]], 1 / sigma_y^2) }
      for (j in 1:J) { alpha[j] ~ dnorm(mu_alpha, 1 / sigma_alpha^2) }
      mu_alpha ~ dnorm(0, 0.01); sigma_alpha ~ dnorm(0, 1) T(0,); sigma_y ~ dnorm(0, 1) T(0,)
    }",
    map = c(list(mu = "mu_alpha", sd_b = "sigma_alpha", sd_w = "sigma_y"),
            stats::setNames(as.list(paste0("alpha[", 1:85, "]")), paste0("theta[", 1:85, "]")))
  ),
  radon_variable_intercept = list(
    formula = y ~ floor + (1 | county),
    prior = hier_prior(Intercept = wide, b = wide, sd = hn, sigma = hn),
    jags = "model {
      for (n in 1:N) { y[n] ~ dnorm(alpha[county[n]] + beta * floor[n], 1 / sigma_y^2) }
      for (j in 1:J) { alpha[j] ~ dnorm(mu_alpha, 1 / sigma_alpha^2); r[j] <- alpha[j] - mu_alpha }
      mu_alpha ~ dnorm(0, 0.01); beta ~ dnorm(0, 0.01)
      sigma_alpha ~ dnorm(0, 1) T(0,); sigma_y ~ dnorm(0, 1) T(0,)
    }",
    map = c(list(b_Intercept = "mu_alpha", b_floor = "beta",
                 sd_county__Intercept = "sigma_alpha", sigma = "sigma_y"),
            stats::setNames(as.list(paste0("r[", 1:85, "]")),
                            paste0("r_county[", 1:85, ",Intercept]")))
  ),
  radon_hierarchical_intercept = list(
    formula = y ~ log_uppm + floor + (1 | county),
    prior = hier_prior(Intercept = wide, b = wide, sd = hn, sigma = hn),
    jags = "model {
      for (n in 1:N) {
        y[n] ~ dnorm(alpha[county[n]] + u[n] * beta[1] + floor[n] * beta[2], 1 / sigma_y^2)
      }
      for (j in 1:J) { alpha[j] ~ dnorm(mu_alpha, 1 / sigma_alpha^2); r[j] <- alpha[j] - mu_alpha }
      mu_alpha ~ dnorm(0, 0.01); beta[1] ~ dnorm(0, 0.01); beta[2] ~ dnorm(0, 0.01)
      sigma_alpha ~ dnorm(0, 1) T(0,); sigma_y ~ dnorm(0, 1) T(0,)
    }",
    map = c(list(b_Intercept = "mu_alpha", b_log_uppm = "beta[1]", b_floor = "beta[2]",
                 sd_county__Intercept = "sigma_alpha", sigma = "sigma_y"),
            stats::setNames(as.list(paste0("r[", 1:85, "]")),
                            paste0("r_county[", 1:85, ",Intercept]")))
  ),
  radon_variable_slope = list(
    formula = y ~ 1 + floor + (0 + floor | county),
    prior = hier_prior(Intercept = wide, b = wide, sd = hn, sigma = hn),
    jags = "model {
      for (n in 1:N) { y[n] ~ dnorm(alpha + floor[n] * beta[county[n]], 1 / sigma_y^2) }
      for (j in 1:J) { beta[j] ~ dnorm(mu_beta, 1 / sigma_beta^2); r[j] <- beta[j] - mu_beta }
      alpha ~ dnorm(0, 0.01); mu_beta ~ dnorm(0, 0.01)
      sigma_beta ~ dnorm(0, 1) T(0,); sigma_y ~ dnorm(0, 1) T(0,)
    }",
    map = c(list(b_Intercept = "alpha", b_floor = "mu_beta",
                 sd_county__floor = "sigma_beta", sigma = "sigma_y"),
            stats::setNames(as.list(paste0("r[", 1:85, "]")),
                            paste0("r_county[", 1:85, ",floor]")))
  ),
  radon_variable_intercept_slope = list(
    formula = y ~ floor + (floor || county),
    prior = hier_prior(Intercept = wide, b = wide, sd = hn, sigma = hn),
    jags = "model {
      for (n in 1:N) {
        y[n] ~ dnorm(alpha[county[n]] + floor[n] * beta[county[n]], 1 / sigma_y^2)
      }
      for (j in 1:J) {
        alpha[j] ~ dnorm(mu_alpha, 1 / sigma_alpha^2); ra[j] <- alpha[j] - mu_alpha
        beta[j] ~ dnorm(mu_beta, 1 / sigma_beta^2); rb[j] <- beta[j] - mu_beta
      }
      mu_alpha ~ dnorm(0, 0.01); mu_beta ~ dnorm(0, 0.01)
      sigma_alpha ~ dnorm(0, 1) T(0,); sigma_beta ~ dnorm(0, 1) T(0,); sigma_y ~ dnorm(0, 1) T(0,)
    }",
    map = c(list(b_Intercept = "mu_alpha", b_floor = "mu_beta",
                 sd_county__Intercept = "sigma_alpha", sd_county__floor = "sigma_beta",
                 sigma = "sigma_y"),
            stats::setNames(as.list(paste0("ra[", 1:85, "]")),
                            paste0("r_county[", 1:85, ",Intercept]")),
            stats::setNames(as.list(paste0("rb[", 1:85, "]")),
                            paste0("r_county[", 1:85, ",floor]")))
  )
)

# Posterior mean and its Monte Carlo standard error (posterior's mcse_mean)
# of each column of a coda mcmc.list.
mean_and_mcse <- function(draws) {
  s <- posterior::summarise_draws(posterior::as_draws_array(draws), "mean", "mcse_mean",
                                  "ess_bulk")
  data.frame(parameter = s$variable, mean = s$mean, mcse = s$mcse_mean, ess = s$ess_bulk)
}

jags_iter <- as.integer(Sys.getenv("RADON_JAGS_ITER", "25000"))
rows <- lapply(names(models), function(name) {
  m <- models[[name]]
  message(name)
  ours <- timed(function() {
    fit(m$formula, radon, prior = m$prior, chains = 4, iter = 2000, seed = 1, cores = 2)
  })
  f <- ours$value
  a <- mean_and_mcse(f[, names(m$map)])
  monitor <- unique(sub("\\[.*", "", unlist(m$map)))
  jags <- jags_draws(m$jags, jags_data, monitor, TRUE, 4L, jags_iter, 2000L, seed = 1)
  b <- mean_and_mcse(jags$draws[, unlist(m$map)])
  z <- (a$mean - b$mean) / sqrt(a$mcse^2 + b$mcse^2)
  data.frame(posterior = paste0("radon_mn-", name), parameters = length(z),
             max_abs_z = max(abs(z)), worst = a$parameter[which.max(abs(z))],
             hiermod_s = ours$seconds, hiermod_min_ess = min(a$ess),
             jags_s = jags$seconds, jags_min_ess = min(b$ess))
})
table <- do.call(rbind, rows)
lines <- c("# posteriordb's radon models: hiermod against a long JAGS run", "",
           paste0("Generated by `Rscript bench/radon.R` on ", format(Sys.Date()), ", ",
                  parallel::detectCores(), " cores. hiermod: 4 chains x 2000 iterations ",
                  "(1000 warm-up), median of 5 fits; JAGS: 4 chains x ", jags_iter,
                  " iterations (2000 burn-in), the model as the .stan file writes it ",
                  "(centred, raw intercepts). `max_abs_z`: over every parameter (group ",
                  "effects included), |difference of posterior means| / sqrt(MCSE_1^2 + ",
                  "MCSE_2^2); below 4 is agreement. See the script's header on the ",
                  "intercept's prior."), "", md_table(table))
writeLines(lines, file.path("bench", "RADON.md"))
cat(lines, sep = "\n")
