# Shared helpers for scripts/*. Source it; do not run it.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.venv"
LOCAL_DIR="${CRR_LOCAL_DIR:-$ROOT/.local}"
CLOUD_ENV="$LOCAL_DIR/cloud.env"
# Tests, the demo and benchmarks share one optimised build profile (see Cargo.toml).
PROFILE="${CRR_PROFILE:-ci}"
# Cargo's output directory: CARGO_TARGET_DIR when set (relative to the repository
# root, where these scripts run cargo), else target/.
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$ROOT/$TARGET_DIR" ;; esac
BIN_DIR="$TARGET_DIR/$PROFILE"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Creates .venv and installs scripts/requirements.txt when it changed.
ensure_venv() {
  local req="$ROOT/scripts/requirements.txt" stamp="$VENV/.requirements.sha"
  local want; want="$(sha256sum "$req" | cut -d' ' -f1)"
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating Python venv in .venv"
    python3 -m venv "$VENV" || die "python3 -m venv failed; install Python 3.9+ with venv"
  fi
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    say "installing Python tools (moto, boto3, ...) into .venv"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$req" || die "pip install failed"
    echo "$want" > "$stamp"
  fi
}

# Installs the pinned npm tools (package.json, package-lock.json: @alicloud/fun, which
# validates template.yaml, and playwright-core, which drives Chromium in the status
# page's test) into node_modules/ when the lock file changed.
ensure_node_tools() {
  local lock="$ROOT/package-lock.json" stamp="$ROOT/node_modules/.crr-lock.sha"
  local want; want="$(sha256sum "$lock" | cut -d' ' -f1)"
  if [ -x "$ROOT/node_modules/.bin/fun" ] && [ -d "$ROOT/node_modules/playwright-core" ] &&
    [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    return
  fi
  command -v npm >/dev/null || die "npm not found: install Node.js 18+ with npm (fun validates template.yaml)"
  say "installing @alicloud/fun and playwright-core into node_modules (npm ci)"
  (cd "$ROOT" && npm ci --loglevel=error) || die "npm ci failed"
  echo "$want" > "$stamp"
}

# Builds the workspace binaries once, in the shared profile.
# Extra arguments go to cargo: scripts/test passes --tests so the test build that
# follows finds everything built (tests/Cargo.toml keeps the features of both alike).
build_bins() {
  say "building (cargo build --profile $PROFILE${1:+ $*})"
  (cd "$ROOT" && cargo build --profile "$PROFILE" --workspace --bins "$@") || die "build failed"
}

# The Chromium the browser tests drive: CRR_CHROMIUM, else Debian's chromium.
chromium_path() {
  local c
  for c in "${CRR_CHROMIUM:-}" /usr/bin/chromium "$(command -v chromium 2>/dev/null)"; do
    if [ -n "$c" ] && [ -x "$c" ]; then echo "$c"; return 0; fi
  done
  return 1
}

cloud() { "$VENV/bin/python" "$ROOT/scripts/local_cloud.py" "$@"; }
