# Group summaries computed where the data live: a database table (through
# dbplyr, which writes the SQL) or a CSV file read in chunks. Only one row
# per group comes back to R, whatever the number of rows.

# Summaries of a dbplyr lazy table, by a query run in the database: the
# group means, then the squared deviations from them (two passes, so that
# no sum of squares cancels). Expressions are built with quote() and
# spliced, so that dplyr sees the table's columns.
summaries_from_table <- function(terms, tbl) {
  for (pkg in c("dplyr", "dbplyr")) {
    if (!requireNamespace(pkg, quietly = TRUE)) {
      hm_abort("data", "is a database table, which needs the ", pkg,
               " package: install it.")
    }
  }
  levels <- level_names(terms)
  for (l in seq_along(terms$levels)) {
    if (!is.name(terms$levels[[l]])) {
      hm_abort("formula", "group `", levels[l], "` must be a column of the ",
               "table, not an expression, when `data` is a database table.")
    }
  }
  columns <- colnames(tbl)
  unknown <- setdiff(c(free_variables(terms$response), levels), columns)
  if (length(unknown)) {
    hm_abort("formula", "refers to ", paste0("`", unknown, "`", collapse = ", "),
             ", not a column of the table (columns: ",
             paste(utils::head(columns, 10L), collapse = ", "),
             if (length(columns) > 10L) ", ...", ").")
  }
  response <- deparse1(terms$response)
  keys <- if (length(levels)) levels else ".hm_all"
  rows <- dplyr::mutate(tbl, !!!list(.hm_y = terms$response, .hm_all = 1L))
  rows <- dplyr::select(rows, dplyr::all_of(c(keys, ".hm_y")))
  # One row shows the response's type: an empty result set has none in
  # SQLite, and a NULL comes back as NA (the NULL count below reports it).
  proto <- tryCatch(dplyr::collect(utils::head(rows, 1L)), error = function(e) {
    hm_abort("formula", "could not evaluate the response `", response,
             "` in the database: ", conditionMessage(e))
  })
  if (!is.numeric(proto$.hm_y) && !all(is.na(proto$.hm_y))) {
    hm_abort("formula", "response `", response, "` must be numeric, not ",
             class(proto$.hm_y)[1L], " (its type in the database).")
  }
  check_table_rows(rows, c(".hm_y", levels), c(response, levels))
  # Each row sees its group's mean through a window function (AVG() OVER
  # (PARTITION BY the groups)): one sort of the table, where a join of the
  # rows with a table of group means is quadratic in engines without an
  # index.
  grouped <- dplyr::group_by(rows, dplyr::across(dplyr::all_of(keys)))
  with_mean <- dplyr::mutate(grouped, !!!list(.hm_mean = quote(mean(.hm_y, na.rm = TRUE))))
  deviations <- list(n = quote(n()),
                     mean = quote(max(.hm_mean, na.rm = TRUE)),
                     ss = quote(sum((.hm_y - .hm_mean) * (.hm_y - .hm_mean),
                                    na.rm = TRUE)))
  out <- as.data.frame(dplyr::collect(dplyr::summarise(with_mean, !!!deviations,
                                                       .groups = "drop")))
  finish_summaries(out[c(levels, "n", "mean", "ss")], terms)
}

# One query counts the rows and the NULLs of each column used; refuses an
# empty table and NULLs, naming the variable.
check_table_rows <- function(rows, columns, names) {
  counts <- lapply(columns, function(col) {
    bquote(sum(ifelse(is.na(.(as.name(col))), 1L, 0L), na.rm = TRUE))
  })
  names(counts) <- paste0(".hm_missing_", seq_along(columns))
  counts <- dplyr::collect(dplyr::summarise(rows, !!!c(list(.hm_rows = quote(n())),
                                                       counts)))
  if (as.numeric(counts$.hm_rows) == 0) hm_abort("data", "has no rows.")
  for (j in seq_along(columns)) {
    missing <- as.numeric(counts[[paste0(".hm_missing_", j)]])
    if (is.na(missing)) missing <- 0
    if (missing > 0) {
      hm_abort("formula", if (j == 1L) "response `" else "group `", names[j],
               "` has ", format(missing), " missing (NULL) value(s) in the ",
               "table; remove those rows first.")
    }
  }
}

