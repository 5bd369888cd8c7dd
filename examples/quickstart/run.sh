#!/usr/bin/env bash
# Run the quickstart pipeline end to end in a fresh git repo (default: a temp dir),
# with a local folder as the default remote, then play a teammate who clones the
# repo and gets every output from the remote without running anything.
# Usage: examples/quickstart/run.sh [WORKDIR]     (needs `dvx` and `python` on PATH)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
base=${1:-$(mktemp -d "${TMPDIR:-/tmp}/dvx-quickstart.XXXXXX")}
work="$base/project"
mkdir -p "$work"
cp -r "$here/project/." "$work/"
cd "$work"
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }
expect() { grep -q -- "$1" <<<"$2" || { echo "quickstart: expected '$1' in:"; echo "$2"; exit 1; }; }

git init -q
git config user.email >/dev/null || git config user.email "quickstart@example.invalid"
git config user.name >/dev/null || git config user.name "dvx quickstart"
step dvx init
step dvx remote add -d shared "$base/remote"
python src/make_data.py
step dvx add data/raw.csv
out=$(step dvx repro); echo "$out"; expect "3 ran" "$out"
step dvx status
step dvx push
git add -A && git commit -qm "quickstart pipeline" && echo "(committed code, dvx.lock, data/raw.csv.dvx and the remote's config)"
step dvx check --remote

echo; echo "# change a hyperparameter: only train and evaluate run"
sed -i.bak 's/epochs: 60/epochs: 80/' params.yaml && rm -f params.yaml.bak
step dvx status
out=$(step dvx repro); echo "$out"; expect "2 ran, 1 up to date" "$out"
echo; echo "# put it back: the earlier outputs are restored from the cache, nothing runs"
git checkout -q params.yaml
out=$(step dvx repro); echo "$out"; expect "2 restored, 1 up to date" "$out"
step dvx dag
step dvx lineage metrics.json --depth 1

echo; echo "# a teammate clones the repo: every output comes from the remote, nothing runs"
git clone -q "$work" "$base/teammate"
cd "$base/teammate"
out=$(step dvx repro); echo "$out"
expect "prepare: pulled from shared" "$out"
expect "train: pulled from shared" "$out"
step dvx status
echo; echo "quickstart done in $base"
