#' Fit a Bayesian hierarchical normal model
#'
#' Fits the lecture's two-level model
#' \deqn{y_{ik} \sim N(\theta_k, 1/\tau_w), \quad
#'   \theta_k \sim N(\mu, 1/\tau_b),}
#' with the priors of [hier_prior()], by Markov chain Monte Carlo: by default
#' a collapsed sampler (the precisions drawn with \eqn{\mu} and every
#' \eqn{\theta} integrated out, then those exactly given the precisions);
#' the lecture's Gibbs sampler (each of \eqn{\mu}, \eqn{\tau_b},
#' \eqn{\theta}, \eqn{\tau_w} from its full conditional) on request. The data are
#' reduced once to per-group counts, means and within sums of squares; each
#' sweep then costs O(K) for K groups, whatever the number of rows.
#'
#' The same function fits the rest of the family:
#' * one normal sample, `y ~ 1`: \eqn{y_i \sim N(\mu, sd^2)};
#' * nested groups, `y ~ region/school` (any depth): each group's mean is
#'   normal about its parent's, with one sd per level;
#' * known within-group variances (meta-analysis), `se =`: each row's
#'   standard error is known and there is no \eqn{\tau_w};
#' * group-specific variances, `within = "group"` (Hoff 2009, 8.5).
#'
#' @param formula A two-sided formula `response ~ group`, or in lme4's
#'   notation `response ~ (1 | group)` (the same model); `response ~ 1` for
#'   one normal sample; `response ~ region/school` (or
#'   `response ~ (1 | region/school)`, or as lme4 expands it
#'   `response ~ (1 | region) + (1 | region:school)`) for groups nested in
#'   groups, to any depth. Regression models are written as in lme4:
#'   `y ~ x1 + x2` (a pooled regression), `y ~ x + (1 | g)` (a random
#'   intercept with covariates), `y ~ x + (x | g)` (correlated intercept and
#'   slope), `y ~ x + (x || g)` (independent ones); the fixed part goes
#'   through [model.matrix()] (factors with their contrasts, interactions,
#'   `0 +` or `- 1`, `I()`), and covariates constant within a group
#'   (group-level predictors) are ordinary columns. Nested groups take
#'   coefficients at every level, `y ~ x + (1 + x | region/school)` or
#'   `y ~ x + (x | region) + (1 | region:school)`. Grouping factors that
#'   are not nested are crossed, `y ~ x + (1 | student) + (1 | lecturer)`,
#'   each with its own coefficients (`(1 | a/b) + (1 | c)`: factors `a`,
#'   `a:b` and `c`), sampled by `sampler = "factors"`.
#'
#'   **How the right-hand side is read.** With bars, as lme4 reads it. Without
#'   bars, a single variable or a path `a/b` is the lecture's shorthand:
#'   groups, never a covariate. A numeric variable there with fractional
#'   values is refused (write `y ~ 1 + x` for a covariate, `(1 | x)` for
#'   groups), and a whole-numbered one is read as groups with a message
#'   (once per session) saying how to write a covariate instead; anything
#'   else (`y ~ 1 + x`, `y ~ x + z`, `y ~ 0 + x`) is a regression. The
#'   printed fit says how the formula was read. The response may
#'   be an expression such as `log(y)`. A group may be a factor (its
#'   levels, in their order, are the groups; levels with no
#'   rows are dropped with a message), a character, integer or numeric vector
#'   (groups sorted by value), or a logical. Nested groups are identified by
#'   their path: school 1 of region A is not school 1 of region B.
#'   Alternatively, group summaries ([group_summaries()]) as the only
#'   argument.
#' @param data A data frame (or list) holding the variables of `formula`;
#'   variables not found there are looked up in the formula's environment.
#'   May also be group summaries ([group_summaries()],
#'   [hiermod_summaries()]), which give the same draws as the rows they
#'   summarise, or what [group_summaries()] reads: a database table
#'   (`dplyr::tbl(con, "scores")`) or the path of a CSV file.
#' @param prior A [hier_prior()]. The default is weakly informative and
#'   scaled to the data.
#' @param chains Number of chains (at least 1).
#' @param iter Iterations per chain, warm-up included.
#' @param warmup Leading iterations per chain that are discarded; fewer than
#'   `iter`. Defaults to half of `iter`.
#' @param thin Keep every `thin`-th iteration after warm-up, starting with
#'   the first.
#' @param seed A whole number in \[0, 2^53) that fixes every draw. `NULL`
#'   draws one from R's random number generator, so `set.seed()` before
#'   `fit()` reproduces the fit. The seed used is stored on the result.
#' @param cores Number of threads that run the chains (at most `chains` are
#'   used). Defaults to `getOption("hiermod.cores", 2)`. The draws do not
#'   depend on it: chain `c` always uses its own random stream.
#' @param sampler The transition kernel; those that apply to a model sample
#'   the same posterior and differ only in how fast they mix. Left unset,
#'   the model's own: for crossed grouping factors the one expected faster
#'   (`"collapsed"` while the fixed effects and group coefficients are
#'   few, else `"factors"`; the fit says which), else `"collapsed"`.
#'   * `"collapsed"`: the precisions are drawn with \eqn{\mu}
#'     and \eqn{\theta} integrated out, by slice steps: \eqn{\tau_b}, then
#'     \eqn{\tau_w}; then \eqn{\mu} and \eqn{\theta} exactly from their
#'     conditionals. After warm-up the steps are frozen quantile slice steps
#'     (Heiner and others 2024) on the log precisions, decorrelated by the
#'     warm-up draws' covariance, with Student-t pseudo-targets fitted to
#'     them. The precisions then move as a chain of their own, nearly
#'     independent from draw to draw whether the between-group signal is
#'     strong or weak, and \eqn{\mu} and \eqn{\theta} are drawn only after
#'     warm-up.
#'     With nested groups each level's precision is drawn this way in turn
#'     (the last level's jointly with \eqn{\tau_w}), then every group mean
#'     of every level jointly and exactly (one pass up the tree, one down).
#'     With variances that differ between groups, the group means are drawn
#'     at every sweep and the within-group precisions from their
#'     conditionals. For `y ~ 1`, \eqn{\tau_w} is drawn with \eqn{\mu}
#'     integrated out.
#'   * `"asis"`: ancillarity-sufficiency interweaving (Yu and Meng 2011) of
#'     the centred and non-centred parameterisations; available for the
#'     two-level model with a common within-group variance.
#'   * `"gibbs"`: the lecture's centred Gibbs sweep; mixes slowly when groups
#'     are small or the between-group spread is small.
#'   * `"factors"`: for crossed grouping factors, `(1 | a) + (1 | b)`.
#'     Factor after factor, given the other factors' coefficients: sigma
#'     and that factor's sds and correlations by a slice step with the
#'     fixed effects and the factor's coefficients integrated out, then
#'     those drawn exactly. A sweep costs one pass over the rows per factor.
#'     A factor may be a path of nested levels, `(1 | school/class) +
#'     (1 | area)`: its levels are drawn in one block. With crossed
#'     factors `"collapsed"` integrates every fixed effect and group
#'     coefficient out at once (a dense Cholesky factor of their
#'     precision, at most 400 of them) and draws them jointly.
#' @param progress Show a progress bar (cli) for fits that take more than a
#'   couple of seconds: one bar for all chains. Defaults to
#'   `getOption("hiermod.progress")`, or else to `interactive()`; never shown
#'   while knitting. Messages go through [message()], so
#'   [suppressMessages()] silences them. May also be a function, called
#'   with the fraction of sweeps done (0 to 1) every ~20 ms of a run (a
#'   Shiny app's progress bar, say).
#' @param keep `"all"` stores every parameter; `"global"` only `mu`, `sd_b`
#'   and `sd_w` (the parameters that are not per group), so that memory does
#'   not grow with the number of groups.
#' @param se Known standard errors of the responses: a column of `data`
#'   (unquoted) or a vector, one positive value per row. Each group's
#'   estimates are then pooled by precision and the model has no `sd_w`.
#' @param within `"common"`: one within-group variance for all groups.
#'   `"group"`: each group of the last level has its own, `sd_w[<group>]`,
#'   drawn from a distribution with parameters `sd_w0` and `nu0`
#'   ([hier_prior()]).
#'
#' @return A `hiermod_fit`: a [coda::mcmc.list] with one [coda::mcmc] matrix
#'   per chain, columns `mu`, `sd_b` (\eqn{1/\sqrt{\tau_b}}), `sd_w`
#'   (\eqn{1/\sqrt{\tau_w}}) and (unless `keep = "global"`)
#'   `theta[<group>]` for each group. Other models: `mu`, `sd` for `y ~ 1`;
#'   `mu`, `sd_<level>` per level, `sd_w`, then `theta_<level>[<path>]` for
#'   nested groups; no `sd_w` with `se`; `sd_w0`, `nu0` and `sd_w[<group>]`
#'   with `within = "group"`. And
#'   iteration labels `warmup + 1, warmup + 1 + thin, ...`. Every coda
#'   function accepts it as it is. It also carries the call, the data's
#'   sufficient statistics ([group_stats()]), the prior actually used, the
#'   seed, the sampler and the chains' starting values ([fit_info()]).
#'
#'   A regression is a `hiermod_lmm` (also a [coda::mcmc.list]) whose columns
#'   are named as brms names them: `b_Intercept`, `b_<coef>` (fixed effects,
#'   `<coef>` the column of [model.matrix()]), `sd_<group>__<coef>`,
#'   `cor_<group>__<coef1>__<coef2>`, `sigma`, then (unless
#'   `keep = "global"`) `r_<group>[<label>,<coef>]`, each group's deviation
#'   from the fixed effects, all groups of one coefficient together. Its
#'   sampler draws the variance parameters with every location integrated
#'   out, then the fixed effects and group coefficients jointly and exactly;
#'   `fixef()`, `ranef()`, `coef()`, `VarCorr()`, `sigma()`, `nobs()`,
#'   `ngrps()` and `prior_summary()` give lme4's and rstanarm's shapes.
#'
#' @section Errors: Invalid arguments raise an error of class
#'   `hiermod_error` whose message names the argument.
#' @section Memory: The draws take `8 * chains * ceiling((iter - warmup) /
#'   thin) * (3 + K)` bytes for K groups (`3` instead of `3 + K` with
#'   `keep = "global"`); the sampler itself needs O(K) memory per chain. The
#'   data are read once to compute the per-group statistics.
#' @section Interrupting: Esc or Ctrl-C stops the chains within a fraction
#'   of a second and raises an error of class `hiermod_interrupt`.
#' @section Beside tidymodels: `fit()` shares its name with the `fit()`
#'   generic of the generics package, which tidymodels (parsnip, workflows)
#'   attaches; whichever package is attached last masks the other's. hiermod's
#'   `fit()` is a plain function, not a method of that generic, so it never
#'   receives tidymodels objects and tidymodels never receives formulas meant
#'   for hiermod: code that uses both should call `hiermod::fit()` (and
#'   `parsnip::fit()`) explicitly. `ngrps()` and `compare()` are registered
#'   on lme4's and testthat's generics, so that those work whichever package
#'   is attached last.
#'
#' @seealso [hier_prior()], [plot.hiermod_fit()], [schools]
#' @examples
#' f <- fit(mathscore ~ school, data = schools, chains = 2, iter = 1000,
#'          seed = 1)
#' f
#' coda::effectiveSize(f[, c("mu", "sd_b", "sd_w")])
#' # the other models
#' fit(mathscore ~ 1, schools, chains = 2, iter = 1000, seed = 1)
#' fit(score ~ region/school, regions, chains = 2, iter = 1000, seed = 1)
#' fit(y ~ school, eight_schools, se = se, chains = 2, iter = 1000, seed = 1)
#' @export
fit <- function(formula, data = NULL, prior = hier_prior(), chains = 4,
                iter = 2000, warmup = floor(iter / 2), thin = 1, seed = NULL,
                cores = getOption("hiermod.cores", 2L),
                sampler = c("collapsed", "asis", "gibbs", "factors"),
                keep = c("all", "global"),
                progress = getOption("hiermod.progress", interactive()),
                se = NULL, within = c("common", "group")) {
  call <- match.call()
  if (inherits(formula, "hiermod_summaries") && is.null(data)) {
    data <- formula
    formula <- attr(data, "formula")
  }
  if (inherits(formula, "formula") && length(formula) == 3L &&
        is_regression_rhs(formula[[3L]])) {
    check_regression_data(substitute(se), within)
    return(fit_lmm(call, formula, lmm_terms(formula), data, prior, chains,
                   iter, warmup, thin, seed, cores, sampler, keep, progress))
  }
  frame <- fit_frame(formula, data, substitute(se), within)
  spec <- model_spec(frame$model, fit_within(frame$model, frame$within))
  prior <- resolve_prior(prior, frame$model$scale, spec$depth, spec$within,
                         spec_level_sd(spec))
  settings <- fit_settings(spec, chains, iter, warmup, thin, cores, sampler,
                           keep, seed)
  out <- fit_run(spec, prior, settings, progress)
  fit_result(out, call, frame, spec, prior, settings)
}

