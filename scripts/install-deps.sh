#!/bin/sh
# Install the Debian packages the demo and the tests need, only when missing.
set -eu
need=""
command -v podman >/dev/null 2>&1 || need="$need podman"
command -v buildah >/dev/null 2>&1 || need="$need buildah"
command -v skopeo >/dev/null 2>&1 || need="$need skopeo"
command -v docker-registry >/dev/null 2>&1 || need="$need docker-registry"
command -v ip >/dev/null 2>&1 || need="$need iproute2"
[ -x /usr/bin/time ] || need="$need time"
command -v node >/dev/null 2>&1 || need="$need nodejs"
command -v chromium >/dev/null 2>&1 || need="$need chromium"
if [ -n "$need" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "missing:$need (run as root, or install them)" >&2
		exit 1
	fi
	echo "installing:$need"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq $need uidmap >/dev/null
fi
