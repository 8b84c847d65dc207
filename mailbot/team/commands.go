package team

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	cvss31 "github.com/pandatix/go-cvss/31"
	cvss40 "github.com/pandatix/go-cvss/40"
)

// Command names, as written at the start of a command line.
const (
	CmdClaim    = "claim"     // the sender takes the case
	CmdAssign   = "assign"    // assign <member>
	CmdStatus   = "status"    // status <one of Statuses>
	CmdSeverity = "severity"  // severity <level> | severity <CVSS vector>
	CmdExpected = "expected"  // expected <YYYY-MM-DD>: expected fix date
	CmdDisclose = "disclose"  // disclose <YYYY-MM-DD>: disclosure date
	CmdExtend   = "extend"    // extend <N> [days]: extend the disclosure deadline
	CmdCVE      = "cve"       // cve <CVE-YYYY-NNNN>
	CmdCredit   = "credit"    // credit <name> | credit anonymous
	CmdReward   = "reward"    // reward yes | no | <text>
	CmdLanguage = "language"  // language <one of Languages>
	CmdMerge    = "merge"     // merge <case id>: this case is merged into that one
	CmdNote     = "note"      // note <text>: the rest of the mail is an internal note
	CmdInternal = "#internal" // marker: the mail is for the team only
	CmdHelp     = "help"      // the bot answers with Help
	CmdKey      = "key"       // key accept <fingerprint>: the reporter's pending OpenPGP key becomes theirs

	// Issue 18: scope hints and held spam.
	CmdOutOfScope = "out-of-scope" // out-of-scope <N>: answer with the policy's out-of-scope entry N and close the case
	CmdNotSpam    = "not-spam"     // the case held as suspected spam is a report: release its acknowledgement
)

// Statuses a case can be set to, in workflow order.
var Statuses = []string{"new", "triaged", "confirmed", "fixing", "fixed", "disclosed", "rejected", "duplicate", "spam"}

// Levels are the qualitative severity ratings (CVSS v3.1 section 5, v4.0
// section 6), lowest first.
var Levels = []string{"none", "low", "medium", "high", "critical"}

// Languages the bot can write to a reporter in.
var Languages = []string{"en", "de", "nl"}

var verbs = []string{CmdClaim, CmdAssign, CmdStatus, CmdSeverity, CmdExpected, CmdDisclose, CmdExtend,
	CmdCVE, CmdCredit, CmdReward, CmdLanguage, CmdMerge, CmdNote, CmdHelp, CmdKey, CmdOutOfScope, CmdNotSpam}

// Bounds on what a team mail may ask.
const (
	maxCommands  = 64
	maxErrors    = 20
	maxLineBytes = 1000
	maxArgRunes  = 200
	maxExtend    = 3650
	maxEntry     = 999 // out-of-scope N: the policy's entries are checked when the command is applied
)

// Command is one parsed command line.
type Command struct {
	Line      int       // 1-based line number in the text
	Name      string    // one of the Cmd constants
	Arg       string    // the argument, normalised (see Parse); key: the fingerprint
	Date      time.Time // expected, disclose: the date at 00:00 UTC
	Days      int       // extend
	Severity  *Severity // severity
	Anonymous bool      // credit anonymous
	Entry     int       // out-of-scope: the 1-based number of the policy's out-of-scope entry
}

// Severity is the argument of a severity command.
type Severity struct {
	Level   string  // one of Levels
	Version string  // "3.1" or "4.0"; "" for a bare level
	Vector  string  // the CVSS vector as the library writes it back; "" for a bare level
	Score   float64 // CVSS base score (v4.0: CVSS-B); 0 for a bare level
}

// Error is one line of a team mail that could not be understood.
type Error struct {
	Line int    // 1-based line number in the text
	Text string // the line as written, shortened
	Msg  string // what was wrong
}

func (e Error) Error() string { return fmt.Sprintf("line %d: %q: %s", e.Line, e.Text, e.Msg) }

