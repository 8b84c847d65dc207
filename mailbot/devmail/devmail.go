// Package devmail is a small loopback mail system: an IMAP server (RFC 3501,
// RFC 9051) over go-imap's in-memory backend and an SMTP submission server
// (RFC 5321, RFC 4954 AUTH) over go-smtp, wired so that mail submitted by SMTP
// to a known user lands in that user's INBOX. `mailbot demo` runs on it, tests
// use it, and `mailbot demo --serve` lets a person point a mail client at it.
//
// It owns the fault injection the bot's tests need: SMTP replies replaced by
// 4xx/5xx or a dropped connection (FailNext), an IMAP side that stops answering
// (HangIMAP), dropped IMAP connections, a mailbox re-created under a new
// UIDVALIDITY, and a server that advertises no IDLE (Options.NoIdle).
//
// Everything listens on 127.0.0.1 in plaintext, with AUTH allowed: never on
// another interface.
//
// Behaviour inherited from imapmemserver that clients must cope with (and
// real servers share in kind):
//   - QUIRK: mail that arrives while a client is not in IDLE is announced only
//     at the next command; entering IDLE does not flush it. Clients need a
//     periodic resync (NOOP or a UID SEARCH) even when IDLE is available.
//   - QUIRK: MOVE sends an extra EXPUNGE. Track UIDs, not sequence numbers.
//   - Re-creating a mailbox gives it a new UIDVALIDITY and restarts UIDs.
package devmail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/emersion/go-smtp"
)

var (
	// ErrClosed is returned by calls on a closed Server.
	ErrClosed = errors.New("devmail: server closed")
	// ErrNoUser means the address is not one of Options.Users.
	ErrNoUser = errors.New("devmail: no such user")
)

// Options configures Start.
type Options struct {
	Domain string            // the SMTP server's name, e.g. "example.org"
	Users  map[string]string // address -> password; each gets an IMAP account (login = full address) with INBOX
	NoIdle bool              // advertise no IDLE (for polling clients)
	Logger *slog.Logger      // nil: discard
}

// Mail is one message the SMTP side accepted.
type Mail struct {
	From string
	To   []string
	Data []byte // exactly as received (CRLF line ends, dot-unstuffed)
	At   time.Time
	UTF8 bool // MAIL FROM carried SMTPUTF8 (RFC 6531)
}

// Stored is one message in a mailbox.
type Stored struct {
	UID   uint32
	Flags []string
	Raw   []byte
}

// Fault replaces the server's reply to a command. See FailNext.
type Fault struct {
	Code    int    // reply code, e.g. 451 or 550; 0 means 451
	Message string // reply text; "" gives a default
	Drop    bool   // close the connection instead of replying
	// Rcpt, when set, makes the fault hit RCPT TO for this address
	// (case-insensitive) instead of the final reply to DATA.
	Rcpt string
}

// Server is a running devmail instance. Its methods are safe for concurrent use.
type Server struct {
	IMAPAddr string // 127.0.0.1:port
	SMTPAddr string // 127.0.0.1:port

	log          *slog.Logger
	noIdle       bool
	passwords    map[string]string // canonical address -> password
	mem          *imapmemserver.Server
	users        map[string]*imapmemserver.User // canonical address -> account
	imap         *imapserver.Server
	smtp         *smtp.Server
	internalAddr string // an IMAP listener for Mailbox: never hung, filtered or dropped
	listeners    []*listener

	serving   sync.WaitGroup // our Serve goroutines
	sessions  sync.WaitGroup // one per accepted IMAP connection, done when its session closes
	closeOnce sync.Once
	closeErr  error

	mu        sync.Mutex
	closed    bool
	done      chan struct{} // closed by Close
	sent      []Mail
	sentEvent chan struct{} // closed and replaced each time a message is accepted
	hang      bool
	unhang    chan struct{} // closed when HangIMAP(false) ends a hang
	faults    []pendingFault
	conns     map[*conn]struct{}
	nIMAP     int
	nSMTP     int
}

type pendingFault struct {
	n int
	f Fault
}

