//go:build e2e

package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// gnupg is the researcher's GnuPG in its own GNUPGHOME.
type gnupg struct {
	home string
}

func newGnuPG(t *testing.T) *gnupg {
	t.Helper()
	if _, err := exec.LookPath("gpg"); err != nil {
		t.Fatalf("gpg: %v: run make e2e (it installs dovecot, postfix, gnupg)", err)
	}
	// A short path: gpg-agent's socket must fit in sun_path.
	home, err := os.MkdirTemp("", "gpg")
	if err != nil {
		t.Fatalf("MkdirTemp() = %v", err)
	}
	os.Chmod(home, 0o700)
	g := &gnupg{home: home}
	t.Cleanup(func() {
		// Stops the gpg-agent of this home only.
		cmd := exec.Command("gpgconf", "--kill", "gpg-agent")
		cmd.Env = append(os.Environ(), "GNUPGHOME="+home)
		cmd.Run()
		os.RemoveAll(home)
	})
	return g
}

// run runs gpg in batch mode without a passphrase and returns its output
// and its status and log lines (--status-fd 2).
func (g *gnupg) run(t *testing.T, stdin []byte, args ...string) (stdout, stderr []byte) {
	t.Helper()
	full := append([]string{"--batch", "--yes", "--pinentry-mode", "loopback", "--passphrase", "",
		"--trust-model", "always", "--status-fd", "2"}, args...)
	cmd := exec.Command("gpg", full...)
	cmd.Env = append(os.Environ(), "GNUPGHOME="+g.home)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("gpg %s = %v\n%s", strings.Join(args, " "), err, errb.Bytes())
	}
	return out.Bytes(), errb.Bytes()
}

// genKey makes an Ed25519 signing key with a Curve25519 encryption subkey
// and returns its fingerprint.
func (g *gnupg) genKey(t *testing.T, uid string) string {
	t.Helper()
	g.run(t, nil, "--quick-gen-key", uid, "future-default", "default", "never")
	out, _ := g.run(t, nil, "--with-colons", "--list-keys", uid)
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "fpr:") {
			return strings.Split(line, ":")[9]
		}
	}
	t.Fatalf("gpg --list-keys %s: no fingerprint in %s", uid, out)
	return ""
}

// armoredBlock cuts the first ASCII-armored OpenPGP message out of a mail.
func armoredBlock(raw []byte) []byte {
	const begin, end = "-----BEGIN PGP MESSAGE-----", "-----END PGP MESSAGE-----"
	i := bytes.Index(raw, []byte(begin))
	if i < 0 {
		return nil
	}
	j := bytes.Index(raw[i:], []byte(end))
	if j < 0 {
		return nil
	}
	return raw[i : i+j+len(end)]
}
