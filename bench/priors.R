# The reference for choosing hiermod's default prior on the standard
# deviations: on R's own grouped data sets (a Gaussian response, one grouping
# factor or two nested ones, no covariates), every sd by lme4's REML and the
# posterior median and 90% central interval under rstanarm's and brms's
# default priors. Writes bench/PRIORS.md (one table) and
# inst/extdata/priors-reference.csv (the same numbers, long, for tests and the
# vignette). Run from the package root:
#   make bench-priors     (about 12 minutes on 2 cores, nearly 10 of them brms's: it
#                          compiles each model, about 30 s)
# Environment:
#   HIERMOD_PRIORS_REUSE=1  take REML, rstanarm and brms from the CSV instead
#                           of refitting (for when only hiermod's column changes)
#   HIERMOD_PRIORS_BRMS=0   skip brms (its column is left empty)
#
# Parameters are named sd_<factor> for each grouping level and sd_w for the
# residual sd; a fitter is a function(spec) returning one row per parameter
# (parameter, median, q05, q95, rhat, ess_bulk) with the fit's seconds and
# divergent transitions as attributes. A method's column is filled by adding
# its fitter to `fitters` (hiermod's is the placeholder at the end).
suppressPackageStartupMessages({
  library(lme4)
  library(rstanarm) # stan_lmer() calls stan_glmer() by its bare name
})
source("bench/common.R")
out_md <- "bench/PRIORS.md"
out_csv <- "inst/extdata/priors-reference.csv"
chains <- 4L
iter <- 2000L
seed <- 1L
reuse <- identical(Sys.getenv("HIERMOD_PRIORS_REUSE"), "1")
have_brms <- !identical(Sys.getenv("HIERMOD_PRIORS_BRMS"), "0") &&
  requireNamespace("brms", quietly = TRUE)
reference_methods <- c("REML", "rstanarm", "brms")

## Data sets -------------------------------------------------------------------
# `factors` outermost first; every grouping column becomes an unordered factor
# (nlme's are ordered, schools' are integers) and nothing else is kept.
spec <- function(source, data, response, factors) {
  data <- as.data.frame(data)[c(response, factors)]
  for (f in factors) data[[f]] <- factor(as.character(data[[f]]))
  list(source = source, data = data, response = response, factors = factors,
       formula = paste(response, "~", paste(factors, collapse = "/")))
}
load("data/schools.rda") # the package's own, without needing it installed
specs <- list(
  spec("lme4::Dyestuff", lme4::Dyestuff, "Yield", "Batch"),
  spec("lme4::Dyestuff2", lme4::Dyestuff2, "Yield", "Batch"),
  spec("lme4::Penicillin", lme4::Penicillin, "diameter", "plate"),
  spec("lme4::Penicillin", lme4::Penicillin, "diameter", "sample"),
  spec("nlme::Rail", nlme::Rail, "travel", "Rail"),
  # Team ignoring Method: REML's between-team sd is 0.
  spec("nlme::Gun", nlme::Gun, "rounds", "Team"),
  # Lot ignoring age: REML's between-lot sd is a tenth of the residual's.
  spec("nlme::IGF", nlme::IGF, "conc", "Lot"),
  spec("lme4::Pastes", lme4::Pastes, "strength", c("batch", "cask")),
  spec("nlme::Oats", nlme::Oats, "yield", c("Block", "Variety")),
  spec("lme4::sleepstudy", lme4::sleepstudy, "Reaction", "Subject"),
  spec("hiermod::schools", schools, "mathscore", "school"),
  spec("inst/extdata/coagulation.csv",
       utils::read.csv("inst/extdata/coagulation.csv"), "coag", "diet")
)

