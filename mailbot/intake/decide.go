package intake

import (
	"fmt"
	"strings"
	"time"

	"mailbot/mailbot/flood"
	"mailbot/mailbot/probe"
	"mailbot/mailbot/remind"
	"mailbot/mailbot/team"
	"mailbot/mailbot/triage"
	"mailbot/store"
	"mailbot/templates"
)

// decision is what decide makes of one message: everything apply writes
// for it. Events and mails keep the order they are decided in.
type decision struct {
	now time.Time
	// res is the outcome as reported: apply adds the stored message's id
	// and the reference of a case it opens.
	res        Result
	held       string             // the disk is low: nothing is written, the message waits (heldError)
	quarantine *store.Quarantined // could not be parsed: kept aside, nothing else
	probe      *probe.Record      // the self-test probe's record, arrived now
	message    *store.Message     // the message record; nil: nothing kept (the probe)
	// onCase is the case the message goes on (its CaseID); open says apply
	// opens it first (with the ID and reference the store gives it next),
	// put that the case changed and is written back.
	onCase      *store.Case
	open        bool
	put         bool
	changed     []*store.Case // other cases changed (a merge's), written back
	events      []caseEvent
	mails       []mailOut
	sends       []sendMark   // the send log's marks: rate limits and flood caps
	keys        []keyWrite   // trust on first use, and keys the team accepts
	ciphertexts []string     // hashes of the message's ciphertexts to index under onCase
	folded      *flood.Entry // a report the case caps kept from a case, for the flood log
	replayKey   string       // an accepted team mail's replay key, remembered
	// afterCase is the fault point between a new case and its
	// acknowledgement (tests of the one transaction).
	afterCase bool
}

// caseEvent is an event decided for case c. ofMessage: the event names the
// message's record (its ID is the store's); mail > 0: its detail is lead,
// the Message-ID of mails[mail-1], then ev.Detail.
type caseEvent struct {
	c         *store.Case
	ev        store.Event
	ofMessage bool
	mail      int
	lead      string
}

// mailOut is an outgoing mail decided: apply renders template name and
// queues it in the transaction's outmail.Queue. A mail with data has it
// complete (the team's commands); the other rules leave the data of their
// mail (ack, wrong-key, damaged, notify, notice, flood, keychange, and the
// refused team mail's warning) to apply, from the fields below.
type mailOut struct {
	name      string          // the template
	c         *store.Case     // the case it is about; nil: none
	to        *team.Member    // a member; nil: the case's reporter
	data      *templates.Data // what the template shows
	lang      string          // to the reporter with data: the language
	thread    mailThread      // what it answers
	report    *incoming       // an acknowledgement's report when not the message (not-spam)
	notBefore time.Time       // the acknowledgement's slot under the global rate
	kind      string          // notify: what happened; flood: the cap (flood.Cases, flood.Notify)
	who       string          // flood: the burst; keychange: the address; refused: the claimed From
	text      string          // flood, refused: the reason
	oldKey    string          // keychange: the known key's fingerprint
	newKey    string          // keychange: the offered key's fingerprint
}

// event adds an event on c.
func (d *decision) event(c *store.Case, kind, actor, detail string, ofMessage bool) {
	d.events = append(d.events, caseEvent{c: c, ev: store.Event{Time: d.now, Kind: kind, Actor: actor, Detail: detail}, ofMessage: ofMessage})
}

// decide is the line's rules as a plain function of the facts examine
// found and the state readState read in the transaction (no store): what
// the message means, its record, the case change, its events and the
// outgoing mail. Robots and our own mail are kept and never answered; team
// mail goes to the team's decider (decideTeam).
func (l *Line) decide(src Source, blob store.Blob, in *incoming, st *state) *decision {
	d := &decision{now: st.now}
	r, c, how := route(in, st.caseState)
	if r == ruleQuarantine {
		d.res = Result{Action: ActionQuarantined, Reason: in.parseErr.Error()}
		d.quarantine = &store.Quarantined{Hash: blob.Hash, Size: blob.Size, Source: src.key(blob.Hash), Reason: in.parseErr.Error(), Time: st.now}
		return d
	}
	d.message = l.messageRecord(src, blob, in, st.now)
	d.res = Result{Class: d.message.Class, Reason: d.message.Reason}
	switch r {
	case ruleOwn:
		d.res.Action = ActionRecorded
		if ok, arrived := probe.Arrival(st.probe, st.probeOK, in.msg.Header.Get(probe.Header), st.now); ok {
			d.res.Class = "probe" // the self-test: nothing to keep
			d.message, d.probe = nil, arrived
		}
	case ruleAutomated:
		decideAutomated(d, in, st.robotCase)
	case ruleTeam, ruleTeamRefused:
		l.decideTeam(d, in, st)
	case ruleReplay:
		decideReplay(d, c, in)
	case ruleFollowUp:
		l.decideFollowUp(d, c, how, in, st)
	case ruleSuspectedSpam:
		l.decideReport(d, in, how, true, st)
	default:
		l.decideReport(d, in, how, false, st)
	}
	return d
}

