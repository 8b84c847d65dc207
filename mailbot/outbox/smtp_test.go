package outbox

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"mailbot/mailbot/auth"
	"mailbot/mailbot/devmail"
)

const (
	smtpTestBot   = "security@example.org"
	smtpTestPass  = "bot-pw"
	smtpTestAlice = "alice@example.org"
	smtpTestBob   = "bob@example.org"
)

func smtpTestMsg(subject string) []byte {
	return []byte("From: security@example.org\r\nTo: alice@example.org\r\nSubject: " + subject +
		"\r\nMessage-ID: <" + subject + "@example.org>\r\n\r\nThanks.\r\n.leading dot\r\n")
}

func startSMTPTestServer(t *testing.T) *devmail.Server {
	t.Helper()
	s, err := devmail.Start(devmail.Options{Domain: "example.org", Users: map[string]string{
		smtpTestBot: smtpTestPass, smtpTestAlice: "alice-pw", smtpTestBob: "bob-pw",
	}})
	if err != nil {
		t.Fatalf("devmail.Start() = %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newSMTPTestClient(t *testing.T, opt SMTPOptions) *SMTPClient {
	t.Helper()
	if opt.TLS == "" {
		opt.TLS = "none"
	}
	if opt.Timeout == 0 {
		opt.Timeout = 10 * time.Second
	}
	c := NewSMTPClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
}

func smtpTestCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func sendTest(t *testing.T, c *SMTPClient, to []string, msg []byte) error {
	t.Helper()
	return c.Send(smtpTestCtx(t), smtpTestBot, to, bytes.NewReader(msg), int64(len(msg)))
}

// sendErrors flattens what Send returned into its *SendErrors.
func sendErrors(err error) []*SendError {
	var out []*SendError
	if multi, ok := err.(interface{ Unwrap() []error }); ok {
		for _, sub := range multi.Unwrap() {
			out = append(out, sendErrors(sub)...)
		}
		return out
	}
	var se *SendError
	if errors.As(err, &se) {
		out = append(out, se)
	}
	return out
}

func TestSMTPSendAndReuse(t *testing.T) {
	s := startSMTPTestServer(t)
	c := newSMTPTestClient(t, SMTPOptions{Addr: s.SMTPAddr})
	var want [][]byte
	for _, subj := range []string{"one", "two", "three"} {
		msg := smtpTestMsg(subj)
		want = append(want, msg)
		if err := sendTest(t, c, []string{smtpTestAlice}, msg); err != nil {
			t.Fatalf("Send(%s) = %v, want nil", subj, err)
		}
	}
	sent, err := s.WaitSent(smtpTestCtx(t), 3)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range sent {
		if !bytes.Equal(m.Data, want[i]) || m.From != smtpTestBot || !slices.Equal(m.To, []string{smtpTestAlice}) {
			t.Errorf("Sent()[%d] = %q from %s to %v, want the exact bytes %q", i, m.Data, m.From, m.To, want[i])
		}
	}
	if _, n := s.Connections(); n != 1 {
		t.Errorf("SMTP connections = %d, want 1 for 3 messages", n)
	}
	inbox, err := s.Mailbox(smtpTestAlice, "INBOX")
	if err != nil || len(inbox) != 3 {
		t.Fatalf("Mailbox(alice) = %d messages, %v, want 3", len(inbox), err)
	}
}

func TestSMTPRedialsBrokenConnection(t *testing.T) {
	s := startSMTPTestServer(t)
	c := newSMTPTestClient(t, SMTPOptions{Addr: s.SMTPAddr})
	if err := sendTest(t, c, []string{smtpTestAlice}, smtpTestMsg("one")); err != nil {
		t.Fatal(err)
	}
	s.DropSMTPConnections() // the server's idle timeout, say: RSET fails, Send redials
	if err := sendTest(t, c, []string{smtpTestAlice}, smtpTestMsg("two")); err != nil {
		t.Fatalf("Send() after the server dropped the connection = %v, want nil", err)
	}
	if _, n := s.Connections(); n != 2 {
		t.Errorf("SMTP connections = %d, want 2", n)
	}
	if got := len(s.Sent()); got != 2 {
		t.Errorf("len(Sent()) = %d, want 2", got)
	}
}

func TestSMTPIdleClose(t *testing.T) {
	s := startSMTPTestServer(t)
	c := newSMTPTestClient(t, SMTPOptions{Addr: s.SMTPAddr, IdleClose: 20 * time.Millisecond})
	closed := make(chan struct{}, 1)
	c.onIdleClose = func() { closed <- struct{}{} }
	if err := sendTest(t, c, []string{smtpTestAlice}, smtpTestMsg("one")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("idle connection not closed")
	}
	if err := sendTest(t, c, []string{smtpTestAlice}, smtpTestMsg("two")); err != nil {
		t.Fatal(err)
	}
	if _, n := s.Connections(); n != 2 {
		t.Errorf("SMTP connections = %d, want 2 (one closed when idle)", n)
	}
}

func TestSMTPFaults(t *testing.T) {
	tests := []struct {
		name     string
		fault    devmail.Fault
		n        int
		wantCode int
		wantTemp bool
		wantSent int // messages the server recorded after the first Send
	}{
		{name: "451 on data", fault: devmail.Fault{Code: 451, Message: "try later"}, n: 1, wantCode: 451, wantTemp: true},
		{name: "550 on data", fault: devmail.Fault{Code: 550, Message: "spam"}, n: 1, wantCode: 550, wantTemp: false},
		{name: "drop before the 250", fault: devmail.Fault{Drop: true}, n: 1, wantCode: 0, wantTemp: true, wantSent: 1},
		{name: "421 on rcpt", fault: devmail.Fault{Code: 421, Rcpt: smtpTestAlice}, n: 1, wantCode: 421, wantTemp: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startSMTPTestServer(t)
			c := newSMTPTestClient(t, SMTPOptions{Addr: s.SMTPAddr})
			s.FailNext(tt.n, tt.fault)
			msg := smtpTestMsg("x")
			err := sendTest(t, c, []string{smtpTestAlice}, msg)
			ses := sendErrors(err)
			if len(ses) != 1 {
				t.Fatalf("Send() = %v, want one *SendError", err)
			}
			se := ses[0]
			if se.Code != tt.wantCode || se.Temporary != tt.wantTemp || IsTemporary(err) != tt.wantTemp || se.Rcpt != "" {
				t.Fatalf("Send() = %#v, want code %d temporary %v for the whole message", se, tt.wantCode, tt.wantTemp)
			}
			if tt.wantCode != 0 && se.Enhanced == "" {
				t.Errorf("SendError.Enhanced is empty, want the server's enhanced code")
			}
			if got := len(s.Sent()); got != tt.wantSent {
				t.Errorf("len(Sent()) = %d, want %d", got, tt.wantSent)
			}
			// The same bytes again: accepted. After a drop the server has
			// the message twice: the one duplicate the design allows.
			if err := sendTest(t, c, []string{smtpTestAlice}, msg); err != nil {
				t.Fatalf("second Send() = %v, want nil", err)
			}
			sent := s.Sent()
			if len(sent) != tt.wantSent+1 {
				t.Fatalf("len(Sent()) = %d, want %d", len(sent), tt.wantSent+1)
			}
			for _, m := range sent {
				if !bytes.Equal(m.Data, msg) {
					t.Errorf("Sent() data = %q, want %q", m.Data, msg)
				}
			}
		})
	}
}

func TestSMTPRetryAfter451(t *testing.T) {
	s := startSMTPTestServer(t)
	c := newSMTPTestClient(t, SMTPOptions{Addr: s.SMTPAddr})
	s.FailNext(1, devmail.Fault{Code: 451})
	msg := smtpTestMsg("retry")
	err := sendTest(t, c, []string{smtpTestAlice}, msg)
	if !IsTemporary(err) {
		t.Fatalf("Send() = %v, want a temporary error", err)
	}
	if err := sendTest(t, c, []string{smtpTestAlice}, msg); err != nil {
		t.Fatalf("retry Send() = %v, want nil", err)
	}
	if _, n := s.Connections(); n != 2 {
		t.Errorf("SMTP connections = %d, want 2 (the retry starts on a fresh connection)", n)
	}
	if sent := s.Sent(); len(sent) != 1 || !bytes.Equal(sent[0].Data, msg) {
		t.Errorf("Sent() = %d messages, want the message once", len(sent))
	}
}

func TestSMTPRecipients(t *testing.T) {
	tests := []struct {
		name      string
		faults    []devmail.Fault
		wantTo    []string // recipients of the message the server accepted; nil: none
		wantRcpt  []string // refused recipients, in order
		wantTemp  bool
		wantCodes []int
	}{
		{name: "all accepted", wantTo: []string{smtpTestAlice, smtpTestBob}},
		{name: "one 550", faults: []devmail.Fault{{Code: 550, Rcpt: smtpTestBob, Message: "no such user"}},
			wantTo: []string{smtpTestAlice}, wantRcpt: []string{smtpTestBob}, wantCodes: []int{550}},
		{name: "one 450", faults: []devmail.Fault{{Code: 450, Rcpt: smtpTestAlice}},
			wantTo: []string{smtpTestBob}, wantRcpt: []string{smtpTestAlice}, wantCodes: []int{450}, wantTemp: true},
		{name: "all refused", faults: []devmail.Fault{{Code: 550, Rcpt: smtpTestAlice}, {Code: 450, Rcpt: smtpTestBob}},
			wantRcpt: []string{smtpTestAlice, smtpTestBob}, wantCodes: []int{550, 450}, wantTemp: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startSMTPTestServer(t)
			c := newSMTPTestClient(t, SMTPOptions{Addr: s.SMTPAddr})
			for _, f := range tt.faults {
				s.FailNext(1, f)
			}
			err := sendTest(t, c, []string{smtpTestAlice, smtpTestBob}, smtpTestMsg("multi"))
			ses := sendErrors(err)
			var rcpts []string
			var codes []int
			for _, se := range ses {
				rcpts, codes = append(rcpts, se.Rcpt), append(codes, se.Code)
				if se.Temporary != (se.Code/100 == 4) {
					t.Errorf("%v: Temporary = %v, want %v", se, se.Temporary, se.Code/100 == 4)
				}
			}
			if !slices.Equal(rcpts, tt.wantRcpt) || !slices.Equal(codes, tt.wantCodes) {
				t.Fatalf("Send() = %v, want refused %v with codes %v", err, tt.wantRcpt, tt.wantCodes)
			}
			if (err == nil) != (tt.wantRcpt == nil) || IsTemporary(err) != tt.wantTemp {
				t.Errorf("IsTemporary(%v) = %v, want %v", err, IsTemporary(err), tt.wantTemp)
			}
			sent := s.Sent()
			switch {
			case tt.wantTo == nil && len(sent) != 0:
				t.Errorf("Sent() = %d messages, want none", len(sent))
			case tt.wantTo != nil && (len(sent) != 1 || !slices.Equal(sent[0].To, tt.wantTo)):
				t.Errorf("Sent() = %+v, want one message to %v", sent, tt.wantTo)
			}
			// The connection stays usable.
			if err := sendTest(t, c, []string{smtpTestAlice}, smtpTestMsg("after")); err != nil {
				t.Errorf("next Send() = %v, want nil", err)
			}
		})
	}
}

