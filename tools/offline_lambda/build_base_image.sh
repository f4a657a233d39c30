#!/usr/bin/env bash
# Ensure the Lambda base image that `sam local invoke` builds its emulator image FROM exists locally:
#     public.ecr.aws/lambda/python:<VERSION>-<ARCH>     (sam 1.170: samcli/local/docker/lambda_image.py)
#
# 1. Present (the real image, or our stand-in built from this exact script): nothing to do.
# 2. Else `docker pull` with a short timeout (users with registry access get the real image).
# 3. Else build an air-gapped stand-in: Debian rootfs (debootstrap, --variant=minbase, python3 + ca-certificates;
#    trixie ships Python 3.13) + awslambdaric in /var/runtime + boto3 and its dependencies in
#    /var/lang/lib/python<V>/site-packages (where the real 3.11+ images keep the runtime's SDK) + a
#    /var/runtime/bootstrap that runs awslambdaric with the handler from _HANDLER, `docker import`ed under the
#    real name with the real image's ENV / WORKDIR / ENTRYPOINT. SAM adds its emulator (/var/rapid/aws-lambda-rie) on top and uses that as the
#    entrypoint; the emulator starts /var/runtime/bootstrap.
#
# The stand-in carries the label $LABEL=<hash of this script + its settings>; a changed script rebuilds it, and
# the images SAM derived from the old one (`...python:<V>-rapid-<ARCH>`, `samcli/lambda-python:<V>-<ARCH>-*`)
# are deleted so SAM rebuilds them FROM the new base.
#
# Caches (under ${XDG_CACHE_HOME:-~/.cache}/spot-handler/offline_lambda): the .debs debootstrap fetched, and the
# finished debootstrap rootfs tarball; with them a rebuild needs no network for Debian and takes seconds.
#
# Usage: build_base_image.sh [--version 3.13] [--force] [--no-cache] [--no-pull]
# Env:   OFFLINE_LAMBDA_MIRROR (Debian mirror URL; default: the host's apt sources), OFFLINE_LAMBDA_SUITE (trixie),
#        OFFLINE_LAMBDA_CACHE (cache dir), OFFLINE_LAMBDA_PULL_TIMEOUT (seconds, 20), PIP_PYTHON (host python used
#        to run pip, default python3).
# Needs root (debootstrap, chroot) and a running Docker engine (see ensure_docker.sh).
set -euo pipefail

PY_VERSION="3.13"
FORCE=0
NO_CACHE=0
NO_PULL=0
while [ $# -gt 0 ]; do
    case "$1" in
        --version) PY_VERSION="$2"; shift 2 ;;
        --force) FORCE=1; shift ;;
        --no-cache) NO_CACHE=1; shift ;;
        --no-pull) NO_PULL=1; shift ;;
        -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done

# --- settings (all of them feed the input hash) -------------------------------------------------------------------
SUITE="${OFFLINE_LAMBDA_SUITE:-trixie}"
DEB_PACKAGES="python3,ca-certificates"
# The runtime interface client in /var/runtime, like the real image. Pinned for reproducibility.
RUNTIME_PACKAGES=(awslambdaric==4.2.2)
# The runtime's SDK, in /var/lang/lib/python<V>/site-packages: the real python3.11+ images keep it there, ahead of
# /var/runtime on sys.path (AWS Lambda developer guide, "Deploy Python Lambda functions with container images").
# AWS does not publish which version a runtime carries (it depends on the runtime release and the Region, and Lambda
# updates it over time). This is an old one on purpose: the release of 2024-11-13, the eve of the python3.13
# runtime's launch (wheels built that day or before), two years of releases behind the dev pins, so the e2e suite
# shows the layer, which no longer brings an SDK of its own, works on the SDK a python3.13 function may really get.
SDK_PACKAGES=(boto3==1.35.60 botocore==1.35.60 s3transfer==0.10.3 jmespath==1.0.1 python-dateutil==2.9.0.post0
    six==1.16.0 urllib3==2.2.3)

case "$(uname -m)" in
    x86_64) ARCH=x86_64; DEB_ARCH=amd64; PIP_PLATFORMS=(manylinux_2_28_x86_64 manylinux2014_x86_64 manylinux1_x86_64 linux_x86_64) ;;
    aarch64) ARCH=arm64; DEB_ARCH=arm64; PIP_PLATFORMS=(manylinux_2_28_aarch64 manylinux2014_aarch64 linux_aarch64) ;;
    *) echo "build_base_image: unsupported host architecture $(uname -m)" >&2; exit 1 ;;
