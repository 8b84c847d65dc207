package policy

import (
	"bytes"
	"fmt"
	"strings"
)

// texts are the fixed phrases of the Markdown policy in one language.
type texts struct {
	title, revision                                 string
	report, sendTo, encrypt, plaintext              string
	pseudonym, anonymous, include                   string
	promises, within, keepInformed, businessDays    string
	after                                           map[Event]string
	weekdays                                        [7]string
	disclosure, window, noWindow, extension, extAny string
	scope, outOfScope                               string
	rewards, rewardNone, rewardDisc, rewardBounty   string
	credit, hallOfFame, announcement, contributors  string
	noCredit, safeHarbour                           string
	unit                                            func(Duration) string // after "within"
	unitAcc                                         func(Duration) string // "every", "after", "by"; unit when nil
}

// acc is d in words for "every N", "N days after" and "extend by N".
func (t *texts) acc(d Duration) string {
	if t.unitAcc != nil {
		return t.unitAcc(d)
	}
	return t.unit(d)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

var allTexts = map[string]*texts{
	"en": {
		title:        "%s: vulnerability disclosure policy",
		revision:     "Revision %s.",
		report:       "How to report",
		sendTo:       "Send your report by e-mail to <%s>.",
		encrypt:      "Please encrypt it with our OpenPGP key: <%s>.",
		plaintext:    "If you cannot encrypt, plain e-mail is fine; we will then reply unencrypted.",
		pseudonym:    "You may report under a pseudonym.",
		anonymous:    "You may report anonymously.",
		include:      "Please include:",
		promises:     "What we promise",
		within:       "**%s**: within %s %s.",
		keepInformed: "We keep you informed of our progress at least every %s.",
		businessDays: "Business days are %s, %s to %s (%s), except public holidays.",
		after: map[Event]string{
			EventReportReceived:  "of receiving your report",
			EventTeamReplied:     "of our first reply",
			EventReporterReplied: "of your reply",
			EventAssessmentSent:  "of our assessment",
			EventConfirmed:       "of confirming the vulnerability",
			EventFixing:          "of starting work on a fix",
			EventFixed:           "of the fix",
		},
		weekdays:     [7]string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"},
		disclosure:   "Disclosure",
		window:       "Please keep the vulnerability confidential until it is fixed; we aim to disclose it publicly %s after your report.",
		noWindow:     "Please keep the vulnerability confidential until it is fixed; we agree on the publication with you.",
		extension:    "We may ask you to extend this by up to %s.",
		extAny:       "We may ask you to extend this.",
		scope:        "In scope",
		outOfScope:   "Out of scope",
		rewards:      "Rewards",
		rewardNone:   "We do not offer a bug bounty.",
		rewardDisc:   "We may offer a reward, at our discretion.",
		rewardBounty: "We offer a bug bounty.",
		credit:       "Credit",
		hallOfFame:   "If you wish, we list your name in our hall of fame.",
		announcement: "If you wish, we name you in the security announcement.",
		contributors: "If you wish, we list you as a contributor.",
		noCredit:     "We thank you in our reply.",
		safeHarbour:  "Safe harbour",
		unit: func(d Duration) string {
			switch d.Unit {
			case BusinessDays:
				return plural(d.N, "business day", "business days")
			case Hours:
				return plural(d.N, "hour", "hours")
			case Weeks:
				return plural(d.N, "week", "weeks")
			}
			return plural(d.N, "day", "days")
		},
	},
	"de": {
		title:        "%s: Richtlinie zur Meldung von Schwachstellen",
		revision:     "Version %s.",
		report:       "So melden Sie eine Schwachstelle",
		sendTo:       "Senden Sie Ihre Meldung per E-Mail an <%s>.",
		encrypt:      "Bitte verschlüsseln Sie sie mit unserem OpenPGP-Schlüssel: <%s>.",
		plaintext:    "Wenn Sie nicht verschlüsseln können, ist eine unverschlüsselte E-Mail in Ordnung; wir antworten dann unverschlüsselt.",
		pseudonym:    "Sie können unter einem Pseudonym melden.",
		anonymous:    "Sie können anonym melden.",
		include:      "Bitte nennen Sie:",
		promises:     "Was wir versprechen",
		within:       "**%s**: innerhalb von %s %s.",
		keepInformed: "Wir halten Sie mindestens alle %s über den Fortschritt auf dem Laufenden.",
		businessDays: "Werktage sind %s, %s bis %s Uhr (%s), außer an gesetzlichen Feiertagen.",
		after: map[Event]string{
			EventReportReceived:  "nach Eingang Ihrer Meldung",
			EventTeamReplied:     "nach unserer ersten Antwort",
			EventReporterReplied: "nach Ihrer Antwort",
			EventAssessmentSent:  "nach unserer Einschätzung",
			EventConfirmed:       "nach Bestätigung der Schwachstelle",
			EventFixing:          "nach Beginn der Behebung",
			EventFixed:           "nach der Behebung",
		},
		weekdays:     [7]string{"Sonntag", "Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag"},
		disclosure:   "Veröffentlichung",
		window:       "Bitte behandeln Sie die Schwachstelle vertraulich, bis sie behoben ist; wir streben eine Veröffentlichung %s nach Ihrer Meldung an.",
		noWindow:     "Bitte behandeln Sie die Schwachstelle vertraulich, bis sie behoben ist; die Veröffentlichung stimmen wir mit Ihnen ab.",
		extension:    "Wir können Sie bitten, diese Frist um bis zu %s zu verlängern.",
		extAny:       "Wir können Sie bitten, diese Frist zu verlängern.",
		scope:        "Geltungsbereich",
		outOfScope:   "Nicht im Geltungsbereich",
		rewards:      "Belohnungen",
		rewardNone:   "Wir bieten kein Bug-Bounty-Programm an.",
		rewardDisc:   "Wir können nach eigenem Ermessen eine Belohnung anbieten.",
		rewardBounty: "Wir bieten ein Bug-Bounty-Programm an.",
		credit:       "Anerkennung",
		hallOfFame:   "Auf Wunsch nennen wir Ihren Namen in unserer Hall of Fame.",
		announcement: "Auf Wunsch nennen wir Sie in der Sicherheitsmeldung.",
		contributors: "Auf Wunsch führen wir Sie als Mitwirkende(n) auf.",
		noCredit:     "Wir bedanken uns in unserer Antwort.",
		safeHarbour:  "Rechtlicher Schutz",
		unit: func(d Duration) string { // dative after "innerhalb von"/"nach"
			switch d.Unit {
			case BusinessDays:
				return plural(d.N, "Werktag", "Werktagen")
			case Hours:
				return plural(d.N, "Stunde", "Stunden")
			case Weeks:
				return plural(d.N, "Woche", "Wochen")
			}
			return plural(d.N, "Tag", "Tagen")
		},
		unitAcc: func(d Duration) string { // "alle 7 Tage", "50 Tage nach", "um bis zu 30 Tage"
			switch d.Unit {
			case BusinessDays:
				return plural(d.N, "Werktag", "Werktage")
			case Hours:
				return plural(d.N, "Stunde", "Stunden")
			case Weeks:
				return plural(d.N, "Woche", "Wochen")
			}
			return plural(d.N, "Tag", "Tage")
		},
	},
	"nl": {
		title:        "%s: beleid voor het melden van kwetsbaarheden",
		revision:     "Versie %s.",
		report:       "Hoe meldt u een kwetsbaarheid",
		sendTo:       "Stuur uw melding per e-mail naar <%s>.",
		encrypt:      "Versleutel deze alstublieft met onze OpenPGP-sleutel: <%s>.",
		plaintext:    "Kunt u niet versleutelen, dan is een onversleutelde e-mail ook goed; we antwoorden dan onversleuteld.",
		pseudonym:    "U mag onder een pseudoniem melden.",
		anonymous:    "U mag anoniem melden.",
		include:      "Vermeld alstublieft:",
		promises:     "Wat wij beloven",
		within:       "**%s**: binnen %s %s.",
		keepInformed: "We houden u minstens elke %s op de hoogte van de voortgang.",
		businessDays: "Werkdagen zijn %s, %s tot %s uur (%s), behalve op feestdagen.",
		after: map[Event]string{
			EventReportReceived:  "na ontvangst van uw melding",
			EventTeamReplied:     "na ons eerste antwoord",
			EventReporterReplied: "na uw antwoord",
			EventAssessmentSent:  "na onze beoordeling",
			EventConfirmed:       "na bevestiging van de kwetsbaarheid",
			EventFixing:          "na de start van het herstel",
			EventFixed:           "na het herstel",
		},
		weekdays:     [7]string{"zondag", "maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag"},
		disclosure:   "Openbaarmaking",
		window:       "Houd de kwetsbaarheid alstublieft vertrouwelijk tot deze is verholpen; we streven naar openbaarmaking %s na uw melding.",
		noWindow:     "Houd de kwetsbaarheid alstublieft vertrouwelijk tot deze is verholpen; over openbaarmaking overleggen we met u.",
		extension:    "We kunnen u vragen deze termijn met maximaal %s te verlengen.",
		extAny:       "We kunnen u vragen deze termijn te verlengen.",
		scope:        "Binnen de scope",
		outOfScope:   "Buiten de scope",
		rewards:      "Beloning",
		rewardNone:   "We bieden geen bug bounty.",
		rewardDisc:   "We kunnen naar eigen inzicht een beloning geven.",
		rewardBounty: "We bieden een bug bounty.",
		credit:       "Vermelding",
		hallOfFame:   "Als u dat wilt, vermelden we uw naam in onze hall of fame.",
		announcement: "Als u dat wilt, noemen we u als ontdekker in de publicatie.",
		contributors: "Als u dat wilt, vermelden we u als bijdrager.",
		noCredit:     "We bedanken u in ons antwoord.",
		safeHarbour:  "Juridische bescherming",
		unit: func(d Duration) string {
			switch d.Unit {
			case BusinessDays:
				return plural(d.N, "werkdag", "werkdagen")
			case Hours:
				return plural(d.N, "uur", "uur")
			case Weeks:
				return plural(d.N, "week", "weken")
			}
			return plural(d.N, "dag", "dagen")
		},
	},
}

// DurationText is d in words in lang ("3 business days", "3 Werktagen",
// "3 werkdagen"); d.String() for a language without texts.
func DurationText(d Duration, lang string) string {
	t, ok := allTexts[lang]
	if !ok {
		return d.String()
	}
	return t.unit(d)
}

// Markdown renders the human-readable policy in lang ("" for the default
// language): how to report, the published commitments, the disclosure
// window, scope, rewards, credit and safe harbour. Free texts of the policy
// (titles, labels, safe harbour) are taken in lang when the file has them,
// else in its default language.
func (p *Policy) Markdown(lang string) ([]byte, error) {
	if lang == "" {
		lang = p.DefaultLanguage()
	}
	t, ok := allTexts[lang]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrNoTexts, lang)
	}
	var b bytes.Buffer
	para := func(s string) {
		if s != "" {
			b.WriteString(s + "\n\n")
		}
	}
	heading := func(s string) { b.WriteString("## " + s + "\n\n") }
	list := func(items []string) {
		for _, s := range items {
			b.WriteString("- " + oneLine(s) + "\n")
		}
		b.WriteString("\n")
	}

	b.WriteString("# " + fmt.Sprintf(t.title, p.Organisation) + "\n\n")
	if p.Revision != "" {
		para(fmt.Sprintf(t.revision, p.Revision))
	}

	heading(t.report)
	para(fmt.Sprintf(t.sendTo, p.Address))
	if p.EncryptionURL != "" && strings.HasPrefix(p.EncryptionURL, "https://") {
		para(fmt.Sprintf(t.encrypt, p.EncryptionURL))
		if p.PlaintextReplies {
			para(t.plaintext)
		}
	}
	if p.Pseudonymous {
		para(t.pseudonym)
	}
	if p.Anonymous {
		para(t.anonymous)
	}
	if len(p.Fields) > 0 {
		para(t.include)
		var l []string
		for _, fl := range p.Fields {
			l = append(l, p.fieldLabel(fl, lang))
		}
		list(l)
	}

	var promises []string
	businessDays := false
	for _, c := range p.Commitments {
		if c.Internal || c.Name == KeepInformedName {
			continue
		}
		title := p.text(c.Title, lang)
		if title == "" {
			title = c.Name
		}
		after, ok := t.after[c.Start]
		if !ok {
			after = "(" + string(c.Start) + ")"
		}
		promises = append(promises, fmt.Sprintf(t.within, title, t.unit(c.Duration), after))
		businessDays = businessDays || c.Duration.Unit == BusinessDays
	}
	if !p.KeepInformedEvery.IsZero() {
		promises = append(promises, fmt.Sprintf(t.keepInformed, t.acc(p.KeepInformedEvery)))
	}
	if len(promises) > 0 {
		heading(t.promises)
		list(promises)
		if businessDays {
			var days []string
			for _, d := range p.Calendar.WorkDays() {
				days = append(days, t.weekdays[d])
			}
			open, close := p.Calendar.WorkingHours()
			para(fmt.Sprintf(t.businessDays, strings.Join(days, ", "), open, close, p.Calendar.Location()))
		}
	}

	heading(t.disclosure)
	if p.Disclosure.Days > 0 {
		para(fmt.Sprintf(t.window, t.acc(Duration{N: p.Disclosure.Days, Unit: Days})))
	} else {
		para(t.noWindow)
	}
	switch {
	case p.Disclosure.Extendable && p.Disclosure.MaxExtensionDays > 0:
		para(fmt.Sprintf(t.extension, t.acc(Duration{N: p.Disclosure.MaxExtensionDays, Unit: Days})))
	case p.Disclosure.Extendable:
		para(t.extAny)
	}

	if len(p.Scope.In) > 0 {
		heading(t.scope)
		list(p.Scope.In)
	}
	if len(p.Scope.Out) > 0 {
		heading(t.outOfScope)
		var out []string
		for n := range p.Scope.Out {
			text, _ := p.OutOfScopeText(n+1, lang)
			out = append(out, text)
		}
		list(out)
	}

	heading(t.rewards)
	switch p.Rewards.Kind {
	case "discretionary":
		para(t.rewardDisc)
	case "bounty":
		para(t.rewardBounty)
	default:
		para(t.rewardNone)
	}
	para(p.text(p.Rewards.Criteria, lang))

	heading(t.credit)
	credited := false
	for _, c := range []struct {
		on   bool
		text string
	}{{p.Credit.HallOfFame, t.hallOfFame}, {p.Credit.Announcement, t.announcement}, {p.Credit.ContributorList, t.contributors}} {
		if c.on {
			para(c.text)
			credited = true
		}
	}
	if p.AcknowledgmentsURL != "" {
		para("<" + p.AcknowledgmentsURL + ">")
	}
	if !credited {
		para(t.noCredit)
	}

	if s := p.text(p.SafeHarbour, lang); s != "" {
		heading(t.safeHarbour)
		para(strings.TrimSpace(s))
	}
	if p.PolicyURL != "" {
		para("<" + p.PolicyURL + ">")
	}
	return append(bytes.TrimRight(b.Bytes(), "\n"), '\n'), nil
}