# fit()'s first step: the formula parsed and the data (rows, group
# summaries, or what group_summaries() reads) turned into the model's tree
# of groups and statistics; `within` checked.
fit_frame <- function(formula, data, se_expr, within) {
  terms <- parse_hier_formula(formula)
  if (inherits(data, "tbl_lazy") || (is.character(data) && length(data) == 1L)) {
    data <- group_summaries(formula, data)
  }
  within <- check_choice(within, "within", c("common", "group"))
  model <- if (inherits(data, "hiermod_summaries")) {
    if (!is.null(se_expr)) {
      hm_abort("se", "cannot be used with group summaries; give the rows ",
               "with their standard errors instead.")
    }
    model_from_summaries(data, terms)
  } else {
    se <- if (!is.null(se_expr)) {
      eval_variable(se_expr, data, formula, "standard error", arg = "se")
    }
    model_from_rows(terms, data, formula, se)
  }
  list(formula = formula, terms = terms, model = model, se_expr = se_expr,
       within = within)
}

# The within-group model of the spec: "known" when the rows came with
# standard errors, else the one asked for, if the model can have it.
fit_within <- function(model, within) {
  if (!is.null(model$rows$se)) {
    if (within == "group") {
      hm_abort("within", "\"group\" cannot be combined with `se`: known ",
               "standard errors fix the within-group variances.")
    }
    return("known")
  }
  if (within == "group" && length(model$levels) == 0L) {
    hm_abort("within", "\"group\" needs groups: the one-sample model `y ~ 1` ",
             "has a single variance.")
  }
  within
}

