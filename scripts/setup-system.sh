#!/usr/bin/env bash
# System packages the test suite needs: Chromium for the browser tests.
# Installs only what is missing; needs root (or sudo) the first time, does nothing afterwards.
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup-system: please install ${missing[*]} with your package manager (tests that need them are skipped)" >&2
    exit 0
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
