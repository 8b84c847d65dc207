package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"mailbot/mailbot"
	"mailbot/mailbot/control"
	"mailbot/mailbot/remind"
	"mailbot/store"
)

// queries are the read-only admin commands, answered the same way by the
// daemon over its socket and by the CLI from the file when no daemon runs.
var queries = map[string]func(s *setup, tx *store.Tx, args []string) (any, error){
	"cases":  queryCases,
	"case":   queryCase,
	"outbox": queryOutbox,
	"stats":  queryStats,
}

// query runs the admin query name: over the daemon's control socket when a
// daemon answers there (it owns the database), else on the file. The result
// is decoded into out.
func query(ctx context.Context, env *Env, name, cfgPath string, args []string, out any) int {
	s, err := load(cfgPath)
	if err != nil {
		return fail(env, name, ExitUsage, err)
	}
	var raw []byte
	if control.Available(s.cfg.Control) {
		raw, err = control.Call(ctx, s.cfg.Control, control.Request{Command: name, Args: args})
	} else {
		raw, err = queryFile(s, name, args)
	}
	if err != nil {
		return fail(env, name, ExitFailure, err)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fail(env, name, ExitFailure, fmt.Errorf("reading the answer: %w", err))
	}
	return ExitOK
}

func queryFile(s *setup, name string, args []string) ([]byte, error) {
	st, err := openStore(s.cfg)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	var v any
	err = st.View(func(tx *store.Tx) (err error) {
		v, err = queries[name](s, tx, args)
		return err
	})
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// adminHandlers serve the admin commands on the daemon's socket.
func adminHandlers(s func() *setup, st *store.Store) map[string]control.Handler {
	h := map[string]control.Handler{}
	for name, q := range queries {
		h[name] = func(ctx context.Context, req control.Request, w io.Writer) error {
			var v any
			err := st.View(func(tx *store.Tx) (err error) {
				v, err = q(s(), tx, req.Args)
				return err
			})
			if err != nil {
				return err
			}
			return json.NewEncoder(w).Encode(v)
		}
	}
	h["remind"] = func(ctx context.Context, req control.Request, w io.Writer) error {
		cur := s()
		at := time.Now()
		if len(req.Args) == 1 {
			var err error
			if at, err = time.Parse(time.RFC3339, req.Args[0]); err != nil {
				return err
			}
		}
		acts, err := planAt(cur, st, at)
		if err != nil {
			return err
		}
		return json.NewEncoder(w).Encode(acts)
	}
	h["selftest"] = func(ctx context.Context, req control.Request, w io.Writer) error {
		timeout := s().cfg.Health.SelftestTimeout.Duration
		if len(req.Args) == 1 {
			var err error
			if timeout, err = time.ParseDuration(req.Args[0]); err != nil {
				return err
			}
		}
		return json.NewEncoder(w).Encode(selftest(ctx, s(), st, true, timeout, nil))
	}
	h["backup"] = func(ctx context.Context, req control.Request, w io.Writer) error {
		_, err := st.Backup(w)
		return err
	}
	h["forget"] = func(ctx context.Context, req control.Request, w io.Writer) error {
		if len(req.Args) != 1 {
			return fmt.Errorf("want one address")
		}
		rep, err := forget(st, req.Args[0], time.Now())
		if err != nil {
			return err
		}
		return json.NewEncoder(w).Encode(rep)
	}
	return h
}

// forget erases a reporter's personal data and then their raw mail files.
func forget(st *store.Store, addr string, now time.Time) (store.ForgetReport, error) {
	var rep store.ForgetReport
	err := st.Update(func(tx *store.Tx) (err error) {
		rep, err = tx.Forget(addr, now)
		return err
	})
	if err != nil {
		return rep, err
	}
	for _, h := range rep.Raw {
		if err := st.RemoveRaw(h); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

func jsonUnmarshal(raw []byte, v any) error { return json.Unmarshal(raw, v) }

// planAt lists what the scheduler would send at `at`, without sending: a
// daemon that is never run plans over the store.
func planAt(s *setup, st *store.Store, at time.Time) ([]remind.Action, error) {
	d, err := mailbot.New(mailbot.Options{Config: s.cfg, Store: st, Policy: s.policy, Templates: s.tmpl, Keys: s.keys,
		Roster: s.roster, Now: func() time.Time { return at }})
	if err != nil {
		return nil, err
	}
	acts, err := d.Plan(at)
	if acts == nil {
		acts = []remind.Action{}
	}
	return acts, err
}