sd_names <- function(s) c(paste0("sd_", s$factors), "sd_w")
# Groups at each level (distinct paths down to it); sd_w's row shows the
# innermost level's, the groups it is the within-group sd of.
level_sizes <- function(s) {
  k <- vapply(seq_along(s$factors), function(i) {
    nrow(unique(s$data[s$factors[seq_len(i)]]))
  }, integer(1))
  c(k, k[length(k)])
}
# lme4's and rstanarm's name of level i of a nested term: "b:a" for (1 | a/b).
lme4_group <- function(s, i) paste(rev(s$factors[seq_len(i)]), collapse = ":")
# brms names it "a:b".
brms_group <- function(s, i) paste(s$factors[seq_len(i)], collapse = ":")
mixed_formula <- function(s) {
  stats::as.formula(paste(s$response, "~ 1 + (1 |", paste(s$factors, collapse = "/"), ")"))
}

## Fitters ---------------------------------------------------------------------
# Medians, 90% intervals, R-hat and bulk ESS of a draws array whose variables
# are already the sds, named as sd_names().
summarise_sds <- function(draws, seconds, divergent) {
  s <- posterior::summarise_draws(draws, "median", "quantile2", "rhat", "ess_bulk")
  rows <- data.frame(parameter = s$variable, median = s$median, q05 = s$q5, q95 = s$q95,
                     rhat = s$rhat, ess_bulk = s$ess_bulk)
  structure(rows, seconds = seconds, divergent = divergent)
}

elapsed <- function(expr) {
  started <- proc.time()[["elapsed"]]
  value <- expr
  list(value = value, seconds = proc.time()[["elapsed"]] - started)
}

fit_reml <- function(s) {
  t <- elapsed(suppressMessages(lme4::lmer(mixed_formula(s), data = s$data, REML = TRUE)))
  vc <- as.data.frame(lme4::VarCorr(t$value))
  groups <- c(vapply(seq_along(s$factors), function(i) lme4_group(s, i), ""), "Residual")
  est <- vc$sdcor[match(groups, vc$grp)]
  structure(data.frame(parameter = sd_names(s), median = est, q05 = NA_real_,
                       q95 = NA_real_, rhat = NA_real_, ess_bulk = NA_real_),
            seconds = t$seconds, divergent = NA_integer_)
}

# rstanarm's default: decov(1, 1, 1, 1) on the covariance (scaled by sigma for
# a Gaussian response), exponential(1 / sd(y)) on sigma. Its Sigma[...] draws
# are variances.
fit_rstanarm <- function(s) {
  t <- elapsed(suppressWarnings(rstanarm::stan_lmer(
    mixed_formula(s), data = s$data, chains = chains, iter = iter, seed = seed,
    refresh = 0, cores = 2L
  )))
  variances <- paste0("Sigma[", vapply(seq_along(s$factors), function(i) lme4_group(s, i), ""),
                      ":(Intercept),(Intercept)]")
  a <- as.array(t$value, pars = c(variances, "sigma"))
  a[, , variances] <- sqrt(a[, , variances])
  dimnames(a)[[3]] <- sd_names(s)
  summarise_sds(posterior::as_draws_array(a), t$seconds,
                rstan::get_num_divergent(t$value$stanfit))
}

# brms's default: student_t(3, 0, max(2.5, mad(y))) on every sd and on sigma.
fit_brms <- function(s) {
  # Debian's r-cran-bh leaves Boost's headers in /usr/include (see run_stan()).
  boost <- if (!dir.exists(rstan::rstan_options("boost_lib")) &&
               dir.exists("/usr/include/boost")) "/usr/include"
  t <- elapsed(suppressWarnings(brms::brm(
    mixed_formula(s), data = s$data, chains = chains, iter = iter, seed = seed,
    refresh = 0, cores = 2L, silent = 2, stan_model_args = list(boost_lib = boost)
  )))
  variables <- c(paste0("sd_", vapply(seq_along(s$factors), function(i) brms_group(s, i), ""),
                        "__Intercept"), "sigma")
  a <- posterior::as_draws_array(t$value, variable = variables)
  posterior::variables(a) <- sd_names(s)
  summarise_sds(a, t$seconds, rstan::get_num_divergent(t$value$fit))
}

