#' Explore a hierarchical model live in the browser
#'
#' Opens a Shiny app that refits the model whenever an input changes: the
#' prior (mean and sd of \eqn{\mu}; a guess and a strength, in
#' pseudo-observations, for each of `sd_b` and `sd_w`), the number of draws,
#' the sampler and how many observations per group to keep. The lecture's
#' figures update at once (theta against ybar, the caterpillar of theta,
#' trace and density of the global parameters, one group's posterior against
#' its sample mean and \eqn{\mu}), with a table of posterior summaries and the
#' R code that reproduces the view. Pulling the between-group guess towards
#' zero pulls every theta towards \eqn{\mu}; keeping few observations per
#' group shows how scarce data are shrunk harder.
#'
#' A prior guess `s` with strength `nu` for a standard deviation is the
#' Gamma prior `G(nu/2, nu s^2/2)` on the matching precision (Hoff 2009):
#' `nu = 1` is the package's default prior.
#'
#' The response may be an expression (`log(y) ~ group`) and the names
#' non-syntactic (`` `math score` ~ school ``). Each refit runs in a process
#' of its own (forked, where R can fork: not on Windows), so that the app
#' answers while it samples: a newer input replaces a refit that has not
#' finished, and one that runs for more than 30 seconds is stopped. An input
#' the model refuses, or a refit that fails, shows its error message in the
#' outputs. Draws per chain are capped at 20,000, and lower with many groups
#' (about 20 million numbers drawn per refit).
#'
#' @param x A `hiermod_fit`, or a formula `response ~ group`.
#' @param data With a formula: the data.
#' @param port,host,launch.browser Passed to [shiny::runApp()].
#' @return `explore_app()`: a Shiny app object. `explore()` runs it and
#'   returns when the app is closed.
#' @examples
#' if (interactive() && requireNamespace("shiny", quietly = TRUE)) {
#'   explore(fit(mathscore ~ school, schools))
#' }
#' @export
explore <- function(x, data = NULL, port = getOption("shiny.port"),
                    host = "127.0.0.1",
                    launch.browser = interactive()) { # nolint: object_name_linter.
  # launch.browser is shiny::runApp()'s name for it
  app <- explore_app(x, data, data_name = deparse1(substitute(data)))
  shiny::runApp(app, port = port, host = host, launch.browser = launch.browser)
}

#' @rdname explore
#' @param data_name How the code box names the data (with a formula).
#' @export
explore_app <- function(x, data = NULL, data_name = deparse1(substitute(data))) {
  if (!requireNamespace("shiny", quietly = TRUE)) {
    hm_abort("x", "can only be explored with the shiny package installed: ",
             "install.packages(\"shiny\") (Debian: apt install r-cran-shiny).")
  }
  source <- explore_source(x, data, data_name)
  ui <- explore_ui(source)
  server <- function(input, output, session) {
    explore_server(input, output, session, source)
  }
  shiny::shinyApp(ui, server)
}

# What the app refits: the rows, the formula, the data's name in the code
# box, and the starting prior and settings.
explore_source <- function(x, data, data_name) {
  if (inherits(x, "hiermod_fit")) {
    meta <- fit_meta(x)
    spec <- meta$spec
    if (spec$depth != 1L || spec$within != "common") {
      hm_abort("x", "must be a fit of the lecture's two-level model with a common ",
               "within-group variance, which explore() refits; this fit is ",
               spec_title(spec), ".")
    }
    if (is.null(meta$rows)) {
      hm_abort("x", "was fitted from group summaries; explore() needs the rows.")
    }
    terms <- parse_hier_formula(meta$formula)
    # groups keep the fit's order, so the app's fits match the code box's
    labels <- spec$stats$group
    y <- meta$rows$y
    group <- factor(labels[meta$rows$group], levels = labels)
    data_name <- deparse1(meta$call$data)
    prior <- meta$prior
    settings <- meta$settings
    sampler <- meta$sampler
  } else {
    terms <- parse_hier_formula(x)
    if (length(terms$levels) != 1L) {
      hm_abort("x", "must have one grouping variable, `y ~ group`: explore() ",
               "refits the lecture's two-level model.")
    }
    g <- group_data(x, data)
    y <- g$y
    group <- factor(g$labels[g$group], levels = g$labels)
    prior <- NULL
    settings <- list(chains = 4L, iter = 2000L)
    sampler <- "collapsed"
  }
  # The refits read the response and the groups from columns of the app's
  # own rows, each named as the formula writes it (`log(y)`, `math score`),
  # so that they need neither the original data nor a syntactic name.
  columns <- lapply(list(terms$response, terms$group), function(e) {
    if (is.name(e)) e else as.name(deparse1(e))
  })
  chains <- settings$chains
  v <- stats::var(y)
  if (is.null(prior)) prior <- resolve_prior(hier_prior(), scale_of_values(y))
  # Draws per chain are capped so that a refit's draws stay near 20 million
  # numbers (160 MB) whatever the number of groups.
  max_draws <- as.integer(max(100, min(20000, 2e7 %/% (chains * (nlevels(group) + 3)))))
  draws <- settings$iter - settings$warmup %||% floor(settings$iter / 2)
  list(rows = data.frame(y = y, group = group),
       columns = vapply(columns, as.character, ""),
       formula = eval(call("~", columns[[1L]], columns[[2L]]), baseenv()),
       # as R code (a symbol deparses without its backquotes by default)
       response = deparse1(terms$response, backtick = TRUE),
       group = deparse1(terms$group, backtick = TRUE),
       group_is_name = is.name(terms$group), data_name = data_name,
       max_n = max(table(group)), max_draws = max_draws,
       start = list(
         mu0 = prior$mu0, mu_sd = 1 / sqrt(prior$tau0),
         sd_b = sqrt(prior$b / prior$a), nu_b = 2 * prior$a,
         sd_w = sqrt(prior$beta / prior$alpha), nu_w = 2 * prior$alpha,
         draws = min(draws, max_draws), chains = chains, sampler = sampler,
         scale = sqrt(v)))
}

