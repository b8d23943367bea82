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
  if (is.null(pars)) pars <- fit_meta(object)$globals
  pars <- select_pars(object, pars)
  if (!is.numeric(probs) || anyNA(probs) || any(probs < 0 | probs > 1)) {
    hm_abort("probs", "must be probabilities between 0 and 1.")
  }
  s <- column_summaries(object, probs, pars)
  diag <- convergence(object, pars)
  table <- data.frame(mean = s[, 1L], sd = diag$sd,
                      s[, -1L, drop = FALSE], mcse_mean = diag$mcse_mean,
                      ess_bulk = diag$ess_bulk, ess_tail = diag$ess_tail,
                      rhat = diag$rhat, check.names = FALSE,
                      row.names = pars)
  structure(list(table = table, diagnostics = "posterior",
                 meta = fit_meta(object), n_kept = coda::niter(object)),
            class = "summary.hiermod_fit")
}

# The sd, bulk and tail ESS, MCSE of the mean and R-hat of the columns
# `pars` of a fit: the rank-normalised diagnostics of Vehtari et al. (2021)
# as the posterior package (1.4) defines them, computed for many columns at
# once, a block of columns at a time, without posterior: its loop over
# variables took 41 s for 5,000 group means.
convergence <- function(x, pars) {
  chains <- lapply(x, unclass)
  n <- nrow(chains[[1L]])
  # blocks of about 2^18 draws (2 MB): each step's arrays stay in cache
  block <- max(1L, 2^18 %/% (n * length(chains)))
  starts <- seq(1L, length(pars), by = block)
  out <- do.call(rbind, lapply(starts, function(s) {
    cols <- pars[s:min(length(pars), s + block - 1L)]
    block_diagnostics(do.call(rbind, lapply(chains, function(ch) ch[, cols, drop = FALSE])),
                      n, length(chains))
  }))
  list(sd = unname(out[, "sd"]),
       mcse_mean = unname(out[, "sd"] / sqrt(out[, "ess_mean"])),
       ess_bulk = unname(out[, "ess_bulk"]), ess_tail = unname(out[, "ess_tail"]),
       rhat = unname(out[, "rhat"]))
}

# The diagnostics of each column of `x`, the draws of `m` chains of `n`
# iterations stacked chain after chain. As posterior: each chain split in
# halves (the middle draw dropped when `n` is odd); ranks pooled over the
# split chains; tail quantiles and the median of the folded draws over all
# draws.
block_diagnostics <- function(x, n, m) {
  h <- if (n > 1L) n %/% 2L else 1L
  k <- if (n > 1L) 2L * m else m
  sd <- sqrt(column_var(x))
  full <- sorted_columns(x)
  split <- full
  if (n %% 2L == 1L && n > 1L) {
    rows <- as.vector(outer(c(seq_len(h), n - h + seq_len(h)), (seq_len(m) - 1L) * n, "+"))
    x <- x[rows, , drop = FALSE]
    split <- sorted_columns(x)
  }
  s <- nrow(x)
  finite <- is.finite(full$values[1L, ]) & is.finite(full$values[nrow(full$values), ])
  z <- rank_scores(split, finite)
  folded <- abs(x - rep(column_quantile(full$values, 0.5), each = s))
  z_folded <- rank_scores(sorted_columns(folded), finite)
  # the ESS of an indicator is that of its complement: count the rarer side
  tail <- cbind(
    indicator_ess(x <= rep(column_quantile(full$values, 0.05), each = s), h, k),
    indicator_ess(x > rep(column_quantile(full$values, 0.95), each = s), h, k)
  )
  ess_tail <- pmin(tail[, 1L], tail[, 2L])
  ess_tail[!usable_columns(full)] <- NA_real_
  bulk <- chain_moments(z$scores, h, k, z$usable)
  cbind(sd = sd, ess_mean = ess_columns(chain_moments(x, h, k, usable_columns(split)), h, k),
        ess_bulk = ess_columns(bulk, h, k),
        ess_tail = ess_tail,
        rhat = pmax(rhat_columns(bulk, h, k),
                    rhat_columns(chain_moments(z_folded$scores, h, k, z_folded$usable), h, k)))
}

# Each column of `x` sorted: `values` (the sorted matrix) and `index` (x's
# cells in that order).
sorted_columns <- function(x) {
  index <- order(rep(seq_len(ncol(x)), each = nrow(x)), x, method = "radix")
  list(index = index, values = matrix(x[index], nrow(x)))
}

