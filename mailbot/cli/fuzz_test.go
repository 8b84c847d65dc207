package cli_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"mailbot/mailbot/cli"
)

// FuzzCaseID feeds `mailbot case --json -- ID` any case id: a ref, a number,
// or garbage. It never panics, finds the one case only by its ref or number,
// and reports anything else as not found (exit 1).
func FuzzCaseID(f *testing.F) {
	seeds, err := os.ReadFile(filepath.Join("testdata", "case-ids.txt"))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range strings.Split(strings.TrimRight(string(seeds), "\n"), "\n") {
		f.Add(s)
	}
	dir := f.TempDir()
	cfg := writeFuzzFixture(f, dir)
	var stdout, stderr bytes.Buffer
	if code := cli.Run(f.Context(), []string{"ingest", "--config", cfg}, &cli.Env{Stdin: bytes.NewReader(mustRead(f, "testdata/report.eml")), Stdout: &stdout, Stderr: &stderr}); code != cli.ExitOK {
		f.Fatalf("ingest = %d: %s", code, stderr.String())
	}
	ref := refRE.FindString(stdout.String())
	if ref == "" {
		f.Fatalf("ingest printed no ref: %q", stdout.String())
	}
	f.Add(ref)
	f.Add(strings.ToLower(ref))

	f.Fuzz(func(t *testing.T, id string) {
		var stdout, stderr bytes.Buffer
		code := cli.Run(t.Context(), []string{"case", "--config", cfg, "--json", "--", id}, &cli.Env{Stdout: &stdout, Stderr: &stderr})
		n, nerr := strconv.ParseUint(id, 10, 64)
		mustFind := id == ref || (nerr == nil && n == 1)
		switch code {
		case cli.ExitOK:
			var v cli.CaseView
			decodeJSON(t, stdout.String(), &v)
			if v.Ref != ref || v.ID != 1 {
				t.Errorf("case %q = %s (id %d), want %s or not found", id, v.Ref, v.ID, ref)
			}
		case cli.ExitFailure:
			if mustFind {
				t.Errorf("case %q = not found (%s), want %s", id, stderr.String(), ref)
			}
			if stdout.Len() != 0 {
				t.Errorf("case %q printed %q on failure", id, stdout.String())
			}
		default:
			t.Errorf("case %q = %d, want %d or %d; stderr %q", id, code, cli.ExitOK, cli.ExitFailure, stderr.String())
		}
	})
}

func mustRead(f *testing.F, path string) []byte {
	f.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	return data
}

// writeFuzzFixture writes a configuration without a key (nothing is sent).
func writeFuzzFixture(f *testing.F, dir string) string {
	f.Helper()
	files := map[string][]byte{
		"policy.toml": mustRead(f, "testdata/policy.toml"),
		"password":    []byte(password + "\n"),
		"mailbot.toml": []byte(`address = "security@example.org"
[imap]
host = "127.0.0.1"
tls = "none"
username = "security@example.org"
password = { file = "password" }
[smtp]
host = "127.0.0.1"
tls = "none"
username = "security@example.org"
password = { file = "password" }
`),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			f.Fatal(err)
		}
	}
	return filepath.Join(dir, "mailbot.toml")
}
