# The lecture's figures, in base graphics with coda's look. Each returns
# invisibly the numbers it drew.

#' The data of a grouped response, for the lecture's data figures
#'
#' `group_data()` evaluates a formula `response ~ group` (or
#' `response ~ (1 | group)`) in `data` and returns the response, the groups
#' and per-group summaries. Its `plot()` method draws the lecture's figure
#' "Comparing multiple means - data": every observation by group, groups
#' ordered by their sample mean (left), and sample mean against group size
#' (right), where small groups scatter most.
#'
#' @inheritParams fit
#' @return `group_data()`: an object of class `hiermod_group_data`, a list
#'   with `y`, `group` (codes), `labels` and `stats` (a data frame of `group`,
#'   `n`, `mean`, `sd`).
#' @examples
#' d <- group_data(mathscore ~ school, schools)
#' plot(d)
#' @export
group_data <- function(formula, data = NULL) {
  terms <- parse_hier_formula(formula)
  y <- eval_variable(terms$response, data, formula, "response")
  check_response(y, terms$response)
  g <- encode_groups(eval_variable(terms$group, data, formula, "group"),
                     length(y), terms$group)
  n <- tabulate(g$codes, length(g$labels))
  mean <- as.vector(rowsum(y, g$codes)) / n
  ss <- as.vector(rowsum((y - mean[g$codes])^2, g$codes))
  structure(list(y = y, group = g$codes, labels = g$labels,
                 response = deparse1(terms$response),
                 group_name = deparse1(terms$group),
                 stats = data.frame(group = g$labels, n = n, mean = mean,
                                    sd = sqrt(ss / pmax(n - 1, 1)))),
            class = "hiermod_group_data")
}

#' @rdname group_data
#' @param x A `hiermod_group_data`.
#' @param ... Graphical parameters passed to [graphics::plot()].
#' @export
plot.hiermod_group_data <- function(x, ...) {
  st <- x$stats
  rank <- rank(st$mean, ties.method = "first")
  old <- graphics::par(mfrow = c(1, 2))
  on.exit(graphics::par(old))
  xr <- rank[x$group]
  graphics::plot(xr, x$y, pch = 16, cex = 0.5, col = grDevices::grey(0.5),
                 xlab = paste0(x$group_name, " (ordered by sample mean)"),
                 ylab = x$response, main = "Scores by group", ...)
  graphics::segments(rank, tapply(x$y, x$group, min), rank,
                     tapply(x$y, x$group, max), col = grDevices::grey(0.7))
  graphics::points(rank, st$mean, pch = 16, col = "black", cex = 0.7)
  graphics::abline(h = mean(x$y), lty = 2)
  graphics::plot(st$n, st$mean, pch = 16, xlab = "group size",
                 ylab = "sample mean", main = "Sample mean and group size", ...)
  graphics::abline(h = mean(st$mean), lty = 2)
  invisible(st)
}

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
#'   plotted summaries (`"theta"`, `"shrinkage"`), the graph's nodes and
#'   edges (`"graph"`), or the parameters of the drawn conditionals
#'   (`"conditional"`).
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
      if (is.null(pars)) pars <- trace_pars(fit_meta(x))
      draws <- x[, select_pars(x, pars), drop = FALSE]
      plot(draws, ask = ask, ...)
      invisible(draws)
    },
    theta = plot_theta(x, ...),
    shrinkage = plot_shrinkage(x, ...),
    graph = plot_graph(x),
    conditional = plot_conditional(x, ...)
  )
}

# The lecture's "conditional on tau" and "conditional on mu" slides for one
# normal sample: the full conditionals at the 10%, 50% and 90% posterior
# quantiles of the other parameter, over the histogram of the marginal
# posterior draws, which they average to.
plot_conditional <- function(x, ...) {
  meta <- fit_meta(x)
  if (length(meta$levels) > 0L || meta$within != "common") {
    hm_abort("type", "\"conditional\" shows the one-sample model's ",
             "conditionals: fit `y ~ 1` (without `se`) for it.")
  }
  st <- meta$stats
  p <- meta$prior
  n <- st$n
  mu_draws <- draws_of_column(x, "mu")
  tau_draws <- 1 / draws_of_column(x, "sd")^2
  at <- c(0.1, 0.5, 0.9)
  tau_at <- stats::quantile(tau_draws, at, names = FALSE)
  mu_at <- stats::quantile(mu_draws, at, names = FALSE)
  precision <- n * tau_at + p$tau0
  mu_n <- (n * tau_at * st$mean + p$tau0 * p$mu0) / precision
  shape <- p$a[1L] + n / 2
  rate <- p$b[1L] + (st$ss + n * (st$mean - mu_at)^2) / 2
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
  panel(tau_draws, function(v, j) stats::dgamma(v, shape, rate = rate[j]),
        expression(tau == 1 / sd^2), expression(tau ~ "|" ~ y * "," ~ mu))
  graphics::legend("topright", bty = "n", lwd = 2, col = colours, cex = 0.8,
                   legend = paste0("mu = ", signif(mu_at, 4), " (",
                                   100 * at, "%)"))
  invisible(data.frame(quantile = at, tau = tau_at, mu_mean = mu_n,
                       mu_sd = 1 / sqrt(precision), mu = mu_at,
                       tau_shape = shape, tau_rate = rate))
}

