package devmail

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

type kind int

const (
	kindIMAP     kind = iota // clients: counted, hung, filtered, dropped
	kindInternal             // Mailbox's own IMAP connections
	kindSMTP
)

// listener tracks every accepted connection so that Close, HangIMAP and
// DropIMAPConnections can reach it.
type listener struct {
	net.Listener
	s    *Server
	kind kind
}

func (l *listener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	s := l.s
	c := &conn{Conn: nc, s: s, kind: l.kind, closed: make(chan struct{})}
	if l.kind == kindIMAP && s.noIdle {
		c.filter = &capFilter{w: nc}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		nc.Close()
		return nil, net.ErrClosed
	}
	s.conns[c] = struct{}{}
	switch l.kind {
	case kindIMAP:
		s.nIMAP++
	case kindSMTP:
		s.nSMTP++
	}
	if l.kind != kindSMTP {
		// imapserver gives every connection a session and closes it when
		// the connection ends: Close waits for that. Accept runs only on
		// the Serve goroutine, which Close waits for before Wait.
		s.sessions.Add(1)
	}
	return c, nil
}

// conn is an accepted connection.
type conn struct {
	net.Conn
	s         *Server
	kind      kind
	filter    *capFilter // NoIdle: strips IDLE from capability responses
	closed    chan struct{}
	closeOnce sync.Once
}

func (c *conn) Write(p []byte) (int, error) {
	if c.kind == kindIMAP {
		if err := c.waitHang(); err != nil {
			return 0, err
		}
		if c.filter != nil {
			return c.filter.Write(p)
		}
	}
	return c.Conn.Write(p)
}

// waitHang blocks while HangIMAP is on.
func (c *conn) waitHang() error {
	for {
		c.s.mu.Lock()
		hang, unhang := c.s.hang, c.s.unhang
		c.s.mu.Unlock()
		if !hang {
			return nil
		}
		select {
		case <-unhang:
		case <-c.closed:
			return net.ErrClosed
		case <-c.s.done:
			return net.ErrClosed
		}
	}
}

func (c *conn) Close() error {
	err := net.ErrClosed
	c.closeOnce.Do(func() {
		close(c.closed)
		c.s.mu.Lock()
		delete(c.s.conns, c)
		c.s.mu.Unlock()
		err = c.Conn.Close()
	})
	return err
}

// capFilter removes the IDLE capability from the IMAP responses written
// through it: the greeting, CAPABILITY responses and [CAPABILITY ...]
// response codes (RFC 9051 section 7.1). It follows literals ({n}CRLF and n
// bytes, RFC 9051 section 4.3) so that message content passes untouched.
// imapserver flushes only whole lines, so holding a partial line back until
// its CRLF never delays a response.
type capFilter struct {
	w    io.Writer
	line []byte // a line begun in an earlier Write
	lit  int64  // literal bytes still to pass through
}

func (f *capFilter) Write(p []byte) (int, error) {
	n := len(p)
	var out []byte
	for len(p) > 0 {
		if f.lit > 0 {
			k := int(min(int64(len(p)), f.lit))
			out = append(out, p[:k]...)
			p, f.lit = p[k:], f.lit-int64(k)
			continue
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			f.line = append(f.line, p...)
			break
		}
		line := append(f.line, p[:i+1]...)
		f.line, p = nil, p[i+1:]
		out = append(out, stripIdle(line)...)
		f.lit = literalSize(line)
	}
	if len(out) > 0 {
		if _, err := f.w.Write(out); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// literalSize returns n when line ends with a literal announcement {n}CRLF
// (or {n+}, ~{n}), else 0.
func literalSize(line []byte) int64 {
	line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
	if !bytes.HasSuffix(line, []byte("}")) {
		return 0
	}
	open := bytes.LastIndexByte(line, '{')
	if open < 0 {
		return 0
	}
	digits := bytes.TrimSuffix(line[open+1:len(line)-1], []byte("+"))
	n, err := strconv.ParseInt(string(digits), 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// stripIdle drops the IDLE token from a capability list in line.
func stripIdle(line []byte) []byte {
	// ASCII-only upper case: indexes into upper are indexes into line.
	ub := make([]byte, len(line))
	for i, b := range line {
		if 'a' <= b && b <= 'z' {
			b -= 'a' - 'A'
		}
		ub[i] = b
	}
	upper := string(ub)
	var start, end int
	switch {
	case strings.HasPrefix(upper, "* CAPABILITY "):
		start = len("* CAPABILITY")
		end = len(strings.TrimRight(upper, "\r\n"))
	case strings.Contains(upper, "[CAPABILITY "):
		start = strings.Index(upper, "[CAPABILITY ") + len("[CAPABILITY")
		end = strings.IndexByte(upper[start:], ']')
		if end < 0 {
			return line
		}
		end += start
	default:
		return line
	}
	caps := strings.Fields(string(line[start:end]))
	kept := caps[:0]
	for _, c := range caps {
		if !strings.EqualFold(c, string(imap.CapIdle)) {
			kept = append(kept, c)
		}
	}
	if len(kept) == len(caps) {
		return line
	}
	out := append([]byte(nil), line[:start]...)
	for _, c := range kept {
		out = append(out, ' ')
		out = append(out, c...)
	}
	return append(out, line[end:]...)
}

// session wraps the memory server's session: login by full address in any
// case, AUTHENTICATE PLAIN and LOGIN, NoIdle, and Close's bookkeeping.
type session struct {
	imapserver.SessionIMAP4rev2
	s         *Server
	closeOnce sync.Once
}

var _ imapserver.SessionSASL = (*session)(nil)

func (ss *session) Login(username, password string) error {
	return ss.SessionIMAP4rev2.Login(canonical(username), password)
}

func (ss *session) AuthenticateMechanisms() []string { return []string{sasl.Plain, sasl.Login} }

func (ss *session) Authenticate(mech string) (sasl.Server, error) {
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, user, pass string) error {
			if identity != "" && !strings.EqualFold(identity, user) {
				return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAuthorizationFailed, Text: "SASL identity not supported"}
			}
			return ss.Login(user, pass)
		}), nil
	case sasl.Login:
		return &loginServer{check: ss.Login}, nil
	}
	return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Text: "SASL mechanism not supported"}
}

