#' Plots of a fitted regression model
#'
#' * `type = "trace"` (default): trace and density of each parameter that is
#'   not per group, as coda draws them (see [plot.hiermod_fit()]).
#' * `type = "intervals"`: the fixed effects' posterior means with 50%
#'   (thick) and 95% (thin) intervals, and beside them the same for each sd
#'   and correlation of the groups' coefficients and sigma.
#' * `type = "caterpillar"`: every group's coefficient `coef` of level
#'   `level` (the fixed effect plus the group's deviation, as [coef()]
#'   gives them), ordered, with 50% and 95% intervals and a line at the
#'   fixed effect.
#' * `type = "shrinkage"`: for coefficient `coef` of level `level`, each
#'   group's posterior mean (partial pooling) against its own least-squares
#'   estimate (no pooling: the group's rows regressed on its coefficients'
#'   columns, the other fixed effects at their posterior means; groups too
#'   small to estimate them are left out), with the 45-degree line and a
#'   dashed line at the fixed effect; point area grows with group size.
#'   Small groups sit closer to the dashed line: they are shrunk harder.
#' * `type = "graph"`: the model as a directed graph with plates, as for
#'   the lecture's models: the priors' constants, then `beta`, each level's
#'   `Sigma` and `sigma`, each level's group coefficients `b` in its plate,
#'   then the rows `y` with their covariates `x, z` (constants).
#' * `type = "lines"`: Gelman and Hill's figure (2007, figure 12.4) for a
#'   model with one covariate: for each of `groups` (default: eight groups
#'   from the smallest to the largest), the group's rows, the complete-pooling
#'   line (one regression for all rows, dashed), the group's own
#'   least-squares line (no pooling, grey; where the group has two distinct
#'   values of the covariate) and the fit's line from [coef()] (partial
#'   pooling, solid).
#'
#' @param x A `hiermod_lmm`.
#' @param type One of `"trace"`, `"intervals"`, `"caterpillar"`, `"shrinkage"`,
#'   `"lines"`, `"graph"`.
#' @param pars For `type = "trace"`: parameter names or regular expressions;
#'   default every parameter that is not per group.
#' @param level The level of groups (its name, as `ngrps()` gives them, or
#'   its position from the top) for `"caterpillar"`, `"shrinkage"` and
#'   `"lines"`; default the last.
#' @param coef For `"caterpillar"` and `"shrinkage"`: the coefficient, a
#'   column name of [ranef()]'s data frame; default the first.
#' @param groups For `"lines"`: labels of the groups to draw.
#' @param ask Ask before each new page, as coda does.
#' @param ... Passed to [coda::plot.mcmc()] for traces, to
#'   [graphics::plot()] otherwise.
#' @return Invisibly, the plotted summaries (the draws for `"trace"`).
#' @examples
#' radon <- read.csv(system.file("extdata", "radon_mn.csv", package = "hiermod"))
#' f <- fit(log_radon ~ floor + (floor | county), radon, chains = 2, iter = 1000,
#'          seed = 1)
#' plot(f, type = "intervals")
#' plot(f, type = "caterpillar", coef = "floor")
#' plot(f, type = "shrinkage")
#' plot(f, type = "lines")
#' plot(f, type = "graph")
#' @export
plot.hiermod_lmm <- function(x, type = c("trace", "intervals", "caterpillar", "shrinkage",
                                          "lines", "graph"),
                             pars = NULL, level = NULL, coef = NULL, groups = NULL,
                             ask = dev.interactive(), ...) {
  check_lmm(x)
  type <- check_choice(type, "type", c("trace", "intervals", "caterpillar", "shrinkage",
                                       "lines", "graph"))
  spec <- fit_spec(x)
  switch(type,
    trace = {
      if (is.null(pars)) pars <- spec$columns$name[spec$columns$global]
      draws <- x[, select_pars(x, pars), drop = FALSE]
      plot(draws, ask = ask, ...)
      invisible(draws)
    },
    intervals = plot_lmm_intervals(x, ...),
    caterpillar = plot_lmm_caterpillar(x, lmm_level(spec, level), coef, ...),
    shrinkage = {
      check_rows_kept(x, "plot(type = \"shrinkage\")", "x")
      plot_lmm_shrinkage(x, lmm_level(spec, level), coef, ...)
    },
    lines = {
      check_rows_kept(x, "plot(type = \"lines\")", "x")
      plot_lmm_lines(x, lmm_level(spec, level), groups, ...)
    },
    graph = plot_graph(lmm_model_graph(spec))
  )
}

