// Package remind owns the planning of reminders and escalations: given the
// policy, the scheduler settings, the state of every case (its clocks, the
// planned disclosure date, when the reporter last heard from the team) and
// the marks of what was already sent, Plan says which mails are due now.
//
// The package is pure: no store, no network, no goroutines, and time is
// always passed in. The daemon's scheduler loop fills CaseState from the
// stored cases, calls Plan (and Summarize), writes the mails to the outbox
// and records one SentMark per Key in the same store transaction. Because
// every Action has a stable Key derived from stored state (the case, the
// clock, its deadline, the lead time or repetition), a restart neither
// repeats nor skips a mail: what was sent is in Sent, what is due is
// computed again.
//
// # What is planned
//
// For every case that is not closed (disclosed, rejected, duplicate, spam):
//
//   - remind: before the deadline of each running clock, at each lead time
//     of Settings.LeadTimes, to the assignee when the commitment lists
//     "assignee" and the case has one, else to the on-duty pair (or the
//     team or lead, when the commitment lists only those). A lead time
//     that reaches back before the clock started is skipped. When several
//     lead times have passed at once (downtime, a weekend), only the
//     shortest is sent: the others are superseded and never sent.
//   - escalate: once a running clock is past its deadline (Stopped still
//     zero), to "lead" when the commitment lists it, else to "team";
//     repeated every Settings.EscalateEvery, the Key carrying the
//     repetition number floor((now-Due)/EscalateEvery). After downtime
//     or non-working time only the current repetition is sent, and the
//     next one not before EscalateEvery after the working moment the
//     last sent one (its mark) became due. The keep-informed clock that
//     the policy adds is not escalated: the progress note below keeps that
//     promise.
//   - keep-informed: a templated progress note to the reporter when the
//     case is open (not fixed either), not waiting on the reporter, and
//     nobody wrote to the reporter for the policy's keep_informed interval,
//     counted in its unit (calendar days, business days, ...). A note sent
//     by the bot counts as writing: its SentMark restarts the interval.
//   - disclosure-soon: to the team, at each Settings.DisclosureLead before
//     the planned disclosure date (shortest passed lead only, as above).
//   - disclosure-moved: to the reporter, when the planned disclosure date
//     differs from the one they were last told.
//
// And once per working day at Settings.DigestAt, a digest to the on-duty
// pair: open cases, deadlines due today, breached deadlines, cases waiting
// on the reporter, cases held as suspected spam (StatusSuspectedSpam).
//
// Every action is planned only inside the policy calendar's working hours:
// one that falls due outside them waits for the next working moment (its
// Due says when that is). A reminder whose next working moment would not
// come before its deadline (a deadline on a weekend or holiday) moves back
// to the opening of the last working day before instead, but never before
// the reminder of a longer lead time. A reminder is never sent once its
// deadline passed: the escalation takes over. Paused clocks get nothing.
//
// Marks of actions that belong to no case (digests, summaries) are passed
// in the pseudo case Global, with ID 0.
//
// # Catching up
//
// An action is planned once however many ticks the daemon missed, since
// its Key does not depend on when Plan runs. When the previous run is
// unknown or longer ago than Settings.CatchUpAfter, every action is marked
// CatchUp, and Summarize folds all actions of a catch-up to the same team
// recipient into one summary, so a restart after two days of downtime sends
// one mail per recipient, not a storm.
package remind

import (
	"cmp"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"mailbot/policy"
)

// Kinds of Action.
const (
	KindRemind          = "remind"
	KindEscalate        = "escalate"
	KindDigest          = "digest"
	KindKeepInformed    = "keep-informed"
	KindDisclosureSoon  = "disclosure-soon"
	KindDisclosureMoved = "disclosure-moved"
	KindSummary         = "summary" // made by Summarize only
)

// Recipients of an Action, besides the policy's reminder targets
// (policy.RemindOnDuty, RemindAssignee, RemindTeam, RemindLead).
const ToReporter = "reporter"