// messageRecord is the record of an incoming message as examine found it;
// the rules set its case, and for some its class and reason.
func (l *Line) messageRecord(src Source, blob store.Blob, in *incoming, now time.Time) *store.Message {
	m := in.msg
	sm := &store.Message{
		Direction:  "in",
		Hash:       blob.Hash,
		Size:       blob.Size,
		MessageID:  m.MessageID,
		InReplyTo:  m.InReplyTo,
		References: m.References,
		From:       in.from,
		Subject:    triage.Sanitize(m.Subject, 500),
		Date:       m.Date,
		Received:   now,
		Class:      string(in.verdict.Class),
		Reason:     in.verdict.Reason,
		Source:     src.key(blob.Hash),
	}
	for _, a := range m.To {
		sm.To = append(sm.To, strings.ToLower(a.Address))
	}
	for _, a := range m.Attachments {
		sm.Attachments = append(sm.Attachments, store.Attachment{Name: triage.Sanitize(a.Name, 255), ContentType: a.ContentType, Size: a.Size, Hash: a.Hash})
	}
	in.crypto.apply(sm)
	return sm
}

// notifyHeld is the kind of team notification of a case held as suspected
// spam (templates notify and notice).
const notifyHeld = "suspected spam"

// rule is which of the line's rules a message falls under.
type rule string

const (
	ruleQuarantine  rule = "quarantine"   // could not be parsed: kept aside with the reason
	ruleOwn         rule = "own"          // the bot's own mail (or its self-test probe): recorded
	ruleAutomated   rule = "automated"    // a robot or a bounce: recorded, on its case if any, never answered
	ruleTeam        rule = "team"         // from a member, authenticated: commands, relay, confirmation
	ruleTeamRefused rule = "team-refused" // claims a member's From, not authenticated: recorded, an event on the case it names, team warned
	ruleReplay      rule = "replay"       // a ciphertext of a case sent again by someone not on it: recorded, not answered
	ruleFollowUp    rule = "follow-up"    // on a case already: added to it
	ruleNewCase     rule = "new-case"     // a new report (or a stranger using a case's tag): a case of its own
	// A new report a trusted verdict calls spam: a case of its own in status
	// suspected-spam, its acknowledgement held until the team's not-spam.
	ruleSuspectedSpam rule = "suspected-spam"
)

// caseState is what the store knows about a message, read in its transaction.
type caseState struct {
	replayOf *store.Case // a case that holds one of its ciphertexts already
	byRefs   *store.Case // the case its In-Reply-To or References name
	byTag    *store.Case // the case its subject's tag names
}

// route is the line's rules as a plain function of the facts examine found
// and what the store knows: which rule a message falls under, its case,
// and how it was matched to that case. Robots and our own mail are never
// answered; team mail goes to the team's decider; a case tag counts only
// from an address already on that case (never a silent merge).
func route(in *incoming, k caseState) (rule, *store.Case, threadHow) {
	switch {
	case in.parseErr != nil:
		return ruleQuarantine, nil, threadHow{}
	case in.verdict.Class == triage.ClassOwn:
		return ruleOwn, nil, threadHow{}
	case in.verdict.Class == triage.ClassBounce || in.verdict.Class == triage.ClassAutomated:
		return ruleAutomated, nil, threadHow{}
	case in.team != nil && in.team.verdict.OK:
		return ruleTeam, nil, threadHow{}
	case in.team != nil:
		return ruleTeamRefused, nil, threadHow{}
	case k.replayOf != nil && !contains(k.replayOf.Participants, in.from):
		return ruleReplay, k.replayOf, threadHow{}
	case k.byRefs != nil:
		return ruleFollowUp, k.byRefs, threadHow{by: "references"}
	case k.byTag != nil && in.from != "" && contains(k.byTag.Participants, in.from):
		return ruleFollowUp, k.byTag, threadHow{by: "subject-tag"}
	case in.spam.Spam:
		// Acknowledging spam is backscatter to a forged address: held.
		how := threadHow{}
		if k.byTag != nil {
			how.stranger = k.byTag.Ref
		}
		return ruleSuspectedSpam, nil, how
	case k.byTag != nil:
		// Someone else using a case tag gets a case of their own, and both
		// cases say so.
		return ruleNewCase, nil, threadHow{stranger: k.byTag.Ref}
	}
	return ruleNewCase, nil, threadHow{}
}

