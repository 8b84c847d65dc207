// Package policy owns a published vulnerability disclosure policy as the bot
// runs it: the policy file (TOML), the business calendar (working days and
// hours, public holidays, time zone), the clocks that track each promise
// ("we respond within 3 business days") with their deadline arithmetic, the
// hints used to spot what a report lacks or that it may be out of scope (or
// asks for a reward the policy does not offer), and the two publications generated
// from the same data: security.txt (RFC 9116) and a human-readable policy in
// Markdown.
//
// The package is pure: no network, no database, and no file I/O beyond
// reading the file handed to Load. Time is always passed in.
package policy

import (
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"

	"mailbot/policy/tomlfile"
)

// ErrNoTexts is returned by Markdown for a language it has no texts for.
var ErrNoTexts = errors.New("policy: no texts for language")

// Policy is one decoded and validated policy file. Only Parse and Load make
// a usable Policy; the exported fields are what the file says.
type Policy struct {
	Organisation       string            `toml:"organisation"`
	Address            string            `toml:"security_address"` // bare addr-spec
	Languages          []string          `toml:"languages"`        // BCP 47, first is the default
	Revision           string            `toml:"revision"`
	PolicyURL          string            `toml:"policy_url"`
	AcknowledgmentsURL string            `toml:"acknowledgments_url"`
	CanonicalURLs      []string          `toml:"canonical_urls"`
	EncryptionURL      string            `toml:"encryption_url"`
	HiringURL          string            `toml:"hiring_url"`
	Pseudonymous       bool              `toml:"pseudonymous"` // reports under a pseudonym accepted
	Anonymous          bool              `toml:"anonymous"`    // anonymous reports accepted
	PlaintextReplies   bool              `toml:"plaintext_replies"`
	KeepInformed       string            `toml:"keep_informed"` // interval, "14d"; "" for none
	SafeHarbour        map[string]string `toml:"safe_harbour"`  // language -> text
	CalendarConfig     CalendarConfig    `toml:"calendar"`
	Commitments        []Commitment      `toml:"commitments"`
	Disclosure         Disclosure        `toml:"disclosure"`
	Fields             []Field           `toml:"fields"`
	Scope              Scope             `toml:"scope"`
	Rewards            Rewards           `toml:"rewards"`
	Credit             Credit            `toml:"credit"`

	// Calendar is built from CalendarConfig by Validate.
	Calendar *Calendar `toml:"-"`
	// KeepInformedEvery is KeepInformed parsed; zero when there is none.
	KeepInformedEvery Duration `toml:"-"`
}

// Commitment is one promise with a deadline, tracked per case by a Clock.
type Commitment struct {
	Name     string            `toml:"name"`
	Title    map[string]string `toml:"title"` // language -> heading in Markdown; Name when missing
	Start    Event             `toml:"start"`
	Stop     []Event           `toml:"stop"`
	Within   string            `toml:"duration"` // "3bd", "48h", "7d", "1w"
	Remind   []string          `toml:"remind"`   // on-duty, assignee, team, lead
	Pause    bool              `toml:"pause_on_reporter"`
	Internal bool              `toml:"internal"` // a target of the team, not published in Markdown

	// Duration is Within parsed by Validate.
	Duration Duration `toml:"-"`

	repeat bool    // restart when stopped (keep-informed)
	until  []Event // stop for good, no restart
}

// KeepInformedName is the clock Validate adds when the policy promises to
// keep the reporter informed: started by the first reply of the team,
// restarted by every further reply, ended by a final status.
const KeepInformedName = "keep-informed"

// Disclosure is the [disclosure] table.
type Disclosure struct {
	Days             int  `toml:"days"` // 0: no fixed window
	Extendable       bool `toml:"extendable"`
	MaxExtensionDays int  `toml:"max_extension_days"`
}

// Scope is the [scope] table.
type Scope struct {
	In []string `toml:"in"`
	// OutRaw is the file's out array as decoded: plain strings and
	// { text, match } tables. Validate builds Out from it.
	OutRaw []any        `toml:"out"`
	Out    []OutOfScope `toml:"-"`

	words wordIndex // every word of Out's terms and of the reward words: ScopeHints looks for these only
}

