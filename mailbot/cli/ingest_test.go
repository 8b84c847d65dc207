package cli_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"

	"mailbot/mailbot/cli"
	"mailbot/store"
)

// ingestKeys are the documented fields of `mailbot ingest --json` that an
// acknowledged report always carries (reason is omitted when empty).
var ingestKeys = []string{"file", "case", "action", "class", "message", "acks"}

func TestIngestStdinJSON(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	report := testdata(t, "report.eml")
	r := mustRun(t, cli.ExitOK, bytes.NewReader(report), "ingest", "--config", f.cfg, "--json")
	got, raw := decodeStream(t, r.stdout)
	if len(got) != 1 {
		t.Fatalf("ingest printed %d objects, want 1:\n%s", len(got), r.stdout)
	}
	hasKeys(t, "ingest --json", raw[0], ingestKeys...)
	g := got[0]
	if g.File != "-" || g.Action != "opened" || g.Class != "report" || g.Acks != 1 || g.Message == 0 || !refRE.MatchString(g.Case) {
		t.Errorf("ingest --json = %+v, want file -, action opened, class report, 1 ack, a message id and a case ref", g)
	}

	// The same bytes again, from stdin: nothing new.
	r = mustRun(t, cli.ExitOK, bytes.NewReader(report), "ingest", "--config", f.cfg, "--json")
	again, _ := decodeStream(t, r.stdout)
	if len(again) != 1 || again[0].Action != "duplicate" || again[0].Acks != 0 {
		t.Errorf("ingest of the same report = %+v, want one duplicate without acks", again)
	}
}

func TestIngestFilesJSON(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	dir := t.TempDir()
	files := map[string]string{"report": "report.eml", "report2": "report-attachment.eml", "noheader": "noheader.eml"}
	paths := map[string]string{}
	for k, name := range files {
		paths[k] = filepath.Join(dir, name)
		writeFile(t, paths[k], testdata(t, name), 0o644)
	}
	r := mustRun(t, cli.ExitOK, nil, "ingest", "--config", f.cfg, "--json", paths["report"], paths["report2"], paths["noheader"])
	got, raw := decodeStream(t, r.stdout)
	if len(got) != 3 {
		t.Fatalf("ingest printed %d objects, want 3:\n%s", len(got), r.stdout)
	}
	for i := range 2 {
		hasKeys(t, "ingest --json "+got[i].File, raw[i], ingestKeys...)
		if got[i].Action != "opened" || got[i].Class != "report" || got[i].Acks != 1 || !refRE.MatchString(got[i].Case) {
			t.Errorf("ingest --json %s = %+v, want an opened report with one ack", got[i].File, got[i])
		}
	}
	if got[0].File != paths["report"] || got[1].File != paths["report2"] || got[2].File != paths["noheader"] {
		t.Errorf("ingest --json files = %q %q %q, want them in argument order", got[0].File, got[1].File, got[2].File)
	}
	if got[0].Case == got[1].Case {
		t.Errorf("two reports from two people share case %s", got[0].Case)
	}
	q := got[2]
	hasKeys(t, "ingest --json (quarantined)", raw[2], "file", "action", "reason", "acks")
	if q.Action != "quarantined" || q.Reason == "" || q.Case != "" || q.Acks != 0 {
		t.Errorf("ingest --json of a message without header = %+v, want quarantined with a reason, on no case", q)
	}

	// The same files again: duplicates (the quarantined one too: its bytes are kept).
	r = mustRun(t, cli.ExitOK, nil, "ingest", "--config", f.cfg, "--json", paths["report"], paths["noheader"])
	again, _ := decodeStream(t, r.stdout)
	if len(again) != 2 || again[0].Action != "duplicate" || again[1].Action != "duplicate" {
		t.Errorf("ingest of the same files = %+v, want two duplicates", again)
	}

	// Plain text output: file, action and case.
	writeFile(t, filepath.Join(dir, "copy.eml"), append(testdata(t, "report.eml"), "\nP.S. one more line\n"...), 0o644)
	r = mustRun(t, cli.ExitOK, nil, "ingest", "--config", f.cfg, filepath.Join(dir, "copy.eml"))
	if !strings.HasPrefix(r.stdout, filepath.Join(dir, "copy.eml")+": ") || !refRE.MatchString(r.stdout) {
		t.Errorf("ingest stdout = %q, want \"file: action case\"", r.stdout)
	}
}

