package control

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"syscall"
	"time"
)

// Handler serves one command. For a call it writes the JSON value of the
// response's data to w (or nothing); for a stream it writes raw bytes. An
// error is sent to the client; once stream bytes went out, the client gets
// them and then the error. ctx is done when the server stops.
type Handler func(ctx context.Context, req Request, w io.Writer) error

// Server serves admin commands on a unix socket. The zero value with
// Handlers set is ready to use.
type Server struct {
	Handlers map[string]Handler
	Logger   *slog.Logger // nil: discard

	ReadTimeout  time.Duration // for the request; 0 means 10s
	WriteTimeout time.Duration // for each write of the answer; 0 means 1m
	MaxResponse  int           // bytes a call's data may have; 0 means 64 MiB (streams are unbounded)
	MaxConns     int           // connections served at once; 0 means 16
}

// Serve listens on path (see Listen) and serves handlers until ctx is done.
func Serve(ctx context.Context, path string, handlers map[string]Handler) error {
	ln, err := Listen(path)
	if err != nil {
		return err
	}
	return (&Server{Handlers: handlers}).Serve(ctx, ln)
}

// Listen creates the socket at path atomically with mode 0600: it listens
// on a temporary name in the same folder, chmods it and renames it over
// path, so the socket is never reachable under path with a wider mode. A
// socket already at path is removed only when nothing answers on it (a
// stale one left by a crash); a live one gives ErrInUse, and a file that is
// not a socket is an error. Closing the listener removes the socket if it is
// still the one it created.
//
// Unix socket paths are limited to 107 bytes (sun_path); the temporary name
// is 17 bytes longer than path.
func Listen(path string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("control: listen: %s exists and is not a socket", path)
		}
		if Available(path) {
			return nil, fmt.Errorf("%w: %s", ErrInUse, path)
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("control: remove stale socket: %w", err)
		}
	}
	var rnd [4]byte
	rand.Read(rnd[:])
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp-"+hex.EncodeToString(rnd[:]))
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("control: listen: %w", err)
	}
	ln.SetUnlinkOnClose(false) // it would unlink tmp; Close below removes path
	fail := func(err error) (net.Listener, error) {
		ln.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("control: listen: %w", err)
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fail(err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return fail(err)
	}
	return &listener{UnixListener: ln, path: path, fi: fi}, nil
}

// listener removes its socket file on Close, unless another process has
// replaced it since.
type listener struct {
	*net.UnixListener
	path string
	fi   os.FileInfo
	once sync.Once
}

func (l *listener) Close() error {
	err := l.UnixListener.Close()
	l.once.Do(func() {
		if fi, serr := os.Lstat(l.path); serr == nil && os.SameFile(fi, l.fi) {
			os.Remove(l.path)
		}
	})
	return err
}

// Serve accepts connections on ln until ctx is done, then closes ln, waits
// for the connections in hand (their context is canceled) and returns nil.
// Each connection runs in its own goroutine, which recovers panics: a
// panicking handler fails its request, never the daemon.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	log := s.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	maxConns := s.MaxConns
	if maxConns <= 0 {
		maxConns = 16
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()

	var wg sync.WaitGroup
	defer wg.Wait()
	defer ln.Close() // synchronously: the socket is gone when Serve returns
	sem := make(chan struct{}, maxConns)
	for {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			ln.Close()
			return nil
		}
		conn, err := ln.Accept()
		if err != nil {
			<-sem
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			ln.Close()
			return fmt.Errorf("control: accept: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			defer conn.Close()
			defer func() {
				if p := recover(); p != nil {
					log.Error("control: panic", "err", p, "stack", string(debug.Stack()))
				}
			}()
			s.serveConn(ctx, conn, log)
		}()
	}
}

// deadlineWriter renews the write deadline before every write, so a client
// that stops reading is dropped instead of holding the handler (and, for a
// backup, a bbolt read transaction) forever.
type deadlineWriter struct {
	c net.Conn
	d time.Duration
}

