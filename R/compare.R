#' Compare groups: what the posterior says beyond an ANOVA F-test
#'
#' The lecture's argument against a single ANOVA p-value: the posterior
#' answers every comparison at once. `compare()` gives, from the draws of
#' the group means \eqn{\theta_k}, each group's rank (1 = highest mean)
#' with a credible interval, the probability that each group is the best or
#' the worst, and the probability that each group's mean exceeds each
#' other's.
#'
#' With nested groups (`y ~ region/school`) `by` chooses the level whose
#' groups are ranked: the lowest (schools) unless told otherwise
#' (`by = "region"`); the print says which.
#'
#' The pairwise matrix has K x K entries and costs K x K x draws
#' comparisons, so it is computed only for up to 200 groups unless asked
#' for (`pairs = TRUE`, up to 1,000 groups); otherwise `groups` selects the
#' groups to compare pairwise. The ranks and the probabilities of being
#' best and worst need memory of the order of draws x K, never K x K.
#'
#' `compare()` is an S3 generic. testthat has a generic of the same name:
#' hiermod's passes objects that are not hiermod fits on to testthat's, and
#' its method is registered on testthat's generic when testthat is loaded,
#' so that both work whichever package is attached last.
#'
#' @param x A `hiermod_fit` with its group means stored (for other objects,
#'   testthat's `compare()`, when testthat is installed).
#' @param groups Labels of the groups to compare (default: all groups of
#'   the level `by`; with nested groups, labels are paths, `"A/1"`).
#' @param level Probability of the rank intervals, in (0, 1).
#' @param by The level of nesting whose groups are compared: a grouping
#'   variable's name (`"region"`) or its position from the top. Default:
#'   the lowest level.
#' @param pairs Whether to compute the matrix of pairwise probabilities:
#'   `NULL` (default) for up to 200 groups, `TRUE` (an error beyond 1,000
#'   groups: select some with `groups`) or `FALSE`.
#' @param ... Passed on to testthat's `compare()` for objects other than
#'   hiermod fits; for a hiermod fit, an argument given here is an error.
#' @return An object of class `hiermod_comparison`: a list with `ranks`, a
#'   data frame with one row per group: posterior mean of theta, mean rank,
#'   rank interval, `p_best`, `p_worst`; sorted by mean rank;
#'   `prob_greater` (matrix: entry `[j, k]` is \eqn{P(\theta_j >
#'   \theta_k)}), when computed (asking for it when it was not is an error
#'   that says how); `level`; and `by`, the level compared.
#' @examples
#' f <- fit(mathscore ~ school, schools, chains = 2, iter = 1000, seed = 1)
#' cmp <- compare(f)
#' cmp
#' cmp$prob_greater["46", "82"]
#' n <- fit(score ~ region/school, regions, chains = 2, iter = 1000, seed = 1)
#' compare(n, by = "region")
#' @export
compare <- function(x, ...) UseMethod("compare")

#' @rdname compare
#' @export
#' @rawNamespace S3method(testthat::compare, hiermod_fit)
compare.hiermod_fit <- function(x, groups = NULL, level = 0.95, by = NULL,
                                pairs = NULL, ...) {
  check_fit(x)
  check_dots(list(...), "compare()")
  check_probability(level, "level")
  if (!is.null(pairs)) check_flag(pairs, "pairs")
  spec <- fit_spec(x)
  if (!has_groups(spec)) {
    hm_abort("x", "is a one-sample model (`y ~ 1`): it has no groups to compare.")
  }
  l <- spec_level(spec, by)
  cols <- stored_effect_columns(x, l)
  labels <- spec_labels(spec, l)
  if (!is.null(groups)) {
    if (!(is.character(groups) || is.numeric(groups) || is.factor(groups)) ||
        anyNA(groups) || length(groups) < 2L) {
      hm_abort("groups", "must be the labels of at least 2 groups, not ",
               describe(groups), ".")
    }
    groups <- as.character(groups)
    unknown <- setdiff(groups, labels)
    if (length(unknown)) {
      hm_abort("groups", "names unknown group(s) of `", spec$levels[l], "`: ",
               name_list(unknown), ".")
    }
    if (anyDuplicated(groups)) {
      hm_abort("groups", "names group(s) more than once: ",
               name_list(unique(groups[duplicated(groups)])), ".")
    }
    cols <- cols[match(groups, labels)]
    labels <- groups
  }
  k <- length(labels)
  if (isTRUE(pairs) && k > 1000L) {
    hm_abort("pairs", "= TRUE needs a ", k, " x ", k, " matrix and ", k,
             "^2 x draws comparisons; select at most 1000 groups with `groups`.")
  }
  pairwise <- if (is.null(pairs)) k <= 200L else pairs
  probs <- c((1 - level) / 2, (1 + level) / 2)
  r <- rank_draws(x, cols)
  q <- matrix(NA_real_, k, 3L)
  for (j in chunks(k, chunk_width(nrow(r$ranks)))) {
    q[j, ] <- column_summaries(list(r$ranks[, j, drop = FALSE]), probs)
  }
  draws <- nrow(r$ranks)
  table <- data.frame(group = labels, theta = column_summaries(x, numeric(), cols)[, 1L],
                      mean_rank = q[, 1L], rank_lower = q[, 2L], rank_upper = q[, 3L],
                      p_best = tabulate(r$best, k) / draws,
                      p_worst = tabulate(r$worst, k) / draws, row.names = NULL)
  table <- table[order(table$mean_rank), ]
  rownames(table) <- NULL
  structure(list(prob_greater = if (pairwise) prob_greater(x, cols, labels),
                 ranks = table, level = level, by = spec$levels[l],
                 lowest = l == spec$depth, nested = spec$depth > 1L),
            class = "hiermod_comparison")
}

