# Posterior draws of the mean of the group of each of `groups` (labels):
# theta_k for a fitted group, a fresh theta ~ N(mu, sd_b^2) for a new one.
group_mean_draws <- function(object, groups) {
  mu <- as.vector(as.matrix(object[, "mu"]))
  sd_b <- as.vector(as.matrix(object[, "sd_b"]))
  labels <- fit_meta(object)$stats$group
  known <- match(groups, labels)
  out <- matrix(NA_real_, length(mu), length(groups))
  if (any(!is.na(known))) {
    theta <- theta_draws(object)
    out[, !is.na(known)] <- theta[, known[!is.na(known)], drop = FALSE]
  }
  new <- which(is.na(known))
  if (length(new)) {
    out[, new] <- mu + sd_b * matrix(stats::rnorm(length(mu) * length(new)),
                                     length(mu))
  }
  out
}

# The group labels of `newdata` (the formula's grouping variable), or of the
# fitted rows when `newdata` is NULL.
prediction_groups <- function(object, newdata) {
  meta <- fit_meta(object)
  if (is.null(newdata)) return(meta$stats$group[meta$rows$group])
  terms <- parse_hier_formula(meta$formula)
  group <- eval_variable(terms$group, newdata, meta$formula, "group")
  if (anyNA(group)) hm_abort("newdata", "has missing group labels.")
  as.character(group)
}

#' Draws from the posterior predictive distribution
#'
#' For each row of `newdata` (or of the fitted data), draws a new
#' observation \eqn{y^* \sim N(\theta_k, sd_w^2)} of its group, once per
#' posterior draw. A group not in the fit is a new group:
#' \eqn{\theta^* \sim N(\mu, sd_b^2)} first. Uses R's random number
#' generator, so `set.seed()` makes it reproducible.
#'
#' @param object A `hiermod_fit`.
#' @param newdata A data frame with the grouping variable of the formula,
#'   or `NULL` for the fitted rows.
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
  groups <- prediction_groups(object, newdata)
  means <- group_mean_draws(object, groups)
  sd_w <- as.vector(as.matrix(object[, "sd_w"]))
  means + sd_w * matrix(stats::rnorm(length(means)), nrow(means))
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
  groups <- prediction_groups(object, newdata)
  draws <- if (type == "mean") {
    group_mean_draws(object, groups)
  } else {
    posterior_predict(object, newdata)
  }
  s <- column_summaries(list(draws), c((1 - level) / 2, (1 + level) / 2))
  data.frame(group = groups, estimate = s[, 1L], lower = s[, 2L],
             upper = s[, 3L], row.names = NULL)
}

#' @rdname predict.hiermod_fit
#' @export
fitted.hiermod_fit <- function(object, ...) {
  unname(stats::coef(object)[fit_meta(object)$rows$group])
}

#' @rdname predict.hiermod_fit
#' @export
residuals.hiermod_fit <- function(object, ...) {
  fit_meta(object)$rows$y - stats::fitted(object)
}
