package intake

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"mailbot/mailbot/flood"
	"mailbot/mailbot/probe"
	"mailbot/mailbot/remind"
	"mailbot/mailbot/triage"
	"mailbot/store"
)

// decide decides what the message means and writes it, inside tx: the
// message record, the case change, its events and the outgoing mail (into
// tx's queue). Robots and our own mail are kept and never answered; team
// mail goes to the team's decider (decideTeam).
func (l *Line) decide(tx *txn, src Source, blob store.Blob, in *incoming, res *Result) error {
	now := l.now()
	key := src.key(blob.Hash)
	k, err := l.readCaseState(tx, in)
	if err != nil {
		return err
	}
	r, c, how := route(in, k)
	if r == ruleQuarantine {
		res.Action, res.Reason = ActionQuarantined, in.parseErr.Error()
		return tx.Quarantine(&store.Quarantined{Hash: blob.Hash, Size: blob.Size, Source: key, Reason: in.parseErr.Error(), Time: now})
	}
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
		Source:     key,
	}
	for _, a := range m.To {
		sm.To = append(sm.To, strings.ToLower(a.Address))
	}
	for _, a := range m.Attachments {
		sm.Attachments = append(sm.Attachments, store.Attachment{Name: triage.Sanitize(a.Name, 255), ContentType: a.ContentType, Size: a.Size, Hash: a.Hash})
	}
	in.crypto.apply(sm)
	res.Class = sm.Class
	res.Reason = sm.Reason

	switch r {
	case ruleOwn:
		res.Action = ActionRecorded
		if ok, err := probe.Arrive(tx.Tx, m.Header.Get(probe.Header), now); ok || err != nil {
			res.Class = "probe" // the self-test: nothing to keep
			return err
		}
		return l.addMessage(tx, sm, res)
	case ruleAutomated:
		return l.recordAutomated(tx, sm, in, res)
	case ruleTeam, ruleTeamRefused:
		return l.decideTeam(tx, sm, in, res)
	case ruleReplay:
		return l.recordReplay(tx, c, sm, in, res)
	case ruleFollowUp:
		return l.recordFollowUp(tx, c, how, sm, in, res)
	case ruleSuspectedSpam:
		return l.newReport(tx, sm, in, how, true, res)
	}
	return l.newReport(tx, sm, in, how, false, res)
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
	ruleTeamRefused rule = "team-refused" // claims a member's From, not authenticated: recorded, team warned
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

// readCaseState reads what route needs to know from the store, for a message that
// may be a report or a follow-up (robots, our own mail and team mail need
// nothing): the case holding one of its ciphertexts, then the case its
// references name, else the case its subject's tag names.
func (l *Line) readCaseState(tx *txn, in *incoming) (caseState, error) {
	var k caseState
	if in.parseErr != nil || in.team != nil {
		return k, nil
	}
	switch in.verdict.Class {
	case triage.ClassOwn, triage.ClassBounce, triage.ClassAutomated:
		return k, nil
	}
	var err error
	if k.replayOf, err = l.replayedCase(tx, in); err != nil {
		return k, err
	}
	if cid, ok := threadCase(tx.Tx, triage.ThreadIDs(in.msg)); ok {
		k.byRefs, err = tx.Case(cid)
		return k, err
	}
	ref, ok := triage.SubjectTag(in.msg.Subject, l.cfg.CasePrefix)
	if !ok {
		return k, nil
	}
	k.byTag, err = tx.CaseByRef(ref)
	if errors.Is(err, store.ErrCaseNotFound) {
		return k, nil
	}
	return k, err
}

func (l *Line) addMessage(tx *txn, sm *store.Message, res *Result) error {
	if err := tx.AddMessage(sm); err != nil {
		return err
	}
	res.Message = sm.ID
	return nil
}

// recordAutomated keeps robot mail and never answers it. A bounce or an
// auto-reply that refers to one of our cases is put on that case.
func (l *Line) recordAutomated(tx *txn, sm *store.Message, in *incoming, res *Result) error {
	res.Action = ActionRecorded
	ids := triage.ThreadIDs(in.msg)
	if r := in.msg.Report; r != nil && r.OriginalMessageID != "" {
		ids = append([]string{r.OriginalMessageID}, ids...)
	}
	caseID, _ := threadCase(tx.Tx, ids)
	sm.CaseID = caseID
	if err := l.addMessage(tx, sm, res); err != nil {
		return err
	}
	if caseID == 0 {
		return nil
	}
	c, err := tx.Case(caseID)
	if err != nil {
		return err
	}
	res.Case = c.Ref
	ev := store.Event{Time: l.now(), Kind: "automated.received", Actor: "bot", Detail: sm.Reason, MessageID: sm.ID}
	if in.verdict.Class == triage.ClassBounce {
		res.Action = ActionBounce
		ev.Kind = "delivery.failed"
		if r := in.msg.Report; r != nil {
			ev.Detail = triage.Sanitize(fmt.Sprintf("%s %s %s", r.Action, r.Status, r.FinalRecipient), 300)
		}
	}
	return tx.AppendEvent(caseID, ev)
}

