package mailbot_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"mailbot/mailbot"
	"mailbot/mailbot/team"
	"mailbot/policy"
	"mailbot/store"
)

// The team of the scheduler tests: two people, so both are always on duty.
var (
	schedAnn = team.Member{Name: "Ann Example", Address: "ann@example.org"}
	schedBob = team.Member{Name: "Bob Example", Address: "bob@example.org"}
)

// schedRoster gives the daemon the team ann and bob on the policy's calendar.
func schedRoster() option {
	return func(h *harness, o *mailbot.Options) {
		r, err := team.NewRoster([]team.Member{schedAnn, schedBob}, team.RotationConfig{}, h.pol.Calendar)
		if err != nil {
			h.t.Fatalf("team.NewRoster() = %v", err)
		}
		o.Roster = r
	}
}

func schedSetClock(c *clock, t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// schedPolicy is the TOML line that makes the harness use a seed policy.
func schedPolicy(t *testing.T, file string) string {
	t.Helper()
	p, err := filepath.Abs("../testdata/policies/" + file)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("policy = %q\n", p)
}

// schedCaseEvent applies a policy event to the case ref at the harness's time,
// and sets fields, as the team's commands will.
func (h *harness) schedCaseEvent(ref string, ev policy.Event, fields map[string]string) {
	h.t.Helper()
	now := h.clock.Now()
	err := h.store.Update(func(tx *store.Tx) error {
		c, err := tx.CaseByRef(ref)
		if err != nil {
			return err
		}
		if ev != "" {
			pc := make([]policy.Clock, len(c.Clocks))
			for i, cl := range c.Clocks {
				pc[i] = policy.Clock(cl)
			}
			pc = h.pol.Apply(pc, ev, now)
			c.Clocks = c.Clocks[:0]
			for _, cl := range pc {
				c.Clocks = append(c.Clocks, store.Clock(cl))
			}
		}
		for k, v := range fields {
			if c.Fields == nil {
				c.Fields = map[string]string{}
			}
			c.Fields[k] = v
		}
		c.Updated = now
		return tx.PutCase(c)
	})
	if err != nil {
		h.t.Fatalf("schedCaseEvent(%s, %s) = %v", ref, ev, err)
	}
}

// schedKinds are the outbox kinds the scheduler writes.
var schedKinds = []string{"remind", "escalate", "digest", "summary", "keep-informed", "disclosure-soon", "disclosure-moved"}

// schedTick runs the scheduler once at the harness's time and describes the mails
// it queued, one line per mail kind and case with its recipients (local
// parts, sorted): "03-04 Wed 09:00 remind SEC-2026-0001 -> ann,bob".
func (h *harness) schedTick(loc *time.Location) []string {
	h.t.Helper()
	before := len(h.outbox())
	now := h.clock.Now()
	n, err := h.d.RemindNow(now)
	if err != nil {
		h.t.Fatalf("RemindNow(%v) = %v", now, err)
	}
	items := h.outbox()[before:]
	if n != len(items) {
		h.t.Errorf("RemindNow(%v) = %d, but %d mails were queued", now, n, len(items))
	}
	refs := map[uint64]string{}
	for _, c := range h.cases() {
		refs[c.ID] = c.Ref
	}
	type group struct{ kind, ref string }
	to := map[group][]string{}
	var order []group
	for _, it := range items {
		if !slices.Contains(schedKinds, it.Kind) {
			h.t.Errorf("RemindNow() queued a mail of kind %q", it.Kind)
		}
		g := group{it.Kind, refs[it.CaseID]}
		if _, ok := to[g]; !ok {
			order = append(order, g)
		}
		for _, a := range it.To {
			local, _, _ := strings.Cut(a, "@")
			to[g] = append(to[g], local)
		}
	}
	var lines []string
	for _, g := range order {
		sort.Strings(to[g])
		l := now.In(loc).Format("01-02 Mon 15:04 ") + g.kind
		if g.ref != "" {
			l += " " + g.ref
		}
		lines = append(lines, l+" -> "+strings.Join(to[g], ","))
	}
	return lines
}

// schedEvent happens at a local time of a simulation, before its tick.
type schedEvent struct {
	at string // "2006-01-02 15:04" in the policy's zone
	do func(h *harness)
}

// schedLocal parses "2006-01-02 15:04" in loc, failing the test on a typo.
func schedLocal(t *testing.T, loc *time.Location) func(string) time.Time {
	return func(s string) time.Time {
		t.Helper()
		v, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
		if err != nil {
			t.Fatalf("bad time %q in the test: %v", s, err)
		}
		return v
	}
}

// simulate ticks the scheduler every 15 minutes from from to to (local
// times), running events, restarting the daemon at restarts and not
// ticking while it is down (a restart ends a downtime). It returns every
// mail line of schedTick.
func schedSimulate(t *testing.T, h *harness, from, to string, events []schedEvent, restarts []string, down [][2]string) []string {
	t.Helper()
	loc := h.pol.Calendar.Location()
	at := schedLocal(t, loc)
	var got []string
	next := 0
	for now := at(from); !now.After(at(to)); now = now.Add(15 * time.Minute) {
		schedSetClock(h.clock, now)
		for ; next < len(events) && !at(events[next].at).After(now); next++ {
			events[next].do(h)
		}
		isDown := false
		for _, dw := range down {
			if !now.Before(at(dw[0])) && now.Before(at(dw[1])) {
				isDown = true
			}
		}
		if isDown {
			continue
		}
		for _, r := range restarts {
			if at(r).Equal(now) {
				h.restart(schedRoster())
			}
		}
		got = append(got, h.schedTick(loc)...)
	}
	if next != len(events) {
		t.Fatalf("%d events after the end of the simulation", len(events)-next)
	}
	return got
}

func schedDiff(t *testing.T, got, want []string) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	t.Errorf("scheduler mails:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
}

// TestSchedulerWeek002 runs policy 002 (IMIS Innovation, Berlin; confirm
// 1bd to the on-duty pair; follow-up 48h wall clock to the assignee, from
// the team's first reply; keep-informed every 7 days) for ten days with a
// restart, ticking every 15 minutes. Settings: remind.DefaultSettings (24h
// and 2h ahead, escalation every 4h, digest 09:00). March 2026 is CET.
func TestSchedulerWeek002(t *testing.T) {
	h := newHarness(t, schedPolicy(t, "002_imis_innovation.toml"), schedRoster())
	const ref = "SEC-2026-0001"
	events := []schedEvent{
		// Tue 11:00: confirm due Wed 4 Mar 11:00.
		{"2026-03-03 11:00", func(h *harness) { h.ingest(report("Ada <"+ada+">", "SQL injection")) }},
		// Wed 10:30: the team replies; confirm is met; follow-up is due Fri
		// 6 Mar 10:30; keep-informed Wed 11 Mar 10:30. Bob takes the case.
		{"2026-03-04 10:30", func(h *harness) {
			h.schedCaseEvent(ref, policy.EventTeamReplied, map[string]string{"assignee": schedBob.Address})
		}},
		// Mon 11:00: the assessment is sent, the follow-up stops (late).
		{"2026-03-09 11:00", func(h *harness) { h.schedCaseEvent(ref, policy.EventAssessmentSent, nil) }},
	}
	got := schedSimulate(t, h, "2026-03-02 08:00", "2026-03-11 12:00", events, []string{"2026-03-05 12:00"}, nil)
	want := []string{
		"03-02 Mon 09:00 digest -> ann,bob",
		"03-03 Tue 09:00 digest -> ann,bob",
		// 24h before Wed 11:00 is the moment the clock started.
		"03-03 Tue 11:00 remind " + ref + " -> ann,bob",
		"03-04 Wed 09:00 digest -> ann,bob",
		// 2h before: Wed 09:00 (confirm).
		"03-04 Wed 09:00 remind " + ref + " -> ann,bob",
		"03-05 Thu 09:00 digest -> ann,bob",
		// follow-up, 24h before, to the assignee only.
		"03-05 Thu 10:30 remind " + ref + " -> bob",
		// (restart Thu 12:00: nothing repeated)
		"03-06 Fri 09:00 digest -> ann,bob",
		// follow-up, 2h before: Fri 08:30, deferred to 09:00.
		"03-06 Fri 09:00 remind " + ref + " -> bob",
		// Breached at 10:30 (first tick after it: 10:45), to the team (no
		// lead configured); again at 14:30; 18:30 is after hours.
		"03-06 Fri 10:45 escalate " + ref + " -> ann,bob",
		"03-06 Fri 14:30 escalate " + ref + " -> ann,bob",
		// Mon 09:00: repetition 17 (68h after Fri 10:30 is Mon 06:30); 18
		// (grid 10:30) waits 4h from 09:00 (issue 19); the assessment at
		// 11:00 ends it.
		"03-09 Mon 09:00 digest -> ann,bob",
		"03-09 Mon 09:00 escalate " + ref + " -> ann,bob",
		"03-10 Tue 09:00 digest -> ann,bob",
		// keep-informed clock (due Wed 11 Mar 10:30), 24h before, to the
		// assignee; then the note itself, 7 days after the acknowledgement.
		"03-10 Tue 10:30 remind " + ref + " -> bob",
		"03-10 Tue 11:00 keep-informed " + ref + " -> ada",
		"03-11 Wed 09:00 digest -> ann,bob",
		"03-11 Wed 09:00 remind " + ref + " -> bob",
		// The keep-informed clock is not escalated at 10:30.
	}
	schedDiff(t, got, want)

	// The progress note: to the reporter, in the case's language, threaded
	// to the report.
	var note *store.OutboxItem
	for _, it := range h.outbox() {
		if it.Kind == "keep-informed" {
			note = it
		}
	}
	if note == nil {
		t.Fatal("no keep-informed note in the outbox")
	}
	body := decodedBody(t, note.Raw)
	for _, want := range []string{"[" + ref + "] Progress on your report", "still working", "Hello Ada"} {
		if !strings.Contains(body, want) {
			t.Errorf("keep-informed note lacks %q:\n%s", want, body)
		}
	}
	if got := header(t, note.Raw, "In-Reply-To"); !strings.Contains(got, "research.example") {
		t.Errorf("keep-informed In-Reply-To = %q, want the report's Message-ID", got)
	}
	// The case's timeline says what was sent.
	var c *store.Case
	for _, cs := range h.cases() {
		c = cs
	}
	if !hasEvent(h.events_(c), "scheduler.keep-informed", "to "+ada) {
		t.Errorf("case events lack scheduler.keep-informed to %s", ada)
	}
}

// TestSchedulerDowntime001 runs policy 001 (Coosto, Amsterdam, Dutch;
// assessment 3bd to the on-duty pair or assignee) with two reports and two
// days of downtime: after the restart one summary per team member, not a
// storm, and the reminders missed meanwhile are never sent.
func TestSchedulerDowntime001(t *testing.T) {
	h := newHarness(t, schedPolicy(t, "001_coosto.toml"), schedRoster())
	a, b := "SEC-2026-0001", "SEC-2026-0002"
	events := []schedEvent{
		// assessment due Thu 5 Mar 10:00 and 14:00.
		{"2026-03-02 10:00", func(h *harness) { h.ingest(report("Ada <"+ada+">", "XSS")) }},
		{"2026-03-02 14:00", func(h *harness) { h.ingest(report("Eve <"+eve+">", "CSRF")) }},
	}
	got := schedSimulate(t, h, "2026-03-02 08:00", "2026-03-06 12:00", events,
		[]string{"2026-03-05 15:00"}, [][2]string{{"2026-03-03 17:00", "2026-03-05 15:00"}})
	want := []string{
		"03-02 Mon 09:00 digest -> ann,bob",
		"03-03 Tue 09:00 digest -> ann,bob",
		// Down Tue 17:00 .. Thu 15:00 (46h): the 24h and 2h reminders of
		// both cases and Wednesday's digest are gone. At 15:00: today's
		// digest (alone to on-duty: as is) and two escalations to the team
		// (A repetition 1, B repetition 0) folded into one summary.
		"03-05 Thu 15:00 digest -> ann,bob",
		"03-05 Thu 15:00 summary -> ann,bob",
		// Fri 09:00: A repetition 5, B 4 (both Fri 06:00, deferred to
		// 09:00), no longer a catch-up: one mail each. A 6 (24h after Thu
		// 10:00) and B 5 (20h after Thu 14:00) are due at 10:00 on the
		// wall-clock grid, but wait 4h from 09:00: 13:00 (issue 19).
		"03-06 Fri 09:00 digest -> ann,bob",
		"03-06 Fri 09:00 escalate " + a + " -> ann,bob",
		"03-06 Fri 09:00 escalate " + b + " -> ann,bob",
	}
	schedDiff(t, got, want)

	var sum *store.OutboxItem
	for _, it := range h.outbox() {
		if it.Kind == "summary" {
			sum = it
			break
		}
	}
	if sum == nil {
		t.Fatal("no summary in the outbox")
	}
	body := decodedBody(t, sum.Raw)
	for _, want := range []string{"2 reminders and escalations", a + ": assessment breached", b + ": assessment breached", "(escalation 2)", "(escalation 1)"} {
		if !strings.Contains(body, want) {
			t.Errorf("summary lacks %q:\n%s", want, body)
		}
	}
	// The marks of the folded escalations are on their cases: nothing is
	// planned again at the same moment, even after another restart.
	h.restart(schedRoster())
	if acts, err := h.d.Plan(h.clock.Now()); err != nil || len(acts) != 0 {
		t.Errorf("Plan() after the last tick and a restart = %v, %v; want nothing", acts, err)
	}
}

// TestSchedulerDisclosureMoved: policy 000 (Caspar Health) plans disclosure
// 90 days after the report and says so in the acknowledgement; when the
// team sets another date, the reporter is told once, in the case's
// language, and again when it moves back.
func TestSchedulerDisclosureMoved(t *testing.T) {
	tests := []struct {
		lang, subject, date string
	}{
		{"en", "New planned disclosure date", "Thursday, 2 July 2026"},
		{"de", "Neuer geplanter Veröffentlichungstermin", "Donnerstag, 2. Juli 2026"},
		{"nl", "Nieuwe geplande datum van openbaarmaking", "donderdag 2 juli 2026"},
	}
	for _, tc := range tests {
		t.Run(tc.lang, func(t *testing.T) {
			h := newHarness(t, schedPolicy(t, "000_caspar_health.toml"), schedRoster())
			h.ingest(report("Ada <"+ada+">", "RCE")) // Tue 3 Mar 11:00 CET: disclosure Mon 1 Jun
			ref := h.cases()[0].Ref
			err := h.store.Update(func(tx *store.Tx) error {
				c, err := tx.CaseByRef(ref)
				if err != nil {
					return err
				}
				c.Language = tc.lang
				return tx.PutCase(c)
			})
			if err != nil {
				t.Fatal(err)
			}
			notices := func() []*store.OutboxItem {
				var out []*store.OutboxItem
				for _, it := range h.outbox() {
					if it.Kind == "disclosure-moved" {
						out = append(out, it)
					}
				}
				return out
			}
			h.schedTick(time.UTC)
			h.schedCaseEvent(ref, "", map[string]string{"disclosure": "2026-06-01"}) // the same date: no move
			h.schedTick(time.UTC)
			if n := len(notices()); n != 0 {
				t.Fatalf("disclosure-moved notices = %d before the date moved, want 0", n)
			}
			h.schedCaseEvent(ref, "", map[string]string{"disclosure": "2026-07-02"})
			h.clock.Advance(15 * time.Minute)
			h.schedTick(time.UTC)
			h.clock.Advance(15 * time.Minute)
			h.restart(schedRoster())
			h.schedTick(time.UTC)
			ns := notices()
			if len(ns) != 1 {
				t.Fatalf("disclosure-moved notices = %d after the move and a restart, want 1", len(ns))
			}
			if got := ns[0].To; len(got) != 1 || got[0] != ada {
				t.Errorf("notice To = %v, want [%s]", got, ada)
			}
			body := decodedBody(t, ns[0].Raw)
			if !strings.Contains(body, tc.subject) || !strings.Contains(body, tc.date) {
				t.Errorf("notice lacks %q and %q:\n%s", tc.subject, tc.date, body)
			}
			// Back to the policy's date: told again.
			h.schedCaseEvent(ref, "", map[string]string{"disclosure": "2026-06-01"})
			h.clock.Advance(15 * time.Minute)
			h.schedTick(time.UTC)
			if n := len(notices()); n != 2 {
				t.Errorf("disclosure-moved notices = %d after moving back, want 2", n)
			}
		})
	}
}

// TestSchedulerDisclosureSetWithoutWindow (issue 19): policy 002 (IMIS)
// plans no disclosure date, so the acknowledgement names none; when the
// team sets one, the reporter is told once (in the month soak seven
// cases had their date set and moved and their reporters never heard).
func TestSchedulerDisclosureSetWithoutWindow(t *testing.T) {
	h := newHarness(t, schedPolicy(t, "002_imis_innovation.toml"), schedRoster())
	h.ingest(report("Ada <"+ada+">", "RCE"))
	ref := h.cases()[0].Ref
	notices := func() (n int) {
		for _, it := range h.outbox() {
			if it.Kind == "disclosure-moved" {
				n++
			}
		}
		return n
	}
	h.schedTick(time.UTC)
	if n := notices(); n != 0 {
		t.Fatalf("disclosure-moved notices = %d with no date, want 0", n)
	}
	h.schedCaseEvent(ref, "", map[string]string{"disclosure": "2026-07-02"})
	h.clock.Advance(15 * time.Minute)
	h.schedTick(time.UTC)
	h.clock.Advance(15 * time.Minute)
	h.schedTick(time.UTC)
	if n := notices(); n != 1 {
		t.Errorf("disclosure-moved notices = %d after the team set a date, want 1", n)
	}
}

// TestSchedulerLoopSends: the daemon's own loop runs the scheduler at start
// and the sender delivers: Tue 3 Mar 11:00 Berlin is after the digest time.
func TestSchedulerLoopSends(t *testing.T) {
	h := newHarness(t, "", schedRoster())
	h.run()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sent, err := h.srv.WaitSent(ctx, 2)
	if err != nil {
		t.Fatalf("WaitSent() = %v", err)
	}
	var to []string
	for _, m := range sent {
		to = append(to, m.To...)
		if subj := header(t, m.Data, "Subject"); !strings.HasPrefix(subj, "Security cases today") {
			t.Errorf("mail Subject = %q, want the digest", subj)
		}
	}
	sort.Strings(to)
	if want := []string{schedAnn.Address, schedBob.Address}; !slices.Equal(to, want) {
		t.Errorf("digest recipients = %v, want %v", to, want)
	}
}

// TestPlanSendsNothing: Plan lists without queueing or marking anything.
func TestPlanSendsNothing(t *testing.T) {
	h := newHarness(t, "", schedRoster())
	h.ingest(report("Ada <"+ada+">", "XSS"))
	before := len(h.outbox())
	for range 2 {
		acts, err := h.d.Plan(h.clock.Now())
		if err != nil {
			t.Fatalf("Plan() = %v", err)
		}
		if len(acts) != 1 || acts[0].Kind != "summary" || len(acts[0].Parts) != 2 {
			t.Errorf("Plan() = %v, want one catch-up summary of the digest and a reminder", acts)
		}
	}
	if n := len(h.outbox()); n != before {
		t.Errorf("outbox has %d items after Plan, want %d", n, before)
	}
	n, err := h.d.RemindNow(h.clock.Now())
	if err != nil || n != 2 {
		t.Errorf("RemindNow() = %d, %v; want 2 (the summary to ann and bob)", n, err)
	}
	if acts, _ := h.d.Plan(h.clock.Now()); len(acts) != 0 {
		t.Errorf("Plan() after RemindNow = %v, want nothing", acts)
	}
}

// schedEscalations runs the scheduler every minute from from to to and
// returns the escalation lines of schedTick.
func (h *harness) schedEscalations(loc *time.Location, from, to time.Time) []string {
	h.t.Helper()
	var got []string
	for now := from; !now.After(to); now = now.Add(time.Minute) {
		schedSetClock(h.clock, now)
		for _, l := range h.schedTick(loc) {
			if strings.Contains(l, " escalate ") {
				got = append(got, l)
			}
		}
	}
	return got
}

// followUpBeforeEaster is an imis case reported Tue 23 Mar 2027 10:00
// Berlin that the team answers at 20:19: confirm is met, follow-up (48h
// wall clock) is due Thu 25 Mar 20:19 CET, after hours, before the Easter
// holidays; its repetition grid (every 4h) has a step at Tue 30 Mar 09:19
// CEST. It returns the harness, the zone, a parser of local times and the
// case ref.
func followUpBeforeEaster(t *testing.T) (*harness, *time.Location, func(string) time.Time, string) {
	t.Helper()
	h := newHarness(t, schedPolicy(t, "002_imis_innovation.toml"), schedRoster())
	loc := h.pol.Calendar.Location()
	at := schedLocal(t, loc)
	schedSetClock(h.clock, at("2027-03-23 10:00"))
	h.ingest(report("Ada <"+ada+">", "SQL injection"))
	ref := h.cases()[0].Ref
	schedSetClock(h.clock, at("2027-03-23 20:19"))
	h.schedCaseEvent(ref, policy.EventTeamReplied, nil)
	return h, loc, at, ref
}

// TestSchedulerEscalationAfterHolidays (issue 19): a follow-up breached on
// Thursday evening before Easter 2027 (Good Friday to Easter Monday are not
// working days in DE) is escalated once at the first working moment after
// the holidays, Tue 30 Mar 09:00 Berlin, and the next escalation waits
// escalate_every (4h) from it: the wall-clock repetition grid of the
// deadline (Thu 20:19 CET + 4h*n, so Tue 09:19 CEST) must not send a
// second one minutes later. The scheduler runs every minute.
func TestSchedulerEscalationAfterHolidays(t *testing.T) {
	h, loc, at, ref := followUpBeforeEaster(t)
	// The only clock that escalates (keep-informed is kept by the note).
	var escalating []string
	for _, cl := range h.cases()[0].Clocks {
		if cl.Stopped.IsZero() && cl.State == policy.StateRunning && cl.Name != policy.KeepInformedName {
			escalating = append(escalating, cl.Name)
		}
	}
	if !slices.Equal(escalating, []string{"follow-up"}) {
		t.Fatalf("running clocks = %v, want only follow-up", escalating)
	}
	got := h.schedEscalations(loc, at("2027-03-25 17:00"), at("2027-03-30 12:00"))
	// One per person: at the first working moment, and none again before
	// 13:00 (4h later).
	want := []string{"03-30 Tue 09:00 escalate " + ref + " -> ann,bob"}
	schedDiff(t, got, want)
}

// TestSchedulerFoldsUnsentEscalations (issue 19): while the mail server is
// away, each escalate_every queues another escalation of the same breach
// to the same people; when it comes back they would all arrive at once
// (imis, after a day without SMTP in the month soak). A new escalation
// cancels the one still queued for the same case and recipients, so each
// member gets the newest only. One that already left stays sent.
func TestSchedulerFoldsUnsentEscalations(t *testing.T) {
	h, loc, at, ref := followUpBeforeEaster(t)
	h.send() // the acknowledgement and the notifications

	escalations := func() (queued, sent, canceled int) {
		t.Helper()
		for _, it := range h.outbox() {
			if it.Kind != "escalate" {
				continue
			}
			switch {
			case it.State == store.OutboxQueued:
				queued++
			case it.State == store.OutboxSent:
				sent++
			case strings.HasPrefix(it.LastError, "canceled: superseded by "):
				canceled++
			default:
				t.Errorf("escalation %d: state %s (%s), want queued, sent or superseded", it.ID, it.State, it.LastError)
			}
		}
		return
	}
	// Tue 30 Mar 09:00 and 13:00 (escalate_every 4h), nothing sent in
	// between: the 13:00 pair replaces the 09:00 pair.
	got := h.schedEscalations(loc, at("2027-03-30 08:55"), at("2027-03-30 13:05"))
	schedDiff(t, got, []string{
		"03-30 Tue 09:00 escalate " + ref + " -> ann,bob",
		"03-30 Tue 13:00 escalate " + ref + " -> ann,bob",
	})
	if q, s, c := escalations(); q != 2 || s != 0 || c != 2 {
		t.Errorf("escalations after 13:00 = %d queued, %d sent, %d superseded; want 2, 0, 2", q, s, c)
	}
	// The 13:00 pair leaves; the next pair supersedes nothing.
	h.send()
	next := ""
	for now := at("2027-03-30 13:06"); next == "" && now.Before(at("2027-03-31 18:00")); now = now.Add(time.Minute) {
		schedSetClock(h.clock, now)
		for _, l := range h.schedTick(loc) {
			if strings.Contains(l, " escalate ") {
				next = l
			}
		}
	}
	if q, s, c := escalations(); next == "" || q != 2 || s != 2 || c != 2 {
		t.Errorf("escalations after %q = %d queued, %d sent, %d superseded; want 2, 2, 2", next, q, s, c)
	}
	var evs []string
	for _, e := range h.events_(h.caseByRef(ref)) {
		if e.Kind == "outbox.canceled" {
			evs = append(evs, e.Detail)
		}
	}
	if len(evs) != 2 {
		t.Errorf("outbox.canceled events = %q, want one per superseded escalation", evs)
	}
}
