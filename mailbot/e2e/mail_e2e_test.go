//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"mime"
	"net"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"
)

// imapConn is a logged-in IMAP connection as one of the users.
type imapConn struct {
	c *imapclient.Client
}

// dialIMAP logs in as user; the connection is closed at the end of the test.
func dialIMAP(t *testing.T, addr, user, pass string) *imapConn {
	t.Helper()
	ic, err := openIMAP(addr, user, pass, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ic.c.Close() })
	return ic
}

// openIMAP logs in as user; the caller closes the connection. opt may be
// nil or carry a handler of unilateral data (the soak's mailbox watch).
func openIMAP(addr, user, pass string, opt *imapclient.Options) (*imapConn, error) {
	if opt == nil {
		opt = &imapclient.Options{}
	}
	opt.Dialer = &net.Dialer{Timeout: 10 * time.Second}
	c, err := imapclient.DialInsecure(addr, opt)
	if err != nil {
		return nil, fmt.Errorf("imap dial %s: %w", addr, err)
	}
	if err := c.Login(user, pass).Wait(); err != nil {
		c.Close()
		return nil, fmt.Errorf("imap login %s: %w", user, err)
	}
	return &imapConn{c: c}, nil
}

// appendMsg stores raw in mailbox with APPEND, as a delivery would.
func (ic *imapConn) appendMsg(mailbox string, raw []byte) error {
	cmd := ic.c.Append(mailbox, int64(len(raw)), nil)
	if _, err := cmd.Write(raw); err != nil {
		cmd.Close()
		return fmt.Errorf("append: %w", err)
	}
	if err := cmd.Close(); err != nil {
		return fmt.Errorf("append: %w", err)
	}
	if _, err := cmd.Wait(); err != nil {
		return fmt.Errorf("append: %w", err)
	}
	return nil
}

// stored is one message of a mailbox.
type stored struct {
	UID         imap.UID
	UIDValidity uint32 // of the mailbox when it was read
	Seen        bool
	Raw         []byte // the header only, unless fetched with body
	hdr         textproto.MIMEHeader
}

// header returns a decoded header field.
func (s *stored) header(name string) string {
	if s.hdr == nil {
		r := textproto.NewReader(bufio.NewReader(bytes.NewReader(s.Raw)))
		s.hdr, _ = r.ReadMIMEHeader()
	}
	v := s.hdr.Get(name)
	if d, err := new(mime.WordDecoder).DecodeHeader(v); err == nil {
		v = d
	}
	return strings.TrimSpace(v)
}

// list reads every message of mailbox (read-only: flags stay as they are).
func (ic *imapConn) list(mailbox string, body bool) ([]*stored, error) {
	sel, err := ic.c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return nil, fmt.Errorf("examine: %w", err)
	}
	if sel.NumMessages == 0 {
		return nil, nil
	}
	section := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, Peek: true}
	if body {
		section = &imap.FetchItemBodySection{Peek: true}
	}
	var all imap.SeqSet
	all.AddRange(1, 0) // 1:*
	msgs, err := ic.c.Fetch(all, &imap.FetchOptions{UID: true, Flags: true,
		BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil {
		return nil, fmt.Errorf("fetch: %w", err)
	}
	var out []*stored
	for _, m := range msgs {
		s := &stored{UID: m.UID, Raw: m.FindBodySection(section), UIDValidity: sel.UIDValidity}
		for _, f := range m.Flags {
			if f == imap.FlagSeen {
				s.Seen = true
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// sendSMTP submits raw through Postfix as the researcher's MTA would: no
// AUTH, the recipient is in a domain Postfix delivers to.
func sendSMTP(addr, from string, to []string, raw []byte) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return fmt.Errorf("smtp dial: %w", err)
	}
	defer c.Close()
	c.CommandTimeout = 30 * time.Second
	if err := c.Hello("research.example"); err != nil {
		return fmt.Errorf("ehlo: %w", err)
	}
	if err := c.SendMail(from, to, bytes.NewReader(raw)); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	return c.Quit()
}

// report is a plain text report from Ada to the security mailbox.
func report(msgID, subject, body string) []byte {
	return mailBytes([][2]string{
		{"From", "Ada Lovelace <" + adaAddr + ">"},
		{"To", "Security Team <" + botAddr + ">"},
		{"Subject", subject},
		{"Date", time.Now().Format(time.RFC1123Z)},
		{"Message-ID", "<" + msgID + ">"},
		{"MIME-Version", "1.0"},
		{"Content-Type", "text/plain; charset=utf-8"},
	}, body)
}

func mailBytes(headers [][2]string, body string) []byte {
	var b bytes.Buffer
	for _, h := range headers {
		fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
	}
	b.WriteString("\r\n")
	b.WriteString(strings.ReplaceAll(strings.ReplaceAll(body, "\r\n", "\n"), "\n", "\r\n"))
	return b.Bytes()
}

// ack is an acknowledgement found in Ada's mailbox.
type ack struct {
	MessageID, InReplyTo, Subject, AutoSubmitted string
	msg                                          *stored
}

// acks reads Ada's mailbox and returns the bot's mail in it.
func acks(ic *imapConn, body bool) ([]ack, error) {
	msgs, err := ic.list("INBOX", body)
	if err != nil {
		return nil, err
	}
	var out []ack
	for _, m := range msgs {
		if !strings.Contains(strings.ToLower(m.header("From")), botAddr) {
			continue
		}
		out = append(out, ack{
			MessageID:     strings.Trim(m.header("Message-ID"), "<>"),
			InReplyTo:     strings.Trim(m.header("In-Reply-To"), "<>"),
			Subject:       m.header("Subject"),
			AutoSubmitted: m.header("Auto-Submitted"),
			msg:           m,
		})
	}
	return out, nil
}

// waitAcks waits until Ada holds acknowledgements answering every one of
// ids, and returns all the bot's mail in her mailbox.
func waitAcks(t *testing.T, ada *imapConn, ids []string, timeout time.Duration, body bool) []ack {
	t.Helper()
	var got []ack
	waitUntil(t, fmt.Sprintf("acknowledgements of %d reports in %s's mailbox", len(ids), adaAddr), timeout, func() (bool, error) {
		var err error
		if got, err = acks(ada, body); err != nil {
			return false, err
		}
		answered := map[string]bool{}
		for _, a := range got {
			answered[a.InReplyTo] = true
		}
		for _, id := range ids {
			if !answered[id] {
				return false, nil
			}
		}
		return true, nil
	})
	return got
}
