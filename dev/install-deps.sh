#!/usr/bin/env bash
# Installs what building, checking and demoing hiermod needs on Debian 12
# (and, with the argument `bench`, what the benchmark needs).
# Idempotent: does nothing when everything is already present.
set -euo pipefail

debs=(r-base-dev r-cran-coda r-cran-testthat r-cran-knitr r-cran-rmarkdown
      r-cran-roxygen2 r-cran-posterior r-cran-tibble r-cran-data.table r-cran-cli
      r-cran-nlme r-cran-lme4 r-cran-rstantools r-cran-generics r-cran-bayesplot r-cran-broom.mixed
      r-cran-loo r-cran-vdiffr jags r-cran-rjags
      r-cran-shiny r-cran-jsonlite chromium r-cran-pkgdown r-cran-lintr r-cran-covr
      r-cran-dbi r-cran-rsqlite r-cran-dbplyr r-cran-dplyr r-cran-rpostgresql
      postgresql pandoc qpdf devscripts)
# JAGS is for the tests too (loo against a JAGS fit, test-loo-jags.R), and
# lme4 (its REML fits check the regressions' collapsed density; its data).
# `install-deps.sh bench` adds the other peers the benchmark compares
# against: rstan (2.21 on Debian 12, whose Stan bench/common.R writes for),
# and for bench/priors.R rstanarm and brms.
if [ "${1:-}" = "bench" ]; then
  debs+=(r-cran-rstan r-cran-rstanarm r-cran-brms)
fi

missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# playwright-core drives Chromium in the browser test of explore(); the
# version is pinned in dev/browser/package.json.
here=$(cd "$(dirname "$0")" && pwd)
if command -v npm >/dev/null 2>&1 && [ ! -d "$here/browser/node_modules/playwright-core" ]; then
  echo "install-deps: installing playwright-core"
  (cd "$here/browser" && npm install --no-audit --no-fund --no-package-lock >/dev/null)
fi

command -v cargo >/dev/null 2>&1 || [ -x "$HOME/.cargo/bin/cargo" ] || {
  echo "install-deps: cargo not found; install Rust (rustup) first" >&2
  exit 1
}
