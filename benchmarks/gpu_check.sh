#!/usr/bin/env bash
# gpu_check.sh: every CUDA check and figure of pconv in one command, for a lent GPU machine.
#
#   bash benchmarks/gpu_check.sh [--quick] [--dry-run] [--budget SECONDS] [OUT_DIR]
#
# Four steps, in this order, each under its own `timeout`; a failing step never stops the next:
#   tests    pytest -m cuda tests/test_cuda.py: PartialConv2d and PConvUNet under fp16 and bf16
#            autocast (finite, close to fp32), channels_last, torch.compile of the training step,
#            a Trainer run with AMP that resumes exactly, the UNet with AMP
#   pconv    bench_pconv.py --device cuda --layers 8 --batch-size 8 at 256 and 512: fp32, bf16,
#            bf16 + channels_last: img/s, peak memory, ratios to the plain-conv twin and the naive
#            reference (per-layer table at 512)
#   unet     bench_unet.py --device cuda --amp bf16, then fp16, at Carvana's 160x240 and 640x960
#   quality  bench_quality.py: the quickstart's GPU recipe (pconv.train.recipes.quickstart("cuda")) trained
#            for 2.5 minutes on the sample photos, then scored against the classical fills on the
#            held-out crops and test masks of the CPU figures (64x64, 16 masks per bin)
# It prints one table at the end (step, status, seconds, key figure) and exits 1 if any step did
# not pass, else 0. All steps share a budget (--budget, 470 s on a GPU), so the whole run ends
# within 8 minutes: a run that no longer fits is reported "skipped (budget)", and the quality
# training is shortened to what is left, saying so.
#
# Output, in OUT_DIR (default: $OUT where set, else outputs/gpu_check): summary.md (the table and
# the machine), setup.log, tests.log, pconv.log, unet.log, quality.log, figures.jsonl (one JSON
# line per benchmark run) and quality_record.md (the quality run as a RESULTS.md entry): at most
# 8 files, as the device tool returns no more. summary.md is rewritten after every run, so a
# run killed from outside still leaves its table.
#
# Options:
#   --quick       trims, and prints what it trimmed: bench_pconv at 512 only (fp32 and bf16), the
#                 UNet in bf16 only, 60 s of quality training. The tests are never trimmed.
#   --dry-run     the same steps on the CPU at tiny sizes: the cuda tests with PCONV_GPU_DRY_RUN=1,
#                 tiny networks in the benchmarks, the smoke recipe for 6 s. tests/test_benchmarks.py
#                 runs it, so the script cannot rot between the rare times a GPU is lent.
#   --budget S    seconds for all steps (default 470 on a GPU, 1500 in a dry run).
# Python: $PCONV_PYTHON if set; else .venv/bin/python when it imports torch; else python3 when it
# has torch and the rest (as on the device machines: their image holds them, and they reach no
# network); else it makes .venv with `pip install -r requirements.txt -e .[test]`, which needs a
# network. The repository root goes first on PYTHONPATH, so this checkout's pconv is the one run.
#
# With the device tool (one H200; 15 minutes of device time in all, 10 per command):
#   run(command="bash benchmarks/gpu_check.sh", timeout_s=600)
# Its $OUT comes back; copy the figures from summary.md, pconv.log, unet.log and
# quality_record.md into benchmarks/RESULTS.md, naming the device. Rerun only what failed, e.g.
#   run(command="python3 -m pytest -m cuda tests/test_cuda.py -k compile", timeout_s=300)

set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 2

usage() { sed -n '2,/^$/{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }

DRY=0 QUICK=0 BUDGET="" DEST=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --quick) QUICK=1 ;;
    --budget)
      BUDGET=${2:-}
      [[ "$BUDGET" =~ ^[0-9]+$ ]] || { echo "gpu_check.sh: --budget needs a number of seconds, got '${BUDGET}'" >&2; exit 2; }
      shift ;;
    -h | --help) usage; exit 0 ;;
    -*) echo "gpu_check.sh: unknown option '$1'; see --help" >&2; exit 2 ;;
    *)
      [ -z "$DEST" ] || { echo "gpu_check.sh: one OUT_DIR only, got '$DEST' and '$1'" >&2; exit 2; }
      DEST=$1 ;;
  esac
  shift
