package auth

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const testSecret = "s3cret-Value"

// noSecretIn fails the test when err leaks the secret.
func noSecretIn(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), testSecret) {
		t.Errorf("error %q contains the secret", err)
	}
}

func TestSecretFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // WriteFile's mode is masked by umask
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name    string
		path    string
		want    string
		wantErr string // substring; "" means success
		noSec   bool   // errors.Is(err, ErrNoSecret)
	}{
		{name: "plain", path: write("a", testSecret, 0o600), want: testSecret},
		{name: "one newline trimmed", path: write("b", testSecret+"\n", 0o400), want: testSecret},
		{name: "crlf trimmed", path: write("c", testSecret+"\r\n", 0o600), want: testSecret},
		{name: "only one newline trimmed", path: write("d", testSecret+"\n\n", 0o600), want: testSecret + "\n"},
		{name: "inner space kept", path: write("e", " "+testSecret+" \n", 0o600), want: " " + testSecret + " "},
		{name: "group readable", path: write("f", testSecret, 0o640), wantErr: "chmod 600"},
		{name: "world readable", path: write("g", testSecret, 0o604), wantErr: "0604"},
		{name: "empty", path: write("h", "\n", 0o600), wantErr: "empty"},
		{name: "missing", path: filepath.Join(dir, "nope"), wantErr: "secret not found", noSec: true},
		{name: "directory", path: dir, wantErr: "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Secret{File: tt.path}.Read()
			noSecretIn(t, err)
			if tt.wantErr == "" {
				if err != nil || got != tt.want {
					t.Fatalf("Read() = %q, %v, want %q", got, err, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Read() error = %v, want one containing %q", err, tt.wantErr)
			}
			if got := errors.Is(err, ErrNoSecret); got != tt.noSec {
				t.Errorf("errors.Is(%v, ErrNoSecret) = %v, want %v", err, got, tt.noSec)
			}
		})
	}
}

func TestSecretCredential(t *testing.T) {
	dir := t.TempDir()
	// systemd makes credentials 0400 or 0440: no mode check for them.
	if err := os.WriteFile(filepath.Join(dir, "imap-password"), []byte(testSecret+"\n"), 0o440); err != nil {
		t.Fatal(err)
	}
	t.Run("found", func(t *testing.T) {
		t.Setenv("CREDENTIALS_DIRECTORY", dir)
		got, err := Secret{Credential: "imap-password"}.Read()
		if err != nil || got != testSecret {
			t.Fatalf("Read() = %q, %v, want %q", got, err, testSecret)
		}
	})
	t.Run("missing", func(t *testing.T) {
		t.Setenv("CREDENTIALS_DIRECTORY", dir)
		_, err := Secret{Credential: "smtp-password"}.Read()
		if !errors.Is(err, ErrNoSecret) {
			t.Fatalf("Read() error = %v, want ErrNoSecret", err)
		}
	})
	t.Run("no env", func(t *testing.T) {
		t.Setenv("CREDENTIALS_DIRECTORY", "")
		_, err := Secret{Credential: "imap-password"}.Read()
		if err == nil || !strings.Contains(err.Error(), "$CREDENTIALS_DIRECTORY is not set") {
			t.Fatalf("Read() error = %v, want one saying $CREDENTIALS_DIRECTORY is not set", err)
		}
	})
	for _, name := range []string{"../imap-password", "a/b", ".."} {
		t.Run("bad name "+name, func(t *testing.T) {
			t.Setenv("CREDENTIALS_DIRECTORY", dir)
			_, err := Secret{Credential: name}.Read()
			if err == nil || !strings.Contains(err.Error(), "not a plain name") {
				t.Fatalf("Read() error = %v, want 'not a plain name'", err)
			}
		})
	}
}

func TestSecretCommand(t *testing.T) {
	for _, prog := range []string{"printf", "sh"} {
		if _, err := exec.LookPath(prog); err != nil {
			t.Fatalf("this test needs %s on PATH: %v", prog, err)
		}
	}
	tests := []struct {
		name    string
		argv    []string
		want    string
		wantErr string
	}{
		{name: "printf", argv: []string{"printf", "tok"}, want: "tok"},
		{name: "trimmed", argv: []string{"sh", "-c", "printf '  tok\\n\\n'"}, want: "tok"},
		{name: "exit status, stderr and stdout withheld", argv: []string{"sh", "-c", "echo " + testSecret + "; echo " + testSecret + " >&2; exit 3"}, wantErr: "exit status 3"},
		{name: "empty output", argv: []string{"sh", "-c", "exit 0"}, wantErr: "empty output"},
		{name: "no such program", argv: []string{"/nonexistent/token-helper"}, wantErr: "token-helper"},
		{name: "empty program", argv: []string{""}, wantErr: "empty program name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Secret{Command: tt.argv}.Read()
			noSecretIn(t, err)
			if tt.wantErr == "" {
				if err != nil || got != tt.want {
					t.Fatalf("Read() = %q, %v, want %q", got, err, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Read() = %q, %v, want an error containing %q", got, err, tt.wantErr)
			}
		})
	}
}

func TestSecretCommandTimeout(t *testing.T) {
	old := commandTimeout
	commandTimeout = 100 * time.Millisecond
	t.Cleanup(func() { commandTimeout = old })

	start := time.Now()
	_, err := Secret{Command: []string{"sh", "-c", "sleep 30"}}.Read()
	if err == nil || !strings.Contains(err.Error(), "no answer within") {
		t.Fatalf("Read() error = %v, want a timeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Read() took %v, want about %v", d, commandTimeout)
	}
}

func TestSecretSources(t *testing.T) {
	tests := []struct {
		name string
		s    Secret
		want string
	}{
		{"none", Secret{}, "none of file, credential or command"},
		{"two", Secret{File: "/x", Command: []string{"true"}}, "exactly one"},
		{"three", Secret{File: "/x", Credential: "c", Command: []string{"true"}}, "exactly one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.s.Read()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Read() error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}
