package team

import (
	"strings"
	"testing"
)

func TestTrimQuoted(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"gmail en", "Fixed in 1.2.3.\r\n\r\nOn Mon, 2 Mar 2026 at 10:00, Jane Doe <jane@example.net> wrote:\r\n> I found a bug.\r\n>\r\n> Jane\r\n",
			"Fixed in 1.2.3."},
		{"gmail wrapped", "Fixed.\n\nOn Mon, 2 Mar 2026 at 10:00, Jane Doe from the Very Long Company Name <\njane@example.net> wrote:\n\n> I found a bug.\n",
			"Fixed."},
		{"thunderbird de", "Danke!\n\nAm 02.03.26 um 10:00 schrieb Jane Doe:\n> Ich habe einen Fehler gefunden.\n",
			"Danke!"},
		{"de name first", "Danke!\n\nJane Doe <jane@example.net> schrieb am Mo., 2. März 2026, 10:00:\n> Fehler\n",
			"Danke!"},
		{"nl", "Bedankt!\n\nOp ma 2 mrt 2026 om 10:00 schreef Jane Doe <jane@example.net>:\n> Ik vond een fout.\n",
			"Bedankt!"},
		{"nl name first", "Bedankt!\n\nJane Doe schreef op 2 maart 2026 10:00:\n> fout\n",
			"Bedankt!"},
		{"outlook en", "We are on it.\n\n-----Original Message-----\nFrom: Jane Doe <jane@example.net>\nSent: Monday, March 2, 2026 10:00 AM\nTo: security@example.org\nSubject: bug\n\nI found a bug.\n",
			"We are on it."},
		{"outlook de", "Wir sind dran.\n\n-----Ursprüngliche Nachricht-----\nVon: Jane Doe <jane@example.net>\nGesendet: Montag, 2. März 2026 10:00\nAn: security@example.org\nBetreff: Fehler\n\nFehler gefunden.\n",
			"Wir sind dran."},
		{"outlook nl", "We kijken ernaar.\n\n-----Oorspronkelijk bericht-----\nVan: Jane Doe\nVerzonden: maandag 2 maart 2026 10:00\nAan: security@example.org\n\nFout.\n",
			"We kijken ernaar."},
		{"outlook header block", "On it.\n\n________________________________\nFrom: Jane Doe <jane@example.net>\nSent: Monday, March 2, 2026 10:00 AM\nTo: security@example.org\n\nI found a bug.\n",
			"On it."},
		{"outlook html bold", "On it.\n\n*From:* Jane Doe <jane@example.net>\n*Sent:* Monday\n\nbug\n",
			"On it."},
		{"inline reply", "Jane wrote:\n> Is it fixed?\nYes, in 1.2.3.\n> Will you credit me?\n\nYes.\n",
			"Yes, in 1.2.3.\n\nYes."},
		{"wrote: without a quote stays", "As the vendor wrote:\nthe patch is ready.\n", "As the vendor wrote:\nthe patch is ready."},
		{"undated On stays", "On second thought, the attacker wrote:\nnothing.\n", "On second thought, the attacker wrote:\nnothing."},
		{"From: in prose stays", "From: our side, all is done.\nThanks.\n", "From: our side, all is done.\nThanks."},
		{"blank runs", "\n\nA\n\n\n\nB   \n\n", "A\n\nB"},
		{"signature kept", "Done.\n-- \nAlice\n", "Done.\n-- \nAlice"},
		{"only quotes", "> a\n> b\n", ""},
		{"indented quote", "ok\n  > quoted\n", "ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := TrimQuoted(tt.in); got != tt.want {
				t.Errorf("TrimQuoted() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTrimQuotedLongLine(t *testing.T) {
	in := "On " + strings.Repeat("1", 1<<20) + " wrote:\n> q\n"
	if got := TrimQuoted(in); !strings.HasPrefix(got, "On 111") {
		t.Errorf("TrimQuoted(1 MiB attribution) dropped it, want it kept (longer than any attribution)")
	}
}
