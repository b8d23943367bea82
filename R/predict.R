# The group of each row at every level, as path labels ("A/1"): from
# `newdata`, or from the fitted rows when it is NULL. Returns the number of
# rows and one label vector per level.
prediction_paths <- function(object, newdata) {
  meta <- fit_meta(object)
  depth <- length(meta$levels)
  if (is.null(newdata)) {
    if (is.null(meta$rows)) {
      hm_abort("newdata", "is needed: this fit was made from group summaries, ",
               "which hold no rows.")
    }
    node <- meta$rows$group
    paths <- vector("list", depth)
    for (l in rev(seq_len(depth))) {
      paths[[l]] <- meta$nodes[[l]]$label[node]
      node <- meta$nodes[[l]]$parent[node]
    }
    return(list(n = length(meta$rows$group), paths = paths))
  }
  if (!is.data.frame(newdata)) {
    hm_abort("newdata", "must be a data frame, not ", describe(newdata), ".")
  }
  terms <- parse_hier_formula(meta$formula)
  n <- nrow(newdata)
  paths <- vector("list", depth)
  for (l in seq_len(depth)) {
    g <- eval_variable(terms$levels[[l]], newdata, meta$formula, "group",
                       arg = "newdata")
    if (length(g) != n || anyNA(g)) {
      hm_abort("newdata", "needs a label of group `", meta$levels[l],
               "` on every row.")
    }
    label <- as.character(g)
    paths[[l]] <- if (l == 1L) label else paste(paths[[l - 1L]], label, sep = "/")
  }
  list(n = n, paths = paths)
}

# Draws (draws x rows) of the last-level group mean of each row: a fitted
# group's own draws, or for a group not in the fit a new one drawn around
# its parent (mu at the top) with that level's sd.
group_mean_draws <- function(object, where) {
  meta <- fit_meta(object)
  current <- matrix(draws_of_column(object, "mu"), ncol = where$n,
                    nrow = coda::niter(object) * coda::nchain(object))
  for (l in seq_along(meta$levels)) {
    index <- match(where$paths[[l]], meta$nodes[[l]]$label)
    fitted <- !is.na(index)
    out <- current
    if (any(fitted)) {
      out[, fitted] <- effect_draws(object, l)[, index[fitted], drop = FALSE]
    }
    if (any(!fitted)) {
      sd <- draws_of_column(object, level_sd_names(meta)[l])
      out[, !fitted] <- current[, !fitted, drop = FALSE] +
        sd * matrix(stats::rnorm(nrow(out) * sum(!fitted)), nrow(out))
    }
    current <- out
  }
  current
}

draws_of_column <- function(object, name) as.vector(stacked_draws(object, name))

# Draws (draws x rows) of the within-group sd of each row.
within_sd_draws <- function(object, where, newdata) {
  meta <- fit_meta(object)
  n_draws <- coda::niter(object) * coda::nchain(object)
  depth <- length(meta$levels)
  switch(meta$within,
    common = matrix(draws_of_column(object, if (depth) "sd_w" else "sd"),
                    n_draws, where$n),
    known = {
      se <- if (is.null(newdata)) {
        meta$rows$se
      } else {
        eval_variable(meta$se, newdata, meta$formula, "standard error",
                      arg = "newdata")
      }
      if (!is.numeric(se) || length(se) != where$n || any(!is.finite(se)) ||
          any(se <= 0)) {
        hm_abort("newdata", "needs a positive standard error `",
                 deparse1(meta$se), "` on every row.")
      }
      matrix(se, n_draws, where$n, byrow = TRUE)
    },
    group = {
      index <- match(where$paths[[depth]], meta$nodes[[depth]]$label)
      out <- matrix(NA_real_, n_draws, where$n)
      fitted <- !is.na(index)
      if (any(fitted)) {
        cols <- paste0("sd_w[", meta$nodes[[depth]]$label, "]")
        if (!all(cols %in% coda::varnames(object))) {
          hm_abort("object", "has no group sds stored: refit with keep = \"all\".")
        }
        sds <- stacked_draws(object, cols[index[fitted]])
        out[, fitted] <- sds
      }
      if (any(!fitted)) {
        # a new group's variance from its prior given nu0 and sd_w0
        nu0 <- draws_of_column(object, "nu0")
        s0 <- draws_of_column(object, "sd_w0")
        k <- sum(!fitted)
        precision <- stats::rgamma(n_draws * k, shape = nu0 / 2,
                                   rate = nu0 * s0^2 / 2)
        out[, !fitted] <- 1 / sqrt(precision)
      }
      out
    }
  )
}

