# Group summaries computed where the data live: a database table (through
# dbplyr, which writes the SQL) or a CSV file read in chunks. Only one row
# per group comes back to R, whatever the number of rows.

# Summaries of a dbplyr lazy table, by a query run in the database: the
# group means, then the squared deviations from them (two passes, so that
# no sum of squares cancels). Expressions are built with quote() and
# spliced, so that dplyr sees the table's columns.
summaries_from_table <- function(terms, tbl) {
  con <- check_table(tbl, terms$levels)
  levels <- level_names(terms)
  inputs <- free_variables(terms$response)
  columns <- check_table_columns(tbl, c(inputs, levels))
  response <- deparse1(terms$response)
  # Names of the query's own columns, unlike any of the table's.
  prefix <- ".hm"
  while (any(startsWith(columns, prefix))) prefix <- paste0(prefix, "_")
  v <- stats::setNames(paste0(prefix, "_", c("y", "all", "mean", "n", "ss")),
                       c("y", "all", "mean", "n", "ss"))
  keys <- if (length(levels)) levels else v[["all"]]
  rows <- dplyr::mutate(tbl, !!!stats::setNames(list(terms$response, 1L),
                                                v[c("y", "all")]))
  rows <- dplyr::select(rows, dplyr::all_of(unique(c(keys, inputs, v[["y"]]))))
  in_database <- function(query) {
    tryCatch(dplyr::collect(query), error = function(e) {
      hm_abort("formula", "could not evaluate the response `", response,
               "` in the database: ", conditionMessage(e))
    })
  }
  # One row shows the response's type: an empty result set has none in
  # SQLite, and a NULL comes back as NA (counted below). SQLite's types
  # are per value, not per column: its rows are counted below instead.
  sqlite <- inherits(con, "SQLiteConnection")
  proto <- in_database(utils::head(rows, 1L))[[v[["y"]]]]
  if (!sqlite && !is.numeric(proto) && !all(is.na(proto))) {
    hm_abort("formula", "response `", response, "` must be numeric, not ",
             class(proto)[1L], " (its type in the database).")
  }
  present <- check_table_rows(rows, terms, v[["y"]], inputs, sqlite, in_database)
  if (!is.null(present)) rows <- dplyr::filter(rows, !!present)
  # Each row sees its group's mean through a window function (AVG() OVER
  # (PARTITION BY the groups)): one sort of the table, where a join of the
  # rows with a table of group means is quadratic in engines without an
  # index.
  y <- as.name(v[["y"]])
  m <- as.name(v[["mean"]])
  grouped <- dplyr::group_by(rows, dplyr::across(dplyr::all_of(keys)))
  with_mean <- dplyr::mutate(grouped, !!!stats::setNames(
    list(bquote(mean(.(y), na.rm = TRUE))), v[["mean"]]))
  deviations <- stats::setNames(list(
    quote(n()), bquote(max(.(m), na.rm = TRUE)),
    bquote(sum((.(y) - .(m)) * (.(y) - .(m)), na.rm = TRUE))
  ), v[c("n", "mean", "ss")])
  out <- in_database(dplyr::summarise(with_mean, !!!deviations, .groups = "drop"))
  out <- as.data.frame(out)[c(levels, v[c("n", "mean", "ss")])]
  names(out) <- c(levels, "n", "mean", "ss")
  finish_summaries(out, terms)
}

# The table's connection, with the table checked: the packages it needs,
# its connection open, not grouped; the groups (`groups`, expressions) must
# be its columns.
check_table <- function(tbl, groups) {
  for (pkg in c("dplyr", "dbplyr")) {
    if (!requireNamespace(pkg, quietly = TRUE)) {
      hm_abort("data", "is a database table, which needs the ", pkg,
               " package: install it.")
    }
  }
  con <- dbplyr::remote_con(tbl)
  if (!is.null(con)) check_connection(con)
  grouped <- dplyr::group_vars(tbl)
  if (length(grouped)) {
    hm_abort("data", "is grouped (by ", paste(grouped, collapse = ", "),
             "): the formula gives the groups; dplyr::ungroup() it first.")
  }
  for (g in groups) {
    if (!is.name(g)) {
      hm_abort("formula", "group `", deparse1(g), "` must be a column of the ",
               "table, not an expression, when `data` is a database table.")
    }
  }
  con
}

