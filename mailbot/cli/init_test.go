package cli_test

import (
	"bytes"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"mailbot/mailbot/cli"
	"mailbot/mailbot/pgp"
)

var initFiles = []struct {
	name string
	mode os.FileMode
}{
	{"mailbot.toml", 0o640},
	{"policy.toml", 0o644},
	{"bot-key.asc", 0o600},
	{"bot-key.pub.asc", 0o644},
}

func initArgs(dir string, extra ...string) []string {
	return append([]string{"init", "--dir", dir, "--address", botAddr,
		"--imap-host", "127.0.0.1", "--imap-tls", "none",
		"--smtp-host", "127.0.0.1", "--smtp-tls", "none"}, extra...)
}

func TestInitThenCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		extra []string
		// wantCfg are lines the written mailbot.toml must hold.
		wantCfg []string
		wantPol []string
	}{
		{"defaults", nil,
			[]string{`address = "security@example.org"`, `name = "Security Team"`, `port = 993`, `port = 587`,
				`username = "security@example.org"`, `password = { file = "password" }`, `private = "bot-key.asc"`},
			[]string{`organisation = "example.org"`, `languages = ["en"]`, `country = "DE"`, `time_zone = "Europe/Berlin"`}},
		{"every flag", []string{"--name", "ACME PSIRT", "--org", "ACME", "--imap-port", "1143", "--imap-user", "bot",
			"--smtp-port", "1587", "--smtp-user", "sender", "--auth", "login", "--lang", "de",
			"--country", "NL", "--timezone", "Europe/Amsterdam"},
			[]string{`name = "ACME PSIRT"`, `port = 1143`, `port = 1587`, `username = "bot"`, `username = "sender"`, `auth = "login"`},
			[]string{`organisation = "ACME"`, `languages = ["de"]`, `country = "NL"`, `time_zone = "Europe/Amsterdam"`}},
		{"region", []string{"--region", "BY"}, nil, []string{`region = "BY"`}},
		{"credential", []string{"--password-credential", "imap"}, []string{`password = { credential = "imap" }`}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "etc", "mailbot")
			r := mustRun(t, cli.ExitOK, nil, initArgs(dir, tt.extra...)...)
			for _, f := range initFiles {
				st, err := os.Stat(filepath.Join(dir, f.name))
				if err != nil {
					t.Fatalf("init did not write %s: %v", f.name, err)
				}
				if st.Mode().Perm() != f.mode {
					t.Errorf("%s mode = %v, want %v", f.name, st.Mode().Perm(), f.mode)
				}
			}
			cfg := string(readFile(t, filepath.Join(dir, "mailbot.toml")))
			for _, l := range tt.wantCfg {
				if !strings.Contains(cfg, "\n"+l+"\n") {
					t.Errorf("mailbot.toml lacks the line %q:\n%s", l, cfg)
				}
			}
			pol := string(readFile(t, filepath.Join(dir, "policy.toml")))
			for _, l := range tt.wantPol {
				if !strings.Contains(pol, "\n"+l+"\n") {
					t.Errorf("policy.toml lacks the line %q:\n%s", l, pol)
				}
			}

			// The key init printed is the one written, public and private.
			priv, err := pgp.ReadKeyring(bytes.NewReader(readFile(t, filepath.Join(dir, "bot-key.asc"))), nil)
			if err != nil {
				t.Fatalf("ReadKeyring(bot-key.asc) = %v", err)
			}
			fpr := priv.Fingerprint()
			if !strings.Contains(r.stdout, "fingerprint "+fpr) {
				t.Errorf("init stdout = %q, want the fingerprint %s", r.stdout, fpr)
			}
			pub, err := pgp.ParseKeys(readFile(t, filepath.Join(dir, "bot-key.pub.asc")))
			if err != nil || len(pub) != 1 {
				t.Fatalf("ParseKeys(bot-key.pub.asc) = %d keys, %v; want 1", len(pub), err)
			}
			if got := strings.ToUpper(fmtFpr(pub[0].PrimaryKey.Fingerprint)); got != strings.ToUpper(fpr) {
				t.Errorf("bot-key.pub.asc fingerprint = %s, want %s", got, fpr)
			}
			if pub[0].PrivateKey != nil {
				t.Errorf("bot-key.pub.asc holds a private key")
			}

			// The starter files work as written.
			writeFile(t, filepath.Join(dir, "password"), []byte("the mailbox password\n"), 0o600)
			c := mustRun(t, cli.ExitOK, nil, "check", "--config", filepath.Join(dir, "mailbot.toml"))
			if !strings.Contains(c.stdout, ": ok") || !strings.Contains(c.stdout, "key "+fpr) {
				t.Errorf("check stdout = %q, want ok with key %s", c.stdout, fpr)
			}
		})
	}
}

func fmtFpr(b []byte) string {
	const hex = "0123456789ABCDEF"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, hex[c>>4], hex[c&15])
	}
	return string(out)
}

