# The regression models: fixed effects through model.matrix() and, with a
# bar term `(lhs | group)` or `(lhs || group)`, group coefficients on the
# columns of `lhs` (a random intercept, slopes, correlated or not). The
# core samples them exactly (src/rust/core/src/lmm.rs; MATHS.md section 15).

# Whether a right-hand side asks for a regression rather than the lecture's
# tree of groups: a fixed part beyond `1` beside bars, a bar with more than
# an intercept or written `||`, or, without bars, any operator of terms
# (`+`, `-`, `*`, `:`, `^`, `%in%`) or `0`. A single variable or a path
# `a/b` without bars stays the lecture's shorthand.
is_regression_rhs <- function(rhs) {
  bars <- find_bars(rhs)
  if (length(bars)) {
    fixed <- no_bars(rhs)
    slopes <- vapply(bars, function(bar) {
      !identical(bar[[1L]], as.name("|")) || !is_one(unparen(bar[[2L]]))
    }, TRUE)
    return(!(is.null(fixed) || is_one(fixed)) || any(slopes))
  }
  e <- unparen(rhs)
  is_call_to(e, c("+", "-", "*", ":", "^", "%in%")) || identical(e, 0) ||
    identical(e, 0L)
}

# The terms of a regression formula: response, fixed part (an expression
# for model.matrix(); `1` when only bars are given, as lme4 reads them) and
# the one bar term, or none.
lmm_terms <- function(formula) {
  rhs <- formula[[3L]]
  bars <- find_bars(rhs)
  fixed <- no_bars(rhs)
  if (is.null(fixed)) fixed <- 1
  if (length(bars) > 1L) {
    hm_abort("formula", "`", deparse1(rhs), "`: regression with more than one ",
             "grouping term (nested or crossed groups with covariates or ",
             "slopes) is not supported yet; use one term `(1 + x | group)`.")
  }
  if ("offset" %in% all.names(fixed)) {
    hm_abort("formula", "has an offset: offsets are not supported.")
  }
  bar <- NULL
  if (length(bars)) {
    group <- unparen(bars[[1L]][[3L]])
    if (is_call_to(group, c("/", ":", "+", "*"))) {
      hm_abort("formula", "`(", deparse1(bars[[1L]]), ")`: nested groups ",
               "with covariates or slopes are not supported yet; use one ",
               "grouping variable.")
    }
    bar <- list(lhs = bars[[1L]][[2L]], group = group,
                correlated = identical(bars[[1L]][[1L]], as.name("|")))
  }
  list(kind = "lmm", response = formula[[2L]], fixed = fixed, bar = bar,
       levels = if (!is.null(bar)) list(bar$group) else list(), bars = TRUE)
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

# The rows of a regression: response, fixed-effect design X, group
# coefficients' design Z and groups, complete rows only (dropped with a
# message), with what predict() will need (terms, factor levels).
lmm_model <- function(terms, data, formula) {
  if (!is.null(data) && !is.list(data)) {
    hm_abort("data", "must be a data frame or list, not ", describe(data), ".")
  }
  y <- eval_variable(terms$response, data, formula, "response")
  check_response(y, terms$response)
  n <- length(y)
  frames <- list(x = design_frame(terms$fixed, data, formula))
  bar <- terms$bar
  if (!is.null(bar)) {
    frames$z <- design_frame(bar$lhs, data, formula)
    group <- check_group(eval_variable(bar$group, data, formula, "group"), n,
                         bar$group, TRUE)
  }
  for (f in frames) {
    if (nrow(f) != n && ncol(f) > 0L) {
      hm_abort("formula", "has variables of ", nrow(f), " rows but the ",
               "response has ", n, ".")
    }
  }
  incomplete <- is.na(y) | (if (is.null(bar)) FALSE else is.na(group))
  for (f in frames) if (ncol(f) > 0L) incomplete <- incomplete | !stats::complete.cases(f)
  note_dropped_rows(sum(incomplete), n,
                    "a missing value (NA) in the response, a covariate or the group",
                    paste0(", first row ", which(incomplete)[1L]))
  keep <- !incomplete
  y <- as.double(y[keep])
  design <- lapply(frames, function(f) {
    f <- f[keep, , drop = FALSE]
    f[] <- lapply(f, function(v) if (is.factor(v)) droplevels(v) else v)
    m <- stats::model.matrix(attr(f, "terms"), f)
    if (nrow(m) != length(y)) m <- m[rep(1L, length(y)), , drop = FALSE]
    list(matrix = m, terms = attr(f, "terms"), xlevels = stats::.getXlevels(attr(f, "terms"), f))
  })
  x <- design$x$matrix
  check_fixed_rank(x)
  z <- if (!is.null(bar)) design$z$matrix else matrix(0, length(y), 0L)
  if (!is.null(bar) && ncol(z) == 0L) {
    hm_abort("formula", "`(", deparse1(bar$lhs), " | ", deparse1(bar$group),
             ")` gives the groups no coefficient.")
  }
  groups <- if (!is.null(bar)) {
    encode_groups(group[keep], length(y), bar$group, TRUE, checked = TRUE)
  } else {
    list(codes = rep(1L, length(y)), labels = character())
  }
  list(y = y, x = unname_design(x), z = unname_design(z),
       x_names = colnames(x), z_names = colnames(z),
       group = groups$codes, labels = groups$labels,
       group_name = if (!is.null(bar)) deparse1(bar$group),
       correlated = !is.null(bar) && bar$correlated && ncol(z) > 1L,
       x_terms = design$x$terms, x_levels = design$x$xlevels,
       z_terms = design$z$terms, z_levels = design$z$xlevels,
       contrasts = attr(x, "contrasts"))
}

unname_design <- function(m) {
  m <- unclass(m)
  attributes(m) <- list(dim = dim(m))
  storage.mode(m) <- "double"
  m
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
# effects, sds, correlations, sigma, then each coefficient's group values),
# named as brms names them.
lmm_spec <- function(model) {
  g <- model$group_name
  xb <- coef_label(model$x_names)
  zb <- coef_label(model$z_names)
  q <- length(zb)
  pairs <- if (model$correlated) {
    do.call(rbind, lapply(seq_len(q)[-1L], function(i) cbind(seq_len(i - 1L), i)))
  } else {
    matrix(integer(), 0L, 2L)
  }
  k <- length(model$labels)
  part <- function(name, role, coef = NA_character_, label = NA_character_) {
    list2DF(list(name = name, role = rep(role, length(name)),
                 coef = rep_len(coef, length(name)),
                 label = rep_len(label, length(name))))
  }
  # recycle0: no coefficient, no name (paste0() would make one of the prefix)
  name <- function(...) paste0(..., recycle0 = TRUE)
  columns <- rbind(
    part(name("b_", xb), "fixed", model$x_names),
    part(name("sd_", g, "__", zb), "sd", model$z_names),
    part(name("cor_", g, "__", zb[pairs[, 1L]], "__", zb[pairs[, 2L]]), "cor",
         name(model$z_names[pairs[, 1L]], ",", model$z_names[pairs[, 2L]])),
    part("sigma", "sigma"),
    part(name("r_", g, "[", rep(model$labels, q), ",", rep(zb, each = k), "]"),
         "group", rep(model$z_names, each = k), rep(model$labels, q))
  )
  columns$global <- columns$role != "group"
  structure(list(kind = "lmm", columns = columns, samplers = "collapsed",
                 group = g, labels = model$labels, x_names = model$x_names,
                 z_names = model$z_names, correlated = model$correlated,
                 n = length(model$y)),
            class = "hiermod_spec")
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
  known <- c("Intercept", "b", b_names, "sd", sd_names, "sigma",
             if (spec$correlated) "cor")
  unknown <- setdiff(names(dists), known)
  if (length(unknown)) {
    hm_abort("prior", "gives `", unknown[1L], "`, which is not a parameter ",
             "of this model; its priors are named ",
             paste0("`", known, "`", collapse = ", "), ".")
  }
  s_y <- stats::sd(model$y)
  if (!(is.finite(s_y) && s_y > 0)) s_y <- max(abs(model$y), 1)
  sds <- lapply(seq_along(sd_names), function(k) {
    group_sd_prior(dists, sd_names[k], s_y / column_spread(model$z[, k]))
  })
  sigma <- group_sd_prior(dists, "sigma", s_y)
  lkj <- if (spec$correlated) {
    d <- dists$cor
    if (!is.null(d) && d$family != "lkj") {
      hm_abort("cor", "must have an lkj() prior, not ", d$family, "().")
    }
    if (is.null(d)) 1 else d$eta
  }
  effects <- effect_priors(dists, model, b_names, s_y)
  structure(list(effects = stats::setNames(effects, b_names),
                 sds = stats::setNames(sds, sd_names), sigma = sigma, lkj = lkj),
            class = "hiermod_lmm_prior")
}

# The sd of a column of a design, about its mean (about 0, its root mean
# square, for the intercept's column or `about_zero`); 1 for a constant
# column, whose scale says nothing.
column_spread <- function(v, about_zero = FALSE) {
  if (all(v == 1)) return(1)
  s <- if (about_zero) sqrt(mean(v^2)) else stats::sd(v)
  if (is.finite(s) && s > 0) s else 1
}

# The prior of the sd `name` (or sigma): its own, else `sd`'s (not for
# sigma), else the default half-Cauchy with scale `s`.
group_sd_prior <- function(dists, name, s) {
  d <- dists[[name]]
  if (is.null(d) && name != "sigma") d <- dists$sd
  if (is.null(d)) return(default_sd_prior(s))
  if (d$family == "flat") hm_abort(name, "cannot have a flat() prior: it is improper.")
  resolve_sd_dist(d, s, name)
}

# The normal (or flat) prior of each fixed effect: its own (`b_<coef>`),
# else `Intercept`'s or `b`'s, else rstanarm's autoscaled default.
effect_priors <- function(dists, model, b_names, s_y) {
  intercept <- model$x_names == "(Intercept)"
  centred <- any(intercept)
  lapply(seq_along(b_names), function(k) {
    name <- b_names[k]
    d <- dists[[name]]
    if (is.null(d)) d <- dists[[if (intercept[k]) "Intercept" else "b"]]
    location <- if (intercept[k]) mean(model$y) else 0
    scale <- 2.5 * s_y / (if (intercept[k]) 1 else column_spread(model$x[, k], !centred))
    if (is.null(d)) return(list(family = "normal", mean = location, sd = scale))
    if (d$family == "flat") return(list(family = "flat", mean = 0, sd = Inf))
    if (d$family != "normal") {
      hm_abort(name, "must have a normal() or flat() prior (the fixed effects ",
               "are integrated out exactly, which needs one of them), not ",
               d$family, "().")
    }
    list(family = "normal", mean = d$location,
         sd = if (is.null(d$scale)) scale else d$scale)
  })
}

# The list the core reads.
lmm_prior_for_core <- function(prior) {
  list(effect_mean = vapply(prior$effects, function(e) as.double(e$mean), 1, USE.NAMES = FALSE),
       effect_sd = vapply(prior$effects, function(e) as.double(e$sd), 1, USE.NAMES = FALSE),
       sds = unname(prior$sds), sigma = prior$sigma,
       lkj = if (!is.null(prior$lkj)) as.double(prior$lkj))
}

# The core's arguments for a regression's data: y, X, Z, groups.
lmm_glue_data <- function(model) {
  list(y = model$y, x = model$x, z = model$z, group = as.integer(model$group),
       n_groups = max(length(model$labels), 1L))
}

# fit() of a regression.
fit_lmm <- function(call, formula, terms, data, prior, chains, iter, warmup,
                    thin, seed, cores, sampler, keep, progress) {
  model <- lmm_model(terms, data, formula)
  spec <- lmm_spec(model)
  prior <- resolve_lmm_prior(prior, model, spec)
  settings <- fit_settings(spec, chains, iter, warmup, thin, cores, sampler,
                           keep, seed)
  s <- settings
  report <- progress_reporter(progress, as.double(s$chains) * s$iter)
  d <- lmm_glue_data(model)
  started <- proc.time()[["elapsed"]]
  out <- hm_sample_lmm(d$y, d$x, d$z, d$group, d$n_groups,
                       lmm_prior_for_core(prior), s$chains, s$iter, s$warmup,
                       s$thin, s$seed, s$cores, s$keep == "all",
                       spec$columns$name, report)
  elapsed <- proc.time()[["elapsed"]] - started
  stop_if_interrupted(out, "sampling")
  out <- glue_result(out, "data", "sampled")
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
  if (!is.null(spec$group)) {
    out <- paste0(out, "; by `", spec$group, "` (", length(spec$labels),
                  " groups): ", paste(spec$z_names, collapse = ", "),
                  if (length(spec$z_names) > 1L) {
                    if (spec$correlated) ", correlated" else ", independent"
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
  cat("Bayesian linear ", if (is.null(spec$group)) "regression" else "mixed model",
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
  pars <- select_pars(object, pars)
  check_probs(probs)
  s <- column_summaries(object, probs, pars)
  diag <- convergence(object, pars)
  table <- data.frame(mean = s[, 1L], sd = diag$sd,
                      s[, -1L, drop = FALSE], mcse_mean = diag$mcse_mean,
                      ess_bulk = diag$ess_bulk, ess_tail = diag$ess_tail,
                      rhat = diag$rhat, check.names = FALSE,
                      row.names = pars)
  structure(list(table = table, meta = fit_meta(object),
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

# The group coefficients' posterior means, one column per coefficient.
lmm_group_means <- function(object) {
  spec <- fit_spec(object)
  if (is.null(spec$group)) {
    hm_abort("object", "is a regression without groups: it has no group ",
             "coefficients.")
  }
  if (fit_meta(object)$settings$keep != "all") {
    hm_abort("object", "was fitted with keep = \"global\": the group ",
             "coefficients were not stored; refit with keep = \"all\".")
  }
  cols <- spec$columns[spec$columns$role == "group", ]
  means <- column_means(object, cols$name)
  out <- lapply(spec$z_names, function(coef) unname(means[cols$coef == coef]))
  as.data.frame(stats::setNames(out, spec$z_names), row.names = spec$labels,
                check.names = FALSE)
}

#' @method ranef hiermod_lmm
#' @export
ranef.hiermod_lmm <- function(object, ...) {
  check_lmm(object, "object")
  check_dots(list(...), "ranef()")
  stats::setNames(list(lmm_group_means(object)), fit_spec(object)$group)
}

#' @export
coef.hiermod_lmm <- function(object, ...) {
  check_lmm(object, "object")
  check_dots(list(...), "coef()")
  spec <- fit_spec(object)
  fixed <- fixef(object)
  if (is.null(spec$group)) return(fixed)
  b <- lmm_group_means(object)
  out <- as.data.frame(matrix(fixed, nrow(b), length(fixed), byrow = TRUE,
                              dimnames = list(spec$labels, names(fixed))),
                       check.names = FALSE)
  for (coef in intersect(names(b), names(out))) out[[coef]] <- out[[coef]] + b[[coef]]
  stats::setNames(list(out), spec$group)
}

#' @method VarCorr hiermod_lmm
#' @export
VarCorr.hiermod_lmm <- function(x, ...) {
  check_lmm(x)
  check_dots(list(...), "VarCorr()")
  spec <- fit_spec(x)
  cols <- spec$columns
  sds <- cols[cols$role == "sd", ]
  cors <- cols[cols$role == "cor", ]
  draws <- stacked_draws(x, c(sds$name, cors$name, "sigma"))
  sd_draws <- draws[, sds$name, drop = FALSE]
  var1 <- c(sds$coef, sub(",.*", "", cors$coef), NA)
  var2 <- c(rep(NA, nrow(sds)), sub(".*,", "", cors$coef), NA)
  cov_draws <- lapply(seq_len(nrow(cors)), function(i) {
    draws[, cors$name[i]] * sd_draws[, match(var1[nrow(sds) + i], sds$coef)] *
      sd_draws[, match(var2[nrow(sds) + i], sds$coef)]
  })
  vcov <- c(colMeans(sd_draws^2), vapply(cov_draws, mean, 1),
            mean(draws[, "sigma"]^2))
  sdcor <- colMeans(draws)
  data.frame(grp = c(rep(spec$group, nrow(sds) + nrow(cors)), "Residual"),
             var1 = var1, var2 = var2, vcov = unname(vcov),
             sdcor = unname(sdcor), stringsAsFactors = FALSE)
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
  if (is.null(spec$group)) return(stats::setNames(integer(), character()))
  stats::setNames(length(spec$labels), spec$group)
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
check_regression_data <- function(data, se_expr, within) {
  if (inherits(data, c("hiermod_summaries", "tbl_lazy")) ||
        (is.character(data) && length(data) == 1L)) {
    hm_abort("data", "must be rows (a data frame) for a model with ",
             "covariates or group slopes: group summaries, databases and ",
             "CSV files are not supported for them yet.")
  }
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
  p <- fit_meta(object)$prior
  f <- function(v) format(signif(v, 4))
  effect <- vapply(p$effects, function(e) {
    if (e$family == "flat") "flat" else paste0("normal(", f(e$mean), ", ", f(e$sd), ")")
  }, "")
  rows <- c(effect, vapply(p$sds, format_sd_dist, ""),
            sigma = format_sd_dist(p$sigma),
            if (!is.null(p$lkj)) c(cor = paste0("lkj(", f(p$lkj), ")")))
  data.frame(parameter = names(rows), prior = unname(rows))
}
