package cli_test

import (
	"flag"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailbot/mailbot/cli"
	"mailbot/store"
)

var update = flag.Bool("update", false, "rewrite the .golden files in testdata")

// Hostile text as older versions stored it (issue 15 attack 6): a window
// title (OSC ... BEL), colours and a screen clear (CSI), a C1 CSI, a
// right-to-left override and a zero-width space.
const (
	hostileFrom    = "eve\x1b]0;pwned\x07@evil.example"
	hostileSubject = "\x1b[31mred\x1b[0m \u202eevil\u202c\x1b]0;owned\x07 zero\u200bwidth"
	hostileError   = "smtp: 550 \x1b[2J\x1b[Hcleared\r\nfake line"
	hostileDetail  = "C1 \u009b31m CSI, DEL \x7f, tag \U000E0041"
)

// hostileStore writes one case, message, event and outbox item carrying
// hostile text straight into the fixture's store, at fixed times.
func hostileStore(t *testing.T, f *fixture) string {
	t.Helper()
	st, err := store.Open(filepath.Join(f.dir, "mailbot.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	c := &store.Case{Subject: hostileSubject, Reporter: hostileFrom, Language: "en", Created: at}
	err = st.Update(func(tx *store.Tx) error {
		if err := tx.NewCase(c); err != nil {
			return err
		}
		m := &store.Message{CaseID: c.ID, Direction: "in", Hash: strings.Repeat("ab", 32), From: hostileFrom,
			Subject: hostileSubject, Received: at, Class: "report", Reason: "no automation markers"}
		if err := tx.AddMessage(m); err != nil {
			return err
		}
		if err := tx.AppendEvent(c.ID, store.Event{Time: at.Add(time.Second), Kind: "case.opened", Actor: "bot", Detail: hostileDetail}); err != nil {
			return err
		}
		o := &store.OutboxItem{CaseID: c.ID, Kind: "ack", MessageID: "ack1@example.org", From: botAddr, To: []string{hostileFrom},
			Raw: []byte("x"), Created: at.Add(2 * time.Second)}
		if err := tx.Enqueue(o); err != nil {
			return err
		}
		o.State, o.Attempts, o.LastError = store.OutboxFailed, 1, hostileError
		return tx.PutOutbox(o)
	})
	if err != nil {
		t.Fatal(err)
	}
	return c.Ref
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		writeFile(t, path, []byte(got), 0o644)
	}
	if want := string(readFile(t, path)); got != want {
		t.Errorf("output differs from %s (go test -update rewrites it)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// nonPrintable says what a terminal must never receive from stored text.
func nonPrintable(s string) bool {
	return strings.ContainsAny(s, "\x1b\x07\x7f\r\u009b\u202e\u202c\u200b\U000E0041")
}

// TestHumanOutputEscapesControls is issue 15 attack 6: cases, case and
// outbox printed a stored From and subject raw (window title, colours,
// cursor moves). Every human-readable output escapes them; golden output.
func TestHumanOutputEscapesControls(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	ref := hostileStore(t, f)
	for _, tt := range []struct {
		golden string
		args   []string
	}{
		{"hostile-cases.golden", []string{"cases", "--config", f.cfg}},
		{"hostile-case.golden", []string{"case", "--config", f.cfg, ref}},
		{"hostile-outbox.golden", []string{"outbox", "--config", f.cfg}},
	} {
		t.Run(tt.args[0], func(t *testing.T) {
			r := mustRun(t, cli.ExitOK, nil, tt.args...)
			if nonPrintable(r.stdout) {
				t.Errorf("%s printed raw control or format characters:\n%q", tt.args[0], r.stdout)
			}
			golden(t, tt.golden, r.stdout)
		})
	}
	// Text printed by a library (here the flag package) is escaped too.
	r := mustRun(t, cli.ExitUsage, nil, "case", "--config", f.cfg, "--\x1b]0;x\x07")
	if nonPrintable(r.stderr) || !strings.Contains(r.stderr, `-\u001b]0;x\u0007`) {
		t.Errorf("case stderr = %q, want the flag escaped", r.stderr)
	}
}

// TestJSONOutputStaysJSON: with --json the hostile text is the same value
// after decoding, and the bytes hold no raw control or format character.
func TestJSONOutputStaysJSON(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	ref := hostileStore(t, f)
	r := mustRun(t, cli.ExitOK, nil, "case", "--config", f.cfg, "--json", ref)
	if nonPrintable(r.stdout) {
		t.Errorf("case --json printed raw control or format characters:\n%q", r.stdout)
	}
	var v cli.CaseView
	decodeJSON(t, r.stdout, &v)
	if v.Subject != hostileSubject || v.Reporter != hostileFrom || len(v.Timeline) != 1 || v.Timeline[0].From != hostileFrom ||
		len(v.Events) != 1 || v.Events[0].Detail != hostileDetail || len(v.Outbox) != 1 || v.Outbox[0].LastError != hostileError {
		t.Errorf("case --json decoded = %+v, want the stored text unchanged", v)
	}
}

// TestIngestInvalidFromKept: a report whose From carries ESC and BEL is kept
// with its reason, and nobody is answered.
func TestIngestInvalidFromKept(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{team: true})
	mail := "From: Eve <eve\x1b]0;pwned\x07@evil.example>\r\nTo: " + botAddr + "\r\nSubject: \x1b[31mreport\r\n" +
		"Message-ID: <hostile@evil.example>\r\n\r\nSQL injection in /search.\r\n"
	r := mustRun(t, cli.ExitOK, strings.NewReader(mail), "ingest", "--config", f.cfg, "--json")
	got, _ := decodeStream(t, r.stdout)
	if len(got) != 1 || got[0].Class != "automated" || got[0].Reason != "From: not a valid address" || got[0].Acks != 0 || got[0].Case != "" {
		t.Fatalf("ingest = %+v, want kept as automated, reason From: not a valid address, no case, no acknowledgement", got)
	}
	out := mustRun(t, cli.ExitOK, nil, "outbox", "--config", f.cfg, "--json")
	if strings.TrimSpace(out.stdout) != "[]" {
		t.Errorf("outbox = %s, want empty: no acknowledgement, no team notification", out.stdout)
	}
}
