# Shared by the scripts in this folder: a virtual environment in .venv with
# karajo installed from this checkout, refreshed when pyproject.toml changes.

ensure_venv() {
    local extras="$1"
    local python="${PYTHON:-python3}"
    if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo "karajo needs Python 3.11 or newer as $python (set PYTHON=/path/to/python3)" >&2
        exit 1
    fi
    local stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)-${extras:-run}"
    if [ -f "$stamp" ]; then
        return
    fi
    if [ ! -x .venv/bin/python ]; then
        echo "creating .venv with $("$python" --version)" >&2
        "$python" -m venv .venv
    fi
    local target="."
    if [ -n "$extras" ]; then
        target=".[$extras]"
    fi
    echo "installing karajo and its dependencies into .venv" >&2
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e "$target"
    rm -f .venv/.installed-*
    touch "$stamp"
}
