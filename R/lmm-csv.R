# A regression's group summaries from a CSV file read `chunk_size` records
# at a time (MATHS.md 15.6). A column of a design is a product of its
# term's numeric variables, computed row by row, and of a coding fixed by
# the record's key: the raw values of the grouping columns and of the
# covariate columns holding text (a factor's indicator or contrast, a
# grouping column's value used as a covariate). So each key's count, means
# and cross-products of the response and of those products (the "parts")
# give at the end those of every column, once model.matrix() has coded the
# keys with every level known; the core pools the keys into the groups. A
# covariate column is read as numbers until a record shows text in it; the
# file is then read again with that column a key.
lmm_summaries_from_csv <- function(formula, path, chunk_size) {
  terms <- lmm_terms(formula)
  refuse_crossed(terms, "a CSV file read in passes")
  designs <- c(list(design_expressions(terms$fixed, formula)),
               lapply(terms$levels, function(l) design_expressions(l$lhs, formula)))
  text <- character()
  repeat {
    read <- tryCatch(lmm_csv_pass(terms, designs, formula, path, chunk_size, text),
                     hiermod_csv_text = function(e) e)
    if (!inherits(read, "hiermod_csv_text")) break
    text <- c(text, read$column)
  }
  lmm_csv_summaries(read, terms, designs, formula)
}

# The name model.frame() gives a variable.
variable_name <- function(x) {
  paste(deparse(x, width.cutoff = 500L, backtick = !is.symbol(x) && is.language(x)),
        collapse = " ")
}

# One pass over the file with the columns `text` read as text: the reader
# with each key's statistics of the response and the parts, and the plan
# that says what they are.
lmm_csv_pass <- function(terms, designs, formula, path, chunk_size, text) {
  plan <- NULL
  choose <- function(header) {
    plan <<- lmm_csv_plan(terms, designs, formula, header, text)
    fields <- c(plan$response_columns, plan$covariate_columns)
    list(fields = fields, numbers = fields, keys = plan$keys,
         variables = 1L + length(plan$parts))
  }
  pass <- csv_pass(path, chunk_size, choose, function(chunk) {
    lmm_csv_values(chunk, plan, terms, formula)
  })
  c(pass, list(plan = plan))
}

# What a pass reads: the keys (grouping columns, then the text columns);
# the variables of the designs, each either of the key (every column it
# reads is a key) or of the row (numeric, computed from numeric columns);
# the parts (each a set of row variables whose product some term has);
# and each design's terms' parts (0: none, a coding alone).
lmm_csv_plan <- function(terms, designs, formula, header, text) {
  owns <- lapply(terms$levels, `[[`, "own")
  variables <- unlist(lapply(designs, `[[`, "variables"), recursive = FALSE)
  names <- vapply(variables, variable_name, "")
  variables <- variables[!duplicated(names)]
  names <- names[!duplicated(names)]
  check_csv_variables(c(list(terms$response), owns, variables), header, formula)
  columns_of <- function(e) intersect(free_variables(e), header)
  keys <- unique(c(unlist(lapply(owns, columns_of)), text))
  of_row <- vapply(variables, function(v) !all(columns_of(v) %in% keys), TRUE)
  for (v in variables[of_row]) {
    shared <- intersect(columns_of(v), keys)
    if (length(shared)) {
      hm_abort("formula", "has the covariate `", deparse1(v), "`, which combines ",
               "numeric columns with the grouping or text column `", shared[1L],
               "`: a CSV file read in chunks cannot take that; write it as an ",
               "interaction of its columns (`x:f`), or read the file into a data frame.")
    }
    check_row_wise(v, columns_of(v), formula, "covariate")
  }
  response_columns <- columns_of(terms$response)
  check_row_wise(terms$response, response_columns, formula, "response")
  parts <- character()
  term_parts <- lapply(designs, function(d) {
    factors <- attr(d$terms, "factors")
    if (length(factors) == 0L) return(integer())
    row_names <- vapply(d$variables, variable_name, "")
    vapply(seq_len(ncol(factors)), function(j) {
      used <- row_names[factors[, j] > 0 & row_names %in% names[of_row]]
      if (length(used) == 0L) return(0L)
      key <- paste(sort(used), collapse = "\r")
      if (!key %in% parts) parts <<- c(parts, key)
      match(key, parts)
    }, 1L)
  })
  list(keys = keys, variables = variables, names = names, of_row = of_row,
       response_columns = response_columns,
       covariate_columns = setdiff(unique(unlist(lapply(variables[of_row], columns_of))),
                                   response_columns),
       parts = strsplit(parts, "\r", fixed = TRUE), term_parts = term_parts)
}

