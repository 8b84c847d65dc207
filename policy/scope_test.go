package policy

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"mailbot/policy/tomlfile"
)

// scopePolicy is base with a [scope] table and a [rewards] kind appended.
func scopePolicy(t testing.TB, scope, rewards string) *Policy {
	t.Helper()
	doc := string(variant(map[int]string{3: `languages = ["de", "en"]`})) + "\n[scope]\n" + scope + "\n[rewards]\nkind = \"" + rewards + "\"\n"
	p, err := Parse("x.toml", []byte(doc))
	if err != nil {
		t.Fatalf("Parse() = %v", err)
	}
	return p
}

const testScope = `out = [
  "Social engineering",
  { text = { en = "Missing SPF/DMARC records", de = "Fehlende SPF-/DMARC-Einträge" }, match = ["SPF", "DMARC"] },
  { text = "TLS configuration (TLS 1.0, weak ciphers)", match = ["TLS 1.0", "weak ciphers"] },
  { text = { en = "Missing security headers", de = "Fehlende Security-Header" }, match = ["missing security headers", "X-Frame-Options", "clickjacking"] },
  { text = { en = "Denial of service" }, match = ["denial of service", "DoS", "DDoS"] },
]`

func TestParseOutOfScope(t *testing.T) {
	p := scopePolicy(t, testScope, "none")
	if len(p.Scope.Out) != 5 {
		t.Fatalf("Scope.Out = %d entries, want 5", len(p.Scope.Out))
	}
	if got, want := p.Scope.Out[1].Match, []string{"SPF", "DMARC"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Scope.Out[1].Match = %q, want %q", got, want)
	}
	for _, tt := range []struct {
		n          int
		lang, want string
	}{
		{1, "nl", "Social engineering"},                        // a plain string: every language
		{2, "de", "Fehlende SPF-/DMARC-Einträge"},              // the case's language
		{2, "en", "Missing SPF/DMARC records"},                 //
		{2, "nl", "Fehlende SPF-/DMARC-Einträge"},              // else the policy's default (de)
		{3, "de", "TLS configuration (TLS 1.0, weak ciphers)"}, //
		{5, "de", "Denial of service"},                         // else English
	} {
		if got, ok := p.OutOfScopeText(tt.n, tt.lang); !ok || got != tt.want {
			t.Errorf("OutOfScopeText(%d, %s) = %q, %v, want %q", tt.n, tt.lang, got, ok, tt.want)
		}
	}
	for _, n := range []int{0, 6, -1} {
		if got, ok := p.OutOfScopeText(n, "en"); ok {
			t.Errorf("OutOfScopeText(%d) = %q, true, want false: entries count from 1", n, got)
		}
	}
	md, err := p.Markdown("de")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "- Fehlende SPF-/DMARC-Einträge\n") || !strings.Contains(string(md), "- Social engineering\n") {
		t.Errorf("Markdown(de) lacks the out-of-scope entries in German:\n%s", md)
	}
	if p.OffersReward() {
		t.Errorf("OffersReward() = true for kind none")
	}
	if !scopePolicy(t, testScope, "discretionary").OffersReward() {
		t.Errorf("OffersReward() = false for kind discretionary")
	}
}

func TestParseOutOfScopeErrors(t *testing.T) {
	doc := string(variant(nil)) + `
[scope]
out = [
  "",
  { match = ["SPF"] },
  { text = { en = "x", EN = "y", de = 3 } },
  { text = "x", match = "SPF" },
  { text = "x", match = ["S", "--", "SPF", "spf", 7] },
  { text = "x", terms = ["SPF"] },
  42,
]
`
	_, err := Parse("x.toml", []byte(doc))
	if err == nil {
		t.Fatal("Parse() = nil, want errors")
	}
	var es tomlfile.Errors
	if !errors.As(err, &es) {
		t.Fatalf("Parse() = %T, want tomlfile.Errors", err)
	}
	for _, w := range []string{
		`x.toml:16: scope.out[0]: empty entry`,
		`x.toml:17: scope.out[1]: missing text`,
		`x.toml:18: scope.out[2].text.EN: invalid language tag "EN"`,
		`x.toml:18: scope.out[2].text.de: want a text, got int64`,
		`x.toml:19: scope.out[3].match: want a list of terms, got string`,
		`x.toml:20: scope.out[4].match[0]: term "S" needs at least two letters or digits`,
		`x.toml:20: scope.out[4].match[1]: term "--" needs at least two letters or digits`,
		`x.toml:20: scope.out[4].match[3]: term "spf" listed twice`,
		`x.toml:20: scope.out[4].match[4]: want a term, got int64`,
		`x.toml:21: scope.out[5].terms: unknown key, want text or match`,
		`x.toml:22: scope.out[6]: want a text or a table`,
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("Parse() = %q, want it to contain %q", err, w)
		}
	}
}

