# The lecture's figures, in base graphics with coda's look. Each returns
# invisibly the numbers it drew.

#' The data of a grouped response, for the lecture's data figures
#'
#' `group_data()` evaluates a formula `response ~ group` (or
#' `response ~ (1 | group)`, or nested groups `response ~ region/school`) in
#' `data` and returns the response, the groups and per-group summaries.
#' Nested groups are those of the last level, identified by their path as in
#' [fit()]: school 1 of region A (`"A/1"`) is not school 1 of region B. Its
#' `plot()` method draws the lecture's figure "Comparing multiple means -
#' data": every observation by group, groups ordered by their sample mean and
#' labelled (left; with many groups every few labels), and sample mean
#' against group size (right), where small groups scatter most.
#'
#' @inheritParams fit
#' @return `group_data()`: an object of class `hiermod_group_data`, a list
#'   with `y`, `group` (codes), `labels` and `stats` (a data frame of `group`,
#'   `n`, `mean`, `sd`).
#' @examples
#' d <- group_data(mathscore ~ school, schools)
#' plot(d)
#' nrow(group_data(score ~ region/school, regions)$stats)  # 55 schools
#' @export
group_data <- function(formula, data = NULL) {
  terms <- parse_hier_formula(formula)
  if (length(terms$levels) == 0L) {
    hm_abort("formula", "must have groups, as in `y ~ group`: `",
             deparse1(formula), "` has none to compare.")
  }
  # the groups exactly as fit() forms them
  model <- model_from_rows(terms, data, formula, NULL)
  st <- model$stats
  structure(list(y = model$rows$y, group = model$rows$group, labels = st$group,
                 response = deparse1(terms$response),
                 group_name = paste(model$levels, collapse = "/"),
                 stats = data.frame(group = st$group, n = st$n, mean = st$mean,
                                    sd = sqrt(st$ss / pmax(st$n - 1, 1)))),
            class = "hiermod_group_data")
}

#' @rdname group_data
#' @param x A `hiermod_group_data`.
#' @param ... Graphical parameters passed to [graphics::plot()].
#' @export
plot.hiermod_group_data <- function(x, ...) {
  st <- x$stats
  k <- nrow(st)
  o <- order(st$mean)
  rank <- integer(k)
  rank[o] <- seq_len(k)
  label_cex <- 0.7
  old <- graphics::par(mfrow = c(1, 2), mar = graphics::par("mar"))
  on.exit(graphics::par(old))
  # room under the axis for the longest label, written upwards (both panels,
  # so that they stay the same height)
  label_lines <- max(graphics::strwidth(st$group, "inches", cex = label_cex)) /
    graphics::par("csi")
  graphics::par(mar = c(label_lines + 3, old$mar[-1L]))
  xr <- rank[x$group]
  graphics::plot(xr, x$y, pch = 16, cex = 0.5, col = grDevices::grey(0.5),
                 xaxt = "n", xlab = "", ylab = x$response, main = "Scores by group",
                 ...)
  # as many labels as fit side by side at one and a half line heights each
  shown <- thin_labels(k, graphics::par("pin")[1L] /
                         (1.5 * graphics::par("csi") * label_cex))
  graphics::axis(1, at = shown, labels = st$group[o][shown], las = 2,
                 cex.axis = label_cex)
  xlab_line <- label_lines + 1.5
  graphics::title(xlab = paste0(x$group_name, " (ordered by sample mean)"),
                  line = xlab_line)
  graphics::segments(rank, tapply(x$y, x$group, min), rank,
                     tapply(x$y, x$group, max), col = grDevices::grey(0.7))
  graphics::points(rank, st$mean, pch = 16, col = "black", cex = 0.7)
  graphics::abline(h = mean(x$y), lty = 2)
  graphics::plot(st$n, st$mean, pch = 16, xlab = "", ylab = "sample mean",
                 main = "Sample mean and group size", ...)
  graphics::title(xlab = "group size", line = xlab_line)
  graphics::abline(h = mean(st$mean), lty = 2)
  invisible(st)
}

# Which of k labels to write along an axis with room for `room` of them:
# every few, from the first.
thin_labels <- function(k, room) seq(1L, k, by = max(1L, as.integer(ceiling(k / room))))

