package mailbot

import (
	"time"

	"mailbot/policy"
	"mailbot/store"
	"mailbot/templates"
)

// applyClocks moves a case's clocks on event ev at time at, by the policy.
// policy.Clock and store.Clock have the same fields, so each converts.
func (d *Daemon) applyClocks(clocks []store.Clock, ev policy.Event, at time.Time) []store.Clock {
	if d.policy == nil {
		return clocks
	}
	pc := make([]policy.Clock, len(clocks))
	for i, c := range clocks {
		pc[i] = policy.Clock(c)
	}
	pc = d.policy.Apply(pc, ev, at)
	out := make([]store.Clock, len(pc))
	for i, c := range pc {
		out[i] = store.Clock(c)
	}
	return out
}

// inZone shows t in the policy's time zone, so promised dates read as the
// team's local time.
func (d *Daemon) inZone(t time.Time) time.Time {
	if d.policy != nil && d.policy.Calendar != nil {
		return t.In(d.policy.Calendar.Location())
	}
	return t
}

// pick is the entry of m in lang, the policy's default language, English,
// or else def.
func (d *Daemon) pick(m map[string]string, lang, def string) string {
	langs := []string{lang, "en"}
	if d.policy != nil {
		langs = []string{lang, d.policy.DefaultLanguage(), "en"}
	}
	for _, l := range langs {
		if s := m[l]; s != "" {
			return s
		}
	}
	return def
}

// addPromises puts the running, published clocks of c and the planned
// disclosure date into data.
func (d *Daemon) addPromises(data *templates.Data, c *store.Case) {
	if d.policy == nil {
		return
	}
	for _, cl := range c.Clocks {
		cm, ok := d.policy.Commitment(cl.Name)
		if !ok || cm.Internal || cl.State != "running" {
			continue
		}
		data.Deadlines = append(data.Deadlines, templates.Deadline{
			Name:  cl.Name,
			Title: d.pick(cm.Title, c.Language, cl.Name),
			Due:   d.inZone(cl.Due),
		})
	}
	if t := d.policy.DisclosureDate(c.Created); !t.IsZero() {
		data.Disclosure = d.inZone(t)
	}
	data.PolicyURL = d.policy.PolicyURL
	if d.policy.Organisation != "" {
		data.Organisation = d.policy.Organisation
	}
}

// missingFields lists, in the case's language, the report fields the
// policy asks for that the report's text seems to lack.
func (d *Daemon) missingFields(in *incoming) []string {
	if d.policy == nil || in.msg == nil || in.crypto.unreadable() {
		return nil
	}
	var out []string
	for _, f := range d.policy.MissingFields(in.text()) {
		out = append(out, d.pick(f.Label, d.language(), f.Name))
	}
	return out
}
