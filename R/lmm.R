# The regression models: fixed effects through model.matrix() and, with bar
# terms `(lhs | group)` or `(lhs || group)` on nested groups, each level's
# coefficients on the columns of its `lhs` (a random intercept, slopes,
# correlated or not). The core samples them exactly
# (src/rust/core/src/lmm.rs; MATHS.md section 15).

# Whether a right-hand side asks for a regression rather than the lecture's
# tree of groups: a fixed part beyond `1` beside bars, a bar with more than
# an intercept or written `||`, crossed bars, or, without bars, any operator of terms
# (`+`, `-`, `*`, `:`, `^`, `%in%`) or `0`. A single variable or a path
# `a/b` without bars stays the lecture's shorthand.
is_regression_rhs <- function(rhs) {
  bars <- find_bars(rhs)
  if (length(bars)) {
    fixed <- no_bars(rhs)
    slopes <- vapply(bars, function(bar) {
      !identical(bar[[1L]], as.name("|")) || !is_one(unparen(bar[[2L]]))
    }, TRUE)
    return(!(is.null(fixed) || is_one(fixed)) || any(slopes) ||
             !terms_nested(bar_terms(bars, call("~", rhs))))
  }
  e <- unparen(rhs)
  is_call_to(e, c("+", "-", "*", ":", "^", "%in%")) || identical(e, 0) ||
    identical(e, 0L)
}

# The terms of a regression formula: response, fixed part (an expression
# for model.matrix(); `1` when only bars are given, as lme4 reads them) and
# the levels of groups its bars name (top first, or crossed).
lmm_terms <- function(formula) {
  check_response_not_on_right(formula)
  rhs <- formula[[3L]]
  fixed <- no_bars(rhs)
  if (is.null(fixed)) fixed <- 1
  if ("offset" %in% all.names(fixed)) {
    hm_abort("formula", "has an offset: offsets are not supported.")
  }
  chain <- bar_chain(find_bars(rhs), formula)
  list(kind = "lmm", response = formula[[2L]], fixed = fixed, levels = chain$levels,
       crossed = chain$crossed, bars = TRUE)
}

# The bar terms as levels of groups: `(lhs | a/b)` is `(lhs | a) +
# (lhs | a:b)`, as lme4 expands it. Nested levels, top first, when each
# term adds one grouping factor to the one before; otherwise the terms are
# crossed factors, each its own level (a term `a:b` groups by the
# combinations of a and b). Each level: its coefficients (`lhs`), its
# factors (`a`, then `a`, `b`), its name ("a", "a:b"), whether its
# coefficients are correlated (`|`) or not (`||`), and the expression of
# its own labels (`own`). Returns list(levels, crossed).
bar_chain <- function(bars, formula) {
  terms <- bar_terms(bars, formula)
  crossed <- !terms_nested(terms)
  names <- vapply(terms, function(t) paste(vapply(t$factors, deparse1, ""), collapse = ":"), "")
  if (crossed && anyDuplicated(names)) {
    twice <- names[anyDuplicated(names)]
    hm_abort("formula", "`", deparse1(formula[[3L]]), "`: two terms group by `", twice,
             "`, which is not nested in itself; its coefficients are one term, ",
             "`(1 + x | ", twice, ")`, or `(1 + x || ", twice, ")` for independent ones.")
  }
  levels <- lapply(seq_along(terms), function(i) {
    t <- terms[[i]]
    f <- t$factors
    # a level's own labels: its last factor's when it is nested in the one
    # above, else the combinations of its factors' values
    own <- if ((crossed || i == 1L) && length(f) > 1L) {
      as.call(c(list(as.name("paste"), sep = ":"), f))
    } else {
      f[[length(f)]]
    }
    c(t, list(name = names[i], own = own))
  })
  list(levels = if (crossed) factor_paths(levels) else levels, crossed = crossed)
}

# Crossed terms as factors, each a path of nested levels: a term that adds
# one factor to the last level of a factor (`(1 | a/b)`, or `(1 | a:b)`
# beside `(1 | a)`) is nested in it and joins that factor, whose levels the
# sampler draws jointly (given the other factors) rather than one given
# another. Returns the levels factor by factor, each top first, a nested
# one marked `within`.
factor_paths <- function(levels) {
  paths <- list()
  for (i in seq_along(levels)) {
    f <- levels[[i]]$factors
    extends <- vapply(paths, function(path) {
      last <- levels[[path[length(path)]]]$factors
      length(f) == length(last) + 1L && identical(f[-length(f)], last)
    }, TRUE)
    k <- which(extends)[1L]
    if (is.na(k)) {
      paths[[length(paths) + 1L]] <- i
    } else {
      paths[[k]] <- c(paths[[k]], i)
    }
  }
  within <- unlist(lapply(paths, function(path) seq_along(path) > 1L))
  Map(function(level, w) c(level, list(within = w)), levels[unlist(paths)], within)
}

# The bar terms, `/` expanded, fewest factors first; each checked to group
# by variables.
bar_terms <- function(bars, formula) {
  terms <- list()
  for (bar in bars) {
    group <- unparen(bar[[3L]])
    correlated <- identical(bar[[1L]], as.name("|"))
    path <- if (is_call_to(group, "/")) shorthand_levels(group, formula) else list(group)
    for (i in seq_along(path)) {
      factors <- if (i == 1L) interaction_factors(path[[1L]]) else c(factors, list(path[[i]]))
      for (f in factors) {
        if (is_call_to(f, c("+", "*", "-", "|", "||", "/")) || is.numeric(f)) {
          hm_abort("formula", "`(", deparse1(bar), ")`: `", deparse1(f),
                   "` is not a grouping variable.")
        }
      }
      terms[[length(terms) + 1L]] <- list(lhs = bar[[2L]], factors = factors,
                                          correlated = correlated)
    }
  }
  terms[order(vapply(terms, function(t) length(t$factors), 1L))]
}

# Whether each term adds one factor to the one before (the top level may
# be an interaction of several, `(1 | a:b)`).
terms_nested <- function(terms) {
  for (i in seq_along(terms)[-1L]) {
    f <- terms[[i]]$factors
    above <- terms[[i - 1L]]$factors
    if (length(f) != length(above) + 1L || !identical(f[-length(f)], above)) return(FALSE)
  }
  TRUE
}