// FoldOver is how many actions to one team recipient Summarize lets through
// one by one outside a catch-up; more are folded into one summary.
const FoldOver = 3

// DefaultCatchUpAfter is the gap between two runs that counts as downtime
// when Settings.CatchUpAfter is zero.
const DefaultCatchUpAfter = time.Hour

// ErrBadSettings wraps every problem Settings.Check reports.
var ErrBadSettings = errors.New("remind: invalid settings")

// Settings configure the scheduler. The zero value plans no reminders and
// no digest: only escalations (once each), keep-informed notes and
// disclosure-moved notices.
type Settings struct {
	LeadTimes      []time.Duration // before a clock's deadline, e.g. 24h, 2h
	EscalateEvery  time.Duration   // repeat interval of escalations; 0: escalate once
	DigestAt       string          // "09:00" in the policy's time zone; "": no digest
	DisclosureLead []time.Duration // before the planned disclosure date, e.g. 7*24h, 24h
	CatchUpAfter   time.Duration   // a longer gap between runs is downtime; 0: DefaultCatchUpAfter
}

// DefaultSettings are the settings used when the configuration says
// nothing.
func DefaultSettings() Settings {
	return Settings{
		LeadTimes:      []time.Duration{24 * time.Hour, 2 * time.Hour},
		EscalateEvery:  4 * time.Hour,
		DigestAt:       "09:00",
		DisclosureLead: []time.Duration{7 * 24 * time.Hour, 24 * time.Hour},
		CatchUpAfter:   DefaultCatchUpAfter,
	}
}

var digestRE = regexp.MustCompile(`^([0-9]{2}):([0-9]{2})$`)

// digestMinutes is DigestAt in minutes after local midnight.
func (s Settings) digestMinutes() (int, bool) {
	m := digestRE.FindStringSubmatch(s.DigestAt)
	if m == nil {
		return 0, false
	}
	h, _ := strconv.Atoi(m[1])
	mi, _ := strconv.Atoi(m[2])
	if h > 23 || mi > 59 {
		return 0, false
	}
	return h*60 + mi, true
}

// Check reports every problem of s, wrapped in ErrBadSettings. Plan
// tolerates bad settings by ignoring the bad parts; Check is for the
// configuration loader, so a typo is reported at start (a permanent error).
func (s Settings) Check() error {
	var errs []error
	for _, d := range s.LeadTimes {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%w: lead time %v is not positive", ErrBadSettings, d))
		}
	}
	for _, d := range s.DisclosureLead {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%w: disclosure lead %v is not positive", ErrBadSettings, d))
		}
	}
	if s.EscalateEvery < 0 {
		errs = append(errs, fmt.Errorf("%w: escalation interval %v is negative", ErrBadSettings, s.EscalateEvery))
	}
	if s.CatchUpAfter < 0 {
		errs = append(errs, fmt.Errorf("%w: catch-up gap %v is negative", ErrBadSettings, s.CatchUpAfter))
	}
	if _, ok := s.digestMinutes(); s.DigestAt != "" && !ok {
		errs = append(errs, fmt.Errorf("%w: digest time %q, want \"09:00\"", ErrBadSettings, s.DigestAt))
	}
	return errors.Join(errs...)
}

// CaseState is what Plan needs to know of one case; the daemon fills it
// from store.Case.
type CaseState struct {
	ID                uint64
	Ref               string
	Status            string         // store.Case.Status: new, triaged, ..., spam
	Clocks            []policy.Clock // as stored (store.Clock converts)
	Assignee          string         // "" when nobody is assigned
	Disclosure        time.Time      // planned disclosure date; zero for none
	DisclosureTold    time.Time      // the date the reporter was last told; zero: none
	Acknowledged      bool           // the reporter has the acknowledgement (implied by DisclosureTold): a date set later is news
	LastToReporter    time.Time      // last mail to the reporter, human or bot; zero: none
	WaitingOnReporter bool
	Sent              []SentMark // every mark recorded for this case
}

