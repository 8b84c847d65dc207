package cli_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"mailbot/mailbot/cli"
	"mailbot/store"
)

// commandNames are every command README.md documents, plus keys and publish.
var commandNames = []string{"case", "cases", "check", "demo", "ingest", "init", "keys", "outbox", "publish", "run"}

func TestUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		args     []string
		code     int
		toStderr bool
	}{
		{"help", []string{"help"}, cli.ExitOK, false},
		{"-h", []string{"-h"}, cli.ExitOK, false},
		{"--help", []string{"--help"}, cli.ExitOK, false},
		{"no command", nil, cli.ExitUsage, false},
		{"unknown command", []string{"frobnicate", "--config", "x"}, cli.ExitUsage, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustRun(t, tt.code, nil, tt.args...)
			out, other := r.stdout, r.stderr
			if tt.toStderr {
				out, other = r.stderr, r.stdout
			}
			if !strings.Contains(out, "usage: mailbot <command> [flags]\n") {
				t.Errorf("Run(%q) output = %q, want the usage", tt.args, out)
			}
			for _, c := range commandNames {
				if !strings.Contains(out, "\n  "+c+" ") {
					t.Errorf("Run(%q) usage lacks the command %q:\n%s", tt.args, c, out)
				}
			}
			if tt.toStderr {
				if !strings.HasPrefix(out, `mailbot: unknown command "frobnicate"`) {
					t.Errorf("Run(%q) stderr = %q, want it to name the unknown command", tt.args, out)
				}
				if other != "" {
					t.Errorf("Run(%q) stdout = %q, want nothing", tt.args, other)
				}
			}
		})
	}
}

func TestDemo(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := mustRun(t, cli.ExitOK, nil, "demo", "--dir", dir)
	ref := refRE.FindString(r.stdout)
	if ref == "" {
		t.Fatalf("demo output has no case ref:\n%s", r.stdout)
	}
	for _, want := range []string{
		"robots answered: 0",
		"--- to ada@research.example",
		"Subject: [" + ref + "] Received: Stored XSS in the profile page",
		"Auto-Submitted: auto-replied",
		"thank you for your report to Example",
		"opened case " + ref + " for it",
		"This is an automatic acknowledgement; a person will answer you.",
		"follow-up from ada@research.example",
		"automated",
		"bounce",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("demo output lacks %q:\n%s", want, r.stdout)
		}
	}
	// The case header: ref, status (the demo moves it on), subject.
	if !regexp.MustCompile(`(?m)^` + ref + `  [a-z]+  Stored XSS in the profile page$`).MatchString(r.stdout) {
		t.Errorf("demo output lacks the header line of %s", ref)
	}
	// --dir keeps what the demo wrote, loadable by the other commands.
	if _, err := os.Stat(filepath.Join(dir, "mailbot.toml")); err != nil {
		t.Fatalf("demo --dir did not keep mailbot.toml: %v", err)
	}
	c := mustRun(t, cli.ExitOK, nil, "cases", "--config", filepath.Join(dir, "mailbot.toml"))
	if !strings.Contains(c.stdout, ref) {
		t.Errorf("cases on the demo's store = %q, want %s", c.stdout, ref)
	}
}

func TestDemoTempDirRemoved(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // the demo's default folder goes here
	mustRun(t, cli.ExitOK, nil, "demo")
	entries, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "mailbot-demo-") {
			t.Errorf("demo left %s behind", e.Name())
		}
	}
}

// daemon is `mailbot run` in a goroutine.
type daemon struct {
	cancel context.CancelFunc
	done   chan int
	stderr *syncBuffer
}

func startRun(t *testing.T, cfg string) *daemon {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d := &daemon{cancel: cancel, done: make(chan int, 1), stderr: &syncBuffer{}}
	go func() {
		defer func() {
			if v := recover(); v != nil {
				t.Errorf("Run panicked: %v", v)
				d.done <- -1
			}
		}()
		d.done <- cli.Run(ctx, []string{"run", "--config", cfg}, &cli.Env{Stdout: &syncBuffer{}, Stderr: d.stderr})
	}()
	t.Cleanup(func() { d.stop(t) })
	return d
}

// stop cancels the daemon's context and returns its exit code.
func (d *daemon) stop(t *testing.T) int {
	t.Helper()
	if d.cancel == nil {
		return cli.ExitOK
	}
	d.cancel()
	d.cancel = nil
	select {
	case code := <-d.done:
		return code
	case <-time.After(20 * time.Second):
		t.Fatalf("Run() did not return 20s after cancel; log:\n%s", d.stderr.String())
		return -1
	}
}

