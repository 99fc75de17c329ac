#!/usr/bin/env bash
# Installs the built tree into a temp prefix, then configures, builds and runs a consumer project
# that uses find_package(convme) and convme::convme: checks the exported package works.
set -euo pipefail
build_dir=$1 source_dir=$2
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cmake --install "$build_dir" --prefix "$work/prefix" >/dev/null
cmake -S "$source_dir/tests/install/consumer" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/build" >/dev/null
"$work/build/consumer"
