//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// logWatch collects the bot's log lines across restarts (and appends them
// to a file), so a test can wait for a line instead of sleeping.
type logWatch struct {
	mu      sync.Mutex
	partial []byte
	lines   []string
	changed chan struct{} // closed and replaced at every new line
	file    *os.File
}

func newLogWatch(path string) (*logWatch, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	return &logWatch{changed: make(chan struct{}), file: f}, nil
}

func (l *logWatch) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.file.Write(p)
	l.partial = append(l.partial, p...)
	added := false
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.lines = append(l.lines, string(l.partial[:i]))
		l.partial = l.partial[i+1:]
		added = true
	}
	if added {
		close(l.changed)
		l.changed = make(chan struct{})
	}
	return len(p), nil
}

// mark is the number of lines so far: count and wait can look only at the
// lines after it.
func (l *logWatch) mark() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.lines)
}

// count is the number of lines containing every one of subs.
func (l *logWatch) count(subs ...string) (int, <-chan struct{}) {
	return l.countSince(0, subs...)
}

// countSince counts from line number from on.
func (l *logWatch) countSince(from int, subs ...string) (int, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
next:
	for _, line := range l.lines[from:] {
		for _, s := range subs {
			if !strings.Contains(line, s) {
				continue next
			}
		}
		n++
	}
	return n, l.changed
}

// distinct is the number of different values of the slog field key
// (key=value) among the lines containing every one of subs.
func (l *logWatch) distinct(key string, subs ...string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	seen := map[string]bool{}
next:
	for _, line := range l.lines {
		for _, s := range subs {
			if !strings.Contains(line, s) {
				continue next
			}
		}
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, key+"="); ok {
				seen[v] = true
			}
		}
	}
	return len(seen)
}

// wait blocks until n lines after line number from contain every one of
// subs, for at most timeout.
func (l *logWatch) wait(t *testing.T, from, n int, timeout time.Duration, subs ...string) {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		got, changed := l.countSince(from, subs...)
		if got >= n {
			return
		}
		select {
		case <-changed:
		case <-timer.C:
			t.Fatalf("bot log: %d lines with %q within %s, want %d\n%s", got, subs, timeout, n, l.tail(20))
		}
	}
}

func (l *logWatch) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	lines := l.lines
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// bot is the mailbot daemon run as a separate process (`mailbot run`), so
// that it can be killed with SIGKILL and restarted on the same store.
type bot struct {
	dir, config string
	log         *logWatch
	p           *proc
	started     int      // log line number at the last start
	env         []string // added to the daemon's environment (the soak's MAILBOT_CLOCK)
}

// botOptions are the bot's IMAP settings that differ between tests.
type botOptions struct {
	mode    string // idle, poll or fast
	mailbox string // default INBOX
	resync  string // imap.resync_interval, default 2m
	store   string // the database, relative to the bot's folder; default mailbot.db

	// discardOutside: Postfix accepts mail for every domain and discards
	// what is not for example.org (see discardOutsideCF).
	discardOutside bool

	// extra is appended to the configuration (e.g. [[team]] sections);
	// files it names must be in the bot's folder before newBot returns
	// (files maps their names to their contents).
	extra string
	files map[string]string

	// The soak's instances (soak_e2e_test.go): the bot's address, its
	// IMAP and SMTP user, a policy file to use instead of the starter
	// policy of `mailbot init`, and the /healthz listen address.
	address, user, policy, metrics string
}