// Global makes the CaseState with ID 0, which is not a case (store case ids
// start at 1): it carries the marks of actions that belong to no case, the
// digests and summaries.
func Global(sent []SentMark) CaseState { return CaseState{Sent: sent} }

// SentMark records that the action with Key was sent at At: the
// idempotency record.
type SentMark struct {
	Key string
	At  time.Time
}

// Action is one mail to send.
type Action struct {
	Key     string    `json:"key"`  // stable: "remind:SEC-2026-0001:confirm:20260105T090000Z:24h"
	Kind    string    `json:"kind"` // remind, escalate, digest, keep-informed, disclosure-soon, disclosure-moved, summary
	CaseID  uint64    `json:"case,omitzero"`
	Clock   string    `json:"clock,omitzero"` // commitment name for remind and escalate
	To      string    `json:"to"`             // on-duty, assignee, team, lead, reporter
	Due     time.Time `json:"due"`            // when it became due: a working moment
	Summary string    `json:"summary"`        // one line for people (the summary: one line per part)
	CatchUp bool      `json:"catch_up,omitzero"`
	Parts   []Action  `json:"parts,omitzero"` // the folded actions of a summary
}

// Keys is every key the daemon records as sent when a is sent: its own and
// those of the actions folded into it. Each part's mark belongs to the case
// of its CaseID; the digest's and the summary's own to Global (CaseID 0).
func (a Action) Keys() []string {
	keys := []string{a.Key}
	for _, p := range a.Parts {
		keys = append(keys, p.Keys()...)
	}
	return keys
}

// String is the action in one line, for `mailbot remind --at`.
func (a Action) String() string {
	s := fmt.Sprintf("%s %s -> %s: %s", a.Due.Format(time.RFC3339), a.Kind, a.To, a.Summary)
	if a.CatchUp {
		s += " (catch-up)"
	}
	return s
}

// closedStatus: nothing is planned for such a case any more.
var closedStatus = []string{"disclosed", "rejected", "duplicate", "spam"}

// StatusSuspectedSpam is a case held as suspected spam (issue 18): its
// acknowledgement waits for the team's not-spam. It stays open (nothing is
// discarded, retention keeps it) but gets no reminder, escalation or note:
// only a line in the digest, until the team releases or closes it.
const StatusSuspectedSpam = "suspected-spam"

// Open reports whether a case in status needs progress: not fixed,
// disclosed, rejected, duplicate or spam (the events that end the policy's
// keep-informed promise).
func Open(status string) bool {
	return status != "fixed" && !slices.Contains(closedStatus, status)
}

// keyTime formats a time in a Key: UTC, to the second.
func keyTime(t time.Time) string { return t.UTC().Format("20060102T150405Z") }

// leadName formats a lead time in a Key: "24h", "90m", "1h30m".
func leadName(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0 && d < time.Hour:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	}
	return d.String()
}

// planner holds what one Plan call shares between cases.
type planner struct {
	p       *policy.Policy
	s       Settings
	now     time.Time
	catchUp bool
	out     []Action
	keys    map[string]bool
}

// add appends a unless an action with its key was planned already.
func (pl *planner) add(a Action) {
	if pl.keys[a.Key] {
		return
	}
	pl.keys[a.Key] = true
	a.CatchUp = pl.catchUp
	pl.out = append(pl.out, a)
}

func (pl *planner) local(t time.Time) string {
	return t.In(pl.p.Calendar.Location()).Format("Mon 2006-01-02 15:04 MST")
}

