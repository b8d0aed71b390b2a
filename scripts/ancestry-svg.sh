#!/usr/bin/env bash
# docs/ancestry.svg, the README's picture of an ancestry: a small pipeline
# recorded from scratch in a temporary home and drawn by
#   bonsai verify --format dot report.txt | dot -Tsvg
# Two steps run programs (sort, sh); the last takes two inputs, one of them
# a source never recorded. A fresh home means a fresh identity, so the
# executor's peer ID, the record CIDs and the times change from run to run;
# the content CIDs and the picture's shape do not. Needs Graphviz's dot.
set -euo pipefail
cd "$(dirname "$0")/.."
out="$PWD/docs/ancestry.svg"
command -v dot >/dev/null || { echo "ancestry-svg: Graphviz's dot is needed (apt-get install graphviz)" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/bonsai" ./cmd/bonsai
bonsai() { "$work/bonsai" --home "$work/home" "$@"; }
mkdir "$work/site"
cd "$work/site"

bonsai init >/dev/null
printf 'pear 3\napple 1\nfig 2\n' > raw.csv
printf 'title = Fruit totals\n' > report.conf
bonsai record --out raw.csv >/dev/null
bonsai record --in raw.csv --out sorted.csv -- sort raw.csv -o sorted.csv >/dev/null
bonsai record --in sorted.csv report.conf --out report.txt -- sh -c 'cat report.conf sorted.csv > report.txt' >/dev/null

mkdir -p "$(dirname "$out")"
bonsai verify --format dot report.txt | dot -Tsvg > "$out.tmp"
mv "$out.tmp" "$out"
echo "wrote $out"
