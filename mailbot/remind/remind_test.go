package remind

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"mailbot/policy"
)

// brief is an Action without its Summary text, for comparisons.
type brief struct {
	Key, Kind, Clock, To string
	CaseID               uint64
	Due                  string
	CatchUp              bool
}

func briefs(p *policy.Policy, as []Action) []brief {
	var out []brief
	for _, a := range as {
		out = append(out, brief{a.Key, a.Kind, a.Clock, a.To, a.CaseID,
			a.Due.In(p.Calendar.Location()).Format(time.RFC3339), a.CatchUp})
	}
	return out
}

func running(name, started, due string) policy.Clock {
	return policy.Clock{Name: name, State: policy.StateRunning, Started: mt(started), Due: mt(due)}
}

// TestPlanKeys checks every kind of action once, with its exact key.
func TestPlanKeys(t *testing.T) {
	p := seedPolicy(t, "002_imis_innovation.toml")
	s := testSettings()
	s.DigestAt = "09:00"
	c := CaseState{
		ID: 7, Ref: "SEC-2026-0009", Status: "triaged",
		Clocks: []policy.Clock{
			// 24h before is Mon 10:00, 2h before Tue 08:00 -> 09:00: the 2h one.
			running("confirm", "2026-01-12T10:00:00+01:00", "2026-01-13T10:00:00+01:00"),
			// 17h late: repetition 4, due Tue 08:00 -> 09:00.
			running("follow-up", "2026-01-10T16:00:00+01:00", "2026-01-12T16:00:00+01:00"),
		},
		LastToReporter: mt("2026-01-06T09:00:00+01:00"), // + 7d = now
		Disclosure:     mt("2026-01-20T09:00:00+01:00"), // 168h before = now
		DisclosureTold: mt("2026-01-19T09:00:00+01:00"),
	}
	now := mt("2026-01-13T09:00:00+01:00")
	got := Plan(p, s, []CaseState{c}, now.Add(-15*time.Minute), now)
	at := "2026-01-13T09:00:00+01:00"
	want := []brief{
		{"digest:2026-01-13", KindDigest, "", policy.RemindOnDuty, 0, at, false},
		{"disclosure-moved:SEC-2026-0009:20260119T080000Z>20260120T080000Z", KindDisclosureMoved, "", ToReporter, 7, at, false},
		{"disclosure-soon:SEC-2026-0009:20260120T080000Z:168h", KindDisclosureSoon, "", policy.RemindTeam, 7, at, false},
		{"escalate:SEC-2026-0009:follow-up:20260112T150000Z:4", KindEscalate, "follow-up", policy.RemindTeam, 7, at, false},
		{"keep-informed:SEC-2026-0009:20260106T080000Z", KindKeepInformed, "", ToReporter, 7, at, false},
		{"remind:SEC-2026-0009:confirm:20260113T090000Z:2h", KindRemind, "confirm", policy.RemindOnDuty, 7, at, false},
	}
	if g := briefs(p, got); !slices.Equal(g, want) {
		t.Fatalf("Plan() =\n%v\nwant\n%v", g, want)
	}
	for i, sub := range []string{
		"digest: 1 open (SEC-2026-0009); due today: SEC-2026-0009; breached: SEC-2026-0009; waiting on reporter: none",
		"moved from Mon 2026-01-19 09:00 CET to Tue 2026-01-20 09:00 CET",
		"planned disclosure Tue 2026-01-20 09:00 CET (in 168h0m0s)",
		"follow-up breached, was due Mon 2026-01-12 16:00 CET (escalation 5)",
		"last written to Tue 2026-01-06 09:00 CET",
		"confirm due Tue 2026-01-13 10:00 CET (in 1h0m0s)",
	} {
		if !strings.Contains(got[i].Summary, sub) {
			t.Errorf("Plan()[%d].Summary = %q, want it to contain %q", i, got[i].Summary, sub)
		}
	}

	// Everything recorded: nothing more, now or for the rest of the hour.
	for _, a := range got {
		c.Sent = append(c.Sent, SentMark{Key: a.Key, At: now})
	}
	c.DisclosureTold = c.Disclosure
	for at := now; at.Before(now.Add(time.Hour)); at = at.Add(5 * time.Minute) {
		if again := Plan(p, s, []CaseState{c}, at.Add(-5*time.Minute), at); len(again) != 0 {
			t.Errorf("Plan(%s) after recording = %v, want nothing", at, briefs(p, again))
		}
	}
}