// Plan returns the actions due at now that are not in any case's Sent
// marks, sorted by Due then Key, with no two alike. lastRun is when the
// previous Plan ran (zero when unknown, e.g. after a restart); it only
// decides CatchUp. Nothing is planned outside the working hours of the
// policy's calendar, or without a validated policy.
func Plan(p *policy.Policy, s Settings, cases []CaseState, lastRun, now time.Time) []Action {
	if p == nil || p.Calendar == nil || !p.Calendar.InWorkingHours(now) {
		return nil
	}
	gap := s.CatchUpAfter
	if gap <= 0 {
		gap = DefaultCatchUpAfter
	}
	pl := &planner{
		p:       p,
		s:       s,
		now:     now,
		catchUp: lastRun.IsZero() || now.Sub(lastRun) > gap,
		keys:    map[string]bool{},
	}
	sent := map[string]bool{}
	for _, c := range cases {
		for _, m := range c.Sent {
			sent[m.Key] = true
		}
	}
	// A key already sent counts as planned, so add drops it.
	for k := range sent {
		pl.keys[k] = true
	}

	for i := range cases {
		if cases[i].ID != 0 {
			pl.planCase(&cases[i])
		}
	}
	pl.planDigest(cases)

	slices.SortFunc(pl.out, func(a, b Action) int {
		if c := a.Due.Compare(b.Due); c != 0 {
			return c
		}
		return cmp.Compare(a.Key, b.Key)
	})
	return pl.out
}

// ref names a case in keys and summaries.
func ref(c *CaseState) string {
	if c.Ref != "" {
		return c.Ref
	}
	return "#" + strconv.FormatUint(c.ID, 10)
}

func (pl *planner) planCase(c *CaseState) {
	if slices.Contains(closedStatus, c.Status) || c.Status == StatusSuspectedSpam {
		return
	}
	for _, cl := range c.Clocks {
		cm, ok := pl.p.Commitment(cl.Name)
		if !ok || len(cm.Remind) == 0 || !cl.Stopped.IsZero() || cl.Due.IsZero() {
			continue
		}
		switch cl.State {
		case policy.StateRunning, policy.StateBreached:
		default:
			continue // met, or paused while waiting on the reporter
		}
		if pl.now.After(cl.Due) {
			if cm.Name != policy.KeepInformedName {
				pl.escalate(c, cm, cl)
			}
			continue
		}
		if cl.State == policy.StateRunning {
			pl.remind(c, cm, cl)
		}
	}
	pl.keepInformed(c)
	pl.disclosure(c)
}

// moment is when a reminder meant for r, before deadline, is sent: the
// next working moment, or when that is not before the deadline (a deadline
// on a weekend or holiday), the opening of the last working day before r.
func (pl *planner) moment(r, deadline time.Time) (time.Time, bool) {
	k := pl.p.Calendar
	if t := k.NextWorkingMoment(r); t.Before(deadline) {
		return t, true
	}
	lr := r.In(k.Location())
	y, m, d := lr.Date()
	for i := 0; i <= maxLookBack; i++ {
		if !k.IsWorkday(time.Date(y, m, d-i, 12, 0, 0, 0, k.Location())) {
			continue
		}
		// The next working moment after midnight of a working day is its
		// opening time.
		if t := k.NextWorkingMoment(time.Date(y, m, d-i, 0, 0, 0, 0, k.Location())); !t.After(r) {
			return t, true
		}
	}
	return time.Time{}, false
}

// maxLookBack bounds the walk back to the last working day, in days.
const maxLookBack = 31

