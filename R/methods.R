# Everything about a fit that is not a draw lives in one attribute, so that
# the object stays a plain coda mcmc.list.
fit_meta <- function(x) attr(x, "hiermod", exact = TRUE)

#' What a fit was run with
#'
#' `fit_info()` returns the settings of a [fit()]: the call, the prior
#' actually used (with the values scaled to the data filled in), the seed,
#' the sampler, chains, iterations, warm-up, thinning, threads, each chain's
#' starting values and the elapsed time. `group_stats()` returns the data's
#' per-group sufficient statistics, which are all the sampler sees.
#'
#' @param x A `hiermod_fit`.
#' @return `fit_info()`: a list. `group_stats()`: a data frame with columns
#'   `group` (label), `n`, `mean` and `ss` (within sum of squares about the
#'   mean), one row per group in the order of the `theta` columns.
#' @examples
#' f <- fit(mathscore ~ school, schools, chains = 2, iter = 400, seed = 3)
#' fit_info(f)$seed
#' head(group_stats(f))
#' @export
fit_info <- function(x) {
  check_fit(x)
  meta <- fit_meta(x)
  spec <- meta$spec
  # the model's description as it was before the spec held it
  model <- list(group = spec$group, levels = spec$levels, within = spec$within,
                se = meta$se, nodes = spec$nodes, globals = spec_globals(spec))
  c(meta[c("call", "formula", "response")], model,
    meta[c("prior", "seed", "sampler", "settings", "inits", "elapsed")])
}

#' @rdname fit_info
#' @export
group_stats <- function(x) {
  check_fit(x)
  fit_spec(x)$stats
}

check_fit <- function(x, arg = "x") {
  if (!inherits(x, "hiermod_fit") || is.null(fit_meta(x))) {
    hm_abort(arg, "must be a fit made by hiermod::fit(), not ", describe(x), ".")
  }
}

#' @importFrom stats nobs
#' @export
nobs.hiermod_fit <- function(object, ...) nobs_of(fit_meta(object))

#' @importFrom stats formula
#' @export
formula.hiermod_fit <- function(x, ...) fit_meta(x)$formula

#' Print a fitted hierarchical model
#'
#' Shows the model, the data's size, the prior actually used, the draws kept
#' and posterior summaries (mean, sd, 2.5%, 50%, 97.5%) of `mu`, `sd_b` and
#' `sd_w`, with a line on the group means `theta`. Warns when an R-hat
#' exceeds 1.01 or an effective sample size is below 400 (see
#' [summary.hiermod_fit()]).
#'
#' @param x A `hiermod_fit`.
#' @param digits Significant digits.
#' @param ... Not used.
#' @return `x`, invisibly.
#' @examples
#' f <- fit(mathscore ~ school, schools, chains = 2, iter = 1000, seed = 1)
#' print(f, digits = 4)
#' @export
print.hiermod_fit <- function(x, digits = 3, ...) {
  check_fit(x)
  digits <- check_count(digits, "digits", 1L, 22L)
  meta <- fit_meta(x)
  spec <- meta$spec
  s <- meta$settings
  n_kept <- coda::niter(x)
  cat("Bayesian hierarchical normal model (", spec_title(spec), ")\n", sep = "")
  cat(" Formula: ", deparse1(meta$formula), "\n", sep = "")
  cat(" Data:    ", data_line(meta), "\n", sep = "")
  cat(" Prior:   ", prior_line(meta, 10L), "\n", sep = "")
  cat(" Draws:   ", s$chains, " chains x ", n_kept, " kept (iterations ",
      stats::start(x), ":", stats::end(x), ", warmup ", s$warmup, ", thin ",
      s$thin, "); sampler \"", meta$sampler, "\"; seed ",
      format(meta$seed, scientific = FALSE), "\n\n", sep = "")
  globals <- spec_globals(spec)
  table <- summary(x, pars = globals)$table
  print(as.matrix(table[c("mean", "sd", "2.5%", "50%", "97.5%")]), digits = digits)
  for (w in convergence_warnings(table)) cat(w, "\n", sep = "")
  if (!has_groups(spec)) return(invisible(x))
  if (coda::nvar(x) > length(globals)) {
    for (l in seq_len(spec$depth)) {
      cols <- effect_columns(x, l)
      m <- column_summaries(x, numeric(), cols)[, 1L]
      prefix <- sub("\\[.*", "", cols[1L])
      cat(if (l == 1L) "\n", prefix, ": ", length(m), " group means (",
          spec$levels[l], "); posterior means from ",
          format(min(m), digits = digits), " to ",
          format(max(m), digits = digits), " (columns \"", prefix,
          "[<group>]\"; see summary(), as.matrix())\n", sep = "")
    }
  } else {
    cat("\ngroup means: not stored (keep = \"global\")\n")
  }
  invisible(x)
}