// newBot writes the bot's folder the way an admin would: `mailbot init`
// for a starter policy, a configuration pointing at this environment's
// Dovecot and Postfix, the password, and a key from `mailbot keys
// generate`; `mailbot check` must accept it.
func newBot(t *testing.T, dir string, e *env, opt botOptions) *bot {
	t.Helper()
	if opt.mailbox == "" {
		opt.mailbox = "INBOX"
	}
	if opt.resync == "" {
		opt.resync = "2m"
	}
	if opt.store == "" {
		opt.store = "mailbot.db"
	}
	if opt.address == "" {
		opt.address = botAddr
	}
	if opt.user == "" {
		opt.user = botAddr
	}
	b := &bot{dir: dir, config: filepath.Join(dir, "mailbot.toml")}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatalf("MkdirAll() = %v", err)
	}
	imapHost, imapPort, _ := net.SplitHostPort(e.dc.imapAddr)
	smtpHost, smtpPort, _ := net.SplitHostPort(e.pf.smtpAddr)
	initDir := filepath.Join(dir, "init")
	b.cli(t, "init", "--dir", initDir, "--address", opt.address, "--name", "Example Security Team",
		"--imap-host", imapHost, "--imap-port", imapPort, "--imap-tls", "none",
		"--smtp-host", smtpHost, "--smtp-port", smtpPort, "--smtp-tls", "none")
	if opt.policy == "" {
		opt.policy = filepath.Join(initDir, "policy.toml")
	}
	policy, err := os.ReadFile(opt.policy)
	if err != nil {
		t.Fatalf("mailbot init wrote no policy: %v", err)
	}
	write(t, filepath.Join(dir, "policy.toml"), string(policy), 0o644)
	write(t, filepath.Join(dir, "password"), botPass+"\n", 0o600)
	for name, content := range opt.files {
		write(t, filepath.Join(dir, name), content, 0o644)
	}
	metricsLine := ""
	if opt.metrics != "" {
		metricsLine = fmt.Sprintf("metrics = %q\n", opt.metrics)
	}
	write(t, b.config, fmt.Sprintf(`# written by the e2e suite
address = %q
name = "Example Security Team"
store = %q
policy = "policy.toml"
log_level = "debug"
%s
[imap]
host = %q
port = %s
tls = "none"
username = %q
password = { file = "password" }
mailbox = %q
mode = %q
fast_interval = "50ms"
resync_interval = %q
command_timeout = "20s"
after = "seen"

[smtp]
host = %q
port = %s
tls = "none"
username = %q
password = { file = "password" }
timeout = "20s"

[keys]
private = "bot-key.asc"

[ack]
# The crash burst sends 200 reports from one researcher.
rate_limit = 10000
global_per_hour = 10000

[flood]
# ... and they must all open cases: the flood caps have tests of their own.
cases_per_sender = 10000
cases_per_domain = 10000
notify_per_sender = 10000
notify_per_domain = 10000

[limits]
# TestE2EDiskFull fills a 16 MB tmpfs to prove ENOSPC itself is survived.
min_free_bytes = 0
`, opt.address, opt.store, metricsLine, imapHost, imapPort, opt.user, opt.mailbox, opt.mode, opt.resync, smtpHost, smtpPort, opt.user)+opt.extra, 0o600)
	b.cli(t, "keys", "generate", "--config", b.config)
	b.cli(t, "check", "--config", b.config)
	b.log, err = newLogWatch(filepath.Join(dir, "bot.log"))
	if err != nil {
		t.Fatalf("bot log: %v", err)
	}
	t.Cleanup(func() { b.log.file.Close() })
	return b
}

// cli runs a mailbot command and returns its standard output; a non-zero
// exit fails the test.
func (b *bot) cli(t *testing.T, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(mailbotBin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("mailbot %s = %v\n%s%s", strings.Join(args, " "), err, out.Bytes(), errb.Bytes())
	}
	return out.Bytes()
}

// start runs `mailbot run`; it does not wait for the daemon to be up.
func (b *bot) start(t *testing.T) {
	t.Helper()
	if b.p != nil && !b.p.exited() {
		t.Fatalf("bot already running (pid %d)", b.p.cmd.Process.Pid)
	}
	cmd := exec.Command(mailbotBin, "run", "--config", b.config)
	cmd.Env = append(os.Environ(), b.env...)
	cmd.Stdout, cmd.Stderr = b.log, b.log
	b.started = b.log.mark()
	p, err := startProc("mailbot", cmd)
	if err != nil {
		t.Fatalf("start mailbot: %v", err)
	}
	b.p = p
}

