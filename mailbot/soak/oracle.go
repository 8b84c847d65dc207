package soak

import (
	"regexp"
	"slices"
	"strings"
	"time"

	"mailbot/policy"
)

// CheckOptions are the oracle's bounds, all in simulated time, and the
// [remind] settings the instances ran with.
type CheckOptions struct {
	PolicyDir     string        // the seed policies; default ../../testdata/policies
	MaxWait       time.Duration // a mail leaves at most this long after its cause when nothing is broken
	DetectWithin  time.Duration // /healthz is red this long after a visible fault began
	RecoverWithin time.Duration // and green again this long after it ended
	// Backoff is the longest retry wait after a server comes back: mail
	// held by an SMTP outage, Dovecot or a wrong password may wait up to
	// min(Backoff, the fault's length) more (the outbox retries 1 min
	// doubling to 1 h).
	Backoff time.Duration
	// Reconnect is the product's wall-clock wait to reconnect or retry
	// after a server came back, the disk was freed or the mailbox got a
	// new UIDVALIDITY, in simulated time
	// (the IMAP reconnect backoff, 1 s doubling with full jitter, runs on
	// the wall clock): added after the end of every such fault, not
	// capped by its length; zero at the real scale.
	Reconnect     time.Duration
	EscalateEvery time.Duration // [remind] escalate_every
	LeadTimes     []time.Duration
	DigestAt      time.Duration // [remind] digest_at, since local midnight
}

func (o CheckOptions) withDefaults() CheckOptions {
	if o.PolicyDir == "" {
		o.PolicyDir = policyDir
	}
	if o.MaxWait <= 0 {
		o.MaxWait = 30 * time.Minute
	}
	if o.DetectWithin <= 0 {
		o.DetectWithin = 30 * time.Minute
	}
	if o.RecoverWithin <= 0 {
		o.RecoverWithin = time.Hour
	}
	if o.Backoff <= 0 {
		o.Backoff = time.Hour
	}
	if o.EscalateEvery <= 0 {
		o.EscalateEvery = 4 * time.Hour
	}
	if len(o.LeadTimes) == 0 {
		o.LeadTimes = []time.Duration{24 * time.Hour, 2 * time.Hour}
	}
	if o.DigestAt <= 0 {
		o.DigestAt = 9 * time.Hour
	}
	return o
}

// The checks a Violation names.
const (
	CheckSetup        = "setup"              // a policy could not be read
	CheckUndelivered  = "undelivered"        // the driver did not deliver an action of the plan
	CheckAckMissing   = "ack-missing"        // a report got no acknowledgement
	CheckAckTwice     = "ack-twice"          // two acknowledgements with different Message-IDs
	CheckAckLate      = "ack-late"           // later than MaxWait (after the faults in the way)
	CheckAckRecipient = "ack-recipient"      // an acknowledgement to someone else than the reporter
	CheckAckNotReport = "ack-not-report"     // an acknowledgement of a follow-up, team mail or a withdrawal
	CheckNotify       = "notify-missing"     // the on-duty pair was not told of a new report (or held spam) in time
	CheckAnsweredSpam = "answered-spam"      // mail to spam that no member released
	CheckAnsweredBot  = "answered-robot"     // mail to a robot
	CheckUnescalated  = "breach-unescalated" // a deadline passed and no escalation came in time
	CheckEscalateKept = "escalation-kept"    // an escalation of a commitment not breached (kept, or before its deadline)
	CheckEscalateTo   = "escalation-to"      // an escalation to someone outside the team and lead
	CheckRemindMiss   = "reminder-missing"   // a commitment nobody kept was not reminded before its deadline
	CheckRemindLate   = "reminder-late"      // a reminder after its deadline
	CheckRemindHours  = "reminder-hours"     // a reminder outside working hours
	CheckRemindMet    = "reminder-met"       // a reminder after the commitment was kept
	CheckDigestMiss   = "digest-missing"     // a working day without a digest to an on-duty member
	CheckDigestDay    = "digest-day"         // a digest outside working hours (a weekend, a holiday)
	CheckDigestTo     = "digest-to"          // a digest to a member not on duty
	CheckHealthRed    = "health-not-red"     // /healthz stayed green during a visible fault
	CheckHealthGreen  = "health-not-green"   // /healthz not green again after a fault
	CheckLost         = "lost"               // a delivered message not in the store
	CheckDuplicate    = "duplicate"          // the same mail twice with two Message-IDs
	CheckResent       = "resent-storm"       // one Message-ID to one recipient more than twice
	// Mail in answer to a member's mail, each by the bound after it came in.
	CheckRelay   = "relay-missing"   // the member's text not relayed to the reporter (or late)
	CheckConfirm = "confirm-missing" // a command mail not confirmed to its sender (or late)
	CheckClaimed = "claimed-missing" // a claim not told to the other member on duty (or late)
	CheckNotice  = "notice-missing"  // a status change not told to the reporter (or late)
	CheckMoved   = "moved-missing"   // a moved disclosure date not told to the reporter (or late)
)

// Violation is one broken promise, with the case and the times.
type Violation struct {
	Check    string
	Instance string
	Report   string    // the action ID of the report (or other action) it is about
	Case     string    // the case ref, when known
	At       time.Time // simulated: when it was seen (or the end of the run)
	Due      time.Time // simulated: the bound that was missed; zero when none
	Detail   string
}

// Mail kinds as the oracle tells them apart, by the templates' subjects.
const (
	mailAck      = "ack"
	mailNotify   = "notify"
	mailRemind   = "remind"
	mailEscalate = "escalate"
	mailDigest   = "digest"
	mailSummary  = "summary"
	mailRelay    = "relay"
	mailConfirm  = "confirm"
	mailClaimed  = "claimed"
	mailStatus   = "status"
	mailMoved    = "moved"
	mailOther    = "other"
)