# The data's size: observations, groups per level, group sizes.
data_line <- function(meta) {
  spec <- meta$spec
  st <- spec$stats
  n <- nobs_of(meta)
  if (!has_groups(spec)) return(paste0("N = ", n, " observations"))
  line <- if (spec$depth == 1L) {
    paste0("N = ", n, " observations in K = ", nrow(st), " groups (",
           spec$group, ")")
  } else {
    paste0("N = ", n, " observations in ",
           paste0(spec_group_counts(spec), " ", spec$levels, collapse = " / "),
           " groups")
  }
  if (spec$within != "known") {
    line <- paste0(line, "; group sizes ", min(st$n), " to ", max(st$n))
  }
  line
}

nobs_of <- function(meta) {
  if (!is.null(meta$rows)) length(meta$rows$y) else sum(meta$spec$stats$n)
}

prior_line <- function(meta, indent) {
  tab <- prior_table(meta$prior)
  f <- function(v) vapply(signif(v, 3), format, "")
  lines <- paste0(tab$parameter, " ~ ", tab$prior, ifelse(
    is.na(tab$median), "",
    paste0(" (sd: median ", f(tab$median), ", 90% [", f(tab$q05), ", ", f(tab$q95), "])")
  ))
  if (meta$spec$within == "known") lines <- c(lines, "within-group sds: known se")
  paste(lines, collapse = paste0("\n", strrep(" ", indent)))
}

# Arguments a method does not take are refused, not dropped: predict(f,
# interval = "confidence") or predict(f, allow.new.levels = TRUE) would
# otherwise return something else than what was asked for. `dots` is
# list(...) of the method `fun`.
check_dots <- function(dots, fun) {
  if (length(dots) == 0L) return(invisible())
  names <- names(dots)
  if (is.null(names)) names <- rep("", length(dots))
  unknown <- names[nzchar(names)]
  unnamed <- sum(!nzchar(names))
  hint <- c(allow.new.levels = "allow_new_levels", REform = "re.form",
            prob = "level", probs = "level", conf.level = "level",
            ndraws = "draws", nsamples = "draws")
  hints <- unname(hint[intersect(unknown, names(hint))])
  also <- c(if (length(unknown) > 1L) paste0("`", unknown[-1L], "`"),
            if (unnamed && length(unknown)) paste(unnamed, "unnamed argument(s)"))
  hm_abort(
    if (length(unknown)) unknown[1L] else "...",
    if (length(unknown)) "is not an argument of " else
      paste("holds", unnamed, "unnamed argument(s) not taken by "),
    fun, " for a hiermod fit",
    if (length(also)) paste0(" (nor ", name_list(also), ")"),
    if (length(hints)) paste0("; did you mean ", name_list(paste0("`", hints, "`")), "?") else "."
  )
}

check_flag <- function(x, arg) {
  if (!is.logical(x) || length(x) != 1L || is.na(x)) {
    hm_abort(arg, "must be TRUE or FALSE, not ", describe(x), ".")
  }
}

# A single probability strictly between 0 and 1 (an interval's level).
check_probability <- function(x, arg) {
  if (!is.numeric(x) || length(x) != 1L || is.na(x) || !(x > 0 && x < 1)) {
    hm_abort(arg, "must be a single probability between 0 and 1 (such as 0.95), not ",
             describe(x), ".")
  }
}