# fit()'s settings, checked: the counts, the sampler (one the core allows
# for this model), what to keep, the seed; and the draws must fit in a
# matrix and in memory.
fit_settings <- function(spec, chains, iter, warmup, thin, cores, sampler, keep,
                         seed) {
  chains <- check_count(chains, "chains", 1L, 1000L)
  iter <- check_count(iter, "iter", 1L)
  warmup <- check_count(warmup, "warmup", 0L)
  if (warmup >= iter) {
    hm_abort("warmup", "must be smaller than `iter` (", iter, "), not ",
             warmup, ".")
  }
  thin <- check_count(thin, "thin", 1L)
  cores <- check_count(cores, "cores", 1L, 1024L)
  choices <- c("collapsed", "asis", "gibbs", "factors")
  # not given: the model's first sampler (crossed factors have only theirs)
  sampler <- if (identical(sampler, choices)) {
    spec$samplers[1L]
  } else {
    check_choice(sampler, "sampler", choices)
  }
  if (!sampler %in% spec$samplers) {
    hm_abort("sampler", "\"", sampler, "\" does not apply to this model: ",
             sampler_scope(sampler), "; use ",
             paste0("\"", spec$samplers, "\"", collapse = " or "), ".")
  }
  keep <- check_choice(keep, "keep", c("all", "global"))
  seed <- resolve_seed(seed)
  n_kept <- ceiling((iter - warmup) / thin)
  width <- if (keep == "all") nrow(spec$columns) else sum(spec$columns$global)
  if (n_kept * width > .Machine$integer.max) {
    hm_abort("iter", "keeps ", n_kept, " draws of ", width,
             " values per chain, more than one R matrix holds; increase ",
             "`thin` or lower `iter`.")
  }
  check_memory(8 * chains * n_kept * width, "iter", paste0(
    chains, " chains of ", n_kept, " kept draws of ", width, " values"),
    paste0("increase `thin`, lower `iter` or `chains`",
           if (keep == "all") ", or use `keep = \"global\"`"))
  list(chains = chains, iter = iter, warmup = warmup, thin = thin,
       cores = cores, keep = keep, sampler = sampler, seed = seed)
}

