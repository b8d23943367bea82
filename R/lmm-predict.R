# Predictions of the regression models: the linear predictor
# X beta + Z b_g of each row, per posterior draw, for the fitted rows or
# `newdata` (covariates through the fit's terms, factor levels and
# contrasts), with the groups (re.form NULL) or without them (NA, ~0). A
# group the fit does not have is an error unless `allow_new_levels`, when
# its coefficients are drawn from N(0, Sigma) once per posterior draw.

# The rows to predict: their fixed design and, for each level kept
# (`kept`, indices top first), that level's design and each row's group (its
# index among the fit's groups, or among the new ones, `new`).
lmm_rows <- function(object, newdata, kept, allow_new_levels) {
  meta <- fit_meta(object)
  model <- meta$model
  if (is.null(newdata)) {
    check_rows_kept(object, "a prediction without `newdata`")
    groups <- lmm_row_nodes(model)
    levels <- lapply(kept, function(l) {
      list(level = l, z = model$levels[[l]]$z, group = groups[[l]], new = character(),
           is_new = rep(FALSE, length(model$y)))
    })
    return(list(x = model$x, levels = levels))
  }
  if (!is.data.frame(newdata)) {
    hm_abort("newdata", "must be a data frame, not ", describe(newdata), ".")
  }
  design <- function(terms, levels) {
    terms <- stats::delete.response(terms)
    mf <- tryCatch(
      stats::model.frame(terms, newdata, xlev = levels, na.action = stats::na.pass),
      error = function(e) {
        hm_abort("newdata", "does not hold the covariates the fit needs: ",
                 conditionMessage(e))
      })
    if (ncol(mf) && !all(stats::complete.cases(mf))) {
      hm_abort("newdata", "has a missing value (NA) in a covariate, first in ",
               "row ", which(!stats::complete.cases(mf))[1L], ".")
    }
    # the contrasts of this design's factors only (model.matrix() warns of others)
    contrasts <- model$contrasts[intersect(names(model$contrasts), names(mf))]
    m <- stats::model.matrix(terms, mf, contrasts.arg = if (length(contrasts)) contrasts)
    if (nrow(m) != nrow(newdata)) m <- m[rep(1L, nrow(newdata)), , drop = FALSE]
    unname_design(m)
  }
  x <- design(model$x_terms, model$x_levels)
  paths <- list()
  for (l in seq_len(max(c(0L, kept)))) {
    level <- model$levels[[l]]
    g <- eval_variable(level$own, newdata, meta$formula, "group", arg = "newdata")
    if (length(g) != nrow(newdata) || anyNA(g)) {
      hm_abort("newdata", "needs a label of group `", deparse1(level$own),
               "` on every row.")
    }
    # a crossed factor's labels are its own, a nested level's its path
    paths[[l]] <- if (l == 1L || isTRUE(model$crossed)) {
      as.character(g)
    } else {
      paste(paths[[l - 1L]], g, sep = "/")
    }
  }
  levels <- lapply(kept, function(l) {
    level <- model$levels[[l]]
    known <- match(paths[[l]], level$labels)
    new <- unique(paths[[l]][is.na(known)])
    if (length(new) && !allow_new_levels) {
      hm_abort("newdata", "has ", length(new), " group(s) of `", level$name,
               "` that the fit does not have: ", name_list(paste0("\"", new, "\"")),
               ". Check the labels, or set `allow_new_levels = TRUE` to predict ",
               "them as new groups.")
    }
    is_new <- is.na(known)
    known[is_new] <- match(paths[[l]][is_new], new)
    list(level = l, z = design(level$terms, level$xlevels), group = known, new = new,
         is_new = is_new)
  })
  list(x = x, levels = levels)
}