# The model frame of `~ rhs` in `data` (then the formula's environment),
# every row kept; a classed error naming the formula when R cannot build it.
design_frame <- function(rhs, data, formula) {
  f <- stats::as.formula(call("~", rhs), env = environment(formula))
  vars <- free_variables(rhs)
  for (v in vars) eval_variable(as.name(v), data, formula, "variable")
  tryCatch(
    stats::model.frame(f, data = if (is.null(data)) NULL else as.data.frame(data),
                       na.action = stats::na.pass),
    error = function(e) {
      hm_abort("formula", "could not build the design of `", deparse1(rhs),
               "`: ", conditionMessage(e))
    }
  )
}

# The rows of a regression: response, fixed-effect design X, each level's
# coefficients' design Z and groups (a tree, as the lecture's models build
# it: labels unique by path), complete rows only (dropped with a message),
# with what predict() will need (terms, factor levels, contrasts).
lmm_model <- function(terms, data, formula) {
  if (!is.null(data) && !is.list(data)) {
    hm_abort("data", "must be a data frame or list, not ", describe(data), ".")
  }
  y <- eval_variable(terms$response, data, formula, "response")
  check_response(y, terms$response)
  n <- length(y)
  frames <- c(list(design_frame(terms$fixed, data, formula)),
              lapply(terms$levels, function(l) design_frame(l$lhs, data, formula)))
  groups <- lapply(terms$levels, function(l) {
    check_group(eval_variable(l$own, data, formula, "group"), n, l$own, TRUE)
  })
  for (f in frames) {
    if (nrow(f) != n && ncol(f) > 0L) {
      hm_abort("formula", "has variables of ", nrow(f), " rows but the ",
               "response has ", n, ".")
    }
  }
  incomplete <- is.na(y) | Reduce(`|`, lapply(groups, is.na), FALSE)
  for (f in frames) if (ncol(f) > 0L) incomplete <- incomplete | !stats::complete.cases(f)
  note_dropped_rows(sum(incomplete), n,
                    "a missing value (NA) in the response, a covariate or a group",
                    paste0(", first row ", which(incomplete)[1L]))
  keep <- !incomplete
  y <- as.double(y[keep])
  design <- lapply(frames, function(f) {
    f <- f[keep, , drop = FALSE]
    f[] <- lapply(f, function(v) if (is.factor(v)) droplevels(v) else v)
    m <- stats::model.matrix(attr(f, "terms"), f)
    if (nrow(m) != length(y)) m <- m[rep(1L, length(y)), , drop = FALSE]
    list(matrix = m, terms = attr(f, "terms"),
         xlevels = stats::.getXlevels(attr(f, "terms"), f))
  })
  for (m in design) check_finite_design(m$matrix)
  x <- design[[1L]]$matrix
  check_fixed_rank(x)
  names <- vapply(terms$levels, function(l) l$name, "")
  encoded <- Map(function(g, l) encode_groups(g[keep], length(y), l$own, TRUE, checked = TRUE),
                 groups, terms$levels)
  # crossed factors: each level its own groups, every row in one of each; a
  # level nested in the one before, each of its groups' parent there
  tree <- if (isTRUE(terms$crossed)) {
    list(nodes = lapply(seq_along(encoded), function(l) {
      g <- encoded[[l]]
      parent <- rep(1L, length(g$labels))
      if (isTRUE(terms$levels[[l]]$within)) parent[g$codes] <- encoded[[l - 1L]]$codes
      list2DF(list(label = g$labels, parent = parent, value = g$values))
    }), codes = NULL)
  } else {
    build_tree(encoded, names, length(y), "formula")
  }
  levels <- lapply(seq_along(terms$levels), function(l) {
    term <- terms$levels[[l]]
    z <- design[[l + 1L]]$matrix
    if (ncol(z) == 0L) {
      hm_abort("formula", "`(", deparse1(term$lhs), " | ", term$name,
               ")` gives the groups no coefficient.")
    }
    list(name = term$name, own = term$own, z = unname_design(z), z_names = colnames(z),
         correlated = term$correlated && ncol(z) > 1L, within = isTRUE(term$within),
         labels = tree$nodes[[l]]$label, parent = tree$nodes[[l]]$parent,
         values = tree$nodes[[l]]$value,
         codes = if (isTRUE(terms$crossed)) encoded[[l]]$codes,
         terms = design[[l + 1L]]$terms, xlevels = design[[l + 1L]]$xlevels)
  })
  model <- list(y = y, x = unname_design(x), x_names = colnames(x), levels = levels,
                crossed = isTRUE(terms$crossed),
                leaf = if (length(levels) && !isTRUE(terms$crossed)) tree$codes else integer(),
                x_terms = design[[1L]]$terms, x_levels = design[[1L]]$xlevels,
                contrasts = attr(x, "contrasts"))
  with_statistics(model, deparse1(terms$response))
}

# The model's variables (the response, then every distinct column of X and
# of each level's Z but the intercept, the constant 1) and, per group of
# the last level (or of all rows), their count, means and centred
# cross-products: all the sampler needs from the rows (MATHS.md 15.6).
with_statistics <- function(model, response) {
  column <- function(m, names, k) {
    v <- m[, k]
    list(name = names[k], value = v, constant = names[k] == "(Intercept)" && all(v == 1))
  }
  designs <- c(list(lapply(seq_len(ncol(model$x)), function(k) column(model$x, model$x_names, k))),
               lapply(model$levels, function(l) {
                 lapply(seq_len(ncol(l$z)), function(k) column(l$z, l$z_names, k))
               }))
  numbered <- number_variables(response, model$y, designs)
  model$x_vars <- numbered$vars[[1L]]
  for (l in seq_along(model$levels)) model$levels[[l]]$z_vars <- numbered$vars[[l + 1L]]
  # crossed factors: the core summarises the rows itself, sweep by sweep;
  # here only the pooled statistics, which scale the priors
  grouped <- length(model$levels) && !model$crossed
  k <- if (grouped) length(model$levels[[length(model$levels)]]$labels) else 1L
  leaf <- if (grouped) model$leaf else rep(1L, length(model$y))
  stats <- hm_lmm_stats(model$y, model$x, lapply(model$levels, `[[`, "z"),
                        numbered$first, as.integer(leaf), k)
  model$stats <- glue_result(stats, "data", "summarised")
  model$variables <- numbered$names
  if (model$crossed) model$columns <- lapply(numbered$values, as.double)
  model$n <- length(model$y)
  model
}