// TestOutsideWorkingHours: nothing at night, on weekends, on holidays,
// whatever is due.
func TestOutsideWorkingHours(t *testing.T) {
	p := seedPolicy(t, "003_unnamed_it.toml")
	s := DefaultSettings()
	c := CaseState{ID: 1, Ref: "X", Status: "new",
		Clocks:         []policy.Clock{running("evaluation", "2025-12-01T10:00:00+01:00", "2025-12-10T10:00:00+01:00")},
		LastToReporter: mt("2025-11-01T10:00:00+01:00"),
		Disclosure:     mt("2026-02-01T10:00:00+01:00"),
	}
	for _, tc := range []struct {
		now  string
		want bool
	}{
		{"2026-01-05T08:59:59+01:00", false}, // before opening
		{"2026-01-05T09:00:00+01:00", true},
		{"2026-01-05T16:59:00+01:00", true},
		{"2026-01-05T17:00:00+01:00", false}, // closing
		{"2026-01-06T11:00:00+01:00", false}, // Epiphany
		{"2026-01-10T11:00:00+01:00", false}, // Saturday
		{"2026-01-11T11:00:00+01:00", false}, // Sunday
		{"2026-01-05T03:00:00+01:00", false},
	} {
		got := Plan(p, s, []CaseState{c}, time.Time{}, mt(tc.now))
		if (len(got) > 0) != tc.want {
			t.Errorf("Plan(%s) = %d actions, want some: %v", tc.now, len(got), tc.want)
		}
	}
}

func TestPlanWithoutPolicy(t *testing.T) {
	now := mt("2026-01-05T10:00:00+01:00")
	c := CaseState{ID: 1, Clocks: []policy.Clock{running("x", "2026-01-01T10:00:00+01:00", "2026-01-02T10:00:00+01:00")}}
	if got := Plan(nil, DefaultSettings(), []CaseState{c}, time.Time{}, now); got != nil {
		t.Errorf("Plan(nil policy) = %v, want nil", got)
	}
	if got := Plan(&policy.Policy{}, DefaultSettings(), []CaseState{c}, time.Time{}, now); got != nil {
		t.Errorf("Plan(policy without calendar) = %v, want nil", got)
	}
}

