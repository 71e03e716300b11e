// Package vmtest runs Go test binaries inside a QEMU VM booted directly
// (-kernel/-initrd) with the Debian kernel byoi's installer uses, for tests
// that need kernel features this build machine's kernel lacks (md RAID,
// device-mapper/LVM, NBD, vfat, partitions on loop devices). The VM's
// initramfs is byoi's own build (the vmtest init as /init, the kernel
// modules asked for) followed by a second archive holding the test binaries
// with their testdata folders and host programs from Debian packages
// (mdadm, lvm, mkfs.*, …) with the shared libraries they load.
//
//	res, err := vmtest.Run(ctx, vmtest.Options{Kernel: k, ModulesDir: m, Work: dir,
//		Modules: []string{"nbd", "raid1"}, Tools: []string{"mdadm"},
//		Tests: []vmtest.Test{{Name: "storage", Package: "./initramfs/storage"}},
//		Disks: []vmtest.Disk{{Path: "d1.raw", Size: 2 << 30}}})
//	// res.Sections["storage"]: its output; res.RC["storage"]: its exit code
//
// The caller holds the VM lock (flock /tmp/byoi-vm.lock): the machine has
// two cores for every helper.
package vmtest

// ConfigPath is where the init reads its Config inside the VM.
const ConfigPath = "/etc/vmtest/config.json"

// Config is what the VM's init does.
type Config struct {
	Modules []string     `json:"modules"`
	Disks   []string     `json:"disks"` // device paths to wait for
	Tests   []TestConfig `json:"tests"`
}

// TestConfig is one test binary run inside the VM: /tests/<Name>.test,
// in /tests/<Name> (its package's testdata is there).
type TestConfig struct {
	Name string   `json:"name"`
	Args []string `json:"args,omitempty"`
	Env  []string `json:"env,omitempty"`
}
