package parse

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"path"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/charset"
	"github.com/emersion/go-message/textproto"
)

// parser holds the state of one Parse call.
type parser struct {
	lim       Limits
	size      *sizeReader
	msg       *Message
	pgpBudget int64 // OpenPGP bytes still allowed (blocks and keys together)

	crToLF bool // QUIRK: the input had bare CR line endings, translated to LF

	text, html textBuf
	sawPlain   bool
	sawHTML    bool
	htmlPGP    []PGPBlock // inline blocks found in HTML: kept only without a text/plain part
}

// mpContext describes the multipart that encloses a part.
type mpContext struct {
	mediaType  string
	params     map[string]string
	index      int  // index of the current child
	pgpVersion bool // an application/pgp-encrypted "Version: 1" part was seen (Exchange mangling)
	report     bool // multipart/report (RFC 6522)
}

// walk processes one entity: h is its header, body its raw (still
// transfer-encoded) content, which starts at offset base of the input,
// depth the number of enclosing multiparts.
func (p *parser) walk(h textproto.Header, body io.Reader, base int64, depth int, parent *mpContext) error {
	idx := p.msg.Parts
	p.msg.Parts++
	if p.msg.Parts > p.lim.MaxParts {
		return fmt.Errorf("%w: more than %d", ErrTooManyParts, p.lim.MaxParts)
	}
	ct, params := p.contentType(h)
	if strings.HasPrefix(ct, "multipart/") {
		if params["boundary"] != "" {
			return p.multipart(ct, params, body, base, depth+1)
		}
		// QUIRK: a multipart without boundary cannot be split; RFC 2045
		// section 5.2 says to read an unusable Content-Type as text/plain.
		// A multipart/report keeps its report-type all the same (RFC 6522
		// section 3): it tells a robot's report from a person's mail.
		p.msg.warn("multipart without boundary")
		if ct == "multipart/report" && p.msg.Report == nil {
			p.msg.Report = &Report{Type: reportType(params["report-type"])}
		}
		ct, params = "text/plain", nil
	}
	return p.leaf(h, ct, params, body, base, parent, idx)
}

// multipart walks the children of a multipart entity (RFC 2046 section 5.1),
// refusing nesting and part counts over the limits before reading deeper.
func (p *parser) multipart(ct string, params map[string]string, body io.Reader, base int64, depth int) error {
	if depth > p.lim.MaxDepth {
		return fmt.Errorf("%w: more than %d levels", ErrTooDeep, p.lim.MaxDepth)
	}
	if depth > p.msg.Depth {
		p.msg.Depth = depth
	}
	ctx := &mpContext{mediaType: ct, params: params}
	switch ct {
	case "multipart/signed": // RFC 1847 section 2.1, RFC 3156 section 5
		p.msg.Signed = true
	case "multipart/report": // RFC 6522 section 3
		ctx.report = true
		if p.msg.Report == nil {
			p.msg.Report = &Report{Type: reportType(params["report-type"])}
		}
	}
	guard := &headerGuard{r: body}
	mr := newMultipartReader(guard, params["boundary"])
	for i := 0; ; i++ {
		// go-message does not bound part headers: allow one header block
		// plus the boundary line and one buffer of read-ahead.
		guard.arm(int64(p.lim.MaxHeaderBytes) + 16<<10)
		part, err := mr.NextPart()
		guard.disarm()
		if guard.tripped {
			return fmt.Errorf("%w: part header over %d bytes", ErrHeaderTooLarge, p.lim.MaxHeaderBytes)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if p.size.over {
				return errSize
			}
			// QUIRK: a missing final boundary gives "multipart: NextPart:
			// EOF" (emersion/go-message#129); keep the parts read so far.
			if i == 0 && strings.Contains(err.Error(), "EOF") {
				p.msg.warn("multipart: no parts")
			} else if strings.Contains(err.Error(), "EOF") {
				p.msg.warn("multipart: missing final boundary")
			} else {
				p.msg.warn("multipart: %v", err)
			}
			return nil
		}
		ctx.index = i
		if err := p.walk(part.Header, part, base+part.Start, depth, ctx); err != nil {
			return err
		}
		// Drain before arming the guard again, so it counts header bytes only.
		if _, err := io.Copy(io.Discard, part); err != nil && p.size.over {
			return errSize
		}
	}
}

