package control

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"time"
)

// dialTimeout bounds connecting; a daemon that accepts but never answers is
// bounded by the caller's ctx (Available: by availableTimeout).
const (
	dialTimeout      = 2 * time.Second
	availableTimeout = 2 * time.Second
)

// Call sends req to the daemon on the socket at path and returns the data of
// its answer. A daemon error matches ErrRemote; no daemon, ErrUnavailable.
func Call(ctx context.Context, path string, req Request) (json.RawMessage, error) {
	req.Stream = false
	var resp Response
	err := roundTrip(ctx, path, req, func(r *bufio.Reader) error {
		var err error
		resp, err = readResponse(r)
		return err
	})
	if err != nil {
		return nil, err
	}
	if !resp.OK {
		return nil, fmt.Errorf("%w: %s", ErrRemote, resp.Error)
	}
	return resp.Data, nil
}

// Stream sends req as a stream request and copies the bytes the daemon sends
// to w. On any error w may hold a part of the data: write to a temp file and
// keep it only when Stream returns nil.
func Stream(ctx context.Context, path string, req Request, w io.Writer) error {
	req.Stream = true
	return roundTrip(ctx, path, req, func(r *bufio.Reader) error {
		resp, err := readStream(r, w)
		if err != nil {
			return err
		}
		if !resp.OK {
			return fmt.Errorf("%w: %s", ErrRemote, resp.Error)
		}
		return nil
	})
}

// Available reports whether a daemon answers a ping on the socket at path
// within a short time.
func Available(path string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), availableTimeout)
	defer cancel()
	_, err := Call(ctx, path, Request{Command: "ping"})
	return err == nil
}

func roundTrip(ctx context.Context, path string, req Request, read func(*bufio.Reader) error) error {
	d := net.Dialer{Timeout: dialTimeout}
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return ctxErr(ctx, fmt.Errorf("%w: %v", ErrUnavailable, err))
	}
	defer conn.Close()
	// ctx bounds the whole exchange: closing the connection unblocks reads.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	line, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("control: encode request: %w", err)
	}
	if len(line) >= MaxRequest {
		return fmt.Errorf("%w: request longer than %d bytes", ErrProtocol, MaxRequest)
	}
	if _, err := conn.Write(append(line, '\n')); err != nil {
		return ctxErr(ctx, fmt.Errorf("%w: send: %v", ErrUnavailable, err))
	}
	return ctxErr(ctx, read(bufio.NewReaderSize(conn, 64<<10)))
}

// ctxErr prefers the context's error when it caused err.
func ctxErr(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("control: %w (%v)", ctx.Err(), err)
	}
	return err
}