var (
	// templates/{en,de,nl}/ack.tmpl
	ackRE = regexp.MustCompile(`^\[([^\]]+)\] (Received|Eingegangen|Ontvangen): `)
	// templates/en/remind.tmpl, escalate.tmpl (team mail is English)
	remindRE = regexp.MustCompile(`^\[([^\]]+)\] Reminder:`)
	// templates/en/notify.tmpl and notice.tmpl: a new report, held spam
	notifyRE   = regexp.MustCompile(`^\[([^\]]+)\] (New report|Held as suspected spam)`)
	escalateRE = regexp.MustCompile(`^\[([^\]]+)\] Overdue:`)
	refRE      = regexp.MustCompile(`\[([A-Z][A-Z0-9]*-[0-9]{4}-[0-9]+)\]`)
	statusRE   = regexp.MustCompile(`^\[([^\]]+)\] (.+)$`)
	// The answers to team mail, each with the case tag first.
	answerREs = []struct {
		kind string
		re   *regexp.Regexp
	}{
		{mailRelay, regexp.MustCompile(`^Re: \[([^\]]+)\] `)}, // templates/{en,de,nl}/relay.tmpl
		// templates/en/confirm.tmpl and claimed.tmpl (team mail is English)
		{mailConfirm, regexp.MustCompile(`^\[([^\]]+)\] (Done|Not all commands applied)$`)},
		{mailClaimed, regexp.MustCompile(`^\[([^\]]+)\] \S+ has it$`)},
		// templates/{en,de,nl}/disclosure-moved.tmpl
		{mailMoved, regexp.MustCompile(`^\[([^\]]+)\] (New planned disclosure date|Neuer geplanter Veröffentlichungstermin|Nieuwe geplande datum van openbaarmaking): `)},
	}
)

// statusNotices are the subjects (after the case tag) of the notice each
// status change the README promises the reporter ("a status change to
// triaged, confirmed (with the expected date), fixed or disclosed sends the
// reporter a notice in the case's language") has in
// templates/{en,de,nl}/status.tmpl.
var statusNotices = map[string][]string{
	"triaged":   {"We are looking into your report", "Wir prüfen Ihre Meldung", "We bekijken je melding"},
	"confirmed": {"We confirmed the vulnerability", "Wir haben die Schwachstelle bestätigt", "We hebben de kwetsbaarheid bevestigd"},
	"fixed":     {"The vulnerability is fixed", "Die Schwachstelle ist behoben", "De kwetsbaarheid is verholpen"},
	"disclosed": {"The vulnerability is disclosed", "Die Schwachstelle ist veröffentlicht", "De kwetsbaarheid is openbaar gemaakt"},
}

// noticeOf is the status a notice's subject tells of, "" when it is none.
func noticeOf(subject string) string {
	if r := statusRE.FindStringSubmatch(subject); r != nil {
		for status, subjects := range statusNotices {
			if slices.Contains(subjects, r[2]) {
				return status
			}
		}
	}
	return ""
}

// classify is a mail's kind and the case ref in its subject.
func classify(m Mail) (kind, ref string) {
	s := strings.TrimSpace(m.Subject)
	switch {
	case ackRE.MatchString(s):
		return mailAck, ackRE.FindStringSubmatch(s)[1]
	case notifyRE.MatchString(s):
		return mailNotify, notifyRE.FindStringSubmatch(s)[1]
	case remindRE.MatchString(s):
		return mailRemind, remindRE.FindStringSubmatch(s)[1]
	case escalateRE.MatchString(s):
		return mailEscalate, escalateRE.FindStringSubmatch(s)[1]
	case strings.HasPrefix(s, "Security cases today"):
		return mailDigest, ""
	case strings.HasPrefix(s, "Security cases: "):
		return mailSummary, ""
	case noticeOf(s) != "":
		return mailStatus, statusRE.FindStringSubmatch(s)[1]
	}
	for _, a := range answerREs {
		if r := a.re.FindStringSubmatch(s); r != nil {
			return a.kind, r[1]
		}
	}
	if r := refRE.FindStringSubmatch(s); r != nil {
		return mailOther, r[1]
	}
	return mailOther, ""
}

func msgID(actionID string) string { return actionID + "@soak.test" }

// bareID is a Message-ID without its angle brackets and spaces.
func bareID(s string) string { return strings.Trim(strings.TrimSpace(s), "<>") }

// seen is one mail with its kind and case.
type seen struct {
	Mail
	kind, ref string
}

// instanceState is what the oracle knows of one instance.
type instanceState struct {
	in     Instance
	pol    *policy.Policy
	cal    *businessCalendar
	faults []FaultRecord // affecting it: its own and the shared servers'
	mail   []seen
}

type oracle struct {
	p     Plan
	o     Observed
	opt   CheckOptions
	end   time.Time
	inst  map[string]*instanceState
	sent  map[string]time.Time // action ID -> delivered
	act   map[string]Action
	cases map[string]string // instance+" "+Message-ID -> case ref (from the store, then the acks)
	// byReport is the actions on a report, in plan order; byCase the
	// report (or released spam) of instance+" "+case ref.
	byReport map[string][]Action
	byCase   map[string]Action
	stored   map[string]bool // instance+" "+Message-ID held in a store at the end
	rep      *Report
}

