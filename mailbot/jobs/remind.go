package jobs

// The scheduler (issue 6): reminders and escalations to the team, the daily
// digest, and the progress notes and disclosure notices the policy promises
// the reporter. The planning is mailbot/remind (pure); this file fills its
// input from the store and writes its output to the outbox.
//
// Idempotency: each tick plans and writes in ONE store transaction, and
// every queued mail is recorded with tx.MarkSent under its action's key in
// that same transaction. A crash before the commit leaves neither mail nor
// mark; after it, both. The next plan (after any restart) sees the marks
// and never plans the action again.

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-message/mail"

	"mailbot/mailbot/config"
	"mailbot/mailbot/flood"
	"mailbot/mailbot/inbox"
	"mailbot/mailbot/outmail"
	"mailbot/mailbot/remind"
	"mailbot/mailbot/team"
	"mailbot/policy"
	"mailbot/store"
	"mailbot/templates"
)

// metaLastRun is the store Meta key holding the time of the previous
// scheduler run (RFC 3339), which tells a catch-up after downtime from a
// normal tick.
const metaLastRun = "remind.lastrun"

// RemindNow runs the scheduler once as of now and returns how many mails it
// queued (for the demo and tests; the daemon's loop calls the same code).
func (j *Jobs) RemindNow(now time.Time) (int, error) { return j.remindOnce(now) }

// remindSettings are the scheduler's settings.
// TODO(lead): read them from config ([remind] lead_times, escalate_every,
// digest_at, disclosure_lead, catch_up_after) and check them with
// remind.Settings.Check at load.
func (j *Jobs) remindSettings() remind.Settings {
	r := j.Config.Remind
	return remind.Settings{LeadTimes: durations(r.LeadTimes), EscalateEvery: r.EscalateEvery.Duration, DigestAt: r.DigestAt,
		DisclosureLead: durations(r.DisclosureLead), CatchUpAfter: r.CatchUpAfter.Duration}
}

func durations(ds []config.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Duration
	}
	return out
}

