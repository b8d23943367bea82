#' Per-group summaries: all a fit needs from the data
#'
#' Every model of [fit()] with unknown within-group variances needs only each
#' group's count, mean and within sum of squares. `group_summaries()`
#' computes them from the rows (in one numerically stable pass, as
#' [fit()] does); `hiermod_summaries()` builds the same table from published
#' counts, means and standard deviations. [fit()] accepts either in place of
#' the rows and, for the same seed, gives the same draws as from the rows
#' themselves.
#'
#' A regression (a formula with covariates or group slopes, see [fit()])
#' needs a little more from each group of its last level: the means of the
#' model's variables (the response, then every column of its designs but
#' the intercept, each once: `mean[<variable>]`) and their cross-products
#' about those means (`cp[<a>,<b>]`), computed in one stable pass; the
#' table keeps the designs' terms, factor levels and contrasts, so that
#' the fit from it predicts from `newdata` as the fit from the rows does,
#' and its draws are the same. Its groups may be reordered or left out;
#' its other columns must stay as they are. A database computes them in
#' one `GROUP BY` (each column of the designs written as a product of the
#' table's columns or of expressions dbplyr translates, `I(x^2)` among
#' them), so there the covariates must be numeric: a factor's columns need
#' its levels and contrasts, which a query does not have (give its
#' indicator columns, or summarise the rows in R). A CSV file gives them
#' in one pass a chunk at a time (see below): each record's numeric
#' covariates are reduced per group and per value of the covariate columns
#' that hold text, and the designs are built at the end, when every level
#' of every factor is known, so factors, interactions and contrasts work
#' as they do on the data frame `read.csv()` would give. A covariate
#' column is numbers unless one of its fields is not (then the file is read
#' again with that column as text, as `read.csv()` types it); a covariate
#' computed from the row's numbers must be computed row by row (`log(x)`,
#' `I(x^2)`, not `scale(x)` or `poly(x, 2)`) and may not mix numbers with
#' a text or grouping column in one expression (write `x:f`). The core
#' reads plain decimal numbers itself, correctly rounded (R's own parser
#' is not: about one value in 4,000 written by `data.table::fwrite()`
#' differs from `read.csv()`'s in the last bit), and leaves any other
#' field (spaces, `Inf`, hexadecimal) to R.
#'
#' Data bigger than memory stay where they are:
#' * a database table, as a dbplyr lazy table (`dplyr::tbl(con, "scores")`)
#'   or a DBI connection with `table =`: the reduction runs in the database
#'   as a `GROUP BY` query written by dbplyr (no SQL to write), in two
#'   passes (the group means, then the squared deviations from them) so that
#'   no sum of squares cancels; one row per group comes back. The response
#'   may be an expression dbplyr can translate (`log(y)`); the groups must
#'   be columns. hiermod opens no connection of its own and leaves the
#'   user's as it was.
#' * a CSV file (its path; plain, or compressed by gzip, bzip2 or xz), read
#'   in one pass, `chunk_size` records at a time, so that memory is bounded
#'   by the chunk and the number of groups and the summaries do not depend
#'   on the chunks. The file must be UTF-8 CSV as RFC 4180 defines it
#'   (fields separated by commas, quoted with `"`, a quote inside doubled);
#'   a malformed line (a quote never closed, more or fewer fields than the
#'   header) is an error naming it. Each grouping column gets the type
#'   [utils::read.csv()] would give it, from all its values, so that the
#'   groups and their order are those of `read.csv()` and a data frame. The
#'   response's columns are read as numbers and the response is computed a
#'   chunk at a time, so it must be computed row by row (`log(y)`, not
#'   `y - mean(y)`).
#'
#' As R's modelling functions do, rows whose response is missing (`NULL` in
#' a database, `NA` or an empty field in a CSV file) are left out with a
#' message saying how many (for a regression, also rows with a missing
#' covariate or group). Text in a numeric column (which SQLite would
#' take for 0), NaN, infinite values and missing groups are errors.
#'
#' Summaries from a database equal those from the rows in R to
#' floating-point rounding (the sums are taken in another order), so a fit
#' from them is the same posterior, though not the same draws bit for bit.
#' Those from a CSV file are the rows' to the last bit, unless a group's
#' values are written in more than one way (`1` and `1.0`); a regression's
#' are the rows' to rounding (its numbers are read by the core, and a text
#' covariate splits its groups into parts), and the same whatever the
#' chunks.
#'
#' @param formula A formula as in [fit()]: `y ~ group`, `y ~ region/school`,
#'   `y ~ 1`, or a regression such as `y ~ x + (x | group)`.
#' @param data A data frame holding the formula's variables; a dbplyr lazy
#'   table; a DBI connection (with `table`); or the path of a CSV file with a
#'   header line.
#' @param table The name of the table when `data` is a DBI connection.
#' @param chunk_size Records read at a time from a CSV file.
#' @param group The groups: a vector (one level), or a data frame with one
#'   column per level of nesting, top level first; each group once.
#' @param n Group sizes (whole numbers, at least 1).
#' @param mean Group means.
#' @param sd Group standard deviations (divisor `n - 1`); `NA` or 0 where
#'   `n` is 1.
#' @param response Name of the response, used by the fit's formula.
#' @return A data frame of class `hiermod_summaries`, one row per group of
#'   the last level: a column per grouping level (the group's value in that
#'   level), then `n`, `mean` and `ss` (the within sum of squares about the
#'   mean); so no grouping level may be named `n`, `mean` or `ss` (group by
#'   `I(n)` instead). For a regression, `n`, then `mean[<variable>]` and
#'   `cp[<a>,<b>]` columns (see above). Its `formula` attribute is the
#'   model's formula.
#' @seealso [fit()], which takes the result as `data` (or as its first
#'   argument).
#' @examples
#' s <- group_summaries(mathscore ~ school, schools)
#' head(s)
#' f <- fit(s, chains = 2, iter = 500, seed = 1)
#' identical(as.matrix(f), as.matrix(fit(mathscore ~ school, schools,
#'                                       chains = 2, iter = 500, seed = 1)))
#' # From a database (SQLite here), without pulling the rows into R
#' if (requireNamespace("RSQLite", quietly = TRUE) &&
#'     requireNamespace("dbplyr", quietly = TRUE)) {
#'   con <- DBI::dbConnect(RSQLite::SQLite(), ":memory:")
#'   DBI::dbWriteTable(con, "schools", schools)
#'   print(head(group_summaries(mathscore ~ school, dplyr::tbl(con, "schools"))))
#'   DBI::dbDisconnect(con)
#' }
#' # From a CSV file, a chunk at a time
#' path <- system.file("extdata", "schools.csv", package = "hiermod")
#' head(group_summaries(mathscore ~ school, path, chunk_size = 500))
#' # From a published table: Hoff's first three schools
#' hiermod_summaries(group = c("1", "2", "3"), n = c(31, 22, 23),
#'                   mean = c(50.8, 46.5, 48.8), sd = c(11.0, 9.8, 9.2),
#'                   response = "mathscore")
#' @export
group_summaries <- function(formula, data, table = NULL, chunk_size = 1e6) {
  regression <- inherits(formula, "formula") && length(formula) == 3L &&
    is_regression_rhs(formula[[3L]])
  terms <- if (!regression) parse_hier_formula(formula)
  if (!regression) check_group_names(level_names(terms), "formula")
  if (inherits(data, "DBIConnection")) data <- table_of_connection(data, table)
  if (inherits(data, "tbl_lazy")) {
    return(if (regression) {
      lmm_summaries_from_table(formula, data)
    } else {
      summaries_from_table(terms, data)
    })
  }
  if (is.character(data) && length(data) == 1L && !is.na(data)) {
    if (!nzchar(data)) {
      hm_abort("data", "is an empty string, not the path of a CSV file.")
    }
    if (!file.exists(data)) {
      hm_abort("data", "names a file that does not exist: ", data, ".")
    }
    return(if (regression) {
      lmm_summaries_from_csv(formula, data, chunk_size)
    } else {
      summaries_from_csv(terms, data, formula, chunk_size)
    })
  }
  if (regression) return(lmm_summaries(formula, data))
  model <- model_from_rows(terms, data, formula, NULL)
  as_summaries(model, terms)
}