// TeamOnly reports whether a mail with these commands must be recorded for
// the team only and never relayed to the reporter: it carries a note or the
// #internal marker.
func TeamOnly(cmds []Command) bool {
	for _, c := range cmds {
		if c.Name == CmdNote || c.Name == CmdInternal {
			return true
		}
	}
	return false
}

// Parse reads the commands at the top of a team mail's text. The rules:
//
//   - Commands come first, one per line. Blank lines and quoted lines
//     (starting with ">", after optional spaces) are skipped anywhere.
//   - A command line is a command name, case-insensitive and optionally
//     followed by ":", then its argument: "status fixed", "Status: fixed".
//   - The line "#internal" marks the mail as team-only (TeamOnly).
//   - "note <text>" (or "note: <text>") ends the command block: its text is
//     the rest of that line and every line after it up to the signature,
//     quoted history removed (TrimQuoted). The mail is team-only.
//   - The block ends at the signature separator ("-- ", or "--") or at the
//     first line that is not a command: everything from there on is the
//     message (see Body) and is not looked at.
//   - "key" is a command only when followed by "accept" (or a word one
//     edit away from it), so that a reply opening "Key findings: ..." is
//     text, not a broken command.
//   - "out of scope N" and "not spam" alone on a line are read as
//     out-of-scope and not-spam, so that the spelling without hyphens is
//     neither relayed to the reporter nor ignored.
//   - A line that is not a command but looks like a mistyped one (a first
//     word of four or more letters one edit away from a command name, on a
//     line of at most three words) is an error, not the end of the block,
//     so that "stauts fixed" is not silently ignored.
//
// Every command line with a bad argument gives an Error and no Command;
// the other lines still give theirs. Normalised arguments: status, level,
// language, reward yes/no lowercase; CVE and case ids uppercase; dates
// "2006-01-02"; extend is Days; assign, credit and reward text as written;
// key accept's fingerprint uppercase hex without spaces; out-of-scope's
// number in Entry and, as written without leading zeros, in Arg.
func Parse(text string) ([]Command, []Error) {
	cmds, errs, _ := parseText(text)
	return cmds, errs
}

// Body is the message part of a team mail: the text after the command block
// with quoted history removed (TrimQuoted), for relaying to the reporter.
// It is "" when the mail held only commands or ended with a note.
func Body(text string) string {
	_, _, rest := parseText(text)
	return TrimQuoted(rest)
}

func lines(text string) []string {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	text = strings.ReplaceAll(text, "\r", "\n")
	return strings.Split(text, "\n")
}

func isSignatureSeparator(line string) bool {
	// RFC 3676 section 4.3; QUIRK: many clients strip the trailing space.
	return line == "-- " || line == "--"
}

func isQuoted(line string) bool {
	return strings.HasPrefix(strings.TrimLeft(line, " \t"), ">")
}

// parseText returns the commands, the errors and the text after the block.
func parseText(text string) (cmds []Command, errs []Error, rest string) {
	ls := lines(text)
	for i := 0; i < len(ls); i++ {
		line := ls[i]
		n := i + 1
		if isSignatureSeparator(line) {
			return cmds, errs, ""
		}
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || isQuoted(line) {
			continue
		}
		if len(errs) >= maxErrors {
			errs = append(errs, Error{n, shorten(trimmed), fmt.Sprintf("more than %d errors: the rest of the mail was not read", maxErrors)})
			return cmds, errs, ""
		}
		word, arg := splitCommand(spacedCommand(trimmed))
		isVerb := word == CmdInternal || contains(verbs, word) && (word != CmdKey || isKeyAccept(arg))
		if !isVerb {
			if looksLikeCommand(word, trimmed) {
				errs = append(errs, Error{n, shorten(trimmed), fmt.Sprintf("unknown command %q (did you mean %s?)", shorten(word), nearest(word))})
				continue
			}
			return cmds, errs, strings.Join(ls[i:], "\n")
		}
		if len(cmds) >= maxCommands {
			errs = append(errs, Error{n, shorten(trimmed), fmt.Sprintf("more than %d commands in one mail", maxCommands)})
			return cmds, errs, ""
		}
		if word == CmdNote {
			note := []string{arg}
			for _, l := range ls[i+1:] {
				if isSignatureSeparator(l) {
					break
				}
				note = append(note, l)
			}
			cmds = append(cmds, Command{Line: n, Name: CmdNote, Arg: TrimQuoted(strings.Join(note, "\n"))})
			return cmds, errs, ""
		}
		if len(trimmed) > maxLineBytes {
			errs = append(errs, Error{n, shorten(trimmed), fmt.Sprintf("line longer than %d bytes", maxLineBytes)})
			continue
		}
		c, err := parseArg(word, arg)
		if err != "" {
			errs = append(errs, Error{n, shorten(trimmed), err})
			continue
		}
		c.Line = n
		cmds = append(cmds, c)
	}
	return cmds, errs, ""
}

