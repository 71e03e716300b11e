package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/byoi/byoi/initramfs/build"
)

// initramfsCommand is `byoi initramfs build`: pack the installer initramfs.
func initramfsCommand() *cli.Command {
	return &cli.Command{
		Name:  "initramfs",
		Usage: "build the installer initramfs served to machines",
		Subcommands: []*cli.Command{{
			Name:  "build",
			Usage: "pack byoi-agent (as /init), kernel modules, firmware and a CA bundle into a cpio archive",
			UsageText: "byoi initramfs build --agent bin/byoi-agent --modules-dir /lib/modules/6.1.0-56-amd64 " +
				"--output initrd.img [--compression gzip|zstd|none] [--module virtio_net …] [--firmware-dir /lib/firmware]",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "agent", Usage: "static byoi-agent binary, installed as /init", Required: true},
				&cli.StringFlag{Name: "modules-dir", Usage: "kernel module folder (/lib/modules/<release>); empty: no modules"},
				&cli.StringSliceFlag{Name: "module", Usage: "module to include with its dependencies (repeatable; default: " +
					"virtio, common NICs and disk controllers)"},
				&cli.StringFlag{Name: "firmware-dir", Usage: "folder of firmware files the modules declare (e.g. /lib/firmware)"},
				&cli.StringFlag{Name: "ca-bundle", Usage: "PEM CA bundle for https image URLs (default " + build.DefaultCABundle +
					" when present; \"-\" for none)"},
				&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "initramfs file to write", Required: true},
				&cli.StringFlag{Name: "compression", Value: build.Gzip, Usage: "gzip, zstd or none"},
			},
			Action: func(c *cli.Context) error {
				rep, err := build.Build(build.Options{
					AgentBinary: c.String("agent"),
					ModulesDir:  c.String("modules-dir"),
					Modules:     c.StringSlice("module"),
					FirmwareDir: c.String("firmware-dir"),
					CABundle:    c.String("ca-bundle"),
					Output:      c.String("output"),
					Compression: c.String("compression"),
				})
				if err != nil {
					return err
				}
				w := c.App.Writer
				fmt.Fprintf(w, "wrote %s: %d files, %.1f MiB (%.1f MiB uncompressed, %s)\n", rep.Output, rep.Files,
					float64(rep.Bytes)/(1<<20), float64(rep.RawBytes)/(1<<20), c.String("compression"))
				if rep.KernelRelease != "" {
					fmt.Fprintf(w, "kernel %s: %d modules: %s\n", rep.KernelRelease, len(rep.Modules), strings.Join(rep.Modules, " "))
				}
				if len(rep.Builtin) > 0 {
					fmt.Fprintf(w, "built into the kernel: %s\n", strings.Join(rep.Builtin, " "))
				}
				if len(rep.Firmware)+len(rep.MissingFirmware) > 0 {
					fmt.Fprintf(w, "firmware: %d included, %d declared but not found\n", len(rep.Firmware), len(rep.MissingFirmware))
				}
				return nil
			},
		}, initramfsLayerCommand()},
	}
}

// initramfsLayerCommand is `byoi initramfs layer --name NAME`: pack an extra
// initramfs layer (tools, rescue) from unpacked Debian packages.
func initramfsLayerCommand() *cli.Command {
	return &cli.Command{
		Name:  "layer",
		Usage: "pack an extra initrd layer (" + strings.Join(build.LayerNames(), ", ") + ") from unpacked Debian packages",
		UsageText: "byoi initramfs layer --name tools --root third_party/debian/root " +
			"--modules-dir third_party/linux/lib/modules/6.1.0-50-amd64 --output tools.img",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "name", Usage: "the layer: " + strings.Join(build.LayerNames(), ", "), Required: true},
			&cli.StringFlag{Name: "root", Usage: "tree of unpacked Debian packages (scripts/fetch-debian.sh DEST debian: DEST/debian/root)", Required: true},
			&cli.StringFlag{Name: "modules-dir", Usage: "kernel module folder, as for `initramfs build`"},
			&cli.StringSliceFlag{Name: "base-module", Usage: "modules the installer initrd holds, if not the default list (repeatable)"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "layer file to write", Required: true},
			&cli.StringFlag{Name: "compression", Value: build.Gzip, Usage: "gzip, zstd or none"},
		},
		Action: func(c *cli.Context) error {
			rep, err := build.BuildLayer(build.LayerOptions{
				Name:        c.String("name"),
				Root:        c.String("root"),
				ModulesDir:  c.String("modules-dir"),
				BaseModules: c.StringSlice("base-module"),
				Output:      c.String("output"),
				Compression: c.String("compression"),
			})
			if err != nil {
				return err
			}
			w := c.App.Writer
			fmt.Fprintf(w, "wrote %s: %d files, %.1f MiB (%.1f MiB uncompressed, %s), %d libraries\n", rep.Output, rep.Files,
				float64(rep.Bytes)/(1<<20), float64(rep.RawBytes)/(1<<20), c.String("compression"), len(rep.Libraries))
			if len(rep.Modules) > 0 {
				fmt.Fprintf(w, "kernel %s: %d modules: %s\n", rep.KernelRelease, len(rep.Modules), strings.Join(rep.Modules, " "))
			}
			return nil
		},
	}
}