// TestEscalationRepeats follows one breached clock through a day and a
// weekend: a repetition number per interval, only in working hours.
func TestEscalationRepeats(t *testing.T) {
	p := seedPolicy(t, "000_caspar_health.toml")
	clock := running("triage", "2026-01-01T10:00:00+01:00", "2026-01-09T10:00:00+01:00") // Fri
	for _, tc := range []struct {
		every time.Duration
		now   string
		want  string // key suffix, "" for nothing
		due   string
	}{
		{4 * time.Hour, "2026-01-09T10:00:00+01:00", "", ""}, // due is inclusive
		{4 * time.Hour, "2026-01-09T10:00:01+01:00", ":0", "2026-01-09T10:00:00+01:00"},
		{4 * time.Hour, "2026-01-09T13:59:00+01:00", ":0", "2026-01-09T10:00:00+01:00"},
		{4 * time.Hour, "2026-01-09T14:00:00+01:00", ":1", "2026-01-09T14:00:00+01:00"},
		{4 * time.Hour, "2026-01-09T18:00:00+01:00", "", ""}, // after closing
		// Mon 09:00 is 71h late: 17 (68h, Mon 06:00 -> 09:00).
		{4 * time.Hour, "2026-01-12T09:00:00+01:00", ":17", "2026-01-12T09:00:00+01:00"},
		{4 * time.Hour, "2026-01-12T10:00:00+01:00", ":18", "2026-01-12T10:00:00+01:00"},
		{time.Hour, "2026-01-12T10:30:00+01:00", ":72", "2026-01-12T10:00:00+01:00"},
		{0, "2026-01-12T10:30:00+01:00", ":0", "2026-01-09T10:00:00+01:00"}, // escalate once
	} {
		s := testSettings()
		s.EscalateEvery = tc.every
		c := CaseState{ID: 1, Ref: "R", Status: "new", Clocks: []policy.Clock{clock}}
		got := Plan(p, s, []CaseState{c}, time.Time{}, mt(tc.now))
		if tc.want == "" {
			if len(got) != 0 {
				t.Errorf("every %v, Plan(%s) = %v, want nothing", tc.every, tc.now, briefs(p, got))
			}
			continue
		}
		want := "escalate:R:triage:20260109T090000Z" + tc.want
		if len(got) != 1 || got[0].Key != want || !got[0].Due.Equal(mt(tc.due)) || got[0].To != policy.RemindLead {
			t.Errorf("every %v, Plan(%s) = %v, want %s to lead due %s", tc.every, tc.now, briefs(p, got), want, tc.due)
		}
	}
}

// TestClockStates: only running clocks get reminders, only running or
// breached ones not yet stopped get escalations.
func TestClockStates(t *testing.T) {
	p := seedPolicy(t, "000_caspar_health.toml")
	now := mt("2026-01-08T10:00:00+01:00")
	soon := running("acknowledge", "2026-01-05T10:00:00+01:00", "2026-01-08T11:00:00+01:00")
	late := running("acknowledge", "2026-01-02T10:00:00+01:00", "2026-01-07T10:00:00+01:00")
	with := func(c policy.Clock, f func(*policy.Clock)) policy.Clock { f(&c); return c }
	for _, tc := range []struct {
		name  string
		clock policy.Clock
		want  string // kind, "" for nothing
	}{
		{"running", soon, KindRemind},
		{"paused", with(soon, func(c *policy.Clock) { c.State, c.PausedAt = policy.StatePaused, now }), ""},
		{"met", with(soon, func(c *policy.Clock) { c.State, c.Stopped = policy.StateMet, now }), ""},
		{"running late", late, KindEscalate},
		{"breached by Refresh", with(late, func(c *policy.Clock) { c.State = policy.StateBreached }), KindEscalate},
		{"breached and stopped", with(late, func(c *policy.Clock) { c.State, c.Stopped = policy.StateBreached, now }), ""},
		{"paused late", with(late, func(c *policy.Clock) { c.State, c.PausedAt = policy.StatePaused, now }), ""},
		{"unknown commitment", with(soon, func(c *policy.Clock) { c.Name = "gone" }), ""},
		{"no deadline", with(soon, func(c *policy.Clock) { c.Due = time.Time{} }), ""},
	} {
		c := CaseState{ID: 1, Ref: "R", Status: "new", Clocks: []policy.Clock{tc.clock}}
		got := Plan(p, testSettings(), []CaseState{c}, time.Time{}, now)
		var kinds []string
		for _, a := range got {
			kinds = append(kinds, a.Kind)
		}
		want := []string{tc.want}
		if tc.want == "" {
			want = nil
		}
		if !slices.Equal(kinds, want) {
			t.Errorf("%s: Plan() kinds = %v, want %v", tc.name, kinds, want)
		}
	}
}

