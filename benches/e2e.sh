#!/usr/bin/env bash
# End-to-end benchmark: `leakhound scan` with the full GeoIP databases, every detector and every
# output, against the polars-only floor (read the CSV, count rows per key and hour) and the
# notebook-style Python script (benches/python_baseline.py), on the same generated input.
# Prints a Markdown table for benches/README.md.
#
#   benches/e2e.sh                      # 1M, 3M and 10M events
#   SIZES="1000000" benches/e2e.sh      # one size
#   RUNS=5 benches/e2e.sh               # runs per measurement (default 3; the median is shown)
#   WORK=/dev/shm/lh GEOIP=/dev/shm/geoip benches/e2e.sh   # inputs and databases on tmpfs
set -euo pipefail
cd "$(dirname "$0")/.."

sizes=${SIZES:-"1000000 3000000 10000000"}
geoip=${GEOIP:-../shared/geoip/full}
work=${WORK:-/var/tmp/leakhound-bench}
runs=${RUNS:-3}
mkdir -p "$work"

cargo build --release --locked --bin leakhound >&2
bin="${CARGO_TARGET_DIR:-target}/release/leakhound"

requirements_hash=$(sha256sum benches/requirements.txt | cut -c1-16)
venv="/var/tmp/leakhound-bench-venv-$requirements_hash"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv.tmp"
    "$venv.tmp/bin/pip" install --quiet --disable-pip-version-check -r benches/requirements.txt
    rm -rf "$venv" && mv "$venv.tmp" "$venv"
fi

# Wall seconds and peak RSS (MiB) of a command, from GNU time: the median of $runs runs (a
# shared machine varies by a third from run to run).
measure() {
    local log
    log=$(mktemp)
    for _ in $(seq "$runs"); do
        /usr/bin/time -f "%e %M" -a -o "$log" "$@" >/dev/null 2>&1
    done
    sort -n "$log" | awk '{ t[NR] = $1; m[NR] = $2 } END { i = int((NR + 1) / 2); printf "%s %.0f\n", t[i], m[i] / 1024 }'
    rm -f "$log"
}

echo "| events | CSV | leakhound | events/s | peak RSS | polars floor | × floor | Python script | Python peak RSS | leakhound speed-up | leakhound --streaming | peak RSS | leakhound, same events as NDJSON | peak RSS |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for n in $sizes; do
    input="$work/events-$n.csv"
    [ -s "$input" ] || "$bin" generate-bench --events "$n" --out "$input"
    size=$(du -m "$input" | cut -f1)
    # Warm the page cache so that every contender reads from memory.
    cat "$input" >/dev/null
    read -r lh_s lh_mb < <(measure "$bin" scan "$input" --geoip-dir "$geoip" --out "$work/out-$n" --quiet --no-streaming)
    read -r st_s st_mb < <(measure "$bin" scan "$input" --geoip-dir "$geoip" --out "$work/out-$n-streaming" --quiet --streaming)
    read -r floor_s _ < <(measure "$venv/bin/python" benches/polars_floor.py "$input")
    read -r py_s py_mb < <(measure "$venv/bin/python" benches/python_baseline.py "$input" "$geoip" "$work/py-$n")
    ndjson="$work/events-$n.jsonl"
    [ -s "$ndjson" ] || "$bin" generate-bench --events "$n" --format jsonl --out "$ndjson"
    cat "$ndjson" >/dev/null
    read -r nd_s nd_mb < <(measure "$bin" scan "$ndjson" --geoip-dir "$geoip" --out "$work/out-$n-ndjson" --quiet --no-streaming)
    awk -v n="$n" -v size="$size" -v lh="$lh_s" -v lhmb="$lh_mb" -v floor="$floor_s" -v py="$py_s" -v pymb="$py_mb" -v nd="$nd_s" -v ndmb="$nd_mb" -v st="$st_s" -v stmb="$st_mb" '
    function thousands(x,   s, out) { s = sprintf("%d", x); out = ""; while (length(s) > 3) { out = "," substr(s, length(s) - 2) out; s = substr(s, 1, length(s) - 3) } return s out }
    BEGIN {
        printf "| %s | %d MB | %.1f s | %s | %d MB | %.1f s | %.2f | %.1f s | %d MB | %.2f× | %.1f s | %d MB | %.1f s | %d MB |\n",
            thousands(n), size, lh, thousands(n / lh), lhmb, floor, lh / floor, py, pymb, py / lh, st, stmb, nd, ndmb
    }'
done