# hiermod with a given prior (it names a single level's sd sd_b). Its column
# is left empty until the new default exists: then `hiermod = fit_hiermod`
# (or function(s) fit_hiermod(s, prior)) in `fitters` fills it, and
# HIERMOD_PRIORS_REUSE=1 refits only hiermod.
fit_hiermod <- function(s, prior = hiermod::hier_prior()) {
  t <- elapsed(hiermod::fit(stats::as.formula(s$formula), s$data, prior = prior,
                            chains = chains, iter = iter, seed = seed, keep = "global"))
  levels <- if (length(s$factors) == 1L) "sd_b" else paste0("sd_", s$factors)
  a <- posterior::as_draws_array(t$value[, c(levels, "sd_w")])
  posterior::variables(a) <- sd_names(s)
  summarise_sds(a, t$seconds, NA_integer_)
}

fitters <- list(REML = fit_reml, rstanarm = fit_rstanarm,
                brms = if (have_brms) fit_brms, hiermod = fit_hiermod,
                hiermod_lecture = function(s) {
                  fit_hiermod(s, hiermod::hier_prior(a = 1 / 2, alpha = 1 / 2))
                })

## Run ---------------------------------------------------------------------------
cached <- if (reuse) utils::read.csv(out_csv, stringsAsFactors = FALSE)
rows <- list()
started <- proc.time()[["elapsed"]]
for (s in specs) {
  base <- data.frame(source = s$source, formula = s$formula, parameter = sd_names(s),
                     n = nrow(s$data), k = level_sizes(s))
  for (m in names(fitters)) {
    if (reuse && m %in% reference_methods) {
      r <- cached[cached$source == s$source & cached$formula == s$formula &
                    cached$method == m, , drop = FALSE]
      if (nrow(r) > 0L) rows[[length(rows) + 1L]] <- r
      next
    }
    if (is.null(fitters[[m]])) next
    cat(sprintf("%-30s %-22s %-9s", s$source, s$formula, m))
    r <- fitters[[m]](s)
    cat(sprintf(" %6.1f s\n", attr(r, "seconds")))
    rows[[length(rows) + 1L]] <- cbind(base, method = m,
                                       r[match(base$parameter, r$parameter), -1L],
                                       divergent = attr(r, "divergent"),
                                       seconds = attr(r, "seconds"))
  }
}
results <- do.call(rbind, rows)
total <- proc.time()[["elapsed"]] - started
reference <- results[results$method %in% reference_methods, ]
numeric_columns <- c("median", "q05", "q95", "rhat", "ess_bulk", "seconds")
reference[numeric_columns] <- lapply(reference[numeric_columns], signif, digits = 6)
utils::write.csv(reference, out_csv, row.names = FALSE)

## Report ------------------------------------------------------------------------
num <- function(x) {
  ifelse(is.na(x), "", ifelse(x == 0, "0", sub("\\.$", "", formatC(signif(x, 3), digits = 3,
                                                                      format = "fg", flag = "#"))))
}
interval <- function(r) {
  ifelse(is.na(r$median), "",
         ifelse(is.na(r$q05), num(r$median),
                paste0(num(r$median), " [", num(r$q05), ", ", num(r$q95), "]")))
}
keys <- unique(results[c("source", "formula", "parameter", "n", "k")])
cell <- function(m) {
  r <- results[results$method == m, ]
  r <- r[match(paste(keys$source, keys$formula, keys$parameter),
               paste(r$source, r$formula, r$parameter)), ]
  if (nrow(r) == 0L) rep("", nrow(keys)) else interval(r)
}
table <- data.frame(
  data = paste0(sub("^inst/extdata/", "", keys$source), ": `", keys$formula, "`"),
  parameter = keys$parameter, n = keys$n, K = keys$k, REML = cell("REML"),
  rstanarm = cell("rstanarm"), brms = cell("brms"), hiermod = cell("hiermod"),
  `hiermod, the lecture's Gamma` = cell("hiermod_lecture"), check.names = FALSE
)
names(table)[6:9] <- paste(names(table)[6:9], "median [5%, 95%]")
# Does each prior's 90% interval hold REML where REML is positive, and
# where REML is 0, how far down does the 5% quantile reach (as a share of
# the residual sd's REML estimate)?
reml <- results[results$method == "REML", ]
coverage <- do.call(rbind, lapply(setdiff(unique(results$method), "REML"), function(m) {
  r <- merge(reml[c("source", "formula", "parameter", "median")],
             results[results$method == m, c("source", "formula", "parameter", "q05", "q95")])
  positive <- r$median > 0
  data.frame(method = m, `REML inside the 90% interval` =
               paste(sum(r$median[positive] >= r$q05[positive] &
                           r$median[positive] <= r$q95[positive]), "of", sum(positive)),
             `where REML is 0: 5% quantile` = paste(num(r$q05[!positive]), collapse = ", "),
             check.names = FALSE)
}))