func (w deadlineWriter) Write(p []byte) (int, error) {
	w.c.SetWriteDeadline(time.Now().Add(w.d))
	return w.c.Write(p)
}

func (s *Server) serveConn(ctx context.Context, conn net.Conn, log *slog.Logger) {
	readTimeout, writeTimeout, maxResp := s.ReadTimeout, s.WriteTimeout, s.MaxResponse
	if readTimeout <= 0 {
		readTimeout = 10 * time.Second
	}
	if writeTimeout <= 0 {
		writeTimeout = time.Minute
	}
	if maxResp <= 0 {
		maxResp = 64 << 20
	}
	out := bufio.NewWriterSize(deadlineWriter{conn, writeTimeout}, 32<<10)
	reply := func(resp Response) {
		data, err := json.Marshal(resp)
		if err != nil {
			data, _ = json.Marshal(Response{Error: "control: encode response: " + err.Error()})
		}
		out.Write(append(data, '\n'))
		out.Flush()
	}
	fail := func(err error) { reply(Response{Error: err.Error()}) }

	conn.SetReadDeadline(time.Now().Add(readTimeout))
	line, err := bufio.NewReaderSize(io.LimitReader(conn, MaxRequest+1), MaxRequest+1).ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull) || len(line) > MaxRequest:
		fail(fmt.Errorf("%w: request longer than %d bytes", ErrProtocol, MaxRequest))
		return
	case errors.Is(err, io.EOF) && len(bytes.TrimSpace(line)) > 0:
		// QUIRK: a client that half-closes instead of sending a newline.
	case err != nil:
		fail(fmt.Errorf("%w: reading request: %v", ErrProtocol, err))
		return
	}
	conn.SetReadDeadline(time.Time{})
	req, err := parseRequest(bytes.TrimSpace(line))
	if err != nil {
		fail(err)
		return
	}
	h := s.Handlers[req.Command]
	if h == nil && req.Command == "ping" {
		h = func(context.Context, Request, io.Writer) error { return nil }
	}
	if req.Stream {
		// From here on every answer is framed, errors included.
		fail = func(err error) {
			out.Write([]byte{0, 0, 0, 0})
			reply(Response{Error: err.Error()})
		}
	}
	if h == nil {
		fail(fmt.Errorf("control: unknown command %q", req.Command))
		return
	}
	log.Debug("control: request", "command", req.Command)

	if req.Stream {
		cw := chunkWriter{out}
		err := runHandler(ctx, log, h, req, cw)
		if errors.Is(err, syscall.EPIPE) || errors.Is(err, os.ErrDeadlineExceeded) {
			return // the client went away; nobody to tell
		}
		if err != nil {
			fail(err)
			return
		}
		out.Write([]byte{0, 0, 0, 0})
		reply(Response{OK: true})
		return
	}
	var buf limitedBuffer
	buf.max = maxResp
	if err := runHandler(ctx, log, h, req, &buf); err != nil {
		fail(err)
		return
	}
	data := bytes.TrimSpace(buf.Bytes())
	if len(data) > 0 && !json.Valid(data) {
		fail(fmt.Errorf("control: %s: handler wrote invalid JSON", req.Command))
		return
	}
	reply(Response{OK: true, Data: data})
}

// runHandler calls h and turns a panic into an error for the client.
func runHandler(ctx context.Context, log *slog.Logger, h Handler, req Request, w io.Writer) (err error) {
	defer func() {
		if p := recover(); p != nil {
			log.Error("control: handler panic", "command", req.Command, "err", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("control: %s: internal error (panic)", req.Command)
		}
	}()
	return h(ctx, req, w)
}

// limitedBuffer is a bytes.Buffer that refuses to grow past max.
type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.max {
		return 0, fmt.Errorf("control: response larger than %d bytes: use a stream", b.max)
	}
	return b.Buffer.Write(p)
}
