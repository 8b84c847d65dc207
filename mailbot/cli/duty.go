package cli

import (
	"context"
	"errors"
	"fmt"
	"time"
)

func init() {
	register(command{"duty", "--config F [--at TIME] [--days N]", "who is on duty (now, at TIME, and the next shifts)", cmdDuty})
}

// parseTime reads TIME as RFC 3339, or "2006-01-02 15:04" / "2006-01-02"
// in loc.
func parseTime(s string, loc *time.Location) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("time %q: want RFC 3339, \"2006-01-02 15:04\" or \"2006-01-02\"", s)
}

func cmdDuty(ctx context.Context, env *Env, args []string) int {
	fs := flags(env, "duty")
	cfgPath := fs.String("config", "", "configuration `file`")
	at := fs.String("at", "", "the moment to ask about (default now), in the policy's time zone unless RFC 3339")
	days := fs.Int("days", 14, "also list the shifts of this many days from then")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	s, err := load(*cfgPath)
	if err != nil {
		return fail(env, "duty", ExitUsage, err)
	}
	if s.roster == nil {
		return fail(env, "duty", ExitUsage, errors.New("no team: add at least two [[team]] members to the config"))
	}
	loc := s.policy.Calendar.Location()
	when := time.Now().In(loc)
	if *at != "" {
		if when, err = parseTime(*at, loc); err != nil {
			return fail(env, "duty", ExitUsage, err)
		}
	}
	pair := s.roster.OnDuty(when)
	fmt.Fprintf(env.Stdout, "on duty at %s: %s <%s> and %s <%s>\n", when.In(loc).Format("Mon 2006-01-02 15:04 MST"),
		pair[0].Name, pair[0].Address, pair[1].Name, pair[1].Address)
	if *days > 0 {
		for _, sh := range s.roster.Schedule(when, when.AddDate(0, 0, *days)) {
			fmt.Fprintf(env.Stdout, "  %s .. %s  %s, %s\n", sh.From.Format("Mon 2006-01-02"), sh.To.Add(-time.Second).Format("Mon 2006-01-02"),
				sh.Members[0].Name, sh.Members[1].Name)
		}
	}
	return ExitOK
}