# A chunk's values: per record the response and each part (NA: the record
# is dropped, for a missing response or covariate). A covariate column
# with text stops the pass (condition "hiermod_csv_text") so that it is
# read again as a key.
lmm_csv_values <- function(chunk, plan, terms, formula) {
  n <- length(chunk$lines)
  y <- csv_response(terms, chunk, plan$response_columns, formula)
  columns <- c(plan$response_columns, plan$covariate_columns)
  values <- stats::setNames(vector("list", length(columns)), columns)
  missing <- is.na(y)
  for (j in seq_along(columns)) {
    column <- csv_numbers(chunk$fields[[j]])
    if (j > length(plan$response_columns)) {
      if (length(column$text)) {
        stop(structure(class = c("hiermod_csv_text", "error", "condition"),
                       list(message = "a text column", call = NULL, column = columns[j])))
      }
      missing <- missing | column$absent
    }
    values[[j]] <- column$values
  }
  row_values <- lapply(which(plan$of_row), function(i) {
    v <- plan$variables[[i]]
    x <- eval_variable(v, values, formula, "covariate")
    if (!is.numeric(x) || !is.null(dim(x)) || !length(x) %in% c(1L, n)) {
      hm_abort("formula", "covariate `", deparse1(v), "` must be numeric, one value ",
               "per row, to be read from a CSV file in chunks, not ", describe(x), ".")
    }
    x <- rep_len(as.double(x), n)
    bad <- which(is.infinite(x) & !missing)
    if (length(bad)) {
      hm_abort("formula", "has a covariate that is not finite: `", deparse1(v), "` is ",
               format(x[bad[1L]]), " on line ", format(chunk$lines[bad[1L]]), ".")
    }
    x
  })
  names(row_values) <- plan$names[plan$of_row]
  for (x in row_values) missing <- missing | is.na(x)
  y[missing] <- NA
  parts <- lapply(plan$parts, function(p) Reduce(`*`, row_values[p]))
  matrix(c(y, unlist(parts)), nrow = n)
}

# The summaries from a pass: the keys' values (lmm_csv_keys()); each
# design coded on the keys by model.matrix(); the model's variables (the
# response, then each distinct column) as products of a part and a coding;
# the core pools the keys into the groups of the last level.
lmm_csv_summaries <- function(read, terms, designs, formula) {
  plan <- read$plan
  keyed <- lmm_csv_keys(read, terms, formula)
  level_values <- keyed$levels
  kept <- keyed$kept
  k <- length(kept)
  m <- length(keyed$n)
  coded <- lapply(seq_along(designs), function(i) {
    lmm_csv_coding(designs[[i]], keyed$covariates, kept, plan$term_parts[[i]])
  })
  # the model's variables: the response (records' variable 1), then each
  # distinct column, a coding of a part
  columns <- lapply(coded, function(d) {
    lapply(seq_along(d$names), function(c) {
      value <- list(source = d$sources[c], coding = d$coding[, c])
      list(name = d$names[c], value = value,
           constant = d$names[c] == "(Intercept)" && value$source == 0L && all(value$coding == 1))
    })
  })
  numbered <- number_variables(deparse1(terms$response),
                               list(source = 1L, coding = rep(1, k)), columns)
  names <- numbered$names
  vars <- numbered$vars
  leaf <- tuple_codes(lapply(level_values, function(x) x[kept]), k)
  n_leaf <- max(leaf)
  coding <- matrix(0, m, length(names))
  coding[kept, ] <- vapply(numbered$values, `[[`, numeric(k), "coding")
  into <- integer(m)
  into[kept] <- leaf
  sources <- vapply(numbered$values, `[[`, 1L, "source")
  stats <- csv_call(hm_csv_products(read$reader, sources, coding, into, n_leaf))
  level_names <- vapply(terms$levels, `[[`, "", "name")
  check_group_names(level_names, "formula")
  first <- kept[match(seq_len(n_leaf), leaf)]
  table <- if (length(level_names)) {
    list2DF(stats::setNames(lapply(level_values, function(x) x[first]), level_names))
  } else {
    data.frame(row.names = 1L)
  }
  table <- statistics_columns(table, stats, names)
  table <- table[summary_order(table, level_names), , drop = FALSE]
  rownames(table) <- NULL
  design <- list(
    x_names = coded[[1L]]$names, x_vars = vars[[1L]], variables = names,
    x_terms = designs[[1L]]$terms, x_levels = coded[[1L]]$xlevels,
    contrasts = coded[[1L]]$contrasts,
    levels = Map(function(l, d, dz, zv) {
      list(name = l$name, own = l$own, z_names = dz$names, z_vars = zv,
           correlated = l$correlated && length(zv) > 1L, terms = d$terms,
           xlevels = dz$xlevels)
    }, terms$levels, designs[-1L], coded[-1L], vars[-1L])
  )
  s <- summaries(table, formula)
  attr(s, "design") <- design
  s
}

