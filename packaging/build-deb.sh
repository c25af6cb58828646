#!/usr/bin/env bash
# Build the Debian package from a copy of this working tree and leave it in
# dist/: dist/karajo_VERSION_all.deb.  Needs debhelper, python3-pip and
# PyPI or pip's cache (apt-get install debhelper python3-pip).
set -euo pipefail
cd "$(dirname "$0")/.."
tarball=$(packaging/make-tarball.sh)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar -xzf "$tarball" -C "$work"
source_dir=$(find "$work" -mindepth 1 -maxdepth 1 -type d)
(cd "$source_dir" && dpkg-buildpackage -us -uc -b)
cp "$work"/*.deb dist/
ls "$work"/*.deb | sed 's,.*/,dist/,'