# The table's columns, which must include `needed`; then a query of no
# row that does not involve the formula: an error there is the table's or
# the connection's (an expired one, a dropped table).
check_table_columns <- function(tbl, needed) {
  columns <- colnames(tbl)
  unknown <- setdiff(needed, columns)
  if (length(unknown)) {
    hm_abort("formula", "refers to ", paste0("`", unknown, "`", collapse = ", "),
             ", not a column of the table (columns: ",
             paste(utils::head(columns, 10L), collapse = ", "),
             if (length(columns) > 10L) ", ...", ").")
  }
  tryCatch(dplyr::collect(utils::head(tbl, 0L)), error = function(e) {
    hm_abort("data", "could not be queried: ", conditionMessage(e))
  })
  columns
}

# Refuses a connection its driver says is closed (not every driver can
# tell: RPostgreSQL has no dbIsValid()).
check_connection <- function(con) {
  valid <- tryCatch(DBI::dbIsValid(con), error = function(e) NA)
  if (isFALSE(valid)) {
    hm_abort("data", "is a closed database connection: connect again.")
  }
}

# One query counts the rows and what is wrong with them, and the checks
# refuse what no summary can hold, naming the variable and the count:
# responses that are text (SQLite keeps '' or 'NA' as text in a numeric
# column, where arithmetic would take them for 0), not finite (NaN,
# Infinity) or NULL where their columns are not; groups that are NULL.
# Rows whose response's columns are NULL are left out, saying how many, as
# R's modelling functions leave out missing responses. Returns the
# condition that keeps the others, or NULL if all are kept.
check_table_rows <- function(rows, terms, y, inputs, sqlite, in_database) {
  y <- as.name(y)
  or_all <- function(calls) Reduce(function(a, b) call("|", a, b), calls)
  missing <- if (length(inputs)) {
    or_all(lapply(inputs, function(x) call("is.na", as.name(x))))
  } else {
    bquote(is.na(.(y)))
  }
  # The number of rows where `ok` is not TRUE: a NULL (SQL's NaN in SQLite)
  # counts as not ok.
  bad <- function(ok) bquote(sum(dplyr::case_when(.(ok) ~ 0L, TRUE ~ 1L), na.rm = TRUE))
  counts <- list(
    rows = quote(n()),
    missing = bad(call("!", missing)),
    # x - x is 0 for a finite x, NaN (or NULL) for NaN and Infinity
    infinite = bad(bquote(is.na(.(y)) | (.(y) - .(y)) == 0)),
    undefined = bad(bquote(!is.na(.(y)) | .(missing)))
  )
  if (sqlite) {
    numeric <- lapply(c(inputs, as.character(y)), function(x) {
      bquote(typeof(.(as.name(x))) %in% c("integer", "real", "null"))
    })
    counts$text <- bad(Reduce(function(a, b) call("&", a, b), numeric))
  }
  levels <- level_names(terms)
  for (l in seq_along(levels)) {
    counts[[paste0("group", l)]] <- bad(bquote(!is.na(.(as.name(levels[l]))) | .(missing)))
  }
  names(counts) <- paste0(as.character(y), "_", names(counts))
  found <- in_database(dplyr::summarise(rows, !!!counts))
  found <- vapply(found, function(x) {
    x <- as.numeric(x)
    if (is.na(x)) 0 else x
  }, 0)
  names(found) <- sub(paste0("^", as.character(y), "_"), "", names(found))
  total <- found[["rows"]]
  if (total == 0) hm_abort("data", "has no rows.")
  response <- deparse1(terms$response)
  of_rows <- function(what) paste0(format(found[[what]]), " of ", format(total), " row(s)")
  if (isTRUE(found["text"] > 0)) {
    hm_abort("formula", "response `", response, "` must be numeric, not ",
             "character: in ", of_rows("text"), " it or a column it uses ",
             "holds text or a blob ('' or 'NA', say), not a number; fix those ",
             "rows or remove them first.")
  }
  if (found[["undefined"]] > 0) {
    hm_abort("formula", "response `", response, "` is undefined (NULL) in ",
             of_rows("undefined"), " whose columns are not NULL.")
  }
  if (found[["infinite"]] > 0) {
    hm_abort("formula", "response `", response, "` is not finite (NaN or ",
             "Infinity) in ", of_rows("infinite"), "; remove those rows first.")
  }
  for (l in seq_along(levels)) {
    missing_groups <- found[[paste0("group", l)]]
    if (missing_groups > 0) {
      hm_abort("formula", "group `", levels[l], "` has ", format(missing_groups),
               " missing (NULL) value(s) in the table; remove those rows first.")
    }
  }
  note_dropped_rows(found[["missing"]], total,
                    paste0("a missing response `", response, "` (NULL)"))
  if (found[["missing"]] > 0) call("!", missing)
}

