#!/usr/bin/env bash
# Makes every icon size the app and its bundles need from the one source image, icons/source.svg.
# ImageMagick renders the SVG to a 1024 px RGBA PNG (Tauri refuses RGB/grey PNGs, hence PNG32:),
# then the Tauri CLI cuts the desktop, Android and iOS sets from it.
# Needs: imagemagick, node + npm (the CLI comes from npm, pinned).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

convert -background none -density 96 "$here/source.svg" -resize 1024x1024 "PNG32:$tmp/source.png"
npx --yes @tauri-apps/cli@2.12.5 icon "$tmp/source.png" --output "$here"
echo "icons written to $here"
