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
