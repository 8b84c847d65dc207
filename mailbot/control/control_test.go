package control

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// sockPath returns a socket path in a short temp dir (sun_path is 108 bytes).
func sockPath(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ctl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "mailbot.sock")
}

// start serves handlers on a new socket and stops the server at the end of
// the test, checking that Serve returned nil and removed the socket.
func start(t *testing.T, srv *Server) string {
	t.Helper()
	path := sockPath(t)
	ln, err := Listen(path)
	if err != nil {
		t.Fatalf("Listen() = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve() = %v, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("Serve() did not return after cancel")
		}
		if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("socket still there after Serve returned: %v", err)
		}
	})
	return path
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

var echo = map[string]Handler{
	"echo": func(ctx context.Context, req Request, w io.Writer) error {
		return json.NewEncoder(w).Encode(req.Args)
	},
	"fail": func(ctx context.Context, req Request, w io.Writer) error {
		return errors.New("store: case not found")
	},
	"panic": func(ctx context.Context, req Request, w io.Writer) error {
		panic("handler bug")
	},
	"nothing": func(ctx context.Context, req Request, w io.Writer) error { return nil },
	"notjson": func(ctx context.Context, req Request, w io.Writer) error {
		_, err := io.WriteString(w, "hello")
		return err
	},
}

