# Predictions of the regression models: the linear predictor
# X beta + Z b_g of each row, per posterior draw, for the fitted rows or
# `newdata` (covariates through the fit's terms, factor levels and
# contrasts), with the groups (re.form NULL) or without them (NA, ~0). A
# group the fit does not have is an error unless `allow_new_levels`, when
# its coefficients are drawn from N(0, Sigma) once per posterior draw.

# The rows to predict: their fixed and group designs and each row's group
# (its index among the fit's groups, or among the new ones, `new`).
lmm_rows <- function(object, newdata, with_groups, allow_new_levels) {
  meta <- fit_meta(object)
  spec <- meta$spec
  model <- meta$model
  if (is.null(newdata)) {
    return(list(x = model$x, z = model$z, group = model$group, new = character(),
                is_new = rep(FALSE, length(model$group))))
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
    m <- stats::model.matrix(terms, mf, contrasts.arg = model$contrasts)
    if (nrow(m) != nrow(newdata)) m <- m[rep(1L, nrow(newdata)), , drop = FALSE]
    unname_design(m)
  }
  x <- design(model$x_terms, model$x_levels)
  if (!with_groups || is.null(spec$group)) {
    return(list(x = x, z = NULL, group = NULL, new = character(),
                is_new = rep(FALSE, nrow(newdata))))
  }
  z <- design(model$z_terms, model$z_levels)
  terms <- lmm_terms(meta$formula)
  g <- eval_variable(terms$bar$group, newdata, meta$formula, "group", arg = "newdata")
  if (length(g) != nrow(newdata) || anyNA(g)) {
    hm_abort("newdata", "needs a label of group `", spec$group, "` on every row.")
  }
  label <- as.character(g)
  known <- match(label, spec$labels)
  new <- unique(label[is.na(known)])
  if (length(new) && !allow_new_levels) {
    hm_abort("newdata", "has ", length(new), " group(s) of `", spec$group,
             "` that the fit does not have: ", name_list(paste0("\"", new, "\"")),
             ". Check the labels, or set `allow_new_levels = TRUE` to predict ",
             "them as new groups.")
  }
  is_new <- is.na(known)
  known[is_new] <- match(label[is_new], new)
  list(x = x, z = z, group = known, new = new, is_new = is_new)
}

# Whether re.form / re_formula keeps the groups: NULL or a formula naming
# the grouping variable keeps them; NA or ~0 leaves them out.
lmm_with_groups <- function(object, re_form, re_formula) {
  if (!is.null(re_form) && !is.null(re_formula)) {
    hm_abort("re.form", "and `re_formula` are the same argument; give one.")
  }
  arg <- if (is.null(re_formula)) "re.form" else "re_formula"
  form <- if (is.null(re_formula)) re_form else re_formula
  if (is.null(form)) return(TRUE)
  if (length(form) == 1L && is.atomic(form) && is.na(form)) return(FALSE)
  group <- fit_spec(object)$group
  if (inherits(form, "formula") && length(form) == 2L) {
    bars <- find_bars(form[[2L]])
    named <- if (length(bars)) {
      vapply(bars, function(bar) deparse1(unparen(bar[[3L]])), "")
    } else {
      all.vars(form[[2L]])
    }
    if (length(named) == 0L) return(FALSE)
    if (identical(named, group)) return(TRUE)
  }
  hm_abort(arg, "must be NULL (with the groups), NA or ~0 (without them), ",
           "or a one-sided formula naming the grouping variable, not ",
           describe(form), ".")
}

