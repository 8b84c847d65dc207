//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-message/textproto"

	"mailbot/mailbot/spam"
)

// filterWait bounds a filter's start: rspamd loads its whole rule set.
const filterWait = 2 * time.Minute

// spamCorpus is the spam and the human mail in testdata: SpamAssassin's own
// t/data spam and ham, the project's human reports, and the people's mail of
// other projects' test suites in human/ (issue 18).
func spamCorpus(t *testing.T) (spamFiles, hamFiles []string) {
	t.Helper()
	root := filepath.Join("..", "..", "testdata", "mail")
	glob := func(pattern string) []string {
		m, err := filepath.Glob(filepath.Join(root, pattern))
		if err != nil || len(m) == 0 {
			t.Fatalf("Glob(%s) = %v, %v: the corpus is missing", pattern, m, err)
		}
		return m
	}
	spamFiles = glob("automated/spam-ham/spamassassin-t-data/spam/*.eml")
	hamFiles = append(glob("automated/spam-ham/spamassassin-t-data/nice/*.eml"), glob("valid/*.eml")...)
	for _, p := range glob("human/*/*") {
		switch filepath.Base(p) {
		case "LICENSE.txt", "COPYING", "README.md":
		default:
			hamFiles = append(hamFiles, p)
		}
	}
	return spamFiles, hamFiles
}

// startRspamd runs rspamd's normal worker alone on a free loopback port,
// with its configuration, database and logs in dir (as the Dovecot of this
// suite); it is stopped by pid when the test ends.
func startRspamd(t *testing.T, dir string) string {
	t.Helper()
	return runRspamd(t, dir, func(addr string) string {
		return `worker "normal" {
    bind_socket = "` + addr + `";
    .include "$CONFDIR/worker-normal.inc"
    count = 1;
}
`
	}, nil)
}

// runRspamd runs rspamd with the worker that worker(addr) configures on a
// free loopback port addr, and the files of local (name: content) in its
// local.d; everything in dir. It returns addr once rspamd listens.
func runRspamd(t *testing.T, dir string, worker func(addr string) string, local map[string]string) string {
	t.Helper()
	addr := "127.0.0.1:" + freePorts(t, 1)[0]
	write(t, filepath.Join(dir, "rspamd.conf"), `.include "$CONFDIR/common.conf"
options {
    pidfile = "$RUNDIR/rspamd.pid";
    .include "$CONFDIR/options.inc"
    disable_hyperscan = true;
}
logging {
    type = "file";
    filename = "$LOGDIR/rspamd.log";
    level = "notice";
}
`+worker(addr), 0o644)
	if err := os.MkdirAll(filepath.Join(dir, "local", "local.d"), 0o755); err != nil {
		t.Fatalf("MkdirAll() = %v", err)
	}
	for name, content := range local {
		write(t, filepath.Join(dir, "local", "local.d", name), content, 0o644)
	}
	// -i: the test may run as root, and rspamd refuses that otherwise.
	p, err := startProc("rspamd", exec.Command("rspamd", "-f", "-i", "-c", filepath.Join(dir, "rspamd.conf"),
		"--var=RUNDIR="+dir, "--var=DBDIR="+dir, "--var=LOGDIR="+dir, "--var=LOCAL_CONFDIR="+filepath.Join(dir, "local")))
	if err != nil {
		t.Fatalf("start rspamd: %v (run make e2e (it installs rspamd))", err)
	}
	t.Cleanup(func() {
		if err := p.stop(syscall.SIGTERM, serverWait); err != nil {
			t.Errorf("stop rspamd: %v", err)
		}
	})
	if err := waitPort(addr, true, filterWait); err != nil {
		t.Fatalf("rspamd: %v\n%s", err, tail(filepath.Join(dir, "rspamd.log"), 30))
	}
	return addr
}