// Rewards is the [rewards] table.
type Rewards struct {
	Kind     string            `toml:"kind"`     // none, discretionary, bounty
	Criteria map[string]string `toml:"criteria"` // language -> text
}

// Credit is the [credit] table: how reporters are thanked in public.
type Credit struct {
	HallOfFame      bool `toml:"hall_of_fame"`
	Announcement    bool `toml:"announcement"`
	ContributorList bool `toml:"contributor_list"`
}

// Reminder targets.
const (
	RemindOnDuty   = "on-duty"
	RemindAssignee = "assignee"
	RemindTeam     = "team"
	RemindLead     = "lead"
)

// Defaults is the policy before the file is applied.
func Defaults() *Policy {
	return &Policy{
		Languages:        []string{"en"},
		PlaintextReplies: true,
		Rewards:          Rewards{Kind: "none"},
		CalendarConfig: CalendarConfig{
			TimeZone:     "UTC",
			WorkDays:     []string{"mon", "tue", "wed", "thu", "fri"},
			WorkingHours: "09:00-17:00",
		},
	}
}

// Load reads and parses the policy file at path.
func Load(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy: read: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes and validates a policy file called name. The error is a
// tomlfile.Errors with every problem found, each "file:line: key: what".
func Parse(name string, data []byte) (*Policy, error) {
	p := Defaults()
	f, err := tomlfile.Decode(name, data, p)
	if err != nil {
		// Unknown keys leave the rest decoded, so validation can still
		// report more; a syntax or type error does not.
		var es tomlfile.Errors
		if !errors.As(err, &es) {
			return nil, err
		}
		for _, e := range es {
			if e.Msg != "unknown key" {
				return nil, err
			}
		}
	}
	p.Validate(f)
	if err := f.Err(); err != nil {
		return nil, err
	}
	return p, nil
}

var (
	langRE = regexp.MustCompile(`^[a-z]{2,3}(-[A-Za-z0-9]{1,8})*$`)
	nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
)

// Validate checks p after decoding, records every problem in f and builds the
// derived values (Calendar, durations, field matchers).
func (p *Policy) Validate(f *tomlfile.File) {
	if strings.TrimSpace(p.Organisation) == "" {
		f.Errorf("organisation", "missing organisation")
	}
	if p.Address == "" {
		f.Errorf("security_address", "missing security address")
	} else if a, err := mail.ParseAddress(p.Address); err != nil || a.Address != p.Address || a.Name != "" {
		f.Errorf("security_address", "invalid address %q, want a bare address like security@example.org", p.Address)
	}

	if len(p.Languages) == 0 {
		f.Errorf("languages", "no languages")
	}
	seen := map[string]bool{}
	for _, l := range p.Languages {
		if !langRE.MatchString(l) {
			f.Errorf("languages", "invalid language tag %q, want e.g. \"en\" or \"de-CH\"", l)
		}
		if seen[l] {
			f.Errorf("languages", "language %q listed twice", l)
		}
		seen[l] = true
	}

	checkURL := func(key, s string, schemes ...string) {
		if s == "" {
			return
		}
		u, err := url.Parse(s)
		if err == nil && u.Scheme == "https" && u.Host != "" {
			return
		}
		if err == nil && slices.Contains(schemes, u.Scheme) && u.Opaque != "" {
			return
		}
		// RFC 9116 section 2.5: web URIs in security.txt MUST begin with "https://".
		f.Errorf(key, "invalid URL %q, want https://...", s)
	}
	checkURL("policy_url", p.PolicyURL)
	checkURL("acknowledgments_url", p.AcknowledgmentsURL)
	checkURL("hiring_url", p.HiringURL)
	// RFC 9116 section 2.5.4 allows dns: and openpgp4fpr: keys too.
	checkURL("encryption_url", p.EncryptionURL, "dns", "openpgp4fpr")
	for i, u := range p.CanonicalURLs {
		checkURL(fmt.Sprintf("canonical_urls[%d]", i), u)
	}

	p.Calendar = buildCalendar(p.CalendarConfig, func(key, format string, args ...any) {
		f.Errorf("calendar."+key, format, args...)
	})

	if p.KeepInformed != "" {
		d, err := ParseDuration(p.KeepInformed)
		if err != nil {
			f.Errorf("keep_informed", "%v", err)
		}
		p.KeepInformedEvery = d
	}

	names := map[string]bool{}
	for i := range p.Commitments {
		c := &p.Commitments[i]
		key := fmt.Sprintf("commitments[%d]", i)
		switch {
		case c.Name == "":
			f.Errorf(key+".name", "missing name")
		case !nameRE.MatchString(c.Name):
			f.Errorf(key+".name", "invalid name %q, want lower case letters, digits and -", c.Name)
		case names[c.Name]:
			f.Errorf(key+".name", "commitment %q defined twice", c.Name)
		case c.Name == KeepInformedName && p.KeepInformed != "":
			f.Errorf(key+".name", "name %q is taken by keep_informed", c.Name)
		}
		names[c.Name] = true
		if c.Start == "" {
			f.Errorf(key+".start", "missing start event")
		} else if err := c.Start.check(); err != nil {
			f.Errorf(key+".start", "%v", err)
		}
		if len(c.Stop) == 0 {
			f.Errorf(key+".stop", "missing stop event")
		}
		for _, ev := range c.Stop {
			if err := ev.check(); err != nil {
				f.Errorf(key+".stop", "%v", err)
			}
		}
		if c.Within == "" {
			f.Errorf(key+".duration", "missing duration, want e.g. \"3bd\", \"48h\", \"7d\" or \"1w\"")
		} else if d, err := ParseDuration(c.Within); err != nil {
			f.Errorf(key+".duration", "%v", err)
		} else {
			c.Duration = d
		}
		for _, r := range c.Remind {
			switch r {
			case RemindOnDuty, RemindAssignee, RemindTeam, RemindLead:
			default:
				f.Errorf(key+".remind", "unknown reminder target %q, want on-duty, assignee, team or lead", r)
			}
		}
	}
	if !p.KeepInformedEvery.IsZero() {
		p.Commitments = append(p.Commitments, Commitment{
			Name:     KeepInformedName,
			Start:    EventTeamReplied,
			Stop:     []Event{EventTeamReplied},
			Within:   p.KeepInformed,
			Duration: p.KeepInformedEvery,
			Remind:   []string{RemindAssignee},
			Pause:    true,
			repeat:   true,
			until:    []Event{EventFixed, EventDisclosed, EventRejected, EventDuplicate, EventSpam},
		})
	}

	switch {
	case p.Disclosure.Days < 0:
		f.Errorf("disclosure.days", "negative duration")
	case p.Disclosure.Days > 3650:
		f.Errorf("disclosure.days", "%d days is more than ten years", p.Disclosure.Days)
	}
	switch {
	case p.Disclosure.MaxExtensionDays < 0:
		f.Errorf("disclosure.max_extension_days", "negative duration")
	case p.Disclosure.MaxExtensionDays > 0 && !p.Disclosure.Extendable:
		f.Errorf("disclosure.max_extension_days", "set but extendable is false")
	case p.Disclosure.MaxExtensionDays > 3650:
		f.Errorf("disclosure.max_extension_days", "%d days is more than ten years", p.Disclosure.MaxExtensionDays)
	}

	fieldNames := map[string]bool{}
	for i := range p.Fields {
		p.Fields[i].compile(f, fmt.Sprintf("fields[%d]", i), fieldNames)
	}

	p.Scope.compile(f)

	switch p.Rewards.Kind {
	case "none", "discretionary", "bounty":
	default:
		f.Errorf("rewards.kind", "unknown kind %q, want none, discretionary or bounty", p.Rewards.Kind)
	}
}

// DefaultLanguage is the first language of the policy.
func (p *Policy) DefaultLanguage() string {
	if len(p.Languages) == 0 {
		return "en"
	}
	return p.Languages[0]
}

// Commitment returns the commitment called name.
func (p *Policy) Commitment(name string) (*Commitment, bool) {
	for i := range p.Commitments {
		if p.Commitments[i].Name == name {
			return &p.Commitments[i], true
		}
	}
	return nil, false
}

// text picks the entry of m for lang, else for the policy's default
// language, else English, else any (the first in sorted order).
func (p *Policy) text(m map[string]string, lang string) string {
	for _, l := range []string{lang, p.DefaultLanguage(), "en"} {
		if s, ok := m[l]; ok {
			return s
		}
	}
	first := ""
	for l := range m {
		if first == "" || l < first {
			first = l
		}
	}
	return m[first]
}
