package parse

// The multipart reader of github.com/emersion/go-message/textproto v0.18.2
// (itself Go's mime/multipart; BSD licence, Copyright 2010 The Go Authors;
// go-message is MIT), reduced to reading and taught one thing more: where
// each part's body starts in its input. That is what lets Parse record where
// an OpenPGP part lies in the raw message instead of keeping its bytes.
// Behaviour and error texts are those of the original.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"

	"github.com/emersion/go-message/textproto"
)

// peekBufferSize must be at least 76: "\r\n--" plus a 70-byte boundary
// must fit (RFC 2046 section 5.1.1).
const peekBufferSize = 4096

// countReader counts the bytes read through it.
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// stickyErrorReader never calls Read on r again once it returned an error.
type stickyErrorReader struct {
	r   io.Reader
	err error
}

func (r *stickyErrorReader) Read(p []byte) (n int, _ error) {
	if r.err != nil {
		return 0, r.err
	}
	n, r.err = r.r.Read(p)
	return n, r.err
}

// multipartReader iterates over the parts of a multipart body (RFC 2046
// section 5.1).
type multipartReader struct {
	in        *countReader
	bufReader *bufio.Reader

	currentPart *mpPart
	partsRead   int

	nl               []byte // "\r\n" or "\n" (set after seeing first boundary line)
	nlDashBoundary   []byte // nl + "--boundary"
	dashBoundaryDash []byte // "--boundary--"
	dashBoundary     []byte // "--boundary"
}

func newMultipartReader(r io.Reader, boundary string) *multipartReader {
	b := []byte("\r\n--" + boundary + "--")
	in := &countReader{r: r}
	return &multipartReader{
		in:               in,
		bufReader:        bufio.NewReaderSize(&stickyErrorReader{r: in}, peekBufferSize),
		nl:               b[:2],
		nlDashBoundary:   b[:len(b)-2],
		dashBoundaryDash: b[2:],
		dashBoundary:     b[2 : len(b)-2],
	}
}

// offset is the position in the input of the next byte the reader hands out.
func (r *multipartReader) offset() int64 {
	return r.in.n - int64(r.bufReader.Buffered())
}

// mpPart is one part: its header, and its body (still transfer-encoded)
// through Read.
type mpPart struct {
	Header textproto.Header
	Start  int64 // offset of the body's first byte in the multipart's input

	mr      *multipartReader
	n       int   // known data bytes waiting in mr.bufReader
	total   int64 // total data bytes read already
	err     error // error to return when n == 0
	readErr error // read error observed from mr.bufReader
}

func (p *mpPart) Read(d []byte) (int, error) {
	br := p.mr.bufReader
	// Read into the buffer until there is data to return, or a reason to
	// stop (boundary or read error).
	for p.n == 0 && p.err == nil {
		peek, _ := br.Peek(br.Buffered())
		p.n, p.err = scanUntilBoundary(peek, p.mr.dashBoundary, p.mr.nlDashBoundary, p.total, p.readErr)
		if p.n == 0 && p.err == nil {
			_, p.readErr = br.Peek(len(peek) + 1)
			if p.readErr == io.EOF {
				p.readErr = io.ErrUnexpectedEOF
			}
		}
	}
	if p.n == 0 {
		return 0, p.err
	}
	n := min(len(d), p.n)
	n, _ = br.Read(d[:n])
	p.total += int64(n)
	p.n -= n
	if p.n == 0 {
		return n, p.err
	}
	return n, nil
}

