package policy

import (
	"fmt"
	"iter"
	"maps"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"mailbot/policy/tomlfile"
)

// OutOfScope is one entry of [scope] out: something the policy does not
// cover, in the policy's words, with the terms that hint that a report is
// about it. The file writes an entry as a plain string (the same wording in
// every language, no terms) or as a table:
//
//	out = [
//	  "Social engineering",
//	  { text = { en = "Missing SPF/DMARC records", de = "Fehlende SPF-/DMARC-Einträge" }, match = ["SPF", "DMARC"] },
//	]
type OutOfScope struct {
	Text  map[string]string // language -> wording; a plain string is under "" (any language)
	Match []string          // terms and phrases, as written in the file

	terms []term // Match compiled, same order
}

// Hints is what a report's words suggest about its scope. Hints are for the
// team only: the policy promises the acknowledgement and its clocks to every
// report, so a hint never skips either.
type Hints struct {
	OutOfScope []Hint   // the entries the report seems to be about, in policy order
	Reward     []string // the words asking for a reward, when the policy offers none
}

// Hint is one out-of-scope entry a report matched.
type Hint struct {
	N     int      // the entry's 1-based number in [scope] out, as in "out-of-scope N"
	Terms []string // the entry's terms found in the report, as the policy writes them
}

// Bounds on the terms of an entry and on the text looked at.
const (
	maxTermRunes = 100
	maxHintBytes = 256 << 10 // a report's first 256 KiB: beyond that, words are evidence, not the topic
)

// OffersReward reports whether the policy offers any reward: a bounty or a
// discretionary one.
func (p *Policy) OffersReward() bool {
	return p.Rewards.Kind != "none"
}

// OutOfScopeText is the wording of entry n (1-based, as in the team's
// "out-of-scope N") in lang, else in the policy's default language, else
// English, else any; false when the policy has no entry n.
func (p *Policy) OutOfScopeText(n int, lang string) (string, bool) {
	if n < 1 || n > len(p.Scope.Out) {
		return "", false
	}
	return p.text(p.Scope.Out[n-1].Text, lang), true
}

// ScopeHints looks for the out-of-scope entries whose terms a report's
// subject or text contains, and, when the policy offers no reward, for a
// request for one (in English, German or Dutch). A term matches as whole
// words, case-insensitively, across any punctuation or white space between
// its words: "SPF" matches "spf," and "SPF-record" but not "SPFX"; "TLS 1.0"
// matches "tls  1.0." but not "TLS 1.01" or "TLS 1.0.1". A report that only mentions a term ("we checked SPF as
// well") still matches: that is what a hint is.
func (p *Policy) ScopeHints(subject, text string) Hints {
	s := subject + "\n" + text
	if len(s) > maxHintBytes {
		s = strings.ToValidUTF8(s[:maxHintBytes], "")
	}
	// Lower case once, and terms in lower case without (?i): a literal
	// prefix lets the regexp package skip ahead, about 200 times faster
	// (BenchmarkScopeHints). Offsets are only ever used within s.
	s = strings.ToLower(s)
	words := p.Scope.words.in(s)
	var h Hints
	for i, e := range p.Scope.Out {
		var found []string
		for j, t := range e.terms {
			if t.in(s, words) {
				found = append(found, e.Match[j])
			}
		}
		if len(found) > 0 {
			h.OutOfScope = append(h.OutOfScope, Hint{N: i + 1, Terms: found})
		}
	}
	if !p.OffersReward() {
		for _, w := range rewardWords {
			if w.term.in(s, words) {
				h.Reward = append(h.Reward, w.word)
			}
		}
	}
	return h
}

// rewardWords ask for money or a reward for a report, in the languages the
// bot writes. A trailing "*" matches any ending ("Belohnungs*" for German
// compounds). They are hints, but a report on a "payment" page or an
// insurer's "Prämie" or "vergoeding" is not asking to be paid: bare words
// that name a feature or a fee are left out.
var rewardWords = compileWords(
	// English
	"bounty", "bounties", "bug bounty", "reward", "rewards", "rewarded", "rewarding me", "monetary",
	"compensate me", "payout", "pay out", "get paid", "be paid", "how much will you pay", "how much do you pay",
	"will you pay", "do you pay", "payment for my report", "payment for my finding", "payment for this finding",
	"financial recognition",
	// German
	"Belohnung", "Belohnungs*", "Kopfgeld", "Finderlohn", "Aufwandsentschädigung", "bezahlt werden",
	"zahlen Sie", "bezahlen Sie", "wie viel zahlen",
	// Dutch
	"beloning", "belonen", "beloond", "uitbetaling", "betalen jullie", "betaalt u", "betaal je",
	"hoeveel betalen", "hoeveel krijg",
)