// threadHow says how a message was matched to a case.
type threadHow struct {
	by       string // "references", "subject-tag", ""
	stranger string // a case tag used by an address not on that case
}

func (l *Line) recordFollowUp(tx *txn, c *store.Case, how threadHow, sm *store.Message, in *incoming, res *Result) error {
	now := l.now()
	sm.CaseID = c.ID
	sm.Class = string(triage.ClassFollowUp)
	res.Class = sm.Class
	res.Action = ActionFollowUp
	res.Case = c.Ref
	if err := l.addMessage(tx, sm, res); err != nil {
		return err
	}
	detail := "matched by " + how.by
	if !contains(c.Participants, in.from) {
		detail += "; sender " + in.from + " is not on this case"
	}
	if err := tx.AppendEvent(c.ID, store.Event{Time: now, Kind: "message.received", Actor: in.from, Detail: detail, MessageID: sm.ID}); err != nil {
		return err
	}
	if in.from == c.Reporter {
		c.Clocks = l.applyClocks(c.Clocks, "reporter.replied", now)
		if err := l.notifyTeam(tx, c, in, "follow-up"); err != nil {
			return err
		}
	}
	if err := l.cryptoEvents(tx, c, in, sm); err != nil {
		return err
	}
	c.Updated = now
	return tx.PutCase(c)
}

// cryptoEvents records, for the team, what OpenPGP made of a message on c,
// and remembers its keys and ciphertexts.
func (l *Line) cryptoEvents(tx *txn, c *store.Case, in *incoming, sm *store.Message) error {
	if err := l.learnKeys(tx, c, in, sm); err != nil {
		return err
	}
	if err := l.rememberCiphertexts(tx, c, in); err != nil {
		return err
	}
	if in.crypto.doubt != "" {
		if err := tx.AppendEvent(c.ID, store.Event{Time: l.now(), Kind: "crypto.doubt", Actor: "bot", Detail: in.crypto.doubt, MessageID: sm.ID}); err != nil {
			return err
		}
	}
	if in.crypto.unreadable() {
		return tx.AppendEvent(c.ID, store.Event{Time: l.now(), Kind: "decrypt.failed", Actor: "bot", Detail: in.crypto.reason, MessageID: sm.ID})
	}
	return nil
}

// recordReplay puts a ciphertext sent again by someone not on its case on
// that case, and answers nothing: its plaintext must never reach them.
func (l *Line) recordReplay(tx *txn, orig *store.Case, sm *store.Message, in *incoming, res *Result) error {
	sm.CaseID = orig.ID
	sm.Class, sm.Reason = "replay", "an OpenPGP ciphertext of this case sent again by "+in.from
	res.Action, res.Class, res.Reason, res.Case = ActionRecorded, sm.Class, sm.Reason, orig.Ref
	if err := l.addMessage(tx, sm, res); err != nil {
		return err
	}
	return tx.AppendEvent(orig.ID, store.Event{Time: l.now(), Kind: "note", Actor: "bot", MessageID: sm.ID,
		Detail: fmt.Sprintf("%s sent a ciphertext of this case again (a possible decryption oracle attempt): recorded, not answered", in.from)})
}

