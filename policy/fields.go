package policy

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"mailbot/policy/tomlfile"
)

// Field is a piece of information a report should contain, with hints for
// spotting it in the report's text.
//
// The names in builtinFields come with labels and hints in English, German
// and Dutch; a policy may list them with nothing but a name. Any other name
// needs keywords or patterns.
type Field struct {
	Name     string            `toml:"name"`
	Label    map[string]string `toml:"label"`    // language -> text; built-in or Name when missing
	Keywords []string          `toml:"keywords"` // case-insensitive substrings, any language
	Patterns []string          `toml:"patterns"` // Go regexps (RE2)
	Optional bool              `toml:"optional"` // asked for, never reported missing

	re []*regexp.Regexp
}

type builtinField struct {
	label    map[string]string
	keywords []string
	patterns []string
}

// builtinFields are the usual report fields. Hints are deliberately broad:
// a false "present" costs less than nagging a reporter for something they
// wrote.
var builtinFields = map[string]builtinField{
	"description": {
		label: map[string]string{"en": "a description of the vulnerability", "de": "eine Beschreibung der Schwachstelle", "nl": "een beschrijving van de kwetsbaarheid"},
		keywords: []string{"vulnerab", "issue", "bug", "flaw", "weakness", "exploit", "injection", "xss", "csrf", "bypass", "leak", "exposed",
			"schwachstelle", "sicherheitslücke", "lücke", "fehler", "kwetsbaarheid", "lek", "zwakke plek", "beveiligingsprobleem"},
	},
	"type": {
		label: map[string]string{"en": "the type of vulnerability", "de": "die Art der Schwachstelle", "nl": "het type kwetsbaarheid"},
		keywords: []string{"xss", "cross-site", "csrf", "sql injection", "sqli", "injection", "rce", "remote code", "ssrf", "idor", "open redirect",
			"path traversal", "directory traversal", "authentication bypass", "privilege escalation", "information disclosure", "cwe-",
			"misconfiguration", "clickjacking", "denial of service", "xxe", "deserialization", "subdomain takeover"},
	},
	"found_at": {
		label: map[string]string{"en": "when you found it", "de": "wann Sie sie gefunden haben", "nl": "wanneer u de kwetsbaarheid vond"},
		keywords: []string{"yesterday", "today", "last week", "discovered on", "found on", "found it", "noticed",
			"gestern", "heute", "letzte woche", "entdeckt", "gefunden", "gisteren", "vandaag", "vorige week", "ontdekt", "gevonden"},
		patterns: []string{`\b[0-9]{4}-[0-9]{2}-[0-9]{2}\b`, `\b[0-9]{1,2}[./][0-9]{1,2}[./][0-9]{2,4}\b`,
			`(?i)\b[0-9]{1,2}\.? (jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|mär|mai|okt|dez|mrt|mei|okt)`,
			`(?i)\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]* [0-9]{1,2}\b`},
	},
	"steps": {
		label: map[string]string{"en": "the steps to reproduce it", "de": "die Schritte zum Nachvollziehen", "nl": "de stappen om het te reproduceren"},
		keywords: []string{"reproduce", "steps", "proof of concept", "poc", "curl ", "request:", "payload", "to trigger",
			"reproduzier", "nachvollzieh", "schritte", "schritt 1", "reproduceren", "stappen", "stap 1"},
		patterns: []string{`(?m)^\s*(1[.)]|step 1|schritt 1|stap 1)`, `(?i)\b(GET|POST|PUT|DELETE) /`},
	},
	"impact": {
		label: map[string]string{"en": "its impact", "de": "die Auswirkungen", "nl": "de impact"},
		keywords: []string{"impact", "attacker could", "attacker can", "an attacker", "allows", "severity", "cvss", "risk",
			"auswirkung", "angreifer", "risiko", "schweregrad", "aanvaller", "gevolgen", "ernst"},
	},
	"affected": {
		label:    map[string]string{"en": "the affected service, URL or IP address", "de": "den betroffenen Dienst, die URL oder IP-Adresse", "nl": "de getroffen dienst, URL of het IP-adres"},
		keywords: []string{"affected", "endpoint", "betroffen", "getroffen", "subdomain", "domain", "host"},
		patterns: []string{`(?i)\bhttps?://[^\s]+`, `\b[0-9]{1,3}(\.[0-9]{1,3}){3}\b`, `(?i)\b[a-z0-9-]+(\.[a-z0-9-]+)*\.(com|org|net|de|nl|eu|io|it|pl|app)\b`},
	},
	"mitigation": {
		label: map[string]string{"en": "any ideas how to mitigate it", "de": "Ideen, wie man sie beheben kann", "nl": "ideeën om het te verhelpen"},
		keywords: []string{"mitigat", "fix", "remediat", "recommend", "suggest", "should be", "patch", "workaround",
			"behebung", "beheben", "empfehl", "abhilfe", "verhelpen", "oplossing", "aanbevel", "advies"},
	},
	"attachments": {
		label:    map[string]string{"en": "scripts, screenshots or network traces", "de": "Skripte, Screenshots oder Netzwerkmitschnitte", "nl": "scripts, schermafbeeldingen of netwerkverkeer"},
		keywords: []string{"attached", "attachment", "screenshot", "script", "pcap", "har file", "anhang", "angehängt", "bijlage", "schermafbeelding"},
	},
	"name": {
		label:    map[string]string{"en": "the name to credit you with", "de": "den Namen, unter dem wir Ihnen danken sollen", "nl": "de naam waaronder we u mogen vermelden"},
		keywords: []string{"credit", "my name", "name:", "handle", "pseudonym", "anonymous", "mein name", "namens", "mijn naam", "anoniem", "anonym"},
	},
}

