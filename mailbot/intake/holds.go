package intake

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"mailbot/mailbot/parse"
	"mailbot/mailbot/remind"
	"mailbot/mailbot/team"
	"mailbot/policy"
	"mailbot/store"
	"mailbot/templates"
)

// Issue 18: the team's side of held spam and of scope hints.

// scopeHint is the event detail of the policy's scope hints examine found
// in a new readable report (examineScope), "" when none; the team's
// notification shows them too (scopeData). A hint never skips the
// acknowledgement nor its clocks: the policy promises both to every report.
func scopeHint(in *incoming) string {
	h := in.hints
	if len(h.OutOfScope) == 0 && len(h.Reward) == 0 {
		return ""
	}
	var parts []string
	for _, e := range h.OutOfScope {
		parts = append(parts, fmt.Sprintf("may be out of scope: %d (%s)", e.N, strings.Join(e.Terms, ", ")))
	}
	if len(h.Reward) > 0 {
		parts = append(parts, "asks for a reward ("+strings.Join(h.Reward, ", ")+") where the policy offers none")
	}
	return strings.Join(parts, "; ")
}

// scopeData is the out-of-scope entries of h with the policy's English
// wording, for the team's notification.
func (l *Line) scopeData(h policy.Hints) []templates.ScopeHint {
	var out []templates.ScopeHint
	for _, e := range h.OutOfScope {
		text, _ := l.policy.OutOfScopeText(e.N, "en")
		out = append(out, templates.ScopeHint{N: e.N, Text: text, Terms: e.Terms})
	}
	return out
}

// decideNotSpam releases a case held as suspected spam: status new again,
// the acknowledgement queued now with the dates of the original arrival
// (the case's clocks started then) to the held report (ts.held, examined
// again). The member who released it is told in the confirmation.
func (l *Line) decideNotSpam(d *decision, c *store.Case, ts teamState, out *teamOutcome) {
	if c.Status != remind.StatusSuspectedSpam || ts.held == nil {
		out.errors = append(out.errors, fmt.Sprintf("not-spam: %s is not held as suspected spam (status %s)", c.Ref, c.Status))
		return
	}
	c.Status = "new"
	// The acknowledgement is rendered in apply: from the case as released
	// here, not as the mail's later commands leave it (language, merge).
	released := *c
	released.Clocks, released.Fields = slices.Clone(c.Clocks), maps.Clone(c.Fields)
	if queued, _ := l.decideAck(d, &released, ts.held, ts.ack); queued {
		out.lines = append(out.lines, "released: not spam; the acknowledgement went to the reporter with the dates from the arrival")
	} else {
		out.lines = append(out.lines, "released: not spam; the acknowledgement stays suppressed (see the case's events)")
	}
	d.event(c, "spam.released", out.member.Address, "not spam: acknowledgement released", false)
}

// reexamineReport rebuilds, from the stored report that opened c, what
// composing its acknowledgement needs. Only the headers and the plain text
// are read again (no decryption inside the transaction): an encrypted
// report is answered without the missing-fields list.
func (l *Line) reexamineReport(tx *txn, c *store.Case) (*incoming, error) {
	msgs, err := tx.Messages(c.ID)
	if err != nil {
		return nil, err
	}
	for _, sm := range msgs {
		if sm.Direction != "in" || sm.From != c.Reporter {
			continue
		}
		rc, err := l.store.OpenRaw(sm.Hash)
		if err != nil {
			return nil, &TemporaryError{Err: fmt.Errorf("open raw: %w", err)}
		}
		msg, err := parse.Parse(rc, l.parseLimits())
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("intake: the held report of %s: %w", c.Ref, err)
		}
		return &incoming{msg: msg, from: c.Reporter, crypto: cryptoFacts{encrypted: sm.Encrypted}}, nil
	}
	return nil, fmt.Errorf("intake: %s has no report from %s", c.Ref, c.Reporter)
}

// decideOutOfScope answers the reporter with the policy's out-of-scope
// entry n in the case's language, threaded and encrypted like a relay, and
// closes the case as rejected. words are the member's own, after the
// commands.
func (l *Line) decideOutOfScope(d *decision, c *store.Case, cmd team.Command, words string, thread mailThread, out *teamOutcome) {
	if l.policy == nil {
		out.errors = append(out.errors, fmt.Sprintf("line %d: out-of-scope %d: no policy is configured", cmd.Line, cmd.Entry))
		return
	}
	text, ok := l.policy.OutOfScopeText(cmd.Entry, c.Language)
	if !ok {
		out.errors = append(out.errors, fmt.Sprintf("line %d: out-of-scope %d: the policy has %d out-of-scope entries", cmd.Line, cmd.Entry, len(l.policy.Scope.Out)))
		return
	}
	data := l.out.TemplateData(c)
	data.OutOfScope = templates.ScopeHint{N: cmd.Entry, Text: text}
	data.Text = strings.TrimSpace(words)
	n := d.toReporter(c, "out-of-scope", data, thread)
	old := c.Status
	c.Status = "rejected"
	c.Clocks = l.applyClocks(c.Clocks, policy.EventRejected, d.now)
	out.bodySent = data.Text != ""
	out.lines = append(out.lines, fmt.Sprintf("out of scope (entry %d): the reporter was answered with its wording; status: rejected (was %s)", cmd.Entry, old))
	d.events = append(d.events, caseEvent{c: c, ev: store.Event{Time: d.now, Kind: "out-of-scope", Actor: out.member.Address,
		Detail: " to the reporter; case closed as rejected"}, mail: n, lead: fmt.Sprintf("entry %d, ", cmd.Entry)})
}