// shortestPassed is the shortest lead time whose moment before deadline has
// passed at now, and that moment, or false. A lead reaching back before
// notBefore is skipped. Moments never run backwards as leads get shorter: a
// shorter lead is due no earlier than a longer one, so when several pass at
// once only the shortest is sent.
func (pl *planner) shortestPassed(leads []time.Duration, deadline, notBefore time.Time) (lead time.Duration, due time.Time, ok bool) {
	if !pl.now.Before(deadline) {
		return 0, time.Time{}, false
	}
	sorted := slices.Clone(leads)
	slices.Sort(sorted)
	slices.Reverse(sorted)
	var floor time.Time
	for _, l := range sorted {
		if l <= 0 {
			continue
		}
		r := deadline.Add(-l)
		if r.Before(notBefore) {
			continue
		}
		m, found := pl.moment(r, deadline)
		if !found || m.Before(notBefore) {
			continue
		}
		if m.Before(floor) {
			m = floor
		}
		floor = m
		if !pl.now.Before(m) {
			lead, due, ok = l, m, true
		}
	}
	return lead, due, ok
}

// remindTarget picks the recipient of a reminder from the commitment's
// targets; see the package comment.
func remindTarget(targets []string, assignee string) string {
	switch {
	case slices.Contains(targets, policy.RemindAssignee) && assignee != "":
		return policy.RemindAssignee
	case slices.Contains(targets, policy.RemindOnDuty), slices.Contains(targets, policy.RemindAssignee):
		return policy.RemindOnDuty
	case slices.Contains(targets, policy.RemindTeam):
		return policy.RemindTeam
	}
	return policy.RemindLead
}

func (pl *planner) remind(c *CaseState, cm *policy.Commitment, cl policy.Clock) {
	lead, due, ok := pl.shortestPassed(pl.s.LeadTimes, cl.Due, cl.Started)
	if !ok {
		return
	}
	pl.add(Action{
		Key:     fmt.Sprintf("%s:%s:%s:%s:%s", KindRemind, ref(c), cl.Name, keyTime(cl.Due), leadName(lead)),
		Kind:    KindRemind,
		CaseID:  c.ID,
		Clock:   cl.Name,
		To:      remindTarget(cm.Remind, c.Assignee),
		Due:     due,
		Summary: fmt.Sprintf("%s: %s due %s (in %s)", ref(c), cl.Name, pl.local(cl.Due), cl.Due.Sub(pl.now).Round(time.Minute)),
	})
}

func (pl *planner) escalate(c *CaseState, cm *policy.Commitment, cl policy.Clock) {
	n := int64(0)
	if e := pl.s.EscalateEvery; e > 0 {
		n = int64(pl.now.Sub(cl.Due) / e)
	}
	to := policy.RemindTeam
	if slices.Contains(cm.Remind, policy.RemindLead) {
		to = policy.RemindLead
	}
	at := cl.Due.Add(time.Duration(n) * pl.s.EscalateEvery)
	// The cadence counts from when the previous escalation (a sent mark)
	// became due, not only from the deadline's grid: a catch-up after
	// non-working time (a weekend, Easter) must not be followed minutes
	// later by the next grid step (issue 19). Each repetition was due at
	// the later of its grid step's working moment and EscalateEvery after
	// the one before, which the marks' repetition numbers replay.
	prefix := fmt.Sprintf("%s:%s:%s:%s:", KindEscalate, ref(c), cl.Name, keyTime(cl.Due))
	var sent []int64
	for _, m := range c.Sent {
		if prev, err := strconv.ParseInt(strings.TrimPrefix(m.Key, prefix), 10, 64); strings.HasPrefix(m.Key, prefix) && err == nil {
			sent = append(sent, prev)
		}
	}
	slices.Sort(sent)
	var prevDue time.Time
	for _, prev := range sent {
		d := pl.p.Calendar.NextWorkingMoment(cl.Due.Add(time.Duration(prev) * pl.s.EscalateEvery))
		if !prevDue.IsZero() && d.Before(prevDue.Add(pl.s.EscalateEvery)) {
			d = pl.p.Calendar.NextWorkingMoment(prevDue.Add(pl.s.EscalateEvery))
		}
		prevDue = d
	}
	if !prevDue.IsZero() && at.Before(prevDue.Add(pl.s.EscalateEvery)) {
		at = prevDue.Add(pl.s.EscalateEvery)
	}
	if pl.now.Before(at) {
		return // the wall-clock step came too soon after the previous one
	}
	pl.add(Action{
		Key:     prefix + strconv.FormatInt(n, 10),
		Kind:    KindEscalate,
		CaseID:  c.ID,
		Clock:   cl.Name,
		To:      to,
		Due:     pl.p.Calendar.NextWorkingMoment(at),
		Summary: fmt.Sprintf("%s: %s breached, was due %s (escalation %d)", ref(c), cl.Name, pl.local(cl.Due), n+1),
	})
}

