// Package outbox owns sending: the SMTP submission client (RFC 6409 over
// RFC 5321, with RFC 3207 STARTTLS or implicit TLS per RFC 8314, and RFC 4954
// AUTH) and the sender that drains the store's outbox through it.
package outbox

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"mailbot/mailbot/auth"
	"mailbot/mailbot/parse"
)

const (
	defaultSMTPTimeout = time.Minute
	defaultIdleClose   = time.Minute
)

// SMTPOptions configures an SMTPClient.
type SMTPOptions struct {
	Addr      string      // host:port
	TLS       string      // "implicit" (465), "starttls" (587), "none" (loopback hosts only)
	TLSConfig *tls.Config // nil: defaults; ServerName defaults to Addr's host
	// HeloName is the EHLO name. Empty: the domain of the message's sender,
	// else the host name; never "localhost", which some servers refuse.
	HeloName string
	SASL     func() (sasl.Client, error) // nil: no AUTH
	// Timeout bounds the dial and TLS handshake, and each command's reply,
	// including the reply to the end of DATA. Default one minute.
	Timeout time.Duration
	// IdleClose is how long an unused connection stays open. Default one minute.
	IdleClose time.Duration
}

// Check reports a configuration that can never work: a malformed address,
// an unknown TLS mode, or plaintext to a host that is not loopback.
func (o SMTPOptions) Check() error {
	host, _, err := net.SplitHostPort(o.Addr)
	if err != nil {
		return fmt.Errorf("smtp: address %q: %w", o.Addr, err)
	}
	switch o.TLS {
	case "implicit", "starttls":
	case "none":
		if !isLoopback(host) {
			return fmt.Errorf(`smtp: tls = "none" is allowed only for a loopback IP address (127.0.0.1, ::1), not %s: use "starttls" or "implicit"`, host)
		}
	default:
		return fmt.Errorf(`smtp: tls = %q: want "implicit", "starttls" or "none"`, o.TLS)
	}
	return nil
}

// isLoopback: a loopback IP literal, never a name ("localhost" may
// resolve elsewhere), as config validation requires.
func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// SendError is why a message, or one of its recipients, was not accepted.
//
// Temporary errors are worth retrying with the same bytes: 4xx replies,
// network, TLS and dial errors, a connection lost after the message was sent
// but before the server's reply (then the server may have it: a retry sends
// at most one duplicate, with the same Message-ID), a cancelled context, and
// any failure while setting up the connection (greeting, EHLO, AUTH), which
// says nothing about the message. 5xx replies to MAIL, RCPT and DATA are
// permanent.
type SendError struct {
	Code      int    // SMTP reply code; 0 when there was no reply
	Enhanced  string // RFC 3463 enhanced status code, e.g. "5.1.1", if given
	Message   string
	Temporary bool
	Rcpt      string // the recipient refused at RCPT TO; "" when the whole message failed
	Err       error  // the cause: *smtp.SMTPError, a net.Error, a context error...
}

func (e *SendError) Error() string {
	var b strings.Builder
	b.WriteString("smtp: ")
	switch {
	case e.Rcpt != "" && !parse.ValidAddress(e.Rcpt):
		fmt.Fprintf(&b, "<%s>: ", strconv.QuoteToASCII(e.Rcpt)) // never a raw control byte in a log or the store
	case e.Rcpt != "":
		fmt.Fprintf(&b, "<%s>: ", e.Rcpt)
	}
	if e.Code != 0 {
		fmt.Fprintf(&b, "%d ", e.Code)
		if e.Enhanced != "" {
			b.WriteString(e.Enhanced + " ")
		}
	}
	b.WriteString(e.Message)
	if e.Temporary {
		b.WriteString(" (temporary)")
	} else {
		b.WriteString(" (permanent)")
	}
	return b.String()
}

func (e *SendError) Unwrap() error { return e.Err }

