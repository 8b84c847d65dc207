package cli_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"mailbot/mailbot/cli"
)

func TestCheckGoodConfig(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{team: true})
	r := mustRun(t, cli.ExitOK, nil, "check", "--config", f.cfg)
	fpr := f.keys.Fingerprint()
	if fpr == "" {
		t.Fatal("Fingerprint() is empty")
	}
	for _, want := range []string{f.cfg + ": ok", "policy " + filepath.Join(f.dir, "policy.toml"), "templates", "key " + fpr} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("check stdout = %q, want it to contain %q", r.stdout, want)
		}
	}
	if r.stderr != "" {
		t.Errorf("check stderr = %q, want nothing (key and team are configured)", r.stderr)
	}
}

func TestCheckWarnsWithoutTeam(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	r := mustRun(t, cli.ExitOK, nil, "check", "--config", f.cfg)
	if !strings.Contains(r.stderr, "warning: no team members configured") {
		t.Errorf("check stderr = %q, want the no-team warning", r.stderr)
	}
}

// problemRE is the documented form of a problem: file:line: key: what.
var problemRE = regexp.MustCompile(`^(.+):([0-9]+): ([a-z_][a-z0-9_.\[\]]*): (.+)$`)

func TestCheckBadConfigListsEveryProblem(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "mailbot.toml")
	writeFile(t, cfg, []byte(`address = "not an address"
log_level = "loud"
colour = "blue"
[imap]
host = "imap.example.org"
tls = "none"
username = "security@example.org"
password = { file = "password" }
mode = "push"
[smtp]
host = "127.0.0.1"
port = 70000
username = "u"
auth = "cram-md5"
[[team]]
name = ""
address = "ann"
[[team]]
name = "Bob Example"
address = "bob@example.org"
`), 0o640)
	want := []struct {
		line int
		key  string
		what string
	}{
		{1, "address", `not an email address: "not an address"`},
		{2, "log_level", `must be debug, info, warn or error, got "loud"`},
		{3, "colour", "unknown key"},
		{6, "imap.tls", `"none" is allowed only for a loopback IP address`},
		{9, "imap.mode", `must be idle, poll or fast, got "push"`},
		{10, "smtp.password", "required"}, // not written: the line of its table
		{12, "smtp.port", "must be 1 to 65535, got 70000"},
		{14, "smtp.auth", `must be plain, login or xoauth2, got "cram-md5"`},
		{16, "team[0].name", "required"},
		{17, "team[0].address", `not an email address: "ann"`},
	}
	r := mustRun(t, cli.ExitUsage, nil, "check", "--config", cfg)
	if r.stdout != "" {
		t.Errorf("check stdout = %q, want nothing for a bad config", r.stdout)
	}
	lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
	for _, l := range lines {
		if m := problemRE.FindStringSubmatch(l); m == nil || m[1] != cfg {
			t.Errorf("check stderr line %q is not %s:line: key: what", l, cfg)
		}
	}
	for _, w := range want {
		prefix := fmt.Sprintf("%s:%d: %s: %s", cfg, w.line, w.key, w.what)
		found := false
		for _, l := range lines {
			found = found || strings.HasPrefix(l, prefix)
		}
		if !found {
			t.Errorf("check stderr lacks %q; got:\n%s", prefix, r.stderr)
		}
	}
	if len(lines) != len(want) {
		t.Errorf("check printed %d problems, want %d:\n%s", len(lines), len(want), r.stderr)
	}
}

// lineOf is the 1-based line of the n-th (from 0) line of text equal to s.
func lineOf(t *testing.T, text, s string, n int) int {
	t.Helper()
	for i, l := range strings.Split(text, "\n") {
		if l == s {
			if n == 0 {
				return i + 1
			}
			n--
		}
	}
	t.Fatalf("line %q not found", s)
	return 0
}