# posterior's should_return_NA(): finite and not constant (range below
# machine epsilon), from the sorted columns.
usable_columns <- function(sorted) {
  v <- sorted$values
  lo <- v[1L, ]
  hi <- v[nrow(v), ]
  is.finite(lo) & is.finite(hi) & abs(hi - lo) >= .Machine$double.eps
}

# Type-7 quantile at `p` of each sorted column, by stats::quantile()'s
# arithmetic (the median by median()'s).
column_quantile <- function(values, p) {
  s <- nrow(values)
  if (p == 0.5 && s %% 2L == 0L) {
    return((values[s / 2, ] + values[s / 2 + 1L, ]) / 2)
  }
  index <- 1 + (s - 1) * p
  lo <- floor(index)
  q <- values[lo, ]
  if (index > lo) {
    hi <- values[ceiling(index), ]
    move <- hi != q
    q[move] <- (1 - (index - lo)) * q[move] + (index - lo) * hi[move]
  }
  q
}

# posterior's z_scale(): the normal scores of each column's average ranks,
# qnorm((rank - 3/8) / (S + 1/4)), looked up in a table of the 2S - 1
# possible ranks. `usable` is FALSE for a column whose ranks all tie.
rank_scores <- function(sorted, finite) {
  v <- sorted$values
  s <- nrow(v)
  n <- length(v)
  table <- stats::qnorm(((seq_len(2L * s - 1L) + 1) / 2 - 3 / 8) / (s + 1 / 4))
  scores <- numeric(n)
  # without ties the ranks are the positions in each sorted column
  scores[sorted$index] <- table[2L * seq_len(s) - 1L]
  dim(scores) <- dim(v)
  tied <- which(v[2:n] == v[seq_len(n - 1L)]) + 1L
  tied <- tied[(tied - 1L) %% s != 0L]
  if (length(tied) == 0L) return(list(scores = scores, usable = finite & s > 1L))
  # a run of ties (few, as a rule) shares the average of its positions
  members <- sort(unique(c(tied - 1L, tied)))
  run <- cumsum(!members %in% tied)
  position <- (members - 1L) %% s + 1L
  average <- rowsum(position, run, reorder = FALSE)[, 1L] / tabulate(run)
  scores[sorted$index[members]] <- table[2 * average[run] - 1]
  ties_per_column <- tabulate((tied - 1L) %/% s + 1L, ncol(v))
  list(scores = scores, usable = finite & ties_per_column < s - 1L)
}

# Geyer's initial monotone sequence as posterior's .ess() sums it, for
# many columns at once: `acov(lag, columns)` gives the columns'
# autocovariances at `lag`, pooled over chains, only for the columns whose
# sum still runs (a few lags for a well-mixed chain). `k * h` draws each.
geyer_ess <- function(acov, mean_var, var_plus, h, k) {
  b <- length(mean_var)
  rho <- function(lag, cols) 1 - (mean_var[cols] - acov(lag, cols)) / var_plus[cols]
  pair <- 1 + rho(1L, seq_len(b))
  running_min <- pair
  total <- numeric(b)
  last <- rep(1, b)
  going <- h > 5L & pair > 0
  # posterior's sum over no pair of lags (h <= 5, or rho_1 <= -1) is rho_0
  total[!going] <- 1
  active <- which(going)
  j <- 0L
  while (length(active)) {
    total[active] <- total[active] + running_min[active]
    j <- j + 1L
    even <- rho(2L * j, active)
    pair <- even + rho(2L * j + 1L, active)
    going <- 2L * j < h - 5L & pair > 0
    stop <- active[!going]
    last[stop] <- ifelse(pair[!going] >= 0, even[!going], pmax(even[!going], 0))
    running_min[active] <- pmin(running_min[active], pair)
    active <- active[going]
  }
  k * h / pmax(-1 + 2 * total + last, 1 / log10(k * h))
}

# Each column of `y` (k chains of h draws, stacked) for the columns `ok`:
# the draws centred on their chain's mean (h x k*b), the chain means and
# the chain variances (k x b).
chain_moments <- function(y, h, k, ok) {
  b <- sum(ok)
  if (b < length(ok)) y <- y[, ok, drop = FALSE]
  dim(y) <- c(h, k * b)
  means <- .colMeans(y, h, k * b)
  y <- y - rep(means, each = h)
  list(centred = y, means = matrix(means, k),
       vars = matrix(.colSums(y^2, h, k * b), k) / (h - 1), ok = ok)
}