// Check is the oracle: from the plan, the seed policies and what the run
// observed it computes what had to happen and reports every difference.
// It does not use the product's bookkeeping, only its mail, its /healthz
// and the list of what its stores hold.
func Check(p Plan, o Observed, opt CheckOptions) Report {
	opt = opt.withDefaults()
	or := &oracle{
		p: p, o: o, opt: opt, end: p.Start.Add(p.Span),
		inst: map[string]*instanceState{}, sent: map[string]time.Time{},
		act: map[string]Action{}, cases: map[string]string{},
		byReport: map[string][]Action{}, byCase: map[string]Action{}, stored: map[string]bool{},
		rep: &Report{Seed: p.Seed, Start: p.Start, Span: p.Span, Wall: o.Wall},
	}
	for _, in := range p.Instances {
		pol, cal, err := loadPolicy(opt.PolicyDir, in.Policy)
		if err != nil {
			or.violate(Violation{Check: CheckSetup, Instance: in.Name, Detail: err.Error()})
			continue
		}
		st := &instanceState{in: in, pol: pol, cal: cal}
		for _, f := range o.Faults {
			if f.Instance == "" || f.Instance == in.Name {
				st.faults = append(st.faults, f)
			}
		}
		or.inst[in.Name] = st
	}
	for _, a := range p.Actions {
		or.act[a.ID] = a
		if a.Report != "" {
			or.byReport[a.Report] = append(or.byReport[a.Report], a)
		}
	}
	for _, s := range o.Sent {
		if t, ok := or.sent[s.Action]; !ok || s.At.Before(t) {
			or.sent[s.Action] = s.At
		}
	}
	for _, s := range o.Stored {
		or.cases[s.Instance+" "+bareID(s.MessageID)] = s.Case
		or.stored[s.Instance+" "+bareID(s.MessageID)] = true
	}
	for _, m := range o.Mail {
		st := or.inst[m.Instance]
		if st == nil {
			continue
		}
		kind, ref := classify(m)
		st.mail = append(st.mail, seen{Mail: m, kind: kind, ref: ref})
	}
	for _, st := range or.inst {
		slices.SortStableFunc(st.mail, func(a, b seen) int { return a.At.Compare(b.At) })
		st.mail = or.collapse(st.in.Name, st.mail)
		for _, m := range st.mail {
			k := st.in.Name + " " + bareID(m.InReplyTo)
			if m.kind == mailAck && or.cases[k] == "" {
				or.cases[k] = m.ref
			}
		}
	}
	for _, a := range p.Actions {
		if ref := or.cases[a.Instance+" "+msgID(a.ID)]; ref != "" && (a.Kind == ActReport || a.Kind == ActSpam) {
			or.byCase[a.Instance+" "+ref] = a
		}
	}

	or.checkDelivered()
	or.checkAcks()
	or.checkNotified()
	or.checkTeamMail()
	or.checkCommitments()
	or.checkReminders()
	or.checkDigests()
	or.checkHealth()
	or.checkDuplicates()
	r := *or.rep
	r.sortViolations()
	return r
}

func (or *oracle) violate(v Violation) { or.rep.violations = append(or.rep.violations, v) }

// collapse keeps the first of the mails to one recipient with one
// Message-ID: a mail sent again after a kill -9 between send and mark
// carries the same Message-ID, which is the documented window. That
// window allows one copy; a second resend of one Message-ID is a storm
// (an outbox that re-sends while it cannot commit its mark).
func (or *oracle) collapse(instance string, ms []seen) []seen {
	copies := map[string]int{}
	var out []seen
	for _, m := range ms {
		k := strings.ToLower(m.To) + " " + bareID(m.MessageID)
		if m.MessageID != "" {
			if copies[k]++; copies[k] > 1 {
				or.rep.SameIDResent++
				if copies[k] == 3 {
					or.violate(Violation{Check: CheckResent, Instance: instance, Case: m.ref, At: m.At,
						Detail: "<" + bareID(m.MessageID) + "> to " + m.To + " sent more than twice"})
				}
				continue
			}
		}
		out = append(out, m)
	}
	return out
}

// bound is the latest a mail caused at t may arrive: MaxWait after t, or
// after the end of the faults of st in the way; with working, only inside
// working hours (the scheduler's mail).
func (or *oracle) bound(st *instanceState, t time.Time, working bool) time.Time {
	b := t
	for range 100 {
		if working {
			b = st.cal.nextWorking(b)
		}
		moved := false
		for _, f := range st.faults {
			if end := or.settled(f); f.Began.Before(b.Add(or.opt.MaxWait)) && end.After(b) {
				b, moved = end, true
			}
		}
		if !moved {
			break
		}
	}
	return b.Add(or.opt.MaxWait)
}

// settled is when the product is past fault f: its end, plus the retry
// backoff for a server that was away, plus the wall-clock reconnect for
// a server, a full disk or a new UIDVALIDITY.
func (or *oracle) settled(f FaultRecord) time.Time {
	switch f.Kind {
	case FaultSMTP, FaultDovecot, FaultPassword:
		return f.Ended.Add(min(or.opt.Backoff, f.Ended.Sub(f.Began)) + or.opt.Reconnect)
	case FaultDiskFull:
		return f.Ended.Add(or.opt.Reconnect)
	case FaultUIDValidity:
		// Dovecot keeps an IDLE session on the old mailbox, reporting no
		// new mail, until it notices the change and ends the session
		// (seen 0.2 to 2.3 s wall after doveadm): mail that came in
		// around the reset waits for the bot's reconnect and rescan.
		return f.Ended.Add(or.opt.Reconnect)
	}
	return f.Ended
}

// plannedEarliest is the earliest moment a mail that arrived at t may have
// been planned: MaxWait before, or just before a fault that held it back
// (one that began before t and was not settled long before).
func (or *oracle) plannedEarliest(st *instanceState, t time.Time) time.Time {
	e := t.Add(-or.opt.MaxWait)
	for moved := true; moved; {
		moved = false
		for _, f := range st.faults {
			if early := f.Began.Add(-or.opt.MaxWait); f.Began.Before(t) && !or.settled(f).Add(or.opt.MaxWait).Before(e) && early.Before(e) {
				e, moved = early, true
			}
		}
	}
	return e
}

// delivered is when action id was delivered, if it was.
func (or *oracle) delivered(id string) (time.Time, bool) {
	t, ok := or.sent[id]
	return t, ok
}

func (or *oracle) checkDelivered() {
	for _, a := range or.p.Actions {
		at, ok := or.sent[a.ID]
		if !ok {
			or.violate(Violation{Check: CheckUndelivered, Instance: a.Instance, Report: a.ID, At: a.At, Detail: string(a.Kind)})
			continue
		}
		if !or.stored[a.Instance+" "+msgID(a.ID)] {
			or.violate(Violation{Check: CheckLost, Instance: a.Instance, Report: a.ID, At: at,
				Detail: "<" + msgID(a.ID) + "> delivered, not in the store"})
		}
	}
}

