package team

import (
	"bytes"
	"strings"
	"testing"
)

// TestAuthenticateLFLongSignedPart: a PGP/MIME mail handed over with LF
// line ends (`mailbot ingest` from an MTA's pipe) whose signed part has
// more lines than the rest of the mail has bytes (a reply quoting a long
// report) is accepted: the signed part grows by a CR a line when it is
// bound to the signature, and the bound must not be the raw mail's size.
func TestAuthenticateLFLongSignedPart(t *testing.T) {
	f := newAuthFixture(t)
	body := "claim\r\n\r\n" + strings.Repeat("> x\r\n", 3000)
	lf := bytes.ReplaceAll(f.pgpMIME(t, "alice@example.org", body, f.alice), []byte("\r\n"), []byte("\n"))
	if v := f.auth(t, lf, Options{}); !v.OK || v.Method != MethodPGP {
		t.Errorf("Authenticate(LF, 3000 quoted lines) = %v %s %q, want accepted by pgp", v.OK, v.Method, v.Reason)
	}
}