// headerGuard bounds what a MultipartReader reads while it is looking for
// the next part and reading its header.
type headerGuard struct {
	r       io.Reader
	armed   bool
	n       int64
	tripped bool
}

var errGuard = errors.New("parse: part header limit")

func (g *headerGuard) arm(n int64) { g.armed, g.n = true, n }
func (g *headerGuard) disarm()     { g.armed = false }

func (g *headerGuard) Read(b []byte) (int, error) {
	if !g.armed {
		return g.r.Read(b)
	}
	if g.n <= 0 {
		g.tripped = true
		return 0, errGuard
	}
	if int64(len(b)) > g.n {
		b = b[:g.n]
	}
	n, err := g.r.Read(b)
	g.n -= int64(n)
	return n, err
}

// leaf handles one non-multipart entity; its raw body starts at offset
// base of the input.
func (p *parser) leaf(h textproto.Header, ct string, params map[string]string, raw io.Reader, base int64, parent *mpContext, idx int) error {
	src := &partSource{raw: &countReader{r: raw}, base: base, enc: strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding")))}
	body := p.decoded(h, src.raw)
	disp, dparams := p.disposition(h)
	name := dparams["filename"]
	if name == "" {
		name = params["name"]
	}
	name, _ = decodeText(name)

	if parent != nil {
		switch {
		case parent.mediaType == "multipart/encrypted" &&
			strings.EqualFold(parent.params["protocol"], "application/pgp-encrypted"):
			// RFC 3156 section 4: the first part is the "Version: 1"
			// control part, the second the ciphertext.
			if ct == "application/pgp-encrypted" || parent.index == 0 {
				return nil
			}
			p.keepPGP(body, src, "pgp-mime", idx)
			return nil
		case parent.mediaType == "multipart/signed" && parent.index > 0:
			// RFC 1847 section 2.1: the second part is the signature.
			return nil
		case parent.report && isReturnedMessage(ct):
			p.returnedHeader(body)
			return nil
		}
	}
	switch ct {
	case "message/delivery-status", "message/global-delivery-status",
		"message/disposition-notification", "message/global-disposition-notification",
		"message/feedback-report":
		p.reportFields(ct, body)
		return nil
	case "application/pgp-encrypted":
		// The control part outside multipart/encrypted: Exchange turns
		// PGP/MIME into multipart/mixed (the "mixed-up" shape).
		head, rest := sniff(body, 64)
		if bytes.HasPrefix(bytes.TrimSpace(head), []byte("Version:")) {
			if parent != nil {
				parent.pgpVersion = true
			}
			return nil
		}
		body = rest
	case "application/pgp-keys": // RFC 3156 section 7
		if data, ok := p.capture(body, "keys"); ok {
			p.msg.Keys = append(p.msg.Keys, data)
		}
		return nil
	}

	isBodyText := disp != "attachment" && dparams["filename"] == ""
	if isBodyText && (ct == "text/plain" || ct == "text/html") {
		p.bodyText(ct, params, body, src, idx)
		return nil
	}
	if pgpCandidate(ct, name) {
		// Enough for a session key packet (an RSA-4096 one is 527 bytes)
		// and the header of the packet after it.
		head, rest := sniff(body, 1024)
		switch sniffPGP(head) {
		case "message":
			kind := "attachment"
			if parent != nil && parent.pgpVersion {
				kind = "mixed-up"
			}
			p.keepPGP(rest, src, kind, idx)
			return nil
		case "key":
			if data, ok := p.capture(rest, "keys"); ok {
				p.msg.Keys = append(p.msg.Keys, data)
			}
			return nil
		}
		body = rest
	}
	p.attachment(name, ct, body)
	return nil
}

// decoded undoes the Content-Transfer-Encoding (RFC 2045 section 6).
// QUIRK: an unknown encoding (x-uuencode...) leaves the body opaque.
func (p *parser) decoded(h textproto.Header, body io.Reader) io.Reader {
	cte := strings.TrimSpace(h.Get("Content-Transfer-Encoding"))
	r, ok := decodeCTE(cte, body)
	if !ok {
		p.msg.warn("unknown transfer encoding %q", cte)
	}
	return r
}

// decodeCTE undoes a Content-Transfer-Encoding; an unknown one (ok false)
// leaves body as it is.
func decodeCTE(cte string, body io.Reader) (r io.Reader, ok bool) {
	if cte == "" {
		return body, true
	}
	var th message.Header
	th.Set("Content-Transfer-Encoding", cte)
	e, err := message.New(th, body)
	if err != nil {
		return body, false
	}
	return e.Body, true
}

// contentType parses Content-Type leniently. A missing one is text/plain
// (RFC 2045 section 5.2).
func (p *parser) contentType(h textproto.Header) (string, map[string]string) {
	v := h.Get("Content-Type")
	if strings.TrimSpace(v) == "" {
		return "text/plain", nil
	}
	t, params, err := mime.ParseMediaType(v)
	if err == nil {
		return t, params
	}
	// QUIRK: duplicate or broken parameters: take the type and the first
	// value of each parameter; an unusable type is text/plain (RFC 2045
	// section 5.2).
	p.msg.warn("content-type: %v", err)
	t, _, _ = strings.Cut(v, ";")
	t = strings.ToLower(strings.TrimSpace(t))
	if i := strings.IndexByte(t, '/'); i <= 0 || i == len(t)-1 || strings.ContainsAny(t, " \t\"") {
		t = "text/plain"
	}
	return t, lenientParams(v)
}

func (p *parser) disposition(h textproto.Header) (string, map[string]string) {
	v := h.Get("Content-Disposition")
	if strings.TrimSpace(v) == "" {
		return "", map[string]string{}
	}
	d, params, err := mime.ParseMediaType(v)
	if err == nil {
		return d, params
	}
	p.msg.warn("content-disposition: %v", err)
	d, _, _ = strings.Cut(v, ";")
	return strings.ToLower(strings.TrimSpace(d)), lenientParams(v)
}

// lenientParams reads "; name=value" pairs, first value wins.
func lenientParams(v string) map[string]string {
	params := map[string]string{}
	_, rest, _ := strings.Cut(v, ";")
	for _, kv := range strings.Split(rest, ";") {
		k, val, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		val = strings.Trim(strings.TrimSpace(val), `"`)
		if k == "" {
			continue
		}
		if _, dup := params[k]; !dup {
			params[k] = val
		}
	}
	return params
}

// sniff reads up to n bytes and returns them with a reader that yields the
// whole body again.
func sniff(r io.Reader, n int) ([]byte, io.Reader) {
	head := make([]byte, n)
	k, _ := io.ReadFull(r, head)
	head = head[:k]
	return head, io.MultiReader(bytes.NewReader(head), r)
}

func pgpCandidate(ct, name string) bool {
	switch ct {
	case "application/pgp-encrypted", "application/octet-stream", "application/pgp",
		"application/x-pgp-message", "application/pgp-keys":
		return true
	}
	switch strings.ToLower(path.Ext(name)) {
	case ".asc", ".pgp", ".gpg":
		return true
	}
	return false
}

// sniffPGP tells an encrypted message or a key from anything else, by the
// armor header line (RFC 4880 section 6.2) or, for binary data, by its
// first packet (RFC 9580 section 4.2).
//
// One byte is not enough: about 6% of random bytes (a packet capture, a zip)
// read as the tag of an encrypted session key, and such an attachment was
// taken for a message encrypted to us. So the first packet must hold
// together: a tag that can start a message or a key, a fixed length that
// fits such a packet, a known version and algorithm, and, when head reaches
// that far, a next packet that can follow it.
func sniffPGP(head []byte) string {
	t := bytes.TrimLeft(head, " \t\r\n")
	switch {
	case bytes.HasPrefix(t, []byte("-----BEGIN PGP MESSAGE")):
		return "message"
	case bytes.HasPrefix(t, []byte("-----BEGIN PGP PUBLIC KEY BLOCK")):
		return "key"
	}
	tag, hdr, n, ok := packetHeader(head)
	if !ok {
		return ""
	}
	body := head[hdr:]
	var kind string
	var next []byte // the tags that can follow
	switch tag {
	case 1: // RFC 9580 section 5.1: public-key encrypted session key
		if n < 10 || n > 8192 || !pkesk(body) {
			return ""
		}
		kind, next = "message", []byte{1, 3, 9, 18, 20}
	case 3: // RFC 9580 section 5.3: symmetric-key encrypted session key
		if n < 4 || n > 1024 || !skesk(body) {
			return ""
		}
		kind, next = "message", []byte{1, 3, 9, 18, 20}
	case 6: // RFC 9580 section 5.5.2: public key
		if n < 6 || n > 16384 || !publicKey(body) {
			return ""
		}
		kind, next = "key", []byte{2, 12, 13, 14, 17}
	default:
		return ""
	}
	if end := int64(hdr) + n; end < int64(len(head)) {
		tag, _, _, ok := packetHeader(head[end:])
		if !ok || bytes.IndexByte(next, tag) < 0 {
			return ""
		}
	}
	return kind
}

// packetHeader reads an OpenPGP packet header (RFC 9580 section 4.2): the
// tag, the header's length and the body's. A partial or indeterminate
// length is refused: none of the packets sniffPGP looks for may have one
// (section 4.2.1.4), but a data packet that follows may, so callers only
// use the tag of a next packet.
func packetHeader(b []byte) (tag byte, hdr int, n int64, ok bool) {
	if len(b) == 0 || b[0]&0x80 == 0 {
		return 0, 0, 0, false
	}
	// A header cut off by the end of b gives its tag and no length.
	if b[0]&0x40 == 0 { // legacy format (section 4.2.2)
		tag = (b[0] >> 2) & 0x0f
		switch size := []int{1, 2, 4, 0}[b[0]&3]; {
		case size == 0: // indeterminate: data packets only
			return tag, 0, 0, tag == 8 || tag == 9 || tag == 11
		case len(b) < 1+size:
			return tag, 0, 0, true
		default:
			for _, c := range b[1 : 1+size] {
				n = n<<8 | int64(c)
			}
			return tag, 1 + size, n, true
		}
	}
	tag = b[0] & 0x3f
	if len(b) < 2 {
		return tag, 0, 0, true
	}
	switch l := b[1]; {
	case l < 192:
		return tag, 2, int64(l), true
	case l < 224:
		if len(b) < 3 {
			return tag, 0, 0, true
		}
		return tag, 3, (int64(l)-192)<<8 + int64(b[2]) + 192, true
	case l == 255:
		if len(b) < 6 {
			return tag, 0, 0, true
		}
		return tag, 6, int64(b[2])<<24 | int64(b[3])<<16 | int64(b[4])<<8 | int64(b[5]), true
	}
	// A partial body length (section 4.2.1.4): data packets only.
	return tag, 0, 0, tag == 8 || tag == 9 || tag == 11 || tag == 18 || tag == 20
}

// Public-key algorithms that can encrypt (RFC 9580 section 9.1): RSA,
// RSA encrypt-only, Elgamal, ECDH, X25519, X448.
func encryptAlgo(a byte) bool {
	switch a {
	case 1, 2, 16, 18, 25, 26:
		return true
	}
	return false
}

// pkesk checks the start of a public-key encrypted session key packet
// (RFC 9580 section 5.1): version 3 with an 8-byte key id, or version 6 with
// a key version and fingerprint, then an algorithm that can encrypt.
func pkesk(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	switch b[0] {
	case 3:
		return len(b) < 10 || encryptAlgo(b[9])
	case 6:
		if len(b) < 2 {
			return true
		}
		// The fingerprint's length: 0 (anonymous), or 1 + 20 (v4) or 1 + 32 (v6).
		switch fl := int(b[1]); fl {
		case 0, 21, 33:
			return len(b) < 3+fl || encryptAlgo(b[2+fl])
		}
	}
	return false
}

// skesk checks the start of a symmetric-key encrypted session key packet
// (RFC 9580 section 5.3): version 4 with a cipher and an S2K specifier,
// version 6 (and LibrePGP's 5) with a cipher, an AEAD mode and an S2K
// specifier. Fields past the end of b are not checked.
func skesk(b []byte) bool {
	at := func(i int, ok func(byte) bool) bool { return i >= len(b) || ok(b[i]) }
	cipher := func(c byte) bool { return c >= 1 && c <= 13 } // IDEA .. Camellia-256 (section 9.3)
	aead := func(c byte) bool { return c >= 1 && c <= 3 }    // EAX, OCB, GCM (section 9.6)
	s2k := func(c byte) bool { return c == 0 || c == 1 || c == 3 || c == 4 }
	switch {
	case len(b) == 0:
		return false
	case b[0] == 4:
		return at(1, cipher) && at(2, s2k)
	case b[0] == 5:
		return at(1, cipher) && at(2, aead) && at(3, s2k)
	case b[0] == 6:
		// A count of the next fields: cipher, AEAD mode, S2K length, S2K
		// and the mode's nonce (EAX 16, OCB 15, GCM 12 octets).
		return at(2, cipher) && at(3, aead) && at(5, s2k) &&
			(len(b) < 5 || int(b[1]) == 3+int(b[4])+[]int{16, 15, 12}[b[3]-1])
	}
	return false
}

// publicKey checks the start of a public key packet (RFC 9580 section 5.5.2):
// version 4 or 6 (5 and the obsolete 3 are accepted too), then for version 4
// and later a creation time and a known public-key algorithm.
func publicKey(b []byte) bool {
	if len(b) == 0 || b[0] < 3 || b[0] > 6 {
		return false
	}
	if b[0] == 3 || len(b) < 6 {
		return true
	}
	switch b[5] {
	case 1, 2, 3, 16, 17, 18, 19, 22, 25, 26, 27, 28:
		return true
	}
	return false
}

// capture reads r whole if it fits the remaining OpenPGP budget.
func (p *parser) capture(r io.Reader, what string) ([]byte, bool) {
	data, err := io.ReadAll(io.LimitReader(r, p.pgpBudget+1))
	if err != nil && !p.size.over {
		p.msg.warn("%s: read: %v", what, err)
	}
	if int64(len(data)) > p.pgpBudget {
		p.msg.warn("%s: over the OpenPGP limit, dropped", what)
		p.msg.PGPDropped++
		io.Copy(io.Discard, r)
		return nil, false
	}
	p.pgpBudget -= int64(len(data))
	return data, true
}

// partSource is where a leaf's body lies in the input: raw counts the body
// bytes (still transfer-encoded) read so far.
type partSource struct {
	raw  *countReader
	base int64
	enc  string // Content-Transfer-Encoding, lowercase
}

// place records in b where its part lies, once the part was read: the rest
// of the raw body is read (and dropped) to learn its length.
func (p *parser) place(b *PGPBlock, src *partSource) {
	io.Copy(io.Discard, src.raw)
	b.Offset, b.Length, b.Encoding, b.crToLF = src.base, src.raw.n, src.enc, p.crToLF
}

// keepPGP records the OpenPGP data in r (a whole decoded part body): where
// it is, and its bytes when they are few (keepPGPBytes). It is streamed,
// never held whole, and counts against the OpenPGP budget all the same.
func (p *parser) keepPGP(r io.Reader, src *partSource, kind string, idx int) {
	var head []byte
	var n int64
	blank := true
	buf := make([]byte, 32<<10)
	for {
		k, err := r.Read(buf)
		chunk := buf[:k]
		if n < keepPGPBytes+1 {
			head = append(head, chunk[:min(int64(k), keepPGPBytes+1-n)]...)
		}
		if blank && len(bytes.TrimSpace(chunk)) > 0 {
			blank = false
		}
		n += int64(k)
		if err != nil {
			if err != io.EOF && !p.size.over {
				p.msg.warn("pgp %s: read: %v", kind, err)
			}
			break
		}
	}
	if n > p.pgpBudget {
		p.msg.warn("pgp %s: over the OpenPGP limit, dropped", kind)
		p.msg.PGPDropped++
		return
	}
	if blank {
		return
	}
	p.pgpBudget -= n
	b := PGPBlock{Kind: kind, Part: idx, Size: n}
	if n <= keepPGPBytes {
		b.Data = head
	}
	p.place(&b, src)
	p.msg.PGP = append(p.msg.PGP, b)
}

// attachment hashes and counts a part without keeping it.
func (p *parser) attachment(name, ct string, r io.Reader) {
	hsh := sha256.New()
	n, err := io.Copy(hsh, r)
	if err != nil && !p.size.over {
		p.msg.warn("attachment: %v", err)
	}
	p.msg.Attachments = append(p.msg.Attachments, Attachment{
		Name: name, ContentType: ct, Size: n, Hash: hex.EncodeToString(hsh.Sum(nil)),
	})
}

// bodyText reads a text/plain or text/html body part into the text kept.
func (p *parser) bodyText(ct string, params map[string]string, r io.Reader, src *partSource, idx int) {
	cs := strings.ToLower(strings.TrimSpace(params["charset"]))
	if cs == "utf-8" || cs == "us-ascii" {
		cs = ""
	}
	if cs != "" {
		cr, err := charset.Reader(cs, r)
		if err != nil {
			// QUIRK: unknown charset: keep the bytes, invalid UTF-8 is
			// replaced when the text is finished.
			p.msg.warn("unknown charset %q", cs)
		} else {
			r = cr
		}
	}
	lp := &lineProc{p: p, part: idx}
	if ct == "text/html" {
		// Armor found in HTML converted to text has no place in the raw
		// message: those blocks are kept in memory, within the budget.
		p.sawHTML = true
		lp.sink, lp.blocks = &p.html, &p.htmlPGP
		p.html.separate()
		htmlToText(r, lp, p.msg)
		lp.close()
		return
	}
	p.sawPlain = true
	lp.sink, lp.blocks, lp.located = &p.text, &p.msg.PGP, true
	first := len(p.msg.PGP)
	p.text.separate()
	if _, err := io.Copy(lp, r); err != nil && !p.size.over {
		p.msg.warn("text: %v", err)
	}
	lp.close()
	if len(p.msg.PGP) > first {
		for i := range p.msg.PGP[first:] {
			b := &p.msg.PGP[first+i]
			p.place(b, src)
			b.charset = cs
		}
	}
}

// finish picks the text and settles what depends on the whole message.
func (p *parser) finish() {
	m := p.msg
	src := &p.text
	if !p.sawPlain && p.sawHTML {
		src = &p.html
		m.TextFromHTML = true
		m.PGP = append(m.PGP, p.htmlPGP...)
	}
	// CRLF to LF in place: the text may be MaxTextBytes long, one copy
	// (the string) is enough.
	b, rest := src.b[:0], src.b
	for {
		i := bytes.Index(rest, []byte("\r\n"))
		if i < 0 {
			b = append(b, rest...) // overlapping: append moves memory safely
			break
		}
		b = append(append(b, rest[:i]...), '\n')
		rest = rest[i+2:]
	}
	m.Text = strings.ToValidUTF8(string(b), "\uFFFD")
	src.b = nil
	m.Truncated = src.truncated
}

// textBuf keeps text up to max bytes.
type textBuf struct {
	b         []byte
	max       int
	truncated bool
}

func (t *textBuf) write(b []byte) {
	room := t.max - len(t.b)
	if len(b) > room {
		t.truncated = true
		b = b[:room]
		// Cut at a rune boundary.
		for len(b) > 0 && !utf8.RuneStart(b[len(b)-1]) {
			b = b[:len(b)-1]
		}
		if len(b) > 0 && !utf8.FullRune(b[len(b)-1:]) {
			b = b[:len(b)-1]
		}
	}
	t.b = appendCapped(t.b, b, t.max)
}

// appendCapped appends b to buf, growing it by doubling but not past limit
// (unless len(buf)+len(b) is larger): append's own growth for large slices
// (x1.25) leaves about four times the final size behind as garbage.
func appendCapped(buf, b []byte, limit int) []byte {
	if need := len(buf) + len(b); need > cap(buf) {
		n := max(min(max(2*cap(buf), 4096), limit), need)
		grown := make([]byte, len(buf), n)
		copy(grown, buf)
		buf = grown
	}
	return append(buf, b...)
}

// separate puts a line break between two text parts.
func (t *textBuf) separate() {
	if len(t.b) > 0 && t.b[len(t.b)-1] != '\n' {
		t.write([]byte("\n"))
	}
}

// lineProc receives text, keeps it in sink and finds armored OpenPGP
// blocks (RFC 4880 section 6.2) line by line, however long the text.
type lineProc struct {
	p      *parser
	part   int
	sink   *textBuf
	blocks *[]PGPBlock

	partial  []byte // current line so far
	overlong bool   // the current line outgrew maxLine: it is no marker

	// located: the text is the decoded part itself (not HTML converted),
	// so a block is known by where it starts (start) and its length (n),
	// and its bytes are kept only up to keepPGPBytes.
	located bool
	pos     int64 // bytes written so far

	inPGP   bool
	dropped bool
	start   int64
	n       int64
	pgp     []byte
}

const maxLine = 64 << 10

func (lp *lineProc) Write(b []byte) (int, error) {
	n := len(b)
	lp.sink.write(b)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			lp.partial = append(lp.partial, b...)
			if len(lp.partial) > maxLine {
				lp.line(lp.partial, false)
				lp.pos += int64(len(lp.partial))
				lp.partial, lp.overlong = lp.partial[:0], true
			}
			break
		}
		lp.partial = append(lp.partial, b[:i+1]...)
		lp.line(lp.partial, !lp.overlong)
		lp.pos += int64(len(lp.partial))
		lp.partial, lp.overlong = lp.partial[:0], false
		b = b[i+1:]
	}
	return n, nil
}

