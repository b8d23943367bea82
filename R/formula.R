# The formula front end: the one place that reads a model formula, in lme4's
# terms, into the response and the grouping levels.
#
# Two notations name the same models:
# * the lecture's shorthand, `y ~ 1`, `y ~ school`, `y ~ region/school`
#   (no bars: every variable on the right is a level of groups);
# * lme4's, `y ~ (1 | school)`, `y ~ 1 + (1 | region/school)` or, as lme4
#   expands `/`, `y ~ (1 | region) + (1 | region:school)`.
# Covariates, varying slopes and crossed groups are refused with a message
# saying so (they come with the regression model).

# Returns list(response, levels (expressions, top to bottom), group (the
# last level, NULL for `y ~ 1`), bars (lme4's notation was used)).
parse_hier_formula <- function(formula) {
  if (!inherits(formula, "formula") || length(formula) != 3L) {
    hm_abort("formula", "must be a two-sided formula such as ",
             "`mathscore ~ school`, not ", describe(formula), ".")
  }
  check_response_not_on_right(formula)
  rhs <- formula[[3L]]
  bars <- find_bars(rhs)
  levels <- if (length(bars) == 0L) {
    shorthand_levels(unparen(rhs), formula)
  } else {
    check_fixed_part(no_bars(rhs), formula)
    bar_levels(bars, formula)
  }
  for (level in levels) check_level_term(level, formula)
  list(response = formula[[2L]], levels = levels,
       group = if (length(levels)) levels[[length(levels)]],
       bars = length(bars) > 0L)
}

# A variable of the response on the right, as a covariate, a slope or a
# group, explains the response by itself: refused rather than fitted.
check_response_not_on_right <- function(formula) {
  both <- intersect(all.vars(formula[[2L]]), all.vars(formula[[3L]]))
  if (length(both)) {
    hm_abort("formula", "`", deparse1(formula), "` has the response's variable `", both[1L],
             "` on its right-hand side: the response cannot explain itself.")
  }
}

level_names <- function(terms) vapply(terms$levels, deparse1, "")

unparen <- function(e) {
  while (is.call(e) && identical(e[[1L]], as.name("("))) e <- e[[2L]]
  e
}

is_call_to <- function(e, names) {
  is.call(e) && is.name(e[[1L]]) && as.character(e[[1L]]) %in% names
}

is_one <- function(e) identical(e, 1) || identical(e, 1L)

# The terms `(lhs | group)` and `(lhs || group)` of a right-hand side (as
# lme4::findbars()), and what is left without them (as lme4::nobars(): NULL
# when nothing is).
find_bars <- function(e) {
  e <- unparen(e)
  if (is_call_to(e, c("|", "||"))) return(list(e))
  if (is_call_to(e, "+")) return(c(find_bars(e[[2L]]), find_bars(e[[3L]])))
  list()
}

no_bars <- function(e) {
  e <- unparen(e)
  if (is_call_to(e, c("|", "||"))) return(NULL)
  if (is_call_to(e, "+") && length(e) == 3L) {
    left <- no_bars(e[[2L]])
    right <- no_bars(e[[3L]])
    if (is.null(left)) return(right)
    if (is.null(right)) return(left)
    return(call("+", left, right))
  }
  e
}

# Without bars, the right-hand side is `1` or a path of groups `a/b/c`.
shorthand_levels <- function(rhs, formula) {
  if (is_one(rhs)) return(list())
  if (is.numeric(rhs)) {
    hm_abort("formula", "needs `1` or grouping variables on the right-hand ",
             "side, not ", deparse1(rhs), ".")
  }
  levels <- list()
  while (is_call_to(rhs, "/")) {
    levels <- c(list(unparen(rhs[[3L]])), levels)
    rhs <- unparen(rhs[[2L]])
  }
  c(list(rhs), levels)
}

# Beside the bars, only the intercept (mu): `1` or nothing.
check_fixed_part <- function(fixed, formula) {
  if (is.null(fixed) || is_one(fixed)) return(invisible())
  what <- if (identical(fixed, 0) || identical(fixed, 0L) ||
                is_call_to(fixed, "-")) {
    "a model without an intercept (`0 +`, `- 1`) is"
  } else {
    paste0("covariates (`", deparse1(fixed), "`) are")
  }
  hm_abort("formula", "`", deparse1(formula[[3L]]), "`: ", what, " not ",
           "supported yet; the models are group intercepts about one mean, ",
           "`y ~ (1 | group)`.")
}

# The levels named by the bar terms: one `(1 | a/b/c)`, or a chain
# `(1 | a) + (1 | a:b) + (1 | a:b:c)` in which each term adds one factor to
# the one before (lme4's expansion of `/`).
bar_levels <- function(bars, formula) {
  for (bar in bars) {
    if (!identical(bar[[1L]], as.name("|")) || !is_one(unparen(bar[[2L]]))) {
      hm_abort("formula", "has `(", deparse1(bar), ")`: only group ",
               "intercepts `(1 | group)` are supported yet, not varying ",
               "slopes.")
    }
  }
  groups <- lapply(bars, function(bar) unparen(bar[[3L]]))
  if (length(groups) == 1L) return(shorthand_levels(groups[[1L]], formula))
  factors <- lapply(groups, interaction_factors)
  order <- order(lengths(factors))
  factors <- factors[order]
  for (i in seq_along(factors)) {
    nested <- length(factors[[i]]) == i &&
      (i == 1L || identical(factors[[i]][-i], factors[[i - 1L]]))
    if (!nested) {
      hm_abort("formula", "`", deparse1(formula[[3L]]), "`: groups that are ",
               "not nested (crossed groups) are not supported yet; nested ",
               "groups are written `(1 | region/school)` or ",
               "`(1 | region) + (1 | region:school)`.")
    }
  }
  lapply(factors, function(f) f[[length(f)]])
}

# `a:b:c` as list(a, b, c).
interaction_factors <- function(e) {
  e <- unparen(e)
  if (is_call_to(e, ":")) {
    return(c(interaction_factors(e[[2L]]), interaction_factors(e[[3L]])))
  }
  list(e)
}

# A level of groups must be a variable or an expression of one, not a
# number, an offset, or an operator of covariates or crossed groups.
check_level_term <- function(level, formula) {
  if (is_call_to(level, "offset")) {
    hm_abort("formula", "has `", deparse1(level), "`: offsets are not ",
             "supported.")
  }
  if (is.numeric(level) ||
      is_call_to(level, c("+", "-", "*", ":", "|", "||", "%in%", "/"))) {
    hm_abort("formula", "must have grouping variables nested with `/`, as ",
             "in `y ~ group` or `y ~ region/school`; `",
             deparse1(formula[[3L]]), "` (covariates or crossed groups) ",
             "is not supported.")
  }
}
