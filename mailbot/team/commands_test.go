package team

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseCommands(t *testing.T) {
	date := func(s string) time.Time {
		d, err := time.Parse("2006-01-02", s)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	tests := []struct {
		line string
		want Command // Line is set to 1
		err  string  // substring of the Error; "" for none
	}{
		{line: "claim", want: Command{Name: CmdClaim}},
		{line: "Claim", want: Command{Name: CmdClaim}},
		{line: "claim now", err: "claim takes no argument"},
		{line: "help", want: Command{Name: CmdHelp}},
		{line: "help me", err: "help takes no argument"},
		{line: "assign Alice Example", want: Command{Name: CmdAssign, Arg: "Alice Example"}},
		{line: "assign bob@example.org", want: Command{Name: CmdAssign, Arg: "bob@example.org"}},
		{line: "assign", err: "assign needs a team member"},
		{line: "status fixed", want: Command{Name: CmdStatus, Arg: "fixed"}},
		{line: "Status: CONFIRMED", want: Command{Name: CmdStatus, Arg: "confirmed"}},
		{line: "status:spam", want: Command{Name: CmdStatus, Arg: "spam"}},
		{line: "status done", err: `unknown status "done"`},
		{line: "status fixed now", err: "takes one word"},
		{line: "status", err: "status needs one of new"},
		{line: "severity high", want: Command{Name: CmdSeverity, Arg: "high", Severity: &Severity{Level: "high"}}},
		{line: "severity Critical", want: Command{Name: CmdSeverity, Arg: "critical", Severity: &Severity{Level: "critical"}}},
		{line: "severity severe", err: `unknown severity "severe"`},
		{line: "severity CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", err: "unsupported CVSS version"},
		{line: "severity CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H", err: "invalid CVSS vector"},
		{line: "expected 2026-03-31", want: Command{Name: CmdExpected, Arg: "2026-03-31", Date: date("2026-03-31")}},
		{line: "expected 31.03.2026", err: "invalid date"},
		{line: "expected 2026-02-30", err: "invalid date"},
		{line: "disclose 2026-06-01", want: Command{Name: CmdDisclose, Arg: "2026-06-01", Date: date("2026-06-01")}},
		{line: "disclose soon", err: "invalid date"},
		{line: "disclose", err: "disclose needs a date"},
		{line: "extend 14 days", want: Command{Name: CmdExtend, Arg: "14", Days: 14}},
		{line: "extend 1 day", want: Command{Name: CmdExtend, Arg: "1", Days: 1}},
		{line: "extend 30d", want: Command{Name: CmdExtend, Arg: "30", Days: 30}},
		{line: "extend 7", want: Command{Name: CmdExtend, Arg: "7", Days: 7}},
		{line: "extend 0 days", err: "extend by 1 to 3650 days"},
		{line: "extend 99999 days", err: "extend by 1 to 3650 days"},
		{line: "extend two weeks", err: "extend needs a number of days"},
		{line: "cve CVE-2026-12345", want: Command{Name: CmdCVE, Arg: "CVE-2026-12345"}},
		{line: "CVE cve-2026-0001", want: Command{Name: CmdCVE, Arg: "CVE-2026-0001"}},
		{line: "cve CVE-2026-123", err: "invalid CVE id"},
		{line: "cve CVE-1988-1234", err: "CVE years start in 1999"},
		{line: "credit Jane Doe (ACME Labs)", want: Command{Name: CmdCredit, Arg: "Jane Doe (ACME Labs)"}},
		{line: "credit anonymous", want: Command{Name: CmdCredit, Anonymous: true}},
		{line: "credit Anonymous", want: Command{Name: CmdCredit, Anonymous: true}},
		{line: "credit", err: "credit needs a name"},
		{line: "credit " + strings.Repeat("x", 201), err: "longer than 200 characters"},
		{line: "credit a\x00b", err: "control characters"},
		{line: "reward yes", want: Command{Name: CmdReward, Arg: "yes"}},
		{line: "reward NO", want: Command{Name: CmdReward, Arg: "no"}},
		{line: "reward 500 EUR bounty", want: Command{Name: CmdReward, Arg: "500 EUR bounty"}},
		{line: "reward", err: "reward needs yes, no or a text"},
		{line: "language de", want: Command{Name: CmdLanguage, Arg: "de"}},
		{line: "language NL", want: Command{Name: CmdLanguage, Arg: "nl"}},
		{line: "language fr", err: `unknown language "fr"`},
		{line: "merge SEC-12", want: Command{Name: CmdMerge, Arg: "SEC-12"}},
		{line: "merge [sec-7]", want: Command{Name: CmdMerge, Arg: "SEC-7"}},
		{line: "merge 12", err: "invalid case id"},
		{line: "merge", err: "merge needs a case id"},
		{line: "#internal", want: Command{Name: CmdInternal}},
		{line: "#internal please", err: "#internal takes no argument"},
		{line: "note ask the vendor first", want: Command{Name: CmdNote, Arg: "ask the vendor first"}},
		{line: "note: ask the vendor first", want: Command{Name: CmdNote, Arg: "ask the vendor first"}},
		{line: "key accept 0123456789ABCDEF0123456789ABCDEF01234567", want: Command{Name: CmdKey, Arg: "0123456789ABCDEF0123456789ABCDEF01234567"}},
		{line: "Key Accept 0123 4567 89ab cdef 0123  4567 89AB CDEF 0123 4567", want: Command{Name: CmdKey, Arg: "0123456789ABCDEF0123456789ABCDEF01234567"}},
		{line: "key: accept\t0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", want: Command{Name: CmdKey, Arg: "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF"}},
		{line: "key accept", err: "key accept needs the fingerprint"},
		{line: "key accept 0123456789ABCDEF", err: "invalid fingerprint"},
		{line: "key accept 0123456789ABCDEF0123456789ABCDEF0123456G", err: "invalid fingerprint"},
		{line: "key acept 0123456789ABCDEF0123456789ABCDEF01234567", err: `unknown key command "acept"`},
		{line: "out-of-scope 3", want: Command{Name: CmdOutOfScope, Arg: "3", Entry: 3}},
		{line: "Out-of-Scope: 12", want: Command{Name: CmdOutOfScope, Arg: "12", Entry: 12}},
		{line: "out-of-scope 007", want: Command{Name: CmdOutOfScope, Arg: "7", Entry: 7}},
		{line: "Out of scope 2", want: Command{Name: CmdOutOfScope, Arg: "2", Entry: 2}},
		{line: "out of  scope: 4", want: Command{Name: CmdOutOfScope, Arg: "4", Entry: 4}},
		{line: "Out of scope", err: "out-of-scope needs the number of the policy's out-of-scope entry"},
		{line: "out-of-scope", err: "out-of-scope needs the number"},
		{line: "out-of-scope 0", err: "entry 0 out of range, want 1 to 999"},
		{line: "out-of-scope 1000", err: "entry 1000 out of range"},
		{line: "out-of-scope 99999999999999999999999", err: "out of range"},
		{line: "out-of-scope -1", err: `invalid entry "-1"`},
		{line: "out-of-scope SPF", err: `invalid entry "SPF"`},
		{line: "out-of-scope 2 and 3", err: "out-of-scope takes one word"},
		{line: "out-of-scoep 2", err: "did you mean out-of-scope?"},
		{line: "not-spam", want: Command{Name: CmdNotSpam}},
		{line: "Not-Spam:", want: Command{Name: CmdNotSpam}},
		{line: "not spam", want: Command{Name: CmdNotSpam}},
		{line: "Not spam:", want: Command{Name: CmdNotSpam}},
		{line: "not-spam really", err: "not-spam takes no argument"},
		{line: "not-sapm", err: "did you mean not-spam?"},
		{line: "stauts fixed", err: `unknown command "stauts" (did you mean status?)`},
		{line: "asign bob", err: "did you mean assign?"},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			cmds, errs := Parse(tt.line)
			if tt.err != "" {
				if len(cmds) != 0 || len(errs) != 1 || !strings.Contains(errs[0].Msg, tt.err) || errs[0].Line != 1 {
					t.Fatalf("Parse(%q) = %+v, %v, want one error on line 1 containing %q", tt.line, cmds, errs, tt.err)
				}
				return
			}
			want := tt.want
			want.Line = 1
			if len(errs) != 0 || len(cmds) != 1 || !reflect.DeepEqual(cmds[0], want) {
				t.Fatalf("Parse(%q) = %+v, %v, want %+v", tt.line, cmds, errs, want)
			}
		})
	}
}

