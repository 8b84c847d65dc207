package remind

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"mailbot/policy"
)

// ts parses an RFC 3339 literal; expected times are written by hand in
// this form, with the local offset, so a reader can check them on a
// calendar.
func ts(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatalf("bad time literal %q: %v", s, err)
	}
	return v
}

var seedFiles = []string{
	"000_caspar_health.toml",
	"001_coosto.toml",
	"002_imis_innovation.toml",
	"003_unnamed_it.toml",
	"004_centuran.toml",
}

func seedPolicy(t testing.TB, file string) *policy.Policy {
	t.Helper()
	p, err := policy.Load(filepath.Join("..", "..", "testdata", "policies", file))
	if err != nil {
		t.Fatalf("Load(%s) = %v", file, err)
	}
	return p
}

// testSettings are the settings of every simulation: reminders 24h and 2h
// before a deadline, escalations every 4h, disclosure reminders 7 days and
// 1 day ahead, no digest unless a test sets one.
func testSettings() Settings {
	return Settings{
		LeadTimes:      []time.Duration{24 * time.Hour, 2 * time.Hour},
		EscalateEvery:  4 * time.Hour,
		DisclosureLead: []time.Duration{7 * 24 * time.Hour, 24 * time.Hour},
		CatchUpAfter:   time.Hour,
	}
}

// simEvent happens to the case ref at at: a policy event (which also moves
// the fields the daemon would move: LastToReporter, WaitingOnReporter,
// Status) and/or a change do. due, when set, is checked after it: clock
// name -> expected deadline, so the hand-computed deadlines the expected
// reminders rest on are checked on their own.
type simEvent struct {
	at  string
	ref string
	ev  policy.Event
	do  func(c *CaseState)
	due map[string]string
}

// sim is the daemon's scheduler loop around Plan, with a store reduced to
// the case states and the sent marks.
type sim struct {
	t     *testing.T
	p     *policy.Policy
	s     Settings
	cases []CaseState // cases[0] is the Global pseudo case
	step  time.Duration

	down     [][2]string // the bot is not running in [from, to): restarted at to
	restarts []string    // the bot restarts (loses lastRun) at these times
	every    bool        // restart before every tick

	log  []string // what was sent, after Summarize
	flat []string // what Plan returned, without catch-up marks
	sent map[string]time.Time
}

func newSim(t *testing.T, file string, cases ...CaseState) *sim {
	t.Helper()
	return &sim{
		t:     t,
		p:     seedPolicy(t, file),
		s:     testSettings(),
		cases: append([]CaseState{Global(nil)}, cases...),
		step:  15 * time.Minute,
		sent:  map[string]time.Time{},
	}
}

func (s *sim) find(ref string) *CaseState {
	for i := range s.cases {
		if s.cases[i].Ref == ref {
			return &s.cases[i]
		}
	}
	s.t.Fatalf("no case %q", ref)
	return nil
}

func (s *sim) byID(id uint64) *CaseState {
	for i := range s.cases {
		if s.cases[i].ID == id {
			return &s.cases[i]
		}
	}
	return &s.cases[0]
}

func (s *sim) apply(e simEvent) {
	t := s.t
	t.Helper()
	c := s.find(e.ref)
	at := ts(t, e.at)
	if e.ev != "" {
		c.Clocks = s.p.Apply(c.Clocks, e.ev, at)
		switch e.ev {
		case policy.EventReportReceived, policy.EventTeamReplied, policy.EventAssessmentSent:
			c.LastToReporter = at // the acknowledgement, a reply, the assessment
		case policy.EventWaitingReporter:
			c.WaitingOnReporter = true
		case policy.EventReporterReplied:
			c.WaitingOnReporter = false
		}
		if st, ok := strings.CutPrefix(string(e.ev), "status."); ok {
			c.Status = st
		}
	}
	if e.do != nil {
		e.do(c)
	}
	for name, want := range e.due {
		i := slices.IndexFunc(c.Clocks, func(cl policy.Clock) bool { return cl.Name == name })
		if i < 0 {
			t.Fatalf("%s %s %s: no clock %q", e.at, e.ref, e.ev, name)
		}
		if got := c.Clocks[i].Due; !got.Equal(ts(t, want)) {
			t.Fatalf("%s %s %s: clock %q Due = %s, want %s", e.at, e.ref, e.ev, name,
				got.In(s.p.Calendar.Location()).Format(time.RFC3339), want)
		}
	}
}

var keyTimeRE = regexp.MustCompile(`[0-9]{8}T[0-9]{6}Z`)

