package policy

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"mailbot/policy/tomlfile"
)

// base is a minimal valid policy; tests replace single lines by number.
var base = []string{
	`organisation = "Example"`,                  // 1
	`security_address = "security@example.org"`, // 2
	``,                            // 3
	`[calendar]`,                  // 4
	`time_zone = "Europe/Berlin"`, // 5
	`country = "DE"`,              // 6
	``,                            // 7
	`[[commitments]]`,             // 8
	`name = "ack"`,                // 9
	`start = "report.received"`,   // 10
	`stop = ["team.replied"]`,     // 11
	`duration = "1bd"`,            // 12
}

// variant is base with line n (1-based) replaced by s.
func variant(repl map[int]string) []byte {
	l := slices.Clone(base)
	for n, s := range repl {
		l[n-1] = s
	}
	return []byte(strings.Join(l, "\n") + "\n")
}

func TestParseBase(t *testing.T) {
	p, err := Parse("x.toml", variant(nil))
	if err != nil {
		t.Fatalf("Parse() = %v, want nil", err)
	}
	if p.DefaultLanguage() != "en" || !p.PlaintextReplies || p.Rewards.Kind != "none" {
		t.Errorf("defaults = %q %v %q, want en true none", p.DefaultLanguage(), p.PlaintextReplies, p.Rewards.Kind)
	}
	c, ok := p.Commitment("ack")
	if !ok || c.Duration != (Duration{1, BusinessDays}) {
		t.Errorf("Commitment(ack) = %+v, %v, want 1bd", c, ok)
	}
	if _, ok := p.Commitment(KeepInformedName); ok {
		t.Errorf("Commitment(%s) found without keep_informed", KeepInformedName)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		repl map[int]string
		want []string
	}{
		{"unknown key", map[int]string{3: `colour = "red"`}, []string{`x.toml:3: colour: unknown key`}},
		{"unknown key in array table", map[int]string{7: ``, 12: `within = "1bd"`},
			[]string{`x.toml:12: commitments.within: unknown key`, `x.toml:8: commitments[0].duration: missing duration`}},
		{"unknown event", map[int]string{10: `start = "report.recieved"`}, []string{`x.toml:10: commitments[0].start: unknown event "report.recieved"`}},
		{"unknown stop event", map[int]string{11: `stop = ["team.reply"]`}, []string{`x.toml:11: commitments[0].stop: unknown event "team.reply"`}},
		{"pause event as start", map[int]string{10: `start = "waiting.reporter"`}, []string{`x.toml:10: commitments[0].start: event "waiting.reporter" pauses clocks`}},
		{"negative duration", map[int]string{12: `duration = "-3bd"`}, []string{`x.toml:12: commitments[0].duration: negative duration`}},
		{"duration in words", map[int]string{12: `duration = "3 business days"`}, []string{`x.toml:12: commitments[0].duration: invalid duration "3 business days"`}},
		{"unknown country", map[int]string{6: `country = "XX"`}, []string{`x.toml:6: calendar.country: unknown country "XX"`}},
		{"unknown region", map[int]string{7: `region = "ZZ"`}, []string{`x.toml:7: calendar.region: unknown region "ZZ" for country "DE"`}},
		{"bad time zone", map[int]string{5: `time_zone = "Europe/Berln"`}, []string{`x.toml:5: calendar.time_zone: unknown time zone "Europe/Berln"`}},
		{"bad address", map[int]string{2: `security_address = "Security <security@example.org>"`}, []string{`x.toml:2: security_address: invalid address`}},
		{"http URL", map[int]string{3: `policy_url = "http://example.org/policy"`}, []string{`x.toml:3: policy_url: invalid URL "http://example.org/policy", want https://...`}},
		{"bad reminder", map[int]string{12: `duration = "1bd"` + "\nremind = [\"boss\"]"}, []string{`x.toml:13: commitments[0].remind: unknown reminder target "boss"`}},
		{"every error at once", map[int]string{3: `colour = 1`, 5: `time_zone = "Nowhere"`, 6: `country = "XX"`, 10: `start = "x"`, 12: `duration = "-1d"`},
			[]string{`x.toml:3: colour: unknown key`, `x.toml:5: calendar.time_zone`, `x.toml:6: calendar.country`, `x.toml:10: commitments[0].start`, `x.toml:12: commitments[0].duration: negative duration`}},
		{"type error", map[int]string{1: `organisation = 3`}, []string{`x.toml:1: organisation: `}},
	}
	for _, tt := range tests {
		_, err := Parse("x.toml", variant(tt.repl))
		if err == nil {
			t.Errorf("%s: Parse() = nil, want %q", tt.name, tt.want)
			continue
		}
		var es tomlfile.Errors
		if !errors.As(err, &es) {
			t.Errorf("%s: Parse() = %T, want tomlfile.Errors", tt.name, err)
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: Parse() = %q, want it to contain %q", tt.name, err, w)
			}
		}
		if len(tt.want) > 1 && len(es) < len(tt.want) {
			t.Errorf("%s: Parse() gave %d errors, want at least %d", tt.name, len(es), len(tt.want))
		}
	}
}

func TestParseMore(t *testing.T) {
	doc := variant(map[int]string{3: `keep_informed = "2w"
languages = ["de", "de", "EN"]
[disclosure]
days = -5
extendable = false
max_extension_days = 10
[[fields]]
name = "color"
[[fields]]
name = "steps"
patterns = ["("]
[rewards]
kind = "maybe"`})
	_, err := Parse("x.toml", doc)
	if err == nil {
		t.Fatal("Parse() = nil, want errors")
	}
	for _, w := range []string{
		`x.toml:4: languages: language "de" listed twice`,
		`x.toml:4: languages: invalid language tag "EN"`,
		`x.toml:6: disclosure.days: negative duration`,
		`x.toml:8: disclosure.max_extension_days: set but extendable is false`,
		`x.toml:9: fields[0]: field "color" has no keywords or patterns`,
		`x.toml:13: fields[1].patterns: pattern 0: error parsing regexp`,
		`x.toml:15: rewards.kind: unknown kind "maybe"`,
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("Parse() = %q, want it to contain %q", err, w)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.toml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want os.ErrNotExist", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range seedFiles {
		data, err := os.ReadFile(filepath.Join("..", "testdata", "policies", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add(variant(nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("f.toml", data)
		if err != nil {
			if p != nil {
				t.Fatalf("Parse() = %v and a policy", err)
			}
			return
		}
		// A policy that parses must be usable.
		at := ts(t, "2026-03-27T16:00:00+01:00")
		var clocks []Clock
		for _, ev := range Events {
			clocks = p.Apply(clocks, ev, at)
			at = at.Add(7 * 3600e9)
		}
		p.Refresh(clocks, at)
		p.DisclosureDate(at)
		p.MissingFields("xss on https://example.org")
		p.ScopeHints("SPF", string(data))
		if _, err := p.Markdown("en"); err != nil {
			t.Fatalf("Markdown(en) = %v", err)
		}
	})
}
