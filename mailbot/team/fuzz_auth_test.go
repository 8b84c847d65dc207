package team

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"mailbot/mailbot/parse"
)

// FuzzAuthenticate checks one invariant of team authentication: whenever
// Authenticate says OK, every line of Verdict.Text was signed by that
// member's key for that From address within max_age (the fuzzer cannot
// make signatures: such lines are the allowed texts below, signed in the
// test), and the same replay key is refused the second time. DKIM and
// Authentication-Results are off here (no DNS, no trusted server): only
// OpenPGP can pass.
func FuzzAuthenticate(f *testing.F) {
	fx := newAuthFixture(f)
	recent := fx.now.Add(-time.Minute)
	allowed := map[string]bool{}
	signedText := func(lines ...string) string {
		for _, l := range lines {
			allowed[l] = true
		}
		return strings.Join(lines, "\n") + "\n"
	}
	forbidden := func(lines ...string) string { return strings.Join(lines, "\n") + "\n" }

	good := fx.encrypted(f, signedText("status fixed", "allowed: inline encrypted"), fx.alice, recent)
	seeds := [][]byte{
		fx.plain("alice@example.org", good),
		fx.sealed(f, "alice@example.org", "Re: [SEC-1] bug", strings.ReplaceAll(signedText("claim", "allowed: pgp/mime sealed"), "\n", "\r\n"), fx.alice, "n1@bot.example"),
		fx.pgpMIME(f, "alice@example.org", strings.ReplaceAll(signedText("status triaged", "allowed: pgp/mime signed"), "\n", "\r\n"), fx.alice),
		fx.clearsigned(f, "alice@example.org", "", signedText("severity high", "allowed: clearsigned"), fx.alice, recent),
		// The attacks: none of their lines may ever come out.
		fx.plain("alice@example.org", fx.encrypted(f, forbidden("status rejected", "forbidden: unsigned block"), nil, recent)+"\r\n"+good),
		fx.plain("alice@example.org", "status rejected\r\nforbidden: text beside\r\n\r\n"+good),
		fx.plain("alice@example.org", fx.encrypted(f, forbidden("status spam", "forbidden: eve"), fx.eve, recent)),
		fx.plain("alice@example.org", fx.encrypted(f, forbidden("status spam", "forbidden: old signature"), fx.alice, fx.now.Add(-10*24*time.Hour))),
		fx.plain("alice@example.org", fx.encrypted(f, forbidden("status spam", "forbidden: other address"), fx.aliceOther, recent)),
		fx.plain("alice@example.org", fx.encrypted(f, forbidden("status spam", "forbidden: far from Date"), fx.alice, fx.now.Add(-2*time.Hour))),
	}
	for _, s := range seeds {
		f.Add(s)
	}
	opts := fx.decryptOpts(f)
	opts.Now = func() time.Time { return fx.now }
	opts.LookupTXT = func(string) ([]string, error) { return nil, errors.New("no DNS in this test") }
	for i, s := range seeds[:4] { // else the invariant holds for nothing
		m, err := parse.Parse(bytes.NewReader(s), parse.Limits{})
		if err != nil {
			f.Fatal(err)
		}
		if v := Authenticate(m, func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(s)), nil }, fx.roster, opts); !v.OK {
			f.Fatalf("seed %d: Authenticate() = %+v, want OK", i, v)
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := parse.Parse(bytes.NewReader(raw), parse.Limits{MaxSize: 1 << 20})
		if err != nil {
			return
		}
		open := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil }
		v := Authenticate(m, open, fx.roster, opts)
		if !v.OK {
			return
		}
		if v.Method != MethodPGP || v.ReplayKey == "" || len(m.From) != 1 || !strings.EqualFold(m.From[0].Address, v.Member.Address) {
			t.Fatalf("Authenticate() = %+v, want pgp with a replay key for the From address %v", v, m.From)
		}
		for line := range strings.Lines(v.Text) {
			if l := strings.TrimSpace(line); l != "" && !allowed[l] {
				t.Fatalf("Authenticate() OK with the line %q, which the member did not sign (within max_age, for this address)", l)
			}
		}
		again := opts
		again.Seen = func(k string) bool { return k == v.ReplayKey }
		if v2 := Authenticate(m, open, fx.roster, again); v2.OK {
			t.Fatalf("Authenticate(seen replay key) = %+v, want refused", v2)
		}
	})
}