func (fl *Field) compile(f *tomlfile.File, key string, seen map[string]bool) {
	switch {
	case fl.Name == "":
		f.Errorf(key+".name", "missing name")
	case !nameRE.MatchString(fl.Name):
		f.Errorf(key+".name", "invalid name %q, want lower case letters, digits, _ and -", fl.Name)
	case seen[fl.Name]:
		f.Errorf(key+".name", "field %q defined twice", fl.Name)
	}
	seen[fl.Name] = true
	b, builtin := builtinFields[fl.Name]
	if len(fl.Keywords) == 0 && len(fl.Patterns) == 0 {
		if !builtin {
			f.Errorf(key, "field %q has no keywords or patterns (built-in fields: %s)", fl.Name, builtinNames())
		}
		fl.Keywords, fl.Patterns = slices.Clone(b.keywords), slices.Clone(b.patterns)
	}
	if fl.Label == nil && builtin {
		fl.Label = b.label
	}
	for i, k := range fl.Keywords {
		if strings.TrimSpace(k) == "" {
			f.Errorf(fmt.Sprintf("%s.keywords[%d]", key, i), "empty keyword")
		}
		fl.Keywords[i] = strings.ToLower(k)
	}
	for i, s := range fl.Patterns {
		re, err := regexp.Compile(s)
		if err != nil {
			f.Errorf(fmt.Sprintf("%s.patterns", key), "pattern %d: %v", i, err)
			continue
		}
		fl.re = append(fl.re, re)
	}
}

func builtinNames() string {
	return "affected, attachments, description, found_at, impact, mitigation, name, steps, type"
}

// present reports whether text (lower-cased in lower) seems to hold the field.
func (fl *Field) present(text, lower string) bool {
	for _, k := range fl.Keywords {
		if k != "" && strings.Contains(lower, k) {
			return true
		}
	}
	for _, re := range fl.re {
		if re.MatchString(text) {
			return true
		}
	}
	return false
}

// MissingFields returns the non-optional fields the report text seems to
// lack, in policy order. It is a hint for a friendly question, not a
// verdict.
func (p *Policy) MissingFields(text string) []Field {
	lower := strings.ToLower(text)
	var missing []Field
	for _, fl := range p.Fields {
		if !fl.Optional && !fl.present(text, lower) {
			missing = append(missing, fl)
		}
	}
	return missing
}

// fieldLabel is the field's label in lang (else the default language,
// else any), or its name.
func (p *Policy) fieldLabel(fl Field, lang string) string {
	if s := p.text(fl.Label, lang); s != "" {
		return s
	}
	return fl.Name
}
