package devmail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"mailbot/mailbot/auth"
)

const (
	bot      = "security@example.org"
	botPass  = "bot-pw"
	reporter = "alice@example.org"
	alicePW  = "alice-pw"
)

const testMsg = "From: security@example.org\r\nTo: alice@example.org\r\nSubject: ack\r\n\r\nThanks.\r\n.dot line\r\n"

func start(t *testing.T, opt Options) *Server {
	t.Helper()
	if opt.Users == nil {
		opt.Users = map[string]string{bot: botPass, reporter: alicePW}
	}
	if opt.Domain == "" {
		opt.Domain = "example.org"
	}
	s, err := Start(opt)
	if err != nil {
		t.Fatalf("Start() = %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
	})
	return s
}

func ctxTimeout(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// send submits one message and returns the error of the step that failed.
func send(t *testing.T, addr string, a sasl.Client, from string, to []string, msg string) error {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatalf("smtp.Dial() = %v", err)
	}
	defer c.Close()
	if err := c.Hello("client.example.org"); err != nil {
		return err
	}
	if a != nil {
		if err := c.Auth(a); err != nil {
			return err
		}
	}
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt, nil); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(msg)); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

func dialIMAP(t *testing.T, addr string, opts *imapclient.Options) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, opts)
	if err != nil {
		t.Fatalf("imapclient.DialInsecure() = %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func login(t *testing.T, s *Server, opts *imapclient.Options) *imapclient.Client {
	t.Helper()
	c := dialIMAP(t, s.IMAPAddr, opts)
	if err := c.Login(bot, botPass).Wait(); err != nil {
		t.Fatalf("Login() = %v", err)
	}
	return c
}

func TestSMTPDeliversToKnownUsers(t *testing.T) {
	s := start(t, Options{})
	to := []string{"Alice@Example.org", "outsider@example.net"}
	if err := send(t, s.SMTPAddr, nil, bot, to, testMsg); err != nil {
		t.Fatalf("send() = %v", err)
	}
	sent, err := s.WaitSent(ctxTimeout(t), 1)
	if err != nil {
		t.Fatalf("WaitSent() = %v", err)
	}
	if len(sent) != 1 {
		t.Fatalf("WaitSent() = %d messages, want 1", len(sent))
	}
	m := sent[0]
	if m.From != bot || !slices.Equal(m.To, to) || string(m.Data) != testMsg || m.At.IsZero() {
		t.Errorf("Sent()[0] = %+v, want from %s to %v with the exact bytes", m, bot, to)
	}
	got, err := s.Mailbox(reporter, "INBOX")
	if err != nil {
		t.Fatalf("Mailbox() = %v", err)
	}
	if len(got) != 1 || got[0].UID != 1 || string(got[0].Raw) != testMsg {
		t.Fatalf("Mailbox(alice, INBOX) = %+v, want the message as UID 1", got)
	}
	if got, _ := s.Mailbox(bot, "INBOX"); len(got) != 0 {
		t.Errorf("Mailbox(bot, INBOX) = %d messages, want 0", len(got))
	}
	if _, err := s.Mailbox("outsider@example.net", "INBOX"); !errors.Is(err, ErrNoUser) {
		t.Errorf("Mailbox(unknown) = %v, want ErrNoUser", err)
	}
}

func TestSMTPAuth(t *testing.T) {
	s := start(t, Options{})
	tests := []struct {
		name string
		a    sasl.Client
		ok   bool
	}{
		{"plain", sasl.NewPlainClient("", bot, botPass), true},
		{"plain other case", sasl.NewPlainClient("", strings.ToUpper(bot), botPass), true},
		{"plain wrong password", sasl.NewPlainClient("", bot, "nope"), false},
		{"plain unknown user", sasl.NewPlainClient("", "mallory@example.org", botPass), false},
		{"plain foreign identity", sasl.NewPlainClient(reporter, bot, botPass), false},
		{"login with initial response (go-sasl)", sasl.NewLoginClient(bot, botPass), true},
		{"login without initial response", auth.NewLoginClient(bot, botPass), true},
		{"login wrong password", auth.NewLoginClient(bot, "nope"), false},
		{"xoauth2 unsupported", auth.NewXOAUTH2Client(bot, "tok"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := send(t, s.SMTPAddr, tt.a, bot, []string{reporter}, testMsg)
			if tt.ok && err != nil {
				t.Fatalf("send() = %v, want nil", err)
			}
			if !tt.ok {
				var se *smtp.SMTPError
				if !errors.As(err, &se) || se.Code/100 != 5 {
					t.Fatalf("send() = %v, want a 5xx SMTP error", err)
				}
			}
		})
	}
}

func TestFailNext(t *testing.T) {
	tests := []struct {
		name     string
		faults   []Fault
		n        int
		to       []string
		wantCode int  // 0: success; -1: connection error (no reply)
		wantSent bool // the message was recorded
	}{
		{name: "451 on data", faults: []Fault{{Code: 451}}, n: 1, to: []string{reporter}, wantCode: 451},
		{name: "550 on data", faults: []Fault{{Code: 550, Message: "no"}}, n: 1, to: []string{reporter}, wantCode: 550},
		{name: "default code", faults: []Fault{{}}, n: 1, to: []string{reporter}, wantCode: 451},
		{name: "drop after data", faults: []Fault{{Drop: true}}, n: 1, to: []string{reporter}, wantCode: -1, wantSent: true},
		{name: "550 on rcpt", faults: []Fault{{Code: 550, Rcpt: "ALICE@example.org"}}, n: 1, to: []string{reporter}, wantCode: 550},
		{name: "rcpt fault for another address", faults: []Fault{{Code: 550, Rcpt: "bob@example.org"}}, n: 1, to: []string{reporter}, wantCode: 0, wantSent: true},
		{name: "drop on rcpt", faults: []Fault{{Drop: true, Rcpt: reporter}}, n: 1, to: []string{reporter}, wantCode: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, Options{})
			for _, f := range tt.faults {
				s.FailNext(tt.n, f)
			}
			err := send(t, s.SMTPAddr, nil, bot, tt.to, testMsg)
			var se *smtp.SMTPError
			switch {
			case tt.wantCode == 0 && err != nil:
				t.Fatalf("send() = %v, want nil", err)
			case tt.wantCode > 0 && (!errors.As(err, &se) || se.Code != tt.wantCode):
				t.Fatalf("send() = %v, want SMTP error %d", err, tt.wantCode)
			case tt.wantCode == -1 && (err == nil || errors.As(err, &se)):
				t.Fatalf("send() = %v, want a connection error", err)
			}
			if got := len(s.Sent()); got != map[bool]int{false: 0, true: 1}[tt.wantSent] {
				t.Errorf("len(Sent()) = %d, want recorded %v", got, tt.wantSent)
			}
		})
	}

	t.Run("counts down", func(t *testing.T) {
		s := start(t, Options{})
		s.FailNext(2, Fault{Code: 452})
		for i, want := range []int{452, 452, 0} {
			err := send(t, s.SMTPAddr, nil, bot, []string{reporter}, testMsg)
			var se *smtp.SMTPError
			if want == 0 && err != nil || want != 0 && (!errors.As(err, &se) || se.Code != want) {
				t.Fatalf("send() #%d = %v, want code %d", i+1, err, want)
			}
		}
		if got := len(s.Sent()); got != 1 {
			t.Errorf("len(Sent()) = %d, want 1", got)
		}
		if _, smtpConns := s.Connections(); smtpConns != 3 {
			t.Errorf("Connections() smtp = %d, want 3", smtpConns)
		}
	})
}

