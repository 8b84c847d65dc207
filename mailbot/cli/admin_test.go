package cli_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"mailbot/mailbot/cli"
	"mailbot/store"
)

// Golden field names of the JSON reference in README.md. Fields may be added,
// never renamed or removed: a rename must fail here.
var (
	summaryKeys = []string{"id", "ref", "status", "subject", "reporter", "language", "created", "updated", "messages"}
	caseKeys    = []string{"id", "ref", "status", "subject", "reporter", "language", "created", "updated",
		"participants", "clocks", "messages", "events", "outbox"}
	clockKeys   = []string{"name", "state", "started", "due"}
	messageKeys = []string{"id", "direction", "class", "reason", "from", "to", "subject", "message_id", "received",
		"size", "sha256", "encrypted", "signed", "signature_valid"}
	attachmentKeys = []string{"name", "content_type", "size", "sha256"}
	eventKeys      = []string{"time", "kind", "actor", "detail"}
	outboxKeys     = []string{"id", "case", "kind", "message_id", "to", "state", "attempts", "created"}
)

// twoCases ingests report.eml and sends its acknowledgement, then
// report-attachment.eml whose acknowledgement stays queued. It returns the
// two case refs.
func twoCases(t *testing.T, f *fixture) (sent, queued string) {
	t.Helper()
	r := mustRun(t, cli.ExitOK, bytes.NewReader(testdata(t, "report.eml")), "ingest", "--config", f.cfg, "--json", "--send")
	a, _ := decodeStream(t, r.stdout)
	r = mustRun(t, cli.ExitOK, bytes.NewReader(testdata(t, "report-attachment.eml")), "ingest", "--config", f.cfg, "--json")
	b, _ := decodeStream(t, r.stdout)
	if len(a) != 1 || len(b) != 1 || a[0].Case == "" || b[0].Case == "" || a[0].Case == b[0].Case {
		t.Fatalf("ingest = %+v and %+v, want two new cases", a, b)
	}
	return a[0].Case, b[0].Case
}

func TestCasesJSON(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{server: true})
	ref1, ref2 := twoCases(t, f)
	r := mustRun(t, cli.ExitOK, nil, "cases", "--config", f.cfg, "--json")

	var typed []cli.CaseSummary
	decodeJSON(t, r.stdout, &typed)
	var raw []map[string]any
	decodeJSON(t, r.stdout, &raw)
	if len(typed) != 2 || len(raw) != 2 {
		t.Fatalf("cases --json has %d cases, want 2:\n%s", len(typed), r.stdout)
	}
	for i, c := range raw {
		hasKeys(t, "cases --json["+strconv.Itoa(i)+"]", c, summaryKeys...)
	}
	byRef := map[string]cli.CaseSummary{}
	for _, c := range typed {
		byRef[c.Ref] = c
	}
	tests := []struct {
		ref, reporter, subject string
	}{
		{ref1, reporter, "Stored XSS in the profile page"},
		{ref2, "grace@research.example", "SQL injection in the login form"},
	}
	for _, tt := range tests {
		c, ok := byRef[tt.ref]
		if !ok {
			t.Errorf("cases --json lacks %s", tt.ref)
			continue
		}
		if c.ID == 0 || c.Status != "new" || c.Reporter != tt.reporter || c.Subject != tt.subject ||
			c.Language != "en" || c.Messages != 1 || c.Created.IsZero() || c.Updated.Before(c.Created) {
			t.Errorf("cases --json %s = %+v, want a new case of %s with 1 message", tt.ref, c, tt.reporter)
		}
		if time.Since(c.Created) > time.Hour || time.Since(c.Created) < 0 {
			t.Errorf("cases --json %s created = %v, want about now", tt.ref, c.Created)
		}
	}

	// Text form: one row per case.
	r = mustRun(t, cli.ExitOK, nil, "cases", "--config", f.cfg)
	for _, ref := range []string{ref1, ref2} {
		if !strings.Contains(r.stdout, ref+" ") {
			t.Errorf("cases stdout = %q, want a row for %s", r.stdout, ref)
		}
	}
}

func TestCasesEmpty(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	r := mustRun(t, cli.ExitOK, nil, "cases", "--config", f.cfg, "--json")
	if strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("cases --json on an empty store = %q, want []", r.stdout)
	}
	r = mustRun(t, cli.ExitOK, nil, "outbox", "--config", f.cfg, "--json")
	if strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("outbox --json on an empty store = %q, want []", r.stdout)
	}
}