// released is when a member's not-spam for spam action id was delivered.
func (or *oracle) released(id string) (time.Time, bool) {
	for _, a := range or.byReport[id] {
		if a.Kind == ActTeamCommand && commandHas(a.Command, "not-spam") {
			return or.delivered(a.ID)
		}
	}
	return time.Time{}, false
}

func commandHas(command, word string) bool {
	for l := range strings.SplitSeq(command, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), word) {
			return true
		}
	}
	return false
}

// caseOf is the case ref of action a's message, from the store or an ack.
func (or *oracle) caseOf(a Action) string {
	return or.cases[a.Instance+" "+msgID(a.ID)]
}

// answers is every mail of st that answers action a: In-Reply-To its
// Message-ID, or naming its case.
func (or *oracle) answers(st *instanceState, a Action, ref string) []seen {
	var out []seen
	for _, m := range st.mail {
		if bareID(m.InReplyTo) == msgID(a.ID) || (ref != "" && m.ref == ref) ||
			(a.From != "" && strings.EqualFold(m.To, a.From)) {
			out = append(out, m)
		}
	}
	return out
}

func (or *oracle) checkAcks() {
	for _, st := range or.inst {
		for _, m := range st.mail {
			a, ok := or.act[strings.TrimSuffix(bareID(m.InReplyTo), "@soak.test")]
			if m.kind == mailAck && ok && a.Kind != ActReport && a.Kind != ActSpam && a.Kind != ActRobot {
				or.violate(Violation{Check: CheckAckNotReport, Instance: st.in.Name, Report: a.ID, Case: m.ref, At: m.At,
					Detail: string(a.Kind) + " acknowledged as a new report"})
			}
		}
	}
	for _, a := range or.p.Actions {
		st := or.inst[a.Instance]
		arrived, ok := or.delivered(a.ID)
		if st == nil || !ok {
			continue
		}
		switch a.Kind {
		case ActRobot:
			// A robot's own case (not a report's, as a bounce of the
			// bot's mail would be put on) gets no acknowledgement.
			ref := or.caseOf(a)
			if _, onReport := or.byCase[a.Instance+" "+ref]; onReport {
				ref = ""
			}
			for _, m := range or.answers(st, a, ref) {
				if bareID(m.InReplyTo) == msgID(a.ID) || m.kind == mailAck {
					or.violate(Violation{Check: CheckAnsweredBot, Instance: a.Instance, Report: a.ID, At: m.At, Detail: m.Subject})
				}
			}
			continue
		case ActSpam:
			rel, ok := or.released(a.ID)
			if !ok {
				for _, m := range or.answers(st, a, "") {
					if strings.EqualFold(m.To, a.From) {
						or.violate(Violation{Check: CheckAnsweredSpam, Instance: a.Instance, Report: a.ID, At: m.At, Detail: m.Subject})
					}
				}
				continue
			}
			arrived = rel // the acknowledgement goes out at the release
		case ActReport:
		default:
			continue
		}
		or.rep.Reports++
		ref := or.caseOf(a)
		var acks []seen
		for _, m := range st.mail {
			if m.kind == mailAck && (bareID(m.InReplyTo) == msgID(a.ID) || (ref != "" && m.ref == ref)) {
				acks = append(acks, m)
			}
		}
		due := or.bound(st, arrived, false)
		switch {
		case len(acks) == 0:
			if due.Before(or.end) {
				or.violate(Violation{Check: CheckAckMissing, Instance: a.Instance, Report: a.ID, Case: ref, At: or.end, Due: due})
			}
			continue
		case len(acks) > 1:
			or.violate(Violation{Check: CheckAckTwice, Instance: a.Instance, Report: a.ID, Case: ref, At: acks[1].At,
				Detail: "<" + bareID(acks[0].MessageID) + "> and <" + bareID(acks[1].MessageID) + ">"})
		}
		ack := acks[0]
		or.rep.Acked++
		if d := ack.At.Sub(arrived); d > or.rep.MaxAckDelay {
			or.rep.MaxAckDelay = d
		}
		if ack.At.After(due) {
			or.violate(Violation{Check: CheckAckLate, Instance: a.Instance, Report: a.ID, Case: ref, At: ack.At, Due: due})
		}
		if !strings.EqualFold(ack.To, a.From) {
			or.violate(Violation{Check: CheckAckRecipient, Instance: a.Instance, Report: a.ID, Case: ref, At: ack.At, Detail: "to " + ack.To})
		}
	}
}

// checkNotified: every new report and every held spam is told to a member
// on duty (at its arrival, or when the notification came) in time.
func (or *oracle) checkNotified() {
	for _, a := range or.p.Actions {
		st := or.inst[a.Instance]
		arrived, ok := or.delivered(a.ID)
		ref := or.caseOf(a)
		if st == nil || !ok || ref == "" || (a.Kind != ActReport && a.Kind != ActSpam) {
			continue
		}
		due := or.bound(st, arrived, false)
		told := false
		for _, m := range st.mail {
			if m.kind != mailNotify || m.ref != ref || m.At.After(due) {
				continue
			}
			told = told || or.onDuty(st, m.To, arrived, m.At)
		}
		if !told && due.Before(or.end) {
			or.violate(Violation{Check: CheckNotify, Instance: a.Instance, Report: a.ID, Case: ref, At: or.end, Due: due})
		}
	}
}

