package policy

import (
	"errors"
	"strings"
	"testing"
)

func TestMarkdownSeeds(t *testing.T) {
	for _, name := range seedFiles {
		p := seedPolicy(t, name)
		for _, lang := range []string{"", "en", "de", "nl"} {
			out, err := p.Markdown(lang)
			if err != nil {
				t.Errorf("%s: Markdown(%q) = %v", name, lang, err)
				continue
			}
			s := string(out)
			if !strings.HasPrefix(s, "# "+p.Organisation+": ") || !strings.Contains(s, "<"+p.Address+">") {
				t.Errorf("%s: Markdown(%q) lacks title or address:\n%s", name, lang, s)
			}
			for _, in := range p.Scope.In {
				if !strings.Contains(s, "- "+in+"\n") {
					t.Errorf("%s: Markdown(%q) lacks scope item %q", name, lang, in)
				}
			}
		}
	}
}

func TestMarkdownContent(t *testing.T) {
	tests := []struct {
		file, lang string
		want       []string
		not        []string
	}{
		{"000_caspar_health.toml", "en", []string{
			"aim to disclose it publicly 90 days after your report",
			"We do not offer a bug bounty.",
			"## Safe harbour\n\nIf you comply with this policy",
			"- how it can be reproduced\n",
		}, []string{"Acknowledgement", "What we promise"}}, // internal targets stay unpublished
		{"000_caspar_health.toml", "de", []string{
			"# Caspar Health: Richtlinie zur Meldung von Schwachstellen",
			"Veröffentlichung 90 Tage nach Ihrer Meldung",
			"## Rechtlicher Schutz\n\nWenn Sie bei der Meldung",
		}, nil},
		{"001_coosto.toml", "", []string{
			"**Onze beoordeling en een verwachte datum van oplossing**: binnen 3 werkdagen na ontvangst van uw melding.",
			"We houden u minstens elke 14 dagen op de hoogte",
			"U mag onder een pseudoniem melden.",
			"We kunnen naar eigen inzicht een beloning geven.",
		}, nil},
		{"001_coosto.toml", "en", []string{
			"**Our assessment and an expected resolution date**: within 3 business days of receiving your report.",
			"Business days are Monday, Tuesday, Wednesday, Thursday, Friday, 09:00 to 17:00 (Europe/Amsterdam), except public holidays.",
			"its size depends on the seriousness",
		}, nil},
		{"002_imis_innovation.toml", "en", []string{
			"**Confirmation of your e-mail**: within 1 business day of receiving your report.",
			"**A more detailed response on our progress**: within 48 hours of our first reply.",
			"at least every 7 days",
		}, nil},
		{"002_imis_innovation.toml", "de", []string{
			"**Bestätigung Ihrer E-Mail**: innerhalb von 1 Werktag nach Eingang Ihrer Meldung.",
			"innerhalb von 48 Stunden nach unserer ersten Antwort",
			"mindestens alle 7 Tage über den Fortschritt",
		}, nil},
		{"003_unnamed_it.toml", "en", []string{
			"within 7 business days of receiving your report",
			"You may report anonymously.",
			"hall of fame",
		}, nil},
		{"004_centuran.toml", "en", []string{
			"within 1 week of receiving your report",
			"50 days after your report",
			"We may ask you to extend this.",
			"as a contributor",
		}, nil},
	}
	for _, tt := range tests {
		out, err := seedPolicy(t, tt.file).Markdown(tt.lang)
		if err != nil {
			t.Fatalf("%s: Markdown(%q) = %v", tt.file, tt.lang, err)
		}
		for _, w := range tt.want {
			if !strings.Contains(string(out), w) {
				t.Errorf("%s: Markdown(%q) lacks %q:\n%s", tt.file, tt.lang, w, out)
			}
		}
		for _, w := range tt.not {
			if strings.Contains(string(out), w) {
				t.Errorf("%s: Markdown(%q) contains %q", tt.file, tt.lang, w)
			}
		}
	}
	if _, err := seedPolicy(t, "003_unnamed_it.toml").Markdown("it"); !errors.Is(err, ErrNoTexts) {
		t.Errorf("Markdown(it) = %v, want ErrNoTexts", err)
	}
}
