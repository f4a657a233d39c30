#!/usr/bin/env bash
# Print the path of a python<VERSION> interpreter (e.g. `find_python.sh 3.13`), exit 1 if there is none.
#
# Looks, in order, at: python<VERSION> on PATH; pyenv installs `$(pyenv root)/versions/<VERSION>*` (PYENV_ROOT or
# ~/.pyenv when the pyenv command is absent); python3 / python on PATH if it is that version. Nothing is hard-coded.
# `sam build` for a pythonX.Y function needs `pythonX.Y` on PATH. Either prepend `dirname "$(find_python.sh X.Y)"`
# to PATH (that also shadows python3/pip of that dir), or use `find_python.sh --link-dir DIR X.Y`: it makes
# DIR/pythonX.Y a symlink to the interpreter found and prints DIR, so PATH="$DIR:$PATH" adds only that one name.
set -uo pipefail

LINK_DIR=""
if [ "${1:-}" = "--link-dir" ]; then
    LINK_DIR="${2:-}"
    shift 2 || true
fi
VERSION="${1:-}"
if ! [[ "$VERSION" =~ ^[0-9]+\.[0-9]+$ ]] || { [ -z "$LINK_DIR" ] && [ "${#}" -ne 1 ]; }; then
    echo "usage: $0 [--link-dir DIR] MAJOR.MINOR   (e.g. 3.13)" >&2
    exit 2
fi

is_version() { # $1: interpreter path; true if it runs and reports exactly $VERSION
    [ -x "$1" ] || return 1
    local v
    v="$("$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" || return 1
    [ "$v" = "$VERSION" ]
}

found() {
    if [ -n "$LINK_DIR" ]; then
        mkdir -p "$LINK_DIR" && ln -sfn "$1" "$LINK_DIR/python$VERSION" || exit 1
        cd "$LINK_DIR" && pwd -P
    else
        printf '%s\n' "$1"
    fi
    exit 0
}

# 1. python<VERSION> on PATH (skip pyenv shims: they may point at a version that is not installed/selected).
IFS=: read -r -a path_dirs <<<"${PATH:-}"
for d in "${path_dirs[@]}"; do
    [ -n "$d" ] || continue
    case "$d" in */shims) continue ;; esac
    c="$d/python$VERSION"
    is_version "$c" && found "$c"
done

# 2. pyenv versions folder.
root=""
if command -v pyenv >/dev/null 2>&1; then
    root="$(pyenv root 2>/dev/null)"
fi
[ -n "$root" ] || root="${PYENV_ROOT:-$HOME/.pyenv}"
if [ -d "$root/versions" ]; then
    # Newest patch release first (sort -V), e.g. 3.13.5 before 3.13.0; skip free-threaded/debug builds ("t" suffix).
    while IFS= read -r vdir; do
        c="$vdir/bin/python$VERSION"
        is_version "$c" && found "$c"
    done < <(find "$root/versions" -mindepth 1 -maxdepth 1 -name "$VERSION*" ! -name "*t" 2>/dev/null | sort -rV)
fi

# 3. Generic names on PATH.
for name in python3 python; do
    c="$(command -v "$name" 2>/dev/null)" || continue
    is_version "$c" && found "$c"
done

echo "find_python: no python$VERSION found on PATH or under ${root}/versions" >&2
exit 1