func TestRun(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{server: true})
	wait, stopWait := context.WithTimeout(context.Background(), 30*time.Second)
	defer stopWait()

	d := startRun(t, f.cfg)
	if _, err := f.srv.Deliver("INBOX", botAddr, testdata(t, "report.eml")); err != nil {
		t.Fatalf("Deliver() = %v", err)
	}
	sent, err := f.srv.WaitSent(wait, 1)
	if err != nil {
		t.Fatalf("WaitSent() = %v; daemon log:\n%s", err, d.stderr.String())
	}
	if len(sent[0].To) != 1 || sent[0].To[0] != reporter || !bytes.Contains(sent[0].Data, []byte("Auto-Submitted: auto-replied")) {
		t.Errorf("the daemon sent %q to %q, want an acknowledgement to %s", firstLine(string(sent[0].Data)), sent[0].To, reporter)
	}
	if code := d.stop(t); code != cli.ExitOK {
		t.Fatalf("Run() after cancel = %d, want %d; log:\n%s", code, cli.ExitOK, d.stderr.String())
	}
	if !strings.Contains(d.stderr.String(), "msg=stopped") {
		t.Errorf("run log lacks the stop:\n%s", d.stderr.String())
	}

	// The daemon released the store: the case is there, its ack sent.
	r := mustRun(t, cli.ExitOK, nil, "outbox", "--config", f.cfg, "--json")
	var items []cli.OutboxView
	decodeJSON(t, r.stdout, &items)
	if len(items) != 1 || items[0].State != "sent" || !refRE.MatchString(items[0].Case) {
		t.Errorf("outbox after run = %+v, want one sent ack on a case", items)
	}

	// A restart picks up new mail and answers nothing twice.
	d = startRun(t, f.cfg)
	if _, err := f.srv.Deliver("INBOX", botAddr, testdata(t, "report-attachment.eml")); err != nil {
		t.Fatalf("Deliver() = %v", err)
	}
	sent, err = f.srv.WaitSent(wait, 2)
	if err != nil {
		t.Fatalf("WaitSent(2) = %v; daemon log:\n%s", err, d.stderr.String())
	}
	if len(sent[1].To) != 1 || sent[1].To[0] != "grace@research.example" {
		t.Errorf("second ack went to %q, want grace@research.example", sent[1].To)
	}
	if code := d.stop(t); code != cli.ExitOK {
		t.Fatalf("Run() after the second cancel = %d, want %d", code, cli.ExitOK)
	}
	r = mustRun(t, cli.ExitOK, nil, "cases", "--config", f.cfg, "--json")
	var cases []cli.CaseSummary
	decodeJSON(t, r.stdout, &cases)
	if len(cases) != 2 {
		t.Errorf("cases after two runs = %+v, want 2", cases)
	}
	if n := len(f.srv.Sent()); n != 2 {
		t.Errorf("devmail got %d mails after two runs, want 2", n)
	}
}

func TestRunBadConfigExitsAtOnce(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts fixtureOpts
		edit func(t *testing.T, f *fixture)
	}{
		{"bad value", fixtureOpts{top: `log_level = "loud"`}, nil},
		{"bad policy", fixtureOpts{}, func(t *testing.T, f *fixture) {
			writeFile(t, filepath.Join(f.dir, "policy.toml"), []byte("organisation = 1\n"), 0o644)
		}},
		{"missing key file", fixtureOpts{noKey: true}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.opts)
			if tt.edit != nil {
				tt.edit(t, f)
			}
			// A context that never ends: only the bad config may stop Run.
			done := make(chan result, 1)
			go func() {
				defer func() {
					if v := recover(); v != nil {
						t.Errorf("Run panicked: %v", v)
						done <- result{code: -1}
					}
				}()
				var stdout, stderr syncBuffer
				code := cli.Run(context.Background(), []string{"run", "--config", f.cfg}, &cli.Env{Stdout: &stdout, Stderr: &stderr})
				done <- result{code, stdout.String(), stderr.String()}
			}()
			select {
			case r := <-done:
				if r.code != cli.ExitUsage {
					t.Errorf("run with a bad config = %d, want %d; stderr %q", r.code, cli.ExitUsage, r.stderr)
				}
				if !strings.HasPrefix(r.stderr, "mailbot run: ") {
					t.Errorf("run stderr = %q, want the problem", r.stderr)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("run with a bad config did not return within 10s")
			}
		})
	}
}

func TestRunLockedStore(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{server: true})
	// Another daemon holds the store.
	st, err := store.Open(filepath.Join(f.dir, "mailbot.db"), store.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("store.Open() = %v", err)
	}
	defer st.Close()
	r := mustRun(t, cli.ExitFailure, nil, "run", "--config", f.cfg)
	if !strings.Contains(r.stderr, "database is in use") {
		t.Errorf("run on a held store: stderr %q, want it to say so", r.stderr)
	}
	if imap, smtp := f.srv.Connections(); imap != 0 || smtp != 0 {
		t.Errorf("run on a held store made %d IMAP and %d SMTP connections, want none", imap, smtp)
	}
	if r := run(t, nil, "run", "--config", f.cfg, "--bogus"); r.code != cli.ExitUsage {
		t.Errorf("run --bogus = %d, want %d", r.code, cli.ExitUsage)
	}
}