`%||%` <- function(a, b) if (is.null(a)) b else a

# The inputs' starting values, as the page shows them.
explore_inputs <- function(src) {
  s <- src$start
  list(mu0 = signif(s$mu0, 4), mu_sd = signif(s$mu_sd, 4),
       sd_b = signif(s$sd_b, 3), log_nu_b = round(log10(s$nu_b), 1),
       sd_w = signif(s$sd_w, 3), log_nu_w = round(log10(s$nu_w), 1),
       per_group = src$max_n, draws = s$draws, sampler = s$sampler, seed = 1,
       focus = levels(src$rows$group)[1L])
}

explore_ui <- function(src) {
  s <- src$start
  v <- explore_inputs(src)
  shiny::fluidPage(
    shiny::titlePanel("hiermod: explore the hierarchical model"),
    shiny::sidebarLayout(
      shiny::sidebarPanel(
        width = 3,
        shiny::h4("Prior"),
        shiny::numericInput("mu0", "prior mean of mu", v$mu0),
        shiny::numericInput("mu_sd", "prior sd of mu", v$mu_sd, min = 0),
        shiny::sliderInput("sd_b", "guess of sd_b (between groups)", min = 0.01,
                           max = signif(3 * s$scale, 2), value = v$sd_b),
        shiny::sliderInput("log_nu_b", "its strength (log10 of observations)",
                           min = -1, max = 3, step = 0.1, value = v$log_nu_b),
        shiny::sliderInput("sd_w", "guess of sd_w (within groups)", min = 0.01,
                           max = signif(3 * s$scale, 2), value = v$sd_w),
        shiny::sliderInput("log_nu_w", "its strength (log10 of observations)",
                           min = -1, max = 3, step = 0.1, value = v$log_nu_w),
        shiny::h4("Data and sampler"),
        shiny::sliderInput("per_group", "observations kept per group",
                           min = 1, max = src$max_n, value = v$per_group, step = 1),
        shiny::numericInput("draws", "draws per chain", v$draws, min = 100,
                            max = src$max_draws, step = 500),
        shiny::selectInput("sampler", "sampler", c("collapsed", "asis", "gibbs"),
                           v$sampler),
        shiny::numericInput("seed", "seed", v$seed, min = 0, step = 1),
        shiny::selectInput("focus", "group to inspect", levels(src$rows$group))
      ),
      shiny::mainPanel(
        width = 9,
        shiny::fluidRow(
          shiny::column(6, shiny::plotOutput("shrinkage", height = "380px")),
          shiny::column(6, shiny::plotOutput("theta", height = "380px"))
        ),
        shiny::fluidRow(
          shiny::column(6, shiny::plotOutput("trace", height = "420px")),
          shiny::column(6, shiny::plotOutput("focus_plot", height = "420px"))
        ),
        shiny::h4("Posterior summaries"),
        shiny::tableOutput("summary"),
        shiny::h4("R code for this view"),
        shiny::verbatimTextOutput("code"),
        shiny::textOutput("timing")
      )
    )
  )
}

# The prior of the inputs, in the lecture's parameterisation.
explore_prior <- function(input) {
  nu_b <- 10^input$log_nu_b
  nu_w <- 10^input$log_nu_w
  hier_prior(mu0 = input$mu0, tau0 = 1 / input$mu_sd^2,
             a = nu_b / 2, b = nu_b * input$sd_b^2 / 2,
             alpha = nu_w / 2, beta = nu_w * input$sd_w^2 / 2)
}

