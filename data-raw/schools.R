# Rebuilds data/schools.rda from inst/extdata/schools.csv (run from the
# package root: Rscript data-raw/schools.R).
schools <- utils::read.csv("inst/extdata/schools.csv",
                           colClasses = c("integer", "numeric"))
stopifnot(nrow(schools) == 1993L, length(unique(schools$school)) == 100L)
save(schools, file = "data/schools.rda", compress = "xz", version = 2)
