# hiermod against its peers, in one run: JAGS (rjags), the lecture's sweep in
# plain vectorised R, and rstan when installed. Prints three tables and
# writes them to bench/RESULTS.md. Run from the package root:
#   make bench        (installs JAGS and the package first)
suppressPackageStartupMessages(library(hiermod))
source("bench/common.R")
results <- "bench/RESULTS.md"
quick <- nzchar(Sys.getenv("HIERMOD_BENCH_QUICK"))
chains <- 4L
warmup <- 1000L
iter <- warmup + 5000L
samplers <- c("collapsed", "asis", "gibbs")
processes <- if (quick) 2L else 5L
# Installed, not loaded: loading rstan's namespace (TBB and its allocator)
# slows every later fit in this process, hiermod's by a fifth (14.7 to 17.4
# ms on schools), so rstan is loaded only when its own run starts, after
# the others have been timed.
installed <- function(pkg) nzchar(system.file(package = pkg))
have_jags <- installed("rjags")
have_stan <- installed("rstan")
out <- character()
say <- function(...) {
  line <- paste0(...)
  cat(line, "\n", sep = "")
  out <<- c(out, line)
}
show <- function(df) {
  print(df, row.names = FALSE)
  cat("\n")
  out <<- c(out, md_table(df), "")
}

cpu <- sub(".*: ", "", grep("^model name", readLines("/proc/cpuinfo"), value = TRUE)[1])
say("# hiermod benchmark")
say("")
say("Machine: ", cpu, ", ", parallel::detectCores(), " cores; ", R.version.string,
    "; hiermod ", utils::packageVersion("hiermod"),
    if (have_jags) paste0("; JAGS ", rjags::jags.version()) else "; JAGS not installed",
    if (have_stan) paste0("; rstan ", utils::packageVersion("rstan")) else "; rstan not installed",
    ". Date: ", format(Sys.time(), "%Y-%m-%d %H:%M %Z"), ".")
say("")

## 1. The lecture's data ------------------------------------------------------
say("## 1. schools (N = 1,993, K = 100), Hoff's prior, ", chains, " chains x (",
    warmup, " warm-up + ", iter - warmup, " draws)")
say("")
say("Wall time: each method runs in ", processes, " fresh R processes ",
    "(bench/schools-case.R) and the table gives the median over them: where a ",
    "process's buffers happen to fall against 2 MB pages moves a hiermod fit's ",
    "time by up to a third (13.5 to 18 ms for the default sampler), and a ",
    "process that has loaded rstan (TBB) slows every fit in it. In each ",
    "process hiermod's time is the median of 31 runs (2 threads, and 1 thread ",
    "for the default sampler), the peers' one run (their chains run one after ",
    "another); rstan runs once, here, after the others. Every timed run starts ",
    "after gc(), so that none pays for collecting an earlier run's draws. ESS is ",
    "the minimum over mu, sd_b, sd_w and all 100 theta (the draws are the same ",
    "in every process); means are differences from hiermod's default sampler.")
say("")
y <- schools$mathscore
g <- schools$school
prior <- hoff_prior()
rscript <- file.path(R.home("bin"), "Rscript")
in_processes <- function(method, threads) {
  results <- lapply(seq_len(processes), function(i) {
    file <- tempfile(fileext = ".rds")
    status <- system2(rscript, c("bench/schools-case.R", method, threads, file))
    if (status != 0L) stop("bench/schools-case.R ", method, " failed")
    readRDS(file)
  })
  list(draws = results[[1]]$draws,
       seconds = stats::median(vapply(results, `[[`, 0, "seconds")))
}
runs <- list()
for (s in samplers) {
  for (cores in if (s == "collapsed") c(2L, 1L) else 2L) {
    runs[[sprintf("hiermod %s (%d thread%s)", s, cores, if (cores > 1) "s" else "")]] <-
      in_processes(s, cores)
  }
}
if (have_jags) runs[["JAGS (rjags)"]] <- in_processes("jags", 1L)
runs[["plain R Gibbs"]] <- in_processes("plain", 1L)
if (have_stan) {
  r <- run_stan(y, g, prior, chains, iter, warmup, seed = 1)
  runs[[sprintf("rstan (NUTS; compile %.0f s not included)", r$compile)]] <- r
}
reference <- mixing(runs[[1]]$draws)
table1 <- do.call(rbind, lapply(names(runs), function(name) {
  r <- runs[[name]]
  m <- mixing(r$draws)
  data.frame(
    method = name, seconds = round(r$seconds, 3),
    min_ess_coda = round(m$ess_coda), min_ess_bulk = round(m$ess_bulk),
    min_ess_per_s = round(m$ess_bulk / r$seconds),
    max_rhat = round(m$rhat, 4),
    mu = round(m$mean[["mu"]], 3), sd_b = round(m$mean[["sd_b"]], 3),
    sd_w = round(m$mean[["sd_w"]], 3),
    d_mu = signif(m$mean[["mu"]] - reference$mean[["mu"]], 2),
    d_sd_b = signif(m$mean[["sd_b"]] - reference$mean[["sd_b"]], 2),
    d_sd_w = signif(m$mean[["sd_w"]] - reference$mean[["sd_w"]], 2)
  )
}))
show(table1)
ratio <- function(a, b) table1$min_ess_per_s[a] / table1$min_ess_per_s[b]
jags_row <- grep("^JAGS", table1$method)
plain_row <- grep("^plain R", table1$method)
if (length(jags_row)) {
  say("Default sampler (2 threads) against JAGS, min ESS per second: ",
      round(ratio(1, jags_row)), " x; with 1 thread: ", round(ratio(2, jags_row)), " x.")
}
say("Default sampler (2 threads) against plain R, min ESS per second: ",
    round(ratio(1, plain_row)), " x.")
