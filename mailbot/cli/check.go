package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"mailbot/mailbot/auth"
	"mailbot/mailbot/config"
	"mailbot/policy"
)

func init() {
	register(command{"check", "--config F", "validate config, policy, templates and keys (exit 2 when bad)", cmdCheck})
}

func cmdCheck(ctx context.Context, env *Env, args []string) int {
	fs := flags(env, "check")
	cfgPath := fs.String("config", "", "configuration `file`")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	s, err := load(*cfgPath)
	if err != nil {
		fmt.Fprintln(env.Stderr, err)
		return ExitUsage
	}
	clk, err := daemonClock(env)
	if err != nil {
		fmt.Fprintln(env.Stderr, err)
		return ExitUsage
	}
	if clk.Scaled() {
		fmt.Fprintf(env.Stderr, "warning: %s: %s\n", scaledClockWarning, clk)
	}
	if err := checkSecrets(s); err != nil {
		fmt.Fprintln(env.Stderr, err)
		return ExitUsage
	}
	if err := checkSecurityTxt(s); err != nil {
		fmt.Fprintln(env.Stderr, err)
		return ExitUsage
	}
	for _, w := range warnings(s) {
		fmt.Fprintf(env.Stderr, "warning: %s\n", w)
	}
	fmt.Fprintf(env.Stdout, "%s: ok (policy %s, %d templates", s.cfg.File, s.cfg.Policy, len(s.tmpl.List()))
	if s.keys != nil {
		fmt.Fprintf(env.Stdout, ", key %s", s.keys.Fingerprint())
	}
	fmt.Fprintln(env.Stdout, ")")
	return ExitOK
}

// warnings are problems that do not stop the bot but need an admin.
func warnings(s *setup) []string {
	var w []string
	if s.keys == nil {
		w = append(w, "no OpenPGP key configured (keys.private): reports cannot be encrypted to the bot")
	}
	if s.cfg.SecurityTxt != "" {
		if data, err := os.ReadFile(s.cfg.SecurityTxt); err == nil {
			if err := policy.ValidateSecurityTxt(data, time.Now()); errors.Is(err, policy.ErrExpiresSoon) {
				w = append(w, fmt.Sprintf("%s: %v: run mailbot publish security-txt", s.cfg.SecurityTxt, err))
			}
		}
	}
	for key, sec := range map[string]config.Secret{"imap.password": s.cfg.IMAP.Password, "smtp.password": s.cfg.SMTP.Password} {
		if sec.Credential != "" && os.Getenv("CREDENTIALS_DIRECTORY") == "" {
			w = append(w, fmt.Sprintf("%s: credential %q not checked: $CREDENTIALS_DIRECTORY is set only under systemd", key, sec.Credential))
		}
	}
	if len(s.cfg.Team) == 0 {
		w = append(w, "no team members configured")
	}
	return w
}

// checkSecurityTxt validates the published security.txt named in the
// config, if any. Expiring soon is only a warning (see warnings).
func checkSecurityTxt(s *setup) error {
	if s.cfg.SecurityTxt == "" {
		return nil
	}
	data, err := os.ReadFile(s.cfg.SecurityTxt)
	if err != nil {
		return fmt.Errorf("%s: security_txt: %w", s.cfg.File, err)
	}
	if err := policy.ValidateSecurityTxt(data, time.Now()); err != nil && !errors.Is(err, policy.ErrExpiresSoon) {
		return fmt.Errorf("%s: %w", s.cfg.SecurityTxt, err)
	}
	return nil
}

// checkSecrets reads the IMAP and SMTP passwords (files must be 0600 or
// stricter; credentials need $CREDENTIALS_DIRECTORY) and checks the bot's
// OpenPGP private key file is 0600 or stricter too. Token commands are not
// run: a check should have no side effects.
func checkSecrets(s *setup) error {
	var errs []error
	if path := s.cfg.Keys.Private; path != "" {
		fi, err := os.Stat(path)
		if err == nil {
			err = auth.CheckPrivateMode(path, fi)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: keys.private: %w", s.cfg.File, err))
		}
	}
	for key, sec := range map[string]config.Secret{"imap.password": s.cfg.IMAP.Password, "smtp.password": s.cfg.SMTP.Password} {
		if len(sec.Command) > 0 || sec.Credential != "" && os.Getenv("CREDENTIALS_DIRECTORY") == "" {
			continue // a command is not run; a credential exists only under systemd (see warnings)
		}
		if _, err := auth.Secret(sec).Read(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %s: %w", s.cfg.File, key, err))
		}
	}
	return errors.Join(errs...)
}
