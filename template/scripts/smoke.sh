#!/usr/bin/env bash
# Smoke-test a built image: start it with the service port published on an
# ephemeral 127.0.0.1 port, wait until GET / answers "Hello, World!", stop it.
# `make smoke` builds the image first and calls this; so does the CI workflow.
#
# usage: scripts/smoke.sh IMAGE PORT      (DOCKER=/path/to/docker to pick a client,
#        PLATFORM=linux/arm64 to run an image of another platform: emulated, so given 5x as long)
set -euo pipefail

image="${1:?usage: scripts/smoke.sh IMAGE PORT}"
port="${2:?usage: scripts/smoke.sh IMAGE PORT}"
docker="${DOCKER:-docker}"
platform="${PLATFORM:-}"
want="Hello, World!"
tries=50 # 0.2 s apart: 10 s
platform_args=()
if [ -n "$platform" ]; then
  platform_args=(--platform "$platform")
  tries=250 # under emulation every instruction is translated: 50 s
fi

# Run it the way a hardened deployment does.
cid="$("$docker" run -d --rm "${platform_args[@]}" --read-only --cap-drop ALL --security-opt no-new-privileges \
  -p "127.0.0.1::${port}" "$image")"
trap '"$docker" stop "$cid" >/dev/null 2>&1 || true' EXIT

hostport="$("$docker" port "$cid" "${port}/tcp" | head -n 1 | sed 's/.*://')"
body=""
for _ in $(seq 1 "$tries"); do
  if body="$(curl -fsS "http://127.0.0.1:${hostport}/" 2>/dev/null)"; then
    break
  fi
  sleep 0.2
done

if [ "$body" != "$want" ]; then
  echo "smoke: no ${want} from 127.0.0.1:${hostport} (got: ${body})" >&2
  "$docker" logs "$cid" >&2 || true
  exit 1
fi
echo "smoke: GET / answered ${want} on 127.0.0.1:${hostport}${platform:+ (${platform})}"