#' Draws from the posterior predictive distribution
#'
#' For each row of `newdata` (or of the fitted data), draws a new
#' observation \eqn{y^* \sim N(\theta_k, sd_w^2)} of its group, once per
#' posterior draw. A group not in the fit is a new group:
#' \eqn{\theta^* \sim N(\mu, sd_b^2)} first; with nested groups, a new
#' group is drawn around its parent (a new school in a fitted region
#' around that region's mean), level by level. The within-group sd is
#' `sd_w` (common), the group's own `sd_w[k]` (`within = "group"`; a new
#' group's from its prior given `nu0` and `sd_w0`), the row's known
#' standard error (`se =`: `newdata` must hold that column), or `sd` for
#' `y ~ 1`. Uses R's random number generator, so `set.seed()` makes it
#' reproducible.
#'
#' @param object A `hiermod_fit`.
#' @param newdata A data frame with the grouping variables of the formula,
#'   or `NULL` for the fitted rows (not available for a fit from group
#'   summaries).
#' @param ... Not used.
#' @return A draws x rows matrix.
#' @examples
#' f <- fit(mathscore ~ school, schools, chains = 2, iter = 1000, seed = 1)
#' yrep <- posterior_predict(f, newdata = data.frame(school = c(1, 999)))
#' dim(yrep)
#' colMeans(yrep)
#' @importFrom rstantools posterior_predict
#' @method posterior_predict hiermod_fit
#' @export
posterior_predict.hiermod_fit <- function(object, newdata = NULL, ...) {
  check_fit(object, "object")
  where <- prediction_paths(object, newdata)
  means <- group_mean_draws(object, where)
  means + within_sd_draws(object, where, newdata) *
    matrix(stats::rnorm(length(means)), nrow(means))
}

#' @importFrom rstantools posterior_predict
#' @export
rstantools::posterior_predict

#' Predictions, fitted values and residuals
#'
#' `predict()` gives, for each row of `newdata` (or of the fitted data), the
#' posterior mean and a credible interval of its group's mean
#' (`type = "mean"`), or of a new observation in that group
#' (`type = "observation"`, a prediction interval). Groups not in the fit
#' are new groups, drawn around \eqn{\mu} with sd `sd_b`. `fitted()` is the
#' posterior mean of each fitted row's group mean, and `residuals()` the
#' response minus it.
#'
#' @param object A `hiermod_fit`.
#' @param newdata A data frame with the grouping variable, or `NULL`.
#' @param type `"mean"` or `"observation"`.
#' @param level Probability of the interval.
#' @param ... Not used.
#' @return `predict()`: a data frame with columns `group`, `estimate`,
#'   `lower`, `upper`. `fitted()`, `residuals()`: numeric vectors, one value
#'   per fitted row.
#' @examples
#' f <- fit(mathscore ~ school, schools, chains = 2, iter = 1000, seed = 1)
#' predict(f, data.frame(school = c(1, 2, 999)))
#' predict(f, data.frame(school = 1), type = "observation")
#' head(fitted(f))
#' @export
predict.hiermod_fit <- function(object, newdata = NULL,
                                type = c("mean", "observation"),
                                level = 0.95, ...) {
  type <- check_choice(type, "type", c("mean", "observation"))
  if (!is.numeric(level) || length(level) != 1L || !(level > 0 && level < 1)) {
    hm_abort("level", "must be a single probability between 0 and 1.")
  }
  where <- prediction_paths(object, newdata)
  draws <- if (type == "mean") {
    group_mean_draws(object, where)
  } else {
    posterior_predict(object, newdata)
  }
  s <- column_summaries(list(draws), c((1 - level) / 2, (1 + level) / 2))
  depth <- length(where$paths)
  group <- if (depth) where$paths[[depth]] else rep("(all)", where$n)
  data.frame(group = group, estimate = s[, 1L], lower = s[, 2L],
             upper = s[, 3L], row.names = NULL)
}

#' @rdname predict.hiermod_fit
#' @export
fitted.hiermod_fit <- function(object, ...) {
  meta <- fit_meta(object)
  if (is.null(meta$rows)) {
    hm_abort("object", "was fitted from group summaries, which hold no rows.")
  }
  if (length(meta$levels) == 0L) return(rep(unname(fixef(object)), length(meta$rows$y)))
  unname(stats::coef(object)[meta$rows$group])
}

#' @rdname predict.hiermod_fit
#' @export
residuals.hiermod_fit <- function(object, ...) {
  fitted <- stats::fitted(object)
  fit_meta(object)$rows$y - fitted
}