say("")

## 2. Hard regimes -------------------------------------------------------------
hard_chains <- if (quick) 4L else 16L
hard_iter <- if (quick) 2000L else 10000L
say("## 2. Hard regimes: bulk ESS per iteration, ", hard_chains,
    " chains x ", hard_iter, " draws after 1000 warm-up")
say("")
say("i: K = 100 groups of 20, between sd 5, within sd 9, a = b = alpha = beta = 1; ",
    "ii: between sd 0.3, vague Gamma(0.001, 0.001) priors on both precisions; ",
    "v: K = 100 groups of 2, a = b = alpha = beta = 1. All with mu ~ N(50, 100^2). ",
    "iv: Rubin's eight schools, known variances (`se =`), vague G(0.001, 0.001) ",
    "on tau_b and mu ~ N(0, 1000^2); no sd_w, and asis does not apply.")
say("")
regimes <- list(
  "i schools-like" = list(data = simulate_groups(100, 20, 5, 9, seed = 11),
                          prior = hier_prior(mu0 = 50, tau0 = 1e-4, a = 1, b = 1, alpha = 1, beta = 1)),
  "ii weak signal, vague" = list(data = simulate_groups(100, 20, 0.3, 9, seed = 12),
                                 prior = hier_prior(mu0 = 50, tau0 = 1e-4, a = 0.001, b = 0.001,
                                                    alpha = 0.001, beta = 0.001)),
  "iv eight schools, vague" = list(data = transform(eight_schools, group = school),
                                   prior = hier_prior(mu0 = 0, tau0 = 1e-6, a = 0.001,
                                                      b = 0.001), se = TRUE),
  "v n_k = 2" = list(data = simulate_groups(100, 2, 5, 9, seed = 13),
                     prior = hier_prior(mu0 = 50, tau0 = 1e-4, a = 1, b = 1, alpha = 1, beta = 1))
)
table2 <- do.call(rbind, lapply(names(regimes), function(regime) {
  r <- regimes[[regime]]
  known_se <- isTRUE(r$se)
  do.call(rbind, lapply(setdiff(samplers, if (known_se) "asis"), function(s) {
    started <- proc.time()[["elapsed"]]
    args <- list(y ~ group, r$data, prior = r$prior, chains = hard_chains,
                 iter = 1000L + hard_iter, warmup = 1000L, seed = 5, sampler = s)
    if (known_se) args$se <- r$data$se
    f <- do.call(fit, args)
    seconds <- proc.time()[["elapsed"]] - started
    m <- mixing(f)
    per_iter <- m$ess_bulk_by / (hard_chains * hard_iter)
    data.frame(regime = regime, sampler = s,
               mu = round(per_iter[["mu"]], 3), sd_b = round(per_iter[["sd_b"]], 3),
               sd_w = if (known_se) NA else round(per_iter[["sd_w"]], 3),
               min_theta = round(min(per_iter[grep("^theta", names(per_iter))]), 3),
               max_rhat = round(m$rhat, 3), seconds = round(seconds, 2))
  }))
}))
show(table2)

## 3. Scaling ------------------------------------------------------------------
sizes <- if (quick) c(100L, 1000L) else c(100L, 1000L, 10000L, 100000L)
say("## 3. Scaling: K groups of 20 rows (N = 20 K), 4 chains x 2000 iterations ",
    "(1000 warm-up), keep = \"global\", 2 threads")
say("")
say("Each case runs in a fresh R process; peak memory is that process's peak ",
    "resident set (R itself, the simulated data frame and the fit). Seconds per ",
    "1000 sweeps = wall time x threads / (chains x iterations / 1000). JAGS ",
    "(one chain after another, 1 thread) runs where it takes under ~3 minutes.")
say("")
rscript <- file.path(R.home("bin"), "Rscript")
table3 <- do.call(rbind, lapply(sizes, function(k) {
  tools <- c(samplers, if (have_jags && k <= 1000L) "jags")
  do.call(rbind, lapply(tools, function(tool) {
    res <- system2(rscript, c("bench/scaling-case.R", tool, k), stdout = TRUE)
    v <- as.numeric(strsplit(tail(res, 1L), " ")[[1]])
    threads <- if (tool == "jags") 1 else 2
    data.frame(K = k, N = 20 * k, method = tool, seconds = round(v[1], 2),
               s_per_1000_sweeps = signif(v[1] * threads / (4 * 2000 / 1000), 3),
               peak_mb = round(v[2]))
  }))
}))
show(table3)

if (!quick) writeLines(out, results)
cat("written to", if (quick) "(quick run: not written)" else results, "\n")
