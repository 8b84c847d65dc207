package policy

import (
	"slices"
	"testing"
)

func TestMissingFields(t *testing.T) {
	names := func(fs []Field) []string {
		var l []string
		for _, f := range fs {
			l = append(l, f.Name)
		}
		return l
	}
	tests := []struct {
		file, text string
		want       []string
	}{
		{"003_unnamed_it.toml", "Hello, I have something for you. Please contact me.", []string{"type", "affected", "steps", "impact"}},
		{"003_unnamed_it.toml", `Reflected XSS on https://example.org/search?q=<script>.
Steps:
1. open the URL
2. see the alert
An attacker can steal session cookies.`, nil},
		{"003_unnamed_it.toml", "SQL injection in the login form of 192.0.2.10.", []string{"steps", "impact"}},
		{"000_caspar_health.toml", `Hallo, ich habe gestern eine Sicherheitslücke gefunden.
Schritte zum Nachvollziehen: 1. Login 2. ...`, nil},
		{"000_caspar_health.toml", "Hi, there is a vulnerability on your site, found on 2026-03-02.", []string{"steps"}},
		{"001_coosto.toml", "Ik heb een kwetsbaarheid gevonden op app.coosto.com. Stappen: 1. inloggen", nil},
		{"001_coosto.toml", "Hallo, kunt u mij bellen?", []string{"affected", "description", "steps"}},
		// The optional "name" field is never reported.
		{"004_centuran.toml", "The ticket zoom at https://demo.example.com lets an attacker read any ticket. Steps to reproduce: open /otrs/index.pl?Action=AgentTicketZoom;TicketID=1", nil},
	}
	for _, tt := range tests {
		p := seedPolicy(t, tt.file)
		if got := names(p.MissingFields(tt.text)); !slices.Equal(got, tt.want) {
			t.Errorf("%s: MissingFields(%q) = %v, want %v", tt.file, tt.text, got, tt.want)
		}
	}
}
