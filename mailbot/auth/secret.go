// Package auth owns the bot's mail credentials: where a password or token is
// read from (a 0600 file, a systemd credential, a helper command) and the SASL
// clients (RFC 4422) that present it to IMAP and SMTP servers: PLAIN (RFC 4616),
// LOGIN (draft-murchison-sasl-login) and XOAUTH2 (Google and Microsoft's
// bearer-token mechanism, the pre-standard form of RFC 7628 OAUTHBEARER).
//
// A secret never appears in an error or a log line written by this package.
package auth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// ErrNoSecret means the place a secret should come from holds none: a missing
// file or credential. It is permanent until an administrator adds the secret.
var ErrNoSecret = errors.New("auth: secret not found")

// commandTimeout bounds a Secret.Command helper. A variable for tests.
var commandTimeout = 30 * time.Second

// maxSecretSize bounds what Read accepts from any source: a password or an
// OAuth access token is a few KiB at most.
const maxSecretSize = 64 << 10

// Secret says where one secret comes from. Exactly one field is set.
type Secret struct {
	// File is a path to a file holding the secret. It must not be readable by
	// group or others (mode & 0077 == 0).
	File string
	// Credential is the name of a systemd credential (LoadCredential= or
	// SetCredentialEncrypted= in the unit), read from $CREDENTIALS_DIRECTORY.
	Credential string
	// Command is run (no shell) and its standard output, trimmed of
	// surrounding white space, is the secret: for example an XOAUTH2 token
	// helper. It must finish within 30 seconds.
	Command []string
}

// Read returns the secret. Errors name the source, never the content.
func (s Secret) Read() (string, error) {
	n := 0
	for _, set := range []bool{s.File != "", s.Credential != "", len(s.Command) > 0} {
		if set {
			n++
		}
	}
	switch {
	case n == 0:
		return "", errors.New("auth: secret: none of file, credential or command is set")
	case n > 1:
		return "", errors.New("auth: secret: set exactly one of file, credential or command")
	}
	switch {
	case s.File != "":
		return readFile(s.File, true)
	case s.Credential != "":
		return readCredential(s.Credential)
	default:
		return runCommand(s.Command)
	}
}

// CheckPrivateMode returns an error when fi, the file at path, may be read
// by group or others (mode & 0077 != 0): a password file, or the bot's
// OpenPGP private key, must be 0600 or stricter.
func CheckPrivateMode(path string, fi fs.FileInfo) error {
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("auth: secret file %s: mode %04o lets group or others read it: chmod 600 it", path, perm)
	}
	return nil
}

func readFile(path string, checkMode bool) (string, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%w: %s", ErrNoSecret, path)
	}
	if err != nil {
		return "", fmt.Errorf("auth: secret file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat() // the opened file, not the path: no race with a rename
	if err != nil {
		return "", fmt.Errorf("auth: secret file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("auth: secret file %s: not a regular file", path)
	}
	if checkMode {
		if err := CheckPrivateMode(path, fi); err != nil {
			return "", err
		}
	}
	b, err := io.ReadAll(io.LimitReader(f, maxSecretSize+1))
	if err != nil {
		return "", fmt.Errorf("auth: secret file %s: %w", path, err)
	}
	if len(b) > maxSecretSize {
		return "", fmt.Errorf("auth: secret file %s: larger than %d bytes", path, maxSecretSize)
	}
	// One trailing newline is what an editor or `echo` leaves; anything more
	// is taken as part of the secret.
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	if len(b) == 0 {
		return "", fmt.Errorf("auth: secret file %s: empty", path)
	}
	return string(b), nil
}

func readCredential(name string) (string, error) {
	if name == "." || name == ".." || strings.ContainsAny(name, `/\`) {
		return "", fmt.Errorf("auth: credential %q: not a plain name", name)
	}
	dir := os.Getenv("CREDENTIALS_DIRECTORY")
	if dir == "" {
		return "", fmt.Errorf("auth: credential %q: $CREDENTIALS_DIRECTORY is not set: run under systemd with LoadCredential=%s:/path/to/secret, or use a secret file", name, name)
	}
	// systemd makes the directory private to the service: no mode check.
	return readFile(filepath.Join(dir, name), false)
}

func runCommand(argv []string) (string, error) {
	if argv[0] == "" {
		return "", errors.New("auth: secret command: empty program name")
	}
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stdout limitedBuffer
	cmd.Stdout = &stdout
	cmd.Stderr = nil // its diagnostics could echo the token: not kept
	cmd.WaitDelay = time.Second
	killGroup(cmd)
	err := cmd.Run()
	if ctx.Err() != nil {
		return "", fmt.Errorf("auth: secret command %s: no answer within %v", argv[0], commandTimeout)
	}
	if err != nil {
		// Only the exit status: stderr and stdout may hold the secret.
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("auth: secret command %s: %v", argv[0], ee.ProcessState)
		}
		return "", fmt.Errorf("auth: secret command %s: %w", argv[0], err)
	}
	if stdout.over {
		return "", fmt.Errorf("auth: secret command %s: output larger than %d bytes", argv[0], maxSecretSize)
	}
	out := strings.TrimSpace(stdout.b.String())
	if out == "" {
		return "", fmt.Errorf("auth: secret command %s: empty output", argv[0])
	}
	return out, nil
}

// limitedBuffer keeps the first maxSecretSize bytes and notes any excess.
type limitedBuffer struct {
	b    bytes.Buffer
	over bool
}

func (w *limitedBuffer) Write(p []byte) (int, error) {
	if room := maxSecretSize - w.b.Len(); len(p) > room {
		w.over = true
		w.b.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return w.b.Write(p)
}
