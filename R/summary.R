# Parameter names of a fit selected by exact names, "theta" (every group
# mean) or regular expressions, as brms and bayesplot users expect.
select_pars <- function(x, pars, arg = "pars") {
  names <- coda::varnames(x)
  if (!is.character(pars) || length(pars) == 0L || anyNA(pars)) {
    hm_abort(arg, "must be a character vector of parameter names or ",
             "regular expressions.")
  }
  picked <- unlist(lapply(pars, function(p) {
    if (p %in% names) return(p)
    if (identical(p, "theta")) p <- "^theta(_[^[]*)?\\["
    hits <- tryCatch(grep(p, names, value = TRUE), error = function(e) character())
    if (length(hits) == 0L) {
      hm_abort(arg, "matches no parameter: \"", p, "\" (parameters: ",
               paste(utils::head(names, 5L), collapse = ", "),
               if (length(names) > 5L) ", ...", ").")
    }
    hits
  }))
  unique(picked)
}

#' Summarise a fitted hierarchical model
#'
#' A header like brms's (model, data, draws, sampler, seed, prior) and, for
#' each selected parameter, the posterior mean, sd and quantiles, the Monte
#' Carlo standard error of the mean, bulk and tail effective sample sizes and
#' the rank-normalised R-hat (Vehtari et al. 2021), as the \pkg{posterior}
#' package defines them (its `summarise_draws()` gives the same numbers);
#' hiermod computes them for all parameters at once, so that the summary of
#' thousands of group means takes seconds, and posterior need not be
#' installed. Printing warns when an R-hat exceeds 1.01 or an ESS is below
#' 400.
#'
#' @param object A `hiermod_fit`.
#' @param pars Parameters: exact names, `"theta"` for every group mean, or
#'   regular expressions (e.g. `"theta\\\\[1"`). Default: the global
#'   parameters (`mu`, the standard deviations and, with `within = "group"`,
#'   `sd_w0` and `nu0`).
#' @param probs Quantiles to report.
#' @param ... Not used: an argument given here is an error.
#' @return An object of class `summary.hiermod_fit`: a list with `table` (a
#'   data frame, one row per parameter), `diagnostics` (`"posterior"`: the
#'   definitions used) and the fit's settings.
#' @examples
#' f <- fit(mathscore ~ school, schools, chains = 2, iter = 1000, seed = 1)
#' summary(f)
#' summary(f, pars = c("mu", "theta\\[1[0-2]\\]"))
#' @export
summary.hiermod_fit <- function(object, pars = NULL,
                                probs = c(0.025, 0.5, 0.975), ...) {
  check_fit(object, "object")
  check_dots(list(...), "summary()")
  if (is.null(pars)) pars <- spec_globals(fit_spec(object))
  structure(list(table = summary_table(object, pars, probs), diagnostics = "posterior",
                 meta = fit_meta(object), n_kept = coda::niter(object)),
            class = "summary.hiermod_fit")
}

# The summary table of the parameters `pars` (names, "theta" or regular
# expressions) of a fit: mean, sd, quantiles `probs`, MCSE, ESS, R-hat.
summary_table <- function(object, pars, probs) {
  pars <- select_pars(object, pars)
  check_probs(probs)
  s <- column_summaries(object, probs, pars)
  diag <- convergence(object, pars)
  data.frame(mean = s[, 1L], sd = diag$sd, s[, -1L, drop = FALSE],
             mcse_mean = diag$mcse_mean, ess_bulk = diag$ess_bulk,
             ess_tail = diag$ess_tail, rhat = diag$rhat, check.names = FALSE,
             row.names = pars)
}