// Start starts the IMAP and SMTP servers on 127.0.0.1 with ephemeral ports.
func Start(opt Options) (*Server, error) {
	s := &Server{
		log:       opt.Logger,
		noIdle:    opt.NoIdle,
		passwords: make(map[string]string),
		mem:       imapmemserver.New(),
		users:     make(map[string]*imapmemserver.User),
		done:      make(chan struct{}),
		sentEvent: make(chan struct{}),
		conns:     make(map[*conn]struct{}),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	for addr, pass := range opt.Users {
		key := canonical(addr)
		if key == "" || !strings.Contains(key, "@") {
			return nil, fmt.Errorf("devmail: user %q: not an address", addr)
		}
		if _, dup := s.users[key]; dup {
			return nil, fmt.Errorf("devmail: user %q listed twice", addr)
		}
		u := imapmemserver.NewUser(key, pass)
		if err := u.Create("INBOX", nil); err != nil {
			return nil, fmt.Errorf("devmail: user %q: %w", addr, err)
		}
		s.mem.AddUser(u)
		s.users[key] = u
		s.passwords[key] = pass
	}

	// IMAP4rev2 implies IDLE (RFC 9051 section 6.3.13) and imapserver adds
	// IDLE to every IMAP4rev1 capability list, so NoIdle advertises rev1
	// alone, names the rev2 extensions the memory backend has, and filters
	// IDLE out of the capability responses (see capFilter).
	caps := imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}}
	if opt.NoIdle {
		caps = imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapNamespace: {}, imap.CapUIDPlus: {}, imap.CapMove: {}}
	}
	errLog := slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)
	s.imap = imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return &session{SessionIMAP4rev2: s.mem.NewSession().(imapserver.SessionIMAP4rev2), s: s}, nil, nil
		},
		Caps:         caps,
		Logger:       errLog,
		InsecureAuth: true, // loopback only
	})

	s.smtp = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &smtpSession{s: s, c: c}, nil
	}))
	s.smtp.Domain = opt.Domain
	s.smtp.EnableSMTPUTF8 = true // as Postfix and Dovecot do
	if s.smtp.Domain == "" {
		s.smtp.Domain = "localhost"
	}
	s.smtp.AllowInsecureAuth = true // loopback only
	s.smtp.MaxMessageBytes = 32 << 20
	s.smtp.MaxRecipients = 100
	s.smtp.ReadTimeout = 5 * time.Minute // bounds clients a person forgot about
	s.smtp.WriteTimeout = time.Minute
	s.smtp.ErrorLog = errLog

	var err error
	var imapLn, internalLn, smtpLn *listener
	if imapLn, err = s.listen(kindIMAP); err == nil {
		if internalLn, err = s.listen(kindInternal); err == nil {
			smtpLn, err = s.listen(kindSMTP)
		}
	}
	if err != nil {
		for _, l := range s.listeners {
			l.Listener.Close()
		}
		return nil, fmt.Errorf("devmail: listen: %w", err)
	}
	s.IMAPAddr = imapLn.Addr().String()
	s.internalAddr = internalLn.Addr().String()
	s.SMTPAddr = smtpLn.Addr().String()

	s.serving.Add(3)
	go s.serve("imap", func() error { return s.imap.Serve(imapLn) })
	go s.serve("imap", func() error { return s.imap.Serve(internalLn) })
	go s.serve("smtp", func() error { return s.smtp.Serve(smtpLn) })
	return s, nil
}

func canonical(addr string) string { return strings.ToLower(strings.TrimSpace(addr)) }

func (s *Server) listen(k kind) (*listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	l := &listener{Listener: ln, s: s, kind: k}
	s.listeners = append(s.listeners, l)
	return l, nil
}

func (s *Server) serve(name string, serve func() error) {
	defer s.serving.Done()
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("devmail: panic in "+name+" server", "err", fmt.Sprint(v), "stack", string(debug.Stack()))
		}
	}()
	if err := serve(); err != nil && !errors.Is(err, net.ErrClosed) {
		s.log.Warn("devmail: "+name+" server stopped", "err", err)
	}
}

// Close stops both servers, closes every connection and returns once every
// goroutine the servers started has finished. Later calls return the same.
func (s *Server) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.close() })
	return s.closeErr
}

