// Package parse turns one untrusted Internet message into a bounded Message
// value: the top-level header fields the bot needs (RFC 5322), the text a
// person wrote (text/plain preferred, else HTML converted to text), hashes of
// attachments, OpenPGP material (RFC 3156 PGP/MIME, inline armor per RFC 4880
// section 6, application/pgp-keys) and machine reports (RFC 6522
// multipart/report carrying RFC 3464 DSNs, RFC 8098 MDNs or RFC 5965 ARF).
//
// The package owns every limit on what a message may cost: the input is
// streamed once, never read whole; part count and nesting depth are counted
// before go-message walks deeper (go-message caps neither); part headers are
// capped; attachments are hashed while streamed and dropped; only text up to
// Limits.MaxTextBytes and keys up to Limits.MaxPGPBytes are kept. OpenPGP
// ciphertext is not kept (beyond 64 KiB a block): Parse records where it
// lies in the input, and PGPBlock.Open reads it again from there.
//
// Broken mail is tolerated where something usable remains (each tolerated
// defect is a short entry in Message.Warnings, marked QUIRK in the code).
// Parse returns an error only when nothing usable remains: no header at all,
// too large, too deep, too many parts. Those errors are permanent: the same
// bytes fail the same way, so the caller keeps the raw message aside with
// err.Error() as the reason and never retries.
package parse

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
	"github.com/emersion/go-message/textproto"
	"golang.org/x/text/encoding/charmap"
)

// Sentinel errors. All are permanent (see the package comment).
var (
	ErrTooLarge       = errors.New("parse: message too large")
	ErrHeaderTooLarge = errors.New("parse: header too large")
	ErrTooManyParts   = errors.New("parse: too many MIME parts")
	ErrTooDeep        = errors.New("parse: MIME nesting too deep")
	ErrMalformed      = errors.New("parse: malformed message")
)

// Limits bounds what one message may cost. A zero field takes its default.
type Limits struct {
	MaxSize        int64 // whole message bytes read (default 64 MiB)
	MaxHeaderBytes int   // per header block, top level and each part (default 256 KiB)
	MaxParts       int   // MIME entities, the root included (default 500)
	MaxDepth       int   // multipart nesting (default 20)
	MaxTextBytes   int   // extracted text kept (default 1 MiB); more sets Truncated, not an error
	MaxPGPBytes    int64 // OpenPGP data accepted, all blocks (kept or located) and keys together (default 32 MiB)
}

