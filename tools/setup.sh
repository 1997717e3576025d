#!/usr/bin/env bash
# One setup path for a fresh machine (called by the Makefile targets).
#
#   bash tools/setup.sh            # .venv with torch (CPU) + the package in editable mode + test extras
#   bash tools/setup.sh --browser  # ... and Debian's chromium for the browser tests (elsewhere: says how)
#
# Idempotent: a second run checks a stamp (hash of pyproject.toml) and returns in about a second.
# It NEVER downloads a browser of its own (no `playwright install`) and never asks pip for an
# unpinned torch first (that would pull a multi-GB CUDA build).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT="$(pwd)"
VENV="${HALIGN_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
TORCH_PIN="2.13.0"
WANT_BROWSER=0
for arg in "$@"; do
    case "$arg" in
        --browser) WANT_BROWSER=1 ;;
        *) echo "setup.sh: unknown option $arg (use --browser)" >&2; exit 2 ;;
    esac
done

say() { printf '[setup] %s\n' "$*"; }

# 1. the virtual environment ------------------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV with $($PYTHON --version 2>&1)"
    "$PYTHON" -m venv "$VENV"
fi
VPY="$VENV/bin/python"
PIP=("$VPY" -m pip --disable-pip-version-check)

# A stamp (hash of pyproject.toml + this script) marks a completed install; with it, only a cheap
# check that the modules are still findable runs (no imports: torch alone takes seconds).
STAMP="$VENV/.halign_setup_stamp"
WANT_STAMP="$(cat pyproject.toml tools/setup.sh | "$VPY" -c 'import hashlib,sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())')"
FIND='import importlib.util as u, sys; sys.exit(0 if all(u.find_spec(m) for m in sys.argv[1:]) else 1)'
UP_TO_DATE=0
if [ "$(cat "$STAMP" 2>/dev/null || true)" = "$WANT_STAMP" ] \
   && "$VPY" -c "$FIND" torch halign_widgets papermill nbval playwright pytest >/dev/null 2>&1; then
    UP_TO_DATE=1
fi

# 2. torch, CPU build, pinned before anything can ask for it unpinned --------------------------
#    The PyTorch CPU wheel index first where it answers (on PyPI, torch for Linux x86-64 is the
#    multi-GB CUDA build); then the configured index (on machines that mirror the CPU build, such
#    as CI); PyPI's unpinned-range torch only as a last resort.
CPU_INDEX="https://download.pytorch.org/whl/cpu"
cpu_index_answers() {
    "$VPY" - "$CPU_INDEX" <<'PY' >/dev/null 2>&1
import sys, urllib.request
urllib.request.urlopen(sys.argv[1] + "/torch/", timeout=5).close()
PY
}
if [ "$UP_TO_DATE" = 0 ] && ! "$VPY" -c "import torch" >/dev/null 2>&1; then
    installed=0
    if cpu_index_answers; then
        say "installing torch==$TORCH_PIN (CPU) from the PyTorch CPU wheel index"
        "${PIP[@]}" install "torch==$TORCH_PIN" --index-url "$CPU_INDEX" --extra-index-url https://pypi.org/simple \
            && installed=1
    fi
    if [ "$installed" = 0 ]; then
        say "installing torch==$TORCH_PIN from the configured index"
        if ! "${PIP[@]}" install "torch==$TORCH_PIN"; then
            say "torch==$TORCH_PIN is not available here; falling back to PyPI's torch in the supported range"
            "${PIP[@]}" install 'torch>=2.2,<3'
        fi
    fi
fi

# 3. the package (editable) + test extras; skipped when pyproject.toml did not change ----------
if [ "$UP_TO_DATE" = 0 ]; then
    say "installing the package in editable mode with its test extras"
    "${PIP[@]}" install --quiet --progress-bar off -e ".[test]"
    echo "$WANT_STAMP" > "$STAMP"
fi

# 4. JupyterLab settings for this venv: no news toast, notebook windowing 'defer' (widgets stay
#    rendered when scrolled out of view). Written once; a user's own file is never overwritten.
SETTINGS_DIR="$VENV/share/jupyter/lab/settings"
if [ ! -f "$SETTINGS_DIR/overrides.json" ]; then
    "$VPY" "$ROOT/tools/lab_overrides.py" "$SETTINGS_DIR"
fi

# 5. git filter: notebooks are committed without outputs even when a teacher saves a run -------
#    (.gitattributes names the filter; nb_tool's clean-filter keeps only nbval-checked outputs)
if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # git runs the filter from the top of the working tree: a venv inside it is named relatively,
    # so every worktree of the repository (they share one config) uses its own .venv
    FILTER_PY="${VPY#"$ROOT"/}"
    git -C "$ROOT" config filter.nbclean.clean "\"$FILTER_PY\" tools/nb_tool.py clean-filter"
    git -C "$ROOT" config filter.nbclean.smudge cat
fi

# 6. a browser for the browser tests: Debian's chromium ----------------------------------------
if [ "$WANT_BROWSER" = 1 ] && [ ! -x /usr/bin/chromium ] && [ -z "${HALIGN_CHROMIUM:-}" ]; then
    if command -v apt-get >/dev/null 2>&1; then
        SUDO=""
        if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
        say "installing Debian's chromium (apt-get)"
        $SUDO apt-get update -q
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core
    else
        say "no apt-get here: install Chromium or Chrome yourself (macOS: brew install --cask chromium) and"
        say "point the browser tests at it with HALIGN_CHROMIUM=/path/to/chromium; without one they are skipped"
        say "locally (and fail on CI); this script never downloads a browser of its own."
    fi
fi

say "ready: $VPY"