// decideAutomated keeps robot mail and never answers it. A bounce or an
// auto-reply that refers to one of our cases (c) is put on that case.
func decideAutomated(d *decision, in *incoming, c *store.Case) {
	d.res.Action = ActionRecorded
	if c == nil {
		return
	}
	d.onCase, d.message.CaseID, d.res.Case = c, c.ID, c.Ref
	kind, detail := "automated.received", d.message.Reason
	if in.verdict.Class == triage.ClassBounce {
		d.res.Action = ActionBounce
		kind = "delivery.failed"
		if r := in.msg.Report; r != nil {
			detail = triage.Sanitize(fmt.Sprintf("%s %s %s", r.Action, r.Status, r.FinalRecipient), 300)
		}
	}
	d.event(c, kind, "bot", detail, true)
}

// threadHow says how a message was matched to a case.
type threadHow struct {
	by       string // "references", "subject-tag", ""
	stranger string // a case tag used by an address not on that case
}

// decideFollowUp adds a message to its case c; the reporter's own reply
// moves the case's clocks and tells the assignee.
func (l *Line) decideFollowUp(d *decision, c *store.Case, how threadHow, in *incoming, st *state) {
	d.onCase, d.put = c, true
	d.message.CaseID = c.ID
	d.message.Class = string(triage.ClassFollowUp)
	d.res = Result{Action: ActionFollowUp, Class: d.message.Class, Reason: d.message.Reason, Case: c.Ref}
	detail := "matched by " + how.by
	if !contains(c.Participants, in.from) {
		detail += "; sender " + in.from + " is not on this case"
	}
	d.event(c, "message.received", in.from, detail, true)
	if in.from == c.Reporter {
		c.Clocks = l.applyClocks(c.Clocks, "reporter.replied", d.now)
		l.decideNotify(d, c, in, "follow-up", st)
	}
	l.decideCrypto(d, c, in, st)
	c.Updated = d.now
}

// decideCrypto records, for the team, what OpenPGP made of a message on c,
// and remembers its keys and ciphertexts.
func (l *Line) decideCrypto(d *decision, c *store.Case, in *incoming, st *state) {
	l.decideKey(d, c, in, st.key)
	d.ciphertexts = st.newCiphertexts
	if in.crypto.doubt != "" {
		d.event(c, "crypto.doubt", "bot", in.crypto.doubt, true)
	}
	if in.crypto.unreadable() {
		d.event(c, "decrypt.failed", "bot", in.crypto.reason, true)
	}
}

// decideReplay puts a ciphertext sent again by someone not on its case on
// that case, and answers nothing: its plaintext must never reach them.
func decideReplay(d *decision, orig *store.Case, in *incoming) {
	d.onCase, d.message.CaseID = orig, orig.ID
	d.message.Class, d.message.Reason = "replay", "an OpenPGP ciphertext of this case sent again by "+in.from
	d.res = Result{Action: ActionRecorded, Class: d.message.Class, Reason: d.message.Reason, Case: orig.Ref}
	d.event(orig, "note", "bot", fmt.Sprintf("%s sent a ciphertext of this case again (a possible decryption oracle attempt): recorded, not answered", in.from), true)
}

