package intake

import (
	"time"

	"mailbot/policy"
	"mailbot/store"
)

// applyClocks moves a case's clocks on event ev at time at, by the policy.
// policy.Clock and store.Clock have the same fields, so each converts.
func (l *Line) applyClocks(clocks []store.Clock, ev policy.Event, at time.Time) []store.Clock {
	if l.policy == nil {
		return clocks
	}
	pc := make([]policy.Clock, len(clocks))
	for i, c := range clocks {
		pc[i] = policy.Clock(c)
	}
	pc = l.policy.Apply(pc, ev, at)
	out := make([]store.Clock, len(pc))
	for i, c := range pc {
		out[i] = store.Clock(c)
	}
	return out
}

// missingFields lists, in the case's language, the report fields the
// policy asks for that the report's text seems to lack.
func (l *Line) missingFields(in *incoming) []string {
	if l.policy == nil || in.msg == nil || in.crypto.unreadable() || in.crypto.encrypted && in.crypto.plainText == "" {
		return nil
	}
	var out []string
	for _, f := range l.policy.MissingFields(in.text()) {
		out = append(out, l.out.Pick(f.Label, l.language(), f.Name))
	}
	return out
}