# Summaries of a CSV file read `chunk_size` rows at a time: each chunk's
# group statistics, merged into the running ones by Chan's formula. Memory
# is bounded by the chunk and the number of groups.
summaries_from_csv <- function(terms, path, formula, chunk_size) {
  chunk_size <- check_count(chunk_size, "chunk_size", 1L)
  con <- file(path, open = "r")
  on.exit(close(con))
  header <- tryCatch(utils::read.csv(con, nrows = 1L, header = FALSE,
                                     stringsAsFactors = FALSE),
                     error = function(e) hm_abort("data", "is an empty file."))
  columns <- as.character(unlist(header[1L, ]))
  acc <- NULL
  classes <- NA
  offset <- 0
  repeat {
    chunk <- tryCatch(
      utils::read.csv(con, header = FALSE, col.names = columns, nrows = chunk_size,
                      colClasses = classes, stringsAsFactors = FALSE,
                      check.names = FALSE),
      error = function(e) {
        # read.csv's way of saying that the file has no more rows
        if (!grepl("no lines available", conditionMessage(e))) {
          hm_abort("data", "could not be read after row ", offset, ": ",
                   conditionMessage(e))
        }
      })
    if (is.null(chunk) || nrow(chunk) == 0L) break
    if (identical(classes, NA)) classes <- vapply(chunk, function(x) class(x)[1L], "")
    acc <- merge_group_stats(acc, chunk_stats(terms, chunk, formula, offset))
    offset <- offset + nrow(chunk)
    if (nrow(chunk) < chunk_size) break
  }
  if (is.null(acc)) hm_abort("data", "has no rows.")
  finish_summaries(acc$stats, terms)
}

# A chunk's rows reduced to per-group statistics, keyed by their groups'
# values (as data frame columns) and a single string key.
chunk_stats <- function(terms, chunk, formula, offset) {
  y <- eval_variable(terms$response, chunk, formula, "response")
  bad <- which(!is.finite(y))
  if (!is.numeric(y) || length(bad)) {
    hm_abort("formula", "response `", deparse1(terms$response), "` must be ",
             "numeric with no missing value", if (length(bad)) {
               paste0("; row ", offset + bad[1L], " has ", y[bad[1L]])
             }, ".")
  }
  values <- lapply(terms$levels, function(e) eval_variable(e, chunk, formula, "group"))
  names(values) <- level_names(terms)
  for (l in seq_along(values)) {
    if (anyNA(values[[l]])) {
      hm_abort("formula", "group `", names(values)[l], "` has missing values, ",
               "first in row ", offset + which(is.na(values[[l]]))[1L], ".")
    }
  }
  key <- if (length(values)) do.call(paste, c(values, sep = "\r")) else rep("", length(y))
  first <- !duplicated(key)
  codes <- match(key, key[first])
  st <- hm_group_stats(as.double(y), codes, sum(first), NULL)
  if (!is.null(st$error)) hm_abort("data", "could not be summarised: ", st$error)
  stats <- data.frame(n = st$n, mean = st$mean, ss = st$ss)
  if (length(values)) {
    groups <- as.data.frame(lapply(values, function(v) v[first]),
                            stringsAsFactors = FALSE, col.names = names(values))
    stats <- cbind(groups, stats)
  }
  list(key = key[first], stats = stats)
}

# The running statistics with a chunk's merged in: groups seen before by
# Chan's parallel formula (in Rust), new groups appended.
merge_group_stats <- function(acc, new) {
  if (is.null(acc)) return(new)
  at <- match(new$key, acc$key)
  seen <- !is.na(at)
  if (any(seen)) {
    a <- acc$stats[at[seen], ]
    b <- new$stats[seen, ]
    merged <- hm_merge_stats(a$n, a$mean, a$ss, b$n, b$mean, b$ss)
    acc$stats$n[at[seen]] <- merged$n
    acc$stats$mean[at[seen]] <- merged$mean
    acc$stats$ss[at[seen]] <- merged$ss
  }
  list(key = c(acc$key, new$key[!seen]),
       stats = rbind(acc$stats, new$stats[!seen, , drop = FALSE]))
}