// startSpamd runs SpamAssassin's spamd on a free loopback port with its
// site configuration (the packaged .pre files: they load the plugins) in
// dir, local tests only (-L: no DNS or network checks), one child.
func startSpamd(t *testing.T, dir string) string {
	t.Helper()
	port := freePorts(t, 1)[0]
	site := filepath.Join(dir, "site")
	pres, err := filepath.Glob("/etc/spamassassin/*.pre")
	if err != nil || len(pres) == 0 {
		t.Fatalf("no /etc/spamassassin/*.pre (%v): run make e2e (it installs spamd)", err)
	}
	for _, pre := range pres {
		b, err := os.ReadFile(pre)
		if err != nil {
			t.Fatalf("ReadFile() = %v", err)
		}
		write(t, filepath.Join(site, filepath.Base(pre)), string(b), 0o644)
	}
	// spamd's children run as nobody: they must be able to read site/.
	for d := site; strings.HasPrefix(d, os.TempDir()+"/"); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatalf("Chmod(%s) = %v", d, err)
		}
	}
	p, err := startProc("spamd", exec.Command("spamd", "--listen=127.0.0.1:"+port, "-u", "nobody", "-L",
		"--nouser-config", "--max-children=1", "--siteconfigpath="+site, "--syslog="+filepath.Join(dir, "spamd.log"),
		"--pidfile="+filepath.Join(dir, "spamd.pid")))
	if err != nil {
		t.Fatalf("start spamd: %v (run make e2e (it installs spamd))", err)
	}
	t.Cleanup(func() {
		if err := p.stop(syscall.SIGTERM, serverWait); err != nil {
			t.Errorf("stop spamd: %v", err)
		}
	})
	addr := "127.0.0.1:" + port
	if err := waitPort(addr, true, filterWait); err != nil {
		t.Fatalf("spamd: %v\n%s", err, tail(filepath.Join(dir, "spamd.log"), 30))
	}
	return addr
}

// waitFilter asks f about a small message until it answers (a daemon may
// accept connections before its workers scan), bounded by filterWait.
func waitFilter(t *testing.T, f *spam.Filter, log string) {
	t.Helper()
	deadline := time.Now().Add(filterWait)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		_, err := f.Check(ctx, strings.NewReader("Subject: ready?\r\n\r\nhello\r\n"))
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not answer within %s: %v\n%s", f.Kind, filterWait, err, tail(log, 30))
		}
		<-tick.C
	}
}

// The most spam of testdata each filter may acknowledge with its default
// hold line (spam.Filter, MinScore 0), with no network checks and no Bayes
// (measured: rspamd rejects only the two GTUBE messages; spamd holds GTUBE,
// the other GTUBE message and 001.eml at 19.4 and answers 002.eml at 6.9,
// 010.eml at 7.1 and badctype1.eml at 0.6). A bound is the figure measured
// with Debian 12's filters: more spam answered fails the test, and a filter
// that learns more may lower it.
var spamAnsweredMax = map[string]int{spam.KindRspamd: 4, spam.KindSpamd: 3}

// junkLine is each filter's own line for a junk folder, rspamd's "add
// header" (6) and spamd's required_score (5): the figures at it are logged
// beside the hold line's, to show what the hold line buys.
var junkLine = map[string]float64{spam.KindRspamd: 6, spam.KindSpamd: 5}