func TestCaseJSON(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{server: true})
	ref1, ref2 := twoCases(t, f)

	byRef := mustRun(t, cli.ExitOK, nil, "case", "--config", f.cfg, "--json", ref2)
	var v cli.CaseView
	decodeJSON(t, byRef.stdout, &v)
	byNum := mustRun(t, cli.ExitOK, nil, "case", "--config", f.cfg, "--json", strconv.FormatUint(v.ID, 10))
	if byNum.stdout != byRef.stdout {
		t.Errorf("case --json %d differs from case --json %s:\n%s\nvs\n%s", v.ID, ref2, byNum.stdout, byRef.stdout)
	}

	// Typed view.
	if v.Ref != ref2 || v.Reporter != "grace@research.example" || v.Status != "new" {
		t.Errorf("case --json = ref %s reporter %s status %s, want %s grace@research.example new", v.Ref, v.Reporter, v.Status, ref2)
	}
	if len(v.Participants) != 1 || v.Participants[0] != "grace@research.example" {
		t.Errorf("participants = %q, want [grace@research.example]", v.Participants)
	}
	if len(v.Clocks) != 2 || v.Clocks[0].Name != "confirm" || v.Clocks[1].Name != "assess" {
		t.Fatalf("clocks = %+v, want confirm and assess from the policy", v.Clocks)
	}
	for _, c := range v.Clocks {
		if c.State != "running" || !c.Due.After(c.Started) || c.Stopped != nil {
			t.Errorf("clock %s = %+v, want running, due after started, not stopped", c.Name, c)
		}
	}
	if len(v.Timeline) != 1 {
		t.Fatalf("messages = %+v, want the report", v.Timeline)
	}
	m := v.Timeline[0]
	raw := testdata(t, "report-attachment.eml")
	sum := sha256.Sum256(raw)
	if m.Direction != "in" || m.Class != "report" || m.From != "grace@research.example" ||
		m.MessageID != "cli-report-2@research.example" || m.Size != int64(len(raw)) || m.Hash != hex.EncodeToString(sum[:]) ||
		len(m.To) != 1 || m.To[0] != botAddr || m.Encrypted || m.Signed {
		t.Errorf("message = %+v, want the incoming report as stored", m)
	}
	att := []byte("POST /login HTTP/1.1\nHost: app.example.org\n\nuser=' OR 1=1 --&pass=x\n")
	asum := sha256.Sum256(att)
	if len(m.Attachments) != 1 || m.Attachments[0].Name != "request.txt" || m.Attachments[0].Size != int64(len(att)) ||
		m.Attachments[0].Hash != hex.EncodeToString(asum[:]) || !strings.HasPrefix(m.Attachments[0].ContentType, "text/plain") {
		t.Errorf("attachments = %+v, want request.txt, %d bytes", m.Attachments, len(att))
	}
	kinds := map[string]bool{}
	for _, e := range v.Events {
		kinds[e.Kind] = true
	}
	for _, k := range []string{"case.opened", "ack.queued"} {
		if !kinds[k] {
			t.Errorf("events = %+v, want a %s", v.Events, k)
		}
	}
	if len(v.Outbox) != 1 || v.Outbox[0].State != "queued" || v.Outbox[0].Case != ref2 || v.Outbox[0].Kind != "ack" ||
		len(v.Outbox[0].To) != 1 || v.Outbox[0].To[0] != "grace@research.example" || v.Outbox[0].NextAttempt == nil {
		t.Errorf("outbox = %+v, want one queued ack to grace", v.Outbox)
	}

	// Field names, from the raw JSON.
	var obj map[string]any
	decodeJSON(t, byRef.stdout, &obj)
	hasKeys(t, "case --json", obj, caseKeys...)
	for i, c := range array(t, "clocks", obj["clocks"]) {
		c := object(t, "clocks[i]", c)
		hasKeys(t, "clocks["+strconv.Itoa(i)+"]", c, clockKeys...)
		lacksKeys(t, "running clock", c, "stopped")
	}
	msgs := array(t, "messages", obj["messages"])
	if len(msgs) != 1 {
		t.Fatalf("case --json messages = %v, want 1 message", msgs)
	}
	msg := object(t, "messages[0]", msgs[0])
	hasKeys(t, "messages[0]", msg, messageKeys...)
	hasKeys(t, "messages[0].attachments[0]", object(t, "attachment", array(t, "attachments", msg["attachments"])[0]), attachmentKeys...)
	for i, e := range array(t, "events", obj["events"]) {
		hasKeys(t, "events["+strconv.Itoa(i)+"]", object(t, "event", e), eventKeys...)
	}
	ob := object(t, "outbox[0]", array(t, "outbox", obj["outbox"])[0])
	hasKeys(t, "case outbox[0]", ob, outboxKeys...)
	hasKeys(t, "queued outbox item", ob, "next_attempt")
	lacksKeys(t, "queued outbox item", ob, "sent_at")

	// The case whose ack went out.
	r := mustRun(t, cli.ExitOK, nil, "case", "--config", f.cfg, "--json", ref1)
	var v1 cli.CaseView
	decodeJSON(t, r.stdout, &v1)
	if len(v1.Outbox) != 1 || v1.Outbox[0].State != "sent" || v1.Outbox[0].SentAt == nil || v1.Outbox[0].NextAttempt != nil {
		t.Errorf("case %s outbox = %+v, want one sent item", ref1, v1.Outbox)
	}
	sentEvent := false
	for _, e := range v1.Events {
		sentEvent = sentEvent || e.Kind == "outbox.sent"
	}
	if !sentEvent {
		t.Errorf("case %s events = %+v, want outbox.sent", ref1, v1.Events)
	}
}

