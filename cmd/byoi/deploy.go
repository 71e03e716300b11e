package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/server/web"
	"github.com/urfave/cli/v2"
)

func deployCommand() *cli.Command {
	flags := []cli.Flag{
		&cli.StringFlag{Name: "image-url", Usage: "http(s) URL of the image (required)"},
		&cli.StringFlag{Name: "image-type", Usage: "raw or qcow2, as the content is (required)"},
		&cli.StringFlag{Name: "checksum", Usage: "TYPE:HEX, TYPE one of md5, sha1, sha256, sha512"},
		&cli.StringFlag{Name: "efi-bootloader-path", Usage: `EFI loader to boot after install, e.g. \efi\debian\grubx64.efi`},
		&cli.StringSliceFlag{Name: "header", Usage: "K:V header sent with the image download (repeatable)"},
		&cli.StringFlag{Name: "user-data", Usage: "FILE with cloud-init user-data (#cloud-config or a script)"},
		&cli.StringFlag{Name: "ssh-key", Usage: "FILE with one SSH public key"},
		&cli.StringSliceFlag{Name: "metadata", Usage: "K=V for the config drive's meta_data.json \"meta\" (repeatable)"},
		&cli.StringFlag{Name: "hostname", Usage: "hostname written to the config drive"},
		&cli.IntFlag{Name: "disk-group", Usage: "diskGroupId: which of the machine's disk rules selects the target disk"},
		&cli.BoolFlag{Name: "wait", Usage: "follow the installation until it ends (as `byoi wait`)"},
	}
	return &cli.Command{
		Name:      "deploy",
		Usage:     "install an image on a machine (it installs at its next network boot)",
		ArgsUsage: "NAME",
		Flags:     withClientFlags(append(flags, waitFlags()...)...),
		Action: clientAction(func(c *cli.Context, args []string) error {
			name, err := oneArg(c, args, "the machine name")
			if err != nil {
				return err
			}
			if err := requireFlags(c, "image-url", "image-type"); err != nil {
				return err
			}
			spec, err := specFromFlags(c)
			if err != nil {
				return err
			}
			var wait waitOptions
			if c.Bool("wait") { // checked before the task exists
				if wait, err = waitOptionsFrom(c); err != nil {
					return err
				}
			}
			api, err := newAPIClient(c)
			if err != nil {
				return err
			}
			var t boot.Task
			raw, err := api.do(c.Context, "POST", apiPath("machines", name, "tasks"), spec, &t)
			if err != nil {
				return err
			}
			if c.Bool("wait") {
				if !api.json {
					fmt.Fprintf(c.App.Writer, "Task %d created for %s; waiting for the machine to network-boot.\n", t.ID, t.Machine)
				}
				return api.follow(c, t.ID, wait)
			}
			if api.json {
				return printJSON(c.App.Writer, raw, nil)
			}
			fmt.Fprintf(c.App.Writer, "Task %d created for %s (%s). It installs at the machine's next network boot; follow it with `byoi wait %s`.\n",
				t.ID, t.Machine, web.StatusText(t.Status), t.Machine)
			return nil
		}),
	}
}

// specFromFlags builds the install request from deploy's flags. The server
// validates it (with OVH's messages); here only the flags' own syntax is
// checked and the files are read.
func specFromFlags(c *cli.Context) (boot.InstallSpec, error) {
	spec := boot.InstallSpec{
		OperatingSystem:   boot.OSBYOI,
		ImageURL:          c.String("image-url"),
		ImageType:         c.String("image-type"),
		EFIBootloaderPath: c.String("efi-bootloader-path"),
		Hostname:          c.String("hostname"),
		DiskGroupID:       c.Int("disk-group"),
	}
	if v := c.String("checksum"); v != "" {
		typ, sum, ok := strings.Cut(v, ":")
		if !ok || typ == "" || sum == "" {
			return spec, fmt.Errorf("--checksum %q: use TYPE:HEX, e.g. sha256:9f86d0…", v)
		}
		spec.ImageCheckSumType, spec.ImageCheckSum = typ, sum
	}
	var err error
	if spec.HTTPHeaders, err = pairs(c.StringSlice("header"), ":", "header", "Authorization:Basic …"); err != nil {
		return spec, err
	}
	if spec.ConfigDriveMetadata, err = pairs(c.StringSlice("metadata"), "=", "metadata", "role=web"); err != nil {
		return spec, err
	}
	if path := c.String("user-data"); path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return spec, fmt.Errorf("--user-data: %w", err)
		}
		spec.ConfigDriveUserData = encodeUserData(b)
	}
	if path := c.String("ssh-key"); path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return spec, fmt.Errorf("--ssh-key: %w", err)
		}
		key := strings.TrimSpace(string(b))
		if key == "" || strings.ContainsAny(key, "\r\n") {
			return spec, fmt.Errorf("--ssh-key %s: expected exactly one public key line", path)
		}
		spec.SSHKey = key
	}
	return spec, nil
}

// pairs parses repeated K<sep>V flags into a map; nil when there are none.
func pairs(values []string, sep, flag, example string) (map[string]string, error) {
	if len(values) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(values))
	for _, v := range values {
		k, val, ok := strings.Cut(v, sep)
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("--%s %q: use K%sV, e.g. %s", flag, v, sep, example)
		}
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("--%s: %s given twice", flag, k)
		}
		m[k] = strings.TrimSpace(val)
	}
	return m, nil
}

// encodeUserData returns user-data as the server will read it back
// unchanged: as text when it is UTF-8 that the server keeps as is (a
// "#cloud-config" document or a script), else base64.
func encodeUserData(b []byte) string {
	if utf8.Valid(b) && bytes.Equal(boot.InstallSpec{ConfigDriveUserData: string(b)}.UserData(), b) {
		return string(b)
	}
	return base64.StdEncoding.EncodeToString(b)
}