func TestParseCVSS(t *testing.T) {
	tests := []struct {
		vector  string
		version string
		score   float64
		level   string
	}{
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "3.1", 9.8, "critical"},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", "3.1", 6.1, "medium"}, // reflected XSS
		{"CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", "3.1", 7.8, "high"},
		{"CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", "3.1", 1.6, "low"},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", "3.1", 0, "none"},
		{"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", "4.0", 9.3, "critical"},
		{"CVSS:4.0/AV:L/AC:L/AT:N/PR:L/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", "4.0", 8.5, "high"},
		{"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N", "4.0", 0, "none"},
	}
	for _, tt := range tests {
		cmds, errs := Parse("severity " + tt.vector)
		if len(errs) != 0 || len(cmds) != 1 {
			t.Fatalf("Parse(severity %s) = %v, %v, want one command", tt.vector, cmds, errs)
		}
		s := cmds[0].Severity
		if s == nil || s.Version != tt.version || s.Score != tt.score || s.Level != tt.level || s.Vector != tt.vector {
			t.Errorf("Parse(severity %s).Severity = %+v, want %s %v %s", tt.vector, s, tt.version, tt.score, tt.level)
		}
		if cmds[0].Arg != tt.vector {
			t.Errorf("Parse(severity %s).Arg = %q, want the vector", tt.vector, cmds[0].Arg)
		}
	}
	if _, err := ParseSeverity("CVSS:4.0/AV:N/AC:L"); err == nil {
		t.Errorf("ParseSeverity(incomplete 4.0 vector) = nil error, want one")
	}
}