#' Plots of a fitted hierarchical model, as in the lecture
#'
#' * `type = "trace"` (default): trace and density of each parameter, titled
#'   "Trace of mu", "Density of mu", ..., one colour per chain, warm-up not
#'   shown (the lecture's slide "Schools data - global parameters"); pages
#'   as coda does, asking before each new page on an interactive device.
#' * `type = "theta"`: the caterpillar of the group means: posterior mean
#'   with 50% (thick) and 95% (thin) intervals of every \eqn{\theta_k},
#'   ordered, with a line at the posterior mean of \eqn{\mu}.
#' * `type = "shrinkage"`: posterior mean of \eqn{\theta_k} against the
#'   sample mean \eqn{\bar y_k}, with the 45-degree line and a horizontal
#'   line at the posterior mean of \eqn{\mu}; point area grows with group
#'   size \eqn{n_k}. Small groups sit closer to the horizontal line: they are
#'   shrunk harder.
#' * `type = "graph"`: the model as a directed graph with plates: the prior's
#'   constants, then \eqn{\mu}, \eqn{\tau_b}, \eqn{\tau_w}, then
#'   \eqn{\theta_k}, then \eqn{y_{ik}}; for the other models their own
#'   graph (one row of group means per level of nesting, known standard
#'   errors as constants, group-specific variances with their prior).
#' * `type = "conditional"` (one normal sample, `y ~ 1`): the lecture's
#'   slides "conditional on tau" and "conditional on mu": the full
#'   conditional densities \eqn{p(\mu | y, \tau)} and
#'   \eqn{p(\tau | y, \mu)} at the 10%, 50% and 90% posterior quantiles of
#'   the other parameter, over the histogram of the posterior draws.
#'
#' For nested groups, `"theta"` and `"shrinkage"` show the last level's
#' group means.
#'
#' @param x A `hiermod_fit`.
#' @param type One of `"trace"`, `"theta"`, `"shrinkage"`, `"graph"`,
#'   `"conditional"`.
#' @param pars For `type = "trace"`: parameter names, `"theta"` or regular
#'   expressions (see [summary.hiermod_fit()]). Default: the global
#'   parameters, in the lecture's order (`mu`, `sd_w`, `sd_b`).
#' @param ask Ask before each new page, as coda does.
#' @param ... Passed to [coda::plot.mcmc()] for traces, to
#'   [graphics::plot()] otherwise.
#' @return Invisibly: the plotted draws (`"trace"`), a data frame of the
#'   plotted summaries (`"theta"`, `"shrinkage"`), the graph's nodes, edges
#'   and plates as drawn, in user coordinates (`"graph"`), or the parameters
#'   of the drawn conditionals (`"conditional"`).
#' @examples
#' f <- fit(mathscore ~ school, schools, chains = 2, iter = 1000, seed = 1)
#' plot(f)
#' plot(f, pars = c("theta[1]", "theta[2]"))
#' plot(f, type = "theta")
#' plot(f, type = "shrinkage")
#' plot(f, type = "graph")
#' plot(fit(mathscore ~ 1, schools, chains = 2, iter = 1000, seed = 1),
#'      type = "conditional")
#' @importFrom graphics plot
#' @importFrom grDevices dev.interactive
#' @export
plot.hiermod_fit <- function(x, type = c("trace", "theta", "shrinkage", "graph",
                                          "conditional"),
                             pars = NULL, ask = dev.interactive(), ...) {
  check_fit(x)
  type <- check_choice(type, "type", c("trace", "theta", "shrinkage", "graph",
                                       "conditional"))
  switch(type,
    trace = {
      if (is.null(pars)) pars <- trace_pars(fit_spec(x))
      draws <- x[, select_pars(x, pars), drop = FALSE]
      plot(draws, ask = ask, ...)
      invisible(draws)
    },
    theta = plot_theta(x, ...),
    shrinkage = plot_shrinkage(x, ...),
    graph = plot_graph(model_graph(fit_spec(x), nobs(x))),
    conditional = plot_conditional(x, ...)
  )
}