func TestScopeHints(t *testing.T) {
	p := scopePolicy(t, testScope, "none")
	tests := []struct {
		name          string
		subject, text string
		want          []Hint
	}{
		{"SPF and DMARC report", "Security issue: missing SPF record",
			"Hello team,\n\nyour domain example.org has no DMARC policy (p=none) and the SPF record ends in ~all.\nAn attacker can spoof mail.\n",
			[]Hint{{N: 2, Terms: []string{"SPF", "DMARC"}}}},
		{"term in the subject only", "spf", "see subject", []Hint{{N: 2, Terms: []string{"SPF"}}}},
		{"punctuation around the term", "", "Records checked: (SPF), 'DMARC'.", []Hint{{N: 2, Terms: []string{"SPF", "DMARC"}}}},
		{"hyphen and underscore separate", "", "the SPF-record and dmarc_policy", []Hint{{N: 2, Terms: []string{"SPF", "DMARC"}}}},
		{"an XSS report that mentions SPF is still a hint", "Stored XSS in /profile",
			"The display name is rendered unescaped: <script>alert(1)</script>.\nWe checked SPF as well, it is fine.\n",
			[]Hint{{N: 2, Terms: []string{"SPF"}}}},
		{"TLS 1.0 as a phrase", "Weak TLS", "The server at mail.example.org still accepts TLS 1.0.\n", []Hint{{N: 3, Terms: []string{"TLS 1.0"}}}},
		{"TLS 1.0 across a line break", "", "It negotiates TLS\n1.0 with old clients", []Hint{{N: 3, Terms: []string{"TLS 1.0"}}}},
		{"phrase over several spaces, any case", "", "MISSING  Security   Headers on www", []Hint{{N: 4, Terms: []string{"missing security headers"}}}},
		{"two entries", "Clickjacking and DoS", "The login page can be framed (no X-Frame-Options) and a DoS is possible.",
			[]Hint{{N: 4, Terms: []string{"X-Frame-Options", "clickjacking"}}, {N: 5, Terms: []string{"DoS"}}}},
		{"German report", "Schwachstelle: fehlender SPF-Eintrag", "Sehr geehrte Damen und Herren,\nfür Ihre Domain fehlt ein DMARC-Eintrag.", []Hint{{N: 2, Terms: []string{"SPF", "DMARC"}}}},

		// Substrings of other words never match.
		{"SPFX is not SPF", "Bug in the SPFX web part", "The SharePoint SPFx extension leaks a token.", nil},
		{"DoS inside words", "Dosage calculator", "The endoscopy module shows other patients' doses: an IDOR.", nil},
		{"TLS 1.01 and 1.0.1 are other versions", "", "Firmware TLS 1.01 parser bug; library v2 TLS 1.0.1 overflow; version 11.0", nil},
		{"an entry without terms never matches", "Social engineering", "I could social-engineer your help desk.", nil},
		{"words that only share letters", "", "spoofing via dmarcian.com reports and spf1 macros", nil},
		{"empty report", "", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := p.ScopeHints(tt.subject, tt.text)
			if !reflect.DeepEqual(h.OutOfScope, tt.want) {
				t.Errorf("ScopeHints(%q, %q).OutOfScope = %+v, want %+v", tt.subject, tt.text, h.OutOfScope, tt.want)
			}
		})
	}
}

func TestRewardAsked(t *testing.T) {
	none := scopePolicy(t, testScope, "none")
	bounty := scopePolicy(t, testScope, "bounty")
	tests := []struct {
		name, subject, text string
		want                []string
	}{
		{"bounty in the subject", "Bug bounty submission: IDOR in /api/orders", "Please find the details below.", []string{"bounty", "bug bounty"}},
		{"how much will you pay", "Critical vulnerability", "I found a critical issue. How much will you pay for it? I will send details after payment.",
			[]string{"how much will you pay", "will you pay"}},
		{"reward, several words", "", "Do you offer a reward? I hope my finding will be rewarded.", []string{"reward", "rewarded"}},
		{"German", "Sicherheitslücke", "Ich erwarte eine angemessene Belohnung. Zahlen Sie eine Prämie?", []string{"Belohnung", "zahlen Sie"}},
		{"German compound", "", "Gibt es ein Belohnungsprogramm?", []string{"Belohnungs*"}},
		{"Dutch", "Kwetsbaarheid gevonden", "Wat is de beloning? Hoeveel betalen jullie voor een melding?", []string{"beloning", "betalen jullie", "hoeveel betalen"}},

		// Reports about payments are not requests to be paid.
		{"a payment page", "XSS on the payment page", "The payment form reflects the card holder name. Payments can be replayed.", nil},
		{"a rewards feature", "", "The loyalty points balance can be changed by any user.", nil},
		{"an insurer's portal", "IDOR im Kundenportal", "Über /api/vertrag/123 sieht man die Prämie und die Vergütung anderer Kunden. De premie en vergoeding van andere klanten ook.", nil},
		{"a billing bug", "", "The payment for my order was charged twice after replaying the request.", nil},
		{"words that contain the terms", "", "The bountyhunter.js library and prepaid cards; rewardsprogramme", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := none.ScopeHints(tt.subject, tt.text).Reward; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ScopeHints(%q, %q).Reward = %q, want %q", tt.subject, tt.text, got, tt.want)
			}
			if got := bounty.ScopeHints(tt.subject, tt.text).Reward; got != nil {
				t.Errorf("ScopeHints().Reward = %q with a bounty policy, want none: it offers one", got)
			}
		})
	}
}

