package intake

import (
	"fmt"
	"slices"
	"time"

	"github.com/emersion/go-message/mail"

	"mailbot/mailbot/flood"
	"mailbot/mailbot/outmail"
	"mailbot/mailbot/probe"
	"mailbot/store"
	"mailbot/templates"
)

// txn is the one transaction a batch is decided and applied in, with the
// outgoing mail it decided to send: the mail waits in q and is sealed and
// written to the outbox at the end of the transaction (run), every mail
// of the batch in parallel.
type txn struct {
	*store.Tx
	q      *outmail.Queue
	folded []flood.Entry // reports kept from a case by the flood caps, for the flood log (logFolded)
	// diskLow is why new reports cannot be taken now ("" when they can),
	// measured once per batch before the transaction (diskProblem): the
	// measure may walk the raw mail directory, never under the write lock.
	diskLow string
}

// advance moves the watermark of src's mailbox to src.UID. A UIDVALIDITY
// change replaces the old state: the rescan that follows is de-duplicated
// by hash.
func (l *Line) advance(tx *store.Tx, src Source) error {
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

// apply is one message inside tx, with the watermark past it: a duplicate
// or a message left on the server for its size only moves the watermark;
// anything else is read (readState), decided (decide) and written (write),
// its failure count cleared. Each message of a batch is written before the
// next one is read.
func (l *Line) apply(tx *txn, it item, in *incoming, res *Result) error {
	if it.tooLarge {
		return l.recordTooLarge(tx.Tx, it.src, it.blob.Size)
	}
	if id, ok := tx.SeenHash(it.blob.Hash); ok || in == nil {
		*res = Result{Action: ActionDuplicate, Message: id}
		return l.advance(tx.Tx, it.src)
	}
	st, err := l.readState(tx, in)
	if err != nil {
		return err
	}
	if err := l.write(tx, l.decide(it.src, it.blob, in, st), in, res); err != nil {
		return err
	}
	if err := tx.ClearFailures(it.src.key(it.blob.Hash)); err != nil {
		return err
	}
	if err := l.advance(tx.Tx, it.src); err != nil {
		return err
	}
	// The last point before the commit: a crash here must leave nothing.
	return l.Fault("before-commit")
}

// write writes decision d about message in inside tx: the case it opens,
// the message record, the keys and ciphertexts it brings, the case's
// change, the events, the outgoing mail and the send log's marks.
func (l *Line) write(tx *txn, d *decision, in *incoming, res *Result) error {
	*res = d.res
	switch {
	case d.held != "":
		return &heldError{reason: d.held}
	case d.quarantine != nil:
		return tx.Quarantine(d.quarantine)
	case d.message == nil && d.probe != nil:
		return probe.Save(tx.Tx, *d.probe)
	case d.message == nil:
		return nil
	}
	if d.replayKey != "" {
		if err := tx.RecordReplay(d.replayKey, d.now, l.cfg.TeamMail.MaxAge.Duration+time.Hour); err != nil {
			return err
		}
	}
	if d.open {
		c, ref := d.onCase, d.onCase.Ref
		if err := tx.NewCase(c); err != nil {
			return err
		}
		if c.Ref != ref || c.ID != d.message.CaseID {
			return fmt.Errorf("intake: new case %s (%d), decided as %s", c.Ref, c.ID, ref)
		}
		d.message.CaseID = c.ID
	}
	if err := tx.AddMessage(d.message); err != nil {
		return err
	}
	res.Message = d.message.ID
	if err := l.writeKeys(tx, d); err != nil {
		return err
	}
	for _, h := range d.ciphertexts {
		if err := tx.SetMeta("ciphertext:"+h, fmt.Sprint(d.onCase.ID)); err != nil {
			return err
		}
	}
	// The case change and its acknowledgement are one transaction: a crash
	// between them is impossible by construction; this fault point proves it.
	if d.afterCase {
		if err := l.Fault("after-case"); err != nil {
			return err
		}
	}
	if err := l.writeDecided(tx, d, in); err != nil {
		return err
	}
	if d.put {
		if err := tx.PutCase(d.onCase); err != nil {
			return err
		}
	}
	for _, c := range d.changed {
		if err := tx.PutCase(c); err != nil {
			return err
		}
	}
	if d.folded != nil {
		e := *d.folded
		e.Message = d.message.ID
		tx.folded = append(tx.folded, e)
	}
	return nil
}

// writeKeys writes the decided changes to keys.
func (l *Line) writeKeys(tx *txn, d *decision) error {
	for _, k := range d.keys {
		if k.put != nil {
			if err := tx.PutKey(k.addr, k.put); err != nil {
				return err
			}
		}
		if k.unpend != "" {
			if err := tx.DeletePendingKey(k.addr, k.unpend); err != nil {
				return err
			}
		}
		if k.pending != nil {
			p := *k.pending
			p.MessageID, p.CaseID = d.message.ID, d.onCase.ID
			if err := tx.PutPendingKey(&p); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeDecided queues the decided mail and writes the events and the send
// log's marks of d.
func (l *Line) writeDecided(tx *txn, d *decision, in *incoming) error {
	items := make([]*store.OutboxItem, len(d.mails))
	for i, m := range d.mails {
		var err error
		if items[i], err = l.queueMail(tx, m, in); err != nil {
			return err
		}
	}
	var msgID uint64
	if d.message != nil {
		msgID = d.message.ID
	}
	if err := l.writeEvents(tx, d.events, msgID, items); err != nil {
		return err
	}
	for _, s := range d.sends {
		if err := tx.RecordSend(s.key, s.at); err != nil {
			return err
		}
	}
	return nil
}

// writeEvents appends evs, in order: msgID is the message the events of
// the message name, items the queued mail the events name.
func (l *Line) writeEvents(tx *txn, evs []caseEvent, msgID uint64, items []*store.OutboxItem) error {
	for _, e := range evs {
		ev := e.ev
		if e.ofMessage {
			ev.MessageID = msgID
		}
		if e.mail > 0 {
			ev.Detail = e.lead + "<" + items[e.mail-1].MessageID + ">" + ev.Detail
		}
		if err := tx.AppendEvent(e.c.ID, ev); err != nil {
			return err
		}
	}
	return nil
}

// queueMail renders decided mail m and queues it in tx's queue; a mail to
// the reporter returns its outbox item (an event may name it).
func (l *Line) queueMail(tx *txn, m mailOut, in *incoming) (*store.OutboxItem, error) {
	switch {
	case m.data != nil && m.to != nil:
		return nil, tx.q.ToMember(m.c, *m.to, m.name, *m.data, m.thread.inReplyTo)
	case m.data != nil:
		// To the reporter, encrypted when their key is known, never
		// showing a member's address.
		subject, body, err := l.out.Templates.Render(m.name, []string{m.lang}, *m.data)
		if err != nil {
			return nil, err
		}
		c := m.c
		return tx.q.Add(outmail.Mail{Kind: m.name, CaseID: c.ID, CaseRef: c.Ref, To: &mail.Address{Name: c.ReporterName, Address: c.Reporter},
			Subject: subject, Body: body, InReplyTo: m.thread.inReplyTo, References: m.thread.refs, Encrypt: l.out.ReporterKey(tx.Tx, c.Reporter)}), nil
	}
	switch m.name {
	case "ack", "wrong-key", "damaged":
		o, err := l.composeAck(tx, m.c, m.report, m.name)
		if err != nil {
			return nil, err
		}
		o.NotBefore = m.notBefore
		return tx.q.Add(o), nil
	case "notify", "notice":
		return nil, tx.q.ToMember(m.c, *m.to, m.name, l.notifyData(m.c, in, m.kind), "")
	case "keychange":
		data := l.out.TemplateData(m.c)
		data.Reporter, data.OldKey, data.NewKey = m.who, m.oldKey, m.newKey
		return nil, tx.q.ToMember(m.c, *m.to, m.name, data, "")
	case "flood", "refused":
		data := templates.Data{Organisation: l.out.DisplayName(), Address: l.cfg.Address, Text: m.text}
		if m.name == "flood" {
			data.Kind, data.Reporter, data.Received = m.kind, m.who, l.out.InZone(l.now())
		} else {
			data.Member = m.who
		}
		if m.c != nil {
			data.CaseRef = m.c.Ref
		}
		return nil, tx.q.ToMember(nil, *m.to, m.name, data, "")
	}
	return nil, fmt.Errorf("intake: no such mail %q", m.name)
}

// applySafely is apply with a panic turned into an error, so that a bad
// message fails only itself within a batch.
func (l *Line) applySafely(tx *txn, it item, in *incoming, res *Result) (err error) {
	defer l.recovered(it.blob.Hash, &err)
	return l.apply(tx, it, in, res)
}