// IsTemporary reports whether err, from Send, says to try again later. For
// an errors.Join of per-recipient errors it is true when any of them is.
// Errors that are not a *SendError are temporary when they are network or
// context errors.
func IsTemporary(err error) bool {
	if err == nil {
		return false
	}
	if se, ok := err.(*SendError); ok {
		return se.Temporary
	}
	if multi, ok := err.(interface{ Unwrap() []error }); ok {
		for _, sub := range multi.Unwrap() {
			if IsTemporary(sub) {
				return true
			}
		}
		return false
	}
	if _, ok := err.(net.Error); ok {
		return true
	}
	if err == context.Canceled || err == context.DeadlineExceeded {
		return true
	}
	return IsTemporary(errors.Unwrap(err))
}

// SMTPClient submits messages over one connection, reused from message to
// message (with RSET before each, which also proves the connection alive),
// redialled when broken and closed after IdleClose unused. Send calls are
// serialised.
type SMTPClient struct {
	opt SMTPOptions

	mu     sync.Mutex // held by Send, Close and the idle closer
	cl     *smtp.Client
	gen    int // bumped at every use, so a stale idle timer does nothing
	idle   *time.Timer
	closed bool

	rawMu sync.Mutex // guards raw, which a context watcher may close at any time
	raw   net.Conn

	onIdleClose func() // test hook, called after an idle connection is closed
}

// NewSMTPClient returns a client; it connects at the first Send.
func NewSMTPClient(opt SMTPOptions) *SMTPClient {
	if opt.Timeout <= 0 {
		opt.Timeout = defaultSMTPTimeout
	}
	if opt.IdleClose <= 0 {
		opt.IdleClose = defaultIdleClose
	}
	return &SMTPClient{opt: opt}
}

// Send submits msg, exactly these bytes (CRLF line ends), of size bytes
// (0 if unknown), from the envelope sender from to the recipients to.
//
// Recipients: when the server refuses some at RCPT TO and accepts others,
// the message goes to the accepted ones and Send returns errors.Join of one
// *SendError per refused recipient, with Rcpt set: a 5xx is permanent for
// that address only, a 4xx temporary for it. Addresses without an error got
// the message. When the server refuses all of them, nothing is sent and the
// error has the same shape. Any other error is a *SendError with Rcpt "",
// about the whole message.
//
// When ctx ends during the exchange the connection is closed, so a DATA
// never ends half written: the server sees no final dot and drops it.
func (c *SMTPClient) Send(ctx context.Context, from string, to []string, msg io.Reader, size int64) error {
	if len(to) == 0 {
		return &SendError{Message: "no recipients"}
	}
	// Belt and braces behind parse: an address with a control byte, a
	// space or another byte no mailbox has never reaches RCPT TO.
	to, invalid := validRecipients(to)
	if len(to) == 0 {
		return errors.Join(invalid...)
	}
	if err := c.opt.Check(); err != nil {
		return &SendError{Message: err.Error(), Err: err}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return &SendError{Message: "client closed", Temporary: true, Err: net.ErrClosed}
	}
	c.gen++
	if c.idle != nil {
		c.idle.Stop()
	}
	if err := ctx.Err(); err != nil {
		return &SendError{Message: err.Error(), Temporary: true, Err: err}
	}

	// RFC 5321 section 4.1.1.5: RSET aborts whatever a failed transaction
	// left behind. Redial once when the reused connection is dead (the
	// server's idle timeout closes it between messages).
	stop := context.AfterFunc(ctx, c.abort)
	var err error
	if c.cl != nil {
		if rerr := c.cl.Reset(); rerr != nil {
			c.drop()
		}
	}
	if c.cl == nil {
		err = c.dial(ctx, from)
	}
	if err == nil {
		err = c.transaction(ctx, from, to, msg, size)
	}
	if !stop() {
		// ctx ended and the watcher closed (or is closing) the connection.
		c.drop()
		if !broken(err) {
			return err // the server's replies all came: the outcome stands
		}
		return &SendError{Message: "interrupted: " + ctx.Err().Error(), Temporary: true, Err: errors.Join(ctx.Err(), err)}
	}
	switch {
	case c.cl == nil || broken(err):
		c.drop()
	case err != nil:
		// A refused transaction: start the next one on a new connection.
		// Postfix slows every reply on a session after 10 errors and
		// drops it after 20 (smtpd_soft/hard_error_limit), which held
		// good mail behind refused mail for minutes.
		c.quit()
	}
	c.armIdle()
	if len(invalid) > 0 {
		return errors.Join(append(invalid, err)...)
	}
	return err
}

