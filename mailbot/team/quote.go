package team

import (
	"regexp"
	"strings"
)

var (
	// Outlook and others quote nothing: everything from the separator on is
	// the history. en, de, nl.
	originalRE  = regexp.MustCompile(`(?i)^-{2,}\s*(original message|ursprüngliche nachricht|originalnachricht|oorspronkelijk bericht|originele bericht)\s*-{2,}$`)
	underlineRE = regexp.MustCompile(`^_{10,}$`)

	// Attributions that carry a date (a digit): safe to drop wherever they
	// are, even wrapped over up to three lines (Gmail wraps long ones).
	datedAttributionRE = []*regexp.Regexp{
		regexp.MustCompile(`(?i)^on\s.*[0-9].*\swrote:$`),                   // On Mon, 2 Mar 2026 at 10:00, Alice <a@example.org> wrote:
		regexp.MustCompile(`(?i)^am\s.*[0-9].*\sschrieb\s.+:$`),             // Am 02.03.2026 um 10:00 schrieb Alice <a@example.org>:
		regexp.MustCompile(`(?i)^op\s.*[0-9].*\sschreef\s.+:$`),             // Op ma 2 mrt 2026 om 10:00 schreef Alice <a@example.org>:
		regexp.MustCompile(`(?i)^.+\s(schrieb am|schreef op)\s.*[0-9].*:$`), // Alice <a@example.org> schrieb am 02.03.2026 10:00:
	}
	// "Alice wrote:" and friends: dropped only when quoted text follows.
	attributionRE = regexp.MustCompile(`(?i)^.{1,200}\s(wrote|writes|schrieb|schreef)(\s.{0,100})?:$`)
)

const maxAttributionLines = 3

// The header block Outlook writes instead of (or after) the separator:
// "From: ..." followed by "Sent: ...", "To: ..." within a few lines.
var (
	fromFields  = map[string]bool{"from": true, "von": true, "van": true, "de": true}
	otherFields = map[string]bool{"sent": true, "date": true, "gesendet": true, "datum": true, "verzonden": true,
		"to": true, "an": true, "aan": true, "subject": true, "betreff": true, "onderwerp": true, "cc": true}
)

// headerField is the lowercased name of a "Name: value" line, or "".
// QUIRK: HTML converted to text may keep the bold as "*From:*".
func headerField(t string) string {
	i := strings.IndexByte(t, ':')
	if i < 1 || i > 12 {
		return ""
	}
	rest := strings.TrimPrefix(t[i+1:], "*")
	if rest != "" && rest[0] != ' ' && rest[0] != '\t' {
		return ""
	}
	return strings.ToLower(strings.Trim(t[:i], "*"))
}

// TrimQuoted removes quoted history from a team member's reply so that it
// can be relayed to the reporter:
//
//   - everything from an Outlook-style separator ("-----Original
//     Message-----", "-----Ursprüngliche Nachricht-----", "-----Oorspronkelijk
//     bericht-----") or header block ("From:"/"Von:"/"Van:" followed within
//     four lines by "Sent:", "To:", "Subject:" or their de/nl names) to the
//     end;
//   - lines starting with ">" (after optional spaces);
//   - attribution lines: "On <date> ... wrote:", "Am <date> ... schrieb ...:",
//     "Op <date> ... schreef ...:", "... schrieb am <date>:", also when wrapped
//     over up to three lines; "<name> wrote:" (schrieb, schreef) only when
//     quoted text follows.
//
// Trailing spaces are cut (not from the signature separator "-- "), runs of blank lines become one, and leading and
// trailing blank lines go. Line endings become "\n".
func TrimQuoted(text string) string {
	ls := lines(text)
	ls = cutHistory(ls)
	drop := make([]bool, len(ls))
	for i := 0; i < len(ls); i++ {
		if isQuoted(ls[i]) {
			drop[i] = true
			continue
		}
		if n := attribution(ls, i); n > 0 {
			for j := i; j < i+n; j++ {
				drop[j] = true
			}
			i += n - 1
		}
	}
	var out []string
	blank := true // drops leading blank lines
	for i, l := range ls {
		if drop[i] {
			continue
		}
		if l != "-- " { // RFC 3676 section 4.3: the separator keeps its space
			l = strings.TrimRight(l, " \t")
		}
		if l == "" {
			if blank {
				continue
			}
			blank = true
		} else {
			blank = false
		}
		out = append(out, l)
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return strings.Join(out, "\n")
}

// cutHistory drops everything from an unquoted Outlook-style history on.
func cutHistory(ls []string) []string {
	for i, l := range ls {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "--") && originalRE.MatchString(t) {
			return ls[:i]
		}
		if !fromFields[headerField(t)] {
			continue
		}
		for j := i + 1; j < len(ls) && j <= i+4; j++ {
			if otherFields[headerField(strings.TrimSpace(ls[j]))] {
				if i > 0 && underlineRE.MatchString(strings.TrimSpace(ls[i-1])) {
					i--
				}
				return ls[:i]
			}
		}
	}
	return ls
}

// attribution is the number of lines from i that form an attribution line,
// or 0.
func attribution(ls []string, i int) int {
	var joined string
	for n := 1; n <= maxAttributionLines && i+n <= len(ls); n++ {
		t := strings.TrimSpace(ls[i+n-1])
		if t == "" || isQuoted(ls[i+n-1]) {
			return 0
		}
		if n == 1 {
			joined = t
		} else {
			joined += " " + t
		}
		if len(joined) > 400 {
			return 0
		}
		if !strings.HasSuffix(t, ":") || !hasAttributionVerb(joined) {
			continue
		}
		for _, re := range datedAttributionRE {
			if re.MatchString(joined) {
				return n
			}
		}
		if n == 1 && attributionRE.MatchString(joined) && quotedFollows(ls, i+1) {
			return 1
		}
	}
	return 0
}

func hasAttributionVerb(s string) bool {
	s = strings.ToLower(s)
	for _, v := range []string{"wrote", "writes", "schrieb", "schreef"} {
		if strings.Contains(s, v) {
			return true
		}
	}
	return false
}

// quotedFollows reports whether the first non-blank line from i is quoted.
func quotedFollows(ls []string, i int) bool {
	for ; i < len(ls); i++ {
		if strings.TrimSpace(ls[i]) != "" {
			return isQuoted(ls[i])
		}
	}
	return false
}
