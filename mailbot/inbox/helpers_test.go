package inbox

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/emersion/go-sasl"
)

// waitTimeout bounds every wait for an event; tests never sleep.
const waitTimeout = 20 * time.Second

// ---- in-process IMAP server behind a controllable proxy ----

type serverOpts struct {
	hideIdle bool // strip IDLE from every CAPABILITY the client sees (IMAP4rev2 implies IDLE: use with rev1)
	rev1     bool // IMAP4rev1 only (IDLE still advertised; no MOVE, no UIDPLUS)
	// tls is "implicit" or "starttls" with tlsConfig; the session then dials
	// the server directly (the proxy is line-based, for plain IMAP only).
	tls       string
	tlsConfig *tls.Config
	// pollIdle replaces the memory server's IDLE by one that polls, so an
	// update queued just as IDLE starts is never lost (see idlePoller).
	pollIdle bool
}

type testServer struct {
	user  *imapmemserver.User
	proxy *proxy
	addr  string // the proxy's address: what the session dials
}

func newTestServer(t *testing.T, so serverOpts) *testServer {
	t.Helper()
	mem := imapmemserver.New()
	u := imapmemserver.NewUser("bot", "pw")
	for _, mb := range []string{"INBOX", "Processed"} {
		if err := u.Create(mb, nil); err != nil {
			t.Fatalf("Create(%q) = %v, want nil", mb, err)
		}
	}
	mem.AddUser(u)
	caps := imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}}
	if so.rev1 {
		caps = imap.CapSet{imap.CapIMAP4rev1: {}}
	}
	srvOpts := &imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			if so.pollIdle {
				return idlePoller{mem.NewSession().(imapserver.SessionIMAP4rev2)}, nil, nil
			}
			return mem.NewSession(), nil, nil
		},
		Caps:         caps,
		InsecureAuth: so.tls == "",
		Logger:       discardLogger{},
	}
	if so.tls == "starttls" {
		srvOpts.TLSConfig = so.tlsConfig
	}
	srv := imapserver.New(srvOpts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("Listen() = %v, want nil", err)
	}
	direct := ln.Addr().String()
	if so.tls == "implicit" {
		ln = tls.NewListener(ln, so.tlsConfig)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		defer func() { _ = recover() }()
		_ = srv.Serve(ln)
	}()
	p := newProxy(t, ln.Addr().String(), so.hideIdle)
	t.Cleanup(func() {
		p.close()
		_ = srv.Close()
		<-served
	})
	ts := &testServer{user: u, proxy: p, addr: p.ln.Addr().String()}
	if so.tls != "" {
		ts.addr = direct
	}
	return ts
}

// idlePoller is a memory-server session whose IDLE polls for updates.
// QUIRK (memory server): its own IDLE starts listening only after it has
// sent the continuation, and an update queued in between waits for the next
// command; tests that must see every EXISTS in IDLE use this one.
type idlePoller struct{ imapserver.SessionIMAP4rev2 }

func (s idlePoller) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	tk := time.NewTicker(2 * time.Millisecond) // the fake server's notification delay
	defer tk.Stop()
	for {
		if err := s.Poll(w, true); err != nil {
			return err
		}
		select {
		case <-stop:
			return nil
		case <-tk.C:
		}
	}
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}

type literal struct{ *bytes.Reader }

func (l literal) Size() int64 { return int64(l.Len()) }

// appendMsg appends raw to mailbox and returns its UID.
func (ts *testServer) appendMsg(t *testing.T, mailbox string, raw []byte) uint32 {
	t.Helper()
	ad, err := ts.user.Append(mailbox, literal{bytes.NewReader(raw)}, &imap.AppendOptions{})
	if err != nil {
		t.Fatalf("Append(%q) = %v, want nil", mailbox, err)
	}
	return uint32(ad.UID)
}

func (ts *testServer) status(t *testing.T, mailbox string) *imap.StatusData {
	t.Helper()
	sd, err := ts.user.Status(mailbox, &imap.StatusOptions{NumMessages: true, NumUnseen: true, UIDValidity: true})
	if err != nil {
		t.Fatalf("Status(%q) = %v, want nil", mailbox, err)
	}
	return sd
}

func testMessage(i int) []byte {
	return fmt.Appendf(nil, "From: reporter%d@example.org\r\nTo: security@example.com\r\n"+
		"Subject: report %d\r\nMessage-Id: <%d@example.org>\r\n\r\nbody of report %d\r\n", i, i, i, i)
}

