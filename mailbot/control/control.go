// Package control owns mailbot's admin socket: a unix stream socket, mode
// 0600, through which the CLI asks the running daemon for what it cannot
// read itself (the daemon holds bbolt's exclusive flock, which blocks every
// other process, even read-only).
//
// # Protocol
//
// One request per connection. The client sends one JSON object on one line,
// at most MaxRequest bytes:
//
//	{"command": "cases", "args": ["--json"], "stream": false}
//
// For a call (stream false) the server answers with one JSON object and
// closes the connection:
//
//	{"ok": true, "data": <what the handler wrote>}
//	{"ok": false, "error": "control: unknown command \"x\""}
//
// For a stream (stream true, used for backups) the server sends the bytes the
// handler writes as chunks: a 4-byte big-endian length, then that many
// bytes; a zero length ends the data and is followed by the JSON object
// above without data ({"ok": true} or the error). A stream that stops without
// its end marker was cut short (ErrTruncated), so a backup that failed
// half-way is never taken for a complete one.
//
// The built-in command "ping" answers {"ok": true}; Available uses it.
package control

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Sentinel errors.
var (
	// ErrUnavailable: no daemon answers on the socket (missing file,
	// connection refused or timed out). The CLI then opens the store itself.
	ErrUnavailable = errors.New("control: daemon not available")
	// ErrInUse: Listen found a live daemon on the path. Permanent while it runs.
	ErrInUse = errors.New("control: another daemon answers on the socket")
	// ErrRemote wraps an error the daemon reported ("ok": false).
	ErrRemote = errors.New("control: daemon")
	// ErrTruncated: a stream ended without its end marker (daemon stopped or
	// crashed mid-way). Temporary: retry.
	ErrTruncated = errors.New("control: stream cut short")
	// ErrProtocol: the peer sent something that is not this protocol.
	ErrProtocol = errors.New("control: protocol error")
)

// MaxRequest bounds the request line.
const MaxRequest = 64 << 10

// Request is one admin command.
type Request struct {
	Command string   `json:"command"`
	Args    []string `json:"args,omitempty"`
	Stream  bool     `json:"stream,omitempty"` // set by Stream: raw chunks instead of a JSON response
}

// Response is the JSON answer of a call, and the trailer of a stream.
type Response struct {
	OK    bool            `json:"ok"`
	Error string          `json:"error,omitempty"`
	Data  json.RawMessage `json:"data,omitempty"`
}

// parseRequest decodes a request line (without its newline).
func parseRequest(line []byte) (Request, error) {
	var req Request
	dec := json.NewDecoder(strings.NewReader(string(line)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return Request{}, fmt.Errorf("%w: request: %v", ErrProtocol, err)
	}
	if dec.More() {
		return Request{}, fmt.Errorf("%w: request: trailing data", ErrProtocol)
	}
	if req.Command == "" {
		return Request{}, fmt.Errorf("%w: request: empty command", ErrProtocol)
	}
	return req, nil
}

// chunkWriter frames a stream (see the package comment). It buffers up to
// one chunk so small writes do not become tiny frames.
type chunkWriter struct {
	bw *bufio.Writer
}

const maxChunk = 64 << 10

func (c chunkWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k := min(len(p), maxChunk)
		var hdr [4]byte
		binary.BigEndian.PutUint32(hdr[:], uint32(k))
		if _, err := c.bw.Write(hdr[:]); err != nil {
			return n, err
		}
		if _, err := c.bw.Write(p[:k]); err != nil {
			return n, err
		}
		n += k
		p = p[k:]
	}
	return n, nil
}

// readStream copies the chunks from r to w and returns the trailer. A
// missing end marker or trailer is ErrTruncated.
func readStream(r *bufio.Reader, w io.Writer) (Response, error) {
	// A request the server could not parse (so it did not know it was a
	// stream) is answered with a plain JSON object. No chunk length starts
	// with '{' (0x7b000000 is over maxChunk).
	if b, err := r.Peek(1); err == nil && b[0] == '{' {
		return readResponse(r)
	}
	var hdr [4]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return Response{}, fmt.Errorf("%w: %v", ErrTruncated, err)
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n == 0 {
			break
		}
		if n > maxChunk {
			return Response{}, fmt.Errorf("%w: chunk of %d bytes", ErrProtocol, n)
		}
		if _, err := io.CopyN(w, r, int64(n)); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return Response{}, fmt.Errorf("%w: %v", ErrTruncated, err)
			}
			return Response{}, fmt.Errorf("control: stream: %w", err)
		}
	}
	return readResponse(r)
}

// readResponse reads the final JSON object of a call or stream.
func readResponse(r io.Reader) (Response, error) {
	var resp Response
	if err := json.NewDecoder(r).Decode(&resp); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return Response{}, fmt.Errorf("%w: no response", ErrTruncated)
		}
		return Response{}, fmt.Errorf("%w: response: %v", ErrProtocol, err)
	}
	return resp, nil
}