// scanUntilBoundary returns how many bytes of buf belong to the body, and
// the error to return once they are read. total is the number of body bytes
// read so far: at 0 a leading "--boundary" is recognised.
func scanUntilBoundary(buf, dashBoundary, nlDashBoundary []byte, total int64, readErr error) (int, error) {
	if total == 0 {
		if bytes.HasPrefix(buf, dashBoundary) {
			switch matchAfterPrefix(buf, dashBoundary, readErr) {
			case -1:
				return len(dashBoundary), nil
			case 0:
				return 0, nil
			case +1:
				return 0, io.EOF
			}
		}
		if bytes.HasPrefix(dashBoundary, buf) {
			return 0, readErr
		}
	}
	if i := bytes.Index(buf, nlDashBoundary); i >= 0 {
		switch matchAfterPrefix(buf[i:], nlDashBoundary, readErr) {
		case -1:
			return i + len(nlDashBoundary), nil
		case 0:
			return i, nil
		case +1:
			return i, io.EOF
		}
	}
	if bytes.HasPrefix(nlDashBoundary, buf) {
		return 0, readErr
	}
	// Anything up to the final \n is body; so is what follows it when it
	// cannot be the start of a boundary.
	i := bytes.LastIndexByte(buf, nlDashBoundary[0])
	if i >= 0 && bytes.HasPrefix(nlDashBoundary, buf[i:]) {
		return i, nil
	}
	return len(buf), readErr
}

// matchAfterPrefix: +1 when buf (which starts with prefix) is a boundary,
// -1 when it is not, 0 when more input is needed.
func matchAfterPrefix(buf, prefix []byte, readErr error) int {
	if len(buf) == len(prefix) {
		if readErr != nil {
			return +1
		}
		return 0
	}
	c := buf[len(prefix)]
	if c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '-' {
		return +1
	}
	return -1
}

// NextPart returns the next part, or io.EOF after the last one.
func (r *multipartReader) NextPart() (*mpPart, error) {
	if r.currentPart != nil {
		io.Copy(io.Discard, r.currentPart)
	}
	if string(r.dashBoundary) == "--" {
		return nil, fmt.Errorf("multipart: boundary is empty")
	}
	expectNewPart := false
	for {
		line, err := r.bufReader.ReadSlice('\n')
		if err == io.EOF && r.isFinalBoundary(line) {
			// "--boundary--" without a line break at the very end.
			return nil, io.EOF
		}
		if err != nil {
			return nil, fmt.Errorf("multipart: NextPart: %v", err)
		}
		if r.isBoundaryDelimiterLine(line) {
			r.partsRead++
			h, err := textproto.ReadHeader(r.bufReader)
			if err != nil {
				return nil, err
			}
			r.currentPart = &mpPart{Header: h, Start: r.offset(), mr: r}
			return r.currentPart, nil
		}
		if r.isFinalBoundary(line) {
			return nil, io.EOF
		}
		if expectNewPart {
			return nil, fmt.Errorf("multipart: expecting a new Part; got line %q", string(line))
		}
		if r.partsRead == 0 {
			continue // the preamble
		}
		// The line break between a body and the boundary line after it.
		if bytes.Equal(line, r.nl) {
			expectNewPart = true
			continue
		}
		return nil, fmt.Errorf("multipart: unexpected line in Next(): %q", line)
	}
}

// isFinalBoundary matches `^--boundary--[ \t]*(\r\n)?$`.
func (r *multipartReader) isFinalBoundary(line []byte) bool {
	if !bytes.HasPrefix(line, r.dashBoundaryDash) {
		return false
	}
	rest := skipLWSPChar(line[len(r.dashBoundaryDash):])
	return len(rest) == 0 || bytes.Equal(rest, r.nl)
}

// isBoundaryDelimiterLine matches "--boundary", optional white space and
// the line break (RFC 2046 section 5.1.1).
func (r *multipartReader) isBoundaryDelimiterLine(line []byte) bool {
	if !bytes.HasPrefix(line, r.dashBoundary) {
		return false
	}
	rest := skipLWSPChar(line[len(r.dashBoundary):])
	// QUIRK: a first boundary line ending in a bare LF switches to LF mode.
	if r.partsRead == 0 && len(rest) == 1 && rest[0] == '\n' {
		r.nl = r.nl[1:]
		r.nlDashBoundary = r.nlDashBoundary[1:]
	}
	return bytes.Equal(rest, r.nl)
}

func skipLWSPChar(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}