// proxy forwards TCP between the session and the server. It can freeze live
// connections (they stop forwarding bytes: a silent server), drop them, and
// strip IDLE from capability lists.
type proxy struct {
	ln       net.Listener
	target   string
	hideIdle bool
	accepted atomic.Int32
	toClient atomic.Int64 // bytes forwarded server -> client
	// uidLate: FETCH responses for this UID carry it after the literal, as
	// some servers do (go-imap then cannot match them).
	uidLate atomic.Uint32
	// holdIdleOK: the tagged OK that ends an IDLE is held back until the
	// client sends its next command after DONE (or holdTimeout passes):
	// only a client that pipelines behind DONE gets it at once.
	holdIdleOK  atomic.Bool
	released    atomic.Int32 // held OKs released by a pipelined command
	heldTimeout atomic.Int32 // held OKs released by holdTimeout

	linesMu     sync.Mutex
	clientLines []string      // every line the client sent, in order
	newLine     chan struct{} // closed and replaced at every client line

	mu    sync.Mutex
	conns map[*pconn]struct{}
	wg    sync.WaitGroup
}

type pconn struct {
	client, server net.Conn
	frozen         atomic.Bool
	once           sync.Once

	mu        sync.Mutex
	idleTag   string        // tag of the client's last IDLE
	afterDone chan struct{} // made at DONE, closed by the next command
	waiting   bool          // afterDone is not closed yet
	checked   bool          // the IDLE's tagged response went through maybeHold
}

func (pc *pconn) close() {
	pc.once.Do(func() {
		_ = pc.client.Close()
		_ = pc.server.Close()
	})
}

func newProxy(t *testing.T, target string, hideIdle bool) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("Listen() = %v, want nil", err)
	}
	p := &proxy{ln: ln, target: target, hideIdle: hideIdle, conns: make(map[*pconn]struct{}), newLine: make(chan struct{})}
	p.wg.Add(1)
	go p.serve()
	return p
}

func (p *proxy) serve() {
	defer p.wg.Done()
	defer func() { _ = recover() }()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.accepted.Add(1)
		pc := &pconn{client: c, server: s}
		p.mu.Lock()
		p.conns[pc] = struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(pc, pc.server, pc.client, p.hideIdle, &p.toClient) // server -> client
		go p.pipe(pc, pc.client, pc.server, false, nil)              // client -> server
	}
}

