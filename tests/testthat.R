library(testthat)
library(hiermod)

test_check("hiermod")
