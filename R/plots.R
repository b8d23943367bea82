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
#'   \eqn{\theta_k}, then \eqn{y_{ik}}.
#'
#' @param x A `hiermod_fit`.
#' @param type One of `"trace"`, `"theta"`, `"shrinkage"`, `"graph"`.
#' @param pars For `type = "trace"`: parameter names, `"theta"` or regular
#'   expressions (see [summary.hiermod_fit()]).
#' @param ask Ask before each new page, as coda does.
#' @param ... Passed to [coda::plot.mcmc()] for traces, to
#'   [graphics::plot()] otherwise.
#' @return Invisibly: the plotted draws (`"trace"`), a data frame of the
#'   plotted summaries (`"theta"`, `"shrinkage"`), or the graph's nodes and
#'   edges (`"graph"`).
#' @examples
#' f <- fit(mathscore ~ school, schools, chains = 2, iter = 1000, seed = 1)
#' plot(f)
#' plot(f, pars = c("theta[1]", "theta[2]"))
#' plot(f, type = "theta")
#' plot(f, type = "shrinkage")
#' plot(f, type = "graph")
#' @importFrom graphics plot
#' @importFrom grDevices dev.interactive
#' @export
plot.hiermod_fit <- function(x, type = c("trace", "theta", "shrinkage", "graph"),
                             pars = c("mu", "sd_w", "sd_b"),
                             ask = dev.interactive(), ...) {
  type <- check_choice(type, "type", c("trace", "theta", "shrinkage", "graph"))
  switch(type,
    trace = {
      draws <- x[, select_pars(x, pars), drop = FALSE]
      plot(draws, ask = ask, ...)
      invisible(draws)
    },
    theta = plot_theta(x, ...),
    shrinkage = plot_shrinkage(x, ...),
    graph = plot_graph(x)
  )
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
  k <- nrow(fit_meta(x)$stats)
  nodes <- data.frame(
    name = c("mu0, tau0", "a, b", "alpha, beta", "mu", "tau_b", "tau_w",
             "theta_k", "y_ik"),
    label = c("mu[0]*','~tau[0]", "a*','~b", "alpha*','~beta", "mu", "tau[b]",
              "tau[w]", "theta[k]", "y[ik]"),
    x = c(1, 2, 3, 1, 2, 3, 1.5, 2.25),
    y = c(4, 4, 4, 3, 3, 3, 2, 1),
    fixed = c(TRUE, TRUE, TRUE, FALSE, FALSE, FALSE, FALSE, FALSE)
  )
  edges <- data.frame(from = c("mu0, tau0", "a, b", "alpha, beta", "mu", "tau_b",
                               "theta_k", "tau_w"),
                      to = c("mu", "tau_b", "tau_w", "theta_k", "theta_k",
                             "y_ik", "y_ik"))
  old <- graphics::par(mar = c(0.5, 0.5, 2, 0.5))
  on.exit(graphics::par(old))
  graphics::plot.new()
  graphics::plot.window(xlim = c(0.4, 3.6), ylim = c(0.3, 4.5))
  graphics::title(main = "The model as a graph")
  # plates: groups k = 1..K around theta_k and y_ik; observations around y_ik
  graphics::rect(1.05, 0.45, 3.4, 2.45, border = grDevices::grey(0.4))
  graphics::text(3.35, 0.55, paste0("k = 1, ..., K (K = ", k, ")"), adj = 1, cex = 0.8)
  graphics::rect(1.8, 0.6, 2.95, 1.4, border = grDevices::grey(0.4))
  graphics::text(2.9, 0.7, "i = 1, ..., n_k", adj = 1, cex = 0.8)
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
      graphics::polygon(nodes$x[i] + r * cos(angles), nodes$y[i] + r * 0.8 * sin(angles),
                        col = if (nodes$name[i] == "y_ik") grDevices::grey(0.85) else "white")
    }
    graphics::text(nodes$x[i], nodes$y[i], parse(text = nodes$label[i]))
  }
  invisible(list(nodes = nodes, edges = edges))
}
