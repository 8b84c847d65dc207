package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"mailbot/mailbot/cli"
	"mailbot/mailbot/devmail"
	"mailbot/mailbot/pgp"
)

const (
	botAddr  = "security@example.org"
	reporter = "ada@research.example"
	password = "secret"
)

// syncBuffer is a bytes.Buffer that the daemon's goroutines and the test may
// use at the same time.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// result is what one cli.Run printed and returned.
type result struct {
	code           int
	stdout, stderr string
}

// run runs the command line in process with stdin and a 60 s bound.
func run(t *testing.T, stdin io.Reader, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr syncBuffer
	code := cli.Run(ctx, args, &cli.Env{Stdin: stdin, Stdout: &stdout, Stderr: &stderr,
		Getenv: func(string) string { return "" }})
	return result{code, stdout.String(), stderr.String()}
}

// mustRun runs args and fails the test unless the exit code is want.
func mustRun(t *testing.T, want int, stdin io.Reader, args ...string) result {
	t.Helper()
	r := run(t, stdin, args...)
	if r.code != want {
		t.Fatalf("Run(%q) = %d, want %d\nstdout:\n%s\nstderr:\n%s", args, r.code, want, r.stdout, r.stderr)
	}
	return r
}

// fixture is a configuration folder as an admin would have it: mailbot.toml,
// policy.toml, the password file and (unless noKey) the bot's key.
type fixture struct {
	dir  string
	cfg  string // path of mailbot.toml
	srv  *devmail.Server
	keys *pgp.Keyring // nil with noKey
}

type fixtureOpts struct {
	server bool   // start devmail and point imap and smtp at it
	noKey  bool   // keys.private is named but not written
	team   bool   // add teamTOML (team members get their own mail about each case)
	top    string // TOML placed before the first table
	tail   string // TOML placed at the end
}

func newFixture(t *testing.T, o fixtureOpts) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir()}
	f.cfg = filepath.Join(f.dir, "mailbot.toml")
	imapPort, smtpPort := "1143", "1587" // nothing listens there: no command here dials
	if o.server {
		srv, err := devmail.Start(devmail.Options{Domain: "example.org",
			Users: map[string]string{botAddr: password, reporter: password}})
		if err != nil {
			t.Fatalf("devmail.Start() = %v", err)
		}
		t.Cleanup(func() { srv.Close() })
		f.srv = srv
		_, imapPort, _ = strings.Cut(srv.IMAPAddr, ":")
		_, smtpPort, _ = strings.Cut(srv.SMTPAddr, ":")
	}
	pol, err := os.ReadFile("testdata/policy.toml")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(f.dir, "policy.toml"), pol, 0o644)
	writeFile(t, filepath.Join(f.dir, "password"), []byte(password+"\n"), 0o600)
	if !o.noKey {
		f.keys, err = pgp.Generate("Example Security Team", botAddr, pgp.Ed25519, time.Now())
		if err != nil {
			t.Fatalf("pgp.Generate() = %v", err)
		}
		var b bytes.Buffer
		if err := f.keys.WritePrivate(&b, nil); err != nil {
			t.Fatalf("WritePrivate() = %v", err)
		}
		writeFile(t, filepath.Join(f.dir, "bot-key.asc"), b.Bytes(), 0o600)
	}
	team := ""
	if o.team {
		team = teamTOML
	}
	cfg := fmt.Sprintf(`address = %q
name = "Example Security Team"
store = "mailbot.db"
policy = "policy.toml"
%s
[imap]
host = "127.0.0.1"
port = %s
tls = "none"
username = %q
password = { file = "password" }
mode = "fast"
fast_interval = "5ms"
resync_interval = "1s"
command_timeout = "5s"

[smtp]
host = "127.0.0.1"
port = %s
tls = "none"
username = %q
password = { file = "password" }
timeout = "5s"

[keys]
private = "bot-key.asc"

%s%s`, botAddr, o.top, imapPort, botAddr, smtpPort, botAddr, team, o.tail)
	writeFile(t, f.cfg, []byte(cfg), 0o640)
	return f
}

// teamTOML is the team of every fixture: two people, as duty needs.
const teamTOML = `
[[team]]
name = "Ann Example"
address = "ann@example.org"

[[team]]
name = "Bob Example"
address = "bob@example.org"
`

func writeFile(t *testing.T, path string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func testdata(t *testing.T, name string) []byte {
	t.Helper()
	return readFile(t, filepath.Join("testdata", name))
}

// ingestJSON is one line of `mailbot ingest --json`.
type ingestJSON struct {
	File    string `json:"file"`
	Case    string `json:"case"`
	Action  string `json:"action"`
	Class   string `json:"class"`
	Reason  string `json:"reason"`
	Message uint64 `json:"message"`
	Acks    int    `json:"acks"`
}

// decodeStream decodes every JSON value printed one after another, both
// into typed values and into raw objects (to check the field names).
func decodeStream(t *testing.T, out string) ([]ingestJSON, []map[string]any) {
	t.Helper()
	var typed []ingestJSON
	var raw []map[string]any
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var m json.RawMessage
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("decoding ingest output: %v\n%s", err, out)
		}
		var v ingestJSON
		var r map[string]any
		if err := json.Unmarshal(m, &v); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(m, &r); err != nil {
			t.Fatal(err)
		}
		typed = append(typed, v)
		raw = append(raw, r)
	}
	return typed, raw
}

// hasKeys fails the test for each golden key missing from obj: fields may be
// added to the JSON output, never renamed or removed (README, JSON reference).
func hasKeys(t *testing.T, what string, obj map[string]any, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if _, ok := obj[k]; !ok {
			got := make([]string, 0, len(obj))
			for g := range obj {
				got = append(got, g)
			}
			sort.Strings(got)
			t.Errorf("%s: field %q missing; have %v", what, k, got)
		}
	}
}

// lacksKeys fails the test for each key present in obj that must be absent.
func lacksKeys(t *testing.T, what string, obj map[string]any, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if _, ok := obj[k]; ok {
			t.Errorf("%s: field %q = %v, want it absent", what, k, obj[k])
		}
	}
}

// object returns v as a JSON object or fails.
func object(t *testing.T, what string, v any) map[string]any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%s = %T (%v), want a JSON object", what, v, v)
	}
	return m
}

// array returns v as a JSON array or fails.
func array(t *testing.T, what string, v any) []any {
	t.Helper()
	a, ok := v.([]any)
	if !ok {
		t.Fatalf("%s = %T (%v), want a JSON array", what, v, v)
	}
	return a
}

// refRE matches a case reference with the default prefix.
var refRE = regexp.MustCompile(`SEC-[0-9]{4}-[0-9]{4}`)

// decodeJSON decodes out into v or fails.
func decodeJSON(t *testing.T, out string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("json.Unmarshal() = %v\n%s", err, out)
	}
}
