# The README's two commands: `make demo` and `make test`.
PKG      := hiermod
VERSION  := $(shell sed -n 's/^Version: *//p' DESCRIPTION)
TARBALL  := $(PKG)_$(VERSION).tar.gz
BUILDDIR := check
MANIFEST := src/rust/Cargo.toml
export PATH := $(PATH):$(HOME)/.cargo/bin

# lintr's settings are in .lintr.
.PHONY: deps lint rust-test build install install-code check demo test calibrate bench bench-models bench-crossed bench-databases bench-priors screenshots vendor site coverage wrappers docs clean

deps:
	bash dev/install-deps.sh

rust-test: deps
	cargo fmt --manifest-path $(MANIFEST) --all -- --check
	cargo clippy --manifest-path $(MANIFEST) --workspace --all-targets --locked -- -D warnings
	cargo test --manifest-path $(MANIFEST) -p hiermod-core --release --locked
	bash dev/vendor.sh check

build: deps
	rm -rf $(BUILDDIR) && mkdir -p $(BUILDDIR)
	cd $(BUILDDIR) && R CMD build ..

install: build
	R CMD INSTALL $(BUILDDIR)/$(TARBALL)

check: build
	bash dev/check.sh $(BUILDDIR) $(TARBALL)

demo: install
	Rscript dev/demo.R

# Ends by installing the checked tarball, vignettes included, so that the
# steps that install without them do not leave that copy behind.
test: rust-test lint site check
	R CMD INSTALL $(BUILDDIR)/$(TARBALL)

# lintr resolves the package's own functions through the installed package.
lint: install-code
	Rscript -e 'lints <- lintr::lint_package(); print(lints); quit(status = length(lints) > 0)'

# hiermod against JAGS and plain R (and rstan if installed): bench/RESULTS.md;
# every model against JAGS: bench/MODELS.md.
bench: install-code
	bash dev/install-deps.sh bench
	Rscript bench/peers.R
	Rscript bench/models.R
	Rscript bench/crossed.R

bench-models: install-code
	bash dev/install-deps.sh bench
	Rscript bench/models.R

# Crossed grouping factors: InstEval against lmer, a subsample against brms,
# simulated designs to 10^6 rows, and the two exact schemes: bench/CROSSED.md.
bench-crossed: install-code
	bash dev/install-deps.sh bench
	Rscript bench/crossed.R

# The reference for hiermod's default prior on the sds: lme4's REML and the
# default posteriors of rstanarm and brms on 12 of R's grouped data sets,
# bench/PRIORS.md and inst/extdata/priors-reference.csv. About 12 minutes on 2 cores,
# nearly 10 of them brms compiling and sampling one model per data set; needs no
# hiermod install.
bench-priors: deps
	bash dev/install-deps.sh bench
	Rscript bench/priors.R

# Summaries in R, SQLite, PostgreSQL and from CSV, N up to 10^7 rows:
# bench/DATABASES.md.
bench-databases: install-code
	Rscript bench/databases.R

# The README's pictures: the lecture's figures and the explore() app.
screenshots: install-code
	Rscript dev/figures.R
	$(MAKE) site SHOTS=$(CURDIR)/man/figures
	cd tests/testthat && HIERMOD_BROWSER_DIR=$(CURDIR)/dev/browser \
	  HIERMOD_SCREENSHOT_DIR=$(CURDIR)/man/figures NOT_CRAN=true \
	  Rscript -e 'testthat::test_file("test-explore.R", package = "hiermod", load_package = "installed")'

# The pkgdown site in docs/, made to work with no network (pkgdown's
# template loads scripts from CDNs), then crawled in headless Chromium:
# fails on broken links, missing images and console errors.
SHOTS ?= docs
site: install-code
	Rscript -e 'options(pkgdown.internet = FALSE); pkgdown::build_site(preview = FALSE, install = FALSE, new_process = FALSE)'
	node dev/site-offline.js docs
	cd docs && { python3 -m http.server 18765 --bind 127.0.0.1 >/dev/null 2>&1 & echo $$! > ../.site-server.pid; }
	sleep 1; node dev/site-check.js 18765 $(SHOTS); status=$$?; \
	  kill $$(cat .site-server.pid); rm -f .site-server.pid; exit $$status

# Test coverage of the R code (covr; the target is 90%) and of the Rust core
# (cargo-tarpaulin, built from crates.io the first time: a few minutes).
coverage: install-code
	NOT_CRAN=true Rscript -e 'cov <- covr::package_coverage(type = "tests", quiet = TRUE); print(cov); quit(status = covr::percent_coverage(cov) < 90)'
	cargo tarpaulin --version >/dev/null 2>&1 || cargo install cargo-tarpaulin --locked
	cargo tarpaulin --manifest-path $(MANIFEST) -p hiermod-core --skip-clean --out Stdout

# Full simulation-based calibration report (calibration/REPORT.md).
calibrate: install-code
	Rscript dev/calibrate.R

# Installs without building the vignettes, which may need what is being
# regenerated.
install-code: deps
	rm -rf $(BUILDDIR) && mkdir -p $(BUILDDIR)
	cd $(BUILDDIR) && R CMD build --no-build-vignettes .. && R CMD INSTALL $(TARBALL)

# After changing Cargo.lock: the vendored crates for offline builds.
vendor:
	bash dev/vendor.sh

# After changing the Rust functions R calls: regenerate their R wrappers and
# the documentation, then reinstall.
wrappers: install-code
	Rscript dev/wrappers.R
	$(MAKE) docs

docs: install-code
	Rscript -e 'roxygen2::roxygenise(load_code = "installed")'
	$(MAKE) install-code

clean:
	rm -rf $(BUILDDIR) demo-output src/rust/target src/*.o src/*.so
