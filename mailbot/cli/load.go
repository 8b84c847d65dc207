package cli

import (
	"errors"
	"fmt"
	"os"
	"time"

	"mailbot/mailbot/auth"
	"mailbot/mailbot/config"
	"mailbot/mailbot/pgp"
	"mailbot/mailbot/team"
	"mailbot/policy"
	"mailbot/store"
	"mailbot/templates"
)

// setup is everything a configuration file points at, loaded and checked.
type setup struct {
	cfg    *config.Config
	policy *policy.Policy
	tmpl   *templates.Set
	keys   *pgp.Keyring // nil when no key is configured
	roster *team.Roster // nil without a team
}

// load reads the configuration and everything it names. The error lists
// every problem found, not just the first.
func load(path string) (*setup, error) {
	if path == "" {
		return nil, errors.New("--config is required")
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	s := &setup{cfg: cfg}
	var errs []error
	if s.policy, err = policy.Load(cfg.Policy); err != nil {
		errs = append(errs, err)
	}
	if s.tmpl, err = templates.Load(cfg.Templates); err != nil {
		errs = append(errs, err)
	}
	if s.keys, err = loadKeys(cfg); err != nil {
		errs = append(errs, err)
	}
	if s.policy != nil {
		if s.roster, err = loadRoster(cfg, s.policy); err != nil {
			errs = append(errs, err)
		}
	}
	return s, errors.Join(errs...)
}

// loadKeys reads the bot's private key, unlocking it with the configured
// passphrase.
func loadKeys(cfg *config.Config) (*pgp.Keyring, error) {
	if cfg.Keys.Private == "" {
		return nil, nil
	}
	var pass []byte
	if cfg.Keys.Passphrase.IsSet() {
		p, err := auth.Secret(cfg.Keys.Passphrase).Read()
		if err != nil {
			return nil, fmt.Errorf("%s: keys.passphrase: %w", cfg.File, err)
		}
		pass = []byte(p)
	}
	f, err := os.Open(cfg.Keys.Private)
	if err != nil {
		return nil, fmt.Errorf("%s: keys.private: %w", cfg.File, err)
	}
	defer f.Close()
	k, err := pgp.ReadKeyring(f, pass)
	if err != nil {
		return nil, fmt.Errorf("%s: keys.private: %s: %w", cfg.File, cfg.Keys.Private, err)
	}
	return k, nil
}

// openStore opens the store named by cfg. While the daemon runs it holds the
// file; the error then says so.
func openStore(cfg *config.Config) (*store.Store, error) {
	st, err := store.Open(cfg.Store, store.Options{Timeout: 2 * time.Second, CasePrefix: cfg.CasePrefix})
	if errors.Is(err, store.ErrLocked) {
		return nil, fmt.Errorf("%w: is `mailbot run` running on %s? stop it first", err, cfg.Store)
	}
	return st, err
}

// loadRoster reads the team members' public keys and builds the duty
// rotation on the policy's calendar.
func loadRoster(cfg *config.Config, p *policy.Policy) (*team.Roster, error) {
	if len(cfg.Team) == 0 {
		return nil, nil
	}
	var members []team.Member
	for i, m := range cfg.Team {
		tm := team.Member{Name: m.Name, Address: m.Address}
		if m.Key != "" {
			data, err := os.ReadFile(m.Key)
			if err != nil {
				return nil, fmt.Errorf("%s: team[%d].key: %w", cfg.File, i, err)
			}
			if tm.Keys, err = pgp.ParseKeys(data); err != nil {
				return nil, fmt.Errorf("%s: team[%d].key: %s: %w", cfg.File, i, m.Key, err)
			}
			if pgp.KeyForAddress(tm.Keys, m.Address) == nil {
				return nil, fmt.Errorf("%s: team[%d].key: %s has no valid encryption key for %s", cfg.File, i, m.Key, m.Address)
			}
		}
		members = append(members, tm)
	}
	r, err := team.NewRoster(members, cfg.Duty, p.Calendar)
	if err != nil {
		return nil, fmt.Errorf("%s: duty: %w", cfg.File, err)
	}
	return r, nil
}