func TestIngestMissingFileIsTempFail(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	report := filepath.Join(t.TempDir(), "r.eml")
	writeFile(t, report, testdata(t, "report.eml"), 0o644)
	r := mustRun(t, cli.ExitTempFail, nil, "ingest", "--config", f.cfg, "--json", filepath.Join(t.TempDir(), "gone.eml"), report)
	got, _ := decodeStream(t, r.stdout)
	if len(got) != 1 || got[0].Action != "opened" {
		t.Errorf("ingest of a missing and a good file = %+v, want the good one opened", got)
	}
	if !strings.Contains(r.stderr, "gone.eml") {
		t.Errorf("ingest stderr = %q, want it to name gone.eml", r.stderr)
	}
}

func TestIngestLockedStoreIsTempFail(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	st, err := store.Open(filepath.Join(f.dir, "mailbot.db"), store.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("store.Open() = %v", err)
	}
	defer st.Close()
	r := mustRun(t, cli.ExitTempFail, bytes.NewReader(testdata(t, "report.eml")), "ingest", "--config", f.cfg, "--json")
	if r.stdout != "" {
		t.Errorf("ingest stdout = %q, want nothing while the store is locked", r.stdout)
	}
	if !strings.Contains(r.stderr, "mailbot run") {
		t.Errorf("ingest stderr = %q, want it to say the daemon may hold the store", r.stderr)
	}
}

func TestIngestBadConfig(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{top: `log_level = "loud"`})
	mustRun(t, cli.ExitTempFail, bytes.NewReader(testdata(t, "report.eml")), "ingest", "--config", f.cfg)
}

// TestIngestSysexits: one case per row of README's table of `mailbot
// ingest` exit codes. An MTA bounces the message on 65 and defers it on 75:
// only a message that can never be accepted is refused; the bot's own
// trouble (configuration, keys, store) defers it.
func TestIngestSysexits(t *testing.T) {
	t.Parallel()
	big := append(bytes.Clone(testdata(t, "report.eml")), bytes.Repeat([]byte("more detail\n"), 200)...)
	tests := []struct {
		name  string
		opts  fixtureOpts
		setup func(t *testing.T, f *fixture) []string // extra arguments
		stdin []byte
		want  int
	}{
		{"stored", fixtureOpts{}, nil, testdata(t, "report.eml"), cli.ExitOK},
		{"kept aside (quarantined)", fixtureOpts{}, nil, testdata(t, "noheader.eml"), cli.ExitOK},
		{"over the size limit", fixtureOpts{tail: "[limits]\nmax_message_bytes = 1024\n"}, nil, big, cli.ExitDataErr},
		{"configuration missing", fixtureOpts{}, func(t *testing.T, f *fixture) []string {
			return []string{"--config", filepath.Join(f.dir, "gone.toml")}
		}, testdata(t, "report.eml"), cli.ExitTempFail},
		{"configuration unreadable", fixtureOpts{}, func(t *testing.T, f *fixture) []string {
			return []string{"--config", f.dir} // a directory: read fails, as without permission
		}, testdata(t, "report.eml"), cli.ExitTempFail},
		{"configuration invalid", fixtureOpts{top: `log_level = "loud"`}, nil, testdata(t, "report.eml"), cli.ExitTempFail},
		{"key locked (passphrase unreadable)", fixtureOpts{tail: "passphrase = { file = \"gone\" }\n"}, nil, testdata(t, "report.eml"), cli.ExitTempFail},
		{"store locked", fixtureOpts{}, func(t *testing.T, f *fixture) []string {
			st, err := store.Open(filepath.Join(f.dir, "mailbot.db"), store.Options{Timeout: time.Second})
			if err != nil {
				t.Fatalf("store.Open() = %v", err)
			}
			t.Cleanup(func() { st.Close() })
			return nil
		}, testdata(t, "report.eml"), cli.ExitTempFail},
		{"store unwritable", fixtureOpts{}, func(t *testing.T, f *fixture) []string {
			// Not a file the store can open (permissions are no test
			// when the tests run as root).
			if err := os.Mkdir(filepath.Join(f.dir, "mailbot.db"), 0o700); err != nil {
				t.Fatal(err)
			}
			return nil
		}, testdata(t, "report.eml"), cli.ExitTempFail},
		{"wrong command line", fixtureOpts{}, func(t *testing.T, f *fixture) []string {
			return []string{"--no-such-flag"}
		}, testdata(t, "report.eml"), cli.ExitTempFail},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, tc.opts)
			args := []string{"ingest", "--config", f.cfg}
			if tc.setup != nil {
				if extra := tc.setup(t, f); extra != nil {
					args = append([]string{"ingest"}, extra...)
				}
			}
			mustRun(t, tc.want, bytes.NewReader(tc.stdin), args...)
		})
	}
}