func TestInitRefusesToOverwrite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mustRun(t, cli.ExitOK, nil, initArgs(dir)...)
	before := map[string][]byte{}
	for _, f := range initFiles {
		before[f.name] = readFile(t, filepath.Join(dir, f.name))
	}
	r := run(t, nil, initArgs(dir, "--address", "other@example.org")...)
	if r.code == cli.ExitOK {
		t.Fatalf("init again = %d, want a failure; stdout %q", r.code, r.stdout)
	}
	if !strings.Contains(r.stderr, "exists: not overwriting anything") {
		t.Errorf("init again stderr = %q, want it to refuse", r.stderr)
	}
	for _, f := range initFiles {
		if got := readFile(t, filepath.Join(dir, f.name)); !bytes.Equal(got, before[f.name]) {
			t.Errorf("init again changed %s", f.name)
		}
	}

	// One file is enough to refuse, and nothing else is written.
	dir2 := t.TempDir()
	writeFile(t, filepath.Join(dir2, "policy.toml"), []byte("# mine\n"), 0o644)
	r = run(t, nil, initArgs(dir2)...)
	if r.code == cli.ExitOK {
		t.Fatalf("init over policy.toml = %d, want a failure", r.code)
	}
	if got := string(readFile(t, filepath.Join(dir2, "policy.toml"))); got != "# mine\n" {
		t.Errorf("policy.toml = %q, want it untouched", got)
	}
	for _, name := range []string{"mailbot.toml", "bot-key.asc", "bot-key.pub.asc"} {
		if _, err := os.Stat(filepath.Join(dir2, name)); err == nil {
			t.Errorf("init that refused wrote %s", name)
		}
	}
}

func TestInitMissingFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name    string
		args    []string
		missing []string
	}{
		{"nothing", []string{"init"}, []string{"--dir", "--address", "--imap-host", "--smtp-host"}},
		{"no dir", []string{"init", "--address", botAddr, "--imap-host", "h", "--smtp-host", "h"}, []string{"--dir"}},
		{"no address", []string{"init", "--dir", dir, "--imap-host", "h", "--smtp-host", "h"}, []string{"--address"}},
		{"no imap host", []string{"init", "--dir", dir, "--address", botAddr, "--smtp-host", "h"}, []string{"--imap-host"}},
		{"no smtp host", []string{"init", "--dir", dir, "--address", botAddr, "--imap-host", "h"}, []string{"--smtp-host"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustRun(t, cli.ExitUsage, nil, tt.args...)
			for _, m := range tt.missing {
				if !strings.Contains(r.stderr, m) {
					t.Errorf("init stderr = %q, want it to name %s", r.stderr, m)
				}
			}
		})
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("init with missing flags wrote %d files into %s", len(entries), dir)
	}
	if r := run(t, nil, "init", "--imap-port", "many"); r.code != cli.ExitUsage {
		t.Errorf("init --imap-port many = %d, want %d", r.code, cli.ExitUsage)
	}
}

// TestInitSystem: --system writes the layout the shipped unit runs: the
// store in the state directory, the password from the unit's credential,
// everything readable by the service's group and nobody else, but the
// private key, which only the service's user reads.
func TestInitSystem(t *testing.T) {
	g, err := user.LookupGroupId(strconv.Itoa(os.Getgid()))
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	dir, state := filepath.Join(root, "etc/mailbot"), filepath.Join(root, "var/lib/mailbot")
	u, err := user.LookupId(strconv.Itoa(os.Getuid()))
	if err != nil {
		t.Fatal(err)
	}
	mustRun(t, cli.ExitOK, nil, "init", "--system", "--dir", dir, "--state-dir", state, "--group", g.Name, "--user", u.Username,
		"--address", "security@example.org", "--imap-host", "imap.example.org", "--smtp-host", "smtp.example.org")
	cfg := string(readFile(t, filepath.Join(dir, "mailbot.toml")))
	for _, want := range []string{fmt.Sprintf("store = %q", filepath.Join(state, "mailbot.db")), `password = { credential = "imap-password" }`} {
		if !strings.Contains(cfg, want) {
			t.Errorf("mailbot.toml lacks %q:\n%s", want, cfg)
		}
	}
	for name, want := range map[string]os.FileMode{"": 0o750 | os.ModeDir, "mailbot.toml": 0o640, "policy.toml": 0o640, "bot-key.asc": 0o600} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s mode = %v, want %v", filepath.Join(dir, name), fi.Mode(), want)
		}
		if gid := fi.Sys().(*syscall.Stat_t).Gid; fmt.Sprint(gid) != g.Gid {
			t.Errorf("%s group = %d, want %s", name, gid, g.Gid)
		}
	}
	if uid := fileOwner(t, filepath.Join(dir, "bot-key.asc")); fmt.Sprint(uid) != u.Uid {
		t.Errorf("bot-key.asc owner = %d, want the service user %s", uid, u.Uid)
	}
	// What the unit will run first: the key's mode passes the check.
	mustRun(t, cli.ExitOK, nil, "keys", "list", "--config", filepath.Join(dir, "mailbot.toml"))
}

func fileOwner(t *testing.T, path string) uint32 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Uid
}
