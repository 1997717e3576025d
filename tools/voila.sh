#!/usr/bin/env bash
# Serve one chapter as an app page with Voilà (no code, only its text, outputs and apps): the one
# way `make voila CHAPTER=…` and the browser test (tests/browser/test_voila.py) start it.
#
#   bash tools/voila.sh CHAPTER [VOILA OPTIONS ...]      # CHAPTER: 04_causality_maps, or just 04
#
# Listens on 127.0.0.1 with a token (a fresh one is generated and printed in the URL unless you
# pass --token=…), as `make lab` does; reaching it from another machine: an SSH tunnel, as in the
# README ("The lab on a remote machine"). Voilà runs the whole chapter before the apps are live;
# progressive rendering shows each cell's output as it arrives and tracebacks are shown in the
# page (a teacher sees what failed). Voilà's own server has no root check, so, unlike JupyterLab
# (tools/lab.sh), nothing needs --allow-root here. $HALIGN_VOILA_DIR (default notebooks/) is the
# folder the chapter is taken from.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${HALIGN_VENV:-$(pwd)/.venv}"
DIR="${HALIGN_VOILA_DIR:-$(pwd)/notebooks}"
if [ $# -lt 1 ] || [ -z "$1" ]; then
    echo "voila.sh: name a chapter, e.g. make voila CHAPTER=04_causality_maps; chapters:" >&2
    (cd "$DIR" && ls *.ipynb | sed 's/\.ipynb$//; s/^/  /') >&2
    exit 2
fi
CHAPTER="${1%.ipynb}"; shift
matches=("$DIR/$CHAPTER".ipynb)
if [ ! -f "${matches[0]}" ]; then
    shopt -s nullglob
    matches=("$DIR/$CHAPTER"*.ipynb)
fi
if [ "${#matches[@]}" -ne 1 ] || [ ! -f "${matches[0]}" ]; then
    echo "voila.sh: no single chapter matches '$CHAPTER' in $DIR; chapters:" >&2
    (cd "$DIR" && ls *.ipynb | sed 's/\.ipynb$//; s/^/  /') >&2
    exit 2
fi
ARGS=(--no-browser --Voila.ip=127.0.0.1 --VoilaConfiguration.show_tracebacks=True
      --VoilaConfiguration.progressive_rendering=True)
case " $* " in
    *" --token="*|*" --Voila.token="*|*" --IdentityProvider.token="*) ;;
    *) ARGS+=(--Voila.auto_token=True) ;;
esac
exec "$VENV/bin/voila" "${matches[0]}" "${ARGS[@]}" "$@"