func TestSMTPAuth(t *testing.T) {
	tests := []struct {
		name    string
		client  func() (sasl.Client, error)
		wantErr string
	}{
		{"plain", func() (sasl.Client, error) { return auth.Client(auth.Plain, smtpTestBot, smtpTestPass) }, ""},
		{"login", func() (sasl.Client, error) { return auth.Client(auth.Login, smtpTestBot, smtpTestPass) }, ""},
		{"plain wrong password", func() (sasl.Client, error) { return auth.Client(auth.Plain, smtpTestBot, "wrong") }, "535"},
		{"secret unreadable", func() (sasl.Client, error) { return nil, auth.ErrNoSecret }, "secret not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startSMTPTestServer(t)
			c := newSMTPTestClient(t, SMTPOptions{Addr: s.SMTPAddr, SASL: tt.client})
			err := sendTest(t, c, []string{smtpTestAlice}, smtpTestMsg("auth"))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Send() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(strings.ToLower(err.Error()), "auth") {
				t.Fatalf("Send() = %v, want an auth error containing %q", err, tt.wantErr)
			}
			// Credentials are about the connection, not the message: retry.
			if !IsTemporary(err) {
				t.Errorf("IsTemporary(%v) = false, want true", err)
			}
			if strings.Contains(err.Error(), "wrong") {
				t.Errorf("error %q contains the password", err)
			}
			if n := len(s.Sent()); n != 0 {
				t.Errorf("len(Sent()) = %d, want 0", n)
			}
		})
	}
}

