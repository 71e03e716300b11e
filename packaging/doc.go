// Package packaging holds byoi's system packaging (the systemd unit, the
// sysusers entry, the default settings, the Debian package's maintainer
// scripts and nfpm description) and the test that installs the .deb into a
// clean Debian root: `make package-test`.
package packaging
