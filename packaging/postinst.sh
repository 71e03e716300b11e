#!/bin/sh
# byoi postinst: the service user, its state dir, then start (first
# install) or restart (upgrade) the service where systemd runs.
set -e
if ! getent passwd byoi >/dev/null; then
	if command -v systemd-sysusers >/dev/null 2>&1; then
		systemd-sysusers byoi.conf
	else
		useradd --system --user-group --home-dir /var/lib/byoi --no-create-home --shell /usr/sbin/nologin byoi
	fi
fi
install -d -o byoi -g byoi -m 0700 /var/lib/byoi
chown root:byoi /etc/byoi/config.yaml
chmod 0640 /etc/byoi/config.yaml
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
	if [ -z "$2" ]; then
		systemctl enable byoi.service || true
		systemctl start byoi.service ||
			echo "byoi: the service did not start: see journalctl -u byoi, set the interface in /etc/byoi/config.yaml" >&2
	else
		systemctl try-restart byoi.service || true
	fi
fi
exit 0