// A server that accepts the connection and never speaks: Send gives up
// after Timeout.
func TestSMTPSilentServer(t *testing.T) {
	silent, err := devmail.StartSilent()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	for _, mode := range []string{"none", "implicit", "starttls"} {
		t.Run(mode, func(t *testing.T) {
			c := newSMTPTestClient(t, SMTPOptions{Addr: silent.Addr, TLS: mode, Timeout: 200 * time.Millisecond})
			start := time.Now()
			err := sendTest(t, c, []string{smtpTestAlice}, smtpTestMsg("silent"))
			elapsed := time.Since(start)
			if !IsTemporary(err) {
				t.Fatalf("Send() = %v, want a temporary error", err)
			}
			if elapsed > 2*time.Second {
				t.Errorf("Send() returned after %v, want about 200ms", elapsed)
			}
			t.Logf("Send() to a silent server returned after %v: %v", elapsed, err)
		})
	}
}

// blockingReader gives the first part of a message, then blocks until
// released: Send is then in the middle of DATA.
type blockingReader struct {
	first   []byte
	reached chan struct{}
	release <-chan struct{}
	step    int
}

func (r *blockingReader) Read(p []byte) (int, error) {
	r.step++
	switch r.step {
	case 1:
		return copy(p, r.first), nil
	case 2:
		close(r.reached)
		<-r.release
		return copy(p, "rest of the body\r\n"), nil
	}
	return 0, io.EOF
}

