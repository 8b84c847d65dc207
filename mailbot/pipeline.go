package mailbot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"mailbot/mailbot/flood"
	"mailbot/mailbot/inbox"
	"mailbot/mailbot/outmail"
	"mailbot/mailbot/parse"
	"mailbot/mailbot/probe"
	"mailbot/mailbot/triage"
	"mailbot/store"
)

// Actions a processed message can lead to, as reported by `mailbot ingest --json`.
const (
	ActionOpened      = "opened"       // a new case, acknowledged
	ActionOpenedQuiet = "opened-quiet" // a new case, acknowledgement suppressed (rate limit)
	ActionFollowUp    = "follow-up"    // added to an existing case
	ActionRecorded    = "recorded"     // automated or own mail, kept, never answered
	ActionBounce      = "bounce"       // a delivery failure of our mail, on its case
	ActionDuplicate   = "duplicate"    // the same bytes were processed before
	ActionQuarantined = "quarantined"  // kept aside with a reason
)

// Source says where a message came from. The zero UID means `mailbot ingest`.
type Source struct {
	Mailbox     string
	UIDValidity uint32
	UID         uint32
}

func (s Source) imap() bool { return s.UID != 0 }

func (s Source) key(hash string) string {
	if s.imap() {
		return fmt.Sprintf("imap:%s:%d:%d", s.Mailbox, s.UIDValidity, s.UID)
	}
	return "ingest:" + hash
}