func (s *Server) close() error {
	s.mu.Lock()
	s.closed = true
	close(s.done) // releases HangIMAP and WaitSent
	s.mu.Unlock()

	var errs []error
	for _, l := range s.listeners {
		if err := l.Listener.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	s.serving.Wait() // no Accept runs after this: no new connection, no sessions.Add

	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}

	s.imap.Close() // its listeners are closed already: its error is expected
	s.sessions.Wait()
	// The listener is closed and every connection too: Shutdown only waits
	// for go-smtp's connection goroutines to return.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.smtp.Shutdown(ctx); err != nil && !errors.Is(err, net.ErrClosed) {
		errs = append(errs, fmt.Errorf("devmail: smtp shutdown: %w", err))
	}
	return errors.Join(errs...)
}

// Sent returns every message the SMTP side accepted, in order.
func (s *Server) Sent() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return cloneMails(s.sent)
}

// WaitSent blocks until at least n messages have been accepted and returns
// them all, or fails when ctx ends or the server closes.
func (s *Server) WaitSent(ctx context.Context, n int) ([]Mail, error) {
	for {
		s.mu.Lock()
		if len(s.sent) >= n {
			out := cloneMails(s.sent)
			s.mu.Unlock()
			return out, nil
		}
		have, event := len(s.sent), s.sentEvent
		s.mu.Unlock()
		select {
		case <-event:
		case <-ctx.Done():
			return nil, fmt.Errorf("devmail: %d of %d messages sent: %w", have, n, ctx.Err())
		case <-s.done:
			return nil, ErrClosed
		}
	}
}

func cloneMails(in []Mail) []Mail {
	out := make([]Mail, len(in))
	for i, m := range in {
		out[i] = m
		out[i].To, out[i].Data = slices.Clone(m.To), bytes.Clone(m.Data)
	}
	return out
}

// Connections returns how many IMAP and SMTP connections the servers have
// accepted since Start (Mailbox's own connections are not counted).
func (s *Server) Connections() (imapConns, smtpConns int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nIMAP, s.nSMTP
}

type literal struct{ *bytes.Reader }

func (l literal) Size() int64 { return int64(l.Len()) }

func (s *Server) user(addr string) (*imapmemserver.User, error) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	u := s.users[canonical(addr)]
	if u == nil {
		return nil, fmt.Errorf("%w: %s", ErrNoUser, addr)
	}
	return u, nil
}

// Deliver appends raw to a user's mailbox, as an MTA's local delivery would,
// and returns its UID. Clients in IDLE on that mailbox are told.
func (s *Server) Deliver(mailbox, user string, raw []byte) (uid uint32, err error) {
	u, err := s.user(user)
	if err != nil {
		return 0, err
	}
	data, err := u.Append(mailbox, literal{bytes.NewReader(raw)}, &imap.AppendOptions{Time: time.Now()})
	if err != nil {
		return 0, fmt.Errorf("devmail: deliver to %s %s: %w", user, mailbox, err)
	}
	return uint32(data.UID), nil
}

// Mailbox returns the messages in a user's mailbox, in UID order. It reads
// them over IMAP (EXAMINE, BODY.PEEK[]), on a connection of its own that
// HangIMAP and DropIMAPConnections leave alone; flags are not changed.
func (s *Server) Mailbox(user, mailbox string) ([]Stored, error) {
	if _, err := s.user(user); err != nil {
		return nil, err
	}
	key := canonical(user)
	c, err := imapclient.DialInsecure(s.internalAddr, &imapclient.Options{
		Dialer: &net.Dialer{Timeout: 5 * time.Second},
	})
	if err != nil {
		return nil, fmt.Errorf("devmail: mailbox: %w", err)
	}
	defer c.Close()
	if err := c.Login(key, s.passwords[key]).Wait(); err != nil {
		return nil, fmt.Errorf("devmail: mailbox: login: %w", err)
	}
	sel, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return nil, fmt.Errorf("devmail: mailbox %s: %w", mailbox, err)
	}
	var out []Stored
	if sel.NumMessages > 0 {
		var all imap.SeqSet
		all.AddRange(1, 0) // 1:*
		body := &imap.FetchItemBodySection{Peek: true}
		msgs, err := c.Fetch(all, &imap.FetchOptions{UID: true, Flags: true, BodySection: []*imap.FetchItemBodySection{body}}).Collect()
		if err != nil {
			return nil, fmt.Errorf("devmail: mailbox %s: fetch: %w", mailbox, err)
		}
		for _, m := range msgs {
			st := Stored{UID: uint32(m.UID), Raw: m.FindBodySection(body)}
			for _, f := range m.Flags {
				st.Flags = append(st.Flags, string(f))
			}
			out = append(out, st)
		}
		slices.SortFunc(out, func(a, b Stored) int { return int(a.UID) - int(b.UID) })
	}
	if err := c.Logout().Wait(); err != nil {
		return nil, fmt.Errorf("devmail: mailbox: logout: %w", err)
	}
	return out, nil
}