# The model's variables from its designs' columns (X, then each level's
# Z; each column a list of its name, its value, any R object, and whether
# it is the constant 1): the response is variable 1, the constant 0, a
# column with the name and value of one met before that one, any other the
# next. Returns the variables' names and values, each design's variable
# per column, and where each variable after the response was first met (a
# 2-row matrix: design, column).
number_variables <- function(response, value, designs) {
  names <- response
  values <- list(value)
  first <- integer()
  vars <- lapply(seq_along(designs), function(i) {
    vapply(seq_along(designs[[i]]), function(k) {
      col <- designs[[i]][[k]]
      if (col$constant) return(0L)
      for (j in which(names == col$name)) if (identical(values[[j]], col$value)) return(j)
      names <<- c(names, col$name)
      values[[length(values) + 1L]] <<- col$value
      first <<- c(first, i, k)
      length(names)
    }, 1L)
  })
  list(names = names, values = values, vars = vars,
       first = matrix(as.integer(first), nrow = 2L))
}

# Each variable's mean, sd (divisor N - 1) and root mean square over all
# rows, from the statistics (the pooled sum of squares, which does not
# cancel).
variable_spreads <- function(stats) {
  n <- stats$n
  total <- sum(n)
  d <- nrow(stats$mean)
  mean <- drop(stats$mean %*% n) / total
  within <- stats$cross[(seq_len(d) - 1L) * d + seq_len(d), , drop = FALSE]
  ss <- rowSums(within) + drop(((stats$mean - mean)^2) %*% n)
  list(mean = mean, sd = sqrt(ss / (total - 1)), rms = sqrt(ss / total + mean^2))
}

# Each fitted row's group at every level (top first), from its group of the
# last level up the tree, or of each crossed factor.
lmm_row_nodes <- function(model) {
  if (isTRUE(model$crossed)) return(lapply(model$levels, `[[`, "codes"))
  node <- model$leaf
  out <- vector("list", length(model$levels))
  for (l in rev(seq_along(model$levels))) {
    out[[l]] <- node
    node <- model$levels[[l]]$parent[node]
  }
  out
}

unname_design <- function(m) {
  m <- unclass(m)
  attributes(m) <- list(dim = dim(m))
  storage.mode(m) <- "double"
  m
}

# Every value of a design must be finite: a covariate's Inf or NaN (NA
# rows were dropped) is named with its first row.
check_finite_design <- function(m) {
  bad <- which(!is.finite(m), arr.ind = TRUE)
  if (length(bad)) {
    hm_abort("formula", "has a covariate that is not finite: `", colnames(m)[bad[1L, 2L]],
             "` in row ", bad[1L, 1L], " (after dropping incomplete rows).")
  }
}

# The fixed effects must be identified: no column a combination of others.
check_fixed_rank <- function(x) {
  if (ncol(x) == 0L) return(invisible())
  qr <- qr(x)
  if (qr$rank < ncol(x)) {
    dropped <- colnames(x)[qr$pivot[(qr$rank + 1L):ncol(x)]]
    hm_abort("formula", "has fixed effects that are linear combinations of ",
             "the others (collinear): ", paste0("`", dropped, "`", collapse = ", "),
             ". Remove them from the formula.")
  }
}

# "(Intercept)" is "Intercept" in parameter names, as brms writes it.
coef_label <- function(names) sub("^\\(Intercept\\)$", "Intercept", names)

# The spec of a regression: its columns in the core's storage order (fixed
# effects; each level's sds and correlations; sigma; then each level's
# group coefficients, all groups of one coefficient together), named as
# brms names them.
lmm_spec <- function(model) {
  # recycle0: no coefficient, no name (paste0() would make one of the prefix)
  name <- function(...) paste0(..., recycle0 = TRUE)
  part <- function(name, role, level = 0L, coef = NA_character_, label = NA_character_) {
    list2DF(list(name = name, role = rep(role, length(name)),
                 level = rep(as.integer(level), length(name)),
                 coef = rep_len(coef, length(name)),
                 label = rep_len(label, length(name))))
  }
  per_level <- lapply(seq_along(model$levels), function(l) {
    level <- model$levels[[l]]
    g <- level$name
    zb <- coef_label(level$z_names)
    q <- length(zb)
    pairs <- if (level$correlated) {
      do.call(rbind, lapply(seq_len(q)[-1L], function(i) cbind(seq_len(i - 1L), i)))
    } else {
      matrix(integer(), 0L, 2L)
    }
    k <- length(level$labels)
    list(
      global = rbind(
        part(name("sd_", g, "__", zb), "sd", l, level$z_names),
        part(name("cor_", g, "__", zb[pairs[, 1L]], "__", zb[pairs[, 2L]]), "cor", l,
             name(level$z_names[pairs[, 1L]], ",", level$z_names[pairs[, 2L]]))
      ),
      groups = part(name("r_", g, "[", rep(level$labels, q), ",", rep(zb, each = k), "]"),
                    "group", l, rep(level$z_names, each = k), rep(level$labels, q))
    )
  })
  columns <- do.call(rbind, c(
    list(part(name("b_", coef_label(model$x_names)), "fixed", 0L, model$x_names)),
    lapply(per_level, `[[`, "global"),
    list(part("sigma", "sigma")),
    lapply(per_level, `[[`, "groups")
  ))
  columns$global <- columns$role != "group"
  levels <- lapply(model$levels, function(l) {
    l[c("name", "labels", "parent", "z_names", "correlated")]
  })
  structure(list(kind = "lmm", columns = columns,
                 samplers = if (isTRUE(model$crossed)) crossed_samplers(model) else "collapsed",
                 crossed = isTRUE(model$crossed),
                 levels = levels, level_names = vapply(levels, `[[`, "", "name"),
                 x_names = model$x_names, n = model$n),
            class = "hiermod_spec")
}