func TestWaitSent(t *testing.T) {
	s := start(t, Options{})
	done := make(chan error, 1)
	go func() {
		defer func() { recover() }()
		_, err := s.WaitSent(ctxTimeout(t), 2)
		done <- err
	}()
	for i := 0; i < 2; i++ {
		if err := send(t, s.SMTPAddr, nil, bot, []string{reporter}, testMsg); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("WaitSent() = %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.WaitSent(ctx, 3); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitSent(canceled) = %v, want context.Canceled", err)
	}
}

func TestIMAPLoginAndIdle(t *testing.T) {
	s := start(t, Options{})
	wake := make(chan uint32, 16)
	opts := &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				select {
				case wake <- *d.NumMessages:
				default:
				}
			}
		},
	}}
	// Login is by full address, in any case, and by AUTHENTICATE PLAIN or LOGIN.
	for _, a := range []sasl.Client{sasl.NewPlainClient("", bot, botPass), auth.NewLoginClient(strings.ToUpper(bot), botPass)} {
		c := dialIMAP(t, s.IMAPAddr, nil)
		if err := c.Authenticate(a); err != nil {
			t.Errorf("Authenticate(%T) = %v", a, err)
		}
	}
	if err := dialIMAP(t, s.IMAPAddr, nil).Login(bot, "wrong").Wait(); err == nil {
		t.Error("Login(wrong password) = nil, want an error")
	}
	if err := dialIMAP(t, s.IMAPAddr, nil).Login("security", botPass).Wait(); err == nil {
		t.Error("Login(local part only) = nil, want an error")
	}

	c := dialIMAP(t, s.IMAPAddr, opts)
	if err := c.Login("Security@Example.ORG", botPass).Wait(); err != nil {
		t.Fatalf("Login() = %v", err)
	}
	if !c.Caps().Has(imap.CapIdle) || !c.Caps().Has(imap.CapIMAP4rev2) {
		t.Errorf("Caps() = %v, want IMAP4rev2 and IDLE", c.Caps())
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := c.Idle()
	if err != nil {
		t.Fatalf("Idle() = %v", err)
	}
	// QUIRK (imapmemserver): IDLE registers for updates just after "+ idling";
	// a message delivered in between is announced only by the next one, so
	// deliver until the announcement comes (almost always the first time).
	deadline := time.After(10 * time.Second)
	for n := 1; ; n++ {
		uid, err := s.Deliver("INBOX", bot, []byte(testMsg))
		if err != nil || uid != uint32(n) {
			t.Fatalf("Deliver() = %d, %v, want UID %d", uid, err, n)
		}
		select {
		case got := <-wake:
			if got < 1 {
				t.Fatalf("EXISTS %d, want >= 1", got)
			}
		case <-time.After(100 * time.Millisecond):
			continue
		case <-deadline:
			t.Fatal("no EXISTS during IDLE")
		}
		break
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatalf("IDLE: %v", err)
	}
	if _, err := s.Deliver("INBOX", "nobody@example.org", []byte(testMsg)); !errors.Is(err, ErrNoUser) {
		t.Errorf("Deliver(unknown user) = %v, want ErrNoUser", err)
	}
	if _, err := s.Deliver("Nope", bot, []byte(testMsg)); err == nil {
		t.Error("Deliver(missing mailbox) = nil, want an error")
	}
}