// TestClosedCases: nothing for a disclosed, rejected, duplicate or spam
// case; a fixed case keeps its clocks and disclosure reminders but gets no
// progress notes.
func TestClosedCases(t *testing.T) {
	p := seedPolicy(t, "001_coosto.toml")
	now := mt("2026-01-08T10:00:00+01:00")
	base := CaseState{ID: 1, Ref: "R",
		Clocks:         []policy.Clock{running("assessment", "2026-01-05T10:00:00+01:00", "2026-01-08T11:00:00+01:00")},
		LastToReporter: mt("2025-12-01T10:00:00+01:00"),
		Disclosure:     mt("2026-01-08T16:00:00+01:00"),
	}
	for _, tc := range []struct {
		status string
		want   []string
	}{
		{"new", []string{KindDisclosureSoon, KindKeepInformed, KindRemind}},
		{"fixing", []string{KindDisclosureSoon, KindKeepInformed, KindRemind}},
		{"fixed", []string{KindDisclosureSoon, KindRemind}},
		{"disclosed", nil},
		{"rejected", nil},
		{"duplicate", nil},
		{"spam", nil},
	} {
		c := base
		c.Status = tc.status
		var kinds []string
		for _, a := range Plan(p, testSettings(), []CaseState{c}, time.Time{}, now) {
			kinds = append(kinds, a.Kind)
		}
		slices.Sort(kinds)
		if !slices.Equal(kinds, tc.want) {
			t.Errorf("status %s: Plan() kinds = %v, want %v", tc.status, kinds, tc.want)
		}
		if got, want := Open(tc.status), len(tc.want) == 3; got != want {
			t.Errorf("Open(%q) = %v, want %v", tc.status, got, want)
		}
	}
}

func TestRemindTarget(t *testing.T) {
	for _, tc := range []struct {
		targets  []string
		assignee string
		want     string
	}{
		{[]string{"on-duty"}, "", "on-duty"},
		{[]string{"on-duty"}, "alice", "on-duty"},
		{[]string{"on-duty", "assignee"}, "", "on-duty"},
		{[]string{"on-duty", "assignee"}, "alice", "assignee"},
		{[]string{"assignee", "lead"}, "", "on-duty"},
		{[]string{"assignee", "lead"}, "alice", "assignee"},
		{[]string{"team"}, "alice", "team"},
		{[]string{"lead"}, "alice", "lead"},
	} {
		if got := remindTarget(tc.targets, tc.assignee); got != tc.want {
			t.Errorf("remindTarget(%v, %q) = %q, want %q", tc.targets, tc.assignee, got, tc.want)
		}
	}
}

// TestLeadBeforeStart: a lead time reaching back before the clock started
// is not sent at the start.
func TestLeadBeforeStart(t *testing.T) {
	p := seedPolicy(t, "002_imis_innovation.toml")
	// 1bd: Mon 10:00 -> Tue 10:00; a 48h lead would be Sun 10:00.
	c := CaseState{ID: 1, Ref: "R", Status: "new", Clocks: []policy.Clock{
		running("confirm", "2026-01-12T10:00:00+01:00", "2026-01-13T10:00:00+01:00")}}
	s := testSettings()
	s.LeadTimes = []time.Duration{48 * time.Hour, 2 * time.Hour}
	if got := Plan(p, s, []CaseState{c}, time.Time{}, mt("2026-01-12T10:15:00+01:00")); len(got) != 0 {
		t.Errorf("Plan() = %v, want nothing", briefs(p, got))
	}
	got := Plan(p, s, []CaseState{c}, time.Time{}, mt("2026-01-13T09:00:00+01:00"))
	if len(got) != 1 || got[0].Key != "remind:R:confirm:20260113T090000Z:2h" {
		t.Errorf("Plan() = %v, want the 2h reminder", briefs(p, got))
	}
}

