#!/usr/bin/env bash
# Make sure a Docker engine answers `docker info`.
#
# Air-gapped path: if no engine answers, install Debian's `docker.io` (engine, containerd, runc) with apt-get when
# `dockerd` is missing, start `dockerd` in the background (log under /tmp) and wait, bounded, until it answers.
# Idempotent: exits 0 at once when `docker info` already works.
#
# Env:
#   DOCKERD_LOG          dockerd log file            (default /tmp/dockerd.log)
#   DOCKERD_WAIT_SECONDS how long to wait for dockerd (default 60)
#   DOCKERD_EXTRA_ARGS   extra dockerd arguments     (default none)
#
# Note on the client: Debian's docker.io ships /usr/bin/docker (20.10). A newer CLI may already be installed as
# /usr/local/bin/docker (not owned by any package, so dpkg does not conflict with it). /usr/local/bin comes first on
# PATH, so that CLI keeps being used; it negotiates the API version down to the 20.10 engine. docker.io only
# conflicts with Docker's own docker-ce / docker-ce-cli packages: if those are installed we stop and say so.
set -euo pipefail

LOG="${DOCKERD_LOG:-/tmp/dockerd.log}"
WAIT="${DOCKERD_WAIT_SECONDS:-60}"

say() { printf 'ensure_docker: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

docker_ok() { command -v docker >/dev/null 2>&1 && timeout 20 docker info >/dev/null 2>&1; }

if docker_ok; then
    say "docker engine is running ($(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'))."
    exit 0
fi

[ "$(id -u)" -eq 0 ] || die "no Docker engine answers and this is not root: start Docker yourself (or run as root)."

if ! command -v dockerd >/dev/null 2>&1; then
    if dpkg-query -W -f='${Status}' docker-ce 2>/dev/null | grep -q 'ok installed' ||
       dpkg-query -W -f='${Status}' docker-ce-cli 2>/dev/null | grep -q 'ok installed'; then
        die "docker-ce/docker-ce-cli is installed but dockerd is missing; Debian's docker.io conflicts with them. Install docker-ce (Docker's repo) or remove docker-ce-cli first."
    fi
    command -v apt-get >/dev/null 2>&1 || die "dockerd is missing and apt-get is not available."
    say "dockerd not found: installing Debian package docker.io (apt-get, non-interactive)..."
    export DEBIAN_FRONTEND=noninteractive
    # Refresh the package lists only when they are missing or the install fails with them.
    if ! apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends docker.io >/tmp/ensure_docker.apt.log 2>&1; then
        apt-get -o DPkg::Lock::Timeout=300 update -q >>/tmp/ensure_docker.apt.log 2>&1 || true
        apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends docker.io >>/tmp/ensure_docker.apt.log 2>&1 ||
            die "apt-get install docker.io failed; see /tmp/ensure_docker.apt.log"
    fi
    command -v dockerd >/dev/null 2>&1 || die "docker.io installed but dockerd is still not on PATH."
    say "installed $(dockerd --version 2>/dev/null)."
fi

command -v docker >/dev/null 2>&1 || die "no docker client on PATH (docker.io ships /usr/bin/docker)."

if pgrep -x dockerd >/dev/null 2>&1; then
    say "dockerd is already running (pid $(pgrep -x dockerd | head -1)); waiting for it to answer..."
else
    say "starting dockerd in the background (log: $LOG)..."
    # shellcheck disable=SC2086
    nohup setsid dockerd ${DOCKERD_EXTRA_ARGS:-} >>"$LOG" 2>&1 </dev/null &
fi

for ((i = 0; i < WAIT; i++)); do
    if docker_ok; then
        say "docker engine is up after ${i}s ($(docker version --format '{{.Server.Version}}' 2>/dev/null))."
        exit 0
    fi
    if ! pgrep -x dockerd >/dev/null 2>&1; then
        tail -n 20 "$LOG" >&2 || true
        die "dockerd exited; last log lines above (full log: $LOG)."
    fi
    sleep 1
done
tail -n 20 "$LOG" >&2 || true
die "dockerd did not answer within ${WAIT}s (log: $LOG)."