# What a sampler is for, in words.
sampler_scope <- function(sampler) {
  switch(sampler,
         collapsed = paste("it is for nested groups, or crossed factors with at most 400",
                           "locations and 8 variance parameters"),
         asis = "it is for the two-level model with a common within-group variance",
         gibbs = "it is for the lecture's models of groups without covariates",
         factors = "it is for crossed grouping factors")
}

# fit()'s run: the core samples the spec's model; an interrupt is a
# hiermod_interrupt, any other failure a hiermod_error (glue_result()).
fit_run <- function(spec, prior, settings, progress) {
  s <- settings
  report <- progress_reporter(progress, as.double(s$chains) * s$iter)
  st <- spec$stats
  started <- proc.time()[["elapsed"]]
  out <- hm_sample(
    lapply(spec$nodes, function(level) level$parent),
    as.double(st$n), as.double(st$mean), as.double(st$ss),
    prior_for_sampler(prior, spec$within),
    s$sampler, s$chains, s$iter, s$warmup, s$thin, s$seed, s$cores,
    s$keep == "all", spec$columns$name, report
  )
  elapsed <- proc.time()[["elapsed"]] - started
  stop_if_interrupted(out, "sampling")
  out <- glue_result(out, "data", "sampled")
  out$elapsed <- elapsed
  out
}

