package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"mailbot/mailbot/cli"
	"mailbot/mailbot/control"
	"mailbot/store"
)

// startService runs `mailbot run` with a reload channel, as systemd would
// with SIGHUP, and waits until its control socket answers.
func startService(t *testing.T, cfg, socket string) (reload chan struct{}, logs *syncBuffer, stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	reload = make(chan struct{}, 1)
	logs = &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- cli.Run(ctx, []string{"run", "--config", cfg}, &cli.Env{Stdout: &syncBuffer{}, Stderr: logs, Reload: reload})
	}()
	stopped := false
	stop = func() int {
		if stopped {
			return cli.ExitOK
		}
		stopped = true
		cancel()
		select {
		case code := <-done:
			return code
		case <-time.After(20 * time.Second):
			t.Fatalf("run did not stop; log:\n%s", logs.String())
			return -1
		}
	}
	t.Cleanup(func() { stop() })
	waitFor(t, "the control socket", func() bool { return control.Available(socket) })
	return reload, logs, stop
}

// waitFor polls cond (bounded: 20 s at 10 ms).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 2000; i++ {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestServiceAdminSocketReloadBackupForget(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{server: true})
	socket := filepath.Join(f.dir, "mailbot.db.sock")
	reload, logs, stop := startService(t, f.cfg, socket)
	if fi, err := os.Stat(socket); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("control socket mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	wait, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	deliver := func(i int) {
		from := reporter // one sender would hit the acknowledgement rate limit
		if i > 0 {
			from = fmt.Sprintf("r%d@research.example", i)
		}
		raw := fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: report %d\r\nMessage-ID: <svc%d@research.example>\r\n\r\nXSS number %d\r\n", from, botAddr, i, i, i)
		if _, err := f.srv.Deliver("INBOX", botAddr, []byte(raw)); err != nil {
			t.Fatalf("Deliver() = %v", err)
		}
	}
	deliver(0)
	if _, err := f.srv.WaitSent(wait, 1); err != nil {
		t.Fatalf("WaitSent() = %v; log:\n%s", err, logs.String())
	}

	// Admin commands go through the socket while the daemon holds the file.
	var cases []cli.CaseSummary
	decodeJSON(t, mustRun(t, cli.ExitOK, nil, "cases", "--config", f.cfg, "--json").stdout, &cases)
	if len(cases) != 1 {
		t.Fatalf("cases over the socket = %d, want 1", len(cases))
	}
	var one cli.CaseView
	decodeJSON(t, mustRun(t, cli.ExitOK, nil, "case", "--config", f.cfg, "--json", cases[0].Ref).stdout, &one)
	if one.Ref != cases[0].Ref || len(one.Timeline) != 1 {
		t.Errorf("case over the socket = %s with %d messages", one.Ref, len(one.Timeline))
	}
	var stats cli.StatsView
	decodeJSON(t, mustRun(t, cli.ExitOK, nil, "stats", "--config", f.cfg, "--json").stdout, &stats)
	if stats.Cases != 1 || len(stats.Commitments) == 0 {
		t.Errorf("stats over the socket = %+v", stats)
	}

	// remind asks the daemon too (it holds the file).
	if r := mustRun(t, cli.ExitOK, nil, "remind", "--config", f.cfg, "--json", "--at", "2026-12-01 10:00"); !strings.HasPrefix(strings.TrimSpace(r.stdout), "[") {
		t.Errorf("remind over the socket = %q, want a JSON list", r.stdout)
	}

	// A hot backup while the daemon writes is a consistent database.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 1; i <= 10; i++ {
			deliver(i)
		}
	}()
	backup := filepath.Join(t.TempDir(), "backup.db")
	mustRun(t, cli.ExitOK, nil, "backup", "--config", f.cfg, backup)
	wg.Wait()
	bs, err := store.Open(backup, store.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatalf("the backup does not open: %v", err)
	}
	var n int
	bs.View(func(tx *store.Tx) error { return tx.Cases(func(*store.Case) bool { n++; return true }) })
	bs.Close()
	if n < 1 || n > 11 {
		t.Errorf("backup holds %d cases, want 1..11", n)
	}
	if _, err := f.srv.WaitSent(wait, 11); err != nil {
		t.Fatalf("WaitSent(11) = %v", err)
	}

	// A bad policy on reload is refused; the running bot goes on.
	polPath := filepath.Join(f.dir, "policy.toml")
	good := readFile(t, polPath)
	writeFile(t, polPath, []byte("organisation = 1\n"), 0o644)
	reload <- struct{}{}
	waitFor(t, "the refused reload in the log", func() bool { return strings.Contains(logs.String(), "reload refused") })
	deliver(20)
	if _, err := f.srv.WaitSent(wait, 12); err != nil {
		t.Fatalf("after a refused reload the bot stopped answering: %v", err)
	}

	// A good reload takes effect: a new display name on the next ack.
	writeFile(t, polPath, good, 0o644)
	cfg := strings.Replace(string(readFile(t, f.cfg)), `name = "Example Security Team"`, `name = "Renamed Team"`, 1)
	writeFile(t, f.cfg, []byte(cfg), 0o640)
	reload <- struct{}{}
	waitFor(t, "the reload", func() bool { return strings.Contains(logs.String(), "msg=reloading") })
	waitFor(t, "the socket after reload", func() bool { return control.Available(socket) })
	deliver(21)
	sent, err := f.srv.WaitSent(wait, 13)
	if err != nil {
		t.Fatalf("after reload: %v; log:\n%s", err, logs.String())
	}
	if last := sent[len(sent)-1].Data; !strings.Contains(string(last), "Renamed Team") {
		t.Errorf("the ack after a good reload does not use the new name:\n%.400s", last)
	}

	// forget through the socket.
	r := mustRun(t, cli.ExitOK, nil, "forget", "--config", f.cfg, reporter)
	if !strings.Contains(r.stdout, "forgot "+reporter) {
		t.Errorf("forget said %q", r.stdout)
	}
	decodeJSON(t, mustRun(t, cli.ExitOK, nil, "cases", "--config", f.cfg, "--json").stdout, &cases)
	for _, c := range cases {
		if c.Reporter == reporter {
			t.Errorf("case %s still names the forgotten reporter", c.Ref)
		}
	}
	if code := stop(); code != cli.ExitOK {
		t.Errorf("run exit = %d, want 0", code)
	}
	// With the daemon gone, the same command opens the file itself.
	raw := mustRun(t, cli.ExitOK, nil, "cases", "--config", f.cfg, "--json").stdout
	var after []map[string]any
	if err := json.Unmarshal([]byte(raw), &after); err != nil || len(after) != len(cases) {
		t.Errorf("cases from the file = %d (%v), want %d", len(after), err, len(cases))
	}
}

func TestSecondRunOnTheSameStoreFailsAtOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{server: true})
	_, _, stop := startService(t, f.cfg, filepath.Join(f.dir, "mailbot.db.sock"))
	defer stop()
	r := run(t, nil, "run", "--config", f.cfg)
	if r.code != cli.ExitFailure || !strings.Contains(r.stderr, "in use") {
		t.Errorf("second run = %d %q, want exit 1 saying the database is in use", r.code, r.stderr)
	}
}

func TestRestoreRefusesWhileRunningAndRestoresWhenStopped(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{server: true})
	_, _, stop := startService(t, f.cfg, filepath.Join(f.dir, "mailbot.db.sock"))
	backup := filepath.Join(t.TempDir(), "b.db")
	mustRun(t, cli.ExitOK, nil, "backup", "--config", f.cfg, backup)
	if r := run(t, nil, "restore", "--config", f.cfg, backup); r.code == cli.ExitOK {
		t.Errorf("restore while the daemon runs succeeded")
	}
	stop()
	mustRun(t, cli.ExitOK, nil, "restore", "--config", f.cfg, backup)
	mustRun(t, cli.ExitOK, nil, "cases", "--config", f.cfg, "--json")
}
