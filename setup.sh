#!/usr/bin/env bash
# One-time (and idempotent) set-up on a fresh Debian machine: ffmpeg for the codec baselines, Kotlin and
# JUnit 4 for android_demo/core's tests, a venv, the package. Swift is not installed here: tests/test_ios_core.py
# builds and tests ios_demo/TokenreelKit with `swift` from PATH (or /opt/swift/usr/bin) and is skipped without it.
set -euo pipefail
cd "$(dirname "$0")"
need=()
command -v ffmpeg >/dev/null || need+=(ffmpeg)
{ command -v kotlinc >/dev/null && [ -f /usr/share/java/junit4.jar ]; } || need+=(kotlin junit4)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'
{ command -v swift >/dev/null || [ -x /opt/swift/usr/bin/swift ]; } \
  || echo "setup.sh: no Swift toolchain found: tests/test_ios_core.py will be skipped (toolchains: swift.org)" >&2
