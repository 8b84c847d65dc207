package team

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"mailbot/policy"
)

// ErrRotation is wrapped by NewRoster for every problem in the rotation; the
// error names the key under [duty] it is about. Permanent: fix the file.
var ErrRotation = errors.New("team: invalid duty rotation")

// Member is one person of the security team.
type Member struct {
	Name    string
	Address string             // compared case-insensitively
	Keys    openpgp.EntityList // the member's OpenPGP public key(s); may be empty
}

// Rotation modes.
const (
	Weekly = "weekly" // a shift is 7 days from the start date's weekday
	Daily  = "daily"  // a shift is one day
)

// DefaultStart is the start date of a rotation that names none (a Monday).
const DefaultStart = "2024-01-01"

// RotationConfig is the [duty] table of the configuration file.
//
//	[duty]
//	mode = "weekly"          # or "daily"; default weekly
//	start = "2026-01-05"     # first day of shift 0; default 2024-01-01
//	order = ["alice", "bob@example.org", "carol"]   # names or addresses; default: every [[team]] member
//
//	[[duty.overrides]]       # carol is away: the next in order takes her place
//	from = "2026-03-02"
//	to = "2026-03-13"        # inclusive; default: from
//	absent = "carol"
//
//	[[duty.overrides]]       # alice and bob trade their shifts for a day
//	from = "2026-04-01"
//	swap = ["alice", "bob"]
//
// Shifts: the calendar is cut into periods (days, or 7-day weeks starting on
// the start date's weekday). A period with at least one work day of the
// policy calendar (no weekend, holiday or closure) starts the next shift; a
// period without one (a closed week, a weekend day in daily mode) belongs to
// the shift before, so a holiday never costs anyone their turn. Shift k puts
// order[k mod n] and order[(k+1) mod n] on duty: a staggered rotation in which
// one of the two always carries over from the shift before.
//
// Overrides apply per day, in the calendar's time zone: swaps first (the two
// members trade places in the order), then absences (an absent member is
// skipped and the next one in the order takes the place). A zero
// RotationConfig is valid: weekly from DefaultStart over the whole team.
type RotationConfig struct {
	Mode      string     `toml:"mode"`
	Start     string     `toml:"start"`
	Order     []string   `toml:"order"`
	Overrides []Override `toml:"overrides"`
}

// Override changes the rotation for the days From to To, both included.
// Exactly one of Absent and Swap is set.
type Override struct {
	From   string   `toml:"from"`   // "2006-01-02"
	To     string   `toml:"to"`     // "2006-01-02"; empty means From
	Absent string   `toml:"absent"` // a member (name or address) who is away
	Swap   []string `toml:"swap"`   // two members who trade places
}

// ConfigError is one problem in a RotationConfig. Key is relative to the
// table the rotation was decoded from ("order[1]", "overrides[0].to"); the
// caller prefixes it ("duty.") and hands it to tomlfile.File.Errorf.
type ConfigError struct {
	Key, Msg string
}

func (e ConfigError) Error() string { return e.Key + ": " + e.Msg }

// maxOverrideDays bounds one override: overrides are for leave and trades,
// a lasting change belongs in the order.
const maxOverrideDays = 366

// maxScheduleDays bounds Schedule.
const maxScheduleDays = 10 * 366

// day is a civil date, held as midnight UTC so that differences are exact
// multiples of 24 hours.
type day struct{ t time.Time }

func parseDay(s string) (day, error) {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return day{}, fmt.Errorf("invalid date %q, want \"2006-01-02\"", s)
	}
	if t.Year() < 2000 || t.Year() > 2199 {
		return day{}, fmt.Errorf("date %q out of range", s)
	}
	return day{t}, nil
}

func dayOf(t time.Time, loc *time.Location) day {
	y, m, d := t.In(loc).Date()
	return day{time.Date(y, m, d, 0, 0, 0, 0, time.UTC)}
}

func (d day) add(n int) day     { return day{d.t.AddDate(0, 0, n)} }
func (d day) sub(e day) int     { return int(d.t.Sub(e.t).Hours()) / 24 }
func (d day) before(e day) bool { return d.t.Before(e.t) }
func (d day) String() string    { return d.t.Format("2006-01-02") }
func (d day) in(loc *time.Location) time.Time {
	y, m, dd := d.t.Date()
	return time.Date(y, m, dd, 0, 0, 0, 0, loc)
}

// override is a validated Override: positions in Roster.order.
type override struct {
	from, to day
	absent   int // -1 when a swap
	swap     [2]int
}

func (o override) covers(d day) bool { return !d.before(o.from) && !o.to.before(d) }

// Roster is the team and its duty rotation. It is immutable and safe for
// concurrent use.
type Roster struct {
	members   []Member
	order     []int // positions in members
	daily     bool
	start     day
	overrides []override
	cal       *policy.Calendar // nil: every day is a work day, UTC
	loc       *time.Location
}

// Shift is a stretch of time with the same two members on duty.
type Shift struct {
	From, To time.Time // [From, To), local midnights in the calendar's zone
	Index    int       // shift number counted from the start; overrides keep it
	Members  [2]Member
}