func TestCheckBadPolicy(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	pol := filepath.Join(f.dir, "policy.toml")
	text := string(readFile(t, pol))
	startLine := lineOf(t, text, `start = "report.received"`, 0)
	stopLine := lineOf(t, text, `stop = ["team.replied"]`, 0)
	text = strings.Replace(text, `start = "report.received"`, `start = "report.recieved"`, 1)
	text = strings.Replace(text, `stop = ["team.replied"]`, `stop = ["team.reply"]`, 1)
	writeFile(t, pol, []byte(text), 0o644)

	r := mustRun(t, cli.ExitUsage, nil, "check", "--config", f.cfg)
	for _, want := range []string{
		fmt.Sprintf(`%s:%d: commitments[0].start: unknown event "report.recieved"`, pol, startLine),
		fmt.Sprintf(`%s:%d: commitments[0].stop: unknown event "team.reply"`, pol, stopLine),
	} {
		if !strings.Contains(r.stderr, want+"\n") {
			t.Errorf("check stderr = %q, want the line %q", r.stderr, want)
		}
	}
	if strings.Contains(r.stdout, "ok") {
		t.Errorf("check stdout = %q, want no ok for a bad policy", r.stdout)
	}
}

func TestCheckTemplates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files map[string]string // under the templates folder; nil: no folder
		code  int
		want  string // on stderr (exit 2) or stdout (exit 0)
	}{
		{"missing folder", nil, cli.ExitUsage, "templates:"},
		{"unterminated action", map[string]string{"en/ack.tmpl": `{{define "subject"}}[{{.CaseRef}] Received{{end}}{{define "body"}}x{{end}}`},
			cli.ExitUsage, filepath.Join("tmpl", "en", "ack.tmpl")},
		{"no body", map[string]string{"de/damaged.tmpl": `{{define "subject"}}Beschädigt{{end}}`},
			cli.ExitUsage, filepath.Join("tmpl", "de", "damaged.tmpl")},
		{"good override", map[string]string{"en/ack.tmpl": `{{define "subject"}}[{{.CaseRef}}] Thanks{{end}}{{define "body"}}We got it.{{end}}`},
			cli.ExitOK, ": ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, fixtureOpts{top: `templates = "tmpl"`})
			for name, content := range tt.files {
				writeFile(t, filepath.Join(f.dir, "tmpl", name), []byte(content), 0o644)
			}
			r := mustRun(t, tt.code, nil, "check", "--config", f.cfg)
			out := r.stderr
			if tt.code == cli.ExitOK {
				out = r.stdout
			}
			if !strings.Contains(out, tt.want) {
				t.Errorf("check output = %q, want it to contain %q", out, tt.want)
			}
		})
	}
}

// securityTxt is a minimal RFC 9116 file expiring at exp.
func securityTxt(exp time.Time) []byte {
	return []byte("Contact: mailto:security@example.org\nExpires: " + exp.UTC().Format(time.RFC3339) + "\n")
}

func TestCheckSecurityTxt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		expires time.Duration
		code    int
		warn    bool
	}{
		{"half a year ahead", 180 * 24 * time.Hour, cli.ExitOK, false},
		{"expires in 10 days", 10 * 24 * time.Hour, cli.ExitOK, true},
		{"expires in 29 days", 29 * 24 * time.Hour, cli.ExitOK, true},
		{"expired", -24 * time.Hour, cli.ExitUsage, false},
		{"more than a year ahead", 400 * 24 * time.Hour, cli.ExitUsage, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, fixtureOpts{top: `security_txt = "security.txt"`})
			txt := filepath.Join(f.dir, "security.txt")
			writeFile(t, txt, securityTxt(time.Now().Add(tt.expires)), 0o644)
			r := mustRun(t, tt.code, nil, "check", "--config", f.cfg)
			warned := strings.Contains(r.stderr, "warning: "+txt+": ") && strings.Contains(r.stderr, "expires soon")
			if warned != tt.warn {
				t.Errorf("check stderr = %q, warned about %s: %v, want %v", r.stderr, txt, warned, tt.warn)
			}
			if tt.code != cli.ExitOK && !strings.Contains(r.stderr, txt) {
				t.Errorf("check stderr = %q, want it to name %s", r.stderr, txt)
			}
		})
	}
}

