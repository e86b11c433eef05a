#!/usr/bin/env bash
# Installs the system programs Parley needs from Debian's packages when they are missing:
# nats-server (JetStream broker), openssl (the tests cross-check certificates with it) and
# chromium (the web console tests).
# Nothing is downloaded from anywhere else. Without root it says exactly what to install.
set -euo pipefail
missing=()
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || missing+=(nats-server)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
# the console tests drive Debian's chromium through playwright-core (which never downloads one)
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "parley needs: ${missing[*]}; install with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing ${missing[*]} from Debian's packages" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