explore_code <- function(src, input, prior) {
  p <- vapply(prior[c("mu0", "tau0", "a", "b", "alpha", "beta")],
              function(v) format(signif(v, 6)), "")
  data_line <- if (input$per_group < src$max_n) {
    by <- if (src$group_is_name) {
      paste0(src$data_name, "$", src$group)
    } else {
      paste0("with(", src$data_name, ", ", src$group, ")")
    }
    sprintf("data <- do.call(rbind, lapply(split(%s, %s), head, %d))",
            src$data_name, by, input$per_group)
  } else {
    sprintf("data <- %s", src$data_name)
  }
  c("library(hiermod)", data_line,
    sprintf("f <- fit(%s ~ %s, data = data,", src$response, src$group),
    sprintf(paste0("         prior = hier_prior(mu0 = %s, tau0 = %s, a = %s, b = %s, ",
                   "alpha = %s, beta = %s),"),
            p[["mu0"]], p[["tau0"]], p[["a"]], p[["b"]], p[["alpha"]], p[["beta"]]),
    sprintf("         chains = %d, iter = %d, warmup = %d, sampler = \"%s\", seed = %d)",
            as.integer(src$start$chains), as.integer(2 * input$draws),
            as.integer(input$draws), input$sampler, as.integer(input$seed)))
}

# The inputs a refit reads, as a plain list, or list(error = <message>) when
# one is unusable. hier_prior() and fit() check the rest, naming their
# arguments.
explore_request <- function(src, input) {
  ids <- c("mu0", "mu_sd", "sd_b", "log_nu_b", "sd_w", "log_nu_w", "per_group",
           "draws", "sampler", "seed")
  settings <- lapply(stats::setNames(ids, ids), function(id) input[[id]])
  if (any(vapply(settings, is.null, TRUE))) return(list(error = "Waiting for the inputs."))
  number <- function(x) is.numeric(x) && length(x) == 1L && is.finite(x)
  if (!number(settings$mu_sd) || settings$mu_sd <= 0) {
    return(list(error = "The prior sd of mu must be a positive number."))
  }
  draws <- settings$draws
  if (!number(draws) || draws != round(draws) || draws < 100 || draws > src$max_draws) {
    return(list(error = sprintf("Draws per chain must be a whole number from 100 to %d.",
                                src$max_draws)))
  }
  list(settings = settings)
}

# One refit, as the app runs it: what the outputs show.
explore_refit <- function(src, settings, progress) {
  rows <- src$rows
  if (settings$per_group < src$max_n) {
    keep <- stats::ave(seq_along(rows$y), rows$group, FUN = seq_along) <=
      settings$per_group
    rows <- rows[keep, ]
  }
  names(rows) <- src$columns
  prior <- explore_prior(settings)
  draws <- as.integer(settings$draws)
  started <- proc.time()[["elapsed"]]
  f <- fit(src$formula, rows, prior = prior, chains = src$start$chains,
           iter = 2L * draws, warmup = draws, sampler = settings$sampler,
           seed = settings$seed, progress = progress)
  list(fit = f, prior = prior, settings = settings,
       seconds = proc.time()[["elapsed"]] - started)
}

# A refit runs in a child process forked from the app's (parallel's
# mcparallel()), so that the app keeps answering while it samples: a change
# of input kills a refit that has not finished and starts the next, and a
# refit that runs past `timeout` seconds is killed with a message (a prior
# the sampler cannot handle must not freeze the app). Where R cannot fork
# (Windows) a refit runs in the app's own process, bounded by the cap on
# draws. `run(progress)` does the refit, `report(done)` shows the fraction
# done; any error of the refit (a hiermod_error first among them) becomes
# list(error = <message>), for the outputs to show.
refit_start <- function(run, report, fork = .Platform$OS.type == "unix") {
  started <- proc.time()[["elapsed"]]
  safely <- function(progress) {
    tryCatch(run(progress), error = function(e) list(error = conditionMessage(e)))
  }
  if (!fork) return(list(value = safely(report), started = started))
  file <- tempfile("hiermod-progress-")
  tryCatch({
    process <- parallel::mcparallel(safely(function(done) writeLines(format(done), file)),
                                    silent = TRUE)
    list(process = process, file = file, started = started)
  }, error = function(e) {
    # no process to be had (a limit on processes, say): said, not fatal
    list(value = list(error = paste("Could not start the refit:", conditionMessage(e))),
         started = started)
  })
}