# The lazy table `table` of the DBI connection `con`, checked.
table_of_connection <- function(con, table) {
  if (!is.character(table) || length(table) != 1L || is.na(table) ||
      !nzchar(table)) {
    hm_abort("table", "must name a table of the connection `data`, not ",
             if (identical(table, "")) "an empty string" else describe(table), ".")
  }
  if (!requireNamespace("dplyr", quietly = TRUE)) {
    hm_abort("data", "is a database connection, which needs the dplyr package.")
  }
  check_connection(con)
  exists <- tryCatch(DBI::dbExistsTable(con, table), error = function(e) {
    hm_abort("data", "could not be queried: ", conditionMessage(e))
  })
  if (!exists) {
    hm_abort("table", "\"", table, "\" is not a table of the connection.")
  }
  dplyr::tbl(con, table)
}

#' @rdname group_summaries
#' @export
hiermod_summaries <- function(group, n, mean, sd, response = "y") {
  if (!is.character(response) || length(response) != 1L || is.na(response)) {
    hm_abort("response", "must be a single name, not ", describe(response), ".")
  }
  levels <- group
  if (!is.data.frame(group)) {
    levels <- stats::setNames(data.frame(group, stringsAsFactors = FALSE), "group")
  }
  k <- nrow(levels)
  if (is.null(names(levels)) || any(!nzchar(names(levels)))) {
    hm_abort("group", "must be a vector or a data frame with named columns.")
  }
  check_group_names(names(levels), "group")
  if (k > 0L && max(tuple_codes(levels, k)) < k) {
    hm_abort("group", "has a group more than once: each group must be given ",
             "once, with its n, mean and sd.")
  }
  per_group <- function(x, arg, ok, what) {
    if (!is.numeric(x) || length(x) != k || any(!is.finite(x)) || !all(ok(x))) {
      hm_abort(arg, "must be ", what, ", one per group (", k, "), not ",
               describe(x), ".")
    }
  }
  per_group(n, "n", function(x) x >= 1 & x == round(x), "whole numbers of at least 1")
  per_group(mean, "mean", function(x) TRUE, "finite numbers")
  if (is.numeric(sd)) sd[is.na(sd) & n == 1] <- 0
  per_group(sd, "sd", function(x) x >= 0,
            "non-negative finite numbers (NA only where n is 1)")
  rows <- levels
  rows$n <- as.integer(n)
  rows$mean <- as.double(mean)
  rows$ss <- (as.double(n) - 1) * as.double(sd)^2
  formula <- stats::as.formula(paste(
    backquote(response), "~", paste(vapply(names(levels), backquote, ""),
                                    collapse = "/")
  ), env = globalenv())
  summaries(rows, formula)
}

