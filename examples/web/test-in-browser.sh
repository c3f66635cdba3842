#!/usr/bin/env bash
# The web example in a real browser: builds it (build.sh), serves target/web on a free local
# port, and has headless Chromium (driven by browser-test.mjs over the DevTools protocol) open
# the page, press "use the bundled cat photo" and wait for the result; the top-1 on the page
# must read "Egyptian cat". A screenshot is kept as target/web/screenshot.png.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$root/target/web"
command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }
"$here/build.sh"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -m http.server "$port" --bind 127.0.0.1 -d "$out" >/dev/null 2>&1 &
server=$!
trap 'kill $server' EXIT
python3 - "$port" <<'PY'
import sys, time, urllib.request
for _ in range(100):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/", timeout=1)
        break
    except OSError:
        time.sleep(0.1)
PY
node --no-warnings --experimental-websocket "$here/browser-test.mjs" "http://127.0.0.1:$port/" "$out/screenshot.png"
echo "test-in-browser: the page read Egyptian cat; screenshot $out/screenshot.png" >&2