// checkTeamMail: what a member's mail on a case brings about, each by the
// bound after it came in (README "What happens", "Commands"): its text for
// the reporter relayed to them; a command mail confirmed to its sender, in
// reply to it (RFC 5322 section 3.6.4); a claim told to the other member on
// duty; a status change to triaged, confirmed, fixed or disclosed told to
// the reporter; and a new disclosure date told to the reporter ("tells the
// reporter when that date moves"), by the scheduler, so inside working
// hours. Mail on a case held as spam (not released before it came) gets
// only its confirmation: an answer to spam is backscatter, and a status
// there is "an error in the confirmation".
func (or *oracle) checkTeamMail() {
	taken := map[*instanceState]map[int]bool{}
	for _, a := range or.p.Actions {
		st := or.inst[a.Instance]
		at, ok := or.delivered(a.ID)
		report, onReport := or.act[a.Report]
		ref := or.caseOf(report)
		if st == nil || !ok || !onReport || ref == "" || (a.Kind != ActTeamReply && a.Kind != ActTeamCommand) {
			continue
		}
		if taken[st] == nil {
			taken[st] = map[int]bool{}
		}
		due := or.bound(st, at, false)
		expect := func(check, what string, due time.Time, want func(seen) bool) {
			or.expect(st, taken[st], a, ref, check, what, due, want)
		}
		toReporter := func(m seen) bool { return m.ref == ref && strings.EqualFold(m.To, report.From) }
		rel, released := or.released(report.ID)
		held := report.Kind == ActSpam && (!released || !rel.Before(at))
		if text := strings.TrimSpace(a.ReporterText()); text != "" && !held {
			expect(CheckRelay, "relay to "+report.From, due, func(m seen) bool {
				return m.kind == mailRelay && toReporter(m) && strings.HasPrefix(strings.ReplaceAll(m.Body, "\r\n", "\n"), text)
			})
		}
		if a.Kind != ActTeamCommand {
			continue
		}
		expect(CheckConfirm, "confirmation to "+a.From, due, func(m seen) bool {
			return m.kind == mailConfirm && strings.EqualFold(m.To, a.From) && bareID(m.InReplyTo) == msgID(a.ID)
		})
		if held {
			continue
		}
		for l := range strings.SplitSeq(a.Command, "\n") {
			f := strings.Fields(strings.ToLower(l))
			switch {
			case len(f) == 1 && f[0] == "claim":
				name := or.memberName(st, a.From)
				expect(CheckClaimed, name+" has it, to the other on duty", due, func(m seen) bool {
					return m.kind == mailClaimed && m.Subject == "["+ref+"] "+name+" has it" &&
						!strings.EqualFold(m.To, a.From) && or.onDuty(st, m.To, at, m.At)
				})
			case len(f) == 2 && f[0] == "status" && statusNotices[f[1]] != nil:
				expect(CheckNotice, f[1]+" notice to "+report.From, due, func(m seen) bool {
					return m.kind == mailStatus && toReporter(m) && noticeOf(m.Subject) == f[1]
				})
			case len(f) == 2 && f[0] == "disclose":
				// The acknowledgement showed the policy's date, or none
				// (no disclosure window), so every new date is news; a
				// notice not yet sent when the date moves again tells
				// only the newest.
				if or.disclosedAgain(st, a, report, or.bound(st, at, true)) {
					continue
				}
				expect(CheckMoved, "new disclosure date "+f[1]+" to "+report.From, or.bound(st, at, true), func(m seen) bool {
					return m.kind == mailMoved && toReporter(m)
				})
			}
		}
	}
}

// expect checks that one mail of st that want picks, not taken by an
// earlier action, came after action a and by due: the first such mail is
// taken for a. Missing is a violation only when due is inside the run.
func (or *oracle) expect(st *instanceState, taken map[int]bool, a Action, ref, check, what string, due time.Time, want func(seen) bool) {
	for i, m := range st.mail {
		if taken[i] || m.At.Before(a.At) || !want(m) {
			continue
		}
		taken[i] = true
		if m.At.After(due) {
			or.violate(Violation{Check: check, Instance: a.Instance, Report: a.ID, Case: ref, At: m.At, Due: due, Detail: what + ": late"})
		}
		return
	}
	if due.Before(or.end) {
		or.violate(Violation{Check: check, Instance: a.Instance, Report: a.ID, Case: ref, At: or.end, Due: due, Detail: what})
	}
}

// disclosedAgain reports whether a later command on report set another
// disclosure date before due (its own notice tells the newest date).
func (or *oracle) disclosedAgain(st *instanceState, a, report Action, due time.Time) bool {
	for _, b := range or.byReport[report.ID] {
		if at, ok := or.delivered(b.ID); ok && b.Kind == ActTeamCommand && b.At.After(a.At) && !at.After(due) && commandHas(b.Command, "disclose") {
			return true
		}
	}
	return false
}

// memberName is the name of st's member with address addr.
func (or *oracle) memberName(st *instanceState, addr string) string {
	for _, m := range st.in.Team {
		if strings.EqualFold(m.Address, addr) {
			return m.Name
		}
	}
	return addr
}

// onDuty reports whether addr is on duty on st at one of the times.
func (or *oracle) onDuty(st *instanceState, addr string, times ...time.Time) bool {
	for _, t := range times {
		pair := st.in.OnDuty(t, st.cal.loc, st.cal.isWorkday)
		if strings.EqualFold(addr, pair[0].Address) || strings.EqualFold(addr, pair[1].Address) {
			return true
		}
	}
	return false
}

// event is a team action's effect on a case's clocks, with when it can have
// happened: delivered at lo, processed by hi.
type event struct {
	names  []policy.Event
	closed bool // a final status: every clock ends
	lo, hi time.Time
}

var closingStatus = []string{"rejected", "duplicate", "spam", "disclosed"}

// events are the team's delivered actions on report id, in the order they
// were delivered: the order of their UIDs, which the product reads them
// in (not always the plan's: actions that waited for the same mail of the
// bot go together).
func (or *oracle) events(st *instanceState, id string) []event {
	var out []event
	for _, a := range or.byReport[id] {
		at, ok := or.delivered(a.ID)
		if !ok {
			continue
		}
		e := event{lo: at, hi: or.bound(st, at, false)}
		switch a.Kind {
		case ActTeamReply:
			e.names = append(e.names, policy.EventTeamReplied)
		case ActTeamCommand:
			for l := range strings.SplitSeq(a.Command, "\n") {
				f := strings.Fields(strings.ToLower(l))
				switch {
				case len(f) == 2 && f[0] == "status":
					e.names = append(e.names, policy.Event("status."+f[1]))
					e.closed = e.closed || slices.Contains(closingStatus, f[1])
				case len(f) == 2 && f[0] == "expected":
					e.names = append(e.names, policy.EventAssessmentSent)
				}
			}
		default:
			continue
		}
		out = append(out, e)
	}
	slices.SortStableFunc(out, func(a, b event) int { return a.lo.Compare(b.lo) })
	return out
}