// TestKeepInformed: the interval is counted in the policy's unit from the
// last mail to the reporter, the team's or the bot's.
func TestKeepInformed(t *testing.T) {
	coosto := seedPolicy(t, "001_coosto.toml")
	bd, err := policy.Parse("bd.toml", []byte(`
organisation = "Example"
security_address = "security@example.org"
keep_informed = "2bd"
[calendar]
time_zone = "Europe/Amsterdam"
country = "NL"
`))
	if err != nil {
		t.Fatalf("Parse() = %v", err)
	}
	for _, tc := range []struct {
		name    string
		p       *policy.Policy
		c       CaseState
		now     string
		want    bool
		wantDue string
	}{
		// Mon 23 Mar 10:00 CET + 14 days = Mon 6 Apr 10:00 CEST (DST in
		// between: same wall clock), Easter Monday: Tue 7 Apr 09:00.
		{"14d over DST and Easter", coosto, CaseState{LastToReporter: mt("2026-03-23T10:00:00+01:00")},
			"2026-04-07T09:00:00+02:00", true, "2026-04-07T09:00:00+02:00"},
		{"14d, not yet", coosto, CaseState{LastToReporter: mt("2026-03-23T10:00:00+01:00")},
			"2026-04-03T16:59:00+02:00", false, ""},
		// Fri 16:00 + 2bd = Tue 16:00.
		{"business days", bd, CaseState{LastToReporter: mt("2026-01-09T16:00:00+01:00")},
			"2026-01-13T16:00:00+01:00", true, "2026-01-13T16:00:00+01:00"},
		{"business days, not yet", bd, CaseState{LastToReporter: mt("2026-01-09T16:00:00+01:00")},
			"2026-01-13T15:59:00+01:00", false, ""},
		{"waiting on reporter", coosto, CaseState{LastToReporter: mt("2025-12-01T10:00:00+01:00"), WaitingOnReporter: true},
			"2026-01-13T10:00:00+01:00", false, ""},
		{"never written", coosto, CaseState{}, "2026-01-13T10:00:00+01:00", false, ""},
		// The bot's note of Fri 2 Jan restarts the count: Fri 16 Jan.
		{"after the bot's note", coosto, CaseState{LastToReporter: mt("2025-12-01T10:00:00+01:00"),
			Sent: []SentMark{{Key: "keep-informed:R:20251201T090000Z", At: mt("2026-01-02T10:00:00+01:00")}}},
			"2026-01-15T10:00:00+01:00", false, ""},
		{"after the bot's note, due", coosto, CaseState{LastToReporter: mt("2025-12-01T10:00:00+01:00"),
			Sent: []SentMark{{Key: "keep-informed:R:20251201T090000Z", At: mt("2026-01-02T10:00:00+01:00")}}},
			"2026-01-16T10:00:00+01:00", true, "2026-01-16T10:00:00+01:00"},
	} {
		c := tc.c
		c.ID, c.Ref, c.Status = 1, "R", "new"
		got := Plan(tc.p, testSettings(), []CaseState{c}, time.Time{}, mt(tc.now))
		if len(got) > 0 != tc.want {
			t.Errorf("%s: Plan(%s) = %v, want a note: %v", tc.name, tc.now, briefs(tc.p, got), tc.want)
			continue
		}
		if tc.want && (got[0].Kind != KindKeepInformed || got[0].To != ToReporter || !got[0].Due.Equal(mt(tc.wantDue))) {
			t.Errorf("%s: Plan(%s) = %v, want a note due %s", tc.name, tc.now, briefs(tc.p, got), tc.wantDue)
		}
	}
	// No keep_informed in the policy: no notes.
	caspar := seedPolicy(t, "000_caspar_health.toml")
	c := CaseState{ID: 1, Ref: "R", Status: "new", LastToReporter: mt("2025-01-01T10:00:00+01:00")}
	if got := Plan(caspar, testSettings(), []CaseState{c}, time.Time{}, mt("2026-01-13T10:00:00+01:00")); len(got) != 0 {
		t.Errorf("Plan() without keep_informed = %v, want nothing", briefs(caspar, got))
	}
}

