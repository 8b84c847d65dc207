package flood

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
)

// Entry is one report that a case cap kept from opening a case.
type Entry struct {
	Time    time.Time `json:"time"`
	From    string    `json:"from"`
	Case    string    `json:"case,omitempty"` // the case it was folded onto; "" when held on no case
	Message uint64    `json:"msg"`            // the stored message
}

// Log is the record of folded and held reports the daily digest lists,
// kept for Keep and at most MaxEntries (older ones are counted in Dropped).
type Log struct {
	Entries []Entry `json:"entries,omitempty"`
	Dropped int     `json:"dropped,omitempty"`
}

// MetaLog is the store Meta key the log is kept under: the intake adds
// to it, the digest reads it.
const MetaLog = "flood.log"

// Keep is how long an entry stays in the log: longer than the gap between
// two digests over a long weekend.
const Keep = 8 * 24 * time.Hour

// MaxEntries bounds the log (and so the cost of rewriting it).
const MaxEntries = 2000

// ParseLog reads a log written by Log.String; "" is an empty log.
func ParseLog(s string) (Log, error) {
	var l Log
	if s == "" {
		return l, nil
	}
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return Log{}, fmt.Errorf("flood: log: %w", err)
	}
	return l, nil
}

// String is the log as stored.
func (l Log) String() string {
	b, _ := json.Marshal(l) // plain data: cannot fail
	return string(b)
}

// Add appends e, dropping entries older than Keep and the oldest beyond
// MaxEntries.
func (l *Log) Add(e Entry) {
	l.Entries = slices.DeleteFunc(l.Entries, func(o Entry) bool { return e.Time.Sub(o.Time) > Keep })
	l.Entries = append(l.Entries, e)
	if over := len(l.Entries) - MaxEntries; over > 0 {
		l.Entries = slices.Delete(l.Entries, 0, over)
		l.Dropped += over
	}
}

// Since summarises the entries at or after t, one line per sender, in the
// order they first came: "x@y: 15 over the flood caps since 2026-03-03
// 10:00 UTC (15 folded onto SEC-2026-0005)", or "... (2 held on no case)".
// A line holds no "; " (the digest's separator).
func (l Log) Since(t time.Time) []string {
	type sum struct {
		from    string
		n, held int
		cases   []string
		first   time.Time
	}
	var order []*sum
	by := map[string]*sum{}
	for _, e := range l.Entries {
		if e.Time.Before(t) {
			continue
		}
		s := by[e.From]
		if s == nil {
			s = &sum{from: printable(e.From), first: e.Time}
			by[e.From] = s
			order = append(order, s)
		}
		s.n++
		if e.Case == "" {
			s.held++
		} else if c := printable(e.Case); !slices.Contains(s.cases, c) {
			s.cases = append(s.cases, c)
		}
	}
	var lines []string
	for _, s := range order {
		var where []string
		if len(s.cases) > 0 {
			where = append(where, fmt.Sprintf("%d folded onto %s", s.n-s.held, strings.Join(s.cases, " ")))
		}
		if s.held > 0 {
			where = append(where, fmt.Sprintf("%d held on no case", s.held))
		}
		lines = append(lines, fmt.Sprintf("%s: %d over the flood caps since %s (%s)",
			s.from, s.n, s.first.UTC().Format("2006-01-02 15:04 MST"), strings.Join(where, " and ")))
	}
	return lines
}

// printable keeps a stored value from breaking the digest's lines: control
// and format characters become U+FFFD, ";" (the digest's separator) ",".
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == ';':
			return ','
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			return unicode.ReplacementChar
		}
		return r
	}, s)
}
