# Predictions are made per "cell": rows that share a group (and, for a new
# observation with known standard errors, the standard error) share their
# predictive distribution, so that summaries need draws x cells, never
# draws x rows, and go through the cells a chunk at a time.

# How many levels of nesting `re.form` (lme4, rstanarm) or `re_formula`
# (brms) keep, top first: all of them (NULL), none (NA or ~0:
# population-level predictions, mu alone), or the top ones named
# (~ (1 | region)).
prediction_kept <- function(object, re_form, re_formula) {
  spec <- fit_spec(object)
  levels <- spec$levels
  if (!is.null(re_form) && !is.null(re_formula)) {
    hm_abort("re.form", "and `re_formula` are the same argument; give one.")
  }
  arg <- if (is.null(re_formula)) "re.form" else "re_formula"
  form <- if (is.null(re_formula)) re_form else re_formula
  if (is.null(form)) return(spec$depth)
  if (identical(form, NA) || identical(form, NA_real_) || identical(form, NA_integer_)) {
    return(0L)
  }
  if (!inherits(form, "formula") || length(form) != 2L) {
    hm_abort(arg, "must be NULL (every level of groups), NA or ~0 (none: ",
             "population-level predictions) or a one-sided formula naming ",
             "the top levels to keep, such as ~(1 | ", levels[1L],
             "), not ", describe(form), ".")
  }
  named <- all.vars(form[[2L]])
  unknown <- setdiff(named, levels)
  if (length(unknown)) {
    hm_abort(arg, "names ", name_list(paste0("`", unknown, "`")), ", not a ",
             "grouping variable of the fit (",
             if (has_groups(spec)) paste(levels, collapse = ", ") else "none", ").")
  }
  kept <- sum(levels %in% named)
  if (!all(levels[seq_len(kept)] %in% named)) {
    hm_abort(arg, "can leave out only the lowest levels of nesting (",
             paste(levels, collapse = " / "), "), not `",
             levels[!levels %in% named][1L], "` above `",
             levels[max(which(levels %in% named))], "`.")
  }
  kept
}

# The group of each row at each of the top `kept` levels, as path labels
# ("A/1"), from `newdata` or the fitted rows (NULL), with the rows' known
# standard errors when the fit has them and `se` is TRUE. A group the fit
# does not have is an error unless `allow_new_levels`.
prediction_rows <- function(object, newdata, kept, allow_new_levels, se = FALSE) {
  meta <- fit_meta(object)
  spec <- meta$spec
  se <- se && spec$within == "known"
  if (is.null(newdata)) {
    if (is.null(meta$rows)) {
      hm_abort("newdata", "is needed: this fit was made from group summaries, ",
               "which hold no rows.")
    }
    node <- meta$rows$group
    paths <- vector("list", spec$depth)
    for (l in rev(seq_len(spec$depth))) {
      paths[[l]] <- spec_labels(spec, l)[node]
      node <- spec$nodes[[l]]$parent[node]
    }
    return(list(n = length(meta$rows$group), paths = paths[seq_len(kept)],
                se = if (se) meta$rows$se))
  }
  if (!is.data.frame(newdata)) {
    hm_abort("newdata", "must be a data frame, not ", describe(newdata), ".")
  }
  list(n = nrow(newdata), paths = newdata_paths(object, newdata, kept, allow_new_levels),
       se = if (se) newdata_se(object, newdata))
}

# The path labels of the rows of `newdata` at the top `kept` levels.
newdata_paths <- function(object, newdata, kept, allow_new_levels) {
  meta <- fit_meta(object)
  spec <- meta$spec
  terms <- parse_hier_formula(meta$formula)
  paths <- vector("list", kept)
  for (l in seq_len(kept)) {
    g <- eval_variable(terms$levels[[l]], newdata, meta$formula, "group",
                       arg = "newdata")
    if (length(g) != nrow(newdata) || anyNA(g)) {
      hm_abort("newdata", "needs a label of group `", spec$levels[l],
               "` on every row.")
    }
    label <- as.character(g)
    paths[[l]] <- if (l == 1L) label else paste(paths[[l - 1L]], label, sep = "/")
    new <- unique(paths[[l]][!paths[[l]] %in% spec_labels(spec, l)])
    if (length(new) && !allow_new_levels) {
      hm_abort("newdata", "has ", length(new), " group(s) of `", spec$levels[l],
               "` that the fit does not have: ",
               name_list(paste0("\"", new, "\"")), ". Check the labels, or set ",
               "`allow_new_levels = TRUE` to predict them as new groups.")
    }
  }
  paths
}

