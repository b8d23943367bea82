#' Math scores of 1,993 students in 100 US high schools
#'
#' The data of the lecture "Hierarchical Modelling" and of Hoff (2009),
#' section 8.4 (`Y.school.mathscore`): math scores of 10th-grade students in
#' 100 large urban US public high schools, from the 2002 Educational
#' Longitudinal Study (ELS) of the US National Center for Education
#' Statistics. Schools have 4 to 32 students (median 20).
#'
#' @format A data frame with 1,993 rows (students, sorted by school) and 2
#'   columns:
#' \describe{
#'   \item{school}{integer school index, 1 to 100 (Hoff's numbering).}
#'   \item{mathscore}{numeric math score (mean 48.07, sd 10.24).}
#' }
#' The same data as a CSV file:
#' `system.file("extdata", "schools.csv", package = "hiermod")`.
#' @source Hoff, P. D. (2009). *A First Course in Bayesian Statistical
#'   Methods*. Springer. Supplementary data `Y.school.mathscore`
#'   (<https://www2.stat.duke.edu/~pdh10/FCBS/>); checked value by value
#'   against three independent public copies.
#' @examples
#' str(schools)
#' # group sizes and sample means
#' summary(as.vector(table(schools$school)))
#' head(tapply(schools$mathscore, schools$school, mean))
"schools"

#' Rubin's eight schools: a meta-analysis with known standard errors
#'
#' Estimated effects of coaching programs on SAT-V scores in eight high
#' schools, each with its standard error (Rubin 1981; Gelman et al. 2013,
#' section 5.5). The classic case of the known-variance model, where the
#' lecture's centred Gibbs sweep mixes badly: `fit(y ~ school,
#' eight_schools, se = se)`.
#'
#' @format A data frame with 8 rows and 3 columns:
#' \describe{
#'   \item{school}{school label, `"A"` to `"H"`.}
#'   \item{y}{estimated treatment effect (SAT-V points).}
#'   \item{se}{its standard error.}
#' }
#' @source Rubin, D. B. (1981). Estimation in parallel randomized
#'   experiments. *Journal of Educational Statistics*, 6(4), 377-401.
#' @examples
#' eight_schools
"eight_schools"

#' Simulated students in schools in regions
#'
#' Data for the lecture's "Extensions" slide (students in schools in
#' regions), simulated from the three-level model with `mu = 50`, region
#' sd 4, school sd 3 and student sd 8 (script `data-raw/regions.R` in the
#' package sources). Schools are numbered within their region, so school 1
#' of region A and school 1 of region B are different schools: write the
#' model as `score ~ region/school`.
#'
#' @format A data frame with 931 rows (students) and 3 columns:
#' \describe{
#'   \item{region}{region label, `"A"` to `"H"`.}
#'   \item{school}{school number within its region.}
#'   \item{score}{the student's score.}
#' }
#' @examples
#' f <- fit(score ~ region/school, regions, chains = 2, iter = 1000, seed = 1)
#' f
"regions"