// commitment outcomes
const (
	outcomeKept      = "kept"
	outcomeEscalated = "escalated"
	outcomeLate      = "late"
	outcomeBreached  = "breached"
	outcomeOpen      = "open"
)

func (or *oracle) checkCommitments() {
	for _, a := range or.p.Actions {
		st := or.inst[a.Instance]
		arrived, ok := or.delivered(a.ID)
		if st == nil || !ok {
			continue
		}
		release := arrived
		switch a.Kind {
		case ActReport:
		case ActSpam:
			if release, ok = or.released(a.ID); !ok {
				continue // held: no reminders, no escalations
			}
		default:
			continue
		}
		ref := or.caseOf(a)
		evs := or.events(st, a.ID)
		for _, cm := range st.pol.Commitments {
			if cm.Name == policy.KeepInformedName {
				continue
			}
			out := or.commitment(st, a, ref, cm, arrived, release, evs)
			or.rep.count(a.Instance, cm.Name, out)
		}
	}
}

// span is when commitment cm's clock started on a case that arrived at
// arrived (zero: never) and the event that stopped it (nil: none): one of
// its stop events, or a final status.
func span(cm policy.Commitment, arrived time.Time, evs []event) (start time.Time, stop *event) {
	if cm.Start == policy.EventReportReceived {
		start = arrived
	}
	for i := range evs {
		e := &evs[i]
		if start.IsZero() && slices.Contains(e.names, cm.Start) {
			start = e.lo
			continue
		}
		if !start.IsZero() && (e.closed || slices.ContainsFunc(e.names, func(n policy.Event) bool { return slices.Contains(cm.Stop, n) })) {
			return start, e
		}
	}
	return start, nil
}

// commitment checks one commitment on one case and says how it ended.
func (or *oracle) commitment(st *instanceState, a Action, ref string, cm policy.Commitment, arrived, release time.Time, evs []event) string {
	start, stop := span(cm, arrived, evs)
	if start.IsZero() {
		return "" // never started
	}
	due := st.cal.deadline(start, cm.Duration)
	var escalations []seen
	for _, m := range st.mail {
		if ref == "" {
			continue
		}
		if m.kind == mailEscalate && m.ref == ref && strings.Contains(m.Subject, " "+cm.Name+" was due") && m.At.Before(due) {
			or.violate(Violation{Check: CheckEscalateKept, Instance: a.Instance, Report: a.ID, Case: ref, At: m.At, Due: due,
				Detail: cm.Name + " escalated before its deadline"})
			continue
		}
		if !m.At.Before(due) && ((m.kind == mailEscalate && m.ref == ref && strings.Contains(m.Subject, " "+cm.Name+" was due")) ||
			(m.kind == mailSummary && strings.Contains(m.Body, ref+": "+cm.Name+" breached"))) {
			escalations = append(escalations, m)
		}
	}
	for _, m := range escalations {
		if !or.teamOrLead(st, m.To) {
			or.violate(Violation{Check: CheckEscalateTo, Instance: a.Instance, Report: a.ID, Case: ref, At: m.At, Detail: cm.Name + " to " + m.To})
		}
	}
	if stop != nil {
		for _, m := range escalations {
			if m.kind == mailEscalate && m.At.After(or.bound(st, stop.hi, false)) {
				or.violate(Violation{Check: CheckEscalateKept, Instance: a.Instance, Report: a.ID, Case: ref, At: m.At,
					Due: stop.hi, Detail: cm.Name + ": escalated after it was stopped"})
			}
		}
	}
	switch {
	case stop != nil && !stop.hi.After(due):
		for _, m := range escalations {
			if m.kind == mailEscalate {
				or.violate(Violation{Check: CheckEscalateKept, Instance: a.Instance, Report: a.ID, Case: ref, At: m.At, Due: due,
					Detail: cm.Name + " kept, escalated all the same"})
			}
		}
		return outcomeKept
	case stop != nil && !stop.lo.After(due) && len(escalations) == 0:
		return outcomeKept // processed around the deadline: either is right
	}
	if stop == nil && release.Equal(arrived) {
		or.checkReminded(st, a, ref, cm, start, due)
	}
	// Breached: an escalation to the lead or the team must come by the
	// next working moment after the deadline (after the release of held
	// spam), MaxWait and the faults in the way allowing. The product
	// starts a clock on a report when it reads the report, not when it
	// arrived: that deadline counts.
	late := due
	if cm.Start == policy.EventReportReceived {
		late = st.cal.deadline(or.pickedUp(st, ref, arrived), cm.Duration)
	}
	escDue := or.bound(st, maxTime(late, release), true)
	if len(escalations) > 0 && !escalations[0].At.After(escDue) {
		return outcomeEscalated
	}
	if stop != nil && stop.lo.Before(escDue) {
		return outcomeLate // the team acted after the deadline, before the escalation was due
	}
	if !escDue.Before(or.end) {
		return outcomeOpen
	}
	v := Violation{Check: CheckUnescalated, Instance: a.Instance, Report: a.ID, Case: ref, At: or.end, Due: escDue,
		Detail: cm.Name + " was due " + due.In(st.cal.loc).Format("Mon 2006-01-02 15:04 MST")}
	if len(escalations) > 0 {
		v.At = escalations[0].At
	}
	or.violate(v)
	return outcomeBreached
}

// reminderMoment is when the reminder of the shortest lead time before due
// is planned: due-lead, or the next working moment when that is before
// due, else the opening of the last working day before; false when it
// would be before the clock started (the product skips it then).
func (or *oracle) reminderMoment(st *instanceState, start, due time.Time) (time.Time, bool) {
	r := due.Add(-slices.Min(or.opt.LeadTimes))
	if r.Before(start) {
		return time.Time{}, false
	}
	if m := st.cal.nextWorking(r); m.Before(due) {
		return m, true
	}
	for i := 0; i > -31; i-- {
		if m := st.cal.clock(r, i, st.cal.open); st.cal.isWorkday(m) && !m.After(r) {
			return m, !m.Before(start)
		}
	}
	return time.Time{}, false
}