// The seed fixture 000 gives its published out-of-scope entries match terms
// (the wording stays the seed's): a real-looking report hits them.
func TestSeed000ScopeHints(t *testing.T) {
	p := seedPolicy(t, "000_caspar_health.toml")
	h := p.ScopeHints("Vulnerability report: caspar-health.com",
		"Hi,\n\nI am a security researcher. Findings:\n1. No DMARC record for caspar-health.com\n2. The app server supports TLSv1.0 and weak ciphers\n3. Missing X-Frame-Options header (clickjacking possible)\n\nDo you have a bug bounty program?\n")
	want := []Hint{
		{N: 3, Terms: []string{"X-Frame-Options", "clickjacking", "DMARC"}},
		{N: 4, Terms: []string{"TLSv1.0", "weak ciphers"}}, // "weak cipher" is not in "weak ciphers"
	}
	if !reflect.DeepEqual(h.OutOfScope, want) || !reflect.DeepEqual(h.Reward, []string{"bounty", "bug bounty"}) {
		t.Errorf("ScopeHints() = %+v, want %+v and reward [bounty, bug bounty]", h, want)
	}
	if got, _ := p.OutOfScopeText(4, "de"); got != "TLS configuration weaknesses (weak cipher suites, TLS 1.0, Sweet32)" {
		t.Errorf("OutOfScopeText(4, de) = %q, want the seed's wording", got)
	}
	if got, _ := p.OutOfScopeText(6, "en"); got != "Any form of credential brute forcing (strictly forbidden)" {
		t.Errorf("OutOfScopeText(6, en) = %q, want the plain entry's wording", got)
	}
}

func FuzzScopeHints(f *testing.F) {
	f.Add("Missing SPF", "TLS 1.0 and clickjacking; how much will you pay?")
	f.Add("\xff", "İSPF K\u0307 TLS\u00a01.0 \xe2\x80")
	f.Add("²SPF", "clickjacking\u0301 Ⅻdmarc Belohnungsanfrage_spf")
	p := scopePolicy(f, testScope, "none")
	f.Fuzz(func(t *testing.T, subject, text string) {
		h := p.ScopeHints(subject, text)
		last := 0
		for _, hint := range h.OutOfScope {
			if hint.N <= last || hint.N > len(p.Scope.Out) || len(hint.Terms) == 0 {
				t.Fatalf("ScopeHints() hint %+v after %d, want increasing entries 1..%d with terms", hint, last, len(p.Scope.Out))
			}
			last = hint.N
		}
		// The word index only skips work: every term matches exactly when
		// its regexp finds it as whole words.
		s := strings.ToLower(subject + "\n" + text)
		words := p.Scope.words.in(s)
		terms := []term{}
		for _, e := range p.Scope.Out {
			terms = append(terms, e.terms...)
		}
		for _, w := range rewardWords {
			terms = append(terms, w.term)
		}
		for _, tm := range terms {
			if got, want := tm.in(s, words), containsWord(s, tm.re); got != want {
				t.Fatalf("term %v in(%q) = %v, want %v (the regexp alone)", tm.words, s, got, want)
			}
		}
	})
}

func BenchmarkScopeHints(b *testing.B) {
	p, err := Load("../testdata/policies/000_caspar_health.toml")
	if err != nil {
		b.Fatal(err)
	}
	text := strings.Repeat("The login form at https://app.example.org/login reflects the parameter q unescaped; steps below.\n", 1000)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		p.ScopeHints("Reflected XSS", text)
	}
}

// The README's example policy file parses, out-of-scope table included.
func TestREADMEPolicyParses(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "\n## The policy file\n")
	if !ok {
		t.Fatal("README.md has no section \"The policy file\"")
	}
	_, block, ok := strings.Cut(rest, "```toml\n")
	block, _, _ = strings.Cut(block, "```\n")
	if !ok {
		t.Fatal("README.md's policy section has no toml block")
	}
	p, err := Parse("README.md", []byte(block))
	if err != nil {
		t.Fatalf("Parse(README policy) = %v", err)
	}
	if got, _ := p.OutOfScopeText(2, "de"); got != "Fehlende SPF-/DMARC-Einträge" {
		t.Errorf("OutOfScopeText(2, de) = %q, want the README's German entry", got)
	}
}