// DefaultLimits returns the limits used for zero fields.
func DefaultLimits() Limits {
	return Limits{
		MaxSize:        64 << 20,
		MaxHeaderBytes: 256 << 10,
		MaxParts:       500,
		MaxDepth:       20,
		MaxTextBytes:   1 << 20,
		MaxPGPBytes:    32 << 20,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxSize <= 0 {
		l.MaxSize = d.MaxSize
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = d.MaxHeaderBytes
	}
	if l.MaxParts <= 0 {
		l.MaxParts = d.MaxParts
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = d.MaxDepth
	}
	if l.MaxTextBytes <= 0 {
		l.MaxTextBytes = d.MaxTextBytes
	}
	if l.MaxPGPBytes <= 0 {
		l.MaxPGPBytes = d.MaxPGPBytes
	}
	return l
}

// Address is one mailbox. Address is kept as written; compare with Lower.
type Address struct {
	Name, Address string
}

// Lower returns the address lowercased, for comparisons. Local parts are
// case-sensitive in theory (RFC 5321 section 2.4) and never in practice.
func (a Address) Lower() string { return strings.ToLower(a.Address) }

// Attachment describes one attachment; its content is hashed and dropped.
type Attachment struct {
	Name        string // file name, RFC 2231/2047 decoded, as sent (untrusted)
	ContentType string // lowercase media type
	Size        int64  // decoded bytes
	Hash        string // sha256 of the decoded bytes, hex
}

// PGPBlock is one piece of OpenPGP ciphertext found in the message.
type PGPBlock struct {
	// Kind is "pgp-mime" (multipart/encrypted, RFC 3156), "inline" (armored
	// block in a text/plain or text/html part), "attachment" (.asc/.pgp/.gpg
	// or application/pgp-encrypted/octet-stream holding OpenPGP) or
	// "mixed-up" (Exchange-mangled PGP/MIME: multipart/mixed with an empty
	// text part, application/pgp-encrypted "Version: 1" and
	// application/octet-stream encrypted.asc).
	Kind string
	Part int   // index of the part it came from (0 is the root, depth-first order)
	Size int64 // length of the block as found (what Open yields)

	// Data is the block exactly as found (armored or binary) when it is at
	// most 64 KiB, or when it has no place in the input (armor found in
	// HTML converted to text); else nil: read it with Open.
	Data []byte

	// Where the block lies in the input given to Parse: the body of its part
	// is Length bytes at Offset, in Content-Transfer-Encoding Encoding
	// (lowercase, "" for none). Length is 0 when only Data holds it.
	Offset, Length int64
	Encoding       string

	charset string // inline: the text part's charset, converted before the armor was found
	start   int64  // inline: offset of the BEGIN line in the decoded text
	crToLF  bool   // QUIRK: the input had bare CR line endings, translated
}

// keepPGPBytes: blocks up to this size are kept in PGPBlock.Data too, so
// that a small report needs no second read of the raw message.
const keepPGPBytes = 64 << 10

// Open returns a reader of the block's bytes exactly as found, as Data
// holds them: from Data when it is set, else read from raw (the same bytes
// that were given to Parse) through the part's transfer encoding and, for
// an inline block, its charset. It reads no more of raw than the part.
func (b *PGPBlock) Open(raw io.ReaderAt) io.Reader {
	if b.Data != nil || b.Length == 0 {
		return bytes.NewReader(b.Data)
	}
	return io.LimitReader(b.openRaw(raw), b.Size)
}

// openRaw reads the block from raw, even when Data holds it.
func (b *PGPBlock) openRaw(raw io.ReaderAt) io.Reader {
	var r io.Reader = io.NewSectionReader(raw, b.Offset, b.Length)
	if b.crToLF {
		r = crToLF{r}
	}
	r, _ = decodeCTE(b.Encoding, r)
	if b.charset != "" {
		if cr, err := charset.Reader(b.charset, r); err == nil {
			r = cr
		}
	}
	if b.start > 0 {
		r = &skipReader{r: r, n: b.start}
	}
	return io.LimitReader(r, b.Size)
}

// skipReader drops the first n bytes of r.
type skipReader struct {
	r io.Reader
	n int64
}

func (s *skipReader) Read(p []byte) (int, error) {
	if s.n > 0 {
		k, err := io.CopyN(io.Discard, s.r, s.n)
		s.n -= k
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
	}
	return s.r.Read(p)
}

// Message is the bounded result of Parse.
type Message struct {
	Header          textproto.Header // the top-level header (a copy)
	From            []Address        // first From field's addresses
	FromCount       int              // number of From fields (2+ must be refused for anything authenticated)
	Repeated        []string         // of Subject, Date, Message-ID, In-Reply-To, References: those present more than once (RFC 5322 section 3.6 allows one)
	Sender          *Address
	ReplyTo, To, Cc []Address
	Subject         string // RFC 2047 decoded; QUIRK: undecodable stays raw
	MessageID       string // without <>
	InReplyTo       []string
	References      []string
	Date            time.Time // zero if missing or unparseable
	ContentType     string    // top-level media type, lowercase
	Text            string    // text/plain preferred; else HTML converted to text
	TextFromHTML    bool
	Truncated       bool // Text was cut at MaxTextBytes
	Attachments     []Attachment
	PGP             []PGPBlock
	Signed          bool     // multipart/signed or a clearsigned block present
	Keys            [][]byte // application/pgp-keys parts and attached key files
	Report          *Report  // multipart/report (RFC 6522)
	Parts, Depth    int      // MIME entities seen (root included); deepest multipart nesting
	Warnings        []string // tolerated defects, each a short reason
	PGPDropped      int      // OpenPGP blocks over MaxPGPBytes: encrypted, but not kept for decryption
}

// Report is the machine-readable part of an RFC 6522 multipart/report.
type Report struct {
	Type              string // "delivery-status", "disposition-notification", "feedback-report", other
	Action            string // DSN Action of the first recipient (failed, delayed, delivered, relayed, expanded)
	Status            string // DSN Status, e.g. "5.1.1"
	FinalRecipient    string // address only, the address type ("rfc822;") removed
	OriginalMessageID string // from the returned headers, else Original-Message-ID; without <>
}

const maxWarnings = 32

func (m *Message) warn(format string, args ...any) {
	if len(m.Warnings) >= maxWarnings {
		return
	}
	w := fmt.Sprintf(format, args...)
	if len(w) > 200 {
		w = w[:200]
	}
	w = strings.ToValidUTF8(w, "?")
	for _, have := range m.Warnings {
		if have == w {
			return
		}
	}
	m.Warnings = append(m.Warnings, w)
}

// Parse reads one message from r within lim. It reads r at most to
// lim.MaxSize (+1 byte to detect an overflow) and does not close it.
func Parse(r io.Reader, lim Limits) (msg *Message, err error) {
	defer func() {
		if v := recover(); v != nil {
			msg, err = nil, fmt.Errorf("%w: panic: %v", ErrMalformed, v)
		}
	}()
	lim = lim.withDefaults()
	size := &sizeReader{r: r, n: lim.MaxSize}
	p := &parser{lim: lim, size: size, msg: &Message{}, pgpBudget: lim.MaxPGPBytes}
	p.text.max = lim.MaxTextBytes
	p.html.max = lim.MaxTextBytes
	err = p.run(size)
	if size.over {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, lim.MaxSize)
	}
	if err != nil {
		return nil, err
	}
	return p.msg, nil
}

