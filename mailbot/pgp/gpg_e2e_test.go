//go:build e2e

package pgp

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// gnupg runs gpg in its own GNUPGHOME. `make e2e` installs gnupg; without
// it this test fails, never skips.
type gnupg struct {
	t    *testing.T
	home string
}

func newGnuPG(t *testing.T) *gnupg {
	t.Helper()
	if _, err := exec.LookPath("gpg"); err != nil {
		t.Fatalf("gpg not installed: run make e2e (%v)", err)
	}
	// Short path: gpg-agent's socket path must fit in sun_path.
	home, err := os.MkdirTemp("", "gpg")
	if err != nil {
		t.Fatalf("MkdirTemp() = %v", err)
	}
	os.Chmod(home, 0o700)
	g := &gnupg{t: t, home: home}
	t.Cleanup(func() {
		// Stop the gpg-agent this test started, by its home directory.
		cmd := exec.Command("gpgconf", "--kill", "gpg-agent")
		cmd.Env = append(os.Environ(), "GNUPGHOME="+home)
		cmd.Run()
		os.RemoveAll(home)
	})
	return g
}

func (g *gnupg) run(stdin []byte, args ...string) (stdout, stderr []byte) {
	g.t.Helper()
	full := append([]string{"--batch", "--yes", "--pinentry-mode", "loopback", "--passphrase", "", "--trust-model", "always"}, args...)
	cmd := exec.Command("gpg", full...)
	cmd.Env = append(os.Environ(), "GNUPGHOME="+g.home)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		g.t.Fatalf("gpg %s = %v\n%s", strings.Join(args, " "), err, errb.Bytes())
	}
	return out.Bytes(), errb.Bytes()
}

// genKey makes a researcher key: "rsa" (RSA 3072) or "cv25519" (Ed25519 + Curve25519).
func (g *gnupg) genKey(uid, kind string) string {
	g.t.Helper()
	switch kind {
	case "rsa":
		g.run(nil, "--quick-gen-key", uid, "rsa3072", "sign", "never")
	case "cv25519":
		g.run(nil, "--quick-gen-key", uid, "ed25519", "sign", "never")
	}
	out, _ := g.run(nil, "--with-colons", "--list-keys", uid)
	var fpr string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "fpr:") {
			fpr = strings.Split(line, ":")[9]
			break
		}
	}
	if fpr == "" {
		g.t.Fatalf("no fingerprint for %s in %s", uid, out)
	}
	sub := map[string]string{"rsa": "rsa3072", "cv25519": "cv25519"}[kind]
	g.run(nil, "--quick-add-key", fpr, sub, "encr", "never")
	return fpr
}