# The lecture's "conditional on tau" and "conditional on mu" slides for one
# normal sample: the full conditionals at the 10%, 50% and 90% posterior
# quantiles of the other parameter, over the histogram of the marginal
# posterior draws, which they average to.
plot_conditional <- function(x, ...) {
  spec <- fit_spec(x)
  if (has_groups(spec) || spec$within != "common") {
    hm_abort("type", "\"conditional\" shows the one-sample model's ",
             "conditionals: fit `y ~ 1` (without `se`) for it.")
  }
  st <- spec$stats
  p <- fit_meta(x)$prior
  n <- st$n
  mu_draws <- draws_of_column(x, "mu")
  tau_draws <- 1 / draws_of_column(x, spec_within_sd(spec))^2
  at <- c(0.1, 0.5, 0.9)
  tau_at <- stats::quantile(tau_draws, at, names = FALSE)
  mu_at <- stats::quantile(mu_draws, at, names = FALSE)
  precision <- n * tau_at + p$tau0
  mu_n <- (n * tau_at * st$mean + p$tau0 * p$mu0) / precision
  # tau | y, mu: Gamma under the lecture's prior, else normalised numerically
  sd_prior <- p$within_prior
  gamma <- identical(sd_prior$family, "gamma_precision")
  residual <- st$ss + n * (st$mean - mu_at)^2
  shape <- if (gamma) sd_prior$shape + n / 2 else NA_real_
  rate <- if (gamma) sd_prior$rate + residual / 2 else rep(NA_real_, length(at))
  tau_density <- lapply(residual, function(r) {
    precision_conditional_density(sd_prior, n, r)
  })
  colours <- c("steelblue", "black", "firebrick")
  old <- graphics::par(mfrow = c(1, 2))
  on.exit(graphics::par(old))
  panel <- function(draws, density, xlab, main) {
    graphics::hist(draws, breaks = 40, freq = FALSE, border = "white",
                   col = grDevices::grey(0.85), xlab = xlab, main = main, ...)
    for (j in seq_along(at)) {
      graphics::curve(density(x, j), add = TRUE, col = colours[j], lwd = 2,
                      n = 301)
    }
  }
  panel(mu_draws, function(v, j) stats::dnorm(v, mu_n[j], 1 / sqrt(precision[j])),
        expression(mu), expression(mu ~ "|" ~ y * "," ~ tau))
  graphics::legend("topright", bty = "n", lwd = 2, col = colours, cex = 0.8,
                   legend = paste0("tau = ", signif(tau_at, 3), " (",
                                   100 * at, "%)"))
  panel(tau_draws, function(v, j) tau_density[[j]](v),
        expression(tau == 1 / sd^2), expression(tau ~ "|" ~ y * "," ~ mu))
  graphics::legend("topright", bty = "n", lwd = 2, col = colours, cex = 0.8,
                   legend = paste0("mu = ", signif(mu_at, 4), " (",
                                   100 * at, "%)"))
  invisible(data.frame(quantile = at, tau = tau_at, mu_mean = mu_n,
                       mu_sd = 1 / sqrt(precision), mu = mu_at,
                       tau_shape = shape, tau_rate = rate))
}

# The lecture's trace plots show mu, sd_w, sd_b in that order: the mean,
# the within-group model's parameters, then the rest.
trace_pars <- function(spec) {
  cols <- spec$columns[spec$columns$global, , drop = FALSE]
  mean <- cols$role == "mean"
  within <- cols$role %in% c("within_sd", "within_sd_centre", "within_df")
  c(cols$name[mean], cols$name[within], cols$name[!mean & !within])
}

plot_theta <- function(x, ...) {
  s <- theta_summaries(x, c(0.025, 0.25, 0.75, 0.975))
  est <- s[, "mean"]
  q <- s[, -1L, drop = FALSE]
  o <- order(est)
  k <- length(est)
  graphics::plot(c(1, k), range(q), type = "n", xaxt = if (k > 30) "s" else "n",
                 xlab = paste0(fit_spec(x)$group, " (ordered by posterior mean)"),
                 ylab = "theta", main = "Group means theta: 50% and 95% intervals",
                 ...)
  if (k <= 30) graphics::axis(1, at = seq_len(k), labels = names(est)[o], las = 2)
  graphics::segments(seq_len(k), q[o, 1L], seq_len(k), q[o, 4L],
                     col = grDevices::grey(0.6), lwd = 1)
  graphics::segments(seq_len(k), q[o, 2L], seq_len(k), q[o, 3L],
                     col = grDevices::grey(0.2), lwd = if (k > 500) 1 else 3,
                     lend = 1)
  graphics::points(seq_len(k), est[o], pch = 16, cex = if (k > 500) 0.2 else 0.6)
  graphics::abline(h = fixef(x), lty = 2, col = "red")
  invisible(data.frame(group = names(est)[o], mean = est[o], q[o, , drop = FALSE],
                       row.names = NULL, check.names = FALSE))
}

# The legend of the shrinkage plot: the smallest and the largest group, one
# entry when all have the same size. With known standard errors `n` is each
# group's precision, sum(1/se^2), shown as the standard error of its mean.
shrinkage_key <- function(n, within) {
  ends <- unique(range(n))
  list(n = ends, label = if (within == "known") {
    paste("se =", signif(1 / sqrt(ends), 3))
  } else {
    paste("n =", ends)
  })
}