// sizeReader enforces Limits.MaxSize on the raw input. The flag survives
// however the error is wrapped or swallowed by readers above it.
type sizeReader struct {
	r    io.Reader
	n    int64
	over bool
}

var errSize = errors.New("parse: size limit reached")

func (s *sizeReader) Read(p []byte) (int, error) {
	if s.over {
		return 0, errSize
	}
	if int64(len(p)) > s.n+1 {
		p = p[:s.n+1]
	}
	n, err := s.r.Read(p)
	if int64(n) > s.n {
		s.over = true
		return int(s.n), errSize
	}
	s.n -= int64(n)
	return n, err
}

// crToLF turns bare CR line endings into LF.
type crToLF struct{ r io.Reader }

func (c crToLF) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	for i := range p[:n] {
		if p[i] == '\r' {
			p[i] = '\n'
		}
	}
	return n, err
}

func (p *parser) run(r io.Reader) error {
	// Offsets in the input (PGPBlock.Offset) are what br took from in,
	// less what it holds.
	in := &countReader{r: r}
	br := bufio.NewReaderSize(in, 64<<10)
	// QUIRK: some stores (old Mac mail) end lines with a bare CR only. If
	// the first 4 KiB has CRs and no LF at all, translate CR to LF (byte
	// for byte: offsets stay those of the input).
	if peek, _ := br.Peek(4096); bytes.IndexByte(peek, '\n') < 0 && bytes.IndexByte(peek, '\r') >= 0 {
		p.msg.warn("bare CR line endings")
		p.crToLF = true
		in = &countReader{r: crToLF{br}}
		br = bufio.NewReaderSize(in, 64<<10)
	}

	// QUIRK: a UTF-8 byte order mark before the header (files saved by
	// Windows tools).
	if bom, _ := br.Peek(3); bytes.Equal(bom, []byte("\xef\xbb\xbf")) {
		p.msg.warn("byte order mark")
		br.Discard(3)
	}
	hdr, err := readHeaderBlock(br, p.lim.MaxHeaderBytes, true, p.msg)
	if err != nil {
		return err
	}
	if hdr.Len() == 0 {
		return fmt.Errorf("%w: no header", ErrMalformed)
	}
	p.msg.Header = hdr.Copy()
	p.headerFields(hdr)
	p.msg.ContentType, _ = p.contentType(hdr)
	if err := p.walk(hdr, br, in.n-int64(br.Buffered()), 0, nil); err != nil {
		return err
	}
	p.finish()
	return nil
}