# fit()'s result: the chains as a coda mcmc.list, everything else in one
# attribute (fit_meta()), the spec among it.
fit_result <- function(out, call, frame, spec, prior, settings) {
  result <- coda::mcmc.list(out$draws)
  inits <- out$inits
  dimnames(inits) <- list(paste0("chain", seq_len(settings$chains)),
                          spec$columns$name)
  attr(result, "hiermod") <- list(
    call = call,
    formula = frame$formula,
    response = deparse1(frame$terms$response),
    spec = spec,
    se = if (spec$within == "known") frame$se_expr,
    # The rows, for fitted(), residuals() and predict() without new data;
    # NULL for a fit from group summaries.
    rows = frame$model$rows,
    prior = prior,
    seed = settings$seed,
    sampler = settings$sampler,
    settings = settings[c("chains", "iter", "warmup", "thin", "cores", "keep")],
    inits = inits,
    elapsed = out$elapsed
  )
  class(result) <- c("hiermod_fit", class(result))
  result
}


# The rows of `data` as a tree of groups: each level's groups (labels unique
# by path, parents), the last level's statistics, and the rows themselves.
model_from_rows <- function(terms, data, formula, se) {
  y <- eval_variable(terms$response, data, formula, "response")
  check_response(y, terms$response)
  raw_groups <- lapply(terms$levels, function(e) {
    check_group(eval_variable(e, data, formula, "group"), length(y), e,
                terms$bars)
  })
  # As R's modelling functions do (na.action = na.omit): rows with a
  # missing response, group or standard error are dropped, with a message.
  incomplete <- is.na(y) | Reduce(`|`, lapply(raw_groups, is.na), FALSE) |
    (if (is.null(se) || length(se) != length(y)) FALSE else is.na(se))
  note_dropped_rows(sum(incomplete), length(y), paste0(
    "a missing value (NA) in the response, a group",
    if (!is.null(se)) " or the standard error"
  ), paste0(", first row ", which(incomplete)[1L]))
  if (any(incomplete)) {
    keep <- !incomplete
    y <- y[keep]
    raw_groups <- lapply(raw_groups, function(g) g[keep])
    if (!is.null(se) && length(se) == length(keep)) se <- se[keep]
  }
  n <- length(y)
  weights <- NULL
  if (!is.null(se)) {
    if (!is.numeric(se) || length(se) != n || any(!is.finite(se)) ||
        any(se <= 0)) {
      hm_abort("se", "must be positive, finite standard errors, one per row ",
               "(", n, "), not ", describe(se), ".")
    }
    weights <- 1 / as.double(se)^2
  }
  names <- level_names(terms)
  groups <- Map(function(g, e) encode_groups(g, n, e, terms$bars, checked = TRUE),
                raw_groups, terms$levels)
  tree <- build_tree(groups, names, n, "formula")
  nodes <- tree$nodes
  codes <- tree$codes
  n_nodes <- if (length(nodes)) nrow(nodes[[length(nodes)]]) else 1L
  stats <- glue_result(hm_group_stats(as.double(y), codes, n_nodes, weights),
                       "data", "summarised")
  labels <- if (length(nodes)) nodes[[length(nodes)]]$label else "(all)"
  list(levels = names, nodes = nodes,
       # list2DF(): the data frame without data.frame()'s checks, which
       # cost a tenth of a millisecond, a tenth of the fit's fixed cost
       stats = list2DF(list(group = labels,
                            n = if (is.null(se)) as.integer(stats$n) else stats$n,
                            mean = stats$mean, ss = stats$ss)),
       rows = list(y = as.double(y), group = codes,
                   se = if (!is.null(se)) as.double(se)),
       scale = if (is.null(se)) scale_of_stats(stats$n, stats$mean, stats$ss) else
         scale_of_values(y))
}

