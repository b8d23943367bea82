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
  server <- function(input, output, session) explore_server(input, output, source)
  shiny::shinyApp(ui, server)
}

# What the app refits: the rows, the formula, the data's name in the code
# box, and the starting prior and settings.
explore_source <- function(x, data, data_name) {
  if (inherits(x, "hiermod_fit")) {
    meta <- fit_meta(x)
    if (length(meta$levels) != 1L || meta$within != "common") {
      hm_abort("x", "must be a fit of the lecture's two-level model with a common ",
               "within-group variance, which explore() refits; this fit is ",
               model_title(meta), ".")
    }
    if (is.null(meta$rows)) {
      hm_abort("x", "was fitted from group summaries; explore() needs the rows.")
    }
    terms <- parse_hier_formula(meta$formula)
    # groups keep the fit's order, so the app's fits match the code box's
    labels <- meta$stats$group
    rows <- data.frame(y = meta$rows$y,
                       group = factor(labels[meta$rows$group], levels = labels))
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
    rows <- data.frame(y = g$y, group = factor(g$labels[g$group], levels = g$labels))
    prior <- NULL
    settings <- list(chains = 4L, iter = 2000L)
    sampler <- "collapsed"
  }
  v <- stats::var(rows$y)
  if (is.null(prior)) prior <- resolve_prior(hier_prior(), scale_of_values(rows$y))
  list(rows = rows, response = deparse1(terms$response),
       group = deparse1(terms$group), data_name = data_name,
       max_n = max(table(rows$group)),
       start = list(
         mu0 = prior$mu0, mu_sd = 1 / sqrt(prior$tau0),
         sd_b = sqrt(prior$b / prior$a), nu_b = 2 * prior$a,
         sd_w = sqrt(prior$beta / prior$alpha), nu_w = 2 * prior$alpha,
         draws = settings$iter - settings$warmup %||% floor(settings$iter / 2),
         chains = settings$chains, sampler = sampler, scale = sqrt(v)))
}

`%||%` <- function(a, b) if (is.null(a)) b else a

explore_ui <- function(src) {
  s <- src$start
  num <- function(id, label, value, min = NA) {
    shiny::numericInput(id, label, signif(value, 4), min = min)
  }
  shiny::fluidPage(
    shiny::titlePanel("hiermod: explore the hierarchical model"),
    shiny::sidebarLayout(
      shiny::sidebarPanel(
        width = 3,
        shiny::h4("Prior"),
        num("mu0", "prior mean of mu", s$mu0),
        num("mu_sd", "prior sd of mu", s$mu_sd, 0),
        shiny::sliderInput("sd_b", "guess of sd_b (between groups)", min = 0.01,
                           max = signif(3 * s$scale, 2), value = signif(s$sd_b, 3)),
        shiny::sliderInput("log_nu_b", "its strength (log10 of observations)",
                           min = -1, max = 3, step = 0.1, value = round(log10(s$nu_b), 1)),
        shiny::sliderInput("sd_w", "guess of sd_w (within groups)", min = 0.01,
                           max = signif(3 * s$scale, 2), value = signif(s$sd_w, 3)),
        shiny::sliderInput("log_nu_w", "its strength (log10 of observations)",
                           min = -1, max = 3, step = 0.1, value = round(log10(s$nu_w), 1)),
        shiny::h4("Data and sampler"),
        shiny::sliderInput("per_group", "observations kept per group",
                           min = 1, max = src$max_n, value = src$max_n, step = 1),
        # capped so that a refit stays well under a second on data the
        # size of schools: the app cannot answer while it samples
        shiny::numericInput("draws", "draws per chain", s$draws, min = 100,
                            max = 20000, step = 500),
        shiny::selectInput("sampler", "sampler", c("collapsed", "asis", "gibbs"),
                           s$sampler),
        shiny::numericInput("seed", "seed", 1, min = 0, step = 1),
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
    c(sprintf("data <- do.call(rbind, lapply(split(%s, %s$%s), head, %d))",
              src$data_name, src$data_name, src$group, input$per_group))
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

explore_server <- function(input, output, src) {
  current <- shiny::reactive({
    shiny::req(input$mu_sd > 0, input$draws >= 100, input$draws <= 20000,
               is.finite(input$mu0))
    rows <- src$rows
    if (input$per_group < src$max_n) {
      keep <- stats::ave(seq_along(rows$y), rows$group, FUN = seq_along) <= input$per_group
      rows <- rows[keep, ]
    }
    names(rows) <- c(src$response, src$group)
    prior <- explore_prior(input)
    draws <- as.integer(input$draws)
    started <- proc.time()[["elapsed"]]
    f <- shiny::withProgress(message = "sampling", value = 0, {
      fit(stats::as.formula(paste(src$response, "~", src$group)), rows,
          prior = prior, chains = src$start$chains, iter = 2L * draws,
          warmup = draws, sampler = input$sampler, seed = input$seed,
          progress = function(done) shiny::setProgress(value = done))
    })
    list(fit = f, prior = prior,
         seconds = proc.time()[["elapsed"]] - started)
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
  output$code <- shiny::renderText(paste(explore_code(src, input, current()$prior),
                                         collapse = "\n"))
  output$timing <- shiny::renderText(sprintf("refit in %.3f s", current()$seconds))
}
