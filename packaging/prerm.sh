#!/bin/sh
# byoi prerm: stop the service before its files go.
set -e
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
	systemctl disable --now byoi.service || true
fi
exit 0
