package policy

import (
	"fmt"
	"regexp"
	"strconv"
)

// Unit is what a Duration counts.
type Unit string

// The units a commitment can be written in.
const (
	BusinessDays Unit = "bd" // working days of the policy's Calendar
	Hours        Unit = "h"  // wall-clock hours: an exact time.Duration
	Days         Unit = "d"  // calendar days: same local clock time N days later
	Weeks        Unit = "w"  // 7 calendar days each
)

// maxDurationN bounds a Duration so that deadline arithmetic stays cheap and
// a typo ("3000w") is caught.
const maxDurationN = 1000

// Duration is an amount of time as a policy promises it: "3 business days",
// "48 hours", "1 week". In the policy file it is written "3bd", "48h", "7d"
// or "1w".
type Duration struct {
	N    int
	Unit Unit
}

var durationRE = regexp.MustCompile(`^\s*(-?)\s*([0-9]+)\s*(bd|h|d|w)\s*$`)

// ParseDuration parses "3bd", "48h", "7d" or "1w".
func ParseDuration(s string) (Duration, error) {
	m := durationRE.FindStringSubmatch(s)
	if m == nil {
		return Duration{}, fmt.Errorf("invalid duration %q, want a number and a unit: \"3bd\" (business days), \"48h\", \"7d\" or \"1w\"", s)
	}
	if m[1] == "-" {
		return Duration{}, fmt.Errorf("negative duration")
	}
	n, err := strconv.Atoi(m[2])
	if err != nil || n > maxDurationN {
		return Duration{}, fmt.Errorf("duration %q too long, at most %d", s, maxDurationN)
	}
	if n == 0 {
		return Duration{}, fmt.Errorf("zero duration")
	}
	return Duration{N: n, Unit: Unit(m[3])}, nil
}

// String is the duration as written in a policy file.
func (d Duration) String() string {
	return strconv.Itoa(d.N) + string(d.Unit)
}

// IsZero reports whether d is unset.
func (d Duration) IsZero() bool { return d.N == 0 }