func (ss *session) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	if ss.s.noIdle {
		// imapserver has already sent "+ idling": refuse at the end.
		<-stop
		return &imap.Error{Type: imap.StatusResponseTypeBad, Text: "IDLE is not supported"}
	}
	return ss.SessionIMAP4rev2.Idle(w, stop)
}

func (ss *session) Close() error {
	err := ss.SessionIMAP4rev2.Close()
	ss.closeOnce.Do(ss.s.sessions.Done)
	return err
}

// loginServer is the server side of LOGIN (draft-murchison-sasl-login),
// which go-sasl lacks. An initial response is taken as the user name, as
// go-sasl's client sends it.
type loginServer struct {
	check func(user, pass string) error
	step  int
	user  string
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	l.step++
	switch {
	case l.step == 1 && resp == nil:
		return []byte("Username:"), false, nil
	case l.step == 1 || l.step == 2:
		l.user = string(resp)
		l.step = 2
		return []byte("Password:"), false, nil
	case l.step == 3:
		return nil, true, l.check(l.user, string(resp))
	}
	return nil, false, sasl.ErrUnexpectedClientResponse
}

// smtpSession is one SMTP connection's transaction state.
type smtpSession struct {
	s    *Server
	c    *smtp.Conn
	from string
	to   []string
	utf8 bool
}

var _ smtp.AuthSession = (*smtpSession)(nil)

func (ss *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain, sasl.Login} }

func (ss *smtpSession) Auth(mech string) (sasl.Server, error) {
	check := func(user, pass string) error {
		if !ss.s.checkPassword(user, pass) {
			return smtp.ErrAuthFailed
		}
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, user, pass string) error {
			if identity != "" && !strings.EqualFold(identity, user) {
				return smtp.ErrAuthFailed
			}
			return check(user, pass)
		}), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (ss *smtpSession) Mail(from string, opts *smtp.MailOptions) error {
	ss.from, ss.to = from, nil
	ss.utf8 = opts != nil && opts.UTF8
	return nil
}

func (ss *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if f, ok := ss.s.takeFault(to); ok {
		if f.Drop {
			ss.c.Conn().Close()
			return errDropped
		}
		return f.smtpError()
	}
	ss.to = append(ss.to, to)
	return nil
}

var errDropped = errors.New("devmail: connection dropped by fault injection")

func (ss *smtpSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	f, faulted := ss.s.takeFault("")
	if faulted && !f.Drop {
		return f.smtpError()
	}
	ss.s.accept(Mail{From: ss.from, To: append([]string(nil), ss.to...), Data: data, At: time.Now(), UTF8: ss.utf8})
	if faulted {
		ss.c.Conn().Close() // after the message is queued, before the 250
		return errDropped
	}
	return nil
}

func (ss *smtpSession) Reset() { ss.from, ss.to, ss.utf8 = "", nil, false }

func (ss *smtpSession) Logout() error { return nil }
