package outbox

// Tests that make `make mutate` (gremlins) notice when a default, a check or
// the text of an SMTP error is changed.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/emersion/go-smtp"

	"mailbot/mailbot/devmail"
)

func TestSendErrorText(t *testing.T) {
	tests := []struct {
		err  SendError
		want string
	}{
		{SendError{Code: 451, Enhanced: "4.7.1", Message: "greylisted", Temporary: true}, "smtp: 451 4.7.1 greylisted (temporary)"},
		{SendError{Code: 550, Message: "no"}, "smtp: 550 no (permanent)"},
		{SendError{Message: "connection lost", Temporary: true}, "smtp: connection lost (temporary)"},
		{SendError{Rcpt: "bob@example.org", Code: 550, Enhanced: "5.1.1", Message: "unknown"}, "smtp: <bob@example.org>: 550 5.1.1 unknown (permanent)"},
		{SendError{Rcpt: "bo\nb@example.org", Code: 553, Message: "bad"}, `smtp: <"bo\nb@example.org">: 553 bad (permanent)`},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func TestIsTemporaryContext(t *testing.T) {
	for _, err := range []error{context.Canceled, fmt.Errorf("send: %w", context.Canceled), context.DeadlineExceeded} {
		if !IsTemporary(err) {
			t.Errorf("IsTemporary(%v) = false, want true", err)
		}
	}
}

func TestNewSMTPClientDefaults(t *testing.T) {
	tests := []struct {
		timeout, idle         time.Duration
		wantTimeout, wantIdle time.Duration
	}{
		{0, 0, defaultSMTPTimeout, defaultIdleClose},
		{-time.Second, -time.Second, defaultSMTPTimeout, defaultIdleClose},
		{5 * time.Second, 7 * time.Second, 5 * time.Second, 7 * time.Second},
	}
	for _, tt := range tests {
		c := NewSMTPClient(SMTPOptions{Addr: "127.0.0.1:25", TLS: "none", Timeout: tt.timeout, IdleClose: tt.idle})
		if c.opt.Timeout != tt.wantTimeout || c.opt.IdleClose != tt.wantIdle {
			t.Errorf("NewSMTPClient(Timeout %v, IdleClose %v) = %v, %v, want %v, %v", tt.timeout, tt.idle, c.opt.Timeout, c.opt.IdleClose, tt.wantTimeout, tt.wantIdle)
		}
		c.abort() // no connection yet: nothing to cut
		c.Close()
	}
}

func TestHeloName(t *testing.T) {
	c := NewSMTPClient(SMTPOptions{Addr: "127.0.0.1:25", TLS: "none"})
	defer c.Close()
	// Without a usable domain: the host name, never "localhost".
	fallback, err := os.Hostname()
	if err != nil || fallback == "" || fallback == "localhost" {
		fallback = "mailbot.invalid"
	}
	if got := c.heloName("no-domain"); got != fallback {
		t.Errorf("heloName(no domain) = %q, want %q", got, fallback)
	}
	for from, want := range map[string]string{
		"security@example.org":  "example.org",
		"security@":             fallback,
		"security@exa mple.org": fallback,
		"security@<example.org": fallback,
	} {
		if got := c.heloName(from); got != want {
			t.Errorf("heloName(%q) = %q, want %q", from, got, want)
		}
	}
	named := NewSMTPClient(SMTPOptions{Addr: "127.0.0.1:25", TLS: "none", HeloName: "bot.example.org"})
	defer named.Close()
	if got := named.heloName("security@example.org"); got != "bot.example.org" {
		t.Errorf("heloName() with HeloName set = %q, want bot.example.org", got)
	}
}

func TestTLSConfigDefaults(t *testing.T) {
	c := NewSMTPClient(SMTPOptions{Addr: "mail.example.org:465", TLS: "implicit"})
	defer c.Close()
	if cfg := c.tlsConfig("mail.example.org"); cfg.ServerName != "mail.example.org" || cfg.MinVersion != tls.VersionTLS12 {
		t.Errorf("tlsConfig() = ServerName %q, MinVersion %x, want the host and TLS 1.2", cfg.ServerName, cfg.MinVersion)
	}
	own := &tls.Config{ServerName: "smtp.example.net", MinVersion: tls.VersionTLS13}
	c2 := NewSMTPClient(SMTPOptions{Addr: "mail.example.org:465", TLS: "implicit", TLSConfig: own})
	defer c2.Close()
	cfg := c2.tlsConfig("mail.example.org")
	if cfg.ServerName != "smtp.example.net" || cfg.MinVersion != tls.VersionTLS13 || cfg == own {
		t.Errorf("tlsConfig() = ServerName %q, MinVersion %x, want a copy of the given config", cfg.ServerName, cfg.MinVersion)
	}
}

// TestSMTPLostAfterData: a connection lost after the message went out and
// before the server's reply says the mail may have been delivered; a reply
// keeps the server's own text.
func TestSMTPLostAfterData(t *testing.T) {
	for _, tt := range []struct {
		fault devmail.Fault
		want  string
	}{
		{devmail.Fault{Drop: true}, "it may have been delivered"},
		{devmail.Fault{Code: 451, Message: "try later"}, "smtp: 451 4.0.0 try later (temporary)"},
	} {
		s := startSMTPTestServer(t)
		c := newSMTPTestClient(t, SMTPOptions{Addr: s.SMTPAddr})
		s.FailNext(1, tt.fault)
		err := sendTest(t, c, []string{smtpTestAlice}, smtpTestMsg("lost"))
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "delivered") != tt.fault.Drop {
			t.Errorf("Send() with fault %+v = %v, want %q", tt.fault, err, tt.want)
		}
	}
}

func TestIsASCII(t *testing.T) {
	for _, tt := range []struct {
		from string
		to   []string
		want bool
	}{
		{"security@example.org", []string{"a@example.org"}, true},
		{"a\x7f@example.org", nil, true},
		{"a\x80@example.org", nil, false},
		{"security@example.org", []string{"a@example.org", "marilù@example.org"}, false},
	} {
		if got := isASCII(tt.from, tt.to); got != tt.want {
			t.Errorf("isASCII(%q, %q) = %v, want %v", tt.from, tt.to, got, tt.want)
		}
	}
}

// TestErrReader: only a read error is recorded, not the end of the body.
func TestErrReader(t *testing.T) {
	r := &errReader{r: strings.NewReader("body")}
	if _, err := io.ReadAll(r); err != nil || r.err != nil {
		t.Errorf("errReader at EOF: ReadAll() = %v, err = %v, want nil, nil", err, r.err)
	}
	fail := errors.New("disk")
	r = &errReader{r: io.MultiReader(strings.NewReader("bo"), iotest.ErrReader(fail))}
	if _, err := io.ReadAll(r); !errors.Is(err, fail) || r.err != fail {
		t.Errorf("errReader on a failing reader: ReadAll() = %v, err = %v, want %v", err, r.err, fail)
	}
}

func TestReplyCodeAndBroken(t *testing.T) {
	tests := []struct {
		err         error
		code        int
		enhanced    string
		brokenAfter bool
	}{
		{&smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}}, 550, "5.1.1", false},
		{&smtp.SMTPError{Code: 450, EnhancedCode: smtp.NoEnhancedCode}, 450, "", false},
		{&smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCodeNotSet}, 451, "", false},
		{&smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 2, 1}}, 421, "4.2.1", true},
		{errors.New("connection reset"), 0, "", true},
		{errBroken{&smtp.SMTPError{Code: 550}}, 550, "", true},
		{errors.Join(&smtp.SMTPError{Code: 550}, &smtp.SMTPError{Code: 450}), 550, "", false},
		{errors.Join(&smtp.SMTPError{Code: 550}, errors.New("reset")), 550, "", true},
	}
	for _, tt := range tests {
		code, enh := replyCode(tt.err)
		if code != tt.code || enh != tt.enhanced {
			t.Errorf("replyCode(%v) = %d, %q, want %d, %q", tt.err, code, enh, tt.code, tt.enhanced)
		}
		if got := broken(tt.err); got != tt.brokenAfter {
			t.Errorf("broken(%v) = %v, want %v", tt.err, got, tt.brokenAfter)
		}
	}
	if broken(nil) {
		t.Errorf("broken(nil) = true, want false")
	}
}
