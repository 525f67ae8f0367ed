#!/usr/bin/env bash
# Cross-checks `kizuna hunt` against oracle.py, an independent reading of hunt-semantics.md:
# both run on the same logs and IoCs, and every (file, line_no, field, value, ioc) one of them
# reports and the other does not is printed. Exit status 1 on any difference.
#
#   tests/hunt-oracle/check.sh                 cuts of the real sample logs (logs/) and a
#                                              hand-written log per format covering every
#                                              example of §6 (tricky/), with the IoCs as a MISP
#                                              feed folder, a CSV and a plain list (iocs/);
#   tests/hunt-oracle/check.sh --corpus DIR    a generated corpus (crates/matcher/examples/
#                                              hunt_corpus.rs) with its iocs.txt and misp-feed/;
#                                              generated first when DIR has none
#                                              (KIZUNA_HUNT_ORACLE_MIB, default 8, and
#                                              KIZUNA_HUNT_ORACLE_IOCS, default 50000).
#
# KIZUNA_BIN is the binary to check (default target/debug/kizuna).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
bin=${KIZUNA_BIN:-$repo/target/debug/kizuna}
[[ $bin = /* ]] || bin=$PWD/$bin
python=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [[ ! -x $bin ]]; then
    echo "check.sh: $bin is not an executable; build it (cargo build -p kizuna) or set KIZUNA_BIN" >&2
    exit 2
fi

failures=0
# check LABEL IOCS FILE…: runs both on the files (paths relative to the current directory,
# so that both report the same `file`).
check() {
    local label=$1 iocs=$2
    shift 2
    local status=0
    "$bin" hunt --iocs "$iocs" --output jsonl "$@" >"$work/kizuna.jsonl" 2>"$work/kizuna.err" ||
        status=$?
    if ((status > 1)); then
        echo "$label: kizuna hunt exited with $status:"
        sed 's/^/    /' "$work/kizuna.err" | head -20
        failures=$((failures + 1))
        return
    fi
    if ! "$python" "$here/oracle.py" --iocs "$iocs" --compare "$work/kizuna.jsonl" \
        --label "$label" "$@"; then
        failures=$((failures + 1))
    fi
}

if [[ ${1:-} == --corpus ]]; then
    corpus=${2:?"--corpus needs a directory"}
    if [[ ! -f $corpus/expected.txt ]]; then
        (cd "$repo" && cargo run -q --release -p kizuna-matcher --example hunt_corpus -- \
            --out "$corpus" --size-mib "${KIZUNA_HUNT_ORACLE_MIB:-8}" \
            --iocs "${KIZUNA_HUNT_ORACLE_IOCS:-50000}")
    fi
    cd "$corpus"
    logs=(zeek/dns.log zeek/conn.log zeek/ssl.log zeek-json/dns.ndjson squid/access.log apache/access.log)
    check "corpus iocs.txt" iocs.txt "${logs[@]}"
    check "corpus misp-feed" misp-feed "${logs[@]}"
    # The generator's own count of what it planted, as a third opinion.
    grep -E '^(hits|feed_hits) ' expected.txt | sed 's/^/planted: /'
else
    cd "$here"
    logs=(logs/*.log logs/*.ndjson tricky/*)
    for iocs in iocs/samples-feed iocs/samples.csv iocs/samples.txt iocs/tricky.csv iocs/tricky.txt; do
        check "$iocs" "$iocs" "${logs[@]}"
    done
fi

if ((failures > 0)); then
    echo "check.sh: $failures run(s) differ from the oracle"
    exit 1
fi
echo "check.sh: kizuna hunt agrees with the oracle"