# Rows with a missing value are left out, saying how many and why
# (`missing`: "a missing response `y` (NULL)"), as R's modelling functions
# do (na.omit); refuses data with no complete row at all.
note_dropped_rows <- function(dropped, total, missing, where = NULL) {
  if (dropped == 0) return(invisible())
  if (dropped == total) {
    hm_abort("data", "has no complete rows: all ", format(total), " have ",
             missing, ".")
  }
  message(structure(
    class = c("hiermod_dropped_rows", "message", "condition"),
    list(message = paste0(
      "Dropped ", format(dropped), " of ", format(total), " row(s) with ",
      missing, where, ".\n"),
      call = NULL)
  ))
}

# Summaries of a CSV file, `chunk_size` records at a time. The Rust reader
# parses the bytes (an error names a malformed line), keys the groups by
# the raw text of their fields and accumulates each group's statistics in
# one pass, so that they do not depend on the chunks; R turns each chunk's
# response fields into numbers, as read.csv() would. At the end each
# grouping column gets the type read.csv() would give it, from all its
# distinct values, and raw values that are the same value ("1", "01") are
# pooled.
summaries_from_csv <- function(terms, path, formula, chunk_size) {
  inputs <- NULL
  group_columns <- NULL
  choose <- function(header) {
    inputs <<- intersect(free_variables(terms$response), header)
    group_columns <<- intersect(unique(unlist(lapply(terms$levels, free_variables))),
                                header)
    check_csv_variables(c(list(terms$response), terms$levels), header, formula)
    check_row_wise(terms$response, inputs, formula, "response")
    list(fields = inputs, keys = group_columns, variables = NULL)
  }
  pass <- csv_pass(path, chunk_size, choose, function(chunk) {
    csv_response(terms, chunk, inputs, formula)
  })
  note_dropped_rows(pass$dropped, pass$total,
                    paste0("a missing response `", deparse1(terms$response), "` (NA or empty)"),
                    paste0(", first on line ", format(pass$first_dropped)))
  groups <- csv_call(hm_csv_groups(pass$reader))
  finish_summaries(csv_groups(terms, groups, group_columns, formula), terms)
}

