#' Compare groups: what the posterior says beyond an ANOVA F-test
#'
#' The lecture's argument against a single ANOVA p-value: the posterior
#' answers every comparison at once. `compare()` gives, from the draws of
#' the group means \eqn{\theta_k}, the probability that each group's mean
#' exceeds each other's, each group's rank (1 = highest mean) with a
#' credible interval, and the probability that each group is the best or
#' the worst.
#'
#' @param fit A `hiermod_fit` with its group means stored.
#' @param groups Labels of the groups to compare (default: all).
#' @param level Probability of the rank intervals.
#' @return An object of class `hiermod_comparison`: a list with
#'   `prob_greater` (matrix: entry `[j, k]` is \eqn{P(\theta_j > \theta_k)}),
#'   and `ranks`, a data frame with one row per group: posterior mean of
#'   theta, mean rank, rank interval, `p_best`, `p_worst`; sorted by mean
#'   rank.
#' @examples
#' f <- fit(mathscore ~ school, schools, chains = 2, iter = 1000, seed = 1)
#' cmp <- compare(f)
#' cmp
#' cmp$prob_greater["46", "82"]
#' @export
compare <- function(fit, groups = NULL, level = 0.95) {
  check_fit(fit, "fit")
  theta <- effect_draws(fit)
  if (!is.null(groups)) {
    groups <- as.character(groups)
    unknown <- setdiff(groups, colnames(theta))
    if (length(unknown)) {
      hm_abort("groups", "names unknown group(s): ", name_list(unknown), ".")
    }
    theta <- theta[, groups, drop = FALSE]
  }
  k <- ncol(theta)
  prob_greater <- vapply(seq_len(k), function(j) colMeans(theta > theta[, j]),
                         numeric(k))
  dimnames(prob_greater) <- list(colnames(theta), colnames(theta))
  diag(prob_greater) <- NA
  # rank 1 = the highest mean in that draw
  ranks <- t(apply(-theta, 1L, rank, ties.method = "random"))
  colnames(ranks) <- colnames(theta)
  q <- column_summaries(list(ranks), c((1 - level) / 2, (1 + level) / 2))
  table <- data.frame(group = colnames(theta), theta = colMeans(theta),
                      mean_rank = q[, 1L], rank_lower = q[, 2L],
                      rank_upper = q[, 3L], p_best = colMeans(ranks == 1),
                      p_worst = colMeans(ranks == k), row.names = NULL)
  table <- table[order(table$mean_rank), ]
  rownames(table) <- NULL
  structure(list(prob_greater = prob_greater, ranks = table, level = level),
            class = "hiermod_comparison")
}

#' @export
print.hiermod_comparison <- function(x, n = 10L, digits = 3, ...) {
  k <- nrow(x$ranks)
  cat("Posterior comparison of ", k, " groups (rank 1 = highest mean; ",
      format(100 * x$level), "% rank intervals)\n\n", sep = "")
  shown <- if (k > 2L * n) rbind(utils::head(x$ranks, n), utils::tail(x$ranks, n)) else x$ranks
  print(format(shown, digits = digits), row.names = FALSE)
  if (k > 2L * n) cat("... (", k - 2L * n, " groups not shown)\n", sep = "")
  cat("\n$prob_greater[j, k] = P(theta_j > theta_k)\n")
  invisible(x)
}
