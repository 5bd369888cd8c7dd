#!/usr/bin/env bash
# The streams example end to end in a fresh git repo (default: a temp dir), checking
# every claim of README.md on the way. Exits non-zero on any unexpected result.
# Usage: examples/streams/run.sh [WORKDIR]       (needs `dvx` and `python` on PATH)
# DVX_EXAMPLE_SMALL=1 makes the daily files small (the test suite does this).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=${1:-$(mktemp -d "${TMPDIR:-/tmp}/dvx-streams.XXXXXX")}
mkdir -p "$work"
cp -r "$here/project/." "$work/"
cd "$work"
if [ -n "${DVX_EXAMPLE_SMALL:-}" ]; then export EVENTS_PER_DAY=${EVENTS_PER_DAY:-4000}; fi

# step CMD…: print and run CMD, keep its output in $out; a failing CMD fails the script.
out=""
bold() { if [ -t 1 ]; then printf '\n\033[1m$ %s\033[0m\n' "$*"; else printf '\n$ %s\n' "$*"; fi; }
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

git init -q
git config user.email >/dev/null || git config user.email "streams@example.invalid"
git config user.name >/dev/null || git config user.name "dvx streams example"
step dvx init

note "a week of events: one file per day, tracked with dvx add"
step python src/make_events.py 1 7
step dvx add events/2024-06-0{3,4,5,6,7,8,9}.csv
step dvx dag
expect_n 7 '^count@2024-06-0[3-9]$'

note "first repro: 7 partitions, the aggregate and the report run"
step dvx repro
expect_n 7 '^count@2024-06-0[3-9]: ran in'
expect '^aggregate: ran in'
expect '^report: ran in'
expect '^9 ran in'
step head -n 6 reports/top10.md
git add -A && git commit -qm "a week of events" && echo "(committed)"

note "an eighth day arrives: exactly one partition runs, then the aggregate and report"
step python src/make_events.py 8
step dvx add events/2024-06-10.csv
expect '^To track the changes with git, run: git add events/2024-06-10.csv.dvx events/.gitignore$'
step dvx status
expect '^count@2024-06-10:$'
expect '^    new$'
expect '^    upstream changed: count@2024-06-10$'
step dvx repro
expect_n 7 '^count@2024-06-0[3-9]: up to date$'
expect '^count@2024-06-10: ran in'
expect_n 1 '^count@.*: ran in'
expect '^aggregate: ran in'
expect '^report: ran in'
expect '^3 ran, 7 up to date in'
git add -A && git commit -qm "events of 2024-06-10" && echo "(committed)"

note "change the aggregation code: only the aggregate and the report run"
sed -i.bak 's/^MIN_VIEWS = 0 /MIN_VIEWS = 50 /' src/aggregate.py && rm -f src/aggregate.py.bak
step git diff
step dvx status
expect '^aggregate:$'
expect '^    code changed: src/aggregate.py$'
expect '^    upstream changed: aggregate$'
expect_not '^count@'
step dvx repro
expect_n 8 '^count@2024-06-[01][0-9]: up to date$'
expect '^aggregate: ran in'
expect '^report: ran in'
expect '^2 ran, 8 up to date in'

note "revert it with git: the earlier outputs come back from the cache, nothing runs"
step git checkout -- src/aggregate.py
step dvx repro
expect '^aggregate: restored$'
expect '^report: restored$'
expect_not ': ran in'
expect '^2 restored, 8 up to date in'
step git status --short
[ -z "$out" ] || fail "the workspace should match the last commit again"

note "where does the report come from?"
step dvx lineage reports/top10.md
expect '^reports/top10.md  [0-9a-f]{12}  \[stage report\]$'
expect 'param params.toml:report = \{"rank_by": "revenue", "top": 10\}'
expect '── weekly/pages.csv  [0-9a-f]{12}  \[stage aggregate\]$'
expect '── counts  [0-9a-f]{12}  \[directory of 8 tracked outputs\]$'
expect_n 8 '── counts/2024-06-[01][0-9].csv  [0-9a-f]{12}  \[stage count@2024-06-[01][0-9]\]$'
expect '── events/2024-06-10.csv  [0-9a-f]{12}  \[dvx add\]$'
expect 'first recorded in [0-9a-f]{10} .* events of 2024-06-10$'
step dvx log reports/top10.md
expect_n 2 '^[0-9a-f]{10}  '

note "CI gate: a fresh clone without any data still proves that dvx.lock matches the code"
clone=$(mktemp -d "${TMPDIR:-/tmp}/dvx-streams-clone.XXXXXX")
trap 'rm -rf "$clone"' EXIT
step git clone -q . "$clone"
cd "$clone"
step dvx check
expect '^dvx.lock matches: 10 stage'
cd "$work"

echo; echo "streams example: all checks passed in $work"
