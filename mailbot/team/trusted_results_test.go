package team

import (
	"bufio"
	"strings"
	"testing"

	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-msgauth/authres"
)

func TestTrustedResults(t *testing.T) {
	const (
		fail   = "Authentication-Results: mx.example.org; dmarc=fail header.from=example.com\r\n"
		pass   = "Authentication-Results: mx.example.org; dmarc=pass header.from=example.com\r\n"
		other  = "Authentication-Results: mx.other.example; dmarc=pass header.from=example.com\r\n"
		broken = "Authentication-Results: mx.example.org; dmarc\r\n"
	)
	tests := []struct {
		name  string
		hdr   string
		found bool
		value authres.ResultValue // of the dmarc result; "" for none
	}{
		{"topmost trusted", fail + pass, true, authres.ResultFail},
		// RFC 8601 section 5: a lower field with the trusted id was added
		// before the trusted server's own.
		{"lower forgery ignored", pass + fail, true, authres.ResultPass},
		{"other server skipped", other + fail, true, authres.ResultFail},
		{"none of the trusted server", other, false, ""},
		// Whether the parser reports an error or skips the bad result, no
		// field below the trusted one counts.
		{"broken topmost hides the rest", broken + pass, true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := textproto.ReadHeader(bufio.NewReader(strings.NewReader(tc.hdr + "\r\n")))
			if err != nil {
				t.Fatal(err)
			}
			results, found, err := TrustedResults(h, "mx.example.org")
			var value authres.ResultValue
			for _, r := range results {
				if d, ok := r.(*authres.DMARCResult); ok {
					value = d.Value
				}
			}
			if found != tc.found || value != tc.value {
				t.Errorf("TrustedResults() = %v, %v, %v, want dmarc=%q, found %v", results, found, err, tc.value, tc.found)
			}
		})
	}
	if _, found, _ := TrustedResults(textproto.Header{}, ""); found {
		t.Errorf("TrustedResults() with no trusted id found a field")
	}
}
