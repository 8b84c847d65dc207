package mailbot

import (
	"strings"

	"github.com/emersion/go-message/mail"

	"mailbot/mailbot/outmail"
	"mailbot/mailbot/team"
	"mailbot/store"
)

// enqueue queues o in tx: inside a batch its sealing waits for the end of
// the batch's transaction (outmail.Queue), otherwise it is sealed at once.
func (d *Daemon) enqueue(tx *store.Tx, o outmail.Mail) (*store.OutboxItem, error) {
	var item *store.OutboxItem
	err := d.withQueue(tx, func(q *outmail.Queue) error { item = q.Add(o); return nil })
	return item, err
}

// withQueue runs fn with the outgoing mail queue of tx: the batch's, or a
// queue flushed at once.
func (d *Daemon) withQueue(tx *store.Tx, fn func(q *outmail.Queue) error) error {
	if q := d.sealQueue(tx); q != nil {
		return fn(q)
	}
	q := d.out.NewQueue()
	if err := fn(q); err != nil {
		return err
	}
	_, err := q.Flush(tx)
	return err
}

// composeAck renders the acknowledgement of a new case.
func (d *Daemon) composeAck(tx *store.Tx, c *store.Case, in *incoming, sm *store.Message) (outmail.Mail, error) {
	data := d.out.TemplateData(c)
	data.Missing = d.missingFields(in)
	name := "ack"
	switch {
	case d.keys != nil && in.crypto.noKey:
		name = "wrong-key"
		data.KeyIDs = in.crypto.keyIDs
	case d.keys != nil && in.crypto.damaged:
		name = "damaged"
	}
	encrypt := d.out.ReporterKey(tx, c.Reporter)
	data.Encrypted = d.keys != nil && len(encrypt) > 0
	if !data.Encrypted && (in.crypto.encrypted || d.policy != nil && !d.policy.PlaintextReplies) {
		// Never echo what came encrypted (its protected subject) in clear:
		// the template names the report neutrally.
		data.Subject = ""
	}
	if !d.senderAuthenticated(in) {
		// Anyone can write any From: the organisation's signed mail must
		// not carry a stranger's display name and subject to that address.
		data.ReporterName, data.Subject = "", ""
	}
	subject, body, err := d.tmpl.Render(name, []string{c.Language}, data)
	if err != nil {
		return outmail.Mail{}, err
	}
	to := &mail.Address{Name: data.ReporterName, Address: c.Reporter}
	return outmail.Mail{Kind: "ack", CaseID: c.ID, CaseRef: c.Ref, To: to, Subject: subject, Body: body,
		InReplyTo: in.msg.MessageID, References: in.msg.References, Encrypt: encrypt}, nil
}

// senderAuthenticated reports whether the one From address of in is vouched
// for by the trusted receiving server, as team mail must be
// (team.SenderAuthenticated).
func (d *Daemon) senderAuthenticated(in *incoming) bool {
	at := strings.LastIndexByte(in.from, '@')
	if in.msg == nil || in.msg.FromCount != 1 || len(in.msg.From) != 1 || at < 0 {
		return false
	}
	return team.SenderAuthenticated(in.msg.Header, d.cfg.TeamMail.TrustedAuthServID, in.from[at+1:])
}