backquote <- function(name) deparse1(as.name(name), backtick = TRUE)

summaries <- function(rows, formula) {
  rownames(rows) <- NULL
  structure(rows, formula = formula,
            class = c("hiermod_summaries", "data.frame"))
}

# The summaries of a model built from rows, one row per last-level group.
as_summaries <- function(model, terms) {
  rows <- leaf_group_values(model$levels, lapply(model$nodes, `[[`, "value"),
                            lapply(model$nodes, `[[`, "parent"), nrow(model$stats))
  rows$n <- as.integer(model$stats$n)
  rows$mean <- model$stats$mean
  rows$ss <- model$stats$ss
  summaries(rows, summaries_formula(terms))
}

# A column per level (named by `names`, top first) holding, for each of
# the `k` groups of the last level, its own or its ancestor's value at that
# level (each level's `values` and `parents`).
leaf_group_values <- function(names, values, parents, k) {
  rows <- data.frame(row.names = seq_len(k))
  node <- seq_len(k)
  for (l in rev(seq_along(names))) {
    rows[[names[l]]] <- values[[l]][node]
    node <- parents[[l]][node]
  }
  rows[, rev(seq_along(names)), drop = FALSE]
}

# The formula of summaries: the response over the levels (`y ~ a/b`, `y ~ 1`).
summaries_formula <- function(terms) {
  levels <- lapply(level_names(terms), as.name)
  rhs <- if (length(levels)) Reduce(function(a, b) call("/", a, b), levels) else 1
  stats::as.formula(call("~", terms$response, rhs), env = globalenv())
}

# A summaries table has columns for the groups, then n, mean and ss: a
# group cannot take one of those names.
check_group_names <- function(names, arg) {
  taken <- intersect(names, c("n", "mean", "ss"))
  if (length(taken)) {
    hm_abort(arg, "names a group `", taken[1L], "`, which is also the name ",
             "of a column of the summaries (n, mean, ss): rename it (for a ",
             "database table, dplyr::rename()), or for a data frame or CSV ",
             "file group by `I(", taken[1L], ")`.")
  }
}

# For rows given as the values of each column (a list of vectors of length
# n), the number of each row's distinct tuple of values, 1, 2, ... in order
# of first appearance. Values are compared exactly (1e15 and 1e15 + 1
# differ), not by how they print.
tuple_codes <- function(columns, n) {
  if (length(columns) == 0L) return(rep(1L, n))
  codes <- lapply(columns, function(x) match(x, unique(x)))
  key <- if (length(codes) == 1L) codes[[1L]] else do.call(paste, c(codes, sep = "\r"))
  match(key, unique(key))
}

