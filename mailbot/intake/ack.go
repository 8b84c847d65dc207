package intake

import (
	"strings"

	"github.com/emersion/go-message/mail"

	"mailbot/mailbot/outmail"
	"mailbot/mailbot/team"
	"mailbot/store"
)

// composeAck renders the acknowledgement of a new case with template name
// (ack, or wrong-key or damaged: decideAck).
func (l *Line) composeAck(tx *txn, c *store.Case, in *incoming, name string) (outmail.Mail, error) {
	data := l.out.TemplateData(c)
	data.Missing = l.missingFields(in)
	if name == "wrong-key" {
		data.KeyIDs = in.crypto.keyIDs
	}
	encrypt := l.out.ReporterKey(tx.Tx, c.Reporter)
	data.Encrypted = l.keys != nil && len(encrypt) > 0
	if !data.Encrypted && (in.crypto.encrypted || l.policy != nil && !l.policy.PlaintextReplies) {
		// Never echo what came encrypted (its protected subject) in clear:
		// the template names the report neutrally.
		data.Subject = ""
	}
	if !l.senderAuthenticated(in) {
		// Anyone can write any From: the organisation's signed mail must
		// not carry a stranger's display name and subject to that address.
		data.ReporterName, data.Subject = "", ""
	}
	subject, body, err := l.out.Templates.Render(name, []string{c.Language}, data)
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
func (l *Line) senderAuthenticated(in *incoming) bool {
	at := strings.LastIndexByte(in.from, '@')
	if in.msg == nil || in.msg.FromCount != 1 || len(in.msg.From) != 1 || at < 0 {
		return false
	}
	return team.SenderAuthenticated(in.msg.Header, l.cfg.TeamMail.TrustedAuthServID, in.from[at+1:])
}