# The groups of each level (`groups`: encode_groups() of each level's variable,
# top first) as a tree: each level's nodes, with their labels (unique by
# path), parents and values, and the last level's node of each of the `n`
# rows. A node is a (parent node, value) pair; ordering by parent then by
# value keeps each parent's children together and in the value's order.
build_tree <- function(groups, names, n, arg) {
  codes <- rep(1L, n)
  nodes <- list()
  for (l in seq_along(groups)) {
    g <- groups[[l]]
    key <- (as.double(codes) - 1) * length(g$labels) + g$codes
    keys <- sort(unique(key))
    parent <- codes[match(keys, key)]
    own <- (keys - 1) %% length(g$labels) + 1
    label <- g$labels[own]
    if (l > 1L) {
      label <- paste(nodes[[l - 1L]]$label[parent], label, sep = "/")
      clash <- anyDuplicated(label)
      if (clash > 0L) {
        hm_abort(arg, "gives two different groups the path \"", label[clash],
                 "\": a label of `", names[l - 1L], "` or `", names[l],
                 "` contains \"/\", which separates the levels of a path; ",
                 "recode the labels without it.")
      }
    }
    if (length(keys) < 2L) {
      hm_abort(arg, "group `", names[l], "` must have at least 2 groups, not ",
               length(keys), ".")
    }
    nodes[[l]] <- list2DF(list(label = label, parent = parent,
                               value = g$values[own]))
    codes <- match(key, keys)
  }
  list(nodes = nodes, codes = codes)
}