// splitCommand cuts a trimmed line into its lowercased first word, without a
// trailing ":", and the trimmed rest.
func splitCommand(line string) (word, arg string) {
	word = line
	if i := strings.IndexAny(line, " \t"); i >= 0 {
		word, arg = line[:i], line[i+1:]
	}
	if j := strings.IndexByte(word, ':'); j >= 0 {
		// "status: fixed" and "status:fixed"
		arg = line[j+1:]
		word = word[:j]
	}
	return strings.ToLower(word), strings.TrimSpace(arg)
}

// spacedRE is "out of scope" or "not spam", written without hyphens, with
// at most one word after it.
var spacedRE = regexp.MustCompile(`^(?i)(out\s+of\s+scope|not\s+spam)(\s*:?\s*\S*)$`)

// spacedCommand rewrites "Out of scope: 3" to "out-of-scope: 3" and "not
// spam" to "not-spam"; any other line is returned as it is.
func spacedCommand(line string) string {
	m := spacedRE.FindStringSubmatch(line)
	if m == nil {
		return line
	}
	return strings.Join(strings.Fields(strings.ToLower(m[1])), "-") + m[2]
}

func contains(l []string, s string) bool {
	for _, v := range l {
		if v == s {
			return true
		}
	}
	return false
}

func shorten(s string) string {
	if len(s) <= 80 {
		return s
	}
	i := 77
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "..."
}

// looksLikeCommand: a short line whose first word is one edit away from a
// command name of four letters or more.
func looksLikeCommand(word, line string) bool {
	if utf8.RuneCountInString(word) < 4 || len(strings.Fields(line)) > 3 {
		return false
	}
	return nearest(word) != ""
}

// nearest is the command name one edit (insertion, deletion, substitution
// or transposition) away from word, or "".
func nearest(word string) string {
	for _, v := range verbs {
		if len(v) >= 4 && editDistance(word, v) == 1 {
			return v
		}
	}
	return ""
}

// editDistance is the optimal string alignment distance, capped: words
// longer than 32 runes are never close.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 32 || len(rb) > 32 {
		return 99
	}
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

var (
	cveRE    = regexp.MustCompile(`^(?i)CVE-([0-9]{4})-([0-9]{4,19})$`)
	caseRE   = regexp.MustCompile(`^\[?([A-Za-z0-9]{1,10}(?:-[0-9]{1,9}){1,2})\]?$`) // SEC-12 or SEC-2026-0001
	extendRE = regexp.MustCompile(`^(?i)([0-9]{1,6})\s*(d|days?)?$`)
)

// cleanArg refuses control characters and over-long free text.
func cleanArg(arg string) (string, string) {
	arg = strings.ReplaceAll(arg, "\t", " ")
	if !utf8.ValidString(arg) {
		return "", "not valid UTF-8"
	}
	for _, r := range arg {
		if unicode.IsControl(r) {
			return "", "control characters are not allowed"
		}
	}
	if utf8.RuneCountInString(arg) > maxArgRunes {
		return "", fmt.Sprintf("longer than %d characters", maxArgRunes)
	}
	return arg, ""
}