// Plan returns what the scheduler would send at now, without sending or
// recording anything: remind.Plan then remind.Summarize over the stored
// cases. It is empty without a policy and outside working hours.
func (j *Jobs) Plan(now time.Time) ([]remind.Action, error) {
	var acts []remind.Action
	err := j.Store.View(func(tx *store.Tx) error {
		var err error
		acts, _, err = j.planTx(tx, now)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("remind: plan: %w", err)
	}
	return acts, nil
}

// planTx builds the planner's input from tx and plans. It also returns the
// cases it read, by id, for composing.
func (j *Jobs) planTx(tx *store.Tx, now time.Time) ([]remind.Action, map[uint64]*store.Case, error) {
	if j.Policy == nil || j.Policy.Calendar == nil {
		return nil, nil, nil
	}
	cases := map[uint64]*store.Case{}
	var order []uint64
	err := tx.OpenCases(func(c *store.Case) bool {
		// Disclosed, rejected, duplicate and spam cases get nothing; fixed
		// ones may still have clocks and a disclosure date.
		if remind.Open(c.Status) || c.Status == "fixed" {
			cases[c.ID] = c
			order = append(order, c.ID)
		}
		return true
	})
	if err != nil {
		return nil, nil, err
	}
	// The newest mail to each reporter, and whether the acknowledgement
	// (which told them the planned disclosure date) went out: each case's
	// own outgoing mail (the store's index by case).
	last := map[uint64]time.Time{}
	acked := map[uint64]bool{}
	for _, id := range order {
		c := cases[id]
		err := tx.CaseOutbox(id, func(o *store.OutboxItem) bool {
			if o.State == store.OutboxFailed || !slices.Contains(o.To, c.Reporter) {
				return true
			}
			if o.Created.After(last[id]) {
				last[id] = o.Created
			}
			if o.Kind == "ack" {
				acked[id] = true
			}
			return true
		})
		if err != nil {
			return nil, nil, err
		}
	}
	states := make([]remind.CaseState, 0, len(order)+1)
	for _, id := range order {
		c := cases[id]
		marks, err := tx.SentMarks(id)
		if err != nil {
			return nil, nil, err
		}
		st := remind.CaseState{
			ID:             id,
			Ref:            c.Ref,
			Status:         c.Status,
			Assignee:       c.Fields["assignee"],
			Disclosure:     j.Out.DisclosureDate(c),
			LastToReporter: c.Created,
			Sent:           sentMarks(marks),
		}
		if t := last[id]; t.After(st.LastToReporter) {
			st.LastToReporter = t
		}
		for _, cl := range c.Clocks {
			st.Clocks = append(st.Clocks, policy.Clock(cl))
			if cl.State == policy.StatePaused {
				st.WaitingOnReporter = true
			}
		}
		if acked[id] {
			st.Acknowledged = true
			st.DisclosureTold = j.Policy.DisclosureDate(c.Created)
		}
		if t, ok := disclosureTold(marks); ok {
			st.DisclosureTold = t
		}
		states = append(states, st)
	}
	global, err := tx.SentMarks(0)
	if err != nil {
		return nil, nil, err
	}
	states = append(states, remind.Global(sentMarks(global)))
	var lastRun time.Time
	if v, ok := tx.Meta(metaLastRun); ok {
		lastRun, _ = time.Parse(time.RFC3339Nano, v) // QUIRK: garbage counts as never: a catch-up
	}
	acts := remind.Plan(j.Policy, j.remindSettings(), states, lastRun, now)
	addFloodToDigest(tx, acts, global)
	return remind.Summarize(acts), cases, nil
}

// addFloodToDigest appends to a digest among acts the reports the flood
// caps folded or held since the previous digest (without one: those the
// flood log still keeps, flood.Keep).
func addFloodToDigest(tx *store.Tx, acts []remind.Action, global []store.SentMark) {
	var since time.Time
	for _, m := range global {
		if strings.HasPrefix(m.Key, remind.KindDigest+":") && m.At.After(since) {
			since = m.At
		}
	}
	for i := range acts {
		if acts[i].Kind == remind.KindDigest {
			if lines := floodDigest(tx, since); len(lines) > 0 {
				acts[i].Summary += "; folded or held by the flood caps: " + strings.Join(lines, "; ")
			}
		}
	}
}

// floodDigest is what the digest adds: the reports folded or held since
// the previous digest (or the last day).
func floodDigest(tx *store.Tx, since time.Time) []string {
	v, _ := tx.Meta(flood.MetaLog)
	log, err := flood.ParseLog(v)
	if err != nil {
		return []string{"flood log unreadable: " + err.Error()}
	}
	return log.Since(since)
}

func sentMarks(ms []store.SentMark) []remind.SentMark {
	out := make([]remind.SentMark, len(ms))
	for i, m := range ms {
		out[i] = remind.SentMark(m)
	}
	return out
}

// disclosureTold is the date the newest disclosure-moved notice announced,
// read back from its mark ("disclosure-moved:REF:OLD>NEW").
func disclosureTold(marks []store.SentMark) (time.Time, bool) {
	var told, at time.Time
	for _, m := range marks {
		if !strings.HasPrefix(m.Key, remind.KindDisclosureMoved+":") || m.At.Before(at) {
			continue
		}
		_, to, ok := strings.Cut(m.Key, ">")
		if t, err := time.Parse("20060102T150405Z", to); ok && err == nil {
			told, at = t, m.At
		}
	}
	return told, !told.IsZero()
}

// remindOnce plans at now and, in one transaction, queues every due mail,
// records its marks and the time of this run. It returns the number of
// mails queued. An action whose mail cannot be composed (a template or key
// problem) is logged and left unmarked, so it is tried again next tick;
// store errors abort the whole run (temporary: nothing was written).
func (j *Jobs) remindOnce(now time.Time) (int, error) {
	// Most ticks find nothing due: plan under the read lock first, and hold
	// the write lock (which stalls the intake) only to note the run.
	acts, err := j.Plan(now)
	if err != nil {
		return 0, &inbox.TemporaryError{Err: err}
	}
	if len(acts) == 0 {
		err := j.Store.Update(func(tx *store.Tx) error {
			return tx.SetMeta(metaLastRun, now.UTC().Format(time.RFC3339Nano))
		})
		if err != nil {
			return 0, &inbox.TemporaryError{Err: fmt.Errorf("remind: %w", err)}
		}
		return 0, nil
	}
	queued, escalated := 0, 0
	err = j.Store.Update(func(tx *store.Tx) error {
		// Planned again inside the transaction: what it writes is exactly
		// what its own snapshot says is due.
		queued, escalated = 0, 0
		acts, cases, err := j.planTx(tx, now)
		if err != nil {
			return err
		}
		for _, a := range acts {
			q := j.Out.NewQueue()
			items, err := j.composeAction(tx, q, a, cases, now)
			if err == nil {
				_, err = q.Seal()
			}
			if err != nil {
				j.Log.Error("reminder not queued", "case", a.CaseID, "kind", a.Kind, "err", err)
				continue
			}
			if a.Kind == remind.KindEscalate {
				for _, it := range items {
					if err := supersede(tx, it, now); err != nil {
						return err
					}
				}
			}
			if _, err := q.Flush(tx); err != nil {
				return err
			}
			if err := j.recordAction(tx, a, items, now); err != nil {
				return err
			}
			queued += len(items)
			if a.Kind == remind.KindEscalate {
				escalated++
			}
		}
		return tx.SetMeta(metaLastRun, now.UTC().Format(time.RFC3339Nano))
	})
	if err != nil {
		return 0, &inbox.TemporaryError{Err: fmt.Errorf("remind: %w", err)}
	}
	if queued > 0 {
		j.Log.Info("reminders queued", "n", queued)
	}
	if j.Metrics != nil && escalated > 0 {
		j.Metrics.DeadlineBreaches.Add(float64(escalated))
	}
	return queued, nil
}

// supersede cancels the mails of it's kind on it's case still queued to
// the same recipients: while the mail server is away, every escalate_every
// queues another escalation of one breach, and the team should get the
// newest when it comes back, not all of them at once. A mail the sender
// has in hand is sent all the same (it marks it sent).
func supersede(tx *store.Tx, it *store.OutboxItem, now time.Time) error {
	var old []*store.OutboxItem
	err := tx.CaseOutbox(it.CaseID, func(o *store.OutboxItem) bool {
		if o.Kind == it.Kind && o.State == store.OutboxQueued && slices.Equal(o.To, it.To) {
			old = append(old, o)
		}
		return true
	})
	if err != nil {
		return err
	}
	for _, o := range old {
		o.State, o.NextAttempt = store.OutboxFailed, time.Time{}
		o.LastError = "canceled: superseded by <" + it.MessageID + ">"
		if err := tx.PutOutbox(o); err != nil {
			return err
		}
		ev := store.Event{Time: now, Kind: "outbox.canceled", Actor: "bot",
			Detail: fmt.Sprintf("%s <%s> to %v: superseded by <%s>", o.Kind, o.MessageID, o.To, it.MessageID)}
		if err := tx.AppendEvent(o.CaseID, ev); err != nil {
			return err
		}
	}
	return nil
}

// recordAction marks a and every action folded into it as sent (each on its
// own case; digests and summaries on case 0) and notes the mail on each
// case's timeline.
func (j *Jobs) recordAction(tx *store.Tx, a remind.Action, items []*store.OutboxItem, now time.Time) error {
	var to []string
	for _, it := range items {
		to = append(to, it.To...)
	}
	detail := "nobody to send to"
	if len(to) > 0 {
		detail = "to " + strings.Join(to, ", ")
	}
	var record func(a remind.Action) error
	record = func(a remind.Action) error {
		if err := tx.MarkSent(a.CaseID, a.Key, now); err != nil {
			return err
		}
		if a.CaseID != 0 {
			ev := store.Event{Time: now, Kind: "scheduler." + a.Kind, Actor: "bot", Detail: detail + ": " + a.Summary}
			if err := tx.AppendEvent(a.CaseID, ev); err != nil {
				return err
			}
		}
		for _, p := range a.Parts {
			if err := record(p); err != nil {
				return err
			}
		}
		return nil
	}
	return record(a)
}

// errNoCase: an action names a case that the plan did not read.
var errNoCase = errors.New("remind: action for an unknown case")

// composeAction queues in q the mail of a: one per team member it
// concerns, or one to the reporter. It writes nothing.
func (j *Jobs) composeAction(tx *store.Tx, q *outmail.Queue, a remind.Action, cases map[uint64]*store.Case, now time.Time) ([]*store.OutboxItem, error) {
	if a.To == remind.ToReporter {
		c := cases[a.CaseID]
		if c == nil {
			return nil, fmt.Errorf("%w: %d", errNoCase, a.CaseID)
		}
		if c.Reporter == "" {
			return nil, nil // forgotten (store.Forget): nobody to tell
		}
		it, err := j.composeReporterNote(tx, q, a, c)
		if err != nil {
			return nil, err
		}
		return []*store.OutboxItem{it}, nil
	}
	// Who gets which part: a summary to "assignee" folds cases of
	// different assignees, and each is told only about their own.
	parts := a.Parts
	if len(parts) == 0 {
		parts = []remind.Action{a}
	}
	type share struct {
		m     team.Member
		parts []remind.Action
	}
	var shares []*share
	byAddr := map[string]*share{}
	for _, p := range parts {
		for _, m := range j.Out.TeamRecipients(p.To, cases[p.CaseID], now) {
			addr := strings.ToLower(m.Address)
			s := byAddr[addr]
			if s == nil {
				s = &share{m: m}
				byAddr[addr] = s
				shares = append(shares, s)
			}
			s.parts = append(s.parts, p)
		}
	}
	if len(shares) == 0 {
		j.Log.Info("reminder has nobody to go to", "case", a.CaseID, "kind", a.Kind)
	}
	var items []*store.OutboxItem
	for _, s := range shares {
		it, err := j.composeTeamMail(q, a, s.parts, s.m, cases)
		if err != nil {
			return nil, fmt.Errorf("to %s: %w", s.m.Address, err)
		}
		items = append(items, it)
	}
	return items, nil
}

// composeTeamMail renders the team template of a (English unless
// overridden) for member m, encrypted to m's key when both sides have
// keys. Report content (the subject) is shown only to members who get it
// encrypted, or when team_mail.plaintext allows it.
func (j *Jobs) composeTeamMail(q *outmail.Queue, a remind.Action, parts []remind.Action, m team.Member, cases map[uint64]*store.Case) (*store.OutboxItem, error) {
	encrypt := j.Out.MemberKey(m)
	data := templates.Data{
		Organisation: j.Out.DisplayName(),
		Address:      j.Config.Address,
		Fingerprint:  j.Out.Fingerprint(),
		Encrypted:    len(encrypt) > 0,
	}
	if j.Policy != nil && j.Policy.Organisation != "" {
		data.Organisation = j.Policy.Organisation
	}
	ref := a.Kind // names the Message-ID of mail about no case
	var caseID uint64
	if c := cases[a.CaseID]; c != nil {
		ref, caseID = c.Ref, c.ID
		data.CaseRef = c.Ref
		data.ReporterName = c.ReporterName
		data.Received = j.Out.InZone(c.Created)
		if data.Encrypted || j.Config.TeamMail.Plaintext {
			data.Subject = c.Subject
		}
	}
	switch a.Kind {
	case remind.KindRemind, remind.KindEscalate:
		c := cases[a.CaseID]
		if c == nil {
			return nil, fmt.Errorf("%w: %d", errNoCase, a.CaseID)
		}
		for _, cl := range c.Clocks {
			if cl.Name != a.Clock {
				continue
			}
			title := cl.Name
			if cm, ok := j.Policy.Commitment(cl.Name); ok {
				title = j.Out.Pick(cm.Title, "en", cl.Name)
			}
			data.Deadlines = append(data.Deadlines, templates.Deadline{Name: cl.Name, Title: title, Due: j.Out.InZone(cl.Due)})
		}
	case remind.KindDisclosureSoon:
		c := cases[a.CaseID]
		if c == nil {
			return nil, fmt.Errorf("%w: %d", errNoCase, a.CaseID)
		}
		data.Disclosure = j.Out.InZone(j.Out.DisclosureDate(c))
	case remind.KindDigest:
		// "digest: 2 open (A, B); due today: none; ..." one line each.
		for _, line := range strings.Split(strings.TrimPrefix(a.Summary, "digest: "), "; ") {
			data.Deadlines = append(data.Deadlines, templates.Deadline{Name: a.Kind, Title: line, Due: j.Out.InZone(a.Due)})
		}
	case remind.KindSummary:
		for _, p := range parts {
			data.Deadlines = append(data.Deadlines, templates.Deadline{Name: p.Kind, Title: p.Summary, Due: j.Out.InZone(p.Due)})
		}
	}
	subject, body, err := j.Out.Templates.Render(a.Kind, []string{"en"}, data)
	if err != nil {
		return nil, err
	}
	return q.Add(outmail.Mail{Kind: a.Kind, Generated: true, CaseID: caseID, CaseRef: ref, To: &mail.Address{Name: m.Name, Address: m.Address},
		Subject: subject, Body: body, Encrypt: encrypt}), nil
}

// composeReporterNote renders a keep-informed note or a disclosure-moved
// notice to the reporter of c, in the case's language, threaded to their
// report and encrypted when their key is known.
func (j *Jobs) composeReporterNote(tx *store.Tx, q *outmail.Queue, a remind.Action, c *store.Case) (*store.OutboxItem, error) {
	data := j.Out.TemplateData(c)
	// The promises still open, without the keep-informed clock itself (this
	// note is that promise kept).
	data.Deadlines = slices.DeleteFunc(data.Deadlines, func(dl templates.Deadline) bool { return dl.Name == policy.KeepInformedName })
	data.Disclosure = time.Time{}
	if t := j.Out.DisclosureDate(c); !t.IsZero() {
		data.Disclosure = j.Out.InZone(t)
	}
	msgs, err := tx.Messages(c.ID)
	if err != nil {
		return nil, err
	}
	var first, newest *store.Message
	for _, m := range msgs {
		if m.Direction != "in" || m.From != c.Reporter || m.MessageID == "" {
			continue
		}
		if first == nil {
			first = m
		}
		newest = m
	}
	var refs []string
	var inReplyTo string
	encryptedReport := false
	if first != nil {
		refs = []string{first.MessageID}
		inReplyTo = newest.MessageID
		encryptedReport = first.Encrypted
	}
	encrypt := j.Out.ReporterKey(tx, c.Reporter)
	data.Encrypted = len(encrypt) > 0
	if !data.Encrypted && (encryptedReport || !j.Policy.PlaintextReplies) {
		// Never echo in clear what came encrypted or is not to be sent so.
		data.Subject = "your report"
	}
	subject, body, err := j.Out.Templates.Render(a.Kind, []string{c.Language}, data)
	if err != nil {
		return nil, err
	}
	to := &mail.Address{Name: c.ReporterName, Address: c.Reporter}
	return q.Add(outmail.Mail{Kind: a.Kind, Generated: true, CaseID: c.ID, CaseRef: c.Ref, To: to, Subject: subject, Body: body,
		InReplyTo: inReplyTo, References: refs, Encrypt: encrypt}), nil
}
