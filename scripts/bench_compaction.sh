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

# serve DATA: the release server on DATA, no scheduled jobs, replaced files deleted at once.
# Under a sustained load seals are large (a seal takes what arrived during the one before), so
# every segment counts as small here and merges gather pairs of them (384 MiB of column data):
# the work per byte is the same as for the many small segments low traffic leaves.
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
retention:
  spans: "0"
compaction:
  delete_grace: "0"
  small_segment_bytes: 1073741824
  target_segment_bytes: 402653184
YAML
    "$BIN" serve --config "$data/config.yaml" --data-dir "$data" --otlp-http-port "$OTLP" --otlp-grpc-port "$GRPC" \
        --api-port "$API" --log-level warning >> "$data/server.log" 2>&1 &
    PID=$!
    for _ in $(seq 300); do curl -sf "http://127.0.0.1:$API/health" >/dev/null && break; sleep 0.1; done
}

catalog() {  # DATA -> "segments rows bytes_on_disk bytes_raw"
    "$PY" -c 'import sqlite3,sys; r=sqlite3.connect(sys.argv[1]).execute("select count(*), sum(rows), sum(bytes_on_disk), sum(bytes_raw) from segments where state=\"active\"").fetchone(); print(*r)' "$1/index.db"
}

load() {  # NAME SEED: LOAD_SPANS new spans to the running server; prints spans/s acknowledged
    "$PY" "$LOADGEN" --endpoint "http://127.0.0.1:$OTLP/v1/traces" --spans "$LOAD_SPANS" --batch 500 --concurrency 4 \
        --retries 5 --seed "$2" --report "$OUT/compaction-$1.json" > "$OUT/compaction-$1.txt" 2>&1
    "$PY" -c 'import json,sys; r=json.load(open(sys.argv[1])); print("%s spans/s, p99 %s ms" % (format(r["spans_per_s"], ",.0f"), r["latency_ms"]["p99"]))' "$OUT/compaction-$1.json"
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
    "$PY" - "$OUT/compaction-report.json" "$seconds" "$kilobytes" "$disk" "$after_segments" "$after_disk" <<'PYEOF'
import json, sys
report = json.load(open(sys.argv[1]))
seconds, kilobytes, disk, after_segments, after_disk = float(sys.argv[2]), *map(int, sys.argv[3:])
merged = [a for a in report["actions"] if a["skipped"] is None and a["output"]]
rows = sum(a["rows_in"] for a in merged)
bytes_in = sum(a["bytes_in"] for a in merged)
bytes_out = sum(a["bytes_out"] for a in merged)
print(f"| `pyflare compact`, merging pairs of segments (one core for the work) | {report['segments_merged']} segments "
      f"({rows:,} spans, {bytes_in / 1048576:.0f} MiB) merged into {len(merged)} in {seconds:.1f} s (process wall time, "
      f"index vacuum included): {rows / seconds:,.0f} spans/s, {bytes_in / 1048576 / seconds:.1f} MB/s of segment files read, "
      f"{kilobytes // 1024} MB peak RSS |")
print(f"| merged segments' size | {bytes_out / 1048576:.0f} MiB from {bytes_in / 1048576:.0f} MiB "
      f"({100 * bytes_out / bytes_in:.0f}%: longer runs of one service and model compress better); {after_segments} segments left |")
PYEOF

    serve "$copy"
    echo "| ingest alone, $LOAD_SPANS spans, 4 connections | $(load alone 11) |"
    curl -s -X POST "http://127.0.0.1:$API/api/v1/retention/compact" -o "$OUT/compaction-api-report.json" &
    CURL=$!
    echo "| ingest while compacting the same store (nice 10 thread) | $(load concurrent 12) |"
    wait "$CURL"
    "$PY" -c 'import json,sys; r=json.load(open(sys.argv[1])); print("| the concurrent compaction | %d segments merged into %d |" % (r["segments_merged"], r["segments_written"]))' "$OUT/compaction-api-report.json"
    kill -TERM "$PID"; wait "$PID" || true
} > "$OUT/compaction.md"
rm -rf "$data" "$copy"
cat "$OUT/compaction.md"