func parseArg(verb, arg string) (Command, string) {
	c := Command{Name: verb}
	one := func(what string) string {
		switch {
		case arg == "":
			return fmt.Sprintf("%s needs %s", verb, what)
		case strings.ContainsAny(arg, " \t"):
			return fmt.Sprintf("%s takes one word: %s", verb, what)
		}
		return ""
	}
	switch verb {
	case CmdClaim, CmdHelp, CmdInternal, CmdNotSpam:
		if arg != "" {
			return c, fmt.Sprintf("%s takes no argument", verb)
		}
	case CmdAssign, CmdCredit, CmdReward:
		what := map[string]string{CmdAssign: "a team member's name or address", CmdCredit: "a name or \"anonymous\"",
			CmdReward: "yes, no or a text"}[verb]
		if arg == "" {
			return c, fmt.Sprintf("%s needs %s", verb, what)
		}
		a, bad := cleanArg(arg)
		if bad != "" {
			return c, bad
		}
		c.Arg = a
		switch l := strings.ToLower(a); {
		case verb == CmdCredit && l == "anonymous":
			c.Arg, c.Anonymous = "", true
		case verb == CmdReward && (l == "yes" || l == "no"):
			c.Arg = l
		}
	case CmdStatus:
		if e := one("one of " + strings.Join(Statuses, ", ")); e != "" {
			return c, e
		}
		c.Arg = strings.ToLower(arg)
		if !contains(Statuses, c.Arg) {
			return c, fmt.Sprintf("unknown status %q, want one of %s", shorten(arg), strings.Join(Statuses, ", "))
		}
	case CmdLanguage:
		if e := one("one of " + strings.Join(Languages, ", ")); e != "" {
			return c, e
		}
		c.Arg = strings.ToLower(arg)
		if !contains(Languages, c.Arg) {
			return c, fmt.Sprintf("unknown language %q, want one of %s", shorten(arg), strings.Join(Languages, ", "))
		}
	case CmdSeverity:
		if e := one("a level (" + strings.Join(Levels, ", ") + ") or a CVSS:3.1/ or CVSS:4.0/ vector"); e != "" {
			return c, e
		}
		s, err := ParseSeverity(arg)
		if err != nil {
			return c, err.Error()
		}
		c.Severity = s
		c.Arg = s.Level
		if s.Vector != "" {
			c.Arg = s.Vector
		}
	case CmdExpected, CmdDisclose:
		if e := one("a date, YYYY-MM-DD"); e != "" {
			return c, e
		}
		d, err := time.Parse("2006-01-02", arg)
		if err != nil || d.Year() < 2000 || d.Year() > 2199 {
			return c, fmt.Sprintf("invalid date %q, want YYYY-MM-DD", shorten(arg))
		}
		c.Date, c.Arg = d, d.Format("2006-01-02")
	case CmdExtend:
		m := extendRE.FindStringSubmatch(arg)
		if m == nil {
			return c, fmt.Sprintf("extend needs a number of days, \"extend 14 days\", got %q", shorten(arg))
		}
		n, _ := strconv.Atoi(m[1])
		if n < 1 || n > maxExtend {
			return c, fmt.Sprintf("extend by 1 to %d days, got %d", maxExtend, n)
		}
		c.Days, c.Arg = n, strconv.Itoa(n)
	case CmdCVE:
		if e := one("an id, CVE-YYYY-NNNN"); e != "" {
			return c, e
		}
		m := cveRE.FindStringSubmatch(arg)
		if m == nil {
			return c, fmt.Sprintf("invalid CVE id %q, want CVE-YYYY-NNNN", shorten(arg))
		}
		if y, _ := strconv.Atoi(m[1]); y < 1999 {
			return c, fmt.Sprintf("invalid CVE id %q: CVE years start in 1999", arg)
		}
		c.Arg = strings.ToUpper(arg)
	case CmdKey:
		fp, err := parseKeyAccept(arg)
		if err != "" {
			return c, err
		}
		c.Arg = fp
	case CmdOutOfScope:
		what := "the number of the policy's out-of-scope entry, as listed in the notification"
		if e := one(what); e != "" {
			return c, e
		}
		if strings.Trim(arg, "0123456789") != "" {
			return c, fmt.Sprintf("invalid entry %q, want %s", shorten(arg), what)
		}
		n, err := strconv.Atoi(arg)
		if err != nil || n < 1 || n > maxEntry {
			return c, fmt.Sprintf("entry %s out of range, want 1 to %d: entries count from 1", shorten(arg), maxEntry)
		}
		c.Entry, c.Arg = n, strconv.Itoa(n)
	case CmdMerge:
		if e := one("a case id such as SEC-2026-0001"); e != "" {
			return c, e
		}
		m := caseRE.FindStringSubmatch(arg)
		if m == nil {
			return c, fmt.Sprintf("invalid case id %q, want e.g. SEC-2026-0001", shorten(arg))
		}
		c.Arg = strings.ToUpper(m[1])
	}
	return c, ""
}

