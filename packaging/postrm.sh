#!/bin/sh
# byoi postrm: the state (/var/lib/byoi: machines, tasks, credentials) is
# kept even on purge; remove it by hand if it is really not needed.
set -e
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
fi
if [ "$1" = purge ] && [ -d /var/lib/byoi ]; then
	echo "byoi: /var/lib/byoi (the state database and keys) is kept; remove it by hand if you no longer need it" >&2
fi
exit 0