# One pass over a CSV file, `chunk_size` records at a time. `choose(header)`
# names the columns whose fields each chunk brings (`fields`; those also in
# `numbers` come as numbers when the core can read every one of a chunk's
# without R, as plain decimals), those whose raw values key the groups
# (`keys`) and how many values a record gives (`variables`; NULL: one
# response); `values(chunk)` turns a chunk into them (a vector, or a
# matrix of a row per record; NA drops the record).
# Returns the reader, holding the groups, and the records read and dropped.
csv_pass <- function(path, chunk_size, choose, values) {
  chunk_size <- check_count(chunk_size, "chunk_size", 1L)
  reader <- glue_result(hm_csv_reader(enc2native(path.expand(path))), "data",
                        paste0("read (", path, ")"))$reader
  # gzfile() reads plain files too, and those compressed by gzip, bzip2 or xz
  con <- gzfile(path, open = "rb")
  on.exit(close(con))
  next_chunk <- csv_chunks(con, reader, chunk_size)
  header <- next_chunk()$header
  if (is.null(header)) hm_abort("data", "is an empty file.")
  chosen <- choose(header)
  for (name in unique(c(chosen$fields, chosen$keys))) {
    if (sum(header == name) > 1L) {
      hm_abort("data", "has two columns named `", name, "`.")
    }
  }
  variables <- if (!is.null(chosen$variables)) as.integer(chosen$variables)
  csv_call(hm_csv_select(reader, match(chosen$fields, header), match(chosen$keys, header),
                         variables))
  numbers <- which(chosen$fields %in% chosen$numbers)
  total <- 0
  dropped <- 0
  first_dropped <- NA
  repeat {
    chunk <- next_chunk(numbers)
    if (length(chunk$lines)) {
      v <- values(chunk)
      missing <- if (is.matrix(v)) rowSums(is.na(v)) > 0 else is.na(v)
      if (any(missing) && is.na(first_dropped)) first_dropped <- chunk$lines[missing][1L]
      dropped <- dropped + sum(missing)
      total <- total + length(missing)
      csv_call(hm_csv_add(reader, v))
    }
    if (chunk$finished) break
  }
  if (total == 0) hm_abort("data", "has no rows.")
  list(reader = reader, total = total, dropped = dropped, first_dropped = first_dropped)
}

# A function that returns the reader's next chunk: the header first, then
# up to `chunk_size` records, reading more of the file as the reader needs;
# the fields at the positions `numbers` as numbers where the core can.
csv_chunks <- function(con, reader, chunk_size) {
  function(numbers = integer()) {
    bytes <- NULL
    block <- 2^20
    repeat {
      out <- csv_call(hm_csv_next(reader, bytes, chunk_size, as.integer(numbers)))
      if (out$ready) return(out)
      # A record longer than the block is parsed again after each block:
      # doubling the block keeps that linear in the record's length.
      if (!is.null(bytes) && out$progress == 0) block <- min(2 * block, 2^30)
      bytes <- readBin(con, "raw", block)
    }
  }
}

csv_call <- function(out) glue_result(out, "data", "read")

# Every variable of the expressions `exprs` (the formula's parts) is a
# column of the file or an object in the formula's environment.
check_csv_variables <- function(exprs, header, formula) {
  env <- environment(formula)
  unknown <- character()
  for (expr in exprs) {
    missing_vars <- setdiff(free_variables(expr), header)
    unknown <- missing_vars[!vapply(missing_vars, exists, TRUE, envir = env)]
    if (length(unknown)) break
  }
  if (length(unknown)) {
    hm_abort("formula", "refers to ", paste0("`", unknown, "`", collapse = ", "),
             ", not found in `data` (columns: ",
             paste(utils::head(header, 10L), collapse = ", "),
             if (length(header) > 10L) ", ...", ").")
  }
}

# A response or covariate (`role`) read a chunk at a time must be computed
# row by row: on three made-up rows, `y - mean(y)` is not what it is on
# each row alone.
check_row_wise <- function(expr, inputs, formula, role) {
  if (is.name(expr) || length(inputs) == 0L) return(invisible())
  probe <- stats::setNames(rep(list(c(1.5, 2.5, 4)), length(inputs)), inputs)
  value <- function(data) {
    tryCatch(suppressWarnings(as.double(eval(expr, data, environment(formula)))),
             error = function(e) NULL)
  }
  whole <- value(probe)
  if (length(whole) != 3L) return(invisible())
  alone <- vapply(1:3, function(i) {
    v <- value(lapply(probe, `[`, i))
    if (length(v) == 1L) v else NA_real_
  }, 0)
  if (!identical(whole, alone)) {
    hm_abort("formula", role, " `", deparse1(expr), "` is not computed row ",
             "by row (a row's value depends on other rows), so it cannot be read ",
             "from a CSV file a chunk at a time; compute it in a data frame.")
  }
}