# testthat's compare() for everything else (compare(1, 1) with hiermod
# attached after testthat). Registered as the default method under another
# name: were it called compare.default, testthat's dispatch from inside
# this namespace would find it again, forever.
#' @rawNamespace S3method(compare, default, compare_elsewhere)
compare_elsewhere <- function(x, ...) {
  if (requireNamespace("testthat", quietly = TRUE)) return(testthat::compare(x, ...))
  hm_abort("x", "must be a fit made by hiermod::fit(), not ", describe(x), ".")
}

# Each draw's ranks of the columns `cols` (1 = highest), as integers
# (draws x K), and in each draw the best and the worst column: a chunk of
# draws at a time, without stacking the draws.
rank_draws <- function(x, cols) {
  k <- length(cols)
  per_chain <- coda::niter(x)
  ranks <- matrix(0L, per_chain * coda::nchain(x), k)
  best <- worst <- integer(nrow(ranks))
  step <- max(1L, 2^22 %/% k)
  for (c in seq_len(coda::nchain(x))) {
    for (rows in chunks(per_chain, step)) {
      theta <- unclass(x[[c]])[rows, cols, drop = FALSE]
      n <- length(rows)
      # one radix sort of the chunk, draw by draw, highest first
      order <- order(rep(seq_len(n), k), -theta, method = "radix")
      group <- (order - 1L) %/% n + 1L
      at <- (c - 1L) * per_chain + rows
      ranks[cbind(rep(at, each = k), group)] <- rep.int(seq_len(k), n)
      best[at] <- group[seq(1L, by = k, length.out = n)]
      worst[at] <- group[seq(k, by = k, length.out = n)]
    }
  }
  list(ranks = ranks, best = best, worst = worst)
}

# P(theta_j > theta_k) of the columns `cols`, with rows and columns named
# by `labels` and NA on the diagonal.
prob_greater <- function(x, cols, labels) {
  theta <- stacked_draws(x, cols)
  k <- ncol(theta)
  out <- vapply(seq_len(k), function(j) colMeans(theta > theta[, j]), numeric(k))
  dimnames(out) <- list(labels, labels)
  diag(out) <- NA
  out
}

# Asking for the pairwise matrix when it was not computed is an error that
# says how to get it, not a silent NULL.
#' @export
`$.hiermod_comparison` <- function(x, name) x[[name]]

#' @export
`[[.hiermod_comparison` <- function(x, i, ...) {
  if (identical(i, "prob_greater") && is.null(.subset2(x, "prob_greater"))) {
    k <- nrow(.subset2(x, "ranks"))
    hm_abort("prob_greater", "was not computed for ", k, " groups (a ", k, " x ", k,
             " matrix): select the groups to compare with compare(groups = ), or ",
             "set `pairs = TRUE` (up to 1000 groups).")
  }
  .subset2(x, i, ...)
}

#' @export
print.hiermod_comparison <- function(x, n = 10L, digits = 3, ...) {
  n <- check_count(n, "n", 1L)
  digits <- check_count(digits, "digits", 1L, 22L)
  ranks <- .subset2(x, "ranks")
  k <- nrow(ranks)
  cat("Posterior comparison of ", k, " groups of `", .subset2(x, "by"), "`",
      if (isTRUE(.subset2(x, "nested")) && isTRUE(.subset2(x, "lowest"))) {
        " (the lowest level of nesting; `by` chooses another)"
      }, "\n(rank 1 = highest mean; ", format(100 * .subset2(x, "level")),
      "% rank intervals)\n\n", sep = "")
  shown <- if (k > 2L * n) rbind(utils::head(ranks, n), utils::tail(ranks, n)) else ranks
  print(format(shown, digits = digits), row.names = FALSE)
  if (k > 2L * n) cat("... (", k - 2L * n, " groups not shown)\n", sep = "")
  if (is.null(.subset2(x, "prob_greater"))) {
    cat("\nP(theta_j > theta_k) not computed for ", k, " groups: select some with ",
        "compare(groups = ) or set pairs = TRUE.\n", sep = "")
  } else {
    cat("\n$prob_greater[j, k] = P(theta_j > theta_k)\n")
  }
  invisible(x)
}
