package templates

import (
	"fmt"
	"strings"
	"text/template"
	"time"
)

var (
	weekdays = map[string][7]string{
		"en": {"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"},
		"de": {"Sonntag", "Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag"},
		"nl": {"zondag", "maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag"},
	}
	months = map[string][12]string{
		"en": {"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"},
		"de": {"Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober", "November", "Dezember"},
		"nl": {"januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september", "oktober", "november", "december"},
	}
)

// Date formats t as a long date in lang: "Tuesday, 3 March 2026",
// "Dienstag, 3. März 2026", "dinsdag 3 maart 2026".
func Date(lang string, t time.Time) string {
	wd, m := weekdays[lang], months[lang]
	if wd[0] == "" {
		wd, m = weekdays["en"], months["en"]
		lang = "en"
	}
	switch lang {
	case "de":
		return fmt.Sprintf("%s, %d. %s %d", wd[t.Weekday()], t.Day(), m[t.Month()-1], t.Year())
	case "nl":
		return fmt.Sprintf("%s %d %s %d", wd[t.Weekday()], t.Day(), m[t.Month()-1], t.Year())
	}
	return fmt.Sprintf("%s, %d %s %d", wd[t.Weekday()], t.Day(), m[t.Month()-1], t.Year())
}

// DateTime is Date followed by the 24-hour time and the zone abbreviation.
func DateTime(lang string, t time.Time) string {
	sep := ", "
	if lang == "de" {
		sep = ", um "
	} else if lang == "nl" {
		sep = " om "
	}
	return Date(lang, t) + sep + t.Format("15:04 MST")
}

func funcs(lang string) template.FuncMap {
	return template.FuncMap{
		"date":     func(t time.Time) string { return Date(lang, t) },
		"datetime": func(t time.Time) string { return DateTime(lang, t) },
		"join":     strings.Join,
		// fpr groups a fingerprint in blocks of four, as gpg prints it.
		"fpr": func(s string) string {
			var b strings.Builder
			for i, r := range s {
				if i > 0 && i%4 == 0 {
					b.WriteByte(' ')
				}
				b.WriteRune(r)
			}
			return b.String()
		},
	}
}
