package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"mailbot/mailbot/control"
	"mailbot/store"
)

func init() {
	register(command{"backup", "--config F FILE", "a hot, consistent copy of the database (raw mail files are in STORE.raw/)", cmdBackup})
	register(command{"restore", "--config F FILE", "restore a backup as the database (the daemon must be stopped)", cmdRestore})
	register(command{"forget", "--config F ADDRESS", "erase a reporter's personal data on request (keeps anonymous statistics)", cmdForget})
}

func cmdBackup(ctx context.Context, env *Env, args []string) int {
	fs := flags(env, "backup")
	cfgPath := fs.String("config", "", "configuration `file`")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if fs.NArg() != 1 {
		return fail(env, "backup", ExitUsage, errors.New("want the backup file to write"))
	}
	s, err := load(*cfgPath)
	if err != nil {
		return fail(env, "backup", ExitUsage, err)
	}
	target := fs.Arg(0)
	tmp, err := os.CreateTemp(filepath.Dir(target), ".mailbot-backup-*")
	if err != nil {
		return fail(env, "backup", ExitFailure, err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if control.Available(s.cfg.Control) {
		err = control.Stream(ctx, s.cfg.Control, control.Request{Command: "backup", Stream: true}, tmp)
	} else {
		var st *store.Store
		if st, err = openStore(s.cfg); err == nil {
			_, err = st.Backup(tmp)
			st.Close()
		}
	}
	if err == nil {
		err = tmp.Sync()
	}
	if err == nil {
		err = tmp.Chmod(0o600)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), target)
	}
	if err != nil {
		return fail(env, "backup", ExitFailure, err)
	}
	fmt.Fprintf(env.Stdout, "wrote %s (raw mail stays in %s.raw/: copy that folder too)\n", target, s.cfg.Store)
	return ExitOK
}

func cmdRestore(ctx context.Context, env *Env, args []string) int {
	fs := flags(env, "restore")
	cfgPath := fs.String("config", "", "configuration `file`")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if fs.NArg() != 1 {
		return fail(env, "restore", ExitUsage, errors.New("want the backup file to restore"))
	}
	s, err := load(*cfgPath)
	if err != nil {
		return fail(env, "restore", ExitUsage, err)
	}
	if control.Available(s.cfg.Control) {
		return fail(env, "restore", ExitFailure, errors.New("the daemon is running: stop it first"))
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return fail(env, "restore", ExitFailure, err)
	}
	defer f.Close()
	if _, err := os.Stat(s.cfg.Store); err == nil {
		old := s.cfg.Store + ".before-restore-" + time.Now().Format("20060102-150405")
		if err := os.Rename(s.cfg.Store, old); err != nil {
			return fail(env, "restore", ExitFailure, err)
		}
		fmt.Fprintf(env.Stdout, "kept the old database as %s\n", old)
	}
	if err := store.RestoreFile(f, s.cfg.Store); err != nil {
		return fail(env, "restore", ExitFailure, err)
	}
	fmt.Fprintf(env.Stdout, "restored %s\n", s.cfg.Store)
	return ExitOK
}

func cmdForget(ctx context.Context, env *Env, args []string) int {
	fs := flags(env, "forget")
	cfgPath := fs.String("config", "", "configuration `file`")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if fs.NArg() != 1 {
		return fail(env, "forget", ExitUsage, errors.New("want the reporter's address"))
	}
	s, err := load(*cfgPath)
	if err != nil {
		return fail(env, "forget", ExitUsage, err)
	}
	var rep store.ForgetReport
	if control.Available(s.cfg.Control) {
		var raw []byte
		if raw, err = control.Call(ctx, s.cfg.Control, control.Request{Command: "forget", Args: fs.Args()}); err == nil {
			err = jsonUnmarshal(raw, &rep)
		}
	} else {
		var st *store.Store
		if st, err = openStore(s.cfg); err == nil {
			rep, err = forget(st, fs.Arg(0), time.Now())
			st.Close()
		}
	}
	if err != nil {
		return fail(env, "forget", ExitFailure, err)
	}
	fmt.Fprintf(env.Stdout, "forgot %s: %d cases, %d messages, %d events, %d outgoing mails (%d not sent), %d raw files\n"+
		"note: old copies remain in free pages of the database and in backups until `mailbot backup` + `mailbot restore` compacts them\n",
		fs.Arg(0), len(rep.Cases), rep.Messages, rep.Events, rep.Outbox, rep.Canceled, len(rep.Raw))
	return ExitOK
}
