#!/usr/bin/env bash
# R CMD check --as-cran on the built tarball; fails on any ERROR or WARNING
# and on every NOTE except CRAN's "New submission". Prints testthat's summary.
set -uo pipefail
dir=$1 tarball=$2
here=$(cd "$(dirname "$0")" && pwd)
cd "$dir"

# No route to CRAN here: skip the remote part of the incoming checks and the
# clock check that needs a time server. NOT_CRAN runs the tests CRAN skips.
export _R_CHECK_CRAN_INCOMING_REMOTE_=FALSE _R_CHECK_SYSTEM_CLOCK_=FALSE
export NOT_CRAN=true
# The package must build from its vendored crates alone.
export CARGO_NET_OFFLINE=true
# The browser test of explore() finds playwright-core here.
export HIERMOD_BROWSER_DIR="$here/browser"
# The PostgreSQL tests use a throwaway cluster on a Unix socket, stopped
# whatever happens; where none can start they are skipped, saying why.
pg_dir=$(mktemp -d /tmp/hiermod-pg.XXXXXX)
trap 'bash "$here/postgres.sh" stop "$pg_dir"' EXIT
if bash "$here/postgres.sh" start "$pg_dir"; then
  export HIERMOD_PG_HOST="$pg_dir"
else
  echo "check: could not start PostgreSQL; its tests will be skipped"
fi
R CMD check --as-cran --no-manual "$tarball"
status=$?

log=hiermod.Rcheck/00check.log
rout=hiermod.Rcheck/tests/testthat.Rout
[ -f "$rout" ] || rout=hiermod.Rcheck/tests/testthat.Rout.fail
if [ -f "$rout" ]; then
  summary=$(grep -E '^\[ FAIL [0-9]+ \| WARN [0-9]+ \| SKIP [0-9]+ \| PASS [0-9]+ \]' "$rout" | tail -n 1)
  echo "testthat: $summary"
  if [ -n "$summary" ]; then
    read -r fail warn skip pass < <(echo "$summary" | sed -E 's/[^0-9]+/ /g')
    echo "testthat: $pass passed, $fail failed, $skip skipped"
  fi
  grep -n -B2 -A15 "Failure\|Error (" "$rout" | head -80 || true
fi

[ $status -eq 0 ] || { echo "R CMD check failed (exit $status)"; exit 1; }
[ -f "$log" ] || { echo "no check log"; exit 1; }
if grep -qE '\.\.\. (ERROR|WARNING)$' "$log"; then
  echo "R CMD check reported an ERROR or WARNING"; exit 1
fi
# A NOTE is fine only if it is the incoming-feasibility note and says no more
# than the maintainer's name and "New submission".
bad_notes=$(awk '
  /\.\.\. NOTE$/ { in_note = 1; incoming = ($0 ~ /CRAN incoming feasibility/); if (!incoming) print; next }
  /^\* / { in_note = 0; next }
  in_note && incoming && NF && $0 !~ /^(Maintainer:|New submission)/ { print }
' "$log")
if [ -n "$bad_notes" ]; then
  echo "R CMD check reported NOTEs to fix:"; echo "$bad_notes"; exit 1
fi
echo "R CMD check: clean (no ERROR, WARNING or fixable NOTE)"