// startReady starts the bot and waits until it says it is running.
func (b *bot) startReady(t *testing.T) {
	t.Helper()
	b.start(t)
	b.log.wait(t, b.started, 1, 30*time.Second, "msg=running")
}

// kill ends the bot with SIGKILL, as a crash or the OOM killer would.
func (b *bot) kill(t *testing.T) {
	t.Helper()
	if b.p == nil {
		return
	}
	b.p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-b.p.done:
	case <-time.After(serverWait):
		t.Errorf("mailbot (pid %d) still there %s after SIGKILL", b.p.cmd.Process.Pid, serverWait)
	}
	b.p = nil
}

// stop ends the bot with SIGTERM (finish the work in hand) and wants a clean
// exit.
func (b *bot) stop(t *testing.T) {
	t.Helper()
	if b.p == nil {
		return
	}
	// A SIGTERM before the daemon has set up its signal handling would
	// kill it outright: wait until it says it runs.
	b.log.wait(t, b.started, 1, 30*time.Second, "msg=running")
	p := b.p
	b.p = nil
	if err := p.stop(syscall.SIGTERM, serverWait); err != nil {
		t.Errorf("mailbot: %v", err)
		return
	}
	if p.err != nil {
		t.Errorf("mailbot run exited with %v after SIGTERM, want 0\n%s", p.err, b.log.tail(20))
	}
}

// caseSummary is a row of `mailbot cases --json` (README "JSON reference").
type caseSummary struct {
	ID       uint64 `json:"id"`
	Ref      string `json:"ref"`
	Status   string `json:"status"`
	Subject  string `json:"subject"`
	Reporter string `json:"reporter"`
	Messages int    `json:"messages"`
}

// outboxItem is a row of `mailbot outbox --json`.
type outboxItem struct {
	ID        uint64   `json:"id"`
	Case      string   `json:"case"`
	Kind      string   `json:"kind"`
	MessageID string   `json:"message_id"`
	To        []string `json:"to"`
	State     string   `json:"state"`
	Attempts  int      `json:"attempts"`
	LastError string   `json:"last_error"`
}

// caseView is the part of `mailbot case --json` the tests look at.
type caseView struct {
	caseSummary
	Timeline []struct {
		Direction      string `json:"direction"`
		Class          string `json:"class"`
		From           string `json:"from"`
		Subject        string `json:"subject"`
		MessageID      string `json:"message_id"`
		SHA256         string `json:"sha256"`
		Encrypted      bool   `json:"encrypted"`
		Signed         bool   `json:"signed"`
		SignatureValid bool   `json:"signature_valid"`
	} `json:"messages"`
	Events []struct {
		Kind   string `json:"kind"`
		Detail string `json:"detail"`
	} `json:"events"`
}

// cases is `mailbot cases --json`; the bot must be stopped.
func (b *bot) cases(t *testing.T) []caseSummary {
	t.Helper()
	var cs []caseSummary
	if err := json.Unmarshal(b.cli(t, "cases", "--config", b.config, "--json"), &cs); err != nil {
		t.Fatalf("mailbot cases --json: %v", err)
	}
	return cs
}

// outbox is `mailbot outbox --json`: over the control socket while the bot
// is up, from the file when it is stopped (not while it starts or stops).
func (b *bot) outbox(t *testing.T) []outboxItem {
	t.Helper()
	var items []outboxItem
	if err := json.Unmarshal(b.cli(t, "outbox", "--config", b.config, "--json"), &items); err != nil {
		t.Fatalf("mailbot outbox --json: %v", err)
	}
	return items
}

// caseJSON is `mailbot case --json REF`; the bot must be stopped.
func (b *bot) caseJSON(t *testing.T, ref string) caseView {
	t.Helper()
	var v caseView
	if err := json.Unmarshal(b.cli(t, "case", "--config", b.config, "--json", ref), &v); err != nil {
		t.Fatalf("mailbot case --json %s: %v", ref, err)
	}
	return v
}