// line shows an action as the expectations are written: the tick, the key
// with its times in local "MMDD-hhmm", the recipient, "@" the Due, and
// " *" for a catch-up.
func (s *sim) line(tick time.Time, prefix string, a Action, star bool) string {
	loc := s.p.Calendar.Location()
	short := func(t time.Time) string { return t.In(loc).Format("0102-1504") }
	key := keyTimeRE.ReplaceAllStringFunc(a.Key, func(k string) string {
		v, err := time.Parse("20060102T150405Z", k)
		if err != nil {
			s.t.Fatalf("key %q: %v", a.Key, err)
		}
		return short(v)
	})
	if a.Kind == KindSummary {
		key = fmt.Sprintf("summary(%d)", len(a.Parts))
	}
	l := fmt.Sprintf("%s %s%s -> %s @%s", tick.In(loc).Format("01-02 Mon 15:04"), prefix, key, a.To, short(a.Due))
	if star && a.CatchUp {
		l += " *"
	}
	return l
}

// run ticks from from to to (inclusive), applying events as their time
// comes, and records what is sent.
func (s *sim) run(from, to string, events []simEvent) {
	t := s.t
	t.Helper()
	slices.SortStableFunc(events, func(a, b simEvent) int { return ts(t, a.at).Compare(ts(t, b.at)) })
	start, end := ts(t, from), ts(t, to)
	var lastRun time.Time
	next := 0
	restarts := slices.Clone(s.restarts)
	wasDown := false
	for tick := start; !tick.After(end); tick = tick.Add(s.step) {
		for next < len(events) && !ts(t, events[next].at).After(tick) {
			s.apply(events[next])
			next++
		}
		down := false
		for _, d := range s.down {
			if !tick.Before(ts(t, d[0])) && tick.Before(ts(t, d[1])) {
				down = true
			}
		}
		if down {
			wasDown = true
			continue
		}
		if wasDown || s.every {
			lastRun, wasDown = time.Time{}, false
		}
		for len(restarts) > 0 && !ts(t, restarts[0]).After(tick) {
			lastRun, restarts = time.Time{}, restarts[1:]
		}
		s.tick(tick, lastRun)
		lastRun = tick
	}
	if next < len(events) {
		t.Fatalf("event at %s after the end of the simulation", events[next].at)
	}
}

// tick is one run of the scheduler at now: plan, check, send, record.
func (s *sim) tick(now, lastRun time.Time) {
	t := s.t
	t.Helper()
	planned := Plan(s.p, s.s, s.cases, lastRun, now)
	if len(planned) > 0 && !s.p.Calendar.InWorkingHours(now) {
		t.Errorf("Plan(%s) outside working hours = %v", now, planned)
	}
	seen := map[string]bool{}
	for _, a := range planned {
		s.flat = append(s.flat, s.line(now, "", a, false))
		if seen[a.Key] {
			t.Errorf("Plan(%s): key %s twice", now, a.Key)
		}
		seen[a.Key] = true
		if at, ok := s.sent[a.Key]; ok {
			t.Errorf("Plan(%s): key %s again, sent at %s", now, a.Key, at)
		}
		if !s.p.Calendar.InWorkingHours(a.Due) || a.Due.After(now) {
			t.Errorf("Plan(%s): %s Due = %s, want a working moment not after now", now, a.Key, a.Due)
		}
	}
	for _, a := range Summarize(planned) {
		if a.Kind == KindSummary {
			s.log = append(s.log, s.line(now, "", a, true))
			for _, p := range a.Parts {
				s.log = append(s.log, s.line(now, "+ ", p, true))
			}
		} else {
			s.log = append(s.log, s.line(now, "", a, true))
		}
		s.record(a, now)
	}
}

// record is what the daemon does after sending a: a mark per key, with the
// case each belongs to; a sent date change is now what the reporter knows.
func (s *sim) record(a Action, now time.Time) {
	s.sent[a.Key] = now
	c := s.byID(a.CaseID)
	c.Sent = append(c.Sent, SentMark{Key: a.Key, At: now})
	if a.Kind == KindDisclosureMoved {
		c.DisclosureTold = c.Disclosure
	}
	for _, p := range a.Parts {
		s.record(p, now)
	}
}

// check compares the log with want, both sorted: the exact set of mails
// and when they were sent.
func (s *sim) check(want []string) {
	t := s.t
	t.Helper()
	got := slices.Clone(s.log)
	want = slices.Clone(want)
	slices.Sort(got)
	slices.Sort(want)
	if slices.Equal(got, want) {
		return
	}
	var missing, extra []string
	for _, w := range want {
		if !slices.Contains(got, w) {
			missing = append(missing, w)
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			extra = append(extra, g)
		}
	}
	t.Errorf("sent:\n\t%s\nmissing:\n\t%s\nunexpected:\n\t%s",
		strings.Join(got, "\n\t"), strings.Join(missing, "\n\t"), strings.Join(extra, "\n\t"))
}
