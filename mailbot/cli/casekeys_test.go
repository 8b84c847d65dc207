package cli_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"mailbot/mailbot/cli"
	"mailbot/mailbot/pgp"
)

// `mailbot case` lists a researcher's key decisions (issue 15): the first
// key learned, and a different one that waits, with both fingerprints.
func TestCaseShowsKeyEvents(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	withKey := func(subject string, k *pgp.Keyring) []byte {
		var armored bytes.Buffer
		if err := k.WritePublic(&armored); err != nil {
			t.Fatal(err)
		}
		return []byte(fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: Tue, 03 Mar 2026 10:00:00 +0000\r\nMessage-ID: <%d@research.example>\r\n"+
			"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n"+
			"The login form at https://app.example.org/login has an SQL injection.\r\n--b\r\nContent-Type: application/pgp-keys\r\n\r\n%s\r\n--b--\r\n",
			reporter, botAddr, subject, time.Now().UnixNano(), strings.ReplaceAll(armored.String(), "\n", "\r\n")))
	}
	gen := func() *pgp.Keyring {
		k, err := pgp.Generate("Ada", reporter, pgp.Ed25519, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	first, second := gen(), gen()
	r := mustRun(t, cli.ExitOK, bytes.NewReader(withKey("SQL injection", first)), "ingest", "--config", f.cfg, "--json")
	cases, _ := decodeStream(t, r.stdout)
	if len(cases) != 1 || cases[0].Case == "" {
		t.Fatalf("ingest = %+v, want a case", cases)
	}
	ref := cases[0].Case
	mustRun(t, cli.ExitOK, bytes.NewReader(withKey("Re: ["+ref+"] new key", second)), "ingest", "--config", f.cfg)
	out := mustRun(t, cli.ExitOK, nil, "case", "--config", f.cfg, ref).stdout
	for _, want := range []string{"event   key.learned by bot: OpenPGP key " + first.Fingerprint(), "event   key.pending by bot: OpenPGP key " + second.Fingerprint()} {
		if !strings.Contains(out, want) {
			t.Errorf("case stdout lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "known key "+first.Fingerprint()) {
		t.Errorf("the key.pending event does not name the known key:\n%s", out)
	}
}
