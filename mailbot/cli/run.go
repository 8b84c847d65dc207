package cli

import (
	"context"
	"fmt"

	"mailbot/mailbot"
)

func init() {
	register(command{"run", "--config F", "run the daemon", cmdRun})
}

func cmdRun(ctx context.Context, env *Env, args []string) int {
	fs := flags(env, "run")
	cfgPath := fs.String("config", "", "configuration `file`")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	s, err := load(*cfgPath)
	if err != nil {
		// A bad configuration will not fix itself: systemd's
		// RestartPreventExitStatus=2 keeps it from restarting in a loop.
		return fail(env, "run", ExitUsage, err)
	}
	st, err := openStore(s.cfg)
	if err != nil {
		return fail(env, "run", ExitFailure, err)
	}
	defer st.Close()
	log := newLogger(env.Stderr, s.cfg.LogLevel)
	d, err := mailbot.New(mailbot.Options{Config: s.cfg, Store: st, Policy: s.policy, Templates: s.tmpl, Keys: s.keys, Roster: s.roster, Logger: log})
	if err != nil {
		return fail(env, "run", ExitFailure, err)
	}
	if err := d.Run(ctx, env.Abort); err != nil {
		return fail(env, "run", ExitFailure, fmt.Errorf("stopped: %w", err))
	}
	log.Info("stopped")
	return ExitOK
}