// validRecipients splits to into the addresses parse.ValidAddress accepts
// and a permanent *SendError for each other one.
func validRecipients(to []string) (valid []string, invalid []error) {
	for _, rcpt := range to {
		if parse.ValidAddress(rcpt) {
			valid = append(valid, rcpt)
			continue
		}
		invalid = append(invalid, &SendError{Message: "RCPT TO: not a valid address", Rcpt: rcpt})
	}
	return valid, invalid
}

// abort closes the raw connection: any I/O in progress fails at once.
func (c *SMTPClient) abort() {
	c.rawMu.Lock()
	defer c.rawMu.Unlock()
	if c.raw != nil {
		c.raw.Close()
	}
}

func (c *SMTPClient) setRaw(conn net.Conn) {
	c.rawMu.Lock()
	c.raw = conn
	c.rawMu.Unlock()
}

// drop forgets the connection without QUIT.
func (c *SMTPClient) drop() {
	if c.cl != nil {
		c.cl.Close()
		c.cl = nil
	}
	c.abort()
	c.setRaw(nil)
}

func (c *SMTPClient) armIdle() {
	if c.cl == nil {
		return
	}
	gen := c.gen
	c.idle = time.AfterFunc(c.opt.IdleClose, func() {
		defer func() {
			if p := recover(); p != nil {
				// No logger here: the panic is kept in the process's stderr.
				fmt.Fprintf(os.Stderr, "outbox: panic closing an idle SMTP connection: %v\n%s", p, debug.Stack())
			}
		}()
		c.mu.Lock()
		closedOne := false
		if c.gen == gen && c.cl != nil {
			c.quit()
			closedOne = true
		}
		hook := c.onIdleClose
		c.mu.Unlock()
		if closedOne && hook != nil {
			hook()
		}
	})
}

// quit says QUIT (bounded by Timeout) and closes the connection.
func (c *SMTPClient) quit() error {
	err := c.cl.Quit()
	c.drop()
	return err
}

// Close waits for a Send in progress, says QUIT on an open connection and
// closes it. Later Sends fail with a temporary error.
func (c *SMTPClient) Close() error {
	return c.Shutdown(context.Background())
}

// Shutdown is Close that gives up when ctx ends: the connection is closed
// at once, cutting a Send or QUIT that waits for a silent server.
func (c *SMTPClient) Shutdown(ctx context.Context) error {
	stop := context.AfterFunc(ctx, c.abort)
	defer stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.idle != nil {
		c.idle.Stop()
	}
	if c.cl == nil {
		return nil
	}
	if err := c.quit(); err != nil {
		return fmt.Errorf("smtp: quit: %w", err)
	}
	return nil
}

func (c *SMTPClient) heloName(from string) string {
	if c.opt.HeloName != "" {
		return c.opt.HeloName
	}
	if _, domain, ok := strings.Cut(from, "@"); ok && domain != "" && !strings.ContainsAny(domain, " \r\n<>") {
		return domain
	}
	if h, err := os.Hostname(); err == nil && h != "" && h != "localhost" {
		return h
	}
	return "mailbot.invalid"
}

