#!/usr/bin/env bash
# bench/scaling.sh - 2 workers against 1 and the accept spread (issue 20):
# eddyd's echo against the epoll floor, eddyd's http handler against nginx,
# each with 1 and 2 workers, on 127.0.0.1 only; see bench/scaling.py for
# what is measured and how.
#
#   bench/scaling.sh [--parts echo|http|echo,http] [--reps N] [--duration S]
#                    [--conns 64,1000] [--spread-reps N] [--short S] [--short-conns N]
#                    [--client epoll|uring] [--json FILE]
#
# Defaults: both parts, 5 alternating rounds of 0.5 + 2 s (wrk: 2 s) per
# server and worker count, 5 spread runs per load; each part takes about
# 2-3 minutes: run each under its own lock on a shared machine, e.g.
#   flock /work/bench.lock bench/scaling.sh --parts echo
# Installs what is missing (the build tools, nginx-light, wrk), builds a
# Release tree with -DEDDY_BENCH=ON in build-bench/ as scripts/bench does
# (EDDY_BENCH_BUILD=DIR elsewhere), prints a Markdown table on stdout and
# the progress on stderr.  Exit status 1 if any run failed or saw an error.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib.sh"
case " $* " in *" -h "* | *" --help "*) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac

need_packages "${BUILD_PACKAGES[@]}" nginx-light wrk python3
build=${EDDY_BENCH_BUILD:-$root/build-bench}
# EDDY_WERROR=OFF: a new compiler warning must not stop a measurement.
cmake -S "$root" -B "$build" -DEDDY_BENCH=ON -DCMAKE_BUILD_TYPE=Release -DEDDY_WERROR=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target bench-all eddy-connrate http >/dev/null ||
    cmake --build "$build" -j1 --target bench-all eddy-connrate http
exec python3 "$root/bench/scaling.py" --build "$build" --command "bench/scaling.sh${*:+ $*}" "$@"
