package mailbot

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/emersion/go-message/mail"

	"mailbot/mailbot/probe"
	"mailbot/mailbot/team"
	"mailbot/mailbot/triage"
	"mailbot/store"
	"mailbot/templates"
)

// outMail is one mail the bot writes, before it becomes bytes.
type outMail struct {
	Kind       string // outbox kind: "ack", "notice", ...
	CaseID     uint64
	CaseRef    string
	To         *mail.Address
	Subject    string // from a template: sanitised again here
	Body       string // text/plain, UTF-8
	InReplyTo  string
	References []string
	Encrypt    openpgp.EntityList // the recipient's key: encrypt and sign
	Generated  bool               // not an answer but the bot's own initiative (reminders, digests)
	NotBefore  time.Time          // zero: send at once; later: the outbox waits until then
	Probe      string             // the self-test token (probe.Header); "" for every other mail
}

// safeMsgID accepts what may be copied from incoming mail into In-Reply-To
// and References: RFC 5322 section 3.6.4 msg-id content without angle
// brackets, whitespace or control characters.
var safeMsgID = regexp.MustCompile(`^[\x21-\x3b\x3d\x3f-\x7e]{1,250}$`)

// ownMessageID matches the local part of the Message-IDs newMessageID
// makes, so that colleagues on the bot's domain are not taken for the bot.
var ownMessageID = regexp.MustCompile(`^[a-z0-9-]*\.[0-9a-f]{24}@`)

// newMessageID makes a Message-ID in the bot's domain that names the case,
// so that a reply's References lead back to it (and triage can tell our
// own mail by its domain).
func (d *Daemon) newMessageID(caseRef string) string {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return fmt.Sprintf("%s.%s@%s", strings.ToLower(caseRef), hex.EncodeToString(b[:]), d.cfg.MsgIDDomain)
}

// build turns o into the exact bytes the outbox will send on every try.
// Nothing from incoming mail goes into a header unsanitised: the subject and
// names pass triage.Sanitize and go-message encodes them (RFC 2047); message
// ids are copied only when they match safeMsgID.
func (d *Daemon) build(o outMail) (*store.OutboxItem, error) {
	item, seal := d.prepare(o)
	raw, err := seal()
	if err != nil {
		return nil, fmt.Errorf("compose: %w", err)
	}
	item.Raw = raw
	return item, nil
}

// enqueue builds o and queues it in tx. Inside a batch the costly part
// (OpenPGP signing and encryption) waits for the end of the batch's
// transaction, where every mail of the batch is sealed in parallel; the
// returned item has everything but its bytes at once.
func (d *Daemon) enqueue(tx *store.Tx, o outMail) (*store.OutboxItem, error) {
	item, seal := d.prepare(o)
	if q := d.sealQueue(tx); q != nil {
		q.add(item, seal)
		return item, nil
	}
	raw, err := seal()
	if err != nil {
		return nil, fmt.Errorf("compose: %w", err)
	}
	item.Raw = raw
	return item, tx.Enqueue(item)
}

// prepare makes the headers and the outbox item of o (Raw unset) and returns
// the function that writes its bytes.
func (d *Daemon) prepare(o outMail) (*store.OutboxItem, func() ([]byte, error)) {
	now := d.now()
	msgID := d.newMessageID(o.CaseRef)
	var h mail.Header
	h.SetDate(now)
	h.SetAddressList("From", []*mail.Address{{Name: triage.Sanitize(d.displayName(), 100), Address: d.cfg.Address}})
	to := &mail.Address{Name: triage.Sanitize(o.To.Name, 100), Address: o.To.Address}
	h.SetAddressList("To", []*mail.Address{to})
	h.SetMessageID(msgID)
	var refs []string
	for _, r := range o.References {
		if safeMsgID.MatchString(r) {
			refs = append(refs, r)
		}
	}
	if len(refs) > 20 { // RFC 5322 section 3.6.4 allows trimming; keep the first and the newest.
		refs = append(refs[:1], refs[len(refs)-19:]...)
	}
	if safeMsgID.MatchString(o.InReplyTo) {
		h.SetMsgIDList("In-Reply-To", []string{o.InReplyTo})
		if len(refs) == 0 || refs[len(refs)-1] != o.InReplyTo {
			refs = append(refs, o.InReplyTo)
		}
	}
	if len(refs) > 0 {
		h.SetMsgIDList("References", refs)
	}
	if o.Generated {
		h.Set("Auto-Submitted", "auto-generated") // RFC 3834 section 5: not a response
	} else {
		h.Set("Auto-Submitted", "auto-replied") // RFC 3834 section 5
	}
	h.Set("X-Auto-Response-Suppress", "All") // keeps Exchange from answering us
	h.Set(LoopHeader, d.cfg.Address)
	if o.Probe != "" {
		h.Set(probe.Header, o.Probe)
	}
	h.Set("MIME-Version", "1.0")

	item := &store.OutboxItem{
		CaseID:      o.CaseID,
		Kind:        o.Kind,
		MessageID:   msgID,
		From:        d.cfg.Address,
		To:          []string{o.To.Address},
		Created:     now,
		NextAttempt: now,
	}
	if o.NotBefore.After(now) {
		item.NextAttempt = o.NotBefore
	}
	return item, func() ([]byte, error) {
		var buf bytes.Buffer
		if err := d.seal(&buf, h, triage.Sanitize(o.Subject, 250), o.CaseRef, o.Body, o.Encrypt); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
}

// writeText writes a single text/plain part in quoted-printable.
func writeText(w io.Writer, h mail.Header, body string) error {
	h.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
	h.Set("Content-Transfer-Encoding", "quoted-printable")
	mw, err := mail.CreateSingleInlineWriter(w, h)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(mw, strings.ReplaceAll(body, "\n", "\r\n")); err != nil {
		return err
	}
	return mw.Close()
}

func (d *Daemon) displayName() string {
	if d.cfg.Name != "" {
		return d.cfg.Name
	}
	return "Security Team"
}

// composeAck renders the acknowledgement of a new case.
func (d *Daemon) composeAck(tx *store.Tx, c *store.Case, in *incoming, sm *store.Message) (outMail, error) {
	data := d.templateData(c)
	data.Missing = d.missingFields(in)
	name := "ack"
	switch {
	case d.keys != nil && in.crypto.noKey:
		name = "wrong-key"
		data.KeyIDs = in.crypto.keyIDs
	case d.keys != nil && in.crypto.damaged:
		name = "damaged"
	}
	encrypt := recipientKey(tx, c.Reporter)
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
		return outMail{}, err
	}
	to := &mail.Address{Name: data.ReporterName, Address: c.Reporter}
	return outMail{Kind: "ack", CaseID: c.ID, CaseRef: c.Ref, To: to, Subject: subject, Body: body,
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

// templateData fills what every template about case c may show.
func (d *Daemon) templateData(c *store.Case) templates.Data {
	data := templates.Data{
		Organisation: d.displayName(),
		Address:      d.cfg.Address,
		CaseRef:      c.Ref,
		Subject:      c.Subject,
		ReporterName: c.ReporterName,
		Received:     d.inZone(c.Created),
		Fingerprint:  d.fingerprint(),
	}
	d.addPromises(&data, c)
	return data
}