func TestCheckSecurityTxtMissingFile(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{top: `security_txt = "nowhere.txt"`})
	r := mustRun(t, cli.ExitUsage, nil, "check", "--config", f.cfg)
	if !strings.Contains(r.stderr, f.cfg+": security_txt: ") {
		t.Errorf("check stderr = %q, want it to name %s and security_txt", r.stderr, f.cfg)
	}
}

func TestCheckBrokenKeyAndEverythingElse(t *testing.T) {
	t.Parallel()
	// Policy, templates and key are all checked: one run lists all three.
	f := newFixture(t, fixtureOpts{top: `templates = "tmpl"`})
	pol := filepath.Join(f.dir, "policy.toml")
	writeFile(t, pol, []byte(strings.Replace(string(readFile(t, pol)), `start = "report.received"`, `start = "report.recieved"`, 1)), 0o644)
	writeFile(t, filepath.Join(f.dir, "tmpl", "en", "ack.tmpl"), []byte(`{{define "subject"}}{{if}}{{end}}`), 0o644)
	writeFile(t, filepath.Join(f.dir, "bot-key.asc"), []byte("-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nbroken\n"), 0o600)
	r := mustRun(t, cli.ExitUsage, nil, "check", "--config", f.cfg)
	for _, want := range []string{pol + ":", filepath.Join("tmpl", "en", "ack.tmpl"), f.cfg + ": keys.private: "} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("check stderr = %q, want it to contain %q", r.stderr, want)
		}
	}
}

func TestCheckUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no config flag", []string{"check"}, cli.ExitUsage, "--config is required"},
		{"missing file", []string{"check", "--config", "/nonexistent/mailbot.toml"}, cli.ExitUsage, "/nonexistent/mailbot.toml"},
		{"unknown flag", []string{"check", "--bogus"}, cli.ExitUsage, "flag provided but not defined: -bogus"},
		{"help", []string{"check", "-h"}, cli.ExitOK, "-config"},
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

// TestCheckPrivateKeyMode is issue 15 attack 7: the bot's private key file
// mode was never checked (password files were). Readable by group or
// others, check refuses it, as it refuses such a password file.
func TestCheckPrivateKeyMode(t *testing.T) {
	t.Parallel()
	for _, mode := range []os.FileMode{0o640, 0o604, 0o644} {
		f := newFixture(t, fixtureOpts{team: true})
		key := filepath.Join(f.dir, "bot-key.asc")
		if err := os.Chmod(key, mode); err != nil {
			t.Fatal(err)
		}
		r := mustRun(t, cli.ExitUsage, nil, "check", "--config", f.cfg)
		want := fmt.Sprintf("%s: keys.private: auth: secret file %s: mode %04o lets group or others read it: chmod 600 it", f.cfg, key, mode)
		if !strings.Contains(r.stderr, want) {
			t.Errorf("check with the key %04o: stderr = %q, want %q", mode, r.stderr, want)
		}
	}
	f := newFixture(t, fixtureOpts{team: true})
	if err := os.Chmod(filepath.Join(f.dir, "bot-key.asc"), 0o400); err != nil {
		t.Fatal(err)
	}
	mustRun(t, cli.ExitOK, nil, "check", "--config", f.cfg)
}

// TestCheckLoopbackMeansIPLiteral is issue 15 attack 7: "localhost" was
// accepted where a loopback address is required (tls = "none"); a name may
// resolve elsewhere, so only 127.0.0.0/8 and ::1 are.
func TestCheckLoopbackMeansIPLiteral(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{team: true})
	cfg := strings.Replace(string(readFile(t, f.cfg)), `host = "127.0.0.1"`, `host = "localhost"`, 1)
	writeFile(t, f.cfg, []byte(cfg), 0o640)
	r := mustRun(t, cli.ExitUsage, nil, "check", "--config", f.cfg)
	want := `imap.tls: "none" is allowed only for a loopback IP address, use implicit or starttls: use 127.0.0.1 or ::1 rather than "localhost"`
	if !strings.Contains(r.stderr, want) {
		t.Errorf("check stderr = %q, want %q", r.stderr, want)
	}
}