func TestCall(t *testing.T) {
	path := start(t, &Server{Handlers: echo})
	ctx := testCtx(t)
	for _, tc := range []struct {
		name    string
		req     Request
		want    string
		wantErr error
		errText string
	}{
		{"echo", Request{Command: "echo", Args: []string{"a", "b c"}}, `["a","b c"]`, nil, ""},
		{"no data", Request{Command: "nothing"}, ``, nil, ""},
		{"ping", Request{Command: "ping"}, ``, nil, ""},
		{"handler error", Request{Command: "fail"}, ``, ErrRemote, "store: case not found"},
		{"unknown", Request{Command: "nope"}, ``, ErrRemote, `unknown command "nope"`},
		{"invalid JSON from handler", Request{Command: "notjson"}, ``, ErrRemote, "invalid JSON"},
		{"panic", Request{Command: "panic"}, ``, ErrRemote, "internal error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Call(ctx, path, tc.req)
			if !errors.Is(err, tc.wantErr) || (err != nil && !strings.Contains(err.Error(), tc.errText)) {
				t.Fatalf("Call() error = %v, want %v containing %q", err, tc.wantErr, tc.errText)
			}
			if string(got) != tc.want {
				t.Errorf("Call() = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestConcurrentCalls(t *testing.T) {
	path := start(t, &Server{Handlers: echo, MaxConns: 4})
	ctx := testCtx(t)
	const n = 64
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			arg := fmt.Sprintf("call-%d", i)
			got, err := Call(ctx, path, Request{Command: "echo", Args: []string{arg}})
			if err != nil {
				errs <- fmt.Errorf("Call(%s) = %v", arg, err)
				return
			}
			if want := `["` + arg + `"]`; string(got) != want {
				errs <- fmt.Errorf("Call(%s) = %s, want %s", arg, got, want)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestPanicDoesNotKillServer(t *testing.T) {
	path := start(t, &Server{Handlers: echo})
	ctx := testCtx(t)
	for range 3 {
		if _, err := Call(ctx, path, Request{Command: "panic"}); !errors.Is(err, ErrRemote) {
			t.Fatalf("Call(panic) = %v, want ErrRemote", err)
		}
		if got, err := Call(ctx, path, Request{Command: "echo", Args: []string{"alive"}}); err != nil || string(got) != `["alive"]` {
			t.Fatalf("Call(echo) after panic = %s, %v", got, err)
		}
	}
	// A panic in the middle of a stream: the client gets the bytes so far
	// and an error, never a silent short backup.
	var buf bytes.Buffer
	err := Stream(ctx, path, Request{Command: "halfpanic"}, &buf)
	if !errors.Is(err, ErrRemote) {
		t.Errorf("Stream(unknown) = %v, want ErrRemote", err)
	}
	// The same for a stream request the server cannot even parse.
	resp := raw(t, path, []byte("{\"command\":\"x\",\"stream\":true,\"bad\":1}\n"))
	if resp.OK {
		t.Errorf("raw(bad stream request) = %+v, want an error", resp)
	}
}

func TestStreamBig(t *testing.T) {
	const size = 64<<20 + 12345
	block := bytes.Repeat([]byte("0123456789abcdef"), 4096)
	gen := func(w io.Writer) (int64, error) {
		n := int64(0)
		for n < size {
			k := min(int64(len(block)), size-n)
			m, err := w.Write(block[:k])
			n += int64(m)
			if err != nil {
				return n, err
			}
		}
		return n, nil
	}
	want := sha256.New()
	gen(want)
	handlers := map[string]Handler{
		"backup": func(ctx context.Context, req Request, w io.Writer) error {
			_, err := gen(w)
			return err
		},
		"halfway": func(ctx context.Context, req Request, w io.Writer) error {
			w.Write(block)
			return errors.New("store: backup: disk on fire")
		},
		"halfpanic": func(ctx context.Context, req Request, w io.Writer) error {
			w.Write(block)
			panic("boom")
		},
	}
	path := start(t, &Server{Handlers: handlers})
	ctx := testCtx(t)

	got := sha256.New()
	cw := &countWriter{w: got}
	begin := time.Now()
	if err := Stream(ctx, path, Request{Command: "backup"}, cw); err != nil {
		t.Fatalf("Stream() = %v", err)
	}
	elapsed := time.Since(begin)
	if cw.n != size || !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Fatalf("Stream() copied %d bytes (sha256 match %v), want %d", cw.n, bytes.Equal(got.Sum(nil), want.Sum(nil)), size)
	}
	t.Logf("streamed %d MiB in %v (%.0f MiB/s)", size>>20, elapsed, float64(size>>20)/elapsed.Seconds())

	for _, cmd := range []string{"halfway", "halfpanic"} {
		var buf bytes.Buffer
		err := Stream(ctx, path, Request{Command: cmd}, &buf)
		if !errors.Is(err, ErrRemote) {
			t.Errorf("Stream(%s) = %v, want ErrRemote", cmd, err)
		}
		if buf.Len() != len(block) {
			t.Errorf("Stream(%s) copied %d bytes, want the %d sent before the failure", cmd, buf.Len(), len(block))
		}
	}
	// A call whose data exceeds MaxResponse is refused.
	small := start(t, &Server{Handlers: map[string]Handler{"big": func(ctx context.Context, req Request, w io.Writer) error {
		_, err := w.Write([]byte(`"` + strings.Repeat("x", 2000) + `"`))
		return err
	}}, MaxResponse: 1000})
	if _, err := Call(ctx, small, Request{Command: "big"}); !errors.Is(err, ErrRemote) || !strings.Contains(err.Error(), "use a stream") {
		t.Errorf("Call(big) = %v, want ErrRemote \"use a stream\"", err)
	}
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.w.Write(p)
}

func TestSocketMode(t *testing.T) {
	path := start(t, &Server{Handlers: echo})
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatalf("Lstat() = %v", err)
	}
	if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode = %v, want socket 0600", fi.Mode())
	}
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Errorf("folder holds %d entries, want only the socket (no temp name left)", len(ents))
	}
}

func TestStaleSocket(t *testing.T) {
	path := sockPath(t)
	// A socket file with nobody behind it, as a crashed daemon leaves it.
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("stale socket not left behind: %v", err)
	}
	if Available(path) {
		t.Fatalf("Available(stale) = true")
	}
	if _, err := Call(testCtx(t), path, Request{Command: "ping"}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Call(stale) = %v, want ErrUnavailable", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l2, err := Listen(path)
	if err != nil {
		t.Fatalf("Listen(stale) = %v, want the stale socket replaced", err)
	}
	done := make(chan error, 1)
	go func() { done <- (&Server{Handlers: echo}).Serve(ctx, l2) }()
	if !Available(path) {
		t.Errorf("Available() = false with a server running")
	}
	// A live socket is never taken over.
	if _, err := Listen(path); !errors.Is(err, ErrInUse) {
		t.Errorf("Listen(live) = %v, want ErrInUse", err)
	}
	if !Available(path) {
		t.Errorf("Available() = false after a refused Listen")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve() = %v", err)
	}
	if Available(path) {
		t.Errorf("Available() = true after the server stopped")
	}
	// Not a socket: refused, left alone.
	if err := os.WriteFile(path, []byte("data"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(path); err == nil {
		t.Errorf("Listen(regular file) = nil error")
	}
	if data, _ := os.ReadFile(path); string(data) != "data" {
		t.Errorf("regular file changed to %q", data)
	}
	if Available(filepath.Join(filepath.Dir(path), "missing.sock")) {
		t.Errorf("Available(missing) = true")
	}
}

// raw sends bytes on a fresh connection and returns the response.
func raw(t *testing.T, path string, data []byte) Response {
	t.Helper()
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	go conn.Write(data) // may block on a big request the server stops reading
	resp, err := readResponse(bufio.NewReader(conn))
	if err != nil {
		t.Fatalf("readResponse() = %v", err)
	}
	return resp
}

func TestBadRequests(t *testing.T) {
	path := start(t, &Server{Handlers: echo, ReadTimeout: 50 * time.Millisecond})
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"too large", append(bytes.Repeat([]byte(" "), MaxRequest+10), '\n'), "longer than"},
		{"not JSON", []byte("cases please\n"), "protocol error"},
		{"empty command", []byte(`{"command":""}` + "\n"), "empty command"},
		{"unknown field", []byte(`{"command":"echo","x":1}` + "\n"), "unknown field"},
		{"two objects", []byte(`{"command":"echo"}{"command":"echo"}` + "\n"), "trailing"},
		{"silent client", nil, "reading request"}, // read deadline
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := raw(t, path, tc.data)
			if resp.OK || !strings.Contains(resp.Error, tc.want) {
				t.Errorf("response = %+v, want an error containing %q", resp, tc.want)
			}
		})
	}
	// Still serving.
	if _, err := Call(testCtx(t), path, Request{Command: "ping"}); err != nil {
		t.Errorf("Call(ping) after bad requests = %v", err)
	}
}

