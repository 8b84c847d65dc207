package soak

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Report is the oracle's verdict: counts per policy and commitment, the
// faults with how fast health saw them, and every violation.
type Report struct {
	Seed  int64
	Start time.Time
	Span  time.Duration
	Wall  time.Duration

	Reports      int           // reports (and released spam) owed an acknowledgement
	Acked        int           // of them acknowledged
	MaxAckDelay  time.Duration // simulated, arrival to acknowledgement
	Reminders    int
	Digests      int
	SameIDResent int // mails seen twice with one Message-ID (the send/mark window)

	Commitments []CommitmentRow
	Faults      []FaultRow

	violations []Violation
}

// CommitmentRow counts how one commitment of one instance's policy ended
// over all its cases.
type CommitmentRow struct {
	Instance, Commitment string
	Kept                 int // stopped by the team in time (or the case closed)
	Escalated            int // breached, and the escalation came in time
	Late                 int // breached, the team acted before the escalation was due
	Breached             int // breached with no escalation in time: violations
	Open                 int // still running at the end of the run
}

// FaultRow is one fault as the run saw it.
type FaultRow struct {
	Kind     FaultKind
	Instance string // "" for the shared servers
	Began    time.Time
	For      time.Duration
	Visible  bool // /healthz had to turn red
	// Detected and Recovered are simulated, from the fault's start to the
	// first red sample and from its end to the first green one (the
	// slowest instance); the Wall ones the same in wall time.
	Detected, Recovered         time.Duration
	WallDetected, WallRecovered time.Duration
}

func (r *Report) count(instance, commitment, outcome string) {
	if outcome == "" {
		return
	}
	i := slices.IndexFunc(r.Commitments, func(c CommitmentRow) bool {
		return c.Instance == instance && c.Commitment == commitment
	})
	if i < 0 {
		r.Commitments = append(r.Commitments, CommitmentRow{Instance: instance, Commitment: commitment})
		i = len(r.Commitments) - 1
	}
	c := &r.Commitments[i]
	switch outcome {
	case outcomeKept:
		c.Kept++
	case outcomeEscalated:
		c.Escalated++
	case outcomeLate:
		c.Late++
	case outcomeBreached:
		c.Breached++
	case outcomeOpen:
		c.Open++
	}
}

func (r *Report) sortViolations() {
	slices.SortStableFunc(r.violations, func(a, b Violation) int {
		return cmp.Or(cmp.Compare(a.Check, b.Check), cmp.Compare(a.Instance, b.Instance), a.At.Compare(b.At))
	})
	slices.SortStableFunc(r.Commitments, func(a, b CommitmentRow) int {
		return cmp.Or(cmp.Compare(a.Instance, b.Instance), cmp.Compare(a.Commitment, b.Commitment))
	})
}

// Violations is every broken promise, sorted by check, instance and time.
func (r Report) Violations() []Violation { return slices.Clone(r.violations) }

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("01-02 15:04")
}

func dur(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	if d < time.Minute {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// Table is the report as Markdown tables, for the closing note.
func (r Report) Table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Soak: seed %d, simulated %s from %s, wall %s; %d reports, %d acknowledged (slowest %s), %d reminders, %d digests, %d mails resent with the same Message-ID; %d violations.\n\n",
		r.Seed, r.Span, r.Start.UTC().Format("2006-01-02 15:04 MST"), dur(r.Wall), r.Reports, r.Acked, dur(r.MaxAckDelay),
		r.Reminders, r.Digests, r.SameIDResent, len(r.violations))
	b.WriteString("| policy | commitment | kept | escalated | late | breached | open |\n|---|---|---:|---:|---:|---:|---:|\n")
	for _, c := range r.Commitments {
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %d | %d |\n", c.Instance, c.Commitment, c.Kept, c.Escalated, c.Late, c.Breached, c.Open)
	}
	b.WriteString("\n| fault kind | count | health red expected | slowest detection (sim / wall) | slowest recovery (sim / wall) |\n|---|---:|---:|---|---|\n")
	for _, k := range FaultKinds {
		var n, visible int
		var worst FaultRow
		for _, f := range r.Faults {
			if f.Kind != k {
				continue
			}
			n++
			if f.Visible {
				visible++
			}
			worst.Detected, worst.WallDetected = max(worst.Detected, f.Detected), max(worst.WallDetected, f.WallDetected)
			worst.Recovered, worst.WallRecovered = max(worst.Recovered, f.Recovered), max(worst.WallRecovered, f.WallRecovered)
		}
		if n > 0 {
			fmt.Fprintf(&b, "| %s | %d | %d | %s / %s | %s / %s |\n", k, n, visible,
				dur(worst.Detected), dur(worst.WallDetected), dur(worst.Recovered), dur(worst.WallRecovered))
		}
	}
	b.WriteString("\n| fault | instance | began (sim, UTC) | for | health red | detected after (sim / wall) | recovered after (sim / wall) |\n|---|---|---|---|---|---|---|\n")
	for _, f := range r.Faults {
		in := f.Instance
		if in == "" {
			in = "all"
		}
		red := "not expected"
		if f.Visible {
			red = "expected"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s / %s | %s / %s |\n", f.Kind, in, stamp(f.Began), dur(f.For), red,
			dur(f.Detected), dur(f.WallDetected), dur(f.Recovered), dur(f.WallRecovered))
	}
	if len(r.violations) > 0 {
		b.WriteString("\n| check | instance | report | case | at (sim, UTC) | due | detail |\n|---|---|---|---|---|---|---|\n")
		for _, v := range r.violations {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", v.Check, v.Instance, v.Report, v.Case, stamp(v.At), stamp(v.Due),
				strings.ReplaceAll(v.Detail, "|", "/"))
		}
	}
	return b.String()
}
