# Every user-facing error is a `hiermod_error` condition that names the
# argument at fault, so callers can catch it and tests can check it.
hm_abort <- function(arg, ..., class = NULL, call = NULL) {
  message <- paste0("`", arg, "` ", ...)
  cond <- structure(
    class = c(class, "hiermod_error", "error", "condition"),
    list(message = message, call = call, arg = arg)
  )
  stop(cond)
}

# A single whole number in [lower, upper], returned as an integer.
check_count <- function(x, arg, lower, upper = .Machine$integer.max) {
  if (!is.numeric(x) || length(x) != 1L || is.na(x) || !is.finite(x)) {
    hm_abort(arg, "must be a single finite number, not ", describe(x), ".")
  }
  if (x != round(x)) {
    hm_abort(arg, "must be a whole number, not ", format(x), ".")
  }
  if (x < lower || x > upper) {
    hm_abort(arg, "must be between ", format(lower), " and ", format(upper),
             ", not ", format(x), ".")
  }
  as.integer(x)
}

# A short description of a value for error messages.
describe <- function(x) {
  if (is.null(x)) return("NULL")
  if (length(x) != 1L) {
    return(paste0("a ", class(x)[1L], " of length ", length(x)))
  }
  paste0(class(x)[1L], " ", format(x))
}

# One of `choices`, the first if `x` is the whole vector (like match.arg(),
# but with a hiermod_error and no partial matching).
check_choice <- function(x, arg, choices) {
  if (identical(x, choices)) return(choices[1L])
  if (!is.character(x) || length(x) != 1L || !x %in% choices) {
    hm_abort(arg, "must be one of ", paste0("\"", choices, "\"", collapse = ", "),
             ", not ", describe(x), ".")
  }
  x
}

# Every result of the Rust glue passes here: a list with an `error` (and
# the `kind` of what the core found at fault) becomes a hiermod_error that
# names the argument; anything else is returned as it is.
glue_result <- function(out, arg, doing) {
  if (!is.list(out) || is.null(out$error)) return(out)
  switch(
    if (is.null(out$kind)) "data" else out$kind,
    prior = hm_abort("prior", "cannot be used with these data: ", out$error,
                     "."),
    numerical = hm_abort(
      arg, "could not be ", doing, ": ", out$error, ". The data or the prior ",
      "are too extreme for double-precision arithmetic.",
      class = "hiermod_numerical_error"
    ),
    internal = hm_abort(arg, "could not be ", doing, " (a bug in hiermod; ",
                        "please report it): ", out$error),
    hm_abort(arg, "could not be ", doing, ": ", out$error, ".")
  )
}
