# The model of a fit as one object that every method reads: its levels of
# groups, the within-group model, the tree of groups and their statistics,
# the columns of the draws (from the core's layout) and the samplers that
# apply. Methods ask it what they need (a level's effect columns, the
# within-group sd's column, the model's title) instead of working it out
# from the depth and the within-group model each time.

# `model`: list(levels, nodes, stats), as model_from_rows() and
# model_from_summaries() build it (nodes: one data frame per level, top
# first, with `label` and `parent`; stats: one row per last-level group);
# `within`: "common", "known" or "group".
model_spec <- function(model, within) {
  levels <- model$levels
  depth <- length(levels)
  spec <- structure(list(
    levels = levels,
    depth = depth,
    within = within,
    # the grouping variables as the formula writes them, "region/school"
    group = paste(levels, collapse = "/"),
    nodes = model$nodes,
    stats = model$stats
  ), class = "hiermod_spec")
  spec$columns <- spec_columns(spec)
  spec$samplers <- model_samplers(depth, within)
  spec
}

# The columns of the draws in storage order, named from the core's layout:
# mu, sd_b or sd_<level>, sd_w (sd for y ~ 1), sd_w0, nu0, theta[label] or
# theta_<level>[label], sd_w[label]. `level` is 0 for the parameters that
# belong to no level, `label` NA for those that belong to no group.
spec_columns <- function(spec) {
  sizes <- vapply(spec$nodes, function(l) length(l$label), 1L)
  layout <- glue_result(hm_layout(sizes, spec$within), "data", "described")
  level_sd <- sd_parameter_names(spec$depth, spec$levels)
  prefix <- if (spec$depth == 1L) "theta" else paste0("theta_", spec$levels)
  role <- layout$role
  level <- as.integer(layout$level)
  node <- as.integer(layout$node)
  label <- rep(NA_character_, length(role))
  effect <- which(role == "effect")
  for (l in unique(level[effect])) {
    at <- effect[level[effect] == l]
    label[at] <- spec$nodes[[l]]$label[node[at]]
  }
  group_sd <- role == "group_sd"
  label[group_sd] <- spec$stats$group[node[group_sd]]
  name <- character(length(role))
  name[role == "mean"] <- "mu"
  name[role == "level_sd"] <- level_sd[level[role == "level_sd"]]
  name[role == "within_sd"] <- if (spec$depth == 0L) "sd" else "sd_w"
  name[role == "within_sd_centre"] <- "sd_w0"
  name[role == "within_df"] <- "nu0"
  name[effect] <- paste0(prefix[level[effect]], "[", label[effect], "]")
  name[group_sd] <- paste0("sd_w[", label[group_sd], "]")
  list2DF(list(name = name, role = role, level = level, node = node,
               label = label, global = as.logical(layout$global)))
}

# Column names: the global parameters (stored with keep = "global") and all.
parameter_names <- function(spec) {
  cols <- spec$columns
  list(global = cols$name[cols$global], all = cols$name)
}

fit_spec <- function(x) fit_meta(x)$spec

# The names of the columns of `role` at `level`, ordered by group.
spec_role <- function(spec, role, level = 0L) {
  cols <- spec$columns
  at <- which(cols$role == role & cols$level == level)
  cols$name[at[order(cols$node[at])]]
}

has_groups <- function(spec) spec$depth > 0L

# The group means of level `level` (default: the last).
spec_effects <- function(spec, level = spec$depth) spec_role(spec, "effect", level)

# The group labels (paths) of level `level` (default: the last).
spec_labels <- function(spec, level = spec$depth) spec$nodes[[level]]$label

# The between-group sd of each level `level` (default: every level, top
# first).
spec_level_sd <- function(spec, level = seq_len(spec$depth)) {
  cols <- spec$columns
  at <- which(cols$role == "level_sd")
  cols$name[at][match(level, cols$level[at])]
}

# The column that summarises the within-group sd: sd_w (sd for y ~ 1),
# sd_w0 (the centre of the groups' sds with group-specific variances), or
# NULL with known standard errors.
spec_within_sd <- function(spec) {
  switch(spec$within,
         common = spec_role(spec, "within_sd"),
         group = spec_role(spec, "within_sd_centre"),
         known = NULL)
}

# The group-specific within sds of the last level's groups `nodes`.
spec_group_sd <- function(spec, nodes) {
  cols <- spec_role(spec, "group_sd", spec$depth)
  cols[nodes]
}

spec_globals <- function(spec) parameter_names(spec)$global

# The number of groups of each level, named by level.
spec_group_counts <- function(spec) {
  stats::setNames(vapply(spec$nodes, nrow, 1L), spec$levels)
}

# "two levels", "three levels", "one normal sample", with the within model.
spec_title <- function(spec) {
  depth <- spec$depth
  words <- c("two", "three", "four", "five", "six")
  title <- if (depth == 0L) {
    "one normal sample"
  } else {
    paste(if (depth <= 5L) words[depth] else depth + 1L, "levels")
  }
  paste0(title, switch(spec$within,
                       known = ", known within-group variances",
                       group = ", group-specific within-group variances",
                       ""))
}

# The level (1 = top) that an argument `by` (or `level`) names: a grouping
# variable's name or a position from the top; NULL for the last.
spec_level <- function(spec, by, arg = "by") {
  depth <- spec$depth
  if (is.null(by)) return(depth)
  if (is.character(by) && length(by) == 1L && by %in% spec$levels) {
    return(match(by, spec$levels))
  }
  if (is.numeric(by) && length(by) == 1L && !is.na(by) && by %in% seq_len(depth)) {
    return(as.integer(by))
  }
  hm_abort(arg, "must name a level of groups of the fit (",
           paste0("\"", spec$levels, "\"", collapse = ", "), ") or give its ",
           "position from the top (1 to ", depth, "), not ", describe(by), ".")
}

# The symbols of each level (top first) in the model's graph: the lecture's
# for the two-level model (tau_b, theta_k, plate k = 1, ..., K), else named
# by each level's variable (tau_region, theta_region, plate region = 1,
# ..., R); none for y ~ 1.
spec_symbols <- function(spec) {
  tag <- gsub("[^A-Za-z0-9]", "", spec$levels)
  if (spec$depth == 1L) {
    return(list(tag = tag, tau = "tau_b", tau_label = "tau[b]", ab = "a, b",
                ab_label = "a*','~b", theta = "theta_k", theta_label = "theta[k]",
                index = "k", size = "K"))
  }
  # recycle0: no level, no symbol (paste0() would make one of the prefix)
  per_level <- function(...) paste0(..., recycle0 = TRUE)
  list(tag = tag, tau = per_level("tau_", tag), tau_label = per_level("tau[", tag, "]"),
       ab = per_level("a, b (", tag, ")"),
       ab_label = per_level("a[", tag, "]*','~b[", tag, "]"),
       theta = per_level("theta_", tag), theta_label = per_level("theta[", tag, "]"),
       index = tag, size = toupper(substr(tag, 1L, 1L)))
}