func TestSMTPCancelDuringData(t *testing.T) {
	s := startSMTPTestServer(t)
	c := newSMTPTestClient(t, SMTPOptions{Addr: s.SMTPAddr})
	ctx, cancel := context.WithCancel(context.Background())
	r := &blockingReader{first: []byte("Subject: half\r\n\r\nfirst line\r\n"), reached: make(chan struct{}), release: ctx.Done()}
	done := make(chan error, 1)
	go func() {
		defer func() { recover() }()
		done <- c.Send(ctx, smtpTestBot, []string{smtpTestAlice}, r, 0)
	}()
	select {
	case <-r.reached:
	case <-time.After(10 * time.Second):
		t.Fatal("Send() never reached DATA")
	}
	cancel()
	var err error
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Send() did not return after cancel")
	}
	if !IsTemporary(err) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Send() = %v, want a temporary error wrapping context.Canceled", err)
	}
	// The next message goes through on a new connection; the half one was
	// never accepted.
	msg := smtpTestMsg("whole")
	if err := sendTest(t, c, []string{smtpTestAlice}, msg); err != nil {
		t.Fatal(err)
	}
	if sent := s.Sent(); len(sent) != 1 || !bytes.Equal(sent[0].Data, msg) {
		t.Fatalf("Sent() = %d messages, want only the whole one", len(sent))
	}
	if _, n := s.Connections(); n != 2 {
		t.Errorf("SMTP connections = %d, want 2", n)
	}
}

