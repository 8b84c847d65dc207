package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"mailbot/mailbot/auth"
	"mailbot/mailbot/config"
	"mailbot/mailbot/pgp"
)

func init() {
	register(command{"keys", "generate|import|export|list --config F", "the bot's OpenPGP key", cmdKeys})
}

// cmdKeys manages the bot's key, the file named by keys.private in the
// config. The passphrase comes from keys.passphrase (a file or a systemd
// credential), never from a flag.
func cmdKeys(ctx context.Context, env *Env, args []string) int {
	if len(args) == 0 {
		return fail(env, "keys", ExitUsage, errors.New("want generate, import, export or list"))
	}
	sub := args[0]
	fs := flags(env, "keys "+sub)
	cfgPath := fs.String("config", "", "configuration `file`")
	rsa := fs.Bool("rsa", false, "generate: RSA-4096 instead of Ed25519/Curve25519 (v4 keys either way: GnuPG 2.2 cannot read v6)")
	force := fs.Bool("force", false, "generate, import: replace an existing key file (the old one is kept as .old)")
	out := fs.String("out", "", "export: write to this `file` instead of stdout")
	if code, ok := parse(fs, args[1:]); !ok {
		return code
	}
	if *cfgPath == "" {
		return fail(env, "keys", ExitUsage, errors.New("--config is required"))
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return fail(env, "keys", ExitUsage, err)
	}
	if cfg.Keys.Private == "" {
		return fail(env, "keys", ExitUsage, fmt.Errorf("%s: keys.private is not set", cfg.File))
	}
	pass, err := passphrase(cfg)
	if err != nil {
		return fail(env, "keys", ExitUsage, err)
	}
	switch sub {
	case "generate":
		algo := pgp.Ed25519
		if *rsa {
			algo = pgp.RSA4096
		}
		k, err := pgp.Generate(cfg.Name, cfg.Address, algo, time.Now())
		if err != nil {
			return fail(env, "keys", ExitFailure, err)
		}
		return writeKey(env, cfg.Keys.Private, k, pass, *force)
	case "import":
		if fs.NArg() != 1 {
			return fail(env, "keys", ExitUsage, errors.New("import wants one armored private key file (use - for stdin)"))
		}
		var data []byte
		if fs.Arg(0) == "-" {
			var b bytes.Buffer
			b.ReadFrom(env.Stdin)
			data = b.Bytes()
		} else if data, err = os.ReadFile(fs.Arg(0)); err != nil {
			return fail(env, "keys", ExitFailure, err)
		}
		k, err := pgp.ReadKeyring(bytes.NewReader(data), pass)
		if err != nil {
			return fail(env, "keys", ExitFailure, err)
		}
		return writeKey(env, cfg.Keys.Private, k, pass, *force)
	case "export", "list":
		k, err := loadKeys(cfg)
		if err != nil {
			return fail(env, "keys", ExitFailure, err)
		}
		if sub == "list" {
			for _, ki := range k.List() {
				fmt.Fprintf(env.Stdout, "%s  %s %d  created %s  %s\n", ki.Fingerprint, ki.Algorithm, ki.Bits,
					ki.Created.Format("2006-01-02"), oneLine(strings.Join(ki.UserIDs, ", ")))
			}
			return ExitOK
		}
		var b bytes.Buffer
		if err := k.WritePublic(&b); err != nil {
			return fail(env, "keys", ExitFailure, err)
		}
		if *out == "" {
			env.Stdout.Write(b.Bytes())
			return ExitOK
		}
		if err := os.WriteFile(*out, b.Bytes(), 0o644); err != nil {
			return fail(env, "keys", ExitFailure, err)
		}
		return ExitOK
	}
	return fail(env, "keys", ExitUsage, fmt.Errorf("unknown subcommand %q: want generate, import, export or list", sub))
}

func passphrase(cfg *config.Config) ([]byte, error) {
	if !cfg.Keys.Passphrase.IsSet() {
		return nil, nil
	}
	p, err := auth.Secret(cfg.Keys.Passphrase).Read()
	if err != nil {
		return nil, fmt.Errorf("%s: keys.passphrase: %w", cfg.File, err)
	}
	return []byte(p), nil
}

// writeKey stores k at path (0600), encrypted with pass when set. An
// existing key is replaced only with force, and kept as path.old.
func writeKey(env *Env, path string, k *pgp.Keyring, pass []byte, force bool) int {
	if _, err := os.Stat(path); err == nil {
		if !force {
			return fail(env, "keys", ExitFailure, fmt.Errorf("%s exists: use --force to replace it (the old key is kept as .old)", path))
		}
		if err := os.Rename(path, path+".old"); err != nil {
			return fail(env, "keys", ExitFailure, err)
		}
	}
	var b bytes.Buffer
	if err := k.WritePrivate(&b, pass); err != nil {
		return fail(env, "keys", ExitFailure, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fail(env, "keys", ExitFailure, err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		return fail(env, "keys", ExitFailure, err)
	}
	fmt.Fprintf(env.Stdout, "%s: key %s\n", path, k.Fingerprint())
	return ExitOK
}