# The keys of a pass, typed as read.csv() would type their columns, with
# the groups and the variables of the key evaluated on them: `levels`
# (each level's value per key), `covariates` (by name) and the keys `kept`
# (a key with a missing one drops its records, counted with those dropped
# while reading).
lmm_csv_keys <- function(read, terms, formula) {
  plan <- read$plan
  groups <- csv_call(hm_csv_groups(read$reader))
  m <- length(groups$n)
  keys <- csv_typed_keys(groups, plan$keys)
  per_key <- function(e, role) csv_key_values(e, keys, m, formula, role)
  level_values <- lapply(terms$levels, function(l) per_key(l$own, "group"))
  key_values <- lapply(which(!plan$of_row), function(i) {
    v <- plan$variables[[i]]
    x <- per_key(v, "covariate")
    if (is.numeric(x)) {
      check_row_wise(v, intersect(free_variables(v), plan$keys), formula, "covariate")
    }
    x
  })
  names(key_values) <- plan$names[!plan$of_row]
  complete <- groups$n > 0
  for (x in c(level_values, key_values)) {
    complete <- complete & !(if (is.matrix(x)) rowSums(is.na(x)) > 0 else is.na(x))
  }
  for (x in level_values) complete <- complete & !(is.numeric(x) & !is.finite(x))
  lost <- !complete & groups$n > 0
  note_dropped_rows(read$dropped + sum(groups$n[lost]), read$total,
                    "a missing value (NA or empty) in the response, a covariate or a group",
                    paste0(", first on line ",
                           format(min(c(read$first_dropped, groups$line[lost]), na.rm = TRUE))))
  list(levels = level_values, covariates = key_values, kept = which(complete), n = groups$n)
}

# A design coded on the kept keys: model.matrix() of a frame in which
# each variable of the key has its values and each variable of the row is
# 1, so that a column is its coding, to be multiplied by its term's part;
# the column's source is that part's place among the records' values (0:
# the constant 1, the response being 1).
lmm_csv_coding <- function(design, key_values, kept, term_parts) {
  tt <- design$terms
  frame <- lapply(design$variables, function(v) {
    name <- variable_name(v)
    if (name %in% names(key_values)) {
      x <- key_values[[name]]
      x <- if (is.matrix(x)) x[kept, , drop = FALSE] else x[kept]
      if (is.factor(x)) droplevels(x) else x
    } else {
      rep(1, length(kept))
    }
  })
  names(frame) <- vapply(design$variables, variable_name, "")
  frame <- structure(frame, row.names = seq_along(kept), class = "data.frame",
                     terms = tt)
  x <- tryCatch(stats::model.matrix(tt, frame), error = function(e) {
    hm_abort("formula", "could not build the design of `",
             deparse1(tt[[length(tt)]]), "`: ", conditionMessage(e))
  })
  bad <- which(!is.finite(x), arr.ind = TRUE)
  if (length(bad)) {
    hm_abort("formula", "has a covariate that is not finite: `", colnames(x)[bad[1L, 2L]],
             "` (after dropping incomplete rows).")
  }
  assign <- attr(x, "assign")
  part <- ifelse(assign == 0L, 0L, term_parts[pmax(assign, 1L)])
  list(names = colnames(x), coding = unname_design(x),
       sources = ifelse(part == 0L, 0L, part + 1L),
       xlevels = stats::.getXlevels(tt, frame), contrasts = attr(x, "contrasts"))
}