// readHeaderBlock reads one header block up to the empty line that ends it,
// tolerantly, and hands the cleaned fields to textproto.ReadHeader.
//
// QUIRK: RFC 7103 section 7.2 lists two readings of a line that is not a
// header field; this takes the first: the header ends only at an empty line,
// and lines that are not fields are dropped with a warning. A leading mbox
// "From " line and leading white space on the first line are dropped.
// Line endings may be CRLF, LF or CR CR LF (emersion/go-message#38).
func readHeaderBlock(br *bufio.Reader, max int, top bool, m *Message) (textproto.Header, error) {
	var clean bytes.Buffer
	read := 0
	first, mbox, lastField := true, false, false
	inContentType := false // the last field read is Content-Type
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A line longer than the buffer: gather it within the limit.
			long := append([]byte(nil), line...)
			for err == bufio.ErrBufferFull && read+len(long) <= max {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		read += len(line)
		if read > max {
			return textproto.Header{}, fmt.Errorf("%w: more than %d bytes", ErrHeaderTooLarge, max)
		}
		if err != nil && err != io.EOF {
			if len(line) == 0 {
				break
			}
		}
		// QUIRK: TrimRight takes CR CR LF as well as CRLF and LF.
		body := bytes.TrimRight(line, "\r\n")
		if first {
			if top && !mbox && bytes.HasPrefix(body, []byte("From ")) {
				mbox = true
				m.warn("mbox From line")
				continue
			}
			first = false
			if t := bytes.TrimLeft(body, " \t"); len(t) != len(body) && len(t) > 0 {
				m.warn("header starts with white space")
				body = t
			}
			if top && len(body) > 0 && !validFieldLine(body) {
				return textproto.Header{}, fmt.Errorf("%w: no header", ErrMalformed)
			}
		}
		if len(body) == 0 {
			break // the empty line ending the header (or EOF)
		}
		switch {
		case body[0] == ' ' || body[0] == '\t':
			if lastField {
				clean.Write(body)
				clean.WriteString("\r\n")
			}
		case inContentType && mediaParamLine(body):
			// QUIRK: a Content-Type parameter (boundary=, report-type=)
			// on an unindented line after the field, as some feedback-loop
			// and bulk senders write it: read it as a continuation (RFC
			// 5322 section 2.2.3 folding, with the white space missing).
			m.warn("content-type parameter on an unindented line")
			clean.WriteString(" ")
			clean.Write(body)
			clean.WriteString("\r\n")
		case validFieldLine(body):
			lastField = true
			inContentType = bytes.HasPrefix(bytes.ToLower(body), []byte("content-type:"))
			clean.Write(body)
			clean.WriteString("\r\n")
		default:
			lastField, inContentType = false, false
			m.warn("header line is not a field")
		}
		if err != nil {
			break
		}
	}
	clean.WriteString("\r\n")
	h, err := textproto.ReadHeader(bufio.NewReader(&clean))
	if err != nil {
		// Cannot happen for cleaned input; keep what was read.
		m.warn("header: %v", err)
	}
	return h, nil
}

// mediaParamLine reports whether line is one "attribute=value" parameter
// of a media type (RFC 2045 section 5.1), optionally after a ';': an
// attribute token with '=' before any ':'.
func mediaParamLine(line []byte) bool {
	line = bytes.TrimLeft(line, ";")
	eq := bytes.IndexByte(line, '=')
	if eq <= 0 {
		return false
	}
	if c := bytes.IndexByte(line, ':'); c >= 0 && c < eq {
		return false
	}
	for _, c := range bytes.TrimRight(line[:eq], "*") {
		// RFC 2045 token characters, RFC 2231 '*' excepted.
		if c <= ' ' || c >= 127 || bytes.IndexByte([]byte(`()<>@,;:\"/[]?=`), c) >= 0 {
			return false
		}
	}
	return true
}

// validFieldLine reports whether line starts with "name:" where name is
// printable ASCII (RFC 5322 section 2.2); white space before the colon is
// obsolete syntax that is accepted (RFC 5322 section 4.5).
func validFieldLine(line []byte) bool {
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return false
	}
	name := bytes.TrimRight(line[:i], " \t")
	if len(name) == 0 {
		return false
	}
	for _, c := range name {
		if c < 33 || c > 126 {
			return false
		}
	}
	return true
}

