#!/usr/bin/env bash
# Capture overhead of `bonsai run` (eBPF) against a plain run and against
# ptrace capture (strace -f, what ReproZip-style tools do), on a real C
# project nobody here wrote (zstd's 40 files, from the Go module
# github.com/DataDog/zstd, built by cli/testdata/project/Makefile with
# make -j2), a generated 300-file C build (make -j2, process-heavy) and a
# 2000-file copy loop; the precision and recall of the edges captured on
# the real project against gcc -MM; then the event rate the capture
# sustains and the peak RSS of the bonsai run process on a 20000-file
# workload. Needs root (the eBPF capture), gcc, make, strace and the Go
# module proxy (for the project's sources).
#
# The machine is shared and noisy: the variants run interleaved (the order
# rotates every repetition) and the table gives medians and ratios measured
# side by side, not absolute figures to compare across machines.
#
# Env: REPS (repetitions per variant, default 5), BONSAI (binary to test;
# default: build bin/bonsai), NFILES (files of the event workload, default
# 20000, a multiple of 4), STRACE=0 to leave out the strace variant (most of
# the running time). Raw timings are kept in .bench/capture-times.txt.
set -euo pipefail
export LC_ALL=C # the decimal point of EPOCHREALTIME, awk and sort
cd "$(dirname "$0")/.."
ROOT=$PWD
REPS=${REPS:-5}
NFILES=${NFILES:-20000}
STRACE=${STRACE:-1}
NMOD=300     # C modules of the build
NCOPY=2000   # files of the copy loop
PROJECT=github.com/DataDog/zstd@v1.5.7

