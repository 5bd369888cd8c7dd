#!/usr/bin/env bash
# Run the quickstart pipeline end to end in a fresh git repo (default: a temp dir).
# Usage: examples/quickstart/run.sh [WORKDIR]     (needs `dvx` and `python` on PATH)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=${1:-$(mktemp -d "${TMPDIR:-/tmp}/dvx-quickstart.XXXXXX")}
mkdir -p "$work"
cp -r "$here/project/." "$work/"
cd "$work"
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

git init -q
git config user.email >/dev/null || git config user.email "quickstart@example.invalid"
git config user.name >/dev/null || git config user.name "dvx quickstart"
step dvx init
python src/make_data.py
step dvx add data/raw.csv
step dvx repro
step dvx status
git add -A && git commit -qm "quickstart pipeline" && echo "(committed code, dvx.lock and data/raw.csv.dvx)"

echo; echo "# change a hyperparameter: only train and evaluate run"
sed -i.bak 's/epochs: 60/epochs: 80/' params.yaml && rm -f params.yaml.bak
step dvx status
step dvx repro
echo; echo "# put it back: the earlier outputs are restored from the cache, nothing runs"
git checkout -q params.yaml
step dvx repro
step dvx dag
echo; echo "quickstart done in $work"