func TestNoIdle(t *testing.T) {
	for _, noIdle := range []bool{false, true} {
		t.Run(map[bool]string{false: "idle", true: "noidle"}[noIdle], func(t *testing.T) {
			s := start(t, Options{NoIdle: noIdle})
			c := login(t, s, nil)
			caps, err := c.Capability().Wait() // the CAPABILITY command
			if err != nil {
				t.Fatal(err)
			}
			for name, set := range map[string]imap.CapSet{"after LOGIN": c.Caps(), "CAPABILITY": caps} {
				if got := set.Has(imap.CapIdle); got == noIdle {
					t.Errorf("%s: Has(IDLE) = %v, want %v (caps %v)", name, got, !noIdle, set)
				}
				for _, want := range []imap.Cap{imap.CapMove, imap.CapUIDPlus, imap.CapIMAP4rev1} {
					if !set.Has(want) {
						t.Errorf("%s: Has(%s) = false, want true", name, want)
					}
				}
			}
			// Mail still flows, with literals untouched by the filter.
			body := strings.Replace(testMsg, "Thanks.", "* CAPABILITY IMAP4rev1 IDLE\r\nA1 OK [CAPABILITY IDLE] x", 1)
			if _, err := s.Deliver("INBOX", bot, []byte(body)); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Select("INBOX", nil).Wait(); err != nil {
				t.Fatal(err)
			}
			msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
			if err != nil || len(msgs) != 1 {
				t.Fatalf("Fetch() = %d, %v", len(msgs), err)
			}
			if got := string(msgs[0].FindBodySection(&imap.FetchItemBodySection{Peek: true})); got != body {
				t.Errorf("BODY[] = %q, want %q", got, body)
			}
		})
	}
}