# Summaries collected from elsewhere (a database, chunks of a file): plain
# numbers, labels in UTF-8 (sorted byte by byte, whatever the locale), rows
# in the order fit() gives the groups.
finish_summaries <- function(rows, terms) {
  rows <- as.data.frame(rows, stringsAsFactors = FALSE)
  levels <- level_names(terms)
  for (l in levels) {
    x <- rows[[l]]
    if (is.factor(x)) x <- droplevels(x)
    if (is.character(x)) {
      x <- enc2utf8(x)
      if (!all(validUTF8(x))) {
        hm_abort("data", "has values of group `", l, "` that are not valid ",
                 "text in their encoding.")
      }
    }
    rows[[l]] <- x
  }
  rows$n <- as.integer(round(as.numeric(rows$n)))
  rows$mean <- as.numeric(rows$mean)
  rows$ss <- as.numeric(rows$ss)
  if (!all(is.finite(rows$mean) & is.finite(rows$ss))) {
    hm_abort("data", "has responses too large to summarise: their sums ",
             "overflow. Rescale the response (`y / 1000 ~ g`, say).")
  }
  summaries(rows[summary_order(rows, levels), , drop = FALSE], summaries_formula(terms))
}

# Rows ordered by their groups level by level, each level's values in the
# order fit() gives them (factor levels, or sorted values).
summary_order <- function(rows, levels) {
  if (length(levels) == 0L) return(seq_len(nrow(rows)))
  codes <- lapply(levels, function(n) {
    x <- rows[[n]]
    if (is.factor(x)) as.integer(x) else match(x, sort(unique(x), method = "radix"))
  })
  do.call(base::order, codes)
}

# The model of fit() from summaries: the same tree and statistics as from the
# rows they summarise, in the same order.
model_from_summaries <- function(s, terms) {
  names <- level_names(terms)
  expected <- setdiff(names(s), c("n", "mean", "ss"))
  if (!identical(names, expected)) {
    hm_abort("formula", "must use the summaries' groups (",
             paste(expected, collapse = "/"), "), not ",
             if (length(names)) paste(names, collapse = "/") else "none", ".")
  }
  for (col in c("n", "mean", "ss")) {
    if (!is.numeric(s[[col]]) || any(!is.finite(s[[col]]))) {
      hm_abort("data", "column `", col, "` of the summaries must be finite ",
               "numbers.")
    }
  }
  if (any(s$n < 1) || any(s$ss < 0)) {
    hm_abort("data", "summaries need n of at least 1 and ss of at least 0.")
  }
  k <- nrow(s)
  if (length(names) == 0L && k != 1L) {
    hm_abort("data", "summaries of `y ~ 1` must have one row, not ", k, ".")
  }
  # before encode_groups(), whose "at least 2 groups" would blame the formula
  if (k > 0L && max(tuple_codes(unclass(s)[names], k)) < k) {
    hm_abort("data", "has more than one row for a group: each row of the ",
             "summaries must be one group.")
  }
  groups <- lapply(names, function(n) encode_groups(s[[n]], k, as.name(n)))
  tree <- build_tree(groups, names, k, "data")
  nodes <- tree$nodes
  # one row per last-level group, in the groups' order
  s <- s[order(tree$codes), , drop = FALSE]
  labels <- if (length(nodes)) nodes[[length(nodes)]]$label else "(all)"
  n <- as.double(s$n)
  list(levels = names, nodes = nodes,
       stats = list2DF(list(group = labels, n = as.integer(n),
                            mean = as.double(s$mean), ss = as.double(s$ss))),
       rows = NULL, scale = scale_of_stats(n, s$mean, s$ss))
}

# A subset of the groups is still summaries of the model (fit() takes
# it); a table with other columns is a plain data frame.
#' @export
`[.hiermod_summaries` <- function(x, ...) {
  out <- NextMethod()
  if (!is.data.frame(out)) return(out)
  keep <- identical(names(out), names(x))
  for (a in c("formula", "design")) attr(out, a) <- if (keep) attr(x, a)
  if (!keep) class(out) <- "data.frame"
  out
}

#' @export
print.hiermod_summaries <- function(x, ...) {
  cat("Group summaries for ", deparse1(attr(x, "formula")), ": ", nrow(x),
      " group(s), ", sum(x$n), " observations\n", sep = "")
  print(list2DF(unclass(x)[names(x)]), ...)
  invisible(x)
}