// Result is what happened to one message.
type Result struct {
	Case    string `json:"case,omitempty"` // the case reference, "" when on no case
	Action  string `json:"action"`
	Class   string `json:"class,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Message uint64 `json:"message,omitempty"` // the stored message id
	Acks    int    `json:"acks"`              // outgoing mails queued
}

// TemporaryError marks a failure worth retrying later (store I/O, disk full):
// nothing was committed and the message stays unprocessed.
type TemporaryError = inbox.TemporaryError

// IsTemporary reports whether err says "try again later".
func IsTemporary(err error) bool { return inbox.IsTemporary(err) }

// errCrash is what a fault point returns to simulate a crash in tests.
var errCrash = errors.New("mailbot: simulated crash")

// fault runs the test hook for a named point in the pipeline. Its error
// stands for the process dying there.
func (d *Daemon) fault(point string) error {
	if d.faults == nil {
		return nil
	}
	if err := d.faults(point); err != nil {
		return &faultError{point: point, err: err}
	}
	return nil
}

type faultError struct {
	point string
	err   error
}

func (e *faultError) Error() string { return "fault at " + e.point + ": " + e.err.Error() }
func (e *faultError) Unwrap() error { return e.err }

// Ingest spools r and processes it, as `mailbot ingest` does for mail handed
// over by an MTA.
func (d *Daemon) Ingest(ctx context.Context, r io.Reader) (Result, error) {
	blob, err := d.store.SpoolRaw(r, d.cfg.Limits.MaxMessageBytes)
	if errors.Is(err, store.ErrTooLarge) {
		// QUIRK: an MTA that hands us more than the limit gets a permanent
		// refusal; the sender's MTA bounces it to the sender.
		return Result{Action: ActionQuarantined, Reason: "message exceeds the size limit"}, err
	}
	if err != nil {
		return Result{}, &TemporaryError{Err: fmt.Errorf("spool: %w", err)}
	}
	return d.Process(ctx, Source{}, blob)
}

// Process handles one spooled message: everything it changes is committed in
// one transaction together with the mailbox watermark of src.
func (d *Daemon) Process(ctx context.Context, src Source, blob store.Blob) (res Result, err error) {
	start := d.now()
	log := d.log.With("hash", blob.Hash[:12], "mailbox", src.Mailbox, "uid", src.UID)
	res, err = d.processOnce(ctx, src, blob)
	if IsDeferred(err) {
		return res, err // left on the server (disk low): not a failure of this message
	}
	if err == nil || IsTemporary(err) {
		if err == nil {
			log.Info("processed", "action", res.Action, "case", res.Case, "class", res.Class, "took", d.now().Sub(start))
			d.count(res, d.now().Sub(start))
		}
		return res, err
	}
	// A failure that is not the store's fault (a panic, a bug tickled by this
	// message): count it, and after MaxTries keep the message aside so the
	// next one flows.
	log.Error("processing failed", "err", err)
	key := src.key(blob.Hash)
	var quarantined bool
	uerr := d.store.Update(func(tx *store.Tx) error {
		n, err := tx.RecordFailure(key, err.Error())
		if err != nil {
			return err
		}
		if n < d.cfg.Limits.MaxTries {
			return nil
		}
		quarantined = true
		if err := tx.Quarantine(&store.Quarantined{Hash: blob.Hash, Size: blob.Size, Source: key,
			Reason: fmt.Sprintf("failed %d times: %v", n, err), Time: d.now()}); err != nil {
			return err
		}
		return d.advance(tx, src)
	})
	if uerr != nil {
		return res, &TemporaryError{Err: uerr}
	}
	if quarantined {
		return Result{Action: ActionQuarantined, Reason: err.Error()}, nil
	}
	return res, &TemporaryError{Err: err}
}

// advance moves the watermark of src's mailbox to src.UID. A UIDVALIDITY
// change replaces the old state: the rescan that follows is de-duplicated
// by hash.
func (d *Daemon) advance(tx *store.Tx, src Source) error {
	if !src.imap() {
		return nil
	}
	st, err := tx.MailboxState(src.Mailbox)
	if err != nil {
		return err
	}
	if st.UIDValidity != src.UIDValidity {
		// Held UIDs of another UIDVALIDITY mean nothing any more.
		return tx.SetMailboxState(src.Mailbox, store.MailboxState{UIDValidity: src.UIDValidity, LastUID: src.UID})
	}
	// A held message (disk low) that is taken now is held no more.
	held := slices.DeleteFunc(slices.Clone(st.Held), func(uid uint32) bool { return uid == src.UID })
	if st.LastUID >= src.UID && len(held) == len(st.Held) {
		return nil
	}
	st.LastUID, st.Held = max(st.LastUID, src.UID), held
	return tx.SetMailboxState(src.Mailbox, st)
}

func (d *Daemon) processOnce(ctx context.Context, src Source, blob store.Blob) (res Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			d.log.Error("panic while processing", "hash", blob.Hash[:12], "err", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("mailbot: panic: %v", p)
		}
	}()
	if err := ctx.Err(); err != nil {
		return res, &TemporaryError{Err: err}
	}
	// Cheap check first: a message we already hold needs no parsing.
	var seen bool
	if err := d.store.View(func(tx *store.Tx) error { _, seen = tx.SeenHash(blob.Hash); return nil }); err != nil {
		return res, &TemporaryError{Err: err}
	}
	var in *incoming
	if !seen {
		in, err = d.examine(blob)
		if err != nil {
			return res, err
		}
	}
	err = d.store.Update(func(tx *store.Tx) error {
		res = Result{}
		return d.recordItem(tx, item{src: src, blob: blob}, in, &res)
	})
	if held, ok := isHeld(err); ok {
		return Result{}, d.holdOnServer(src, blob, held)
	}
	if err != nil {
		if errors.Is(err, errCrash) {
			return res, err
		}
		return res, &TemporaryError{Err: fmt.Errorf("commit: %w", err)}
	}
	return res, nil
}

// incoming is what examine learned from a message, before any decision.
type incoming struct {
	msg      *parse.Message // nil when the message could not be parsed
	parseErr error
	verdict  triage.Verdict
	from     string // lowercase sender address, "" if none
	crypto   cryptoFacts
	team     *teamFacts // set when From is a team member
}

// examine reads the raw message from the store and parses it. It never
// touches the database.
func (d *Daemon) examine(blob store.Blob) (*incoming, error) {
	rc, err := d.store.OpenRaw(blob.Hash)
	if err != nil {
		return nil, &TemporaryError{Err: fmt.Errorf("open raw: %w", err)}
	}
	defer rc.Close()
	msg, err := parse.Parse(rc, d.parseLimits())
	if err != nil {
		return &incoming{parseErr: err}, nil
	}
	in := &incoming{msg: msg}
	if len(msg.From) > 0 {
		in.from = strings.ToLower(msg.From[0].Address)
	}
	in.verdict = triage.Classify(msg, d.self())
	if in.verdict.Class != triage.ClassReport {
		// Robots and our own mail are never decrypted: nothing answers them.
		return in, nil
	}
	raw := func() (io.ReadCloser, error) { return d.store.OpenRaw(blob.Hash) }
	if err := d.examineTeam(in, raw); err != nil {
		return nil, err
	}
	if in.team == nil {
		d.openCrypto(in, raw)
	}
	return in, nil
}

func (d *Daemon) parseLimits() parse.Limits {
	l := parse.DefaultLimits()
	l.MaxSize = d.cfg.Limits.MaxMessageBytes
	// Decryption streams from the spool file: by default any encrypted
	// part that fits in a message is decrypted (a 25 MB attachment is
	// 44 MB armored).
	l.MaxPGPBytes = d.cfg.Limits.MaxMessageBytes
	if d.cfg.Limits.MaxDecryptBytes > 0 {
		l.MaxPGPBytes = d.cfg.Limits.MaxDecryptBytes
	}
	l.MaxParts = d.cfg.Limits.MaxParts
	l.MaxDepth = d.cfg.Limits.MaxDepth
	return l
}

func (d *Daemon) self() triage.Self {
	return triage.Self{
		Addresses:    []string{d.cfg.Address},
		MsgIDDomain:  d.cfg.MsgIDDomain,
		LoopHeader:   outmail.LoopHeader,
		OwnMessageID: outmail.OwnMessageID,

		TrustedSpamHeader: d.cfg.TrustSpamFlag,
	}
}

// record decides what the message means and writes it, inside tx.
func (d *Daemon) record(tx *store.Tx, src Source, blob store.Blob, in *incoming, res *Result) error {
	now := d.now()
	key := src.key(blob.Hash)
	if in.parseErr != nil {
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

	switch in.verdict.Class {
	case triage.ClassOwn:
		res.Action = ActionRecorded
		if ok, err := probe.Arrive(tx, m.Header.Get(probe.Header), now); ok || err != nil {
			res.Class = "probe" // the self-test: nothing to keep
			return err
		}
		return d.addMessage(tx, sm, res)
	case triage.ClassBounce, triage.ClassAutomated:
		return d.recordAutomated(tx, sm, in, res)
	}
	if in.team != nil {
		return d.recordTeamMail(tx, sm, in, res)
	}
	if orig, ok, err := d.replayedCase(tx, in); err != nil {
		return err
	} else if ok && !contains(orig.Participants, in.from) {
		return d.recordReplay(tx, orig, sm, in, res)
	}
	c, how, err := d.thread(tx, in)
	if err != nil {
		return err
	}
	if c != nil {
		return d.recordFollowUp(tx, c, how, sm, in, res)
	}
	return d.newReport(tx, sm, in, how, res)
}

func (d *Daemon) addMessage(tx *store.Tx, sm *store.Message, res *Result) error {
	if err := tx.AddMessage(sm); err != nil {
		return err
	}
	res.Message = sm.ID
	return nil
}

// recordAutomated keeps robot mail and never answers it. A bounce or an
// auto-reply that refers to one of our cases is put on that case.
func (d *Daemon) recordAutomated(tx *store.Tx, sm *store.Message, in *incoming, res *Result) error {
	res.Action = ActionRecorded
	ids := triage.ThreadIDs(in.msg)
	if r := in.msg.Report; r != nil && r.OriginalMessageID != "" {
		ids = append([]string{r.OriginalMessageID}, ids...)
	}
	var caseID uint64
	for _, id := range ids {
		if cid, ok := tx.CaseByMessageID(id); ok {
			caseID = cid
			break
		}
	}
	sm.CaseID = caseID
	if err := d.addMessage(tx, sm, res); err != nil {
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
	ev := store.Event{Time: d.now(), Kind: "automated.received", Actor: "bot", Detail: sm.Reason, MessageID: sm.ID}
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

// thread finds the case a message belongs to: In-Reply-To and References
// against every Message-ID we received or sent, then the case tag in the
// subject, accepted only from an address already on that case.
func (d *Daemon) thread(tx *store.Tx, in *incoming) (*store.Case, threadHow, error) {
	for _, id := range triage.ThreadIDs(in.msg) {
		if cid, ok := tx.CaseByMessageID(id); ok {
			c, err := tx.Case(cid)
			return c, threadHow{by: "references"}, err
		}
	}
	ref, ok := triage.SubjectTag(in.msg.Subject, d.cfg.CasePrefix)
	if !ok {
		return nil, threadHow{}, nil
	}
	c, err := tx.CaseByRef(ref)
	if errors.Is(err, store.ErrCaseNotFound) {
		return nil, threadHow{}, nil
	}
	if err != nil {
		return nil, threadHow{}, err
	}
	if in.from != "" && contains(c.Participants, in.from) {
		return c, threadHow{by: "subject-tag"}, nil
	}
	// Never a silent merge: someone else using a case tag gets a case of
	// their own, and both cases say so.
	return nil, threadHow{stranger: c.Ref}, nil
}

func (d *Daemon) recordFollowUp(tx *store.Tx, c *store.Case, how threadHow, sm *store.Message, in *incoming, res *Result) error {
	now := d.now()
	sm.CaseID = c.ID
	sm.Class = string(triage.ClassFollowUp)
	res.Class = sm.Class
	res.Action = ActionFollowUp
	res.Case = c.Ref
	if err := d.addMessage(tx, sm, res); err != nil {
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
		c.Clocks = d.applyClocks(c.Clocks, "reporter.replied", now)
		if err := d.notifyTeam(tx, c, in, "follow-up"); err != nil {
			return err
		}
	}
	if err := d.cryptoEvents(tx, c, in, sm); err != nil {
		return err
	}
	c.Updated = now
	return tx.PutCase(c)
}

// cryptoEvents records, for the team, what OpenPGP made of a message on c,
// and remembers its keys and ciphertexts.
func (d *Daemon) cryptoEvents(tx *store.Tx, c *store.Case, in *incoming, sm *store.Message) error {
	if err := d.learnKeys(tx, c, in, sm); err != nil {
		return err
	}
	if err := d.rememberCiphertexts(tx, c, in); err != nil {
		return err
	}
	if in.crypto.unreadable() {
		return tx.AppendEvent(c.ID, store.Event{Time: d.now(), Kind: "decrypt.failed", Actor: "bot", Detail: in.crypto.reason, MessageID: sm.ID})
	}
	return nil
}

// recordReplay puts a ciphertext sent again by someone not on its case on
// that case, and answers nothing: its plaintext must never reach them.
func (d *Daemon) recordReplay(tx *store.Tx, orig *store.Case, sm *store.Message, in *incoming, res *Result) error {
	sm.CaseID = orig.ID
	sm.Class, sm.Reason = "replay", "an OpenPGP ciphertext of this case sent again by "+in.from
	res.Action, res.Class, res.Reason, res.Case = ActionRecorded, sm.Class, sm.Reason, orig.Ref
	if err := d.addMessage(tx, sm, res); err != nil {
		return err
	}
	return tx.AppendEvent(orig.ID, store.Event{Time: d.now(), Kind: "note", Actor: "bot", MessageID: sm.ID,
		Detail: fmt.Sprintf("%s sent a ciphertext of this case again (a possible decryption oracle attempt): recorded, not answered", in.from)})
}

func (d *Daemon) openCase(tx *store.Tx, sm *store.Message, in *incoming, how threadHow, res *Result) error {
	now := d.now()
	m := in.msg
	c := &store.Case{
		Subject:      sm.Subject,
		Reporter:     in.from,
		Participants: []string{in.from},
		Language:     d.language(),
		Created:      now,
		Updated:      now,
	}
	if len(m.From) > 0 {
		c.ReporterName = triage.Sanitize(m.From[0].Name, 100)
	}
	c.Clocks = d.applyClocks(nil, "report.received", now)
	if err := tx.NewCase(c); err != nil {
		return err
	}
	sm.CaseID = c.ID
	sm.Class = string(triage.ClassReport)
	res.Case, res.Class = c.Ref, sm.Class
	if err := d.addMessage(tx, sm, res); err != nil {
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
	if err := d.cryptoEvents(tx, c, in, sm); err != nil {
		return err
	}
	// The case change and its acknowledgement are one transaction: a crash
	// between them is impossible by construction; this fault point proves it.
	if err := d.fault("after-case"); err != nil {
		return err
	}
	res.Action = ActionOpened
	if err := d.queueAck(tx, c, in, sm, res); err != nil {
		return err
	}
	return d.notifyTeam(tx, c, in, "new report")
}

func (d *Daemon) queueAck(tx *store.Tx, c *store.Case, in *incoming, sm *store.Message, res *Result) error {
	now := d.now()
	if in.from == "" {
		return nil
	}
	rateKey := "ack:" + in.from
	n, err := tx.RecentSends(rateKey, now.Add(-d.cfg.Ack.RateWindow.Duration))
	if err != nil {
		return err
	}
	if n >= d.cfg.Ack.RateLimit {
		res.Action = ActionOpenedQuiet
		return tx.AppendEvent(c.ID, store.Event{Time: now, Kind: "ack.suppressed", Actor: "bot",
			Detail: fmt.Sprintf("rate limit: %d acknowledgements to this sender in %s", n, d.cfg.Ack.RateWindow)})
	}
	o, err := d.composeAck(tx, c, in, sm)
	if err != nil {
		return err
	}
	// Over the global rate the acknowledgement waits for a free slot in
	// the outbox: a reporter is owed one, late beats never.
	if o.NotBefore, err = flood.AckSlot(tx, d.cfg.Ack.GlobalPerHour, now); err != nil {
		return err
	}
	item, err := d.enqueue(tx, o)
	if err != nil {
		return err
	}
	if err := tx.RecordSend(rateKey, now); err != nil {
		return err
	}
	res.Acks++
	detail := "<" + item.MessageID + "> to " + in.from
	if o.NotBefore.After(now) {
		detail += fmt.Sprintf("; waits until %s: over the global rate of %d acknowledgements an hour (ack.global_per_hour)",
			o.NotBefore.UTC().Format(time.RFC3339), d.cfg.Ack.GlobalPerHour)
	}
	return tx.AppendEvent(c.ID, store.Event{Time: now, Kind: "ack.queued", Actor: "bot", Detail: detail})
}

func (d *Daemon) language() string {
	if d.policy != nil {
		return d.policy.DefaultLanguage()
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

// count feeds the metrics with one processed message.
func (d *Daemon) count(res Result, took time.Duration) {
	m := d.metrics
	if m == nil {
		return
	}
	class := res.Class
	if class == "" {
		class = res.Action
	}
	m.Messages.WithLabelValues(class).Inc()
	m.Processing.Observe(took.Seconds())
	switch res.Action {
	case ActionOpened:
		m.Acknowledgements.Inc()
	}
	if res.Class == "team" && res.Acks > 0 {
		m.Relays.Inc()
	}
}
