#!/usr/bin/env bash
# fuzz/run.sh [SECONDS] [TARGET...]: runs each libFuzzer target for SECONDS
# (default 30; CI runs each briefly, a long campaign passes e.g. 3600).
# Seeds come from fuzz/corpus/<target>/ (committed); new inputs go to a
# scratch corpus under target/, crashes to fuzz/artifacts/<target>/.
# Needs cargo-fuzz (`cargo install cargo-fuzz`); works on stable Rust through
# RUSTC_BOOTSTRAP, since the sanitizer flags are nightly-only.
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-30}
shift || true
if [ "$#" -gt 0 ]; then targets=("$@"); else mapfile -t targets < <(cargo fuzz list); fi
export RUSTC_BOOTSTRAP=1
status=0
for t in "${targets[@]}"; do
  scratch=target/scratch-corpus/$t
  mkdir -p "$scratch" "corpus/$t"
  echo "fuzz: $t for ${secs}s"
  if ! cargo fuzz run "$t" "$scratch" "corpus/$t" -- -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=1 2>"target/$t.log"; then
    echo "fuzz: $t FAILED (see fuzz/target/$t.log and fuzz/artifacts/$t/)"
    tail -40 "target/$t.log"
    status=1
  else
    grep -E "stat::number_of_executed_units|Done [0-9]+ runs" "target/$t.log" | tail -2 | sed "s/^/fuzz: $t: /"
  fi
done
exit $status
