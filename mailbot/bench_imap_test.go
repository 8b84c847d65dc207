package mailbot_test

// IMAP helpers of BenchmarkTargetAckLatency: a watcher that times EXISTS in
// IDLE (RFC 2177), an APPEND client (RFC 3501 section 6.3.11) and a loopback
// Dovecot started from a scratch configuration.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// existsWatcher is an IMAP connection of its own, in IDLE on INBOX, that
// records when the server announces each new message: the server's share of
// the latency. A server may announce several appends in one EXISTS
// (Dovecot does within its notify delay): each gets that EXISTS's time.
//
// rearm restarts its IDLE before each APPEND, as the bot's own connection
// does after each message. Dovecot (src/lib-storage/mailbox-watch.c) starts
// its 500 ms notify timer at the first change it sees during an IDLE and
// does not restart it: a watcher that idled through the bot's STORE \Seen
// of the previous report was told of the next APPEND 500 ms after that
// STORE, i.e. up to the benchmark's 50 ms pause too early, which showed as
// ~45 ms of unexplained client latency.
type existsWatcher struct {
	c    *imapclient.Client
	idle *imapclient.IdleCommand

	mu    sync.Mutex
	base  uint32               // messages at SELECT
	last  uint32               // highest EXISTS seen
	at    map[uint32]time.Time // message number -> first announced
	event chan struct{}        // closed and replaced at every EXISTS
}

func (w *existsWatcher) mailbox(d *imapclient.UnilateralDataMailbox) {
	if d.NumMessages == nil {
		return
	}
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	for n := w.last + 1; n <= *d.NumMessages; n++ {
		w.at[n] = now
	}
	w.last = max(w.last, *d.NumMessages)
	close(w.event)
	w.event = make(chan struct{})
}

// announced returns when the k-th message appended since the watcher
// started (from 1) was announced, waiting for it at most until ctx ends.
func (w *existsWatcher) announced(ctx context.Context, k int) (time.Time, bool) {
	for {
		w.mu.Lock()
		t, ok := w.at[w.base+uint32(k)]
		ev := w.event
		w.mu.Unlock()
		if ok {
			return t, true
		}
		select {
		case <-ev:
		case <-ctx.Done():
			return time.Time{}, false
		}
	}
}

func watchExists(b *testing.B, addr, user, pass string) *existsWatcher {
	b.Helper()
	w := &existsWatcher{at: make(map[uint32]time.Time), event: make(chan struct{})}
	c, err := imapclient.DialInsecure(addr, &imapclient.Options{
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{Mailbox: w.mailbox},
	})
	if err != nil {
		b.Fatalf("watcher: dial %s: %v", addr, err)
	}
	b.Cleanup(func() { c.Close() })
	if err := c.Login(user, pass).Wait(); err != nil {
		b.Fatalf("watcher: login: %v", err)
	}
	sel, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		b.Fatalf("watcher: select: %v", err)
	}
	w.mu.Lock()
	w.base, w.last = sel.NumMessages, sel.NumMessages
	w.mu.Unlock()
	w.c = c
	if w.idle, err = c.Idle(); err != nil {
		b.Fatalf("watcher: idle: %v", err)
	}
	b.Cleanup(func() { w.idle.Close() })
	return w
}

// rearm ends the watcher's IDLE and starts a new one.
func (w *existsWatcher) rearm(b *testing.B) {
	b.Helper()
	if err := w.idle.Close(); err != nil {
		b.Fatalf("watcher: DONE: %v", err)
	}
	if err := w.idle.Wait(); err != nil {
		b.Fatalf("watcher: DONE: %v", err)
	}
	var err error
	if w.idle, err = w.c.Idle(); err != nil {
		b.Fatalf("watcher: idle: %v", err)
	}
}

// appender returns a function that APPENDs a message to INBOX over a
// connection of its own, as a delivery agent speaking IMAP would.
func appender(b *testing.B, addr, user, pass string) func([]byte) error {
	b.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		b.Fatalf("appender: dial %s: %v", addr, err)
	}
	b.Cleanup(func() { c.Close() })
	if err := c.Login(user, pass).Wait(); err != nil {
		b.Fatalf("appender: login: %v", err)
	}
	return func(raw []byte) error {
		cmd := c.Append("INBOX", int64(len(raw)), nil)
		if _, err := cmd.Write(raw); err != nil {
			return err
		}
		if err := cmd.Close(); err != nil {
			return err
		}
		_, err := cmd.Wait()
		return err
	}
}

// startDovecot runs a Dovecot on 127.0.0.1 from a scratch folder with one
// account (maildir, plaintext auth: loopback only) and returns its IMAP
// address. It stops with the benchmark. Without a dovecot binary the
// benchmark is skipped, loudly: `make e2e` (.ci/e2e-deps) installs it.
func startDovecot(b *testing.B, account, pass string) string {
	b.Helper()
	bin, err := exec.LookPath("dovecot")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/dovecot"); serr != nil {
			b.Skip("dovecot is not installed (bash .ci/e2e-deps installs it): Dovecot latency not measured")
		}
		bin = "/usr/sbin/dovecot"
	}
	if os.Geteuid() != 0 {
		b.Skip("dovecot needs root to drop privileges: Dovecot latency not measured")
	}
	// The mail user: "nobody" owns the maildir, as Dovecot refuses root.
	mailUser, err := user.Lookup("nobody")
	if err != nil {
		b.Fatalf("user nobody: %v", err)
	}
	dir, err := os.MkdirTemp("", "mailbot-bench-dovecot-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	uid, _ := strconv.Atoi(mailUser.Uid)
	gid, _ := strconv.Atoi(mailUser.Gid)
	for _, sub := range []string{"mail", "run", "state"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			b.Fatal(err)
		}
	}
	if err := os.Chown(filepath.Join(dir, "mail"), uid, gid); err != nil {
		b.Fatal(err)
	}
	port := freePort(b)
	if err := os.WriteFile(filepath.Join(dir, "passwd"), fmt.Appendf(nil, "%s:{PLAIN}%s::::::\n", account, pass), 0o644); err != nil {
		b.Fatal(err)
	}
	conf := fmt.Sprintf(`protocols = imap
listen = 127.0.0.1
base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:%[1]s/mail/%%n
first_valid_uid = 1
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%%u %[1]s/passwd
}
userdb {
  driver = static
  args = uid=%[2]d gid=%[3]d home=%[1]s/mail/%%n
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = %[4]d
  }
  inet_listener imaps {
    port = 0
  }
}
service lmtp {
  unix_listener lmtp {
    mode = 0600
  }
}
`, dir, uid, gid, port)
	cfgPath := filepath.Join(dir, "dovecot.conf")
	if err := os.WriteFile(cfgPath, []byte(conf), 0o644); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, "-F", "-c", cfgPath)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatalf("start dovecot: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	b.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "dovecot.log"))
			b.Fatalf("dovecot exited: %v\n%s", err, log)
		default:
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "dovecot.log"))
			b.Fatalf("dovecot did not listen on %s within 15s:\n%s", addr, log)
		}
		time.Sleep(20 * time.Millisecond) // polling a port: nothing to wait on
	}
	return addr
}

// freePort asks the kernel for an unused loopback port. Dovecot needs a
// number in its configuration; the short race with another listener is
// acceptable for a benchmark.
func freePort(b *testing.B) int {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	_, p, _ := strings.Cut(ln.Addr().String(), ":")
	n, err := strconv.Atoi(p)
	if err != nil {
		b.Fatal(errors.New("no port in " + ln.Addr().String()))
	}
	return n
}
