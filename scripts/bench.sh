#!/usr/bin/env bash
# make bench: runs the Go benchmarks and prints the figures the issues ask
# for, as a table. Raw output is kept in .bench/ for benchstat.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .bench
out=.bench/go-bench.txt
COUNT=${COUNT:-3}

echo "# go benchmarks (count=$COUNT), raw output in $out"
go test -run '^$' -bench . -benchmem -count "$COUNT" ./lineage ./node | tee "$out" | grep -E '^(Benchmark|ok|FAIL)'

# Median of a metric column for benchmarks whose name matches $1.
median() {
  awk -v pat="$1" -v unit="$2" '$1 ~ pat { for (i = 2; i < NF; i++) if ($(i+1) == unit) print $i }' "$out" |
    sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "n/a" }'
}
ms() { awk -v ns="$1" 'BEGIN { if (ns == "n/a") print ns; else printf "%.3f ms", ns / 1e6 }'; }
us() { awk -v ns="$1" 'BEGIN { if (ns == "n/a") print ns; else printf "%.1f µs", ns / 1e3 }'; }

echo
echo "## Record size (bytes; talk: decentralized 0.2–1 KB, cumulative 2 MB–813 MB at depth 5)"
for n in 0 2 8; do
  printf '  %d inputs + program: %s bytes\n' "$n" "$(median "RecordSize/inputs=$n-" bytes/record)"
done
echo "## Per operation (2-input record)"
for op in Sign Verify Encode Decode; do
  printf '  %-7s %s\n' "$op" "$(us "$(median "^Benchmark$op-" ns/op)")"
done
echo "## Record one output: hash + sign + synced store write (talk's write-tree-in-close: 0.16–579 ms, grows with depth)"
for s in 4KiB 64MiB; do
  for d in 1 50; do
    printf '  %-6s depth %-3s %s\n' "$s" "$d" "$(ms "$(median "RecordOutput/size=$s/depth=$d-" ns/op)")"
  done
done
echo "## Verify a file whose ancestry is stored (talk's read-tree-in-open: 0.04–997 ms)"
for d in 1 50; do
  printf '  depth %-3s %s\n' "$d" "$(ms "$(median "VerifyStored/depth=$d-" ns/op)")"
done
echo "## CheckLineage of a 10,001-record DAG from the store"
printf '  records verified/s:               %s\n' "$(median Check10k records/s)"
printf '  raw Ed25519 verify/s, 1 core:     %s (crypto/ed25519)\n' "$(median Check10k ed25519-1core/s)"
printf '  raw verify/s, 1 core, cached key: %s (curve25519-voi, what bonsai uses)\n' "$(median Check10k voi-1core/s)"
printf '  ratio to crypto/ed25519 (aim > 1.5 on 2 cores): %s\n' "$(median Check10k ratio)"
printf '  ratio to curve25519-voi 1 core:                 %s\n' "$(median Check10k ratio-voi)"
