#!/usr/bin/env bash
# Browser tests of ui/ with the Tauri IPC mocked: installs the npm dependencies if missing,
# checks for Debian's chromium, zbarimg (zbar-tools) and a Korean font, then runs the unit tests of the UI's pure
# modules, the browser tests (node:test + playwright-core + chromium) and a smoke test in
# WebKitGTK, the Tauri webview's engine (skipped, saying why, without webkit2gtk-driver and
# xvfb). Screenshots: tests/artifacts/ui/.
# Exit status is non-zero on any failure.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

chromium="${LINEUP_CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
  echo "run.sh: $chromium not found; install it with: apt-get install -y chromium fonts-nanum" >&2
  exit 2
fi
if ! command -v zbarimg >/dev/null; then
  echo "run.sh: zbarimg not found (every QR screenshot is decoded); install it with: apt-get install -y zbar-tools" >&2
  exit 2
fi
if ! fc-list 2>/dev/null | grep -qiE 'nanum|cjk'; then
  echo "run.sh: warning: no Korean font (apt-get install -y fonts-nanum); screenshots will show boxes" >&2
fi

if [ ! -d node_modules/playwright-core ] || [ ! -d node_modules/@axe-core/playwright ] || [ ! -d node_modules/qrcode-generator ]; then
  # playwright-core never downloads browsers on install; Debian's chromium is used.
  npm ci --no-audit --no-fund --loglevel=error
fi

# Old screenshots go, so what is there afterwards is this run's.
artifacts="${LINEUP_UI_ARTIFACTS:-$here/../artifacts/ui}"
if [ -d "$artifacts" ]; then find "$artifacts" -maxdepth 1 -name '*.png' -delete; fi
node --test --test-reporter=spec unit.test.mjs
node --test --test-reporter="${LINEUP_UI_REPORTER:-spec}" ui.test.mjs
node --test --test-reporter=spec webkit.test.mjs