# The level `level` names (a name or a position from the top), the last by
# default.
lmm_level <- function(spec, level) {
  names <- spec$level_names
  if (length(names) == 0L) {
    hm_abort("type", "needs groups: this regression has none.")
  }
  if (is.null(level)) return(length(names))
  if (is.character(level) && length(level) == 1L && level %in% names) {
    return(match(level, names))
  }
  if (is.numeric(level) && length(level) == 1L && level %in% seq_along(names)) {
    return(as.integer(level))
  }
  hm_abort("level", "must name a level of groups of the fit (",
           paste0("\"", names, "\"", collapse = ", "), ") or give its position ",
           "from the top, not ", describe(level), ".")
}

# Posterior mean and 50%/95% intervals of `names`, as one panel.
interval_panel <- function(x, names, labels, main, ...) {
  s <- column_summaries(x, c(0.025, 0.25, 0.75, 0.975), names)
  k <- length(names)
  at <- rev(seq_len(k))
  graphics::plot(range(s[, -1L]), c(0.5, k + 0.5), type = "n", yaxt = "n",
                 xlab = "", ylab = "", main = main, ...)
  graphics::axis(2, at = at, labels = labels, las = 1, cex.axis = 0.8)
  graphics::segments(s[, 2L], at, s[, 5L], at, col = grDevices::grey(0.6))
  graphics::segments(s[, 3L], at, s[, 4L], at, lwd = 3, lend = 1)
  graphics::points(s[, 1L], at, pch = 16)
  invisible(data.frame(parameter = names, s, row.names = NULL, check.names = FALSE))
}

plot_lmm_intervals <- function(x, ...) {
  cols <- fit_spec(x)$columns
  fixed <- cols$name[cols$role == "fixed"]
  spread <- cols$name[cols$role %in% c("sd", "cor", "sigma")]
  old <- graphics::par(mfrow = c(1, 2), mar = c(3, 11, 3, 1))
  on.exit(graphics::par(old))
  out <- list()
  if (length(fixed)) {
    out$fixed <- interval_panel(x, fixed, fixed, "Fixed effects", ...)
    graphics::abline(v = 0, lty = 2)
  }
  out$spread <- interval_panel(x, spread, spread, "Standard deviations, correlations", ...)
  invisible(do.call(rbind, out))
}

# The coefficient `coef` of level `level` (default its first), checked, of a
# fit that stored its groups' coefficients.
lmm_coefficient <- function(x, level, coef) {
  if (is.null(coef)) coef <- level$z_names[1L]
  if (!is.character(coef) || length(coef) != 1L || !coef %in% level$z_names) {
    hm_abort("coef", "must be one of the coefficients of `", level$name, "` (",
             paste0("\"", level$z_names, "\"", collapse = ", "), "), not ",
             describe(coef), ".")
  }
  if (fit_meta(x)$settings$keep != "all") {
    hm_abort("x", "was fitted with keep = \"global\": the group coefficients ",
             "were not stored; refit with keep = \"all\".")
  }
  coef
}