// openCase opens a case for a new report, acknowledges it and tells the
// team; held (suspected spam) opens it in status suspected-spam instead,
// acknowledges nothing and leaves the team to the digest.
func (l *Line) openCase(tx *txn, sm *store.Message, in *incoming, how threadHow, held bool, res *Result) error {
	now := l.now()
	m := in.msg
	c := &store.Case{
		Subject:      sm.Subject,
		Reporter:     in.from,
		Participants: []string{in.from},
		Language:     l.language(),
		Created:      now,
		Updated:      now,
	}
	if len(m.From) > 0 {
		c.ReporterName = triage.Sanitize(m.From[0].Name, 100)
	}
	// A held case's clocks start at arrival too: released, its
	// acknowledgement carries the dates the policy promised from then.
	c.Clocks = l.applyClocks(nil, "report.received", now)
	if held {
		c.Status = remind.StatusSuspectedSpam
	}
	if err := tx.NewCase(c); err != nil {
		return err
	}
	sm.CaseID = c.ID
	sm.Class = string(triage.ClassReport)
	res.Case, res.Class = c.Ref, sm.Class
	if err := l.addMessage(tx, sm, res); err != nil {
		return err
	}
	events := []store.Event{{Time: now, Kind: "case.opened", Actor: in.from, Detail: "report received", MessageID: sm.ID}}
	if how.stranger != "" {
		events = append(events, store.Event{Time: now, Kind: "note", Actor: "bot",
			Detail: fmt.Sprintf("the subject carries the tag of %s, but %s is not on that case: opened a new case instead", how.stranger, in.from)})
		if other, err := tx.CaseByRef(how.stranger); err == nil {
			if err := tx.AppendEvent(other.ID, store.Event{Time: now, Kind: "note", Actor: "bot",
				Detail: fmt.Sprintf("%s used this case's tag from an address not on the case; it went to %s", in.from, c.Ref)}); err != nil {
				return err
			}
		}
	}
	for _, e := range events {
		if err := tx.AppendEvent(c.ID, e); err != nil {
			return err
		}
	}
	if err := l.cryptoEvents(tx, c, in, sm); err != nil {
		return err
	}
	if held {
		// The team is told (within the notification caps), so that a
		// member can answer "not-spam" to that mail; the digest lists the
		// held cases until they are released or closed.
		res.Action = ActionHeldSpam
		if err := tx.AppendEvent(c.ID, store.Event{Time: now, Kind: "spam.held", Actor: "bot", MessageID: sm.ID,
			Detail: fmt.Sprintf("suspected spam (%s: %s): acknowledgement held; not-spam releases it", in.spam.Source, in.spam.Reason)}); err != nil {
			return err
		}
		return l.notifyTeam(tx, c, in, notifyHeld)
	}
	if in.spamErr != nil {
		if err := tx.AppendEvent(c.ID, store.Event{Time: now, Kind: "spam.unchecked", Actor: "bot", MessageID: sm.ID,
			Detail: "the spam filter failed, counted as not spam: " + in.spamErr.Error()}); err != nil {
			return err
		}
	}
	if err := l.scopeHints(tx, c, in); err != nil {
		return err
	}
	// The case change and its acknowledgement are one transaction: a crash
	// between them is impossible by construction; this fault point proves it.
	if err := l.Fault("after-case"); err != nil {
		return err
	}
	res.Action = ActionOpened
	if err := l.queueAck(tx, c, in, res); err != nil {
		return err
	}
	return l.notifyTeam(tx, c, in, "new report")
}

func (l *Line) queueAck(tx *txn, c *store.Case, in *incoming, res *Result) error {
	now := l.now()
	if in.from == "" {
		return nil
	}
	rateKey := "ack:" + in.from
	n, err := tx.RecentSends(rateKey, now.Add(-l.cfg.Ack.RateWindow.Duration))
	if err != nil {
		return err
	}
	if n >= l.cfg.Ack.RateLimit {
		res.Action = ActionOpenedQuiet
		return tx.AppendEvent(c.ID, store.Event{Time: now, Kind: "ack.suppressed", Actor: "bot",
			Detail: fmt.Sprintf("rate limit: %d acknowledgements to this sender in %s", n, l.cfg.Ack.RateWindow)})
	}
	o, err := l.composeAck(tx, c, in)
	if err != nil {
		return err
	}
	// Over the global rate the acknowledgement waits for a free slot in
	// the outbox: a reporter is owed one, late beats never.
	if o.NotBefore, err = flood.AckSlot(tx, l.cfg.Ack.GlobalPerHour, now); err != nil {
		return err
	}
	item := tx.q.Add(o)
	if err := tx.RecordSend(rateKey, now); err != nil {
		return err
	}
	res.Acks++
	detail := "<" + item.MessageID + "> to " + in.from
	if o.NotBefore.After(now) {
		detail += fmt.Sprintf("; waits until %s: over the global rate of %d acknowledgements an hour (ack.global_per_hour)",
			o.NotBefore.UTC().Format(time.RFC3339), l.cfg.Ack.GlobalPerHour)
	}
	return tx.AppendEvent(c.ID, store.Event{Time: now, Kind: "ack.queued", Actor: "bot", Detail: detail})
}

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
