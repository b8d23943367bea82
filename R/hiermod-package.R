#' hiermod: fast exact sampling for Bayesian hierarchical normal models
#'
#' Fits the two-level normal model of the lecture "Hierarchical Modelling"
#' (observations \eqn{y_{ik} \sim N(\theta_k, 1/\tau_w)}, group means
#' \eqn{\theta_k \sim N(\mu, 1/\tau_b)}, conjugate priors on \eqn{\mu},
#' \eqn{\tau_b}, \eqn{\tau_w}) with compiled samplers (a collapsed sampler by
#' default, the lecture's Gibbs sampler on request). Start with
#' [fit()] and [hier_prior()]; the result is a [coda::mcmc.list].
#'
#' @keywords internal
#' @useDynLib hiermod, .registration = TRUE
"_PACKAGE"