func (lp *lineProc) line(l []byte, whole bool) {
	var t []byte
	if whole {
		t = bytes.TrimSpace(l)
	}
	switch {
	case lp.inPGP:
		lp.add(l)
		if whole && bytes.Equal(t, []byte("-----END PGP MESSAGE-----")) {
			lp.end()
		}
	case !whole:
	case bytes.Equal(t, []byte("-----BEGIN PGP MESSAGE-----")):
		lp.inPGP, lp.dropped, lp.pgp, lp.start, lp.n = true, false, nil, lp.pos, 0
		lp.add(l)
	case bytes.Equal(t, []byte("-----BEGIN PGP SIGNED MESSAGE-----")):
		lp.p.msg.Signed = true // RFC 4880 section 7
	}
}

func (lp *lineProc) add(l []byte) {
	if lp.dropped {
		return
	}
	if lp.n+int64(len(l)) > lp.p.pgpBudget {
		lp.p.msg.warn("inline pgp: over the OpenPGP limit, dropped")
		lp.p.msg.PGPDropped++
		lp.dropped, lp.pgp = true, nil
		return
	}
	lp.n += int64(len(l))
	if !lp.located || lp.n <= keepPGPBytes {
		lp.pgp = appendCapped(lp.pgp, l, int(lp.p.pgpBudget))
	} else {
		lp.pgp = nil // too long to keep: read again from the raw message
	}
}

