package team

import (
	"testing"

	"github.com/emersion/go-message/textproto"
)

func TestSenderAuthenticated(t *testing.T) {
	tests := []struct {
		name    string
		fields  []string // Authentication-Results values, topmost first
		trusted string
		want    bool
	}{
		{"dkim pass aligned", []string{"mx.example.org; dkim=pass header.d=example.org"}, "mx.example.org", true},
		{"dmarc pass", []string{"mx.example.org; dmarc=pass header.from=example.org"}, "mx.example.org", true},
		{"no trusted server configured", []string{"mx.example.org; dkim=pass header.d=example.org"}, "", false},
		{"no field", nil, "mx.example.org", false},
		{"topmost trusted field fails, a lower one passes", []string{"mx.example.org; dkim=fail header.d=example.org",
			"mx.example.org; dkim=pass header.d=example.org"}, "mx.example.org", false},
		{"unparsable trusted field above a pass", []string{"mx.example.org; dkim=", "mx.example.org; dkim=pass header.d=example.org"}, "mx.example.org", false},
		{"other domain", []string{"mx.example.org; dkim=pass header.d=evil.example"}, "mx.example.org", false},
	}
	for _, tt := range tests {
		var h textproto.Header
		for i := len(tt.fields) - 1; i >= 0; i-- {
			h.Add("Authentication-Results", tt.fields[i]) // Add puts a field on top
		}
		if got := SenderAuthenticated(h, tt.trusted, "example.org"); got != tt.want {
			t.Errorf("%s: SenderAuthenticated() = %v, want %v", tt.name, got, tt.want)
		}
	}
}
