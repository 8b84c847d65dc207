package flood_test

import (
	"strings"
	"testing"
	"time"

	"mailbot/mailbot/flood"
)

// FuzzParseLog: whatever the stored log holds (it is rewritten by hand at
// worst), ParseLog never panics, and a log it accepts survives a round
// trip and summarises without a line break or the digest's separator.
func FuzzParseLog(f *testing.F) {
	var l flood.Log
	l.Add(flood.Entry{Time: time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC), From: "eve@x.example", Case: "SEC-2026-0001", Message: 7})
	f.Add(l.String())
	f.Add(`{"entries":[{"time":"2026-03-03T10:00:00Z","from":"a; b@x"}],"dropped":-3}`)
	f.Add(`{"entries":[{"time":"2026-03-03T10:00:00Z","from":"a\r\nb@x","case":"SEC\u0007"}]}`)
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		l, err := flood.ParseLog(s)
		if err != nil {
			return
		}
		back, err := flood.ParseLog(l.String())
		if err != nil || len(back.Entries) != len(l.Entries) {
			t.Fatalf("ParseLog(String()) = %d entries, %v; want %d", len(back.Entries), err, len(l.Entries))
		}
		for _, line := range l.Since(time.Time{}) {
			if strings.ContainsAny(line, "\r\n;") {
				t.Errorf("Since() line holds a line break or the digest's separator: %q", line)
			}
		}
	})
}