plot_shrinkage <- function(x, ...) {
  spec <- fit_spec(x)
  st <- spec$stats
  est <- stats::coef(x)
  mu <- fixef(x)
  size <- function(n) 0.4 + 1.6 * sqrt(n / max(st$n))
  graphics::plot(st$mean, est, pch = 21, bg = grDevices::grey(0.7), cex = size(st$n),
                 xlab = expression(bar(y)[k]), ylab = expression(E(theta[k] ~ "|" ~ y)),
                 main = expression(theta ~ "vs" ~ bar(y)), asp = 1, ...)
  graphics::abline(0, 1, lty = 1)
  graphics::abline(h = mu, lty = 2, col = "red")
  key <- shrinkage_key(st$n, spec$within)
  graphics::legend("topleft", bty = "n", pch = 21, pt.bg = grDevices::grey(0.7),
                   pt.cex = size(key$n), legend = key$label)
  invisible(data.frame(group = st$group, n = st$n, ybar = st$mean,
                       theta = unname(est), row.names = NULL))
}

# Draws a model's graph `g` (model_graph(), lmm_model_graph()): nodes,
# edges and plates, outermost plate first.
plot_graph <- function(g) {
  nodes <- g$nodes
  edges <- g$edges
  plates <- g$plates
  old <- graphics::par(mar = c(0.5, 0.5, 2, 0.5))
  on.exit(graphics::par(old))
  graphics::plot.new()
  # Each plate's label has a band of its own under the plates inside it, so
  # that no label meets a border, a node or an arrow at any size of device.
  # The bands are fixed in inches, so the bottom of the window is solved for:
  # the bands, in user units, fill the space from it up to the content.
  label_cex <- 0.8
  height <- graphics::par("pin")[2]
  # one band per plate and half a band of white below the outermost
  bands <- min((length(plates) + 0.5) * 1.8 *
                 graphics::strheight("M", "inches", cex = label_cex), height / 2)
  content <- 1 - 0.22 # under the data node's row (y = 1), with a gap
  top <- max(nodes$y) + 0.5
  bottom <- (content * height - bands * top) / (height - bands)
  graphics::plot.window(xlim = c(0.4, max(nodes$x) + 0.6), ylim = c(bottom, top),
                        yaxs = "i")
  graphics::title(main = "The model as a graph")
  band <- (content - bottom) / (length(plates) + 0.5)
  for (j in seq_along(plates)) {
    p <- plates[[j]]
    # outer plates first: the outermost's band is the lowest
    y0 <- content - (length(plates) - j + 1) * band
    graphics::rect(p$x0, y0, p$x1, p$y1, border = grDevices::grey(0.4))
    room <- p$x1 - p$x0 - 0.1
    cex <- label_cex * min(1, room / graphics::strwidth(p$label, cex = label_cex))
    graphics::text(p$x1 - 0.05, y0 + band / 2, p$label, adj = c(1, 0.5), cex = cex)
    plates[[j]]$y0 <- y0
    h <- graphics::strheight(p$label, cex = cex) / 2
    plates[[j]]$label_box <- c(x0 = p$x1 - 0.05 - graphics::strwidth(p$label, cex = cex),
                               y0 = y0 + band / 2 - h, x1 = p$x1 - 0.05,
                               y1 = y0 + band / 2 + h)
  }
  # Node sizes follow their labels, so that a long level name stays inside.
  labels <- lapply(nodes$label, function(l) parse(text = l))
  half_w <- vapply(labels, graphics::strwidth, 0) / 2 + 0.08
  half_h <- vapply(labels, graphics::strheight, 0) / 2 + 0.06
  half_w <- pmax(half_w, ifelse(nodes$fixed, 0.3, 0.22))
  half_h <- pmax(half_h, ifelse(nodes$fixed, 0.15, 0.176))
  # Distance from node i's centre to its border in the direction (ux, uy).
  reach <- function(i, ux, uy) {
    if (nodes$fixed[i]) return(min(half_w[i] / abs(ux), half_h[i] / abs(uy)))
    1 / sqrt((ux / half_w[i])^2 + (uy / half_h[i])^2)
  }
  for (e in seq_len(nrow(edges))) {
    a <- match(edges$from[e], nodes$name)
    b <- match(edges$to[e], nodes$name)
    dx <- nodes$x[b] - nodes$x[a]
    dy <- nodes$y[b] - nodes$y[a]
    d <- sqrt(dx^2 + dy^2)
    ux <- dx / d
    uy <- dy / d
    from <- reach(a, ux, uy) + 0.03
    to <- reach(b, -ux, -uy) + 0.03
    graphics::arrows(nodes$x[a] + from * ux, nodes$y[a] + from * uy,
                     nodes$x[b] - to * ux, nodes$y[b] - to * uy, length = 0.08)
  }
  angles <- seq(0, 2 * pi, length.out = 60)
  for (i in seq_len(nrow(nodes))) {
    if (nodes$fixed[i]) {
      graphics::rect(nodes$x[i] - half_w[i], nodes$y[i] - half_h[i],
                     nodes$x[i] + half_w[i], nodes$y[i] + half_h[i], col = "white")
    } else {
      data_node <- startsWith(nodes$name[i], "y_")
      graphics::polygon(nodes$x[i] + half_w[i] * cos(angles),
                        nodes$y[i] + half_h[i] * sin(angles),
                        col = if (data_node) grDevices::grey(0.85) else "white")
    }
    graphics::text(nodes$x[i], nodes$y[i], labels[[i]])
  }
  nodes$half_width <- half_w
  nodes$half_height <- half_h
  invisible(list(nodes = nodes, edges = edges, plates = plates))
}

