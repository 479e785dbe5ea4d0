#!/usr/bin/env bash
# Compaction throughput and its effect on concurrent ingest (docs/benchmarks.md, "Retention and
# compaction"). Needs the release build in $SCRATCH and the loadgen; called by scripts/bench.sh.
#
#   COMPACT_SPANS=1000000 scripts/bench_compaction.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SHARED="${PYFLARE_SHARED:-$ROOT/../shared}"
LOADGEN="$SHARED/bench/loadgen.py"
PY="$ROOT/e2e/.venv/bin/python"
SCRATCH="${SCRATCH:-.build-bench}"
BIN="$SCRATCH/release/pyflare"
SPANS="${COMPACT_SPANS:-1000000}"
LOAD_SPANS="${COMPACT_LOAD_SPANS:-400000}"
OUT="${OUT:-bench-results}"
mkdir -p "$OUT"

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# serve DATA: the release server on DATA with segments sealed every 250 ms (many small ones,
# as low traffic leaves them), no scheduled jobs, replaced files deleted at once.
serve() {
    local data=$1
    OTLP=$(free_port); API=$(free_port); GRPC=$(free_port)
    cat > "$data/config.yaml" <<YAML
sink:
  kind: store
batcher:
  max_queued_spans: 400000
scheduler:
  enabled: false
segments:
  max_age_ms: 250
retention:
  spans: "0"
compaction:
  delete_grace: "0"
YAML
    "$BIN" serve --config "$data/config.yaml" --data-dir "$data" --otlp-http-port "$OTLP" --otlp-grpc-port "$GRPC" \
        --api-port "$API" --log-level warning >> "$data/server.log" 2>&1 &
    PID=$!
    for _ in $(seq 300); do curl -sf "http://127.0.0.1:$API/health" >/dev/null && break; sleep 0.1; done
}

catalog() {  # DATA -> "segments rows bytes_on_disk bytes_raw"
    "$PY" -c 'import sqlite3,sys; r=sqlite3.connect(sys.argv[1]).execute("select count(*), sum(rows), sum(bytes_on_disk), sum(bytes_raw) from segments where state=\"active\"").fetchone(); print(*r)' "$1/index.db"
}

load() {  # NAME: LOAD_SPANS spans to the running server; prints spans/s acknowledged
    "$PY" "$LOADGEN" --endpoint "http://127.0.0.1:$OTLP/v1/traces" --spans "$LOAD_SPANS" --batch 500 --concurrency 4 \
        --retries 5 --seed 11 --report "$OUT/compaction-$1.json" > "$OUT/compaction-$1.txt" 2>&1
    "$PY" -c 'import json,sys; r=json.load(open(sys.argv[1])); print(f"{r[\"spans_per_s\"]:,.0f} spans/s, p99 {r[\"latency_ms\"][\"p99\"]} ms")' "$OUT/compaction-$1.json"
}

data=$(mktemp -d)
serve "$data"
"$PY" "$LOADGEN" --endpoint "http://127.0.0.1:$OTLP/v1/traces" --spans "$SPANS" --batch 500 --concurrency 2 \
    --retries 5 > "$OUT/compaction-fill.txt" 2>&1
kill -TERM "$PID"; wait "$PID" || true
read -r segments rows disk raw < <(catalog "$data")
copy=$(mktemp -d)
cp -a "$data/." "$copy/"

{
    echo "| measure | result |"
    echo "|---|---|"
    echo "| store before | $segments segments, $rows spans, $((disk / 1048576)) MiB on disk ($((raw / 1048576)) MiB of column data) |"
    /usr/bin/time -f "%e %M" -o "$OUT/compaction-time.txt" "$BIN" compact --json --config "$data/config.yaml" --data-dir "$data" > "$OUT/compaction-report.json"
    read -r seconds kilobytes < "$OUT/compaction-time.txt"
    read -r after_segments after_rows after_disk after_raw < <(catalog "$data")
    "$PY" - "$OUT/compaction-report.json" "$seconds" "$kilobytes" "$disk" "$raw" "$rows" "$after_segments" "$after_disk" <<'PYEOF'
import json, sys
report = json.load(open(sys.argv[1]))
seconds, kilobytes, disk, raw, rows, after_segments, after_disk = float(sys.argv[2]), *map(int, sys.argv[3:])
print(f"| `pyflare compact`, every segment small (one core for the work) | {report['segments_merged']} segments merged into "
      f"{after_segments} in {seconds:.1f} s: {rows / seconds:,.0f} spans/s, {disk / 1048576 / seconds:.1f} MB/s of segment files "
      f"({raw / 1048576 / seconds:.1f} MB/s of column data), {kilobytes // 1024} MB peak RSS |")
print(f"| on disk after | {after_disk / 1048576:.0f} MiB ({100 * after_disk / disk:.0f}% of before: larger blocks compress better) |")
PYEOF

    serve "$copy"
    echo "| ingest alone, $LOAD_SPANS spans, 4 connections | $(load alone) |"
    curl -s -X POST "http://127.0.0.1:$API/api/v1/retention/compact" -o "$OUT/compaction-concurrent.json" &
    CURL=$!
    echo "| ingest while compacting the same store (nice 10 thread) | $(load concurrent) |"
    wait "$CURL"
    "$PY" -c 'import json,sys; r=json.load(open(sys.argv[1])); print(f"| the concurrent compaction | {r[\"segments_merged\"]} segments merged, {r[\"segments_written\"]} written |")' "$OUT/compaction-concurrent.json"
    kill -TERM "$PID"; wait "$PID" || true
} > "$OUT/compaction.md"
rm -rf "$data" "$copy"
cat "$OUT/compaction.md"
