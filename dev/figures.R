# Writes the lecture's figures as PNGs under man/figures/ (shown in the
# README), and prints how long each takes to draw for K = 100 and K = 10,000.
# Run from the package root after installing: Rscript dev/figures.R
library(hiermod)
out <- "man/figures"
prior <- hier_prior(mu0 = 50, tau0 = 1/25, a = 1/2, b = 50, alpha = 1/2,
                    beta = 50)
f <- fit(mathscore ~ school, schools, prior = prior, seed = 2009)
figures <- list(
  "schools-data" = list(function() plot(group_data(mathscore ~ school, schools)), 1100, 500),
  "global-parameters" = list(function() plot(f), 900, 1000),
  "theta" = list(function() plot(f, type = "theta"), 1000, 550),
  "shrinkage" = list(function() plot(f, type = "shrinkage"), 700, 700),
  "graph" = list(function() plot(f, type = "graph"), 800, 650)
)
for (name in names(figures)) {
  fig <- figures[[name]]
  grDevices::png(file.path(out, paste0(name, ".png")), width = fig[[2]],
                 height = fig[[3]], res = 110)
  fig[[1]]()
  invisible(grDevices::dev.off())
}

set.seed(1)
k <- 1e4
d <- data.frame(g = rep(seq_len(k), 20))
d$y <- rnorm(k, 50, 5)[d$g] + rnorm(20 * k, 0, 9)
big <- fit(y ~ g, d, seed = 1)
grDevices::pdf(NULL)
timing <- function(x, type) {
  system.time(plot(x, type = type, ask = FALSE))[["elapsed"]]
}
types <- c("trace", "theta", "shrinkage", "graph")
times <- data.frame(type = types,
                    K_100 = vapply(types, function(t) timing(f, t), 0),
                    K_10000 = vapply(types, function(t) timing(big, t), 0),
                    row.names = NULL)
data_time <- c(system.time(plot(group_data(mathscore ~ school, schools)))[["elapsed"]],
               system.time(plot(group_data(y ~ g, d)))[["elapsed"]])
invisible(grDevices::dev.off())
times <- rbind(times, data.frame(type = "group_data", K_100 = data_time[1],
                                 K_10000 = data_time[2]))
cat("seconds to draw each figure (4 chains x 1000 draws):\n")
print(times, row.names = FALSE)

# The package logo (man/figures/logo.png) and the site's favicons
# (pkgdown/favicon/; drawn here, since pkgdown would ask a web service): the
# model's shape, one population mean above group means above observations.
draw_logo <- function(file, width, height = round(width * 1.16), label = TRUE) {
  grDevices::png(file, width = width, height = height, res = 110 * width / 240,
                 bg = "transparent")
  graphics::par(mar = c(0, 0, 0, 0))
  graphics::plot.new()
  graphics::plot.window(xlim = c(-1, 1), ylim = c(-1.16, 1.16), asp = 1)
  hex <- seq(pi / 6, 2 * pi, by = pi / 3)
  graphics::polygon(cos(hex) * 1.1, sin(hex) * 1.1 * 1.07, col = "#2c3e50", border = NA)
  groups <- c(-0.55, 0, 0.55)
  leaves <- rep(groups, each = 2) + c(-0.15, 0.15)
  graphics::segments(0, 0.5, groups, 0.05, col = "white", lwd = 2)
  graphics::segments(rep(groups, each = 2), 0.05, leaves, -0.35, col = "grey80", lwd = 1.5)
  graphics::points(0, 0.5, pch = 21, bg = "#e74c3c", col = "white", cex = 3.2)
  graphics::points(groups, rep(0.05, 3), pch = 21, bg = "#f1c40f", col = "white", cex = 2.4)
  graphics::points(leaves, rep(-0.35, 6), pch = 21, bg = "white", col = "white", cex = 1.2)
  if (label) graphics::text(0, -0.72, "hiermod", col = "white", cex = 1.3, font = 2)
  invisible(grDevices::dev.off())
}
draw_logo(file.path(out, "logo.png"), 240)
dir.create("pkgdown/favicon", showWarnings = FALSE, recursive = TRUE)
for (size in c(16, 32)) {
  draw_logo(sprintf("pkgdown/favicon/favicon-%dx%d.png", size, size), size, size, FALSE)
}
draw_logo("pkgdown/favicon/apple-touch-icon.png", 180, 180, FALSE)
for (size in c(60, 76, 120)) {
  draw_logo(sprintf("pkgdown/favicon/apple-touch-icon-%dx%d.png", size, size), size, size, FALSE)
}