// TestDigest: once per working day, at DigestAt or the first working moment
// after it, with the counts the on-duty pair needs.
func TestDigest(t *testing.T) {
	p := seedPolicy(t, "000_caspar_health.toml")
	cases := []CaseState{
		Global([]SentMark{{Key: "digest:2026-01-07", At: mt("2026-01-07T09:00:00+01:00")}}),
		{ID: 1, Ref: "A", Status: "new", Clocks: []policy.Clock{running("acknowledge", "2026-01-05T16:30:00+01:00", "2026-01-08T16:30:00+01:00")}},
		{ID: 2, Ref: "B", Status: "triaged", WaitingOnReporter: true},
		{ID: 3, Ref: "C", Status: "confirmed", Clocks: []policy.Clock{running("triage", "2025-12-01T10:00:00+01:00", "2026-01-07T10:00:00+01:00")}},
		{ID: 4, Ref: "D", Status: "fixed"},
		{ID: 5, Ref: "E", Status: "spam", Clocks: []policy.Clock{running("triage", "2025-12-01T10:00:00+01:00", "2026-01-07T10:00:00+01:00")}},
	}
	for _, tc := range []struct {
		at, now string
		want    string // key, "" for none
		due     string
	}{
		{"09:00", "2026-01-08T08:59:00+01:00", "", ""},
		{"09:00", "2026-01-08T09:00:00+01:00", "digest:2026-01-08", "2026-01-08T09:00:00+01:00"},
		{"09:00", "2026-01-08T16:00:00+01:00", "digest:2026-01-08", "2026-01-08T09:00:00+01:00"}, // late start
		{"09:00", "2026-01-07T10:00:00+01:00", "", ""},                                           // already sent
		{"07:30", "2026-01-08T09:00:00+01:00", "digest:2026-01-08", "2026-01-08T09:00:00+01:00"}, // before opening
		{"11:00", "2026-01-08T10:59:00+01:00", "", ""},
		{"11:00", "2026-01-08T11:00:00+01:00", "digest:2026-01-08", "2026-01-08T11:00:00+01:00"},
		{"18:00", "2026-01-08T16:59:00+01:00", "", ""}, // after closing: never
		{"", "2026-01-08T10:00:00+01:00", "", ""},
		{"9am", "2026-01-08T10:00:00+01:00", "", ""},
		{"09:00", "2026-01-10T10:00:00+01:00", "", ""}, // Saturday
	} {
		s := Settings{DigestAt: tc.at}
		var got []Action
		for _, a := range Plan(p, s, cases, time.Time{}, mt(tc.now)) {
			if a.Kind == KindDigest {
				got = append(got, a)
			}
		}
		if tc.want == "" {
			if len(got) != 0 {
				t.Errorf("DigestAt %q: Plan(%s) = %v, want no digest", tc.at, tc.now, briefs(p, got))
			}
			continue
		}
		if len(got) != 1 || got[0].Key != tc.want || !got[0].Due.Equal(mt(tc.due)) || got[0].To != policy.RemindOnDuty {
			t.Errorf("DigestAt %q: Plan(%s) = %v, want %s due %s", tc.at, tc.now, briefs(p, got), tc.want, tc.due)
			continue
		}
		want := "digest: 3 open (A, B, C); due today: A; breached: C; waiting on reporter: B"
		if got[0].Summary != want {
			t.Errorf("digest Summary = %q, want %q", got[0].Summary, want)
		}
	}
}

// TestDisclosureMoved: a notice per change of date, to the reporter.
func TestDisclosureMoved(t *testing.T) {
	p := seedPolicy(t, "004_centuran.toml")
	now := mt("2026-01-05T10:00:00+01:00")
	old, moved := mt("2026-02-20T14:00:00+01:00"), mt("2026-03-06T14:00:00+01:00")
	for _, tc := range []struct {
		name             string
		disclosure, told time.Time
		acknowledged     bool
		want             string
	}{
		{"not moved", old, old, true, ""},
		{"moved", moved, old, true, "disclosure-moved:R:20260220T130000Z>20260306T130000Z"},
		{"not acknowledged yet (held as spam)", moved, time.Time{}, false, ""},
		// A policy without a disclosure window: the acknowledgement named
		// no date, and the first one the team sets is news.
		{"first date after an acknowledgement without one", moved, time.Time{}, true, "disclosure-moved:R:none>20260306T130000Z"},
		{"no date any more", time.Time{}, old, true, ""},
	} {
		c := CaseState{ID: 1, Ref: "R", Status: "fixing", Disclosure: tc.disclosure, DisclosureTold: tc.told, Acknowledged: tc.acknowledged}
		var got []string
		for _, a := range Plan(p, testSettings(), []CaseState{c}, time.Time{}, now) {
			got = append(got, a.Key)
		}
		want := []string{tc.want}
		if tc.want == "" {
			want = nil
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: Plan() = %v, want %v", tc.name, got, want)
		}
	}
}