# The refit's result, or NULL while it runs (reporting its progress).
refit_poll <- function(job, report) {
  if (!is.null(job$value)) return(job$value)
  # the child writes the file only once it has sampled for a while
  if (file.exists(job$file)) {
    done <- suppressWarnings(as.numeric(readLines(job$file, warn = FALSE)))
    if (length(done) == 1L && !is.na(done)) report(done)
  }
  out <- parallel::mccollect(job$process, wait = FALSE)
  if (is.null(out)) return(NULL)
  unlink(job$file)
  value <- out[[1L]]
  if (is.list(value)) return(value)
  # what a child that died (killed, out of memory) leaves
  list(error = "The refit stopped without a result.")
}

refit_cancel <- function(job) {
  if (is.null(job$process)) return(invisible())
  tools::pskill(job$process$pid, tools::SIGKILL)
  # collects the killed child, so that none is left behind; it has, of
  # course, no result to deliver
  suppressWarnings(parallel::mccollect(job$process, wait = FALSE, timeout = 1))
  unlink(job$file)
  invisible()
}

explore_server <- function(input, output, session, src, refit = explore_refit,
                           timeout = 30, fork = .Platform$OS.type == "unix") {
  # What the outputs show: the last finished refit, or an error message.
  view <- shiny::reactiveVal(NULL)
  status <- shiny::reactiveVal("")
  # counts the refits started, for the observer that waits for them
  launched <- shiny::reactiveVal(0)
  job <- NULL
  bar <- NULL
  finish <- function() {
    if (!is.null(bar)) bar$close()
    job <<- NULL
    bar <<- NULL
  }
  stop_job <- function() {
    if (!is.null(job)) refit_cancel(job)
    finish()
  }
  session$onSessionEnded(function() if (!is.null(job)) refit_cancel(job))
  report <- function(done) if (!is.null(bar)) bar$set(value = done)

  shiny::observe({
    request <- explore_request(src, input)
    stop_job()
    if (!is.null(request$error)) {
      view(request)
      status("")
      return()
    }
    bar <<- shiny::Progress$new(session, min = 0, max = 1)
    bar$set(message = "sampling", value = 0)
    status("sampling ...")
    settings <- request$settings
    job <<- refit_start(function(progress) refit(src, settings, progress), report, fork)
    launched(shiny::isolate(launched()) + 1)
  })
  shiny::observe({
    launched()
    if (is.null(job)) return()
    result <- refit_poll(job, report)
    if (is.null(result)) {
      if (proc.time()[["elapsed"]] - job$started > timeout) {
        stop_job()
        view(list(error = sprintf(paste0(
          "The refit ran for more than %g s and was stopped: try fewer draws, ",
          "another sampler or another prior."), timeout)))
        status("")
      } else {
        shiny::invalidateLater(50)
      }
      return()
    }
    finish()
    view(result)
    status(if (is.null(result$error)) sprintf("refit in %.3f s", result$seconds) else "")
  })

  current <- shiny::reactive({
    v <- view()
    shiny::req(v)
    shiny::validate(shiny::need(is.null(v$error), v$error))
    v
  })
  output$shrinkage <- shiny::renderPlot(plot(current()$fit, type = "shrinkage"))
  output$theta <- shiny::renderPlot(plot(current()$fit, type = "theta"))
  output$trace <- shiny::renderPlot(plot(current()$fit, ask = FALSE))
  output$focus_plot <- shiny::renderPlot({
    f <- current()$fit
    st <- group_stats(f)
    k <- match(input$focus, st$group)
    shiny::req(!is.na(k))
    theta <- as.vector(as.matrix(f[, paste0("theta[", st$group[k], "]")]))
    mu <- fixef(f)
    d <- stats::density(theta)
    graphics::plot(d, main = paste0("Group ", st$group[k], " (n = ", st$n[k], ")"),
                   xlab = "theta", xlim = range(d$x, st$mean[k], mu))
    graphics::abline(v = st$mean[k], col = "blue", lwd = 2)
    graphics::abline(v = mu, col = "red", lty = 2, lwd = 2)
    graphics::legend("topright", bty = "n", lty = c(1, 1, 2), lwd = c(1, 2, 2),
                     col = c("black", "blue", "red"),
                     legend = c("posterior of theta", "sample mean", "posterior mean of mu"))
  })
  output$summary <- shiny::renderTable({
    t <- summary(current()$fit)$table
    t$ess_bulk <- round(t$ess_bulk)
    data.frame(parameter = rownames(t), t[c("mean", "sd", "2.5%", "97.5%", "ess_bulk", "rhat")],
               check.names = FALSE)
  }, digits = 3)
  output$code <- shiny::renderText({
    v <- current()
    paste(explore_code(src, v$settings, v$prior), collapse = "\n")
  })
  output$timing <- shiny::renderText(status())
  # for the tests
  invisible(list(view = view, running = function() !is.null(job),
                 pid = function() job$process$pid))
}