func TestGnuPGInterop(t *testing.T) {
	g := newGnuPG(t)
	for _, kind := range []string{"rsa", "cv25519"} {
		t.Run(kind, func(t *testing.T) {
			for _, algo := range []Algo{Ed25519, RSA4096} {
				t.Run(algo.String(), func(t *testing.T) {
					bot := testKey(t, "Bot", algo)
					var pub bytes.Buffer
					if err := bot.WritePublic(&pub); err != nil {
						t.Fatalf("WritePublic() = %v", err)
					}
					g.run(pub.Bytes(), "--import")
					uid := "Researcher " + kind + " <" + kind + "@example.org>"
					fpr := g.fpr(uid, kind)
					exported, _ := g.run(nil, "--armor", "--export", fpr)
					researcher, err := ParseKeys(exported)
					if err != nil {
						t.Fatalf("ParseKeys(gpg export) = %v", err)
					}

					// gpg -> Decrypt: inline armored and PGP/MIME-ready binary, signed and not.
					mimeEntity := []byte("Content-Type: text/plain; charset=utf-8\r\n\r\nXSS in /login, details attached.\r\n")
					tests := []struct {
						name   string
						args   []string
						signed bool
					}{
						{"inline", []string{"--armor", "--encrypt", "-r", bot.Fingerprint()}, false},
						{"inline signed", []string{"--armor", "--sign", "-u", fpr, "--encrypt", "-r", bot.Fingerprint()}, true},
						{"pgp-mime binary", []string{"--encrypt", "-r", bot.Fingerprint()}, false},
						{"pgp-mime signed", []string{"--armor", "--sign", "-u", fpr, "--encrypt", "-r", bot.Fingerprint()}, true},
					}
					for _, tt := range tests {
						ct, _ := g.run(mimeEntity, tt.args...)
						res, err := bot.Decrypt(ct, researcher, Options{})
						if err != nil {
							t.Fatalf("%s: Decrypt(gpg) = %v", tt.name, err)
						}
						if !bytes.Equal(res.Plaintext, mimeEntity) {
							t.Errorf("%s: Decrypt(gpg) = %q, want %q", tt.name, res.Plaintext, mimeEntity)
						}
						if res.Signed != tt.signed || res.SignatureValid != tt.signed {
							t.Errorf("%s: signed=%v valid=%v (%s), want %v", tt.name, res.Signed, res.SignatureValid, res.SignatureError, tt.signed)
						}
						if tt.signed && res.SignerFingerprint != fpr {
							t.Errorf("%s: signer %s, want %s", tt.name, res.SignerFingerprint, fpr)
						}
					}

					// Seal -> gpg --decrypt says "Good signature".
					var sealed bytes.Buffer
					if err := Seal(&sealed, outerHeader(), "Re: XSS [CASE-1]", bytes.NewReader(mimeEntity), researcher, bot); err != nil {
						t.Fatalf("Seal() = %v", err)
					}
					blocks := extractBlocks(t, sealed.Bytes())
					if len(blocks) != 1 {
						t.Fatalf("extractBlocks(Seal) = %d, want 1", len(blocks))
					}
					plain, stderr := g.run(blocks[0].data, "--decrypt")
					if !bytes.Contains(stderr, []byte("Good signature")) {
						t.Errorf("gpg --decrypt: %s, want Good signature", stderr)
					}
					if !bytes.Contains(plain, []byte("Subject: Re: XSS [CASE-1]")) || !bytes.Contains(plain, []byte("protected-headers=v1")) {
						t.Errorf("gpg --decrypt = %q, want the protected headers", plain)
					}

					// Sign -> gpg --verify on the detached signature.
					var signed bytes.Buffer
					if err := Sign(&signed, outerHeader(), bytes.NewReader(mimeEntity), bot); err != nil {
						t.Fatalf("Sign() = %v", err)
					}
					data, sig := splitSigned(t, signed.Bytes())
					dir := t.TempDir()
					os.WriteFile(filepath.Join(dir, "data"), data, 0o600)
					os.WriteFile(filepath.Join(dir, "sig.asc"), sig, 0o600)
					_, stderr = g.run(nil, "--verify", filepath.Join(dir, "sig.asc"), filepath.Join(dir, "data"))
					if !bytes.Contains(stderr, []byte("Good signature")) {
						t.Errorf("gpg --verify: %s, want Good signature", stderr)
					}
				})
			}
		})
	}
}

// fpr generates the researcher key once per kind.
func (g *gnupg) fpr(uid, kind string) string {
	out, _ := g.run(nil, "--with-colons", "--list-keys")
	if strings.Contains(string(out), kind+"@example.org") {
		for _, line := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(line, "fpr:") {
				f := strings.Split(line, ":")[9]
				o, _ := g.run(nil, "--with-colons", "--list-keys", f)
				if strings.Contains(string(o), kind+"@example.org") {
					return f
				}
			}
		}
	}
	return g.genKey(uid, kind)
}

// splitSigned returns the signed part and the signature of a multipart/signed
// message written by Sign.
func splitSigned(t *testing.T, msg []byte) (data, sig []byte) {
	t.Helper()
	i := bytes.Index(msg, []byte("boundary=\""))
	if i < 0 {
		t.Fatalf("no boundary in %q", msg)
	}
	b := msg[i+len("boundary=\""):]
	boundary := "--" + string(b[:bytes.IndexByte(b, '"')])
	parts := bytes.Split(msg, []byte(boundary))
	if len(parts) < 3 {
		t.Fatalf("multipart/signed has %d parts", len(parts)-1)
	}
	data = bytes.TrimPrefix(parts[1], []byte("\r\n"))
	data = bytes.TrimSuffix(data, []byte("\r\n"))
	sig = parts[2][bytes.Index(parts[2], []byte("-----BEGIN")):]
	return data, sig
}
