// Command byoi-agent is byoi's installer, run as /init in the installer
// initramfs (build it static: CGO_ENABLED=0). See package
// github.com/byoi/byoi/initramfs/agent.
package main

import "github.com/byoi/byoi/initramfs/agent"

func main() { agent.Main() }