plot_lmm_caterpillar <- function(x, l, coef, ...) {
  spec <- fit_spec(x)
  level <- spec$levels[[l]]
  coef <- lmm_coefficient(x, level, coef)
  cols <- spec$columns
  own <- cols$name[cols$role == "group" & cols$level == l & cols$coef == coef]
  fixed <- cols$name[cols$role == "fixed" & cols$coef == coef]
  draws <- stacked_draws(x, own)
  if (length(fixed)) draws <- draws + as.vector(stacked_draws(x, fixed))
  s <- column_summaries(list(draws), c(0.025, 0.25, 0.75, 0.975))
  o <- order(s[, 1L])
  k <- length(own)
  graphics::plot(c(1, k), range(s[, -1L]), type = "n", xaxt = if (k > 30) "s" else "n",
                 xlab = paste0(level$name, " (ordered by posterior mean)"), ylab = coef,
                 main = paste0(coef, " by ", level$name, ": 50% and 95% intervals"), ...)
  if (k <= 30) graphics::axis(1, at = seq_len(k), labels = level$labels[o], las = 2)
  graphics::segments(seq_len(k), s[o, 2L], seq_len(k), s[o, 5L], col = grDevices::grey(0.6))
  graphics::segments(seq_len(k), s[o, 3L], seq_len(k), s[o, 4L],
                     lwd = if (k > 500) 1 else 3, lend = 1)
  graphics::points(seq_len(k), s[o, 1L], pch = 16, cex = if (k > 500) 0.2 else 0.6)
  if (length(fixed)) graphics::abline(h = fixef(x)[[coef]], lty = 2, col = "red")
  invisible(data.frame(group = level$labels[o], s[o, , drop = FALSE], row.names = NULL,
                       check.names = FALSE))
}

plot_lmm_shrinkage <- function(x, l, coef, ...) {
  meta <- fit_meta(x)
  spec <- meta$spec
  model <- meta$model
  level <- spec$levels[[l]]
  coef <- lmm_coefficient(x, level, coef)
  node <- lmm_row_nodes(model)[[l]]
  z <- model$levels[[l]]$z
  # the fixed effects outside the level's coefficients, at their posterior means
  b <- fixef(x)
  other <- !spec$x_names %in% level$z_names
  offset <- drop(model$x[, other, drop = FALSE] %*% b[other])
  a <- match(coef, level$z_names)
  own <- vapply(seq_along(level$labels), function(j) {
    rows <- node == j
    if (sum(rows) <= ncol(z)) return(NA_real_)
    fit <- stats::lm.fit(z[rows, , drop = FALSE], model$y[rows] - offset[rows])
    if (fit$rank < ncol(z)) NA_real_ else unname(fit$coefficients[a])
  }, 1)
  partial <- stats::coef(x)[[l]][[coef]]
  n <- tabulate(node, length(level$labels))
  keep <- !is.na(own)
  if (!any(keep)) {
    hm_abort("type", "\"shrinkage\" needs groups with more rows than coefficients ",
             "of `", level$name, "` to estimate them on their own: none has.")
  }
  size <- function(v) 0.4 + 1.6 * sqrt(v / max(n))
  graphics::plot(own[keep], partial[keep], pch = 21, bg = grDevices::grey(0.7),
                 cex = size(n[keep]), xlab = paste0(coef, ": the group's own estimate"),
                 ylab = paste0(coef, ": posterior mean"),
                 main = paste0(coef, " by ", level$name, ": partial against no pooling"),
                 ...)
  graphics::abline(0, 1)
  if (coef %in% names(b)) graphics::abline(h = b[[coef]], lty = 2, col = "red")
  key <- unique(range(n[keep]))
  graphics::legend("topleft", bty = "n", pch = 21, pt.bg = grDevices::grey(0.7),
                   pt.cex = size(key), legend = paste("n =", key))
  invisible(data.frame(group = level$labels, n = n, own = own, partial = partial,
                       row.names = NULL))
}