# The nodes (constants, parameters, data), edges and plates of a model's
# graph (`n`: the number of observations): rows from the prior's constants
# down to the data, one row of group means per level, nested plates. The
# two-level model reproduces the lecture's figure, in its notation (tau_b,
# theta_k, K groups); deeper models name each level's by its variable.
model_graph <- function(spec, n) {
  depth <- spec$depth
  sym <- spec_symbols(spec)
  tau <- sym$tau
  theta <- sym$theta
  grouped <- has_groups(spec)
  within <- if (grouped) spec$within else "one"
  data_node <- if (grouped) "y_ik" else "y_i"
  top <- depth + 3
  row <- data.frame(
    name = c("mu0, tau0", sym$ab, switch(within,
      one = "a, b", common = "alpha, beta", known = character(),
      group = c("a0, b0", "lambda"))),
    label = c("mu[0]*','~tau[0]", sym$ab_label, switch(within,
      one = "a*','~b", common = "alpha*','~beta", known = character(),
      group = c("a[0]*','~b[0]", "lambda"))),
    stringsAsFactors = FALSE
  )
  params <- c("mu", tau, switch(within, one = "tau", common = "tau_w",
                                known = character(), group = c("sigma0", "nu0")))
  param_labels <- c("mu", sym$tau_label, switch(within, one = "tau",
    common = "tau[w]", known = character(), group = c("sigma[0]^2", "nu[0]")))
  m <- length(params)
  nodes <- rbind(
    data.frame(name = row$name, label = row$label, x = seq_len(m), y = top,
               fixed = TRUE, stringsAsFactors = FALSE),
    data.frame(name = params, label = param_labels, x = seq_len(m), y = top - 1,
               fixed = FALSE, stringsAsFactors = FALSE),
    if (grouped) data.frame(name = theta, label = sym$theta_label, x = 1.5,
                            y = top - 1 - seq_len(depth), fixed = FALSE,
                            stringsAsFactors = FALSE),
    switch(within,
      known = data.frame(name = "se_k", label = "se[k]", x = 3, y = 2,
                         fixed = TRUE),
      group = data.frame(name = "sigma_k", label = "sigma[k]^2", x = 3, y = 2,
                         fixed = FALSE)),
    data.frame(name = data_node, label = if (grouped) "y[ik]" else "y[i]",
               x = if (grouped) 2.25 else 1.5, y = 1, fixed = FALSE)
  )
  edges <- data.frame(from = c(row$name, if (grouped) c("mu", theta[-depth]), tau),
                      to = c(params, if (grouped) c(theta, theta)))
  last <- if (grouped) theta[depth] else "mu"
  edges <- rbind(edges, data.frame(from = c(last, switch(within,
    one = "tau", common = "tau_w", known = "se_k", group = "sigma_k")),
    to = data_node))
  if (within == "group") {
    edges <- rbind(edges, data.frame(from = c("sigma0", "nu0"), to = "sigma_k"))
  }
  right <- max(3.4, m + 0.4)
  # Plates from the outermost in; plot_graph() places their bottoms and labels.
  plates <- lapply(seq_len(depth), function(l) {
    inset <- 0.1 * (l - 1)
    size <- sym$size[l]
    list(x0 = 1.05 + inset, x1 = right - inset, y1 = top - 1 - l + 0.45,
         label = paste0(sym$index[l], " = 1, ..., ", size,
                        " (", size, " = ", nrow(spec$nodes[[l]]), ")"))
  })
  plates <- c(plates, list(list(
    x0 = if (grouped) 1.8 else 1.05, x1 = if (grouped) 2.95 else 2.2, y1 = 1.4,
    label = if (grouped) "i = 1, ..., n_k" else
      paste0("i = 1, ..., n (n = ", n, ")"))))
  list(nodes = nodes, edges = edges, plates = plates)
}