# The known standard error of each row of `newdata`.
newdata_se <- function(object, newdata) {
  meta <- fit_meta(object)
  se <- eval_variable(meta$se, newdata, meta$formula, "standard error", arg = "newdata")
  if (!is.numeric(se) || length(se) != nrow(newdata) || any(!is.finite(se)) || any(se <= 0)) {
    hm_abort("newdata", "needs a positive standard error `", deparse1(meta$se),
             "` on every row.")
  }
  se
}

draws_of_column <- function(object, name) as.vector(stacked_draws(object, name))

# Draws (the stacked draws `sel`) of every new group of each level that
# `where` needs, drawn once per group, top down: around its parent (mu at
# the top) with that level's sd. With group-specific variances, a new
# last-level group's within sd too, from its prior given nu0 and sd_w0.
new_group_draws <- function(object, where, sel) {
  spec <- fit_spec(object)
  kept <- length(where$paths)
  news <- list(means = vector("list", kept), sd_w = NULL)
  for (l in seq_len(kept)) {
    paths <- where$paths[[l]]
    labels <- unique(paths[!paths %in% spec_labels(spec, l)])
    if (length(labels) == 0L) next
    parent <- if (l == 1L) {
      draws_of_column(object, "mu")[sel]
    } else {
      level_draws(object, l - 1L, where$paths[[l - 1L]][match(labels, paths)], sel, news)
    }
    sd <- draws_of_column(object, spec_level_sd(spec, l))[sel]
    m <- parent + sd * matrix(stats::rnorm(length(sel) * length(labels)), length(sel))
    colnames(m) <- labels
    news$means[[l]] <- m
    if (l == spec$depth && spec$within == "group") {
      nu0 <- draws_of_column(object, "nu0")[sel]
      s0 <- draws_of_column(object, "sd_w0")[sel]
      precision <- stats::rgamma(length(m), shape = nu0 / 2, rate = nu0 * s0^2 / 2)
      news$sd_w <- matrix(1 / sqrt(precision), length(sel), dimnames = list(NULL, labels))
    }
  }
  news
}

# Draws (sel) x labels of the group means of level `l`: a fitted group's
# own draws, a new group's from `news`.
level_draws <- function(object, l, labels, sel, news) {
  spec <- fit_spec(object)
  index <- match(labels, spec_labels(spec, l))
  fitted <- !is.na(index)
  out <- matrix(NA_real_, length(sel), length(labels))
  if (any(fitted)) out[, fitted] <- group_mean_draws(object, l, index[fitted], sel)
  if (any(!fitted)) {
    out[, !fitted] <- news$means[[l]][, labels[!fitted], drop = FALSE]
  }
  out
}

# The cells of the rows: one per group of the deepest level kept (one in
# all for population-level predictions), or one per row for a new
# observation with known standard errors. `of_row` maps rows to cells.
prediction_cells <- function(object, where, observation) {
  kept <- length(where$paths)
  if (observation && !is.null(where$se)) {
    group <- if (kept) where$paths[[kept]] else rep("(all)", where$n)
    return(list(group = group, se = where$se, of_row = seq_len(where$n)))
  }
  if (kept == 0L) return(list(group = "(all)", of_row = rep(1L, where$n)))
  group <- unique(where$paths[[kept]])
  list(group = group, of_row = match(where$paths[[kept]], group))
}

# Draws (sel) x cells `j` of the cells' means, or with `observation` of a
# new observation in each.
cell_draws <- function(object, cells, j, sel, news, kept, observation) {
  means <- if (kept == 0L) {
    matrix(draws_of_column(object, "mu")[sel], length(sel), length(j))
  } else {
    level_draws(object, kept, cells$group[j], sel, news)
  }
  if (!observation) return(means)
  means + within_sd_draws(object, cells, j, sel, news, kept) *
    matrix(stats::rnorm(length(means)), nrow(means))
}

# Draws (sel) of the within-group sd of cells `j`: a vector (one sd for
# all) or a matrix. sd_w (sd for y ~ 1); the cell's known standard error;
# with group-specific variances the group's own sd_w[k], a new group's
# drawn from its prior, or sd_w0 when the last level is left out.
within_sd_draws <- function(object, cells, j, sel, news, kept) {
  spec <- fit_spec(object)
  switch(spec$within,
    common = draws_of_column(object, spec_within_sd(spec))[sel],
    known = matrix(cells$se[j], length(sel), length(j), byrow = TRUE),
    group = {
      if (kept < spec$depth) return(draws_of_column(object, spec_within_sd(spec))[sel])
      labels <- cells$group[j]
      index <- match(labels, spec_labels(spec, kept))
      fitted <- !is.na(index)
      out <- matrix(NA_real_, length(sel), length(j))
      if (any(fitted)) {
        cols <- spec_group_sd(spec, index[fitted])
        if (!all(cols %in% coda::varnames(object))) {
          hm_abort("object", "has no group sds stored: refit with keep = \"all\".")
        }
        out[, fitted] <- stacked_draws(object, cols)[sel, , drop = FALSE]
      }
      if (any(!fitted)) out[, !fitted] <- news$sd_w[, labels[!fitted], drop = FALSE]
      out
    }
  )
}