func TestCatchUp(t *testing.T) {
	p := seedPolicy(t, "000_caspar_health.toml")
	now := mt("2026-01-08T10:00:00+01:00")
	c := CaseState{ID: 1, Ref: "R", Status: "new", Clocks: []policy.Clock{
		running("acknowledge", "2026-01-05T10:00:00+01:00", "2026-01-08T11:00:00+01:00")}}
	for _, tc := range []struct {
		name    string
		lastRun time.Time
		gap     time.Duration
		want    bool
	}{
		{"unknown", time.Time{}, 0, true},
		{"a tick ago", now.Add(-15 * time.Minute), 0, false},
		{"exactly the gap", now.Add(-time.Hour), 0, false},
		{"two hours ago", now.Add(-2 * time.Hour), 0, true},
		{"two hours ago, gap 3h", now.Add(-2 * time.Hour), 3 * time.Hour, false},
	} {
		s := testSettings()
		s.CatchUpAfter = tc.gap
		got := Plan(p, s, []CaseState{c}, tc.lastRun, now)
		if len(got) != 1 || got[0].CatchUp != tc.want {
			t.Errorf("%s: Plan() = %v, want one action with CatchUp %v", tc.name, briefs(p, got), tc.want)
		}
	}
}

func TestSummarize(t *testing.T) {
	at := mt("2026-01-08T10:00:00+01:00")
	act := func(key, to string, catchUp bool, min int) Action {
		return Action{Key: key, Kind: KindRemind, To: to, Due: at.Add(time.Duration(min) * time.Minute), Summary: "s " + key, CatchUp: catchUp}
	}
	keysOf := func(as []Action) []string {
		var l []string
		for _, a := range as {
			l = append(l, fmt.Sprintf("%s(%d)", a.Kind, len(a.Parts)))
		}
		return l
	}
	for _, tc := range []struct {
		name string
		in   []Action
		want []string
	}{
		{"empty", nil, nil},
		{"few", []Action{act("a", "on-duty", false, 0), act("b", "on-duty", false, 1), act("c", "on-duty", false, 2)},
			[]string{"remind(0)", "remind(0)", "remind(0)"}},
		{"many", []Action{act("a", "on-duty", false, 0), act("x", "team", false, 0), act("b", "on-duty", false, 1),
			act("c", "on-duty", false, 2), act("d", "on-duty", false, 3)},
			[]string{"summary(4)", "remind(0)"}},
		{"catch-up pair", []Action{act("a", "team", true, 0), act("b", "team", true, 1), act("c", "lead", true, 0)},
			[]string{"summary(2)", "remind(0)"}},
		{"reporters never", []Action{act("a", ToReporter, true, 0), act("b", ToReporter, true, 0),
			act("c", ToReporter, true, 0), act("d", ToReporter, true, 0), act("e", ToReporter, true, 0)},
			[]string{"remind(0)", "remind(0)", "remind(0)", "remind(0)", "remind(0)"}},
	} {
		got := Summarize(tc.in)
		if g := keysOf(got); !slices.Equal(g, tc.want) {
			t.Errorf("%s: Summarize() = %v, want %v", tc.name, g, tc.want)
		}
		// Every input key is sent exactly once.
		var in, out []string
		for _, a := range tc.in {
			in = append(in, a.Key)
		}
		for _, a := range got {
			ks := a.Keys()
			if a.Kind == KindSummary {
				ks = ks[1:]
			}
			out = append(out, ks...)
		}
		slices.Sort(in)
		slices.Sort(out)
		if !slices.Equal(in, out) {
			t.Errorf("%s: Summarize() keys = %v, want %v", tc.name, out, in)
		}
	}

	got := Summarize([]Action{act("b", "team", true, 5), act("a", "team", true, 0)})
	if len(got) != 1 {
		t.Fatalf("Summarize() = %v, want one summary", got)
	}
	s := got[0]
	if !s.Due.Equal(at.Add(5*time.Minute)) || !s.CatchUp || s.To != "team" || s.Summary != "2 actions: s b\ns a" {
		t.Errorf("Summarize() = %+v, want due +5m, catch-up, to team, both lines", s)
	}
	if !strings.HasPrefix(s.Key, "summary:team:20260108T090500Z:2:") {
		t.Errorf("Summarize() Key = %q", s.Key)
	}
	again := Summarize([]Action{act("a", "team", true, 0), act("b", "team", true, 5)})
	if again[0].Key != s.Key {
		t.Errorf("Summarize() Key = %q in another order, want %q", again[0].Key, s.Key)
	}
}