func TestCaseText(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{server: true})
	ref1, _ := twoCases(t, f)
	r := mustRun(t, cli.ExitOK, nil, "case", "--config", f.cfg, ref1)
	for _, want := range []string{ref1 + "  new  Stored XSS in the profile page", "reporter: " + reporter,
		"clock confirm", "clock assess", "message 1 in report from " + reporter, "event   case.opened", "outbox  1 ack to " + reporter + ": sent"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("case stdout lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestCaseErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	mustRun(t, cli.ExitOK, bytes.NewReader(testdata(t, "report.eml")), "ingest", "--config", f.cfg)
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no id", []string{"case", "--config", f.cfg}, cli.ExitUsage, "want one case id"},
		{"two ids", []string{"case", "--config", f.cfg, "1", "2"}, cli.ExitUsage, "want one case id"},
		{"unknown number", []string{"case", "--config", f.cfg, "99"}, cli.ExitFailure, "case not found"},
		{"unknown ref", []string{"case", "--config", f.cfg, "SEC-1999-0042"}, cli.ExitFailure, "case not found"},
		{"no config", []string{"case", "1"}, cli.ExitUsage, "--config is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustRun(t, tt.code, nil, tt.args...)
			if !strings.Contains(r.stderr, tt.want) {
				t.Errorf("Run(%q) stderr = %q, want it to contain %q", tt.args, r.stderr, tt.want)
			}
		})
	}
}

func TestOutboxJSON(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{server: true})
	ref1, ref2 := twoCases(t, f)
	r := mustRun(t, cli.ExitOK, nil, "outbox", "--config", f.cfg, "--json")
	var typed []cli.OutboxView
	decodeJSON(t, r.stdout, &typed)
	var raw []map[string]any
	decodeJSON(t, r.stdout, &raw)
	if len(typed) != 2 {
		t.Fatalf("outbox --json has %d items, want 2:\n%s", len(typed), r.stdout)
	}
	sent := f.srv.Sent()
	if len(sent) != 1 {
		t.Fatalf("devmail got %d mails, want 1", len(sent))
	}
	for i, o := range typed {
		hasKeys(t, "outbox --json["+strconv.Itoa(i)+"]", raw[i], outboxKeys...)
		if o.ID == 0 || o.Kind != "ack" || o.MessageID == "" || len(o.To) != 1 || o.Created.IsZero() {
			t.Errorf("outbox item %+v, want an ack with id, message id, one recipient", o)
		}
		switch o.Case {
		case ref1:
			if o.State != "sent" || o.Attempts != 1 || o.SentAt == nil || o.NextAttempt != nil || o.LastError != "" {
				t.Errorf("outbox item of %s = %+v, want sent after 1 attempt", ref1, o)
			}
			if !bytes.Contains(sent[0].Data, []byte("<"+o.MessageID+">")) {
				t.Errorf("outbox message_id %s is not the sent mail's Message-ID", o.MessageID)
			}
			hasKeys(t, "sent item", raw[i], "sent_at")
			lacksKeys(t, "sent item", raw[i], "next_attempt")
		case ref2:
			if o.State != "queued" || o.Attempts != 0 || o.SentAt != nil || o.NextAttempt == nil {
				t.Errorf("outbox item of %s = %+v, want queued, not tried", ref2, o)
			}
			hasKeys(t, "queued item", raw[i], "next_attempt")
			lacksKeys(t, "queued item", raw[i], "sent_at")
		default:
			t.Errorf("outbox item on case %q, want %s or %s", o.Case, ref1, ref2)
		}
	}

	r = mustRun(t, cli.ExitOK, nil, "outbox", "--config", f.cfg)
	for _, want := range []string{ref1 + "  ack   sent", ref2 + "  ack   queued"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("outbox stdout lacks %q:\n%s", want, r.stdout)
		}
	}
}

// While the daemon holds the store, the read commands say so and exit 1.
func TestReadCommandsLockedStore(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	st, err := store.Open(filepath.Join(f.dir, "mailbot.db"), store.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("store.Open() = %v", err)
	}
	defer st.Close()
	r := mustRun(t, cli.ExitFailure, nil, "cases", "--config", f.cfg, "--json")
	if r.stdout != "" || !strings.Contains(r.stderr, "database is in use") || !strings.Contains(r.stderr, "mailbot run") {
		t.Errorf("cases on a locked store: stdout %q stderr %q, want only the lock named on stderr", r.stdout, r.stderr)
	}
}
