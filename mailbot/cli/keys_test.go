package cli_test

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailbot/mailbot/cli"
	"mailbot/mailbot/pgp"
)

func TestKeysGenerateListExport(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		passphrase bool
	}{
		{"plain", false},
		{"with passphrase", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, fixtureOpts{noKey: true})
			if tt.passphrase {
				writeFile(t, filepath.Join(f.dir, "key.pass"), []byte("correct horse\n"), 0o600)
				cfg := strings.Replace(string(readFile(t, f.cfg)), "private = \"bot-key.asc\"\n",
					"private = \"bot-key.asc\"\npassphrase = { file = \"key.pass\" }\n", 1)
				writeFile(t, f.cfg, []byte(cfg), 0o640)
			}
			keyFile := filepath.Join(f.dir, "bot-key.asc")

			gen := mustRun(t, cli.ExitOK, nil, "keys", "generate", "--config", f.cfg)
			priv := readFile(t, keyFile)
			_, err := pgp.ReadKeyring(bytes.NewReader(priv), nil)
			if tt.passphrase && err == nil {
				t.Errorf("ReadKeyring(bot-key.asc) without passphrase = nil error, want the key encrypted")
			}
			pass := []byte(nil)
			if tt.passphrase {
				pass = []byte("correct horse")
			}
			k, err := pgp.ReadKeyring(bytes.NewReader(priv), pass)
			if err != nil {
				t.Fatalf("ReadKeyring(bot-key.asc) = %v", err)
			}
			fpr := k.Fingerprint()
			if gen.stdout != keyFile+": key "+fpr+"\n" {
				t.Errorf("keys generate stdout = %q, want %q", gen.stdout, keyFile+": key "+fpr+"\n")
			}

			list := mustRun(t, cli.ExitOK, nil, "keys", "list", "--config", f.cfg)
			for _, want := range []string{fpr, botAddr, "Example Security Team", "  created "} {
				if !strings.Contains(list.stdout, want) {
					t.Errorf("keys list stdout = %q, want it to contain %q", list.stdout, want)
				}
			}

			exp := mustRun(t, cli.ExitOK, nil, "keys", "export", "--config", f.cfg)
			if !strings.HasPrefix(exp.stdout, "-----BEGIN PGP PUBLIC KEY BLOCK-----") {
				t.Errorf("keys export stdout starts %q, want an armored public key", firstLine(exp.stdout))
			}
			if strings.Contains(exp.stdout, "PRIVATE KEY") {
				t.Errorf("keys export printed a private key block")
			}
			pub, err := pgp.ParseKeys([]byte(exp.stdout))
			if err != nil || len(pub) != 1 {
				t.Fatalf("ParseKeys(export) = %d keys, %v; want 1", len(pub), err)
			}
			if got := fmtFpr(pub[0].PrimaryKey.Fingerprint); got != fpr {
				t.Errorf("exported key fingerprint = %s, want %s", got, fpr)
			}
			if pgp.KeyForAddress(pub, botAddr) == nil {
				t.Errorf("KeyForAddress(export, %s) = nil, want the bot's key", botAddr)
			}

			out := filepath.Join(t.TempDir(), "pub.asc")
			mustRun(t, cli.ExitOK, nil, "keys", "export", "--config", f.cfg, "--out", out)
			if got := string(readFile(t, out)); got != exp.stdout {
				t.Errorf("keys export --out wrote %q, want what stdout got", firstLine(got))
			}

			// Again without --force: refused, the key untouched.
			again := run(t, nil, "keys", "generate", "--config", f.cfg)
			if again.code == cli.ExitOK || !strings.Contains(again.stderr, "--force") {
				t.Errorf("keys generate again = %d, stderr %q; want a refusal naming --force", again.code, again.stderr)
			}
			if !bytes.Equal(readFile(t, keyFile), priv) {
				t.Errorf("keys generate without --force changed %s", keyFile)
			}

			// With --force: a new key, the old one kept as .old.
			forced := mustRun(t, cli.ExitOK, nil, "keys", "generate", "--config", f.cfg, "--force")
			if strings.Contains(forced.stdout, fpr) {
				t.Errorf("keys generate --force stdout = %q, want a new fingerprint", forced.stdout)
			}
			if !bytes.Equal(readFile(t, keyFile+".old"), priv) {
				t.Errorf("keys generate --force did not keep the old key as %s.old", keyFile)
			}
		})
	}
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

