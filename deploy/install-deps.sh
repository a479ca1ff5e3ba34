#!/usr/bin/env bash
# Installs what Ferry needs to build, test and run its local stack on Debian bookworm.
# Idempotent and quick when everything is there: apt-get runs only for missing packages.
# Java artifacts (Kafka, S3Proxy) are fetched by Maven when the stack first starts.
set -euo pipefail

packages=(
    # build
    build-essential cmake pkg-config clang-format
    # the fuzz targets (make fuzz): clang, libFuzzer's runtime, llvm-symbolizer for the traces
    clang libclang-rt-14-dev llvm-14
    protobuf-c-compiler libprotobuf-c-dev
    librdkafka-dev libpq-dev libcurl4-openssl-dev libhiredis-dev libcunit1-dev
    libjansson-dev libxml2-dev libssl-dev libmicrohttpd-dev
    # the console's tokens are stored as Argon2id hashes (libsodium)
    libsodium-dev
    # the local stack of real services
    openjdk-17-jre-headless maven
    redis-server postgresql-15 postgresql-client-15
    pdns-server pdns-backend-sqlite3 sqlite3 supervisor
    # clients the stack and the tests use to check services
    curl kcat dnsutils procps iproute2 python3
    # the console's browser test (headless Chromium driven by WebDriver) and the metrics test
    chromium chromium-driver python3-selenium prometheus
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#packages[@]} packages present"
    exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
# The packaged services must not start themselves: the stack starts its own on its own ports.
policy_added=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod +x /usr/sbin/policy-rc.d
    policy_added=1
fi
trap '[ -n "$policy_added" ] && $sudo rm -f /usr/sbin/policy-rc.d' EXIT
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