// TestE2ESpamFilters asks a real rspamd and a real spamd about GTUBE (spam)
// and a ham message of SpamAssassin's t/data, then, over the spam and the
// people's mail of testdata, counts what each filter holds with its default
// hold line: no person's mail may be held (issue 18), and at most
// spamAnsweredMax spam answered. The header verdicts (every source trusted,
// as if the MTA wrote them all) are logged for the closing note.
func TestE2ESpamFilters(t *testing.T) {
	dir := t.TempDir()
	filters := []*spam.Filter{
		// The first scans load rules: a minute, not the 10 s default.
		{Kind: spam.KindRspamd, Address: startRspamd(t, filepath.Join(dir, "rspamd")), Timeout: time.Minute},
		{Kind: spam.KindSpamd, Address: startSpamd(t, filepath.Join(dir, "spamd")), Timeout: time.Minute},
	}
	logs := map[string]string{spam.KindRspamd: filepath.Join(dir, "rspamd", "rspamd.log"), spam.KindSpamd: filepath.Join(dir, "spamd", "spamd.log")}
	for _, f := range filters {
		waitFilter(t, f, logs[f.Kind])
	}
	failed := map[string]bool{}
	logOnce := func(kind string) string { // the filter's log, with the first failure only
		if failed[kind] {
			return ""
		}
		failed[kind] = true
		return "\n" + tail(logs[kind], 30)
	}
	read := func(path string) []byte {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("ReadFile() = %v", err)
		}
		return b
	}
	check := func(f *spam.Filter, raw []byte) spam.Verdict {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		v, err := f.Check(ctx, bytes.NewReader(raw))
		if err != nil {
			t.Errorf("%s: Check() = %v%s", f.Kind, err, logOnce(f.Kind))
		}
		return v
	}
	gtube := read(filepath.Join("..", "..", "testdata", "mail", "automated", "spam-ham", "spamassassin-t-data", "spam", "gtube.eml"))
	ham := read(filepath.Join("..", "..", "testdata", "mail", "automated", "spam-ham", "spamassassin-t-data", "nice", "001.eml"))
	for _, f := range filters {
		if v := check(f, gtube); !v.Spam {
			t.Errorf("%s: Check(gtube.eml) = %+v, want spam%s", f.Kind, v, logOnce(f.Kind))
		}
		if v := check(f, ham); v.Spam {
			t.Errorf("%s: Check(nice/001.eml) = %+v, want not spam%s", f.Kind, v, logOnce(f.Kind))
		}
	}

	trustAll := spam.Trust{Sources: spam.Sources, AuthServID: "mx.example.org"}
	spamFiles, hamFiles := spamCorpus(t)
	held := map[string]int{} // "spam rspamd": spam held by rspamd's hold line
	junk := map[string]int{} // the same at junkLine
	var peopleHeld []string  // "rspamd: file: reason"
	for _, set := range []struct {
		name  string
		files []string
	}{{"spam", spamFiles}, {"human", hamFiles}} {
		for _, path := range set.files {
			raw := read(path)
			h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw)))
			if err == nil && spam.FromHeaders(h, trustAll).Spam {
				held[set.name+" headers"]++
			}
			for _, f := range filters {
				v := check(f, raw)
				if v.Spam {
					held[set.name+" "+f.Kind]++
					if set.name == "human" {
						peopleHeld = append(peopleHeld, f.Kind+": "+filepath.Base(path)+": "+v.Reason)
					}
				}
				atJunk := *f
				atJunk.MinScore = junkLine[f.Kind]
				if check(&atJunk, raw).Spam {
					junk[set.name+" "+f.Kind]++
				}
				t.Logf("%s %s: %s", set.name, filepath.Base(path), v.Reason)
			}
		}
	}
	if len(peopleHeld) > 0 {
		t.Errorf("people's mail held (want none):\n%s", strings.Join(peopleHeld, "\n"))
	}
	for _, f := range filters {
		if answered := len(spamFiles) - held["spam "+f.Kind]; answered > spamAnsweredMax[f.Kind] {
			t.Errorf("%s: %d of %d spam answered, want at most %d", f.Kind, answered, len(spamFiles), spamAnsweredMax[f.Kind])
		}
	}
	var parts []string
	parts = append(parts, fmt.Sprintf("headers (all trusted): %d spam answered, %d people held", len(spamFiles)-held["spam headers"], held["human headers"]))
	for _, f := range filters {
		parts = append(parts, fmt.Sprintf("%s: %d spam answered, %d people held (at its junk line %g: %d answered, %d held)",
			f.Kind, len(spamFiles)-held["spam "+f.Kind], held["human "+f.Kind], junkLine[f.Kind], len(spamFiles)-junk["spam "+f.Kind], junk["human "+f.Kind]))
	}
	say("spam filters over testdata (%d spam, %d people's mails), default hold lines: %s", len(spamFiles), len(hamFiles), strings.Join(parts, "; "))
}
