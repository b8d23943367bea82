# Full simulation-based calibration report: every sampler that applies on
# every design (hiermod:::sbc_designs(): the two-level model in five regimes
# and each other model), `reps` replications each. Writes rank histograms
# (PNG) and a table of p-values to calibration/REPORT.md and exits non-zero
# if the report as a whole fails. Run by `make calibrate`.
library(hiermod)
reps <- as.integer(Sys.getenv("HIERMOD_SBC_REPS", "4000"))
seed <- as.integer(Sys.getenv("HIERMOD_SBC_SEED", "2026"))
out_dir <- "calibration"
dir.create(out_dir, showWarnings = FALSE)
unlink(file.path(out_dir, "ranks-*.png"))
designs <- hiermod:::sbc_designs()

# Up to four parameters per design for the histograms: the global ones,
# then the first group mean.
shown_parameters <- function(design) {
  names <- hiermod:::sbc_parameter_names(design)
  effect <- grep("^theta", names, value = TRUE)[1L]
  globals <- setdiff(names[!grepl("\\[", names)], "nu0")
  utils::head(c(utils::head(globals, if (is.na(effect)) 4L else 3L),
                stats::na.omit(effect)), 4L)
}
slug <- function(name) gsub("[^a-z0-9]+", "-", tolower(name))

rows <- list()
# every test's p-value, for the report-wide verdict
p_values <- numeric()
for (design in designs) {
  samplers <- hiermod:::sbc_samplers(design)
  shown <- shown_parameters(design)
  png_file <- file.path(out_dir, paste0("ranks-", slug(design$name), ".png"))
  grDevices::png(png_file, width = 1200, height = 250 * length(samplers),
                 res = 100)
  graphics::par(mfrow = c(length(samplers), 4L), mar = c(3, 3, 2.5, 1),
                mgp = c(1.8, 0.6, 0))
  for (sampler in samplers) {
    started <- proc.time()[["elapsed"]]
    ranks <- hiermod:::sbc_ranks(design, sampler, reps, seed = seed)
    seconds <- proc.time()[["elapsed"]] - started
    u <- hiermod:::sbc_uniformity(ranks, design$draws)
    p_values <- c(p_values, u)
    worst <- which.min(pmin(u[, "chisq"], u[, "ks"]))
    rows[[length(rows) + 1L]] <- data.frame(
      design = design$name, sampler = sampler,
      groups = paste(c(vapply(design$parents, length, 1L), if (!length(design$parents)) 1L),
                     collapse = "/"),
      N = sum(design$sizes), reps = reps, parameters = nrow(u),
      min_p_chisq = signif(min(u[, "chisq"]), 3),
      min_p_ks = signif(min(u[, "ks"]), 3),
      worst = rownames(u)[worst],
      bonferroni_0.01 = if (hiermod:::sbc_passes(u)) "pass" else "FAIL",
      seconds = round(seconds, 1)
    )
    bins <- 20L
    for (j in seq_len(4L)) {
      if (j > length(shown)) {
        graphics::plot.new()
        next
      }
      graphics::hist(ranks[, shown[j]], breaks = seq(-0.5, design$draws + 0.5,
                                                     length.out = bins + 1L),
                     main = paste0(sampler, ": ", shown[j]),
                     xlab = "rank", col = "grey80", border = "white")
      band <- stats::qbinom(c(0.005, 0.995), reps, 1 / bins)
      graphics::rect(-1, band[1], design$draws + 1, band[2],
                     col = grDevices::adjustcolor("steelblue", 0.2),
                     border = NA)
      graphics::abline(h = reps / bins, col = "steelblue")
    }
    cat(sprintf("%-16s %-9s %6.1f s  smallest p: chi-square %.3g, KS %.3g\n",
                design$name, sampler, seconds, min(u[, "chisq"]),
                min(u[, "ks"])))
  }
  invisible(grDevices::dev.off())
}
# The groups of each level of a regression design, top first ("1": none).
lmm_groups <- function(design) {
  model <- hiermod:::sbc_lmm_model(design)$model
  if (length(model$levels) == 0L) return("1")
  paste(vapply(model$levels, function(l) length(l$labels), 1L),
        collapse = if (isTRUE(model$crossed)) " x " else "/")
}
# The regression designs (hiermod:::sbc_lmm_designs()), each with the
# sampler it names, else the model's own (the collapsed one).
lmm_designs <- hiermod:::sbc_lmm_designs()
for (design in lmm_designs) {
  started <- proc.time()[["elapsed"]]
  ranks <- hiermod:::sbc_lmm_ranks(design, reps, seed = seed)
  seconds <- proc.time()[["elapsed"]] - started
  u <- hiermod:::sbc_uniformity(ranks, design$draws)
  p_values <- c(p_values, u)
  worst <- which.min(pmin(u[, "chisq"], u[, "ks"]))
  rows[[length(rows) + 1L]] <- data.frame(
    design = design$name, sampler = if (is.null(design$sampler)) "collapsed" else design$sampler,
    groups = lmm_groups(design),
    N = nrow(design$rows), reps = reps, parameters = nrow(u),
    min_p_chisq = signif(min(u[, "chisq"]), 3), min_p_ks = signif(min(u[, "ks"]), 3),
    worst = rownames(u)[worst],
    bonferroni_0.01 = if (hiermod:::sbc_passes(u)) "pass" else "FAIL",
    seconds = round(seconds, 1)
  )
  cat(sprintf("%-40s %6.1f s  smallest p: chi-square %.3g, KS %.3g\n", design$name,
              seconds, min(u[, "chisq"]), min(u[, "ks"])))
}
table <- do.call(rbind, rows)
# A report of some forty runs, each judged at 0.01, would fail a correct
# sampler one time in three: the verdict that gates is Bonferroni over all
# of the report's tests; each run's own stays in the table.
threshold <- 0.01 / length(p_values)
passed <- min(p_values) >= threshold
worst_run <- which.min(pmin(table$min_p_chisq, table$min_p_ks))

