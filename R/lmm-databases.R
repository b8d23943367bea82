# A regression's group summaries computed in a database (through dbplyr):
# each column of its designs written as an expression of the table's
# columns, then per group of the last level the count, the means and the
# centred cross-products in one GROUP BY, the means seen by each row
# through a window (MATHS.md 15.6). Covariates must be numeric there: a
# factor's columns depend on its levels and contrasts, which SQL does not
# have.

# The columns of the design of `rhs` (a formula's right side without
# bars) as expressions: a term is the product of its variables (`I()`
# unwrapped); NULL stands for the intercept. Named as model.matrix() names
# them.
design_expressions <- function(rhs, formula) {
  tt <- stats::terms(stats::as.formula(call("~", rhs), env = environment(formula)))
  variables <- as.list(attr(tt, "variables"))[-1L]
  unwrap <- function(e) if (is_call_to(e, "I")) e[[2L]] else e
  factors <- attr(tt, "factors")
  columns <- lapply(seq_along(attr(tt, "term.labels")), function(j) {
    vars <- lapply(variables[factors[, j] > 0], unwrap)
    Reduce(function(a, b) call("*", a, b), vars)
  })
  names(columns) <- attr(tt, "term.labels")
  if (attr(tt, "intercept") == 1L) columns <- c(list(`(Intercept)` = NULL), columns)
  list(terms = tt, columns = columns, variables = variables)
}

lmm_summaries_from_table <- function(formula, tbl) {
  terms <- lmm_terms(formula)
  refuse_crossed(terms, "a database table read in passes")
  owns <- lapply(terms$levels, `[[`, "own")
  con <- check_table(tbl, owns)
  designs <- c(list(design_expressions(terms$fixed, formula)),
               lapply(terms$levels, function(l) design_expressions(l$lhs, formula)))
  inputs <- unique(c(free_variables(terms$response),
                     unlist(lapply(designs, function(d) {
                       unlist(lapply(d$variables, free_variables))
                     }))))
  keys <- vapply(owns, deparse1, "")
  columns <- check_table_columns(tbl, c(inputs, keys))
  # the model's variables: the response, then each distinct column
  exprs <- list(terms$response)
  names <- deparse1(terms$response)
  variable_of <- function(e, name) {
    if (is.null(e)) return(0L)
    at <- match(deparse1(e), vapply(exprs, deparse1, ""))
    if (!is.na(at)) return(at)
    exprs[[length(exprs) + 1L]] <<- e
    names <<- c(names, name)
    length(exprs)
  }
  vars <- lapply(designs, function(d) {
    vapply(seq_along(d$columns), function(k) variable_of(d$columns[[k]], names(d$columns)[k]),
           1L)
  })
  prefix <- ".hm"
  while (any(startsWith(columns, prefix))) prefix <- paste0(prefix, "_")
  v <- paste0(prefix, "_v", seq_along(exprs))
  in_database <- function(query) {
    tryCatch(dplyr::collect(query), error = function(e) {
      hm_abort("formula", "could not be evaluated in the database: ", conditionMessage(e))
    })
  }
  rows <- dplyr::mutate(tbl, !!!stats::setNames(exprs, v))
  rows <- dplyr::select(rows, dplyr::all_of(unique(c(keys, inputs, v))))
  sqlite <- inherits(con, "SQLiteConnection")
  proto <- in_database(utils::head(rows, 1L))
  for (i in seq_along(v)) {
    x <- proto[[v[i]]]
    if (!is.numeric(x) && !all(is.na(x))) {
      hm_abort("formula", "has `", names[i], "`, which is ", class(x)[1L],
               " in the database, not numeric: a factor's columns need its levels ",
               "and contrasts, which a query does not have; summarise the rows ",
               "in R, or give its indicator columns.")
    }
  }
  present <- check_table_rows(rows, list(response = terms$response, levels = owns),
                              v[1L], inputs, sqlite, in_database)
  if (!is.null(present)) rows <- dplyr::filter(rows, !!present)
  out <- grouped_cross_products(rows, keys, v, names, prefix, in_database)
  level_names <- vapply(terms$levels, `[[`, "", "name")
  table <- stats::setNames(out[keys], level_names)
  for (l in level_names) if (is.character(table[[l]])) table[[l]] <- enc2utf8(table[[l]])
  for (col in setdiff(names(out), keys)) table[[col]] <- as.numeric(out[[col]])
  table$n <- as.integer(round(table$n))
  table <- table[summary_order(table, level_names), , drop = FALSE]
  design <- list(
    x_names = names(designs[[1L]]$columns), x_vars = vars[[1L]], variables = names,
    x_terms = designs[[1L]]$terms, x_levels = NULL, contrasts = NULL,
    levels = Map(function(l, dz, zv) {
      list(name = l$name, own = l$own, z_names = names(dz$columns), z_vars = zv,
           correlated = l$correlated && length(zv) > 1L, terms = dz$terms, xlevels = NULL)
    }, terms$levels, designs[-1L], vars[-1L])
  )
  s <- summaries(table, formula)
  attr(s, "design") <- design
  s
}

# Per group of `keys`, the count of the rows, the means of the columns `v`
# (named by `names`) and their cross-products about those means, in one
# query: each row sees its group's means through a window (AVG() OVER
# (PARTITION BY the keys)), one sort of the table.
grouped_cross_products <- function(rows, keys, v, names, prefix, in_database) {
  m <- paste0(prefix, "_m", seq_along(v))
  grouped <- dplyr::group_by(rows, dplyr::across(dplyr::all_of(keys)))
  with_means <- dplyr::mutate(grouped, !!!stats::setNames(lapply(v, function(x) {
    bquote(mean(.(as.name(x)), na.rm = TRUE))
  }), m))
  cp <- cross_columns(names)
  pairs <- cp$pairs
  deviation <- function(i) bquote(.(as.name(v[i])) - .(as.name(m[i])))
  sums <- c(list(quote(n())),
            lapply(m, function(x) bquote(max(.(as.name(x)), na.rm = TRUE))),
            lapply(seq_len(nrow(pairs)), function(i) {
              bquote(sum(.(deviation(pairs[i, 1L])) * .(deviation(pairs[i, 2L])),
                         na.rm = TRUE))
            }))
  out_names <- c("n", paste0("mean[", names, "]"), cp$names)
  tmp <- paste0(prefix, "_s", seq_along(sums))
  out <- as.data.frame(in_database(dplyr::summarise(with_means, !!!stats::setNames(sums, tmp),
                                                    .groups = "drop")))
  out <- out[c(keys, tmp)]
  names(out) <- c(keys, out_names)
  out
}