# posterior's .ess() of the columns of chain_moments() `mo` (NA for the
# others).
ess_columns <- function(mo, h, k) {
  out <- rep(NA_real_, length(mo$ok))
  b <- sum(mo$ok)
  if (h < 3L || b == 0L) return(out)
  y <- mo$centred
  # the chains of the columns `kept` (those still summing), narrowed as
  # the sums stop, so that later lags cost only what still runs
  kept <- seq_len(b)
  acov <- function(lag, cols) {
    if (length(cols) < 0.8 * length(kept)) {
      chains <- outer(seq_len(k), (match(cols, kept) - 1L) * k, "+")
      y <<- y[, as.vector(chains), drop = FALSE]
      kept <<- cols
    }
    t <- seq_len(h - lag)
    sums <- .colSums(y[t, , drop = FALSE] * y[t + lag, , drop = FALSE], h - lag, ncol(y))
    (.colMeans(sums, k, length(kept)) / h)[match(cols, kept)]
  }
  mean_var <- .colMeans(mo$vars, k, b)
  out[mo$ok] <- geyer_ess(acov, mean_var, mean_var * (h - 1) / h + column_var(mo$means), h, k)
  out
}

# posterior's .rhat() of the columns of chain_moments() `mo`.
rhat_columns <- function(mo, h, k) {
  out <- rep(NA_real_, length(mo$ok))
  if (h < 2L || k < 2L || !any(mo$ok)) return(out)
  within <- .colMeans(mo$vars, k, ncol(mo$vars))
  out[mo$ok] <- sqrt((h * column_var(mo$means) / within + h - 1) / h)
  out
}

# The same for indicators `y` (logical, k chains of h draws, stacked) that
# are mostly FALSE, from the positions of the TRUE ones: their lag-t
# products are the pairs of TRUE draws t apart in one chain.
indicator_ess <- function(y, h, k) {
  b <- ncol(y)
  chains <- k * b
  out <- rep(NA_real_, b)
  count <- .colSums(y, h, chains)
  share <- .colSums(matrix(count, k), k, b)
  ok <- share > 0 & share < k * h
  if (h < 3L || !any(ok)) return(out)
  at <- which(y)
  row <- (at - 1L) %% h + 1L
  chain <- (at - 1L) %/% h + 1L
  p <- count / h
  used <- which(ok)
  # sum over t of (y_t - p)(y_{t+lag} - p) in each chain, pooled over
  # chains, / h, for the columns used[cols]
  acov <- function(lag, cols) {
    if (lag == 0L) {
      s <- count * (1 - p)
    } else {
      later <- row + lag <= h
      pairs <- tabulate(chain[later & y[at + lag * later]], chains)
      ends <- tabulate(chain[row > h - lag], chains) + tabulate(chain[row <= lag], chains)
      s <- pairs - p * (2 * count - ends) + (h - lag) * p^2
    }
    .colMeans(matrix(s, k), k, b)[used[cols]] / h
  }
  mean_var <- acov(0L, seq_along(used)) * h / (h - 1)
  between <- column_var(matrix(p, k))[used]
  out[used] <- geyer_ess(acov, mean_var, mean_var * (h - 1) / h + between, h, k)
  out
}

# The variance of each column of `m`, as stats::var() of it.
column_var <- function(m) {
  if (nrow(m) < 2L) return(rep(0, ncol(m)))
  .colSums((m - rep(.colMeans(m, nrow(m), ncol(m)), each = nrow(m)))^2,
           nrow(m), ncol(m)) / (nrow(m) - 1L)
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
  cat(" Model: hierarchical normal, ", model_title(meta), "\n", sep = "")
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
  chains <- lapply(chains, function(m) {
    m <- unclass(m)
    attr(m, "mcpar") <- NULL
    storage.mode(m) <- "double"
    m
  })
  names_all <- colnames(chains[[1L]])
  if (is.null(columns)) columns <- seq_len(ncol(chains[[1L]]))
  if (is.character(columns)) columns <- match(columns, names_all)
  out <- hm_column_summaries(chains, as.integer(columns), as.double(probs))
  out <- glue_result(if (is.list(out)) c(out, kind = "internal") else out,
                     "x", "summarised")
  dimnames(out) <- list(names_all[columns],
                        c("mean", if (length(probs)) paste0(100 * probs, "%")))
  out
}
