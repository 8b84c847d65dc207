package outbox

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"

	"mailbot/mailbot/auth"
	"mailbot/mailbot/devmail"
)

// BenchmarkStageSend is the send stage of issue 9: one 2 KB acknowledgement
// submitted over the reused, authenticated connection to devmail's SMTP
// sink on loopback (RSET, MAIL, RCPT, DATA per message).
func BenchmarkStageSend(b *testing.B) {
	s, err := devmail.Start(devmail.Options{Domain: "example.org", Users: map[string]string{smtpTestBot: smtpTestPass}})
	if err != nil {
		b.Fatalf("devmail.Start() = %v", err)
	}
	b.Cleanup(func() { s.Close() })
	c := NewSMTPClient(SMTPOptions{Addr: s.SMTPAddr, TLS: "none", Timeout: 10 * time.Second,
		SASL: func() (sasl.Client, error) { return auth.Client(auth.Plain, smtpTestBot, smtpTestPass) }})
	b.Cleanup(func() { c.Close() })
	msg := []byte("From: Security Team <security@example.org>\r\nTo: researcher@research.example\r\n" +
		"Subject: [SEC-2026-0042] Re: SQL injection\r\nMessage-ID: <sec-2026-0042.1@example.org>\r\n" +
		"Auto-Submitted: auto-replied\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
		strings.Repeat("Thank you for your report. We will answer by Wednesday, 4 March 2026.\r\n", 28))
	ctx := context.Background()
	to := []string{"researcher@research.example"}
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Send(ctx, smtpTestBot, to, bytes.NewReader(msg), int64(len(msg))); err != nil {
			b.Fatalf("Send() = %v", err)
		}
	}
}
