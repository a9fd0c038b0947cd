#!/usr/bin/env bash
# Build the kfp-nlp component image from the Dockerfile: `make image` (IMAGE=REF to name it).
#
# Only what the machine forces is chosen here, and said in one line:
#   engine      Docker where a daemon answers, else podman (with scripts/containers.conf unless
#               CONTAINERS_CONF names another file);
#   base image  the Dockerfile's pinned python:3.11 slim image where its registry answers, else a
#               Python 3.11 image made here from Debian packages (debootstrap, root only);
#   torch       the PyTorch CPU index where it answers, else a local CPU wheel of the locked
#               version from a folder pip's find-links names (or TORCH_WHEEL_DIR).
# The host's CA bundle reaches pip as a build secret: it is never stored in the image.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)

VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
IMAGE=${IMAGE:-ghcr.io/kfp-nlp/kfp-nlp:${VERSION}}
DEFAULT_BASE=$(sed -n 's/^ARG BASE_IMAGE=//p' Dockerfile)
LOCAL_BASE=localhost/kfp-nlp-base:python3.11-bookworm
TORCH_INDEX=$(sed -n 's/^ARG TORCH_INDEX_URL=//p' Dockerfile)
TORCH_VERSION=$(sed -n 's/^torch==//p' requirements.lock)
HOST_CA=${HOST_CA:-/etc/ssl/certs/ca-certificates.crt}

answers() {
    # Whether a URL answers over HTTPS, trusting what this machine trusts.
    python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=10)' "$1" \
        >/dev/null 2>&1
}

die() {
    echo "make image: $*" >&2
    exit 2
}

choose_engine() {
    if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
        ENGINE=docker
        ENGINE_WHY="a Docker daemon answers"
    elif command -v podman >/dev/null; then
        ENGINE=podman
        if [ -z "${CONTAINERS_CONF:-}" ]; then
            command -v runc >/dev/null || die "podman here needs runc: apt-get install runc"
            export CONTAINERS_CONF="$PWD/scripts/containers.conf"
        fi
        ENGINE_WHY="no Docker daemon answers"
    else
        die "no container engine: start a Docker daemon, or apt-get install podman buildah runc"
    fi
}

make_debian_base() {
    # A minimal Debian with Python 3.11 and venv, like python:3.11-slim-bookworm, from packages.
    [ "$(id -u)" = 0 ] || die "making the base image needs root (debootstrap); or run: sudo make image"
    command -v debootstrap >/dev/null || die "making the base image needs debootstrap: apt-get install debootstrap"
    local rootfs
    rootfs=$(mktemp -d)
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
        bookworm "$rootfs" http://deb.debian.org/debian >/dev/null
    # Nothing of the build host stays behind: its resolver, its name, apt's downloads.
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
        "$rootfs"/etc/resolv.conf "$rootfs"/etc/hostname "$rootfs"/var/log/*
    tar -C "$rootfs" -c . | $ENGINE import --quiet --change 'CMD ["python3"]' - "$LOCAL_BASE" >/dev/null
    rm -rf "$rootfs"
}

choose_base() {
    if $ENGINE image inspect "$DEFAULT_BASE" >/dev/null 2>&1 \
        || $ENGINE pull -q "$DEFAULT_BASE" >/dev/null 2>&1; then
        BASE=$DEFAULT_BASE
        BASE_WHY="pinned default"
    elif $ENGINE image inspect "$LOCAL_BASE" >/dev/null 2>&1; then
        BASE=$LOCAL_BASE
        BASE_WHY="no registry answers; made earlier from Debian packages"
    else
        make_debian_base
        BASE=$LOCAL_BASE
        BASE_WHY="no registry answers; made now from Debian packages"
    fi
}

find_torch_wheel_dir() {
    local dirs dir
    dirs=${TORCH_WHEEL_DIR:-$(python3 -m pip config list 2>/dev/null \
        | sed -n "s/^[^=]*find-links='\(.*\)'$/\1/p")}
    for dir in $dirs; do
        dir=${dir#file://}
        if compgen -G "$dir/torch-${TORCH_VERSION}+cpu-cp311-*linux*_x86_64.whl" >/dev/null; then
            echo "$dir"
            return
        fi
    done
}

choose_torch() {
    BUILD_ARGS=()
    if answers "$TORCH_INDEX/torch/"; then
        TORCH_WHY="torch ${TORCH_VERSION} from $TORCH_INDEX"
        return
    fi
    local dir
    dir=$(find_torch_wheel_dir)
    [ -n "$dir" ] || die "$TORCH_INDEX cannot be reached and no torch-${TORCH_VERSION}+cpu wheel" \
        "was found; put one in a folder and set TORCH_WHEEL_DIR to it"
    # Only the wheel goes into the build context, not the whole folder.
    WHEELS=$(mktemp -d)
    trap 'rm -rf "$WHEELS"' EXIT
    ln "$dir"/torch-"${TORCH_VERSION}"+cpu-cp311-*linux*_x86_64.whl "$WHEELS"/ 2>/dev/null \
        || cp "$dir"/torch-"${TORCH_VERSION}"+cpu-cp311-*linux*_x86_64.whl "$WHEELS"/
    BUILD_ARGS+=(--build-arg TORCH_INDEX_URL= --build-context "torch-wheels=$WHEELS")
    TORCH_WHY="torch ${TORCH_VERSION}+cpu from the local wheel in $dir ($TORCH_INDEX unreachable)"
}

choose_engine
choose_base
choose_torch
echo "make image: $IMAGE with $ENGINE ($ENGINE_WHY); base $BASE ($BASE_WHY); $TORCH_WHY"

if [ -f "$HOST_CA" ]; then
    BUILD_ARGS+=(--secret "id=pip-ca,src=$HOST_CA")
fi
$ENGINE build --build-arg "BASE_IMAGE=$BASE" "${BUILD_ARGS[@]}" -t "$IMAGE" .
echo "make image: built $IMAGE in $(($(date +%s) - started)) s"