# The samplers of crossed factors, the one expected faster first. The
# collapsed scheme applies while the locations (fixed effects and every
# factor's coefficients, m) are at most the core's MAX_COLLAPSED_LOCATIONS
# (400) and the variance parameters at most 8; each of its density
# evaluations factors a dense m x m matrix, where the sweep over factors
# passes over the N rows once per factor. Measured (bench/CROSSED.md, two
# factors): a collapsed sweep takes about 1e-9 m^3 s (0.045 ms at m = 32,
# 3.3 ms at 152, 56 ms at 372), a sweep over factors about 0.85e-8 N s per
# factor (1.7 ms at N = 10^5), with about as many effective draws per
# sweep from either on those designs. So the collapsed scheme goes first
# while m^3 <= 8 N x factors.
crossed_samplers <- function(model) {
  m <- ncol(model$x) + sum(vapply(model$levels, function(l) ncol(l$z) * length(l$labels), 1))
  dim <- 1 + sum(vapply(model$levels, function(l) {
    q <- ncol(l$z)
    q + if (l$correlated) q * (q - 1) / 2 else 0
  }, 1))
  if (m > 400 || dim > 8) return("factors")
  if (m^3 <= 8 * model$n * length(model$levels)) {
    c("collapsed", "factors")
  } else {
    c("factors", "collapsed")
  }
}

# The prior of a regression, from a hier_prior(): each fixed effect's
# normal (or flat) prior, each group coefficient's sd prior, sigma's and the
# LKJ shape of the correlations, by brms's names (`Intercept`, `b`,
# `b_<coef>`, `sd`, `sd_<group>__<coef>`, `sigma`, `cor`). Defaults scale
# to the data as rstanarm's autoscale does (see ?hier_prior).
resolve_lmm_prior <- function(prior, model, spec) {
  if (!inherits(prior, "hier_prior")) {
    hm_abort("prior", "must be made by hier_prior(), not ", describe(prior), ".")
  }
  lecture <- unlist(prior[c("mu0", "tau0", "b", "beta", "b0")])
  if (any(prior$lecture) || length(lecture)) {
    hm_abort("prior", "gives the lecture's parameters (`mu0`, `tau0`, `a`, ",
             "`b`, `alpha`, `beta`), which the regression models do not ",
             "have; give priors by parameter name, as `b = normal(0, 5)`, ",
             "`sd = cauchy(0, 5)`, `sigma = exponential(1)`.")
  }
  dists <- prior$dists
  cols <- spec$columns
  b_names <- cols$name[cols$role == "fixed"]
  sd_names <- cols$name[cols$role == "sd"]
  correlated <- vapply(spec$levels, `[[`, TRUE, "correlated")
  known <- c("Intercept", "b", b_names, "sd", sd_names, "sigma",
             if (any(correlated)) c("cor", paste0("cor_", spec$level_names[correlated])))
  unknown <- setdiff(names(dists), known)
  if (length(unknown)) {
    hm_abort("prior", "gives `", unknown[1L], "`, which is not a parameter ",
             "of this model; its priors are named ",
             paste0("`", known, "`", collapse = ", "), ".")
  }
  spreads <- variable_spreads(model$stats)
  s_y <- response_sd(spreads)
  levels <- lapply(seq_along(model$levels), function(l) {
    level <- model$levels[[l]]
    names <- cols$name[cols$role == "sd" & cols$level == l]
    sds <- lapply(seq_along(names), function(k) {
      group_sd_prior(dists, names[k], s_y / column_spread(spreads, level$z_vars[k]))
    })
    lkj <- if (level$correlated) {
      d <- dists[[paste0("cor_", level$name)]]
      if (is.null(d)) d <- dists$cor
      if (!is.null(d) && d$family != "lkj") {
        hm_abort("cor", "must have an lkj() prior, not ", d$family, "().")
      }
      if (is.null(d)) 1 else d$eta
    }
    list(sds = stats::setNames(sds, names), lkj = lkj)
  })
  sigma <- group_sd_prior(dists, "sigma", s_y)
  effects <- effect_priors(dists, model, b_names, spreads)
  structure(list(effects = stats::setNames(effects, b_names), levels = levels,
                 sigma = sigma),
            class = "hiermod_lmm_prior")
}

# The response's sd; NA when it has no spread: then a prior left to the
# data is an error (scaled_default()).
response_sd <- function(spreads) {
  s <- spreads$sd[1L]
  if (is.finite(s) && s > 0) s else NA_real_
}

# The sd of variable `v` of a design (`spreads` from variable_spreads())
# about its mean (about 0, its root mean square, if `about_zero`); 1 for
# the intercept and a column without spread, whose scale says nothing.
column_spread <- function(spreads, v, about_zero = FALSE) {
  if (v == 0L) return(1)
  s <- if (about_zero) spreads$rms[v] else spreads$sd[v]
  if (is.finite(s) && s > 0) s else 1
}

# The prior of the sd `name` (or sigma): its own, else `sd`'s (not for
# sigma), else the default half-Cauchy with scale `s`.
group_sd_prior <- function(dists, name, s) {
  d <- dists[[name]]
  if (is.null(d) && name != "sigma") d <- dists$sd
  if (is.null(d)) return(default_sd_prior(scaled_default(s, name)))
  if (d$family == "flat") hm_abort(name, "cannot have a flat() prior: it is improper.")
  resolve_sd_dist(d, s, name)
}

# The normal (or flat) prior of each fixed effect: its own (`b_<coef>`),
# else `Intercept`'s or `b`'s, else rstanarm's autoscaled default.
effect_priors <- function(dists, model, b_names, spreads) {
  s_y <- response_sd(spreads)
  intercept <- model$x_vars == 0L
  centred <- any(intercept)
  lapply(seq_along(b_names), function(k) {
    name <- b_names[k]
    d <- dists[[name]]
    if (is.null(d)) d <- dists[[if (intercept[k]) "Intercept" else "b"]]
    location <- if (intercept[k]) spreads$mean[1L] else 0
    scale <- 2.5 * s_y / column_spread(spreads, model$x_vars[k], !centred)
    if (is.null(d)) {
      return(list(family = "normal", mean = location, sd = scaled_default(scale, name)))
    }
    if (d$family == "flat") return(list(family = "flat", mean = 0, sd = Inf))
    if (d$family != "normal") {
      hm_abort(name, "must have a normal() or flat() prior (the fixed effects ",
               "are integrated out exactly, which needs one of them), not ",
               d$family, "().")
    }
    list(family = "normal", mean = d$location,
         sd = if (is.null(d$scale)) scaled_default(scale, name) else d$scale)
  })
}

