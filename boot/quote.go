package boot

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

// QuoteMax is how much of a value an error message quotes at most.
const QuoteMax = 64

// Quote returns v quoted (as %q does) for an error message, cut to its
// first QuoteMax bytes with its full length noted when it is longer: a
// refused value is never echoed whole (a 1 MB host name must not make a
// 1 MB answer or log line).
func Quote(v string) string {
	if len(v) <= QuoteMax {
		return strconv.Quote(v)
	}
	return fmt.Sprintf("%s… (%d bytes)", strconv.Quote(clip(v)), len(v))
}

// Clip is Quote without the quotes, for names shown as they are.
func Clip(v string) string {
	if len(v) <= QuoteMax {
		return v
	}
	return fmt.Sprintf("%s… (%d bytes)", clip(v), len(v))
}

// clip cuts v to at most QuoteMax bytes at a character boundary.
func clip(v string) string {
	n := QuoteMax
	for n > 0 && !utf8.RuneStart(v[n]) {
		n--
	}
	return v[:n]
}
