#!/usr/bin/env bash
# Two teammates, two clones, one git server and one dvx remote, all in WORKDIR
# (default: a temp dir). Checks every claim of README.md; exits non-zero on any
# unexpected result.
# Usage: examples/team/run.sh [WORKDIR]       (needs `dvx`, `git` and `python` on PATH)
# DVX_EXAMPLE_SMALL=1 makes the data small (the test suite does this).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=${1:-$(mktemp -d "${TMPDIR:-/tmp}/dvx-team.XXXXXX")}
mkdir -p "$work"
cd "$work"
work=$(pwd)
if [ -n "${DVX_EXAMPLE_SMALL:-}" ]; then export DAYS=${DAYS:-120}; fi

# step CMD…: print and run CMD, keep its output in $out; a failing CMD fails the script.
out=""
bold() { if [ -t 1 ]; then printf '\n\033[1m%s$ %s\033[0m\n' "$who" "$*"; else printf '\n%s$ %s\n' "$who" "$*"; fi; }
fail() { echo "run.sh: FAILED: $*" >&2; exit 1; }
step() {
  bold "$*"
  out=$("$@" 2>&1) || { printf '%s\n' "$out"; fail "command failed: $*"; }
  if [ -n "$out" ]; then printf '%s\n' "$out"; fi
}
expect() { grep -qE -- "$1" <<<"$out" || fail "expected a line matching /$1/ above"; }
expect_not() { ! grep -qE -- "$1" <<<"$out" || fail "did not expect a line matching /$1/ above"; }
expect_n() { local n; n=$(grep -cE -- "$2" <<<"$out" || true); [ "$n" -eq "$1" ] || fail "expected $1 lines matching /$2/ above, got $n"; }
note() { printf '\n# %s\n' "$*"; }
# as NAME: work in NAME's clone from now on (the prompt shows whose terminal it is).
who=""
as() { cd "$work/$1"; who="$1 "; }

note "the shared places: a git server (a bare repo) and a dvx remote (a plain folder)"
git init -q --bare -b main origin.git
mkdir storage
echo "created origin.git/ and storage/"

note "alice sets up the pipeline, runs it and pushes code and results"
git init -q -b main alice
cp -r "$here/project/." alice/
as alice
git config user.name "Alice" && git config user.email "alice@example.invalid"
git remote add origin ../origin.git
step dvx init
step dvx remote add -d storage ../storage
step dvx install-hooks
step python src/make_sales.py
step dvx add data/sales/east.csv data/sales/north.csv data/sales/south.csv data/sales/west.csv
step dvx repro
expect '^7 ran in'
step dvx push
expect '^pushed [0-9]+ object\(s\) .*, 7 action-cache entries'
git add -A && git commit -qm "sales pipeline" && echo "(committed)"
step git push -u origin main
expect '^pushed 0 object\(s\)'  # the pre-push hook: dvx push has nothing left to send

note "bob clones: the lock checks out without any data, and repro runs nothing"
cd "$work" && who=""
step git clone origin.git bob
as bob
git config user.name "Bob" && git config user.email "bob@example.invalid"
step dvx install-hooks
step dvx check
expect '^dvx.lock matches: 7 stage'
step dvx repro
expect_n 7 '^[a-z@]+: pulled from storage$'
expect_not ': ran in'
expect '^7 pulled in'
cmp -s dashboard.md ../alice/dashboard.md || fail "bob's dashboard.md differs from alice's"
step cat dashboard.md

note "alice: a typical day is the median, not the mean (a code change in summary)"
as alice
step git checkout -b typical-median
sed -i.bak 's/statistics.mean(units)/statistics.median(units)/' src/summary.py && rm -f src/summary.py.bak
step git diff
step dvx repro
expect '^summary: ran in'
expect '^forecast: up to date$'
expect '^dashboard: ran in'
expect '^2 ran, 5 up to date in'
git commit -qam "summary: median day" && echo "(committed)"
step git push -u origin typical-median

note "bob, meanwhile: forecast with a 28-day window (a params change in forecast)"
as bob
step git checkout -b longer-window
sed -i.bak 's/^  window: 7 /  window: 28/' params.yaml && rm -f params.yaml.bak
step git diff
step dvx repro
expect '^summary: up to date$'
expect '^forecast: ran in'
expect '^dashboard: ran in'
expect '^2 ran, 5 up to date in'
git commit -qam "forecast: 28-day window" && echo "(committed)"
step git push -u origin longer-window

note "alice merges both branches; the dvx merge driver merges dvx.lock stage by stage"
as alice
step git checkout main
step git merge --ff-only typical-median
step git fetch origin
step git merge --no-edit origin/longer-window
expect "stage 'dashboard' changed on both branches; dropped"
expect_not 'CONFLICT'
step dvx status
expect '^forecast:$'
expect '^    out modified: models/forecast.json$'
expect '^dashboard:$'
expect '^    new$'
expect_not '^(summary|clean@[a-z]+):$'
step dvx repro
expect_n 4 '^clean@[a-z]+: up to date$'
expect '^summary: up to date$'
expect '^forecast: pulled from storage$'
expect '^dashboard: ran in'
expect '^1 ran, 1 pulled, 5 up to date in'
git commit -qam "dvx.lock after merging both branches" && echo "(committed)"
step git push origin main

note "bob updates main: everything either of them computed is reused, nothing runs"
as bob
step git checkout main
step git pull --ff-only origin main
step dvx repro
expect '^summary: pulled from storage$'
expect '^forecast: (up to date|restored)$'
expect '^dashboard: pulled from storage$'
expect_not ': ran in'
cmp -s dashboard.md ../alice/dashboard.md || fail "bob's dashboard.md differs from alice's"
step cat dashboard.md
step dvx check --remote
expect '^dvx.lock matches: 7 stage'

echo; echo "team example: all checks passed in $work"