func TestSMTPOptionsCheck(t *testing.T) {
	tests := []struct {
		addr, mode string
		ok         bool
	}{
		{"127.0.0.1:25", "none", true},
		{"[::1]:25", "none", true},
		{"localhost:25", "none", false}, // a name may resolve elsewhere (issue 15)
		{"127.0.0.2:25", "none", true},
		{"mail.example.org:25", "none", false},
		{"10.0.0.1:25", "none", false},
		{"mail.example.org:465", "implicit", true},
		{"mail.example.org:587", "starttls", true},
		{"mail.example.org:587", "", false},
		{"mail.example.org:587", "STARTTLS", false},
		{"mail.example.org", "starttls", false},
	}
	for _, tt := range tests {
		err := SMTPOptions{Addr: tt.addr, TLS: tt.mode}.Check()
		if (err == nil) != tt.ok {
			t.Errorf("Check(%s, %q) = %v, want ok %v", tt.addr, tt.mode, err, tt.ok)
		}
	}
	// Send refuses plaintext to a remote host without dialling.
	c := NewSMTPClient(SMTPOptions{Addr: "mail.example.org:25", TLS: "none"})
	err := c.Send(context.Background(), smtpTestBot, []string{smtpTestAlice}, strings.NewReader("x"), 1)
	if err == nil || IsTemporary(err) || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("Send(plaintext to a remote host) = %v, want a permanent error about loopback", err)
	}
	if err := c.Send(context.Background(), smtpTestBot, nil, strings.NewReader("x"), 1); err == nil || IsTemporary(err) {
		t.Errorf("Send(no recipients) = %v, want a permanent error", err)
	}
}

func TestSMTPClosedClient(t *testing.T) {
	s := startSMTPTestServer(t)
	c := newSMTPTestClient(t, SMTPOptions{Addr: s.SMTPAddr})
	if err := sendTest(t, c, []string{smtpTestAlice}, smtpTestMsg("one")); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if err := sendTest(t, c, []string{smtpTestAlice}, smtpTestMsg("two")); !IsTemporary(err) {
		t.Errorf("Send() after Close = %v, want a temporary error", err)
	}
}

func TestIsTemporary(t *testing.T) {
	perm := &SendError{Code: 550}
	temp := &SendError{Code: 451, Temporary: true}
	tests := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{perm, false},
		{temp, true},
		{errors.Join(perm, temp), true},
		{errors.Join(perm, perm), false},
		{&net.OpError{Op: "dial", Err: errors.New("refused")}, true},
		{context.DeadlineExceeded, true},
		{errors.New("other"), false},
	}
	for _, tt := range tests {
		if got := IsTemporary(tt.err); got != tt.want {
			t.Errorf("IsTemporary(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

// tlsTestServer is a go-smtp server with a self-signed certificate for
// 127.0.0.1, implicit TLS or STARTTLS, recording every EHLO name.
type tlsTestServer struct {
	addr  string
	roots *x509.CertPool

	mu    sync.Mutex
	helos []string
	tls   []bool // whether each MAIL FROM came over TLS
	data  [][]byte
}

func startTLSTestServer(t *testing.T, implicit bool) *tlsTestServer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	ts := &tlsTestServer{roots: x509.NewCertPool()}
	ts.roots.AddCert(cert)
	cfg := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}

	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		ts.mu.Lock()
		ts.helos = append(ts.helos, c.Hostname())
		ts.mu.Unlock()
		return &tlsTestSession{ts: ts, c: c}, nil
	}))
	srv.Domain = "mx.example.org"
	srv.TLSConfig = cfg
	srv.ErrorLog = nopLogger{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if implicit {
		ln = tls.NewListener(ln, cfg)
	}
	ts.addr = ln.Addr().String()
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() { recover() }()
		srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return ts
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}
func (nopLogger) Println(...any)        {}

type tlsTestSession struct {
	ts *tlsTestServer
	c  *smtp.Conn
}

func (s *tlsTestSession) Mail(string, *smtp.MailOptions) error {
	_, isTLS := s.c.TLSConnectionState()
	s.ts.mu.Lock()
	s.ts.tls = append(s.ts.tls, isTLS)
	s.ts.mu.Unlock()
	return nil
}
func (s *tlsTestSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *tlsTestSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	s.ts.mu.Lock()
	s.ts.data = append(s.ts.data, b)
	s.ts.mu.Unlock()
	return err
}
func (s *tlsTestSession) Reset() {}

func (s *tlsTestSession) AuthMechanisms() []string { return []string{"XOAUTH2"} }