# Consecutive chunks of 1..n of at most `width` values each.
chunks <- function(n, width) {
  if (n == 0L) return(list())
  width <- max(1L, as.integer(width))
  split(seq_len(n), ceiling(seq_len(n) / width))
}

# Draws per chunk: 2^22 values (32 MB) at a time.
chunk_width <- function(draws) max(1L, 2^22 %/% draws)

#' Draws from the posterior predictive distribution
#'
#' For each row of `newdata` (or of the fitted data), draws a new
#' observation \eqn{y^* \sim N(\theta_k, sd_w^2)} of its group, once per
#' posterior draw. The within-group sd is `sd_w` (common), the group's own
#' `sd_w[k]` (`within = "group"`; a new group's from its prior given `nu0`
#' and `sd_w0`), the row's known standard error (`se =`: `newdata` must
#' hold that column), or `sd` for `y ~ 1`. Uses R's random number
#' generator, so `set.seed()` makes it reproducible.
#'
#' A group not in the fit is an error, so that a misspelt label is not
#' silently predicted as a new group; with `allow_new_levels = TRUE` it is
#' a new group: \eqn{\theta^* \sim N(\mu, sd_b^2)} first, drawn once per
#' posterior draw and shared by the rows of that group; with nested groups
#' a new group is drawn around its parent (a new school in a fitted region
#' around that region's mean), level by level.
#'
#' `re.form = NA` (or `~0`; `re_formula` is brms's name) leaves out the
#' groups, as in lme4 and rstanarm: \eqn{y^* \sim N(\mu, sd_w^2)}, and
#' `newdata` needs no grouping variables. With nested groups,
#' `re.form = ~ (1 | region)` keeps the top levels named: a new
#' observation about its region's mean. The within-group sd is then `sd_w0`
#' for `within = "group"`.
#'
#' @section Memory: The result has `draws` x rows values; a result larger
#'   than half the memory available is refused with an error saying to use
#'   `draws` (the option `hiermod.memory_limit`, in bytes, sets that
#'   memory). [predict.hiermod_fit()] gives means and intervals without it.
#'
#' @param object A `hiermod_fit`.
#' @param newdata A data frame with the grouping variables of the formula,
#'   or `NULL` for the fitted rows (not available for a fit from group
#'   summaries).
#' @param draws Number of posterior draws to use, a random subset of them
#'   (as rstantools' `posterior_predict()`); `NULL` for all.
#' @param allow_new_levels Predict groups the fit does not have as new
#'   groups (`TRUE`), or refuse them (`FALSE`, the default).
#' @param re.form,re_formula Which levels of groups to include: `NULL` (all),
#'   `NA` or `~0` (none), or a one-sided formula naming the top levels.
#' @param ... Not used: an argument given here is an error.
#' @return A draws x rows matrix.
#' @examples
#' f <- fit(mathscore ~ school, schools, chains = 2, iter = 1000, seed = 1)
#' yrep <- posterior_predict(f, newdata = data.frame(school = c(1, 999)),
#'                           allow_new_levels = TRUE)
#' dim(yrep)
#' colMeans(yrep)
#' dim(posterior_predict(f, draws = 100))
#' @importFrom rstantools posterior_predict
#' @method posterior_predict hiermod_fit
#' @export
posterior_predict.hiermod_fit <- function(object, newdata = NULL, draws = NULL,
                                          allow_new_levels = FALSE,
                                          re.form = NULL, # nolint: object_name_linter.
                                          re_formula = NULL, ...) {
  check_fit(object, "object")
  check_dots(list(...), "posterior_predict()")
  sel <- checking_draws(object, draws)
  draws <- length(sel)
  check_flag(allow_new_levels, "allow_new_levels")
  kept <- prediction_kept(object, re.form, re_formula)
  where <- prediction_rows(object, newdata, kept, allow_new_levels, se = TRUE)
  check_matrix_memory(draws, where$n, "rows", draws == total_draws(object), paste0(
    ", predict fewer rows with `newdata`, or use predict() for means and intervals"))
  news <- new_group_draws(object, where, sel)
  cells <- prediction_cells(object, where, observation = TRUE)
  out <- matrix(NA_real_, draws, where$n)
  for (rows in chunks(where$n, chunk_width(draws))) {
    j <- unique(cells$of_row[rows])
    d <- cell_draws(object, cells, j, sel, news, kept, observation = FALSE)
    sd <- within_sd_draws(object, cells, j, sel, news, kept)
    at <- match(cells$of_row[rows], j)
    noise <- matrix(stats::rnorm(draws * length(rows)), draws)
    out[, rows] <- d[, at, drop = FALSE] +
      (if (is.matrix(sd)) sd[, at, drop = FALSE] else sd) * noise
  }
  out
}