func TestParseMail(t *testing.T) {
	mail := "Claim\r\n" +
		"> status rejected\r\n" + // quoted: skipped
		"severity CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H\r\n" +
		"\r\n" +
		"status fixx\r\n" + // bad argument: an error, not the end
		"status confirmed\r\n" +
		"Hi Jane,\r\n" + // the message starts: commands end
		"status rejected\r\n" +
		"thanks, we confirmed it.\r\n" +
		"\r\n" +
		"On Mon, 2 Mar 2026 at 10:00, Jane <jane@example.net> wrote:\r\n" +
		"> the bug\r\n" +
		"-- \r\n" +
		"Alice\r\n"
	cmds, errs := Parse(mail)
	var names []string
	for _, c := range cmds {
		names = append(names, c.Name+"@"+string(rune('0'+c.Line)))
	}
	if got, want := strings.Join(names, " "), "claim@1 severity@3 status@6"; got != want {
		t.Errorf("Parse() commands = %s, want %s", got, want)
	}
	if len(errs) != 1 || errs[0].Line != 5 || !strings.Contains(errs[0].Error(), `line 5: "status fixx"`) {
		t.Errorf("Parse() errors = %v, want one for line 5", errs)
	}
	if TeamOnly(cmds) {
		t.Errorf("TeamOnly() = true, want false")
	}
	if got, want := Body(mail), "Hi Jane,\nstatus rejected\nthanks, we confirmed it.\n\n-- \nAlice"; got != want {
		t.Errorf("Body() = %q, want %q", got, want)
	}

	// A signature ends the commands.
	if cmds, _ := Parse("claim\n-- \nstatus fixed\n"); len(cmds) != 1 {
		t.Errorf("Parse(after signature) = %v, want only claim", cmds)
	}
	// Prose first: no commands at all, and no error for "Not sure".
	if cmds, errs := Parse("Not sure.\nstatus fixed\n"); len(cmds) != 0 || len(errs) != 0 {
		t.Errorf("Parse(prose first) = %v, %v, want nothing", cmds, errs)
	}
	// A long prose line with a near-miss first word is prose.
	if cmds, errs := Parse("Notes from the call with the vendor follow below.\n"); len(cmds) != 0 || len(errs) != 0 {
		t.Errorf("Parse(prose) = %v, %v, want nothing", cmds, errs)
	}
}

func TestParseNote(t *testing.T) {
	mail := "status triaged\nnote: vendor informed,\nwaiting for their fix.\n\n> quoted\n-- \nAlice\n"
	cmds, errs := Parse(mail)
	if len(errs) != 0 || len(cmds) != 2 {
		t.Fatalf("Parse() = %v, %v, want status and note", cmds, errs)
	}
	want := Command{Line: 2, Name: CmdNote, Arg: "vendor informed,\nwaiting for their fix."}
	if !reflect.DeepEqual(cmds[1], want) {
		t.Errorf("Parse() note = %+v, want %+v", cmds[1], want)
	}
	if !TeamOnly(cmds) {
		t.Errorf("TeamOnly(note) = false, want true")
	}
	if b := Body(mail); b != "" {
		t.Errorf("Body(note) = %q, want empty", b)
	}
	cmds, _ = Parse("#internal\nclaim\nWe should call them.\n")
	if !TeamOnly(cmds) || len(cmds) != 2 {
		t.Errorf("Parse(#internal) = %v, want team-only with two commands", cmds)
	}
}