// checkReminded: a commitment nobody kept was reminded before its deadline
// (the shortest lead time at least), unless a fault of the instance in the
// way let the deadline pass first (then the escalation takes over).
func (or *oracle) checkReminded(st *instanceState, a Action, ref string, cm policy.Commitment, start, due time.Time) {
	m, ok := or.reminderMoment(st, start, due)
	if !ok || !or.bound(st, due, false).Before(or.end) {
		return
	}
	for _, f := range st.faults {
		if f.Began.Before(due) && or.settled(f).Add(or.opt.MaxWait).After(m) {
			return
		}
	}
	for _, r := range st.mail {
		if (r.kind == mailRemind && r.ref == ref && strings.Contains(r.Subject, " "+cm.Name+" due ")) ||
			(r.kind == mailSummary && strings.Contains(r.Body, ref+": "+cm.Name+" due ")) {
			return
		}
	}
	or.violate(Violation{Check: CheckRemindMiss, Instance: a.Instance, Report: a.ID, Case: ref, At: m, Due: due, Detail: cm.Name})
}

// pickedUp is when the product read report a that arrived at arrived: its
// first acknowledgement or notification of case ref, no later than the
// acknowledgement was due (a later one is a violation of its own). An
// intake slowed by a fault (the IMAP reconnect waits on the wall clock)
// reads it late, and starts the case's clocks then.
func (or *oracle) pickedUp(st *instanceState, ref string, arrived time.Time) time.Time {
	for _, m := range st.mail {
		if (m.kind == mailAck || m.kind == mailNotify) && m.ref == ref && ref != "" && !m.At.Before(arrived) {
			return minTime(m.At, or.bound(st, arrived, false))
		}
	}
	return arrived
}

