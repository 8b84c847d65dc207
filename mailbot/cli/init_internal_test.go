package cli

import (
	"strings"
	"testing"

	"mailbot/policy"
)

// The starter policy comes with out-of-scope entries that carry match terms,
// worded in each language init offers, so scope hints work from the start.
func TestStarterPolicyScopeHints(t *testing.T) {
	for lang, want := range map[string]string{
		"en": "Missing e-mail authentication records (SPF, DKIM, DMARC)",
		"de": "Fehlende E-Mail-Authentifizierung (SPF, DKIM, DMARC)",
		"nl": "Ontbrekende e-mailauthenticatie (SPF, DKIM, DMARC)",
	} {
		p, err := policy.Parse("policy.toml", []byte(starterPolicy("Example", "security@example.org", lang, "DE", "", "Europe/Berlin")))
		if err != nil {
			t.Fatalf("Parse(starter %s) = %v", lang, err)
		}
		if got, _ := p.OutOfScopeText(1, lang); got != want {
			t.Errorf("OutOfScopeText(1, %s) = %q, want %q", lang, got, want)
		}
		h := p.ScopeHints("No DMARC record", "example.org publishes no DMARC record, and the web server accepts TLS 1.0. Is there a bounty?")
		var ns []int
		for _, e := range h.OutOfScope {
			ns = append(ns, e.N)
		}
		if len(ns) != 2 || ns[0] != 1 || ns[1] != 3 || !strings.Contains(strings.Join(h.Reward, ","), "bounty") {
			t.Errorf("ScopeHints(starter %s) = %+v, want entries 1 and 3 and a reward request", lang, h)
		}
	}
}
