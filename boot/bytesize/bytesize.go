// Package bytesize formats byte counts for people, in binary units with one
// decimal. It is a leaf (standard library only) so that both the CLI and the
// installer agent print sizes the same way without the agent linking the
// server.
//
//	bytesize.Format(512)     // "512 B"
//	bytesize.Format(1536)    // "1.5 KiB"
//	bytesize.Format(10 << 30) // "10.0 GiB"
package bytesize

import "fmt"

var units = [...]string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}

// Format returns n in bytes below 1 KiB ("1023 B"), else with one decimal
// in the largest binary unit that keeps the number at least 1 once rounded
// ("1.5 KiB", "2.0 GiB"; 1 MiB - 1 is "1.0 MiB", not "1024.0 KiB"). A
// negative n is shown as a byte count.
func Format(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v, unit := float64(n)/1024, 0
	for v >= 1023.95 && unit < len(units)-1 { // would print as 1024.0
		v /= 1024
		unit++
	}
	return fmt.Sprintf("%.1f %s", v, units[unit])
}