type word struct {
	word string
	term term
}

// term is a term compiled: its regexp, and the words (runs of letters and
// digits, in lower case) a text must have for the regexp to have a chance.
type term struct {
	re     *regexp.Regexp
	words  []string
	prefix bool // the last word may go on ("Belohnungs*")
}

// in reports whether t matches in s (lowered) as whole words. words is
// wordSet(s): a term with a word the text lacks cannot match, and most
// terms are ruled out by one map lookup instead of a scan of s.
func (t term) in(s string, words map[string]bool) bool {
	for i, w := range t.words {
		if t.prefix && i == len(t.words)-1 {
			if !strings.Contains(s, w) {
				return false
			}
		} else if !words[w] {
			return false
		}
	}
	return containsWord(s, t.re)
}

// isLetterOrDigit is what makes a run of wordSet. Every character that
// may stand between a term's words ([^\p{L}\p{N}]+) or around a whole-word
// match (wholeWords) is outside it, so a match's runs are runs of the text.
func isLetterOrDigit(r rune) bool {
	if r < utf8.RuneSelf {
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9'
	}
	return unicode.IsLetter(r) || unicode.IsDigit(r)
}

// wordIndex is the words of a policy's terms, for finding them in a text.
type wordIndex struct {
	words   map[string]bool
	lengths uint64 // bit n: a word n bytes long (n < 64); longer ones are always looked up
}

func newWordIndex(terms iter.Seq[term]) wordIndex {
	x := wordIndex{words: map[string]bool{}}
	for t := range terms {
		for _, w := range t.words {
			x.words[w] = true
			if len(w) < 64 {
				x.lengths |= 1 << len(w)
			}
		}
	}
	return x
}

// in is the set of the index's words that are runs of letters and digits
// of s. A whole-word match of a term is made of the term's literal pieces
// with other characters between them and around it, so each of the term's
// runs is a run of s.
func (x wordIndex) in(s string) map[string]bool {
	set := map[string]bool{}
	add := func(w string) {
		if (len(w) >= 64 || x.lengths&(1<<len(w)) != 0) && x.words[w] {
			set[w] = true
		}
	}
	start := -1
	for i, r := range s {
		if isLetterOrDigit(r) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			add(s[start:i])
			start = -1
		}
	}
	if start >= 0 {
		add(s[start:])
	}
	return set
}

// termWords is the runs of letters and digits of a lowered term.
func termWords(term string) []string {
	return strings.FieldsFunc(strings.ToLower(term), func(r rune) bool { return !isLetterOrDigit(r) })
}

func compileWords(ws ...string) []word {
	out := make([]word, len(ws))
	for i, w := range ws {
		out[i] = word{w, compileTerm(strings.TrimSuffix(w, "*"), strings.HasSuffix(w, "*"))}
	}
	return out
}

// compileTerm makes the regexp of a term: its words in lower case (the text
// is lowered before matching), with any run of characters that are not letters or digits between them; with
// prefix, the last word may go on. Word boundaries are checked by
// containsWord, not here: RE2's \b knows only ASCII.
func compileTerm(s string, prefix bool) term {
	words := strings.Fields(s)
	for i, w := range words {
		words[i] = regexp.QuoteMeta(strings.ToLower(w))
	}
	expr := strings.Join(words, `[^\p{L}\p{N}]+`)
	if prefix {
		expr += `[\p{L}\p{N}\p{M}]*`
	}
	return term{re: regexp.MustCompile(expr), words: termWords(s), prefix: prefix}
}

// containsWord reports whether re matches somewhere in s as whole words.
func containsWord(s string, re *regexp.Regexp) bool {
	for _, m := range re.FindAllStringIndex(s, -1) {
		if m[1] > m[0] && wholeWords(s, m[0], m[1]) {
			return true
		}
	}
	return false
}

func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)
}

// wholeWords: s[start:end] is not part of a longer word or number. An
// underscore separates ("dmarc_policy" is about DMARC); a "." or "," between
// digits joins ("1.0" in "1.0.1" or "11.0" is part of another number).
func wholeWords(s string, start, end int) bool {
	first, _ := utf8.DecodeRuneInString(s[start:end])
	last, _ := utf8.DecodeLastRuneInString(s[start:end])
	if start > 0 {
		r, n := utf8.DecodeLastRuneInString(s[:start])
		if isWordRune(r) {
			return false
		}
		if (r == '.' || r == ',') && unicode.IsDigit(first) {
			if r2, _ := utf8.DecodeLastRuneInString(s[:start-n]); unicode.IsDigit(r2) {
				return false
			}
		}
	}
	if end < len(s) {
		r, n := utf8.DecodeRuneInString(s[end:])
		if isWordRune(r) {
			return false
		}
		if (r == '.' || r == ',') && unicode.IsDigit(last) {
			if r2, _ := utf8.DecodeRuneInString(s[end+n:]); unicode.IsDigit(r2) {
				return false
			}
		}
	}
	return true
}

