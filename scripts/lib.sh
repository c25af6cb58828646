# Shared by the scripts in this folder: a virtual environment in .venv with
# karajo installed from this checkout, refreshed when pyproject.toml changes.

ensure_venv() {
    local extras="$1"
    local python="${PYTHON:-python3}"
    if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo "karajo needs Python 3.11 or newer as $python (set PYTHON=/path/to/python3)" >&2
        exit 1
    fi
    local version
    version=$(sha256sum pyproject.toml | cut -c1-16)
    local stamp=".venv/.installed-$version-${extras:-run}"
    # The test extras include everything the example's run needs.
    if [ -f "$stamp" ] || [ -f ".venv/.installed-$version-test" ]; then
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
    find .venv -maxdepth 1 -name '.installed-*' ! -name ".installed-$version-*" -delete
    touch "$stamp"
}
