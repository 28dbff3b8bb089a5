#!/usr/bin/env bash
# The long fuzz run: every target (or those named) for N inputs each, each target bounded by
# a time budget, printing executions, crashes and the time per input (p50, p99, max).
# A failing input is kept in fuzz/corpus/<target>/found-<seed>; fix it, keep the file (the CI
# test replays the corpus), and rename it for what it found.
#
#   bench/fuzz.sh [-n INPUTS] [-t SECONDS_PER_TARGET] [-s SEED] [TARGET...]
#
# Defaults: 1,000,000 inputs, 3600 s per target, seed 1, the dev profile (PROFILE=release). Targets: imap-session imap-codec
# pop3-session lmtp-session submission-session smtp-parse api-http mime config-toml.
set -euo pipefail
cd "$(dirname "$0")/.."

inputs=1000000
seconds=3600
seed=1
while getopts "n:t:s:h" option; do
    case "$option" in
        n) inputs="$OPTARG" ;;
        t) seconds="$OPTARG" ;;
        s) seed="$OPTARG" ;;
        *) sed -n '2,10p' "$0"; exit 2 ;;
    esac
done
shift $((OPTIND - 1))

# The dev profile by default (dependencies are built with opt-level 2, the workspace's crates
# without optimization; it reuses the test build); PROFILE=release for production speed.
profile=${PROFILE:-dev}
cargo build --profile "$profile" -p wildduck-fuzz --quiet
dir=$([ "$profile" = dev ] && echo debug || echo "$profile")
exec "target/$dir/wildduck-fuzz" --cases "$inputs" --seconds "$seconds" --seed "$seed" "$@"
