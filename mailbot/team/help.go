package team

import "strings"

// Help documents the commands for a team member, in lang ("en", "de", "nl";
// anything else gives English). It answers a "help" mail and is the
// command reference in the README.
func Help(lang string) string {
	t, ok := helpTexts[strings.ToLower(lang)]
	if !ok {
		t = helpTexts["en"]
	}
	r := strings.NewReplacer(
		"{statuses}", strings.Join(Statuses, ", "),
		"{levels}", strings.Join(Levels, ", "),
		"{languages}", strings.Join(Languages, ", "),
	)
	return r.Replace(t)
}

var helpTexts = map[string]string{
	"en": `Commands for the security bot

Reply to a case mail (keep [SEC-n] in the subject) and write commands at the
top, one per line. Names are case-insensitive; "status: fixed" works too.
Blank and quoted (">") lines are skipped. The first line that is not a
command ends the commands: the text from there on goes to the reporter,
without the quoted history. A line "-- " (signature) ends everything.

  claim                    take the case yourself
  assign <member>          give the case to a team member (name or address)
  status <status>          one of: {statuses}
  severity <level>         one of: {levels}
  severity <CVSS vector>   CVSS:3.1/... or CVSS:4.0/...: scored, the level follows
  expected <YYYY-MM-DD>    when the fix is expected
  disclose <YYYY-MM-DD>    the disclosure date
  extend <N> days          extend the disclosure deadline by N days
  cve <CVE-YYYY-NNNN>      the CVE id assigned
  credit <name>            how the reporter is credited; "credit anonymous" for none
  reward yes|no|<text>     whether (or what) the reporter is rewarded
  language <lang>          the reporter's language: {languages}
  merge <SEC-n>            this case duplicates SEC-n and is merged into it
  out-of-scope <N>         answer the reporter with entry N of the policy's out-of-scope
                           list (numbered in the notification) and close the case
  not-spam                 the case is a report, not spam: its held acknowledgement goes out
  key accept <fingerprint> trust the reporter's new OpenPGP key; until then it
                           waits and mail stays encrypted to the known key
  note <text>              an internal note: the rest of the mail, never sent
                           to the reporter
  #internal                the whole mail is for the team only
  help                     this text

A mistyped command ("stauts fixed") is reported back, not ignored. Mail
counts only when signed with your OpenPGP key or DKIM-signed by your domain.
`,
	"de": `Befehle für den Security-Bot

Antworten Sie auf eine Fall-Mail ([SEC-n] im Betreff behalten) und schreiben
Sie die Befehle an den Anfang, einen pro Zeile. Groß- und Kleinschreibung
egal; "status: fixed" geht auch. Leere und zitierte (">") Zeilen werden
übersprungen. Die erste Zeile, die kein Befehl ist, beendet die Befehle: der
Text ab dort geht ohne die zitierte Vorgeschichte an die meldende Person.
Eine Zeile "-- " (Signatur) beendet alles.

  claim                    den Fall selbst übernehmen
  assign <Mitglied>        den Fall einem Teammitglied geben (Name oder Adresse)
  status <Status>          einer von: {statuses}
  severity <Stufe>         eine von: {levels}
  severity <CVSS-Vektor>   CVSS:3.1/... oder CVSS:4.0/...: bewertet, die Stufe folgt daraus
  expected <JJJJ-MM-TT>    wann die Korrektur erwartet wird
  disclose <JJJJ-MM-TT>    das Datum der Veröffentlichung
  extend <N> days          die Frist bis zur Veröffentlichung um N Tage verlängern
  cve <CVE-JJJJ-NNNN>      die vergebene CVE-Nummer
  credit <Name>            wie die meldende Person genannt wird; "credit anonymous" für keine Nennung
  reward yes|no|<Text>     ob (oder was) die meldende Person als Belohnung erhält
  language <Sprache>       die Sprache der meldenden Person: {languages}
  merge <SEC-n>            dieser Fall ist ein Duplikat von SEC-n und wird dort zusammengeführt
  out-of-scope <N>         der meldenden Person mit Eintrag N der Ausschlussliste der Policy
                           antworten (nummeriert in der Benachrichtigung) und den Fall schließen
  not-spam                 der Fall ist eine Meldung, kein Spam: die zurückgehaltene
                           Eingangsbestätigung geht hinaus
  key accept <Fingerprint> dem neuen OpenPGP-Schlüssel der meldenden Person trauen;
                           bis dahin wartet er und Mail geht an den bekannten Schlüssel
  note <Text>              eine interne Notiz: der Rest der Mail, geht nie an
                           die meldende Person
  #internal                die ganze Mail ist nur für das Team
  help                     dieser Text

Ein vertippter Befehl ("stauts fixed") wird gemeldet, nicht ignoriert. Mails
zählen nur, wenn sie mit Ihrem OpenPGP-Schlüssel signiert oder von Ihrer
Domain per DKIM signiert sind.
`,
	"nl": `Opdrachten voor de securitybot

Beantwoord een zaakmail (laat [SEC-n] in het onderwerp staan) en zet de
opdrachten bovenaan, één per regel. Hoofdletters maken niet uit; "status:
fixed" werkt ook. Lege en geciteerde (">") regels worden overgeslagen. De
eerste regel die geen opdracht is, beëindigt de opdrachten: de tekst vanaf
daar gaat zonder de geciteerde geschiedenis naar de melder. Een regel "-- "
(handtekening) beëindigt alles.

  claim                    de zaak zelf oppakken
  assign <lid>             de zaak aan een teamlid geven (naam of adres)
  status <status>          een van: {statuses}
  severity <niveau>        een van: {levels}
  severity <CVSS-vector>   CVSS:3.1/... of CVSS:4.0/...: gescoord, het niveau volgt daaruit
  expected <JJJJ-MM-DD>    wanneer de oplossing verwacht wordt
  disclose <JJJJ-MM-DD>    de datum van openbaarmaking
  extend <N> days          de termijn tot openbaarmaking met N dagen verlengen
  cve <CVE-JJJJ-NNNN>      het toegekende CVE-nummer
  credit <naam>            hoe de melder vermeld wordt; "credit anonymous" voor geen vermelding
  reward yes|no|<tekst>    of (of wat) de melder als beloning krijgt
  language <taal>          de taal van de melder: {languages}
  merge <SEC-n>            deze zaak is een duplicaat van SEC-n en wordt daarin samengevoegd
  out-of-scope <N>         de melder antwoorden met punt N van de lijst buiten de scope van het
                           beleid (genummerd in de melding aan het team) en de zaak sluiten
  not-spam                 de zaak is een melding, geen spam: de achtergehouden
                           ontvangstbevestiging gaat alsnog uit
  key accept <fingerprint> de nieuwe OpenPGP-sleutel van de melder vertrouwen; tot
                           dan wacht hij en gaat mail naar de bekende sleutel
  note <tekst>             een interne notitie: de rest van de mail, gaat nooit
                           naar de melder
  #internal                de hele mail is alleen voor het team
  help                     deze tekst

Een verkeerd getypte opdracht ("stauts fixed") wordt teruggemeld, niet
genegeerd. Mail telt alleen als die met uw OpenPGP-sleutel of door uw domein
met DKIM ondertekend is.
`,
}