// resolve finds the member a name or address in the configuration means.
func resolve(members []Member, s string) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return -1, errors.New("empty member")
	}
	for i, m := range members {
		if strings.EqualFold(m.Address, s) {
			return i, nil
		}
	}
	found := -1
	for i, m := range members {
		if strings.EqualFold(strings.TrimSpace(m.Name), s) {
			if found >= 0 {
				return -1, fmt.Errorf("%q names more than one member: use the address", s)
			}
			found = i
		}
	}
	if found < 0 {
		return -1, fmt.Errorf("%q is not a team member", s)
	}
	return found, nil
}

// Validate checks c against the team and returns every problem found, or
// nil. It does not need the calendar: day ranges are checked day by day.
func (c RotationConfig) Validate(members []Member) []ConfigError {
	_, errs := build(members, c)
	return errs
}

// NewRoster checks the rotation and builds the Roster. cal is the policy's
// business calendar; nil means every day is a work day, in UTC. The error
// joins one ErrRotation per problem.
func NewRoster(members []Member, rot RotationConfig, cal *policy.Calendar) (*Roster, error) {
	r, errs := build(members, rot)
	if len(errs) > 0 {
		var all []error
		for _, e := range errs {
			all = append(all, fmt.Errorf("%w: %s: %s", ErrRotation, e.Key, e.Msg))
		}
		return nil, errors.Join(all...)
	}
	r.cal = cal
	r.loc = time.UTC
	if cal != nil {
		r.loc = cal.Location()
	}
	return r, nil
}

func build(members []Member, c RotationConfig) (*Roster, []ConfigError) {
	var errs []ConfigError
	bad := func(key, format string, args ...any) {
		errs = append(errs, ConfigError{key, fmt.Sprintf(format, args...)})
	}
	r := &Roster{members: members}
	switch strings.ToLower(c.Mode) {
	case "", Weekly:
	case Daily:
		r.daily = true
	default:
		bad("mode", "must be %q or %q, got %q", Weekly, Daily, c.Mode)
	}
	start := c.Start
	if start == "" {
		start = DefaultStart
	}
	if d, err := parseDay(start); err != nil {
		bad("start", "%v", err)
	} else {
		r.start = d
	}

	if len(c.Order) == 0 {
		for i := range members {
			r.order = append(r.order, i)
		}
		if len(members) < 2 {
			bad("order", "two members are on duty at any time: the team needs at least two, it has %d", len(members))
		}
	} else {
		seen := map[int]bool{}
		for i, s := range c.Order {
			key := fmt.Sprintf("order[%d]", i)
			m, err := resolve(members, s)
			switch {
			case err != nil:
				bad(key, "%v", err)
			case seen[m]:
				bad(key, "%q is listed twice", s)
			default:
				seen[m] = true
				r.order = append(r.order, m)
			}
		}
		if len(r.order) < 2 && len(errs) == 0 {
			bad("order", "two members are on duty at any time: the order needs at least two, it has %d", len(r.order))
		}
	}
	pos := func(key, s string) int {
		m, err := resolve(members, s)
		if err != nil {
			bad(key, "%v", err)
			return -1
		}
		for _, o := range r.order {
			if o == m {
				return m
			}
		}
		bad(key, "%q is not in the rotation order", s)
		return -1
	}

	for i, o := range c.Overrides {
		key := fmt.Sprintf("overrides[%d]", i)
		v := override{absent: -1}
		from, err := parseDay(o.From)
		if o.From == "" {
			err = errors.New("required: the first day, \"2006-01-02\"")
		}
		if err != nil {
			bad(key+".from", "%v", err)
			continue
		}
		v.from, v.to = from, from
		if o.To != "" {
			to, err := parseDay(o.To)
			switch {
			case err != nil:
				bad(key+".to", "%v", err)
				continue
			case to.before(from):
				bad(key+".to", "%s is before from %s", to, from)
				continue
			case to.sub(from) >= maxOverrideDays:
				bad(key+".to", "an override spans at most %d days: change the order for longer", maxOverrideDays)
				continue
			}
			v.to = to
		}
		switch {
		case o.Absent != "" && len(o.Swap) > 0:
			bad(key, "set absent or swap, not both")
			continue
		case o.Absent != "":
			if v.absent = pos(key+".absent", o.Absent); v.absent < 0 {
				continue
			}
		case len(o.Swap) == 2:
			a, b := pos(key+".swap[0]", o.Swap[0]), pos(key+".swap[1]", o.Swap[1])
			if a < 0 || b < 0 {
				continue
			}
			if a == b {
				bad(key+".swap", "a member cannot swap with themselves")
				continue
			}
			v.swap = [2]int{a, b}
		case len(o.Swap) > 0:
			bad(key+".swap", "must name two members, got %d", len(o.Swap))
			continue
		default:
			bad(key, "set absent (a member who is away) or swap (two members who trade shifts)")
			continue
		}
		r.overrides = append(r.overrides, v)
		if v.absent >= 0 && len(r.order) >= 2 {
			// Every day of this absence must leave two members.
			for d := v.from; !v.to.before(d); d = d.add(1) {
				if n := len(r.order) - len(r.absentOn(d)); n < 2 {
					bad(key+".absent", "leaves %d member(s) of the rotation on %s, two must be on duty", n, d)
					break
				}
			}
		}
	}
	return r, errs
}