#' @importFrom rstantools posterior_predict
#' @export
rstantools::posterior_predict

#' Predictions, fitted values and residuals
#'
#' `predict()` gives, for each row of `newdata` (or of the fitted data), the
#' posterior mean and a credible interval of its group's mean
#' (`type = "mean"`), or of a new observation in that group
#' (`type = "observation"`, a prediction interval; Monte Carlo, by R's
#' random number generator). A group not in the fit is an error unless
#' `allow_new_levels = TRUE`, when it is a new group drawn around \eqn{\mu}
#' (or its parent) with that level's sd; `re.form = NA` gives
#' population-level predictions (\eqn{\mu}), as in lme4 (see
#' [posterior_predict.hiermod_fit()] for both). `fitted()` is the posterior
#' mean of each fitted row's group mean, and `residuals()` the response
#' minus it.
#'
#' Rows of one group share their predictive distribution, so the summaries
#' are computed once per group, a chunk of groups at a time: memory grows
#' with draws x groups, not draws x rows.
#'
#' @param object A `hiermod_fit`.
#' @param newdata A data frame with the grouping variable, or `NULL`.
#' @param type `"mean"` or `"observation"`.
#' @param level Probability of the interval, in (0, 1).
#' @inheritParams posterior_predict.hiermod_fit
#' @param ... Not used: an argument given here is an error.
#' @return `predict()`: a data frame with columns `group` (the path of the
#'   deepest level kept, `"(all)"` for population-level predictions),
#'   `estimate`, `lower`, `upper`. `fitted()`, `residuals()`: numeric
#'   vectors, one value per fitted row.
#' @examples
#' f <- fit(mathscore ~ school, schools, chains = 2, iter = 1000, seed = 1)
#' predict(f, data.frame(school = c(1, 2, 999)), allow_new_levels = TRUE)
#' predict(f, data.frame(school = 1), type = "observation")
#' predict(f, data.frame(school = 1), re.form = NA)
#' head(fitted(f))
#' @export
predict.hiermod_fit <- function(object, newdata = NULL,
                                type = c("mean", "observation"),
                                level = 0.95, allow_new_levels = FALSE,
                                re.form = NULL, # nolint: object_name_linter.
                                re_formula = NULL, ...) {
  check_fit(object, "object")
  check_dots(list(...), "predict()")
  type <- check_choice(type, "type", c("mean", "observation"))
  check_probability(level, "level")
  check_flag(allow_new_levels, "allow_new_levels")
  observation <- type == "observation"
  kept <- prediction_kept(object, re.form, re_formula)
  where <- prediction_rows(object, newdata, kept, allow_new_levels, se = observation)
  sel <- seq_len(total_draws(object))
  news <- new_group_draws(object, where, sel)
  cells <- prediction_cells(object, where, observation)
  probs <- c((1 - level) / 2, (1 + level) / 2)
  s <- matrix(NA_real_, length(cells$group), 3L)
  new <- if (kept) colnames(news$means[[kept]])
  for (j in chunks(length(cells$group), chunk_width(length(sel)))) {
    s[j, ] <- if (!observation && kept > 0L && !any(cells$group[j] %in% new)) {
      # fitted groups only: summarised from the chains, without stacking
      cols <- stored_effect_columns(object, kept)
      labels <- spec_labels(fit_spec(object), kept)
      column_summaries(object, probs, cols[match(cells$group[j], labels)])
    } else {
      column_summaries(list(cell_draws(object, cells, j, sel, news, kept, observation)), probs)
    }
  }
  s <- s[cells$of_row, , drop = FALSE]
  data.frame(group = if (kept) where$paths[[kept]] else rep("(all)", where$n),
             estimate = s[, 1L], lower = s[, 2L], upper = s[, 3L], row.names = NULL)
}

#' @rdname predict.hiermod_fit
#' @export
fitted.hiermod_fit <- function(object, ...) {
  check_fit(object, "object")
  check_dots(list(...), "fitted()")
  meta <- fit_meta(object)
  if (is.null(meta$rows)) {
    hm_abort("object", "was fitted from group summaries, which hold no rows.")
  }
  if (!has_groups(meta$spec)) return(rep(unname(fixef(object)), length(meta$rows$y)))
  unname(stats::coef(object)[meta$rows$group])
}

#' @rdname predict.hiermod_fit
#' @export
residuals.hiermod_fit <- function(object, ...) {
  check_dots(list(...), "residuals()")
  fitted <- stats::fitted(object)
  fit_meta(object)$rows$y - fitted
}
