#!/usr/bin/env bash
# The wheels the initializr's image installs: gostarter's own and every
# dependency's, built on this machine with pip, because the image build
# itself reaches no package index (here, and in many build farms). Wheels of
# compiled dependencies are tagged for this Python (e.g. cp311), so it must
# be the same minor version as the image's base (PYTHON_IMAGE); the build
# refuses a mismatch with pip's "no matching distribution".
#
#   deploy/initializr/wheels.sh [OUT]      (default OUT: deploy/initializr/wheels)
#   PYTHON=python3.11 deploy/initializr/wheels.sh
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-$here/wheels}
python=${PYTHON:-python3}

rm -rf "$out"
mkdir -p "$out"
"$python" -m pip wheel --quiet --disable-pip-version-check --wheel-dir "$out" "$root"
printf '%s\n' "wheels for $("$python" -c 'import sys; print("CPython %d.%d" % sys.version_info[:2])') in $out:" >&2
ls "$out" >&2