// compile turns the file's out array (plain strings and tables, as
// decoded) into Scope.Out, recording every problem in f.
func (s *Scope) compile(f *tomlfile.File) {
	s.Out = nil
	for i, raw := range s.OutRaw {
		key := fmt.Sprintf("scope.out[%d]", i)
		var e OutOfScope
		switch v := raw.(type) {
		case string:
			if strings.TrimSpace(v) == "" {
				f.Errorf(key, "empty entry")
			}
			e.Text = map[string]string{"": v}
		case map[string]any:
			e = compileEntry(f, key, v)
		default:
			f.Errorf(key, "want a text or a table { text = ..., match = [...] }, got %T", raw)
		}
		s.Out = append(s.Out, e)
	}
	s.words = newWordIndex(func(yield func(term) bool) {
		for _, e := range s.Out {
			for _, t := range e.terms {
				if !yield(t) {
					return
				}
			}
		}
		for _, w := range rewardWords {
			if !yield(w.term) {
				return
			}
		}
	})
}

func compileEntry(f *tomlfile.File, key string, m map[string]any) OutOfScope {
	var e OutOfScope
	for _, k := range slices.Sorted(maps.Keys(m)) { // errors in a stable order
		v := m[k]
		switch k {
		case "text":
			e.Text = entryText(f, key+".text", v)
		case "match":
			e.Match, e.terms = entryTerms(f, key+".match", v)
		default:
			f.Errorf(key+"."+k, "unknown key, want text or match")
		}
	}
	if _, ok := m["text"]; !ok {
		f.Errorf(key, "missing text")
	}
	return e
}

// entryText reads text = "..." or text = { en = "...", de = "..." }.
func entryText(f *tomlfile.File, key string, v any) map[string]string {
	switch t := v.(type) {
	case string:
		if strings.TrimSpace(t) == "" {
			f.Errorf(key, "empty text")
		}
		return map[string]string{"": t}
	case map[string]any:
		if len(t) == 0 {
			f.Errorf(key, "no text, want e.g. { en = \"...\" }")
		}
		out := map[string]string{}
		for _, lang := range slices.Sorted(maps.Keys(t)) {
			s := t[lang]
			str, ok := s.(string)
			switch {
			case !langRE.MatchString(lang):
				f.Errorf(key+"."+lang, "invalid language tag %q, want e.g. \"en\" or \"de-CH\"", lang)
			case !ok:
				f.Errorf(key+"."+lang, "want a text, got %T", s)
			case strings.TrimSpace(str) == "":
				f.Errorf(key+"."+lang, "empty text")
			}
			out[lang] = str
		}
		return out
	}
	f.Errorf(key, "want a text or a table of texts by language, got %T", v)
	return nil
}

// entryTerms reads match = ["SPF", "TLS 1.0"]: each term needs at least two
// letters or digits, so that no term matches nearly every report.
func entryTerms(f *tomlfile.File, key string, v any) ([]string, []term) {
	list, ok := v.([]any)
	if !ok {
		f.Errorf(key, "want a list of terms, got %T", v)
		return nil, nil
	}
	var terms []string
	var res []term
	seen := map[string]bool{}
	for i, t := range list {
		s, ok := t.(string)
		k := fmt.Sprintf("%s[%d]", key, i)
		if !ok {
			f.Errorf(k, "want a term, got %T", t)
			continue
		}
		wordRunes := 0
		for _, r := range s {
			if isWordRune(r) {
				wordRunes++
			}
		}
		norm := strings.ToLower(strings.Join(strings.Fields(s), " "))
		switch {
		case wordRunes < 2:
			f.Errorf(k, "term %q needs at least two letters or digits", s)
		case utf8.RuneCountInString(s) > maxTermRunes:
			f.Errorf(k, "term longer than %d characters", maxTermRunes)
		case seen[norm]:
			f.Errorf(k, "term %q listed twice", s)
		default:
			seen[norm] = true
			terms = append(terms, s)
			res = append(res, compileTerm(s, false)) // a "*" in a policy's term is a character
		}
	}
	return terms, res
}