func (lp *lineProc) end() {
	if !lp.dropped && lp.n > 0 {
		lp.p.pgpBudget -= lp.n
		b := PGPBlock{Kind: "inline", Data: lp.pgp, Part: lp.part, Size: lp.n}
		if lp.located {
			b.start = lp.start
		}
		*lp.blocks = append(*lp.blocks, b)
	}
	lp.inPGP, lp.dropped, lp.pgp, lp.n = false, false, nil, 0
}

func (lp *lineProc) close() {
	if len(lp.partial) > 0 {
		lp.line(lp.partial, !lp.overlong)
		lp.partial = nil
	}
	if lp.inPGP {
		// QUIRK: keep an unterminated block; decryption will say why it fails.
		lp.p.msg.warn("inline pgp: no END line")
		lp.end()
	}
}

// reportType normalises an RFC 6522 report-type.
func reportType(t string) string {
	t = strings.ToLower(strings.TrimSpace(t))
	return strings.TrimPrefix(t, "global-") // RFC 6533 section 6
}

func isReturnedMessage(ct string) bool {
	switch ct {
	case "message/rfc822", "message/global", "text/rfc822-headers",
		"message/rfc822-headers", "message/global-headers":
		return true
	}
	return false
}

// returnedHeader reads the header of the returned message in a report
// (RFC 6522 section 3: message/rfc822 or text/rfc822-headers).
func (p *parser) returnedHeader(r io.Reader) {
	var scratch Message
	br := bufio.NewReader(io.LimitReader(r, int64(p.lim.MaxHeaderBytes)))
	h, err := readHeaderBlock(br, p.lim.MaxHeaderBytes, false, &scratch)
	if err != nil {
		p.msg.warn("report: returned header: %v", err)
		return
	}
	if ids := MsgIDs(h.Get("Message-Id")); len(ids) > 0 {
		p.report().OriginalMessageID = ids[0]
	}
}