# A default scale taken from the data, which a response without spread
# does not give.
scaled_default <- function(scale, name) {
  if (is.na(scale)) {
    hm_abort("prior", "cannot be scaled to the data: the response has no ",
             "variance. Give the prior of `", name, "` in hier_prior().")
  }
  scale
}

# The list the core reads.
lmm_prior_for_core <- function(prior) {
  list(effect_mean = vapply(prior$effects, function(e) as.double(e$mean), 1, USE.NAMES = FALSE),
       effect_sd = vapply(prior$effects, function(e) as.double(e$sd), 1, USE.NAMES = FALSE),
       levels = lapply(prior$levels, function(l) {
         list(sds = unname(l$sds), lkj = if (!is.null(l$lkj)) as.double(l$lkj))
       }),
       sigma = prior$sigma)
}

# The core's arguments for a regression's data: the statistics, the
# variable of each column of X and of each level's Z, each level's parents
# (of crossed factors, only where a level is nested in the one before).
lmm_glue_data <- function(model) {
  parents <- lapply(model$levels, function(l) {
    if (!isTRUE(model$crossed) || isTRUE(l$within)) as.integer(l$parent) else integer()
  })
  list(stats = model$stats, x = model$x_vars, z = lapply(model$levels, `[[`, "z_vars"),
       parents = parents)
}

# The core's log density of a regression's data given its variance
# parameters, every location integrated out (with flat priors on the fixed
# effects, the restricted likelihood up to a constant), at each element of
# `sigma` (data units) with, per level or crossed factor, a matrix of sds
# and one of correlations (a row per element of sigma); with their priors
# if `with_prior`. NaN at invalid points. The check of the sampled density
# against lme4's REML fits.
lmm_log_density <- function(model, prior, sigma, levels, with_prior = FALSE) {
  d <- lmm_glue_data(model)
  core_prior <- lmm_prior_for_core(prior)
  out <- if (isTRUE(model$crossed)) {
    hm_crossed_log_density(model$columns, d$x, d$z, lmm_row_nodes(model), d$parents,
                           core_prior, as.double(sigma), levels, with_prior)
  } else {
    hm_lmm_log_density(d$stats, d$x, d$z, d$parents, core_prior, as.double(sigma), levels,
                       with_prior)
  }
  glue_result(out, "sigma", "evaluated")$value
}

# fit() of a regression, from rows or from their group summaries.
fit_lmm <- function(call, formula, terms, data, prior, chains, iter, warmup,
                    thin, seed, cores, sampler, keep, progress) {
  if (inherits(data, "tbl_lazy") || (is.character(data) && length(data) == 1L)) {
    data <- group_summaries(formula, data)
  }
  model <- if (inherits(data, "hiermod_summaries")) {
    lmm_model_from_summaries(data, formula)
  } else {
    lmm_model(terms, data, formula)
  }
  spec <- lmm_spec(model)
  prior <- resolve_lmm_prior(prior, model, spec)
  settings <- fit_settings(spec, chains, iter, warmup, thin, cores, sampler,
                           keep, seed)
  s <- settings
  report <- progress_reporter(progress, as.double(s$chains) * s$iter)
  d <- lmm_glue_data(model)
  started <- proc.time()[["elapsed"]]
  out <- if (isTRUE(model$crossed)) {
    hm_sample_crossed(model$columns, d$x, d$z, lmm_row_nodes(model), d$parents,
                      lmm_prior_for_core(prior), s$sampler, s$chains, s$iter, s$warmup,
                      s$thin, s$seed, s$cores, s$keep == "all", spec$columns$name, report)
  } else {
    hm_sample_lmm(d$stats, d$x, d$z, d$parents, lmm_prior_for_core(prior),
                  s$sampler, s$chains, s$iter, s$warmup, s$thin, s$seed, s$cores,
                  s$keep == "all", spec$columns$name, report)
  }
  elapsed <- proc.time()[["elapsed"]] - started
  stop_if_interrupted(out, "sampling")
  # the core refuses a model it cannot sample (too many variance
  # parameters, collinear effects under flat priors): the formula's doing
  out <- glue_result(out, "formula", "sampled")
  result <- coda::mcmc.list(out$draws)
  inits <- out$inits
  dimnames(inits) <- list(paste0("chain", seq_len(s$chains)), spec$columns$name)
  attr(result, "hiermod") <- list(
    call = call, formula = formula, response = deparse1(terms$response),
    spec = spec, model = model, prior = prior, seed = s$seed,
    sampler = s$sampler,
    settings = s[c("chains", "iter", "warmup", "thin", "cores", "keep")],
    inits = inits, elapsed = elapsed
  )
  class(result) <- c("hiermod_lmm", "mcmc.list")
  result
}

check_lmm <- function(x, arg = "x") {
  if (!inherits(x, "hiermod_lmm") || is.null(fit_meta(x))) {
    hm_abort(arg, "must be a regression fit made by hiermod::fit(), not ",
             describe(x), ".")
  }
}

# Posterior means of the named columns.
column_means <- function(x, names) {
  stats::setNames(column_summaries(x, numeric(), names)[, 1L], names)
}

# How the formula was read, in words.
lmm_reading <- function(spec) {
  fixed <- if (length(spec$x_names)) paste(spec$x_names, collapse = ", ") else "none"
  out <- paste0("fixed effects: ", fixed)
  for (level in spec$levels) {
    out <- paste0(out, "; by `", level$name, "` (", length(level$labels),
                  " groups): ", paste(level$z_names, collapse = ", "),
                  if (length(level$z_names) > 1L) {
                    if (level$correlated) ", correlated" else ", independent"
                  })
  }
  out
}

