#!/usr/bin/env bash
# bonsai record against in-toto-golang v0.9.0's `in-toto run` (issue 12),
# measured side by side in one run: the same 2-input step
# `sh -c 'cat b c > d'`, INTOTO_STEPS times each, interleaved (the order
# alternates every step, so noise hits both alike); the metadata each
# writes for it (in-toto's link file, bonsai's record block); the bare
# process start of each and of a Go program that only prints (the floor);
# and `bonsai verify` of a locally stored 3-step ancestry as a process.
# Figures are medians. Every binary timed is first copied afresh, so all
# come into the page cache the same way (see fresh below).
#
# in-toto-golang is installed with `go install` into a temporary GOBIN
# (the Go module proxy is needed; its command is `in-toto-golang`). If that
# fails, the comparison is skipped with the reason and the bonsai figures
# are still printed: this script never fails the bench for it.
#
# Env: INTOTO_STEPS (steps per tool, default 50), STARTS (processes timed
# for process start and verify, default 15). Raw timings (TOOL-WHAT
# SECONDS, one a line) are kept in .bench/intoto-times.txt.
set -euo pipefail
export LC_ALL=C # the decimal point of EPOCHREALTIME, awk and sort
cd "$(dirname "$0")/.."
ROOT=$PWD
STEPS=${INTOTO_STEPS:-50}
STARTS=${STARTS:-15}
INTOTO_MOD=github.com/in-toto/in-toto-golang@v0.9.0

die() { echo "bench-intoto: $*" >&2; exit 1; }
# last NAME: the last line of NAME's stderr, or else of its stdout
# ($TMP/NAME.err, $TMP/NAME.out).
last() { if [ -s "$TMP/$1.err" ]; then tail -1 "$TMP/$1.err"; else tail -1 "$TMP/$1.out"; fi; }
mkdir -p .bench
RAW=$ROOT/.bench/intoto-times.txt
: >"$RAW"

