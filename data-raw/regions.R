# Simulates `regions`: students in schools in regions (the lecture's
# "Extensions" slide), from the three-level model with known values.
# Run from the package root: Rscript data-raw/regions.R
set.seed(20261124)
n_regions <- 8
mu <- 50
sd_region <- 4
sd_school <- 3
sd_w <- 8
rows <- list()
region_effect <- rnorm(n_regions, mu, sd_region)
for (r in seq_len(n_regions)) {
  # Schools are numbered within their region: school 1 of region A is not
  # school 1 of region B.
  n_schools <- sample(4:12, 1)
  school_effect <- rnorm(n_schools, region_effect[r], sd_school)
  for (s in seq_len(n_schools)) {
    n <- sample(5:30, 1)
    rows[[length(rows) + 1L]] <- data.frame(
      region = LETTERS[r], school = s,
      score = round(rnorm(n, school_effect[s], sd_w), 1)
    )
  }
}
regions <- do.call(rbind, rows)
save(regions, file = "data/regions.rda", compress = "xz")

eight_schools <- data.frame(
  school = LETTERS[1:8],
  y = c(28, 8, -3, 7, -1, 1, 18, 12),
  se = c(15, 10, 16, 11, 9, 11, 10, 18)
)
save(eight_schools, file = "data/eight_schools.rda", compress = "xz")