#' @export
print.hiermod_lmm <- function(x, digits = 3, ...) {
  check_lmm(x)
  digits <- check_count(digits, "digits", 1L, 22L)
  meta <- fit_meta(x)
  spec <- meta$spec
  s <- meta$settings
  cat("Bayesian linear ", if (length(spec$levels) == 0L) "regression" else "mixed model",
      "\n", sep = "")
  cat(" Formula: ", deparse1(meta$formula), "\n", sep = "")
  cat(" Read as: ", lmm_reading(spec), "\n", sep = "")
  cat(" Data:    ", spec$n, " rows\n", sep = "")
  cat(" Draws:   ", s$chains, " chains x ", coda::niter(x), " (sampler ",
      meta$sampler, ", seed ", format(meta$seed, scientific = FALSE), ")\n\n",
      sep = "")
  globals <- spec$columns$name[spec$columns$global]
  tab <- summary(x, pars = globals)$table
  print(format(tab[c("mean", "sd", "2.5%", "97.5%", "ess_bulk", "rhat")],
               digits = digits), quote = FALSE)
  for (w in convergence_warnings(tab)) cat(w, "\n", sep = "")
  invisible(x)
}

#' @export
summary.hiermod_lmm <- function(object, pars = NULL,
                                probs = c(0.025, 0.5, 0.975), ...) {
  check_lmm(object, "object")
  check_dots(list(...), "summary()")
  spec <- fit_spec(object)
  if (is.null(pars)) pars <- spec$columns$name[spec$columns$global]
  structure(list(table = summary_table(object, pars, probs), meta = fit_meta(object),
                 n_kept = coda::niter(object)),
            class = "summary.hiermod_lmm")
}

#' @export
print.summary.hiermod_lmm <- function(x, digits = 3, ...) {
  cat(" Formula: ", deparse1(x$meta$formula), "\n", sep = "")
  cat(" Read as: ", lmm_reading(x$meta$spec), "\n\n", sep = "")
  print(format(x$table, digits = digits), quote = FALSE)
  for (w in convergence_warnings(x$table)) cat(w, "\n", sep = "")
  invisible(x)
}

#' @method fixef hiermod_lmm
#' @export
fixef.hiermod_lmm <- function(object, ...) {
  check_lmm(object, "object")
  check_dots(list(...), "fixef()")
  spec <- fit_spec(object)
  cols <- spec$columns[spec$columns$role == "fixed", ]
  stats::setNames(unname(column_means(object, cols$name)), cols$coef)
}

# The group coefficients' posterior means of each level, one data frame
# per level (named by it), one column per coefficient, one row per group.
lmm_group_means <- function(object) {
  spec <- fit_spec(object)
  if (length(spec$levels) == 0L) {
    hm_abort("object", "is a regression without groups: it has no group ",
             "coefficients.")
  }
  if (fit_meta(object)$settings$keep != "all") {
    hm_abort("object", "was fitted with keep = \"global\": the group ",
             "coefficients were not stored; refit with keep = \"all\".")
  }
  cols <- spec$columns[spec$columns$role == "group", ]
  means <- column_means(object, cols$name)
  out <- lapply(seq_along(spec$levels), function(l) {
    level <- spec$levels[[l]]
    at <- cols$level == l
    values <- lapply(level$z_names, function(coef) unname(means[at & cols$coef == coef]))
    as.data.frame(stats::setNames(values, level$z_names), row.names = level$labels,
                  check.names = FALSE)
  })
  stats::setNames(out, spec$level_names)
}

#' @method ranef hiermod_lmm
#' @export
ranef.hiermod_lmm <- function(object, ...) {
  check_lmm(object, "object")
  check_dots(list(...), "ranef()")
  lmm_group_means(object)
}

# As lme4's coef(): per level, the fixed effects plus that level's own
# group coefficients.
#' @export
coef.hiermod_lmm <- function(object, ...) {
  check_lmm(object, "object")
  check_dots(list(...), "coef()")
  fixed <- fixef(object)
  if (length(fit_spec(object)$levels) == 0L) return(fixed)
  lapply(lmm_group_means(object), function(b) {
    out <- as.data.frame(matrix(fixed, nrow(b), length(fixed), byrow = TRUE,
                                dimnames = list(rownames(b), names(fixed))),
                         check.names = FALSE)
    for (coef in names(b)) {
      out[[coef]] <- if (coef %in% names(out)) out[[coef]] + b[[coef]] else b[[coef]]
    }
    out
  })
}

#' @method VarCorr hiermod_lmm
#' @export
VarCorr.hiermod_lmm <- function(x, ...) {
  check_lmm(x)
  check_dots(list(...), "VarCorr()")
  spec <- fit_spec(x)
  cols <- spec$columns
  rows <- lapply(seq_along(spec$levels), function(l) {
    sds <- cols[cols$role == "sd" & cols$level == l, ]
    cors <- cols[cols$role == "cor" & cols$level == l, ]
    draws <- stacked_draws(x, c(sds$name, cors$name))
    sd_draws <- draws[, sds$name, drop = FALSE]
    var1 <- c(sds$coef, sub(",.*", "", cors$coef))
    var2 <- c(rep(NA, nrow(sds)), sub(".*,", "", cors$coef))
    covariance <- vapply(seq_len(nrow(cors)), function(i) {
      mean(draws[, cors$name[i]] * sd_draws[, match(var1[nrow(sds) + i], sds$coef)] *
             sd_draws[, match(var2[nrow(sds) + i], sds$coef)])
    }, 1)
    data.frame(grp = spec$level_names[l], var1 = var1, var2 = var2,
               vcov = unname(c(colMeans(sd_draws^2), covariance)),
               sdcor = unname(colMeans(draws)), stringsAsFactors = FALSE)
  })
  sigma <- draws_of_column(x, "sigma")
  residual <- data.frame(grp = "Residual", var1 = NA_character_, var2 = NA_character_,
                         vcov = mean(sigma^2), sdcor = mean(sigma))
  do.call(rbind, c(rows, list(residual)))
}