func TestIngestSend(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{server: true})
	r := mustRun(t, cli.ExitOK, bytes.NewReader(testdata(t, "report.eml")), "ingest", "--config", f.cfg, "--json", "--send")
	got, _ := decodeStream(t, r.stdout)
	if len(got) != 1 || got[0].Action != "opened" {
		t.Fatalf("ingest --send = %+v, want one opened case", got)
	}
	ref := got[0].Case
	// ingest --send returns only after the outbox ran: the mail is there now.
	sent := f.srv.Sent()
	if len(sent) != 1 {
		t.Fatalf("devmail got %d mails, want the acknowledgement", len(sent))
	}
	m := sent[0]
	if len(m.To) != 1 || m.To[0] != reporter {
		t.Errorf("ack RCPT TO = %q, want [%s]", m.To, reporter)
	}
	if m.From != botAddr {
		t.Errorf("ack MAIL FROM = %q, want %s", m.From, botAddr)
	}
	mr, err := mail.CreateReader(bytes.NewReader(m.Data))
	if mr == nil {
		t.Fatalf("CreateReader(ack) = %v", err)
	}
	subj, _ := mr.Header.Subject()
	if !strings.Contains(subj, "["+ref+"]") {
		t.Errorf("ack Subject = %q, want the tag [%s]", subj, ref)
	}
	if got := mr.Header.Get("Auto-Submitted"); got != "auto-replied" {
		t.Errorf("ack Auto-Submitted = %q, want auto-replied", got)
	}
	if got, _ := mr.Header.MsgIDList("In-Reply-To"); len(got) != 1 || got[0] != "cli-report-1@research.example" {
		t.Errorf("ack In-Reply-To = %q, want the report's Message-ID", got)
	}

	// The outbox says sent; a second --send sends nothing more.
	ob := mustRun(t, cli.ExitOK, nil, "outbox", "--config", f.cfg, "--json")
	var items []cli.OutboxView
	decodeJSON(t, ob.stdout, &items)
	if len(items) != 1 || items[0].State != "sent" || items[0].SentAt == nil || items[0].Case != ref {
		t.Errorf("outbox after --send = %+v, want one sent item on %s", items, ref)
	}
	mustRun(t, cli.ExitOK, bytes.NewReader(testdata(t, "report.eml")), "ingest", "--config", f.cfg, "--send")
	if n := len(f.srv.Sent()); n != 1 {
		t.Errorf("after a duplicate with --send devmail has %d mails, want still 1", n)
	}
}

func TestIngestWithoutSendQueues(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{server: true})
	mustRun(t, cli.ExitOK, bytes.NewReader(testdata(t, "report.eml")), "ingest", "--config", f.cfg)
	ob := mustRun(t, cli.ExitOK, nil, "outbox", "--config", f.cfg, "--json")
	var items []cli.OutboxView
	decodeJSON(t, ob.stdout, &items)
	if len(items) != 1 || items[0].State != "queued" || items[0].NextAttempt == nil {
		t.Errorf("outbox after ingest without --send = %+v, want one queued item with next_attempt", items)
	}
	if n := len(f.srv.Sent()); n != 0 {
		t.Errorf("ingest without --send sent %d mails, want 0", n)
	}
}

// TestIngestDiskLowIsTempFail: with less free space than
// limits.min_free_bytes (here more than any disk has), a new report is not
// taken: `mailbot ingest` exits 75 so that the MTA keeps it and retries, and
// the store holds nothing of it.
func TestIngestDiskLowIsTempFail(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{tail: "\n[limits]\nmin_free_bytes = 9223372036854775807\n"})
	r := mustRun(t, cli.ExitTempFail, bytes.NewReader(testdata(t, "report.eml")), "ingest", "--config", f.cfg, "--json")
	if !strings.Contains(r.stderr, "min_free_bytes") || r.stdout != "" {
		t.Errorf("ingest on a low disk: stdout %q, stderr %q; want nothing printed and the free-space reason", r.stdout, r.stderr)
	}
	st, err := store.Open(filepath.Join(f.dir, "mailbot.db"), store.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	err = st.View(func(tx *store.Tx) error {
		ids, err := tx.CasesByAddress("ada@research.example")
		if len(ids) != 0 {
			t.Errorf("cases = %v, want none", ids)
		}
		return err
	})
	if err != nil {
		t.Fatalf("CasesByAddress() = %v", err)
	}
}