done
if [ -z "$DEST" ]; then
  DEST=${OUT:-outputs/gpu_check}
fi
mkdir -p "$DEST" || { echo "gpu_check.sh: cannot create the output folder '$DEST'" >&2; exit 2; }
DEST=$(cd "$DEST" && pwd)
SUMMARY=$DEST/summary.md FIGURES=$DEST/figures.jsonl RECORD=$DEST/quality_record.md
rm -f "$SUMMARY" "$FIGURES" "$RECORD" "$DEST"/{setup,tests,pconv,unet,quality}.log  # only what this script writes

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MPLBACKEND=Agg
export PCONV_OUTPUT_DIR=$WORK/outputs  # training runs and figures stay out of the checkout

# ------------------------------------------------------------------ what runs, on a GPU or in a dry run
if [ "$DRY" = 1 ]; then
  MODE="dry run on the CPU (tiny sizes)"
  DEVICE=cpu
  BUDGET=${BUDGET:-1500}
  PCONV_SIZES=(16 32)
  PCONV_ARGS=(--layers 3 --base-channels 8 --batch-size 1 --repeats 1 --unet-features 8,16)
  UNET_ARGS=(--sizes 32x48,64x96 --batch-size 1 --steps 1 --features 8,16)
  QUALITY_ARGS=(--smoke)
  EVAL_ARGS=(--eval-size 32 --per-bin 2)
  QUALITY_S=6
  LIMIT_TESTS=900 LIMIT_PCONV=300 LIMIT_UNET=300 LIMIT_QUALITY=600
  export PCONV_GPU_DRY_RUN=1
else
  MODE="GPU"
  DEVICE=cuda
  BUDGET=${BUDGET:-470}
  PCONV_SIZES=(256 512)
  PCONV_ARGS=(--layers 8 --batch-size 8 --repeats 10)
  UNET_ARGS=(--steps 10)
  QUALITY_ARGS=()
  EVAL_ARGS=(--eval-size 64 --per-bin 16)  # the CPU figures' held-out crops and test masks
  QUALITY_S=150
  LIMIT_TESTS=240 LIMIT_PCONV=90 LIMIT_UNET=90 LIMIT_QUALITY=300
fi
# bench_pconv runs: "SIZE PRECISION"; the per-layer table only at the larger size.
PCONV_RUNS=()
for size in "${PCONV_SIZES[@]}"; do
  for prec in fp32 bf16 bf16-channels_last; do PCONV_RUNS+=("$size $prec"); done
done
UNET_RUNS=(bf16 fp16)
TRIMMED=()
if [ "$QUICK" = 1 ]; then
  big=${PCONV_SIZES[1]}
  PCONV_RUNS=("$big fp32" "$big bf16")
  TRIMMED+=("--quick: bench_pconv at ${PCONV_SIZES[0]} and with channels_last (kept: $big fp32 and bf16)")
  UNET_RUNS=(bf16)
  TRIMMED+=("--quick: bench_unet in fp16 (kept: bf16)")
  QUALITY_S=$((QUALITY_S * 2 / 5))
  TRIMMED+=("--quick: quality training to ${QUALITY_S} s")
fi

# ------------------------------------------------------------------ the summary table
ROWS=()
FAILED=0
START=$SECONDS
DEADLINE=$((SECONDS + BUDGET))

write_summary() {
  {
    echo "# gpu_check: $MODE, $(date '+%Y-%m-%d %H:%M')"
    echo
    [ -n "${MACHINE:-}" ] && echo "$MACHINE" && echo
    [ ${#TRIMMED[@]} -gt 0 ] && printf -- '- trimmed by %s\n' "${TRIMMED[@]}" && echo
    echo "| step | status | seconds | key figure |"
    echo "|:--|:--|--:|:--|"
    printf '%s\n' "${ROWS[@]}"
    echo
    echo "total $((SECONDS - START)) s; logs beside this file"
  } >"$SUMMARY"
}

add_row() {  # add_row NAME STATUS SECONDS FIGURE
  ROWS+=("| $1 | $2 | $3 | ${4//|//} |")
  case "$2" in ok) ;; *) FAILED=1 ;; esac
  printf '%-28s %-22s %5ss  %s\n' "$1" "$2" "$3" "$4"
  write_summary
}

