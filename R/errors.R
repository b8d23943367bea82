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
  if (is.function(x)) return("a function")
  if (!is.atomic(x)) return(paste0("a ", class(x)[1L]))
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

# A glue result that says the user interrupted `doing` becomes a
# hiermod_interrupt (an interrupt condition, as R's own).
stop_if_interrupted <- function(out, doing) {
  if (isTRUE(out$interrupted)) {
    stop(structure(
      class = c("hiermod_interrupt", "interrupt", "condition"),
      list(message = paste(doing, "interrupted by the user"), call = NULL)
    ))
  }
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

# Refuses a request for `bytes` of memory that the machine does not have
# free (on systems that say: Linux's MemAvailable), before any of it is
# allocated: an error naming `arg`, what needs the memory and what to change.
check_memory <- function(bytes, arg, what, advice) {
  # below 64 MB a request is not worth reading /proc/meminfo for
  if (bytes < 2^26) return(invisible(bytes))
  free <- available_memory()
  if (!is.na(free) && bytes > free) {
    hm_abort(arg, "asks for ", what, ": ", format_bytes(bytes), ", more than ",
             "the ", format_bytes(free), " of memory available; ", advice, ".",
             class = "hiermod_memory_error")
  }
  invisible(bytes)
}

# Bytes of memory available, or NA when unknown: the option
# `hiermod.memory_limit`, else MemAvailable of /proc/meminfo (Linux).
available_memory <- function() {
  limit <- getOption("hiermod.memory_limit")
  if (!is.null(limit)) return(as.double(limit))
  info <- tryCatch(readLines("/proc/meminfo", n = 5L, warn = FALSE),
                   error = function(e) character(), warning = function(w) character())
  line <- grep("^MemAvailable:", info, value = TRUE)
  if (length(line) != 1L) return(NA_real_)
  as.double(gsub("[^0-9]", "", line)) * 1024
}

format_bytes <- function(bytes) {
  units <- c("bytes", "kB", "MB", "GB", "TB")
  power <- min(length(units) - 1L, max(0L, floor(log(bytes, 1000))))
  paste(format(signif(bytes / 1000^power, 3)), units[power + 1L])
}