esac
IMAGE="public.ecr.aws/lambda/python:${PY_VERSION}-${ARCH}"
LABEL="org.spot-interruption-handler.offline-lambda.inputs"
CACHE="${OFFLINE_LAMBDA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/spot-handler/offline_lambda}"
PULL_TIMEOUT="${OFFLINE_LAMBDA_PULL_TIMEOUT:-20}"

say() { printf 'build_base_image: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

SELF="$(readlink -f "$0")"
INPUTS_HASH="$( { cat "$SELF"; echo "$PY_VERSION $SUITE $DEB_PACKAGES ${RUNTIME_PACKAGES[*]} ${SDK_PACKAGES[*]} $ARCH"; } | sha256sum | cut -c1-16)"
DEBOOTSTRAP_HASH="$(echo "$SUITE $DEB_PACKAGES $DEB_ARCH minbase v1" | sha256sum | cut -c1-12)"

command -v docker >/dev/null && docker info >/dev/null 2>&1 || die "no Docker engine answers; run ensure_docker.sh first."

# --- 1. present? ---------------------------------------------------------------------------------------------------
image_label() { docker image inspect --format "{{ index .Config.Labels \"$LABEL\" }}" "$IMAGE" 2>/dev/null; }
if [ "$FORCE" -eq 0 ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
    have="$(image_label || true)"
    if [ -z "$have" ] || [ "$have" = "<no value>" ]; then
        say "$IMAGE is present (not built by this script: the real image); nothing to do."
        exit 0
    fi
    if [ "$have" = "$INPUTS_HASH" ]; then
        say "$IMAGE is present and current (stand-in, inputs $INPUTS_HASH); nothing to do."
        exit 0
    fi
    say "$IMAGE is a stand-in built from other inputs ($have != $INPUTS_HASH): rebuilding."
fi

# --- 2. pull -------------------------------------------------------------------------------------------------------
if [ "$FORCE" -eq 0 ] && [ "$NO_PULL" -eq 0 ]; then
    say "trying: docker pull $IMAGE (timeout ${PULL_TIMEOUT}s)..."
    if timeout "$PULL_TIMEOUT" docker pull -q "$IMAGE" >/dev/null 2>&1; then
        say "pulled the real $IMAGE."
        exit 0
    fi
    say "pull failed (no registry?): building the air-gapped stand-in."
fi

# --- 3. build the stand-in -----------------------------------------------------------------------------------------
[ "$(id -u)" -eq 0 ] || die "building the stand-in needs root (debootstrap/chroot)."
mkdir -p "$CACHE/debs"
exec 9>"$CACHE/build.lock"
flock 9   # serialise concurrent builds
if [ "$FORCE" -eq 0 ] && [ "$(image_label || true)" = "$INPUTS_HASH" ]; then
    say "$IMAGE was built by a concurrent run meanwhile; nothing to do."
    exit 0
fi

host_mirror() {
    # The host's Debian mirror: the apt source whose suite is the host's codename (deb822 .sources or one-line).
    python3 - <<'EOF'
import glob, re
codename = ""
for line in open("/etc/os-release"):
    if line.startswith("VERSION_CODENAME="):
        codename = line.split("=", 1)[1].strip().strip('"')
found = []
for path in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")):
    try:
        lines = open(path).read().splitlines()
    except OSError:
        continue
    for line in lines:
        line = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()
        if len(line) >= 3 and line[0] == "deb":
            found.append((line[1], line[2:3]))
for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
    for stanza in re.split(r"\n\s*\n", open(path).read()):
        fields = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            key, value = line.split(":", 1)
            fields[key.strip().lower()] = value.split()
        if "deb" in fields.get("types", []) and fields.get("enabled", ["yes"])[0] != "no":
            for uri in fields.get("uris", []):
                found.append((uri, fields.get("suites", [])))
for uri, suites in found:
    if codename in suites:
        print(uri.rstrip("/"))
        break
EOF
}

ROOTFS_TAR="$CACHE/rootfs-$SUITE-$DEB_ARCH-$DEBOOTSTRAP_HASH.tar.gz"
WORK="$(mktemp -d /tmp/offline-lambda-build.XXXXXX)"
ROOT="$WORK/root"
cleanup() {
    for m in proc sys dev; do umount -l "$ROOT/$m" 2>/dev/null || true; done
    rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT
mkdir -p "$ROOT"

t0=$(date +%s)
if [ "$NO_CACHE" -eq 0 ] && [ -s "$ROOTFS_TAR" ]; then
    say "unpacking cached Debian $SUITE rootfs ($ROOTFS_TAR)..."
    tar -C "$ROOT" --numeric-owner -xzf "$ROOTFS_TAR"
else
    command -v debootstrap >/dev/null 2>&1 || {
        say "installing debootstrap (apt-get)..."
        # Refresh the package lists only when the install fails with the ones the machine has.
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q debootstrap >/dev/null 2>&1 || {
            apt-get -o DPkg::Lock::Timeout=300 update -q >/dev/null 2>&1 || true
            DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q debootstrap >/dev/null ||
                die "apt-get install debootstrap failed."
        }
    }
    [ -e "/usr/share/debootstrap/scripts/$SUITE" ] || die "this debootstrap does not know suite '$SUITE'."
    MIRROR="${OFFLINE_LAMBDA_MIRROR:-$(host_mirror)}"
    [ -n "$MIRROR" ] || die "could not read a Debian mirror from the host's apt sources; set OFFLINE_LAMBDA_MIRROR."
    cache_opt=(--cache-dir="$CACHE/debs")
    if [ "$NO_CACHE" -eq 1 ]; then cache_opt=(); fi
    say "debootstrap --variant=minbase $SUITE ($DEB_ARCH) from the host's mirror (log: $WORK/debootstrap.log)..."
    if ! debootstrap --variant=minbase --arch="$DEB_ARCH" --include="$DEB_PACKAGES" "${cache_opt[@]}" \
            "$SUITE" "$ROOT" "$MIRROR" >"$WORK/debootstrap.log" 2>&1; then
        tail -n 30 "$WORK/debootstrap.log" >&2
        cp "$WORK/debootstrap.log" /tmp/offline-lambda-debootstrap.log || true
        die "debootstrap failed (log copied to /tmp/offline-lambda-debootstrap.log)."
    fi
    # Slim it: no apt lists/caches, docs, man pages, locales (the image is for running one function).
    rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/cache/apt/* "$ROOT"/var/cache/debconf/*-old \
        "$ROOT"/usr/share/doc/* "$ROOT"/usr/share/man/* "$ROOT"/usr/share/info/* "$ROOT"/usr/share/locale/* \
        "$ROOT"/var/log/*.log "$ROOT"/var/log/apt/* "$ROOT"/debootstrap
    find "$ROOT/dev" -mindepth 1 -delete 2>/dev/null || true
    say "debootstrap done in $(( $(date +%s) - t0 ))s; caching the rootfs as $ROOTFS_TAR"
    tar -C "$ROOT" --numeric-owner -czf "$ROOTFS_TAR.tmp" . && mv "$ROOTFS_TAR.tmp" "$ROOTFS_TAR"
fi

PY_BIN="/usr/bin/python${PY_VERSION}"
[ -x "$ROOT$PY_BIN" ] || die "$SUITE has no python${PY_VERSION} (found: $(ls "$ROOT"/usr/bin/python3.* 2>/dev/null | xargs -n1 basename | tr '\n' ' '))."

# Runtime packages: the host's pip, resolving wheels for the image's interpreter and platform.
SDK_DIR="/var/lang/lib/python${PY_VERSION}/site-packages"
plat_args=()
for p in "${PIP_PLATFORMS[@]}"; do plat_args+=(--platform "$p"); done
pip_target() {  # DIR PACKAGES...
    local dir="$1"; shift
    say "pip install --target $dir: $*"
    "${PIP_PYTHON:-python3}" -m pip install -q --disable-pip-version-check --no-warn-script-location \
        --target "$ROOT$dir" --python-version "$PY_VERSION" --implementation cp --abi "cp${PY_VERSION/./}" \
        "${plat_args[@]}" --only-binary=:all: --no-compile "$@" >"$WORK/pip.log" 2>&1 ||
        { grep -v "^WARNING: Location" "$WORK/pip.log" | tail -n 20 >&2; die "pip install into $dir failed."; }
    rm -rf "$ROOT$dir/bin"
}
pip_target /var/runtime "${RUNTIME_PACKAGES[@]}"
pip_target "$SDK_DIR" "${SDK_PACKAGES[@]}"
mkdir -p "$ROOT/var/task" "$ROOT/opt" "$ROOT/var/lang/bin" "$ROOT/var/rapid"
ln -sfn "$PY_BIN" "$ROOT/var/lang/bin/python${PY_VERSION}"
ln -sfn "python${PY_VERSION}" "$ROOT/var/lang/bin/python3"
ln -sfn "python${PY_VERSION}" "$ROOT/var/lang/bin/python"

cat >"$ROOT/var/runtime/bootstrap.py" <<'EOF'
"""Stand-in for the Lambda python runtime's bootstrap: start awslambdaric with the function's handler."""
import os
import sys

task_root = os.environ.setdefault("LAMBDA_TASK_ROOT", "/var/task")
# Module search order of the real runtime: function code, layers, the runtime's packages (its SDK), its client.
ver = "python%d.%d" % sys.version_info[:2]
front = [task_root, "/opt/python/lib/%s/site-packages" % ver, "/opt/python", "/var/lang/lib/%s/site-packages" % ver]
front.append("/var/runtime")
sys.path[:] = front + [p for p in sys.path if p not in front and p != os.path.dirname(__file__)]

handler = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("_HANDLER", "")
if not handler:
    sys.exit("bootstrap: no handler (_HANDLER is empty)")
os.chdir(task_root)

from awslambdaric.__main__ import main  # noqa: E402  (awslambdaric 4.x: main(argv) is the stable entry point)

try:
    main([sys.argv[0], handler])
except RuntimeError as exc:
    # The emulator stopped while the runtime waited for the next event (end of a `sam local invoke`): not an error.
    if "Failed to get next" in str(exc):
        sys.exit(0)
    raise
EOF
cat >"$ROOT/var/runtime/bootstrap" <<EOF
#!/bin/sh
# Started by the Lambda runtime interface emulator (first of /var/task/bootstrap, /opt/bootstrap, this).
exec $PY_BIN /var/runtime/bootstrap.py "\$@"
EOF
cat >"$ROOT/lambda-entrypoint.sh" <<'EOF'
#!/bin/sh
# Like the real image's entrypoint: outside Lambda, run the function under the runtime interface emulator.
if [ -z "${AWS_LAMBDA_RUNTIME_API:-}" ]; then
    for rie in /usr/local/bin/aws-lambda-rie /var/rapid/aws-lambda-rie; do
        [ -x "$rie" ] && exec "$rie" /var/runtime/bootstrap "$@"
    done
fi
exec /var/runtime/bootstrap "$@"
EOF
chmod 0755 "$ROOT/var/runtime/bootstrap" "$ROOT/lambda-entrypoint.sh"

# Byte-compile the runtime packages inside the rootfs, as the real image ships them (each `sam local invoke` is a
# fresh container: a module without a .pyc is compiled at every cold start, which would be no runtime's behaviour).
chroot "$ROOT" "$PY_BIN" -m compileall -q /var/runtime "$SDK_DIR" >/dev/null 2>&1 ||
    say "warning: compileall failed (slower cold starts)."

LANG_ENV="C.UTF-8"
say "docker import -> $IMAGE"
old_id="$(docker image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)"
tar -C "$ROOT" --numeric-owner -c . | docker import \
    --change "ENV LANG=$LANG_ENV" \
    --change "ENV TZ=:/etc/localtime" \
    --change "ENV PATH=/var/lang/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    --change "ENV LD_LIBRARY_PATH=/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib" \
    --change "ENV LAMBDA_TASK_ROOT=/var/task" \
    --change "ENV LAMBDA_RUNTIME_DIR=/var/runtime" \
    --change "ENV PYTHONPATH=/var/task:/opt/python/lib/python${PY_VERSION}/site-packages:/opt/python:$SDK_DIR:/var/runtime" \
    --change "WORKDIR /var/task" \
    --change 'ENTRYPOINT ["/lambda-entrypoint.sh"]' \
    --change "LABEL $LABEL=$INPUTS_HASH" \
    --message "air-gapped stand-in for $IMAGE (Debian $SUITE, tools/offline_lambda/build_base_image.sh)" \
    - "$IMAGE" >/dev/null

# Delete images SAM derived from the previous base, so it rebuilds them FROM this one.
stale="$(docker images --format '{{.Repository}}:{{.Tag}}' | grep -E \
    "^(public\.ecr\.aws/lambda/python:${PY_VERSION//./\\.}-.*rapid.*|samcli/lambda-python:${PY_VERSION//./\\.}-${ARCH}-.*)$" || true)"
if [ -n "$stale" ]; then
    say "removing derived images: $(echo "$stale" | tr '\n' ' ')"
    # shellcheck disable=SC2086
    docker rmi -f $stale >/dev/null 2>&1 || say "warning: could not remove some derived images."
fi
if [ -n "$old_id" ] && [ "$old_id" != "$(docker image inspect --format '{{.Id}}' "$IMAGE")" ]; then
    docker rmi "$old_id" >/dev/null 2>&1 || true   # the old stand-in, now untagged (kept if still used)
fi
say "built $IMAGE (inputs $INPUTS_HASH, $(docker image inspect --format '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1/1e6}')) in $(( $(date +%s) - t0 ))s."