// isKeyAccept: the argument of "key" starts with "accept" or a word one
// edit away from it.
func isKeyAccept(arg string) bool {
	sub := keySubcommand(arg)
	return sub == "accept" || editDistance(sub, "accept") == 1
}

// keySubcommand is the first word of arg, lowercase, without a ":".
func keySubcommand(arg string) string {
	f := strings.Fields(arg)
	if len(f) == 0 {
		return ""
	}
	return strings.ToLower(strings.TrimSuffix(f[0], ":"))
}

// parseKeyAccept reads "accept <fingerprint>": the fingerprint of an
// OpenPGP v4 (40 hex digits) or v6 (64) key, in any case, spaces anywhere
// (as gpg prints it), returned uppercase without spaces.
func parseKeyAccept(arg string) (string, string) {
	if sub := keySubcommand(arg); sub != "accept" {
		return "", fmt.Sprintf("unknown key command %q, want key accept <fingerprint>", shorten(sub))
	}
	fp := strings.Join(strings.Fields(arg)[1:], "")
	if fp == "" {
		return "", "key accept needs the fingerprint of the reporter's new key"
	}
	if len(fp) != 40 && len(fp) != 64 || strings.Trim(strings.ToUpper(fp), "0123456789ABCDEF") != "" {
		return "", fmt.Sprintf("invalid fingerprint %q, want 40 (or 64) hex digits", shorten(fp))
	}
	return strings.ToUpper(fp), ""
}

// ParseSeverity reads a level (none, low, medium, high, critical; any case)
// or a CVSS v3.1 or v4.0 vector. A vector's level is the qualitative rating
// of its base score (CVSS v3.1 section 5, v4.0 section 6).
func ParseSeverity(s string) (*Severity, error) {
	s = strings.TrimSpace(s)
	if l := strings.ToLower(s); contains(Levels, l) {
		return &Severity{Level: l}, nil
	}
	var (
		sev    = &Severity{}
		rating string
		err    error
	)
	switch {
	case strings.HasPrefix(s, "CVSS:3.1/"):
		var v *cvss31.CVSS31
		if v, err = cvss31.ParseVector(s); err == nil {
			sev.Version, sev.Vector, sev.Score = "3.1", v.Vector(), v.BaseScore()
			rating, err = cvss31.Rating(sev.Score)
		}
	case strings.HasPrefix(s, "CVSS:4.0/"):
		var v *cvss40.CVSS40
		if v, err = cvss40.ParseVector(s); err == nil {
			sev.Version, sev.Vector, sev.Score = "4.0", v.Vector(), v.Score()
			rating, err = cvss40.Rating(sev.Score)
		}
	case strings.HasPrefix(strings.ToUpper(s), "CVSS:"):
		return nil, fmt.Errorf("unsupported CVSS version in %q: use CVSS:3.1/ or CVSS:4.0/", shorten(s))
	default:
		return nil, fmt.Errorf("unknown severity %q, want one of %s or a CVSS:3.1/ or CVSS:4.0/ vector", shorten(s), strings.Join(Levels, ", "))
	}
	if err != nil {
		return nil, fmt.Errorf("invalid CVSS vector %q: %v", shorten(s), err)
	}
	sev.Level = strings.ToLower(rating)
	return sev, nil
}