func TestMailboxFlagsAndRecreate(t *testing.T) {
	s := start(t, Options{})
	for i := 0; i < 2; i++ {
		if _, err := s.Deliver("INBOX", bot, []byte(testMsg)); err != nil {
			t.Fatal(err)
		}
	}
	c := login(t, s, nil)
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Store(imap.UIDSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	got, err := s.Mailbox(bot, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].UID != 1 || len(got[0].Flags) != 0 || got[1].UID != 2 || !slices.Equal(got[1].Flags, []string{`\Seen`}) {
		t.Fatalf("Mailbox() = %+v, want UID 1 unflagged and UID 2 \\Seen", got)
	}
	if err := c.Logout().Wait(); err != nil {
		t.Fatal(err)
	}

	if err := s.RecreateMailbox(bot, "INBOX"); err != nil {
		t.Fatalf("RecreateMailbox() = %v", err)
	}
	if got, _ := s.Mailbox(bot, "INBOX"); len(got) != 0 {
		t.Fatalf("Mailbox() after RecreateMailbox = %d messages, want 0", len(got))
	}
	uid, err := s.Deliver("INBOX", bot, []byte(testMsg))
	if err != nil || uid != 1 {
		t.Fatalf("Deliver() after RecreateMailbox = %d, %v, want UID 1", uid, err)
	}
	c2 := login(t, s, nil)
	sel2, err := c2.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sel2.UIDValidity == sel.UIDValidity {
		t.Errorf("UIDVALIDITY = %d after RecreateMailbox, want a change from %d", sel2.UIDValidity, sel.UIDValidity)
	}
	if err := s.RecreateMailbox(bot, "Processed"); err != nil {
		t.Errorf("RecreateMailbox(missing) = %v, want it created", err)
	}
}

func TestHangIMAP(t *testing.T) {
	s := start(t, Options{})
	c := login(t, s, nil)
	s.HangIMAP(true)
	noop := make(chan error, 1)
	go func() {
		defer func() { recover() }()
		noop <- c.Noop().Wait()
	}()
	select {
	case err := <-noop:
		t.Fatalf("Noop() during HangIMAP = %v, want no answer", err)
	case <-time.After(200 * time.Millisecond): // proving an absence needs a bound
	}
	// Mailbox's own connection is not hung.
	if _, err := s.Mailbox(bot, "INBOX"); err != nil {
		t.Errorf("Mailbox() during HangIMAP = %v", err)
	}
	s.HangIMAP(false)
	select {
	case err := <-noop:
		if err != nil {
			t.Fatalf("Noop() after HangIMAP(false) = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Noop() did not finish after HangIMAP(false)")
	}

	// A hung connection closed by the client side stays closable, and a
	// hung server still closes (Cleanup's Close must return).
	s.HangIMAP(true)
	c2 := dialIMAP(t, s.IMAPAddr, nil)
	greet := make(chan error, 1)
	go func() {
		defer func() { recover() }()
		greet <- c2.WaitGreeting()
	}()
	select {
	case err := <-greet:
		t.Fatalf("greeting during HangIMAP = %v, want none", err)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestDropIMAPConnections(t *testing.T) {
	s := start(t, Options{})
	c1 := login(t, s, nil)
	c2 := login(t, s, nil)
	if _, err := s.Mailbox(bot, "INBOX"); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Connections(); n != 2 {
		t.Errorf("Connections() imap = %d, want 2 (Mailbox's not counted)", n)
	}
	s.DropIMAPConnections()
	for i, c := range []*imapclient.Client{c1, c2} {
		select {
		case <-c.Closed():
		case <-time.After(10 * time.Second):
			t.Fatalf("client %d not closed after DropIMAPConnections", i+1)
		}
	}
	c3 := login(t, s, nil)
	if err := c3.Noop().Wait(); err != nil {
		t.Errorf("Noop() on a new connection = %v", err)
	}
	if n, _ := s.Connections(); n != 3 {
		t.Errorf("Connections() imap = %d, want 3", n)
	}
}

// TestCloseStopsEverything closes a server with an IDLE client, a hung
// client, an idle SMTP client and a WaitSent caller, and checks that every
// goroutine is gone.
func TestCloseStopsEverything(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		s, err := Start(Options{Domain: "example.org", Users: map[string]string{bot: botPass}})
		if err != nil {
			t.Fatal(err)
		}
		idler, err := imapclient.DialInsecure(s.IMAPAddr, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer idler.Close()
		if err := idler.Login(bot, botPass).Wait(); err != nil {
			t.Fatal(err)
		}
		if _, err := idler.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		if _, err := idler.Idle(); err != nil {
			t.Fatal(err)
		}
		s.HangIMAP(true)
		hung, err := net.Dial("tcp", s.IMAPAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer hung.Close()
		sc, err := smtp.Dial(s.SMTPAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer sc.Close()
		if err := sc.Hello("client.example.org"); err != nil {
			t.Fatal(err)
		}
		waitErr := make(chan error, 1)
		go func() {
			defer func() { recover() }()
			_, err := s.WaitSent(context.Background(), 1)
			waitErr <- err
		}()

		closed := make(chan error, 1)
		go func() {
			defer func() { recover() }()
			closed <- s.Close()
		}()
		select {
		case err := <-closed:
			if err != nil {
				t.Errorf("Close() = %v", err)
			}
		case <-time.After(10 * time.Second):
			buf := make([]byte, 1<<16)
			t.Fatalf("Close() did not return:\n%s", buf[:runtime.Stack(buf, true)])
		}
		if err := s.Close(); err != nil {
			t.Errorf("second Close() = %v", err)
		}
		if err := <-waitErr; !errors.Is(err, ErrClosed) {
			t.Errorf("WaitSent() after Close = %v, want ErrClosed", err)
		}
		select {
		case <-idler.Closed():
		case <-time.After(10 * time.Second):
			t.Error("IDLE client still connected after Close")
		}
		if _, err := s.Deliver("INBOX", bot, []byte(testMsg)); !errors.Is(err, ErrClosed) {
			t.Errorf("Deliver() after Close = %v, want ErrClosed", err)
		}
		if _, err := net.Dial("tcp", s.SMTPAddr); err == nil {
			t.Error("SMTP port still accepts after Close")
		}
	}()
	// Close has waited for the servers' goroutines; the clients' readers end
	// when they see EOF. Give the scheduler a bounded chance to retire them.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		runtime.Gosched()
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines after Close, want <= %d:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}

func TestStartRejectsBadUsers(t *testing.T) {
	for _, users := range []map[string]string{{"security": "pw"}, {"": "pw"}, {"A@x.org": "1", "a@x.org": "2"}} {
		if s, err := Start(Options{Users: users}); err == nil {
			s.Close()
			t.Errorf("Start(%v) = nil error, want one", users)
		}
	}
}

func TestStripIdle(t *testing.T) {
	tests := []struct{ in, want string }{
		{"* CAPABILITY IMAP4rev1 SASL-IR IDLE UNSELECT\r\n", "* CAPABILITY IMAP4rev1 SASL-IR UNSELECT\r\n"},
		{"* CAPABILITY IMAP4rev1 IDLE\r\n", "* CAPABILITY IMAP4rev1\r\n"},
		{"A1 OK [CAPABILITY IMAP4rev1 IDLE MOVE] Logged in\r\n", "A1 OK [CAPABILITY IMAP4rev1 MOVE] Logged in\r\n"},
		{"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] IMAP server ready\r\n", "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] IMAP server ready\r\n"},
		{"A2 OK [CAPABILITY IMAP4rev1] IDLE is great\r\n", "A2 OK [CAPABILITY IMAP4rev1] IDLE is great\r\n"},
		{"* 1 FETCH (FLAGS (IDLE))\r\n", "* 1 FETCH (FLAGS (IDLE))\r\n"},
		{"* capability imap4rev1 idle\r\n", "* capability imap4rev1\r\n"},
		{"* OK [CAPABILITY IDLE\r\n", "* OK [CAPABILITY IDLE\r\n"},
	}
	for _, tt := range tests {
		if got := string(stripIdle([]byte(tt.in))); got != tt.want {
			t.Errorf("stripIdle(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCapFilterLiterals(t *testing.T) {
	lit := "* CAPABILITY IMAP4rev1 IDLE\r\nA1 OK [CAPABILITY IDLE] {5}\r\n"
	head := fmt.Sprintf("* 1 FETCH (BODY[] {%d}\r\n%s)\r\n", len(lit), lit)
	in := head + "* CAPABILITY IMAP4rev1 IDLE\r\n"
	want := head + "* CAPABILITY IMAP4rev1\r\n"
	for _, chunk := range []int{1, 2, 7, len(in)} {
		var out bytes.Buffer
		f := &capFilter{w: &out}
		for p := in; p != ""; {
			k := min(chunk, len(p))
			if n, err := f.Write([]byte(p[:k])); n != k || err != nil {
				t.Fatalf("Write() = %d, %v, want %d, nil", n, err, k)
			}
			p = p[k:]
		}
		if out.String() != want {
			t.Errorf("chunks of %d: filtered = %q, want %q", chunk, out.String(), want)
		}
	}
}

func FuzzCapFilter(f *testing.F) {
	seeds, err := filepath.Glob("testdata/capfilter/*.txt")
	if err != nil || len(seeds) == 0 {
		f.Fatalf("no seeds in testdata/capfilter: %v", err)
	}
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(3))
	}
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		filter := func(chunk int) string {
			var out bytes.Buffer
			cf := &capFilter{w: &out}
			for p := in; len(p) > 0; {
				k := min(chunk, len(p))
				if n, err := cf.Write(p[:k]); n != k || err != nil {
					t.Fatalf("Write() = %d, %v, want %d, nil", n, err, k)
				}
				p = p[k:]
			}
			return out.String()
		}
		whole := filter(len(in) + 1)
		if got := filter(int(chunk%16) + 1); got != whole {
			t.Fatalf("chunked output %q differs from whole output %q", got, whole)
		}
		// Without IDLE anywhere, the filter only holds back an unfinished line.
		if !bytes.Contains(bytes.ToUpper(in), []byte("IDLE")) && !strings.HasPrefix(string(in), whole) {
			t.Fatalf("output %q is not a prefix of input %q", whole, in)
		}
		if len(whole) > len(in) {
			t.Fatalf("output longer (%d) than input (%d)", len(whole), len(in))
		}
	})
}