# A chunk's responses: each column the response uses read as numbers (NA
# or empty: missing, which drops the row), the response computed from them,
# and NA where a column is missing. Text that is not a number, and a
# response that is not finite ("NaN", "Inf"), are errors naming the line.
csv_response <- function(terms, chunk, inputs, formula) {
  n <- length(chunk$lines)
  missing <- logical(n)
  values <- stats::setNames(vector("list", length(inputs)), inputs)
  for (j in seq_along(inputs)) {
    column <- csv_numbers(chunk$fields[[j]])
    if (length(column$text)) {
      hm_abort("formula", "response `", deparse1(terms$response), "` must be ",
               "numeric: column `", inputs[j], "` has \"", chunk$fields[[j]][column$text],
               "\" on line ", format(chunk$lines[column$text]), ".")
    }
    missing <- missing | column$absent
    values[[j]] <- column$values
  }
  response <- deparse1(terms$response)
  y <- eval_variable(terms$response, values, formula, "response")
  if (!is.numeric(y) || length(y) != n) {
    hm_abort("formula", "response `", response, "` must be numeric, one value ",
             "per row, not ", describe(y), ".")
  }
  y <- as.double(y)
  y[missing] <- NA
  bad <- which(!missing & !is.finite(y))
  if (length(bad)) {
    hm_abort("formula", "response `", response, "` is ", format(y[bad[1L]]),
             " on line ", format(chunk$lines[bad[1L]]), ": it must be finite.")
  }
  y
}

# A column's fields as numbers, as read.csv() reads a numeric column: "NA"
# and empty fields are missing (`absent`); `text` is the first field that
# is not a number (none: integer(0)). Fields the core read already come as
# numbers.
csv_numbers <- function(x) {
  if (is.double(x)) return(list(values = x, absent = is.na(x), text = integer()))
  absent <- x == "NA" | x == ""
  values <- suppressWarnings(as.numeric(x))
  list(values = values, absent = absent,
       text = utils::head(which(is.na(values) & !is.nan(values) & !absent), 1L))
}

# The reader's keys (`groups$values`: each key's raw fields of the
# `columns`), each column typed as read.csv() would type it from all its
# distinct values.
csv_typed_keys <- function(groups, columns) {
  stats::setNames(lapply(groups$values, utils::type.convert, as.is = TRUE, na.strings = "NA"),
                  columns)
}

# The expression `e` (a `role`) of the keys' columns evaluated on the `m`
# typed `keys`: one value per key (a row, for a matrix), as per row.
csv_key_values <- function(e, keys, m, formula, role) {
  x <- eval_variable(e, keys, formula, role)
  if (NROW(x) != m) {
    hm_abort("formula", role, " `", deparse1(e), "` must be computed row by row ",
             "from the file's columns.")
  }
  x
}

# The summaries' rows from the reader's groups: each grouping column typed
# as read.csv() would type it, the levels evaluated on the distinct
# values, the groups met only in dropped rows left out, and raw values of
# the same group pooled.
csv_groups <- function(terms, groups, group_columns, formula) {
  values <- csv_typed_keys(groups, group_columns)
  names <- level_names(terms)
  levels <- lapply(terms$levels, function(e) {
    csv_key_values(e, values, length(groups$n), formula, "group")
  })
  keep <- groups$n > 0
  for (l in seq_along(levels)) {
    x <- levels[[l]]
    bad <- keep & (is.na(x) | (is.numeric(x) & !is.finite(x)))
    if (any(bad)) {
      hm_abort("formula", "group `", names[l], "` has missing or non-finite ",
               "values (NA or empty), first on line ",
               format(min(groups$line[bad])), ".")
    }
  }
  levels <- lapply(levels, function(x) x[keep])
  n <- groups$n[keep]
  mean <- groups$mean[keep]
  ss <- groups$ss[keep]
  codes <- tuple_codes(levels, length(n))
  k <- max(codes)
  if (k < length(codes)) {
    pooled <- glue_result(hm_pool_stats(n, mean, ss, codes, k), "data", "summarised")
    first <- !duplicated(codes)
    levels <- lapply(levels, function(x) x[first])
    n <- pooled$n
    mean <- pooled$mean
    ss <- pooled$ss
  }
  rows <- if (length(levels)) {
    list2DF(stats::setNames(levels, names))
  } else {
    data.frame(row.names = seq_len(k))
  }
  rows$n <- n
  rows$mean <- mean
  rows$ss <- ss
  rows
}