plot_lmm_lines <- function(x, l, groups, ...) {
  meta <- fit_meta(x)
  spec <- meta$spec
  model <- meta$model
  slopes <- setdiff(spec$x_names, "(Intercept)")
  if (length(slopes) != 1L || !"(Intercept)" %in% spec$x_names) {
    hm_abort("type", "\"lines\" draws a regression on one covariate: the fit has ",
             "the fixed effects ", paste0("`", spec$x_names, "`", collapse = ", "), ".")
  }
  level <- spec$levels[[l]]
  node <- lmm_row_nodes(model)[[l]]
  sizes <- tabulate(node, length(level$labels))
  if (is.null(groups)) {
    by_size <- order(sizes)
    groups <- level$labels[by_size[unique(round(seq(1, length(by_size), length.out = 8)))]]
  }
  unknown <- setdiff(as.character(groups), level$labels)
  if (length(unknown)) {
    hm_abort("groups", "must be labels of `", level$name, "`: ",
             name_list(paste0("\"", unknown, "\"")), " is not.")
  }
  xv <- model$x[, match(slopes, spec$x_names)]
  y <- model$y
  pooled <- stats::coef(stats::lm.fit(cbind(1, xv), y))
  partial <- stats::coef(x)[[l]]
  n <- length(groups)
  old <- graphics::par(mfrow = c(ceiling(n / 4), min(n, 4L)), mar = c(3, 3, 2, 1),
                       mgp = c(2, 0.7, 0))
  on.exit(graphics::par(old))
  out <- list()
  for (g in as.character(groups)) {
    j <- match(g, level$labels)
    rows <- node == j
    graphics::plot(xv[rows], y[rows], xlim = range(xv), ylim = range(y), xlab = slopes,
                   ylab = meta$response, main = g, cex.main = 0.9, ...)
    graphics::abline(pooled, lty = 2)
    own <- c(NA, NA)
    if (length(unique(xv[rows])) > 1L) {
      own <- stats::coef(stats::lm.fit(cbind(1, xv[rows]), y[rows]))
      graphics::abline(own, col = grDevices::grey(0.5))
    }
    line <- c(partial[g, "(Intercept)"], partial[g, slopes])
    graphics::abline(line, lwd = 2)
    out[[g]] <- data.frame(group = g, n = sum(rows), pooled_intercept = pooled[[1]],
                           pooled_slope = pooled[[2]], own_intercept = own[[1]],
                           own_slope = own[[2]], partial_intercept = line[1],
                           partial_slope = line[2])
  }
  invisible(do.call(rbind, c(out, make.row.names = FALSE)))
}

# A regression's graph in plot_graph()'s terms: the priors' constants, the
# parameters (beta, each level's Sigma, sigma), each level's coefficients b
# under its Sigma in nested plates, and the rows y with their covariates.
lmm_model_graph <- function(spec) {
  depth <- length(spec$levels)
  tag <- gsub("[^A-Za-z0-9]", "", spec$level_names)
  top <- depth + 3
  per <- function(...) paste0(..., recycle0 = TRUE)
  correlated <- vapply(spec$levels, `[[`, TRUE, "correlated")
  constant <- c("m, s", per("S_", tag), "S_sigma")
  constant_label <- c("m*','~s", ifelse(correlated, per("S[", tag, "]*','~eta[", tag, "]"),
                                        per("S[", tag, "]")), "S[sigma]")
  param <- c("beta", per("Sigma_", tag), "sigma")
  param_label <- c("beta", per("Sigma[", tag, "]"), "sigma")
  m <- length(param)
  data_x <- depth + 1.3
  nodes <- rbind(
    data.frame(name = constant, label = constant_label, x = seq_len(m), y = top,
               fixed = TRUE),
    data.frame(name = param, label = param_label, x = seq_len(m), y = top - 1, fixed = FALSE),
    data.frame(name = per("b_", tag), label = per("b[", tag, "]"), x = 1 + seq_len(depth),
               y = top - 1 - seq_len(depth), fixed = rep(FALSE, depth)),
    data.frame(name = c("y_i", "x_i"), label = c("y[i]", if (depth) "x[i]*','~z[i]" else "x[i]"),
               x = c(data_x, data_x + 1), y = 1, fixed = c(FALSE, TRUE))
  )
  edges <- data.frame(
    from = c(constant, per("Sigma_", tag), "beta", per("b_", tag), "sigma", "x_i"),
    to = c(param, per("b_", tag), rep("y_i", depth + 3L))
  )
  right <- max(data_x + 1.6, m + 0.4)
  plates <- lapply(seq_len(depth), function(l) {
    inset <- 0.1 * (l - 1)
    level <- spec$levels[[l]]
    list(x0 = 0.55 + l + inset, x1 = right - inset, y1 = top - 1 - l + 0.45,
         label = paste0(level$name, " = 1, ..., ", length(level$labels)))
  })
  plates <- c(plates, list(list(x0 = data_x - 0.45, x1 = data_x + 1.45, y1 = 1.4,
                                label = if (depth) "i in the group" else
                                  paste0("i = 1, ..., ", spec$n))))
  list(nodes = nodes, edges = edges, plates = plates)
}