#' @export
sigma.hiermod_lmm <- function(object, ...) {
  check_lmm(object, "object")
  check_dots(list(...), "sigma()")
  unname(column_means(object, "sigma"))
}

#' @export
nobs.hiermod_lmm <- function(object, ...) fit_spec(object)$n

#' @export
formula.hiermod_lmm <- function(x, ...) fit_meta(x)$formula

#' @export
#' @rawNamespace S3method(lme4::ngrps, hiermod_lmm)
ngrps.hiermod_lmm <- function(object, ...) { # nolint: object_name_linter.
  check_lmm(object, "object")
  spec <- fit_spec(object)
  stats::setNames(vapply(spec$levels, function(l) length(l$labels), 1L), spec$level_names)
}

# A numeric variable alone on the right (`y ~ school`) is read as groups,
# as the lecture's shorthand does; once per session a message says so and
# how to write a covariate instead (lm() would read it as one).
note_numeric_groups <- function(name) {
  if (isTRUE(getOption("hiermod.numeric_groups_noted"))) return(invisible())
  options(hiermod.numeric_groups_noted = TRUE)
  message(structure(
    class = c("hiermod_numeric_groups", "message", "condition"),
    list(message = paste0(
      "Read the numeric variable `", name, "` as groups (the shorthand ",
      "`y ~ group`); for a covariate write `y ~ 1 + ", name, "`, and `(1 | ",
      name, ")` says groups without this note (shown once per session).\n"),
      call = NULL)
  ))
}

# What the regressions do not take yet.
check_regression_data <- function(se_expr, within) {
  if (!is.null(se_expr)) {
    hm_abort("se", "cannot be used with covariates or group slopes yet.")
  }
  if (check_choice(within, "within", c("common", "group")) == "group") {
    hm_abort("within", "must be \"common\" for a model with covariates or ",
             "group slopes.")
  }
}

#' @method prior_summary hiermod_lmm
#' @export
prior_summary.hiermod_lmm <- function(object, ...) {
  check_lmm(object, "object")
  lmm_prior_table(fit_meta(object)$prior, fit_spec(object))
}

# Every prior of a regression, one row per parameter (or correlation
# matrix): its name and the prior as text.
lmm_prior_table <- function(p, spec) {
  f <- function(v) format(signif(v, 4))
  effect <- vapply(p$effects, function(e) {
    if (e$family == "flat") "flat" else paste0("normal(", f(e$mean), ", ", f(e$sd), ")")
  }, "")
  per_level <- unlist(lapply(seq_along(p$levels), function(l) {
    level <- p$levels[[l]]
    c(vapply(level$sds, format_sd_dist, ""),
      if (!is.null(level$lkj)) {
        stats::setNames(paste0("lkj(", f(level$lkj), ")"), paste0("cor_", spec$level_names[l]))
      })
  }))
  rows <- c(effect, per_level, sigma = format_sd_dist(p$sigma))
  data.frame(parameter = names(rows), prior = unname(rows))
}

#' @method tidy hiermod_lmm
#' @export
tidy.hiermod_lmm <- function(x, effects = c("fixed", "ran_pars"),
                             conf.int = FALSE, # nolint: object_name_linter.
                             conf.level = 0.95, ...) { # nolint: object_name_linter.
  check_lmm(x)
  check_dots(list(...), "tidy()")
  effects <- check_effects(effects)
  check_flag(conf.int, "conf.int")
  check_probability(conf.level, "conf.level")
  blocks <- lapply(effects, function(e) tidy_lmm_block(x, e))
  rows <- do.call(rbind, lapply(blocks, `[[`, "rows"))
  draws <- do.call(cbind, lapply(blocks, `[[`, "draws"))
  out <- cbind(rows, draw_summaries(draws, if (conf.int) conf.level))
  if (!any(c("ran_vals", "ran_coefs") %in% effects)) out$level <- NULL
  as_tidy_table(out)
}

# One kind of effect of a regression, in broom.mixed's terms: the fixed
# effects by model.matrix()'s names; per level its sds (`sd__<coef>`) and
# correlations (`cor__<coef1>.<coef2>`), then `sd__Observation`; each
# group's deviations (ran_vals) or coefficients (ran_coefs, the fixed
# effect added where there is one).
tidy_lmm_block <- function(x, effect) {
  spec <- fit_spec(x)
  cols <- spec$columns
  fixed <- cols[cols$role == "fixed", ]
  if (effect == "fixed") {
    return(tidy_rows(effect, NA_character_, NA_character_, fixed$coef,
                     stacked_draws(x, fixed$name)))
  }
  if (effect == "ran_pars") {
    pars <- cols[cols$role %in% c("sd", "cor", "sigma"), ]
    term <- ifelse(pars$role == "sd", paste0("sd__", pars$coef),
                   ifelse(pars$role == "cor", paste0("cor__", sub(",", ".", pars$coef)),
                          "sd__Observation"))
    group <- ifelse(pars$role == "sigma", "Residual", spec$level_names[pmax(pars$level, 1L)])
    return(tidy_rows(effect, group, NA_character_, term, stacked_draws(x, pars$name)))
  }
  if (length(spec$levels) == 0L) {
    hm_abort("effects", "asks for \"", effect, "\", but a regression without groups ",
             "has none.")
  }
  lmm_group_means(x) # keep = "global" fits have no group draws: an error
  groups <- cols[cols$role == "group", ]
  draws <- stacked_draws(x, groups$name)
  if (effect == "ran_coefs") {
    with_fixed <- groups$coef %in% fixed$coef
    added <- stacked_draws(x, fixed$name[match(groups$coef[with_fixed], fixed$coef)])
    draws[, with_fixed] <- draws[, with_fixed, drop = FALSE] + added
  }
  tidy_rows(effect, spec$level_names[groups$level], groups$label, groups$coef, draws)
}