# run_step NAME LIMIT LOG FIGURE_PATTERN COMMAND...: one run under `timeout`, its output appended
# to LOG; the key figure is the last line of this run's output that matches FIGURE_PATTERN.
run_step() {
  local name=$1 limit=$2 log=$3 pattern=$4
  shift 4
  local left=$((DEADLINE - SECONDS))
  if [ "$left" -lt 20 ]; then
    echo "== $name: skipped, ${left} s of the budget left" >>"$log"
    add_row "$name" "skipped (budget)" 0 "${left} s of the ${BUDGET} s budget left"
    return
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  local before t0 rc status figure
  touch "$log"
  before=$(wc -l <"$log")
  echo "== $name: $* (limit ${limit} s)" >>"$log"
  t0=$SECONDS
  timeout --kill-after=10 "$limit" "$@" >>"$log" 2>&1
  rc=$?
  case $rc in
    0) status=ok ;;
    124 | 137) status="TIMEOUT (${limit} s)" ;;
    *) status="FAILED (exit $rc)" ;;
  esac
  figure=$(tail -n +"$((before + 1))" "$log" | grep -E -- "$pattern" | tail -n 1 | sed -E 's/^summary: //')
  if [ "$status" = ok ] && [ -z "$figure" ]; then
    status="FAILED (no figure)"
  fi
  if [ "$status" != ok ]; then
    echo "---- last lines of $log:"
    tail -n +"$((before + 1))" "$log" | tail -n 15
    echo "----"
  fi
  add_row "$name" "$status" "$((SECONDS - t0))" "${figure:-see $(basename "$log")}"
}

finish() {  # print the table; exit 1 if any step did not pass
  echo
  echo "gpu_check: $MODE, $((SECONDS - START)) s in all"
  cat "$SUMMARY"
  if [ "$FAILED" = 0 ]; then
    echo "gpu_check: every step passed"
  else
    echo "gpu_check: some steps did not pass (logs in $DEST)"
  fi
  exit "$FAILED"
}

# ------------------------------------------------------------------ setup: the Python that runs it all
NEEDS="import torch, torchvision, numpy, PIL, skimage, matplotlib, tqdm, pytest"
setup_python() {
  if [ -n "${PCONV_PYTHON:-}" ]; then
    PY=$PCONV_PYTHON
    echo "python: \$PCONV_PYTHON = $PY"
  elif [ -x .venv/bin/python ] && .venv/bin/python -c "$NEEDS" 2>/dev/null; then
    PY=.venv/bin/python
    echo "python: the repository's .venv"
  elif command -v python3 >/dev/null && python3 -c "$NEEDS" 2>/dev/null; then
    PY=python3
    echo "python: $(command -v python3), which has torch and the other dependencies (no .venv here)"
  else
    echo "python: no .venv and no python3 with torch: making .venv from requirements.txt (needs a network)"
    PY=.venv/bin/python
    python3 -m venv .venv && timeout 900 .venv/bin/python -m pip install -q -r requirements.txt -e '.[test]' || return 1
  fi
  "$PY" - "$DEVICE" <<'EOF'
import platform, sys
import torch, torchvision, numpy, PIL, skimage, matplotlib, tqdm, pytest  # what every step needs
want = sys.argv[1]
cuda = torch.cuda.is_available()
name = torch.cuda.get_device_name(0) if cuda else "no CUDA device"
print(f"python {platform.python_version()}, torch {torch.__version__} (CUDA {torch.version.cuda}), {name}")
if want == "cuda" and not cuda:
    sys.exit("CUDA is not available here: run this on a GPU machine, or use --dry-run for the CPU rehearsal")
EOF
}