# Mean and variance of the response, from the group statistics, so that a
# prior scaled to the data is the same from the rows as from their summaries.
scale_of_stats <- function(n, mean, ss) {
  total <- sum(n)
  m <- sum(n * mean) / total
  list(mean = m, var = (sum(ss) + sum(n * (mean - m)^2)) / (total - 1))
}

scale_of_values <- function(y) list(mean = mean(y), var = stats::var(y))

# The samplers the core can run on a model with `depth` grouping levels and
# this within-group model, the default first.
model_samplers <- function(depth, within) {
  glue_result(hm_samplers(depth, within), "within", "sampled")$samplers
}

# The variables an expression reads: as all.vars(), but the names after `$`
# and `@` are not variables.
free_variables <- function(expr) {
  if (is.name(expr)) return(as.character(expr))
  if (!is.call(expr)) return(character())
  args <- as.list(expr)[-1L]
  if (deparse1(expr[[1L]]) %in% c("$", "@")) args <- args[1L]
  unique(c(if (!is.name(expr[[1L]])) free_variables(expr[[1L]]),
           unlist(lapply(args, free_variables))))
}

# Evaluates one side of the formula in `data`, then the formula's environment.
eval_variable <- function(expr, data, formula, role, arg = "formula") {
  if (!is.null(data) && !is.list(data)) {
    hm_abort("data", "must be a data frame or list, not ", describe(data), ".")
  }
  missing_vars <- setdiff(free_variables(expr), names(data))
  env <- environment(formula)
  unknown <- missing_vars[!vapply(missing_vars, exists, TRUE, envir = env)]
  if (length(unknown) > 0L) {
    hm_abort(arg, "refers to ", paste0("`", unknown, "`", collapse = ", "),
             ", not found in `data`", if (!is.null(data)) {
               paste0(" (columns: ", paste(utils::head(names(data), 10L),
                                           collapse = ", "),
                      if (length(names(data)) > 10L) ", ...", ")")
             }, ".")
  }
  tryCatch(eval(expr, as.list(data), env), error = function(e) {
    hm_abort(arg, "could not evaluate the ", role, " `", deparse1(expr),
             "`: ", conditionMessage(e))
  })
}

check_response <- function(y, expr) {
  name <- deparse1(expr)
  if (!is.numeric(y)) {
    hm_abort("formula", "response `", name, "` must be numeric, not ",
             class(y)[1L], ".")
  }
  if (length(y) == 0L) {
    hm_abort("data", "has no rows.")
  }
  bad <- which(is.infinite(y))
  if (length(bad) > 0L) {
    hm_abort("formula", "response `", name, "` has ", length(bad),
             " infinite value(s), first in row ", bad[1L], ".")
  }
}

# The grouping variable `expr` as evaluated, checked: a factor, character,
# logical or numeric vector of IDs, one per row. Values with a fraction are
# a covariate, not groups: refused in the shorthand `y ~ x`, where a
# numeric variable must not quietly become a grouping.
check_group <- function(group, n, expr, bars) {
  name <- deparse1(expr)
  if (!(is.factor(group) || is.character(group) || is.numeric(group) ||
        is.logical(group))) {
    hm_abort("formula", "group `", name, "` must be a factor, character, ",
             "integer or logical vector, not ", class(group)[1L], ".")
  }
  if (length(group) != n) {
    hm_abort("formula", "group `", name, "` has length ", length(group),
             " but the response has length ", n, ".")
  }
  if (is.double(group)) {
    bad <- which(is.infinite(group))
    if (length(bad) > 0L) {
      hm_abort("formula", "group `", name, "` has ", length(bad),
               " infinite value(s), first in row ", bad[1L], ".")
    }
    if (!bars && any(group != round(group), na.rm = TRUE)) {
      hm_abort("formula", "reads `", name, "` as groups, but it is a ",
               "numeric variable with fractional values (a covariate). ",
               "For a covariate write `~ 1 + ", name, "`; to group by its ",
               "values, `(1 | ", name, ")` or `factor(", name, ")`.")
    }
  }
  if (!bars && is.numeric(group)) note_numeric_groups(name)
  group
}

