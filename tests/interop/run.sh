#!/usr/bin/env bash
# PyMISP interop suite against a real `kizuna serve`.
#
#   tests/interop/run.sh sqlite [-- PYTEST-ARGS...]
#   tests/interop/run.sh postgres [DATABASE-URL] [-- PYTEST-ARGS...]
#
# What it does:
#   1. makes sure the Python venv (${KIZUNA_VENV:-<repo>/target/interop-venv}) exists and
#      has tests/interop/requirements.txt installed (only reinstalled when that file changes);
#   2. builds the binary (cargo build -p kizuna) unless KIZUNA_INTEROP_NO_BUILD=1, and uses
#      ${KIZUNA_BIN:-${CARGO_TARGET_DIR:-<repo>/target}/debug/kizuna};
#   3. in a temporary directory: `kizuna init` (which prints the site admin's API key), then
#      `kizuna serve --listen 127.0.0.1:<free port>` in the background, waiting at most
#      ~30 s (KIZUNA_INTEROP_START_TIMEOUT) for GET /servers/getVersion to answer 200;
#   4. runs `python -m pytest -q` on tests/interop with KIZUNA_URL and KIZUNA_KEY set.
# The server is always stopped on exit; its log is printed when anything failed. The exit
# code is pytest's (or 1 for a setup failure).
#
# PostgreSQL: DATABASE-URL should name an empty database (scripts/test creates a fresh one).
# Without it, a private throwaway cluster is started with scripts/pg-cluster and stopped
# at the end.
#
# KIZUNA_INTEROP_KEEP=1 keeps the temporary directory (data, logs) for inspection.
#
# cleanup() runs from a trap, which shellcheck cannot see:
# shellcheck disable=SC2317
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