var wordDecoder = &mime.WordDecoder{CharsetReader: charset.Reader}

// decodeText decodes RFC 2047 encoded words. QUIRK: on failure the raw
// value is kept. QUIRK: raw 8-bit header bytes that are not UTF-8 (RFC 6532)
// are read as windows-1252, the usual legacy charset.
func decodeText(v string) (string, bool) {
	d, err := wordDecoder.DecodeHeader(v)
	if err != nil {
		return legacy(v), false
	}
	return legacy(d), true
}

func legacy(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	if d, err := charmap.Windows1252.NewDecoder().String(s); err == nil {
		return d
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

func (p *parser) headerFields(h textproto.Header) {
	m := p.msg
	m.FromCount = len(h.Values("From"))
	for _, k := range []string{"Subject", "Date", "Message-ID", "In-Reply-To", "References"} {
		if len(h.Values(k)) > 1 {
			m.Repeated = append(m.Repeated, k)
		}
	}
	m.From = p.addresses(h, "From")
	if s := p.addresses(h, "Sender"); len(s) > 0 {
		m.Sender = &s[0]
	}
	m.ReplyTo = p.addresses(h, "Reply-To")
	m.To = p.addresses(h, "To")
	m.Cc = p.addresses(h, "Cc")
	if h.Has("Subject") {
		var ok bool
		m.Subject, ok = decodeText(h.Get("Subject"))
		if !ok {
			m.warn("subject: undecodable encoded word")
		}
	}
	if ids := MsgIDs(h.Get("Message-Id")); len(ids) > 0 {
		m.MessageID = ids[0]
	}
	m.InReplyTo = MsgIDs(h.Get("In-Reply-To"))
	m.References = MsgIDs(h.Get("References"))
	if v := h.Get("Date"); v != "" {
		t, err := mail.ParseDate(v)
		if err != nil {
			m.warn("date: unparseable")
		} else {
			m.Date = t
		}
	}
}

// addresses parses an address list field, strictly first, then leniently.
func (p *parser) addresses(h textproto.Header, key string) []Address {
	v := h.Get(key)
	if strings.TrimSpace(v) == "" {
		return nil
	}
	parser := mail.AddressParser{WordDecoder: wordDecoder}
	if l, err := parser.ParseList(v); err == nil {
		out := make([]Address, 0, len(l))
		for _, a := range l {
			out = append(out, Address{Name: legacy(a.Name), Address: legacy(a.Address)})
		}
		return boundAddrs(p.validAddresses(key, out))
	}
	p.msg.warn("%s: lenient address parse", strings.ToLower(key))
	return boundAddrs(p.validAddresses(key, lenientAddresses(v)))
}

// validAddresses drops every address with a byte no address has (a control,
// a space, a quote...), strict parse or lenient: net/mail unquotes
// "a b"@example.com and the lenient parse copies what it finds. A From
// naming one such address is refused whole, so the message has no sender
// (no acknowledgement, no team notification, no team authority) rather
// than one picked from a list the sender wrote.
func (p *parser) validAddresses(key string, l []Address) []Address {
	out := l[:0]
	for _, a := range l {
		if validStoredAddress(a.Address) {
			out = append(out, a)
			continue
		}
		p.msg.warn("%s: not a valid address", strings.ToLower(key))
		if key == "From" {
			return nil
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

const maxAddrs = 100

func boundAddrs(l []Address) []Address {
	if len(l) > maxAddrs {
		l = l[:maxAddrs]
	}
	return l
}

// lenientAddresses splits on commas outside quotes, comments and angle
// brackets, and takes from each piece the <addr> or the word with an "@".
// QUIRK: a bare word without "@" (From: MAILER-DAEMON) is kept as the
// address when it is the whole piece.
func lenientAddresses(v string) []Address {
	var out []Address
	for _, piece := range splitList(v) {
		piece = strings.TrimSpace(piece)
		if piece == "" {
			continue
		}
		if a, err := mail.ParseAddress(piece); err == nil {
			out = append(out, Address{Name: a.Name, Address: a.Address})
			continue
		}
		var a Address
		if i := strings.LastIndexByte(piece, '<'); i >= 0 {
			if j := strings.IndexByte(piece[i:], '>'); j > 0 {
				a.Address = strings.TrimSpace(piece[i+1 : i+j])
				a.Name = strings.Trim(strings.TrimSpace(piece[:i]), `"`)
			}
		}
		if a.Address == "" {
			stripped := stripComments(piece)
			for _, w := range strings.Fields(stripped) {
				if strings.Contains(w, "@") {
					a.Address = strings.Trim(w, "<>\"',;")
					break
				}
			}
			if a.Address == "" {
				if f := strings.Fields(stripped); len(f) == 1 {
					a.Address = strings.Trim(f[0], "<>\"',;")
				}
			}
		}
		if a.Address == "" {
			continue
		}
		a.Name, _ = decodeText(a.Name)
		a.Address = legacy(a.Address)
		out = append(out, a)
	}
	return out
}

func splitList(v string) []string {
	var out []string
	depth, quoted, angle := 0, false, false
	start := 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '\\' && (quoted || depth > 0):
			i++
		case c == '"' && depth == 0:
			quoted = !quoted
		case quoted:
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth > 0:
		case c == '<':
			angle = true
		case c == '>':
			angle = false
		case c == ',' && !angle:
			out = append(out, v[start:i])
			start = i + 1
		}
	}
	return append(out, v[start:])
}

func stripComments(v string) string {
	var b strings.Builder
	depth := 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth == 0:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// maxIDs bounds MsgIDs; maxIDLen bounds one id (RFC 5322 line limit).
const (
	maxIDs   = 100
	maxIDLen = 998
)

// MsgIDs extracts every message id from a Message-ID, In-Reply-To or
// References value (RFC 5322 section 3.6.4), leniently: a malformed id
// does not hide the others (go-message's MsgIDList stops at the first).
// Ids are returned without <>, in order, without duplicates.
//
// QUIRK: comments and quoted strings are skipped ("<id> (Joe's message of
// ...)"); white space inside <> (folding) is removed; a value without any
// <> yields its words that contain "@". At most maxIDs ids are returned:
// the first and the last maxIDs-1, so a References field keeps its root and
// its newest entries.
func MsgIDs(v string) []string {
	var ids []string
	seen := map[string]bool{}
	add := func(id string) {
		id = strings.Join(strings.Fields(id), "")
		// An id never holds angle brackets or control characters (RFC 5322
		// section 3.6.4); a word that does is garbage, not an id.
		if id == "" || len(id) > maxIDLen || !utf8.ValidString(id) || seen[id] ||
			strings.ContainsAny(id, "<>") || strings.ContainsFunc(id, unicode.IsControl) {
			return
		}
		seen[id] = true
		ids = append(ids, id)
	}
	angles := false
	depth := 0
	quoted := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case quoted:
			if c == '\\' {
				i++
			} else if c == '"' {
				quoted = false
			}
		case depth > 0:
			if c == '\\' {
				i++
			} else if c == '(' {
				depth++
			} else if c == ')' {
				depth--
			}
		case c == '"':
			quoted = true
		case c == '(':
			depth = 1
		case c == '<':
			angles = true
			end := strings.IndexAny(v[i+1:], "<>")
			if end < 0 {
				add(v[i+1:]) // QUIRK: unterminated last id
				i = len(v)
				break
			}
			if v[i+1+end] == '>' {
				add(v[i+1 : i+1+end])
				i += 1 + end
			}
			// "<" followed by another "<": this one is garbage, go on from there.
		}
	}
	if !angles {
		for _, w := range strings.FieldsFunc(stripComments(v), func(r rune) bool {
			return r == ' ' || r == '\t' || r == ',' || r == '\r' || r == '\n'
		}) {
			if strings.Contains(w, "@") {
				add(strings.Trim(w, `"'`))
			}
		}
	}
	if len(ids) > maxIDs {
		ids = append(ids[:1], ids[len(ids)-(maxIDs-1):]...)
	}
	return ids
}