# The convergence diagnostics of the columns `pars` of a fit, as the
# posterior package defines them (computed in Rust, column by column:
# hiermod_core::diagnostics): sd, MCSE of the mean, bulk and tail ESS,
# rank-normalised split R-hat; NA where posterior gives NA.
convergence <- function(x, pars) {
  chains <- draw_matrices(x)
  n <- nrow(chains[[1L]])
  # the normal scores of every average rank of the split draws
  split <- if (n > 1L) 2L * length(chains) * (n %/% 2L) else length(chains) * n
  scores <- stats::qnorm(((seq_len(2L * split - 1L) + 1) / 2 - 3 / 8) / (split + 1 / 4))
  columns <- if (is.character(pars)) match(pars, colnames(chains[[1L]])) else pars
  out <- hm_diagnostics(chains, as.integer(columns), scores)
  out <- glue_result(out, "x", "summarised")
  out[is.nan(out)] <- NA_real_
  list(sd = out[, 1L], mcse_mean = out[, 1L] / sqrt(out[, 2L]),
       ess_bulk = out[, 3L], ess_tail = out[, 4L], rhat = out[, 5L])
}

# The chains of a fit (or a list of matrices) as plain double matrices.
draw_matrices <- function(chains) {
  lapply(chains, function(m) {
    m <- unclass(m)
    attr(m, "mcpar") <- NULL
    storage.mode(m) <- "double"
    m
  })
}

# Lines that warn about poor convergence in a summary table.
convergence_warnings <- function(table) {
  out <- character()
  high <- rownames(table)[!is.na(table$rhat) & table$rhat > 1.01]
  low <- rownames(table)[pmin(table$ess_bulk, table$ess_tail) < 400]
  if (length(high)) {
    out <- c(out, paste0("Warning: R-hat above 1.01 for ", name_list(high),
                         ": the chains have not mixed; run longer."))
  }
  if (length(low)) {
    out <- c(out, paste0("Warning: effective sample size below 400 for ",
                         name_list(low), ": estimates are imprecise; run longer."))
  }
  out
}

name_list <- function(x, n = 5L) {
  paste0(paste(utils::head(x, n), collapse = ", "),
         if (length(x) > n) sprintf(" and %d more", length(x) - n))
}

#' @export
print.summary.hiermod_fit <- function(x, digits = 3, ...) {
  digits <- check_count(digits, "digits", 1L, 22L)
  meta <- x$meta
  s <- meta$settings
  cat(" Model: hierarchical normal, ", spec_title(meta$spec), "\n", sep = "")
  cat("   Formula: ", deparse1(meta$formula), "\n", sep = "")
  cat("      Data: ", data_line(meta), "\n", sep = "")
  cat("     Draws: ", s$chains, " chains, each with iter = ", s$iter,
      "; warmup = ", s$warmup, "; thin = ", s$thin, "\n", sep = "")
  cat("            total post-warmup draws = ", s$chains * x$n_kept, "\n",
      sep = "")
  cat("   Sampler: ", meta$sampler, "; seed = ",
      format(meta$seed, scientific = FALSE), "\n", sep = "")
  cat("     Prior: ", prior_line(meta, 12L), "\n\n", sep = "")
  tab <- x$table
  shown <- tab
  shown$ess_bulk <- round(shown$ess_bulk)
  shown$ess_tail <- round(shown$ess_tail)
  print(format(shown, digits = digits), quote = FALSE)
  cat("\nDiagnostics as the posterior package defines them (bulk/tail ESS, ",
      "rank-normalised R-hat).\n", sep = "")
  for (w in convergence_warnings(tab)) cat(w, "\n", sep = "")
  invisible(x)
}

# Means and type-7 quantiles (as stats::quantile) of columns of draws,
# pooled over chains: `chains` is a fit (a list of chains) or a list of
# matrices. Computed in Rust by selection, without stacking the chains:
# fast for tens of thousands of columns. Returns one row per column: mean,
# then one column per probability.
column_summaries <- function(chains, probs, columns = NULL) {
  chains <- draw_matrices(chains)
  names_all <- colnames(chains[[1L]])
  if (is.null(columns)) columns <- seq_len(ncol(chains[[1L]]))
  if (is.character(columns)) columns <- match(columns, names_all)
  out <- hm_column_summaries(chains, as.integer(columns), as.double(probs))
  out <- glue_result(out, "x", "summarised")
  dimnames(out) <- list(names_all[columns],
                        c("mean", if (length(probs)) paste0(100 * probs, "%")))
  out
}