func (pl *planner) keepInformed(c *CaseState) {
	every := pl.p.KeepInformedEvery
	if every.IsZero() || !Open(c.Status) || c.WaitingOnReporter {
		return
	}
	last := c.LastToReporter
	prefix := fmt.Sprintf("%s:%s:", KindKeepInformed, ref(c))
	for _, m := range c.Sent {
		if strings.HasPrefix(m.Key, prefix) && m.At.After(last) {
			last = m.At // the bot's own note counts as writing to them
		}
	}
	if last.IsZero() {
		return // nothing written yet: the acknowledgement clocks cover that
	}
	due := pl.p.Calendar.NextWorkingMoment(pl.p.Calendar.Add(last, every))
	if pl.now.Before(due) {
		return
	}
	pl.add(Action{
		Key:     prefix + keyTime(last),
		Kind:    KindKeepInformed,
		CaseID:  c.ID,
		To:      ToReporter,
		Due:     due,
		Summary: fmt.Sprintf("%s: progress note to the reporter, last written to %s", ref(c), pl.local(last)),
	})
}

func (pl *planner) disclosure(c *CaseState) {
	if c.Disclosure.IsZero() {
		return
	}
	// Before the acknowledgement nothing: it will carry the date (and a
	// case held as spam is not answered). After it, a date the reporter
	// was not told, even the first one on a policy without a disclosure
	// window (the acknowledgement named none).
	if (c.Acknowledged || !c.DisclosureTold.IsZero()) && !c.DisclosureTold.Equal(c.Disclosure) {
		from, told := "none", "none"
		if !c.DisclosureTold.IsZero() {
			from, told = keyTime(c.DisclosureTold), pl.local(c.DisclosureTold)
		}
		pl.add(Action{
			Key:     fmt.Sprintf("%s:%s:%s>%s", KindDisclosureMoved, ref(c), from, keyTime(c.Disclosure)),
			Kind:    KindDisclosureMoved,
			CaseID:  c.ID,
			To:      ToReporter,
			Due:     pl.now,
			Summary: fmt.Sprintf("%s: planned disclosure moved from %s to %s", ref(c), told, pl.local(c.Disclosure)),
		})
	}
	lead, due, ok := pl.shortestPassed(pl.s.DisclosureLead, c.Disclosure, time.Time{})
	if !ok {
		return
	}
	pl.add(Action{
		Key:     fmt.Sprintf("%s:%s:%s:%s", KindDisclosureSoon, ref(c), keyTime(c.Disclosure), leadName(lead)),
		Kind:    KindDisclosureSoon,
		CaseID:  c.ID,
		To:      policy.RemindTeam,
		Due:     due,
		Summary: fmt.Sprintf("%s: planned disclosure %s (in %s)", ref(c), pl.local(c.Disclosure), c.Disclosure.Sub(pl.now).Round(time.Minute)),
	})
}