# The lecture's trace plots show mu, sd_w, sd_b in that order.
trace_pars <- function(meta) {
  g <- meta$globals
  within <- intersect(g, c("sd", "sd_w", "sd_w0", "nu0"))
  c("mu", within, setdiff(g, c("mu", within)))
}

plot_theta <- function(x, ...) {
  s <- theta_summaries(x, c(0.025, 0.25, 0.75, 0.975))
  est <- s[, "mean"]
  q <- s[, -1L, drop = FALSE]
  o <- order(est)
  k <- length(est)
  graphics::plot(c(1, k), range(q), type = "n", xaxt = if (k > 30) "s" else "n",
                 xlab = paste0(fit_meta(x)$group, " (ordered by posterior mean)"),
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

plot_shrinkage <- function(x, ...) {
  st <- fit_meta(x)$stats
  est <- stats::coef(x)
  mu <- fixef(x)
  size <- 0.4 + 1.6 * sqrt(st$n / max(st$n))
  graphics::plot(st$mean, est, pch = 21, bg = grDevices::grey(0.7), cex = size,
                 xlab = expression(bar(y)[k]), ylab = expression(E(theta[k] ~ "|" ~ y)),
                 main = expression(theta ~ "vs" ~ bar(y)), asp = 1, ...)
  graphics::abline(0, 1, lty = 1)
  graphics::abline(h = mu, lty = 2, col = "red")
  graphics::legend("topleft", bty = "n", pch = 21, pt.bg = grDevices::grey(0.7),
                   pt.cex = 0.4 + 1.6 * sqrt(c(min(st$n), max(st$n)) / max(st$n)),
                   legend = paste("n =", c(min(st$n), max(st$n))))
  invisible(data.frame(group = st$group, n = st$n, ybar = st$mean,
                       theta = unname(est), row.names = NULL))
}

plot_graph <- function(x) {
  meta <- fit_meta(x)
  g <- model_graph(meta)
  nodes <- g$nodes
  edges <- g$edges
  old <- graphics::par(mar = c(0.5, 0.5, 2, 0.5))
  on.exit(graphics::par(old))
  graphics::plot.new()
  graphics::plot.window(xlim = c(0.4, max(nodes$x) + 0.6),
                        ylim = c(0.3, max(nodes$y) + 0.5))
  graphics::title(main = "The model as a graph")
  for (p in g$plates) {
    graphics::rect(p$x0, p$y0, p$x1, p$y1, border = grDevices::grey(0.4))
    graphics::text(p$x1 - 0.05, p$label_y, p$label, adj = 1, cex = 0.8)
  }
  pos <- function(n) nodes[match(n, nodes$name), c("x", "y")]
  r <- 0.22
  for (i in seq_len(nrow(edges))) {
    a <- pos(edges$from[i])
    b <- pos(edges$to[i])
    d <- sqrt((b$x - a$x)^2 + (b$y - a$y)^2)
    ux <- (b$x - a$x) / d
    uy <- (b$y - a$y) / d
    graphics::arrows(a$x + r * ux, a$y + r * uy, b$x - r * ux, b$y - r * uy,
                     length = 0.08)
  }
  angles <- seq(0, 2 * pi, length.out = 60)
  for (i in seq_len(nrow(nodes))) {
    if (nodes$fixed[i]) {
      graphics::rect(nodes$x[i] - 0.3, nodes$y[i] - 0.15, nodes$x[i] + 0.3,
                     nodes$y[i] + 0.15, col = "white")
    } else {
      data_node <- startsWith(nodes$name[i], "y_")
      graphics::polygon(nodes$x[i] + r * cos(angles), nodes$y[i] + r * 0.8 * sin(angles),
                        col = if (data_node) grDevices::grey(0.85) else "white")
    }
    graphics::text(nodes$x[i], nodes$y[i], parse(text = nodes$label[i]))
  }
  invisible(list(nodes = nodes, edges = edges))
}

# The nodes (constants, parameters, data), edges and plates of a model's
# graph: rows from the prior's constants down to the data, one row of group
# means per level, nested plates. The two-level model reproduces the
# lecture's figure.
model_graph <- function(meta) {
  levels <- meta$levels
  depth <- length(levels)
  tag <- gsub("[^A-Za-z0-9]", "", levels)
  # paste0() would turn the empty `tag` of `y ~ 1` into one name
  per_level <- function(...) if (depth == 0L) character() else paste0(...)
  tau <- if (depth == 1L) "tau_b" else per_level("tau_", tag)
  tau_label <- if (depth == 1L) "tau[b]" else per_level("tau[", tag, "]")
  ab <- if (depth == 1L) "a*','~b" else per_level("a[", tag, "]*','~b[", tag, "]")
  theta <- if (depth == 1L) "theta_k" else paste0("theta_", tag)
  theta_label <- if (depth == 1L) "theta[k]" else paste0("theta[", tag, "]")
  within <- if (depth == 0L) "one" else meta$within
  data_node <- if (depth) "y_ik" else "y_i"
  top <- depth + 3
  row <- data.frame(
    name = c("mu0, tau0", if (depth == 1L) "a, b" else per_level("a, b (", tag, ")"),
             switch(within,
      one = "a, b", common = "alpha, beta", known = character(),
      group = c("a0, b0", "lambda"))),
    label = c("mu[0]*','~tau[0]", ab, switch(within,
      one = "a*','~b", common = "alpha*','~beta", known = character(),
      group = c("a[0]*','~b[0]", "lambda"))),
    stringsAsFactors = FALSE
  )
  params <- c("mu", tau, switch(within, one = "tau", common = "tau_w",
                                known = character(), group = c("sigma0", "nu0")))
  param_labels <- c("mu", tau_label, switch(within, one = "tau",
    common = "tau[w]", known = character(), group = c("sigma[0]^2", "nu[0]")))
  m <- length(params)
  nodes <- rbind(
    data.frame(name = row$name, label = row$label, x = seq_len(m), y = top,
               fixed = TRUE, stringsAsFactors = FALSE),
    data.frame(name = params, label = param_labels, x = seq_len(m), y = top - 1,
               fixed = FALSE, stringsAsFactors = FALSE),
    if (depth) data.frame(name = theta, label = theta_label, x = 1.5,
                          y = top - 1 - seq_len(depth), fixed = FALSE,
                          stringsAsFactors = FALSE),
    switch(within,
      known = data.frame(name = "se_k", label = "se[k]", x = 3, y = 2,
                         fixed = TRUE),
      group = data.frame(name = "sigma_k", label = "sigma[k]^2", x = 3, y = 2,
                         fixed = FALSE)),
    data.frame(name = data_node, label = if (depth) "y[ik]" else "y[i]",
               x = if (depth) 2.25 else 1.5, y = 1, fixed = FALSE)
  )
  edges <- data.frame(from = c(row$name, if (depth) c("mu", theta[-depth]), tau),
                      to = c(params, if (depth) c(theta, theta)))
  last <- if (depth) theta[depth] else "mu"
  edges <- rbind(edges, data.frame(from = c(last, switch(within,
    one = "tau", common = "tau_w", known = "se_k", group = "sigma_k")),
    to = data_node))
  if (within == "group") {
    edges <- rbind(edges, data.frame(from = c("sigma0", "nu0"), to = "sigma_k"))
  }
  right <- max(3.4, m + 0.4)
  plates <- lapply(seq_len(depth), function(l) {
    inset <- 0.1 * (l - 1)
    size <- if (depth == 1L) "K" else toupper(substr(tag[l], 1L, 1L))
    y1 <- top - 1 - l + 0.45
    # an outer plate's label goes in its top corner, clear of the inner ones
    list(x0 = 1.05 + inset, y0 = 0.45 + inset / 2, x1 = right - inset, y1 = y1,
         label_y = if (l < depth) y1 - 0.1 else 0.55 + inset / 2,
         label = paste0(if (depth == 1L) "k" else tag[l], " = 1, ..., ", size,
                        " (", size, " = ", nrow(meta$nodes[[l]]), ")"))
  })
  plates <- c(plates, list(list(
    x0 = if (depth) 1.8 else 1.05, y0 = 0.6, x1 = if (depth) 2.95 else 2.2,
    y1 = 1.4, label_y = 0.7, label = if (depth) "i = 1, ..., n_k" else
      paste0("i = 1, ..., n (n = ", nobs_of(meta), ")"))))
  list(nodes = nodes, edges = edges, plates = plates)
}
