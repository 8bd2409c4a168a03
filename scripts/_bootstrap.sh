# Shared by the scripts in this folder: a virtual environment with genvault installed.
# Usage: extras=dev source scripts/_bootstrap.sh   (extras: optional dependency groups)
# (Not an argument: a sourced file sees the calling script's own arguments.)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
extras="${extras:-}"
stamp=".venv/.genvault-installed${extras:+-$extras}"
# Reinstall only when the project's dependencies changed.
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".${extras:+[$extras]}"
  touch "$stamp"
fi
export PATH="$root/.venv/bin:$PATH"