// planDigest plans today's digest once DigestAt has passed.
func (pl *planner) planDigest(cases []CaseState) {
	mins, ok := pl.s.digestMinutes()
	if !ok {
		return
	}
	loc := pl.p.Calendar.Location()
	y, m, d := pl.now.In(loc).Date()
	at := pl.p.Calendar.NextWorkingMoment(time.Date(y, m, d, mins/60, mins%60, 0, 0, loc))
	if pl.now.Before(at) || at.In(loc).Day() != d {
		return // not yet, or DigestAt is after closing time
	}
	var open, dueToday, breached, waiting, held []string
	for i := range cases {
		c := &cases[i]
		if c.ID == 0 || !Open(c.Status) {
			continue
		}
		if c.Status == StatusSuspectedSpam {
			held = append(held, ref(c))
			continue
		}
		open = append(open, ref(c))
		if c.WaitingOnReporter {
			waiting = append(waiting, ref(c))
		}
		today, late := false, false
		for _, cl := range c.Clocks {
			if !cl.Stopped.IsZero() || (cl.State != policy.StateRunning && cl.State != policy.StateBreached) {
				continue
			}
			if pl.now.After(cl.Due) {
				late = true
			} else if cy, cm, cd := cl.Due.In(loc).Date(); cy == y && cm == m && cd == d {
				today = true
			}
		}
		if today {
			dueToday = append(dueToday, ref(c))
		}
		if late {
			breached = append(breached, ref(c))
		}
	}
	list := func(l []string) string {
		if len(l) == 0 {
			return "none"
		}
		return strings.Join(l, ", ")
	}
	summary := fmt.Sprintf("digest: %d open (%s); due today: %s; breached: %s; waiting on reporter: %s",
		len(open), list(open), list(dueToday), list(breached), list(waiting))
	if len(held) > 0 {
		summary += "; held as suspected spam, not acknowledged until not-spam: " + list(held)
	}
	pl.add(Action{
		Key:     fmt.Sprintf("%s:%04d-%02d-%02d", KindDigest, y, m, d),
		Kind:    KindDigest,
		To:      policy.RemindOnDuty,
		Due:     at,
		Summary: summary,
	})
}

// Summarize folds the actions to one team recipient into one summary action
// when they are a catch-up (two or more) or more than FoldOver. Mails to
// reporters are never folded. The summary's Key is derived from its parts,
// its Due is the latest of theirs; the daemon sends it as one mail and
// records a.Keys(). Order is kept, a summary taking the place of its first
// part.
func Summarize(actions []Action) []Action {
	type group struct {
		n       int
		catchUp bool
	}
	groups := map[string]*group{}
	for _, a := range actions {
		if a.To == ToReporter {
			continue
		}
		g := groups[a.To]
		if g == nil {
			g = &group{}
			groups[a.To] = g
		}
		g.n++
		g.catchUp = g.catchUp || a.CatchUp
	}
	fold := func(to string) bool {
		g := groups[to]
		return g != nil && (g.n > FoldOver || (g.catchUp && g.n >= 2))
	}
	var out []Action
	at := map[string]int{} // recipient -> index of its summary in out
	for _, a := range actions {
		if a.To == ToReporter || !fold(a.To) {
			out = append(out, a)
			continue
		}
		i, ok := at[a.To]
		if !ok {
			i = len(out)
			at[a.To] = i
			out = append(out, Action{Kind: KindSummary, To: a.To})
		}
		s := &out[i]
		s.Parts = append(s.Parts, a)
		s.CatchUp = s.CatchUp || a.CatchUp
		if a.Due.After(s.Due) {
			s.Due = a.Due
		}
	}
	for _, i := range at {
		s := &out[i]
		lines := make([]string, len(s.Parts))
		keys := make([]string, len(s.Parts))
		for j, p := range s.Parts {
			lines[j] = p.Summary
			keys[j] = p.Key
		}
		slices.Sort(keys)
		s.Key = fmt.Sprintf("%s:%s:%s:%d:%08x", KindSummary, s.To, keyTime(s.Due), len(keys), fnv32(strings.Join(keys, "\n")))
		s.Summary = fmt.Sprintf("%d actions: %s", len(lines), strings.Join(lines, "\n"))
	}
	return out
}

// fnv32 is FNV-1a: a short stable fingerprint of the folded keys.
func fnv32(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}
