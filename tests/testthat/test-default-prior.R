# The default prior (half-Cauchy, scale sd(y), on every sd) on R's own
# grouped data: lme4's REML estimate of each sd lies inside the central 90%
# posterior interval wherever it is positive, and where REML is 0 the
# posterior has substantial mass near 0. The REML estimates are those of
# bench/priors.R (lme4 1.1-31), in inst/extdata/priors-reference.csv.

test_that("the default prior's 90% intervals hold REML; REML = 0 leaves mass near 0", {
  skip_on_cran()
  reml <- utils::read.csv(system.file("extdata", "priors-reference.csv",
                                      package = "hiermod"))
  reml <- reml[reml$method == "REML", ]
  names(reml)[names(reml) == "median"] <- "reml"
  coagulation <- utils::read.csv(system.file("extdata", "coagulation.csv",
                                             package = "hiermod"))
  data_of <- function(source) {
    if (source == "hiermod::schools") return(schools)
    if (source == "inst/extdata/coagulation.csv") return(coagulation)
    pkg <- sub("::.*", "", source)
    if (!requireNamespace(pkg, quietly = TRUE)) return(NULL)
    # unordered factors, as lme4 reads them
    d <- as.data.frame(getExportedValue(pkg, sub(".*::", "", source)))
    d[] <- lapply(d, function(x) if (is.factor(x)) factor(x, ordered = FALSE) else x)
    d
  }
  checked <- 0L
  cases <- unique(reml[c("source", "formula")])
  for (i in seq_len(nrow(cases))) {
    d <- data_of(cases$source[i])
    if (is.null(d)) next
    rows <- reml[reml$source == cases$source[i] & reml$formula == cases$formula[i], ]
    f <- fit(stats::as.formula(cases$formula[i]), d, chains = 4, iter = 4000,
             seed = 1, keep = "global", progress = FALSE)
    draws <- as.matrix(f)
    sds <- grep("^sd_", colnames(draws), value = TRUE)
    # hiermod names a single level's sd sd_b, nested ones sd_<factor>
    expect_identical(length(sds), nrow(rows))
    for (j in seq_len(nrow(rows))) {
      column <- if (rows$parameter[j] == "sd_w") "sd_w" else sds[j]
      q <- stats::quantile(draws[, column], c(0.05, 0.5, 0.95), names = FALSE)
      what <- paste(cases$source[i], rows$parameter[j], "REML", signif(rows$reml[j], 3),
                    "90%", paste(signif(q[c(1, 3)], 3), collapse = "-"))
      if (rows$reml[j] > 0) {
        expect_true(rows$reml[j] >= q[1] && rows$reml[j] <= q[3], label = what)
      } else {
        residual <- rows$reml[rows$parameter == "sd_w"]
        expect_lt(q[1], 0.05 * residual, label = what)
        expect_lt(q[2], 0.25 * residual, label = what)
      }
      checked <- checked + 1L
    }
  }
  # the nlme data sets, schools and coagulation are always there
  expect_gte(checked, 13L)
})