# The draws `sel` (stacked over chains) of the linear predictor of the rows.
lmm_linpred <- function(object, rows, sel) {
  meta <- fit_meta(object)
  spec <- meta$spec
  cols <- spec$columns
  beta <- stacked_draws(object, cols$name[cols$role == "fixed"])[sel, , drop = FALSE]
  out <- unname(beta %*% t(rows$x))
  if (is.null(rows$z)) return(out)
  if (meta$settings$keep != "all") {
    hm_abort("object", "was fitted with keep = \"global\": predictions with ",
             "its groups need their coefficients; refit with keep = \"all\", ",
             "or predict without them (re.form = NA).")
  }
  new_b <- new_group_coefficients(object, sel, length(rows$new))
  for (a in seq_along(spec$z_names)) {
    at <- cols$role == "group" & cols$coef == spec$z_names[a]
    b <- stacked_draws(object, cols$name[at])[sel, , drop = FALSE]
    if (length(rows$new)) b <- cbind(b, new_b[[a]])
    index <- rows$group + ifelse(rows$is_new, length(spec$labels), 0L)
    out <- out + b[, index, drop = FALSE] * rep(rows$z[, a], each = length(sel))
  }
  dimnames(out) <- NULL
  out
}

# Coefficients of `n_new` new groups, b ~ N(0, Sigma) given each draw of
# the sds and correlations: one draws x n_new matrix per coefficient.
new_group_coefficients <- function(object, sel, n_new) {
  spec <- fit_spec(object)
  cols <- spec$columns
  q <- length(spec$z_names)
  if (n_new == 0L) return(vector("list", q))
  sds <- stacked_draws(object, cols$name[cols$role == "sd"])[sel, , drop = FALSE]
  cors <- stacked_draws(object, cols$name[cols$role == "cor"])[sel, , drop = FALSE]
  out <- lapply(seq_len(q), function(a) matrix(0, length(sel), n_new))
  for (i in seq_along(sel)) {
    r <- diag(q)
    if (ncol(cors)) {
      # column by column: (1,2), (1,3), (2,3), ..., the core's order
      pairs <- which(upper.tri(r), arr.ind = TRUE)
      r[pairs] <- cors[i, ]
      r[pairs[, 2:1, drop = FALSE]] <- cors[i, ]
    }
    b <- matrix(stats::rnorm(q * n_new), n_new) %*% chol(r) %*% diag(sds[i, ], q)
    for (a in seq_len(q)) out[[a]][i, ] <- b[, a]
  }
  out
}

lmm_sigma_draws <- function(object, sel) draws_of_column(object, "sigma")[sel]

#' @method posterior_epred hiermod_lmm
#' @export
posterior_epred.hiermod_lmm <- function(object, newdata = NULL, draws = NULL,
                                        allow_new_levels = FALSE,
                                        re.form = NULL, # nolint: object_name_linter.
                                        re_formula = NULL, ...) {
  check_lmm(object, "object")
  check_dots(list(...), "posterior_epred()")
  check_flag(allow_new_levels, "allow_new_levels")
  sel <- checking_draws(object, draws)
  rows <- lmm_rows(object, newdata, lmm_with_groups(object, re.form, re_formula),
                   allow_new_levels)
  check_matrix_memory(length(sel), nrow(rows$x), "rows", length(sel) == total_draws(object))
  lmm_linpred(object, rows, sel)
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
  check_flag(allow_new_levels, "allow_new_levels")
  sel <- checking_draws(object, draws)
  rows <- lmm_rows(object, newdata, lmm_with_groups(object, re.form, re_formula),
                   allow_new_levels)
  check_matrix_memory(length(sel), nrow(rows$x), "rows", length(sel) == total_draws(object))
  mean <- lmm_linpred(object, rows, sel)
  mean + lmm_sigma_draws(object, sel) * matrix(stats::rnorm(length(mean)), nrow(mean))
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
  fit_meta(object)$model$y - stats::fitted(object)
}

#' @method log_lik hiermod_lmm
#' @export
log_lik.hiermod_lmm <- function(object, draws = NULL, ...) {
  check_lmm(object, "object")
  check_dots(list(...), "log_lik()")
  sel <- checking_draws(object, draws)
  mean <- lmm_linpred(object, lmm_rows(object, NULL, TRUE, FALSE), sel)
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
