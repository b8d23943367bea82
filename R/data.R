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