fits <- unique(results[results$method != "REML", c("source", "formula", "method")])
diag <- do.call(rbind, lapply(seq_len(nrow(fits)), function(i) {
  r <- merge(results, fits[i, ])
  data.frame(data = paste0(sub("^inst/extdata/", "", fits$source[i]), ": `",
                           fits$formula[i], "`"),
             method = fits$method[i], seconds = round(r$seconds[1], 1),
             divergent = r$divergent[1], `max R-hat` = round(max(r$rhat), 3),
             `min bulk ESS` = round(min(r$ess_bulk)), check.names = FALSE)
}))

fit_minutes <- tapply(diag$seconds, diag$method, sum) / 60
fit_minutes <- fit_minutes[unique(diag$method)]
versions <- vapply(c("lme4", "rstanarm", "brms", "rstan"), function(p) {
  if (!requireNamespace(p, quietly = TRUE)) return(paste(p, "absent"))
  paste(p, utils::packageVersion(p))
}, "")
md <- c(
  "# Priors on the standard deviations: the reference",
  "",
  paste0("Written by `bench/priors.R` (`make bench-priors`); the numbers are also in ",
         "`inst/extdata/priors-reference.csv`. ", R.version.string, "; ",
         paste(versions, collapse = ", "), ". ", chains, " chains of ", iter,
         " iterations (half warm-up), seed ", seed, ". The fits took ",
         paste(sprintf("%.1f minutes (%s)", fit_minutes, names(fit_minutes)), collapse = ", "),
         if (reuse) "; the reference columns were read from the CSV", ". Date: ",
         format(Sys.time(), "%Y-%m-%d"), "."),
  "",
  paste0("Each data set is fitted as `y ~ 1 + (1 | g)` (or `(1 | a/b)`), no covariates. ",
         "REML is lme4's estimate. rstanarm and brms use their default priors: rstanarm ",
         "`decov(1, 1, 1, 1)` on the covariance (scaled by sigma for a Gaussian response) and ",
         "`exponential(1 / sd(y))` on sigma; brms `student_t(3, 0, max(2.5, mad(y)))` on every ",
         "sd and on sigma. So rstanarm's prior on a single level's sd is sigma times tau, ",
         "tau ~ Gamma(1, 1): an exponential(1) on the ratio of the two sds; brms's scale ",
         "stops at 2.5, so that it does not follow a change of units where mad(y) < 2.5 ",
         "(here IGF, mad 0.47, and Penicillin, mad 1.48). ",
         "Their columns are the posterior median and the 5% and 95% quantiles. ",
         "K is the number of groups at that level (for sd_w the innermost level's)."),
  "",
  md_table(table),
  "",
  paste0("hiermod's default puts a half-Cauchy with scale sd(y) on every sd; ",
         "`hier_prior(a = 1/2, alpha = 1/2)` is the lecture's Gamma on each precision, ",
         "G(1/2, var(y)/2), hiermod's default before it."),
  "",
  md_table(coverage),
  "",
  "## Sampler diagnostics",
  "",
  paste0("Seconds include brms's compilation (about a minute a model). R-hat and bulk ESS ",
         "(the posterior package's) are over the sds only; divergent: NUTS's divergent ",
         "transitions after warm-up, out of ", chains * iter / 2, " draws."),
  "",
  md_table(diag)
)
writeLines(md, out_md)
cat(sprintf("wrote %s and %s in %.1f minutes\n", out_md, out_csv, total / 60))