// RecreateMailbox deletes a user's mailbox (if it exists) and creates it
// again, empty: its UIDVALIDITY changes and UIDs start again from 1.
func (s *Server) RecreateMailbox(user, mailbox string) error {
	u, err := s.user(user)
	if err != nil {
		return err
	}
	if err := u.Delete(mailbox); err != nil {
		var ie *imap.Error
		if !errors.As(err, &ie) || ie.Code != imap.ResponseCodeNonExistent {
			return fmt.Errorf("devmail: recreate %s: %w", mailbox, err)
		}
	}
	if err := u.Create(mailbox, nil); err != nil {
		return fmt.Errorf("devmail: recreate %s: %w", mailbox, err)
	}
	return nil
}

// HangIMAP, while on, leaves every IMAP client (new or connected) without
// answers: the server reads a command, then its reply waits until the hang
// ends or the connection is closed. Connections stay open, as with a
// black-holed server.
func (s *Server) HangIMAP(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case on && !s.hang:
		s.hang = true
		s.unhang = make(chan struct{})
	case !on && s.hang:
		s.hang = false
		close(s.unhang)
	}
}

// DropIMAPConnections closes every client IMAP connection, as a server
// restart would.
func (s *Server) DropIMAPConnections() { s.dropConns(kindIMAP) }

// DropSMTPConnections closes every SMTP connection, as a server restart or
// its idle timeout would.
func (s *Server) DropSMTPConnections() { s.dropConns(kindSMTP) }

func (s *Server) dropConns(k kind) {
	s.mu.Lock()
	var drop []*conn
	for c := range s.conns {
		if c.kind == k {
			drop = append(drop, c)
		}
	}
	s.mu.Unlock()
	for _, c := range drop {
		c.Close()
	}
}

// FailNext makes the next n matching SMTP commands fail with f instead of
// their 250: the final reply to DATA, or RCPT TO for f.Rcpt. With f.Drop the
// server closes the connection instead of replying; a dropped DATA is
// recorded and delivered first, like an MTA that queued the message and
// crashed before its 250 (the client cannot know, and will send it again).
// Faults queue up in call order.
func (s *Server) FailNext(n int, f Fault) {
	if n <= 0 {
		return
	}
	if f.Code == 0 {
		f.Code = 451
	}
	if f.Message == "" {
		f.Message = "devmail: injected failure"
	}
	s.mu.Lock()
	s.faults = append(s.faults, pendingFault{n: n, f: f})
	s.mu.Unlock()
}

// takeFault consumes the first pending fault for RCPT TO rcpt, or for DATA
// when rcpt is "".
func (s *Server) takeFault(rcpt string) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.faults {
		pf := &s.faults[i]
		if (rcpt == "" && pf.f.Rcpt == "") || (rcpt != "" && strings.EqualFold(pf.f.Rcpt, rcpt)) {
			f := pf.f
			if pf.n--; pf.n == 0 {
				s.faults = slices.Delete(s.faults, i, i+1)
			}
			return f, true
		}
	}
	return Fault{}, false
}

func (f Fault) smtpError() *smtp.SMTPError {
	return &smtp.SMTPError{Code: f.Code, EnhancedCode: smtp.EnhancedCodeNotSet, Message: f.Message}
}

// accept records an accepted message and delivers it to known users.
func (s *Server) accept(m Mail) {
	for _, rcpt := range m.To {
		u := s.users[canonical(rcpt)]
		if u == nil {
			continue
		}
		if _, err := u.Append("INBOX", literal{bytes.NewReader(m.Data)}, &imap.AppendOptions{Time: m.At}); err != nil {
			s.log.Warn("devmail: local delivery failed", "mailbox", "INBOX", "err", err)
		}
	}
	s.mu.Lock()
	s.sent = append(s.sent, m)
	close(s.sentEvent)
	s.sentEvent = make(chan struct{})
	s.mu.Unlock()
}

func (s *Server) checkPassword(user, pass string) bool {
	want, ok := s.passwords[canonical(user)]
	return ok && want == pass
}
