//go:build e2e

package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// mailbotBin is the binary under test, built once by TestMain.
var mailbotBin string

// missing lists what this machine lacks to run the suite; every test fails
// on it (never skips).
var missing []string

func TestMain(m *testing.M) {
	for _, tool := range []string{"dovecot", "postfix", "postqueue", "gpg", "gpgconf"} {
		if _, err := exec.LookPath(tool); err != nil {
			if _, err := os.Stat("/usr/sbin/" + tool); err != nil {
				missing = append(missing, tool)
			}
		}
	}
	if os.Geteuid() != 0 {
		missing = append(missing, "root (Dovecot and Postfix are run as root here)")
	}
	tmp, err := os.MkdirTemp("", "mailbot-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	mailbotBin = filepath.Join(tmp, "mailbot")
	build := exec.Command("go", "build", "-o", mailbotBin, "../../cmd/mailbot")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: go build mailbot:", err)
		os.RemoveAll(tmp)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(tmp)
	os.Exit(code)
}

// say prints a result line that `make e2e` shows.
func say(format string, args ...any) {
	fmt.Printf("e2e: "+format+"\n", args...)
}

// env is one test's world: a scratch folder, Dovecot, Postfix and the bot.
type env struct {
	t     *testing.T
	dir   string
	dc    *dovecot
	pf    *postfix
	bot   *bot
	nonce string // makes this run's Message-IDs unique
}

// newEnv starts Dovecot and Postfix and configures (but does not start) the
// bot with opt. Everything stops at the end of the test,
// also on failure; the scratch folder is kept when the test failed (or
// E2E_KEEP is set).
func newEnv(t *testing.T, opt botOptions) *env {
	t.Helper()
	if len(missing) > 0 {
		t.Fatalf("missing %s: run make e2e (it installs dovecot, postfix, gnupg)", strings.Join(missing, ", "))
	}
	// Not t.TempDir: Dovecot's and Postfix's unprivileged processes must
	// be able to walk into it (mode 0755), and a failed run keeps it.
	dir, err := os.MkdirTemp("", "e2e-")
	if err != nil {
		t.Fatalf("MkdirTemp() = %v", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatalf("Chmod() = %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("E2E_KEEP") != "" {
			say("%s: kept %s (logs: dovecot/dovecot.log, postfix/postfix.log, bot/bot.log)", t.Name(), dir)
			return
		}
		os.RemoveAll(dir)
	})
	var b [6]byte
	rand.Read(b[:])
	e := &env{t: t, dir: dir, nonce: hex.EncodeToString(b[:])}
	e.dc = newDovecot(t, filepath.Join(dir, "dovecot"))
	e.dc.start(t)
	t.Cleanup(func() { e.dc.stop(t) })
	e.pf = newPostfix(t, filepath.Join(dir, "postfix"), e.dc, opt.discardOutside)
	e.pf.start(t)
	t.Cleanup(func() { e.pf.stop(t) })
	e.bot = newBot(t, filepath.Join(dir, "bot"), e, opt)
	t.Cleanup(func() { e.bot.kill(t) })
	return e
}

// waitUntil polls cond (external state: a mailbox, a log) until it holds,
// for at most timeout.
func waitUntil(t *testing.T, what string, timeout time.Duration, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: not within %s", what, timeout)
		}
		<-tick.C
	}
}
