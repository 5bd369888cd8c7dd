#!/usr/bin/env bash
# The ML example end to end in a fresh git repo (default: a temp dir), checking every
# claim of README.md on the way. Exits non-zero on any unexpected result.
# Usage: examples/ml/run.sh [WORKDIR]   (needs `dvx`, and `python` with numpy and pyarrow)
# DVX_EXAMPLE_SMALL=1 makes the dataset small (the test suite does this).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=${1:-$(mktemp -d "${TMPDIR:-/tmp}/dvx-ml.XXXXXX")}
mkdir -p "$work"
cp -r "$here/project/." "$work/"
cd "$work"
if [ -n "${DVX_EXAMPLE_SMALL:-}" ]; then export ROWS=${ROWS:-8000}; fi

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
note() { printf '\n# %s\n' "$*"; }

git init -q
git config user.email >/dev/null || git config user.email "ml@example.invalid"
git config user.name >/dev/null || git config user.name "dvx ml example"
step dvx init

note "make the dataset and track it"
step python src/make_dataset.py
step dvx add data/raw.csv

note "the first repro runs all four stages"
step dvx repro
expect '^prepare: ran in'
expect '^features: ran in'
expect '^train: ran in'
expect '^evaluate: ran in'
expect '^4 ran in'
step cat metrics.json
step dvx status
expect '^Everything is up to date.$'
git add -A && git commit -qm "baseline model (lr 0.02)" && echo "(committed)"

note "raise the learning rate: only train and evaluate run"
sed -i.bak 's/^  lr: 0.02$/  lr: 0.3/' params.yaml && rm -f params.yaml.bak
step git diff params.yaml
step dvx status
expect '^train:$'
expect '^    param changed: params.yaml:train.lr$'
expect '^    upstream changed: train$'
expect_not '^(prepare|features):$'
step dvx repro
expect '^prepare: up to date$'
expect '^features: up to date$'
expect '^train: ran in'
expect '^evaluate: ran in'
expect '^2 ran, 2 up to date in'
git add -A && git commit -qm "lr 0.3" && echo "(committed)"

note "what did that buy us?"
step dvx metrics diff HEAD~1
for m in accuracy auc logloss; do expect "^metrics.json +$m +[0-9.]+ +[0-9.]+ +[-+][0-9.]+"; done
step dvx params diff HEAD~1
expect '^params.yaml +train.lr +0.02 +0.3$'
step dvx log models/model.json
expect '^    param train.lr 0.02 → 0.3$'

note "a notebook loads the older features and both models without checking anything out"
step python notebook.py HEAD~1
expect '^data/features.parquet @ HEAD~1: [0-9]+ rows x 18 columns'
expect '^models/model.json @ HEAD~1: lr=0.02 accuracy=0\.[0-9]+$'
expect '^models/model.json @ HEAD: lr=0.3 accuracy=0\.[0-9]+$'
expect '^  input data/features.parquet [0-9a-f]{12} from stage features$'

echo; echo "ml example: all checks passed in $work"