func TestParseLimits(t *testing.T) {
	cmds, errs := Parse(strings.Repeat("claim\n", maxCommands+10))
	if len(cmds) != maxCommands || len(errs) != 1 || !strings.Contains(errs[0].Msg, "more than") {
		t.Errorf("Parse(too many) = %d commands, %v, want %d and one error", len(cmds), errs, maxCommands)
	}
	cmds, errs = Parse("assign " + strings.Repeat("a", 2000))
	if len(cmds) != 0 || len(errs) != 1 || !strings.Contains(errs[0].Msg, "longer than") {
		t.Errorf("Parse(long line) = %v, %v, want one error", cmds, errs)
	}
	if len(errs[0].Text) > 80 {
		t.Errorf("Error.Text is %d bytes, want at most 80", len(errs[0].Text))
	}
}

func TestHelp(t *testing.T) {
	for _, lang := range append([]string{"xx"}, Languages...) {
		h := Help(lang)
		for _, v := range append(verbs, CmdInternal) {
			if !strings.Contains(h, "  "+v) {
				t.Errorf("Help(%s) does not document %q", lang, v)
			}
		}
		for _, s := range append(append([]string{}, Statuses...), Levels...) {
			if !strings.Contains(h, s) {
				t.Errorf("Help(%s) does not list %q", lang, s)
			}
		}
		if strings.Contains(h, "{") {
			t.Errorf("Help(%s) has an unreplaced placeholder", lang)
		}
	}
	if Help("de") == Help("en") || Help("nl") == Help("en") || Help("xx") != Help("en") {
		t.Errorf("Help() languages are not distinct or the fallback is not English")
	}
}

func TestParseTooManyErrors(t *testing.T) {
	cmds, errs := Parse(strings.Repeat("status x\n", 1000) + "claim\n")
	if len(cmds) != 0 || len(errs) != maxErrors+1 || !strings.Contains(errs[maxErrors].Msg, "more than 20 errors") {
		t.Errorf("Parse(1000 bad lines) = %v, %d errors, want %d and a final one", cmds, len(errs), maxErrors+1)
	}
}

// The spellings without hyphens are commands only alone on their line: a
// sentence that starts with the words is text for the reporter.
func TestSpacedCommandsOnlyAlone(t *testing.T) {
	for _, text := range []string{
		"Out of scope for us, sorry: SPF is handled by our provider.\n",
		"Not spam, we think; please resend the details.\n",
		"Not spammy at all\n",
		"Out of scoped work\n",
	} {
		cmds, errs := Parse(text)
		if len(cmds) != 0 || len(errs) != 0 {
			t.Errorf("Parse(%q) = %+v, %v, want no commands: it is text", text, cmds, errs)
		}
		if got := Body(text); got != strings.TrimSpace(text) {
			t.Errorf("Body(%q) = %q, want the whole text", text, got)
		}
	}
	text := "out of scope 2\nThank you, this is covered by entry 2 of our policy.\n"
	cmds, errs := Parse(text)
	if len(errs) != 0 || len(cmds) != 1 || cmds[0].Name != CmdOutOfScope || cmds[0].Entry != 2 {
		t.Errorf("Parse(%q) = %+v, %v, want out-of-scope 2", text, cmds, errs)
	}
	if got := Body(text); got != "Thank you, this is covered by entry 2 of our policy." {
		t.Errorf("Body(%q) = %q, want the text after the command", text, got)
	}
}

// "key" opens a command line only before "accept": a reply that starts
// with the word is text for the reporter.
func TestKeyIsACommandOnlyBeforeAccept(t *testing.T) {
	text := "key accept 0123456789ABCDEF0123456789ABCDEF01234567\nKey findings: the fix is in 2.1.\n"
	cmds, errs := Parse(text)
	if len(errs) != 0 || len(cmds) != 1 || cmds[0].Name != CmdKey {
		t.Fatalf("Parse(%q) = %+v, %v, want one key command", text, cmds, errs)
	}
	if got := Body(text); got != "Key findings: the fix is in 2.1." {
		t.Errorf("Body(%q) = %q, want the text after the command", text, got)
	}
}
