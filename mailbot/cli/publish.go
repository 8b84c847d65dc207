package cli

import (
	"context"
	"fmt"
	"os"
	"time"

	"mailbot/policy"
)

func init() {
	register(command{"publish", "security-txt|policy --config F [--out F]", "render security.txt (RFC 9116) or the disclosure policy (Markdown) from the policy file", cmdPublish})
}

// cmdPublish renders what the organisation publishes from the same policy
// file the bot enforces, so the two cannot drift apart.
func cmdPublish(ctx context.Context, env *Env, args []string) int {
	if len(args) == 0 || (args[0] != "security-txt" && args[0] != "policy") {
		return fail(env, "publish", ExitUsage, fmt.Errorf("want security-txt or policy"))
	}
	what := args[0]
	fs := flags(env, "publish "+what)
	cfgPath := fs.String("config", "", "configuration `file`")
	out := fs.String("out", "", "write to this `file` instead of stdout")
	lang := fs.String("lang", "", "language of the policy text (default: the policy's first)")
	expires := fs.Duration("expires", 0, "security.txt: Expires this far ahead (default and maximum: a year)")
	if code, ok := parse(fs, args[1:]); !ok {
		return code
	}
	s, err := load(*cfgPath)
	if err != nil {
		return fail(env, "publish", ExitUsage, err)
	}
	var data []byte
	switch what {
	case "security-txt":
		opt := policy.SecurityTxtOptions{Now: time.Now()}
		if *expires > 0 {
			opt.Expires = opt.Now.Add(*expires)
		}
		if s.keys != nil {
			opt.KeyFingerprint = s.keys.Fingerprint()
		}
		data, err = s.policy.SecurityTxt(opt)
	case "policy":
		l := *lang
		if l == "" {
			l = s.policy.DefaultLanguage()
		}
		data, err = s.policy.Markdown(l)
	}
	if err != nil {
		return fail(env, "publish", ExitFailure, err)
	}
	if *out == "" {
		env.Stdout.Write(data)
		return ExitOK
	}
	if err := os.WriteFile(*out, data, 0o644); err != nil {
		return fail(env, "publish", ExitFailure, err)
	}
	return ExitOK
}