func TestSettingsCheck(t *testing.T) {
	if err := DefaultSettings().Check(); err != nil {
		t.Errorf("DefaultSettings().Check() = %v, want nil", err)
	}
	if err := (Settings{}).Check(); err != nil {
		t.Errorf("Settings{}.Check() = %v, want nil", err)
	}
	for _, tc := range []struct {
		name string
		s    Settings
		want string
	}{
		{"lead", Settings{LeadTimes: []time.Duration{time.Hour, 0}}, "lead time 0s"},
		{"disclosure lead", Settings{DisclosureLead: []time.Duration{-time.Hour}}, "disclosure lead -1h0m0s"},
		{"escalation", Settings{EscalateEvery: -time.Minute}, "escalation interval"},
		{"catch-up", Settings{CatchUpAfter: -time.Minute}, "catch-up gap"},
		{"digest", Settings{DigestAt: "9:00"}, `digest time "9:00"`},
		{"digest hour", Settings{DigestAt: "24:00"}, `digest time "24:00"`},
		{"digest minute", Settings{DigestAt: "12:60"}, `digest time "12:60"`},
	} {
		err := tc.s.Check()
		if !errors.Is(err, ErrBadSettings) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Check() = %v, want ErrBadSettings with %q", tc.name, err, tc.want)
		}
	}
}

// TestActionJSON: the shape `mailbot remind --at TIME --json` prints.
func TestActionJSON(t *testing.T) {
	a := Action{Key: "remind:R:confirm:20260113T090000Z:2h", Kind: KindRemind, CaseID: 7, Clock: "confirm",
		To: "on-duty", Due: mt("2026-01-13T09:00:00+01:00"), Summary: "R: confirm due"}
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatalf("Marshal() = %v", err)
	}
	want := `{"key":"remind:R:confirm:20260113T090000Z:2h","kind":"remind","case":7,"clock":"confirm","to":"on-duty","due":"2026-01-13T09:00:00+01:00","summary":"R: confirm due"}`
	if string(b) != want {
		t.Errorf("Marshal() = %s, want %s", b, want)
	}
	if got, want := a.String(), "2026-01-13T09:00:00+01:00 remind -> on-duty: R: confirm due"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestLeadName(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{24 * time.Hour, "24h"}, {2 * time.Hour, "2h"}, {168 * time.Hour, "168h"},
		{30 * time.Minute, "30m"}, {90 * time.Minute, "1h30m0s"}, {time.Second, "1s"},
	} {
		if got := leadName(tc.d); got != tc.want {
			t.Errorf("leadName(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}