die() { echo "bench-capture: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (eBPF capture)"
tools=(gcc make ar)
[ "$STRACE" = 0 ] || tools+=(strace)
# A fresh machine lacks strace (and time): install what is missing.
missing=()
for t in "${tools[@]}"; do command -v "$t" >/dev/null || missing+=("$t"); done
[ -x /usr/bin/time ] || missing+=(time)
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench-capture: installing ${missing[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]/ar/binutils}" >/dev/null ||
    die "could not install ${missing[*]}"
fi
[ $((NFILES % 4)) = 0 ] || die "NFILES must be a multiple of 4"

if [ -z "${BONSAI:-}" ]; then
  go build -o bin/bonsai ./cmd/bonsai
  BONSAI=$ROOT/bin/bonsai
fi
BONSAI=$(readlink -f "$BONSAI")
mkdir -p .bench
RAW=$ROOT/.bench/capture-times.txt
: >"$RAW"

TMP=$(mktemp -d /tmp/bonsai-bench-capture.XXXXXX)
bg_pids=()
cleanup() {
  local p
  for p in "${bg_pids[@]}"; do
    kill -INT "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

H=$TMP/home
"$BONSAI" --home "$H" init >/dev/null 2>&1 || die "bonsai init failed"
problems=() # what went wrong with bonsai run, printed at the end

now() { echo "$EPOCHREALTIME"; }
# elapsed T0: seconds since T0 (an EPOCHREALTIME value).
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.4f", b - a }'; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (!NR) { print "nan"; exit } print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# check_bonsai NAME RC OUT ERR EXPECTED: note what a bonsai run got wrong.
check_bonsai() {
  local name=$1 rc=$2 out=$3 err=$4 want=$5 got
  # `bonsai run` prints 'PATH RECORD_CID' per output (the command's own
  # stdout, make's command lines, goes to the same file).
  got=$(grep -cE '^[^ ]+ bafy[a-z2-7]+$' "$out" || true)
  [ "$rc" = 0 ] || problems+=("$name: bonsai run exited $rc: $(tail -1 "$err")")
  [ "$got" = "$want" ] || problems+=("$name: $got outputs recorded, $want expected")
  if grep -q 'capture gap' "$err"; then problems+=("$name: $(grep 'capture gap' "$err" | head -1)"); fi
  return 0
}

# ---------------------------------------------------------------------------
# 0. The real project: zstd's sources next to the plain Makefile.
R=$TMP/real
mkdir -p "$R"
srcdir=$(cd "$TMP" && go mod download -json "$PROJECT" | awk -F'"' '$2 == "Dir" { print $4 }')
[ -n "$srcdir" ] || die "go mod download $PROJECT failed (the Go module proxy is needed)"
cp "$srcdir"/*.c "$srcdir"/*.h "$R"/ && chmod u+w "$R"/*
cp cli/testdata/project/Makefile "$R"/
REAL_OUTPUTS=$(($(ls "$R"/*.c | wc -l) + 1))

# ---------------------------------------------------------------------------
# 1. The C project: NMOD modules (a few functions each, every third one
# including a shared header) in a static library, and a program using them.
P=$TMP/proj
mkdir -p "$P/src" "$P/include"
cat >"$P/include/common.h" <<'EOF'
#ifndef COMMON_H
#define COMMON_H
#include <stddef.h>
#include <string.h>
struct vec { double x, y, z; };
static inline double dot(struct vec a, struct vec b) { return a.x * b.x + a.y * b.y + a.z * b.z; }
static inline unsigned mix(unsigned h, unsigned v) { h ^= v + 0x9e3779b9u + (h << 6) + (h >> 2); return h; }
#define CLAMP(v, lo, hi) ((v) < (lo) ? (lo) : (v) > (hi) ? (hi) : (v))
#endif
EOF
for i in $(seq 1 "$NMOD"); do
  if [ $((i % 3)) = 0 ]; then
    cat <<EOF
#include "common.h"
static struct vec v$i = { $i.0, 2.0, 3.0 };
double mod${i}_len(void) { return dot(v$i, v$i); }
unsigned mod${i}_hash(const char *s) { unsigned h = $i; while (*s) h = mix(h, (unsigned char)*s++); return h; }
int mod${i}_clamp(int x) { return CLAMP(x * $i, -1000, 1000); }
int mod${i}_entry(int x) { return (int)mod${i}_len() + (int)(mod${i}_hash("bonsai") & 0xff) + mod${i}_clamp(x); }
EOF
  else
    cat <<EOF
#include <stdio.h>
static int table$i[16];
static int fill$i(int s) { for (int k = 0; k < 16; k++) table$i[k] = s * k + $i; return table$i[15]; }
static int fold$i(void) { int a = 0; for (int k = 0; k < 16; k++) a = a * 31 + table$i[k]; return a; }
int mod${i}_entry(int x) { char b[32]; snprintf(b, sizeof b, "%d", fill$i(x)); return fold$i() + b[0]; }
EOF
  fi >"$P/src/mod$i.c"
done
{
  echo '#include <stdio.h>'
  for i in $(seq 1 "$NMOD"); do echo "int mod${i}_entry(int);"; done
  echo 'int main(void) { long s = 0;'
  for i in $(seq 1 "$NMOD"); do echo "  s += mod${i}_entry($i);"; done
  echo '  printf("%ld\n", s); return 0; }'
} >"$P/src/main.c"
cat >"$P/Makefile" <<'EOF'
CC     ?= gcc
CFLAGS ?= -O2 -Wall
MODS   := $(filter-out obj/main.o,$(patsubst src/%.c,obj/%.o,$(wildcard src/*.c)))

prog: obj/main.o libmods.a
	$(CC) -o $@ obj/main.o libmods.a

libmods.a: $(MODS)
	ar rcs $@ $^

obj/%.o: src/%.c | obj
	$(CC) $(CFLAGS) -Iinclude -MMD -MP -c $< -o $@

obj:
	mkdir -p obj

clean:
	rm -rf obj prog libmods.a

.PHONY: clean
-include $(wildcard obj/*.d)
EOF
# Outputs of a build: a .o and a .d per source (modules and main), the
# library and the program.
BUILD_OUTPUTS=$((2 * (NMOD + 1) + 2))

# The copy loop's sources.
C=$TMP/copy
mkdir -p "$C/src"
for i in $(seq 1 "$NCOPY"); do echo "small file $i" >"$C/src/f$i"; done
COPY_SCRIPT='for i in $(seq 1 '"$NCOPY"'); do cp src/f$i dst/f$i; done'

# ---------------------------------------------------------------------------
# Interleaved timing. run_variant CASE VARIANT REP: prepare (untimed), run
# (timed), and append "CASE VARIANT REP SECONDS" to $RAW.
run_variant() {
  local case=$1 v=$2 rep=$3 dir cmd t0 dt rc=0
  local out=$TMP/$case-$v-$rep.out err=$TMP/$case-$v-$rep.err
  case $case in
    real)
      dir=$R
      make -C "$R" -s clean >/dev/null
      cmd=(make -j2)
      ;;
    build)
      dir=$P
      make -C "$P" -s clean >/dev/null
      cmd=(make -j2)
      ;;
    copy)
      dir=$C
      rm -rf "$C/dst" && mkdir "$C/dst"
      cmd=(sh -c "$COPY_SCRIPT")
      ;;
  esac
  sync
  case $v in
    plain) ;;
    bonsai) cmd=("$BONSAI" --home "$H" run -- "${cmd[@]}") ;;
    strace) cmd=(strace -f -qq -o /dev/null "${cmd[@]}") ;;
  esac
  # GNU time: CPU seconds (user + system) of the whole process tree, the
  # capture's kernel programs included (they run in the traced tasks).
  local tv=$TMP/$case-$v-$rep.time
  t0=$(now)
  (cd "$dir" && exec /usr/bin/time -f '%U %S' -o "$tv" "${cmd[@]}") >"$out" 2>"$err" </dev/null || rc=$?
  dt=$(elapsed "$t0")
  local cpu
  cpu=$(awk 'NR == 1 { printf "%.2f", $1 + $2 }' "$tv" 2>/dev/null)
  if [ "$v" = bonsai ]; then
    local want=$BUILD_OUTPUTS
    [ "$case" = copy ] && want=$NCOPY
    [ "$case" = real ] && want=$REAL_OUTPUTS
    check_bonsai "$case rep $rep" "$rc" "$out" "$err" "$want"
    [ "$rc" = 0 ] || return 0 # noted as a problem; its time is not a build's
  elif [ "$rc" != 0 ]; then
    sed -n 1,20p "$err" >&2
    die "$case/$v failed (exit $rc)"
  fi
  echo "$case $v $rep $dt ${cpu:-nan}" >>"$RAW"
}

VARIANTS=(plain bonsai)
[ "$STRACE" = 0 ] || VARIANTS+=(strace)
interleave() { # interleave CASE: REPS rounds, the order rotating
  local r k i n=${#VARIANTS[@]} vs=("${VARIANTS[@]}")
  for r in $(seq 1 "$REPS"); do
    for k in $(seq 0 $((n - 1))); do
      i=$(((r + k) % n))
      run_variant "$1" "${vs[$i]}" "$r"
    done
    printf '.' >&2
  done
}
med() { awk -v c="$1" -v v="$2" '$1 == c && $2 == v { print $4 }' "$RAW" | median; }
medcpu() { awk -v c="$1" -v v="$2" '$1 == c && $2 == v && $5 != "" { print $5 }' "$RAW" | median; }

echo "bench-capture: $REPS interleaved repetitions per variant; raw times in $RAW" >&2
# Warm-up, untimed: the page cache for the compiler and the sources, and
# bonsai's binary and store.
make -C "$P" -s -j2 >/dev/null
make -C "$R" -s -j2 >/dev/null
(cd "$C" && "$BONSAI" --home "$H" run -- true) >/dev/null 2>&1 || true

printf 'real project (zstd, %d outputs, make -j2) ' "$REAL_OUTPUTS" >&2
interleave real
echo >&2
# What the capture itself costs, from one more (untimed) bonsai run --json
# of each workload with the kernel's BPF statistics on: bonsai's own CPU
# while capturing and while recording, and its kernel programs' run time.
stats_was=$(cat /proc/sys/kernel/bpf_stats_enabled 2>/dev/null || echo 0)
cost_run() { # cost_run CASE DIR CMD...: leaves $TMP/CASE.json
  local case=$1 dir=$2
  shift 2
  echo 1 >/proc/sys/kernel/bpf_stats_enabled 2>/dev/null || true
  (cd "$dir" && "$BONSAI" --home "$H" run --json -- "$@") >"$TMP/$case.json" 2>"$TMP/$case.err" </dev/null ||
    problems+=("$case: bonsai run --json failed: $(tail -1 "$TMP/$case.err")")
  echo "$stats_was" >/proc/sys/kernel/bpf_stats_enabled 2>/dev/null || true
}
costs() { # costs CASE: "capture record kernel" CPU seconds from $TMP/CASE.json
  awk -F': ' '/"capture_cpu_s"/ { c = $2 } /"record_cpu_s"/ { r = $2 } /"kernel_cpu_s"/ { k = $2 }
    END { gsub(/,/, "", c); gsub(/,/, "", r); gsub(/,/, "", k); printf "%s %s %s", c + 0, r + 0, k + 0 }' "$TMP/$1.json"
}
# The real project's edges against the compiler's account, from that run.
make -C "$R" -s clean >/dev/null
cost_run real "$R" make -j2
grade=$(go run ./scripts/edgegrade "$R" "$TMP/real.json" libproject.a 2>&1) || problems+=("edgegrade: $grade")
real_incomplete=$(grep -c '"incomplete": true' "$TMP/real.json" || true)
[ "$real_incomplete" = 0 ] || problems+=("real project: $real_incomplete outputs marked incomplete")

printf 'build (%d modules, make -j2) ' "$NMOD" >&2
interleave build
echo >&2
printf 'copy loop (%d files) ' "$NCOPY" >&2
interleave copy
echo >&2
make -C "$P" -s clean >/dev/null
cost_run build "$P" make -j2
rm -rf "$C/dst" && mkdir "$C/dst"
cost_run copy "$C" sh -c "$COPY_SCRIPT"

# ---------------------------------------------------------------------------
# 4-5. Event rate and memory on NFILES files: four workers, each with a cat
# reading its quarter of the sources and then its shell writing a new file
# per source (no fork per file), so 8 processes read NFILES files and write
# NFILES files. A second workload only reads (no outputs, nothing to sign),
# which tells the capture's own rate apart from the signing of NFILES records.
E=$TMP/events
Q=$((NFILES / 4))
mkdir -p "$E"
for k in 1 2 3 4; do
  mkdir -p "$E/src/p$k"
  (cd "$E/src/p$k" && i=1 && while [ $i -le $Q ]; do echo "src $k $i" >"f$i"; i=$((i + 1)); done)
done
RW_SCRIPT='for k in 1 2 3 4; do ( cat src/p$k/* >/dev/null; mkdir -p dst/p$k; i=1; while [ $i -le '"$Q"' ]; do echo "out $k $i" >dst/p$k/f$i; i=$((i + 1)); done ) & done; wait'
RO_SCRIPT='for k in 1 2 3 4; do cat src/p$k/* >/dev/null & done; wait'

# count_events SCRIPT OUTFILE: run SCRIPT in $E under `bonsai events --pid`
# (untimed) and write the number of events of each kind to OUTFILE. The
# workload's shell waits, opening a probe file over and over, until the
# capture reports those opens: then the capture is surely on, and SCRIPT
# starts. The probe's events are left out of the count.
count_events() {
  local script=$1 res=$2 probe=$TMP/probe ready=$TMP/ready ev=$TMP/events.jsonl wpid epid s0 s1 i
  rm -rf "$E/dst" "$ready" && : >"$probe"
  (cd "$E" && exec sh -c 'while [ ! -e "$1" ]; do read x <"$0" || :; done; exec sh -c "$2"' "$probe" "$ready" "$script") </dev/null &
  wpid=$!
  bg_pids+=("$wpid")
  timeout 600 "$BONSAI" events --json --pid "$wpid" >"$ev" 2>"$TMP/events.err" &
  epid=$!
  bg_pids+=("$epid")
  for i in $(seq 600); do
    grep -q "$probe" "$ev" && break
    kill -0 "$epid" 2>/dev/null || die "bonsai events stopped: $(cat "$TMP/events.err")"
    [ "$i" = 600 ] && die "bonsai events saw nothing in 60 s"
    sleep 0.1
  done
  : >"$ready"
  wait "$wpid"
  # Wait until the event stream has been read out (its size stays put).
  s0=-1 s1=$(stat -c %s "$ev")
  while [ "$s0" != "$s1" ]; do sleep 1; s0=$s1 s1=$(stat -c %s "$ev"); done
  kill -INT "$epid" 2>/dev/null || true
  wait "$epid" 2>/dev/null || true
  bg_pids=()
  grep -v "$probe" "$ev" | grep -o '"Kind":[0-9]*' | sort | uniq -c | awk '{ split($2, a, ":"); print a[2], $1 }' >"$res"
  rm -f "$ev"
}
kinds() { # kinds FILE K...: the events of kinds K... counted in FILE
  local f=$1; shift
  awk -v ks=" $* " 'index(ks, " " $1 " ") { n += $2 } END { print n + 0 }' "$f"
}

# timed_run NAME SCRIPT: time SCRIPT plain, then under bonsai run --json with
# the peak RSS of the bonsai process (GNU time, and VmHWM sampled from /proc).
timed_run() {
  local name=$1 script=$2 t0 rc=0 bpid tpid hwm=0 h pv=${1}_plain bv=${1}_bonsai
  rm -rf "$E/dst"
  sync
  t0=$(now)
  (cd "$E" && sh -c "$script") </dev/null
  printf -v "${name}_plain" '%s' "$(elapsed "$t0")"
  echo "$name plain 1 ${!pv}" >>"$RAW"
  rm -rf "$E/dst"
  sync
  local out=$TMP/$name.json err=$TMP/$name.err tv=$TMP/$name.time
  t0=$(now)
  if [ -x /usr/bin/time ]; then
    (cd "$E" && exec /usr/bin/time -v -o "$tv" "$BONSAI" --home "$H" run --json -- sh -c "$script") >"$out" 2>"$err" </dev/null &
  else
    (cd "$E" && exec "$BONSAI" --home "$H" run --json -- sh -c "$script") >"$out" 2>"$err" </dev/null &
  fi
  tpid=$!
  bg_pids+=("$tpid")
  # Sample the bonsai process's VmHWM (its own peak RSS) while it runs.
  bpid=
  while kill -0 "$tpid" 2>/dev/null; do
    if [ -z "$bpid" ]; then
      if [ -x /usr/bin/time ]; then bpid=$(pgrep -P "$tpid" -x bonsai || true); else bpid=$tpid; fi
    fi
    if [ -n "$bpid" ]; then
      h=$(awk '/^VmHWM:/ { print $2 }' "/proc/$bpid/status" 2>/dev/null || true)
      [ -n "$h" ] && [ "$h" -gt "$hwm" ] && hwm=$h
    fi
    sleep 0.05
  done
  wait "$tpid" || rc=$?
  bg_pids=()
  printf -v "$bv" '%s' "$(elapsed "$t0")"
  echo "$name bonsai 1 ${!bv}" >>"$RAW"
  printf -v "${name}_hwm" '%s' "$hwm"
  printf -v "${name}_maxrss" '%s' "$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$tv" 2>/dev/null || true)"
  # The summary's lost counts, summed (--json prints one "kind": n a line).
  printf -v "${name}_lost" '%s' "$(awk '/"lost": \{/ { in_lost = 1; next } in_lost && /\}/ { in_lost = 0 } in_lost { gsub(/[^0-9]/, "", $2); n += $2 } END { print n + 0 }' "$out")"
  [ "$rc" = 0 ] || problems+=("$name: bonsai run exited $rc: $(tail -1 "$err")")
  if grep -q '"what"' "$out"; then problems+=("$name: capture gap: $(grep -o '"what": "[^"]*"' "$out" | head -1)"); fi
}

echo "event workloads ($NFILES files) ..." >&2
# The fixed cost of a run: load and attach the capture, start, stop.
for r in $(seq 1 "$REPS"); do
  t0=$(now)
  (cd "$E" && "$BONSAI" --home "$H" run -- true) >/dev/null 2>&1 </dev/null
  echo "startup bonsai $r $(elapsed "$t0")" >>"$RAW"
done
startup=$(med startup bonsai)
count_events "$RO_SCRIPT" "$TMP/ro.kinds"
count_events "$RW_SCRIPT" "$TMP/rw.kinds"
timed_run ro "$RO_SCRIPT"
timed_run rw "$RW_SCRIPT"
rw_outputs=$(grep -c '"path"' "$TMP/rw.json" || true)
rw_incomplete=$(grep -c '"incomplete": true' "$TMP/rw.json" || true)
[ "$rw_outputs" = "$NFILES" ] || problems+=("rw ($NFILES files written): $rw_outputs outputs recorded, $NFILES expected")
[ "$rw_incomplete" = 0 ] || problems+=("rw: $rw_incomplete outputs marked incomplete")
ro_outputs=$(grep -c '"path"' "$TMP/ro.json" || true)
[ "$ro_outputs" = 0 ] || problems+=("ro (read only): $ro_outputs outputs recorded, 0 expected")

# Kinds (bpf/event.go): exec 1, fork 2, exit 3, create 4, read 5, write 6,
# rename 7, unlink 8, truncate 9.
ro_rw=$(kinds "$TMP/ro.kinds" 5 6) ro_all=$(kinds "$TMP/ro.kinds" 1 2 3 4 5 6 7 8 9 10)
rw_rw=$(kinds "$TMP/rw.kinds" 5 6) rw_all=$(kinds "$TMP/rw.kinds" 1 2 3 4 5 6 7 8 9 10)

# ---------------------------------------------------------------------------
row() { # row LABEL CASE
  local p b s pc bc sc
  p=$(med "$2" plain) b=$(med "$2" bonsai) s=$(med "$2" strace)
  pc=$(medcpu "$2" plain) bc=$(medcpu "$2" bonsai) sc=$(medcpu "$2" strace)
  awk -v l="$1" -v p="$p" -v b="$b" -v s="$s" -v pc="$pc" -v bc="$bc" -v sc="$sc" 'BEGIN {
    printf "  %-27s wall: plain %6.2f s  bonsai %6.2f s (%+.1f%%)", l, p, b, (b / p - 1) * 100
    if (s != "nan") printf "  strace %6.2f s (x%.2f)", s, s / p
    printf "\n  %-27s cpu:  plain %6.2f s  bonsai %6.2f s (%+.1f%%)", "", pc, bc, (bc / pc - 1) * 100
    if (sc != "nan") printf "  strace %6.2f s (x%.2f)", sc, sc / pc
    printf "\n" }'
}
rate() { awk -v n="$1" -v t="$2" 'BEGIN { if (t > 0) printf "%.0f", n / t; else printf "n/a" }'; }
# net T: T less the fixed cost of a run; 0 (no rate) when that cost is
# more than half of T.
net() { awk -v t="$1" -v s="$startup" 'BEGIN { printf "%.4f", (t > 2 * s ? t - s : 0) }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
lostword() { echo "${1:-0}"; }

echo
echo "## Capture overhead (median of $REPS, interleaved; wall time, and CPU time user+system of the whole tree)"
row "zstd ($REAL_OUTPUTS outputs) make -j2:" real
row "build $NMOD files make -j2:" build
row "copy loop $NCOPY files:" copy
echo "## What the capture costs, in CPU (one bonsai run --json each, BPF statistics on; share of the plain run's CPU)"
costrow() { # costrow LABEL CASE
  local c r k p
  read -r c r k <<<"$(costs "$2")"
  p=$(medcpu "$2" plain)
  awk -v l="$1" -v c="$c" -v r="$r" -v k="$k" -v p="$p" 'BEGIN {
    printf "  %-27s capture %.2f s + record %.2f s + kernel programs %.2f s = %.2f s, %.1f%% of %.2f s\n", l, c, r, k, c + r + k, (c + r + k) / p * 100, p }'
}
costrow "zstd make -j2:" real
costrow "build $NMOD files make -j2:" build
costrow "copy loop $NCOPY files:" copy
echo "## Edges on the real project against gcc -MM (bonsai run --json, Makefile left out)"
echo "  $grade; incomplete outputs: $real_incomplete"
echo "## Capture rate, $NFILES small files, 4 workers (events counted by 'bonsai events --pid')"
printf '  fixed cost of a run (bonsai run -- true): %.3f s\n' "$startup"
# shellcheck disable=SC2154 # set by timed_run through printf -v
{
  printf '  read only, 4 cat read %d files:  %d read+write events (%d all kinds) in %.2f s (plain %.2f s): %s events/s, %s without the fixed cost (all kinds: %s/s); lost: %s\n' \
    "$NFILES" "$ro_rw" "$ro_all" "$ro_bonsai" "$ro_plain" "$(rate "$ro_rw" "$ro_bonsai")" "$(rate "$ro_rw" "$(net "$ro_bonsai")")" "$(rate "$ro_all" "$(net "$ro_bonsai")")" "$(lostword "$ro_lost")"
  printf '  read+write, %d in, %d out:     %d read+write events (%d all kinds) in %.2f s (plain %.2f s) incl. signing %d records: %s events/s, %s without the fixed cost (all kinds: %s/s); lost: %s\n' \
    "$NFILES" "$NFILES" "$rw_rw" "$rw_all" "$rw_bonsai" "$rw_plain" "$rw_outputs" "$(rate "$rw_rw" "$rw_bonsai")" "$(rate "$rw_rw" "$(net "$rw_bonsai")")" "$(rate "$rw_all" "$(net "$rw_bonsai")")" "$(lostword "$rw_lost")"
  echo "## bonsai run peak RSS (the bonsai process; GNU time -v / VmHWM sampled every 50 ms)"
  printf '  read only, %d files:   %s MiB / %s MiB\n' "$NFILES" "$(mib "$ro_maxrss")" "$(mib "$ro_hwm")"
  printf '  read+write, %d files:  %s MiB / %s MiB\n' "$NFILES" "$(mib "$rw_maxrss")" "$(mib "$rw_hwm")"
}
if [ ${#problems[@]} -gt 0 ]; then
  echo "## Problems seen with bonsai run"
  printf '  %s\n' "${problems[@]}"
else
  echo "## bonsai run: every run exited 0, recorded every output, lost no event"
fi