echo "gpu_check: $MODE; output in $DEST; budget ${BUDGET} s"
for t in "${TRIMMED[@]}"; do echo "trimmed by $t"; done
command -v timeout >/dev/null || { echo "gpu_check.sh: needs coreutils' timeout" >&2; exit 2; }
t0=$SECONDS
if setup_python >"$DEST/setup.log" 2>&1; then
  versions=$(tail -n 1 "$DEST/setup.log")
  MACHINE="- machine: $versions; $(nproc) CPUs; $(uname -m)"
  if command -v nvidia-smi >/dev/null && [ "$DRY" = 0 ]; then
    nvidia-smi >>"$DEST/setup.log" 2>&1
    MACHINE+=$'\n'"- driver: $(nvidia-smi --query-gpu=driver_version,memory.total --format=csv,noheader 2>/dev/null | head -n 1)"
  fi
  MACHINE+=$'\n'"- commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git status --porcelain 2>/dev/null | grep -q . && echo ' (with local changes)')"
  add_row setup ok "$((SECONDS - t0))" "$versions"
else
  cat "$DEST/setup.log"
  add_row setup "FAILED" "$((SECONDS - t0))" "$(tail -n 1 "$DEST/setup.log")"
  for s in tests pconv unet quality; do add_row "$s" "not run (setup failed)" 0 "see setup.log"; done
  finish
fi

# ------------------------------------------------------------------ 1. the cuda tests
# The figure is pytest's last line; it must count passes, so a run where everything was skipped fails.
run_step "tests: pytest -m cuda" "$LIMIT_TESTS" "$DEST/tests.log" '[0-9]+ passed.* in [0-9.]+s' \
  "$PY" -m pytest -m cuda tests/test_cuda.py -q -p no:cacheprovider --basetemp "$WORK/pytest"

# ------------------------------------------------------------------ 2. bench_pconv
for run in "${PCONV_RUNS[@]}"; do
  read -r size prec <<<"$run"
  args=(--device "$DEVICE" --size "$size" --json "$FIGURES" "${PCONV_ARGS[@]}")
  case $prec in
    bf16) args+=(--amp bf16) ;;
    bf16-channels_last) args+=(--amp bf16 --channels-last) ;;
  esac
  [ "$size" = "${PCONV_SIZES[1]}" ] && [ "$prec" != bf16-channels_last ] || args+=(--skip-layers)
  run_step "pconv $size $prec" "$LIMIT_PCONV" "$DEST/pconv.log" '^summary: ' "$PY" benchmarks/bench_pconv.py "${args[@]}"
done

# ------------------------------------------------------------------ 3. bench_unet
for prec in "${UNET_RUNS[@]}"; do
  run_step "unet $prec" "$LIMIT_UNET" "$DEST/unet.log" '^summary: ' \
    "$PY" benchmarks/bench_unet.py --device "$DEVICE" --amp "$prec" --json "$FIGURES" "${UNET_ARGS[@]}"
done

# ------------------------------------------------------------------ 4. quality
# Calibration, data loading and the evaluation take about a minute besides the training.
left=$((DEADLINE - SECONDS - 75))
if [ "$QUALITY_S" -gt "$left" ] && [ "$left" -ge 20 ]; then
  TRIMMED+=("the budget: quality training shortened from $QUALITY_S s to $left s")
  echo "trimmed by ${TRIMMED[-1]}" | tee -a "$DEST/quality.log"
  QUALITY_S=$left
fi
minutes=$(awk -v s="$QUALITY_S" 'BEGIN { printf "%.3g", s / 60 }')
run_step "quality ${QUALITY_S} s" "$LIMIT_QUALITY" "$DEST/quality.log" '^model - best of' \
  "$PY" benchmarks/bench_quality.py --device "$DEVICE" --minutes "$minutes" "${EVAL_ARGS[@]}" \
  --record --results "$RECORD" "${QUALITY_ARGS[@]}"

finish
