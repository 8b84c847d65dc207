package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"mailbot/mailbot/control"
	"mailbot/mailbot/remind"
	"mailbot/store"
)

func init() {
	register(command{"remind", "--config F [--at TIME] [--json]", "list the reminders and notes due at a time, without sending", cmdRemind})
}

// cmdRemind shows what the scheduler would send at a time: the same plan
// the daemon makes, read in one store transaction, with nothing queued or
// recorded. A time far from the daemon's last run shows a catch-up (one
// summary per recipient), as a restart at that time would.
func cmdRemind(ctx context.Context, env *Env, args []string) int {
	fs := flags(env, "remind")
	cfgPath := fs.String("config", "", "configuration `file`")
	at := fs.String("at", "", "the `time` to plan for: RFC 3339, or \"2006-01-02 15:04\" in the policy's time zone (default: now)")
	asJSON := fs.Bool("json", false, "print the actions as JSON")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	s, err := load(*cfgPath)
	if err != nil {
		return fail(env, "remind", ExitUsage, err)
	}
	if s.policy == nil || s.policy.Calendar == nil {
		return fail(env, "remind", ExitUsage, errors.New("no policy: nothing is planned without one"))
	}
	loc := s.policy.Calendar.Location()
	now, err := parseAt(*at, loc, time.Now())
	if err != nil {
		return fail(env, "remind", ExitUsage, err)
	}
	var acts []remind.Action
	if control.Available(s.cfg.Control) {
		// The daemon owns the database: ask it.
		var raw []byte
		if raw, err = control.Call(ctx, s.cfg.Control, control.Request{Command: "remind", Args: []string{now.Format(time.RFC3339)}}); err == nil {
			err = jsonUnmarshal(raw, &acts)
		}
	} else {
		var st *store.Store
		if st, err = openStore(s.cfg); err == nil {
			acts, err = planAt(s, st, now)
			st.Close()
		}
	}
	if err != nil {
		return fail(env, "remind", ExitFailure, err)
	}
	if *asJSON {
		return writeJSON(env.Stdout, orEmpty(acts))
	}
	if len(acts) == 0 {
		why := ""
		if !s.policy.Calendar.InWorkingHours(now) {
			why = " (outside working hours)"
		}
		fmt.Fprintf(env.Stdout, "nothing due at %s%s\n", now.In(loc).Format(time.RFC3339), why)
		return ExitOK
	}
	for _, a := range acts {
		printAction(env, a, "")
	}
	return ExitOK
}

// printAction prints a and, indented, the actions folded into it. A
// summary's parts are one line each (its own Summary repeats them).
func printAction(env *Env, a remind.Action, indent string) {
	if len(a.Parts) > 0 {
		line := fmt.Sprintf("%s %s -> %s: %d actions", a.Due.Format(time.RFC3339), a.Kind, oneLine(a.To), len(a.Parts))
		if a.CatchUp {
			line += " (catch-up)"
		}
		fmt.Fprintln(env.Stdout, indent+line)
		for _, p := range a.Parts {
			printAction(env, p, indent+"  + ")
		}
		return
	}
	fmt.Fprintln(env.Stdout, indent+oneLine(strings.ReplaceAll(a.String(), "\n", " ")))
}

// errBadTime is returned by parseAt for a time it cannot read.
var errBadTime = errors.New(`bad --at time, want RFC 3339 ("2026-03-05T14:00:00+01:00") or "2006-01-02 15:04"`)

// parseAt reads --at: RFC 3339, or a local "2006-01-02 15:04" in loc; empty
// is now.
func parseAt(s string, loc *time.Location, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return now, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02 15:04", "2006-01-02T15:04", "2006-01-02 15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%w: %q", errBadTime, s)
}
