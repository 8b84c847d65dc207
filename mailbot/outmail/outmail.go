// Package outmail owns the mail the bot writes: rendering templates with
// the data of a case, choosing who on the team gets what, building the
// headers (Message-ID, threading, RFC 3834 Auto-Submitted, the loop
// header) and sealing the body as OpenPGP (RFC 3156 PGP/MIME, signed, and
// encrypted with a protected subject per RFC 9788 when the recipient's key
// is known).
//
// There is one way to queue outgoing mail: a Queue, made for a store
// transaction (or for one piece of work in it). Add gives each mail its headers and Message-ID at once;
// Flush seals every mail in parallel (signing is the costliest step of a
// report after its decryption) and writes them to the outbox in the order
// they were added, inside the caller's transaction. The message line
// (mailbot/intake) and the periodic jobs (mailbot/jobs) both use it.
//
// It must not decide anything about a case (that is the line's and the
// jobs' business), open a transaction of its own, or send: it only writes
// outbox items into the transaction it is given. Nothing from incoming mail
// reaches a header unsanitised (triage.Sanitize, go-message's RFC 2047
// encoding, message ids checked against RFC 5322 section 3.6.4).
package outmail

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/emersion/go-message/mail"

	"mailbot/mailbot/config"
	"mailbot/mailbot/pgp"
	"mailbot/mailbot/probe"
	"mailbot/mailbot/team"
	"mailbot/mailbot/triage"
	"mailbot/policy"
	"mailbot/store"
	"mailbot/templates"
)

// LoopHeader is set on every mail the bot sends, with the mailbox address as
// its value, so the bot recognises its own mail coming back.
const LoopHeader = "X-Mailbot-Loop"

// Composer writes the bot's mail. Config and Templates are required; the
// rest may be nil (no policy: no promised dates; no keys: plain mail; no
// roster: nobody on the team).
type Composer struct {
	Config    *config.Config
	Policy    *policy.Policy
	Templates *templates.Set
	Keys      *pgp.Keyring
	Roster    *team.Roster
	Now       func() time.Time
	Log       *slog.Logger
}

// Mail is one mail the bot writes, before it becomes bytes.
type Mail struct {
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

// OwnMessageID reports whether id looks like a Message-ID the bot made.
func OwnMessageID(id string) bool { return ownMessageID.MatchString(id) }

// newMessageID makes a Message-ID in the bot's domain that names the case,
// so that a reply's References lead back to it (and triage can tell our
// own mail by its domain).
func (c *Composer) newMessageID(caseRef string) string {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return fmt.Sprintf("%s.%s@%s", strings.ToLower(caseRef), hex.EncodeToString(b[:]), c.Config.MsgIDDomain)
}

// Build turns o into the exact bytes the outbox will send on every try,
// without queueing it (the self-test submits its probe directly).
func (c *Composer) Build(o Mail) (*store.OutboxItem, error) {
	item, seal := c.prepare(o)
	raw, err := seal()
	if err != nil {
		return nil, fmt.Errorf("compose: %w", err)
	}
	item.Raw = raw
	return item, nil
}

// prepare makes the headers and the outbox item of o (Raw unset) and returns
// the function that writes its bytes.
func (c *Composer) prepare(o Mail) (*store.OutboxItem, func() ([]byte, error)) {
	now := c.Now()
	msgID := c.newMessageID(o.CaseRef)
	var h mail.Header
	h.SetDate(now)
	h.SetAddressList("From", []*mail.Address{{Name: triage.Sanitize(c.DisplayName(), 100), Address: c.Config.Address}})
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
	h.Set(LoopHeader, c.Config.Address)
	if o.Probe != "" {
		h.Set(probe.Header, o.Probe)
	}
	h.Set("MIME-Version", "1.0")

	item := &store.OutboxItem{
		CaseID:      o.CaseID,
		Kind:        o.Kind,
		MessageID:   msgID,
		From:        c.Config.Address,
		To:          []string{o.To.Address},
		Created:     now,
		NextAttempt: now,
	}
	if o.NotBefore.After(now) {
		item.NextAttempt = o.NotBefore
	}
	return item, func() ([]byte, error) {
		var buf bytes.Buffer
		if err := c.seal(&buf, h, triage.Sanitize(o.Subject, 250), o.CaseRef, o.Body, o.Encrypt); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
}

// seal writes h and body as PGP/MIME: encrypted and signed to `to` when set
// (outer Subject "[...]" plus the case tag, RFC 9788), else signed only when
// the bot has a key, else plain.
func (c *Composer) seal(w io.Writer, h mail.Header, subject, caseRef, body string, to openpgp.EntityList) error {
	if c.Keys == nil {
		h.SetSubject(subject)
		return writeText(w, h, body)
	}
	var inner bytes.Buffer
	var ih mail.Header
	if err := writeText(&inner, ih, body); err != nil {
		return err
	}
	if len(to) > 0 {
		h.SetSubject("[...] [" + caseRef + "]")
		return pgp.Seal(w, h, subject, &inner, to, c.Keys)
	}
	h.SetSubject(subject)
	return pgp.Sign(w, h, &inner, c.Keys)
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