func TestCallContext(t *testing.T) {
	release, started := make(chan struct{}), make(chan struct{})
	path := start(t, &Server{Handlers: map[string]Handler{"slow": func(ctx context.Context, req Request, w io.Writer) error {
		close(started)
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	}}})
	defer close(release)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := Call(ctx, path, Request{Command: "slow"})
		errc <- err
	}()
	<-started
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Call(canceled) = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("Call() ignored its context")
	}
}

func TestReadStreamTruncated(t *testing.T) {
	for _, tc := range []struct {
		name string
		data string
		want error
	}{
		{"empty", "", ErrTruncated},
		{"short header", "\x00\x00", ErrTruncated},
		{"short chunk", "\x00\x00\x00\x05abc", ErrTruncated},
		{"no end marker", "\x00\x00\x00\x03abc", ErrTruncated},
		{"no trailer", "\x00\x00\x00\x03abc\x00\x00\x00\x00", ErrTruncated},
		{"huge chunk", "\xff\xff\xff\xff", ErrProtocol},
		{"bad trailer", "\x00\x00\x00\x00nope\n", ErrProtocol},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readStream(bufio.NewReader(strings.NewReader(tc.data)), io.Discard)
			if !errors.Is(err, tc.want) {
				t.Errorf("readStream(%q) = %v, want %v", tc.data, err, tc.want)
			}
		})
	}
	var buf bytes.Buffer
	resp, err := readStream(bufio.NewReader(strings.NewReader("\x00\x00\x00\x03abc\x00\x00\x00\x02de\x00\x00\x00\x00{\"ok\":true}\n")), &buf)
	if err != nil || !resp.OK || buf.String() != "abcde" {
		t.Errorf("readStream() = %+v, %v, %q, want ok and \"abcde\"", resp, err, buf.String())
	}
}