// Auth plays Gmail's XOAUTH2: token "good" passes; any other gets the JSON
// challenge, and after the client's empty response, 535.
func (s *tlsTestSession) Auth(mech string) (sasl.Server, error) {
	step := 0
	return saslServerFunc(func(resp []byte) ([]byte, bool, error) {
		step++
		switch {
		case step == 1 && strings.Contains(string(resp), "auth=Bearer good\x01"):
			return nil, true, nil
		case step == 1:
			return []byte(`{"status":"401","schemes":"Bearer","scope":"https://mail.google.com/"}`), false, nil
		case step == 2 && len(resp) == 0:
			return nil, true, smtp.ErrAuthFailed
		}
		return nil, true, errors.New("unexpected response")
	}), nil
}

type saslServerFunc func([]byte) ([]byte, bool, error)

func (f saslServerFunc) Next(resp []byte) ([]byte, bool, error) { return f(resp) }
func (s *tlsTestSession) Logout() error                         { return nil }

func TestSMTPTLS(t *testing.T) {
	for _, mode := range []string{"implicit", "starttls"} {
		t.Run(mode, func(t *testing.T) {
			ts := startTLSTestServer(t, mode == "implicit")
			// ServerName comes from Addr (127.0.0.1, in the certificate).
			c := newSMTPTestClient(t, SMTPOptions{Addr: ts.addr, TLS: mode, TLSConfig: &tls.Config{RootCAs: ts.roots}})
			msg := smtpTestMsg("tls")
			for i := 0; i < 2; i++ {
				if err := sendTest(t, c, []string{smtpTestAlice}, msg); err != nil {
					t.Fatalf("Send() #%d = %v, want nil", i+1, err)
				}
			}
			ts.mu.Lock()
			defer ts.mu.Unlock()
			if !slices.Equal(ts.tls, []bool{true, true}) {
				t.Errorf("MAIL FROM over TLS = %v, want [true true]", ts.tls)
			}
			if len(ts.data) != 2 || !bytes.Equal(ts.data[0], msg) {
				t.Errorf("server got %d messages, want 2 with the exact bytes", len(ts.data))
			}
			if len(ts.helos) == 0 {
				t.Fatal("no EHLO seen")
			}
			for _, h := range ts.helos {
				if h != "example.org" {
					t.Errorf("EHLO names = %q, want only the sender's domain example.org", ts.helos)
					break
				}
			}
		})
	}
	t.Run("xoauth2", func(t *testing.T) {
		ts := startTLSTestServer(t, true)
		for _, token := range []string{"good", "expired"} {
			c := newSMTPTestClient(t, SMTPOptions{Addr: ts.addr, TLS: "implicit", TLSConfig: &tls.Config{RootCAs: ts.roots},
				SASL: func() (sasl.Client, error) { return auth.Client(auth.XOAUTH2, smtpTestBot, token) }})
			err := sendTest(t, c, []string{smtpTestAlice}, smtpTestMsg("x"))
			if token == "good" {
				if err != nil {
					t.Fatalf("Send(good token) = %v, want nil", err)
				}
				continue
			}
			var se *SendError
			if !errors.As(err, &se) || se.Code != 535 || !se.Temporary || !strings.Contains(err.Error(), "status 401") {
				t.Fatalf("Send(expired token) = %v, want a temporary 535 naming status 401", err)
			}
			var xe *auth.XOAUTH2Error
			if !errors.As(err, &xe) || xe.Scope != "https://mail.google.com/" {
				t.Errorf("errors.As(%v, *auth.XOAUTH2Error) = %v, want the server's status", err, xe)
			}
		}
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		ts := startTLSTestServer(t, true)
		c := newSMTPTestClient(t, SMTPOptions{Addr: ts.addr, TLS: "implicit"})
		err := sendTest(t, c, []string{smtpTestAlice}, smtpTestMsg("x"))
		if !IsTemporary(err) || !strings.Contains(err.Error(), "tls") {
			t.Errorf("Send() = %v, want a temporary TLS error", err)
		}
	})
	t.Run("starttls not offered", func(t *testing.T) {
		s := startSMTPTestServer(t) // devmail offers no STARTTLS
		c := newSMTPTestClient(t, SMTPOptions{Addr: s.SMTPAddr, TLS: "starttls", HeloName: "bot.example.org"})
		err := sendTest(t, c, []string{smtpTestAlice}, smtpTestMsg("x"))
		if !IsTemporary(err) || !strings.Contains(err.Error(), "does not offer STARTTLS") {
			t.Errorf("Send() = %v, want a temporary error: no STARTTLS", err)
		}
		if len(s.Sent()) != 0 {
			t.Error("message sent in clear text")
		}
	})
}