// pipe copies line by line; a frozen connection keeps reading (so a close
// on either side is noticed) but forwards nothing.
func (p *proxy) pipe(pc *pconn, src, dst net.Conn, hideIdle bool, count *atomic.Int64) {
	defer p.wg.Done()
	defer func() { _ = recover() }()
	defer func() {
		pc.close()
		p.mu.Lock()
		delete(p.conns, pc)
		p.mu.Unlock()
	}()
	br := bufio.NewReaderSize(src, 64<<10)
	var lateUID string // UID to append after the literal being forwarded
	var litLeft int64
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 && !pc.frozen.Load() {
			if hideIdle && bytes.Contains(line, []byte("CAPABILITY")) {
				line = bytes.ReplaceAll(line, []byte(" IDLE"), nil)
			}
			if count == nil { // client -> server
				p.clientLine(pc, line)
			}
			if count != nil { // server -> client
				p.maybeHold(pc, line)
				switch m := fetchLiteralRE.FindSubmatch(line); {
				case litLeft > 0:
					litLeft -= int64(len(line))
				case lateUID != "" && string(line) == ")\r\n":
					line = []byte(" UID " + lateUID + ")\r\n")
					lateUID = ""
				case m != nil && string(m[2]) == strconv.Itoa(int(p.uidLate.Load())):
					line = []byte(string(m[1]) + string(m[3]))
					lateUID = string(m[2])
					litLeft, _ = strconv.ParseInt(string(m[4]), 10, 64)
				}
			}
			n, werr := dst.Write(line)
			if count != nil {
				count.Add(int64(n))
			}
			if werr != nil {
				return
			}
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}

// holdTimeout is how long a held IDLE OK waits for a pipelined command.
const holdTimeout = 2 * time.Second

// clientLine records a line from the client and tracks IDLE and DONE.
func (p *proxy) clientLine(pc *pconn, line []byte) {
	l := strings.TrimRight(string(line), "\r\n")
	pc.mu.Lock()
	switch tag, cmd, _ := strings.Cut(l, " "); {
	case strings.EqualFold(cmd, "IDLE"):
		pc.idleTag = tag
	case l == "DONE":
		pc.afterDone, pc.waiting, pc.checked = make(chan struct{}), true, false
	case pc.waiting:
		close(pc.afterDone)
		pc.waiting = false
	}
	pc.mu.Unlock()
	p.linesMu.Lock()
	p.clientLines = append(p.clientLines, l)
	close(p.newLine)
	p.newLine = make(chan struct{})
	p.linesMu.Unlock()
}

// maybeHold delays the tagged response to IDLE (see holdIdleOK).
func (p *proxy) maybeHold(pc *pconn, line []byte) {
	pc.mu.Lock()
	tag, wait := pc.idleTag, pc.afterDone
	match := !pc.checked && tag != "" && wait != nil && bytes.HasPrefix(line, []byte(tag+" "))
	if match {
		pc.checked = true // one hold per IDLE
	}
	pc.mu.Unlock()
	if !match || !p.holdIdleOK.Load() {
		return
	}
	t := time.NewTimer(holdTimeout)
	defer t.Stop()
	select {
	case <-wait:
		p.released.Add(1)
	case <-t.C:
		p.heldTimeout.Add(1)
	}
}

// lines returns the client's lines so far.
func (p *proxy) lines() []string {
	p.linesMu.Lock()
	defer p.linesMu.Unlock()
	return slices.Clone(p.clientLines)
}

// awaitLine waits until the client has sent a line containing sub and
// returns its index in lines().
func (p *proxy) awaitLine(t *testing.T, sub string) int {
	t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		p.linesMu.Lock()
		for i, l := range p.clientLines {
			if strings.Contains(l, sub) {
				p.linesMu.Unlock()
				return i
			}
		}
		ch := p.newLine
		p.linesMu.Unlock()
		select {
		case <-ch:
		case <-timer.C:
			l := p.lines()
			t.Fatalf("client sent no line containing %q within %v; last lines %q", sub, waitTimeout, l[max(0, len(l)-10):])
		}
	}
}

// fetchLiteralRE matches "* 2 FETCH (UID 7 RFC822.SIZE 99 BODY[] {99}".
var fetchLiteralRE = regexp.MustCompile(`^(\* \d+ FETCH \()UID (\d+) (.*\{(\d+)\}\r\n)$`)

// freeze silences every live connection for good.
func (p *proxy) freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for pc := range p.conns {
		pc.frozen.Store(true)
	}
}

// drop closes every live connection.
func (p *proxy) drop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for pc := range p.conns {
		pc.close()
	}
}

func (p *proxy) close() {
	_ = p.ln.Close()
	p.drop()
	p.wg.Wait()
}

// ---- the handler: a test double of the daemon ----

type tempErr struct{ error }

func (tempErr) Temporary() bool { return true }

type testHandler struct {
	dir string

	mu         sync.Mutex
	validity   map[string]uint32
	last       map[string]uint32
	attempts   []Delivery // every Process call
	committed  []Delivery // nil error (and recorded permanent errors)
	processErr func(d Delivery) error
	spoolErr   func(n int) error // n counts Spool calls from 1
	spools     int
	panicOnce  func(d Delivery) bool
}

func newTestHandler(t *testing.T) *testHandler {
	return &testHandler{dir: t.TempDir(), validity: map[string]uint32{}, last: map[string]uint32{}}
}

func (h *testHandler) Watermark(mailbox string) (uint32, uint32, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.validity[mailbox], h.last[mailbox], nil
}

func (h *testHandler) setWatermark(mailbox string, v, uid uint32) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.validity[mailbox], h.last[mailbox] = v, uid
}

