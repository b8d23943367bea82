# The lecture's schools example: fit, print, and the trace/density figure of
# mu, sd_w and sd_b written to a file. Run by `make demo`.
library(hiermod)
out_dir <- Sys.getenv("HIERMOD_DEMO_DIR", "demo-output")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)

prior <- hier_prior(mu0 = 50, tau0 = 1/25, a = 1/2, b = 50,
                    alpha = 1/2, beta = 50)
elapsed <- system.time(
  f <- fit(mathscore ~ school, data = schools, prior = prior, seed = 2009)
)[["elapsed"]]
print(f)
cat(sprintf("\nfit time: %.3f s (4 chains x 2000 iterations, 100 schools)\n",
            elapsed))

figure <- file.path(out_dir, "schools-global-parameters.png")
grDevices::png(figure, width = 900, height = 1000, res = 110)
plot(f)
invisible(grDevices::dev.off())
cat("trace and density of mu, sd_w, sd_b written to", figure, "\n")