func (p *parser) report() *Report {
	if p.msg.Report == nil {
		p.msg.Report = &Report{}
	}
	return p.msg.Report
}

// reportFields reads the machine-readable part of a report: RFC 3464
// section 2 (DSN), RFC 8098 section 3.1 (MDN), RFC 5965 section 3 (ARF).
func (p *parser) reportFields(ct string, r io.Reader) {
	rep := p.report()
	if rep.Type == "" {
		rep.Type = reportType(strings.TrimPrefix(ct, "message/"))
	}
	data, err := io.ReadAll(io.LimitReader(r, int64(p.lim.MaxHeaderBytes)))
	if err != nil && !p.size.over {
		p.msg.warn("report: %v", err)
	}
	groups := fieldGroups(data)
	if len(groups) == 0 {
		p.msg.warn("report: no fields")
		return
	}
	if v := groups[0]["original-message-id"]; v != "" && rep.OriginalMessageID == "" {
		if ids := MsgIDs(v); len(ids) > 0 {
			rep.OriginalMessageID = ids[0]
		}
	}
	// The per-recipient groups follow the per-message one; QUIRK: some
	// MTAs leave out the empty line between them, so look at every group.
	for _, g := range groups {
		if g["action"] == "" && g["final-recipient"] == "" && g["status"] == "" {
			continue
		}
		if f, _, _ := strings.Cut(g["action"], " "); rep.Action == "" {
			rep.Action = strings.ToLower(strings.TrimSpace(f))
		}
		if f := strings.Fields(g["status"]); rep.Status == "" && len(f) > 0 {
			rep.Status = f[0]
		}
		if rep.FinalRecipient == "" {
			rep.FinalRecipient = recipient(g["final-recipient"])
			if rep.FinalRecipient == "" {
				rep.FinalRecipient = recipient(g["original-recipient"])
			}
		}
		break
	}
}

// recipient strips the address type: "rfc822; <a@b>" -> "a@b"
// (RFC 3464 section 2.3.2).
func recipient(v string) string {
	if _, addr, ok := strings.Cut(v, ";"); ok {
		v = addr
	}
	v = strings.Trim(strings.TrimSpace(v), "<>")
	return strings.ToValidUTF8(v, "\uFFFD")
}

// fieldGroups splits "Name: value" lines into groups at empty lines,
// unfolding continuation lines. Names are lowercased; the first value wins.
func fieldGroups(data []byte) []map[string]string {
	var groups []map[string]string
	var cur map[string]string
	var last string
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" {
			cur, last = nil, ""
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if cur != nil && last != "" {
				cur[last] += " " + strings.TrimSpace(line)
			}
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		if cur == nil {
			cur = map[string]string{}
			groups = append(groups, cur)
		}
		k = strings.ToLower(strings.TrimSpace(k))
		if _, dup := cur[k]; dup {
			last = ""
			continue
		}
		cur[k], last = strings.TrimSpace(v), k
	}
	return groups
}
