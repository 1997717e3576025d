#!/usr/bin/env bash
# Start JupyterLab on the chapters, the one way `make lab` and the browser tests start it.
#
#   bash tools/lab.sh [JUPYTER LAB OPTIONS ...]
#   HALIGN_LAB_APP=notebook bash tools/lab.sh [...]     # Notebook 7 instead (`make notebook`)
#
# Serves $HALIGN_LAB_DIR (default: notebooks/) and opens chapter 00: the URL the server prints
# leads to the chapter, not to the Launcher. As root (containers, CI) JupyterLab needs
# --allow-root, added here. Reaching the lab from another machine: see the README ("The lab on a
# remote machine") — an SSH tunnel, or --ip with the token kept.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${HALIGN_VENV:-$(pwd)/.venv}"
DIR="${HALIGN_LAB_DIR:-$(pwd)/notebooks}"
START="${HALIGN_LAB_START:-00_start_here.ipynb}"
APP="${HALIGN_LAB_APP:-lab}"
case "$APP" in
    lab) ARGS=(--ServerApp.root_dir="$DIR" --LabApp.default_url="/lab/tree/$START") ;;
    notebook) ARGS=(--ServerApp.root_dir="$DIR" --JupyterNotebookApp.default_url="/notebooks/$START") ;;
    *) echo "lab.sh: HALIGN_LAB_APP must be 'lab' or 'notebook', not '$APP'" >&2; exit 2 ;;
esac
if [ "$(id -u)" = 0 ]; then ARGS+=(--allow-root); fi
exec "$VENV/bin/jupyter" "$APP" "${ARGS[@]}" "$@"