# The group summaries of a regression's rows: per group of the last level
# its value at each level, its count, the means of the model's variables
# (`mean[<variable>]`) and their centred cross-products (`cp[<a>,<b>]`,
# a before b), all the fit needs (MATHS.md 15.6). The designs' structure
# (terms, factor levels, contrasts, which variable each column is) rides
# along as the attribute "design".
lmm_summaries <- function(formula, data) {
  terms <- lmm_terms(formula)
  refuse_crossed(terms, "group summaries")
  model <- lmm_model(terms, data, formula)
  rows <- leaf_group_values(vapply(model$levels, `[[`, "", "name"),
                            lapply(model$levels, `[[`, "values"),
                            lapply(model$levels, `[[`, "parent"), length(model$stats$n))
  check_group_names(names(rows), "formula")
  rows <- statistics_columns(rows, model$stats, model$variables)
  design <- model[c("x_names", "x_vars", "variables", "x_terms", "x_levels", "contrasts")]
  design$levels <- lapply(model$levels, function(l) {
    l[c("name", "own", "z_names", "z_vars", "correlated", "terms", "xlevels")]
  })
  out <- summaries(rows, formula)
  attr(out, "design") <- design
  out
}

# The summaries' columns of the statistics `stats` (the core's list: n,
# mean, cross) of the variables `v`, after the groups' `rows`: n,
# `mean[<v>]`, `cp[<a>,<b>]`.
statistics_columns <- function(rows, stats, v) {
  rows$n <- as.integer(stats$n)
  d <- length(v)
  means <- t(stats$mean)
  colnames(means) <- paste0("mean[", v, "]")
  cp <- cross_columns(v)
  pairs <- cp$pairs
  cross <- t(stats$cross[(pairs[, "col"] - 1L) * d + pairs[, "row"], , drop = FALSE])
  colnames(cross) <- cp$names
  cbind(rows, as.data.frame(means, check.names = FALSE),
        as.data.frame(cross, check.names = FALSE))
}

# The pairs of variables (a <= b, row after row of the upper triangle)
# whose cross-products a regression's summaries hold, and their columns'
# names, `cp[<a>,<b>]`.
cross_columns <- function(variables) {
  d <- length(variables)
  pairs <- which(upper.tri(diag(d), diag = TRUE), arr.ind = TRUE)
  pairs <- pairs[order(pairs[, "row"], pairs[, "col"]), , drop = FALSE]
  list(pairs = pairs,
       names = paste0("cp[", variables[pairs[, "row"]], ",", variables[pairs[, "col"]], "]"))
}

# The model of a regression from its group summaries: the groups' tree
# rebuilt from their values, as from the rows, and the statistics read
# back from the table, so that the fit is the one from the rows.
lmm_model_from_summaries <- function(s, formula) {
  design <- attr(s, "design")
  if (is.null(design)) {
    hm_abort("data", "holds the summaries of a model without covariates or ",
             "group slopes; summarise the rows with this formula.")
  }
  if (!identical(deparse1(formula), deparse1(attr(s, "formula")))) {
    hm_abort("formula", "must be the summaries' own (",
             deparse1(attr(s, "formula")), "), not ", deparse1(formula), ".")
  }
  v <- design$variables
  d <- length(v)
  cp <- cross_columns(v)
  pairs <- cp$pairs
  mean_cols <- paste0("mean[", v, "]")
  cross_cols <- cp$names
  names <- vapply(design$levels, `[[`, "", "name")
  if (!identical(names(s), c(names, "n", mean_cols, cross_cols))) {
    hm_abort("data", "must keep the columns group_summaries() gave it: ",
             paste(c(names, "n", mean_cols, cross_cols), collapse = ", "), ".")
  }
  k <- nrow(s)
  for (col in c("n", mean_cols, cross_cols)) {
    if (!is.numeric(s[[col]]) || any(!is.finite(s[[col]]))) {
      hm_abort("data", "column `", col, "` of the summaries must be finite numbers.")
    }
  }
  diagonal <- cross_cols[pairs[, "row"] == pairs[, "col"]]
  if (k == 0L || any(s$n < 1 | s$n != round(s$n)) ||
        any(unlist(s[diagonal]) < 0)) {
    hm_abort("data", "summaries need counts of at least 1 and sums of squares ",
             "of at least 0.")
  }
  if (length(names) == 0L && k != 1L) {
    hm_abort("data", "summaries of a model without groups must have one row, not ", k, ".")
  }
  if (k > 0L && max(tuple_codes(unclass(s)[names], k)) < k) {
    hm_abort("data", "has more than one row for a group: each row of the ",
             "summaries must be one group.")
  }
  encoded <- Map(function(l, n) encode_groups(s[[n]], k, l$own, TRUE), design$levels, names)
  tree <- build_tree(encoded, names, k, "data")
  s <- s[order(if (length(names)) tree$codes else 1L), , drop = FALSE]
  cross <- matrix(0, d * d, k)
  for (i in seq_len(nrow(pairs))) {
    a <- pairs[i, "row"]
    b <- pairs[i, "col"]
    cross[(b - 1L) * d + a, ] <- cross[(a - 1L) * d + b, ] <- as.double(s[[cross_cols[i]]])
  }
  means <- do.call(rbind, lapply(mean_cols, function(col) as.double(s[[col]])))
  stats <- list(n = as.double(s$n), mean = means, cross = cross)
  levels <- Map(function(l, node) {
    c(l, list(labels = node$label, parent = node$parent, values = node$value))
  }, design$levels, tree$nodes)
  c(design[setdiff(names(design), "levels")],
    list(levels = levels, stats = stats, n = as.integer(sum(stats$n))))
}

# Crossed factors have no one table of groups that summarises the rows:
# `what` (summaries, a file or table read in passes) needs nested groups.
refuse_crossed <- function(terms, what) {
  if (isTRUE(terms$crossed)) {
    hm_abort("formula", "has crossed grouping factors (",
             paste0("`", vapply(terms$levels, `[[`, "", "name"), "`", collapse = ", "),
             "), which ", what, " cannot hold: they summarise the rows by one ",
             "nesting of groups. Fit the rows from a data frame.")
  }
}

# Refuses what needs the fitted rows when the fit has only their
# summaries.
check_rows_kept <- function(object, what, arg = "object") {
  if (is.null(fit_meta(object)$model$y)) {
    hm_abort(arg, "was fitted from group summaries, which do not keep ",
             "the rows that ", what, " needs: fit from the rows, or give `newdata`.")
  }
}