// A refused transaction ends its connection: the next mail starts fresh
// (Postfix slows a session down after 10 errors and drops it after 20).
func TestSMTPNewConnectionAfterRefusal(t *testing.T) {
	s := startSMTPTestServer(t)
	c := newSMTPTestClient(t, SMTPOptions{Addr: s.SMTPAddr})
	s.FailNext(1, devmail.Fault{Code: 550, Rcpt: smtpTestBob, Message: "no such user"})
	if err := sendTest(t, c, []string{smtpTestBob}, smtpTestMsg("refused")); err == nil {
		t.Fatal("Send() to a refused recipient = nil, want the 550")
	}
	for _, subj := range []string{"one", "two"} {
		if err := sendTest(t, c, []string{smtpTestAlice}, smtpTestMsg(subj)); err != nil {
			t.Fatalf("Send(%s) = %v, want nil", subj, err)
		}
	}
	if _, n := s.Connections(); n != 2 {
		t.Errorf("SMTP connections = %d, want 2 (a new one after the refusal, then reused)", n)
	}
}

// RFC 6531: a non-ASCII address is sent with SMTPUTF8 when the server
// offers it; ASCII mail is not.
func TestSMTPUTF8Address(t *testing.T) {
	s := startSMTPTestServer(t)
	c := newSMTPTestClient(t, SMTPOptions{Addr: s.SMTPAddr})
	if err := sendTest(t, c, []string{smtpTestAlice}, smtpTestMsg("ascii")); err != nil {
		t.Fatal(err)
	}
	if err := sendTest(t, c, []string{"marilù@esempio-università.it"}, smtpTestMsg("utf8")); err != nil {
		t.Fatalf("Send(to a UTF-8 address) = %v, want nil", err)
	}
	sent := s.Sent()
	if len(sent) != 2 || sent[0].UTF8 || !sent[1].UTF8 {
		t.Fatalf("Sent() SMTPUTF8 flags = %+v, want false for ASCII, true for the UTF-8 address", sent)
	}
}

// TestSMTPRefusesInvalidRecipient is issue 15 attack 6: a From copied
// leniently with ESC and BEL went to the server as RCPT TO. Such an address
// is refused before the server sees it, permanently, for that address only.
func TestSMTPRefusesInvalidRecipient(t *testing.T) {
	bad := "eve\x1b]0;pwned\x07@example.org"
	s := startSMTPTestServer(t)
	c := newSMTPTestClient(t, SMTPOptions{Addr: s.SMTPAddr})

	err := sendTest(t, c, []string{bad}, smtpTestMsg("bad"))
	ses := sendErrors(err)
	if len(ses) != 1 || ses[0].Rcpt != bad || ses[0].Code != 0 || IsTemporary(err) {
		t.Fatalf("Send(to %q) = %v, want one permanent refusal of that address before any SMTP", bad, err)
	}
	if strings.ContainsAny(err.Error(), "\x1b\x07") || !strings.Contains(err.Error(), "not a valid address") {
		t.Errorf("Send() error = %q, want the reason, without raw control bytes", err)
	}
	if _, n := s.Connections(); n != 0 {
		t.Errorf("SMTP connections = %d, want 0: nothing to send", n)
	}

	err = sendTest(t, c, []string{smtpTestAlice, bad}, smtpTestMsg("mixed"))
	ses = sendErrors(err)
	if len(ses) != 1 || ses[0].Rcpt != bad || IsTemporary(err) {
		t.Fatalf("Send(alice, bad) = %v, want one permanent refusal of the bad address", err)
	}
	sent, werr := s.WaitSent(smtpTestCtx(t), 1)
	if werr != nil || len(sent) != 1 || !slices.Equal(sent[0].To, []string{smtpTestAlice}) {
		t.Errorf("Sent() = %+v, %v, want one message to alice only", sent, werr)
	}
}
