package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"mailbot/mailbot"
	"mailbot/store"
)

func init() {
	register(command{"ingest", "--config F [--json] [FILE ...]", "process mail from files or stdin (an MTA pipe)", cmdIngest})
}

// cmdIngest runs the pipeline on messages handed over directly. As an MTA
// pipe transport it follows sysexits.h: 0 when the message is stored (or
// kept aside), 65 (EX_DATAERR, bounced) only when the message itself can
// never be accepted (over the size limit), and 75 (EX_TEMPFAIL, deferred
// and retried by the MTA) for anything that is not the message's fault:
// command line, configuration, keys, a locked or unwritable store, a full
// disk. A researcher's report is never bounced for the bot's own trouble.
func cmdIngest(ctx context.Context, env *Env, args []string) int {
	fs := flags(env, "ingest")
	cfgPath := fs.String("config", "", "configuration `file`")
	asJSON := fs.Bool("json", false, "print one JSON object per message: case id and action")
	send := fs.Bool("send", false, "also send the queued acknowledgements now (otherwise the daemon does)")
	if code, ok := parse(fs, args); !ok {
		if code == ExitOK {
			return code // -h
		}
		return ExitTempFail
	}
	s, err := load(*cfgPath)
	if err != nil {
		return fail(env, "ingest", ExitTempFail, err)
	}
	st, err := openStore(s.cfg)
	if err != nil {
		return fail(env, "ingest", ExitTempFail, err)
	}
	defer st.Close()
	d, err := mailbot.New(mailbot.Options{Config: s.cfg, Store: st, Policy: s.policy, Templates: s.tmpl, Keys: s.keys, Roster: s.roster,
		Logger: newLogger(env.Stderr, s.cfg.LogLevel)})
	if err != nil {
		return fail(env, "ingest", ExitTempFail, err)
	}
	files := fs.Args()
	if len(files) == 0 {
		files = []string{"-"}
	}
	code := ExitOK
	enc := json.NewEncoder(env.Stdout)
	for _, name := range files {
		res, err := ingestOne(ctx, d, env, name)
		// Of several files the worst wins: retry (75) over refuse (65).
		switch {
		case err == nil:
		case errors.Is(err, store.ErrTooLarge):
			fmt.Fprintf(env.Stderr, "mailbot ingest: %s: %v\n", name, err)
			code = max(code, ExitDataErr)
		default:
			// Temporary (store, disk, a file that went away) or a
			// failure the pipeline counts and, after limits.max_tries,
			// keeps aside: either way the MTA tries again.
			fmt.Fprintf(env.Stderr, "mailbot ingest: %s: %v\n", name, err)
			code = ExitTempFail
		}
		if err != nil {
			continue
		}
		if *asJSON {
			enc.Encode(struct {
				File string `json:"file"`
				mailbot.Result
			}{name, res})
		} else {
			fmt.Fprintf(env.Stdout, "%s: %s %s\n", name, res.Action, res.Case)
		}
	}
	if !*send {
		return code
	}
	if _, err := d.Sender().RunOnce(ctx); err != nil {
		fmt.Fprintf(env.Stderr, "mailbot ingest: outbox: %v (the daemon will retry)\n", err)
	}
	return code
}

func ingestOne(ctx context.Context, d *mailbot.Daemon, env *Env, name string) (mailbot.Result, error) {
	var r io.Reader = env.Stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return mailbot.Result{}, err
		}
		defer f.Close()
		r = f
	}
	return d.Ingest(ctx, r)
}
