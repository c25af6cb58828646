#!/usr/bin/env bash
# Write dist/karajo-VERSION.tar.gz, a release tarball of this working tree
# (with uncommitted changes, unlike `git archive`), its one folder named
# karajo-VERSION/.  Local state stays out: the virtual environment, builds,
# caches and the example's run-time files.  The same tree gives the same
# bytes: sorted names, owners fixed, every time that of the last commit (or
# $SOURCE_DATE_EPOCH), no gzip time stamp.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' karajo/__init__.py)
name="karajo-$version"
stamp=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
mkdir -p dist
tar --create --file=- \
    --exclude-vcs --exclude=./.venv --exclude=./dist --exclude=./build \
    --exclude=./examples/var --exclude=./debian/build --exclude=./tests/artifacts \
    --exclude=__pycache__ --exclude='*.pyc' --exclude='*.egg-info' \
    --exclude=.pytest_cache --exclude=.hypothesis --exclude=.mypy_cache \
    --exclude=.ruff_cache \
    --sort=name --mtime="@$stamp" --owner=0 --group=0 --numeric-owner \
    --transform="s,^\.,$name,S" . \
    | gzip -n -9 > "dist/$name.tar.gz"
echo "dist/$name.tar.gz"