func TestKeysImport(t *testing.T) {
	t.Parallel()
	k, err := pgp.Generate("Imported Key", botAddr, pgp.Ed25519, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var priv, pub bytes.Buffer
	if err := k.WritePrivate(&priv, nil); err != nil {
		t.Fatal(err)
	}
	if err := k.WritePublic(&pub); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "exported.asc")
	writeFile(t, src, priv.Bytes(), 0o600)

	tests := []struct {
		name  string
		stdin []byte
		arg   string
	}{
		{"from a file", nil, src},
		{"from stdin", priv.Bytes(), "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, fixtureOpts{noKey: true})
			r := mustRun(t, cli.ExitOK, bytes.NewReader(tt.stdin), "keys", "import", "--config", f.cfg, tt.arg)
			if !strings.Contains(r.stdout, k.Fingerprint()) {
				t.Errorf("keys import stdout = %q, want the fingerprint %s", r.stdout, k.Fingerprint())
			}
			list := mustRun(t, cli.ExitOK, nil, "keys", "list", "--config", f.cfg)
			if !strings.Contains(list.stdout, k.Fingerprint()) || !strings.Contains(list.stdout, "Imported Key") {
				t.Errorf("keys list after import = %q, want %s", list.stdout, k.Fingerprint())
			}
			c := mustRun(t, cli.ExitOK, nil, "check", "--config", f.cfg)
			if !strings.Contains(c.stdout, "key "+k.Fingerprint()) {
				t.Errorf("check after import = %q, want key %s", c.stdout, k.Fingerprint())
			}
			// Importing over the key needs --force too.
			if r := run(t, nil, "keys", "import", "--config", f.cfg, src); r.code == cli.ExitOK {
				t.Errorf("keys import over an existing key = %d, want a refusal", r.code)
			}
		})
	}

	// A public key is no private key: refused, nothing written.
	f := newFixture(t, fixtureOpts{noKey: true})
	pubFile := filepath.Join(t.TempDir(), "pub.asc")
	writeFile(t, pubFile, pub.Bytes(), 0o644)
	if r := run(t, nil, "keys", "import", "--config", f.cfg, pubFile); r.code == cli.ExitOK {
		t.Errorf("keys import of a public key = %d, want a failure", r.code)
	}
	if r := run(t, nil, "keys", "list", "--config", f.cfg); r.code == cli.ExitOK {
		t.Errorf("keys list after a refused import = %d, stdout %q; want no key", r.code, r.stdout)
	}
}

func TestKeysUsage(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{noKey: true})
	noKeyCfg := filepath.Join(t.TempDir(), "mailbot.toml")
	writeFile(t, noKeyCfg, []byte(strings.Replace(string(readFile(t, f.cfg)), "private = \"bot-key.asc\"\n", "", 1)), 0o640)
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no subcommand", []string{"keys"}, cli.ExitUsage, "want generate, import, export or list"},
		{"unknown subcommand", []string{"keys", "rotate", "--config", f.cfg}, cli.ExitUsage, `unknown subcommand "rotate"`},
		{"no config", []string{"keys", "list"}, cli.ExitUsage, "--config is required"},
		{"keys.private unset", []string{"keys", "generate", "--config", noKeyCfg}, cli.ExitUsage, "keys.private is not set"},
		{"import without file", []string{"keys", "import", "--config", f.cfg}, cli.ExitUsage, "import wants one"},
		{"list without key file", []string{"keys", "list", "--config", f.cfg}, cli.ExitFailure, "keys.private"},
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