func (c *SMTPClient) tlsConfig(host string) *tls.Config {
	cfg := &tls.Config{}
	if c.opt.TLSConfig != nil {
		cfg = c.opt.TLSConfig.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	return cfg
}

// dial connects, says EHLO, secures and authenticates. Every error is
// temporary: it is about the connection, not the message.
func (c *SMTPClient) dial(ctx context.Context, from string) error {
	temp := func(stage string, err error) error {
		return &SendError{Message: stage + ": " + err.Error(), Temporary: true, Err: err}
	}
	host, _, _ := net.SplitHostPort(c.opt.Addr) // Check has passed
	helo := c.heloName(from)
	d := net.Dialer{Timeout: c.opt.Timeout}
	raw, err := d.DialContext(ctx, "tcp", c.opt.Addr)
	if err != nil {
		return temp("dial", err)
	}
	c.setRaw(raw)
	if ctx.Err() != nil { // the watcher may have run before raw was set
		c.abort()
	}
	hctx, cancel := context.WithTimeout(ctx, c.opt.Timeout)
	defer cancel()
	var conn net.Conn = raw
	switch c.opt.TLS {
	case "implicit":
		tc := tls.Client(raw, c.tlsConfig(host))
		if err := tc.HandshakeContext(hctx); err != nil {
			c.abort()
			return temp("tls", err)
		}
		conn = tc
	case "starttls":
		if conn, err = startTLS(hctx, raw, helo, c.tlsConfig(host), c.opt.Timeout); err != nil {
			c.abort()
			return temp("starttls", err)
		}
	}
	cl := smtp.NewClient(conn)
	cl.CommandTimeout = c.opt.Timeout
	cl.SubmissionTimeout = c.opt.Timeout
	if err := cl.Hello(helo); err != nil {
		cl.Close()
		return temp("greeting", err)
	}
	if c.opt.SASL != nil {
		a, err := c.opt.SASL()
		if err != nil {
			cl.Close()
			return temp("credentials", err)
		}
		if err := cl.Auth(a); err != nil {
			cl.Close()
			// XOAUTH2 tells why only in its challenge (auth.ServerStatus).
			err = errors.Join(err, auth.ServerStatus(a))
			code, enh := replyCode(err)
			if code == 0 {
				return temp("auth", err)
			}
			var se *smtp.SMTPError
			errors.As(err, &se)
			msg := "AUTH refused: " + se.Message
			if st := auth.ServerStatus(a); st != nil {
				msg += " (" + st.Error() + ")"
			}
			return &SendError{Code: code, Enhanced: enh, Message: msg, Temporary: true, Err: err}
		}
	}
	c.cl = cl
	return nil
}

// startTLS runs the plaintext part of RFC 3207 itself, so that the only EHLO
// in clear text carries our name (go-smtp's own STARTTLS says "EHLO
// localhost" first), then hands go-smtp the TLS connection with a stand-in
// greeting to read.
func startTLS(ctx context.Context, raw net.Conn, helo string, cfg *tls.Config, timeout time.Duration) (net.Conn, error) {
	raw.SetDeadline(time.Now().Add(timeout))
	tp := textproto.NewConn(raw)
	if _, _, err := tp.ReadResponse(220); err != nil {
		return nil, fmt.Errorf("greeting: %w", err)
	}
	if err := tp.PrintfLine("EHLO %s", helo); err != nil {
		return nil, err
	}
	_, ext, err := tp.ReadResponse(250)
	if err != nil {
		return nil, fmt.Errorf("ehlo: %w", err)
	}
	offered := false
	for _, line := range strings.Split(ext, "\n")[1:] {
		if f := strings.Fields(line); len(f) > 0 && strings.EqualFold(f[0], "STARTTLS") {
			offered = true
		}
	}
	if !offered {
		return nil, errors.New("server does not offer STARTTLS")
	}
	if err := tp.PrintfLine("STARTTLS"); err != nil {
		return nil, err
	}
	if _, _, err := tp.ReadResponse(220); err != nil {
		return nil, err
	}
	// RFC 3207 section 6 (and CVE-2011-0411): anything the server sent
	// after its 220 would be read as if it came over TLS.
	if tp.R.Buffered() > 0 {
		return nil, errors.New("server sent data before the TLS handshake")
	}
	tc := tls.Client(raw, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	raw.SetDeadline(time.Time{})
	return &greetedConn{Conn: tc, r: io.MultiReader(strings.NewReader("220 after STARTTLS\r\n"), tc)}, nil
}

// greetedConn replays a greeting before the TLS stream: go-smtp's client
// reads one before its EHLO, and after STARTTLS none comes.
type greetedConn struct {
	net.Conn
	r io.Reader
}

func (g *greetedConn) Read(p []byte) (int, error) { return g.r.Read(p) }

// transaction runs MAIL, RCPT and DATA on c.cl.
func (c *SMTPClient) transaction(ctx context.Context, from string, to []string, msg io.Reader, size int64) error {
	opts := &smtp.MailOptions{}
	if size > 0 {
		opts.Size = size
	}
	// RFC 6531 section 3.4: a non-ASCII address (a reporter at
	// marilù@esempio-università.it) needs SMTPUTF8 on MAIL FROM; a server
	// without it refuses the recipient, which fails the mail with its reason.
	if ok, _ := c.cl.Extension("SMTPUTF8"); ok && !isASCII(from, to) {
		opts.UTF8 = true
	}
	if err := c.cl.Mail(from, opts); err != nil {
		return sendError("MAIL FROM", err, "")
	}
	var refused []error
	for _, rcpt := range to {
		if err := c.cl.Rcpt(rcpt, nil); err != nil {
			se := sendError("RCPT TO", err, rcpt)
			if se.Code == 0 || se.Code == 421 {
				// No reply, or the server is closing: nothing more on this
				// connection, and the message went nowhere.
				se.Rcpt = ""
				return se
			}
			refused = append(refused, se)
		}
	}
	if len(refused) == len(to) {
		return errors.Join(refused...)
	}
	w, err := c.cl.Data()
	if err != nil {
		return sendError("DATA", err, "")
	}
	r := &errReader{r: msg}
	if _, err := io.Copy(w, r); err != nil {
		// Never close w: that would send the final dot and commit a
		// truncated message. Send drops the connection instead.
		if r.err != nil {
			return &SendError{Message: "reading the message: " + r.err.Error(), Temporary: true, Err: errBroken{r.err}}
		}
		return sendError("DATA", err, "")
	}
	if err := ctx.Err(); err != nil {
		// Cancelled while the body was going out: no final dot (Send
		// closes the connection), so the server drops what it has.
		return &SendError{Message: "interrupted during DATA", Temporary: true, Err: errBroken{err}}
	}
	if err := w.Close(); err != nil {
		se := sendError("end of DATA", err, "")
		if se.Code == 0 {
			se.Message = "connection lost after the message was sent, before the server's reply: it may have been delivered: " + err.Error()
		}
		return se
	}
	if len(refused) > 0 {
		return errors.Join(refused...)
	}
	return nil
}

func isASCII(from string, to []string) bool {
	for _, s := range append([]string{from}, to...) {
		for i := 0; i < len(s); i++ {
			if s[i] >= 0x80 {
				return false
			}
		}
	}
	return true
}

// errReader records a read error, to tell it from a write error in io.Copy.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

// errBroken marks an error after which the connection cannot be reused.
type errBroken struct{ error }

func (e errBroken) Unwrap() error { return e.error }

// sendError turns a go-smtp error into a *SendError.
func sendError(stage string, err error, rcpt string) *SendError {
	if code, enh := replyCode(err); code != 0 {
		var se *smtp.SMTPError
		errors.As(err, &se)
		return &SendError{Code: code, Enhanced: enh, Message: se.Message, Temporary: code/100 != 5, Rcpt: rcpt, Err: err}
	}
	return &SendError{Message: stage + ": " + err.Error(), Temporary: true, Rcpt: rcpt, Err: err}
}

func replyCode(err error) (code int, enhanced string) {
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		return 0, ""
	}
	if ec := se.EnhancedCode; ec != smtp.EnhancedCodeNotSet && ec != smtp.NoEnhancedCode {
		enhanced = fmt.Sprintf("%d.%d.%d", ec[0], ec[1], ec[2])
	}
	return se.Code, enhanced
}

// broken reports whether err leaves the connection unusable: anything but
// an SMTP reply, and the 421 that announces the server is closing.
func broken(err error) bool {
	if err == nil {
		return false
	}
	var eb errBroken
	if errors.As(err, &eb) {
		return true
	}
	if multi, ok := err.(interface{ Unwrap() []error }); ok {
		for _, sub := range multi.Unwrap() {
			if broken(sub) {
				return true
			}
		}
		return false
	}
	code, _ := replyCode(err)
	return code == 0 || code == 421
}