describe_lmm_design <- function(d) {
  m <- hiermod:::sbc_lmm_model(d)
  priors <- hiermod:::lmm_prior_table(m$prior, m$spec)
  sprintf("- **%s**: `%s`, %d rows; %s", d$name, deparse1(d$formula), nrow(d$rows),
          paste(priors$parameter, "~", priors$prior, collapse = ", "))
}

describe_design <- function(d) {
  p <- d$prior
  depth <- length(d$parents)
  model <- if (depth == 0L) "one normal sample" else {
    paste0(depth + 1L, " levels (", paste(vapply(d$parents, length, 1L),
                                          collapse = " / "), " groups)")
  }
  # every prior as the fit resolves it (the designs give every value)
  resolved <- hiermod:::resolve_prior(p, list(mean = 0, var = 1), depth, d$within,
                                      hiermod:::sd_parameter_names(depth, paste0("g", seq_len(depth))))
  priors <- hiermod:::prior_table(resolved)
  within <- if (d$within == "known") {
    paste0("; known se ", paste(signif(d$se, 3), collapse = ", "))
  } else ""
  sprintf("- **%s**: %s, sizes %s; %s%s", d$name, model, paste(d$sizes, collapse = ", "),
          paste(priors$parameter, "~", priors$prior, collapse = ", "), within)
}

md <- c(
  "# Simulation-based calibration report",
  "",
  sprintf("Generated by `make calibrate` on %s (R %s, hiermod %s).",
          format(Sys.Date()), getRversion(), utils::packageVersion("hiermod")),
  "",
  paste0("Each replication draws every parameter from the prior (mu, the ",
         "precisions, the group means of every level, the within-group ",
         "variances), simulates the data, fits one chain (warm-up 200, then ",
         "99 draws thinned by 5) and records the rank of each true value ",
         "among the 99 draws (0..99; ties of the discrete nu0 broken at ",
         "random). For a correct sampler the ranks are uniform. Tests per ",
         "parameter: chi-square on 10 bins and Kolmogorov-Smirnov; a design ",
         "passes when every p-value exceeds 0.01 divided by the number of ",
         "tests (Bonferroni), shown per run in the table. Every parameter ",
         "of the model is tested."),
  "",
  sprintf(paste0("**Verdict over all %d tests of the report (Bonferroni, 0.01 / %d = %.2g): ",
                 "%s.** The smallest p-value is %.3g (%s, %s, %s). A run's own verdict ",
                 "judges it alone at 0.01, so a correct sampler reads FAIL there in about ",
                 "1%% of the %d runs."),
          length(p_values), length(p_values), threshold, if (passed) "pass" else "FAIL",
          min(p_values), table$design[worst_run], table$sampler[worst_run],
          table$worst[worst_run], nrow(table)),
  "",
  "Designs (group sizes; prior):",
  "",
  vapply(designs, describe_design, ""),
  "",
  paste0("Regression designs (formula; prior), the covariates fixed across replications; ",
         "each replication fits one chain, warm-up 200, then 99 draws thinned by 2:"),
  "",
  vapply(lmm_designs, describe_lmm_design, ""),
  "",
  paste0("| ", paste(names(table), collapse = " | "), " |"),
  paste0("|", paste(rep("---", ncol(table)), collapse = "|"), "|"),
  apply(table, 1L, function(r) paste0("| ", paste(r, collapse = " | "), " |")),
  "",
  "Rank histograms (20 bins; the band is the central 99% of a bin's count",
  "under uniformity), one row per sampler:",
  "",
  unlist(lapply(designs, function(d) {
    c(paste0("### ", d$name), "", paste0("![", d$name, "](ranks-", slug(d$name), ".png)"), "")
  }))
)
writeLines(md, file.path(out_dir, "REPORT.md"))
cat("report written to", file.path(out_dir, "REPORT.md"), "\n")
cat(sprintf("smallest p-value %.3g against %.3g over %d tests\n", min(p_values), threshold,
            length(p_values)))
if (!passed) {
  cat("calibration FAILED\n")
  quit(status = 1L)
}