usage() {
    sed -n '2,5p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

say() { printf 'interop: %s\n' "$*"; }
die() {
    printf 'interop: error: %s\n' "$*" >&2
    exit 1
}

backend=${1:-}
[[ $# -gt 0 ]] && shift
db_url=
if [[ $# -gt 0 && $1 != -- ]]; then
    db_url=$1
    shift
fi
if [[ ${1:-} == -- ]]; then
    shift
fi
pytest_args=("$@")

case $backend in
    sqlite)
        [[ -z $db_url ]] || die "sqlite takes no database URL"
        ;;
    postgres) ;;
    *) usage ;;
esac

# The server must only see the options we give it.
unset KIZUNA_DATA_DIR KIZUNA_DATABASE_URL KIZUNA_LISTEN KIZUNA_BASE_URL KIZUNA_CONFIG

work=$(mktemp -d "${TMPDIR:-/tmp}/kizuna-interop-XXXXXX")
server_pid=
server_group=0
server_log=$work/server.log
pg_private=0

cleanup() {
    local rc=$?
    set +e
    if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
        # The server's own process group if it has one (setsid), else just its pid.
        local target=$server_pid _
        [[ $server_group -eq 1 ]] && target=-$server_pid
        kill -TERM -- "$target" 2>/dev/null
        for _ in $(seq 1 50); do
            kill -0 "$server_pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$server_pid" 2>/dev/null; then
            say "server did not stop after SIGTERM within 5 s; sending SIGKILL"
            kill -KILL -- "$target" 2>/dev/null
        fi
        wait "$server_pid" 2>/dev/null
    fi
    if [[ -n $server_pid && $server_group -eq 1 ]]; then
        # Anything left in the server's process group (it should be empty by now).
        kill -KILL -- "-$server_pid" 2>/dev/null
    fi
    if [[ $rc -ne 0 && -s $server_log ]]; then
        printf '\n----- kizuna server log (%s, last 300 lines) -----\n' "$backend"
        tail -n 300 "$server_log"
        printf -- '----- end of server log -----\n'
    fi
    if [[ $pg_private -eq 1 ]]; then
        KIZUNA_PG_STATE=$work/pg.state bash "$repo/scripts/pg-cluster" stop
    fi
    if [[ ${KIZUNA_INTEROP_KEEP:-0} == 1 ]]; then
        say "kept $work"
    else
        rm -rf -- "$work"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- 1. Python venv ----------------------------------------------------------------------

venv=${KIZUNA_VENV:-$repo/target/interop-venv}
requirements=$here/requirements.txt
stamp=$venv/.kizuna-requirements.sha256
want=$(sha256sum "$requirements" | cut -d' ' -f1)
if [[ ! -x $venv/bin/python ]]; then
    say "creating the Python venv $venv"
    mkdir -p "$(dirname "$venv")"
    python3 -m venv "$venv" ||
        die "python3 -m venv failed (on Debian: apt-get install python3-venv)"
fi
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
    say "installing $requirements into $venv"
    "$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$requirements" ||
        die "pip install failed"
    printf '%s\n' "$want" >"$stamp"
fi

# --- 2. binary ---------------------------------------------------------------------------

if [[ ${KIZUNA_INTEROP_NO_BUILD:-0} != 1 ]]; then
    say "cargo build -p kizuna"
    (cd "$repo" && cargo build -p kizuna) || die "cargo build -p kizuna failed"
fi
target_dir=${CARGO_TARGET_DIR:-$repo/target}
case $target_dir in /*) ;; *) target_dir=$repo/$target_dir ;; esac
bin=${KIZUNA_BIN:-$target_dir/debug/kizuna}
[[ -x $bin ]] || die "no kizuna binary at $bin (build it with: cargo build -p kizuna)"

# --- 3. database, init, serve ------------------------------------------------------------

if [[ $backend == sqlite ]]; then
    mkdir -p "$work/data"
    db_args=(--data-dir "$work/data")
else
    if [[ -z $db_url ]]; then
        say "no database URL given: starting a private throwaway PostgreSQL cluster"
        db_url=$(KIZUNA_PG_STATE=$work/pg.state bash "$repo/scripts/pg-cluster" start) ||
            die "could not start PostgreSQL"
        pg_private=1
    fi
    db_args=(--database-url "$db_url")
fi

say "backend: $backend${db_url:+ ($db_url)}"
say "binary:  $bin"

# The server runs in the temporary directory so that nothing it might write by default
# ends up in the repository.
if ! key=$(cd "$work" && "$bin" init --org "Kizuna Interop" --email admin@interop.test "${db_args[@]}" 2>"$work/init.err"); then
    cat "$work/init.err" >&2
    die "kizuna init failed"
fi
key=$(printf '%s' "$key" | tr -d '[:space:]')
if [[ ! $key =~ ^[A-Za-z0-9]{40}$ ]]; then
    cat "$work/init.err" >&2
    die "kizuna init did not print a 40-character API key on stdout (got '${key:0:80}')"
fi

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
base_url=http://127.0.0.1:$port

# In its own session (setsid) when possible, so that stopping it also stops anything it
# might have spawned: the server's pid is then also its process group id.
setsid_cmd=()
if command -v setsid >/dev/null 2>&1; then
    setsid_cmd=(setsid)
fi
# NO_COLOR: plain log lines (tracing-subscriber honours it), since the log goes to a file.
# Every test connects from 127.0.0.1, so the suite's deliberate bad keys all count against
# one address: the per-address throttle gets room for them (per-key throttling stays on).
(cd "$work" && NO_COLOR=1 exec "${setsid_cmd[@]}" "$bin" serve "${db_args[@]}" --listen "127.0.0.1:$port" --base-url "$base_url" --auth-failures-per-address 1000) \
    >"$server_log" 2>&1 </dev/null &
server_pid=$!
server_group=0
[[ ${#setsid_cmd[@]} -eq 0 ]] || server_group=1
say "server pid $server_pid on $base_url (log: $server_log)"

ready() {
    if command -v curl >/dev/null 2>&1; then
        curl -fs -o /dev/null --max-time 2 -H "Authorization: $key" -H 'Accept: application/json' \
            "$base_url/servers/getVersion"
    else
        python3 - "$base_url/servers/getVersion" "$key" <<'EOF'
import sys, urllib.request
req = urllib.request.Request(sys.argv[1], headers={"Authorization": sys.argv[2], "Accept": "application/json"})
try:
    sys.exit(0 if urllib.request.urlopen(req, timeout=2).status == 200 else 1)
except Exception:
    sys.exit(1)
EOF
    fi
}

timeout_s=${KIZUNA_INTEROP_START_TIMEOUT:-30}
start=$SECONDS
until ready; do
    if ! kill -0 "$server_pid" 2>/dev/null; then
        wait "$server_pid" 2>/dev/null && rc=0 || rc=$?
        server_pid=
        die "kizuna serve exited (status $rc) before answering GET /servers/getVersion"
    fi
    if ((SECONDS - start >= timeout_s)); then
        die "kizuna serve did not answer GET /servers/getVersion with 200 within ${timeout_s} s"
    fi
    sleep 0.2
done
say "server ready after $((SECONDS - start)) s"

# --- 4. the Python suite -----------------------------------------------------------------

export KIZUNA_URL=$base_url
export KIZUNA_KEY=$key
export KIZUNA_BACKEND=$backend
export KIZUNA_REPO=$repo
export PYTHONDONTWRITEBYTECODE=1

say "running: python -m pytest -q (backend $backend)"
rc=0
# pytest runs in tests/interop, which is also what it collects when no path is given.
(cd "$here" && timeout 900 "$venv/bin/python" -m pytest -q -ra --tb=short -p no:cacheprovider \
    "${pytest_args[@]}") || rc=$?
if [[ $rc -ne 0 ]]; then
    say "pytest failed (exit $rc) on $backend"
fi
exit "$rc"
