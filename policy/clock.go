package policy

import (
	"fmt"
	"slices"
	"time"
)

// Event is something that happens to a case and may start, stop, pause or
// resume clocks.
type Event string

// The events of a case.
const (
	EventReportReceived  Event = "report.received"
	EventReporterReplied Event = "reporter.replied" // also resumes paused clocks
	EventTeamReplied     Event = "team.replied"     // first human reply to the reporter
	EventAssessmentSent  Event = "assessment.sent"  // assessment with an expected resolution date
	EventTriaged         Event = "status.triaged"
	EventConfirmed       Event = "status.confirmed"
	EventFixing          Event = "status.fixing"
	EventFixed           Event = "status.fixed"
	EventDisclosed       Event = "status.disclosed"
	EventRejected        Event = "status.rejected"
	EventDuplicate       Event = "status.duplicate"
	EventSpam            Event = "status.spam"
	EventWaitingReporter Event = "waiting.reporter" // pauses clocks with pause_on_reporter
)

// Events is every known event.
var Events = []Event{
	EventReportReceived, EventReporterReplied, EventTeamReplied, EventAssessmentSent,
	EventTriaged, EventConfirmed, EventFixing, EventFixed, EventDisclosed,
	EventRejected, EventDuplicate, EventSpam, EventWaitingReporter,
}

func (e Event) check() error {
	if e == EventWaitingReporter {
		return fmt.Errorf("event %q pauses clocks, it cannot start or stop one", e)
	}
	if !slices.Contains(Events, e) {
		return fmt.Errorf("unknown event %q", e)
	}
	return nil
}

// Clock states.
const (
	StateRunning  = "running"
	StateMet      = "met"
	StateBreached = "breached"
	StatePaused   = "paused"
)

// Clock tracks one commitment on one case. Its field set is identical to
// store.Clock, so the daemon converts between them by type conversion.
type Clock struct {
	Name     string
	State    string // "running", "met", "breached", "paused"
	Started  time.Time
	Due      time.Time
	Stopped  time.Time // zero while running or paused
	PausedAt time.Time // zero unless paused
}

// Apply returns the clocks after ev happened at at. It does not modify
// clocks. In order:
//
//  1. reporter.replied resumes paused clocks; the time left when they paused
//     is left again (working time for business days);
//  2. clocks whose commitment lists ev in stop are stopped: "met" when at is
//     not after Due, else "breached" (a clock Refresh already breached stays
//     breached and gets its Stopped time); a paused clock is met;
//  3. a commitment whose start is ev gets a running clock with Due computed
//     from at, unless the case already has that clock (a clock runs once per
//     case; keep-informed restarts on each reply of the team);
//  4. waiting.reporter pauses running clocks of commitments with
//     pause_on_reporter (one already overdue is breached instead).
func (p *Policy) Apply(clocks []Clock, ev Event, at time.Time) []Clock {
	out := slices.Clone(clocks)
	find := func(name string) int {
		for i := range out {
			if out[i].Name == name {
				return i
			}
		}
		return -1
	}

	if ev == EventReporterReplied {
		for i := range out {
			c := &out[i]
			if c.State != StatePaused {
				continue
			}
			if cm, ok := p.Commitment(c.Name); ok {
				c.Due = p.Calendar.resume(c.Due, c.PausedAt, at, cm.Duration.Unit)
			}
			c.State, c.PausedAt = StateRunning, time.Time{}
		}
	}

	restart := map[string]bool{}
	for i := range out {
		c := &out[i]
		cm, ok := p.Commitment(c.Name)
		if !ok || !c.Stopped.IsZero() {
			continue
		}
		final := slices.Contains(cm.until, ev)
		if !final && !slices.Contains(cm.Stop, ev) {
			continue
		}
		switch c.State {
		case StateRunning:
			c.State = StateMet
			if at.After(c.Due) {
				c.State = StateBreached
			}
		case StatePaused:
			c.State, c.PausedAt = StateMet, time.Time{}
		}
		c.Stopped = at
		if cm.repeat && !final {
			restart[c.Name] = true
		}
	}

	for _, cm := range p.Commitments {
		if cm.Start != ev {
			continue
		}
		i := find(cm.Name)
		switch {
		case i < 0:
			out = append(out, p.start(cm, at))
		case restart[cm.Name]:
			out[i] = p.start(cm, at)
		}
	}

	if ev == EventWaitingReporter {
		for i := range out {
			c := &out[i]
			cm, ok := p.Commitment(c.Name)
			if !ok || !cm.Pause || c.State != StateRunning {
				continue
			}
			if at.After(c.Due) {
				c.State = StateBreached
				continue
			}
			c.State, c.PausedAt = StatePaused, at
		}
	}
	return out
}

func (p *Policy) start(cm Commitment, at time.Time) Clock {
	return Clock{Name: cm.Name, State: StateRunning, Started: at, Due: p.Calendar.Add(at, cm.Duration)}
}

// Refresh returns the clocks with every running clock whose Due is before
// now marked "breached". Due is kept; Stopped stays zero until the stop
// event arrives.
func (p *Policy) Refresh(clocks []Clock, now time.Time) []Clock {
	out := slices.Clone(clocks)
	for i := range out {
		if out[i].State == StateRunning && now.After(out[i].Due) {
			out[i].State = StateBreached
		}
	}
	return out
}

// DisclosureDate is the day the disclosure window of a report received at
// received ends, at the same local clock time; zero when the policy has no
// fixed window.
func (p *Policy) DisclosureDate(received time.Time) time.Time {
	if p.Disclosure.Days == 0 {
		return time.Time{}
	}
	return received.In(p.Calendar.Location()).AddDate(0, 0, p.Disclosure.Days)
}