// Spool writes r to a temporary file while hashing, then renames it to its
// hash, as the daemon's spool does.
func (h *testHandler) Spool(r io.Reader, size int64) (string, error) {
	h.mu.Lock()
	h.spools++
	n, hook := h.spools, h.spoolErr
	h.mu.Unlock()
	if hook != nil {
		if err := hook(n); err != nil {
			_, _ = io.Copy(io.Discard, r)
			return "", err
		}
	}
	f, err := os.CreateTemp(h.dir, "spool-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	sum := sha256.New()
	written, err := io.Copy(io.MultiWriter(f, sum), r)
	if err != nil {
		return "", err
	}
	if written != size {
		return "", fmt.Errorf("spooled %d bytes, size %d", written, size)
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	tok := hex.EncodeToString(sum.Sum(nil))
	if err := os.Rename(f.Name(), filepath.Join(h.dir, tok)); err != nil {
		return "", err
	}
	return tok, nil
}

// Process commits one delivery per call, the smallest step the interface
// allows (batching handlers are tested with batchHandler).
func (h *testHandler) Process(ctx context.Context, ds []Delivery) (int, error) {
	err := h.processOne(ds[0])
	if err == nil {
		return 1, nil
	}
	return 0, err
}

func (h *testHandler) processOne(d Delivery) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.attempts = append(h.attempts, d)
	if h.panicOnce != nil && h.panicOnce(d) {
		h.panicOnce = nil
		panic("test: handler panic")
	}
	if d.TooLarge != (d.Token == "") {
		return fmt.Errorf("test: TooLarge %v with token %q", d.TooLarge, d.Token)
	}
	var err error
	if h.processErr != nil {
		err = h.processErr(d)
	}
	if IsTemporary(err) {
		return err
	}
	// Committed, or (permanent error) quarantined: the watermark advances.
	h.committed = append(h.committed, d)
	h.validity[d.Mailbox], h.last[d.Mailbox] = d.UIDValidity, d.UID
	return err
}

func (h *testHandler) raw(t *testing.T, tok string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(h.dir, tok))
	if err != nil {
		t.Fatalf("ReadFile(spool %s) = %v, want nil", tok, err)
	}
	return b
}

func (h *testHandler) committedUIDs() []uint32 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return uidsOf(h.committed)
}

func (h *testHandler) attemptedUIDs() []uint32 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return uidsOf(h.attempts)
}

func (h *testHandler) spoolCalls() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.spools
}

func (h *testHandler) committedCopy() []Delivery {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Delivery(nil), h.committed...)
}

func uidsOf(ds []Delivery) []uint32 {
	var out []uint32
	for _, d := range ds {
		out = append(out, d.UID)
	}
	return out
}

// ---- running a session ----

type running struct {
	s      *Session
	events chan Event
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

func testOptions(ts *testServer) Options {
	return Options{
		Addr:           ts.addr,
		TLS:            "none",
		SASL:           func() (sasl.Client, error) { return sasl.NewPlainClient("", "bot", "pw"), nil },
		ResyncInterval: time.Hour, // tests poke or set it explicitly
		CommandTimeout: 10 * time.Second,
		BackoffMin:     5 * time.Millisecond,
		BackoffMax:     50 * time.Millisecond,
	}
}

// start runs a session until stop (or the end of the test).
func start(t *testing.T, opt Options, h Handler) *running {
	t.Helper()
	events := make(chan Event, 4096)
	opt.Events = events
	opt.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{s: New(opt, h), events: events, cancel: cancel, done: make(chan error, 1)}
	go func() {
		defer func() {
			if v := recover(); v != nil {
				r.done <- fmt.Errorf("Run panicked: %v", v)
			}
		}()
		r.done <- r.s.Run(ctx, context.Background())
	}()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *running) stop(t *testing.T) {
	t.Helper()
	r.once.Do(func() {
		r.cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("Run() = %v, want nil", err)
			}
		case <-time.After(waitTimeout):
			t.Fatalf("Run() did not return after cancel")
		}
	})
}

// await consumes events until one of kind (and uid, when non-zero) arrives.
func (r *running) await(t *testing.T, kind string, uid uint32) Event {
	t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		select {
		case e := <-r.events:
			if e.Kind == kind && (uid == 0 || e.UID == uid) {
				return e
			}
		case <-timer.C:
			t.Fatalf("no %q event for uid %d within %v", kind, uid, waitTimeout)
		}
	}
}

// drain returns the events already queued, without waiting.
func (r *running) drain() []Event {
	var out []Event
	for {
		select {
		case e := <-r.events:
			out = append(out, e)
		default:
			return out
		}
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// testCert returns a server config with a fresh self-signed certificate for
// 127.0.0.1 and a client config that trusts it.
func testCert(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("GenerateKey() = %v, want nil", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "imap.test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("CreateCertificate() = %v, want nil", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("ParseCertificate() = %v, want nil", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	return server, &tls.Config{RootCAs: pool}
}