TMP=$(mktemp -d /tmp/bonsai-bench-intoto.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

go build -o "$TMP/bonsai.built" ./cmd/bonsai || die "go build failed"
BONSAI=$TMP/bonsai

# fresh SRC DST: DST, a copy of SRC written afresh. How a binary came into
# the page cache moves its start-up by a third on this VM (the same bonsai
# binary: 31 ms just linked, 42 ms copied, 48 ms read back after a cache
# drop), so every timed binary is written the same way.
fresh() { cat "$1" >"$2.tmp" && chmod +x "$2.tmp" && mv "$2.tmp" "$2"; }
fresh "$TMP/bonsai.built" "$BONSAI" || die "copy of the bonsai binary failed"

# The floor: a Go program that only writes a line, built by the same Go.
mkdir -p "$TMP/hello"
printf 'package main\n\nimport "os"\n\nfunc main() { os.Stdout.WriteString("hello\\n") }\n' >"$TMP/hello/main.go"
printf 'module hello\n\ngo 1.21\n' >"$TMP/hello/go.mod"
HELLO=$TMP/hello-bin
if (cd "$TMP/hello" && GOFLAGS= go build -o "$TMP/hello.built" .) 2>"$TMP/hello.err"; then
  fresh "$TMP/hello.built" "$HELLO"
else
  HELLO=
fi

# in-toto-golang: install, key, and a check that `in-toto run` works here.
# On any failure $skip says why and only the bonsai figures are measured.
skip=
INTOTO=$TMP/gobin/in-toto-golang
KEY=$TMP/intoto-key.pem
install_intoto() {
  local log=$TMP/intoto-install.log
  # The timeout keeps a machine without network from hanging on `direct`.
  if ! GOBIN=$TMP/gobin timeout 600 go install "$INTOTO_MOD" >"$log" 2>&1; then
    skip="go install $INTOTO_MOD failed: $(grep -v '^go: downloading' "$log" | tail -1)"
    return
  fi
  [ -x "$INTOTO" ] || { skip="go install $INTOTO_MOD left no $INTOTO"; return; }
  fresh "$INTOTO" "$INTOTO.fresh" && mv "$INTOTO.fresh" "$INTOTO" || { skip="copy of $INTOTO failed"; return; }
  "$INTOTO" run --help >/dev/null 2>&1 || { skip="in-toto run --help failed"; return; }
  # v0.9.0 has no key generation: `in-toto run -k` takes a PEM private key;
  # an Ed25519 one in PKCS #8, from openssl or else from Go's standard library.
  if ! { command -v openssl >/dev/null && openssl genpkey -algorithm ed25519 -out "$KEY" 2>/dev/null; }; then
    mkdir -p "$TMP/keygen"
    cat >"$TMP/keygen/main.go" <<'EOF'
package main

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"os"
)

func main() {
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		panic(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		panic(err)
	}
	pem.Encode(os.Stdout, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
}
EOF
    (cd "$TMP/keygen" && GOFLAGS= go run main.go >"$KEY" 2>"$TMP/keygen.err") ||
      { skip="no Ed25519 PEM key for in-toto: $(last keygen)"; return; }
  fi
  "$INTOTO" key id "$KEY" >/dev/null 2>&1 || { skip="in-toto does not accept the generated key"; return; }
}
install_intoto

# A working directory per tool with the same inputs, and a fresh bonsai home.
H=$TMP/home
"$BONSAI" --home "$H" init >/dev/null 2>&1 || die "bonsai init failed"
for d in w-intoto w-bonsai w-chain; do
  mkdir -p "$TMP/$d"
  printf 'first input\n' >"$TMP/$d/b"
  printf 'second input\n' >"$TMP/$d/c"
done
STEP=(sh -c 'cat b c > d')

# timed NAME DIR CMD...: run CMD in DIR, outputs to $TMP/NAME.out/.err, and
# append "NAME SECONDS" to $RAW. Returns CMD's status (nothing recorded then).
timed() {
  local name=$1 dir=$2 t0 t1
  shift 2
  cd "$dir"
  t0=$EPOCHREALTIME
  "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" || { cd "$ROOT"; return 1; }
  t1=$EPOCHREALTIME
  cd "$ROOT"
  echo "$name $t0 $t1" | awk '{ printf "%s %.6f\n", $1, $3 - $2 }' >>"$RAW"
}
intoto_step() { timed "$1" "$TMP/w-intoto" "$INTOTO" run -n step -k "$KEY" -m b -m c -p d -- "${STEP[@]}"; }
bonsai_step() { timed "$1" "$TMP/w-bonsai" "$BONSAI" --home "$H" record --in b c --out d -- "${STEP[@]}"; }
# intoto_fail NAME: skip the rest of the comparison, saying why.
intoto_fail() { skip="in-toto run failed: $(last "$1")"; }

# One untimed warm-up step each (page cache, first store write).
bonsai_step warmup-bonsai || die "bonsai record failed: $(last warmup-bonsai)"
[ -n "$skip" ] || intoto_step warmup-intoto || intoto_fail warmup-intoto

# 1. Per step, interleaved: in-toto first on odd steps, bonsai first on even.
for i in $(seq 1 "$STEPS"); do
  if [ $((i % 2)) = 1 ] && [ -z "$skip" ]; then intoto_step intoto-step || intoto_fail intoto-step; fi
  bonsai_step bonsai-step || die "bonsai record failed: $(last bonsai-step)"
  if [ $((i % 2)) = 0 ] && [ -z "$skip" ]; then intoto_step intoto-step || intoto_fail intoto-step; fi
done

# 2. Metadata: in-toto's link file, bonsai's record block (the record CID
# is the second field `bonsai record` prints).
record=$(awk 'NR == 1 { print $2 }' "$TMP/bonsai-step.out")
bonsai_bytes=$("$BONSAI" --home "$H" show --raw "$record" | wc -c)
intoto_bytes=
if [ -z "$skip" ]; then
  link=$(ls "$TMP"/w-intoto/step.*.link)
  intoto_bytes=$(wc -c <"$link")
fi

# 3. A 3-step ancestry b,c -> d -> e -> f (each step changes the content, so
# every file is its own node), stored in a home of its own (so no other
# record of d is found), then verified as a process.
C=$TMP/w-chain
H3=$TMP/home-chain
"$BONSAI" --home "$H3" init >/dev/null 2>&1 || die "bonsai init failed"
for s in "d:b c:cat b c > d" "e:d:{ cat d; echo e; } > e" "f:e:{ cat e; echo f; } > f"; do
  IFS=: read -r out ins cmd <<<"$s"
  # shellcheck disable=SC2086 # $ins: one or two input names
  timed chain "$C" "$BONSAI" --home "$H3" record --in $ins --out "$out" -- sh -c "$cmd" ||
    die "bonsai record of $out failed: $(last chain)"
done
timed warmup-verify "$C" "$BONSAI" --home "$H3" verify f || die "bonsai verify f failed: $(last warmup-verify)"
grep -q '^verified: .* 3 records' "$TMP/warmup-verify.out" ||
  die "bonsai verify f: expected 3 records, got: $(tail -1 "$TMP/warmup-verify.out")"

# 4. Process start and verify, interleaved.
timed warmup-id "$ROOT" "$BONSAI" --home "$H" id || die "bonsai id failed: $(last warmup-id)"
# v0.9.0 has no `version` command: `in-toto --help` is its bare start.
[ -n "$skip" ] || timed warmup-help "$ROOT" "$INTOTO" --help || skip="in-toto --help failed"
for _ in $(seq 1 "$STARTS"); do
  [ -z "$HELLO" ] || timed hello-start "$ROOT" "$HELLO" || HELLO=
  [ -n "$skip" ] || timed intoto-start "$ROOT" "$INTOTO" --help || skip="in-toto --help failed"
  timed bonsai-start "$ROOT" "$BONSAI" --home "$H" id || die "bonsai id failed: $(last bonsai-start)"
  timed bonsai-verify "$C" "$BONSAI" --home "$H3" verify f || die "bonsai verify f failed: $(last bonsai-verify)"
done

# median NAME: the median of NAME's seconds in $RAW, in ms.
median() {
  awk -v n="$1" '$1 == n { print $2 * 1000 }' "$RAW" | sort -g |
    awk '{ v[NR] = $1 } END { if (!NR) { print "n/a"; exit } printf "%.1f\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "n/a" || b == "n/a" || b == 0) print "n/a"; else printf "%.2f\n", a / b }'; }
bs=$(median bonsai-step)
bst=$(median bonsai-start)
bv=$(median bonsai-verify)

echo
if [ -z "$skip" ]; then
  is=$(median intoto-step)
  ist=$(median intoto-start)
  echo "## in-toto-golang v0.9.0 run vs bonsai record (same step, $STEPS each, interleaved), raw timings in .bench/intoto-times.txt"
  printf '  per step: in-toto %s ms, bonsai %s ms, ratio bonsai/in-toto %s (aim <= 1)\n' "$is" "$bs" "$(ratio "$bs" "$is")"
  printf '  metadata: in-toto link %s B, bonsai record %s B, ratio %s\n' "$intoto_bytes" "$bonsai_bytes" "$(ratio "$bonsai_bytes" "$intoto_bytes")"
  printf '  process start (median of %s): in-toto --help %s ms (v0.9.0 has no version command), bonsai id %s ms, ratio %s\n' \
    "$STARTS" "$ist" "$bst" "$(ratio "$bst" "$ist")"
else
  echo "## bonsai record (the step sh -c 'cat b c > d', $STEPS times), raw timings in .bench/intoto-times.txt"
  echo "  in-toto comparison skipped: $skip"
  printf '  per step: bonsai %s ms\n' "$bs"
  printf '  metadata: bonsai record %s B\n' "$bonsai_bytes"
  printf '  process start (median of %s): bonsai id %s ms\n' "$STARTS" "$bst"
fi
printf '  bonsai verify of a cached 3-step ancestry as a process (median of %s): %s ms (aim < 10 ms)\n' "$STARTS" "$bv"
if [ -n "$HELLO" ]; then
  hs=$(median hello-start)
  printf '  the floor, a Go program that only prints (median of %s): %s ms; bonsai id %s x, bonsai verify %s x that\n' \
    "$STARTS" "$hs" "$(ratio "$bst" "$hs")" "$(ratio "$bv" "$hs")"
fi
if [ -z "$skip" ]; then
  printf '  bonsai verify / in-toto bare start: %s\n' "$(ratio "$bv" "$ist")"
fi