// decideOpen opens a case for a new report, acknowledges it and tells the
// team; held (suspected spam) opens it in status suspected-spam instead,
// acknowledges nothing and tells the team it is held (the digest lists it).
func (l *Line) decideOpen(d *decision, in *incoming, how threadHow, held bool, st *state) {
	now := d.now
	c := &store.Case{
		ID:           st.next.ID,
		Ref:          st.next.Ref,
		Subject:      d.message.Subject,
		Reporter:     in.from,
		Participants: []string{in.from},
		Language:     l.language(),
		Created:      now,
		Updated:      now,
	}
	if len(in.msg.From) > 0 {
		c.ReporterName = triage.Sanitize(in.msg.From[0].Name, 100)
	}
	// A held case's clocks start at arrival too: released, its
	// acknowledgement carries the dates the policy promised from then.
	c.Clocks = l.applyClocks(nil, "report.received", now)
	if held {
		c.Status = remind.StatusSuspectedSpam
	}
	d.onCase, d.open = c, true
	d.message.CaseID, d.message.Class = c.ID, string(triage.ClassReport)
	d.res.Case, d.res.Class = c.Ref, d.message.Class
	if how.stranger != "" && st.byTag != nil {
		d.event(st.byTag, "note", "bot", fmt.Sprintf("%s used this case's tag from an address not on the case; it went to %s", in.from, c.Ref), false)
	}
	d.event(c, "case.opened", in.from, "report received", true)
	if how.stranger != "" {
		d.event(c, "note", "bot", fmt.Sprintf("the subject carries the tag of %s, but %s is not on that case: opened a new case instead", how.stranger, in.from), false)
	}
	l.decideCrypto(d, c, in, st)
	if held {
		// The team is told (within the notification caps), so that a
		// member can answer "not-spam" to that mail; the digest lists the
		// held cases until they are released or closed.
		d.res.Action = ActionHeldSpam
		d.event(c, "spam.held", "bot", fmt.Sprintf("suspected spam (%s: %s): acknowledgement held; not-spam releases it", in.spam.Source, in.spam.Reason), true)
		l.decideNotify(d, c, in, notifyHeld, st)
		return
	}
	if in.spamErr != nil {
		d.event(c, "spam.unchecked", "bot", "the spam filter failed, counted as not spam: "+in.spamErr.Error(), true)
	}
	if hint := scopeHint(in); hint != "" {
		d.event(c, "scope.hint", "bot", hint, false)
	}
	// The case change and its acknowledgement are one transaction: a crash
	// between them is impossible by construction; this fault point proves it.
	d.afterCase = true
	d.res.Action = ActionOpened
	switch queued, suppressed := l.decideAck(d, c, in, st.ack); {
	case queued:
		d.res.Acks++
	case suppressed:
		d.res.Action = ActionOpenedQuiet
	}
	l.decideNotify(d, c, in, "new report", st)
}

// ackState is what the acknowledgement of a new case depends on in the
// send log, read in the transaction (readAck).
type ackState struct {
	recent int        // acknowledgements to the sender within ack.rate_window
	slot   time.Time  // the next slot under the global rate (flood.AckSlot)
	marks  []sendMark // the marks that book that slot
}

// decideAck acknowledges case c to its reporter, unless the reporter got
// ack.rate_limit of them within the window; over the global rate the
// acknowledgement waits for a free slot in the outbox: a reporter is owed
// one, late beats never.
// It reports whether the acknowledgement is queued, and whether the rate
// limit suppressed it.
func (l *Line) decideAck(d *decision, c *store.Case, in *incoming, st ackState) (queued, suppressed bool) {
	if in.from == "" {
		return false, false
	}
	if st.recent >= l.cfg.Ack.RateLimit {
		d.event(c, "ack.suppressed", "bot", fmt.Sprintf("rate limit: %d acknowledgements to this sender in %s", st.recent, l.cfg.Ack.RateWindow), false)
		return false, true
	}
	name := "ack"
	switch {
	case l.keys != nil && in.crypto.noKey:
		name = "wrong-key"
	case l.keys != nil && in.crypto.damaged:
		name = "damaged"
	}
	d.mails = append(d.mails, mailOut{name: name, c: c, notBefore: st.slot, report: in})
	d.sends = append(d.sends, st.marks...)
	d.sends = append(d.sends, sendMark{key: ackRateKey(in.from), at: d.now})
	detail := " to " + in.from
	if st.slot.After(d.now) {
		detail += fmt.Sprintf("; waits until %s: over the global rate of %d acknowledgements an hour (ack.global_per_hour)",
			st.slot.UTC().Format(time.RFC3339), l.cfg.Ack.GlobalPerHour)
	}
	d.events = append(d.events, caseEvent{c: c, ev: store.Event{Time: d.now, Kind: "ack.queued", Actor: "bot", Detail: detail}, mail: len(d.mails)})
	return true, false
}

// ackRateKey counts the acknowledgements to one sender in the send log.
func ackRateKey(from string) string { return "ack:" + from }

func (l *Line) language() string {
	if l.policy != nil {
		return l.policy.DefaultLanguage()
	}
	return "en"
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