# Maps the grouping variable to codes 1..K and labels, in the user's order.
# `bars`: the formula said `(1 | group)`, so a numeric variable is meant as
# groups.
encode_groups <- function(group, n, expr, bars = TRUE, checked = FALSE) {
  name <- deparse1(expr)
  if (!checked) group <- check_group(group, n, expr, bars)
  bad <- which(is.na(group))
  if (length(bad) > 0L) {
    hm_abort("formula", "group `", name, "` has ", length(bad),
             " missing value(s), first in row ", bad[1L], ".")
  }
  if (is.factor(group)) {
    used <- tabulate(as.integer(group), nlevels(group)) > 0L
    if (!all(used)) {
      empty <- levels(group)[!used]
      message(structure(
        class = c("hiermod_dropped_levels", "message", "condition"),
        list(message = paste0(
          "Dropped ", length(empty), " unused level(s) of group `", name,
          "` (", paste(utils::head(empty, 5L), collapse = ", "),
          if (length(empty) > 5L) ", ...", "): they have no rows.\n"),
          call = NULL)
      ))
      group <- droplevels(group)
    }
    levels(group) <- enc2utf8(levels(group))
    labels <- levels(group)
    codes <- as.integer(group)
    values <- factor(labels, levels = labels)
  } else {
    # radix sorting is locale-independent, and needs strings marked UTF-8
    if (is.character(group)) group <- enc2utf8(group)
    values <- sort(unique(group), method = "radix")
    codes <- match(group, values)
    labels <- value_labels(values)
  }
  if (length(labels) < 2L) {
    hm_abort("formula", "group `", name, "` must have at least 2 groups, ",
             "not ", length(labels), ".")
  }
  list(codes = codes, labels = labels, values = values)
}

# Labels that tell distinct values apart: as.character() keeps 15
# significant digits, which gives 1e15 and 1e15 + 1 one label; those that
# do not read back as their value get the 17 digits that always do.
value_labels <- function(values) {
  labels <- as.character(values)
  if (is.double(values)) {
    inexact <- as.double(labels) != values
    labels[inexact] <- sprintf("%.17g", values[inexact])
  }
  labels
}

# The function the sampler calls with the sweeps done (or NULL): it shows
# them and returns TRUE if the user interrupted it, which stops the run (an
# interrupt while R code runs is caught by that code, not by the sampler).
progress_reporter <- function(progress, total, envir = parent.frame()) {
  show <- if (is.function(progress)) {
    function(done) progress(done / total)
  } else if (show_progress(progress)) {
    # closes by itself when the caller (fit()) returns; cli shows it only
    # after ~2 s
    bar <- cli::cli_progress_bar("Sampling", total = total, clear = TRUE,
                                 .envir = envir)
    function(done) cli::cli_progress_update(set = done, id = bar)
  }
  if (is.null(show)) return(NULL)
  function(done) {
    tryCatch({
      show(done)
      FALSE
    }, interrupt = function(e) TRUE)
  }
}

show_progress <- function(progress) {
  if (!is.logical(progress) || length(progress) != 1L || is.na(progress)) {
    hm_abort("progress", "must be TRUE, FALSE or a function, not ",
             describe(progress), ".")
  }
  progress && !isTRUE(getOption("knitr.in.progress"))
}

resolve_seed <- function(seed) {
  if (is.null(seed)) {
    # Two draws give a 53-bit seed from R's generator, so set.seed() fixes it.
    hi <- sample.int(2^21, 1L) - 1
    lo <- sample.int(2^31, 1L) - 1
    return(hi * 2^32 + lo)
  }
  if (!is.numeric(seed) || length(seed) != 1L || !is.finite(seed) ||
      seed != round(seed) || seed < 0 || seed >= 2^53) {
    hm_abort("seed", "must be NULL or a whole number in [0, 2^53), not ",
             describe(seed), ".")
  }
  as.double(seed)
}
