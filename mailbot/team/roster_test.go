package team

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"mailbot/policy"
	"mailbot/policy/tomlfile"
)

func testMembers() []Member {
	return []Member{
		{Name: "Alice", Address: "alice@example.org"},
		{Name: "Bob", Address: "bob@example.org"},
		{Name: "Carol", Address: "carol@example.org"},
		{Name: "Dave", Address: "dave@example.org"},
	}
}

func imisCalendar(t *testing.T) *policy.Calendar {
	t.Helper()
	p, err := policy.Load("../../testdata/policies/002_imis_innovation.toml")
	if err != nil {
		t.Fatalf("policy.Load() = %v", err)
	}
	return p.Calendar
}

var berlin = func() *time.Location {
	l, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		panic(err)
	}
	return l
}()

// at is a wall-clock time in Berlin, "2026-01-05 10:00".
func at(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.ParseInLocation("2006-01-02 15:04", s, berlin)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func names(p [2]Member) string { return p[0].Name + "," + p[1].Name }

func newRoster(t *testing.T, rot RotationConfig, cal *policy.Calendar) *Roster {
	t.Helper()
	r, err := NewRoster(testMembers(), rot, cal)
	if err != nil {
		t.Fatalf("NewRoster() = %v", err)
	}
	return r
}

func TestOnDutyWeekly(t *testing.T) {
	r := newRoster(t, RotationConfig{Mode: "weekly", Start: "2026-01-05"}, imisCalendar(t))
	tests := []struct{ at, want string }{
		{"2025-12-31 10:00", "Alice,Bob"}, // before the start: shift 0
		{"2026-01-05 00:00", "Alice,Bob"},
		{"2026-01-09 16:00", "Alice,Bob"},
		{"2026-01-11 23:59", "Alice,Bob"}, // Sunday still belongs to the week
		{"2026-01-12 00:30", "Bob,Carol"}, // 2026-01-11 23:30 UTC
		{"2026-01-19 10:00", "Carol,Dave"},
		{"2026-01-26 10:00", "Dave,Alice"},
		{"2026-02-02 10:00", "Alice,Bob"},
		// Easter Monday 2026-04-06 is a holiday, the week still works:
		// the new shift starts on Monday.
		{"2026-04-06 10:00", names([2]Member{testMembers()[13%4], testMembers()[14%4]})},
	}
	for _, tt := range tests {
		if got := names(r.OnDuty(at(t, tt.at))); got != tt.want {
			t.Errorf("OnDuty(%s) = %s, want %s", tt.at, got, tt.want)
		}
	}
}

func TestOnDutyDailyHolidays(t *testing.T) {
	r := newRoster(t, RotationConfig{Mode: "daily", Start: "2026-03-30"}, imisCalendar(t))
	tests := []struct{ at, want string }{
		{"2026-03-30 10:00", "Alice,Bob"},  // Mon, shift 0
		{"2026-03-31 10:00", "Bob,Carol"},  // Tue, 1
		{"2026-04-01 10:00", "Carol,Dave"}, // Wed, 2
		{"2026-04-02 10:00", "Dave,Alice"}, // Thu, 3
		{"2026-04-03 10:00", "Dave,Alice"}, // Good Friday: no new shift
		{"2026-04-04 10:00", "Dave,Alice"}, // Saturday
		{"2026-04-06 23:00", "Dave,Alice"}, // Easter Monday
		{"2026-04-07 08:00", "Alice,Bob"},  // Tue, 4
		{"2026-04-08 08:00", "Bob,Carol"},  // Wed, 5
	}
	for _, tt := range tests {
		if got := names(r.OnDuty(at(t, tt.at))); got != tt.want {
			t.Errorf("OnDuty(%s) = %s, want %s", tt.at, got, tt.want)
		}
	}
}

func TestOnDutyClosedWeek(t *testing.T) {
	cal, err := policy.NewCalendar(policy.CalendarConfig{
		TimeZone: "Europe/Berlin", WorkDays: []string{"mon", "tue", "wed", "thu", "fri"}, WorkingHours: "09:00-17:00",
		Country: "DE", Closed: []string{"2026-12-28", "2026-12-29", "2026-12-30", "2026-12-31"}, // 2027-01-01 is New Year
	})
	if err != nil {
		t.Fatal(err)
	}
	r := newRoster(t, RotationConfig{Start: "2026-01-05"}, cal)
	open := newRoster(t, RotationConfig{Start: "2026-01-05"}, imisCalendar(t))
	tests := []struct{ at, want, wantOpen string }{
		{"2026-12-21 10:00", "Carol,Dave", "Carol,Dave"}, // week 50
		{"2026-12-28 10:00", "Carol,Dave", "Dave,Alice"}, // closed week: shift 50 goes on
		{"2027-01-04 10:00", "Dave,Alice", "Alice,Bob"},  // nobody lost a turn
	}
	for _, tt := range tests {
		if got := names(r.OnDuty(at(t, tt.at))); got != tt.want {
			t.Errorf("OnDuty(%s) with the closure = %s, want %s", tt.at, got, tt.want)
		}
		if got := names(open.OnDuty(at(t, tt.at))); got != tt.wantOpen {
			t.Errorf("OnDuty(%s) without the closure = %s, want %s", tt.at, got, tt.wantOpen)
		}
	}
}

func TestOnDutyOverrides(t *testing.T) {
	r := newRoster(t, RotationConfig{Start: "2026-01-05", Overrides: []Override{
		{From: "2026-01-12", To: "2026-01-14", Absent: "carol"},
		{From: "2026-01-20", Absent: "Carol"},
		{From: "2026-01-20", Absent: "dave@example.org"},
		{From: "2026-01-06", Swap: []string{"alice", "carol"}},
		{From: "2026-01-27", To: "2026-01-28", Swap: []string{"alice", "bob"}},
	}}, imisCalendar(t))
	tests := []struct{ at, want string }{
		{"2026-01-05 10:00", "Alice,Bob"},
		{"2026-01-06 10:00", "Carol,Bob"}, // swap: Carol takes Alice's place
		{"2026-01-07 10:00", "Alice,Bob"},
		{"2026-01-12 10:00", "Bob,Dave"}, // Carol absent: the next takes her place
		{"2026-01-14 23:00", "Bob,Dave"}, // the range includes its last day
		{"2026-01-15 10:00", "Bob,Carol"},
		{"2026-01-20 10:00", "Alice,Bob"}, // both Carol and Dave away: wrap around
		{"2026-01-27 10:00", "Dave,Bob"},  // Alice and Bob trade
		{"2026-01-29 10:00", "Dave,Alice"},
	}
	for _, tt := range tests {
		if got := names(r.OnDuty(at(t, tt.at))); got != tt.want {
			t.Errorf("OnDuty(%s) = %s, want %s", tt.at, got, tt.want)
		}
	}
}

func TestSchedule(t *testing.T) {
	r := newRoster(t, RotationConfig{Start: "2026-01-05", Overrides: []Override{{From: "2026-01-12", Absent: "carol"}}}, imisCalendar(t))
	got := r.Schedule(at(t, "2026-01-07 15:00"), at(t, "2026-01-26 00:00"))
	want := []string{
		"2026-01-07..2026-01-12 #0 Alice,Bob",
		"2026-01-12..2026-01-13 #1 Bob,Dave",
		"2026-01-13..2026-01-19 #1 Bob,Carol",
		"2026-01-19..2026-01-26 #2 Carol,Dave",
	}
	var lines []string
	for _, s := range got {
		if s.From.Location().String() != "Europe/Berlin" || s.From.Hour() != 0 {
			t.Errorf("Schedule() shift starts %v, want a Berlin midnight", s.From)
		}
		lines = append(lines, fmt.Sprintf("%s..%s #%d %s", s.From.Format("2006-01-02"), s.To.Format("2006-01-02"), s.Index, names(s.Members)))
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("Schedule() =\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}

	// Schedule agrees with OnDuty every day of a daily rotation over
	// Easter, and each shift's members match.
	d := newRoster(t, RotationConfig{Mode: "daily", Start: "2026-02-02", Overrides: []Override{{From: "2026-04-01", To: "2026-04-09", Absent: "bob"}}}, imisCalendar(t))
	from, to := at(t, "2026-03-01 00:00"), at(t, "2026-05-01 00:00")
	shifts := d.Schedule(from, to)
	if len(shifts) == 0 || !shifts[0].From.Equal(from) || !shifts[len(shifts)-1].To.Equal(to) {
		t.Fatalf("Schedule() = %d shifts, want %v..%v covered", len(shifts), from, to)
	}
	for i, s := range shifts {
		if i > 0 && !s.From.Equal(shifts[i-1].To) {
			t.Errorf("Schedule() gap between %v and %v", shifts[i-1].To, s.From)
		}
		for day := s.From; day.Before(s.To); day = day.AddDate(0, 0, 1) {
			if got := d.OnDuty(day.Add(11 * time.Hour)); names(got) != names(s.Members) {
				t.Errorf("OnDuty(%v) = %s, Schedule says %s", day, names(got), names(s.Members))
			}
		}
	}
	if got := d.Schedule(to, from); len(got) != 0 {
		t.Errorf("Schedule(to before from) = %v, want none", got)
	}
}

func TestRosterDefaults(t *testing.T) {
	r, err := NewRoster(testMembers()[:2], RotationConfig{}, nil)
	if err != nil {
		t.Fatalf("NewRoster(zero config) = %v", err)
	}
	if got := names(r.OnDuty(time.Date(2026, 7, 4, 12, 0, 0, 0, time.UTC))); got != "Bob,Alice" && got != "Alice,Bob" {
		t.Errorf("OnDuty() = %s, want Alice and Bob", got)
	}
	if m, ok := r.Lookup("BOB"); !ok || m.Address != "bob@example.org" {
		t.Errorf("Lookup(BOB) = %v, %v, want Bob", m, ok)
	}
	if m, ok := r.Lookup("Alice@Example.org"); !ok || m.Name != "Alice" {
		t.Errorf("Lookup(address) = %v, %v, want Alice", m, ok)
	}
	if _, ok := r.ByAddress("Alice"); ok {
		t.Errorf("ByAddress(name) found a member, want addresses only")
	}
	if _, ok := r.ByAddress(""); ok {
		t.Errorf("ByAddress(\"\") found a member")
	}
}

func TestRotationValidate(t *testing.T) {
	twins := append(testMembers(), Member{Name: "alice", Address: "alice2@example.org"})
	tests := []struct {
		name    string
		members []Member
		rot     RotationConfig
		want    []string // "key: message substring"
	}{
		{"mode", nil, RotationConfig{Mode: "monthly"}, []string{"mode: must be"}},
		{"start", nil, RotationConfig{Start: "05.01.2026"}, []string{"start: invalid date"}},
		{"unknown member", nil, RotationConfig{Order: []string{"alice", "eve"}}, []string{`order[1]: "eve" is not a team member`}},
		{"twice", nil, RotationConfig{Order: []string{"alice", "bob", "Alice"}}, []string{"order[2]: \"Alice\" is listed twice"}},
		{"too few", nil, RotationConfig{Order: []string{"alice"}}, []string{"order: two members"}},
		{"team too small", testMembers()[:1], RotationConfig{}, []string{"order: two members"}},
		{"ambiguous", twins, RotationConfig{Order: []string{"alice", "bob"}}, []string{"order[0]: \"alice\" names more than one member"}},
		{"no from", nil, RotationConfig{Overrides: []Override{{Absent: "bob"}}}, []string{"overrides[0].from: required"}},
		{"to before from", nil, RotationConfig{Overrides: []Override{{From: "2026-02-02", To: "2026-02-01", Absent: "bob"}}}, []string{"overrides[0].to: 2026-02-01 is before"}},
		{"too long", nil, RotationConfig{Overrides: []Override{{From: "2026-01-01", To: "2027-06-01", Absent: "bob"}}}, []string{"overrides[0].to: an override spans at most"}},
		{"both", nil, RotationConfig{Overrides: []Override{{From: "2026-01-01", Absent: "bob", Swap: []string{"alice", "carol"}}}}, []string{"overrides[0]: set absent or swap, not both"}},
		{"neither", nil, RotationConfig{Overrides: []Override{{From: "2026-01-01"}}}, []string{"overrides[0]: set absent"}},
		{"swap one", nil, RotationConfig{Overrides: []Override{{From: "2026-01-01", Swap: []string{"alice"}}}}, []string{"overrides[0].swap: must name two members, got 1"}},
		{"swap self", nil, RotationConfig{Overrides: []Override{{From: "2026-01-01", Swap: []string{"alice", "Alice@example.org"}}}}, []string{"overrides[0].swap: a member cannot swap"}},
		{"swap stranger", nil, RotationConfig{Overrides: []Override{{From: "2026-01-01", Swap: []string{"alice", "eve"}}}}, []string{"overrides[0].swap[1]: \"eve\" is not a team member"}},
		{"absent outside rotation", nil, RotationConfig{Order: []string{"alice", "bob", "carol"}, Overrides: []Override{{From: "2026-01-01", Absent: "dave"}}}, []string{"overrides[0].absent: \"dave\" is not in the rotation order"}},
		{"too many absent", nil, RotationConfig{Order: []string{"alice", "bob", "carol"}, Overrides: []Override{
			{From: "2026-01-01", To: "2026-01-10", Absent: "alice"},
			{From: "2026-01-10", To: "2026-01-20", Absent: "bob"},
		}}, []string{"overrides[1].absent: leaves 1 member(s) of the rotation on 2026-01-10"}},
		{"valid", nil, RotationConfig{Mode: "Daily", Start: "2026-01-05", Order: []string{"dave@example.org", "Carol", "bob"},
			Overrides: []Override{{From: "2026-01-01", To: "2026-01-31", Absent: "carol"}, {From: "2026-02-01", Swap: []string{"bob", "dave"}}}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			members := tt.members
			if members == nil {
				members = testMembers()
			}
			errs := tt.rot.Validate(members)
			if len(errs) != len(tt.want) {
				t.Fatalf("Validate() = %v, want %d errors %v", errs, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(errs[i].Error(), w) && !strings.Contains(errs[i].Error(), w) {
					t.Errorf("Validate()[%d] = %q, want %q", i, errs[i].Error(), w)
				}
			}
			_, err := NewRoster(members, tt.rot, nil)
			if (err != nil) != (len(tt.want) > 0) || (err != nil && !errors.Is(err, ErrRotation)) {
				t.Errorf("NewRoster() = %v, want ErrRotation iff Validate finds a problem", err)
			}
		})
	}
}

func TestRotationTOML(t *testing.T) {
	var cfg struct {
		Duty RotationConfig `toml:"duty"`
	}
	data := `
[duty]
mode = "daily"
start = "2026-01-05"
order = ["alice", "bob@example.org", "carol"]

[[duty.overrides]]
from = "2026-03-02"
to = "2026-03-13"
absent = "carol"

[[duty.overrides]]
from = "2026-04-01"
swap = ["alice", "bob"]
`
	if err := decodeTOML(data, &cfg); err != nil {
		t.Fatalf("decode = %v", err)
	}
	if errs := cfg.Duty.Validate(testMembers()); errs != nil {
		t.Fatalf("Validate() = %v, want nil", errs)
	}
	if cfg.Duty.Mode != Daily || len(cfg.Duty.Overrides) != 2 || cfg.Duty.Overrides[1].Swap[1] != "bob" || cfg.Duty.Overrides[0].To != "2026-03-13" {
		t.Errorf("decoded %+v", cfg.Duty)
	}
}

func decodeTOML(data string, v any) error {
	_, err := tomlfile.Decode("config.toml", []byte(data), v)
	return err
}
