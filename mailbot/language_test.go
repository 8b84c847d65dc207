package mailbot_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAcknowledgementLanguagesAndDates renders the acknowledgement of a
// report sent on Friday 6 March 2026 at 19:12 Berlin time under policies
// whose first language is English, German and Dutch, and checks the dates
// the policy promises (worked out by hand) in that language.
func TestAcknowledgementLanguagesAndDates(t *testing.T) {
	de := filepath.Join(t.TempDir(), "002-de.toml")
	src, err := os.ReadFile("../testdata/policies/002_imis_innovation.toml")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(de, []byte(strings.Replace(string(src), `languages = ["en", "de"]`, `languages = ["de", "en"]`, 1)), 0o644)
	abs := func(p string) string { a, _ := filepath.Abs(p); return a }
	tests := []struct {
		policy string
		want   []string
	}{
		// 002: confirm within 1 business day: Friday 19:12 is after hours,
		// so the day counts from Monday 09:00 and ends Monday 17:00.
		{abs("../testdata/policies/002_imis_innovation.toml"), []string{"Received:", "Monday, 9 March 2026", "17:00 CET"}},
		{de, []string{"Eingegangen:", "Montag, 9. März 2026", "um 17:00 CET"}},
		// 001 Coosto (Dutch first): 3 business days from Monday 09:00.
		{abs("../testdata/policies/001_coosto.toml"), []string{"Ontvangen:", "woensdag 11 maart 2026", "om 17:00 CET"}},
	}
	for _, tc := range tests {
		t.Run(filepath.Base(tc.policy), func(t *testing.T) {
			h := newHarness(t, fmt.Sprintf("policy = %q\n", tc.policy))
			h.clock.t = h.clock.t.AddDate(0, 0, 3).Add(8*time.Hour + 12*time.Minute) // Fri 6 March 2026 18:12 UTC = 19:12 CET
			h.ingest(report(ada, "Broken access control"))
			body := decodedBody(t, h.outbox()[0].Raw)
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("ack under %s lacks %q:\n%s", filepath.Base(tc.policy), w, body)
				}
			}
		})
	}
}
