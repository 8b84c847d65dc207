package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"mailbot/mailbot"
	"mailbot/mailbot/control"
	"mailbot/store"
)

func init() {
	register(command{"selftest", "--config F [--timeout D]", "send a probe to the bot's own address now and wait for it in the inbox", cmdSelftest})
}

// selftestReport is the answer of a self-test, over the socket or printed.
type selftestReport struct {
	Steps     []mailbot.Step `json:"steps"`
	RoundTrip time.Duration  `json:"roundtrip"`
	Error     string         `json:"error,omitempty"`
}

// cmdSelftest runs one delivery self-test: in the daemon when one runs (its
// intake sees the probe arrive), else here, searching the mailbox itself.
// Each step is printed with its time since the start.
func cmdSelftest(ctx context.Context, env *Env, args []string) int {
	fs := flags(env, "selftest")
	cfgPath := fs.String("config", "", "configuration `file`")
	timeout := fs.Duration("timeout", 0, "how long to wait for the probe (default: health.selftest_timeout)")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	s, err := load(*cfgPath)
	if err != nil {
		return fail(env, "selftest", ExitUsage, err)
	}
	if *timeout <= 0 {
		*timeout = s.cfg.Health.SelftestTimeout.Duration
	}
	var rep selftestReport
	if control.Available(s.cfg.Control) {
		fmt.Fprintf(env.Stdout, "the daemon runs: asking it over %s\n", s.cfg.Control)
		raw, err := control.Call(ctx, s.cfg.Control, control.Request{Command: "selftest", Args: []string{timeout.String()}})
		if err == nil {
			err = json.Unmarshal(raw, &rep)
		}
		if err != nil {
			return fail(env, "selftest", ExitFailure, err)
		}
	} else {
		st, err := openStore(s.cfg)
		if err != nil {
			return fail(env, "selftest", ExitFailure, err)
		}
		defer st.Close()
		rep = selftest(ctx, s, st, false, *timeout, func(st mailbot.Step) { printStep(env.Stdout, st) })
		rep.Steps = nil // printed as they happened
	}
	for _, st := range rep.Steps {
		printStep(env.Stdout, st)
	}
	if rep.Error != "" {
		return fail(env, "selftest", ExitFailure, errors.New(rep.Error))
	}
	fmt.Fprintf(env.Stdout, "ok: round trip %s\n", rep.RoundTrip.Round(time.Millisecond))
	return ExitOK
}

func printStep(w io.Writer, st mailbot.Step) {
	fmt.Fprintf(w, "%8.3fs  %s\n", st.At.Seconds(), st.What)
}

// selftest runs one round trip on st with a daemon of its own (it does not
// run: a running daemon's intake, when intake is true, records the arrival).
func selftest(ctx context.Context, s *setup, st *store.Store, intake bool, timeout time.Duration, step func(mailbot.Step)) selftestReport {
	var rep selftestReport
	d, err := mailbot.New(mailbot.Options{Config: s.cfg, Store: st, Policy: s.policy, Templates: s.tmpl, Keys: s.keys, Roster: s.roster})
	if err != nil {
		rep.Error = err.Error()
		return rep
	}
	rep.RoundTrip, err = d.Selftest(ctx, intake, timeout, func(x mailbot.Step) {
		rep.Steps = append(rep.Steps, x)
		if step != nil {
			step(x)
		}
	})
	if err != nil {
		rep.Error = err.Error()
	}
	return rep
}