# The levels re.form / re_formula keeps: NULL all of them; NA or ~0 none; a
# formula the levels its bars name (`~ (1 | region)`, `~ (1 | region/school)`).
lmm_kept_levels <- function(object, re_form, re_formula) {
  if (!is.null(re_form) && !is.null(re_formula)) {
    hm_abort("re.form", "and `re_formula` are the same argument; give one.")
  }
  arg <- if (is.null(re_formula)) "re.form" else "re_formula"
  form <- if (is.null(re_formula)) re_form else re_formula
  names <- fit_spec(object)$level_names
  if (is.null(form)) return(seq_along(names))
  if (length(form) == 1L && is.atomic(form) && is.na(form)) return(integer())
  if (inherits(form, "formula") && length(form) == 2L) {
    bars <- find_bars(form[[2L]])
    if (length(bars) == 0L && length(all.vars(form[[2L]])) == 0L) return(integer())
    named <- vapply(bar_chain(bars, form)$levels, `[[`, "", "name")
    if (length(named) && all(named %in% names)) return(sort(match(named, names)))
  }
  hm_abort(arg, "must be NULL (every level of groups), NA or ~0 (none), or a ",
           "one-sided formula whose bars name levels of the fit (",
           paste(names, collapse = ", "), "), not ", describe(form), ".")
}

# The draws `sel` (stacked over chains) of the linear predictor of the rows.
lmm_linpred <- function(object, rows, sel) {
  meta <- fit_meta(object)
  spec <- meta$spec
  cols <- spec$columns
  beta <- stacked_draws(object, cols$name[cols$role == "fixed"])[sel, , drop = FALSE]
  out <- unname(beta %*% t(rows$x))
  if (length(rows$levels) && meta$settings$keep != "all") {
    hm_abort("object", "was fitted with keep = \"global\": predictions with ",
             "its groups need their coefficients; refit with keep = \"all\", ",
             "or predict without them (re.form = NA).")
  }
  for (r in rows$levels) {
    level <- spec$levels[[r$level]]
    new_b <- new_group_coefficients(object, r$level, sel, length(r$new))
    for (a in seq_along(level$z_names)) {
      at <- cols$role == "group" & cols$level == r$level & cols$coef == level$z_names[a]
      b <- stacked_draws(object, cols$name[at])[sel, , drop = FALSE]
      if (length(r$new)) b <- cbind(b, new_b[[a]])
      index <- r$group + ifelse(r$is_new, length(level$labels), 0L)
      out <- out + b[, index, drop = FALSE] * rep(r$z[, a], each = length(sel))
    }
  }
  dimnames(out) <- NULL
  out
}

# Coefficients of `n_new` new groups of level `l`, b ~ N(0, Sigma_l) given
# each draw of its sds and correlations: one draws x n_new matrix per
# coefficient.
new_group_coefficients <- function(object, l, sel, n_new) {
  spec <- fit_spec(object)
  cols <- spec$columns
  q <- length(spec$levels[[l]]$z_names)
  if (n_new == 0L) return(vector("list", q))
  of_level <- function(role) {
    stacked_draws(object, cols$name[cols$role == role & cols$level == l])[sel, , drop = FALSE]
  }
  sds <- of_level("sd")
  cors <- of_level("cor")
  out <- lapply(seq_len(q), function(a) matrix(0, length(sel), n_new))
  # column by column: (1,2), (1,3), (2,3), ..., the core's order
  pairs <- which(upper.tri(diag(q)), arr.ind = TRUE)
  for (i in seq_along(sel)) {
    r <- diag(q)
    if (ncol(cors)) {
      r[pairs] <- cors[i, ]
      r[pairs[, 2:1, drop = FALSE]] <- cors[i, ]
    }
    b <- matrix(stats::rnorm(q * n_new), n_new) %*% chol(r) %*% diag(sds[i, ], q)
    for (a in seq_len(q)) out[[a]][i, ] <- b[, a]
  }
  out
}

lmm_sigma_draws <- function(object, sel) draws_of_column(object, "sigma")[sel]

# What posterior_epred() and posterior_predict() share: the draws picked
# (`sel`, of `draws`) and the linear predictor's draws of the rows to
# predict (`mean`), the arguments checked.
lmm_linpred_draws <- function(object, newdata, draws, allow_new_levels, re_form,
                              re_formula) {
  check_flag(allow_new_levels, "allow_new_levels")
  sel <- checking_draws(object, draws)
  rows <- lmm_rows(object, newdata, lmm_kept_levels(object, re_form, re_formula),
                   allow_new_levels)
  check_matrix_memory(length(sel), nrow(rows$x), "rows", length(sel) == total_draws(object))
  list(sel = sel, mean = lmm_linpred(object, rows, sel))
}

