#!/usr/bin/env bash
# Smoke-test a built image: start it with the service port published on an
# ephemeral 127.0.0.1 port, wait until GET / answers "Hello, World!", stop it.
# `make smoke` builds the image first and calls this; so does the CI workflow.
#
# usage: scripts/smoke.sh IMAGE PORT      (DOCKER=/path/to/docker to pick a client)
set -euo pipefail

image="${1:?usage: scripts/smoke.sh IMAGE PORT}"
port="${2:?usage: scripts/smoke.sh IMAGE PORT}"
docker="${DOCKER:-docker}"
want="Hello, World!"

# Run it the way a hardened deployment does.
cid="$("$docker" run -d --rm --read-only --cap-drop ALL --security-opt no-new-privileges \
  -p "127.0.0.1::${port}" "$image")"
trap '"$docker" stop "$cid" >/dev/null 2>&1 || true' EXIT

hostport="$("$docker" port "$cid" "${port}/tcp" | head -n 1 | sed 's/.*://')"
body=""
for _ in $(seq 1 50); do
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
echo "smoke: GET / answered ${want} on 127.0.0.1:${hostport}"
