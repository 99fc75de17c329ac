#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Renders RESULTS_DIR/results.png from the tables summarize.py wrote (plot_block.dat, plot_kv.dat):
# left, block I/O IOPS per workload and engine (log scale); right, KV requests/s per server.
# Uses gnuplot's pngcairo terminal, or the libgd png terminal when cairo is unavailable.
set -euo pipefail
OUT=${1:?usage: bench/scripts/plot.sh RESULTS_DIR}
command -v gnuplot >/dev/null || { echo "plot.sh: gnuplot not installed (apt-get install -y gnuplot-nox)" >&2; exit 1; }

block=$OUT/plot_block.dat kv=$OUT/plot_kv.dat
has_rows() { [ -f "$1" ] && [ "$(wc -l <"$1")" -gt 1 ]; }
has_rows "$block" || has_rows "$kv" || { echo "plot.sh: nothing to plot in $OUT" >&2; exit 1; }

# Pick a PNG terminal that this gnuplot actually has.
term="pngcairo noenhanced size 1400,620 font 'Sans,10'"
if ! gnuplot -e "set terminal pngcairo; set output '/dev/null'; plot 1" 2>/dev/null; then
  term="png noenhanced size 1400,620"
fi

panels=0
has_rows "$block" && panels=$((panels + 1))
has_rows "$kv" && panels=$((panels + 1))
{
  echo "set terminal $term"
  echo "set output '$OUT/results.png'"
  echo "set datafile missing '?'"
  echo "set style data histogram"
  echo "set style histogram cluster gap 1"
  echo "set style fill solid 0.85 border -1"
  echo "set boxwidth 0.9"
  echo "set key below horizontal font ',9'"
  echo "set grid ytics"
  echo "set xtics nomirror"
  echo "set multiplot layout 1,$panels title 'convme comparative benchmark (medians; higher is better)'"
  if has_rows "$block"; then
    ncol=$(head -1 "$block" | awk -F'"' '{print (NF-1)/2}')
    rows=$(($(wc -l <"$block") - 1))
    echo "set xrange [-0.6:$rows - 0.4]"
    echo "set title 'Block I/O, 4 KiB, 1 core'"
    echo "set ylabel 'IOPS (log scale)'"
    echo "set logscale y"
    # Lower bound: the power of ten below the smallest bar, so no bar falls off the log axis.
    ymin=$(awk 'NR > 1 { for (i = 2; i <= NF; i++) if ($i != "?" && $i > 0 && (m == "" || $i < m)) m = $i }
                END { if (m == "") m = 1000; p = 1; while (p * 10 <= m) p *= 10; print p }' "$block")
    echo "set yrange [$ymin:*]"
    echo "set format y '%.0s%c'"
    echo "plot for [i=2:$((ncol + 1))] '$block' using i:xtic(1) title columnhead(i)"
    echo "unset logscale y"
    echo "set yrange [0:*]"
  fi
  if has_rows "$kv"; then
    ncol=$(head -1 "$kv" | awk -F'"' '{print (NF-1)/2}')
    rows=$(($(wc -l <"$kv") - 1))
    echo "set xrange [-0.6:$rows - 0.4]"
    echo "set title 'KV, redis-benchmark (pipelined SET/GET)'"
    echo "set ylabel 'requests/s'"
    echo "set offsets 0,0,graph 0.08,0"
    echo "set format y '%.0s%c'"
    echo "set yrange [0:*]"
    echo "plot for [i=2:$((ncol + 1))] '$kv' using i:xtic(1) title columnhead(i)"
  fi
  echo "unset multiplot"
} >"$OUT/plot.gp"
gnuplot "$OUT/plot.gp"
echo "plot.sh: wrote $OUT/results.png" >&2