// lastEvent is when the last team action before t was processed at the
// latest; zero when there was none.
func lastEvent(evs []event, t time.Time) time.Time {
	var last time.Time
	for _, e := range evs {
		if e.lo.Before(t) {
			last = minTime(e.hi, t)
		}
	}
	return last
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func (or *oracle) teamOrLead(st *instanceState, addr string) bool {
	if strings.EqualFold(addr, st.in.Lead) {
		return true
	}
	return slices.ContainsFunc(st.in.Team, func(m Member) bool { return strings.EqualFold(m.Address, addr) })
}

// reportByCase is the report action of case ref on st.
func (or *oracle) reportByCase(st *instanceState, ref string) (Action, bool) {
	a, ok := or.byCase[st.in.Name+" "+ref]
	return a, ok
}

// checkReminders: every reminder planned inside working hours, before its
// deadline, and not for a commitment already kept.
func (or *oracle) checkReminders() {
	for _, st := range or.inst {
		for _, m := range st.mail {
			if m.kind != mailRemind {
				continue
			}
			or.rep.Reminders++
			if st.cal.nextWorking(or.plannedEarliest(st, m.At)).After(m.At) {
				or.violate(Violation{Check: CheckRemindHours, Instance: st.in.Name, Case: m.ref, At: m.At, Detail: m.Subject})
			}
			a, ok := or.reportByCase(st, m.ref)
			if !ok {
				continue
			}
			arrived, _ := or.delivered(a.ID)
			evs := or.events(st, a.ID)
			for _, cm := range st.pol.Commitments {
				if !strings.Contains(m.Subject, " "+cm.Name+" due ") {
					continue
				}
				start, stop := span(cm, arrived, evs)
				if cm.Name == policy.KeepInformedName {
					// A repeating clock: every team reply starts it
					// again, so the reminder is of the period since the
					// team's last action before it.
					start, stop = lastEvent(evs, m.At), nil
				}
				if start.IsZero() {
					continue
				}
				due := st.cal.deadline(start, cm.Duration)
				if cm.Start == policy.EventReportReceived {
					due = st.cal.deadline(or.pickedUp(st, m.ref, arrived), cm.Duration)
				}
				if !due.Add(or.opt.MaxWait).Before(or.end) {
					continue // a deadline the run did not reach: nothing to judge
				}
				if bound := or.bound(st, due, false); m.At.After(bound) {
					or.violate(Violation{Check: CheckRemindLate, Instance: st.in.Name, Report: a.ID, Case: m.ref, At: m.At, Due: due, Detail: cm.Name})
				}
				if stop != nil && m.At.After(or.bound(st, stop.hi, false)) {
					or.violate(Violation{Check: CheckRemindMet, Instance: st.in.Name, Report: a.ID, Case: m.ref, At: m.At, Due: stop.hi, Detail: cm.Name})
				}
			}
		}
	}
}

// checkDigests: on every working day a digest to each on-duty member, at
// DigestAt (or the next working moment that day); none outside working
// hours; none to a member off duty.
func (or *oracle) checkDigests() {
	for _, st := range or.inst {
		k := st.cal
		onDuty := func(t time.Time) [2]Member { return st.in.OnDuty(t, k.loc, k.isWorkday) }
		got := map[string]bool{} // date + recipient
		for _, m := range st.mail {
			if m.kind != mailDigest && m.kind != mailSummary {
				continue
			}
			date := m.At.In(k.loc).Format(time.DateOnly)
			got[date+" "+strings.ToLower(m.To)] = true
			if m.kind != mailDigest {
				continue
			}
			or.rep.Digests++
			if k.nextWorking(or.plannedEarliest(st, m.At)).After(m.At) {
				or.violate(Violation{Check: CheckDigestDay, Instance: st.in.Name, At: m.At, Detail: "to " + m.To})
			}
			pair := onDuty(m.At)
			if !strings.EqualFold(m.To, pair[0].Address) && !strings.EqualFold(m.To, pair[1].Address) {
				or.violate(Violation{Check: CheckDigestTo, Instance: st.in.Name, At: m.At,
					Detail: "to " + m.To + ", on duty " + pair[0].Address + " and " + pair[1].Address})
			}
		}
		for day := k.midnight(or.p.Start, 0); day.Before(or.end); day = k.midnight(day, 1) {
			at := k.nextWorking(k.clock(day, 0, or.opt.DigestAt))
			if !k.isWorkday(day.Add(12*time.Hour)) || at.Before(or.p.Start) || !k.midnight(at, 0).Equal(day) {
				continue
			}
			due := or.bound(st, at, true)
			if !due.Before(or.end) {
				continue
			}
			date := day.Format(time.DateOnly)
			for _, mem := range onDuty(at) {
				if !got[date+" "+strings.ToLower(mem.Address)] {
					or.violate(Violation{Check: CheckDigestMiss, Instance: st.in.Name, At: or.end, Due: due, Detail: date + " to " + mem.Address})
				}
			}
		}
	}
}

// redFrom is when a fault must have turned st's /healthz red, if it must:
// the intake fails (Dovecot down, a wrong password) or the store's disk is
// full from its start; a dead SMTP server is seen once a mail is waiting
// (an action delivered to st during the outage, not a robot's). A kill or a suspend is
// not seen from inside, and a UIDVALIDITY reset is handled, not a problem.
// A fault shorter than DetectWithin need not be seen.
func (or *oracle) redFrom(f FaultRecord, st *instanceState) (time.Time, bool) {
	last := f.Ended.Add(-or.opt.DetectWithin)
	switch f.Kind {
	case FaultDovecot, FaultPassword, FaultDiskFull:
		return f.Began, !f.Began.After(last)
	case FaultSMTP:
		for _, a := range or.p.Actions {
			if a.Kind == ActRobot {
				continue // never answered: nothing waits for the server
			}
			if at, ok := or.delivered(a.ID); ok && a.Instance == st.in.Name && !at.Before(f.Began) && !at.After(last) {
				return at, true
			}
		}
	}
	return time.Time{}, false
}

func (or *oracle) checkHealth() {
	for _, f := range or.o.Faults {
		row := FaultRow{Kind: f.Kind, Instance: f.Instance, Began: f.Began, For: f.Ended.Sub(f.Began)}
		for _, st := range or.inst {
			if f.Instance != "" && f.Instance != st.in.Name {
				continue
			}
			var red, green time.Time
			for _, h := range or.o.Health {
				if h.Instance != st.in.Name {
					continue
				}
				if !h.OK && red.IsZero() && !h.At.Before(f.Began) && !h.At.After(f.Ended) {
					red = h.At
				}
				if h.OK && green.IsZero() && !h.At.Before(f.Ended) {
					green = h.At
				}
			}
			if from, ok := or.redFrom(f, st); ok {
				row.Visible = true
				if red.IsZero() || red.After(from.Add(or.opt.DetectWithin)) {
					or.violate(Violation{Check: CheckHealthRed, Instance: st.in.Name, At: red, Due: from.Add(or.opt.DetectWithin),
						Detail: string(f.Kind) + " from " + f.Began.Format(time.DateTime)})
				}
				if !red.IsZero() {
					row.Detected = max(row.Detected, red.Sub(f.Began))
					row.WallDetected = max(row.WallDetected, or.wall(f.Began, red))
				}
			}
			if green.IsZero() || green.After(f.Ended.Add(or.opt.RecoverWithin)) {
				or.violate(Violation{Check: CheckHealthGreen, Instance: st.in.Name, At: green, Due: f.Ended.Add(or.opt.RecoverWithin),
					Detail: string(f.Kind) + " ended " + f.Ended.Format(time.DateTime)})
			}
			if !green.IsZero() {
				row.Recovered = max(row.Recovered, green.Sub(f.Ended))
				row.WallRecovered = max(row.WallRecovered, or.wall(f.Ended, green))
			}
		}
		or.rep.Faults = append(or.rep.Faults, row)
	}
}

// wall is the wall time between two simulated moments.
func (or *oracle) wall(a, b time.Time) time.Duration {
	if or.o.Clock.Scale <= 0 {
		return 0
	}
	return or.o.Clock.Wall(b).Sub(or.o.Clock.Wall(a))
}

// checkDuplicates: the same team mail twice with two Message-IDs. Same
// Message-IDs were collapsed before (the send/mark window). Reminders of
// one deadline come at most once per lead time (counted, not timed),
// escalations once per escalate_every, digests once a day per member.
func (or *oracle) checkDuplicates() {
	for _, st := range or.inst {
		last := map[string]seen{}
		count := map[string]int{}
		for _, m := range st.mail {
			var key string
			var window time.Duration
			switch m.kind {
			case mailRemind:
				// Only counted: the reminders of two lead times may come
				// close together (the longer one moved off a weekend to
				// the opening; both held by an SMTP outage), and carry
				// the same subject.
				k := strings.ToLower(m.To) + " remind " + m.ref + " " + m.Subject
				if count[k]++; count[k] > len(or.opt.LeadTimes) {
					or.violate(Violation{Check: CheckDuplicate, Instance: st.in.Name, Case: m.ref, At: m.At,
						Detail: "more reminders than lead times to " + m.To + ": " + m.Subject})
				}
				continue
			case mailEscalate:
				key, window = "escalate "+m.ref+" "+m.Subject, or.opt.EscalateEvery/2
			case mailDigest:
				key, window = "digest "+m.At.In(st.cal.loc).Format(time.DateOnly), 24*time.Hour
			default:
				continue
			}
			key = strings.ToLower(m.To) + " " + key
			if prev, ok := last[key]; ok && m.At.Sub(prev.At) < window {
				or.violate(Violation{Check: CheckDuplicate, Instance: st.in.Name, Case: m.ref, At: m.At, Due: prev.At,
					Detail: m.kind + " to " + m.To + ": <" + bareID(prev.MessageID) + "> and <" + bareID(m.MessageID) + ">"})
			}
			last[key] = m
		}
	}
}