#' @method posterior_epred hiermod_lmm
#' @export
posterior_epred.hiermod_lmm <- function(object, newdata = NULL, draws = NULL,
                                        allow_new_levels = FALSE,
                                        re.form = NULL, # nolint: object_name_linter.
                                        re_formula = NULL, ...) {
  check_lmm(object, "object")
  check_dots(list(...), "posterior_epred()")
  lmm_linpred_draws(object, newdata, draws, allow_new_levels, re.form, re_formula)$mean
}

#' @method posterior_linpred hiermod_lmm
#' @export
posterior_linpred.hiermod_lmm <- function(object, transform = FALSE, newdata = NULL,
                                          draws = NULL, allow_new_levels = FALSE,
                                          re.form = NULL, # nolint: object_name_linter.
                                          re_formula = NULL, ...) {
  posterior_epred.hiermod_lmm(object, newdata = newdata, draws = draws,
                              allow_new_levels = allow_new_levels, re.form = re.form,
                              re_formula = re_formula, ...)
}

#' @method posterior_predict hiermod_lmm
#' @export
posterior_predict.hiermod_lmm <- function(object, newdata = NULL, draws = NULL,
                                          allow_new_levels = FALSE,
                                          re.form = NULL, # nolint: object_name_linter.
                                          re_formula = NULL, ...) {
  check_lmm(object, "object")
  check_dots(list(...), "posterior_predict()")
  d <- lmm_linpred_draws(object, newdata, draws, allow_new_levels, re.form, re_formula)
  d$mean + lmm_sigma_draws(object, d$sel) * matrix(stats::rnorm(length(d$mean)), nrow(d$mean))
}

#' @export
predict.hiermod_lmm <- function(object, newdata = NULL,
                                type = c("mean", "observation"),
                                level = 0.95, allow_new_levels = FALSE,
                                re.form = NULL, # nolint: object_name_linter.
                                re_formula = NULL, ...) {
  check_lmm(object, "object")
  check_dots(list(...), "predict()")
  type <- check_choice(type, "type", c("mean", "observation"))
  check_probability(level, "level")
  args <- list(object, newdata = newdata, allow_new_levels = allow_new_levels,
               re.form = re.form, re_formula = re_formula)
  draws <- do.call(if (type == "mean") posterior_epred.hiermod_lmm else
    posterior_predict.hiermod_lmm, args)
  s <- column_summaries(list(draws), c((1 - level) / 2, (1 + level) / 2))
  data.frame(estimate = s[, 1L], lower = s[, 2L], upper = s[, 3L], row.names = NULL)
}

#' @export
fitted.hiermod_lmm <- function(object, ...) {
  check_lmm(object, "object")
  check_dots(list(...), "fitted()")
  colMeans(posterior_epred.hiermod_lmm(object))
}

#' @export
residuals.hiermod_lmm <- function(object, ...) {
  check_dots(list(...), "residuals()")
  check_rows_kept(object, "residuals()")
  fit_meta(object)$model$y - stats::fitted(object)
}

#' @method log_lik hiermod_lmm
#' @export
log_lik.hiermod_lmm <- function(object, draws = NULL, ...) {
  check_lmm(object, "object")
  check_dots(list(...), "log_lik()")
  sel <- checking_draws(object, draws)
  levels <- seq_along(fit_spec(object)$levels)
  mean <- lmm_linpred(object, lmm_rows(object, NULL, levels, FALSE), sel)
  y <- matrix(fit_meta(object)$model$y, nrow(mean), ncol(mean), byrow = TRUE)
  stats::dnorm(y, mean, lmm_sigma_draws(object, sel), log = TRUE)
}

#' @exportS3Method loo::loo
loo.hiermod_lmm <- function(x, draws = NULL, ...) { # nolint: object_name_linter.
  check_lmm(x, "x")
  require_suggested("loo", "loo()")
  ll <- log_lik.hiermod_lmm(x, draws = draws)
  loo::loo(ll, r_eff = chain_relative_eff(x, ll, draws), ...)
}

#' @exportS3Method loo::waic
waic.hiermod_lmm <- function(x, draws = NULL, ...) { # nolint: object_name_linter.
  check_lmm(x, "x")
  require_suggested("loo", "waic()")
  loo::waic(log_lik.hiermod_lmm(x, draws = draws), ...)
}