// absentOn is the set of members absent on d.
func (r *Roster) absentOn(d day) map[int]bool {
	var out map[int]bool
	for _, o := range r.overrides {
		if o.absent >= 0 && o.covers(d) {
			if out == nil {
				out = map[int]bool{}
			}
			out[o.absent] = true
		}
	}
	return out
}

// Members is the whole team, in configuration order.
func (r *Roster) Members() []Member { return slices.Clone(r.members) }

// Lookup finds a member by address or, when unambiguous, by name (both
// case-insensitive): the argument of an "assign" command.
func (r *Roster) Lookup(nameOrAddress string) (Member, bool) {
	i, err := resolve(r.members, nameOrAddress)
	if err != nil {
		return Member{}, false
	}
	return r.members[i], true
}

// ByAddress finds a member by address only (case-insensitive): the From of
// a team mail.
func (r *Roster) ByAddress(addr string) (Member, bool) {
	addr = strings.TrimSpace(addr)
	for _, m := range r.members {
		if addr != "" && strings.EqualFold(m.Address, addr) {
			return m, true
		}
	}
	return Member{}, false
}

func (r *Roster) isWorkday(d day) bool {
	if r.cal == nil {
		return true
	}
	return r.cal.IsWorkday(d.in(r.loc).Add(12 * time.Hour))
}

// period is the number of the period d falls in, negative before the start.
func (r *Roster) period(d day) int {
	n := d.sub(r.start)
	if r.daily {
		return n
	}
	if n < 0 {
		return -((-n + 6) / 7)
	}
	return n / 7
}

func (r *Roster) periodWorking(p int) bool {
	length := 7
	if r.daily {
		length = 1
	}
	first := r.start.add(p * length)
	for i := range length {
		if r.isWorkday(first.add(i)) {
			return true
		}
	}
	return false
}

// workingPeriods is the number of working periods from the start up to and
// including period p.
func (r *Roster) workingPeriods(p int) int {
	n := 0
	for i := 0; i <= p; i++ {
		if r.periodWorking(i) {
			n++
		}
	}
	return n
}

// shiftIndex is the shift in progress on day d: the number of working
// periods from the start up to d's period, less one. Before the first
// working period it is 0.
func (r *Roster) shiftIndex(d day) int {
	return max(r.workingPeriods(r.period(d))-1, 0)
}

// pair is who is on duty on day d in shift k, overrides applied.
func (r *Roster) pair(d day, k int) [2]Member {
	order := r.order
	swapped := false
	for _, o := range r.overrides {
		if o.absent >= 0 || !o.covers(d) {
			continue
		}
		if !swapped {
			order = append([]int(nil), order...)
			swapped = true
		}
		for i, m := range order {
			switch m {
			case o.swap[0]:
				order[i] = o.swap[1]
			case o.swap[1]:
				order[i] = o.swap[0]
			}
		}
	}
	absent := r.absentOn(d)
	n := len(order)
	var out [2]Member
	got := 0
	// Skip absent members; should fewer than two be left (Validate
	// prevents it), take absent ones rather than leave a place empty.
	for pass := 0; pass < 2 && got < 2; pass++ {
		for i := 0; i < n && got < 2; i++ {
			m := order[(k+i)%n]
			if absent[m] != (pass == 1) {
				continue
			}
			if got == 1 && out[0].Address == r.members[m].Address {
				continue
			}
			out[got] = r.members[m]
			got++
		}
	}
	return out
}

// OnDuty is the two members on duty at the moment at.
func (r *Roster) OnDuty(at time.Time) [2]Member {
	d := dayOf(at, r.loc)
	return r.pair(d, r.shiftIndex(d))
}

// Schedule lists who is on duty from the local day of from up to to
// (exclusive), one Shift per stretch with the same members and shift
// number. The first Shift starts at the local midnight of from's day, not
// necessarily where that shift began. At most ten years are listed.
func (r *Roster) Schedule(from, to time.Time) []Shift {
	var out []Shift
	d := dayOf(from, r.loc)
	p := r.period(d)
	n := r.workingPeriods(p)
	for i := 0; i < maxScheduleDays && d.in(r.loc).Before(to); i++ {
		if np := r.period(d); np != p {
			p = np
			if p >= 0 && r.periodWorking(p) {
				n++
			}
		}
		k := max(n-1, 0)
		pair := r.pair(d, k)
		if l := len(out); l > 0 && out[l-1].Index == k &&
			out[l-1].Members[0].Address == pair[0].Address && out[l-1].Members[1].Address == pair[1].Address {
			out[l-1].To = d.add(1).in(r.loc)
		} else {
			out = append(out, Shift{From: d.in(r.loc), To: d.add(1).in(r.loc), Index: k, Members: pair})
		}
		d = d.add(1)
	}
	return out
}
